//! Delivered files read by the tools analysts use on the real thing (`docs/generate.md`,
//! "Delivery"): DuckDB on the AWS gzip text and Parquet files, flowlogs-reader's S3 reader on
//! the AWS text files, pandas on the huawei, alibaba and tencent JSON lines. The shipped
//! scenarios are run, their records delivered into a temp dir, and what the tools read is
//! compared with the records the scenarios document.
//!
//! Needs Python with duckdb, pandas, pyarrow and flowlogs-reader: `VPCLAB_PYTHON` if set, else
//! `.venv/bin/python` at the repo root (`.ci/run` creates it; README, "Tests"). Without it the
//! tests fail and say how to create it.

use std::path::Path;
use std::process::Command;

mod common;
use common::{TempDir, python, temp_dir, v2_fields};

use serde_json::{Value, json};
use vpclab_controlplane::deliver::{DeliveredFile, Delivery, FileFormat, Target};
use vpclab_controlplane::{Options, load, run};
use vpclab_sim::flowlog::Record;
use vpclab_sim::profile::Provider;

const VENV_HELP: &str = "python3 -m venv .venv && .venv/bin/pip install -q duckdb pandas \
                         pyarrow flowlogs-reader (at the repo root), or set VPCLAB_PYTHON";

/// Runs `script` with `args`; it prints one JSON document, returned.
fn py(script: &str, args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python failed ({VENV_HELP} installs what it needs):\n{stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A shipped scenario's records, on `provider` (the file's own when `None`).
fn records(file: &str, provider: Option<Provider>) -> Vec<Record> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let opts = Options {
        provider,
        ..Options::default()
    };
    let mut l = load(file, &text, &opts).unwrap();
    run(&mut l).unwrap().records
}

/// Delivers `records` into `dir` (created, empty) as `provider` with `file_format`.
fn deliver(
    dir: &Path,
    provider: Provider,
    file_format: FileFormat,
    records: &[Record],
) -> Vec<DeliveredFile> {
    std::fs::create_dir_all(dir).unwrap();
    let first = &records[0].capture;
    let target = Target {
        provider,
        account: first.account_id.clone(),
        region: first.region.clone(),
        file_format,
    };
    let mut d = Delivery::new(dir, target).unwrap();
    for r in records {
        d.record(r).unwrap();
    }
    d.finish().unwrap()
}

fn total(files: &[DeliveredFile]) -> u64 {
    files.iter().map(|f| f.records).sum()
}

/// AWS's "security group and network ACL rules" ping, as the scenario documents it.
const PING_ACCEPT: &str = "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 \
                           1 4 336 1432917027 1432917142 ACCEPT OK";
const PING_REJECT: &str = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 \
                           1 4 336 1432917094 1432917142 REJECT OK";
/// aws-nodata.yaml's record.
const NODATA: &str =
    "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280936 - NODATA";

/// A documented line as the row DuckDB gives with `nullstr='-'`: numbers as numbers, `-` as
/// null.
fn row(line: &str) -> Value {
    let numeric = [0, 5, 6, 7, 8, 9, 10, 11];
    Value::Array(
        line.split(' ')
            .enumerate()
            .map(|(i, v)| match (v, numeric.contains(&i)) {
                ("-", _) => Value::Null,
                (v, true) => json!(v.parse::<i64>().unwrap()),
                (v, false) => json!(v),
            })
            .collect(),
    )
}

/// The ping and the NODATA scenarios delivered side by side under one root.
fn aws_delivery(root: &TempDir, file_format: FileFormat) -> u64 {
    let ping = records("aws-ping-sg-vs-acl.yaml", None);
    let nodata = records("aws-nodata.yaml", None);
    let a = deliver(&root.join("ping"), Provider::Aws, file_format, &ping);
    let b = deliver(&root.join("nodata"), Provider::Aws, file_format, &nodata);
    // One file each: the ping's window ends at 16:40:00 (the 16:40 file), the NODATA window at
    // 18:02:16 (the 18:00 file).
    let ext = match file_format {
        FileFormat::Text => "log.gz",
        FileFormat::Parquet => "log.parquet",
    };
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].path.starts_with(
            "AWSLogs/123456789010/vpcflowlogs/us-east-1/2015/05/29/\
             123456789010_vpcflowlogs_us-east-1_fl-"
        ) && a[0].path.contains("_20150529T1640Z_")
            && a[0].path.ends_with(ext),
        "{a:?}"
    );
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(
        b[0].path
            .starts_with("AWSLogs/123456789010/vpcflowlogs/us-east-1/2015/05/10/")
            && b[0].path.contains("_20150510T1800Z_"),
        "{b:?}"
    );
    total(&a) + total(&b)
}

