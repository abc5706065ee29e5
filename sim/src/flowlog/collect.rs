//! Per-flow-log aggregation: packets seen at a capture point become counters keyed by
//! (capture point, direction, 5-tuple, action) inside the current window (D10); when a window
//! closes its records are sorted, cut to the flow log's capacity (SKIPDATA, D12), and the
//! covered capture points that saw nothing matching the filter get NODATA (D12).
//!
//! Windows are aligned on multiples of the window length from the flow log's creation (D11).
//! The collector is fed by the world and knows nothing of policy: the decisions behind a
//! record arrive as opaque, copyable values and are put into words at flush time.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use foldhash::fast::FixedState;

use super::format::aws_packet_tcp_flags;
use super::record::{Flow, LogStatus, Record, TrafficPath, Truth};
use crate::packet::{FiveTuple, TcpFlags};
use crate::time::{Span, Time};
use crate::{Action, Direction};

/// Which traffic a flow log keeps (seed 003: all, accepted, rejected).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    #[default]
    All,
    Accepted,
    Rejected,
}

impl Filter {
    #[inline]
    pub fn keeps(self, action: Action) -> bool {
        match self {
            Filter::All => true,
            Filter::Accepted => action == Action::Accept,
            Filter::Rejected => action == Action::Reject,
        }
    }
}

/// What a flow log watches: one ENI, every ENI of a subnet, or of a VPC (including ENIs
/// created later, seed 001).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Eni(u32),
    Subnet(u32),
    Vpc(u32),
}

/// The settings of one flow log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub filter: Filter,
    pub window: Span,
    /// Records per window before SKIPDATA.
    pub capacity: usize,
}

