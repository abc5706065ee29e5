//! The compiled first-match classifier behind both security groups and ACLs.
//!
//! A rule list is compiled once into one decision tree per protocol bucket (TCP, UDP, ICMP,
//! other), in the manner of HiCuts: each inner node cuts its region of (destination port,
//! remote address) space into 2^k equal, aligned parts along one of the two dimensions, and
//! each leaf holds, in list order, the few rules that can match inside its region, stored
//! inline (one entry per remote prefix) so that a leaf is scanned without chasing pointers.
//! A packet walks a handful of nodes and scans one short leaf instead of the whole list
//! (issue 2: "compile rules; no linear scan per packet"). Rules after one that matches every
//! packet of a region can never win there and are left out of that region, which bounds the
//! replication of wide rules; a global budget bounds it in the worst case (the tree then stops
//! cutting and leaves get longer, never wrong). The answer is always the first rule in list
//! order that matches: a property test checks this against a linear scan.

use std::net::Ipv4Addr;

use super::{PacketView, PortRange, ProtoMatch, RuleAction};
use crate::addr::Ipv4Net;
use crate::packet::proto;

/// A rule in the classifier's own form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Compiled<T> {
    pub protocol: ProtoMatch,
    pub dports: PortRange,
    pub sports: PortRange,
    /// The remote side matches when any of these contains it (empty: matches nothing).
    pub nets: Vec<Ipv4Net>,
    pub action: RuleAction,
    /// Where the rule came from, for explanations and records.
    pub origin: T,
}

impl<T> Compiled<T> {
    #[inline]
    fn matches(&self, remote: Ipv4Addr, pkt: &PacketView) -> bool {
        self.protocol.matches(pkt)
            && (!self.protocol_has_ports(pkt)
                || (self.dports.contains(pkt.dport) && self.sports.contains(pkt.sport)))
            && self.nets.iter().any(|n| n.contains(remote))
    }

    /// Ports are checked for TCP and UDP packets only; a rule for "all protocols" with a port
    /// range still restricts TCP/UDP ports.
    #[inline]
    fn protocol_has_ports(&self, pkt: &PacketView) -> bool {
        pkt.protocol == proto::TCP || pkt.protocol == proto::UDP
    }
}

/// A leaf's rules up to this many are scanned rather than cut further.
const LEAF_RULES: usize = 6;
/// A cut makes at most 2^MAX_CUT_BITS children.
const MAX_CUT_BITS: u32 = 5;
/// A cut may make its children hold at most this many times the node's entries in total.
const SPACE_FACTOR: usize = 4;
/// Leaf entries in a whole tree, per entry of the rule list, before the tree stops cutting.
const BUDGET_FACTOR: usize = 32;

/// One remote prefix of one rule, with everything a match needs inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    addr: u32,
    mask: u32,
    dlo: u16,
    dhi: u16,
    slo: u16,
    shi: u16,
    protocol: ProtoMatch,
    /// Index of the rule in the list.
    rule: u32,
}

impl Entry {
    /// [`Entry::matches`] for a TCP or UDP packet, knowing the entry's protocol matches it.
    #[inline]
    fn matches_ports(&self, remote: u32, pkt: &PacketView) -> bool {
        (remote & self.mask) == self.addr
            && self.dlo <= pkt.dport
            && pkt.dport <= self.dhi
            && self.slo <= pkt.sport
            && pkt.sport <= self.shi
    }

    /// What `Compiled::matches` says, for a packet of this entry's bucket; `ports` says whether
    /// the bucket is TCP or UDP (ports are checked for those only).
    #[inline]
    fn matches(&self, remote: u32, pkt: &PacketView, ports: bool) -> bool {
        (remote & self.mask) == self.addr
            && (!ports
                || (self.dlo <= pkt.dport
                    && pkt.dport <= self.dhi
                    && self.slo <= pkt.sport
                    && pkt.sport <= self.shi))
            && self.protocol.matches(pkt)
    }
}

