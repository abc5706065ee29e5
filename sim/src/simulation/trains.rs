//! Packet trains (issue 9): a TCP transfer is mostly one pair of packets over and over (a
//! full data segment one way, its acknowledgement back). Once the first pair of a run has
//! gone through the world, and nothing could decide the next pairs otherwise, the rest of the
//! run is counted in one go ([`World::send_again`]) instead of being sent packet by packet.
//! The records are the same, byte for byte, as per-packet simulation's (a test runs
//! workloads both ways): only the events run and the time taken differ.
//!
//! A train is counted late, when its last packet is due, so that the simulation can still
//! take back what it has not counted. Its packets would be decided as the first pair was
//! unless, before its last packet:
//! - a window of any flow log ends (its counters go into records): a train ends before the
//!   earliest window end, and the next one starts after it;
//! - the run reaches the end of what was asked (`until`): the server may change the world in
//!   between;
//! - a policy change applies, or another packet of the same connection is sent (a new
//!   connection reusing the ports, a forged segment): then the train is *cut* at that
//!   instant: the packets sent before it are counted, the rest go back to the session to be
//!   sent one by one;
//! - the connection could time out in between: a train is shorter than the established
//!   timeout.
//!
//! What a packet touches that a train cannot repeat (a NAT gateway, a router, a CCN, a
//! bandwidth bucket, a connection it opens, captured packets) is ruled out by the world's
//! trace (`world::Trace`): such a session is sent per packet.
//!
//! One order is not reproduced: when a packet of the same connection is due at the very same
//! microsecond as one of the train's, the cut sends it first, where per-packet simulation
//! orders the two by when they were scheduled. Sessions' packets are a millisecond or more
//! apart and their starts drawn to the microsecond, so this needs two sessions of one
//! 5-tuple at once, in the same microsecond.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::{Event, Session, Side, Simulation, Step};
use crate::packet::Packet;
use crate::time::{Span, Time};
use crate::world::Trace;

/// What a trace was taken under: the end of the earliest open window and the policy changes
/// applied by then. A pair's two traces make a train only if taken under the same.
pub(super) type Epoch = (Time, u64);

/// A run of repeated pairs being counted as a train.
pub(super) struct Train {
    /// The pair's traces: the packet of the first step of each pair, then of the second.
    traces: [Trace; 2],
    /// The plan index of the train's first packet.
    from: usize,
    /// Packets it counts (twice the pairs).
    packets: u64,
    /// When its first packet is due; each next one is a gap later.
    start: Time,
    gap: Span,
    label: u32,
    /// The queue key of its end.
    end: (Time, u64),
    /// The connection, as each side sends it ([`conn_key`]).
    keys: [u128; 2],
}

/// The sessions of trains in flight, and of first traces waiting for their pair, by their
/// connection ([`conn_key`]), with a filter by ports that answers most packets' question (is
/// my connection in there?) with one load instead of a hash lookup.
#[derive(Default)]
pub(super) struct Keys {
    map: HashMap<u128, u64, FixedState>,
    /// Keys held per bucket of their two ports; empty until the first key (a simulation that
    /// never runs trains never pays for it).
    filter: Vec<u32>,
}

impl Keys {
    fn bucket(key: u128) -> usize {
        ((key >> 48) as u16 ^ key as u16) as usize
    }

    pub(super) fn insert(&mut self, key: u128, session: u64) {
        if self.filter.is_empty() {
            self.filter = vec![0; 1 << 16];
        }
        if self.map.insert(key, session).is_none() {
            self.filter[Self::bucket(key)] += 1;
        }
    }

    pub(super) fn remove(&mut self, key: u128) {
        if self.map.remove(&key).is_some() {
            self.filter[Self::bucket(key)] -= 1;
        }
    }

    #[inline]
    fn get(&self, key: u128) -> Option<u64> {
        if self.filter.get(Self::bucket(key)).is_none_or(|&n| n == 0) {
            return None;
        }
        self.map.get(&key).copied()
    }

    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.filter.fill(0);
    }
}

