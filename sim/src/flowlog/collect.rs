//! Per-flow-log aggregation: packets seen at a capture point become counters keyed by
//! (capture point, direction, 5-tuple, action) inside the current window (D10); when a window
//! closes its records are sorted, cut to the flow log's capacity (SKIPDATA, D12), and the
//! covered capture points that saw nothing matching the filter get NODATA (D12).
//!
//! Windows are aligned on multiples of the window length from the flow log's creation (D11).
//!
//! A capture point is an ENI index, or for a router flow log an attachment index (a flow log
//! covers one kind only). Router observations ([`Collector::observe_router`]) also keep the
//! path of the first packet and the packets the router lost (flowlogs.md §1.8) beside the
//! counters, in a vector of their own that ENI flow logs never fill.
//! The collector is fed by the world and knows nothing of policy: the decisions behind a
//! record arrive as opaque, copyable values and are put into words at flush time.

use std::hash::BuildHasher;
use std::net::Ipv4Addr;
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::format::aws_packet_tcp_flags;
use super::record::{
    CaptureMeta, Flow, LogStatus, Loss, Record, RouterFlow, RouterPath, TrafficPath, Truth,
};
use crate::packet::{FiveTuple, TcpFlags};
use crate::time::{Span, Time};
use crate::{Action, Direction};

/// Which traffic a flow log keeps (seed 003: all, accepted, rejected).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    #[default]
    All,
    Accepted,
    Rejected,
}

impl Filter {
    /// The traffic it keeps, as the clouds' consoles name it.
    pub fn label(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Accepted => "accepted",
            Filter::Rejected => "rejected",
        }
    }

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Eni(u32),
    Subnet(u32),
    Vpc(u32),
    /// An enterprise-router attachment (seed 000): the packets crossing it, into the router
    /// (ingress) and out of it (egress); capture points are attachment indices.
    RouterAttachment(u32),
    /// A Cloud Connect Network's cross-region traffic (seed 004): capture points are the
    /// CCN's (`crate::ccn`: the whole CCN, then ordered pairs of VPCs in different regions).
    Ccn(u32),
}

/// The settings of one flow log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The packet's label (0: unlabelled or benign; workloads number their incidents).
    pub label: u32,
    /// The decisions behind the action (up to two stages).
    pub decisions: [Option<D>; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct AggKey {
    eni: u32,
    direction: Direction,
    tuple: FiveTuple,
    action: Action,
}

impl AggKey {
    /// The key a connection's counters belong to.
    fn of_partial(eni: u32, tuple: FiveTuple, action: Action, p: &Partial) -> AggKey {
        AggKey {
            eni,
            direction: p.direction(),
            tuple,
            action,
        }
    }
}

impl AggKey {
    /// Every field of the key mixed into two words, for hashing (lookups compare whole keys).
    #[inline]
    fn words(&self) -> (u64, u64) {
        let t = &self.tuple;
        let a = (u32::from(t.src) as u64) << 32 | u32::from(t.dst) as u64;
        let b = (t.sport as u64) << 48
            | (t.dport as u64) << 32
            | (t.protocol as u64) << 24
            | (self.direction as u64) << 17
            | (self.action as u64) << 16;
        (a, b ^ (self.eni as u64).rotate_left(37))
    }
}

/// The counters of one (capture point, direction, 5-tuple, action) in the open window.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Agg {
    pkt_src: Ipv4Addr,
    pkt_dst: Ipv4Addr,
    packets: u64,
    bytes: u64,
    first: Time,
    last: Time,
    flags: u8,
    aws_flags: u8,
    /// A FIN or RST was seen: from then on the close time is the last packet's (D11).
    closed: bool,
    traffic_path: Option<TrafficPath>,
}

impl Agg {
    /// Adds a partial's packets, all later than this entry's.
    fn add(&mut self, p: &Partial) {
        self.packets += p.packets;
        self.bytes += p.bytes;
        self.last = p.last;
        self.flags |= p.flags;
        self.aws_flags |= p.aws_flags;
        self.closed |= p.bits & Partial::CLOSED != 0;
    }
}

