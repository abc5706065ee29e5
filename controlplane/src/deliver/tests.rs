//! Delivery unit tests: file boundaries and names, headers, NODATA lines, per-cloud JSON keys,
//! determinism, refusals.

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::de::Visitor;
use vpclab_sim::flowlog::{
    CaptureMeta, Flow, LogStatus, Record, RouterEnd, RouterFlow, RouterPath, Truth,
};
use vpclab_sim::packet::FiveTuple;
use vpclab_sim::time::Time;
use vpclab_sim::{Action, Direction};

use super::*;

/// A fresh empty directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vpclab-deliver-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn target(provider: Provider, file_format: FileFormat) -> Target {
    Target {
        provider,
        account: "123456789010".into(),
        region: "us-east-1".into(),
        file_format,
    }
}

fn capture() -> Arc<CaptureMeta> {
    Arc::new(CaptureMeta {
        account_id: "123456789010".into(),
        interface_id: "eni-1235b8ca123456789".into(),
        vpc_id: "vpc-abcdefab012345678".into(),
        subnet_id: "subnet-aaaaaaaa012345678".into(),
        instance_id: Some("i-01234567890123456".into()),
        region: "us-east-1".into(),
        az_id: "use1-az1".into(),
        primary_ip: Ipv4Addr::new(172, 31, 16, 139),
        router_id: None,
        ccn: None,
    })
}

/// AWS's ping example's request record (flowlogs.md §1.7), in a window ending at `end`.
fn ping(flow_log: &str, end: u64) -> Record {
    let tuple = FiveTuple {
        src: Ipv4Addr::new(203, 0, 113, 12),
        dst: Ipv4Addr::new(172, 31, 16, 139),
        sport: 0,
        dport: 0,
        protocol: 1,
    };
    Record {
        flow_log_id: flow_log.into(),
        capture: capture(),
        window_start: Time::from_secs(end - 600),
        window_end: Time::from_secs(end),
        status: LogStatus::Ok,
        flow: Some(Flow {
            tuple,
            pkt_src: tuple.src,
            pkt_dst: tuple.dst,
            direction: Direction::Ingress,
            action: Action::Accept,
            packets: 4,
            bytes: 336,
            first: Time::from_secs(end - 573),
            last: Time::from_secs(end - 458),
            tcp_flags: 0,
            aws_tcp_flags: 0,
            closed_at: None,
            traffic_path: None,
            router: None,
        }),
        truth: Truth::default(),
    }
}

fn nodata(flow_log: &str, end: u64) -> Record {
    Record {
        flow_log_id: flow_log.into(),
        capture: capture(),
        window_start: Time::from_secs(end - 600),
        window_end: Time::from_secs(end),
        status: LogStatus::NoData,
        flow: None,
        truth: Truth::default(),
    }
}

/// A transit-gateway attachment's record, window [1700000000, 1700000060].
fn tgw_record() -> Record {
    let mut r = ping("fl-tgw", 1_700_000_060);
    let end = RouterEnd {
        attachment_id: "tgw-attach-0aaaaaaaaaaaaaaaa".into(),
        vpc_account_id: Some("123456789010".into()),
        vpc_id: Some("vpc-0aaaaaaaaaaaaaaaa".into()),
        subnet_id: Some("subnet-0aaaaaaaaaaaaaaaa".into()),
        eni_id: Some("eni-0aaaaaaaaaaaaaaaa".into()),
        az_id: Some("use1-az1".into()),
    };
    r.capture = Arc::new(CaptureMeta {
        interface_id: "tgw-attach-0aaaaaaaaaaaaaaaa".into(),
        subnet_id: "-".into(),
        instance_id: None,
        az_id: "-".into(),
        router_id: Some("tgw-0123456789abcdef0".into()),
        ..(*capture()).clone()
    });
    r.window_start = Time::from_secs(1_700_000_000);
    let flow = r.flow.as_mut().expect("traffic");
    flow.first = Time::from_secs(1_700_000_010);
    flow.last = Time::from_secs(1_700_000_011);
    flow.router = Some(RouterFlow {
        path: Arc::new(RouterPath {
            src: end,
            dst: None,
        }),
        lost_no_route: 0,
        lost_blackhole: 4,
        lost_mtu_exceeded: 0,
    });
    r
}

