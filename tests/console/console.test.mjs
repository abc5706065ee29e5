// The console in a real browser: Debian's chromium driven by playwright-core.
//
//   node tests/console/console.test.mjs URL [SCREENSHOT [server]]
//
// URL is a running `vpclab ui scenarios/ping-acl-asymmetry.yaml` (tests/console.rs starts it);
// the screenshot goes to SCREENSHOT (default target/console.png). With `server`, URL is the
// console of `vpclab serve --http` whose default project holds that scenario's two records.
// Exits 0 when every check holds, 1 with the failed check otherwise.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, shot = 'target/console.png', mode = 'ui'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node tests/console/console.test.mjs URL [SCREENSHOT]');
  process.exit(2);
}
const WAIT = { timeout: 15000 };
const DENY = 'ACL web-acl egress (subnet web): no rule matched; default rule * denies';

// A server's project: its stored records, read-only, without packets to explain.
async function serverChecks(page, waitActions) {
  assert.equal(await page.textContent('#name'), 'default');
  await waitActions(['ACCEPT', 'REJECT']);
  assert.ok(await page.isHidden('#editor-section'));
  await page.waitForSelector('#graph svg', WAIT);
  assert.match(await page.textContent('#graph'), /eni-lq6mkcis/);
  await page.click('tr.record[data-action="REJECT"]');
  await page.waitForSelector('#explain:not([hidden])', WAIT);
  assert.match(await page.textContent('#x-line'), /action:REJECT/);
  assert.match(await page.textContent('#x-packets'), /^not kept: the log service stores/);
  await page.selectOption('#f-action', 'REJECT');
  await waitActions(['REJECT']);
  assert.match(await page.textContent('#c-sources'), /172\.31\.16\.139/);
  await page.screenshot({ path: shot, fullPage: true });
}