/// An aggregation entry: its key and counters, together in one place (80 bytes).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Slot {
    key: AggKey,
    agg: Agg,
}

/// How much ground truth a collector keeps per record, beyond its counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TruthLevel {
    /// Counters only (benchmarks): connections count their own packets ([`Partial`]).
    Counters,
    /// The packets of each label (workloads: benign traffic and each incident), but neither
    /// each packet's id nor the deciding rules in words: memory and time follow the records,
    /// not the packets (`vpclab generate`).
    Labels,
    /// Everything: each packet's id and the deciding rules too (scenarios, explanations).
    #[default]
    Packets,
}

/// What a closed window hands out with each record beside it: the decisions behind it and
/// the packets of each label, for the world to put in words.
#[derive(Debug)]
pub struct SlotOut<D> {
    pub decisions: Vec<D>,
    pub labels: Vec<(u32, u64)>,
}

impl<D> Default for SlotOut<D> {
    fn default() -> Self {
        SlotOut {
            decisions: Vec::new(),
            labels: Vec::new(),
        }
    }
}

/// Ground truth of a slot, kept unless [`TruthLevel::Counters`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct SlotTruth<D> {
    /// Packet ids ([`TruthLevel::Packets`] only).
    ids: Vec<u64>,
    /// Packets per label, in order of first packet (almost always one entry).
    labels: Vec<(u32, u64)>,
    /// Distinct decisions, first seen first.
    decisions: Vec<D>,
}

impl<D> SlotTruth<D> {
    fn new() -> Self {
        SlotTruth {
            ids: Vec::new(),
            labels: Vec::new(),
            decisions: Vec::new(),
        }
    }
}

/// The router part of a slot (router flow logs): the first packet's path and the losses.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct RouterSlot {
    path: Option<Arc<RouterPath>>,
    lost_no_route: u64,
    lost_blackhole: u64,
    lost_mtu_exceeded: u64,
}

/// The counters of one aggregation key kept outside the collector, with the tracked
/// connection whose packets they count (issue 2: one lookup per packet finds the connection
/// and its flow-log counters together). A partial is merged into its flow log's collector
/// ([`Collector::merge`]) when the window closes or the connection goes away, before any later
/// packet of the key is counted elsewhere: the collector's part of a key is always older than
/// a partial of it.
///
/// 40 bytes: two fit in a conntrack entry beside the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Partial {
    /// Packets counted; 0 for an unused partial.
    packets: u64,
    bytes: u64,
    first: Time,
    last: Time,
    /// The flow log counting (index in the world), valid when `packets > 0`.
    log: u16,
    flags: u8,
    aws_flags: u8,
    /// Bit 0: a FIN or RST was seen. Bit 1: egress. Bits 2-4: traffic path (0 none, else
    /// the path's number: 1 same VPC, 2 internet gateway, 4 and 5 peering).
    bits: u8,
}

impl Partial {
    const CLOSED: u8 = 1;
    const EGRESS: u8 = 2;

    pub const EMPTY: Partial = Partial {
        packets: 0,
        bytes: 0,
        first: Time(0),
        last: Time(0),
        log: 0,
        flags: 0,
        aws_flags: 0,
        bits: 0,
    };

