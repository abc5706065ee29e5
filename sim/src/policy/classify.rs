//! The compiled first-match classifier behind both security groups and ACLs.
//!
//! A rule list is compiled once into buckets per protocol; TCP and UDP buckets are further
//! indexed by destination-port segments, so a packet looks at the few rules whose port range
//! covers its port instead of scanning the whole list (issue 2: "compile rules; no linear scan
//! per packet"). Rules that span many segments are kept in one shared "wide" list, merged with
//! the segment's own list by rule order, which bounds memory. The answer is always the first
//! rule in list order that matches: a unit test checks this against a linear scan.

use std::net::Ipv4Addr;

use super::{PacketView, PortRange, ProtoMatch, RuleAction};
use crate::addr::Ipv4Net;
use crate::packet::proto;

/// A rule in the classifier's own form.
#[derive(Clone, Debug, PartialEq, Eq)]
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

    fn covers_all_remotes(&self) -> bool {
        self.nets.contains(&Ipv4Net::ANY) && self.sports.is_all()
    }
}

/// Segments spanned above which a rule goes to the shared wide list.
const WIDE: usize = 32;

#[derive(Clone, Debug, Default)]
struct PortIndex {
    /// Start port of each segment, ascending; segment i is `starts[i]..starts[i+1]`.
    starts: Vec<u32>,
    /// Rule indices (ascending) of narrow rules per segment.
    narrow: Vec<Vec<u32>>,
    /// Rule indices (ascending) of wide rules.
    wide: Vec<u32>,
}

impl PortIndex {
    fn build<T>(rules: &[Compiled<T>], members: &[u32]) -> PortIndex {
        let mut starts: Vec<u32> = vec![0];
        for &i in members {
            let r = &rules[i as usize];
            starts.push(r.dports.lo as u32);
            starts.push(r.dports.hi as u32 + 1);
        }
        starts.sort_unstable();
        starts.dedup();
        starts.retain(|&s| s <= 65535);
        let mut narrow = vec![Vec::new(); starts.len()];
        let mut closed = vec![false; starts.len()];
        let mut wide = Vec::new();
        for &i in members {
            let r = &rules[i as usize];
            let first = seg_of(&starts, r.dports.lo);
            let last = seg_of(&starts, r.dports.hi);
            if last - first + 1 > WIDE {
                wide.push(i);
                continue;
            }
            for seg in first..=last {
                // Nothing after a rule that matches every remote in this segment can win.
                if !closed[seg] {
                    narrow[seg].push(i);
                    closed[seg] = r.covers_all_remotes();
                }
            }
        }
        PortIndex {
            starts,
            narrow,
            wide,
        }
    }
}

#[inline]
fn seg_of(starts: &[u32], port: u16) -> usize {
    starts
        .partition_point(|&s| s <= port as u32)
        .saturating_sub(1)
}

/// A compiled rule list: `first_match` returns what a top-to-bottom scan would.
#[derive(Clone, Debug)]
pub struct Classifier<T> {
    rules: Vec<Compiled<T>>,
    tcp: PortIndex,
    udp: PortIndex,
    icmp: Vec<u32>,
    /// Rules that can match other protocols, per protocol number on demand.
    other: Vec<u32>,
}

impl<T> Default for Classifier<T> {
    fn default() -> Self {
        Classifier {
            rules: Vec::new(),
            tcp: PortIndex::default(),
            udp: PortIndex::default(),
            icmp: Vec::new(),
            other: Vec::new(),
        }
    }
}

impl<T> Classifier<T> {
    /// Compiles rules given in evaluation order.
    pub fn new(rules: Vec<Compiled<T>>) -> Classifier<T> {
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        let mut icmp = Vec::new();
        let mut other = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let i = i as u32;
            match r.protocol {
                ProtoMatch::Any => {
                    tcp.push(i);
                    udp.push(i);
                    icmp.push(i);
                    other.push(i);
                }
                ProtoMatch::Tcp | ProtoMatch::Number(proto::TCP) => tcp.push(i),
                ProtoMatch::Udp | ProtoMatch::Number(proto::UDP) => udp.push(i),
                ProtoMatch::Icmp { .. } | ProtoMatch::Number(proto::ICMP) => icmp.push(i),
                ProtoMatch::Number(_) => other.push(i),
            }
        }
        let tcp = PortIndex::build(&rules, &tcp);
        let udp = PortIndex::build(&rules, &udp);
        Classifier {
            rules,
            tcp,
            udp,
            icmp,
            other,
        }
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
        let index = match pkt.protocol {
            proto::TCP => &self.tcp,
            proto::UDP => &self.udp,
            proto::ICMP => return self.scan(&self.icmp, remote, pkt),
            _ => return self.scan(&self.other, remote, pkt),
        };
        let seg = seg_of(&index.starts, pkt.dport);
        let narrow = index.narrow.get(seg).map_or(&[][..], |v| v.as_slice());
        let wide = &index.wide;
        // Merge the two ascending lists by rule index: the first match in order wins.
        let (mut i, mut j) = (0, 0);
        loop {
            let next = match (narrow.get(i), wide.get(j)) {
                (Some(&a), Some(&b)) if a < b => {
                    i += 1;
                    a
                }
                (_, Some(&b)) => {
                    j += 1;
                    b
                }
                (Some(&a), None) => {
                    i += 1;
                    a
                }
                (None, None) => return None,
            };
            let r = &self.rules[next as usize];
            if r.matches(remote, pkt) {
                return Some(r);
            }
        }
    }

    fn scan(&self, list: &[u32], remote: Ipv4Addr, pkt: &PacketView) -> Option<&Compiled<T>> {
        list.iter()
            .map(|&i| &self.rules[i as usize])
            .find(|r| r.matches(remote, pkt))
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
