//! Explanations: every packet's path and each stage's verdict in plain words — the teaching
//! view, and the answer key for a flow-log analyzer. Built from `world::Outcome`s after the
//! fact; nothing here is on the per-packet path.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::policy::{PacketView, ProtoMatch};
use crate::world::{Drop, Fate, Outcome, Target, World};

/// The packets of one flow, in either direction, as its sender sees the addresses: an elastic
/// IP and the private address behind it are one endpoint (the request to the EIP and the
/// reply from the private address are the same flow). Ports 0 match any port; no protocol
/// matches every protocol. Shared by the API's ExplainFlow and `vpclab run --explain-flow`.
#[derive(Clone, Debug)]
pub struct FlowFilter {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: Option<ProtoMatch>,
    sport: u16,
    dport: u16,
    /// Elastic IP → private address, as the world had them when the filter was made.
    private: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

impl FlowFilter {
    pub fn new(
        world: &World,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: Option<ProtoMatch>,
        sport: u16,
        dport: u16,
    ) -> FlowFilter {
        let private: BTreeMap<Ipv4Addr, Ipv4Addr> = crate::world::live(&world.enis)
            .filter_map(|(_, e)| e.eip.map(|eip| (eip, e.ip)))
            .collect();
        let norm = |a: Ipv4Addr| private.get(&a).copied().unwrap_or(a);
        FlowFilter {
            src: norm(src),
            dst: norm(dst),
            proto,
            sport,
            dport,
            private,
        }
    }

    fn norm(&self, a: Ipv4Addr) -> Ipv4Addr {
        self.private.get(&a).copied().unwrap_or(a)
    }