    pub fn is_empty(&self) -> bool {
        self.packets == 0
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The flow log these packets were counted for.
    pub fn log(&self) -> u32 {
        self.log as u32
    }

    /// The direction of the packets counted.
    pub fn direction(&self) -> Direction {
        if self.bits & Self::EGRESS != 0 {
            Direction::Egress
        } else {
            Direction::Ingress
        }
    }

    fn traffic_path(&self) -> Option<TrafficPath> {
        match self.bits >> 2 {
            1 => Some(TrafficPath::SameVpc),
            2 => Some(TrafficPath::InternetGateway),
            4 => Some(TrafficPath::IntraRegionPeering),
            5 => Some(TrafficPath::InterRegionPeering),
            _ => None,
        }
    }

    /// An empty entry for the key this partial counts, as its first packet would start it.
    fn start(tuple: &FiveTuple, p: &Partial) -> Agg {
        Agg {
            pkt_src: tuple.src,
            pkt_dst: tuple.dst,
            packets: 0,
            bytes: 0,
            first: p.first,
            last: p.first,
            flags: 0,
            aws_flags: 0,
            closed: false,
            traffic_path: p.traffic_path(),
        }
    }

    /// Can this partial count packets of flow log `log` in `direction`? Only one key at a
    /// time: an empty partial, or one already counting the same.
    #[inline]
    pub fn takes(&self, log: u32, direction: Direction) -> bool {
        self.packets == 0 || (self.log as u32 == log && self.direction() == direction)
    }

    /// Counts one packet exactly as [`Collector::observe`] counts it into an entry (the
    /// observation's time, direction, size, flags and path). The caller has checked
    /// [`Collector::counts_partially`] and [`Partial::takes`]; `log` must fit 16 bits (the
    /// world counts this way only for the first 65,536 flow logs).
    #[inline]
    pub fn count(
        &mut self,
        log: u32,
        at: Time,
        direction: Direction,
        bytes: u16,
        tcp_flags: TcpFlags,
        traffic_path: Option<TrafficPath>,
    ) {
        if self.packets == 0 {
            let path = traffic_path.map_or(0, |p| p as u8);
            let egress = if direction == Direction::Egress {
                Self::EGRESS
            } else {
                0
            };
            *self = Partial {
                packets: 0,
                bytes: 0,
                first: at,
                last: at,
                log: log as u16,
                flags: 0,
                aws_flags: 0,
                bits: egress | path << 2,
            };
        }
        self.packets += 1;
        self.bytes += bytes as u64;
        self.last = at;
        self.flags |= tcp_flags.0;
        self.aws_flags |= aws_packet_tcp_flags(tcp_flags.0);
        if tcp_flags.has(TcpFlags::FIN) || tcp_flags.has(TcpFlags::RST) {
            self.bits |= Self::CLOSED;
        }
    }
}

/// A closed window's records before the world puts decisions into words.
pub struct Closed<D> {
    pub window_start: Time,
    pub window_end: Time,
    /// (eni, record without metadata, decisions) in output order.
    pub records: Vec<(u32, Record, Vec<D>)>,
}

/// The running state of one flow log.
///
/// Aggregation entries of the open window live in a dense vector (`slots`, in order of
/// creation) with an open-addressing index beside it. Most packets of tracked connections are
/// not counted here but in a [`Partial`] kept with the connection, merged in later.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Collector<D> {
    pub settings: Settings,
    pub created: Time,
    window: u64,
    slots: Vec<Slot>,
    /// Parallel to `slots` unless [`TruthLevel::Counters`], empty then.
    truth: Vec<SlotTruth<D>>,
    /// Parallel to `slots` (up to the last slot a router observation touched); empty for ENI
    /// flow logs.
    router: Vec<RouterSlot>,
    /// Open addressing, linear probing, at most half full: 0 = empty, otherwise
    /// (hash >> 32) << 32 | (slot + 1).
    index: Vec<u64>,
    /// Slots `..indexed` are in the index; later ones were added by
    /// [`Collector::merge_final`].
    indexed: usize,
    /// Scratch for sorting records at window close, kept for its capacity.
    #[serde(skip)]
    order: Vec<(u64, u64, u128, u64, u32)>,
    /// Always the same seed: `index` holds its hashes, so a snapshot restores them valid.
    #[serde(skip, default = "index_hasher")]
    hasher: FixedState,
    truth_level: TruthLevel,
}

/// The hasher of every collector's index.
fn index_hasher() -> FixedState {
    FixedState::with_seed(0)
}

impl<D: Copy + PartialEq> Collector<D> {
    pub fn new(settings: Settings, created: Time, truth_level: TruthLevel) -> Collector<D> {
        Collector {
            settings,
            created,
            window: 0,
            slots: Vec::new(),
            truth: Vec::new(),
            router: Vec::new(),
            index: Vec::new(),
            indexed: 0,
            order: Vec::new(),
            hasher: index_hasher(),
            truth_level,
        }
    }

