//! NAT gateways: source NAT for private subnets (policy.md §6.2, after AWS's NAT gateway).
//!
//! A NAT gateway owns a requester-managed network interface in a public subnet; its private
//! address is what the internet gateway maps to the gateway's elastic IP. Outbound, a session
//! maps (protocol, inside address and port, destination address and port) to a NAT port in
//! 1024–65535; replies are matched by (protocol, destination, NAT port) and translated back.
//! TCP, UDP and ICMP only (ICMP's identifier is the "port"). A destination (address, port,
//! protocol) may hold at most `limit` sessions.
//!
//! **Ports are drawn, not counted.** AWS uses source ports 1024–65535 (policy.md §6.2), so a
//! network ACL of the gateway's subnet that lets back only the Linux ephemeral range
//! 32768–65535 drops the replies of about half the sessions: the documented lesson. Each
//! gateway draws its ports from its own stream, seeded by the world's seed and the gateway's
//! ID (the same scenario and seed give the same ports; another gateway, another stream). A
//! drawn port that this destination already uses (or a DNAT rule's port) is drawn again, up
//! to [`REDRAWS`] times, then the next free port above the last draw is taken. A scenario may
//! pin the port of one session ([`Table::outbound`]'s `pin`) to teach a given case.
//!
//! **Sessions end.** A TCP session ends on a RST from either side, and after a FIN from both
//! sides on the last ACK: the one whose acknowledgement number covers the second FIN (an ACK
//! of data sent before that FIN, which Linux sends separately, keeps the session; segments
//! without numbers, flags alone, count as covering it); any session ends when it has been idle
//! longer than the profile's timeout (AWS 350 s). The gateway remembers an ended session for
//! one more timeout, to say why it drops what comes late. A SYN from inside opens a new
//! session (with a newly drawn port) unless its 5-tuple's session is live and not closing (a
//! retransmitted SYN): a new connection after a closed, closing or expired one is a new
//! session. A TCP segment from inside that is not a SYN and has no live session is dropped
//! and answered with a RST (AWS: "returns an RST packet to any resources behind the NAT
//! gateway that attempt to continue the connection"); UDP and ICMP simply start afresh.
//! Every call first ends the sessions idle past the timeout at the virtual time passed in,
//! from a queue ordered by last activity (refreshing a session does not touch the queue: an
//! entry found refreshed when due is queued again at the session's last activity), so the
//! table never holds an expired session and a full destination frees what has idled out.
//! Ended sessions and forwarded flows are forgotten by a sweep every idle timeout; lookups
//! check their age, so results never depend on when it ran.
//!
//! DNAT rules (port forwarding, tencent/huawei NAT gateways): a TCP or UDP packet from outside
//! to the gateway's address and a rule's port goes to the rule's inside address and port; the
//! inside host's replies to that client are translated back (source: the gateway's address and
//! the rule's port) while the forwarded flow is not idle longer than the timeout. SNAT never
//! hands out a port a DNAT rule uses.
//!
//! What this module does not do: security groups (a NAT gateway has none), routing (the world
//! routes to and from it), TCP sequence checks (a RST or FIN of any sequence number counts),
//! simultaneous close as its own case (the first ACK after both FINs from the side that did
//! not send the second FIN ends the session), DNAT flows' FIN/RST (they end by idling).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::packet::{TcpFlags, proto};
use crate::time::{Span, Time};

/// The lowest and highest port a NAT gateway hands out (AWS: 1024–65535).
pub const FIRST_PORT: u16 = 1024;
pub const LAST_PORT: u16 = 65535;
/// Draws again when a drawn port is taken, at most this many times.
pub const REDRAWS: usize = 8;

/// The protocols a NAT gateway translates.
pub fn translatable(protocol: u8) -> bool {
    matches!(protocol, proto::ICMP | proto::TCP | proto::UDP)
}

/// The seed of a gateway's port stream: the world's seed and the gateway's ID, mixed
/// (FNV-1a over the ID, then splitmix64's finalizer), so that gateways of one world draw
/// different ports and the same gateway in the same world always draws the same.
pub fn port_seed(world_seed: u64, gateway_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in gateway_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = world_seed ^ h ^ 0x6e61_7470_6f72_7473;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Which side of the gateway a packet came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Side {
    /// From a host behind the gateway (to be source-NATed).
    Inside,
    /// From the remote end (a reply to be translated back).
    Outside,
}

/// An outbound 5-tuple as the inside host sent it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Inside {
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
}

/// A packet from outside as the gateway sees it: protocol, the remote end, and the NAT port it
/// is addressed to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Outside {
    pub protocol: u8,
    pub remote: Ipv4Addr,
    pub rport: u16,
    pub port: u16,
}

impl Inside {
    /// The outside key of this 5-tuple's session on NAT port `port`. An ICMP query's
    /// identifier is both its "ports" (`nat_ports`): the reply comes back with the one the
    /// gateway gave it, so that is the remote's too.
    fn outside(&self, port: u16) -> Outside {
        Outside {
            protocol: self.protocol,
            remote: self.dst,
            rport: if self.protocol == proto::ICMP {
                port
            } else {
                self.dport
            },
            port,
        }
    }
}

