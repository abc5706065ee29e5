//! `vpclab ui`: the web console of one scenario. Its JSON API over plain HTTP (records,
//! explanations, a re-run, a refused edit, the body limit), and the page in a real browser:
//! Debian's chromium driven by playwright-core (`tests/console/console.test.mjs`).
//!
//! The browser test needs `/usr/bin/chromium` and `tests/console/node_modules` (`.ci/run`
//! installs both; README, "Tests"). Without them it fails and says how to install them, unless
//! `VPCLAB_SKIP_BROWSER=1`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::fixture::{self, P, START, TOKEN_A};
use common::{assert_fields, exit_stderr, v2_fields};

const SCENARIO: &str = "scenarios/ping-acl-asymmetry.yaml";
const DENY: &str = "ACL web-acl egress (subnet web): no rule matched; default rule * denies";
const BROWSER_HELP: &str = "apt-get install -y chromium && npm ci --prefix tests/console";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running `vpclab ui FILE --http 127.0.0.1:0`, killed when dropped.
struct Ui {
    child: Child,
    /// `http://127.0.0.1:PORT/`, from the first line it prints.
    url: String,
    addr: String,
}

impl Ui {
    fn start(file: &str) -> Ui {
        Ui::spawn(&["ui", file, "--http", "127.0.0.1:0"]).0
    }

    /// `vpclab ARGS`, until it prints the console's URL; with the lines printed before it.
    fn spawn(args: &[&str]) -> (Ui, Vec<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vpclab"))
            .current_dir(root())
            .args(args)
            .env("VPCLAB_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("vpclab starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut before = Vec::new();
        let url = loop {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("a line");
            assert!(
                !line.is_empty(),
                "vpclab ended before naming the console's URL"
            );
            match line.trim_end().strip_prefix("vpclab: console on ") {
                Some(url) => break url.to_string(),
                None => before.push(line.trim_end().to_string()),
            }
        };
        let addr = url
            .strip_prefix("http://")
            .and_then(|u| u.strip_suffix('/'))
            .unwrap_or_else(|| panic!("an http URL: {url}"))
            .to_string();
        (Ui { child, url, addr }, before)
    }

    /// One request (`Connection: close`): the status, the content type and the body.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String, String) {
        self.request_with(method, path, "", body)
    }

    /// The body of `GET path`, which must answer 200 with this content type.
    #[track_caller]
    fn get(&self, path: &str, content_type: &str) -> String {
        let (status, got_type, body) = self.request("GET", path, b"");
        assert_eq!(
            (status, got_type.as_str()),
            (200, content_type),
            "GET {path}"
        );
        body
    }

