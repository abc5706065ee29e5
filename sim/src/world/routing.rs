//! Enterprise routers (transit gateways) on the packet path, and the operations that build
//! their routing: route tables, static and blackhole routes, associations, propagations, and
//! VPC attachments with their interfaces.
//!
//! A VPC attachment has one requester-managed interface per availability zone, in a subnet the
//! user picks (policy.md §6.3: "traffic is forwarded to the transit gateway only if the
//! transit gateway attachment is in a subnet of the same Availability Zone"). A packet a VPC
//! routes to the router enters through the attachment's interface in the sender's zone
//! (recorded there), is routed by the table associated with that attachment, and leaves
//! through the next attachment's interface in the same zone if it has one (else its first),
//! recorded there with the interface's own address and the real endpoints in pkt-* (the
//! transit-gateway example of flowlogs.md §1.7). From that interface it travels the VPC like
//! any packet. A packet the router cannot route is dropped there: the sender's record says
//! ACCEPT and nothing appears downstream (D13).

use std::net::Ipv4Addr;

use super::*;
use crate::addr::Ipv4Net;
use crate::flowlog::Loss;
use crate::host::Host;
use crate::ids;
use crate::packet::Packet;
use crate::policy::PacketView;
use crate::router::{AttachmentKind, Hop, StaticRoute};
use crate::time::Time;
use crate::{Action, Direction};

/// A VPC attachment's interface in one subnet: its address and id, when given.
#[derive(Clone, Debug, Default)]
pub struct AttachmentInterface {
    pub subnet: u32,
    pub ip: Option<Ipv4Addr>,
    pub eni_id: Option<String>,
}

impl World {
    /// A route table of router `router`.
    pub fn create_router_route_table(
        &mut self,
        router: u32,
        name: &str,
        id: Option<String>,
    ) -> Result<u32, ModelError> {
        let id =
            id.unwrap_or_else(|| ids::resource(&mut self.rng, self.profile.id_style, "tgw-rtb"));
        self.routers.create_table(id, name, router)
    }

    /// A static route (`Some(attachment)`) or blackhole route (`None`).
    pub fn add_router_route(
        &mut self,
        table: u32,
        destination: Ipv4Net,
        attachment: Option<u32>,
    ) -> Result<(), ModelError> {
        let hop = attachment.map_or(Hop::Blackhole, Hop::Attachment);
        self.routers
            .add_route(table, StaticRoute { destination, hop })
    }

    /// Points the static route to `destination` at `attachment` (`None`: a blackhole).
    pub fn replace_router_route(
        &mut self,
        table: u32,
        destination: Ipv4Net,
        attachment: Option<u32>,
    ) -> Result<(), ModelError> {
        let hop = attachment.map_or(Hop::Blackhole, Hop::Attachment);
        self.routers
            .replace_route(table, StaticRoute { destination, hop })
    }

    /// Replaces a router route table's static routes (`Routers::set_routes`).
    pub fn set_router_routes(
        &mut self,
        table: u32,
        routes: Vec<StaticRoute>,
    ) -> Result<(), ModelError> {
        self.routers.set_routes(table, routes)
    }

    /// Removes the static (or blackhole) route to `destination`.
    pub fn remove_router_route(
        &mut self,
        table: u32,
        destination: Ipv4Net,
    ) -> Result<(), ModelError> {
        self.routers.remove_route(table, destination)
    }

    pub fn associate_router_table(
        &mut self,
        attachment: u32,
        table: u32,
        propagate: bool,
    ) -> Result<(), ModelError> {
        self.routers.associate(attachment, table, propagate)
    }

    pub fn propagate_to_router_table(
        &mut self,
        attachment: u32,
        table: u32,
    ) -> Result<(), ModelError> {
        self.routers.propagate(attachment, table)
    }