    /// Whether the packet belongs to the flow (either direction).
    pub fn matches(&self, o: &Outcome) -> bool {
        let t = o.packet.five_tuple();
        let (ts, td) = (self.norm(t.src), self.norm(t.dst));
        let (sport, dport) = (self.sport, self.dport);
        let fwd = ts == self.src
            && td == self.dst
            && (sport == 0 || t.sport == sport)
            && (dport == 0 || t.dport == dport);
        let rev = ts == self.dst
            && td == self.src
            && (sport == 0 || t.dport == sport)
            && (dport == 0 || t.sport == dport);
        (fwd || rev)
            && self
                .proto
                .is_none_or(|p| p.matches(&PacketView::of(&o.packet)))
    }
}

/// An instant as explanations show it: relative to `origin` (the scenario's start) when
/// given, `t+27.001s`, else as Unix seconds, `1432917027.001000`.
pub fn when(at: crate::time::Time, origin: Option<crate::time::Time>) -> String {
    let Some(origin) = origin else {
        return at.to_string();
    };
    let us = at.micros().saturating_sub(origin.micros());
    let (s, frac) = (us / 1_000_000, us % 1_000_000);
    if frac % 1000 == 0 {
        format!("t+{s}.{:03}s", frac / 1000)
    } else {
        format!("t+{s}.{frac:06}s")
    }
}

/// Lines explaining one packet, e.g.
/// `#3 t+27.001s web-1 -> home: ICMP 172.31.16.139 -> 203.0.113.12 echo-reply …` then one
/// indented line per stage; times relative to `origin` when given ([`when`]).
pub fn packet(world: &World, o: &Outcome, origin: Option<crate::time::Time>) -> Vec<String> {
    let to = match o.fate {
        Fate::Delivered { to, .. } => Some(to),
        _ => world.resolve(o.from, o.packet.dst),
    };
    let to_name = to.map_or_else(|| o.packet.dst.to_string(), |t| world.endpoint_name(t));
    let mut lines = vec![format!(
        "#{} {} {} -> {}: {}",
        o.id,
        when(o.at, origin),
        world.endpoint_name(o.from),
        to_name,
        o.packet.summary()
    )];
    let path = path_taken(world, o);
    if path.len() > 1 {
        lines.push(format!("    path: {}", path.join(" -> ")));
    }
    let mut decisions = o.decisions.iter().flatten();
    // Egress stages come first; the route and any translation sit between egress and ingress.
    let egress: Vec<_> = decisions
        .by_ref()
        .take_while(|d| d.stage.direction() == crate::Direction::Egress)
        .copied()
        .collect();
    for d in &egress {
        lines.push(format!("    {}", world.describe(d)));
    }
    let route_line = |r: crate::world::RouteHit, dst| {
        let t = &world.route_tables[r.table as usize];
        // The route as the packet met it: the table may have changed since (mid-run changes).
        let target = match r.target {
            Target::Local => "local".to_string(),
            Target::InternetGateway(g) => format!("internet gateway {}", world.igws[g as usize].id),
            Target::NatGateway(n) if matches!(o.fate, Fate::Dropped(Drop::Blackhole { .. })) => {
                format!(
                    "NAT gateway {} (deleted: blackhole)",
                    world.nats[n as usize].id
                )
            }
            Target::NatGateway(n) => format!("NAT gateway {}", world.nats[n as usize].id),
            Target::Router(a) => {
                let att = &world.routers.attachments[a as usize];
                format!(
                    "enterprise router {} (attachment {})",
                    world.routers.routers[att.router as usize].id, att.id
                )
            }
            Target::Peering(p) => {
                let x = &world.peerings[p as usize];
                let peer = x.other(t.vpc).map_or("?", |v| &world.vpcs[v as usize].name);
                // As the packet met it: deleted by then if it blackholed the packet.
                let gone = if matches!(o.fate, Fate::Dropped(Drop::Blackhole { .. })) {
                    " (deleted: blackhole)"
                } else {
                    ""
                };
                format!("VPC peering connection {} to VPC {peer}{gone}", x.id)
            }
            Target::VpnGateway(g) => {
                let x = &world.vpn_gateways[g as usize];
                let gone = if matches!(o.fate, Fate::Dropped(Drop::Blackhole { .. })) {
                    " (detached: blackhole)"
                } else {
                    ""
                };
                format!("virtual private gateway {}{gone}", x.id)
            }
            Target::Blackhole => "blackhole".to_string(),
        };
        // A propagated route says what propagated it, and a route that beat propagated
        // routes which also match says which and why (policy.md §6.1). The table's
        // propagation is read as it is now: a traffic script cannot change it, so within a
        // run it is what the packet met (a gateway's connections never change).
        let mut why = match (r.propagated, r.target) {
            (Some(k), Target::VpnGateway(g)) => {
                let c = &world.vpn_gateways[g as usize].connections[r.route as usize];
                format!(
                    "propagated: {} of connection {} ({}); ",
                    k.label(),
                    c.name,
                    c.id
                )
            }
            _ => String::new(),
        };
        let local = r.target == Target::Local;
        let beaten: Vec<String> = world
            .propagated_routes(r.table)
            .filter(|&(n, g, c, _)| {
                let same = n.prefix_len() == r.destination.prefix_len();
                let winner = r.propagated.is_some()
                    && r.target == Target::VpnGateway(g)
                    && r.route == c
                    && n == r.destination;
                n.contains(dst)
                    && !winner
                    && (same || (local && n.prefix_len() > r.destination.prefix_len()))
            })
            .map(|(n, g, c, k)| {
                let c = &world.vpn_gateways[g as usize].connections[c as usize];
                format!("the {} {n} of {}", k.label(), c.name)
            })
            .collect();
        if !beaten.is_empty() {
            let rule = if local {
                "the local route wins over propagated routes in the VPC's block, even more \
                 specific ones"
            } else {
                "at one prefix a static route wins, then Direct Connect, VPN static, VPN BGP"
            };
            why.push_str(&format!("preferred to {} ({rule}); ", beaten.join(", ")));
        }
        format!(
            "    route table {}: {} -> {target} ({why}longest prefix match for {dst})",
            t.name, r.destination
        )
    };
    if let Some(r) = o.route {
        lines.push(route_line(r, o.packet.dst));
    }
    for r in [o.router, o.peer_router].into_iter().flatten() {
        let router = &world.routers.routers[r.router as usize].id;
        let att = |a: u32| {
            let a = &world.routers.attachments[a as usize];
            format!("{} attachment {}", a.kind.label(), a.name)
        };
        let from = att(r.from);
        match r.choice {
            Some(c) => {
                let table = &world.routers.tables[c.table as usize].name;
                // A static route whose attachment was deleted is a blackhole (huawei ER:
                // policy.md §3.2): say which attachment it was.
                let gone = world.routers.tables[c.table as usize]
                    .routes
                    .iter()
                    .find(|x| x.destination == c.destination && c.propagated.is_none())
                    .and_then(|x| match x.hop {
                        crate::router::Hop::Attachment(a)
                            if world.routers.attachments[a as usize].deleted =>
                        {
                            Some(a)
                        }
                        _ => None,
                    });
                let hop = match (c.hop, gone) {
                    (crate::router::Hop::Attachment(a), _) => att(a),
                    (crate::router::Hop::Blackhole, Some(a)) => {
                        format!("blackhole (its {}, was deleted)", att(a))
                    }
                    (crate::router::Hop::Blackhole, None) => "blackhole".to_string(),
                };
                let why = match c.propagated {
                    None => "static route".to_string(),
                    Some(k) => format!("propagated by a {} attachment", k.label()),
                };
                lines.push(format!(
                    "    router {router}: in through {from}; table {table}: {} -> {hop} ({why}, longest prefix match for {})",
                    c.destination, o.packet.dst
                ));
            }
            None if matches!(
                o.fate,
                Fate::Dropped(Drop::Router {
                    why: crate::world::RouterDrop::NoAttachmentInAz,
                    ..
                })
            ) =>
            {
                let zone = match o.from {
                    crate::world::Endpoint::Eni(e) => {
                        let s = world.enis[e as usize].subnet;
                        format!("availability zone {}", world.subnets[s as usize].az)
                    }
                    crate::world::Endpoint::External(_)
                    | crate::world::Endpoint::Service { .. }
                    | crate::world::Endpoint::Device { .. } => {
                        "the sender's availability zone".into()
                    }
                };
                lines.push(format!(
                    "    router {router}: {from} has no interface in {zone}: the router is not reachable from there (zone affinity)"
                ))
            }
            None if matches!(o.fate, Fate::Dropped(Drop::TooBig { .. })) => lines.push(format!(
                "    router {router}: in through {from}; not routed"
            )),
            None => lines.push(format!(
                "    router {router}: in through {from}; no route for {}",
                o.packet.dst
            )),
        }
    }
    if o.router.is_some()
        && let Some(r) = o.onward_route
    {
        lines.push(route_line(r, o.packet.dst));
    }
    if let Some(n) = o.nat {
        let id = &world.nats[n.nat as usize].id;
        let (ii, ip) = n.inside;
        let (oi, op) = n.outside;
        if o.packet.src == ii && n.forwarded {
            lines.push(format!(
                "    NAT gateway {id}: reply of a forwarded flow, source {ii}:{ip} -> {oi}:{op} (DNAT rule)"
            ));
        } else if o.packet.src == ii {
            lines.push(format!(
                "    NAT gateway {id}: source {ii}:{ip} -> {oi}:{op} (session for {})",
                o.packet.dst
            ));
        } else if n.forwarded {
            lines.push(format!(
                "    NAT gateway {id}: DNAT rule {oi}:{op} -> {ii}:{ip} (port forwarding)"
            ));
        } else {
            lines.push(format!(
                "    NAT gateway {id}: reply to {oi}:{op} -> {ii}:{ip} (the session's inside host)"
            ));
        }
        if let Some(r) = o.onward_route {
            let dst = if o.packet.src == ii { o.packet.dst } else { ii };
            lines.push(route_line(r, dst));
        }
    }
    if let Some(h) = o.ccn {
        lines.push(format!("    {}", world.describe_ccn_hop(&h, o.packet.dst)));
    }
    if let Some(x) = o.translation {
        let igw = &world.igws[x.igw as usize].id;
        if x.source {
            lines.push(format!(
                "    IGW {igw}: source {} -> elastic IP {}",
                x.from, x.to
            ));
        } else {
            lines.push(format!(
                "    IGW {igw}: elastic IP {} -> private {}",
                x.from, x.to
            ));
        }
    }
    let all: Vec<_> = o.decisions.iter().flatten().collect();
    for d in all.iter().skip(egress.len()) {
        lines.push(format!("    {}", world.describe(d)));
    }
    // The VPC's own services, and replies from addresses the cloud excludes, pass untouched.
    use crate::world::Endpoint;
    let service = matches!(o.from, Endpoint::Service { .. })
        || matches!(
            o.fate,
            Fate::Delivered {
                to: Endpoint::Service { .. },
                ..
            }
        );
    if service {
        lines.push("    VPC service: never filtered or logged (decisions D18)".into());
    } else if let Fate::Delivered {
        to: Endpoint::Eni(_),
        ..
    } = o.fate
        && !all
            .iter()
            .any(|d| d.stage == crate::verdict::Stage::SgIngress)
    {
        lines.push(
            "    from an address the cloud never filters or logs (decisions D18): not filtered, not logged"
                .into(),
        );
    }
    lines.push(format!("    {}", end(world, o)));
    if let Some(h) = hint(world, o) {
        lines.push(format!("    hint: {h}"));
    }
    lines
}

/// How the packet's journey ended, in words: `delivered to …` or `dropped by …`.
fn end(world: &World, o: &Outcome) -> String {
    match o.fate {
        Fate::Delivered { to, .. } => format!("delivered to {}", world.endpoint_name(to)),
        Fate::Excluded => {
            "traffic the cloud never filters or logs (decisions D18): passed, not logged".into()
        }
        Fate::Dropped(Drop::Policy(d)) => format!("dropped by {}", stage_name(d.stage)),
        Fate::Dropped(Drop::NoRoute { table }) => format!(
            "dropped: no route in {} matches {}",
            world.route_tables[table as usize].name, o.packet.dst
        ),
        Fate::Dropped(Drop::Blackhole { table, .. }) => {
            let t = &world.route_tables[table as usize];
            match o.route.or(o.onward_route).map(|r| r.target) {
                Some(Target::NatGateway(n)) => format!(
                    "dropped: blackhole route in {} (its NAT gateway {} was deleted)",
                    t.name, world.nats[n as usize].id
                ),
                Some(Target::Peering(p)) => format!(
                    "dropped: blackhole route in {} (its VPC peering connection {} was deleted)",
                    t.name, world.peerings[p as usize].id
                ),
                Some(Target::VpnGateway(g)) => format!(
                    "dropped: blackhole route in {} (its virtual private gateway {} was \
                     detached)",
                    t.name, world.vpn_gateways[g as usize].id
                ),
                _ => format!("dropped: blackhole route in {}", t.name),
            }
        }
        Fate::Dropped(Drop::NoPublicIp) => {
            "dropped at the internet gateway: the ENI has no elastic IP".into()
        }
        Fate::Dropped(Drop::NotInPeer { peering }) => {
            let x = &world.peerings[peering as usize];
            let from = o
                .route
                .map_or(x.vpcs[0], |r| world.route_tables[r.table as usize].vpc);
            let peer = &world.vpcs[x.other(from).unwrap_or(from) as usize];
            format!(
                "dropped at VPC peering connection {}: {} is not in the peer VPC {} ({}); \
                 peering is not transitive and lends neither VPC's gateways to the other",
                x.id, o.packet.dst, peer.name, peer.cidr
            )
        }
        Fate::Dropped(Drop::VpnNoRoute { gateway }) => {
            let g = &world.vpn_gateways[gateway as usize];
            let v = &world.vpcs[g.vpc as usize];
            format!(
                "dropped at virtual private gateway {}: none of its connections reaches {}, \
                 and it routes only their networks and its VPC's block ({} of VPC {})",
                g.id, o.packet.dst, v.cidr, v.name
            )
        }
        Fate::Dropped(Drop::NoHost) => format!("lost: no host answers at {}", o.packet.dst),
        Fate::Dropped(Drop::TtlExpired { at, .. }) => {
            let e = &world.enis[at as usize];
            let hop = match world.nats.iter().find(|n| n.eni == at) {
                Some(n) => format!("NAT gateway {}", n.id),
                None => world.endpoint_name(crate::world::Endpoint::Eni(at)),
            };
            let ip = e.ip;
            format!("dropped: TTL expired at {hop} (it answers with time-exceeded from {ip})")
        }
        Fate::Dropped(Drop::TooBig { by, mtu, packet }) => {
            // A router answers from its attachment's interface; the other devices from the
            // address the packet was for.
            let (device, from) = match (by, o.router) {
                (crate::world::Endpoint::Eni(e), Some(r)) => (
                    format!(
                        "{} {}",
                        world.profile.router_product, world.routers.routers[r.router as usize].id
                    ),
                    world.enis[e as usize].ip,
                ),
                _ => (world.endpoint_name(by), packet.dst),
            };
            if packet.dont_fragment {
                format!(
                    "dropped at {device}: {} bytes with don't-fragment set do not fit its \
                     link's MTU {mtu} (it answers with fragmentation-needed, MTU {mtu}, from \
                     {from})",
                    packet.len
                )
            } else {
                format!(
                    "dropped at {device}: {} bytes do not fit its MTU {mtu}, and it fragments \
                     nothing (without don't-fragment set, no error is sent)",
                    packet.len
                )
            }
        }
        Fate::Dropped(Drop::Router { router, why }) => format!(
            "dropped by enterprise router {}: {}",
            world.routers.routers[router as usize].id,
            match why {
                crate::world::RouterDrop::NoRoute => "no route for the destination",
                crate::world::RouterDrop::Blackhole => "the matching route is a blackhole",
                crate::world::RouterDrop::NoAttachmentInAz =>
                    "the VPC attachment has no interface in the sender's availability zone",
            }
        ),
        Fate::Dropped(Drop::Throttled(t)) => world.describe_throttle(&t),
        Fate::Dropped(Drop::Nat { nat, why }) => format!(
            "dropped by NAT gateway {}: {}",
            world.nats[nat as usize].id,
            match why {
                crate::nat::NatDrop::Protocol => "it translates TCP, UDP and ICMP only",
                crate::nat::NatDrop::PortsExhausted => "no free port for this destination",
                crate::nat::NatDrop::NoSession =>
                    "no session or DNAT rule matches (connections from outside need a DNAT rule)",
                crate::nat::NatDrop::NoConnection =>
                    "no session for this TCP connection and it is not a SYN (answered with a RST from the gateway)",
                crate::nat::NatDrop::Expired {
                    from: crate::nat::Side::Inside,
                } =>
                    "the session timed out (a TCP packet from inside is answered with a RST from the gateway)",
                crate::nat::NatDrop::Expired {
                    from: crate::nat::Side::Outside,
                } => "the session timed out; a late reply goes no further",
                crate::nat::NatDrop::Closed {
                    from: crate::nat::Side::Inside,
                } =>
                    "the connection was closed by FIN or RST (a TCP packet from inside is answered with a RST from the gateway; a new connection starts with SYN)",
                crate::nat::NatDrop::Closed {
                    from: crate::nat::Side::Outside,
                } => "the connection was closed by FIN or RST; a late reply goes no further",
            }
        ),
    }
}

/// A one-line hint for the classic mistakes a packet shows, if it shows one: a stateless ACL
/// without an entry for the replies (policy.md §2: NACLs are stateless, replies need the
/// ephemeral range), a security group without the rule (§1.1: allow rules only), a missing
/// route or public address (§6.1), a closed port answering RST (`host.rs`).
pub fn hint(world: &World, o: &Outcome) -> Option<String> {
    use crate::verdict::{By, Stage, Verdict};
    use crate::world::Endpoint;
    let p = &o.packet;
    match o.fate {
        Fate::Dropped(Drop::Policy(d)) => match (d.stage, d.verdict) {
            (Stage::AclEgress | Stage::AclIngress, Verdict::Deny(_)) if is_reply(o) => {
                let (dir, way) = match d.stage {
                    Stage::AclEgress => ("egress", "in"),
                    _ => ("ingress", "out"),
                };
                let to = match d.stage {
                    Stage::AclEgress => format!("to {}", p.dst),
                    _ => format!("from {}", p.src),
                };
                Some(format!(
                    "network ACLs are stateless: this reply belongs to traffic that was let \
                     {way}, and the ACL needs its own {dir} entry for it: allow {} {to}{}",
                    proto_name(p),
                    reply_ports(p)
                ))
            }
            (Stage::AclIngress, Verdict::Deny(_)) => Some(format!(
                "the subnet's network ACL denies it at the subnet edge, so the instance's \
                 security group is never asked: add an ingress entry that allows {} from {} \
                 (entries are checked in order; the first match decides)",
                proto_and_port(p),
                p.src
            )),
            (Stage::AclEgress, Verdict::Deny(_)) => Some(format!(
                "the subnet's network ACL denies it on the way out: add an egress entry that \
                 allows {} to {} (entries are checked in order; the first match decides)",
                proto_and_port(p),
                p.dst
            )),
            (Stage::SgIngress | Stage::SgEgress, Verdict::Deny(By::SgNoMatch)) if is_reply(o) => {
                Some(
                    "this looks like a reply, but its connection is not tracked (any more): a \
                     security group lets replies through without a rule only while it tracks \
                     their connection, which ended at its idle timeout or a rule change, or was never seen"
                        .into(),
                )
            }
            // The PMTUD black hole (policy.md §1.4, docs/decisions/mtu.md).
            (Stage::SgIngress, Verdict::Deny(By::SgNoMatch)) if p.next_hop_mtu().is_some() => {
                Some(format!(
                    "path MTU discovery is blocked: this error asks for datagrams of at most \
                     {} bytes, and a security group admits inbound ICMP only by a rule (an \
                     ICMP error is not part of the connection it is about here, D9): add an \
                     inbound rule for ICMP type 3 code 4 (fragmentation needed)",
                    p.next_hop_mtu().unwrap_or_default()
                ))
            }
            (Stage::SgIngress, Verdict::Deny(By::SgNoMatch)) => Some(format!(
                "security groups allow only what a rule allows: add an inbound rule for {} \
                 from {} (the subnet's network ACL let it in)",
                proto_and_port(p),
                p.src
            )),
            (Stage::SgEgress, Verdict::Deny(By::SgNoMatch)) => Some(format!(
                "security groups allow only what a rule allows: add an outbound rule for {} \
                 to {}",
                proto_and_port(p),
                p.dst
            )),
            _ => None,
        },
        Fate::Dropped(Drop::NoRoute { table }) => {
            // The destination's VPC is peered with this one: the route back is what is missing
            // (each side routes its own packets, policy.md §6.1).
            let vpc = world.route_tables[table as usize].vpc;
            let peered = crate::world::live(&world.peerings).find_map(|(_, x)| {
                let v = &world.vpcs[x.other(vpc)? as usize];
                v.cidr.contains(p.dst).then_some((x, v))
            });
            if let Some((x, v)) = peered {
                return Some(format!(
                    "VPC {} ({}) is peered with this one through {}, but {} has no route to \
                     it: each side needs its own route to the other's block through the \
                     peering connection",
                    v.name, v.cidr, x.id, world.route_tables[table as usize].name
                ));
            }
            Some(format!(
            "no route in {} covers {}: add one (0.0.0.0/0 to an internet or NAT gateway for \
             the internet, another network's CIDR to its router attachment or peering)",
                world.route_tables[table as usize].name, p.dst
            ))
        }
        Fate::Dropped(Drop::NoPublicIp) => Some(
            "the interface has no elastic IP: give it one, or send its internet traffic through \
             a NAT gateway (a route 0.0.0.0/0 to the gateway)"
                .into(),
        ),
        Fate::Delivered { to, packet }
            if !matches!(to, Endpoint::Service { .. })
                && !matches!(o.from, Endpoint::Service { .. })
                && !is_reply(o) =>
        {
            // A closed port: the rules let the request through and the host answers it with
            // a RST (TCP) or port-unreachable (UDP), which the flow log shows as ACCEPTed.
            // The port is the one delivered (after DNAT).
            let host = world.host(to);
            if !host.auto_reply {
                return None;
            }
            let closed = match packet.l4 {
                crate::packet::L4::Tcp { dport, flags, .. }
                    if flags.is_syn_only() && !host.listens_tcp(dport) =>
                {
                    Some(("TCP", dport, "a RST"))
                }
                crate::packet::L4::Udp { dport, .. } if !host.udp.contains(&dport) => {
                    Some(("UDP", dport, "ICMP port-unreachable"))
                }
                _ => None,
            };
            closed.map(|(proto, port, answer)| {
                format!(
                    "a closed port: nothing listens on {proto} {port} at {}, so it answers with \
                     {answer}; the rules let the request in (its records say ACCEPT), the \
                     service is not there (`listen:` in the scenario)",
                    world.endpoint_name(to)
                )
            })
        }
        _ => None,
    }
}

/// Whether a packet answers a connection (what a stateful group lets back without a rule and
/// a stateless ACL does not): the security group found it tracked, or it is an echo reply, a
/// TCP segment that acknowledges, or a UDP datagram from a service port to an ephemeral one.
fn is_reply(o: &Outcome) -> bool {
    use crate::packet::{L4, icmp};
    use crate::verdict::{By, Verdict};
    let tracked = o
        .decisions
        .iter()
        .flatten()
        .any(|d| matches!(d.verdict, Verdict::Allow(By::Tracked | By::Related)));
    tracked
        || match o.packet.l4 {
            L4::Icmp { icmp_type, .. } => icmp_type == icmp::ECHO_REPLY,
            L4::Tcp { flags, .. } => flags.has(crate::packet::TcpFlags::ACK),
            L4::Udp { sport, dport } => sport < 1024 && dport >= 1024,
            L4::Other { .. } => false,
        }
}

/// `ICMP`, `TCP`, `UDP` or `protocol N`.
fn proto_name(p: &crate::packet::Packet) -> String {
    match p.l4 {
        crate::packet::L4::Icmp { .. } => "ICMP".into(),
        crate::packet::L4::Tcp { .. } => "TCP".into(),
        crate::packet::L4::Udp { .. } => "UDP".into(),
        crate::packet::L4::Other { .. } => format!("protocol {}", p.five_tuple().protocol),
    }
}

/// `TCP port 22`, `UDP port 53`, `ICMP`.
fn proto_and_port(p: &crate::packet::Packet) -> String {
    let t = p.five_tuple();
    match p.l4 {
        crate::packet::L4::Tcp { .. } | crate::packet::L4::Udp { .. } => {
            format!("{} port {}", proto_name(p), t.dport)
        }
        _ => proto_name(p),
    }
}

/// The ports a reply entry needs: a client's ephemeral range, naming this reply's port.
fn reply_ports(p: &crate::packet::Packet) -> String {
    match p.l4 {
        crate::packet::L4::Tcp { .. } | crate::packet::L4::Udp { .. } => format!(
            " on ports 1024-65535, the clients' ephemeral ports (this reply goes to port {})",
            p.five_tuple().dport
        ),
        _ => String::new(),
    }
}

/// What a record's explanation keeps of a packet it counts, taken when the packet was sent
/// (the world may change afterwards).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// [`path_taken`].
    pub path: Vec<String>,
    /// How it ended: `delivered to …`, `dropped by …`.
    pub end: String,
    pub hint: Option<String>,
}

