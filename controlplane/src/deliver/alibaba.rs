//! Alibaba: SLS (Simple Log Service) logstores (flowlogs.md §3.1). One JSON object per record
//! with the SLS field names in the field table's order (`__topic__ version vswitch-id vm-id
//! vpc-id account-id eni-id region srcaddr srcport dstaddr dstport protocol direction packets
//! bytes start end log-status action tcp-flags traffic_path`; a CEN record's own), one file
//! per flow log per hour:
//! `SLS/vpc-flowlogs-{account}-{region}/{flow-log-id}/YYYY/MM/DD/HH.jsonl`, the project named
//! after the account and region (SLS project names are unique across accounts), the logstore
//! after the flow log.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{MapAccess, Visitor};
use vpclab_sim::flowlog::Record;
use vpclab_sim::flowlog::format::Format;

use super::{Target, Utc, json_object};

pub(super) fn format() -> Format {
    Format::Alibaba
}

pub(super) fn path(t: &Target, flow_log_id: &str, period: u64) -> String {
    let at = Utc::from_secs(period);
    format!(
        "SLS/vpc-flowlogs-{}-{}/{flow_log_id}/{}/{:02}.jsonl",
        t.account,
        t.region,
        at.day_folder(),
        at.hour
    )
}

/// The record's SLS line (every value a string, as SLS stores it) with numeric fields turned
/// into numbers, keys kept in order.
pub(super) fn object(r: &Record, format: &Format) -> String {
    let line = format.render(r);
    let fields = ordered_fields(&line);
    json_object(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The top-level keys and values of a flat JSON object, in the order written (serde_json's own
/// map sorts them). A value that is not a string is kept as its JSON text.
fn ordered_fields(line: &str) -> Vec<(String, String)> {
    struct Ordered;
    impl<'de> Visitor<'de> for Ordered {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => "-".to_owned(),
                    other => other.to_string(),
                };
                out.push((k, v));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    (&mut de)
        .deserialize_map(Ordered)
        .expect("the alibaba format renders one JSON object")
}
