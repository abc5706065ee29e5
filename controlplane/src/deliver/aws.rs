//! AWS: the S3 layout of VPC flow logs (flowlogs.md §1.1; AWS VPC user guide, "Flow log
//! files"): `AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD/` then
//! `{account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash}.log.gz`, one file per
//! flow log per 5-minute interval, its first line the format's field names.
//!
//! Router (transit-gateway) records are delivered too, in files of their own: their lines are
//! in the TGW default format (§1.8), which needs its own header, and AWS delivers TGW flow logs
//! to the same `vpcflowlogs` prefix. Their hash differs from an ENI file's of the same flow log
//! and interval, so the two never collide.

use vpclab_sim::flowlog::format::{AwsFormat, Format};

use super::{FileFormat, Shape, Target, Utc};

/// AWS publishes a flow log's files to S3 every 5 minutes.
pub(super) const INTERVAL: u64 = 300;

/// The v2 default format; router records print in the TGW default (`Format::for_record`).
pub(super) fn format() -> Format {
    Format::Aws(AwsFormat::default_v2())
}

/// The header line: the field names of the format the file's records print in, space separated.
pub(super) fn header(format: &Format) -> String {
    format
        .positional_fields()
        .expect("an AWS format is positional")
        .join(" ")
}

/// The file's path under the delivery directory; `period` is the interval's start.
pub(super) fn path(t: &Target, flow_log_id: &str, shape: Shape, period: u64) -> String {
    let at = Utc::from_secs(period);
    let ext = match t.file_format {
        FileFormat::Text => "log.gz",
        FileFormat::Parquet => "log.parquet",
    };
    format!(
        "AWSLogs/{account}/vpcflowlogs/{region}/{day}/{account}_vpcflowlogs_{region}_{id}_\
         {y:04}{mo:02}{d:02}T{h:02}{mi:02}Z_{hash}.{ext}",
        account = t.account,
        region = t.region,
        day = at.day_folder(),
        id = flow_log_id,
        y = at.year,
        mo = at.month,
        d = at.day,
        h = at.hour,
        mi = at.minute,
        hash = file_hash(flow_log_id, period, shape),
    )
}

/// The 8 hex digits AWS puts after the timestamp: here FNV-1a (64 bits, folded to 32) of the
/// flow log id, the interval start and the record shape. No randomness, no clock: the same
/// run names its files the same.
pub(super) fn file_hash(flow_log_id: &str, period: u64, shape: Shape) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let shape = match shape {
        Shape::Eni => b"eni".as_slice(),
        Shape::Router => b"tgw".as_slice(),
    };
    let mut h = OFFSET;
    let parts: [&[u8]; 5] = [
        flow_log_id.as_bytes(),
        b"\0",
        &period.to_be_bytes(),
        b"\0",
        shape,
    ];
    for byte in parts.into_iter().flatten() {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(PRIME);
    }
    format!("{:08x}", (h >> 32) as u32 ^ h as u32)
}
