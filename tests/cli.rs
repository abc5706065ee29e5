//! The `vpclab` command as a user runs it: the issue's "done when" commands, exit codes, and
//! the report of `vpclab test`.

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;
use common::{exit_stderr, stderr, stdout, vpclab};

#[test]
fn ping_scenario_prints_tencent_records() {
    let o = vpclab(&["run", "scenarios/ping-acl-asymmetry.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "srcaddr:203.0.113.12 dstport:2048 account-id:1251762227 start:1432917000 dstaddr:172.31.16.139 version:0001_0001 packets:4 protocol:1 bytes:336 action:ACCEPT srcport:1 end:1432917300 log-status:OK interface-id:eni-lq6mkcis\n\
         srcaddr:172.31.16.139 dstport:0 account-id:1251762227 start:1432917000 dstaddr:203.0.113.12 version:0001_0001 packets:4 protocol:1 bytes:336 action:REJECT srcport:1 end:1432917300 log-status:OK interface-id:eni-lq6mkcis\n"
    );
}

#[test]
fn ping_scenario_as_aws_v2() {
    let o = vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--provider",
        "aws",
        "--format",
        "aws",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "2 1251762227 eni-lq6mkcis 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917141 ACCEPT OK\n\
         2 1251762227 eni-lq6mkcis 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917027 1432917141 REJECT OK\n"
    );
}

/// `--header` names the fields first, as AWS's S3 files do: custom field lists too; formats
/// whose lines name their fields refuse it.
#[test]
fn header_names_the_fields_of_positional_formats() {
    let o = vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--provider",
        "aws",
        "--aws-fields",
        "version interface-id srcaddr action",
        "--header",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "version interface-id srcaddr action\n\
         2 eni-lq6mkcis 203.0.113.12 ACCEPT\n\
         2 eni-lq6mkcis 172.31.16.139 REJECT\n"
    );
    let o = vpclab(&["run", "scenarios/ping-acl-asymmetry.yaml", "--header"]);
    assert_eq!(
        exit_stderr(&o, 2),
        "vpclab: --header: the tencent format names its fields on every line; it has no header\n"
    );
    assert_eq!(stdout(&o), "");
}

/// `--format table` lays the cloud's positional format out in named, aligned columns; router
/// records among ENI records get a table of their own; a cloud without columns is refused.
#[test]
fn table_aligns_named_columns() {
    let o = vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--format",
        "table",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "version    account-id  interface-id  srcaddr        dstaddr        srcport  dstport  protocol  packets  bytes  start       end         action  log-status\n\
         0001_0001  1251762227  eni-lq6mkcis  203.0.113.12   172.31.16.139  1        2048     1         4        336    1432917000  1432917300  ACCEPT  OK\n\
         0001_0001  1251762227  eni-lq6mkcis  172.31.16.139  203.0.113.12   1        0        1         4        336    1432917000  1432917300  REJECT  OK\n"
    );
    let o = vpclab(&[
        "run",
        "scenarios/router-blackhole.yaml",
        "--format",
        "table",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let headers: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("version "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        headers,
        ["account-id", "resource-type", "account-id"],
        "{out}"
    );
    assert_eq!(out.matches("\n\n").count(), 2, "tables apart: {out}");
    let o = vpclab(&[
        "run",
        "scenarios/rule-change-alibaba.yaml",
        "--format",
        "table",
    ]);
    assert_eq!(
        exit_stderr(&o, 2),
        "vpclab: --format table: alibaba records are key/value lines, not columns; use --format alibaba or json\n"
    );
}

#[test]
fn ping_scenario_on_huawei_accepts_the_reply() {
    let o = vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--provider",
        "huawei",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains(" 203.0.113.12 172.31.16.139 0 0 1 4 336 ")
            && lines[0].ends_with(" ACCEPT OK"),
        "{out}"
    );
    assert!(
        lines[1].contains(" 172.31.16.139 203.0.113.12 0 0 1 4 336 ")
            && lines[1].ends_with(" ACCEPT OK"),
        "{out}"
    );
}