#[test]
fn aws_text_files_read_in_duckdb() {
    let root = temp_dir("aws-text");
    assert_eq!(aws_delivery(&root, FileFormat::Text), 3);
    let got = py(
        r#"
import duckdb, json, sys
# account-id as text: DuckDB would sniff the 12 digits as a number (and drop leading zeros).
src = (f"read_csv('{sys.argv[1]}/**/*.log.gz', delim=' ', header=true, nullstr='-', "
       "types={'account-id': 'VARCHAR'})")
con = duckdb.connect()
cols = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {src}").fetchall()]
rows = con.sql(f'SELECT * FROM {src} ORDER BY "start", srcaddr').fetchall()
print(json.dumps({"columns": cols, "rows": [list(r) for r in rows]}))
"#,
        &[root.to_str().unwrap()],
    );
    assert_eq!(got["columns"], json!(v2_fields()));
    assert_eq!(
        got["rows"],
        json!([row(NODATA), row(PING_ACCEPT), row(PING_REJECT)])
    );
}

#[test]
fn aws_parquet_files_read_in_duckdb() {
    let root = temp_dir("aws-parquet");
    assert_eq!(aws_delivery(&root, FileFormat::Parquet), 3);
    let got = py(
        r#"
import duckdb, json, sys
src = f"read_parquet('{sys.argv[1]}/**/*.log.parquet')"
con = duckdb.connect()
types = {r[0]: r[1] for r in con.sql(f"DESCRIBE SELECT * FROM {src}").fetchall()}
cols = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {src}").fetchall()]
rows = con.sql(f'SELECT * FROM {src} ORDER BY "start", srcaddr').fetchall()
codecs = sorted({r[0] for r in con.sql(
    f"SELECT compression FROM parquet_metadata('{sys.argv[1]}/**/*.log.parquet')").fetchall()})
print(json.dumps({"columns": cols, "types": types, "rows": [list(r) for r in rows],
                  "codecs": codecs}))
"#,
        &[root.to_str().unwrap()],
    );
    let underscored: Vec<String> = v2_fields().iter().map(|c| c.replace('-', "_")).collect();
    assert_eq!(got["columns"], json!(underscored));
    assert_eq!(
        got["types"],
        json!({
            "version": "INTEGER", "account_id": "VARCHAR", "interface_id": "VARCHAR",
            "srcaddr": "VARCHAR", "dstaddr": "VARCHAR", "srcport": "INTEGER",
            "dstport": "INTEGER", "protocol": "INTEGER", "packets": "BIGINT", "bytes": "BIGINT",
            "start": "BIGINT", "end": "BIGINT", "action": "VARCHAR", "log_status": "VARCHAR"
        })
    );
    assert_eq!(
        got["rows"],
        json!([row(NODATA), row(PING_ACCEPT), row(PING_REJECT)])
    );
    assert_eq!(got["codecs"], json!(["GZIP"]));
}