/// A DNAT rule: `protocol` (TCP or UDP) `port` on the gateway's address is forwarded to
/// `to`:`to_port` inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dnat {
    pub protocol: u8,
    pub port: u16,
    pub to: Ipv4Addr,
    pub to_port: u16,
}

/// What a NAT gateway reads of a TCP segment: its flags, and its sequence and acknowledgement
/// numbers, which tell the ACK that ends a connection (the one of the second FIN) from one
/// that only acknowledges data sent before it. A real stack sends both after a close: Linux
/// acknowledges the last data and then the FIN in two segments (live mode showed it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
}

impl From<TcpFlags> for Segment {
    /// A segment of flags alone, unnumbered: its ACK after two FINs ends the session.
    fn from(flags: TcpFlags) -> Segment {
        Segment {
            flags,
            ..Segment::default()
        }
    }
}

impl Segment {
    /// Whether this segment acknowledges a FIN sent with sequence number `fin` (RFC 793: the
    /// FIN takes one number, so its ACK is beyond it; compared in serial arithmetic, RFC
    /// 1982). Unnumbered segments (numbers 0, as `From<TcpFlags>` makes them) always do.
    fn acks(self, fin: u32) -> bool {
        (fin == 0 && self.ack == 0) || (self.ack.wrapping_sub(fin) as i32) > 0
    }
}

/// Where a TCP session is in its close (UDP and ICMP sessions stay `Open` until they idle out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Close {
    Open,
    /// One side has sent a FIN.
    Fin(Side),
    /// Both have; `second` sent the later FIN, with sequence number `fin`, and the other
    /// side's ACK of it ends the session.
    BothFins {
        second: Side,
        fin: u32,
    },
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Session {
    port: u16,
    last: Time,
    close: Close,
    /// The time of its entry in the expiry queue (an entry of another time is stale).
    queued: Time,
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum End {
    Expired,
    Closed,
}

/// An ended session, remembered for one idle timeout from `at` (when it ended).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Ended {
    end: End,
    at: Time,
}

/// Why the gateway dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NatDrop {
    /// Only TCP, UDP and ICMP are translated.
    Protocol,
    /// The destination already holds the limit of simultaneous sessions.
    PortsExhausted,
    /// From outside: no live session and no DNAT rule matches (a connection initiated from
    /// outside, or a reply to nothing the gateway remembers).
    NoSession,
    /// From inside: a TCP segment other than a SYN, and no session for its connection (a
    /// connection starts with SYN). Answered with a RST.
    NoConnection,
    /// The session was idle longer than the timeout and is gone. From inside, a TCP segment is
    /// answered with a RST.
    Expired { from: Side },
    /// The session ended (RST, or FIN from both sides and the last ACK). From inside, a TCP
    /// segment is answered with a RST.
    Closed { from: Side },
}

impl NatDrop {
    /// Whether the gateway answers the dropped packet (if it is TCP and not itself a RST) with
    /// a RST to the inside host: it continues a connection the gateway no longer has.
    pub fn resets(self) -> bool {
        matches!(
            self,
            NatDrop::NoConnection
                | NatDrop::Expired { from: Side::Inside }
                | NatDrop::Closed { from: Side::Inside }
        )
    }
}

/// The translation table of one NAT gateway.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Table {
    inside: BTreeMap<Inside, Session>,
    outside: BTreeMap<Outside, Inside>,
    per_destination: BTreeMap<(u8, Ipv4Addr, u16), u32>,
    /// Ended sessions by either key, for one idle timeout after they ended.
    ended: BTreeMap<Inside, Ended>,
    ended_outside: BTreeMap<Outside, Ended>,
    /// The gateway's port stream ([`port_seed`]).
    rng: ChaCha8Rng,
    /// Live sessions by the time they were queued (`Session::queued`): the first is the next
    /// that may have idled out.
    expiry: BTreeSet<(Time, Inside)>,
    /// When the next sweep of ended sessions and forwarded flows is due.
    next_sweep: Time,
    /// DNAT rules, and the forwarded flows keyed by the inside host's reply 5-tuple (the
    /// session's port is the rule's public port).
    dnat: Vec<Dnat>,
    forwarded: BTreeMap<Inside, Session>,
}

impl Table {
    /// An empty table whose ports come from the stream `seed` ([`port_seed`]).
    pub fn new(seed: u64) -> Table {
        Table {
            inside: BTreeMap::new(),
            outside: BTreeMap::new(),
            per_destination: BTreeMap::new(),
            ended: BTreeMap::new(),
            ended_outside: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            expiry: BTreeSet::new(),
            next_sweep: Time(0),
            dnat: Vec::new(),
            forwarded: BTreeMap::new(),
        }
    }

