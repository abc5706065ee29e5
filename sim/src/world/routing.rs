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

use super::*;
use crate::router::{AttachmentKind, Hop, StaticRoute};

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
                    let _ = self.delete_router_attachment(a);
                    return Err(err.within(&format!("subnets[{i}]")));
                }
            }
        }
        let att = &mut self.routers.attachments[a as usize];
        att.enis = enis;
        att.networks = vec![v.cidr];
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
    fn attachment_eni(&self, a: u32, az: &str, fallback: bool) -> Option<u32> {
        let att = &self.routers.attachments[a as usize];
        att.enis
            .iter()
            .copied()
            .find(|&e| self.subnets[self.enis[e as usize].subnet as usize].az == az)
            .or_else(|| fallback.then(|| att.enis.first().copied()).flatten())
    }

    /// A packet a VPC routed to attachment `att` of a router, sent from availability zone
    /// `az`.
    pub(super) fn through_router(
        &mut self,
        now: Time,
        att: u32,
        az: &str,
        pkt: Packet,
        out: &mut Outcome,
    ) {
        let router = self.routers.attachments[att as usize].router;
        let Some(e_in) = self.attachment_eni(att, az, false) else {
            out.router = Some(RouterHit {
                router,
                from: att,
                choice: None,
            });
            out.fate = Fate::Dropped(Drop::Router {
                router,
                why: RouterDrop::NoAttachmentInAz,
            });
            return;
        };
        let view = PacketView::of(&pkt);
        let Some(d1) = self.enter_subnet(now, e_in, &pkt, &view, out) else {
            return;
        };
        self.capture(
            now,
            e_in,
            Direction::Ingress,
            Action::Accept,
            &pkt,
            None,
            out.id,
            [Some(d1), None],
            None,
        );
        let choice = self.routers.attachments[att as usize]
            .table
            .and_then(|t| self.routers.lookup(t, pkt.dst));
        out.router = Some(RouterHit {
            router,
            from: att,
            choice,
        });
        let next = match choice.map(|c| c.hop) {
            None => {
                out.fate = Fate::Dropped(Drop::Router {
                    router,
                    why: RouterDrop::NoRoute,
                });
                return;
            }
            Some(Hop::Blackhole) => {
                out.fate = Fate::Dropped(Drop::Router {
                    router,
                    why: RouterDrop::Blackhole,
                });
                return;
            }
            Some(Hop::Attachment(next)) => next,
        };
        match self.routers.attachments[next as usize].kind {
            AttachmentKind::Vpc => {
                let Some(e_out) = self.attachment_eni(next, az, true) else {
                    out.fate = Fate::Dropped(Drop::Router {
                        router,
                        why: RouterDrop::NoAttachmentInAz,
                    });
                    return;
                };
                self.pipeline(now, Endpoint::Eni(e_out), pkt, out);
            }
            // On-premises networks and peer routers join with the hybrid-network work.
            _ => {
                out.fate = Fate::Dropped(Drop::NoHost);
            }
        }
    }
}