/// flowlogs-reader reads AWS's files from S3 only (`S3FlowLogsReader` lists the bucket's
/// `AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD/` prefixes with boto3, keeps the files
/// whose name's timestamp is in its time range, gunzips each and reads it as a space-separated
/// table with a header). It takes the S3 client as `boto_client`, so the test hands it a small
/// stand-in that answers the three calls it makes from the delivery directory: the reader's own
/// code then walks our layout, parses our file names and reads our headers and lines.
#[test]
fn aws_text_files_read_by_flowlogs_reader() {
    let root = temp_dir("aws-fr");
    let ping = records("aws-ping-sg-vs-acl.yaml", None);
    let nodata = records("aws-nodata.yaml", None);
    // One bucket: both scenarios' files (their flow logs' ids differ or their times do).
    let mut all = nodata.clone();
    all.extend(ping.iter().cloned());
    let files = deliver(&root, Provider::Aws, FileFormat::Text, &all);
    assert_eq!(files.len(), 2, "{files:?}");
    let got = py(
        r#"
import io, json, os, sys
from calendar import timegm
from datetime import datetime
from flowlogs_reader import S3FlowLogsReader

class LocalS3:
    """The S3 calls S3FlowLogsReader makes, answered from a local directory."""
    def __init__(self, root):
        self.root = root
    def _keys(self, prefix):
        keys = []
        for d, _, names in os.walk(self.root):
            for n in names:
                key = os.path.relpath(os.path.join(d, n), self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)
    def list_objects_v2(self, Bucket, Prefix="", Delimiter=None, **_):
        keys = self._keys(Prefix)
        if Delimiter is None:
            return {"Contents": [{"Key": k} for k in keys]}
        rest = [k[len(Prefix):] for k in keys]
        common = sorted({Prefix + r.split(Delimiter, 1)[0] + Delimiter
                         for r in rest if Delimiter in r})
        return {"CommonPrefixes": [{"Prefix": p} for p in common]}
    def get_paginator(self, name):
        assert name == "list_objects_v2"
        s3 = self
        class Pages:
            def paginate(self, **kw):
                yield s3.list_objects_v2(**kw)
        return Pages()
    def get_object(self, Bucket, Key):
        data = open(os.path.join(self.root, Key), "rb").read()
        return {"Body": io.BytesIO(data), "ContentLength": len(data)}

reader = S3FlowLogsReader("bucket", boto_client=LocalS3(sys.argv[1]),
                          start_time=datetime(2015, 5, 1), end_time=datetime(2015, 6, 1),
                          raise_on_error=True)
rows = []
for r in reader:
    d = r.to_dict()
    d["start"] = timegm(d["start"].utctimetuple())
    d["end"] = timegm(d["end"].utctimetuple())
    rows.append(d)
rows.sort(key=lambda d: (d["start"], d.get("srcaddr") or ""))
print(json.dumps({"rows": rows, "skipped": reader.skipped_records}))
"#,
        &[root.to_str().unwrap()],
    );
    assert_eq!(got["skipped"], 0);
    // flowlogs-reader drops the fields that are `-` and names them with `_`.
    let record = |line: &str| {
        let mut m = serde_json::Map::new();
        for (name, v) in v2_fields().into_iter().zip(row(line).as_array().unwrap()) {
            if !v.is_null() {
                m.insert(name.replace('-', "_"), v.clone());
            }
        }
        // Its `version` and `account_id`: an int and a string.
        m.insert("account_id".into(), json!("123456789010"));
        Value::Object(m)
    };
    assert_eq!(
        got["rows"],
        json!([record(NODATA), record(PING_ACCEPT), record(PING_REJECT)])
    );
}

