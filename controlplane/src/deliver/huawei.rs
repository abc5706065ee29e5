//! Huawei: LTS (Log Tank Service) log streams (flowlogs.md §3.2, §3.3). One JSON object per
//! record with the names of the record's positional fields (`version project-id interface-id
//! … action log-status`; an Enterprise Router record's `version project_id instance_id
//! resource_id … direct`), one file per flow log per hour:
//! `LTS/vpc-flowlogs-{region}/{flow-log-id}/YYYY/MM/DD/HH.jsonl`, the log group named after
//! the region, the log stream after the flow log.

use vpclab_sim::flowlog::Record;
use vpclab_sim::flowlog::format::Format;

use super::{Target, Utc, json_object};

pub(super) fn format() -> Format {
    Format::Huawei
}

pub(super) fn path(t: &Target, flow_log_id: &str, period: u64) -> String {
    let at = Utc::from_secs(period);
    format!(
        "LTS/vpc-flowlogs-{}/{flow_log_id}/{}/{:02}.jsonl",
        t.region,
        at.day_folder(),
        at.hour
    )
}

/// The record as one JSON object (`format`: the record's own, `huawei` or `huawei-er`).
pub(super) fn object(r: &Record, format: &Format) -> String {
    let line = format.render(r);
    let names = format.positional_fields().expect("huawei is positional");
    json_object(names.into_iter().zip(line.split(' ')))
}