/// The trace of one packet, for the explanations of the records that count it.
pub fn trace(world: &World, o: &Outcome) -> Trace {
    Trace {
        path: path_taken(world, o),
        end: end(world, o),
        hint: hint(world, o),
    }
}

/// How many packet ids a record's explanation lists before it says how many more.
const LISTED_PACKETS: usize = 16;

/// The "why" of a record, the lines that follow it: the packets it counts and when, each
/// decision behind its action (the words its ground truth keeps, with the packets' addresses
/// where no rule matched), the way its first packet went and how it ended, and a hint for the
/// classic mistakes. `trace` finds a counted packet's [`Trace`] (`None` when not kept).
pub fn record<'t>(
    r: &crate::flowlog::Record,
    trace: impl Fn(u64) -> Option<&'t Trace>,
    origin: Option<crate::time::Time>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let ids = &r.truth.packet_ids;
    if let Some(flow) = &r.flow
        && !ids.is_empty()
    {
        let mut listed: Vec<String> = ids
            .iter()
            .take(LISTED_PACKETS)
            .map(|i| format!("#{i}"))
            .collect();
        if ids.len() > LISTED_PACKETS {
            listed.push(format!("and {} more", ids.len() - LISTED_PACKETS));
        }
        let span = if flow.first == flow.last {
            format!("at {}", when(flow.first, origin))
        } else {
            format!(
                "from {} to {}",
                when(flow.first, origin),
                when(flow.last, origin)
            )
        };
        lines.push(format!("    packets {}, {span}", listed.join(" ")));
        let tuple = flow_words(&flow.tuple);
        for d in &r.truth.decisions {
            let d = d.replacen(NO_MATCH, &format!("{NO_MATCH} {tuple}"), 1);
            lines.push(format!("    {d}"));
        }
    }
    if let Some(t) = ids.first().and_then(|&i| trace(i)) {
        match t.path.len() {
            0 | 1 => lines.push(format!("    {}", t.end)),
            _ => lines.push(format!("    path: {}: {}", t.path.join(" -> "), t.end)),
        }
        if let Some(h) = &t.hint {
            lines.push(format!("    hint: {h}"));
        }
    }
    lines
}

