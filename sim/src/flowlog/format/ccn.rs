//! Cloud Connect Network records (a capture point with [`CaptureMeta::ccn`](super::CaptureMeta)):
//! tencent's CCN cross-region line and alibaba's CEN record.
//!
//! - `tencent` / `tencent-positional`: the 16 fields of seed 004's CCN record, in its field
//!   table's order: `version region-id ccn-id srcaddr dstaddr srcport dstport protocol
//!   srcregionid dstregionid packets bytes start end action log-status`. The seed gives no
//!   sample, so `tencent` prints them as CLS `key:value` pairs in that order (the ENI sample's
//!   layout), `tencent-positional` as bare values. `version` is the ENI record's `0001_0001`
//!   (the seed does not give the CCN one). Ports are `-` for protocols other than TCP and UDP;
//!   `start`/`end` are the first and last packet (D11), the window bounds without traffic;
//!   NODATA and SKIPDATA print `-` for the traffic fields, packets and bytes included (the
//!   seed's field table; its log-status text says `-1`, flowlogs.md §3.4), and for the regions
//!   of the CCN as a whole. `region-id` is the flow log's region. `action` is ACCEPT
//!   (forwarded) or REJECT (throttled: rate limiting, not policy, D20).
//! - `alibaba`: the CEN record of flowlogs.md §3.1 as an SLS JSON line, keys in its order:
//!   `account-id attachment-id cen-id src-region-id srcaddr srcport dst-region-id dstaddr
//!   dstport protocol packets bytes start end direction`, then `action` and `log-status`,
//!   which that list lacks: vpclab adds them so that throttled packets (and NODATA) can be told
//!   apart. `attachment-id` is the source VPC's attachment and `direction` is `in` (into the
//!   CEN through it: vpclab records cross-region traffic where it enters, the VBR rule's
//!   sense of `in`). `start`/`end` follow alibaba's rule (D11): first packet; close time of a
//!   TCP connection closed in the window, else the window end.
//! - Other formats have no CCN shape and print the record in their own (`json` shows the
//!   capture point's `ccn` object).

use super::*;

/// The fields of tencent's CCN record, in the seed's field-table order.
pub(super) const TENCENT_CCN_NAMES: [&str; 16] = [
    "version",
    "region-id",
    "ccn-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "srcregionid",
    "dstregionid",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// A CCN record in `format`, when the format has a CCN shape and `record` is a CCN's.
pub(super) fn render(record: &Record, format: &Format) -> Option<String> {
    record.capture.ccn.as_ref()?;
    match format {
        Format::Tencent(TencentStyle::Positional) => Some(join_spaced(&tencent_values(record))),
        Format::Tencent(TencentStyle::KeyValue) => {
            let pairs: Vec<String> = TENCENT_CCN_NAMES
                .iter()
                .zip(tencent_values(record))
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            Some(pairs.join(" "))
        }
        Format::Alibaba => Some(to_json_line(&CenLine::new(record))),
        _ => None,
    }
}

/// The names of a CCN record's positional fields in `format`, when it prints them so.
pub(super) fn positional_fields(record: &Record, format: &Format) -> Option<Vec<&'static str>> {
    record.capture.ccn.as_ref()?;
    match format {
        Format::Tencent(TencentStyle::Positional) => Some(TENCENT_CCN_NAMES.to_vec()),
        _ => None,
    }
}

/// A port of a TCP or UDP record; `-` for other protocols and without traffic.
fn port(record: &Record, value: impl FnOnce(&Flow) -> u16) -> Cow<'static, str> {
    match &record.flow {
        Some(f) if matches!(f.tuple.protocol, 6 | 17) => Cow::Owned(value(f).to_string()),
        _ => Cow::Borrowed(DASH),
    }
}

fn region(r: &Option<String>) -> &str {
    r.as_deref().unwrap_or(DASH)
}

fn tencent_values(record: &Record) -> [Cow<'_, str>; 16] {
    let capture = &*record.capture;
    let ccn = capture.ccn.as_ref();
    let flow = record.flow.as_ref();
    [
        Cow::Borrowed(TENCENT_VERSION),
        Cow::Borrowed(capture.region.as_str()),
        Cow::Borrowed(ccn.map_or(DASH, |c| c.ccn_id.as_str())),
        flow_text(record, |f| f.tuple.src),
        flow_text(record, |f| f.tuple.dst),
        port(record, |f| f.tuple.sport),
        port(record, |f| f.tuple.dport),
        flow_text(record, |f| f.tuple.protocol),
        Cow::Borrowed(ccn.map_or(DASH, |c| region(&c.src_region))),
        Cow::Borrowed(ccn.map_or(DASH, |c| region(&c.dst_region))),
        flow_text(record, |f| f.packets),
        flow_text(record, |f| f.bytes),
        secs_text(flow.map_or(record.window_start, |f| f.first).secs()),
        secs_text(flow.map_or(record.window_end, |f| f.last).secs()),
        flow_text(record, |f| f.action.as_str()),
        Cow::Borrowed(record.status.as_str()),
    ]
}