    /// `request` with more header lines (each ending in CRLF).
    fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> (u16, String, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connects");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n{headers}\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        // A body over the limit is refused before it is read: the rest may not be taken.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let raw = String::from_utf8(raw).expect("UTF-8");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type: ")
                    .map(str::to_string)
            })
            .unwrap_or_default();
        (status, content_type, body.to_string())
    }

    fn json(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        self.json_with(method, path, "", body)
    }

    /// `GET /api/state`'s document.
    fn state(&self) -> Value {
        self.json("GET", "/api/state", b"").1
    }

    fn json_with(&self, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, Value) {
        let (status, content_type, body) = self.request_with(method, path, headers, body);
        assert_eq!(content_type, "application/json; charset=utf-8", "{body}");
        let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (status, value)
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The console holds `yaml`, and its run's records have these actions.
#[track_caller]
fn assert_holds(ui: &Ui, yaml: &str, want: [&str; 2]) {
    let state = ui.state();
    assert_eq!(actions(&state), want);
    assert_eq!(state["yaml"], yaml);
}

fn actions(state: &Value) -> Vec<&str> {
    state["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["action"].as_str().expect("an action"))
        .collect()
}

fn scenario() -> String {
    std::fs::read_to_string(root().join(SCENARIO)).unwrap()
}

/// The scenario with an ACL egress entry that lets ICMP out (the replies).
fn icmp_allowed() -> String {
    let egress = "          - { rule: 100, action: allow, protocol: tcp, ports: 443, cidr: \
                  0.0.0.0/0 }\n";
    let text = scenario();
    assert!(text.contains(egress));
    text.replace(
        egress,
        &format!(
            "{egress}          - {{ rule: 110, action: allow, protocol: icmp, cidr: 0.0.0.0/0 }}\n"
        ),
    )
}

#[test]
fn the_state_holds_the_records_as_table_rows_and_facts() {
    let ui = Ui::start(SCENARIO);
    let (status, state) = ui.json("GET", "/api/state", b"");
    assert_eq!(status, 200);
    assert_fields(
        &state,
        json!({
            "name": "ping-acl-asymmetry", "provider": "tencent", "yaml": scenario(), "total": 2,
            "more": 0, "packets": 8, "expectations": {"count": 5, "failures": []}
        }),
    );
    assert_eq!(actions(&state), ["ACCEPT", "REJECT"]);
    let reject = &state["records"][1];
    // The columns of `--format table`: tencent's positional fields, in order.
    let names: Vec<&str> = reject["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f[0].as_str().unwrap())
        .collect();
    assert_eq!(names, v2_fields());
    assert_fields(
        reject,
        json!({
            "eni": "eni-lq6mkcis", "src": "172.31.16.139", "dst": "203.0.113.12", "packets": 4,
            "bytes": 336, "first": 27.001, "last": 141.001, "window": [0.0, 300.0]
        }),
    );
    // Same file, same bytes: another console's state is identical.
    let (_, _, once) = ui.request("GET", "/api/state", b"");
    let (_, _, again) = Ui::start(SCENARIO).request("GET", "/api/state", b"");
    assert_eq!(once, again);
}

#[test]
fn a_record_explains_the_packets_it_counts() {
    let ui = Ui::start(SCENARIO);
    let (status, x) = ui.json("GET", "/api/records/2", b"");
    assert_eq!(status, 200);
    assert_eq!(x["packets"], json!([2, 4, 6, 8]));
    assert_eq!(x["decisions"][1], DENY);
    assert_eq!(
        x["why"],
        json!([
            "packets #2 #4 #6 #8, from t+27.001s to t+141.001s",
            "SG egress at instance: part of a tracked connection: allows",
            "ACL web-acl egress (subnet web): no rule matched ICMP 172.31.16.139 -> 203.0.113.12; \
             default rule * denies",
            "path: ENI instance -> subnet web: dropped by the network ACL (egress)",
            "hint: network ACLs are stateless: this reply belongs to traffic that was let in, and \
             the ACL needs its own egress entry for it: allow ICMP to 203.0.113.12",
        ])
    );
    assert!(x["line"].as_str().unwrap().contains("action:REJECT"));
    let first: Vec<&str> = x["explanations"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        [
            "#2 t+27.001s instance (eni-lq6mkcis) -> home: ICMP 172.31.16.139 -> 203.0.113.12 \
             echo-reply id=1 seq=0 (84 B)",
            "    path: ENI instance -> subnet web",
            "    SG egress at instance: part of a tracked connection: allows",
            &format!("    {DENY}"),
            "    dropped by the network ACL (egress)",
            "    hint: network ACLs are stateless: this reply belongs to traffic that was let in, \
             and the ACL needs its own egress entry for it: allow ICMP to 203.0.113.12",
        ]
    );
    assert_eq!(x["explanations"].as_array().unwrap().len(), 4);
    let (status, x) = ui.json("GET", "/api/records/3", b"");
    assert_eq!(status, 404);
    assert_eq!(x["error"], "no record 3: the run shows 2 records (1 to 2)");
}

#[test]
fn a_run_with_the_acl_fixed_accepts_both_ways() {
    let ui = Ui::start(SCENARIO);
    let (status, state) = ui.json("POST", "/api/run", icmp_allowed().as_bytes());
    assert_eq!(status, 200, "{state}");
    assert_eq!(actions(&state), ["ACCEPT", "ACCEPT"]);
    // The file's expectations of a REJECT record (lines 76 and 87 now) no longer hold.
    assert_eq!(state["expectations"]["count"], 5);
    let failed: Vec<&Value> = state["expectations"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["line"])
        .collect();
    assert_eq!(failed, [76, 87]);
    // It is the console's scenario now.
    assert_holds(&ui, &icmp_allowed(), ["ACCEPT", "ACCEPT"]);
}

#[test]
fn the_picture_is_vpclab_graph_s_and_follows_a_run() {
    let ui = Ui::start(SCENARIO);
    let svg = ui.get("/api/graph.svg", "image/svg+xml; charset=utf-8");
    let graph = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .current_dir(root())
        .args(["graph", SCENARIO])
        .output()
        .unwrap();
    assert!(graph.status.success());
    assert_eq!(svg, String::from_utf8(graph.stdout).unwrap());
    assert!(
        svg.contains("<g class=\"flow reject\" id=\"flow2\""),
        "{svg}"
    );
    // Flow N filters the table by its sender and its records' action.
    let state = ui.state();
    assert_eq!(
        state["flows"],
        json!([
            {"n": 1, "addr": "203.0.113.12", "action": "ACCEPT"},
            {"n": 2, "addr": "172.31.16.139", "action": "REJECT"},
        ])
    );
    let (status, _) = ui.json("POST", "/api/run", icmp_allowed().as_bytes());
    assert_eq!(status, 200);
    let (_, _, svg) = ui.request("GET", "/api/graph.svg", b"");
    assert!(!svg.contains("class=\"flow reject\""), "{svg}");
    assert!(
        svg.contains("<g class=\"flow accept\" id=\"flow2\""),
        "{svg}"
    );
}

#[test]
fn a_bad_edit_is_refused_with_the_loader_error_and_changes_nothing() {
    let ui = Ui::start(SCENARIO);
    let bad = scenario().replace(
        "protocol: tcp, ports: 443, cidr",
        "protocol: tcpx, ports: 443, cidr",
    );
    let (status, e) = ui.json("POST", "/api/run", bad.as_bytes());
    assert_eq!(status, 400);
    assert_eq!(
        e["error"],
        "scenarios/ping-acl-asymmetry.yaml:41:13: vpcs[0].network_acls[0].egress[0].protocol: \
         unknown protocol `tcpx` (expected tcp, udp, icmp, all or a number 0-255)"
    );
    assert_eq!(e["line"], 41);
    assert_eq!(e["field"], "vpcs[0].network_acls[0].egress[0].protocol");
    assert_holds(&ui, &scenario(), ["ACCEPT", "REJECT"]);
}

/// A run's packets are bounded (`--max-packets`): a file that sends more is refused like one
/// that does not load, and the console keeps what it had.
#[test]
fn a_run_over_the_packet_budget_is_refused_and_changes_nothing() {
    let (ui, _) = Ui::spawn(&[
        "ui",
        SCENARIO,
        "--http",
        "127.0.0.1:0",
        "--max-packets",
        "10",
    ]);
    // The file's 4 echo requests and 4 replies fit; 8 requests and 8 replies do not.
    let more = scenario().replace("count: 4, interval: 38", "count: 8, interval: 38");
    assert_ne!(more, scenario());
    let (status, e) = ui.json("POST", "/api/run", more.as_bytes());
    assert_eq!(status, 400, "{e}");
    assert_eq!(
        e["error"],
        "scenarios/ping-acl-asymmetry.yaml: the scenario sends more than 10 packets, more than \
         a run here keeps (`vpclab run` streams any number)"
    );
    assert_holds(&ui, &scenario(), ["ACCEPT", "REJECT"]);
}

#[test]
fn a_body_over_one_mib_is_refused_with_413() {
    let ui = Ui::start(SCENARIO);
    let big = vec![b'#'; (1 << 20) + 1];
    let (status, e) = ui.json("POST", "/api/run", &big);
    assert_eq!(status, 413);
    assert_eq!(
        e["error"],
        "the scenario is over the console's limit of 1048576 bytes"
    );
    // Exactly the limit is read (and is a file without a scenario in it).
    let mut comment = vec![b'#'; 1 << 20];
    comment[(1 << 20) - 1] = b'\n';
    let (status, e) = ui.json("POST", "/api/run", &comment);
    assert_eq!(status, 400, "{e}");
}

#[test]
fn the_page_and_its_assets_are_served_from_the_binary() {
    let ui = Ui::start(SCENARIO);
    let body = ui.get("/", "text/html; charset=utf-8");
    assert!(body.contains(r#"<script src="/console.js"></script>"#));
    // Nothing from outside: no absolute URL in the page, its script or its style (but the
    // SVG namespace, a name that is never fetched).
    for path in ["/", "/console.js", "/console.css"] {
        let (status, _, body) = ui.request("GET", path, b"");
        assert_eq!(status, 200, "{path}");
        let body = body.replace("'http://www.w3.org/2000/svg'", "");
        assert!(
            !body.contains("https:") && !body.contains("http:"),
            "{path}"
        );
    }
}

#[test]
fn ui_refuses_a_bad_file_and_a_non_loopback_address() {
    let dir = std::env::temp_dir().join(format!("vpclab-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "name: [\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(["ui", bad.to_str().unwrap(), "--http", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(
        exit_stderr(&out, 2),
        format!(
            "vpclab: {}:1:7: name: expected string scalar\n",
            bad.display()
        )
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .current_dir(root())
        .args(["ui", SCENARIO, "--http", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(
        exit_stderr(&out, 2),
        "vpclab: --http 0.0.0.0:0: the console has no authentication; listen on loopback\n"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// What the browser test needs, or why it cannot run.
fn browser_ready() -> Result<(), String> {
    let chromium = std::env::var_os("VPCLAB_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!("no {}", chromium.display()));
    }
    if !root()
        .join("tests/console/node_modules/playwright-core")
        .is_dir()
    {
        return Err("no tests/console/node_modules/playwright-core".into());
    }
    Ok(())
}

/// Runs the browser test on `url` (`mode`: `ui` or `server`), its screenshot to
/// `target/NAME`; `false` when skipped (`VPCLAB_SKIP_BROWSER=1` and no browser).
fn in_the_browser(url: &str, mode: &str, name: &str) -> bool {
    if let Err(missing) = browser_ready() {
        if std::env::var_os("VPCLAB_SKIP_BROWSER").is_some_and(|v| v == "1") {
            eprintln!("skipped (VPCLAB_SKIP_BROWSER=1): {missing}");
            return false;
        }
        panic!("{missing}: install them with `{BROWSER_HELP}` (at the repository root)");
    }
    let shot = root().join("target").join(name);
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .current_dir(root())
        .arg(Path::new("tests/console/console.test.mjs"))
        .arg(url)
        .arg(&shot)
        .arg(mode)
        .output()
        .expect("node runs (README, \"Tests\")");
    assert!(
        out.status.success(),
        "the browser test failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    true
}

#[test]
fn the_page_in_a_real_browser() {
    let ui = Ui::start(SCENARIO);
    in_the_browser(&ui.url, "ui", "console.png");
}

/// `vpclab serve --http`: its gRPC address and console.
fn serve_with_console(data_dir: &Path, extra: &[&str]) -> (Ui, String) {
    let dir = data_dir.to_str().unwrap();
    let start = START.to_string();
    let mut args = vec![
        "serve",
        "--provider",
        "tencent",
        "--seed",
        "1",
        "--start",
        &start,
    ];
    args.extend([
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir,
        "--http",
        "127.0.0.1:0",
    ]);
    args.extend(extra);
    let (ui, before) = Ui::spawn(&args);
    let grpc = before
        .iter()
        .find_map(|l| l.strip_prefix("vpclab: serving on "))
        .unwrap_or_else(|| panic!("the gRPC address first: {before:?}"));
    (ui, format!("http://{grpc}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_shows_the_records_a_project_s_log_service_holds() {
    let dir = common::temp_dir("console-serve");
    let (ui, grpc) = serve_with_console(&dir, &[]);
    let ch = fixture::connect(&grpc).await;
    let t = fixture::build(&ch, P, None).await;
    fixture::ping(&ch, P, None, &t, START + 27, 4).await;
    // Exactly the end of the 300 s window: a later one would add a NODATA record.
    fixture::advance_to(&ch, P, None, START + 300).await;
    let ui = Arc::new(ui);
    let u = ui.clone();
    let state = tokio::task::spawn_blocking(move || u.state())
        .await
        .unwrap();
    assert_fields(
        &state,
        json!({"mode": "server", "name": "default", "total": 2, "truncated": false}),
    );
    assert_eq!(actions(&state), ["ACCEPT", "REJECT"]);
    let reject = &state["records"][1];
    assert_fields(
        reject,
        json!({
            "eni": "eni-lq6mkcis", "src": "172.31.16.139", "dst": "203.0.113.12", "packets": 4,
            "window": [0.0, 300.0]
        }),
    );
    // The stored line (tencent key/value), its fields named by the flow log's format.
    let line = reject["line"].as_str().unwrap();
    assert!(
        line.starts_with("srcaddr:172.31.16.139 dstport:0 "),
        "{line}"
    );
    // The columns of `--format table`: tencent's positional order.
    let fields = &reject["fields"];
    assert_eq!(fields[0], json!(["version", "0001_0001"]));
    assert_eq!(fields[3], json!(["srcaddr", "172.31.16.139"]));
    assert_eq!(fields[12], json!(["action", "REJECT"]));
    assert!(state["yaml"].is_null());
    // The project's topology, drawn as `vpclab graph` draws a world.
    let u = ui.clone();
    let (status, content_type, svg) =
        tokio::task::spawn_blocking(move || u.request("GET", "/api/graph.svg", b""))
            .await
            .unwrap();
    assert_eq!(status, 200);
    assert_eq!(content_type, "image/svg+xml; charset=utf-8");
    assert!(
        svg.contains("eni-lq6mkcis") && svg.contains("172.31.16.139"),
        "{svg}"
    );
    assert!(!svg.contains("class=\"flow "), "no flows: {svg}");
    let url = ui.url.clone();
    tokio::task::spawn_blocking(move || in_the_browser(&url, "server", "console-serve.png"))
        .await
        .unwrap();
}

#[test]
fn serve_with_tokens_shows_the_console_only_to_a_project_s_token() {
    let dir = common::temp_dir("console-tokens");
    let tokens = dir.join("tokens.yaml");
    fixture::two_teams_file(&tokens);
    let data = dir.join("data");
    let (ui, _) = serve_with_console(&data, &["--tokens", tokens.to_str().unwrap()]);
    let (status, e) = ui.json("GET", "/api/state", b"");
    assert_eq!(status, 401);
    assert_eq!(
        e,
        json!({
            "error": "this server needs a bearer token: send `authorization: Bearer <token>`",
            "auth": true,
        })
    );
    let (status, state) = ui.json_with(
        "GET",
        "/api/state",
        &format!("Authorization: Bearer {TOKEN_A}\r\n"),
        b"",
    );
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["name"], "team-a");
    assert_eq!(state["total"], 0);
}

#[test]
fn serve_refuses_a_console_beyond_loopback() {
    let dir = common::temp_dir("console-beyond");
    let out = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:8080"])
        .arg("--data-dir")
        .arg(&*dir)
        .output()
        .unwrap();
    assert_eq!(
        exit_stderr(&out, 2),
        "vpclab: --http 0.0.0.0:8080: the console has no TLS; listen on loopback\n"
    );
}