/// Tree node kinds.
const LEAF: u8 = 0;
const CUT_PORT: u8 = 1;
const CUT_ADDR: u8 = 2;

/// A leaf: `entries[start..start + len]`. A cut: child `nodes[start + ((key >> shift) & len)]`
/// where `key` is the destination port (`CUT_PORT`) or the remote address (`CUT_ADDR`); the
/// children of a cut are stored side by side, so each level of a lookup is one load.
#[derive(Clone, Copy, Debug)]
struct Node {
    start: u32,
    len: u32,
    shift: u8,
    kind: u8,
}

/// The decision tree of one protocol bucket.
#[derive(Clone, Debug)]
struct Tree {
    root: Node,
    nodes: Vec<Node>,
    entries: Vec<Entry>,
    /// TCP or UDP: destination and source ports are matched (and cut on).
    ports: bool,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            root: Node {
                start: 0,
                len: 0,
                shift: 0,
                kind: LEAF,
            },
            nodes: Vec::new(),
            entries: Vec::new(),
            ports: false,
        }
    }
}

impl Tree {
    /// The index of the rule of the first entry, in list order, matching the packet.
    #[inline]
    fn lookup(&self, remote: u32, pkt: &PacketView) -> Option<u32> {
        let mut n = self.root;
        while n.kind != LEAF {
            let key = if n.kind == CUT_PORT {
                pkt.dport as u32
            } else {
                remote
            };
            n = self.nodes[(n.start + ((key >> n.shift) & n.len)) as usize];
        }
        let leaf = &self.entries[n.start as usize..(n.start + n.len) as usize];
        if self.ports {
            // Every entry of the TCP and UDP trees matches the protocol.
            leaf.iter()
                .find(|e| e.matches_ports(remote, pkt))
                .map(|e| e.rule)
        } else {
            leaf.iter()
                .find(|e| e.matches(remote, pkt, false))
                .map(|e| e.rule)
        }
    }
}

/// A region of (destination port, remote address) space: aligned blocks of 2^bits values.
#[derive(Clone, Copy, Debug)]
struct Region {
    port: u32,
    port_bits: u32,
    addr: u64,
    addr_bits: u32,
}

impl Region {
    fn port_hi(&self) -> u32 {
        self.port + (1u32 << self.port_bits) - 1
    }
    fn addr_hi(&self) -> u64 {
        self.addr + (1u64 << self.addr_bits) - 1
    }
}

/// The inclusive range an entry spans along a dimension.
fn span(e: &Entry, dim: u8) -> (u64, u64) {
    match dim {
        CUT_PORT => (e.dlo as u64, e.dhi as u64),
        _ => (e.addr as u64, (e.addr | !e.mask) as u64),
    }
}

struct Builder<'a> {
    all: &'a [Entry],
    /// Per entry: its protocol matches every packet of the bucket.
    full_protocol: Vec<bool>,
    ports: bool,
    tree: Tree,
    /// Leaf entries still allowed before the tree stops cutting.
    budget: usize,
    /// Leaves already built, by their entry list: equal leaves are shared.
    leaves: std::collections::HashMap<Vec<u32>, Node, foldhash::fast::FixedState>,
}

