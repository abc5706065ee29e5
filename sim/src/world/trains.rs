//! What a packet train needs from the world (issue 9): send one packet while noting every
//! piece of state its trip touched ([`World::send_traced`]), then count `n` more packets
//! exactly like it without running the pipeline again ([`World::send_again`]).
//!
//! A trace is *repeatable* when an identical packet sent right after would be decided alike
//! and touch only what the trace names: its tracked connections (whose expiry moves on) and
//! its flow-log entries (whose counters grow). Anything else makes it unrepeatable: a
//! connection opened by the packet (the next one would find it, a different decision), a
//! counter kept with a connection ([`Partial`]s), a bandwidth bucket, a NAT gateway, a router
//! or a CCN on the way (state of their own), or captured packets (each needs its own copy).
//! What lies *between* the packets of a train (rule changes, window ends, other traffic on
//! the same connection) is the simulation's to rule out: see `simulation::Train`.

use super::{Outcome, World};
use crate::conntrack::Zone;
use crate::packet::Packet;
use crate::time::Time;

/// What one packet's trip through the world touched.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    on: bool,
    unrepeatable: bool,
    /// Tracked connections the packet found, with the packet as that zone saw it.
    zones: Vec<(Zone, Packet)>,
    /// The earliest expiry of those connections, as the packet left them: a train's packets
    /// must all come before it (a connection in a short-lived state, such as a closed one a
    /// new session reuses, lives on only through packets that keep refreshing it).
    expires: Option<Time>,
    /// Flow-log entries that counted it: (flow log, slot, bytes, TCP flags).
    slots: Vec<(u32, u32, u16, crate::packet::TcpFlags)>,
    /// The endpoint that sent it: the train's packets use up its IPv4 identifications.
    sender: Option<crate::world::Endpoint>,
}

impl Trace {
    /// Would `n` more identical packets, right after this one, be decided alike and touch
    /// only what this trace names?
    pub fn repeatable(&self) -> bool {
        !self.unrepeatable
    }

    /// The earliest expiry of the connections the packet found, if it found any.
    pub fn expires(&self) -> Option<Time> {
        self.expires
    }

    /// While tracing: the packet touched state a train cannot repeat.
    #[inline]
    pub(super) fn unrepeat(&mut self) {
        self.unrepeatable = true;
    }
}

impl World {
    /// [`World::send_labelled`], noting what the packet touched for [`World::send_again`].
    pub fn send_traced(
        &mut self,
        now: Time,
        from: crate::world::Endpoint,
        packet: Packet,
        label: u32,
    ) -> (Outcome, Trace) {
        self.trace = Trace {
            on: true,
            unrepeatable: self.captures.is_some(),
            ..Trace::default()
        };
        let out = self.send_labelled(now, from, packet, label);
        let mut trace = std::mem::take(&mut self.trace);
        trace.on = false;
        trace.sender = Some(from);
        if out.nat.is_some()
            || out.router.is_some()
            || out.peer_router.is_some()
            || out.ccn.is_some()
            || out.delivered().is_none()
        {
            trace.unrepeatable = true;
        }
        (out, trace)
    }

    /// Counts `n` more packets exactly as the traced one was counted, the last of them sent
    /// at `last`: their connections are refreshed as of `last`, their flow-log entries grow
    /// by `n` packets. The caller knows that nothing in between could decide them otherwise.
    pub fn send_again(&mut self, trace: &Trace, n: u64, last: Time, label: u32) {
        debug_assert!(trace.repeatable() && last < self.next_window_end);
        if n == 0 {
            return;
        }
        for (zone, packet) in &trace.zones {
            let timeouts = match *zone {
                Zone::Eni(e) => &self.enis[e as usize].timeouts,
                Zone::Acl(_) => &self.profile.timeouts,
            };
            let found = self.conntrack.track_handle(*zone, last, packet, timeouts);
            debug_assert!(
                matches!(found, crate::conntrack::Lookup::Tracked(_)),
                "a train's connection is gone"
            );
        }
        for &(f, slot, bytes, flags) in &trace.slots {
            self.flow_logs[f as usize]
                .collector
                .count_again(slot, n, bytes, flags, label, last);
        }
        // A train is of whole segments (a TCP session's): each takes its sender's next number.
        if let Some(from) = trace.sender {
            self.next_ip_id(from, false, n);
        }
        self.packets += n;
    }

    /// The end of the earliest open flow-log window: a packet at or after it closes windows.
    pub fn next_window_end(&self) -> Time {
        self.next_window_end
    }

    /// Notes, while tracing, a tracked connection the packet found in `zone`, which now
    /// expires at `expires` (`None`: unknown, and the trace cannot be repeated).
    #[inline]
    pub(super) fn trace_zone(&mut self, zone: Zone, packet: &Packet, expires: Option<Time>) {
        if self.trace.on {
            self.trace.zones.push((zone, *packet));
            match expires {
                Some(t) => self.trace.expires = Some(self.trace.expires.map_or(t, |e| e.min(t))),
                None => self.trace.unrepeatable = true,
            }
        }
    }

    /// Notes, while tracing, a flow-log entry that counted the packet.
    #[inline]
    pub(super) fn trace_slot(&mut self, f: u32, slot: Option<u32>, packet: &Packet) {
        if self.trace.on
            && let Some(slot) = slot
        {
            self.trace
                .slots
                .push((f, slot, packet.len, packet.tcp_flags()));
        }
    }

    /// Notes, while tracing, that the packet touched state a train cannot repeat.
    #[inline]
    pub(super) fn trace_unrepeatable(&mut self) {
        self.trace.unrepeat();
    }
}
