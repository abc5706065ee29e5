//! The scheduler that owns the virtual clock, and the traffic it plays into a world: pings,
//! TCP sessions (handshake, data, close), UDP exchanges, raw packets and policy changes.
//!
//! Events are ordered by `(time, sequence)` (after turmoil's scheduler), so two events at the
//! same instant run in the order they were scheduled: the same script gives the same packets.
//! Hosts answer on their own (`host`), except inside a TCP session, whose every packet is
//! part of the plan: the plan asks the server host whether it listens, and stops at the first
//! packet that is not delivered (no retransmissions, policy.md §0.1).

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::packet::{L4, Packet, TcpFlags, size};
use crate::policy::{acl, sg};
use crate::time::{Span, Time};
use crate::world::{Endpoint, ModelError, Outcome, World};

/// A change to policy at a point in the script.
#[derive(Clone, Debug)]
pub enum Change {
    SecurityGroupRules { group: u32, rules: Vec<sg::Rule> },
    AclEntries { acl: u32, entries: Vec<acl::Entry> },
    AssociateAcl { subnet: u32, acl: u32 },
    EniSecurityGroups { eni: u32, groups: Vec<u32> },
}

/// How a TCP session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// FIN from the client, FIN from the server, last ACK.
    Fin,
    /// The client resets.
    Rst,
    /// The connection stays open.
    Open,
}

/// A TCP session: handshake, request/response data, close.
#[derive(Clone, Debug)]
pub struct TcpSession {
    pub client: Endpoint,
    pub server: Endpoint,
    pub sport: u16,
    pub dport: u16,
    /// Payload bytes of each client request.
    pub requests: Vec<u16>,
    /// Payload bytes of each server response (paired with requests by position).
    pub responses: Vec<u16>,
    pub close: Close,
    /// Time between consecutive packets.
    pub gap: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    side: Side,
    flags: u8,
    payload: u16,
}

impl Step {
    const fn new(side: Side, flags: u8, payload: u16) -> Step {
        Step {
            side,
            flags,
            payload,
        }
    }
}

#[derive(Clone, Debug)]
struct Session {
    spec: TcpSession,
    plan: Vec<Step>,
    next: usize,
    client_seq: u32,
    server_seq: u32,
    /// The client as the server sees it (address and port after any NAT on the way): where
    /// the server's packets go.
    peer: Option<(std::net::Ipv4Addr, u16)>,
}

/// The parts of a [`TcpSession`] each of its packets needs.
#[derive(Clone, Copy)]
struct Ends {
    client: Endpoint,
    server: Endpoint,
    sport: u16,
    dport: u16,
    gap: Span,
}

#[derive(Clone, Debug)]
enum Event {
    Send {
        from: Endpoint,
        packet: Packet,
        auto_reply: bool,
    },
    SessionStep {
        session: usize,
    },
    Change(Change),
}

/// Something the simulation wants the reader to know that is not a packet (the teaching view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub at: Time,
    pub text: String,
}

/// The world plus its clock and script.
pub struct Simulation {
    pub world: World,
    now: Time,
    seq: u64,
    /// Pending events by (time, sequence): the queue and its contents in one ordered map.
    queue: BTreeMap<(Time, u64), Event>,
    sessions: Vec<Session>,
    rng: ChaCha8Rng,
    /// Delay before a host's automatic answer.
    pub reply_delay: Span,
    keep_outcomes: bool,
    outcomes: Vec<Outcome>,
    notes: Vec<Note>,
}