#[test]
fn explain_names_the_rule_that_rejected_the_reply() {
    let o = vpclab(&["run", "scenarios/ping-acl-asymmetry.yaml", "--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("ACL web-acl egress (subnet web): no rule matched; default rule * denies"),
        "{out}"
    );
    assert!(
        out.contains("SG egress at instance: part of a tracked connection: allows"),
        "{out}"
    );
    assert!(out.contains("dropped by the network ACL (egress)"), "{out}");
    assert!(out.contains("IGW "), "{out}");
    assert!(out.contains("path: host home -> internet -> IGW"), "{out}");
    assert!(out.contains("\n# records\n"), "{out}");
}

/// Under `# records`, each record is tied to the packets it counts, the decisions behind its
/// action (with the packets' addresses where no rule matched), the way its packets went and,
/// for the classic mistakes, a hint (issue 12, item 2).
#[test]
fn explain_ties_each_record_to_its_packets_and_decision() {
    let o = vpclab(&["run", "scenarios/ping-acl-asymmetry.yaml", "--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "# A home computer (203.0.113.12) pings an instance (private IP 172.31.16.139) \
             four times.\n"
        ),
        "{out}"
    );
    assert_eq!(
        explained(&out).1,
        "srcaddr:203.0.113.12 dstport:2048 account-id:1251762227 start:1432917000 dstaddr:172.31.16.139 version:0001_0001 packets:4 protocol:1 bytes:336 action:ACCEPT srcport:1 end:1432917300 log-status:OK interface-id:eni-lq6mkcis
    packets #1 #3 #5 #7, from t+27.000s to t+141.000s
    ACL web-acl ingress (subnet web): rule 100 (allow ICMP from 0.0.0.0/0) allows
    SG ingress at instance: rule 1 of web-sg (allow ICMP from 0.0.0.0/0) allows
    path: host home -> internet -> IGW igw-4d9jqqqk -> subnet web -> ENI instance: delivered to instance (eni-lq6mkcis)
srcaddr:172.31.16.139 dstport:0 account-id:1251762227 start:1432917000 dstaddr:203.0.113.12 version:0001_0001 packets:4 protocol:1 bytes:336 action:REJECT srcport:1 end:1432917300 log-status:OK interface-id:eni-lq6mkcis
    packets #2 #4 #6 #8, from t+27.001s to t+141.001s
    SG egress at instance: part of a tracked connection: allows
    ACL web-acl egress (subnet web): no rule matched ICMP 172.31.16.139 -> 203.0.113.12; default rule * denies
    path: ENI instance -> subnet web: dropped by the network ACL (egress)
    hint: network ACLs are stateless: this reply belongs to traffic that was let in, and the ACL needs its own egress entry for it: allow ICMP to 203.0.113.12
"
    );
}

/// One-line hints for the classic mistakes, each where a shipped scenario makes it.
#[test]
fn explain_hints_the_classic_mistakes() {
    let hints = |scenario: &str| -> Vec<String> {
        let o = vpclab(&["run", scenario, "--explain"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut hints: Vec<String> = stdout(&o)
            .lines()
            .filter_map(|l| l.strip_prefix("    hint: "))
            .map(str::to_string)
            .collect();
        hints.sort();
        hints.dedup();
        hints
    };
    // A stateless ACL without the clients' ephemeral ports back.
    assert_eq!(
        hints("scenarios/acl-ephemeral-ports.yaml"),
        [
            "network ACLs are stateless: this reply belongs to traffic that was let in, and the \
          ACL needs its own egress entry for it: allow TCP to 203.0.113.7 on ports 1024-65535, \
          the clients' ephemeral ports (this reply goes to port 33000)"
        ]
    );
    // A closed port answers: the rules let the request in.
    assert_eq!(
        hints("scenarios/icmp-errors-related.yaml"),
        [
            "a closed port: nothing listens on UDP 5555 at server (eni-0f0f0f0f0f0f00003), so \
             it answers with ICMP port-unreachable; the rules let the request in (its records \
             say ACCEPT), the service is not there (`listen:` in the scenario)",
            "security groups allow only what a rule allows: add an inbound rule for ICMP from \
             10.0.1.20 (the subnet's network ACL let it in)"
        ]
    );
    // A route missing; a security group without the rule; a reply whose tracking ended.
    assert!(
        hints("scenarios/aws-route-changes.yaml").contains(
            &"no route in via-a covers 203.0.113.5: add one (0.0.0.0/0 to an internet or NAT \
          gateway for the internet, another network's CIDR to its router attachment or peering)"
                .to_string()
        )
    );
    assert_eq!(
        hints("scenarios/same-subnet-skips-acl.yaml"),
        [
            "security groups allow only what a rule allows: add an inbound rule for TCP port \
             6379 from 10.0.1.10 (the subnet's network ACL let it in)",
            "the subnet's network ACL denies it on the way out: add an egress entry that allows \
             TCP port 5432 to 10.0.2.30 (entries are checked in order; the first match decides)"
        ]
    );
    assert_eq!(
        hints("scenarios/aws-conntrack-timeouts.yaml"),
        [
            "this looks like a reply, but its connection is not tracked (any more): a security \
          group lets replies through without a rule only while it tracks their connection, \
          which ended at its idle timeout or a rule change, or was never seen"
        ]
    );
    // Records of allowed traffic to open ports carry none.
    assert!(hints("scenarios/sg-stateful-return.yaml").is_empty());
}

/// The path line is the way the packet went, in order, through NAT gateways and routers, and
/// it ends where the packet was dropped (issue 11, item 13).
#[test]
fn explain_paths_are_the_packets_own() {
    let paths = |scenario: &str| -> Vec<String> {
        let o = vpclab(&["run", scenario, "--explain"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let mut paths: Vec<String> = explained(&out)
            .0
            .lines()
            .filter_map(|l| l.strip_prefix("    path: "))
            .map(str::to_string)
            .collect();
        paths.sort();
        paths.dedup();
        paths
    };
    // The echo request reaches the instance; the reply dies at its own subnet's ACL.
    assert_eq!(
        paths("scenarios/ping-acl-asymmetry.yaml"),
        [
            "ENI instance -> subnet web",
            "host home -> internet -> IGW igw-4d9jqqqk -> subnet web -> ENI instance"
        ]
    );
    // Out through the NAT gateway and the internet gateway; replies the same way back.
    let nat = paths("scenarios/aws-nat-gateway.yaml");
    assert_eq!(
        nat,
        [
            "ENI instance -> subnet private -> NAT gateway nat-5e41fa81f14e4b2e6 -> IGW \
             igw-1b8b336ff22a8ce90 -> internet -> host web",
            "host web -> internet -> IGW igw-1b8b336ff22a8ce90 -> NAT gateway \
             nat-5e41fa81f14e4b2e6 -> subnet private -> ENI instance"
        ]
    );
    // A router that drops a packet is where its path ends.
    assert!(
        paths("scenarios/router-blackhole.yaml")
            .contains(&"ENI client -> subnet clients -> router tgw".to_string())
    );
    // A route to a deleted NAT gateway is a blackhole: the packet never leaves its subnet.
    let changes = paths("scenarios/aws-route-changes.yaml");
    assert!(changes.contains(&"ENI instance -> subnet private".to_string()));
    assert!(
        !changes.contains(
            &"ENI instance -> subnet private -> NAT gateway nat-c98166d141a233cee".to_string()
        ),
        "{changes:#?}"
    );
    // Traffic inside one subnet: one subnet hop.
    assert!(
        paths("scenarios/same-subnet-skips-acl.yaml")
            .contains(&"ENI web -> subnet app -> ENI db".to_string())
    );
}

#[test]
fn bad_flags_exit_2() {
    let o = vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--provider",
        "gcp",
    ]);
    let e = exit_stderr(&o, 2);
    assert!(e.contains("unknown provider `gcp`"), "{e}");
    let o = vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--format",
        "aws",
        "--aws-fields",
        "version nonsense",
    ]);
    let e = exit_stderr(&o, 2);
    assert!(e.contains("nonsense"), "{e}");
}

fn temp_scenario(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vpclab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn test_reports_a_diff_and_fails() {
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/ping-acl-asymmetry.yaml"
    ))
    .unwrap();
    let wrong = base.replace("      action: REJECT\n", "      action: ACCEPT\n");
    assert_ne!(wrong, base);
    let p = temp_scenario("wrong.yaml", &wrong);
    let o = vpclab(&["test", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("FAIL "), "{out}");
    assert!(out.contains("found 0"), "{out}");
    assert!(out.contains("action: expected ACCEPT, got REJECT"), "{out}");
    assert!(out.trim_end().ends_with("0 passed, 1 failed"), "{out}");
}

#[test]
fn check_validates_without_running() {
    let o = vpclab(&["check", "scenarios/ping-acl-asymmetry.yaml"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "ok scenarios/ping-acl-asymmetry.yaml\n");
}

#[test]
fn explanations_quote_the_rules_as_they_were() {
    // Rules change at t=60: packets judged before must still be explained by the old rules.
    let o = vpclab(&["run", "scenarios/rule-removal-mid-flow.yaml", "--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("(allow TCP port 80 from 0.0.0.0/0) allows; flow not tracked (D7)"),
        "{out}"
    );
    assert!(!out.contains("denie "), "{out}");
}

#[test]
fn check_takes_directories() {
    let o = vpclab(&["check", "scenarios"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).lines().count() > 10);
}

/// Router drops, explained: the blackhole route and the missing route, each named (D13); the
/// same scenario on huawei prints the router's records as enterprise-router lines.
#[test]
fn explain_names_router_drops() {
    let o = vpclab(&["run", "scenarios/router-blackhole.yaml", "--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "dropped by enterprise router tgw-0123456789abcdef0: the matching route is a blackhole"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "dropped by enterprise router tgw-0123456789abcdef0: no route for the destination"
        ),
        "{out}"
    );
    let o = vpclab(&[
        "run",
        "scenarios/router-blackhole.yaml",
        "--provider",
        "huawei",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l.contains(
            " tgw-0123456789abcdef0 tgw-attach-0aaaaaaaaaaaaaaaa 10.20.33.164 10.40.9.10 0 0 1 3 252 "
        ) && l.ends_with(" ingress")),
        "{out}"
    );
}

// ----- output errors, streamed and filtered explanations (issue 8) -----

/// The shipped ping scenario with its traffic replaced by pings from `home` adding up to
/// `packets` packets (each echo is answered: two packets per echo), 1 ms apart.
fn ping_scenario(packets: u32) -> String {
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/ping-acl-asymmetry.yaml"
    ))
    .unwrap();
    let head = base.split("\ntraffic:").next().unwrap();
    let mut text = format!("{head}\ntraffic:\n");
    let mut echoes = packets / 2;
    let mut i = 0;
    while echoes > 0 {
        let count = echoes.min(60_000);
        text.push_str(&format!(
            "  - at: {}\n    ping: {{ from: home, to: instance, count: {count}, interval: 0.001, ident: {} }}\n",
            27 + i,
            i + 1
        ));
        echoes -= count;
        i += 1;
    }
    text + "\nexpect:\n  - records: 2\n"
}

/// Spawns `vpclab` with its output on a pipe, reads one line as `head -1` does, closes the
/// pipe and waits: what `vpclab ... | head -1` does to it.
fn head_1(args: &[&str]) -> (String, Output) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vpclab runs");
    let mut first = String::new();
    {
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
        // The reader goes here: later writes find the pipe closed.
    }
    (first, child.wait_with_output().unwrap())
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let (first, o) = head_1(&["run", "scenarios/ping-acl-asymmetry.yaml"]);
    assert!(first.starts_with("srcaddr:203.0.113.12 "), "{first}");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    // Two records fit in the pipe's buffer; 20,000 explained packets (~9 MB) do not, so the
    // run writes to the closed pipe for sure.
    let p = temp_scenario("ping-20k.yaml", &ping_scenario(20_000));
    let (first, o) = head_1(&["run", p.to_str().unwrap(), "--explain"]);
    assert!(first.starts_with("# A home computer "), "{first}");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let (first, o) = head_1(&["test", "scenarios/"]);
    assert!(first.starts_with("PASS "), "{first}");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
}

