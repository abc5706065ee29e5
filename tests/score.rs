//! `vpclab score` as a user runs it: the built binary on truth directories and alerts files
//! written into a temporary directory, its exact table and JSON (docs/generate.md, "Alerts"),
//! its exact errors with exit code 2, and the example detector
//! (examples/detectors/scan_bruteforce.py) scored on a hand-made aws delivery
//! (tests/fixtures/score/aws).

use std::path::Path;
use std::process::Command;

mod common;
use common::{TempDir, python, temp_dir};

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `vpclab ARGS` run in `dir`, so paths (and the errors naming them) are relative.
fn vpclab(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A horizontal scan, an SSH brute force and an exfiltration nobody detects.
const INCIDENTS: &str = r#"{"id":"inc-1","kind":"port_scan_horizontal","start":1000,"end":1100,"actors":["198.51.100.66"],"targets":["10.0.1.10","10.0.1.11"],"resources":["eni-a"],"ports":[22],"packets":2,"records":[]}
{"id":"inc-2","kind":"ssh_brute_force","start":2000,"end":2300,"actors":["203.0.113.45"],"targets":["10.0.1.20"],"resources":["eni-b","sg-b"],"ports":[22],"packets":400,"records":[]}
{"id":"inc-3","kind":"exfiltration","start":5000,"end":5600,"actors":["10.0.1.30"],"targets":["192.0.2.99"],"resources":["eni-c"],"ports":[443],"packets":9000,"records":[]}
"#;

/// Two alerts for the scan (one by family, its time in RFC 3339), one for the brute force by
/// family, and three false positives: a wrong port, a wrong kind, no kind at all.
const ALERTS: &str = r#"{"time": 1060, "kind": "port_scan_horizontal", "src": "198.51.100.66", "port": 22}
{"time": "1970-01-01T00:20:00Z", "kind": "port_scan", "src": "198.51.100.66"}

{"time": 2120.5, "kind": "brute_force", "dst": "10.0.1.20", "eni": "eni-b"}
{"time": 2100, "kind": "ssh_brute_force", "src": "203.0.113.45", "port": 3389}
{"time": 9000}
{"time": 3000, "kind": "rdp_brute_force", "src": "203.0.113.45", "dst": null}
"#;

fn scored(name: &str) -> TempDir {
    let dir = temp_dir(name);
    write(&dir, "out/truth/incidents.jsonl", INCIDENTS);
    write(&dir, "alerts.jsonl", ALERTS);
    dir
}

#[test]
fn the_table_has_a_row_per_kind_then_all() {
    let dir = scored("text");
    let stdout = succeeded(&dir, &["score", "--truth", "out", "alerts.jsonl"]);
    assert_eq!(
        stdout,
        "3 incidents, 6 alerts, grace 900 s; delays in seconds from the incident's start\n\
         \n\
         kind                  incidents  detected  missed  TP  FP  precision  recall     F1  delay_min  delay_median  delay_max\n\
         exfiltration                  1         0       1   0   0          -   0.000      -          -             -          -\n\
         port_scan_horizontal          1         1       0   2   0      1.000   1.000  1.000         60            60         60\n\
         rdp_brute_force               0         0       0   0   1      0.000       -      -          -             -          -\n\
         ssh_brute_force               1         1       0   1   1      0.500   1.000  0.667      120.5         120.5      120.5\n\
         unknown                       0         0       0   0   1      0.000       -      -          -             -          -\n\
         all                           3         2       1   3   3      0.500   0.667  0.571         60         90.25      120.5\n"
    );
}

#[test]
fn json_holds_the_same_report() {
    let dir = scored("json");
    let stdout = succeeded(
        &dir,
        &[
            "score",
            "--truth",
            "out",
            "alerts.jsonl",
            "--format",
            "json",
        ],
    );
    let row = |counts: [u32; 5], p: &str, r: &str, f1: &str, delays: [&str; 3]| {
        format!(
            r#"{{
      "incidents": {},
      "detected": {},
      "missed": {},
      "true_positives": {},
      "false_positives": {},
      "precision": {p},
      "recall": {r},
      "f1": {f1},
      "delay": {{
        "min": {},
        "median": {},
        "max": {}
      }}
    }}"#,
            counts[0], counts[1], counts[2], counts[3], counts[4], delays[0], delays[1], delays[2]
        )
    };
    let none = ["null"; 3];
    let all = row(
        [3, 2, 1, 3, 3],
        "0.5",
        "0.6666666666666666",
        "0.5714285714285715",
        ["60.0", "90.25", "120.5"],
    )
    .replace("\n  ", "\n");
    let expected = format!(
        r#"{{
  "grace": 900.0,
  "incidents": 3,
  "alerts": 6,
  "kinds": {{
    "exfiltration": {},
    "port_scan_horizontal": {},
    "rdp_brute_force": {},
    "ssh_brute_force": {},
    "unknown": {}
  }},
  "all": {all}
}}
"#,
        row([1, 0, 1, 0, 0], "null", "0.0", "null", none),
        row([1, 1, 0, 2, 0], "1.0", "1.0", "1.0", ["60.0"; 3]),
        row([0, 0, 0, 0, 1], "0.0", "null", "null", none),
        row(
            [1, 1, 0, 1, 1],
            "0.5",
            "1.0",
            "0.6666666666666666",
            ["120.5"; 3]
        ),
        row([0, 0, 0, 0, 1], "0.0", "null", "null", none),
    );
    assert_eq!(stdout, expected);
}