/// Alibaba's CEN record (flowlogs.md §3.1), plus `action` and `log-status` (module doc).
#[derive(Serialize)]
struct CenLine<'a> {
    #[serde(rename = "account-id")]
    account_id: &'a str,
    #[serde(rename = "attachment-id")]
    attachment_id: &'a str,
    #[serde(rename = "cen-id")]
    cen_id: &'a str,
    #[serde(rename = "src-region-id")]
    src_region_id: &'a str,
    srcaddr: Cow<'static, str>,
    srcport: Cow<'static, str>,
    #[serde(rename = "dst-region-id")]
    dst_region_id: &'a str,
    dstaddr: Cow<'static, str>,
    dstport: Cow<'static, str>,
    protocol: Cow<'static, str>,
    packets: Cow<'static, str>,
    bytes: Cow<'static, str>,
    start: String,
    end: String,
    direction: Cow<'static, str>,
    action: Cow<'static, str>,
    #[serde(rename = "log-status")]
    log_status: &'static str,
}

impl<'a> CenLine<'a> {
    fn new(record: &'a Record) -> CenLine<'a> {
        let capture = &*record.capture;
        let ccn = capture.ccn.as_ref();
        let flow = record.flow.as_ref();
        let start = flow.map_or(record.window_start, |f| f.first);
        let end = flow.and_then(|f| f.closed_at).unwrap_or(record.window_end);
        CenLine {
            account_id: &capture.account_id,
            attachment_id: ccn.map_or(DASH, |c| c.attachment_id.as_str()),
            cen_id: ccn.map_or(DASH, |c| c.ccn_id.as_str()),
            src_region_id: ccn.map_or(DASH, |c| region(&c.src_region)),
            srcaddr: flow_text(record, |f| f.tuple.src),
            srcport: flow_text(record, |f| f.tuple.sport),
            dst_region_id: ccn.map_or(DASH, |c| region(&c.dst_region)),
            dstaddr: flow_text(record, |f| f.tuple.dst),
            dstport: flow_text(record, |f| f.tuple.dport),
            protocol: flow_text(record, |f| f.tuple.protocol),
            packets: flow_text(record, |f| f.packets),
            bytes: flow_text(record, |f| f.bytes),
            start: start.secs().to_string(),
            end: end.secs().to_string(),
            direction: flow_text(record, |f| alibaba_direction(f.direction)),
            action: flow_text(record, |f| f.action.as_str()),
            log_status: record.status.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::flowlog::collect::{Collector, Filter, Observation, Scope, Settings, TruthLevel};
    use crate::flowlog::record::CcnPoint;
    use crate::packet::{FiveTuple, TcpFlags};
    use crate::time::{Span, Time};

    const T0: u64 = 1_700_000_000;

    fn point(src: Option<&str>, dst: Option<&str>) -> Arc<CaptureMeta> {
        Arc::new(CaptureMeta {
            account_id: "1251762227".into(),
            interface_id: "ccn-a1b2c3d4".into(),
            region: "ap-guangzhou".into(),
            ccn: Some(CcnPoint {
                ccn_id: "ccn-a1b2c3d4".into(),
                attachment_id: "vpc-gz000001".into(),
                src_region: src.map(str::to_string),
                dst_region: dst.map(str::to_string),
            }),
            ..CaptureMeta::default()
        })
    }

    /// The records of one 60 s window: `packets` (offset in ms, protocol, action) of one
    /// flow from 10.0.1.10 to 10.1.1.10, 1250 bytes each, at a gz→sh capture point.
    fn window(packets: &[(u64, u8, Action)]) -> Vec<Record> {
        let settings = Settings {
            id: "fl-ccn".into(),
            name: "ccn-flows".into(),
            scope: Scope::Ccn(0),
            filter: Filter::All,
            window: Span::from_secs(60),
            capacity: 100,
        };
        let mut c: Collector<u8> =
            Collector::new(settings, Time::from_secs(T0), TruthLevel::Counters);
        for &(ms, protocol, action) in packets {
            let (sport, dport) = if protocol == 1 { (0, 0) } else { (40000, 5001) };
            let tuple = FiveTuple {
                src: [10, 0, 1, 10].into(),
                dst: [10, 1, 1, 10].into(),
                sport,
                dport,
                protocol,
            };
            c.observe(&Observation {
                at: Time::from_secs(T0) + Span::from_millis(ms),
                eni: 1,
                direction: Direction::Ingress,
                action,
                tuple,
                pkt_src: tuple.src,
                pkt_dst: tuple.dst,
                bytes: 1250,
                tcp_flags: TcpFlags(0),
                traffic_path: None,
                packet_id: ms,
                label: 0,
                decisions: [None, None],
            });
        }
        let quiet = if packets.is_empty() {
            vec![(0, Time::from_secs(T0))]
        } else {
            Vec::new()
        };
        c.close_window(&quiet)
            .records
            .into_iter()
            .map(|(p, mut r, _)| {
                r.capture = if p == 0 {
                    point(None, None)
                } else {
                    point(Some("ap-guangzhou"), Some("ap-shanghai"))
                };
                r
            })
            .collect()
    }

    fn tencent(r: &Record) -> String {
        render(r, &Format::Tencent(TencentStyle::KeyValue)).unwrap()
    }

    #[test]
    fn tencent_ccn_lines_accept_and_reject() {
        let mut packets: Vec<(u64, u8, Action)> = (0..3)
            .map(|i| (10_000 + 5 * i, 17, Action::Accept))
            .collect();
        packets.push((10_995, 17, Action::Reject));
        packets.push((11_490, 17, Action::Accept));
        packets.push((11_495, 17, Action::Reject));
        let rs = window(&packets);
        let lines: Vec<String> = rs.iter().map(tencent).collect();
        assert_eq!(
            lines,
            vec![
                "version:0001_0001 region-id:ap-guangzhou ccn-id:ccn-a1b2c3d4 srcaddr:10.0.1.10 dstaddr:10.1.1.10 srcport:40000 dstport:5001 protocol:17 srcregionid:ap-guangzhou dstregionid:ap-shanghai packets:4 bytes:5000 start:1700000010 end:1700000011 action:ACCEPT log-status:OK",
                "version:0001_0001 region-id:ap-guangzhou ccn-id:ccn-a1b2c3d4 srcaddr:10.0.1.10 dstaddr:10.1.1.10 srcport:40000 dstport:5001 protocol:17 srcregionid:ap-guangzhou dstregionid:ap-shanghai packets:2 bytes:2500 start:1700000010 end:1700000011 action:REJECT log-status:OK",
            ]
        );
        assert_eq!(
            render(&rs[1], &Format::Tencent(TencentStyle::Positional)).unwrap(),
            "0001_0001 ap-guangzhou ccn-a1b2c3d4 10.0.1.10 10.1.1.10 40000 5001 17 ap-guangzhou ap-shanghai 2 2500 1700000010 1700000011 REJECT OK"
        );
    }

    #[test]
    fn tencent_ccn_ports_are_dashes_for_icmp_and_nodata_is_dashes() {
        let rs = window(&[(1_000, 1, Action::Accept)]);
        assert_eq!(
            tencent(&rs[0]),
            "version:0001_0001 region-id:ap-guangzhou ccn-id:ccn-a1b2c3d4 srcaddr:10.0.1.10 dstaddr:10.1.1.10 srcport:- dstport:- protocol:1 srcregionid:ap-guangzhou dstregionid:ap-shanghai packets:1 bytes:1250 start:1700000001 end:1700000001 action:ACCEPT log-status:OK"
        );
        let quiet = window(&[]);
        assert_eq!(quiet.len(), 1);
        assert_eq!(
            tencent(&quiet[0]),
            "version:0001_0001 region-id:ap-guangzhou ccn-id:ccn-a1b2c3d4 srcaddr:- dstaddr:- srcport:- dstport:- protocol:- srcregionid:- dstregionid:- packets:- bytes:- start:1700000000 end:1700000060 action:- log-status:NODATA"
        );
    }

    #[test]
    fn alibaba_cen_line() {
        let rs = window(&[(2_000, 6, Action::Accept), (2_500, 6, Action::Accept)]);
        assert_eq!(
            render(&rs[0], &Format::Alibaba).unwrap(),
            r#"{"account-id":"1251762227","attachment-id":"vpc-gz000001","cen-id":"ccn-a1b2c3d4","src-region-id":"ap-guangzhou","srcaddr":"10.0.1.10","srcport":"40000","dst-region-id":"ap-shanghai","dstaddr":"10.1.1.10","dstport":"5001","protocol":"6","packets":"2","bytes":"2500","start":"1700000002","end":"1700000060","direction":"in","action":"ACCEPT","log-status":"OK"}"#
        );
    }

    #[test]
    fn other_formats_have_no_ccn_shape() {
        let rs = window(&[(2_000, 17, Action::Accept)]);
        assert_eq!(render(&rs[0], &Format::Huawei), None);
        assert_eq!(
            positional_fields(&rs[0], &Format::Tencent(TencentStyle::Positional)).map(|f| f.len()),
            Some(16)
        );
    }
}