#[test]
fn a_full_disk_is_one_line_and_exit_1() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("no /dev/full here: skipped");
        return;
    };
    let p = temp_scenario("ping-2k.yaml", &ping_scenario(2_000));
    let p = p.to_str().unwrap();
    for args in [
        &["run", "scenarios/ping-acl-asymmetry.yaml"][..],
        &["run", p, "--explain"],
        &["test", "scenarios/ping-acl-asymmetry.yaml"],
        &["check", "scenarios"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_vpclab"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("vpclab: cannot write the output: ") && err.contains("os error 28"),
            "{args:?}: {err}"
        );
    }
}

/// Splits an explanation into its packets' blocks (a `#id` line and its indented lines), by
/// id, and its note lines.
fn packets_and_notes(explanation: &str) -> (Vec<(u64, String)>, Vec<String>) {
    let (mut packets, mut notes) = (Vec::<(u64, String)>::new(), Vec::new());
    for line in explanation.lines() {
        if let Some(rest) = line.strip_prefix('#')
            && let Some(id) = rest.split(' ').next().and_then(|n| n.parse().ok())
        {
            packets.push((id, format!("{line}\n")));
        } else if line.starts_with("note ") {
            notes.push(line.to_string());
        } else if line.starts_with("    ") {
            let last = packets.last_mut().expect("a stage line follows a packet");
            last.1.push_str(line);
            last.1.push('\n');
        }
    }
    (packets, notes)
}

