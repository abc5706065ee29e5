//! Connection tracking: what makes security groups (and huawei's ACLs) stateful (D6–D9;
//! policy.md §1.3, §3, §4).
//!
//! One table holds every zone: a zone is an ENI (its security groups) or a subnet's ACL
//! (huawei). Keys are canonical (the two endpoints sorted), so a reply finds the entry its
//! request opened; the entry remembers which side opened it. Entries expire lazily against the
//! `now` passed in: the table never reads a clock.
//!
//! Keys (D6): TCP/UDP by 5-tuple; ICMP echo by (src, dst, identifier); anything else by
//! (src, dst, protocol).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use foldhash::fast::FixedState;

use crate::Direction;
use crate::packet::{Embedded, L4, Packet, TcpFlags, icmp, proto};
use crate::profile::Timeouts;
use crate::time::Time;

/// A tracking zone: an ENI's security groups, or a subnet's stateful ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Zone {
    Eni(u32),
    Acl(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    zone: Zone,
    protocol: u8,
    lo: (u32, u16),
    hi: (u32, u16),
}

/// Connection state, enough to pick the right timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum State {
    TcpSynSent,
    TcpEstablished,
    TcpClosing,
    TcpClosed,
    Udp,
    UdpStream,
    Icmp,
    Other,
}

/// Is a packet going the way the connection was opened, or coming back?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    Original,
    Reply,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The endpoint that sent the opening packet.
    opener: (u32, u16),
    /// The opening packet's direction relative to the zone.
    pub opened: Direction,
    pub state: State,
    replied: bool,
    pub expires: Time,
}

/// A tracked connection as `purge` shows it: who opened it, which way, to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conn {
    pub opened: Direction,
    pub protocol: u8,
    /// (address, port) of the side that opened it; ICMP echo: the identifier as port.
    pub opener: (Ipv4Addr, u16),
    pub other: (Ipv4Addr, u16),
}

/// The connection-tracking table of a world.
#[derive(Clone, Debug)]
pub struct Table {
    map: HashMap<Key, Entry, FixedState>,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            map: HashMap::with_hasher(FixedState::with_seed(0)),
        }
    }
}

/// The endpoints a packet is tracked by, or `None` for packets conntrack ignores (ICMP
/// errors, which are RELATED or not, never a connection of their own).
fn endpoints(p: &Packet) -> Option<((u32, u16), (u32, u16))> {
    let (s, d) = (u32::from(p.src), u32::from(p.dst));
    match p.l4 {
        L4::Tcp { .. } | L4::Udp { .. } => {
            let (sp, dp) = p.ports();
            Some(((s, sp), (d, dp)))
        }
        L4::Icmp {
            icmp_type: icmp::ECHO_REQUEST | icmp::ECHO_REPLY,
            ident,
            ..
        } => Some(((s, ident), (d, ident))),
        L4::Icmp {
            embedded: Some(_), ..
        } => None,
        L4::Icmp { .. } | L4::Other { .. } => Some(((s, 0), (d, 0))),
    }
}

fn key(zone: Zone, protocol: u8, a: (u32, u16), b: (u32, u16)) -> Key {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    Key {
        zone,
        protocol,
        lo,
        hi,
    }
}