fn deliver(dir: &TempDir, target: Target, records: &[Record]) -> Vec<DeliveredFile> {
    let mut d = Delivery::new(&dir.0, target).expect("delivery");
    for r in records {
        d.record(r).expect("record");
    }
    d.finish().expect("finish")
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(File::open(path).expect("file"))
        .read_to_string(&mut text)
        .expect("gzip text");
    text
}

fn paths(files: &[DeliveredFile]) -> Vec<&str> {
    files.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn utc_from_unix_seconds() {
    let at = |secs| {
        let u = Utc::from_secs(secs);
        (u.year, u.month, u.day, u.hour, u.minute)
    };
    assert_eq!(at(0), (1970, 1, 1, 0, 0));
    assert_eq!(at(1_432_917_000), (2015, 5, 29, 16, 30));
    assert_eq!(at(1_700_000_000), (2023, 11, 14, 22, 13));
    // Leap days, and the last minute of a leap year.
    assert_eq!(at(951_782_400), (2000, 2, 29, 0, 0));
    assert_eq!(at(1_735_689_599), (2024, 12, 31, 23, 59));
    assert_eq!(at(1_735_689_600), (2025, 1, 1, 0, 0));
}

/// A record goes into the 5-minute interval holding its window end: a window ending at :04:59
/// is in the :00 file, one ending at exactly :05:00 opens the :05 file.
#[test]
fn aws_interval_boundaries_at_five_minutes() {
    let dir = TempDir::new("aws-boundary");
    // 2015-05-29 16:40:00 is 1432917600.
    let files = deliver(
        &dir,
        target(Provider::Aws, FileFormat::Text),
        &[
            ping("fl-1", 1_432_917_600 + 299),
            ping("fl-1", 1_432_917_600 + 300),
        ],
    );
    let hash = |period| aws::file_hash("fl-1", period, Shape::Eni);
    assert_eq!(
        paths(&files),
        [
            format!(
                "AWSLogs/123456789010/vpcflowlogs/us-east-1/2015/05/29/\
                 123456789010_vpcflowlogs_us-east-1_fl-1_20150529T1640Z_{}.log.gz",
                hash(1_432_917_600)
            ),
            format!(
                "AWSLogs/123456789010/vpcflowlogs/us-east-1/2015/05/29/\
                 123456789010_vpcflowlogs_us-east-1_fl-1_20150529T1645Z_{}.log.gz",
                hash(1_432_917_900)
            ),
        ]
    );
    assert!(files.iter().all(|f| f.records == 1));
}

/// A window ending at midnight is published in the next day's folder.
#[test]
fn aws_day_rollover() {
    let dir = TempDir::new("aws-day");
    // 2024-12-31 23:59:59 and 2025-01-01 00:00:00.
    let files = deliver(
        &dir,
        target(Provider::Aws, FileFormat::Text),
        &[ping("fl-1", 1_735_689_599), ping("fl-1", 1_735_689_600)],
    );
    let paths = paths(&files);
    assert!(
        paths[0].starts_with("AWSLogs/123456789010/vpcflowlogs/us-east-1/2024/12/31/")
            && paths[0].contains("_20241231T2355Z_"),
        "{paths:?}"
    );
    assert!(
        paths[1].starts_with("AWSLogs/123456789010/vpcflowlogs/us-east-1/2025/01/01/")
            && paths[1].contains("_20250101T0000Z_"),
        "{paths:?}"
    );
}

/// The header names the v2 default's fields; the records follow in the aws default, NODATA
/// included (flowlogs.md §1.6).
#[test]
fn aws_header_and_lines() {
    let dir = TempDir::new("aws-lines");
    let files = deliver(
        &dir,
        target(Provider::Aws, FileFormat::Text),
        &[
            ping("fl-1", 1_432_917_600),
            nodata("fl-1", 1_432_917_600),
            nodata("fl-2", 1_432_917_600),
        ],
    );
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].records + files[1].records, 3);
    let fl1 = files
        .iter()
        .find(|f| f.path.contains("_fl-1_"))
        .expect("fl-1's file");
    assert_eq!(
        gunzip(&dir.0.join(&fl1.path)),
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
         bytes start end action log-status\n\
         2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 \
         1432917027 1432917142 ACCEPT OK\n\
         2 123456789010 eni-1235b8ca123456789 - - - - - - - 1432917000 1432917600 - NODATA\n"
    );
}

