//! The scheduler that owns the virtual clock, and the traffic it plays into a world: pings,
//! TCP sessions (handshake, data, close), UDP exchanges, raw packets and policy changes.
//!
//! Events are ordered by `(time, sequence)` (after turmoil's scheduler), so two events at the
//! same instant run in the order they were scheduled: the same script gives the same packets.
//! Hosts answer on their own (`host`), except inside a TCP session, whose every packet is
//! part of the plan: the plan asks the server host whether it listens, and stops at the first
//! packet that is not delivered (no retransmissions, policy.md §0.1).
//!
//! Traffic is kept as its description, never as packets: a ping of a million echoes is one
//! queue entry that sends its next packet and schedules the one after, and a finished TCP
//! session is forgotten. Memory follows the flows in progress, not the packets sent or still
//! to send; `pending_packets` says how many the script still holds, for quotas. Each packet
//! of a repeated send keeps the sequence number it would have had if it had been scheduled
//! up front, so lazy generation orders events exactly as eager generation did.
//!
//! Outcomes (for explanations and captures) are kept only on request and only up to a limit:
//! the oldest go first.

use std::collections::{BTreeMap, VecDeque};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::addr::Ipv4Net;
use crate::packet::{L4, Packet, TcpFlags, size};
use crate::policy::{acl, sg};
use crate::time::{Span, Time};
use crate::workload::{Emit, Process};
use crate::world::{Endpoint, ModelError, Outcome, Route, Trace, World};

mod streams;
mod trains;

/// A change to policy or routing at a point in the script, made by the world operation the
/// API's request makes (`Project::apply`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Change {
    SecurityGroupRules {
        group: u32,
        rules: Vec<sg::Rule>,
    },
    AclEntries {
        acl: u32,
        entries: Vec<acl::Entry>,
    },
    AssociateAcl {
        subnet: u32,
        acl: u32,
    },
    EniSecurityGroups {
        eni: u32,
        groups: Vec<u32>,
    },
    /// A VPC route table's routes (EC2 `CreateRoute`, `ReplaceRoute`, `DeleteRoute`).
    AddRoute {
        table: u32,
        route: Route,
    },
    ReplaceRoute {
        table: u32,
        route: Route,
    },
    RemoveRoute {
        table: u32,
        destination: Ipv4Net,
    },
    /// A subnet moves to another route table of its VPC.
    AssociateRouteTable {
        subnet: u32,
        table: u32,
    },
    /// Routes to it become what the profile says (`nat_deleted_routes`).
    DeleteNatGateway {
        nat: u32,
    },
    /// Routes to it become what the profile says (`vpc_peering.deleted_routes`).
    DeleteVpcPeering {
        peering: u32,
    },
    /// A router route table's static routes (`attachment: None`: a blackhole).
    AddRouterRoute {
        table: u32,
        destination: Ipv4Net,
        attachment: Option<u32>,
    },
    ReplaceRouterRoute {
        table: u32,
        destination: Ipv4Net,
        attachment: Option<u32>,
    },
    RemoveRouterRoute {
        table: u32,
        destination: Ipv4Net,
    },
    /// Its static routes become what the profile says (`attachment_deleted_routes`).
    DeleteRouterAttachment {
        attachment: u32,
    },
}

impl Change {
    /// Makes the change at `now` through the world's own operation (which refuses it, naming
    /// the field, when it does not fit the world as it is).
    pub fn apply(self, world: &mut World, now: Time) -> Result<(), ModelError> {
        match self {
            Change::SecurityGroupRules { group, rules } => {
                world.set_security_group_rules(now, group, rules)
            }
            Change::AclEntries { acl, entries } => world.set_acl_entries(acl, entries),
            Change::AssociateAcl { subnet, acl } => world.associate_acl(subnet, acl),
            Change::EniSecurityGroups { eni, groups } => {
                world.set_eni_security_groups(now, eni, groups)
            }
            Change::AddRoute { table, route } => world.add_route(table, route),
            Change::ReplaceRoute { table, route } => world.replace_route(table, route),
            Change::RemoveRoute { table, destination } => world.remove_route(table, destination),
            Change::AssociateRouteTable { subnet, table } => {
                world.associate_route_table(subnet, table)
            }
            Change::DeleteNatGateway { nat } => world.transact(|w| w.delete_nat_gateway(nat, now)),
            Change::DeleteVpcPeering { peering } => world.transact(|w| w.delete_peering(peering)),
            Change::AddRouterRoute {
                table,
                destination,
                attachment,
            } => world.add_router_route(table, destination, attachment),
            Change::ReplaceRouterRoute {
                table,
                destination,
                attachment,
            } => world.replace_router_route(table, destination, attachment),
            Change::RemoveRouterRoute { table, destination } => {
                world.remove_router_route(table, destination)
            }
            Change::DeleteRouterAttachment { attachment } => {
                world.transact(|w| w.delete_router_attachment(attachment, now))
            }
        }
    }
}