/// The scenario's description at the top of `vpclab run --explain…` output: `# ` lines and
/// an empty one.
fn description(out: &str) -> String {
    match out.split_once("\n\n") {
        Some((head, _)) if head.lines().all(|l| l == "#" || l.starts_with("# ")) => {
            format!("{head}\n\n")
        }
        _ => String::new(),
    }
}

/// The explanation and the records of `vpclab run --explain…` output.
fn explained(out: &str) -> (&str, &str) {
    out.split_once("\n# records\n")
        .expect("explanations, then # records")
}

#[test]
fn explain_flow_shows_that_flow_only() {
    // A second host pings the instance meanwhile: its packets are not the flow's.
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/ping-acl-asymmetry.yaml"
    ))
    .unwrap();
    let two = base
        .replace(
            "  - { name: home, ip: 203.0.113.12 }\n",
            "  - { name: home, ip: 203.0.113.12 }\n  - { name: other, ip: 203.0.113.99 }\n",
        )
        .replace(
            "    ping: { from: home, to: instance, count: 4, interval: 38, ident: 1 }\n",
            "    ping: { from: home, to: instance, count: 4, interval: 38, ident: 1 }\n  - at: 28\n    ping: { from: other, to: instance, count: 4, interval: 38, ident: 2 }\n",
        )
        .split("\nexpect:")
        .next()
        .unwrap()
        .to_string()
        + "\nexpect:\n  - records: 4\n";
    let p = temp_scenario("two-pingers.yaml", &two);
    let p = p.to_str().unwrap();
    let all = vpclab(&["run", p, "--explain"]);
    assert!(all.status.success(), "{}", stderr(&all));
    let all = stdout(&all);
    let o = vpclab(&[
        "run",
        p,
        "--explain-flow",
        "203.0.113.12 198.51.100.10 icmp",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let (explanation, records) = explained(&out);
    let headers: Vec<&str> = explanation
        .lines()
        .filter(|l| {
            l.strip_prefix('#')
                .is_some_and(|r| r.starts_with(char::is_numeric))
        })
        .collect();
    assert_eq!(
        headers,
        [
            "#1 t+27.000s home -> instance (eni-lq6mkcis): ICMP 203.0.113.12 -> 198.51.100.10 echo-request id=1 seq=0 (84 B)",
            "#2 t+27.001s instance (eni-lq6mkcis) -> home: ICMP 172.31.16.139 -> 203.0.113.12 echo-reply id=1 seq=0 (84 B)",
            "#5 t+65.000s home -> instance (eni-lq6mkcis): ICMP 203.0.113.12 -> 198.51.100.10 echo-request id=1 seq=1 (84 B)",
            "#6 t+65.001s instance (eni-lq6mkcis) -> home: ICMP 172.31.16.139 -> 203.0.113.12 echo-reply id=1 seq=1 (84 B)",
            "#9 t+103.000s home -> instance (eni-lq6mkcis): ICMP 203.0.113.12 -> 198.51.100.10 echo-request id=1 seq=2 (84 B)",
            "#10 t+103.001s instance (eni-lq6mkcis) -> home: ICMP 172.31.16.139 -> 203.0.113.12 echo-reply id=1 seq=2 (84 B)",
            "#13 t+141.000s home -> instance (eni-lq6mkcis): ICMP 203.0.113.12 -> 198.51.100.10 echo-request id=1 seq=3 (84 B)",
            "#14 t+141.001s instance (eni-lq6mkcis) -> home: ICMP 172.31.16.139 -> 203.0.113.12 echo-reply id=1 seq=3 (84 B)",
        ]
    );
    // Each packet explained as the full explanation has it, and every record still printed.
    let (full, full_records) = explained(&all);
    let (full, _) = packets_and_notes(full);
    let (shown, _) = packets_and_notes(explanation);
    for (id, block) in &shown {
        assert!(full.contains(&(*id, block.clone())), "#{id}:\n{block}");
    }
    assert_eq!(records, full_records);
    assert_eq!(records.lines().filter(|l| !l.starts_with(" ")).count(), 4);
    // The reply's view of the flow (private address, reversed) is the same flow; other
    // protocols and ports are not.
    let o = vpclab(&["run", p, "--explain-flow", "172.31.16.139 203.0.113.12"]);
    assert_eq!(stdout(&o), out);
    let o = vpclab(&["run", p, "--explain-flow", "203.0.113.12 198.51.100.10 tcp"]);
    let out = stdout(&o);
    let nothing = explained(&out).0;
    assert_eq!(nothing.trim_end(), description(&out).trim_end(), "{out}");
    let o = vpclab(&["run", p, "--explain-flow", "203.0.113.12 nowhere"]);
    let e = exit_stderr(&o, 2);
    assert!(e.contains("DST `nowhere` is not an IPv4 address"), "{e}");
}

#[test]
fn explain_record_shows_the_packets_it_counts() {
    let all = stdout(&vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--explain",
    ]));
    let o = vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--explain-record",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // The second record is the REJECTed replies: packets 2, 4, 6 and 8 (its truth in json).
    let (full, records) = explained(&all);
    let replies: String = packets_and_notes(full)
        .0
        .into_iter()
        .filter(|(id, _)| [2, 4, 6, 8].contains(id))
        .map(|(_, block)| block)
        .collect();
    assert_eq!(
        out,
        format!("{}{replies}\n# records\n{records}", description(&all))
    );
    assert!(replies.matches("echo-reply").count() == 4, "{replies}");
    let json = stdout(&vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--format",
        "json",
    ]));
    assert!(
        json.lines()
            .nth(1)
            .unwrap()
            .contains(r#""packet_ids":[2,4,6,8]"#),
        "{json}"
    );
    for n in ["0", "3"] {
        let o = vpclab(&[
            "run",
            "scenarios/ping-acl-asymmetry.yaml",
            "--explain-record",
            n,
        ]);
        assert_eq!(o.status.code(), Some(2), "{n}");
        assert_eq!(
            stderr(&o),
            format!("vpclab: --explain-record {n}: the run prints 2 records (1 to 2)\n")
        );
        assert_eq!(stdout(&o), "");
    }
}

