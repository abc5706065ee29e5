//! The `vpclab` command as a user runs it: the "done when" commands, exit codes, and
//! the report of `vpclab test`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn vpclab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("vpclab runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

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

#[test]
fn bad_flags_exit_2() {
    let o = vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--provider",
        "gcp",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown provider `gcp`"),
        "{}",
        stderr(&o)
    );
    let o = vpclab(&[
        "run",
        "scenarios/ping-acl-asymmetry.yaml",
        "--format",
        "aws",
        "--aws-fields",
        "version nonsense",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nonsense"), "{}", stderr(&o));
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