/// Router records get their own file, headed by the transit-gateway default's fields.
#[test]
fn aws_router_records_have_their_own_files() {
    let dir = TempDir::new("aws-tgw");
    let files = deliver(
        &dir,
        target(Provider::Aws, FileFormat::Text),
        &[tgw_record()],
    );
    assert_eq!(files.len(), 1);
    assert!(
        files[0].path.ends_with(&format!(
            "_fl-tgw_20231114T2210Z_{}.log.gz",
            aws::file_hash("fl-tgw", 1_699_999_800, Shape::Router)
        )),
        "{}",
        files[0].path
    );
    let text = gunzip(&dir.0.join(&files[0].path));
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("version resource-type account-id tgw-id"),
        "{header}"
    );
    assert_eq!(header.split(' ').count(), 36);
    let line = lines.next().expect("record");
    assert!(line.starts_with("6 TransitGatewayAttachment 123456789010 tgw-0123456789abcdef0"));
    assert_eq!(line.split(' ').count(), 36);
}

#[test]
fn hash_is_deterministic_and_distinguishes_files() {
    let h = aws::file_hash("fl-0a1b2c3d4e5f60718", 1_432_917_600, Shape::Eni);
    assert_eq!(h.len(), 8);
    assert!(
        h.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(
        h,
        aws::file_hash("fl-0a1b2c3d4e5f60718", 1_432_917_600, Shape::Eni)
    );
    assert_ne!(
        h,
        aws::file_hash("fl-0a1b2c3d4e5f60718", 1_432_917_900, Shape::Eni)
    );
    assert_ne!(
        h,
        aws::file_hash("fl-0a1b2c3d4e5f60719", 1_432_917_600, Shape::Eni)
    );
    assert_ne!(
        h,
        aws::file_hash("fl-0a1b2c3d4e5f60718", 1_432_917_600, Shape::Router)
    );
}

/// Same records, same bytes, for every cloud and file format.
#[test]
fn deliveries_are_byte_identical() {
    let records = [
        ping("fl-1", 1_432_917_600),
        nodata("fl-2", 1_432_917_600),
        ping("fl-1", 1_432_918_200),
        tgw_record(),
    ];
    let mut targets = vec![
        target(Provider::Aws, FileFormat::Text),
        target(Provider::Huawei, FileFormat::Text),
        target(Provider::Alibaba, FileFormat::Text),
        target(Provider::Tencent, FileFormat::Text),
    ];
    if cfg!(feature = "parquet") {
        targets.push(target(Provider::Aws, FileFormat::Parquet));
    }
    for t in targets {
        let (a, b) = (TempDir::new("same-a"), TempDir::new("same-b"));
        let files = deliver(&a, t.clone(), &records);
        assert_eq!(files, deliver(&b, t.clone(), &records), "{t:?}");
        for f in &files {
            let read = |d: &TempDir| fs::read(d.0.join(&f.path)).expect("file");
            assert_eq!(read(&a), read(&b), "{}", f.path);
        }
    }
}

/// Records the format does not print (skipped for capacity, D12) are not delivered.
#[test]
fn skipped_records_are_not_delivered() {
    let dir = TempDir::new("skipped");
    let mut skipped = ping("fl-1", 1_432_917_600);
    skipped.truth.skipped = true;
    let files = deliver(
        &dir,
        target(Provider::Aws, FileFormat::Text),
        &[skipped.clone(), nodata("fl-1", 1_432_917_600)],
    );
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].records, 1);
    let only_skipped = TempDir::new("only-skipped");
    assert!(
        deliver(
            &only_skipped,
            target(Provider::Huawei, FileFormat::Text),
            &[skipped]
        )
        .is_empty()
    );
}

#[test]
fn refusals() {
    let dir = TempDir::new("refusals");
    for provider in [Provider::Huawei, Provider::Alibaba, Provider::Tencent] {
        let err = Delivery::new(&dir.0, target(provider, FileFormat::Parquet))
            .err()
            .expect("refused");
        assert!(matches!(err, DeliverError::ParquetNotAws(p) if p == provider));
        assert!(
            err.to_string()
                .starts_with("Parquet files are an AWS (S3) delivery format"),
            "{err}"
        );
    }
    fs::write(dir.0.join("x"), "").expect("write");
    let err = Delivery::new(&dir.0, target(Provider::Aws, FileFormat::Text))
        .err()
        .expect("refused");
    assert!(matches!(err, DeliverError::NotEmpty(_)), "{err}");
    let missing = dir.0.join("missing");
    let err = Delivery::new(&missing, target(Provider::Aws, FileFormat::Text))
        .err()
        .expect("refused");
    assert!(
        matches!(&err, DeliverError::Io { path, .. } if *path == missing),
        "{err}"
    );
}