// The scenario's console: records, an explanation, filters, a re-run and a refused edit.
async function uiChecks(page, waitActions) {
  assert.equal(await page.textContent('#name'), 'ping-acl-asymmetry');
  assert.match(await page.textContent('#description'), /pings an instance/);
  // Two records: the requests accepted inbound, the replies rejected outbound.
  await waitActions(['ACCEPT', 'REJECT']);
  assert.equal(await page.textContent('#count'), '2 of 2');
  assert.equal(await page.textContent('#expectations p'), 'Expectations (expect:): 5 of 5 hold');
  // The picture: the requests delivered (green), the replies dropped at the ACL (red).
  await page.waitForSelector('#graph svg g.flow', WAIT);
  assert.equal(await page.locator('#graph g.flow.accept').count(), 1);
  assert.equal(await page.locator('#graph g.flow.reject').count(), 1);
  assert.match(await page.textContent('#graph'), /web-acl/);

  // The REJECT record's explanation: its line, its packets and the ACL's default rule.
  await page.click('tr.record[data-action="REJECT"]');
  await page.waitForSelector('#explain:not([hidden])', WAIT);
  assert.match(await page.textContent('#x-line'), /action:REJECT/);
  assert.equal(await page.textContent('#x-packets'), '#2 #4 #6 #8');
  const why = await page.textContent('#x-why');
  assert.ok(why.includes('ACL web-acl egress (subnet web): no rule matched ICMP 172.31.16.139 ' +
    '-> 203.0.113.12; default rule * denies'), `the why names the ACL's default rule: ${why}`);
  assert.equal(await page.textContent('#x-why .hint-line'), 'hint: network ACLs are ' +
    'stateless: this reply belongs to traffic that was let in, and the ACL needs its own ' +
    'egress entry for it: allow ICMP to 203.0.113.12');
  const explained = await page.textContent('#x-explanations');
  for (const [id, at] of [[2, '27.001'], [4, '65.001'], [6, '103.001'], [8, '141.001']]) {
    assert.ok(explained.includes(`#${id} t+${at}s instance (eni-lq6mkcis) -> home`),
      `packet #${id} explained:\n${explained}`);
  }
  assert.ok(explained.includes(`    ${DENY}`), explained);
  assert.ok(!explained.includes('#1 '), 'only the record\'s packets');
  // The dashboard: rejected port and source of the replies.
  assert.match(await page.textContent('#c-ports'), /icmp\/0/);
  assert.match(await page.textContent('#c-sources'), /172\.31\.16\.139/);
  await page.screenshot({ path: shot, fullPage: true });

  // Filters: by action, then by address and port.
  await page.selectOption('#f-action', 'REJECT');
  await waitActions(['REJECT']);
  await page.selectOption('#f-action', 'ACCEPT');
  await waitActions(['ACCEPT']);
  await page.selectOption('#f-action', '');
  await page.fill('#f-port', '2048');
  await waitActions(['ACCEPT']);
  await page.fill('#f-port', '');
  await page.fill('#f-addr', '10.9.');
  await waitActions([]);
  await page.fill('#f-addr', '');
  await page.fill('#f-from', '200');
  await waitActions([]);
  await page.fill('#f-from', '');
  await waitActions(['ACCEPT', 'REJECT']);
  // A flow of the picture filters the table: the dropped replies are the REJECT record.
  await page.click('#graph g.flow-row.reject');
  await waitActions(['REJECT']);
  assert.equal(await page.inputValue('#f-addr'), '172.31.16.139');
  await page.click('#f-clear');
  await waitActions(['ACCEPT', 'REJECT']);
  // A bar of the dashboard filters the table: the top talker that sends the requests.
  await page.click('#c-talkers rect[data-label="203.0.113.12"]');
  assert.equal(await page.inputValue('#f-addr'), '203.0.113.12');
  await waitActions(['ACCEPT', 'REJECT']);
  await page.click('#c-action rect[data-label="REJECT"]');
  await waitActions(['REJECT']);
  await page.click('#f-clear');
  await waitActions(['ACCEPT', 'REJECT']);

  // A learner lets ICMP out through the ACL and runs again: both records are ACCEPT.
  const yaml = await page.inputValue('#yaml');
  const egress =
    '          - { rule: 100, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0 }\n';
  assert.ok(yaml.includes(egress), 'the ACL egress rule is in the editor');
  const allow = '          - { rule: 110, action: allow, protocol: icmp, cidr: 0.0.0.0/0 }\n';
  const fixed = yaml.replace(egress, egress + allow);
  await page.fill('#yaml', fixed);
  await page.click('#run');
  await page.waitForFunction(() => document.querySelector('#run-status').textContent
    .startsWith('ran:'), null, WAIT);
  await waitActions(['ACCEPT', 'ACCEPT']);
  assert.ok(await page.isHidden('#run-error'));
  // The picture follows: both flows delivered.
  await page.waitForFunction(() => document.querySelectorAll('#graph g.flow.reject').length === 0
    && document.querySelectorAll('#graph g.flow.accept').length === 2, null, WAIT);
  // The file's own expectations (a REJECT record) no longer hold, and the page says which.
  assert.equal(await page.textContent('#expectations p'), 'Expectations (expect:): 3 of 5 hold');
  const failed = await page.textContent('#expectations pre');
  assert.ok(failed.startsWith('line 76: expected a record matching {action: REJECT'), failed);
  assert.match(failed, /\nline 87: expected the line\n/);

  // A bad edit shows the loader's error with its line and changes nothing.
  const bad = fixed.replace(allow, allow.replace('protocol: icmp', 'protocol: icmpx'));
  const line = bad.split('\n').findIndex((l) => l.includes('icmpx')) + 1;
  await page.fill('#yaml', bad);
  await page.click('#run');
  await page.waitForSelector('#run-error:not([hidden])', WAIT);
  const error = await page.textContent('#run-error');
  assert.ok(error.includes(`scenarios/ping-acl-asymmetry.yaml:${line}:`),
    `the error names the file and line ${line}: ${error}`);
  assert.match(error, /icmpx/);
  await waitActions(['ACCEPT', 'ACCEPT']);

  // Back to the file, run with the keyboard: the REJECT record again.
  await page.click('#revert');
  assert.equal(await page.inputValue('#yaml'), yaml);
  await page.press('#yaml', 'Control+Enter');
  await waitActions(['ACCEPT', 'REJECT']);
  assert.ok(await page.isHidden('#run-error'));
}

const profile = mkdtempSync(join(tmpdir(), 'vpclab-console-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.VPCLAB_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const failures = [];
try {
  const page = context.pages()[0] || (await context.newPage());
  // The page is self-contained: anything it asks of another origin is a failure.
  const origin = new URL(url).origin;
  await page.route('**/*', (route) => {
    const asked = route.request().url();
    if (new URL(asked).origin !== origin) {
      failures.push(`the page fetched ${asked}`);
      return route.abort();
    }
    return route.continue();
  });
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));

  const actions = () => page.$$eval('tr.record', (rows) => rows.map((r) => r.dataset.action));
  const waitActions = async (want) => {
    await page.waitForFunction(
      (w) => JSON.stringify([...document.querySelectorAll('tr.record')]
        .map((r) => r.dataset.action)) === w,
      JSON.stringify(want),
      WAIT,
    ).catch(() => {});
    assert.deepEqual(await actions(), want);
  };

  await page.goto(url);
  await page.waitForSelector('tr.record', WAIT);
  await (mode === 'server' ? serverChecks : uiChecks)(page, waitActions);
} catch (e) {
  failures.push(e.stack || String(e));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log(`console: every check held; screenshot ${shot}`);