    /// Attaches VPC `vpc` to router `router`, with an interface in each of `interfaces`'
    /// subnets (one per availability zone). The attachment propagates the VPC's block.
    pub fn attach_vpc(
        &mut self,
        now: Time,
        router: u32,
        name: &str,
        id: Option<String>,
        vpc: u32,
        interfaces: Vec<AttachmentInterface>,
    ) -> Result<u32, ModelError> {
        let v = self.vpc(vpc)?.clone();
        if interfaces.is_empty() {
            return Err(ModelError::invalid(
                "subnets",
                "a VPC attachment needs a subnet in each availability zone it serves",
            ));
        }
        let mut zones = Vec::new();
        for (i, f) in interfaces.iter().enumerate() {
            let s = self
                .subnet(f.subnet)
                .map_err(|e| e.within(&format!("subnets[{i}]")))?;
            if s.vpc != vpc {
                return Err(ModelError::invalid(
                    format!("subnets[{i}]"),
                    "the subnet belongs to another VPC",
                ));
            }
            if zones.contains(&s.az) {
                return Err(ModelError::invalid(
                    format!("subnets[{i}]"),
                    format!("two subnets in availability zone {}: one per zone", s.az),
                ));
            }
            zones.push(s.az.clone());
        }
        let a =
            self.create_router_attachment(name, id, router, AttachmentKind::Vpc, v.id.clone())?;
        let mut enis = Vec::new();
        for (i, f) in interfaces.into_iter().enumerate() {
            let spec = EniSpec {
                name: format!("{}.{name}.{i}", self.routers.routers[router as usize].name),
                id: f.eni_id,
                subnet: f.subnet,
                ip: f.ip,
                requester_managed: true,
                host: Host {
                    auto_reply: false,
                    ..Host::default()
                },
                ..EniSpec::default()
            };
            match self.create_eni(now, spec) {
                Ok(e) => enis.push(e),
                Err(err) => {
                    // Undo: the interfaces made so far and the attachment.
                    for e in enis {
                        let _ = self.delete_eni(e, now);
                    }
                    let _ = self.delete_router_attachment(a, now);
                    return Err(err.within(&format!("subnets[{i}]")));
                }
            }
        }
        let att = &mut self.routers.attachments[a as usize];
        att.enis = enis;
        att.networks = vec![v.cidr];
        if let Some(&rn) = self.router_nodes.get(&router) {
            self.graph.add_edge(rn, v.node, ());
        }
        Ok(a)
    }

    /// The attachment of VPC `vpc` to router `router`, if any.
    pub fn vpc_attachment(&self, router: u32, vpc: u32) -> Option<u32> {
        let id = &self.vpcs[vpc as usize].id;
        self.routers
            .attachments
            .iter()
            .position(|a| {
                !a.deleted
                    && a.router == router
                    && a.kind == AttachmentKind::Vpc
                    && &a.resource == id
            })
            .map(|a| a as u32)
    }

    /// The interface of attachment `a` in availability zone `az`, or its first.
    pub(super) fn attachment_eni(&self, a: u32, az: &str, fallback: bool) -> Option<u32> {
        let att = &self.routers.attachments[a as usize];
        att.enis
            .iter()
            .copied()
            .find(|&e| self.subnets[self.enis[e as usize].subnet as usize].az == az)
            .or_else(|| fallback.then(|| att.enis.first().copied()).flatten())
    }

    /// Attaches a VPN gateway, Direct Connect virtual gateway or global DC gateway (`resource`,
    /// its id) with the on-premises networks behind it, which it propagates.
    pub fn attach_gateway(
        &mut self,
        router: u32,
        kind: AttachmentKind,
        name: &str,
        id: Option<String>,
        resource: String,
        networks: Vec<Ipv4Net>,
    ) -> Result<u32, ModelError> {
        if matches!(
            kind,
            AttachmentKind::Vpc | AttachmentKind::PeeringConnection
        ) {
            return Err(ModelError::invalid(
                "kind",
                "a gateway attachment is a VPN gateway, virtual gateway or global DC gateway",
            ));
        }
        if networks.is_empty() {
            return Err(ModelError::invalid(
                "networks",
                "name the on-premises networks behind the gateway",
            ));
        }
        let a = self.create_router_attachment(name, id, router, kind, resource)?;
        self.routers.attachments[a as usize].networks = networks;
        Ok(a)
    }