    /// Pre-sizes the aggregation table for `n` entries a window (benchmarks). The index
    /// grows on demand: most entries of a busy window come from partials at its close, which
    /// are not indexed.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve(n.saturating_sub(self.slots.len()));
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

    /// Counts one packet, answering the slot that counts it (`None`: the flow log does not
    /// keep it). The caller has closed every window that ended at or before `o.at`.
    #[inline]
    pub fn observe(&mut self, o: &Observation<D>) -> Option<u32> {
        self.observe_slot(o)
    }

    /// Counts one packet crossing a router attachment (router flow logs): as
    /// [`Collector::observe`], and a packet the router dropped also counts as `lost`. The
    /// record keeps the path of its first packet, made by `path` only then.
    pub fn observe_router(
        &mut self,
        o: &Observation<D>,
        lost: Option<Loss>,
        path: impl FnOnce() -> Arc<RouterPath>,
    ) {
        let Some(slot) = self.observe_slot(o) else {
            return;
        };
        let slot = slot as usize;
        if self.router.len() <= slot {
            self.router.resize(slot + 1, RouterSlot::default());
        }
        let r = &mut self.router[slot];
        if r.path.is_none() {
            r.path = Some(path());
        }
        match lost {
            Some(Loss::NoRoute) => r.lost_no_route += 1,
            Some(Loss::Blackhole) => r.lost_blackhole += 1,
            Some(Loss::MtuExceeded) => r.lost_mtu_exceeded += 1,
            None => {}
        }
    }

    /// [`Collector::observe`], giving the slot that counted the packet.
    #[inline]
    fn observe_slot(&mut self, o: &Observation<D>) -> Option<u32> {
        // Nothing is logged before the flow log exists.
        if o.at < self.created || !self.settings.filter.keeps(o.action) {
            return None;
        }
        let key = AggKey {
            eni: o.eni,
            direction: o.direction,
            tuple: o.tuple,
            action: o.action,
        };
        let slot = self.find_or_insert(
            &key,
            Agg {
                pkt_src: o.pkt_src,
                pkt_dst: o.pkt_dst,
                packets: 0,
                bytes: 0,
                first: o.at,
                last: o.at,
                flags: 0,
                aws_flags: 0,
                closed: false,
                traffic_path: o.traffic_path,
            },
        );
        let agg = &mut self.slots[slot as usize].agg;
        agg.packets += 1;
        agg.bytes += o.bytes as u64;
        agg.last = o.at;
        agg.flags |= o.tcp_flags.0;
        agg.aws_flags |= aws_packet_tcp_flags(o.tcp_flags.0);
        // Once a FIN or RST is seen, the connection's close time is its last packet (the ACK
        // of the FIN included): alibaba's `end` for short connections (D11).
        agg.closed |= o.tcp_flags.has(TcpFlags::FIN) || o.tcp_flags.has(TcpFlags::RST);
        if self.truth_level != TruthLevel::Counters {
            let t = &mut self.truth[slot as usize];
            if self.truth_level == TruthLevel::Packets {
                t.ids.push(o.packet_id);
            }
            match t.labels.iter_mut().find(|(l, _)| *l == o.label) {
                Some((_, n)) => *n += 1,
                None => t.labels.push((o.label, 1)),
            }
            // Decisions cost words at every record; datasets want labels only.
            if self.truth_level == TruthLevel::Packets {
                for d in o.decisions.iter().flatten() {
                    if !t.decisions.contains(d) {
                        t.decisions.push(*d);
                    }
                }
            }
        }
        Some(slot)
    }