/// Every record of a scenario with a note: the packets explained are the record's ground
/// truth, and the note about a packet comes with it.
#[test]
fn explain_record_matches_each_records_truth() {
    let file = "scenarios/acl-ephemeral-ports.yaml";
    let json = stdout(&vpclab(&["run", file, "--format", "json"]));
    let records: Vec<&str> = json.lines().collect();
    assert!(records.len() >= 2, "{json}");
    let mut noted = 0;
    for (i, record) in records.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(record).unwrap();
        let truth: Vec<u64> = v["truth"]["packet_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_u64().unwrap())
            .collect();
        let n = (i + 1).to_string();
        let o = vpclab(&["run", file, "--format", "json", "--explain-record", &n]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let (packets, notes) = packets_and_notes(explained(&out).0);
        let ids: Vec<u64> = packets.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, truth, "record {n}");
        for note in &notes {
            assert!(
                truth
                    .iter()
                    .any(|id| note.contains(&format!("packet #{id} "))),
                "record {n}: {note}"
            );
        }
        noted += notes.len();
    }
    assert_eq!(
        noted, 1,
        "the scenario's one note, with its packet's record"
    );
}

/// `vpclab run --explain` streams each packet's explanation as it is sent; the text is the
/// one the library renders from a whole run, for every shipped scenario.
#[test]
fn streamed_explanations_are_the_whole_runs() {
    use vpclab_controlplane::{Options, load, run};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() > 20);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let opts = Options {
            explain: true,
            ..Options::default()
        };
        let mut l = load(&f.display().to_string(), &text, &opts).unwrap();
        let r = run(&mut l).unwrap();
        let mut expected = String::new();
        if let Some(d) = &l.description {
            for line in d.trim_end().lines() {
                expected.push_str(format!("# {line}").trim_end());
                expected.push('\n');
            }
            expected.push('\n');
        }
        expected.push_str(&r.explain(&l));
        expected.push_str("\n# records\n");
        for (i, line) in r.lines().enumerate() {
            expected.push_str(line);
            expected.push('\n');
            for why in r.why(&l, i + 1).unwrap() {
                expected.push_str(&why);
                expected.push('\n');
            }
        }
        let o = vpclab(&["run", f.to_str().unwrap(), "--explain"]);
        assert!(o.status.success(), "{}: {}", f.display(), stderr(&o));
        assert!(
            stdout(&o) == expected,
            "{}: explanations differ",
            f.display()
        );
    }
}