/// The pair of steps at `plan[i..i + 2]` repeated from `i`: how many times in a row.
pub(super) fn pairs_from(plan: &[Step], i: usize) -> usize {
    let Some(pair) = plan.get(i..i + 2) else {
        return 0;
    };
    plan[i..].chunks_exact(2).take_while(|c| c == &pair).count()
}

/// Whether `sess`'s next step should be traced (trains on): the first packet of a pair that
/// repeats at least twice more, or its second packet when the first was traced.
pub(super) fn wants_trace(sess: &mut Session, keys: &mut Keys) -> bool {
    if sess.no_trains {
        return false;
    }
    let i = sess.next;
    if let Some((at, ..)) = &sess.traced
        && *at + 1 == i
    {
        return true;
    }
    if let Some((.., key, _)) = sess.traced.take() {
        keys.remove(key);
    }
    if i >= sess.run.1 {
        let n = pairs_from(&sess.plan, i);
        sess.run = if n >= 2 { (i, i + 2 * n) } else { (i, i + 1) };
    }
    let (start, end) = sess.run;
    (i - start).is_multiple_of(2) && end - i >= 4
}

/// A packet's connection whichever way it goes: protocol and both ends, lower end first.
pub(super) fn conn_key(p: &Packet) -> u128 {
    let (sport, dport) = p.ports();
    let a = (u32::from(p.src) as u64) << 16 | sport as u64;
    let b = (u32::from(p.dst) as u64) << 16 | dport as u64;
    let (lo, hi) = (a.min(b), a.max(b));
    (p.protocol() as u128) << 96 | (lo as u128) << 48 | hi as u128
}

impl Simulation {
    /// Counts session packets as trains when their decisions cannot change (`vpclab
    /// generate`; off by default, and off whenever outcomes are kept).
    pub fn use_trains(&mut self, on: bool) {
        self.trains_on = on;
    }

    /// After a traced packet of step `i` was sent: keeps the first pair's trace, and on the
    /// second starts a train of as many of the run's next pairs as may be counted.
    pub(super) fn traced(&mut self, s: u64, i: usize, trace: Trace, sent: &Packet) {
        let now = self.now;
        let Some(sess) = self.sessions.get_mut(&s) else {
            return;
        };
        if !trace.repeatable() {
            sess.no_trains = true;
            sess.traced = None;
            return;
        }
        let epoch = (self.world.next_window_end(), self.changes_applied);
        let Some((first_at, first, first_key, first_epoch)) = sess.traced.take() else {
            // Until the pair's second packet, another packet of the connection makes this
            // trace stale (`cut_train_of`).
            let key = conn_key(sent);
            sess.traced = Some((i, trace, key, epoch));
            self.train_keys.insert(key, s);
            return;
        };
        self.train_keys.remove(first_key);
        debug_assert_eq!(first_at + 1, i);
        // A window closed between the pair's packets (the first one's entries are records
        // now), or policy changed: the first trace is stale.
        if first_epoch != epoch {
            return;
        }
        let gap = sess.spec.gap;
        let pairs_left = ((sess.run.1 - (i + 1)) / 2) as u64;
        // The last packet must come before any window ends, within the run asked for, and
        // before any of the connections the pair found would expire without the packets in
        // between (each refreshed them, in whatever state they are: a closed connection a new
        // session reuses lives 10 s after each packet).
        let expires = [first.expires(), trace.expires()]
            .into_iter()
            .flatten()
            .min()
            .map_or(u64::MAX, |t| t.micros());
        let limit = (self.world.next_window_end().micros().saturating_sub(1))
            .min(self.horizon.micros())
            .min(expires.saturating_sub(1));
        let start = now + gap;
        let fit = if limit < start.micros() || gap.micros() == 0 {
            0
        } else {
            // Packets `start + k gap` up to `limit`, two a pair.
            ((limit - start.micros()) / gap.micros()).div_ceil(2)
        };
        let pairs = pairs_left.min(fit);
        if pairs == 0 {
            return;
        }
        let packets = 2 * pairs;
        let last = start + gap.times(packets - 1);
        self.seq += 1;
        let end = (last, self.seq);
        self.queue.insert(end, Event::TrainEnd { session: s });
        let keys = [first_key, conn_key(sent)];
        for k in keys {
            self.train_keys.insert(k, s);
        }
        self.trains.insert(
            s,
            Train {
                traces: [first, trace],
                from: i + 1,
                packets,
                start,
                gap,
                label: sess.spec.label,
                end,
                keys,
            },
        );
    }