/// The words a decision uses when no rule matched ([`World::describe`]); a record's
/// explanation adds the packets' addresses after them.
pub const NO_MATCH: &str = "no rule matched";

/// `ICMP 172.31.16.139 -> 203.0.113.12`, `TCP 10.0.0.5:443 -> 203.0.113.9:50123`.
fn flow_words(t: &crate::packet::FiveTuple) -> String {
    match t.protocol {
        1 => format!("ICMP {} -> {}", t.src, t.dst),
        6 => format!("TCP {}:{} -> {}:{}", t.src, t.sport, t.dst, t.dport),
        17 => format!("UDP {}:{} -> {}:{}", t.src, t.sport, t.dst, t.dport),
        n => format!("protocol {n} {} -> {}", t.src, t.dst),
    }
}

/// One hop of a packet's way: a thing of the world, by its index. [`hops`] walks them once;
/// [`path_taken`] names them in words for `--explain`, and `vpclab graph` draws them as the
/// boxes of its picture, so that the two always show the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    Eni(u32),
    Subnet(u32),
    /// An internet gateway.
    Igw(u32),
    Nat(u32),
    /// An enterprise router (a transit gateway on aws).
    Router(u32),
    /// A VPC peering connection (`World::peerings`).
    Peering(u32),
    Ccn(u32),
    Internet,
    /// An external host, on the internet or on premises.
    Host(u32),
    /// The gateway attachment (VPN, Direct Connect) through which an on-premises host's site
    /// reaches its router, or the virtual private gateway of its VPC: the picture draws the
    /// site there; the words name a virtual private gateway and leave an attachment out (the
    /// router's line of an explanation names it).
    Site(crate::world::Site),
    /// Service `service` of VPC `vpc` (as [`crate::world::Endpoint::Service`]).
    Service {
        vpc: u32,
        service: u32,
    },
}