/// How a TCP session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Close {
    /// FIN from the client, FIN from the server, last ACK.
    Fin,
    /// The client resets.
    Rst,
    /// The connection stays open.
    Open,
}

/// A TCP session: handshake, request/response data, close.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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
    /// What the session is (0: unlabelled or benign; a workload numbers its incidents):
    /// every one of its packets carries it.
    #[serde(default)]
    pub label: u32,
    /// The NAT port its SYN asks for if it opens a NAT gateway session (drawn as usual when
    /// `None` or taken; see `World::pin_nat_port`).
    #[serde(default)]
    pub nat_port: Option<u16>,
    /// The address the client reaches the server at, when not the one
    /// [`World::address_for`] gives: one of the server's secondary private IPs, say. The
    /// server answers from it when it is one of its own private addresses.
    #[serde(default)]
    pub server_ip: Option<std::net::Ipv4Addr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Side {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Session {
    spec: TcpSession,
    plan: Vec<Step>,
    next: usize,
    client_seq: u32,
    server_seq: u32,
    /// The client as the server sees it (address and port after any NAT on the way): where
    /// the server's packets go.
    peer: Option<(std::net::Ipv4Addr, u16)>,
    /// Trains (`trains`): the run of repeated pairs holding `next` (start, end) when known,
    /// the first pair's traced packet (its step, trace, connection and epoch), and whether the
    /// session's path rules trains out.
    #[serde(skip)]
    run: (usize, usize),
    #[serde(skip)]
    traced: Option<(usize, Trace, u128, trains::Epoch)>,
    #[serde(skip)]
    no_trains: bool,
}

/// The parts of a [`TcpSession`] each of its packets needs.
#[derive(Clone, Copy)]
struct Ends {
    client: Endpoint,
    server: Endpoint,
    sport: u16,
    dport: u16,
    gap: Span,
    label: u32,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
enum Event {
    /// One packet. `scripted` packets count as pending until sent; hosts' answers do not.
    Send {
        from: Endpoint,
        packet: Packet,
        auto_reply: bool,
        scripted: bool,
        /// A host's answer carries the label of what it answers.
        label: u32,
    },
    /// Packet `i` of `count` copies of `packet` (ICMP sequence numbers counting up from the
    /// first), `interval` apart from `start`; sending one schedules the next.
    Repeat(Box<Repeat>),
    SessionStep {
        session: u64,
    },
    Change(Change),
    /// The next arrival of workload process `process`.
    Arrival {
        process: u32,
    },
    /// The last packet of a session's train is due: count the train (`trains`).
    TrainEnd {
        session: u64,
    },
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Repeat {
    from: Endpoint,
    packet: Packet,
    start: Time,
    interval: Span,
    i: u16,
    count: u16,
    /// The sequence number of packet 0; packet `i` runs as `first_seq + i`.
    first_seq: u64,
    label: u32,
}

/// Something the simulation wants the reader to know that is not a packet (the teaching view).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    pub at: Time,
    /// The packet it is about, if any (so that an explanation filtered to some packets keeps
    /// their notes).
    pub packet: Option<u64>,
    pub text: String,
}

/// The world plus its clock and script. Serialized whole for snapshots: the queue holds
/// traffic as its description, so a snapshot's size follows the flows in progress and the
/// outcomes kept, never the packets still to send.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Simulation {
    pub world: World,
    now: Time,
    seq: u64,
    /// Pending events by (time, sequence): the queue and its contents in one ordered map.
    queue: BTreeMap<(Time, u64), Event>,
    /// TCP sessions in progress, by number; a session is dropped when its plan ends.
    sessions: BTreeMap<u64, Session>,
    next_session: u64,
    /// Scripted packets not sent yet.
    pending: u64,
    rng: ChaCha8Rng,
    /// Delay before a host's automatic answer.
    pub reply_delay: Span,
    /// How many outcomes to keep (0: none).
    keep_outcomes: usize,
    outcomes: VecDeque<Outcome>,
    /// Notes kept (the oldest go first past `keep_outcomes`, so they stay bounded too).
    notes: VecDeque<Note>,
    /// Workload processes (`workload`): each has at most one arrival in the queue.
    processes: Vec<Process>,
    /// Events run by this process (a statistic for benchmarks, not state: a restored
    /// snapshot counts from 0).
    #[serde(skip)]
    events_run: u64,
    /// Packet trains (`trains`): on or off, those in flight by session, their sessions by
    /// connection, and the end of the run asked for (`step`'s `until`). None is in flight
    /// between runs, so none is saved.
    #[serde(skip)]
    trains_on: bool,
    #[serde(skip)]
    trains: BTreeMap<u64, trains::Train>,
    #[serde(skip)]
    train_keys: trains::Keys,
    #[serde(skip)]
    horizon: Time,
    /// Policy changes applied so far (a trace taken before one is stale).
    #[serde(skip)]
    changes_applied: u64,
    /// Sequence numbers of TCP segments sent outside sessions (`streams`).
    streams: streams::Streams,
}

impl Simulation {
    pub fn new(world: World, start: Time, seed: u64) -> Simulation {
        Simulation {
            world,
            now: start,
            seq: 0,
            queue: BTreeMap::new(),
            sessions: BTreeMap::new(),
            next_session: 0,
            pending: 0,
            // A stream of its own, so adding traffic never renames resources.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7661_6c61_6273_696d),
            reply_delay: Span::from_millis(1),
            keep_outcomes: 0,
            outcomes: VecDeque::new(),
            notes: VecDeque::new(),
            processes: Vec::new(),
            events_run: 0,
            trains_on: false,
            trains: BTreeMap::new(),
            train_keys: trains::Keys::default(),
            horizon: start,
            changes_applied: 0,
            streams: streams::Streams::new(seed),
        }
    }

    /// Adds a workload process: its arrivals run from its start to its end, each sending
    /// what the process draws, labelled with its label.
    pub fn add_process(&mut self, mut p: Process) {
        let index = self.processes.len() as u32;
        if let Some(at) = p.first() {
            self.schedule(at, Event::Arrival { process: index });
        }
        self.processes.push(p);
    }

    /// Arrivals of workload processes so far, all processes together.
    pub fn arrivals(&self) -> u64 {
        self.processes.iter().map(|p| p.sent).sum()
    }

    /// Events run since this simulation was created or restored: each packet sent from the
    /// queue, each step of a TCP session, each arrival of a workload process, each change.
    pub fn events_run(&self) -> u64 {
        self.events_run
    }

    /// Keep the outcomes of the last `limit` packets (for explanations and packet captures;
    /// `usize::MAX` keeps all, 0 none), and as many notes.
    pub fn keep_outcomes(&mut self, limit: usize) {
        self.keep_outcomes = limit;
        trim(&mut self.outcomes, limit);
        trim(&mut self.notes, limit);
    }

    /// Outcomes kept, oldest first.
    pub fn outcomes(&self) -> impl DoubleEndedIterator<Item = &Outcome> + ExactSizeIterator {
        self.outcomes.iter()
    }

    /// Scripted packets not sent yet (hosts' answers are not counted: each packet has at most
    /// one).
    pub fn pending_packets(&self) -> u64 {
        self.pending
    }

    /// Forgets every scripted packet and TCP session not sent yet (policy changes stay).
    /// Returns how many packets were dropped.
    pub fn drop_pending_traffic(&mut self) -> u64 {
        // What trains would have sent by now is sent; the rest goes with the sessions.
        let sessions: Vec<u64> = self.trains.keys().copied().collect();
        for s in sessions {
            self.end_train(s, Some(self.now));
        }
        self.queue.retain(|_, e| matches!(e, Event::Change(_)));
        self.sessions.clear();
        self.train_keys.clear();
        std::mem::take(&mut self.pending)
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
        self.seq += 1;
        self.schedule_as(at, self.seq, e);
    }

    /// Schedules `e` under a sequence number reserved earlier.
    fn schedule_as(&mut self, at: Time, seq: u64, e: Event) {
        self.queue.insert((at.max(self.now), seq), e);
    }

    /// Sends a packet at `at`; the receiving host answers on its own.
    pub fn send_at(&mut self, at: Time, from: Endpoint, packet: Packet) {
        self.repeat(at, from, packet, 1, Span::ZERO);
    }

    /// Sends `count` copies of `packet`, `interval` apart from `at`; ICMP sequence numbers
    /// count up from the first packet's. Receiving hosts answer on their own. Costs one queue
    /// entry whatever `count` is.
    pub fn repeat(&mut self, at: Time, from: Endpoint, packet: Packet, count: u16, interval: Span) {
        self.repeat_labelled(at, from, packet, count, interval, 0);
    }

    /// [`Simulation::repeat`] of packets that carry `label` (their answers too).
    pub fn repeat_labelled(
        &mut self,
        at: Time,
        from: Endpoint,
        packet: Packet,
        count: u16,
        interval: Span,
        label: u32,
    ) {
        if count == 0 {
            return;
        }
        // Reserve the sequence numbers eager scheduling would have used.
        let first_seq = self.seq + 1;
        self.seq += u64::from(count);
        self.pending += u64::from(count);
        let r = Repeat {
            from,
            packet,
            start: at,
            interval,
            i: 0,
            count,
            first_seq,
            label,
        };
        self.schedule_as(at, first_seq, Event::Repeat(Box::new(r)));
    }

    /// `count` echo requests `interval` apart from `from` to `to`.
    #[allow(clippy::too_many_arguments)]
    pub fn ping(
        &mut self,
        at: Time,
        from: Endpoint,
        to: Endpoint,
        count: u16,
        interval: Span,
        ident: Option<u16>,
        ttl: Option<u8>,
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
        let mut first = Packet::echo_request(src, dst, ident, 0);
        first.ttl = ttl.unwrap_or(first.ttl);
        self.repeat(at, from, first, count, interval);
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
        ttl: Option<u8>,
    ) -> Result<(), String> {
        let dst = self
            .world
            .address_for(from, to)
            .ok_or_else(|| format!("{} has no reachable address", self.world.endpoint_name(to)))?;
        let src = self.world.address(from);
        let sport = sport.unwrap_or_else(|| self.ephemeral_port());
        let mut packet = Packet::udp(src, sport, dst, dport, len);
        packet.ttl = ttl.unwrap_or(packet.ttl);
        self.repeat(at, from, packet, count, interval);
        Ok(())
    }

    /// Starts a TCP session at `at`.
    pub fn tcp(&mut self, at: Time, spec: TcpSession) -> Result<(), String> {
        match spec.server_ip {
            Some(ip) if self.world.resolve(spec.client, ip) != Some(spec.server) => {
                return Err(format!(
                    "{ip} is not an address of {} that {} reaches",
                    self.world.endpoint_name(spec.server),
                    self.world.endpoint_name(spec.client)
                ));
            }
            Some(_) => {}
            None if self.world.address_for(spec.client, spec.server).is_none() => {
                return Err(format!(
                    "{} has no reachable address",
                    self.world.endpoint_name(spec.server)
                ));
            }
            None => {}
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
        let session = self.next_session;
        self.next_session += 1;
        self.pending += plan.len() as u64;
        let (client_seq, server_seq) = (self.rng.random(), self.rng.random());
        self.sessions.insert(
            session,
            Session {
                spec,
                plan,
                next: 0,
                client_seq,
                server_seq,
                peer: None,
                run: (0, 0),
                traced: None,
                no_trains: false,
            },
        );
        self.schedule(at, Event::SessionStep { session });
        Ok(())
    }

    /// Applies a policy change at `at`.
    pub fn change_at(&mut self, at: Time, change: Change) {
        self.schedule(at, Event::Change(change));
    }

    /// Runs the events of the next instant due at or before `until` (with those scheduled for
    /// that same instant while it runs) and moves the clock there; false, doing nothing, when
    /// no event is due by `until`. Windows ending on the way close as packets are sent
    /// ([`World::send`]); [`Simulation::run_until`] closes the rest. Stepping lets a caller
    /// take the outcomes and notes of each instant as it goes (streamed explanations), so
    /// they need not be kept for the whole run.
    pub fn step(&mut self, until: Time) -> Result<bool, ModelError> {
        let at = match self.queue.first_key_value() {
            Some((&(at, _), _)) if at <= until => at,
            _ => return Ok(false),
        };
        self.now = at;
        self.horizon = until;
        // Events scheduled while this instant runs can only be due now or later (`schedule_as`
        // never goes back in time): those due now run in this step, in sequence order.
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 != at {
                break;
            }
            let e = entry.remove();
            self.events_run += 1;
            self.handle(e)?;
        }
        Ok(true)
    }

    /// Runs every event due at or before `until`, then moves the clock there.
    pub fn run_until(&mut self, until: Time) -> Result<(), ModelError> {
        while self.step(until)? {}
        self.now = self.now.max(until);
        self.world.advance(self.now);
        Ok(())
    }

    /// One instant of [`Simulation::run_to_end`]: its events, then the windows that ended by
    /// then. False when the script is over (then [`Simulation::close_windows`] ends the run).
    pub fn step_script(&mut self) -> Result<bool, ModelError> {
        self.step_script_until(Time(u64::MAX))
    }

    /// [`Simulation::step_script`] of an instant due at or before `until` (false when there
    /// is none); no packet train reaches past `until` either.
    pub fn step_script_until(&mut self, until: Time) -> Result<bool, ModelError> {
        if !self.step(until)? {
            return Ok(false);
        }
        self.world.advance(self.now);
        Ok(true)
    }

    /// Once the script is over: closes the flow-log windows that hold its traffic, and
    /// returns the instant that took.
    pub fn close_windows(&mut self) -> Result<Time, ModelError> {
        let end = crate::world::live(&self.world.flow_logs)
            .map(|(_, f)| f.collector.current_window_end())
            .max()
            .unwrap_or(self.now)
            .max(self.now);
        self.run_until(end)?;
        Ok(end)
    }

    /// Runs the whole script, then closes the flow-log windows that hold its traffic.
    pub fn run_to_end(&mut self) -> Result<Time, ModelError> {
        while self.step_script()? {}
        self.close_windows()
    }

    fn handle(&mut self, e: Event) -> Result<(), ModelError> {
        match e {
            Event::Send {
                from,
                packet,
                auto_reply,
                scripted,
                label,
            } => {
                if scripted {
                    self.pending -= 1;
                }
                self.send(from, packet, auto_reply, label);
            }
            Event::Repeat(mut r) => {
                self.pending -= 1;
                let packet = r.packet.nth(r.i);
                r.i += 1;
                if r.i < r.count {
                    let at = r.start + r.interval.times(u64::from(r.i));
                    let seq = r.first_seq + u64::from(r.i);
                    let (from, label) = (r.from, r.label);
                    self.schedule_as(at, seq, Event::Repeat(r));
                    self.send(from, packet, true, label);
                } else {
                    self.send(r.from, packet, true, r.label);
                }
            }
            Event::SessionStep { session } => self.session_step(session),
            Event::Arrival { process } => self.arrival(process),
            Event::TrainEnd { session } => self.end_train(session, None),
            Event::Change(c) => {
                // Trains were counted as if policy stayed: those in flight stop here.
                self.cut_trains();
                self.changes_applied += 1;
                c.apply(&mut self.world, self.now)?;
            }
        }
        Ok(())
    }

    /// Sends one packet; with `auto_reply` the receiving host answers on its own.
    fn send(&mut self, from: Endpoint, mut packet: Packet, auto_reply: bool, label: u32) {
        self.streams.number(from, &mut packet);
        let out = self.transmit(from, packet, label);
        if let Some((to, seen)) = out.delivered() {
            self.streams.delivered(from, &packet, to, &seen);
        }
        if auto_reply
            && let Some((to, delivered)) = out.delivered()
            && let Some(reply) = self.world.host(to).respond(&delivered)
        {
            self.answer(to, reply, label);
        }
    }

    /// A packet a host or gateway sends on its own, `reply_delay` from now, labelled as what
    /// it answers.
    fn answer(&mut self, from: Endpoint, packet: Packet, label: u32) {
        self.schedule(
            self.now + self.reply_delay,
            Event::Send {
                from,
                packet,
                auto_reply: false,
                scripted: false,
                label,
            },
        );
    }

    fn transmit(&mut self, from: Endpoint, packet: Packet, label: u32) -> Outcome {
        self.transmit_traced(from, packet, label, None, false).0
    }

    /// [`Simulation::transmit`] of a packet of TCP session `session`, if any, with the
    /// world's trace of the trip when `trace` (trains).
    fn transmit_traced(
        &mut self,
        from: Endpoint,
        packet: Packet,
        label: u32,
        session: Option<u64>,
        trace: bool,
    ) -> (Outcome, Option<Trace>) {
        // Another packet of a connection whose train is in flight: the train stops here.
        self.cut_train_of(&packet, session);
        let (out, trace) = if trace {
            let (out, t) = self.world.send_traced(self.now, from, packet, label);
            (out, Some(t))
        } else {
            (
                self.world.send_labelled(self.now, from, packet, label),
                None,
            )
        };
        self.kept(out);
        for (from, answer) in self.gateway_answers(&out).into_iter().flatten() {
            self.answer(from, answer, label);
        }
        (out, trace)
    }

    /// Keeps `out` among the outcomes, if they are kept.
    fn kept(&mut self, out: Outcome) {
        if self.keep_outcomes > 0 {
            if self.outcomes.len() == self.keep_outcomes {
                self.outcomes.pop_front();
            }
            self.outcomes.push_back(out);
        }
    }

    /// What the cloud's own devices answer to a packet: a NAT gateway a packet of a timed-out
    /// TCP session with a RST, a hop where its TTL expired with time-exceeded, a hop it did
    /// not fit with fragmentation-needed.
    fn gateway_answers(&mut self, out: &Outcome) -> [Option<(Endpoint, Packet)>; 2] {
        [self.world.nat_reset(out), self.world.hop_error(out)]
    }

    /// When the next event is due (a scripted packet, a session's step, a workload's
    /// arrival, a change), if any: live mode sleeps until then or until a real packet comes.
    pub fn next_due(&self) -> Option<Time> {
        self.queue.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Sends a packet from outside the script, now: live mode's real datagrams, sent by real
    /// hosts, which number them and answer them themselves. So its IPv4 identification is
    /// kept and its receiver does not answer on its own, unless the receiver is a service of
    /// the cloud ([`Endpoint::Service`], always simulated). What the cloud's devices and
    /// services answer is sent at once rather than `reply_delay` later, so the caller can hand
    /// it on in the same breath. Returns the outcome of the packet, then of each answer.
    ///
    /// Run the events due by now first (`run_until`): the clock never goes back.
    pub fn inject(&mut self, from: Endpoint, packet: Packet) -> Vec<Outcome> {
        let mut sent = Vec::new();
        let mut next = Some((from, packet));
        // A packet, its answer, and the answer's answer at most: an ICMP error is never
        // answered (RFC 1122 §3.2.2), so the chain ends there.
        for _ in 0..3 {
            let Some((from, packet)) = next.take() else {
                break;
            };
            self.cut_train_of(&packet, None);
            let out = self.world.send_as_is(self.now, from, packet);
            self.kept(out);
            let mut answers: Vec<(Endpoint, Packet)> =
                self.gateway_answers(&out).into_iter().flatten().collect();
            if let Some((to @ Endpoint::Service { .. }, delivered)) = out.delivered()
                && let Some(reply) = self.world.host(to).respond(&delivered)
            {
                answers.push((to, reply));
            }
            sent.push(out);
            // One packet has one answer at most: a device's or a service's.
            next = answers.into_iter().next();
        }
        sent
    }

    fn session_step(&mut self, s: u64) {
        let tracing = self.trains_on && self.keep_outcomes == 0;
        let Some(sess) = self.sessions.get_mut(&s) else {
            return;
        };
        let trace = tracing && trains::wants_trace(sess, &mut self.train_keys);
        let sess = &*sess;
        let Some(&step) = sess.plan.get(sess.next) else {
            self.sessions.remove(&s);
            return;
        };
        // The session's endpoints, copied: nothing per packet clones its request lists.
        let nat_port = sess.spec.nat_port;
        let spec = Ends {
            client: sess.spec.client,
            server: sess.spec.server,
            sport: sess.spec.sport,
            dport: sess.spec.dport,
            gap: sess.spec.gap,
            label: sess.spec.label,
        };
        let (from, to, sport, dport) = match step.side {
            Side::Client => (spec.client, spec.server, spec.sport, spec.dport),
            Side::Server => (spec.server, spec.client, spec.dport, spec.sport),
        };
        // The server answers whom it saw: behind a NAT gateway, the gateway's address and port.
        let server_ip = sess.spec.server_ip;
        let (dst, dport) = match (step.side, sess.peer, server_ip) {
            (Side::Server, Some(peer), _) => peer,
            (Side::Client, _, Some(ip)) => (ip, dport),
            _ => match self.world.address_for(from, to) {
                Some(dst) => (dst, dport),
                None => {
                    self.end_session(s);
                    return;
                }
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
        let Some(sess) = self.sessions.get_mut(&s) else {
            return;
        };
        let (seq, ack) = match step.side {
            Side::Client => (sess.client_seq, sess.server_seq),
            Side::Server => (sess.server_seq, sess.client_seq),
        };
        let advance = step.payload as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        match step.side {
            Side::Client => sess.client_seq = sess.client_seq.wrapping_add(advance),
            Side::Server => sess.server_seq = sess.server_seq.wrapping_add(advance),
        }
        let index = sess.next;
        sess.next += 1;
        let finished = sess.next == sess.plan.len();
        self.pending -= 1;
        // The server answers from the address the client reached, if it is one of its own.
        let src = match (step.side, server_ip, spec.server) {
            (Side::Server, Some(ip), Endpoint::Eni(e)) if self.world.holds_private_ip(e, ip) => ip,
            _ => self.world.address(from),
        };
        let mut p = Packet::tcp(src, sport, dst, dport, flags, len);
        if let L4::Tcp {
            seq: s0, ack: a0, ..
        } = &mut p.l4
        {
            *s0 = seq;
            *a0 = if flags & TcpFlags::ACK != 0 { ack } else { 0 };
        }
        // A pinned NAT port is for the session's first packet, the SYN that opens it.
        let pin = if index == 0 { nat_port } else { None };
        self.world.pin_nat_port(pin);
        let (out, trace) = self.transmit_traced(from, p, spec.label, Some(s), trace);
        self.world.pin_nat_port(None);
        if let (Side::Client, Some((_, seen))) = (step.side, out.delivered())
            && let L4::Tcp { sport, .. } = seen.l4
            && let Some(sess) = self.sessions.get_mut(&s)
        {
            sess.peer = Some((seen.src, sport));
        }
        let delivered = out.delivered().is_some();
        if !delivered {
            self.note(Some(out.id), format!(
                "TCP session {}:{} -> {}: packet #{} was not delivered; the session stops (no retransmissions)",
                self.world.endpoint_name(spec.client),
                spec.sport,
                self.world.endpoint_name(spec.server),
                out.id
            ));
        }
        if delivered && !stop_after && !finished {
            if let Some(trace) = trace {
                self.traced(s, index, trace, &p);
            }
            // A train started now sends the session on when it ends.
            if !self.trains.contains_key(&s) {
                self.schedule(self.now + spec.gap, Event::SessionStep { session: s });
            }
        } else {
            self.end_session(s);
        }
    }

    /// Sends what workload process `i` draws now, and schedules its next arrival.
    fn arrival(&mut self, i: u32) {
        let Some(p) = self.processes.get_mut(i as usize) else {
            return;
        };
        let label = p.label;
        let emit = p.emit();
        if let Some(at) = p.next(self.now) {
            self.schedule(at, Event::Arrival { process: i });
        }
        let now = self.now;
        // A pick the world cannot route (no address the client can reach) sends nothing:
        // the loader checks the processes it builds, so this only skips odd draws.
        let _ = match emit {
            Some(Emit::Tcp {
                client,
                server,
                sport,
                dport,
                requests,
                responses,
                close,
                gap,
            }) => self.tcp(
                now,
                TcpSession {
                    client,
                    server,
                    sport,
                    dport,
                    requests,
                    responses,
                    close,
                    gap,
                    label,
                    nat_port: None,
                    server_ip: None,
                },
            ),
            Some(Emit::Udp {
                client,
                server,
                sport,
                dport,
                size,
                count,
            }) => self.labelled(client, server, label, |src, dst| {
                (
                    Packet::udp(src, sport, dst, dport, size),
                    count,
                    Span::from_millis(20),
                )
            }),
            Some(Emit::Ping {
                client,
                server,
                ident,
                count,
            }) => self.labelled(client, server, label, |src, dst| {
                (
                    Packet::echo_request(src, dst, ident, 0),
                    count,
                    Span::from_secs(1),
                )
            }),
            Some(Emit::ForgedSyn {
                from,
                src,
                sport,
                target,
                dport,
            }) => self.labelled(from, target, label, |_, dst| {
                (
                    Packet::tcp(src, sport, dst, dport, TcpFlags::SYN, size::TCP_SYN),
                    1,
                    Span::ZERO,
                )
            }),
            None => Ok(()),
        };
    }

    /// Sends the packets `make` builds from the client's address and the server's address as
    /// the client reaches it, labelled.
    fn labelled(
        &mut self,
        client: Endpoint,
        server: Endpoint,
        label: u32,
        make: impl FnOnce(std::net::Ipv4Addr, std::net::Ipv4Addr) -> (Packet, u16, Span),
    ) -> Result<(), String> {
        let dst = self.world.address_for(client, server).ok_or_else(|| {
            format!(
                "{} has no reachable address",
                self.world.endpoint_name(server)
            )
        })?;
        let (packet, count, interval) = make(self.world.address(client), dst);
        self.repeat_labelled(self.now, client, packet, count, interval, label);
        Ok(())
    }

    /// Forgets a session; the packets its plan still held are no longer pending.
    fn end_session(&mut self, s: u64) {
        if let Some(sess) = self.sessions.remove(&s) {
            self.pending -= (sess.plan.len() - sess.next) as u64;
            if let Some((.., key, _)) = sess.traced {
                self.train_keys.remove(key);
            }
        }
    }

    fn note(&mut self, packet: Option<u64>, text: String) {
        if self.keep_outcomes == 0 {
            return;
        }
        if self.notes.len() == self.keep_outcomes {
            self.notes.pop_front();
        }
        self.notes.push_back(Note {
            at: self.now,
            packet,
            text,
        });
    }

    /// Outcomes kept so far (with `keep_outcomes`), oldest first.
    pub fn take_outcomes(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.outcomes).into()
    }

    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes).into()
    }
}

/// Drops the oldest entries past `limit`.
fn trim<T>(q: &mut VecDeque<T>, limit: usize) {
    let excess = q.len().saturating_sub(limit);
    q.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Ipv4Net;
    use crate::profile::{Profile, Provider};
    use crate::world::{Config, EniSpec};

    /// Two interfaces of one subnet whose group allows everything both ways.
    fn pair() -> (Simulation, Endpoint, Endpoint) {
        let mut w = World::new(Config::new(Profile::of(Provider::Aws)));
        let t0 = Time::from_secs(1_700_000_000);
        let net = |s: &str| Ipv4Net::parse_strict(s).unwrap();
        let vpc = w.create_vpc("vpc", None, net("10.0.0.0/16")).unwrap();
        let subnet = w
            .create_subnet("s", None, vpc, net("10.0.1.0/24"), None)
            .unwrap();
        let sg = w
            .create_security_group("open", None, vpc, sg::Rule::allow_everything())
            .unwrap();
        let mut eni = |name: &str| {
            let spec = EniSpec {
                name: name.into(),
                subnet,
                security_groups: vec![sg],
                ..Default::default()
            };
            Endpoint::Eni(w.create_eni(t0, spec).unwrap())
        };
        let (a, b) = (eni("a"), eni("b"));
        (Simulation::new(w, t0, 7), a, b)
    }

    /// An SSH session from `sport`: three 100-byte requests, three 200-byte responses, a
    /// packet every millisecond, closed by FIN.
    fn ssh(client: Endpoint, server: Endpoint, sport: u16) -> TcpSession {
        TcpSession {
            client,
            server,
            sport,
            dport: 22,
            requests: vec![100; 3],
            responses: vec![200; 3],
            close: Close::Fin,
            gap: Span::from_millis(1),
            label: 0,
            nat_port: None,
            server_ip: None,
        }
    }

    #[test]
    fn a_long_ping_is_one_queue_entry_until_sent() {
        let (mut sim, a, b) = pair();
        let t0 = sim.now();
        sim.ping(t0, a, b, 65_535, Span::from_millis(10), Some(1), None)
            .unwrap();
        sim.udp(
            t0,
            b,
            a,
            Some(5000),
            53,
            1_000,
            Span::from_millis(10),
            64,
            None,
        )
        .unwrap();
        assert_eq!(sim.pending_packets(), 66_535);
        assert_eq!(sim.queue.len(), 2, "described, not materialised");
        sim.run_until(t0 + Span::from_secs(5)).unwrap();
        // 501 echoes (0 s to 5 s inclusive) and 501 datagrams sent; replies are not pending.
        assert_eq!(sim.pending_packets(), 66_535 - 1_002);
        assert!(sim.queue.len() <= 4, "{} entries", sim.queue.len());
        assert_eq!(sim.drop_pending_traffic(), 66_535 - 1_002);
        assert_eq!(sim.pending_packets(), 0);
        assert!(sim.queue.is_empty());
    }

    #[test]
    fn outcomes_keep_only_the_most_recent() {
        let (mut sim, a, b) = pair();
        sim.keep_outcomes(10);
        let t0 = sim.now();
        sim.ping(t0, a, b, 100, Span::from_secs(1), Some(1), None)
            .unwrap();
        sim.run_until(t0 + Span::from_secs(200)).unwrap();
        let kept: Vec<u64> = sim.outcomes().map(|o| o.id).collect();
        assert_eq!(kept.len(), 10);
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "oldest first");
        // 100 echoes and 100 replies: the last ten of 200.
        assert_eq!(kept[9] - kept[0], 9);
        assert_eq!(sim.take_outcomes().len(), 10);
    }

    /// Stepping instant by instant (as streamed explanations do) sends the same packets, in
    /// the same order, at the same instants, as running the whole script.
    #[test]
    fn stepping_sends_what_running_sends() {
        let script = |sim: &mut Simulation, a, b| {
            let t0 = sim.now();
            sim.ping(t0, a, b, 50, Span::from_millis(3), Some(1), None)
                .unwrap();
            sim.udp(t0, b, a, Some(5000), 53, 20, Span::from_millis(5), 64, None)
                .unwrap();
            sim.tcp(t0, ssh(a, b, 40_000)).unwrap();
        };
        let (mut whole, a, b) = pair();
        whole.keep_outcomes(usize::MAX);
        script(&mut whole, a, b);
        let end = whole.run_to_end().unwrap();
        let (mut stepped, a, b) = pair();
        stepped.keep_outcomes(usize::MAX);
        script(&mut stepped, a, b);
        let mut seen = Vec::new();
        while stepped.step_script().unwrap() {
            let now = stepped.now();
            let instant = stepped.take_outcomes();
            assert!(instant.iter().all(|o| o.at == now), "one instant per step");
            seen.extend(instant);
        }
        assert_eq!(stepped.close_windows().unwrap(), end);
        let whole = whole.take_outcomes();
        assert_eq!(seen.len(), whole.len());
        assert_eq!(format!("{seen:?}"), format!("{whole:?}"));
    }

    #[test]
    fn a_finished_tcp_session_is_forgotten() {
        let (mut sim, a, b) = pair();
        let t0 = sim.now();
        for i in 0..100 {
            sim.tcp(t0, ssh(a, b, 40_000 + i)).unwrap();
        }
        // 3 handshake + 12 data + 3 close packets each.
        assert_eq!(sim.pending_packets(), 100 * 18);
        sim.run_until(t0 + Span::from_secs(10)).unwrap();
        assert_eq!(sim.pending_packets(), 0);
        assert!(sim.sessions.is_empty());
    }
}