    /// The NAT port for an outbound packet (`flags`: a TCP segment's, ignored otherwise),
    /// creating the session if needed, on port `pin` if it is free. The packet that ends a
    /// session (a RST, the last ACK) is still translated.
    pub fn outbound(
        &mut self,
        now: Time,
        idle: Span,
        limit: u32,
        k: Inside,
        seg: impl Into<Segment>,
        pin: Option<u16>,
    ) -> Result<u16, NatDrop> {
        let seg = seg.into();
        let flags = seg.flags;
        if !translatable(k.protocol) {
            return Err(NatDrop::Protocol);
        }
        self.sweep_if_due(now, idle);
        let tcp = k.protocol == 6;
        if let Some(s) = self.inside.get(&k).copied() {
            if now.saturating_sub(s.last) > idle {
                self.end(k, s.port, End::Expired, s.last + idle);
            } else if tcp && flags.is_syn_only() && s.close != Close::Open {
                // A new connection on the 5-tuple of one still closing: a new session.
                self.end(k, s.port, End::Closed, now);
            } else {
                self.carry(now, k, s.port, Side::Inside, seg);
                return Ok(s.port);
            }
        }
        if tcp && !flags.is_syn_only() {
            return Err(match self.ended_at(now, idle, self.ended.get(&k)) {
                Some(End::Expired) => NatDrop::Expired { from: Side::Inside },
                Some(End::Closed) => NatDrop::Closed { from: Side::Inside },
                None => NatDrop::NoConnection,
            });
        }
        let dest = (k.protocol, k.dst, k.dport);
        if self.per_destination.get(&dest).copied().unwrap_or(0) >= limit {
            return Err(NatDrop::PortsExhausted);
        }
        let port = self
            .draw(now, idle, k, pin)
            .ok_or(NatDrop::PortsExhausted)?;
        self.ended.remove(&k);
        self.ended_outside.remove(&k.outside(port));
        self.inside.insert(
            k,
            Session {
                port,
                last: now,
                close: Close::Open,
                queued: now,
            },
        );
        self.expiry.insert((now, k));
        self.outside.insert(k.outside(port), k);
        *self.per_destination.entry(dest).or_default() += 1;
        if tcp {
            // A SYN that is also a FIN or RST opens and ends at once.
            self.carry(now, k, port, Side::Inside, seg);
        }
        Ok(port)
    }

    /// The inside host and port a packet from outside goes back to (`flags`: a TCP segment's).
    pub fn inbound(
        &mut self,
        now: Time,
        idle: Span,
        o: Outside,
        seg: impl Into<Segment>,
    ) -> Result<(Ipv4Addr, u16), NatDrop> {
        let seg = seg.into();
        if !translatable(o.protocol) {
            return Err(NatDrop::NoSession);
        }
        self.sweep_if_due(now, idle);
        if let Some(k) = self.outside.get(&o).copied()
            && let Some(s) = self.inside.get(&k).copied()
        {
            if now.saturating_sub(s.last) <= idle {
                self.carry(now, k, s.port, Side::Outside, seg);
                return Ok((k.src, k.sport));
            }
            self.end(k, s.port, End::Expired, s.last + idle);
        }
        Err(match self.ended_at(now, idle, self.ended_outside.get(&o)) {
            Some(End::Expired) => NatDrop::Expired {
                from: Side::Outside,
            },
            Some(End::Closed) => NatDrop::Closed {
                from: Side::Outside,
            },
            None => NatDrop::NoSession,
        })
    }

    /// Sets the DNAT rules (forwarded flows of removed rules end).
    pub fn set_dnat(&mut self, rules: Vec<Dnat>) {
        self.forwarded
            .retain(|k, s| rules.iter().any(|r| r.port == s.port && r.to == k.src));
        self.dnat = rules;
    }

    pub fn dnat(&self) -> &[Dnat] {
        &self.dnat
    }

    /// The inside (address, port) of the live session an ICMP error from outside is about:
    /// the one whose outbound packet the error quotes (`quoted`: the quote's protocol, its
    /// destination as `remote`/`rport`, its source port as `port`). Like Linux's conntrack,
    /// which a NAT gateway is, the error is RELATED to the session and translated back
    /// (RFC 5508 §3 for ICMP errors through NAT, RFC 792 for the quote); it does not refresh
    /// the session.
    pub fn related(&self, now: Time, idle: Span, quoted: Outside) -> Option<(Ipv4Addr, u16)> {
        let k = *self.outside.get(&quoted)?;
        let s = self.inside.get(&k)?;
        (now.saturating_sub(s.last) <= idle).then_some((k.src, k.sport))
    }

    /// A packet from outside to the gateway's `port` that no SNAT session claims: the inside
    /// (address, port) a DNAT rule forwards it to, remembering the flow for the replies.
    pub fn forward(&mut self, now: Time, o: Outside) -> Option<(Ipv4Addr, u16)> {
        let r = *self
            .dnat
            .iter()
            .find(|r| r.protocol == o.protocol && r.port == o.port)?;
        let k = Inside {
            protocol: o.protocol,
            src: r.to,
            sport: r.to_port,
            dst: o.remote,
            dport: o.rport,
        };
        self.forwarded.insert(
            k,
            Session {
                port: o.port,
                last: now,
                close: Close::Open,
                queued: now,
            },
        );
        Some((r.to, r.to_port))
    }