#[test]
fn grace_widens_or_narrows_the_window() {
    let dir = temp_dir("grace");
    write(
        &dir,
        "out/truth/incidents.jsonl",
        r#"{"id":"scan","kind":"port_scan_vertical","start":1000.5,"end":1100,"actors":["198.51.100.66"],"targets":["10.0.1.10"],"resources":[],"ports":[]}"#,
    );
    // 1 s after the end, then exactly end + 900.
    write(&dir, "alerts.jsonl", "{\"time\": 1101}\n{\"time\": 2000}\n");
    let detected = |grace: &str| {
        let stdout = succeeded(
            &dir,
            &["score", "--truth", "out", "alerts.jsonl", "--grace", grace],
        );
        stdout.lines().last().unwrap().to_string()
    };
    let columns = "all                         1         1       0";
    assert_eq!(
        detected("900"),
        format!("{columns}   2   0      1.000   1.000  1.000      100.5         100.5      100.5")
    );
    assert_eq!(
        detected("1"),
        format!("{columns}   1   1      0.500   1.000  0.667      100.5         100.5      100.5")
    );
    assert_eq!(
        detected("0"),
        "all                         1         0       1   0   2      0.000   0.000  0.000          -             -          -"
    );
}

#[test]
fn an_empty_truth_and_no_alerts_print_dashes() {
    let dir = temp_dir("empty");
    write(&dir, "out/truth/incidents.jsonl", "");
    write(&dir, "alerts.jsonl", "\n");
    let stdout = succeeded(&dir, &["score", "--truth", "out", "alerts.jsonl"]);
    assert_eq!(
        stdout,
        "0 incidents, 0 alerts, grace 900 s; delays in seconds from the incident's start\n\
         \n\
         kind  incidents  detected  missed  TP  FP  precision  recall  F1  delay_min  delay_median  delay_max\n\
         all           0         0       0   0   0          -       -   -          -             -          -\n"
    );
}

/// The stdout of `vpclab ARGS` in `dir`, which must succeed without a word on stderr.
fn succeeded(dir: &Path, args: &[&str]) -> String {
    let run = vpclab(dir, args);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    run.stdout
}

/// The stderr of a `vpclab score` run that must fail with exit code 2 and print nothing.
fn refused(dir: &Path, args: &[&str]) -> String {
    let run = vpclab(dir, args);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    run.stderr
}

/// The error for an alerts file whose 7th line is `line` (6 good lines before it).
fn alert_error(line: &str) -> String {
    let dir = scored("bad-alert");
    let good: String = ALERTS.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>()[..5]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    // 5 alerts and a blank line, so the bad one is line 7.
    write(&dir, "alerts.jsonl", &format!("{good}\n{line}\n"));
    refused(&dir, &["score", "--truth", "out", "alerts.jsonl"])
}