impl Table {
    pub fn with_capacity(n: usize) -> Table {
        Table {
            map: HashMap::with_capacity_and_hasher(n, FixedState::with_seed(0)),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Finds the live connection this packet belongs to, updates its state and expiry, and
    /// says which way the packet goes. An expired entry is removed and not found.
    pub fn track(
        &mut self,
        zone: Zone,
        now: Time,
        p: &Packet,
        t: &Timeouts,
    ) -> Option<(Orientation, Entry)> {
        let (src, dst) = endpoints(p)?;
        let k = key(zone, p.protocol(), src, dst);
        let e = self.map.get_mut(&k)?;
        if e.expires <= now {
            self.map.remove(&k);
            return None;
        }
        let orientation = if e.opener == src {
            Orientation::Original
        } else {
            Orientation::Reply
        };
        // An echo request coming from the other side is a new exchange, not a reply.
        if orientation == Orientation::Reply
            && matches!(p.l4, L4::Icmp { icmp_type, .. } if icmp_type != icmp::ECHO_REPLY)
        {
            return None;
        }
        advance(e, orientation, p, t, now);
        Some((orientation, *e))
    }

    /// Opens a connection for a packet just allowed by rules in `direction`.
    pub fn open(&mut self, zone: Zone, now: Time, p: &Packet, direction: Direction, t: &Timeouts) {
        let Some((src, dst)) = endpoints(p) else {
            return;
        };
        let state = match p.l4 {
            L4::Tcp { flags, .. } if flags.has(TcpFlags::RST) => State::TcpClosed,
            L4::Tcp { flags, .. } if flags.is_syn_only() => State::TcpSynSent,
            // Picked up mid-stream (Linux's nf_conntrack_tcp_loose).
            L4::Tcp { .. } => State::TcpEstablished,
            L4::Udp { .. } => State::Udp,
            L4::Icmp { .. } => State::Icmp,
            L4::Other { .. } => State::Other,
        };
        let mut e = Entry {
            opener: src,
            opened: direction,
            state,
            replied: false,
            expires: now,
        };
        e.expires = now + timeout(&e, t);
        self.map.insert(key(zone, p.protocol(), src, dst), e);
    }

    /// Is this ICMP error about a connection tracked in `zone` (RELATED, D9)? `embedded` is
    /// the header of the packet the error refers to, which the zone's side had sent.
    pub fn is_related(&self, zone: Zone, now: Time, embedded: &Embedded) -> bool {
        let a = (u32::from(embedded.src), embedded.sport);
        let b = (u32::from(embedded.dst), embedded.dport);
        let ports_matter = matches!(embedded.protocol, proto::TCP | proto::UDP);
        let (a, b) = if ports_matter {
            (a, b)
        } else {
            ((a.0, 0), (b.0, 0))
        };
        self.map
            .get(&key(zone, embedded.protocol, a, b))
            .is_some_and(|e| e.expires > now)
    }

    /// Removes every connection of `zone` for which `remove` says so; returns how many.
    pub fn purge(&mut self, zone: Zone, mut remove: impl FnMut(&Conn) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|k, e| {
            if k.zone != zone {
                return true;
            }
            let other = if e.opener == k.lo { k.hi } else { k.lo };
            let conn = Conn {
                opened: e.opened,
                protocol: k.protocol,
                opener: (Ipv4Addr::from(e.opener.0), e.opener.1),
                other: (Ipv4Addr::from(other.0), other.1),
            };
            !remove(&conn)
        });
        before - self.map.len()
    }

    /// Drops expired entries (housekeeping; behaviour does not depend on it).
    pub fn sweep(&mut self, now: Time) {
        self.map.retain(|_, e| e.expires > now);
    }
}

fn advance(e: &mut Entry, o: Orientation, p: &Packet, t: &Timeouts, now: Time) {
    match p.l4 {
        L4::Tcp { flags, .. } => {
            if flags.has(TcpFlags::RST) {
                e.state = State::TcpClosed;
            } else if flags.has(TcpFlags::FIN) {
                e.state = State::TcpClosing;
            } else if o == Orientation::Reply && e.state == State::TcpSynSent {
                e.state = State::TcpEstablished;
            }
        }
        L4::Udp { .. } => {
            if o == Orientation::Reply {
                e.replied = true;
            } else if e.replied {
                // A second request after a response: a stream (policy.md §1.3 udp-stream).
                e.state = State::UdpStream;
            }
        }
        _ => {}
    }
    if o == Orientation::Reply {
        e.replied = true;
    }
    e.expires = now + timeout(e, t);
}

fn timeout(e: &Entry, t: &Timeouts) -> crate::time::Span {
    match e.state {
        State::TcpSynSent => t.tcp_syn,
        State::TcpEstablished => t.tcp_established,
        State::TcpClosing => t.tcp_closing,
        State::TcpClosed => t.tcp_closed,
        State::Udp => t.udp,
        State::UdpStream => t.udp_stream,
        State::Icmp => t.icmp,
        State::Other => t.other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Profile, Provider};
    use crate::time::Span;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn reply_of_tracked_echo_is_found_until_timeout() {
        let t = Profile::of(Provider::Aws).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(0);
        let req = Packet::echo_request(ip("203.0.113.12"), ip("172.31.16.139"), 9, 1);
        let t0 = Time::from_secs(1000);
        assert!(ct.track(z, t0, &req, &t).is_none());
        ct.open(z, t0, &req, Direction::Ingress, &t);
        let rep = req.echo_reply().unwrap();
        let (o, e) = ct.track(z, t0 + Span::from_secs(1), &rep, &t).unwrap();
        assert_eq!((o, e.opened), (Orientation::Reply, Direction::Ingress));
        // ICMP idle timeout is 30 s (D6): a reply 31 s after the last packet is not tracked.
        assert!(ct.track(z, t0 + Span::from_secs(32), &rep, &t).is_none());
    }

    #[test]
    fn tcp_states_follow_flags() {
        let t = Profile::of(Provider::Huawei).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(3);
        let (c, s) = (ip("10.0.0.5"), ip("10.0.1.9"));
        let syn = Packet::tcp(c, 33000, s, 22, TcpFlags::SYN, 60);
        ct.open(z, Time(0), &syn, Direction::Egress, &t);
        let synack = Packet::tcp(s, 22, c, 33000, TcpFlags::SYN | TcpFlags::ACK, 60);
        let (_, e) = ct.track(z, Time(1), &synack, &t).unwrap();
        assert_eq!(e.state, State::TcpEstablished);
        let fin = Packet::tcp(c, 33000, s, 22, TcpFlags::FIN | TcpFlags::ACK, 52);
        let (o, e) = ct.track(z, Time(2), &fin, &t).unwrap();
        assert_eq!((o, e.state), (Orientation::Original, State::TcpClosing));
        // Other zones and other ports are separate connections.
        assert!(ct.track(Zone::Eni(4), Time(3), &fin, &t).is_none());
        let other = Packet::tcp(c, 33001, s, 22, TcpFlags::ACK, 52);
        assert!(ct.track(z, Time(3), &other, &t).is_none());
    }

    #[test]
    fn icmp_error_is_related_to_the_flow_it_quotes() {
        let t = Profile::of(Provider::Tencent).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(1);
        let q = Packet::udp(ip("10.0.0.5"), 40000, ip("10.0.1.9"), 53, 60);
        ct.open(z, Time(0), &q, Direction::Egress, &t);
        let err = Packet::icmp_error(
            ip("10.0.1.9"),
            &q,
            icmp::DEST_UNREACHABLE,
            icmp::PORT_UNREACHABLE,
        );
        let L4::Icmp {
            embedded: Some(emb),
            ..
        } = err.l4
        else {
            panic!()
        };
        assert!(ct.is_related(z, Time(1), &emb));
        assert!(!ct.is_related(Zone::Eni(2), Time(1), &emb));
    }
}