/// The hops a packet took, in the order it took them, ending where it went no further: ENI,
/// subnet, NAT gateway, IGW, internet, host. A packet an egress rule dropped ends at its own
/// interface or subnet; one a router, NAT gateway, internet gateway or VPC peering connection
/// dropped ends there (a blackhole route to a deleted connection ends at the subnet, as any
/// blackhole); a reply an inbound ACL dropped ends at the subnet. (Not the topology's shortest path: the
/// route the packet really took.) A hop never repeats the one before: a same-subnet packet's
/// subnet is one hop.
pub fn hops(world: &World, o: &Outcome) -> Vec<Hop> {
    use crate::verdict::Stage;
    use crate::world::{Device, Endpoint};
    let policy = match o.fate {
        Fate::Dropped(Drop::Policy(d)) => Some(d),
        _ => None,
    };
    let stops_at = |stage: Stage, at: u32| policy.is_some_and(|d| d.stage == stage && d.at == at);
    let mut hops = Hops::default();
    // Between an external host and the cloud: its site's attachment, or the internet.
    let outside = |x: u32| match world.externals[x as usize].site {
        Some(s) => Hop::Site(s),
        None => Hop::Internet,
    };
    match o.from {
        Endpoint::Eni(e) => {
            hops.push(Hop::Eni(e));
            if stops_at(Stage::SgEgress, e) {
                return hops.0;
            }
            let s = world.enis[e as usize].subnet;
            hops.push(Hop::Subnet(s));
            if stops_at(Stage::AclEgress, s) {
                return hops.0;
            }
        }
        Endpoint::External(x) => {
            hops.push(Hop::Host(x));
            hops.push(outside(x));
        }
        Endpoint::Service { vpc, service } => hops.push(Hop::Service { vpc, service }),
        Endpoint::Device { device, .. } => hops.push(match device {
            Device::InternetGateway(g) => Hop::Igw(g),
            Device::VpnGateway(g) => Hop::Site(crate::world::Site::VpnGateway(g)),
            Device::Peering(p) => Hop::Peering(p),
        }),
    }
    // Out of the VPC: through the internet gateway, a NAT gateway (and on), a router. Whether
    // the packet goes on after a NAT gateway (neither its subnet's ACLs nor the gateway
    // dropped it).
    let through_nat = |hops: &mut Hops, n: u32| {
        hops.push(Hop::Nat(n));
        let s = world.nats[n as usize].subnet;
        let nat_acl = stops_at(Stage::AclIngress, s) || stops_at(Stage::AclEgress, s);
        let nat_drop = matches!(o.fate, Fate::Dropped(Drop::Nat { .. }));
        !(nat_acl || nat_drop || policy.is_some_and(|d| d.stage == Stage::Nat))
    };
    let to_internet = |hops: &mut Hops, g: u32| {
        hops.push(Hop::Igw(g));
        if !matches!(
            o.fate,
            Fate::Dropped(Drop::NoPublicIp | Drop::TooBig { .. })
        ) {
            hops.push(Hop::Internet);
        }
    };
    // A blackhole route (a deleted NAT gateway's, say) keeps the packet in its subnet.
    if let (Some(r), Fate::Dropped(Drop::Blackhole { table, route })) = (o.route, o.fate)
        && (r.table, r.route) == (table, route)
    {
        return hops.0;
    }
    match o.route.map(|r| r.target) {
        Some(Target::InternetGateway(g)) => to_internet(&mut hops, g),
        Some(Target::NatGateway(n)) => {
            if !through_nat(&mut hops, n) {
                return hops.0;
            }
            if let Some(r) = o.onward_route
                && let Target::InternetGateway(g) = r.target
            {
                to_internet(&mut hops, g);
            }
        }
        _ => {}
    }
    for r in [o.router, o.peer_router].into_iter().flatten() {
        hops.push(Hop::Router(r.router));
    }
    // A router drops what it has no route for, and (answering from its interface) what
    // does not fit its MTU.
    if matches!(
        o.fate,
        Fate::Dropped(
            Drop::Router { .. }
                | Drop::TooBig {
                    by: Endpoint::Eni(_),
                    ..
                }
        )
    ) {
        return hops.0;
    }
    // Out through the VPC's virtual private gateway, by the route's or (after a NAT gateway)
    // the onward route's; it drops what none of its connections reaches (and, from premises,
    // what is not in its VPC).
    let gateway = [o.route, o.onward_route]
        .into_iter()
        .flatten()
        .find_map(|r| match r.target {
            Target::VpnGateway(g) => Some(g),
            _ => None,
        });
    if let Some(g) = gateway
        && !matches!(o.fate, Fate::Dropped(Drop::Blackhole { .. }))
    {
        hops.push(Hop::Site(crate::world::Site::VpnGateway(g)));
    }
    let too_big = matches!(o.fate, Fate::Dropped(Drop::TooBig { .. }));
    if matches!(o.fate, Fate::Dropped(Drop::VpnNoRoute { .. })) || (gateway.is_some() && too_big) {
        return hops.0;
    }
    // Through a VPC peering connection, the route's or (after a router or NAT gateway) the
    // onward route's; a packet not for the peer's addresses goes no further.
    let peering = [o.route, o.onward_route]
        .into_iter()
        .flatten()
        .find_map(|r| match r.target {
            Target::Peering(p) => Some(p),
            _ => None,
        });
    if let Some(p) = peering
        && !matches!(o.fate, Fate::Dropped(Drop::Blackhole { .. }))
    {
        hops.push(Hop::Peering(p));
        if matches!(o.fate, Fate::Dropped(Drop::NotInPeer { .. })) || too_big {
            return hops.0;
        }
    }
    if let Some(h) = o.ccn {
        hops.push(Hop::Ccn(h.ccn));
        if h.throttled {
            return hops.0;
        }
    }
    // Into the VPC from outside: the internet gateway's elastic IP, or a NAT gateway.
    if let Some(x) = o.translation
        && !x.source
    {
        hops.push(Hop::Igw(x.igw));
    }
    if let (Endpoint::External(_) | Endpoint::Device { .. }, Some(n)) = (o.from, o.nat)
        && !through_nat(&mut hops, n.nat)
    {
        return hops.0;
    }
    match o.fate {
        Fate::Delivered {
            to: Endpoint::Eni(b),
            ..
        } => {
            hops.push(Hop::Subnet(world.enis[b as usize].subnet));
            hops.push(Hop::Eni(b));
        }
        Fate::Delivered {
            to: Endpoint::External(x),
            ..
        } => {
            hops.push(outside(x));
            hops.push(Hop::Host(x));
        }
        Fate::Delivered {
            to: Endpoint::Service { vpc, service },
            ..
        } => hops.push(Hop::Service { vpc, service }),
        Fate::Dropped(Drop::Policy(d)) if d.stage == Stage::AclIngress => {
            hops.push(Hop::Subnet(d.at))
        }
        Fate::Dropped(Drop::Policy(d)) if d.stage == Stage::SgIngress => {
            hops.push(Hop::Subnet(world.enis[d.at as usize].subnet));
            hops.push(Hop::Eni(d.at));
        }
        // A packet from outside that no session or DNAT rule matches ends at the gateway.
        Fate::Dropped(Drop::Nat { nat: n, .. }) => hops.push(Hop::Nat(n)),
        // Expired at a NAT gateway: its path ends there.
        Fate::Dropped(Drop::TtlExpired { at, .. }) => {
            if let Some(n) = world.nats.iter().position(|g| g.eni == at) {
                hops.push(Hop::Nat(n as u32));
            }
        }
        _ => {}
    }
    hops.0
}