    /// Counts the packets of session `s`'s train due at or before `upto` (all of them when
    /// `None`), hands the rest back to the session, and lets the session go on.
    pub(super) fn end_train(&mut self, s: u64, upto: Option<Time>) {
        let Some(t) = self.trains.remove(&s) else {
            return;
        };
        for k in t.keys {
            self.train_keys.remove(k);
        }
        let counted = match upto {
            None => t.packets,
            Some(u) if u < t.start => 0,
            Some(u) => ((u.micros() - t.start.micros()) / t.gap.micros() + 1).min(t.packets),
        };
        if counted < t.packets {
            self.queue.remove(&t.end);
        }
        // Packets alternate between the two steps; count each step's in time order, so that
        // the connection ends refreshed by the later one.
        let n = [counted.div_ceil(2), counted / 2];
        let last = |k: u64| t.start + t.gap.times(k);
        let mut order = [(0usize, n[0]), (1, n[1])];
        if n[0] > n[1] {
            order.swap(0, 1);
        }
        for (which, n) in order {
            if n > 0 {
                let at = last(2 * (n - 1) + which as u64);
                self.world.send_again(&t.traces[which], n, at, t.label);
            }
        }
        self.pending -= counted;
        let Some(sess) = self.sessions.get_mut(&s) else {
            return;
        };
        for (which, n) in [(0usize, n[0]), (1, n[1])] {
            let step = sess.plan[t.from + which];
            let bytes = (step.payload as u32).wrapping_mul(n as u32);
            match step.side {
                Side::Client => sess.client_seq = sess.client_seq.wrapping_add(bytes),
                Side::Server => sess.server_seq = sess.server_seq.wrapping_add(bytes),
            }
        }
        sess.next = t.from + counted as usize;
        if sess.next == sess.plan.len() {
            self.sessions.remove(&s);
        } else {
            let at = t.start + t.gap.times(counted);
            self.schedule(at, Event::SessionStep { session: s });
        }
    }

    /// Cuts every train in flight at the current instant: what was due before it is
    /// counted, the rest is sent packet by packet (a policy change applies now).
    pub(super) fn cut_trains(&mut self) {
        let before = Time(self.now.micros().saturating_sub(1));
        let sessions: Vec<u64> = self.trains.keys().copied().collect();
        for s in sessions {
            self.end_train(s, Some(before));
        }
    }