impl Simulation {
    pub fn new(world: World, start: Time, seed: u64) -> Simulation {
        Simulation {
            world,
            now: start,
            seq: 0,
            queue: BTreeMap::new(),
            sessions: Vec::new(),
            // A stream of its own, so adding traffic never renames resources.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7661_6c61_6273_696d),
            reply_delay: Span::from_millis(1),
            keep_outcomes: false,
            outcomes: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Keep every packet's outcome (for explanations and packet captures).
    pub fn keep_outcomes(&mut self, keep: bool) {
        self.keep_outcomes = keep;
    }

    pub fn now(&self) -> Time {
        self.now
    }

    /// A client's ephemeral port: Linux's range 32768–60999 (policy.md §2), from the seed.
    pub fn ephemeral_port(&mut self) -> u16 {
        self.rng.random_range(32768..=60999)
    }

    /// An ICMP echo identifier, from the seed.
    pub fn echo_ident(&mut self) -> u16 {
        self.rng.random_range(1..=65535)
    }

    fn schedule(&mut self, at: Time, e: Event) {
        let at = at.max(self.now);
        self.seq += 1;
        self.queue.insert((at, self.seq), e);
    }

    /// Sends a packet at `at`; the receiving host answers on its own.
    pub fn send_at(&mut self, at: Time, from: Endpoint, packet: Packet) {
        self.schedule(
            at,
            Event::Send {
                from,
                packet,
                auto_reply: true,
            },
        );
    }

    /// `count` echo requests `interval` apart from `from` to `to`.
    pub fn ping(
        &mut self,
        at: Time,
        from: Endpoint,
        to: Endpoint,
        count: u16,
        interval: Span,
        ident: Option<u16>,
    ) -> Result<(), String> {
        let dst = self.world.address_for(from, to).ok_or_else(|| {
            format!(
                "{} has no address {} can reach (no elastic IP)",
                self.world.endpoint_name(to),
                self.world.endpoint_name(from)
            )
        })?;
        let src = self.world.address(from);
        let ident = ident.unwrap_or_else(|| self.echo_ident());
        for i in 0..count {
            let p = Packet::echo_request(src, dst, ident, i);
            self.send_at(at + interval.times(i as u64), from, p);
        }
        Ok(())
    }

    /// `count` UDP requests of `len` bytes, `interval` apart.
    #[allow(clippy::too_many_arguments)]
    pub fn udp(
        &mut self,
        at: Time,
        from: Endpoint,
        to: Endpoint,
        sport: Option<u16>,
        dport: u16,
        count: u16,
        interval: Span,
        len: u16,
    ) -> Result<(), String> {
        let dst = self
            .world
            .address_for(from, to)
            .ok_or_else(|| format!("{} has no reachable address", self.world.endpoint_name(to)))?;
        let src = self.world.address(from);
        let sport = sport.unwrap_or_else(|| self.ephemeral_port());
        for i in 0..count {
            self.send_at(
                at + interval.times(i as u64),
                from,
                Packet::udp(src, sport, dst, dport, len),
            );
        }
        Ok(())
    }

    /// Starts a TCP session at `at`.
    pub fn tcp(&mut self, at: Time, spec: TcpSession) -> Result<(), String> {
        if self.world.address_for(spec.client, spec.server).is_none() {
            return Err(format!(
                "{} has no reachable address",
                self.world.endpoint_name(spec.server)
            ));
        }
        use Side::{Client, Server};
        const ACK: u8 = TcpFlags::ACK;
        let mut plan = vec![
            Step::new(Client, TcpFlags::SYN, 0),
            Step::new(Server, TcpFlags::SYN | ACK, 0),
            Step::new(Client, ACK, 0),
        ];
        for i in 0..spec.requests.len().max(spec.responses.len()) {
            if let Some(&n) = spec.requests.get(i) {
                plan.extend([
                    Step::new(Client, TcpFlags::PSH | ACK, n),
                    Step::new(Server, ACK, 0),
                ]);
            }
            if let Some(&n) = spec.responses.get(i) {
                plan.extend([
                    Step::new(Server, TcpFlags::PSH | ACK, n),
                    Step::new(Client, ACK, 0),
                ]);
            }
        }
        match spec.close {
            Close::Fin => plan.extend([
                Step::new(Client, TcpFlags::FIN | ACK, 0),
                Step::new(Server, TcpFlags::FIN | ACK, 0),
                Step::new(Client, ACK, 0),
            ]),
            Close::Rst => plan.push(Step::new(Client, TcpFlags::RST, 0)),
            Close::Open => {}
        }
        let session = self.sessions.len();
        let (client_seq, server_seq) = (self.rng.random(), self.rng.random());
        self.sessions.push(Session {
            spec,
            plan,
            next: 0,
            client_seq,
            server_seq,
            peer: None,
        });
        self.schedule(at, Event::SessionStep { session });
        Ok(())
    }

    /// Applies a policy change at `at`.
    pub fn change_at(&mut self, at: Time, change: Change) {
        self.schedule(at, Event::Change(change));
    }

    /// Runs every event due at or before `until`, then moves the clock there.
    pub fn run_until(&mut self, until: Time) -> Result<(), ModelError> {
        while let Some(entry) = self.queue.first_entry() {
            let at = entry.key().0;
            if at > until {
                break;
            }
            let e = entry.remove();
            self.now = at;
            self.handle(e)?;
        }
        self.now = self.now.max(until);
        self.world.advance(self.now);
        Ok(())
    }

    /// Runs the whole script, then closes the flow-log windows that hold its traffic.
    pub fn run_to_end(&mut self) -> Result<Time, ModelError> {
        while let Some((&(at, _), _)) = self.queue.first_key_value() {
            self.run_until(at)?;
        }
        let end = crate::world::live(&self.world.flow_logs)
            .map(|(_, f)| f.collector.current_window_end())
            .max()
            .unwrap_or(self.now)
            .max(self.now);
        self.run_until(end)?;
        Ok(end)
    }

    fn handle(&mut self, e: Event) -> Result<(), ModelError> {
        match e {
            Event::Send {
                from,
                packet,
                auto_reply,
            } => {
                let out = self.transmit(from, packet);
                if auto_reply
                    && let Some((to, delivered)) = out.delivered()
                    && let Some(reply) = self.world.host(to).respond(&delivered)
                {
                    self.schedule(
                        self.now + self.reply_delay,
                        Event::Send {
                            from: to,
                            packet: reply,
                            auto_reply: false,
                        },
                    );
                }
            }
            Event::SessionStep { session } => self.session_step(session),
            Event::Change(c) => {
                let now = self.now;
                match c {
                    Change::SecurityGroupRules { group, rules } => {
                        self.world.set_security_group_rules(now, group, rules)?
                    }
                    Change::AclEntries { acl, entries } => {
                        self.world.set_acl_entries(acl, entries)?
                    }
                    Change::AssociateAcl { subnet, acl } => {
                        self.world.associate_acl(subnet, acl)?
                    }
                    Change::EniSecurityGroups { eni, groups } => {
                        self.world.set_eni_security_groups(now, eni, groups)?
                    }
                }
            }
        }
        Ok(())
    }

    fn transmit(&mut self, from: Endpoint, packet: Packet) -> Outcome {
        let out = self.world.send(self.now, from, packet);
        if self.keep_outcomes {
            self.outcomes.push(out);
        }
        // A NAT gateway answers a packet of a timed-out TCP session with a RST.
        if let Some((nat, rst)) = self.world.nat_reset(&out) {
            self.schedule(
                self.now + self.reply_delay,
                Event::Send {
                    from: nat,
                    packet: rst,
                    auto_reply: false,
                },
            );
        }
        out
    }

    fn session_step(&mut self, s: usize) {
        let sess = &self.sessions[s];
        let Some(&step) = sess.plan.get(sess.next) else {
            return;
        };
        // The session's endpoints, copied: nothing per packet clones its request lists.
        let spec = Ends {
            client: sess.spec.client,
            server: sess.spec.server,
            sport: sess.spec.sport,
            dport: sess.spec.dport,
            gap: sess.spec.gap,
        };
        let (from, to, sport, dport) = match step.side {
            Side::Client => (spec.client, spec.server, spec.sport, spec.dport),
            Side::Server => (spec.server, spec.client, spec.dport, spec.sport),
        };
        // The server answers whom it saw: behind a NAT gateway, the gateway's address and port.
        let (dst, dport) = match (step.side, sess.peer) {
            (Side::Server, Some(peer)) => peer,
            _ => match self.world.address_for(from, to) {
                Some(dst) => (dst, dport),
                None => return,
            },
        };
        // The server's answer to the SYN depends on whether it listens (host behaviour).
        let mut flags = step.flags;
        let mut stop_after = false;
        if step.side == Side::Server
            && step.flags == TcpFlags::SYN | TcpFlags::ACK
            && !self.world.host(spec.server).listens_tcp(spec.dport)
        {
            flags = TcpFlags::RST | TcpFlags::ACK;
            stop_after = true;
        }
        let len = if flags & TcpFlags::SYN != 0 {
            size::TCP_SYN
        } else if flags & TcpFlags::RST != 0 {
            size::TCP_RST
        } else {
            size::TCP_HEADER + step.payload
        };
        let sess = &mut self.sessions[s];
        let (seq, ack) = match step.side {
            Side::Client => (sess.client_seq, sess.server_seq),
            Side::Server => (sess.server_seq, sess.client_seq),
        };
        let advance = step.payload as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        match step.side {
            Side::Client => sess.client_seq = sess.client_seq.wrapping_add(advance),
            Side::Server => sess.server_seq = sess.server_seq.wrapping_add(advance),
        }
        sess.next += 1;
        let src = self.world.address(from);
        let mut p = Packet::tcp(src, sport, dst, dport, flags, len);
        if let L4::Tcp {
            seq: s0, ack: a0, ..
        } = &mut p.l4
        {
            *s0 = seq;
            *a0 = if flags & TcpFlags::ACK != 0 { ack } else { 0 };
        }
        let out = self.transmit(from, p);
        if let (Side::Client, Some((_, seen))) = (step.side, out.delivered())
            && let L4::Tcp { sport, .. } = seen.l4
        {
            self.sessions[s].peer = Some((seen.src, sport));
        }
        let delivered = out.delivered().is_some();
        if !delivered {
            self.notes.push(Note {
                at: self.now,
                text: format!("TCP session {}:{} -> {}: packet #{} was not delivered; the session stops (no retransmissions)", self.world.endpoint_name(spec.client), spec.sport, self.world.endpoint_name(spec.server), out.id),
            });
        }
        if delivered && !stop_after {
            self.schedule(self.now + spec.gap, Event::SessionStep { session: s });
        }
    }

    /// Outcomes kept so far (with `keep_outcomes`).
    pub fn take_outcomes(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.outcomes)
    }

    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }
}