    /// Joins two routers (in two regions) with a peering connection: an attachment on each,
    /// each the other's peer. Peering routes are static only (policy.md §6.3).
    pub fn peer_routers(
        &mut self,
        a: u32,
        b: u32,
        name: &str,
        ids: (Option<String>, Option<String>),
    ) -> Result<(u32, u32), ModelError> {
        if a == b {
            return Err(ModelError::invalid(
                "peer",
                "a router cannot peer with itself",
            ));
        }
        let peer_id = |w: &World, r: u32| w.routers.routers.get(r as usize).map(|x| x.id.clone());
        let (Some(ra), Some(rb)) = (peer_id(self, a), peer_id(self, b)) else {
            return Err(ModelError::not_found("peer", "no such enterprise router"));
        };
        let x =
            self.create_router_attachment(name, ids.0, a, AttachmentKind::PeeringConnection, rb)?;
        let y = match self.create_router_attachment(
            name,
            ids.1,
            b,
            AttachmentKind::PeeringConnection,
            ra,
        ) {
            Ok(y) => y,
            Err(e) => {
                let _ = self.delete_router_attachment(x, Time(0));
                return Err(e.within("peer"));
            }
        };
        self.routers.attachments[x as usize].peer = Some(y);
        self.routers.attachments[y as usize].peer = Some(x);
        if let (Some(&na), Some(&nb)) = (self.router_nodes.get(&a), self.router_nodes.get(&b)) {
            self.graph.add_edge(na, nb, ());
        }
        Ok((x, y))
    }

    /// A host on the on-premises network behind `site`: a router's gateway attachment or a
    /// VPC's virtual private gateway, one of whose networks holds `ip`.
    pub fn create_onprem_host(
        &mut self,
        name: &str,
        id: Option<String>,
        ip: Ipv4Addr,
        host: Host,
        site: Site,
    ) -> Result<u32, ModelError> {
        let (networks, holder) = match site {
            Site::Attachment(a) => {
                self.live_or_not_found(Kind::RouterAttachment, a)
                    .map_err(|e| e.within("site"))?;
                let att = &self.routers.attachments[a as usize];
                if matches!(
                    att.kind,
                    AttachmentKind::Vpc | AttachmentKind::PeeringConnection
                ) {
                    return Err(ModelError::invalid(
                        "site",
                        "on-premises hosts sit behind a VPN gateway, virtual gateway or global DC gateway attachment",
                    ));
                }
                (att.networks.clone(), format!("attachment {}", att.id))
            }
            Site::VpnGateway(g) => {
                self.live_or_not_found(Kind::VpnGateway, g)
                    .map_err(|e| e.within("site"))?;
                let x = &self.vpn_gateways[g as usize];
                let networks = x.routes().map(|(_, _, n)| n).collect();
                (networks, format!("virtual private gateway {}", x.id))
            }
        };
        if !networks.iter().any(|n: &Ipv4Net| n.contains(ip)) {
            return Err(ModelError::invalid(
                "ip",
                format!("{ip} is in none of the networks behind {holder}"),
            ));
        }
        if live(&self.externals).any(|(_, h)| h.site == Some(site) && h.ip == ip) {
            return Err(ModelError::exists(
                "ip",
                format!("{ip} is already used on that network"),
            ));
        }
        self.push_external(name, id, ip, host, Some(site))
    }

    /// A packet leaving the cloud for the network behind `site`: delivered to the host there
    /// at its destination, or lost (no host answers).
    pub(super) fn deliver_on_premises(&self, site: Site, pkt: Packet, out: &mut Outcome) {
        let host = live(&self.externals)
            .find(|(_, h)| h.site == Some(site) && h.ip == pkt.dst)
            .map(|(x, _)| x);
        out.fate = match host {
            Some(x) => Fate::Delivered {
                to: Endpoint::External(x),
                packet: pkt,
            },
            None => Fate::Dropped(Drop::NoHost),
        };
    }

    /// A packet arriving at a router through attachment `att`, sent from availability zone
    /// `az` (empty: from premises or a peer, no zone).
    pub(super) fn through_router(
        &mut self,
        now: Time,
        att: u32,
        az: &str,
        pkt: Packet,
        out: &mut Outcome,
    ) {
        self.router_hop(now, att, az, pkt, out, 0);
    }