    /// Cuts the train of `packet`'s connection, if one is in flight, or forgets a session's
    /// trace of the connection waiting for its pair: another packet of it is about to be sent
    /// (by session `sender`, if any: a session's own packets leave its trace alone).
    #[inline]
    pub(super) fn cut_train_of(&mut self, packet: &Packet, sender: Option<u64>) {
        let key = conn_key(packet);
        let Some(s) = self.train_keys.get(key) else {
            return;
        };
        if self.trains.contains_key(&s) {
            let before = Time(self.now.micros().saturating_sub(1));
            self.end_train(s, Some(before));
        } else if sender != Some(s) {
            self.train_keys.remove(key);
            if let Some(sess) = self.sessions.get_mut(&s) {
                sess.traced = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Change, Close, TcpSession};
    use super::*;
    use crate::Direction;
    use crate::addr::Ipv4Net;
    use crate::flowlog::{Scope, TruthLevel};
    use crate::policy::sg::{Remote, Rule};
    use crate::policy::{PortRange, ProtoMatch, RuleAction};
    use crate::profile::{Profile, Provider};
    use crate::world::{Config, Endpoint, EniSpec, FlowLogSpec, World};

    const T0: u64 = 1_700_000_000;

    /// A client and a server in one subnet; the server's group lets TCP in from the VPC and
    /// everything out; the client has the same group, or with `outbound_only` one that only
    /// lets traffic out (the server's packets then reach it only as replies of a tracked
    /// connection). A VPC flow log of one-minute windows keeps labels. Returns the
    /// simulation, client, server and the server's group.
    fn world(provider: Provider, outbound_only: bool) -> (Simulation, Endpoint, Endpoint, u32) {
        let mut cfg = Config::new(Profile::of(provider));
        cfg.truth = TruthLevel::Labels;
        let mut w = World::new(cfg);
        let t0 = Time::from_secs(T0);
        let net = |s: &str| Ipv4Net::parse_strict(s).unwrap();
        let vpc = w.create_vpc("vpc", None, net("10.0.0.0/16")).unwrap();
        let subnet = w
            .create_subnet("s", None, vpc, net("10.0.1.0/24"), None)
            .unwrap();
        let tcp_in = Rule {
            direction: Direction::Ingress,
            action: RuleAction::Allow,
            priority: 1,
            protocol: ProtoMatch::Tcp,
            ports: PortRange::ALL,
            remote: Remote::Cidr(net("10.0.0.0/16")),
            description: String::new(),
        };
        let server = w
            .create_security_group("server", None, vpc, vec![tcp_in, egress()])
            .unwrap();
        let client = if outbound_only {
            w.create_security_group("client", None, vpc, vec![egress()])
                .unwrap()
        } else {
            server
        };
        let mut eni = |name: &str, group: u32| {
            let mut spec = EniSpec {
                name: name.into(),
                subnet,
                security_groups: vec![group],
                ..Default::default()
            };
            spec.host.tcp.extend([22, 8080]);
            Endpoint::Eni(w.create_eni(t0, spec).unwrap())
        };
        let (a, b) = (eni("client", client), eni("server", server));
        w.create_flow_log(
            t0,
            FlowLogSpec {
                window: Some(Span::from_secs(60)),
                ..FlowLogSpec::new("all", Scope::Vpc(vpc))
            },
        )
        .unwrap();
        (Simulation::new(w, t0, 7), a, b, server)
    }

    /// Everything out, first.
    fn egress() -> Rule {
        let mut r = Rule::allow_all(Direction::Egress);
        r.priority = 1;
        r
    }

    fn at(s: f64) -> Time {
        Time::from_micros((T0 as f64 * 1e6 + s * 1e6) as u64)
    }

    fn session(client: Endpoint, server: Endpoint, sport: u16, segments: usize) -> TcpSession {
        TcpSession {
            client,
            server,
            sport,
            dport: 22,
            requests: vec![300],
            responses: vec![1448; segments],
            close: Close::Fin,
            gap: Span::from_millis(10),
            label: 0,
            nat_port: None,
            server_ip: None,
        }
    }

    /// Runs `script` on [`world`] packet by packet and with trains, on aws, huawei and
    /// tencent; asserts the records and the packets sent are the same both ways, and returns
    /// per cloud the events run per packet and with trains.
    fn both_ways(
        outbound_only: bool,
        script: fn(&mut Simulation, Endpoint, Endpoint, u32),
    ) -> Vec<(Provider, u64, u64)> {
        let run = |provider, trains| {
            let (mut sim, a, b, group) = world(provider, outbound_only);
            sim.use_trains(trains);
            script(&mut sim, a, b, group);
            sim.run_to_end().unwrap();
            let records = sim.world.take_records();
            assert!(!records.is_empty(), "{provider}: no records");
            (
                format!("{records:#?}"),
                sim.world.packets_sent(),
                sim.events_run(),
            )
        };
        [Provider::Aws, Provider::Huawei, Provider::Tencent]
            .into_iter()
            .map(|provider| {
                let (per_packet, sent, events) = run(provider, false);
                let (trains, train_sent, train_events) = run(provider, true);
                assert!(
                    per_packet == trains,
                    "{provider}: records differ with trains"
                );
                assert_eq!(sent, train_sent, "{provider}: packets sent");
                // Enough packets for trains to matter (huawei sends fewest: the rule change
                // disconnects the transfer, docs/decisions/huawei-rule-change.md).
                assert!(sent > 1_000, "{provider}: only {sent} packets sent");
                (provider, events, train_events)
            })
            .collect()
    }

    /// Transfers that trains must cut or split.
    #[test]
    fn trains_give_the_records_packet_by_packet_simulation_gives() {
        let events = both_ways(false, |sim, a, b, group| {
            // Across the end of the first window (60 s after the flow log), once between a
            // pair's two packets.
            sim.tcp(at(59.0), session(a, b, 40_000, 400)).unwrap();
            sim.tcp(at(59.945), session(a, b, 40_004, 20)).unwrap();
            // The same connection opened again while the first transfer is still going.
            sim.tcp(at(59.5), session(a, b, 40_000, 50)).unwrap();
            // A transfer during which the server's group loses its inbound rule (huawei: the
            // transfer is disconnected there, both ways).
            sim.tcp(at(100.0), session(a, b, 40_001, 300)).unwrap();
            sim.change_at(
                at(101.004),
                Change::SecurityGroupRules {
                    group,
                    rules: vec![egress()],
                },
            );
            // One left open, ending on a run of pairs; one uploading.
            let mut open = session(b, a, 40_002, 30);
            open.close = Close::Open;
            open.dport = 8080;
            sim.tcp(at(130.0), open).unwrap();
            let mut upload = session(a, b, 40_003, 0);
            upload.requests = vec![1448; 40];
            upload.responses = vec![20];
            sim.tcp(at(150.0), upload).unwrap();
        });
        for (provider, per_packet, trains) in events {
            assert!(
                trains * 2 < per_packet,
                "{provider}: trains ran {trains} events, per packet {per_packet}"
            );
        }
    }

    /// A transfer on a connection a new session reuses right after the last one closed (the
    /// review of the trains found it): the connection stays closed, alive for 10 s after
    /// each packet, and the client's group lets the server's packets in only through it.
    #[test]
    fn a_train_on_a_reused_closed_connection_ends_before_the_connection_would_expire() {
        let events = both_ways(true, |sim, a, b, _| {
            // A short session reset by the client: its connection stays tracked, closed.
            let mut reset = session(a, b, 41_000, 2);
            reset.close = Close::Rst;
            sim.tcp(at(1.0), reset).unwrap();
            // The same ports 1 s later: 1500 pairs (30 s), then one odd segment.
            let mut long = session(a, b, 41_000, 1500);
            long.responses.push(500);
            sim.tcp(at(2.0), long).unwrap();
        });
        for (provider, per_packet, trains) in events {
            assert!(trains * 10 < per_packet, "{provider}: {trains} events");
        }
    }

    #[test]
    fn a_run_of_pairs_is_counted_from_where_it_starts() {
        use super::super::Side::{Client, Server};
        let data = Step::new(Server, 0x18, 1448);
        let ack = Step::new(Client, 0x10, 0);
        let syn = Step::new(Client, 0x02, 0);
        let plan = [syn, data, ack, data, ack, data, ack, ack];
        assert_eq!(pairs_from(&plan, 1), 3);
        assert_eq!(pairs_from(&plan, 3), 2);
        assert_eq!(pairs_from(&plan, 0), 1);
        assert_eq!(pairs_from(&plan, 7), 0);
    }
}
