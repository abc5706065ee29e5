//! Enterprise routers (huawei ER; alibaba's transit router, tencent's CCN and AWS's transit
//! gateway play the same part) and their attachments, as configuration: what exists, which
//! resource each attachment connects, and the rules that refuse a bad request.
//!
//! Router route tables live here too: static and blackhole routes, the attachment each table
//! is associated with, the attachments that propagate into it, and the lookup that picks a
//! route (policy.md §6.3: longest prefix; at equal prefixes static beats propagated, and
//! among propagated routes VPC > Direct Connect > VPN > peering). The per-packet path through
//! a router is the world's (`World::through_router`). Nothing here reads a clock.
//!
//! Sources: seed `000_f546a8f003a32ba8.txt` (huawei ER flow logs: the five attachment kinds, and
//! "From May 2024, enterprise routers and Direct Connect virtual gateways cannot be used
//! together to set up a hybrid cloud network", enforced through [`Limits`]);
//! `docs/reference/policy.md` §3.2 and §6.3 (routers and attachments); huawei's "Creating an
//! Enterprise Router" page for the ASN ranges.
//!
//! Resources are addressed by their index; a deleted router or attachment stays in its slot
//! with `deleted` set, so indices held elsewhere never point at another resource. Every
//! operation validates fully before it changes anything.

use std::fmt;
use std::str::FromStr;

use crate::addr::Ipv4Net;
use crate::limits::Limits;
use crate::world::{ModelError, check_name};

/// What an attachment connects to its router (seed 000, "Flow logs can capture traffic of the
/// following types of attachments").
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// "A VPC is attached to an enterprise router."
    Vpc,
    /// "A VPN gateway is attached to an enterprise router."
    VpnGateway,
    /// "A Direct Connect virtual gateway is attached to an enterprise router."
    VirtualGateway,
    /// "Enterprise routers from different regions are connected through a Cloud Connect central
    /// network."
    PeeringConnection,
    /// "A Direct Connect global DC gateway is attached to an enterprise router."
    GlobalDcGateway,
}

impl AttachmentKind {
    pub const ALL: [AttachmentKind; 5] = [
        AttachmentKind::Vpc,
        AttachmentKind::VpnGateway,
        AttachmentKind::VirtualGateway,
        AttachmentKind::PeeringConnection,
        AttachmentKind::GlobalDcGateway,
    ];

    /// The name in scenario files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Vpc => "vpc",
            AttachmentKind::VpnGateway => "vpn_gateway",
            AttachmentKind::VirtualGateway => "virtual_gateway",
            AttachmentKind::PeeringConnection => "peering_connection",
            AttachmentKind::GlobalDcGateway => "global_dc_gateway",
        }
    }

    /// The name in messages.
    pub fn label(self) -> &'static str {
        match self {
            AttachmentKind::Vpc => "VPC",
            AttachmentKind::VpnGateway => "VPN gateway",
            AttachmentKind::VirtualGateway => "virtual gateway (Direct Connect)",
            AttachmentKind::PeeringConnection => "peering connection",
            AttachmentKind::GlobalDcGateway => "global DC gateway (Direct Connect)",
        }
    }
}

impl fmt::Display for AttachmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttachmentKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttachmentKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown attachment kind `{s}` (expected vpc, vpn_gateway, virtual_gateway, \
                     peering_connection or global_dc_gateway)"
                )
            })
    }
}

/// The default ASN of a huawei enterprise router, the first private 16-bit ASN.
pub const DEFAULT_ASN: u32 = 64512;

/// The ASNs an enterprise router may have: huawei's "Creating an Enterprise Router" allows
/// 64512–65534 or 4200000000–4294967294, the private ranges of RFC 6996 without their last
/// number (65535 and 4294967295 are reserved, RFC 7300).
pub const ASN_RANGES: [(u32, u32); 2] = [(64512, 65534), (4_200_000_000, 4_294_967_294)];

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnterpriseRouter {
    pub id: String,
    pub name: String,
    pub asn: u32,
    pub deleted: bool,
    /// Its region when not the world's (routers of two regions joined by peering).
    pub region: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    pub id: String,
    pub name: String,
    /// Index of the router in [`Routers::routers`].
    pub router: u32,
    pub kind: AttachmentKind,
    /// Id of the attached VPC, VPN gateway, virtual gateway, peer router or global DC gateway.
    pub resource: String,
    pub deleted: bool,
    /// The route table that forwards what arrives through this attachment.
    pub table: Option<u32>,
    /// Route tables this attachment propagates its networks into.
    pub propagates: Vec<u32>,
    /// The networks behind the attachment (the VPC's block; the on-premises networks of a
    /// VPN or Direct Connect gateway): what it propagates.
    pub networks: Vec<Ipv4Net>,
    /// Its interfaces in the VPC (one per availability zone; world ENI indices).
    pub enis: Vec<u32>,
    /// A peering attachment's other end (an attachment of another router).
    pub peer: Option<u32>,
}