impl Builder<'_> {
    /// Does entry `i` match every packet of the bucket inside `r`?
    fn covers(&self, i: u32, r: &Region) -> bool {
        let e = &self.all[i as usize];
        let ports = !self.ports
            || (e.dlo as u32 <= r.port
                && e.dhi as u32 >= r.port_hi()
                && e.slo == 0
                && e.shi == u16::MAX);
        let len = e.mask.count_ones();
        let addr = len <= 32 - r.addr_bits && (r.addr as u32 & e.mask) == e.addr;
        ports && addr && self.full_protocol[i as usize]
    }

    /// The child indices (inclusive) entry `i` spans when `r` is cut into 2^k along `dim`.
    #[inline]
    fn children(&self, i: u32, r: &Region, dim: u8, k: u32) -> (usize, usize) {
        let (base, bits, hi) = match dim {
            CUT_PORT => (r.port as u64, r.port_bits, r.port_hi() as u64),
            _ => (r.addr, r.addr_bits, r.addr_hi()),
        };
        let (lo, top) = span(&self.all[i as usize], dim);
        let shift = bits - k;
        let first = (lo.max(base) - base) >> shift;
        let last = (top.min(hi) - base) >> shift;
        (first as usize, last as usize)
    }

    fn leaf(&mut self, list: Vec<u32>) -> Node {
        if let Some(&n) = self.leaves.get(&list) {
            return n;
        }
        let n = Node {
            start: self.tree.entries.len() as u32,
            len: list.len() as u32,
            shift: 0,
            kind: LEAF,
        };
        self.tree
            .entries
            .extend(list.iter().map(|&i| self.all[i as usize]));
        self.leaves.insert(list, n);
        n
    }

    /// Builds the subtree for the entries of `list` (ascending, each intersecting `r`).
    fn build(&mut self, mut list: Vec<u32>, r: Region) -> Node {
        // Nothing after an entry that matches the whole region can be the first match in it.
        if let Some(p) = list.iter().position(|&i| self.covers(i, &r)) {
            list.truncate(p + 1);
        }
        if list.len() <= LEAF_RULES || self.budget == 0 {
            return self.leaf(list);
        }
        let n = list.len();
        // (max child size, total child sizes, dimension, bits) of the best cut found.
        let mut best: Option<(usize, usize, u8, u32)> = None;
        let mut spans: Vec<(u32, u32)> = Vec::with_capacity(n);
        let mut diff = [0isize; (1 << MAX_CUT_BITS) + 1];
        for dim in [CUT_PORT, CUT_ADDR] {
            let bits = match dim {
                CUT_PORT if self.ports => r.port_bits,
                CUT_PORT => 0,
                _ => r.addr_bits,
            };
            let kmax = bits.min(MAX_CUT_BITS);
            if kmax == 0 {
                continue;
            }
            // Children each entry spans at the finest cut; coarser cuts shift them down.
            spans.clear();
            spans.extend(list.iter().map(|&i| {
                let (a, b) = self.children(i, &r, dim, kmax);
                (a as u32, b as u32)
            }));
            let mut pick = None;
            for k in 1..=kmax {
                let shift = kmax - k;
                let diff = &mut diff[..(1 << k) + 1];
                diff.fill(0);
                for &(a, b) in &spans {
                    diff[(a >> shift) as usize] += 1;
                    diff[(b >> shift) as usize + 1] -= 1;
                }
                let (mut run, mut max, mut sum) = (0isize, 0usize, 0usize);
                for d in &diff[..1 << k] {
                    run += d;
                    max = max.max(run as usize);
                    sum += run as usize;
                }
                if k > 1 && sum > SPACE_FACTOR * n + (1 << k) {
                    break;
                }
                pick = Some((max, sum, dim, k));
            }
            if let Some(p) = pick
                && best.is_none_or(|b| (p.0, p.1) < (b.0, b.1))
            {
                best = Some(p);
            }
        }
        let Some((max, sum, dim, k)) = best else {
            return self.leaf(list);
        };
        if max >= n {
            // No cut separates these entries (they differ only in what is not cut on).
            return self.leaf(list);
        }
        self.budget = self.budget.saturating_sub(sum);
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); 1 << k];
        for &i in &list {
            let (a, b) = self.children(i, &r, dim, k);
            for l in &mut lists[a..=b] {
                l.push(i);
            }
        }
        let shift = match dim {
            CUT_PORT => r.port_bits - k,
            _ => r.addr_bits - k,
        };
        // The children's places, filled as they are built (their own children go after).
        let base = self.tree.nodes.len();
        let placeholder = Node {
            start: 0,
            len: 0,
            shift: 0,
            kind: LEAF,
        };
        self.tree.nodes.resize(base + (1 << k), placeholder);
        for (c, l) in lists.into_iter().enumerate() {
            let child = match dim {
                CUT_PORT => Region {
                    port: r.port + ((c as u32) << shift),
                    port_bits: shift,
                    ..r
                },
                _ => Region {
                    addr: r.addr + ((c as u64) << shift),
                    addr_bits: shift,
                    ..r
                },
            };
            self.tree.nodes[base + c] = self.build(l, child);
        }
        Node {
            start: base as u32,
            len: (1 << k) - 1,
            shift: shift as u8,
            kind: dim,
        }
    }
}

