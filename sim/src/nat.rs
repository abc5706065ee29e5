//! NAT gateways: source NAT for private subnets (policy.md §6.2, after AWS's NAT gateway).
//!
//! A NAT gateway owns a requester-managed network interface in a public subnet; its private
//! address is what the internet gateway maps to the gateway's elastic IP. Outbound, a session
//! maps (protocol, inside address and port, destination address and port) to a NAT port in
//! 1024–65535; replies are matched by (protocol, destination, NAT port) and translated back.
//! TCP, UDP and ICMP only (ICMP's identifier is the "port"). A destination (address, port,
//! protocol) may hold at most `limit` sessions. Sessions idle longer than the profile's timeout
//! are gone: a TCP packet of an expired session gets a RST (AWS: "returns an RST packet to any
//! resources behind the NAT gateway that attempt to continue the connection").
//!
//! DNAT rules (port forwarding, tencent/huawei NAT gateways): a TCP or UDP packet from outside
//! to the gateway's address and a rule's port goes to the rule's inside address and port; the
//! inside host's replies to that client are translated back (source: the gateway's address and
//! the rule's port) while the forwarded flow is not idle longer than the timeout. SNAT never
//! hands out a port a DNAT rule uses.
//!
//! What this module does not do: security groups (a NAT gateway has none), routing (the world
//! routes to and from it). Port allocation is deterministic: the lowest free port above the
//! last one handed out.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::time::{Span, Time};

/// The protocols a NAT gateway translates.
pub fn translatable(protocol: u8) -> bool {
    matches!(protocol, 1 | 6 | 17)
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

/// A DNAT rule: `protocol` (TCP or UDP) `port` on the gateway's address is forwarded to
/// `to`:`to_port` inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dnat {
    pub protocol: u8,
    pub port: u16,
    pub to: Ipv4Addr,
    pub to_port: u16,
}

/// A session's outside key: (protocol, remote address, remote port, NAT port).
type Outside = (u8, Ipv4Addr, u16, u16);

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Session {
    port: u16,
    last: Time,
}

/// Why the gateway dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NatDrop {
    /// Only TCP, UDP and ICMP are translated.
    Protocol,
    /// The destination already holds the limit of simultaneous sessions.
    PortsExhausted,
    /// A reply that matches no live session (or a connection initiated from outside).
    NoSession,
    /// The session timed out; TCP gets a RST.
    Expired,
}

/// The translation table of one NAT gateway.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Table {
    inside: BTreeMap<Inside, Session>,
    outside: BTreeMap<Outside, Inside>,
    per_destination: BTreeMap<(u8, Ipv4Addr, u16), u32>,
    last_port: u16,
    /// DNAT rules, and the forwarded flows keyed by the inside host's reply 5-tuple (the
    /// session's port is the rule's public port).
    dnat: Vec<Dnat>,
    forwarded: BTreeMap<Inside, Session>,
}

pub const FIRST_PORT: u16 = 1024;

impl Table {
    /// The NAT port for an outbound packet, creating the session if needed.
    pub fn outbound(
        &mut self,
        now: Time,
        idle: Span,
        limit: u32,
        k: Inside,
    ) -> Result<u16, NatDrop> {
        if !translatable(k.protocol) {
            return Err(NatDrop::Protocol);
        }
        if let Some(s) = self.inside.get_mut(&k) {
            if now.saturating_sub(s.last) <= idle {
                s.last = now;
                return Ok(s.port);
            }
            let port = s.port;
            self.remove(k, port);
            // A TCP segment of a timed-out connection is answered with a RST; anything else
            // starts afresh.
            if k.protocol == 6 {
                return Err(NatDrop::Expired);
            }
        }
        let dest = (k.protocol, k.dst, k.dport);
        let used = self.per_destination.get(&dest).copied().unwrap_or(0);
        if used >= limit {
            return Err(NatDrop::PortsExhausted);
        }
        let port = self.free_port(k).ok_or(NatDrop::PortsExhausted)?;
        self.inside.insert(k, Session { port, last: now });
        self.outside.insert((k.protocol, k.dst, k.dport, port), k);
        *self.per_destination.entry(dest).or_default() += 1;
        self.last_port = port;
        Ok(port)
    }

