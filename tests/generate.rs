//! `vpclab generate` as an analyzer builder runs it (the built binary, issue 9): the teaching
//! hour written in each cloud's delivery layout with its truth and summary, byte-identical on
//! a second run, the directory written aside and never half-written, the example detector
//! scored against the truth, DuckDB reading the gzip and Parquet files, and bad workloads
//! refused with file, line and field.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::{python, temp_dir};
use serde_json::Value;

const HOUR: &str = "scenarios/workloads/teaching-hour.yaml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn vpclab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("vpclab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn generate(out: &Path, extra: &[&str]) {
    let out = out.to_str().unwrap();
    let mut args = vec!["generate", HOUR, "--out", out, "--quiet"];
    args.extend(extra);
    let (code, _, err) = vpclab(&args);
    assert_eq!(code, 0, "vpclab generate failed: {err}");
}

/// Every file under `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_teaching_hour_is_delivered_as_s3_with_its_truth_and_summary() {
    let dir = temp_dir("gen-aws");
    let out = dir.join("hour");
    generate(&out, &[]);
    let all = files(&out);
    let logs: Vec<&String> = all.keys().filter(|k| k.ends_with(".log.gz")).collect();
    // One VPC flow log, one file per 5-minute interval holding a window end: the six
    // 10-minute windows of the hour.
    assert_eq!(logs.len(), 6, "{logs:?}");
    for k in &logs {
        assert!(
            k.starts_with("AWSLogs/123456789012/vpcflowlogs/us-east-1/2023/11/15/123456789012_vpcflowlogs_us-east-1_fl-"),
            "{k}"
        );
    }
    let mut lines = 0u64;
    for k in &logs {
        let text = gunzip(&all[*k]);
        let mut it = text.lines();
        assert_eq!(
            it.next(),
            Some(
                "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
            )
        );
        lines += it.count() as u64;
    }
    let summary: Value = serde_json::from_slice(&all["summary.json"]).unwrap();
    assert_eq!(summary["records"].as_u64(), Some(lines));
    assert_eq!(summary["provider"], "aws");
    assert_eq!(summary["start"], 1_700_006_400);
    let incidents = json_lines(&all["truth/incidents.jsonl"]);
    let kinds: Vec<&str> = incidents
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["port_scan_horizontal", "ssh_brute_force", "acl_reply_drop"]
    );
    // The scan probes 3 public hosts on 13 ports from 198.51.100.66: 39 probes, each SYN
    // in a record of its own (a new source port each).
    let scan = &incidents[0];
    assert_eq!(scan["actors"], serde_json::json!(["198.51.100.66"]));
    assert_eq!(scan["ports"].as_array().unwrap().len(), 13);
    let probes = scan["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k.as_str().unwrap().contains("/198.51.100.66:"))
        .count();
    assert_eq!(probes, 39);
    // Every key of an incident's record is in records.jsonl with that incident's label.
    let labelled: BTreeMap<String, Value> = json_lines(&all["truth/records.jsonl"])
        .into_iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r["labels"].clone()))
        .collect();
    for i in &incidents {
        let id = i["id"].as_str().unwrap();
        let mut packets = 0;
        for k in i["records"].as_array().unwrap() {
            let labels = &labelled[k.as_str().unwrap()];
            packets += labels[id].as_u64().unwrap();
        }
        assert_eq!(Some(packets), i["packets"].as_u64(), "{id}");
    }
    // The brute force never got in: every record of it is a REJECT.
    let brute = &incidents[1];
    assert!(
        brute["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.as_str().unwrap().ends_with("/REJECT"))
    );
    assert!(!all.keys().any(|k| k.contains("partial")));
}

#[test]
fn the_same_file_and_seed_give_byte_identical_directories() {
    let dir = temp_dir("gen-determinism");
    for format in ["text", "parquet"] {
        let (a, b) = (
            dir.join(format!("a-{format}")),
            dir.join(format!("b-{format}")),
        );
        generate(&a, &["--file-format", format]);
        generate(&b, &["--file-format", format]);
        let (fa, fb) = (files(&a), files(&b));
        assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
        for (k, v) in &fa {
            assert!(v == &fb[k], "{k} differs between two runs");
        }
    }
}

#[test]
fn a_non_empty_directory_is_refused_unless_forced_and_then_replaced_whole() {
    let dir = temp_dir("gen-force");
    let out = dir.join("hour");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("old.txt"), "mine").unwrap();
    let o = out.to_str().unwrap();
    let (code, _, err) = vpclab(&["generate", HOUR, "--out", o, "--quiet"]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        format!("vpclab: {o}: not empty (use --force to replace it)")
    );
    assert!(
        out.join("old.txt").exists(),
        "a refused run changes nothing"
    );
    let (code, _, err) = vpclab(&["generate", HOUR, "--out", o, "--quiet", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.join("old.txt").exists());
    assert!(out.join("summary.json").exists());
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["hour"], "nothing is left beside it");
}