/// Which protocol bucket a rule's protocol puts it in; `Any` goes to all four.
fn bucket_of(p: ProtoMatch) -> [bool; 4] {
    match p {
        ProtoMatch::Any => [true; 4],
        ProtoMatch::Tcp | ProtoMatch::Number(proto::TCP) => [true, false, false, false],
        ProtoMatch::Udp | ProtoMatch::Number(proto::UDP) => [false, true, false, false],
        ProtoMatch::Icmp { .. } | ProtoMatch::Number(proto::ICMP) => [false, false, true, false],
        ProtoMatch::Number(_) => [false, false, false, true],
    }
}

/// Does a rule of this protocol match every packet of bucket `b` (TCP, UDP, ICMP, other)?
fn matches_whole_bucket(p: ProtoMatch, b: usize) -> bool {
    match p {
        ProtoMatch::Any => true,
        ProtoMatch::Icmp {
            icmp_type: None,
            code: None,
        } => b == 2,
        ProtoMatch::Icmp { .. } => false,
        // The "other" bucket holds every other protocol number.
        ProtoMatch::Number(_) => b < 3,
        ProtoMatch::Tcp | ProtoMatch::Udp => true,
    }
}

fn build_tree<T>(rules: &[Compiled<T>], b: usize) -> Tree {
    let ports = b < 2;
    let mut all = Vec::new();
    let mut full_protocol = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if !bucket_of(r.protocol)[b] {
            continue;
        }
        for n in &r.nets {
            all.push(Entry {
                addr: u32::from(n.network()),
                mask: n.mask(),
                dlo: r.dports.lo,
                dhi: r.dports.hi,
                slo: r.sports.lo,
                shi: r.sports.hi,
                protocol: r.protocol,
                rule: i as u32,
            });
            full_protocol.push(matches_whole_bucket(r.protocol, b));
        }
    }
    let mut builder = Builder {
        all: &all,
        full_protocol,
        ports,
        tree: Tree {
            ports,
            ..Tree::default()
        },
        budget: BUDGET_FACTOR * all.len() + 1024,
        leaves: std::collections::HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)),
    };
    let root = builder.build(
        (0..all.len() as u32).collect(),
        Region {
            port: 0,
            port_bits: 16,
            addr: 0,
            addr_bits: 32,
        },
    );
    builder.tree.root = root;
    builder.tree
}

/// A compiled rule list: `first_match` returns what a top-to-bottom scan would.
#[derive(Clone, Debug)]
pub struct Classifier<T> {
    rules: Vec<Compiled<T>>,
    /// Decision trees for TCP, UDP, ICMP and every other protocol.
    trees: [Tree; 4],
}

/// Serialized as its rule list: the trees are a pure function of it ([`Classifier::new`]),
/// rebuilt on load.
impl<T: serde::Serialize> serde::Serialize for Classifier<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.rules.serialize(s)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Classifier<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Classifier<T>, D::Error> {
        Vec::<Compiled<T>>::deserialize(d).map(Classifier::new)
    }
}

impl<T> Default for Classifier<T> {
    fn default() -> Self {
        Classifier {
            rules: Vec::new(),
            trees: Default::default(),
        }
    }
}

impl<T> Classifier<T> {
    /// Compiles rules given in evaluation order.
    pub fn new(rules: Vec<Compiled<T>>) -> Classifier<T> {
        let trees = [0, 1, 2, 3].map(|b| build_tree(&rules, b));
        Classifier { rules, trees }
    }