    /// Counts `n` more packets like the one [`Collector::observe`] last counted into `slot`
    /// (same key, size, flags and label), the last of them at `last` (packet trains: the
    /// simulation evaluated one packet and knows the next `n` would be decided alike). Not
    /// for collectors that keep packet ids: those need every packet.
    pub fn count_again(
        &mut self,
        slot: u32,
        n: u64,
        bytes: u16,
        tcp_flags: TcpFlags,
        label: u32,
        last: Time,
    ) {
        debug_assert!(self.truth_level != TruthLevel::Packets);
        let agg = &mut self.slots[slot as usize].agg;
        agg.packets += n;
        agg.bytes += n * bytes as u64;
        agg.last = agg.last.max(last);
        agg.flags |= tcp_flags.0;
        agg.aws_flags |= aws_packet_tcp_flags(tcp_flags.0);
        agg.closed |= tcp_flags.has(TcpFlags::FIN) || tcp_flags.has(TcpFlags::RST);
        if let Some(t) = self.truth.get_mut(slot as usize) {
            match t.labels.iter_mut().find(|(l, _)| *l == label) {
                Some((_, c)) => *c += n,
                None => t.labels.push((label, n)),
            }
        }
    }

    #[inline]
    fn hash(&self, key: &AggKey) -> u64 {
        self.hasher.hash_one(key.words())
    }

    /// The slot of `key`, created as `new` when the window has none yet.
    fn find_or_insert(&mut self, key: &AggKey, new: Agg) -> u32 {
        if 2 * (self.slots.len() + 1) > self.index.len() || self.indexed < self.slots.len() {
            self.rebuild_index((2 * (self.slots.len() + 1)).next_power_of_two().max(64));
        }
        let h = self.hash(key);
        let i = match self.probe(key, h) {
            Ok(slot) => return slot,
            Err(empty) => empty,
        };
        let slot = self.slots.len() as u32;
        self.index[i] = (h >> 32) << 32 | (slot as u64 + 1);
        self.indexed += 1;
        self.slots.push(Slot {
            key: *key,
            agg: new,
        });
        if self.truth_level != TruthLevel::Counters {
            self.truth.push(SlotTruth::new());
        }
        slot
    }

    /// Re-creates the index with `buckets` buckets (a power of two) from the slots.
    fn rebuild_index(&mut self, buckets: usize) {
        self.index.clear();
        self.index.resize(buckets, 0);
        let mask = buckets - 1;
        for (slot, s) in self.slots.iter().enumerate() {
            let h = self.hasher.hash_one(s.key.words());
            let mut i = h as usize & mask;
            while self.index[i] != 0 {
                i = (i + 1) & mask;
            }
            self.index[i] = (h >> 32) << 32 | (slot as u64 + 1);
        }
        self.indexed = self.slots.len();
    }

    /// The indexed slot of `key`, if any.
    fn find(&self, key: &AggKey) -> Option<u32> {
        if self.index.is_empty() {
            return None;
        }
        self.probe(key, self.hash(key)).ok()
    }

    /// Looks `key` (of hash `h`) up in the index, which must have buckets: its slot, or the
    /// empty bucket where it would go.
    #[inline]
    fn probe(&self, key: &AggKey, h: u64) -> Result<u32, usize> {
        let mask = self.index.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let b = self.index[i];
            if b == 0 {
                return Err(i);
            }
            if b >> 32 == h >> 32 {
                let slot = (b as u32) - 1;
                if self.slots[slot as usize].key == *key {
                    return Ok(slot);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Would [`Collector::observe`] count a packet at `at` with `action`, needing nothing but
    /// counters (no packet ids)? Then a [`Partial`] may count it instead.
    #[inline]
    pub fn counts_partially(&self, at: Time, action: Action) -> bool {
        self.truth_level == TruthLevel::Counters
            && at >= self.created
            && self.settings.filter.keeps(action)
    }

    /// Adds the packets of a partial of key (`eni`, its direction, `tuple`, `action`) whose
    /// packets' addresses are the tuple's, all counted after the ones this collector holds for
    /// the key, in the open window.
    pub fn merge(&mut self, eni: u32, tuple: FiveTuple, action: Action, p: &Partial) {
        if p.is_empty() {
            return;
        }
        let key = AggKey::of_partial(eni, tuple, action, p);
        let slot = self.find_or_insert(&key, Partial::start(&tuple, p));
        self.slots[slot as usize].agg.add(p);
    }

    /// [`Collector::merge`] for the partials handed over right before
    /// [`Collector::close_window`]: no two of them have the same key (each was held by one
    /// connection) and nothing is counted after them, so a key the collector does not have yet
    /// becomes an entry without going through the index (which stays small: it only holds what
    /// was counted outside connections).
    pub fn merge_final(&mut self, eni: u32, tuple: FiveTuple, action: Action, p: &Partial) {
        if p.is_empty() {
            return;
        }
        let key = AggKey::of_partial(eni, tuple, action, p);
        let slot = match self.find(&key) {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    key,
                    agg: Partial::start(&tuple, p),
                });
                if self.truth_level != TruthLevel::Counters {
                    self.truth.push(SlotTruth::new());
                }
                self.slots.len() as u32 - 1
            }
        };
        self.slots[slot as usize].agg.add(p);
    }