/// A record for an interval whose file is closed is an error, not a second file.
#[test]
fn out_of_order_records_are_refused() {
    let dir = TempDir::new("order");
    let mut d = Delivery::new(&dir.0, target(Provider::Aws, FileFormat::Text)).expect("new");
    d.record(&ping("fl-1", 1_432_918_200)).expect("later");
    // Another flow log may be behind: one file per flow log.
    d.record(&ping("fl-2", 1_432_917_600))
        .expect("other flow log");
    let err = d.record(&ping("fl-1", 1_432_917_600)).expect_err("earlier");
    assert!(matches!(err, DeliverError::OutOfOrder { .. }), "{err}");
}

fn json_lines(dir: &TempDir, files: &[DeliveredFile]) -> Vec<serde_json::Value> {
    files
        .iter()
        .flat_map(|f| {
            fs::read_to_string(dir.0.join(&f.path))
                .expect("file")
                .lines()
                .map(|l| serde_json::from_str(l).expect("JSON line"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The keys of a JSON line, in order.
/// The names in `names`, in order (a format's field list, as the clouds' documents write it).
fn words(names: &str) -> Vec<&str> {
    names.split(' ').collect()
}

fn keys(line: &str) -> Vec<String> {
    let mut de = serde_json::Deserializer::from_str(line);
    let mut out = Vec::new();
    struct Keys<'a>(&'a mut Vec<String>);
    impl<'de> Visitor<'de> for Keys<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                self.0.push(k);
            }
            Ok(())
        }
    }
    use serde::Deserializer as _;
    (&mut de).deserialize_map(Keys(&mut out)).expect("object");
    out
}

#[test]
fn huawei_lts_lines() {
    let dir = TempDir::new("huawei");
    let files = deliver(
        &dir,
        target(Provider::Huawei, FileFormat::Text),
        &[ping("fl-1", 1_432_917_600), nodata("fl-1", 1_432_921_200)],
    );
    // Hours 16 and 17 (a window ending at 17:40 is in the 17 h file).
    assert_eq!(
        paths(&files),
        [
            "LTS/vpc-flowlogs-us-east-1/fl-1/2015/05/29/16.jsonl",
            "LTS/vpc-flowlogs-us-east-1/fl-1/2015/05/29/17.jsonl"
        ]
    );
    let first = fs::read_to_string(dir.0.join(&files[0].path)).expect("file");
    assert_eq!(
        keys(first.lines().next().expect("line")),
        words(
            "version project-id interface-id srcaddr dstaddr srcport dstport protocol packets \
             bytes start end action log-status",
        )
    );
    let lines = json_lines(&dir, &files);
    assert_eq!(
        lines[0],
        serde_json::json!({
            "version": 1, "project-id": "123456789010", "interface-id": "eni-1235b8ca123456789",
            "srcaddr": "203.0.113.12", "dstaddr": "172.31.16.139", "srcport": 0, "dstport": 0,
            "protocol": 1, "packets": 4, "bytes": 336, "start": 1432917000, "end": 1432917600,
            "action": "ACCEPT", "log-status": "OK"
        })
    );
    // NODATA: null counters, `-` text.
    assert_eq!(lines[1]["packets"], serde_json::Value::Null);
    assert_eq!(lines[1]["srcaddr"], "-");
    assert_eq!(lines[1]["action"], "-");
    assert_eq!(lines[1]["log-status"], "NODATA");
    assert_eq!(lines[1]["start"], 1_432_920_600);
}

#[test]
fn alibaba_sls_lines() {
    let dir = TempDir::new("alibaba");
    let files = deliver(
        &dir,
        target(Provider::Alibaba, FileFormat::Text),
        &[ping("fl-1", 1_432_917_600)],
    );
    assert_eq!(
        paths(&files),
        ["SLS/vpc-flowlogs-123456789010-us-east-1/fl-1/2015/05/29/16.jsonl"]
    );
    let text = fs::read_to_string(dir.0.join(&files[0].path)).expect("file");
    assert_eq!(
        keys(text.lines().next().expect("line")),
        words(
            "__topic__ version vswitch-id vm-id vpc-id account-id eni-id region srcaddr \
             srcport dstaddr dstport protocol direction packets bytes start end log-status \
             action tcp-flags traffic_path",
        )
    );
    let v = &json_lines(&dir, &files)[0];
    let want = serde_json::json!({
        "__topic__": "flow_log", "version": 1, "vswitch-id": "subnet-aaaaaaaa012345678",
        "direction": "in", "packets": 4, "start": 1_432_917_027, "end": 1_432_917_600,
        "tcp-flags": 0, "traffic_path": "-"
    });
    for (key, value) in want.as_object().expect("an object") {
        assert_eq!(&v[key], value, "{key}");
    }
}

#[test]
fn tencent_cls_lines() {
    let dir = TempDir::new("tencent");
    let files = deliver(
        &dir,
        target(Provider::Tencent, FileFormat::Text),
        &[ping("fl-1", 1_432_917_600), nodata("fl-1", 1_432_917_600)],
    );
    assert_eq!(
        paths(&files),
        ["CLS/vpc-flowlogs-us-east-1/fl-1/2015/05/29/16.jsonl"]
    );
    let text = fs::read_to_string(dir.0.join(&files[0].path)).expect("file");
    assert_eq!(
        keys(text.lines().next().expect("line")),
        words(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
             bytes start end action log-status",
        )
    );
    let lines = json_lines(&dir, &files);
    // Tencent's version is text (`0001_0001`); counters are numbers.
    assert_eq!(lines[0]["version"], "0001_0001");
    assert_eq!(lines[0]["bytes"], 336);
    assert_eq!(lines[1]["bytes"], serde_json::Value::Null);
    assert_eq!(lines[1]["log-status"], "NODATA");
}

#[test]
fn json_numbers_and_strings() {
    assert_eq!(
        json_object([("srcport", "0"), ("packets", "-"), ("version", "0001_0001")]),
        r#"{"srcport":0,"packets":null,"version":"0001_0001"}"#
    );
    assert_eq!(
        json_object([("action", "-"), ("srcaddr", "a\"b")]),
        r#"{"action":"-","srcaddr":"a\"b"}"#
    );
}

#[test]
fn path_safe_ids() {
    assert_eq!(path_safe("fl-0a1b2c3d"), "fl-0a1b2c3d");
    assert_eq!(path_safe("a/b c"), "a_b_c");
    assert_eq!(path_safe(".."), "__");
    assert_eq!(path_safe(""), "_");
}

#[cfg(feature = "parquet")]
#[test]
fn aws_parquet_file() {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    use ::parquet::record::Field;

    let dir = TempDir::new("parquet");
    let files = deliver(
        &dir,
        target(Provider::Aws, FileFormat::Parquet),
        &[ping("fl-1", 1_432_917_600), nodata("fl-1", 1_432_917_600)],
    );
    assert_eq!(files.len(), 1);
    assert!(files[0].path.ends_with(".log.parquet"), "{}", files[0].path);
    assert_eq!(files[0].records, 2);
    let reader = SerializedFileReader::new(File::open(dir.0.join(&files[0].path)).expect("file"))
        .expect("a Parquet file");
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 2);
    let schema = meta.file_metadata().schema_descr();
    let columns: Vec<(String, String)> = schema
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.physical_type().to_string()))
        .collect();
    let want = [
        ("version", "INT32"),
        ("account_id", "BYTE_ARRAY"),
        ("interface_id", "BYTE_ARRAY"),
        ("srcaddr", "BYTE_ARRAY"),
        ("dstaddr", "BYTE_ARRAY"),
        ("srcport", "INT32"),
        ("dstport", "INT32"),
        ("protocol", "INT32"),
        ("packets", "INT64"),
        ("bytes", "INT64"),
        ("start", "INT64"),
        ("end", "INT64"),
        ("action", "BYTE_ARRAY"),
        ("log_status", "BYTE_ARRAY"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(columns, want);
    assert_eq!(
        meta.row_group(0).column(0).compression(),
        ::parquet::basic::Compression::GZIP(Default::default())
    );
    let rows: Vec<_> = reader
        .get_row_iter(None)
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    let get = |row: usize, name: &str| {
        rows[row]
            .get_column_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f.clone())
            .expect("column")
    };
    assert_eq!(get(0, "packets"), Field::Long(4));
    assert_eq!(get(0, "srcport"), Field::Int(0));
    assert_eq!(get(0, "action"), Field::Str("ACCEPT".into()));
    assert_eq!(get(1, "packets"), Field::Null);
    assert_eq!(get(1, "srcaddr"), Field::Null);
    assert_eq!(get(1, "start"), Field::Long(1_432_917_000));
    assert_eq!(get(1, "log_status"), Field::Str("NODATA".into()));
}