    /// An inside host's reply on a forwarded flow: the public port it leaves from, if the
    /// flow is live.
    pub fn forwarded_reply(&mut self, now: Time, idle: Span, k: Inside) -> Option<u16> {
        let s = self.forwarded.get_mut(&k)?;
        if now.saturating_sub(s.last) > idle {
            self.forwarded.remove(&k);
            return None;
        }
        s.last = now;
        Some(s.port)
    }

    /// Live sessions held (as of the last call: it ended those idle past the timeout).
    pub fn len(&self) -> usize {
        self.inside.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inside.is_empty()
    }

    /// The session of `k` (live, on `port`) carries a packet from `from`: it is fresh again,
    /// and a TCP segment moves its close along, ending it on a RST or the last ACK.
    fn carry(&mut self, now: Time, k: Inside, port: u16, from: Side, seg: Segment) {
        let flags = seg.flags;
        let Some(s) = self.inside.get_mut(&k) else {
            return;
        };
        s.last = now;
        if k.protocol != 6 {
            return;
        }
        let ends = if flags.has(TcpFlags::RST) {
            true
        } else if flags.has(TcpFlags::FIN) {
            s.close = match s.close {
                Close::Open => Close::Fin(from),
                Close::Fin(first) if first != from => Close::BothFins {
                    second: from,
                    fin: seg.seq,
                },
                c => c,
            };
            false
        } else {
            matches!(s.close, Close::BothFins { second, fin } if second != from && seg.acks(fin))
                && flags.has(TcpFlags::ACK)
        };
        if ends {
            self.end(k, port, End::Closed, now);
        }
    }

    /// Ends the live session of `k` on `port` at `at`, remembering how.
    fn end(&mut self, k: Inside, port: u16, end: End, at: Time) {
        self.inside.remove(&k);
        let o = k.outside(port);
        self.outside.remove(&o);
        let dest = (k.protocol, k.dst, k.dport);
        if let Some(n) = self.per_destination.get_mut(&dest) {
            *n -= 1;
            if *n == 0 {
                self.per_destination.remove(&dest);
            }
        }
        let e = Ended { end, at };
        self.ended.insert(k, e);
        self.ended_outside.insert(o, e);
    }

    /// How a remembered session ended, if it is still remembered at `now`.
    fn ended_at(&self, now: Time, idle: Span, e: Option<&Ended>) -> Option<End> {
        e.filter(|e| now.saturating_sub(e.at) <= idle)
            .map(|e| e.end)
    }

    /// Ends the sessions idle longer than `idle` at `now` and, once per idle timeout, forgets
    /// ended sessions and forwarded flows older than that.
    fn sweep_if_due(&mut self, now: Time, idle: Span) {
        self.expire(now, idle);
        if now >= self.next_sweep {
            self.sweep(now, idle);
            self.next_sweep = now + idle;
        }
    }

    /// Ends every session idle longer than `idle`, in queue order: only the due entries are
    /// visited, and one whose session was active since is queued again at its last activity.
    fn expire(&mut self, now: Time, idle: Span) {
        while let Some(&(t, k)) = self.expiry.first() {
            if now.saturating_sub(t) <= idle {
                break;
            }
            self.expiry.pop_first();
            let Some(s) = self.inside.get_mut(&k) else {
                continue;
            };
            if s.queued != t {
                continue;
            }
            if now.saturating_sub(s.last) > idle {
                let (port, last) = (s.port, s.last);
                self.end(k, port, End::Expired, last + idle);
            } else {
                s.queued = s.last;
                self.expiry.insert((s.last, k));
            }
        }
    }

    /// Forgets ended sessions and forwarded flows older than `idle`.
    fn sweep(&mut self, now: Time, idle: Span) {
        self.ended.retain(|_, e| now.saturating_sub(e.at) <= idle);
        self.ended_outside
            .retain(|_, e| now.saturating_sub(e.at) <= idle);
        self.forwarded
            .retain(|_, s| now.saturating_sub(s.last) <= idle);
    }

    /// Whether `port` is free for a session of `k`: no live session to the same destination
    /// holds it (one idle past the timeout is ended here) and no DNAT rule of the protocol
    /// uses it.
    fn free(&mut self, now: Time, idle: Span, k: Inside, port: u16) -> bool {
        if port < FIRST_PORT
            || self
                .dnat
                .iter()
                .any(|r| r.protocol == k.protocol && r.port == port)
        {
            return false;
        }
        let Some(holder) = self.outside.get(&k.outside(port)).copied() else {
            return true;
        };
        match self.inside.get(&holder).copied() {
            Some(s) if now.saturating_sub(s.last) > idle => {
                self.end(holder, port, End::Expired, s.last + idle);
                true
            }
            _ => false,
        }
    }