    /// Closes the current window and opens the next. `covered` lists the capture points the
    /// flow log watched during the window, in output order, with the time each came to exist.
    pub fn close_window(&mut self, covered: &[(u32, Time)]) -> Closed<D> {
        let mut records = Vec::new();
        let (window_start, window_end) =
            self.close_window_into(covered, |eni, r, out| records.push((eni, r, out.decisions)));
        Closed {
            window_start,
            window_end,
            records,
        }
    }

    /// [`Collector::close_window`], handing each record to `sink` in output order (a busy
    /// window has hundreds of thousands: no list of them is built here) and returning the
    /// window's bounds.
    pub fn close_window_into(
        &mut self,
        covered: &[(u32, Time)],
        mut sink: impl FnMut(u32, Record, SlotOut<D>),
    ) -> (Time, Time) {
        let (window_start, window_end) = self.window_bounds(self.window);
        self.window += 1;
        // Output rank of each capture point (its place in `covered`), by ENI index; capture
        // points not covered come last. A repeated one takes its last place, as a map built
        // from the list would.
        let mut ranks: Vec<u32> = Vec::new();
        for (i, &(e, _)) in covered.iter().enumerate() {
            let e = e as usize;
            if ranks.len() <= e {
                ranks.resize(e + 1, u32::MAX);
            }
            ranks[e] = i.min(u32::MAX as usize - 1) as u32;
        }
        let rank = |eni: u32| ranks.get(eni as usize).copied().unwrap_or(u32::MAX);
        // Records in order of (capture point, first packet, direction, 5-tuple, action, last
        // packet), as integers compared left to right: keys are unique, so this order is
        // total and an unstable sort gives the one answer.
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(
            self.slots
                .iter()
                .enumerate()
                .map(|(i, Slot { key: k, agg: a })| {
                    let t = &k.tuple;
                    let mid = (k.direction as u128) << 120
                        | (u32::from(t.src) as u128) << 88
                        | (u32::from(t.dst) as u128) << 56
                        | (t.sport as u128) << 40
                        | (t.dport as u128) << 24
                        | (t.protocol as u128) << 16
                        | k.action as u128;
                    let point = (rank(k.eni) as u64) << 32 | k.eni as u64;
                    (point, a.first.micros(), mid, a.last.micros(), i as u32)
                }),
        );
        order.sort_unstable();
        let capacity = self.settings.capacity;
        // The records without traffic, in the order a stable sort by (capture point, status)
        // gives: SKIPDATA per capture point that lost records (in order of first loss), then
        // NODATA per covered capture point with no record.
        let mut seen: Vec<bool> = Vec::new();
        let mut skipped_per_eni: Vec<(u32, u64)> = Vec::new();
        let mut skipped_at: Vec<u32> = Vec::new();
        for (n, &(.., i)) in order.iter().enumerate() {
            let e = self.slots[i as usize].key.eni as usize;
            if seen.len() <= e {
                seen.resize(e + 1, false);
            }
            seen[e] = true;
            if n >= capacity {
                if skipped_at.len() <= e {
                    skipped_at.resize(e + 1, u32::MAX);
                }
                match skipped_at[e] {
                    u32::MAX => {
                        skipped_at[e] = skipped_per_eni.len() as u32;
                        skipped_per_eni.push((e as u32, 1));
                    }
                    j => skipped_per_eni[j as usize].1 += 1,
                }
            }
        }
        let placeholder = Arc::new(CaptureMeta::default());
        let mut quiet: Vec<(u32, Record)> = Vec::new();
        for (eni, n) in skipped_per_eni {
            let mut r = self.record(
                &placeholder,
                window_start,
                window_end,
                LogStatus::SkipData,
                None,
            );
            r.truth.skipped_records = n;
            quiet.push((eni, r));
        }
        for &(eni, since) in covered {
            if since < window_end && !seen.get(eni as usize).copied().unwrap_or(false) {
                let r = self.record(
                    &placeholder,
                    window_start,
                    window_end,
                    LogStatus::NoData,
                    None,
                );
                quiet.push((eni, r));
            }
        }
        quiet.sort_by_key(|(eni, r)| (rank(*eni), *eni, r.status));
        let mut quiet = quiet.into_iter().peekable();
        // Merge the two ordered lists: OK records sort before SKIPDATA and NODATA of their
        // capture point.
        let mut truth = std::mem::take(&mut self.truth);
        for (n, &(point, .., i)) in order.iter().enumerate() {
            while let Some((eni, _)) = quiet.peek()
                && ((rank(*eni) as u64) << 32 | *eni as u64) < point
            {
                let (eni, r) = quiet.next().expect("peeked");
                sink(eni, r, SlotOut::default());
            }
            // Slots are read in output order, which is not theirs: start loading a few ahead.
            if let Some(&(.., ahead)) = order.get(n + 8) {
                std::hint::black_box(&self.slots[ahead as usize].agg.packets);
            }
            let Slot { key: k, agg: a } = self.slots[i as usize];
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
                closed_at: a.closed.then_some(a.last),
                traffic_path: a.traffic_path,
                router: self.router.get_mut(i as usize).and_then(|r| {
                    Some(RouterFlow {
                        path: r.path.take()?,
                        lost_no_route: r.lost_no_route,
                        lost_blackhole: r.lost_blackhole,
                        lost_mtu_exceeded: r.lost_mtu_exceeded,
                    })
                }),
            };
            let mut record = self.record(
                &placeholder,
                window_start,
                window_end,
                LogStatus::Ok,
                Some(flow),
            );
            let (ids, labels, decisions) = match truth.get_mut(i as usize) {
                Some(t) => (
                    std::mem::take(&mut t.ids),
                    std::mem::take(&mut t.labels),
                    std::mem::take(&mut t.decisions),
                ),
                None => Default::default(),
            };
            record.truth.packet_ids = ids;
            record.truth.skipped = n >= capacity;
            sink(k.eni, record, SlotOut { decisions, labels });
        }
        for (eni, r) in quiet {
            sink(eni, r, SlotOut::default());
        }
        self.slots.clear();
        self.router.clear();
        truth.clear();
        self.truth = truth;
        self.index.fill(0);
        self.indexed = 0;
        self.order = order;
        (window_start, window_end)
    }

    fn record(
        &self,
        placeholder: &Arc<CaptureMeta>,
        window_start: Time,
        window_end: Time,
        status: LogStatus,
        flow: Option<Flow>,
    ) -> Record {
        Record {
            flow_log_id: self.settings.id.clone(),
            // The world replaces this with the capture point's metadata.
            capture: placeholder.clone(),
            window_start,
            window_end,
            status,
            flow,
            truth: Truth::default(),
        }
    }

    /// Number of aggregation entries in the open window.
    pub fn active_len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 10-minute flow log of VPC 0, created at `created`, keeping packet ids.
    fn collector(capacity: usize, filter: Filter, created: Time) -> Collector<u8> {
        let settings = Settings {
            id: "fl-1".into(),
            name: "fl".into(),
            scope: Scope::Vpc(0),
            filter,
            window: Span::from_secs(600),
            capacity,
        };
        Collector::new(settings, created, TruthLevel::Packets)
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
            label: 0,
            decisions: [Some(1), None],
        }
    }

    #[test]
    fn aggregates_per_tuple_and_action() {
        let mut c = collector(100, Filter::All, Time::from_secs(0));
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
        let mut c = collector(100, Filter::All, Time::from_secs(100));
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
        let mut c = collector(1, Filter::Accepted, Time(0));
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