/// Where a router route sends packets: an attachment, or nowhere (blackhole).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Hop {
    Attachment(u32),
    Blackhole,
}

/// A static route of a router route table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StaticRoute {
    pub destination: Ipv4Net,
    pub hop: Hop,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteTable {
    pub id: String,
    pub name: String,
    pub router: u32,
    pub routes: Vec<StaticRoute>,
    pub deleted: bool,
}

/// The route a router chose, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    pub table: u32,
    pub destination: Ipv4Net,
    pub hop: Hop,
    /// `None`: a static route; otherwise the kind of the attachment that propagated it.
    pub propagated: Option<AttachmentKind>,
}

/// Rank among routes of equal prefix: lower wins (policy.md §6.3).
fn rank(propagated: Option<AttachmentKind>) -> u8 {
    match propagated {
        None => 0,
        Some(AttachmentKind::Vpc) => 1,
        Some(AttachmentKind::VirtualGateway | AttachmentKind::GlobalDcGateway) => 2,
        Some(AttachmentKind::VpnGateway) => 3,
        Some(AttachmentKind::PeeringConnection) => 4,
    }
}

/// Every enterprise router of a world and every attachment, live or deleted.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Routers {
    pub routers: Vec<EnterpriseRouter>,
    pub attachments: Vec<Attachment>,
    pub tables: Vec<RouteTable>,
}

impl Routers {
    /// A live router, or NotFound on `field`.
    fn live_router(&self, r: u32, field: &str) -> Result<&EnterpriseRouter, ModelError> {
        self.routers
            .get(r as usize)
            .filter(|x| !x.deleted)
            .ok_or_else(|| ModelError::not_found(field, "no such enterprise router"))
    }

    fn live_attachment(&self, a: u32) -> Result<&Attachment, ModelError> {
        self.attachments
            .get(a as usize)
            .filter(|x| !x.deleted)
            .ok_or_else(|| ModelError::not_found("attachment", "no such attachment"))
    }

    fn live_attachments_of(&self, r: u32) -> impl Iterator<Item = &Attachment> {
        self.attachments
            .iter()
            .filter(move |a| a.router == r && !a.deleted)
    }

    /// AlreadyExists when another live router (not `except`) has this name.
    fn check_router_name_free(&self, name: &str, except: Option<u32>) -> Result<(), ModelError> {
        let taken = self
            .routers
            .iter()
            .enumerate()
            .any(|(i, x)| !x.deleted && x.name == name && Some(i as u32) != except);
        if taken {
            return Err(ModelError::exists(
                "name",
                format!("an enterprise router named `{name}` already exists"),
            ));
        }
        Ok(())
    }

    /// AlreadyExists when another live attachment of router `r` (not `except`) has this name.
    fn check_attachment_name_free(
        &self,
        r: u32,
        name: &str,
        except: Option<u32>,
    ) -> Result<(), ModelError> {
        let taken = self.attachments.iter().enumerate().any(|(i, a)| {
            !a.deleted && a.router == r && a.name == name && Some(i as u32) != except
        });
        if taken {
            return Err(ModelError::exists(
                "name",
                format!(
                    "enterprise router `{}` already has an attachment named `{name}`",
                    self.routers[r as usize].name
                ),
            ));
        }
        Ok(())
    }

    /// Creates an enterprise router. The name follows the rule of every resource
    /// ([`check_name`]) and is unique among live routers; the ASN defaults to
    /// [`DEFAULT_ASN`] and must lie in [`ASN_RANGES`].
    pub fn create_router(
        &mut self,
        id: String,
        name: &str,
        asn: Option<u32>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        let asn = asn.unwrap_or(DEFAULT_ASN);
        if !ASN_RANGES.iter().any(|(lo, hi)| (*lo..=*hi).contains(&asn)) {
            return Err(ModelError::invalid(
                "asn",
                format!(
                    "ASN {asn} is not allowed: use a private ASN from 64512 to 65534 or from \
                     4200000000 to 4294967294"
                ),
            ));
        }
        self.check_router_name_free(name, None)?;
        let r = self.routers.len() as u32;
        self.routers.push(EnterpriseRouter {
            id,
            name: name.to_string(),
            asn,
            deleted: false,
            region: None,
        });
        Ok(r)
    }