/// `--explain` keeps no packet: peak memory stays flat however many packets are explained.
/// The old code held every outcome and the whole text before printing (measured: 351 MB peak
/// RSS for 250,000 packets, 1.37 GB for 1,000,000, i.e. ~1.4 KB a packet), the streamed run
/// 28 MB for either. 1,000,000 packets take ~45 s in a debug build, so the test explains
/// 250,000 (~12 s), whose old peak is already 1.75 times the 200 MB bound.
#[test]
fn explain_memory_does_not_grow_with_the_packets() {
    use std::io::Read;
    const PACKETS: u32 = 250_000;
    let p = temp_scenario("ping-250k.yaml", &ping_scenario(PACKETS));
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(["run", p.to_str().unwrap(), "--explain"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    // VmHWM (peak RSS) can only be read while the child lives, so it is read as the output
    // is: the old code reached its peak before printing its first byte.
    let hwm_kb = || -> Option<u64> {
        let s = std::fs::read_to_string(&status).ok()?;
        let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let mut out = child.stdout.take().unwrap();
    let (mut buf, mut bytes, mut peak_kb) = (vec![0u8; 1 << 16], 0usize, 0u64);
    // Packet headers: lines that start with `#` and a digit (the description's lines and
    // `# records` do not).
    let mut headers = 0usize;
    let (mut at_line_start, mut after_hash) = (true, false);
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if after_hash && b.is_ascii_digit() {
                headers += 1;
            }
            after_hash = at_line_start && b == b'#';
            at_line_start = b == b'\n';
        }
        bytes += n;
        if let Some(kb) = hwm_kb() {
            peak_kb = peak_kb.max(kb);
        }
    }
    assert!(child.wait().unwrap().success());
    // Every packet explained.
    assert_eq!(headers, PACKETS as usize);
    assert!(bytes > 90_000_000, "{bytes} bytes");
    if std::path::Path::new("/proc/self/status").exists() {
        assert!(peak_kb > 0, "VmHWM was read");
        assert!(
            peak_kb < 200 * 1024,
            "peak RSS {} MB explaining {PACKETS} packets",
            peak_kb / 1024
        );
    }
}

/// `vpclab bench restart` fills a project through the API and times its start: one row per
/// size, the stored commands reaching at least the size asked for.
#[test]
fn bench_restart_prints_one_row_per_size() {
    let o = vpclab(&[
        "bench",
        "restart",
        "--commands",
        "150",
        "--commands",
        "300",
        "--runs",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<Vec<f64>> = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("commands"))
        .skip(1)
        .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for (row, size) in rows.iter().zip([150.0, 300.0]) {
        assert_eq!(row.len(), 5, "{out}");
        assert!(row[0] >= size, "{out}");
        assert!(row[2] <= row[3] && row[3] <= row[4], "{out}");
    }
}

#[test]
fn bench_api_prints_its_figures_in_both_modes() {
    for (extra, what) in [(None, "create+get"), (Some("--reads-only"), "get")] {
        let mut args = vec!["bench", "api", "--clients", "2", "--ops", "5"];
        args.extend(extra);
        let o = vpclab(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.starts_with(&format!("clients=2 operations=20 ({what})\n")),
            "{out}"
        );
        for key in [
            "ops_per_second=",
            "p50_ms=",
            "p99_ms=",
            "list_page_of_50_p50_ms=",
            "list_page_of_50_p99_ms=",
        ] {
            let value = out
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {out}"));
            assert!(value.parse::<f64>().unwrap() > 0.0, "{out}");
        }
    }
}

#[test]
fn help_gives_examples_and_exit_codes() {
    let o = vpclab(&["--help"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("Examples:\n  vpclab run scenarios/ping-acl-asymmetry.yaml"),
        "{out}"
    );
    for code in ["  0  done", "  1  the run failed", "  2  bad input"] {
        assert!(out.contains(code), "{code} missing: {out}");
    }
}

/// Every subcommand `vpclab --help` lists ends its own `--help` with examples of itself and
/// its exit codes, 0 and 2 (bad input) at least.
#[test]
fn every_subcommand_help_gives_examples_and_exit_codes() {
    let top = stdout(&vpclab(&["--help"]));
    let commands: Vec<&str> = top
        .split("Commands:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no Commands: in {top}"))
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|&c| c != "help")
        .collect();
    assert!(commands.len() >= 9, "{commands:?}");
    for c in commands {
        let o = vpclab(&[c, "--help"]);
        assert!(o.status.success(), "{c} --help: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("Examples"),
            "{c} --help has no examples:\n{out}"
        );
        assert!(
            out.contains(&format!(":\n  vpclab {c}")),
            "{c} --help: the first example is not `vpclab {c} ...`:\n{out}"
        );
        assert!(
            out.contains("Exit codes:\n  0  ") && out.contains("\n  2  "),
            "{c} --help has no exit codes 0 and 2:\n{out}"
        );
    }
}

/// A transit gateway is reachable only from the zones its VPC attachment has an interface
/// in: the explanation says so, not "no route" (issue 11, item 13).
#[test]
fn explain_names_a_zone_affinity_drop() {
    let text = include_str!("../scenarios/aws-transit-gateway.yaml")
        .replacen(
            "      - { name: clients, cidr: 10.20.33.0/24, zone: use1-az1 }\n",
            "      - { name: clients, cidr: 10.20.33.0/24, zone: use1-az1 }\n      - { name: far, cidr: 10.20.34.0/24, zone: use1-az2 }\n",
            1,
        )
        .replacen(
            "{ name: client, subnet: clients, ip: 10.20.33.164,",
            "{ name: client, subnet: far, ip: 10.20.34.164,",
            1,
        );
    let text = &text[..text.find("\nexpect:").unwrap()];
    let p = temp_scenario("zone-affinity.yaml", text);
    let o = vpclab(&["run", p.to_str().unwrap(), "--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("    path: ENI client -> subnet far -> router tgw\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "    router tgw-0123456789abcdef0: VPC attachment a has no interface in availability \
             zone use1-az2: the router is not reachable from there (zone affinity)\n"
        ),
        "{out}"
    );
    assert!(!out.contains("no route for"), "{out}");
}