    /// The inside host and port a reply goes back to.
    pub fn inbound(
        &mut self,
        now: Time,
        idle: Span,
        protocol: u8,
        remote: Ipv4Addr,
        rport: u16,
        port: u16,
    ) -> Result<(Ipv4Addr, u16), NatDrop> {
        let Some(k) = self.outside.get(&(protocol, remote, rport, port)).copied() else {
            return Err(NatDrop::NoSession);
        };
        let s = self.inside.get_mut(&k).ok_or(NatDrop::NoSession)?;
        if now.saturating_sub(s.last) > idle {
            self.remove(k, port);
            return Err(NatDrop::Expired);
        }
        s.last = now;
        Ok((k.src, k.sport))
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

    /// A packet from outside to the gateway's `port` that no SNAT session claims: the inside
    /// (address, port) a DNAT rule forwards it to, remembering the flow for the replies.
    pub fn forward(
        &mut self,
        now: Time,
        protocol: u8,
        remote: Ipv4Addr,
        rport: u16,
        port: u16,
    ) -> Option<(Ipv4Addr, u16)> {
        let r = *self
            .dnat
            .iter()
            .find(|r| r.protocol == protocol && r.port == port)?;
        let k = Inside {
            protocol,
            src: r.to,
            sport: r.to_port,
            dst: remote,
            dport: rport,
        };
        self.forwarded.insert(k, Session { port, last: now });
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

    /// Sessions held now.
    pub fn len(&self) -> usize {
        self.inside.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inside.is_empty()
    }

    fn remove(&mut self, k: Inside, port: u16) {
        self.inside.remove(&k);
        self.outside.remove(&(k.protocol, k.dst, k.dport, port));
        let dest = (k.protocol, k.dst, k.dport);
        if let Some(n) = self.per_destination.get_mut(&dest) {
            *n -= 1;
            if *n == 0 {
                self.per_destination.remove(&dest);
            }
        }
    }

    /// The next port after the last one handed out that this destination does not use.
    fn free_port(&self, k: Inside) -> Option<u16> {
        let start = self.last_port.max(FIRST_PORT - 1);
        (start.saturating_add(1)..=u16::MAX)
            .chain(FIRST_PORT..=start)
            .find(|&p| {
                !self.outside.contains_key(&(k.protocol, k.dst, k.dport, p))
                    && !self
                        .dnat
                        .iter()
                        .any(|r| r.protocol == k.protocol && r.port == p)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Span = Span::from_secs(350);

    fn k(sport: u16) -> Inside {
        Inside {
            protocol: 6,
            src: Ipv4Addr::new(10, 0, 1, 5),
            sport,
            dst: Ipv4Addr::new(203, 0, 113, 5),
            dport: 80,
        }
    }

    #[test]
    fn ports_are_allocated_in_order_and_replies_map_back() {
        let mut t = Table::default();
        let t0 = Time::from_secs(0);
        assert_eq!(t.outbound(t0, IDLE, 55_000, k(40000)), Ok(1024));
        assert_eq!(t.outbound(t0, IDLE, 55_000, k(40001)), Ok(1025));
        assert_eq!(t.outbound(t0, IDLE, 55_000, k(40000)), Ok(1024));
        assert_eq!(
            t.inbound(t0, IDLE, 6, Ipv4Addr::new(203, 0, 113, 5), 80, 1025),
            Ok((Ipv4Addr::new(10, 0, 1, 5), 40001))
        );
        assert_eq!(
            t.inbound(t0, IDLE, 6, Ipv4Addr::new(203, 0, 113, 6), 80, 1025),
            Err(NatDrop::NoSession)
        );
    }

    #[test]
    fn destination_limit_and_idle_timeout() {
        let mut t = Table::default();
        let t0 = Time::from_secs(0);
        assert!(t.outbound(t0, IDLE, 2, k(1)).is_ok());
        assert!(t.outbound(t0, IDLE, 2, k(2)).is_ok());
        assert_eq!(t.outbound(t0, IDLE, 2, k(3)), Err(NatDrop::PortsExhausted));
        let late = Time::from_secs(351);
        assert_eq!(t.outbound(late, IDLE, 2, k(1)), Err(NatDrop::Expired));
        assert_eq!(
            t.inbound(late, IDLE, 6, Ipv4Addr::new(203, 0, 113, 5), 80, 1025),
            Err(NatDrop::Expired)
        );
        assert!(t.is_empty());
        let mut gre = k(0);
        gre.protocol = 47;
        assert_eq!(t.outbound(t0, IDLE, 2, gre), Err(NatDrop::Protocol));
    }

    #[test]
    fn dnat_forwards_in_and_translates_replies_back() {
        let mut t = Table::default();
        let t0 = Time::from_secs(0);
        let web = Ipv4Addr::new(10, 0, 1, 10);
        let client = Ipv4Addr::new(203, 0, 113, 7);
        t.set_dnat(vec![Dnat {
            protocol: 6,
            port: 1024,
            to: web,
            to_port: 80,
        }]);
        assert_eq!(t.forward(t0, 6, client, 50000, 1024), Some((web, 80)));
        assert_eq!(t.forward(t0, 17, client, 50000, 1024), None);
        assert_eq!(t.forward(t0, 6, client, 50000, 1025), None);
        let reply = Inside {
            protocol: 6,
            src: web,
            sport: 80,
            dst: client,
            dport: 50000,
        };
        assert_eq!(t.forwarded_reply(t0, IDLE, reply), Some(1024));
        // SNAT skips the rule's port.
        assert_eq!(t.outbound(t0, IDLE, 10, k(40000)), Ok(1025));
        // Idle past the timeout: the replies are no longer translated back.
        assert_eq!(t.forwarded_reply(Time::from_secs(351), IDLE, reply), None);
        assert_eq!(t.forwarded_reply(t0, IDLE, reply), None);
    }
}