    /// Attaches `resource` (the id of a VPC, VPN gateway, …) to router `router`. Refused when
    /// the name or resource is malformed (InvalidArgument), when the router does not exist
    /// (NotFound, `router`), when the provider refuses the kind
    /// (FailedPrecondition, `kind`, with the documented reason), when the name is taken on
    /// this router or the resource is already attached to it (AlreadyExists).
    ///
    /// The caller checks that `resource` names a live resource of the right kind; this module
    /// knows only routers.
    pub fn create_attachment(
        &mut self,
        limits: &Limits,
        id: String,
        name: &str,
        router: u32,
        kind: AttachmentKind,
        resource: String,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        if resource.is_empty() {
            return Err(ModelError::invalid(
                "resource",
                format!(
                    "an attachment needs the id of the {} it attaches",
                    kind.label()
                ),
            ));
        }
        let r = self.live_router(router, "router")?;
        if let Err(reason) = limits.check_router_attachment(kind) {
            return Err(ModelError::precondition("kind", reason));
        }
        if let Some(a) = self
            .live_attachments_of(router)
            .find(|a| a.resource == resource)
        {
            return Err(ModelError::exists(
                "resource",
                format!(
                    "`{resource}` is already attached to enterprise router `{}` (attachment `{}`)",
                    r.name, a.id
                ),
            ));
        }
        self.check_attachment_name_free(router, name, None)?;
        let a = self.attachments.len() as u32;
        self.attachments.push(Attachment {
            id,
            name: name.to_string(),
            router,
            kind,
            resource,
            deleted: false,
            table: None,
            propagates: Vec::new(),
            networks: Vec::new(),
            enis: Vec::new(),
            peer: None,
        });
        Ok(a)
    }

    /// Creates a route table of router `r`.
    pub fn create_table(&mut self, id: String, name: &str, r: u32) -> Result<u32, ModelError> {
        check_name(name)?;
        self.live_router(r, "router")?;
        if self
            .tables
            .iter()
            .any(|t| !t.deleted && t.router == r && t.name == name)
        {
            return Err(ModelError::exists(
                "name",
                format!("the router already has a route table named `{name}`"),
            ));
        }
        let t = self.tables.len() as u32;
        self.tables.push(RouteTable {
            id,
            name: name.to_string(),
            router: r,
            routes: Vec::new(),
            deleted: false,
        });
        Ok(t)
    }

    fn live_table(&self, t: u32) -> Result<&RouteTable, ModelError> {
        self.tables
            .get(t as usize)
            .filter(|x| !x.deleted)
            .ok_or_else(|| ModelError::not_found("route_table", "no such router route table"))
    }

    /// Adds a static (or blackhole) route; one route per destination.
    pub fn add_route(&mut self, t: u32, route: StaticRoute) -> Result<(), ModelError> {
        let table = self.live_table(t)?;
        if table
            .routes
            .iter()
            .any(|r| r.destination == route.destination)
        {
            return Err(ModelError::exists(
                "destination",
                format!("a route to {} already exists", route.destination),
            ));
        }
        self.check_hop(t, route.hop)?;
        self.tables[t as usize].routes.push(route);
        Ok(())
    }

    /// Replaces the route to `route.destination`, which must exist, with `route` (in place).
    pub fn replace_route(&mut self, t: u32, route: StaticRoute) -> Result<(), ModelError> {
        let i = self.route_index(t, route.destination)?;
        self.check_hop(t, route.hop)?;
        self.tables[t as usize].routes[i] = route;
        Ok(())
    }