    /// A port for a new session of `k`: `pin` if free; else a draw from the gateway's stream,
    /// drawn again up to [`REDRAWS`] times while taken; then the next free port above the last
    /// draw (wrapping to 1024).
    fn draw(&mut self, now: Time, idle: Span, k: Inside, pin: Option<u16>) -> Option<u16> {
        if let Some(p) = pin
            && self.free(now, idle, k, p)
        {
            return Some(p);
        }
        let mut last = FIRST_PORT;
        for _ in 0..=REDRAWS {
            last = self.rng.random_range(FIRST_PORT..=LAST_PORT);
            if self.free(now, idle, k, last) {
                return Some(last);
            }
        }
        let above = last.checked_add(1).map(|p| p..=LAST_PORT);
        above
            .into_iter()
            .flatten()
            .chain(FIRST_PORT..=last)
            .find(|&p| self.free(now, idle, k, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Span = Span::from_secs(350);
    const WEB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
    const SYN: TcpFlags = TcpFlags(TcpFlags::SYN);
    const ACK: TcpFlags = TcpFlags(TcpFlags::ACK);
    const FIN: TcpFlags = TcpFlags(TcpFlags::FIN | TcpFlags::ACK);
    const RST: TcpFlags = TcpFlags(TcpFlags::RST);
    const NONE: TcpFlags = TcpFlags(0);

    fn k(sport: u16) -> Inside {
        Inside {
            protocol: 6,
            src: Ipv4Addr::new(10, 0, 1, 5),
            sport,
            dst: WEB,
            dport: 80,
        }
    }

    fn back(port: u16) -> Outside {
        Outside {
            protocol: 6,
            remote: WEB,
            rport: 80,
            port,
        }
    }

    fn t(s: u64) -> Time {
        Time::from_secs(s)
    }

    fn table() -> Table {
        Table::new(port_seed(1, "nat-0123456789abcdef0"))
    }

    #[test]
    fn replies_map_back_to_the_session_they_answer() {
        let mut n = table();
        let a = n.outbound(t(0), IDLE, 55_000, k(40000), SYN, None).unwrap();
        let b = n.outbound(t(0), IDLE, 55_000, k(40001), SYN, None).unwrap();
        assert_ne!(a, b);
        assert_eq!(n.outbound(t(0), IDLE, 55_000, k(40000), ACK, None), Ok(a));
        assert_eq!(
            n.inbound(t(0), IDLE, back(b), ACK),
            Ok((Ipv4Addr::new(10, 0, 1, 5), 40001))
        );
        let elsewhere = Outside {
            remote: Ipv4Addr::new(203, 0, 113, 6),
            ..back(b)
        };
        assert_eq!(
            n.inbound(t(0), IDLE, elsewhere, ACK),
            Err(NatDrop::NoSession)
        );
    }

    #[test]
    fn ports_are_drawn_across_1024_to_65535() {
        // 20,000 sessions to one destination: every port in range, no port twice, and both
        // halves of the range used about equally (a NACL letting back only 32768-65535
        // loses about half of them: 31744 of the 64512 ports are below 32768).
        let mut n = table();
        let mut seen = std::collections::BTreeSet::new();
        let mut low = 0;
        for i in 0..20_000u16 {
            let p = n.outbound(t(0), IDLE, 55_000, k(i), SYN, None).unwrap();
            assert!((FIRST_PORT..=LAST_PORT).contains(&p));
            assert!(seen.insert(p), "port {p} handed out twice");
            low += usize::from(p < 32768);
        }
        let share = low as f64 / 20_000.0;
        assert!((0.45..0.53).contains(&share), "{share}");
        assert!(
            seen.first().is_some_and(|&p| p < 1200),
            "{:?}",
            seen.first()
        );
        assert!(seen.last().is_some_and(|&p| p > 65300), "{:?}", seen.last());
    }

    #[test]
    fn the_draw_is_deterministic_per_seed_and_gateway() {
        let ports = |seed: u64, id: &str| {
            let mut n = Table::new(port_seed(seed, id));
            (0..16)
                .map(|i| n.outbound(t(0), IDLE, 55_000, k(i), SYN, None).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(ports(1, "nat-a"), ports(1, "nat-a"));
        assert_ne!(ports(1, "nat-a"), ports(2, "nat-a"));
        assert_ne!(ports(1, "nat-a"), ports(1, "nat-b"));
        // Not counted up from 1024.
        let p = ports(1, "nat-a");
        assert!(p.windows(2).any(|w| w[1] != w[0] + 1), "{p:?}");
    }

    #[test]
    fn a_table_read_back_draws_what_the_original_would() {
        let mut n = table();
        for i in 0..5 {
            n.outbound(t(0), IDLE, 55_000, k(i), SYN, None).unwrap();
        }
        let bytes = postcard::to_allocvec(&n).unwrap();
        let mut back: Table = postcard::from_bytes(&bytes).unwrap();
        for i in 5..10 {
            assert_eq!(
                back.outbound(t(1), IDLE, 55_000, k(i), SYN, None),
                n.outbound(t(1), IDLE, 55_000, k(i), SYN, None)
            );
        }
    }

    #[test]
    fn a_pinned_port_is_used_when_free() {
        let mut n = table();
        assert_eq!(
            n.outbound(t(0), IDLE, 55_000, k(1), SYN, Some(20000)),
            Ok(20000)
        );
        // Taken for this destination: drawn instead.
        let p = n
            .outbound(t(0), IDLE, 55_000, k(2), SYN, Some(20000))
            .unwrap();
        assert_ne!(p, 20000);
        // Below 1024 is never handed out.
        let p = n.outbound(t(0), IDLE, 55_000, k(3), SYN, Some(80)).unwrap();
        assert!(p >= FIRST_PORT);
    }

    #[test]
    fn a_taken_draw_is_drawn_again_then_the_next_free_port() {
        // One destination with every port but one taken: the eight redraws miss (almost
        // surely) and the scan finds the last free port.
        let mut n = table();
        let last_free = 40000;
        for p in FIRST_PORT..=LAST_PORT {
            if p != last_free {
                let got = n.outbound(t(0), IDLE, 70_000, k(p), SYN, Some(p));
                assert_eq!(got, Ok(p));
            }
        }
        assert_eq!(
            n.outbound(t(0), IDLE, 70_000, k(1), SYN, None),
            Ok(last_free)
        );
        assert_eq!(
            n.outbound(t(0), IDLE, 70_000, k(2), SYN, None),
            Err(NatDrop::PortsExhausted)
        );
    }

    /// An echo's identifier is its "port" both ways: the gateway gives the echo its own, the
    /// remote answers with it, and the reply (or an error quoting the echo) finds the inside
    /// host and its identifier by it.
    #[test]
    fn an_echo_reply_comes_back_by_the_gateways_identifier() {
        let mut n = table();
        let echo = Inside {
            protocol: proto::ICMP,
            src: Ipv4Addr::new(10, 0, 1, 5),
            sport: 7,
            dst: WEB,
            dport: 7,
        };
        let p = n.outbound(t(0), IDLE, 10, echo, TcpFlags(0), None).unwrap();
        let reply = Outside {
            protocol: proto::ICMP,
            remote: WEB,
            rport: p,
            port: p,
        };
        let inside = (Ipv4Addr::new(10, 0, 1, 5), 7);
        assert_eq!(n.related(t(1), IDLE, reply), Some(inside));
        assert_eq!(n.inbound(t(1), IDLE, reply, TcpFlags(0)), Ok(inside));
    }

    #[test]
    fn an_icmp_error_quoting_a_session_goes_back_to_its_inside_host() {
        let mut n = table();
        let p = n.outbound(t(0), IDLE, 10, k(1), SYN, None).unwrap();
        // The quote is the packet as it left: from the gateway's port `p` to the web server.
        assert_eq!(
            n.related(t(1), IDLE, back(p)),
            Some((Ipv4Addr::new(10, 0, 1, 5), 1))
        );
        // Another port, or a session idle past the timeout: nothing to go back to.
        assert_eq!(n.related(t(1), IDLE, back(p.wrapping_add(1))), None);
        assert_eq!(n.related(t(0) + IDLE + Span(1), IDLE, back(p)), None);
        // An error does not keep the session alive.
        assert_eq!(
            n.related(t(300), IDLE, back(p)),
            Some((Ipv4Addr::new(10, 0, 1, 5), 1))
        );
        assert_eq!(n.related(t(0) + IDLE + Span(1), IDLE, back(p)), None);
    }

    #[test]
    fn only_the_ack_of_the_second_fin_ends_the_session() {
        // What Linux sent through a gateway in live mode: the client closes first, the server
        // sends its last data and its FIN, and the client acknowledges the data, then the FIN,
        // in two segments. The first ACK must not end the session, or the second is dropped
        // (and answered with a RST) and the server retransmits its FIN until it gives up.
        let seg = |flags: TcpFlags, seq: u32, ack: u32| Segment { flags, seq, ack };
        let mut n = table();
        let p = n
            .outbound(t(0), IDLE, 10, k(1), seg(SYN, 100, 0), None)
            .unwrap();
        let syn_ack = TcpFlags(TcpFlags::SYN | TcpFlags::ACK);
        assert!(
            n.inbound(t(0), IDLE, back(p), seg(syn_ack, 500, 101))
                .is_ok()
        );
        assert_eq!(
            n.outbound(t(1), IDLE, 10, k(1), seg(FIN, 119, 501), None),
            Ok(p)
        );
        assert!(n.inbound(t(1), IDLE, back(p), seg(ACK, 501, 120)).is_ok()); // 25 data bytes
        assert!(n.inbound(t(1), IDLE, back(p), seg(FIN, 526, 120)).is_ok());
        // The ACK of the data (up to 526, the FIN's own number) keeps the session.
        assert_eq!(
            n.outbound(t(1), IDLE, 10, k(1), seg(ACK, 120, 526), None),
            Ok(p)
        );
        assert_eq!(n.len(), 1);
        // The ACK of the FIN (527) is translated and ends it.
        assert_eq!(
            n.outbound(t(1), IDLE, 10, k(1), seg(ACK, 120, 527), None),
            Ok(p)
        );
        assert!(n.is_empty());
        // Sequence numbers compare in serial arithmetic (RFC 1982): the ACK of a FIN numbered
        // just below the wrap is 0.
        let p = n
            .outbound(t(2), IDLE, 10, k(2), seg(SYN, 7, 0), None)
            .unwrap();
        assert_eq!(
            n.outbound(t(2), IDLE, 10, k(2), seg(FIN, 8, 0), None),
            Ok(p)
        );
        assert!(
            n.inbound(t(2), IDLE, back(p), seg(FIN, u32::MAX, 9))
                .is_ok()
        );
        assert_eq!(
            n.outbound(t(2), IDLE, 10, k(2), seg(ACK, 9, u32::MAX), None),
            Ok(p)
        );
        assert_eq!(n.len(), 1);
        assert_eq!(
            n.outbound(t(2), IDLE, 10, k(2), seg(ACK, 9, 0), None),
            Ok(p)
        );
        assert!(n.is_empty());
    }

    #[test]
    fn fin_from_both_sides_and_the_last_ack_end_the_session() {
        let mut n = table();
        let p = n.outbound(t(0), IDLE, 10, k(1), SYN, None).unwrap();
        assert!(
            n.inbound(t(0), IDLE, back(p), TcpFlags(TcpFlags::SYN | TcpFlags::ACK))
                .is_ok()
        );
        assert_eq!(n.outbound(t(1), IDLE, 10, k(1), FIN, None), Ok(p));
        // Half closed: data still flows back, and the session lives.
        assert!(n.inbound(t(1), IDLE, back(p), ACK).is_ok());
        assert!(n.inbound(t(2), IDLE, back(p), FIN).is_ok());
        assert_eq!(n.len(), 1);
        // The last ACK is translated, and ends the session.
        assert_eq!(n.outbound(t(2), IDLE, 10, k(1), ACK, None), Ok(p));
        assert!(n.is_empty());
        assert_eq!(
            n.outbound(t(3), IDLE, 10, k(1), ACK, None),
            Err(NatDrop::Closed { from: Side::Inside })
        );
        assert!(NatDrop::Closed { from: Side::Inside }.resets());
        assert_eq!(
            n.inbound(t(3), IDLE, back(p), ACK),
            Err(NatDrop::Closed {
                from: Side::Outside
            })
        );
        assert!(
            !NatDrop::Closed {
                from: Side::Outside
            }
            .resets()
        );
    }

    #[test]
    fn a_rst_from_either_side_ends_the_session() {
        let mut n = table();
        let p = n.outbound(t(0), IDLE, 10, k(1), SYN, None).unwrap();
        assert_eq!(n.outbound(t(1), IDLE, 10, k(1), RST, None), Ok(p));
        assert!(n.is_empty());
        let q = n.outbound(t(2), IDLE, 10, k(2), SYN, None).unwrap();
        assert_eq!(
            n.inbound(t(3), IDLE, back(q), TcpFlags(TcpFlags::RST | TcpFlags::ACK)),
            Ok((Ipv4Addr::new(10, 0, 1, 5), 2))
        );
        assert!(n.is_empty());
        assert_eq!(
            n.outbound(t(4), IDLE, 10, k(2), ACK, None),
            Err(NatDrop::Closed { from: Side::Inside })
        );
    }

    #[test]
    fn an_idle_session_expires_and_a_late_segment_is_reset() {
        let mut n = table();
        let p = n.outbound(t(0), IDLE, 2, k(1), SYN, None).unwrap();
        assert!(n.outbound(t(0), IDLE, 2, k(2), SYN, None).is_ok());
        assert_eq!(
            n.outbound(t(0), IDLE, 2, k(3), SYN, None),
            Err(NatDrop::PortsExhausted)
        );
        // 350 s idle is still live; 351 s is not.
        assert_eq!(n.outbound(t(350), IDLE, 2, k(1), ACK, None), Ok(p));
        assert_eq!(
            n.outbound(t(701), IDLE, 2, k(1), ACK, None),
            Err(NatDrop::Expired { from: Side::Inside })
        );
        assert!(NatDrop::Expired { from: Side::Inside }.resets());
        assert_eq!(
            n.inbound(t(701), IDLE, back(p), ACK),
            Err(NatDrop::Expired {
                from: Side::Outside
            })
        );
        // The expired sessions no longer count against the destination's limit.
        assert!(n.outbound(t(701), IDLE, 2, k(3), SYN, None).is_ok());
        // Remembered for one more timeout, then a late segment has no connection at all.
        assert_eq!(
            n.outbound(t(2000), IDLE, 2, k(1), ACK, None),
            Err(NatDrop::NoConnection)
        );
        assert!(NatDrop::NoConnection.resets());
        assert_eq!(
            n.inbound(t(2000), IDLE, back(p), ACK),
            Err(NatDrop::NoSession)
        );
        let mut gre = k(0);
        gre.protocol = 47;
        assert_eq!(
            n.outbound(t(0), IDLE, 2, gre, NONE, None),
            Err(NatDrop::Protocol)
        );
    }

    #[test]
    fn a_new_connection_after_a_closed_or_expired_one_is_a_new_session() {
        let mut n = table();
        // Closed by RST, then a SYN on the very same 5-tuple: a new session, a new port.
        let p = n.outbound(t(0), IDLE, 10, k(1), SYN, None).unwrap();
        n.outbound(t(1), IDLE, 10, k(1), RST, None).unwrap();
        let q = n.outbound(t(2), IDLE, 10, k(1), SYN, None).unwrap();
        assert_ne!(p, q);
        assert_eq!(n.len(), 1);
        assert_eq!(
            n.inbound(t(2), IDLE, back(p), ACK),
            Err(NatDrop::Closed {
                from: Side::Outside
            })
        );
        assert!(n.inbound(t(2), IDLE, back(q), ACK).is_ok());
        // Expired, then a SYN: a new session too.
        let r = n.outbound(t(1000), IDLE, 10, k(1), SYN, None).unwrap();
        assert!(n.inbound(t(1000), IDLE, back(r), ACK).is_ok());
        // A SYN while the old one is still closing replaces it.
        n.outbound(t(1001), IDLE, 10, k(1), FIN, None).unwrap();
        let s = n.outbound(t(1002), IDLE, 10, k(1), SYN, None).unwrap();
        assert_eq!(n.len(), 1);
        assert!(n.inbound(t(1002), IDLE, back(s), ACK).is_ok());
        // A segment other than SYN never opens a session.
        assert_eq!(
            n.outbound(t(1003), IDLE, 10, k(9), ACK, None),
            Err(NatDrop::NoConnection)
        );
        // UDP and ICMP start afresh after expiry.
        let mut dns = k(5353);
        dns.protocol = 17;
        assert!(n.outbound(t(1004), IDLE, 10, dns, NONE, None).is_ok());
        assert!(n.outbound(t(5000), IDLE, 10, dns, NONE, None).is_ok());
    }

    #[test]
    fn an_active_session_outlives_its_first_timeout() {
        let mut n = table();
        let p = n.outbound(t(0), IDLE, 10, k(1), SYN, None).unwrap();
        for s in [300, 600, 900] {
            assert!(n.inbound(t(s), IDLE, back(p), ACK).is_ok(), "t={s}");
        }
        // Its queue entries fell due at 351, 651 and 951: each time it had been active since.
        n.outbound(t(1200), IDLE, 10, k(2), SYN, None).unwrap();
        assert_eq!(n.len(), 2);
        // Idle 351 s at 1251: gone, whichever session's call finds it.
        n.outbound(t(1251), IDLE, 10, k(2), ACK, None).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(
            n.inbound(t(1251), IDLE, back(p), ACK),
            Err(NatDrop::Expired {
                from: Side::Outside
            })
        );
    }

    #[test]
    fn the_sweep_frees_idle_sessions_and_forgets_old_ends() {
        let mut n = table();
        for i in 0..100 {
            n.outbound(t(0), IDLE, 1000, k(i), SYN, None).unwrap();
        }
        assert_eq!(n.len(), 100);
        // Any lookup after the timeout sweeps.
        let mut other = k(1);
        other.dst = Ipv4Addr::new(198, 51, 100, 1);
        n.outbound(t(400), IDLE, 1000, other, SYN, None).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n.ended.len(), 100);
        n.outbound(t(1200), IDLE, 1000, other, ACK, None)
            .unwrap_err();
        assert!(n.ended.len() <= 1, "{}", n.ended.len());
        assert!(n.is_empty());
    }

    #[test]
    fn dnat_forwards_in_and_translates_replies_back() {
        let mut n = table();
        let web = Ipv4Addr::new(10, 0, 1, 10);
        let client = Ipv4Addr::new(203, 0, 113, 7);
        n.set_dnat(vec![Dnat {
            protocol: 6,
            port: 20000,
            to: web,
            to_port: 80,
        }]);
        let o = |protocol, port| Outside {
            protocol,
            remote: client,
            rport: 50000,
            port,
        };
        assert_eq!(n.forward(t(0), o(6, 20000)), Some((web, 80)));
        assert_eq!(n.forward(t(0), o(17, 20000)), None);
        assert_eq!(n.forward(t(0), o(6, 20001)), None);
        let reply = Inside {
            protocol: 6,
            src: web,
            sport: 80,
            dst: client,
            dport: 50000,
        };
        assert_eq!(n.forwarded_reply(t(0), IDLE, reply), Some(20000));
        // SNAT skips the rule's port, even when asked for it.
        let p = n
            .outbound(t(0), IDLE, 10, k(40000), SYN, Some(20000))
            .unwrap();
        assert_ne!(p, 20000);
        // Idle past the timeout: the replies are no longer translated back.
        assert_eq!(n.forwarded_reply(t(351), IDLE, reply), None);
        assert_eq!(n.forwarded_reply(t(0), IDLE, reply), None);
    }
}