/// Huawei, alibaba and tencent JSON lines, read by pandas: one row per record, the service's
/// field names as columns, counters as numbers.
#[test]
fn log_service_json_lines_read_in_pandas() {
    let script = r#"
import glob, json, sys
import pandas as pd
paths = sorted(glob.glob(f"{sys.argv[1]}/**/*.jsonl", recursive=True))
df = pd.concat([pd.read_json(p, lines=True, dtype=False) for p in paths], ignore_index=True)
df = df.sort_values(["action", "srcaddr"]).reset_index(drop=True)
rows = json.loads(df.to_json(orient="records"))
print(json.dumps({"files": [p[len(sys.argv[1]) + 1:] for p in paths],
                  "columns": list(df.columns),
                  "dtypes": {c: str(t) for c, t in df.dtypes.items()},
                  "rows": rows}))
"#;
    // --- Tencent: the seed's ping, ICMP ports as identifier and type×256+code (D14).
    let dir = temp_dir("tencent");
    let recs = records("ping-acl-asymmetry.yaml", None);
    let files = deliver(&dir, Provider::Tencent, FileFormat::Text, &recs);
    assert_eq!(total(&files), 2);
    let got = py(script, &[dir.to_str().unwrap()]);
    let flow_log = &recs[0].flow_log_id;
    assert_eq!(
        got["files"],
        json!([format!(
            "CLS/vpc-flowlogs-{}/{flow_log}/2015/05/29/16.jsonl",
            recs[0].capture.region
        )])
    );
    assert_eq!(got["columns"], json!(v2_fields()));
    assert_eq!(got["dtypes"]["packets"], "int64");
    assert_eq!(got["dtypes"]["start"], "int64");
    let tencent = |src: &str, dst: &str, sport: u16, dport: u16, action: &str| {
        json!({
            "version": "0001_0001", "account-id": "1251762227", "interface-id": "eni-lq6mkcis",
            "srcaddr": src, "dstaddr": dst, "srcport": sport, "dstport": dport, "protocol": 1,
            "packets": 4, "bytes": 336, "start": 1432917000, "end": 1432917300,
            "action": action, "log-status": "OK"
        })
    };
    assert_eq!(
        got["rows"],
        json!([
            tencent("203.0.113.12", "172.31.16.139", 1, 2048, "ACCEPT"),
            tencent("172.31.16.139", "203.0.113.12", 1, 0, "REJECT"),
        ])
    );

    // --- Huawei: its ACLs track connections, so both directions are ACCEPTed; `start`/`end`
    // are its 10-minute window's bounds.
    let dir = temp_dir("huawei");
    let recs = records("ping-acl-asymmetry.yaml", Some(Provider::Huawei));
    let files = deliver(&dir, Provider::Huawei, FileFormat::Text, &recs);
    assert_eq!(total(&files), 2);
    let got = py(script, &[dir.to_str().unwrap()]);
    let mut names = v2_fields();
    names[1] = "project-id";
    assert_eq!(got["columns"], json!(names));
    let rows = got["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let project = recs[0].capture.account_id.as_str();
    let eni = recs[0].capture.interface_id.as_str();
    for (r, (src, dst)) in rows.iter().zip([
        ("172.31.16.139", "203.0.113.12"),
        ("203.0.113.12", "172.31.16.139"),
    ]) {
        assert_eq!(
            *r,
            json!({
                "version": 1, "project-id": project, "interface-id": eni, "srcaddr": src,
                "dstaddr": dst, "srcport": 0, "dstport": 0, "protocol": 1, "packets": 4,
                "bytes": 336, "start": 1432917000, "end": 1432917600, "action": "ACCEPT",
                "log-status": "OK"
            })
        );
    }
    assert!(
        got["files"][0]
            .as_str()
            .unwrap()
            .starts_with("LTS/vpc-flowlogs-"),
        "{}",
        got["files"]
    );

    // --- Alibaba: the SLS keys, in the field table's order.
    let dir = temp_dir("alibaba");
    let recs = records("ping-acl-asymmetry.yaml", Some(Provider::Alibaba));
    let files = deliver(&dir, Provider::Alibaba, FileFormat::Text, &recs);
    assert_eq!(total(&files), 2);
    let got = py(script, &[dir.to_str().unwrap()]);
    assert_eq!(
        got["columns"],
        json!(
            "__topic__ version vswitch-id vm-id vpc-id account-id eni-id region srcaddr \
             srcport dstaddr dstport protocol direction packets bytes start end log-status \
             action tcp-flags traffic_path"
                .split(' ')
                .collect::<Vec<_>>()
        )
    );
    let rows = got["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["action"], "ACCEPT");
    assert_eq!(rows[0]["direction"], "in");
    assert_eq!(rows[0]["srcaddr"], "203.0.113.12");
    assert_eq!(rows[1]["action"], "REJECT");
    assert_eq!(rows[1]["direction"], "out");
    for r in rows {
        assert_eq!(r["__topic__"], "flow_log");
        assert_eq!(r["packets"], 4);
        assert_eq!(r["bytes"], 336);
        assert_eq!(r["protocol"], 1);
        assert_eq!(r["eni-id"], recs[0].capture.interface_id.as_str());
    }
    assert_eq!(got["dtypes"]["bytes"], "int64");
}

/// Same scenario, same bytes: a delivery is a pure function of the records.
#[test]
fn delivery_is_deterministic() {
    let recs = records("aws-ping-sg-vs-acl.yaml", None);
    let (a, b) = (temp_dir("det-a"), temp_dir("det-b"));
    for format in [FileFormat::Text, FileFormat::Parquet] {
        let (da, db) = (a.join(format!("{format:?}")), b.join(format!("{format:?}")));
        let fa = deliver(&da, Provider::Aws, format, &recs);
        let fb = deliver(&db, Provider::Aws, format, &recs);
        assert_eq!(fa, fb);
        for f in &fa {
            assert_eq!(
                std::fs::read(da.join(&f.path)).unwrap(),
                std::fs::read(db.join(&f.path)).unwrap(),
                "{}",
                f.path
            );
        }
    }
}