    /// Replaces table `t`'s static routes with `routes` (one per destination). A route the
    /// table already has stays as it is; each other one is checked as `add_route` checks it.
    pub fn set_routes(&mut self, t: u32, routes: Vec<StaticRoute>) -> Result<(), ModelError> {
        let table = self.live_table(t)?;
        for (i, r) in routes.iter().enumerate() {
            if routes[..i].iter().any(|x| x.destination == r.destination) {
                return Err(ModelError::exists(
                    format!("routes[{i}].destination"),
                    format!("a route to {} is given twice", r.destination),
                ));
            }
            if !table.routes.contains(r) {
                self.check_hop(t, r.hop)
                    .map_err(|e| e.within(&format!("routes[{i}]")))?;
            }
        }
        self.tables[t as usize].routes = routes;
        Ok(())
    }

    /// Removes the static (or blackhole) route to `destination`, which must exist.
    pub fn remove_route(&mut self, t: u32, destination: Ipv4Net) -> Result<(), ModelError> {
        let i = self.route_index(t, destination)?;
        self.tables[t as usize].routes.remove(i);
        Ok(())
    }

    /// Where table `t`'s static route to `destination` is; NotFound on `destination`.
    fn route_index(&self, t: u32, destination: Ipv4Net) -> Result<usize, ModelError> {
        let table = self.live_table(t)?;
        table
            .routes
            .iter()
            .position(|r| r.destination == destination)
            .ok_or_else(|| {
                ModelError::not_found(
                    "destination",
                    format!(
                        "router route table `{}` has no static route to {destination}",
                        table.name
                    ),
                )
            })
    }

    /// A hop table `t` may route to: a live attachment of the same router, or a blackhole.
    fn check_hop(&self, t: u32, hop: Hop) -> Result<(), ModelError> {
        let table = self.live_table(t)?;
        if let Hop::Attachment(a) = hop {
            let att = self
                .live_attachment(a)
                .map_err(|e| e.within("attachment"))?;
            if att.router != table.router {
                return Err(ModelError::invalid(
                    "attachment",
                    "the attachment belongs to another router",
                ));
            }
        }
        Ok(())
    }

    /// Removes every static route to a deleted attachment (profile
    /// `attachment_deleted_routes: Removed`).
    pub fn remove_routes_to_deleted(&mut self) {
        let attachments = &self.attachments;
        for t in &mut self.tables {
            t.routes.retain(|r| match r.hop {
                Hop::Attachment(a) => !attachments[a as usize].deleted,
                Hop::Blackhole => true,
            });
        }
    }

    /// Associates attachment `a` with table `t` (one table per attachment) and, with
    /// `propagate`, lets it propagate its networks into `t`.
    pub fn associate(&mut self, a: u32, t: u32, propagate: bool) -> Result<(), ModelError> {
        let att = self.attachment_for_table(a, t)?;
        att.table = Some(t);
        if propagate && !att.propagates.contains(&t) {
            att.propagates.push(t);
        }
        Ok(())
    }

    /// Propagation only.
    pub fn propagate(&mut self, a: u32, t: u32) -> Result<(), ModelError> {
        let att = self.attachment_for_table(a, t)?;
        if !att.propagates.contains(&t) {
            att.propagates.push(t);
        }
        Ok(())
    }

    /// Attachment `a`, to change what it does with table `t`: both live, of one router.
    fn attachment_for_table(&mut self, a: u32, t: u32) -> Result<&mut Attachment, ModelError> {
        let att = self.live_attachment(a)?;
        let table = self.live_table(t)?;
        if att.router != table.router {
            return Err(ModelError::invalid(
                "route_table",
                "the route table belongs to another router",
            ));
        }
        Ok(&mut self.attachments[a as usize])
    }