/// Hops, a hop never repeating the one before.
#[derive(Default)]
struct Hops(Vec<Hop>);

impl Hops {
    fn push(&mut self, hop: Hop) {
        if self.0.last() != Some(&hop) {
            self.0.push(hop);
        }
    }
}

/// [`hops`] in words, e.g. `ENI web-1 -> subnet web -> NAT gateway nat-… -> IGW igw-… ->
/// internet -> host home` or `ENI app-host -> subnet app-a -> VPC peering pcx-… -> subnet
/// data-a -> ENI data-host` (a site's attachment left out).
pub fn path_taken(world: &World, o: &Outcome) -> Vec<String> {
    use crate::world::{Endpoint, Node};
    let words = |h: Hop| {
        let node = match h {
            Hop::Eni(e) => Node::Eni(e),
            Hop::Subnet(s) => Node::Subnet(s),
            Hop::Igw(g) => Node::InternetGateway(g),
            Hop::Router(r) => Node::Router(r),
            Hop::Ccn(c) => Node::Ccn(c),
            Hop::Internet => Node::Internet,
            Hop::Host(x) => Node::External(x),
            // Not nodes of the topology graph.
            Hop::Nat(n) => return Some(format!("NAT gateway {}", world.nats[n as usize].id)),
            Hop::Peering(p) => {
                return Some(format!("VPC peering {}", world.peerings[p as usize].id));
            }
            Hop::Service { vpc, service } => {
                return Some(world.endpoint_name(Endpoint::Service { vpc, service }));
            }
            Hop::Site(crate::world::Site::VpnGateway(g)) => {
                let x = &world.vpn_gateways[g as usize];
                let c = match world.hop_connection(g, o) {
                    Some(c) => format!(" ({})", x.connections[c as usize].name),
                    None => String::new(),
                };
                return Some(format!("VGW {}{c}", x.id));
            }
            Hop::Site(crate::world::Site::Attachment(_)) => return None,
        };
        Some(world.name_of(&node))
    };
    hops(world, o).into_iter().filter_map(words).collect()
}