#[test]
fn a_bad_alert_names_file_line_and_key() {
    assert_eq!(
        alert_error(r#"{"time": "yesterday", "kind": "port_scan"}"#),
        "vpclab: alerts.jsonl:7: time: expected Unix seconds or an RFC 3339 time, found \"yesterday\"\n"
    );
    assert_eq!(
        alert_error(r#"{"time": "2023-11-14 22:13:20Z"}"#),
        "vpclab: alerts.jsonl:7: time: expected Unix seconds or an RFC 3339 time, found \"2023-11-14 22:13:20Z\"\n"
    );
    assert_eq!(
        alert_error(r#"{"kind": "port_scan"}"#),
        "vpclab: alerts.jsonl:7: time: missing (when the alert was raised: Unix seconds or an RFC 3339 time)\n"
    );
    assert_eq!(
        alert_error(r#"{"time": 1, "kind": "portscan"}"#),
        "vpclab: alerts.jsonl:7: kind: unknown kind \"portscan\"; expected one of \
         port_scan_horizontal, port_scan_vertical, ssh_brute_force, rdp_brute_force, \
         db_exposure, exfiltration, beaconing, lateral_movement, syn_flood, mining, \
         acl_reply_drop, nat_port_exhaustion, or a family: port_scan, brute_force, scan\n"
    );
    assert_eq!(
        alert_error(r#"{"time": 1, "src": "10.0.1.256"}"#),
        "vpclab: alerts.jsonl:7: src: expected an IPv4 address, found \"10.0.1.256\"\n"
    );
    assert_eq!(
        alert_error(r#"{"time": 1, "dst": "2001:db8::1"}"#),
        "vpclab: alerts.jsonl:7: dst: expected an IPv4 address, found \"2001:db8::1\"\n"
    );
    assert_eq!(
        alert_error(r#"{"time": 1, "port": 65536}"#),
        "vpclab: alerts.jsonl:7: port: expected a port (0-65535), found 65536\n"
    );
    assert_eq!(
        alert_error(r#"{"time": 1, "eni": 7}"#),
        "vpclab: alerts.jsonl:7: eni: expected an interface id, found 7\n"
    );
    assert_eq!(
        alert_error(r#"{"time": 1, "severity": "high"}"#),
        "vpclab: alerts.jsonl:7: severity: unknown key; an alert has time, kind, src, dst, eni, port\n"
    );
    assert_eq!(
        alert_error(r#"{"time": 1,}"#),
        "vpclab: alerts.jsonl:7:12: invalid JSON: trailing comma\n"
    );
    assert_eq!(
        alert_error(r#"[1700000000, "port_scan"]"#),
        "vpclab: alerts.jsonl:7: expected a JSON object, found [1700000000,\"port_scan\"]\n"
    );
}

#[test]
fn a_bad_truth_line_names_file_line_and_key() {
    let truth_error = |line: &str| {
        let dir = scored("bad-truth");
        let first = INCIDENTS.lines().next().unwrap();
        write(
            &dir,
            "out/truth/incidents.jsonl",
            &format!("{first}\n{line}\n"),
        );
        refused(&dir, &["score", "--truth", "out", "alerts.jsonl"])
    };
    let line = |kind: &str, rest: &str| {
        format!(
            r#"{{"id":"inc-2","kind":"{kind}","start":2000,"end":2300,"actors":["203.0.113.45"],"targets":["10.0.1.20"],"resources":["eni-b"]{rest}}}"#
        )
    };
    assert_eq!(
        truth_error(&line("ssh_brute_force", r#","ports":[22],"colour":"red""#)),
        "vpclab: out/truth/incidents.jsonl:2: colour: unknown key; an incident has id, kind, \
         start, end, actors, targets, resources, ports, packets, records\n"
    );
    assert_eq!(
        truth_error(&line("brute_force", r#","ports":[22]"#)),
        "vpclab: out/truth/incidents.jsonl:2: kind: unknown kind \"brute_force\"; an incident is \
         one of port_scan_horizontal, port_scan_vertical, ssh_brute_force, rdp_brute_force, \
         db_exposure, exfiltration, beaconing, lateral_movement, syn_flood, mining, \
         acl_reply_drop, nat_port_exhaustion\n"
    );
    assert_eq!(
        truth_error(&line("ssh_brute_force", "")),
        "vpclab: out/truth/incidents.jsonl:2: ports: missing\n"
    );
    assert_eq!(
        truth_error(&line("ssh_brute_force", r#","ports":[22,"ssh"]"#)),
        "vpclab: out/truth/incidents.jsonl:2: ports[1]: expected a port (0-65535), found \"ssh\"\n"
    );
    assert_eq!(
        truth_error(
            &line("ssh_brute_force", r#","ports":[22]"#)
                .replace(r#"["203.0.113.45"]"#, r#"["203.0.113"]"#)
        ),
        "vpclab: out/truth/incidents.jsonl:2: actors[0]: expected an IPv4 address, found \"203.0.113\"\n"
    );
    assert_eq!(
        truth_error(&line("ssh_brute_force", r#","ports":[22]"#).replace("2300", "1999.5")),
        "vpclab: out/truth/incidents.jsonl:2: end: 1999.5 is before start 2000\n"
    );
    assert_eq!(
        truth_error(&line("ssh_brute_force", r#","ports":[22]"#).replace("inc-2", "inc-1")),
        "vpclab: out/truth/incidents.jsonl:2: id: \"inc-1\" is also the id of line 1\n"
    );
    assert_eq!(
        truth_error(&line("ssh_brute_force", r#","ports":[22]"#).replace("2000", "\"2000\"")),
        "vpclab: out/truth/incidents.jsonl:2: start: expected Unix seconds, found \"2000\"\n"
    );
}

#[test]
fn missing_files_are_named() {
    let dir = scored("missing");
    assert_eq!(
        refused(&dir, &["score", "--truth", "nowhere", "alerts.jsonl"]),
        "vpclab: nowhere: no such directory (expected the output directory of vpclab generate)\n"
    );
    assert_eq!(
        refused(&dir, &["score", "--truth", "alerts.jsonl", "alerts.jsonl"]),
        "vpclab: alerts.jsonl: not a directory (expected the output directory of vpclab generate)\n"
    );
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    assert_eq!(
        refused(&dir, &["score", "--truth", "empty", "alerts.jsonl"]),
        "vpclab: empty/truth/incidents.jsonl: no such file\n"
    );
    assert_eq!(
        refused(&dir, &["score", "--truth", "out", "none.jsonl"]),
        "vpclab: none.jsonl: no such file\n"
    );
}

#[test]
fn bad_options_are_refused() {
    let dir = scored("options");
    assert_eq!(
        refused(
            &dir,
            &["score", "--truth", "out", "alerts.jsonl", "--grace=-1"]
        ),
        "vpclab: --grace: expected a number of seconds, 0 or more, found -1\n"
    );
    assert_eq!(
        refused(
            &dir,
            &["score", "--truth", "out", "alerts.jsonl", "--grace", "NaN"]
        ),
        "vpclab: --grace: expected a number of seconds, 0 or more, found NaN\n"
    );
    let run = vpclab(
        &dir,
        &["score", "--truth", "out", "alerts.jsonl", "--format", "csv"],
    );
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .starts_with("error: invalid value 'csv' for '--format <FORMAT>'"),
        "{}",
        run.stderr
    );
}

const HOW: &str = "create it with `python3 -m venv .venv && .venv/bin/pip install duckdb` at the \
                   repository root, or set VPCLAB_PYTHON to a Python with duckdb";

#[test]
fn the_example_detector_finds_the_fixture_scan_and_brute_force() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("tests/fixtures/score/aws");
    let dir = temp_dir("detector");
    let alerts = dir.join("alerts.jsonl");
    let python = python();
    let out = Command::new(&python)
        .arg(root.join("examples/detectors/scan_bruteforce.py"))
        .arg(&fixture)
        .arg("--out")
        .arg(&alerts)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {HOW}", python.display()));
    assert!(
        out.status.success(),
        "the detector failed ({}; {HOW}): {}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&alerts).unwrap(),
        "{\"time\": 1699999535, \"kind\": \"port_scan_vertical\", \"src\": \"198.51.100.66\", \"dst\": \"10.0.1.10\"}\n\
         {\"time\": 1699999719, \"kind\": \"ssh_brute_force\", \"src\": \"203.0.113.45\", \"dst\": \"10.0.1.20\", \"port\": 22}\n"
    );
    let stdout = succeeded(
        &dir,
        &[
            "score",
            "--truth",
            fixture.to_str().unwrap(),
            "alerts.jsonl",
            "--format",
            "json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for kind in ["port_scan_vertical", "ssh_brute_force"] {
        assert_eq!(report["kinds"][kind]["recall"], 1.0, "{kind}: {report:#}");
    }
    assert_eq!(report["all"]["false_positives"], 0, "{report:#}");
    assert_eq!(report["all"]["recall"], 1.0, "{report:#}");
}
