//! What became of one packet: the [`Outcome`] the per-packet path fills in as it goes (every
//! stage's decision, the routes and hops taken, the translations) and its [`Fate`].

use std::net::Ipv4Addr;

use super::*;
use crate::nat;
use crate::packet::Packet;
use crate::time::Time;
use crate::verdict::Decision;

/// The route a packet took out of its subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteHit {
    pub table: u32,
    pub route: u32,
    pub target: Target,
    /// The route's destination as it was when the packet met it (routes change mid-run).
    pub destination: crate::addr::Ipv4Net,
    /// `None`: a static route (`route` indexes the table's routes). Otherwise a route a
    /// virtual private gateway propagated, learned this way (`route` is the index of the
    /// gateway's connection that learned it).
    pub propagated: Option<VpnRouting>,
}

/// An address translation on the way (the IGW's elastic-IP 1:1 NAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Translation {
    pub igw: u32,
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    /// True when the source was rewritten (leaving), false for the destination (arriving).
    pub source: bool,
}

/// Why a packet went no further.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Drop {
    /// A security group or ACL denied it.
    Policy(Decision),
    /// No route matched the destination.
    NoRoute { table: u32 },
    /// The matching route is a blackhole.
    Blackhole { table: u32, route: u32 },
    /// Leaving through the internet gateway without a public address.
    NoPublicIp,
    /// A NAT gateway dropped it (D13: REJECT on the gateway's record).
    Nat { nat: u32, why: nat::NatDrop },
    /// An enterprise router dropped it (no route, blackhole, no interface in the sender's
    /// availability zone). The sender's record is ACCEPT; nothing downstream (D13).
    Router { router: u32, why: RouterDrop },
    /// A bandwidth limit dropped it: a CCN region pair's (logged REJECT at the CCN) or an
    /// ENI's (D20).
    Throttled(Throttle),
    /// Routed to a VPC peering connection for an address outside the peer VPC: peering is
    /// not transitive, and a peer's gateways are not for the other VPC's use (AWS VPC Peering
    /// Guide, "unsupported configurations": transitive peering, edge-to-edge routing).
    NotInPeer { peering: u32 },
    /// At a virtual private gateway, for an address none of its connections reaches (or,
    /// from premises, outside its VPC's block): the gateway routes nothing else.
    VpnNoRoute { gateway: u32 },
    /// Nothing answers at the destination address.
    NoHost,
    /// It arrived with TTL 1 at the hop whose interface is `at`, which dropped it rather than
    /// forward it with TTL 0, and answers with ICMP time-exceeded quoting `packet`, the
    /// datagram as it arrived (RFC 1812 §5.3.1, §4.3.2.3).
    TtlExpired { at: u32, packet: Packet },
    /// Larger than the next link's `mtu`, with DF set (or at a router, which fragments
    /// nothing): dropped at the hop before it, and with DF `by` answers with ICMP
    /// fragmentation-needed quoting `packet`, the datagram as it arrived (RFC 1191; profile
    /// `mtu`, docs/decisions/mtu.md).
    TooBig {
        by: Endpoint,
        mtu: u16,
        packet: Packet,
    },
}

/// What became of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fate {
    Delivered {
        to: Endpoint,
        packet: Packet,
    },
    Dropped(Drop),
    /// Traffic the cloud never filters or logs (D18): metadata, DHCP, …
    Excluded,
}

/// The full account of one packet: every stage's decision, the route, translations, fate.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub id: u64,
    pub at: Time,
    pub from: Endpoint,
    pub packet: Packet,
    /// Decisions in the order they were taken: SG/ACL egress, ACL/SG ingress, and the ACLs
    /// of a NAT gateway's subnet on the way through it.
    pub decisions: [Option<Decision>; 8],
    pub route: Option<RouteHit>,
    pub translation: Option<Translation>,
    /// The NAT gateway session it went through, if any, and the route the gateway's
    /// interface took onwards.
    pub nat: Option<NatHit>,
    /// The enterprise router it went through, if any, and the peer router after it (router
    /// peering across regions).
    pub router: Option<RouterHit>,
    pub peer_router: Option<RouterHit>,
    pub onward_route: Option<RouteHit>,
    /// The Cloud Connect Network it crossed, if any.
    pub ccn: Option<CcnHit>,
    pub fate: Fate,
}

/// Why a router dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RouterDrop {
    /// The attachment it arrived on is associated with no route table, or the table has no
    /// route for the destination.
    NoRoute,
    /// The matching route is a blackhole (or its attachment was deleted).
    Blackhole,
    /// The VPC attachment has no interface in the sender's availability zone (policy.md §6.3).
    NoAttachmentInAz,
}

/// The router hop of a packet: where it came in and the route that sent it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouterHit {
    pub router: u32,
    pub from: u32,
    pub choice: Option<crate::router::Choice>,
}

/// A NAT gateway's translation of one packet: the inside (host, port) and the outside
/// (gateway address, NAT port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NatHit {
    pub nat: u32,
    pub inside: (Ipv4Addr, u16),
    pub outside: (Ipv4Addr, u16),
    /// Translated by a DNAT rule (a forwarded flow), not an SNAT session.
    pub forwarded: bool,
}

impl Outcome {
    /// The outcome of packet number `id` that `from` sent at `at`, before anything happened
    /// to it: no decision, route or translation yet, and `fate`.
    #[inline]
    pub fn new(id: u64, at: Time, from: Endpoint, packet: Packet, fate: Fate) -> Outcome {
        Outcome {
            id,
            at,
            from,
            packet,
            decisions: [None; 8],
            route: None,
            translation: None,
            nat: None,
            router: None,
            peer_router: None,
            onward_route: None,
            ccn: None,
            fate,
        }
    }

    pub fn delivered(&self) -> Option<(Endpoint, Packet)> {
        match self.fate {
            Fate::Delivered { to, packet } => Some((to, packet)),
            _ => None,
        }
    }
    // Called from `pipeline` (another codegen unit) at every decision of every packet: kept
    // inlinable across units, as it was when both lived in one module.
    #[inline]
    pub(super) fn push(&mut self, d: Decision) {
        if let Some(slot) = self.decisions.iter_mut().find(|s| s.is_none()) {
            *slot = Some(d);
        }
    }
}