    pub fn rules(&self) -> &[Compiled<T>] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule, in list order, matching a packet whose remote side is `remote`.
    #[inline]
    pub fn first_match(&self, remote: Ipv4Addr, pkt: &PacketView) -> Option<&Compiled<T>> {
        let b = match pkt.protocol {
            proto::TCP => 0,
            proto::UDP => 1,
            proto::ICMP => 2,
            _ => 3,
        };
        self.trees[b]
            .lookup(u32::from(remote), pkt)
            .map(|i| &self.rules[i as usize])
    }

    /// The reference semantics: a linear top-to-bottom scan. Used by tests and by nothing on
    /// the per-packet path.
    pub fn first_match_linear(&self, remote: Ipv4Addr, pkt: &PacketView) -> Option<&Compiled<T>> {
        self.rules.iter().find(|r| r.matches(remote, pkt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_rule(rng: &mut ChaCha8Rng, i: u32) -> Compiled<u32> {
        let protocol = match rng.random_range(0..6) {
            0 => ProtoMatch::Any,
            1 | 2 => ProtoMatch::Tcp,
            3 => ProtoMatch::Udp,
            4 => ProtoMatch::Icmp {
                icmp_type: Some(rng.random_range(0..2) * 8),
                code: None,
            },
            _ => ProtoMatch::Number(47),
        };
        let lo: u16 = rng.random_range(0..65535);
        let width: u16 = if rng.random_bool(0.2) {
            65535
        } else {
            rng.random_range(0..2000)
        };
        let hi = lo.saturating_add(width);
        let len = rng.random_range(0..=32u8);
        let net = Ipv4Net::new_truncating(Ipv4Addr::from(rng.random::<u32>() & 0x0f0f_ffff), len);
        Compiled {
            protocol,
            dports: PortRange { lo, hi },
            sports: if rng.random_bool(0.1) {
                PortRange {
                    lo: 1024,
                    hi: 65535,
                }
            } else {
                PortRange::ALL
            },
            nets: vec![net],
            action: if rng.random_bool(0.5) {
                RuleAction::Allow
            } else {
                RuleAction::Deny
            },
            origin: i,
        }
    }

    /// Property: the indexed lookup equals a linear first-match scan (STYLE.md).
    #[test]
    fn indexed_lookup_equals_linear_scan() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for round in 0..20 {
            let n = [1, 5, 50, 500, 3000][round % 5];
            let rules: Vec<_> = (0..n).map(|i| random_rule(&mut rng, i)).collect();
            let c = Classifier::new(rules);
            for _ in 0..3000 {
                let protocol = [6, 17, 1, 47, 6][rng.random_range(0..5)];
                let pkt = PacketView {
                    protocol,
                    sport: rng.random(),
                    dport: rng.random(),
                    icmp_type: (protocol == 1).then(|| rng.random_range(0..2) * 8),
                    icmp_code: (protocol == 1).then_some(0),
                };
                let remote = Ipv4Addr::from(rng.random::<u32>() & 0x0f0f_ffff);
                let a = c.first_match(remote, &pkt).map(|r| r.origin);
                let b = c.first_match_linear(remote, &pkt).map(|r| r.origin);
                assert_eq!(a, b, "rules={n} remote={remote} pkt={pkt:?}");
            }
        }
    }

    /// Property, on rule lists shaped like real ones (blocklists of all-port prefixes, nested
    /// prefixes, group references expanded to many hosts, source ports, ICMP types) and on
    /// packets at the edges of rules: the tree equals a linear first-match scan.
    #[test]
    fn tree_lookup_equals_linear_scan_at_rule_edges() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for round in 0..60 {
            let n = [3, 20, 200, 1500][round % 4];
            let mut rules: Vec<Compiled<u32>> = Vec::new();
            for i in 0..n {
                let mut r = random_rule(&mut rng, i);
                match rng.random_range(0..6) {
                    // Blocklist: every port of one prefix.
                    0 => {
                        r.dports = PortRange::ALL;
                        r.sports = PortRange::ALL;
                    }
                    // A group reference: several hosts.
                    1 => {
                        let k = rng.random_range(0..12);
                        r.nets = (0..k)
                            .map(|_| {
                                Ipv4Net::host(Ipv4Addr::from(
                                    0x0a00_0000 | rng.random_range(0..64u32),
                                ))
                            })
                            .collect();
                    }
                    // Nested prefixes around 10.0.0.0/8.
                    2 => {
                        let len = rng.random_range(0..=32u8);
                        r.nets = vec![Ipv4Net::new_truncating(
                            Ipv4Addr::from(0x0a00_0000 | rng.random_range(0..256u32)),
                            len,
                        )];
                    }
                    3 => {
                        r.sports = PortRange {
                            lo: rng.random_range(0..60000),
                            hi: 65535,
                        }
                    }
                    _ => {}
                }
                rules.push(r);
            }
            let c = Classifier::new(rules.clone());
            for _ in 0..4000 {
                let r = &rules[rng.random_range(0..rules.len())];
                let protocol = [6, 17, 1, 47, 6, 17][rng.random_range(0..6)];
                let edge = |rng: &mut ChaCha8Rng, lo: u16, hi: u16| match rng.random_range(0..5) {
                    0 => lo,
                    1 => hi,
                    2 => lo.wrapping_sub(1),
                    3 => hi.wrapping_add(1),
                    _ => rng.random(),
                };
                let dport = edge(&mut rng, r.dports.lo, r.dports.hi);
                let sport = edge(&mut rng, r.sports.lo, r.sports.hi);
                let remote = match r.nets.get(rng.random_range(0..r.nets.len().max(1))) {
                    Some(net) => {
                        let lo = u32::from(net.network());
                        let hi = u32::from(net.broadcast());
                        match rng.random_range(0..5) {
                            0 => lo,
                            1 => hi,
                            2 => lo.wrapping_sub(1),
                            3 => hi.wrapping_add(1),
                            _ => lo | (rng.random::<u32>() & !net.mask()),
                        }
                    }
                    None => rng.random(),
                };
                let remote = Ipv4Addr::from(remote);
                let pkt = PacketView {
                    protocol,
                    sport,
                    dport,
                    icmp_type: (protocol == 1).then(|| [0, 3, 8][rng.random_range(0..3)]),
                    icmp_code: (protocol == 1).then(|| rng.random_range(0..2)),
                };
                let a = c.first_match(remote, &pkt).map(|r| r.origin);
                let b = c.first_match_linear(remote, &pkt).map(|r| r.origin);
                assert_eq!(a, b, "rules={n} remote={remote} pkt={pkt:?}");
            }
        }
    }

    #[test]
    fn first_match_wins() {
        let any = vec![Ipv4Net::ANY];
        let rules = vec![
            Compiled {
                protocol: ProtoMatch::Tcp,
                dports: PortRange::single(80),
                sports: PortRange::ALL,
                nets: vec![Ipv4Net::parse_strict("192.168.200.0/24").unwrap()],
                action: RuleAction::Deny,
                origin: 1,
            },
            Compiled {
                protocol: ProtoMatch::Any,
                dports: PortRange::ALL,
                sports: PortRange::ALL,
                nets: any,
                action: RuleAction::Allow,
                origin: 2,
            },
        ];
        let c = Classifier::new(rules);
        let http = PacketView {
            protocol: 6,
            sport: 40000,
            dport: 80,
            icmp_type: None,
            icmp_code: None,
        };
        assert_eq!(
            c.first_match("192.168.200.11".parse().unwrap(), &http)
                .unwrap()
                .origin,
            1
        );
        assert_eq!(
            c.first_match("10.1.1.1".parse().unwrap(), &http)
                .unwrap()
                .origin,
            2
        );
    }
}