fn stage_name(s: crate::verdict::Stage) -> &'static str {
    use crate::verdict::Stage::*;
    match s {
        SgEgress => "the security group (egress)",
        AclEgress => "the network ACL (egress)",
        AclIngress => "the network ACL (ingress)",
        SgIngress => "the security group (ingress)",
        Nat => "the NAT gateway",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Ipv4Net;
    use crate::packet::{Packet, TcpFlags};
    use crate::profile::{Profile, Provider};
    use crate::time::Time;
    use crate::world::{Config, Endpoint, EniSpec, RouteHit};

    const PRIVATE: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
    const EIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    const HOME: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 12);
    const OTHER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 99);

    /// A world with one ENI (10.0.1.10) behind the elastic IP 198.51.100.10.
    fn world() -> World {
        let mut w = World::new(Config::new(Profile::of(Provider::Aws)));
        let t0 = Time::from_secs(1_700_000_000);
        let net = |s: &str| Ipv4Net::parse_strict(s).unwrap();
        let vpc = w.create_vpc("vpc", None, net("10.0.0.0/16")).unwrap();
        w.create_internet_gateway(vpc, None).unwrap();
        let subnet = w
            .create_subnet("s", None, vpc, net("10.0.1.0/24"), None)
            .unwrap();
        let spec = EniSpec {
            name: "web".into(),
            subnet,
            ip: Some(PRIVATE),
            eip: Some(EIP),
            ..Default::default()
        };
        w.create_eni(t0, spec).unwrap();
        w
    }

    fn outcome(packet: Packet) -> Outcome {
        let at = Time::from_secs(1_700_000_001);
        Outcome::new(1, at, Endpoint::External(0), packet, Fate::Excluded)
    }

    #[test]
    fn a_flow_is_both_directions_with_the_elastic_ip_as_its_private_address() {
        let w = world();
        let syn = |src, sport, dst, dport| {
            outcome(Packet::tcp(src, sport, dst, dport, TcpFlags::SYN, 60))
        };
        // As the sender sees it: home connects to the EIP; the reply leaves the private address.
        let f = FlowFilter::new(&w, HOME, EIP, Some(ProtoMatch::Tcp), 40_000, 443);
        assert!(f.matches(&syn(HOME, 40_000, EIP, 443)));
        assert!(f.matches(&syn(HOME, 40_000, PRIVATE, 443)));
        assert!(f.matches(&syn(PRIVATE, 443, HOME, 40_000)));
        assert!(
            !f.matches(&syn(HOME, 40_001, EIP, 443)),
            "another source port"
        );
        assert!(!f.matches(&syn(OTHER, 40_000, EIP, 443)), "another host");
        assert!(
            !f.matches(&syn(PRIVATE, 40_000, HOME, 443)),
            "ports reversed"
        );
        let udp = outcome(Packet::udp(HOME, 40_000, EIP, 443, 64));
        assert!(!f.matches(&udp), "another protocol");
        // Ports 0 and no protocol match any.
        let any = FlowFilter::new(&w, PRIVATE, HOME, None, 0, 0);
        assert!(any.matches(&udp));
        assert!(any.matches(&outcome(Packet::echo_request(HOME, EIP, 1, 0))));
        assert!(!any.matches(&outcome(Packet::echo_request(OTHER, EIP, 1, 0))));
    }

    /// A packet delivered to an internet host crossed the internet, whatever came before: the
    /// words said so only after an internet gateway, so a packet a router sent on (to an
    /// egress VPC's NAT gateway) reached `host home` straight from `router er`.
    #[test]
    fn a_packet_delivered_to_an_internet_host_crossed_the_internet() {
        let mut w = world();
        let home = w
            .create_external_host("home", HOME, crate::host::Host::default())
            .unwrap();
        let er = w.create_enterprise_router("er", None, None).unwrap();
        let packet = Packet::echo_request(PRIVATE, HOME, 1, 0);
        let o = Outcome {
            from: Endpoint::Eni(0),
            router: Some(crate::world::RouterHit {
                router: er,
                from: 0,
                choice: None,
            }),
            fate: Fate::Delivered {
                to: Endpoint::External(home),
                packet,
            },
            ..outcome(packet)
        };
        assert_eq!(
            hops(&w, &o),
            [
                Hop::Eni(0),
                Hop::Subnet(0),
                Hop::Router(er),
                Hop::Internet,
                Hop::Host(home)
            ]
        );
        assert_eq!(
            path_taken(&w, &o),
            ["ENI web", "subnet s", "router er", "internet", "host home"]
        );
    }

    /// A packet routed into a VPC peering connection crosses it between the two subnets; one
    /// not for the peer's addresses ends at the connection; a blackhole route to a deleted
    /// connection keeps the packet in its subnet.
    #[test]
    fn a_peering_connection_is_a_hop_where_its_route_sends_the_packet() {
        let mut w = world();
        let net = |s: &str| Ipv4Net::parse_strict(s).unwrap();
        let peer = w.create_vpc("peer", None, net("10.1.0.0/16")).unwrap();
        let p = w.create_peering("a-b", None, 0, peer).unwrap();
        let id = w.peerings[p as usize].id.clone();
        let packet = Packet::echo_request(PRIVATE, Ipv4Addr::new(10, 2, 0, 5), 1, 0);
        let hit = RouteHit {
            table: 0,
            route: 1,
            target: Target::Peering(p),
            destination: net("10.0.0.0/8"),
            propagated: None,
        };
        let o = Outcome {
            from: Endpoint::Eni(0),
            route: Some(hit),
            fate: Fate::Dropped(Drop::NotInPeer { peering: p }),
            ..outcome(packet)
        };
        assert_eq!(hops(&w, &o), [Hop::Eni(0), Hop::Subnet(0), Hop::Peering(p)]);
        assert_eq!(
            path_taken(&w, &o),
            [
                "ENI web".to_string(),
                "subnet s".into(),
                format!("VPC peering {id}")
            ]
        );
        let o = Outcome {
            fate: Fate::Dropped(Drop::Blackhole { table: 0, route: 1 }),
            ..o
        };
        assert_eq!(hops(&w, &o), [Hop::Eni(0), Hop::Subnet(0)]);
    }

    #[test]
    fn times_count_from_the_scenario_start_to_the_millisecond_or_microsecond() {
        use crate::time::Time;
        let start = Time::from_secs(1_432_917_000);
        let at = |us: u64| Time::from_micros(start.micros() + us);
        assert_eq!(when(at(27_000_000), Some(start)), "t+27.000s");
        assert_eq!(when(at(27_001_000), Some(start)), "t+27.001s");
        assert_eq!(when(at(27_000_250), Some(start)), "t+27.000250s");
        assert_eq!(when(at(27_001_000), None), "1432917027.001000");
    }
}