#[test]
fn each_cloud_delivers_to_its_log_service() {
    let dir = temp_dir("gen-clouds");
    for (provider, service) in [("huawei", "LTS/"), ("alibaba", "SLS/"), ("tencent", "CLS/")] {
        let out = dir.join(provider);
        generate(&out, &["--provider", provider]);
        let all = files(&out);
        let summary: Value = serde_json::from_slice(&all["summary.json"]).unwrap();
        assert_eq!(summary["provider"], provider);
        let logs: Vec<&String> = all
            .keys()
            .filter(|k| k.ends_with(".jsonl") && !k.starts_with("truth"))
            .collect();
        assert!(
            !logs.is_empty() && logs.iter().all(|k| k.starts_with(service)),
            "{provider}: {logs:?}"
        );
        let lines: usize = logs.iter().map(|k| json_lines(&all[*k]).len()).sum();
        assert_eq!(
            Some(lines as u64),
            summary["records"].as_u64(),
            "{provider}"
        );
        // The incidents are the same whatever the cloud; its rules decide the records.
        assert_eq!(json_lines(&all["truth/incidents.jsonl"]).len(), 3);
    }
}

/// Runs the example detector (DuckDB over the gzip files) and scores it.
fn detect_and_score(out: &Path) -> Value {
    let alerts = out.with_extension("alerts.jsonl");
    let status = Command::new(python())
        .arg(root().join("examples/detectors/scan_bruteforce.py"))
        .arg(out)
        .arg("--out")
        .arg(&alerts)
        .status()
        .expect("python runs");
    assert!(status.success());
    let (code, report, err) = vpclab(&[
        "score",
        "--truth",
        out.to_str().unwrap(),
        alerts.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&report).unwrap()
}

#[test]
fn the_example_detector_finds_the_teaching_hours_scan_and_brute_force() {
    let dir = temp_dir("gen-detector");
    let out = dir.join("hour");
    generate(&out, &[]);
    let report = detect_and_score(&out);
    let kinds = &report["kinds"];
    for kind in ["port_scan_horizontal", "ssh_brute_force"] {
        let k = &kinds[kind];
        assert_eq!(k["detected"], 1, "{kind}: {report}");
        assert_eq!(k["false_positives"], 0, "{kind}: {report}");
    }
    assert_eq!(report["all"]["false_positives"], 0, "{report}");
    // It does not look for ACL mistakes: the third incident is missed, and said so.
    assert_eq!(kinds["acl_reply_drop"]["missed"], 1, "{report}");
}

#[test]
fn duckdb_reads_the_parquet_delivery_with_awss_types() {
    let dir = temp_dir("gen-parquet");
    let out = dir.join("hour");
    generate(&out, &["--file-format", "parquet"]);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let script = r#"
import duckdb, json, sys
con = duckdb.connect()
rel = con.sql(f"select * from read_parquet('{sys.argv[1]}/AWSLogs/**/*.log.parquet')")
types = dict(zip(rel.columns, [str(t) for t in rel.types]))
rows = con.sql(f"select count(*), sum(packets) filter (where action = 'REJECT') from read_parquet('{sys.argv[1]}/AWSLogs/**/*.log.parquet')").fetchall()[0]
print(json.dumps({"types": types, "rows": rows[0], "rejected_packets": int(rows[1])}))
"#;
    let o = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"].as_u64(), summary["records"].as_u64());
    assert_eq!(v["types"]["packets"], "BIGINT");
    assert_eq!(v["types"]["dstport"], "INTEGER");
    assert!(v["rejected_packets"].as_u64().unwrap() > 0);
}

/// A workload file with `body` after a common header, checked: the error line.
fn check(body: &str) -> (i32, String) {
    let dir = temp_dir("gen-bad");
    let path = dir.join("bad.yaml");
    let text =
        format!("provider: aws\nseed: 1\nstart: 1700006400\nworkload:\n  duration: 600\n{body}");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap().to_string();
    let (code, _, err) = vpclab(&["check", &p]);
    (code, err.replace(&p, "bad.yaml"))
}

#[test]
fn bad_workloads_are_refused_with_file_line_and_field() {
    let fleet = "  fleets:\n    - { name: shop, cidr: 10.0.0.0/24, roles: { web: 2, app: 2 } }\n";
    let cases = [
        (
            "  fleets:\n    - { name: shop, cidr: 10.0.0.0/24, roles: { web: 2, cache: 2 } }\n"
                .to_string(),
            "bad.yaml:7:64: workload.fleets[0].roles.cache: unknown role `cache` (roles: web, app, db, bastion, batch, private)",
        ),
        (
            "  fleets:\n    - { name: shop, cidr: 10.0.0.0/26, roles: { web: 40, app: 30 } }\n"
                .to_string(),
            "bad.yaml:7:47: workload.fleets[0].roles: the fleet's ENIs do not fit its block 10.0.0.0/26: the app subnet needs a /26 and the block is full",
        ),
        (
            format!("{fleet}  incidents:\n    - {{ kind: port_sweep, at: 10, duration: 60 }}\n"),
            "bad.yaml:9:15: workload.incidents[0].kind: unknown incident kind `port_sweep` (kinds: port_scan_horizontal, port_scan_vertical, ssh_brute_force, rdp_brute_force, db_exposure, exfiltration, beaconing, lateral_movement, syn_flood, mining, acl_reply_drop, nat_port_exhaustion)",
        ),
        (
            format!(
                "{fleet}  incidents:\n    - {{ kind: ssh_brute_force, at: 10, duration: 60, target: shop/db }}\n"
            ),
            "bad.yaml:9:62: workload.incidents[0].target: `shop/db` is no ENI, role or FLEET/ROLE with ENIs (fleets: shop)",
        ),
        (
            format!(
                "{fleet}  incidents:\n    - {{ kind: syn_flood, at: 10, duration: 60, rate: 0 }}\n"
            ),
            "bad.yaml:9:54: workload.incidents[0].rate: 0: arrivals per second, above 0 and at most 100000",
        ),
        (
            format!("{fleet}  incidents:\n    - {{ kind: beaconing, at: 900, duration: 60 }}\n"),
            "bad.yaml:9:30: workload.incidents[0].at: 900 s is after the workload's end (600 s)",
        ),
        (
            "  fleets:\n    - { name: shop, cidr: 10.0.0.0/24, roles: { db: 1 }, replicate_to: dr }\n"
                .to_string(),
            "bad.yaml:7:72: workload.fleets[0].replicate_to: no fleet named `dr` (fleets: shop)",
        ),
        (
            "  fleets:\n    - { name: shop, cidr: 10.0.0.0/24, roles: { db: 1 }, replicate_to: dr }\n    - { name: dr, cidr: 10.1.0.0/24, roles: { app: 1 } }\n"
                .to_string(),
            "bad.yaml:7:72: workload.fleets[0].replicate_to: replication streams from databases to databases: fleet `dr` has no db ENIs",
        ),
        (
            "  fleets:\n    - { name: shop, cidr: 10.0.0.0/24, roles: { db: 1 }, replicate_to: dr }\n    - { name: dr, cidr: 10.0.0.0/16, roles: { db: 1 } }\n"
                .to_string(),
            "bad.yaml:7:72: workload.fleets[0].replicate_to: fleets `shop` (10.0.0.0/24) and `dr` (10.0.0.0/16) overlap: replication routes between their blocks",
        ),
        (
            format!("{fleet}  scale: -1\n"),
            "bad.yaml:8:10: workload.scale: -1: a multiplier of the benign rates, above 0 and at most 1000",
        ),
    ];
    for (body, want) in cases {
        let (code, err) = check(&body);
        assert_eq!(code, 2, "{body}");
        assert_eq!(err.trim(), want, "{body}");
    }
}

/// A fleet whose databases replicate to another region's, on a cloud that joins regions with
/// enterprise routers (aws, huawei) and on one with a CCN (tencent): every replication
/// session is ACCEPTed where it leaves the primary and where it reaches the replica, and
/// nothing on the way rejects it.
#[test]
fn databases_replicate_across_regions_through_routers_or_a_ccn() {
    let dir = temp_dir("gen-replication");
    for (provider, home, far) in [
        ("aws", "us-east-1", "us-west-2"),
        ("huawei", "cn-north-4", "cn-east-3"),
        ("tencent", "ap-guangzhou", "ap-shanghai"),
    ] {
        let path = dir.join(format!("{provider}.yaml"));
        std::fs::write(
            &path,
            format!(
                "provider: {provider}\nseed: 7\nstart: 1700006400\nregion: {home}\nworkload:\n  duration: 900\n  fleets:\n    - {{ name: prod, cidr: 10.0.0.0/16, roles: {{ app: 1, db: 2 }}, replicate_to: dr }}\n    - {{ name: dr, cidr: 10.1.0.0/16, region: {far}, roles: {{ db: 1 }} }}\n"
            ),
        )
        .unwrap();
        let (code, out, err) = vpclab(&["run", path.to_str().unwrap(), "--format", "json"]);
        assert_eq!(code, 0, "{provider}: {err}");
        let records = json_lines(out.as_bytes());
        let replication = |r: &&Value| {
            r["protocol"] == 6
                && r["dstport"] == 5432
                && r["srcaddr"].as_str().unwrap().starts_with("10.0.")
                && r["dstaddr"].as_str().unwrap().starts_with("10.1.")
        };
        let at = |r: &Value, field: &str| r["capture"]["primary_ip"] == r[field];
        let sent: Vec<&Value> = records
            .iter()
            .filter(replication)
            .filter(|r| r["direction"] == "egress" && at(r, "srcaddr"))
            .collect();
        let arrived: Vec<&Value> = records
            .iter()
            .filter(replication)
            .filter(|r| r["direction"] == "ingress" && at(r, "dstaddr"))
            .collect();
        assert!(
            !sent.is_empty(),
            "{provider}: no replication left a primary"
        );
        assert!(
            !arrived.is_empty(),
            "{provider}: no replication reached the replica"
        );
        for r in sent.iter().chain(&arrived) {
            assert_eq!(r["action"], "ACCEPT", "{provider}: {r}");
            assert_eq!(
                r["truth"]["labels"],
                serde_json::json!({"benign": r["packets"]})
            );
        }
        let packets = |v: &[&Value]| {
            v.iter()
                .map(|r| r["packets"].as_u64().unwrap())
                .sum::<u64>()
        };
        assert_eq!(
            packets(&sent),
            packets(&arrived),
            "{provider}: packets lost on the way"
        );
        assert!(
            !records
                .iter()
                .any(|r| r["action"] == "REJECT" && (r["dstport"] == 5432 || r["srcport"] == 5432)),
            "{provider}: a replication packet was rejected"
        );
    }
}

/// Packet trains count a transfer's repeated segments without sending each through the
/// pipeline: what is delivered must not change by a byte, on every cloud, and through
/// routers and CCNs (where trains stand aside).
#[test]
fn packet_trains_deliver_exactly_what_per_packet_simulation_delivers() {
    let dir = temp_dir("gen-trains");
    let replication = dir.join("replication.yaml");
    std::fs::write(
        &replication,
        "provider: aws\nseed: 7\nstart: 1700006400\nworkload:\n  duration: 1200\n  fleets:\n    - { name: prod, cidr: 10.0.0.0/16, roles: { web: 2, app: 1, db: 2 }, replicate_to: dr }\n    - { name: dr, cidr: 10.1.0.0/16, region: us-west-2, roles: { db: 1 } }\n",
    )
    .unwrap();
    let replication = replication.to_str().unwrap();
    for (file, provider) in [
        (HOUR, "aws"),
        (HOUR, "huawei"),
        (HOUR, "alibaba"),
        (HOUR, "tencent"),
        (replication, "aws"),
        (replication, "tencent"),
    ] {
        let run = |per_packet: bool| {
            let out = dir.join(format!(
                "{}-{provider}-{per_packet}",
                Path::new(file).file_stem().unwrap().to_string_lossy()
            ));
            let out_arg = out.to_str().unwrap();
            let mut args = vec![
                "generate",
                file,
                "--out",
                out_arg,
                "--quiet",
                "--provider",
                provider,
            ];
            if per_packet {
                args.push("--per-packet");
            }
            let (code, _, err) = vpclab(&args);
            assert_eq!(code, 0, "{file} {provider}: {err}");
            files(&out)
        };
        let (trains, per_packet) = (run(false), run(true));
        assert_eq!(
            trains.keys().collect::<Vec<_>>(),
            per_packet.keys().collect::<Vec<_>>(),
            "{file} {provider}"
        );
        for (k, v) in &trains {
            assert!(
                v == &per_packet[k],
                "{file} {provider}: {k} differs with packet trains"
            );
        }
    }
    // Trains do take the place of packets: the bench's events drop, its packets do not; and
    // `--hours` stops both at the same instant.
    let figures = |per_packet: bool, hours: Option<&str>| {
        let mut args = vec!["bench", "generate", "--file", HOUR];
        if per_packet {
            args.push("--per-packet");
        }
        if let Some(h) = hours {
            args.extend(["--hours", h]);
        }
        let (code, out, err) = vpclab(&args);
        assert_eq!(code, 0, "{err}");
        let get = |name: &str| -> u64 {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in {out}"))
                .parse()
                .unwrap()
        };
        (
            get("packets"),
            get("events"),
            get("records"),
            get("record_packets"),
        )
    };
    for hours in [Some("0.41"), Some("0.77")] {
        let (trains, per_packet) = (figures(false, hours), figures(true, hours));
        assert_eq!(
            (trains.0, trains.2, trains.3),
            (per_packet.0, per_packet.2, per_packet.3),
            "--hours {hours:?}: packets, records and their packets"
        );
    }
    let ((packets, events, ..), (pp_packets, pp_events, ..)) =
        (figures(false, None), figures(true, None));
    assert_eq!(packets, pp_packets);
    // The hour's transfers are mostly a segment or two: trains take a few percent.
    assert!(
        events < pp_events,
        "{events} events with trains, {pp_events} packet by packet"
    );
}