    fn router_hop(
        &mut self,
        now: Time,
        att: u32,
        az: &str,
        pkt: Packet,
        out: &mut Outcome,
        depth: u8,
    ) {
        let router = self.routers.attachments[att as usize].router;
        let drop = |out: &mut Outcome, why| {
            out.fate = Fate::Dropped(Drop::Router { router, why });
        };
        // In through a VPC attachment: its interface in the sender's zone, which records it.
        let mut e_in = None;
        if self.routers.attachments[att as usize].kind == AttachmentKind::Vpc {
            let Some(e) = self.attachment_eni(att, az, false) else {
                out.router = Some(RouterHit {
                    router,
                    from: att,
                    choice: None,
                });
                return drop(out, RouterDrop::NoAttachmentInAz);
            };
            let view = PacketView::of(&pkt);
            let Some(d1) = self.enter_subnet(now, e, &pkt, &view, out) else {
                return;
            };
            self.capture(
                now,
                e,
                Direction::Ingress,
                Action::Accept,
                &pkt,
                None,
                out.id,
                [Some(d1), None],
                None,
            );
            // Larger than the router's MTU (aws transit gateway 8500): counted lost there,
            // and its interface answers with fragmentation-needed (profile `mtu`). A router
            // fragments nothing: larger packets that arrive are dropped, DF or not (Transit
            // Gateway quotas, "MTU"; docs/decisions/mtu.md).
            if !self.fits(self.profile.mtu.router, Endpoint::Eni(e), false, &pkt, out) {
                out.router = Some(RouterHit {
                    router,
                    from: att,
                    choice: None,
                });
                self.log_router_crossing(now, att, az, Err(Loss::MtuExceeded), &pkt, out.id);
                return;
            }
            e_in = Some(e);
        }
        let choice = self.routers.attachments[att as usize]
            .table
            .and_then(|t| self.routers.lookup(t, pkt.dst));
        let hit = Some(RouterHit {
            router,
            from: att,
            choice,
        });
        if depth == 0 {
            out.router = hit;
        } else {
            out.peer_router = hit;
        }
        // Router flow logs: in through `att`, out through the next hop or lost (router_logs).
        let crossing = match choice.map(|c| c.hop) {
            None => Err(Loss::NoRoute),
            Some(Hop::Blackhole) => Err(Loss::Blackhole),
            Some(Hop::Attachment(next)) => Ok(next),
        };
        // Out over a VPN attachment: 1500 (profile `mtu`; "traffic over VPN connections can
        // have an MTU of 1500 bytes", Transit Gateway "What is").
        // (The size first: it rules out nearly every packet without a look at the attachment.)
        if pkt.len > self.profile.mtu.vpn
            && let (Ok(next), Some(e)) = (crossing, e_in)
            && self.routers.attachments[next as usize].kind == AttachmentKind::VpnGateway
            && !self.fits(self.profile.mtu.vpn, Endpoint::Eni(e), false, &pkt, out)
        {
            self.log_router_crossing(now, att, az, Err(Loss::MtuExceeded), &pkt, out.id);
            return;
        }
        self.log_router_crossing(now, att, az, crossing, &pkt, out.id);
        let next = match choice.map(|c| c.hop) {
            None => return drop(out, RouterDrop::NoRoute),
            Some(Hop::Blackhole) => return drop(out, RouterDrop::Blackhole),
            Some(Hop::Attachment(next)) => next,
        };
        match self.routers.attachments[next as usize].kind {
            AttachmentKind::Vpc => {
                let Some(e_out) = self.attachment_eni(next, az, true) else {
                    return drop(out, RouterDrop::NoAttachmentInAz);
                };
                self.pipeline(now, Endpoint::Eni(e_out), pkt, out);
            }
            AttachmentKind::PeeringConnection => {
                // On to the peer router, which routes it by its own table. A loop of peerings
                // ends after a few hops like a TTL would.
                match self.routers.attachments[next as usize].peer {
                    Some(peer) if depth < 8 => self.router_hop(now, peer, az, pkt, out, depth + 1),
                    _ => drop(out, RouterDrop::NoRoute),
                }
            }
            AttachmentKind::VpnGateway
            | AttachmentKind::VirtualGateway
            | AttachmentKind::GlobalDcGateway => {
                self.deliver_on_premises(Site::Attachment(next), pkt, out)
            }
        }
    }
}