/// One packet as a capture point saw it.
#[derive(Clone, Copy, Debug)]
pub struct Observation<D> {
    pub at: Time,
    pub eni: u32,
    pub direction: Direction,
    pub action: Action,
    /// The logged 5-tuple (ICMP ports already as the profile keys them).
    pub tuple: FiveTuple,
    pub pkt_src: Ipv4Addr,
    pub pkt_dst: Ipv4Addr,
    pub bytes: u16,
    pub tcp_flags: TcpFlags,
    pub traffic_path: Option<TrafficPath>,
    pub packet_id: u64,
    /// The decisions behind the action (up to two stages).
    pub decisions: [Option<D>; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct AggKey {
    eni: u32,
    direction: Direction,
    tuple: FiveTuple,
    action: Action,
}

#[derive(Clone, Debug)]
struct Agg<D> {
    pkt_src: Ipv4Addr,
    pkt_dst: Ipv4Addr,
    packets: u64,
    bytes: u64,
    first: Time,
    last: Time,
    flags: u8,
    aws_flags: u8,
    closed_at: Option<Time>,
    traffic_path: Option<TrafficPath>,
    packet_ids: Vec<u64>,
    decisions: Vec<D>,
}

/// A closed window's records before the world puts decisions into words.
pub struct Closed<D> {
    pub window_start: Time,
    pub window_end: Time,
    /// (eni, record without metadata, decisions) in output order.
    pub records: Vec<(u32, Record, Vec<D>)>,
}

/// The running state of one flow log.
#[derive(Clone, Debug)]
pub struct Collector<D> {
    pub settings: Settings,
    pub created: Time,
    window: u64,
    active: HashMap<AggKey, Agg<D>, FixedState>,
    keep_packet_ids: bool,
}

impl<D: Copy + PartialEq> Collector<D> {
    pub fn new(settings: Settings, created: Time, keep_packet_ids: bool) -> Collector<D> {
        Collector {
            settings,
            created,
            window: 0,
            active: HashMap::with_hasher(FixedState::with_seed(0)),
            keep_packet_ids,
        }
    }

    /// Pre-sizes the aggregation table (benchmarks).
    pub fn reserve(&mut self, n: usize) {
        self.active.reserve(n);
    }

    pub fn window_bounds(&self, k: u64) -> (Time, Time) {
        let len = self.settings.window.micros();
        let start = Time(self.created.micros() + k * len);
        (start, Time(start.micros() + len))
    }

    /// The end of the window currently open.
    pub fn current_window_end(&self) -> Time {
        self.window_bounds(self.window).1
    }

    /// Counts one packet. The caller has closed every window that ended at or before `o.at`.
    #[inline]
    pub fn observe(&mut self, o: &Observation<D>) {
        // Nothing is logged before the flow log exists.
        if o.at < self.created || !self.settings.filter.keeps(o.action) {
            return;
        }
        let key = AggKey {
            eni: o.eni,
            direction: o.direction,
            tuple: o.tuple,
            action: o.action,
        };
        let agg = self.active.entry(key).or_insert_with(|| Agg {
            pkt_src: o.pkt_src,
            pkt_dst: o.pkt_dst,
            packets: 0,
            bytes: 0,
            first: o.at,
            last: o.at,
            flags: 0,
            aws_flags: 0,
            closed_at: None,
            traffic_path: o.traffic_path,
            packet_ids: Vec::new(),
            decisions: Vec::new(),
        });
        agg.packets += 1;
        agg.bytes += o.bytes as u64;
        agg.last = o.at;
        agg.flags |= o.tcp_flags.0;
        agg.aws_flags |= aws_packet_tcp_flags(o.tcp_flags.0);
        // Once a FIN or RST is seen, the connection's close time is its last packet (the ACK
        // of the FIN included): alibaba's `end` for short connections (D11).
        if agg.closed_at.is_some()
            || o.tcp_flags.has(TcpFlags::FIN)
            || o.tcp_flags.has(TcpFlags::RST)
        {
            agg.closed_at = Some(o.at);
        }
        if self.keep_packet_ids {
            agg.packet_ids.push(o.packet_id);
            for d in o.decisions.iter().flatten() {
                if !agg.decisions.contains(d) {
                    agg.decisions.push(*d);
                }
            }
        }
    }

    /// Closes the current window and opens the next. `covered` lists the capture points the
    /// flow log watched during the window, in output order, with the time each came to exist.
    pub fn close_window(&mut self, covered: &[(u32, Time)]) -> Closed<D> {
        let (window_start, window_end) = self.window_bounds(self.window);
        self.window += 1;
        let mut rows: Vec<(AggKey, Agg<D>)> = self.active.drain().collect();
        let order: std::collections::BTreeMap<u32, usize> = covered
            .iter()
            .enumerate()
            .map(|(i, (e, _))| (*e, i))
            .collect();
        let rank = |eni: u32| order.get(&eni).copied().unwrap_or(usize::MAX);
        rows.sort_by(|(ka, a), (kb, b)| {
            (
                rank(ka.eni),
                ka.eni,
                a.first,
                ka.direction,
                ka.tuple,
                ka.action,
                a.last,
            )
                .cmp(&(
                    rank(kb.eni),
                    kb.eni,
                    b.first,
                    kb.direction,
                    kb.tuple,
                    kb.action,
                    b.last,
                ))
        });
        let capacity = self.settings.capacity;
        let mut skipped_per_eni: Vec<(u32, u64)> = Vec::new();
        let mut records = Vec::with_capacity(rows.len() + covered.len());
        let mut seen: Vec<u32> = Vec::new();
        for (i, (k, a)) in rows.into_iter().enumerate() {
            let skipped = i >= capacity;
            if skipped {
                match skipped_per_eni.iter_mut().find(|(e, _)| *e == k.eni) {
                    Some((_, n)) => *n += 1,
                    None => skipped_per_eni.push((k.eni, 1)),
                }
            }
            if seen.last() != Some(&k.eni) {
                seen.push(k.eni);
            }
            let flow = Flow {
                tuple: k.tuple,
                pkt_src: a.pkt_src,
                pkt_dst: a.pkt_dst,
                direction: k.direction,
                action: k.action,
                packets: a.packets,
                bytes: a.bytes,
                first: a.first,
                last: a.last,
                tcp_flags: a.flags,
                aws_tcp_flags: a.aws_flags,
                closed_at: a.closed_at,
                traffic_path: a.traffic_path,
            };
            let record = self.record(window_start, window_end, LogStatus::Ok, Some(flow));
            let mut record = record;
            record.truth.packet_ids = a.packet_ids;
            record.truth.skipped = skipped;
            records.push((k.eni, record, a.decisions));
        }
        for (eni, n) in skipped_per_eni {
            let mut r = self.record(window_start, window_end, LogStatus::SkipData, None);
            r.truth.skipped_records = n;
            records.push((eni, r, Vec::new()));
        }
        for &(eni, since) in covered {
            if since < window_end && !seen.contains(&eni) {
                records.push((
                    eni,
                    self.record(window_start, window_end, LogStatus::NoData, None),
                    Vec::new(),
                ));
            }
        }
        // Output order: by capture point, then OK records before SKIPDATA/NODATA.
        records.sort_by_key(|(eni, r, _)| (rank(*eni), *eni, r.status));
        Closed {
            window_start,
            window_end,
            records,
        }
    }

    fn record(
        &self,
        window_start: Time,
        window_end: Time,
        status: LogStatus,
        flow: Option<Flow>,
    ) -> Record {
        Record {
            flow_log_id: self.settings.id.clone(),
            // The world replaces this with the capture point's metadata.
            capture: Default::default(),
            window_start,
            window_end,
            status,
            flow,
            truth: Truth::default(),
        }
    }

    /// Number of aggregation entries in the open window.
    pub fn active_len(&self) -> usize {
        self.active.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(capacity: usize, filter: Filter) -> Settings {
        Settings {
            id: "fl-1".into(),
            name: "fl".into(),
            scope: Scope::Vpc(0),
            filter,
            window: Span::from_secs(600),
            capacity,
        }
    }

    fn obs(at: u64, eni: u32, sport: u16, action: Action) -> Observation<u8> {
        let tuple = FiveTuple {
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            sport,
            dport: 22,
            protocol: 6,
        };
        Observation {
            at: Time::from_secs(at),
            eni,
            direction: Direction::Egress,
            action,
            tuple,
            pkt_src: tuple.src,
            pkt_dst: tuple.dst,
            bytes: 100,
            tcp_flags: TcpFlags(TcpFlags::SYN),
            traffic_path: None,
            packet_id: at,
            decisions: [Some(1), None],
        }
    }

    #[test]
    fn aggregates_per_tuple_and_action() {
        let mut c = Collector::new(settings(100, Filter::All), Time::from_secs(0), true);
        c.observe(&obs(10, 0, 1000, Action::Accept));
        c.observe(&obs(20, 0, 1000, Action::Accept));
        c.observe(&obs(30, 0, 1000, Action::Reject));
        let closed = c.close_window(&[(0, Time(0)), (1, Time(0))]);
        let rs: Vec<_> = closed
            .records
            .iter()
            .map(|(e, r, _)| {
                (
                    *e,
                    r.status,
                    r.flow.as_ref().map(|f| (f.action, f.packets, f.bytes)),
                )
            })
            .collect();
        assert_eq!(
            rs,
            vec![
                (0, LogStatus::Ok, Some((Action::Accept, 2, 200))),
                (0, LogStatus::Ok, Some((Action::Reject, 1, 100))),
                (1, LogStatus::NoData, None),
            ]
        );
        assert_eq!(closed.records[0].1.truth.packet_ids, vec![10, 20]);
        assert_eq!(
            (closed.window_start, closed.window_end),
            (Time(0), Time::from_secs(600))
        );
    }

    #[test]
    fn nothing_is_logged_before_the_flow_log_exists() {
        let mut c = Collector::new(settings(100, Filter::All), Time::from_secs(100), true);
        c.observe(&obs(10, 0, 1000, Action::Accept));
        c.observe(&obs(130, 0, 2000, Action::Accept));
        let closed = c.close_window(&[(0, Time(0))]);
        let ports: Vec<u16> = closed
            .records
            .iter()
            .filter_map(|(_, r, _)| r.flow.as_ref().map(|f| f.tuple.sport))
            .collect();
        assert_eq!(ports, vec![2000]);
    }

    #[test]
    fn nodata_is_filter_aware_and_skipdata_counts_what_was_cut() {
        // Only accepted traffic is kept: an ENI with only rejected traffic gets NODATA
        // (huawei's documented behaviour, flowlogs.md §3.2).
        let mut c = Collector::new(settings(1, Filter::Accepted), Time(0), true);
        c.observe(&obs(1, 0, 1000, Action::Reject));
        c.observe(&obs(2, 1, 1000, Action::Accept));
        c.observe(&obs(3, 1, 1001, Action::Accept));
        c.observe(&obs(4, 1, 1002, Action::Accept));
        let closed = c.close_window(&[(0, Time(0)), (1, Time(0))]);
        let rs: Vec<_> = closed
            .records
            .iter()
            .map(|(e, r, _)| (*e, r.status, r.truth.skipped, r.truth.skipped_records))
            .collect();
        assert_eq!(
            rs,
            vec![
                (0, LogStatus::NoData, false, 0),
                (1, LogStatus::Ok, false, 0),
                (1, LogStatus::Ok, true, 0),
                (1, LogStatus::Ok, true, 0),
                (1, LogStatus::SkipData, false, 2),
            ]
        );
    }
}
