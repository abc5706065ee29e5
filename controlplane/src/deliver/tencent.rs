//! Tencent: CLS (Cloud Log Service) topics (flowlogs.md §3.4). One JSON object per record with
//! the 14 names of the ENI record (`version account-id interface-id srcaddr dstaddr srcport
//! dstport protocol packets bytes start end action log-status`, in that order) or the 16 of the
//! CCN record (`version region-id ccn-id … srcregionid dstregionid …`), one file per flow log
//! per hour: `CLS/vpc-flowlogs-{region}/{flow-log-id}/YYYY/MM/DD/HH.jsonl`, the logset named
//! after the region, the topic after the flow log.

use vpclab_sim::flowlog::Record;
use vpclab_sim::flowlog::format::{Format, TencentStyle};

use super::{Target, Utc, json_object};

/// Positional: the field order of the record table (the key:value sample's order is a display
/// order; a JSON object's keys are its fields either way).
pub(super) fn format() -> Format {
    Format::Tencent(TencentStyle::Positional)
}

pub(super) fn path(t: &Target, flow_log_id: &str, period: u64) -> String {
    let at = Utc::from_secs(period);
    format!(
        "CLS/vpc-flowlogs-{}/{flow_log_id}/{}/{:02}.jsonl",
        t.region,
        at.day_folder(),
        at.hour
    )
}

pub(super) fn object(r: &Record, format: &Format) -> String {
    let line = format.render(r);
    let names = format
        .ccn_positional_fields(r)
        .or_else(|| format.positional_fields())
        .expect("tencent-positional is positional");
    json_object(names.into_iter().zip(line.split(' ')))
}