    /// The route table `t` uses for `dst`: the longest prefix among its static routes and the
    /// networks propagated into it; at equal prefixes static wins, then VPC, Direct Connect,
    /// VPN, peering (policy.md §6.3). A static route to a deleted attachment is a blackhole
    /// (its target is gone). `None`: no route.
    pub fn lookup(&self, t: u32, dst: std::net::Ipv4Addr) -> Option<Choice> {
        let table = self.tables.get(t as usize).filter(|x| !x.deleted)?;
        let statics = table
            .routes
            .iter()
            .filter(|r| r.destination.contains(dst))
            .map(|r| {
                let hop = match r.hop {
                    Hop::Attachment(a) if self.attachments[a as usize].deleted => Hop::Blackhole,
                    h => h,
                };
                Choice {
                    table: t,
                    destination: r.destination,
                    hop,
                    propagated: None,
                }
            });
        let propagated = self
            .attachments
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.deleted && a.propagates.contains(&t))
            .flat_map(|(i, a)| {
                a.networks
                    .iter()
                    .filter(|n| n.contains(dst))
                    .map(move |n| Choice {
                        table: t,
                        destination: *n,
                        hop: Hop::Attachment(i as u32),
                        propagated: Some(a.kind),
                    })
            });
        statics.chain(propagated).min_by_key(|c| {
            (
                std::cmp::Reverse(c.destination.prefix_len()),
                rank(c.propagated),
            )
        })
    }

    /// Detaches: the attachment is marked deleted.
    pub fn delete_attachment(&mut self, a: u32) -> Result<(), ModelError> {
        self.live_attachment(a)?;
        self.attachments[a as usize].deleted = true;
        Ok(())
    }

    /// Deletes a router without live attachments; otherwise FailedPrecondition naming the
    /// attachments (`dependents`, their ids sorted).
    pub fn delete_router(&mut self, r: u32) -> Result<(), ModelError> {
        let router = self.live_router(r, "router")?;
        let mut dependents: Vec<String> =
            self.live_attachments_of(r).map(|a| a.id.clone()).collect();
        dependents.sort();
        if !dependents.is_empty() {
            return Err(ModelError::precondition(
                "router",
                format!(
                    "enterprise router `{}` still has {} attachment{} ({}): delete {} first",
                    router.name,
                    dependents.len(),
                    if dependents.len() == 1 { "" } else { "s" },
                    dependents.join(", "),
                    if dependents.len() == 1 { "it" } else { "them" },
                ),
            )
            .with_dependents(dependents));
        }
        self.routers[r as usize].deleted = true;
        Ok(())
    }

    pub fn rename_router(&mut self, r: u32, name: &str) -> Result<(), ModelError> {
        self.live_router(r, "router")?;
        check_name(name)?;
        self.check_router_name_free(name, Some(r))?;
        self.routers[r as usize].name = name.to_string();
        Ok(())
    }

    pub fn rename_attachment(&mut self, a: u32, name: &str) -> Result<(), ModelError> {
        let router = self.live_attachment(a)?.router;
        check_name(name)?;
        self.check_attachment_name_free(router, name, Some(a))?;
        self.attachments[a as usize].name = name.to_string();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Provider;
    use crate::world::ErrorKind;

    fn huawei() -> Limits {
        Limits::of(Provider::Huawei)
    }

    /// A router `er1` with a VPC attachment `att-vpc` (index 0).
    fn one_router() -> Routers {
        let mut rs = Routers::default();
        let r = rs.create_router("er-1".into(), "er1", None).unwrap();
        rs.create_attachment(
            &huawei(),
            "att-vpc".into(),
            "vpc-a",
            r,
            AttachmentKind::Vpc,
            "vpc-1".into(),
        )
        .unwrap();
        rs
    }

    fn assert_err(e: ModelError, kind: ErrorKind, field: &str, message: &str) {
        assert_eq!(
            (e.kind, e.field.as_str(), e.message.as_str()),
            (kind, field, message)
        );
    }

    #[test]
    fn kind_names_round_trip() {
        for k in AttachmentKind::ALL {
            assert_eq!(k.as_str().parse::<AttachmentKind>(), Ok(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert_eq!(
            "vgw".parse::<AttachmentKind>().unwrap_err(),
            "unknown attachment kind `vgw` (expected vpc, vpn_gateway, virtual_gateway, \
             peering_connection or global_dc_gateway)"
        );
    }

    #[test]
    fn router_defaults_and_asn_ranges() {
        let mut rs = Routers::default();
        let r = rs.create_router("er-1".into(), "er1", None).unwrap();
        assert_eq!(rs.routers[r as usize].asn, 64512);
        for (i, asn) in [64512, 65534, 4_200_000_000, 4_294_967_294]
            .into_iter()
            .enumerate()
        {
            rs.create_router(format!("er-x{i}"), &format!("x{i}"), Some(asn))
                .unwrap();
        }
        for asn in [0, 64511, 65535, 65536, 4_199_999_999, 4_294_967_295] {
            let before = rs.routers.len();
            assert_err(
                rs.create_router("er-bad".into(), "bad", Some(asn))
                    .unwrap_err(),
                ErrorKind::InvalidArgument,
                "asn",
                &format!(
                    "ASN {asn} is not allowed: use a private ASN from 64512 to 65534 or from \
                     4200000000 to 4294967294"
                ),
            );
            assert_eq!(rs.routers.len(), before);
        }
    }

    #[test]
    fn router_names() {
        let mut rs = one_router();
        assert_err(
            rs.create_router("er-2".into(), "er1", None).unwrap_err(),
            ErrorKind::AlreadyExists,
            "name",
            "an enterprise router named `er1` already exists",
        );
        let e = rs.create_router("er-2".into(), "-er", None).unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (ErrorKind::InvalidArgument, "name")
        );
        assert_eq!(rs.routers.len(), 1);
        // A deleted router's name is free again.
        rs.delete_attachment(0).unwrap();
        rs.delete_router(0).unwrap();
        assert_eq!(rs.create_router("er-2".into(), "er1", None), Ok(1));
    }

    #[test]
    fn attachment_needs_a_live_router() {
        let mut rs = one_router();
        assert_err(
            rs.create_attachment(
                &huawei(),
                "att".into(),
                "a",
                7,
                AttachmentKind::Vpc,
                "vpc-2".into(),
            )
            .unwrap_err(),
            ErrorKind::NotFound,
            "router",
            "no such enterprise router",
        );
        rs.delete_attachment(0).unwrap();
        rs.delete_router(0).unwrap();
        let e = rs
            .create_attachment(
                &huawei(),
                "att".into(),
                "a",
                0,
                AttachmentKind::Vpc,
                "vpc-2".into(),
            )
            .unwrap_err();
        assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "router"));
        assert_eq!(rs.attachments.len(), 1);
    }

    #[test]
    fn huawei_refuses_virtual_gateway_attachments() {
        let mut rs = one_router();
        assert_err(
            rs.create_attachment(
                &huawei(),
                "att-vgw".into(),
                "dc",
                0,
                AttachmentKind::VirtualGateway,
                "vgw-1".into(),
            )
            .unwrap_err(),
            ErrorKind::FailedPrecondition,
            "kind",
            "a new virtual gateway (Direct Connect) attachment is not allowed: from May 2024, \
             enterprise routers and Direct Connect virtual gateways cannot be used together to \
             set up a hybrid cloud network (existing networks are not affected); attach a Direct \
             Connect global DC gateway instead",
        );
        assert_eq!(rs.attachments.len(), 1);
        // The recommended alternative is accepted, and other clouds take virtual gateways.
        rs.create_attachment(
            &huawei(),
            "att-dgw".into(),
            "dc",
            0,
            AttachmentKind::GlobalDcGateway,
            "dgw-1".into(),
        )
        .unwrap();
        rs.create_attachment(
            &Limits::of(Provider::Aws),
            "att-vgw".into(),
            "dx",
            0,
            AttachmentKind::VirtualGateway,
            "vgw-1".into(),
        )
        .unwrap();
    }

    #[test]
    fn a_resource_is_attached_once_per_router() {
        let mut rs = one_router();
        assert_err(
            rs.create_attachment(
                &huawei(),
                "att-2".into(),
                "vpc-a-again",
                0,
                AttachmentKind::Vpc,
                "vpc-1".into(),
            )
            .unwrap_err(),
            ErrorKind::AlreadyExists,
            "resource",
            "`vpc-1` is already attached to enterprise router `er1` (attachment `att-vpc`)",
        );
        // To another router it may be; after detaching, to this one again.
        let r2 = rs.create_router("er-2".into(), "er2", None).unwrap();
        rs.create_attachment(
            &huawei(),
            "att-3".into(),
            "vpc-a",
            r2,
            AttachmentKind::Vpc,
            "vpc-1".into(),
        )
        .unwrap();
        rs.delete_attachment(0).unwrap();
        rs.create_attachment(
            &huawei(),
            "att-4".into(),
            "vpc-a",
            0,
            AttachmentKind::Vpc,
            "vpc-1".into(),
        )
        .unwrap();
    }

    #[test]
    fn attachment_names_and_resource() {
        let mut rs = one_router();
        assert_err(
            rs.create_attachment(
                &huawei(),
                "att-2".into(),
                "vpc-a",
                0,
                AttachmentKind::VpnGateway,
                "vpn-1".into(),
            )
            .unwrap_err(),
            ErrorKind::AlreadyExists,
            "name",
            "enterprise router `er1` already has an attachment named `vpc-a`",
        );
        let e = rs
            .create_attachment(
                &huawei(),
                "att-2".into(),
                "bad name",
                0,
                AttachmentKind::VpnGateway,
                "vpn-1".into(),
            )
            .unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (ErrorKind::InvalidArgument, "name")
        );
        assert_err(
            rs.create_attachment(
                &huawei(),
                "att-2".into(),
                "vpn",
                0,
                AttachmentKind::VpnGateway,
                String::new(),
            )
            .unwrap_err(),
            ErrorKind::InvalidArgument,
            "resource",
            "an attachment needs the id of the VPN gateway it attaches",
        );
        assert_eq!(rs.attachments.len(), 1);
    }

    #[test]
    fn delete_router_names_its_attachments() {
        let mut rs = one_router();
        rs.create_attachment(
            &huawei(),
            "att-peer".into(),
            "peer",
            0,
            AttachmentKind::PeeringConnection,
            "er-remote".into(),
        )
        .unwrap();
        rs.create_attachment(
            &huawei(),
            "att-b-vpn".into(),
            "vpn",
            0,
            AttachmentKind::VpnGateway,
            "vpn-1".into(),
        )
        .unwrap();
        let e = rs.delete_router(0).unwrap_err();
        assert_err(
            e.clone(),
            ErrorKind::FailedPrecondition,
            "router",
            "enterprise router `er1` still has 3 attachments (att-b-vpn, att-peer, att-vpc): \
             delete them first",
        );
        assert_eq!(e.dependents, ["att-b-vpn", "att-peer", "att-vpc"]);
        assert!(!rs.routers[0].deleted);
        rs.delete_attachment(1).unwrap();
        rs.delete_attachment(2).unwrap();
        let e = rs.delete_router(0).unwrap_err();
        assert_eq!(
            e.message,
            "enterprise router `er1` still has 1 attachment (att-vpc): delete it first"
        );
        assert_eq!(e.dependents, ["att-vpc"]);
        rs.delete_attachment(0).unwrap();
        rs.delete_router(0).unwrap();
        assert!(rs.routers[0].deleted);
        assert_err(
            rs.delete_router(0).unwrap_err(),
            ErrorKind::NotFound,
            "router",
            "no such enterprise router",
        );
    }

    #[test]
    fn delete_attachment_twice() {
        let mut rs = one_router();
        rs.delete_attachment(0).unwrap();
        assert!(rs.attachments[0].deleted);
        assert_err(
            rs.delete_attachment(0).unwrap_err(),
            ErrorKind::NotFound,
            "attachment",
            "no such attachment",
        );
        assert_err(
            rs.delete_attachment(9).unwrap_err(),
            ErrorKind::NotFound,
            "attachment",
            "no such attachment",
        );
    }

    #[test]
    fn renames() {
        let mut rs = one_router();
        rs.create_router("er-2".into(), "er2", None).unwrap();
        rs.rename_router(0, "er1").unwrap(); // its own name: a no-op
        rs.rename_router(0, "core").unwrap();
        assert_eq!(rs.routers[0].name, "core");
        assert_err(
            rs.rename_router(0, "er2").unwrap_err(),
            ErrorKind::AlreadyExists,
            "name",
            "an enterprise router named `er2` already exists",
        );
        let e = rs.rename_router(0, "").unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (ErrorKind::InvalidArgument, "name")
        );
        assert_eq!(rs.routers[0].name, "core");
        assert_eq!(
            rs.rename_router(5, "x").unwrap_err().kind,
            ErrorKind::NotFound
        );

        rs.create_attachment(
            &huawei(),
            "att-2".into(),
            "vpn",
            0,
            AttachmentKind::VpnGateway,
            "vpn-1".into(),
        )
        .unwrap();
        rs.rename_attachment(0, "vpc-main").unwrap();
        assert_eq!(rs.attachments[0].name, "vpc-main");
        assert_err(
            rs.rename_attachment(0, "vpn").unwrap_err(),
            ErrorKind::AlreadyExists,
            "name",
            "enterprise router `core` already has an attachment named `vpn`",
        );
        let e = rs.rename_attachment(0, "a b").unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (ErrorKind::InvalidArgument, "name")
        );
        assert_eq!(rs.attachments[0].name, "vpc-main");
        rs.delete_attachment(1).unwrap();
        assert_err(
            rs.rename_attachment(1, "x").unwrap_err(),
            ErrorKind::NotFound,
            "attachment",
            "no such attachment",
        );
        // The deleted attachment's name is free again.
        rs.rename_attachment(0, "vpn").unwrap();
    }
}
