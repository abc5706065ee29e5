//! Virtual private gateways (aws `vgw-…`) as resources: one per VPC, with the VPN and Direct
//! Connect connections that reach on-premises networks, and route propagation from a gateway
//! into the VPC's route tables (policy.md §6.1; docs/decisions/vpn-gateways.md).
//!
//! The route a table picks for a destination ([`World::route_hit`]) follows AWS's "How route
//! priority works" (Amazon VPC User Guide) and "Route tables and VPN route priority" (AWS
//! Site-to-Site VPN User Guide):
//! - the longest prefix wins;
//! - except that the `local` route wins over propagated routes that overlap the VPC's block,
//!   "even if the propagated routes are more specific";
//! - at equal prefixes a static route (a route to an internet gateway, NAT gateway, peering
//!   connection, transit gateway — or to the virtual private gateway itself) beats a
//!   propagated one;
//! - among propagated routes of one prefix: Direct Connect BGP, then VPN static, then VPN BGP
//!   ([`VpnRouting`]'s order).
//!
//! The per-packet side (`through_vpn_gateway`, `in_from_premises`) is at the end of this file.

use std::net::Ipv4Addr;

use super::lifecycle::in_use;
use super::*;
use crate::addr::Ipv4Net;
use crate::packet::Packet;
use crate::policy::PacketView;
use crate::time::Time;

/// The networks one gateway may propagate, all its connections together: Amazon VPC's quota of
/// propagated routes per route table, 100 (not adjustable), which is also the most routes a
/// customer gateway may advertise to a Site-to-Site VPN connection. It bounds the per-packet
/// cost of route propagation.
pub const MAX_GATEWAY_NETWORKS: usize = 100;

/// What a new connection of a virtual private gateway needs.
#[derive(Clone, Debug)]
pub struct VpnConnectionSpec {
    pub name: String,
    pub id: Option<String>,
    pub routing: VpnRouting,
    /// The on-premises networks it reaches (static routes, or what BGP advertises).
    pub networks: Vec<Ipv4Net>,
}

impl World {
    /// Creates a virtual private gateway attached to VPC `vpc`, with its connections. Refused:
    /// a cloud whose profile has no VPC-attached VPN gateway (FAILED_PRECONDITION), a VPC that
    /// already has one ("You can attach only one virtual private gateway to a VPC at a time",
    /// ALREADY_EXISTS on `vpc`), a taken name, a connection without networks or with a name
    /// given twice (`connections[i]…`).
    pub fn create_vpn_gateway(
        &mut self,
        name: &str,
        id: Option<String>,
        vpc: u32,
        connections: Vec<VpnConnectionSpec>,
    ) -> Result<u32, ModelError> {
        if !self.profile.vpc_vpn_gateways {
            return Err(ModelError::precondition(
                "vpc",
                format!(
                    "vpclab models no VPN gateway attached to a VPC on {}: connect premises \
                     through its {} (an attachment of kind vpn_gateway, virtual_gateway or \
                     global_dc_gateway)",
                    self.profile.provider, self.profile.router_product
                ),
            ));
        }
        check_name(name)?;
        let v = self.vpc(vpc)?;
        if let Some((_, g)) = live(&self.vpn_gateways).find(|(_, g)| g.vpc == vpc) {
            return Err(ModelError::exists(
                "vpc",
                format!(
                    "VPC {} already has virtual private gateway {}: a VPC has one at a time",
                    v.name, g.id
                ),
            ));
        }
        if live(&self.vpn_gateways).any(|(_, g)| g.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a virtual private gateway named `{name}` already exists"),
            ));
        }
        for (i, c) in connections.iter().enumerate() {
            let at = |field: &str| format!("connections[{i}].{field}");
            check_name(&c.name).map_err(|e| e.within(&format!("connections[{i}]")))?;
            if connections[..i].iter().any(|x| x.name == c.name) {
                return Err(ModelError::exists(
                    at("name"),
                    format!("a connection named `{}` is given twice", c.name),
                ));
            }
            if c.networks.is_empty() {
                return Err(ModelError::invalid(
                    at("networks"),
                    "name the on-premises networks the connection reaches",
                ));
            }
            for (j, n) in c.networks.iter().enumerate() {
                if c.networks[..j].contains(n) {
                    return Err(ModelError::invalid(
                        format!("connections[{i}].networks[{j}]"),
                        format!("{n} is given twice"),
                    ));
                }
            }
            if let Some(id) = &c.id {
                let taken = self.connection_id_taken(id)
                    || connections[..i].iter().any(|x| x.id.as_ref() == Some(id));
                if taken {
                    return Err(ModelError::exists(
                        at("id"),
                        format!("a connection with id `{id}` already exists"),
                    ));
                }
            }
        }
        let networks: usize = connections.iter().map(|c| c.networks.len()).sum();
        if networks > MAX_GATEWAY_NETWORKS {
            return Err(ModelError::exhausted(
                "connections",
                format!(
                    "the connections reach {networks} networks: a gateway propagates at most \
                     {MAX_GATEWAY_NETWORKS} routes into a table"
                ),
            ));
        }
        self.check_id(Kind::VpnGateway, id.as_deref())?;
        let g = self.vpn_gateways.len() as u32;
        let id = self.new_id(Kind::VpnGateway, g, id, "vgw");
        let connections = connections
            .into_iter()
            .map(|c| VpnConnection {
                id: c.id.unwrap_or_else(|| self.connection_id(c.routing)),
                name: c.name,
                routing: c.routing,
                networks: c.networks,
            })
            .collect();
        let node = self.graph.add_node(Node::VpnGateway(g));
        let vpc_node = self.vpcs[vpc as usize].node;
        self.graph.add_edge(node, vpc_node, ());
        self.vpn_gateways.push(VpnGateway {
            id,
            name: name.to_string(),
            vpc,
            connections,
            deleted: false,
            node,
        });
        Ok(g)
    }

    /// A new connection id: `vpn-…` for a VPN connection, `dxvif-…` for a Direct Connect
    /// virtual interface (EC2 and Direct Connect API ids), unique among all connections.
    fn connection_id(&mut self, routing: VpnRouting) -> String {
        loop {
            let id = match routing {
                VpnRouting::DirectConnect => crate::ids::virtual_interface(&mut self.rng),
                VpnRouting::Static | VpnRouting::Bgp => {
                    crate::ids::resource(&mut self.rng, self.profile.id_style, "vpn")
                }
            };
            if !self.connection_id_taken(&id) {
                return id;
            }
        }
    }

    /// Does a connection of any gateway, deleted ones included, have this ID?
    fn connection_id_taken(&self, id: &str) -> bool {
        self.vpn_gateways
            .iter()
            .flat_map(|g| &g.connections)
            .any(|x| x.id == id)
    }

    /// Detaches and deletes a virtual private gateway. Refused while on-premises hosts sit
    /// behind it. Static routes to it stay as blackholes ("the specified gateway isn't attached
    /// to the VPC", policy.md §6.1); the routes it propagated go with it.
    pub fn delete_vpn_gateway(&mut self, g: u32) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::VpnGateway, g)?;
        let hosts: Vec<(Kind, String)> = live(&self.externals)
            .filter(|(_, h)| h.site == Some(Site::VpnGateway(g)))
            .map(|(_, h)| (Kind::ExternalHost, h.id.clone()))
            .collect();
        if !hosts.is_empty() {
            let id = &self.vpn_gateways[g as usize].id;
            return Err(in_use(format!("virtual private gateway {id}"), hosts));
        }
        for t in &mut self.route_tables {
            t.propagating.retain(|&x| x != g);
        }
        self.bury(Kind::VpnGateway, g);
        Ok(())
    }

    /// Sets the gateways that propagate their networks into route table `table` (route
    /// propagation), checked by [`World::check_route_propagation`].
    pub fn set_route_propagation(
        &mut self,
        table: u32,
        gateways: Vec<u32>,
    ) -> Result<(), ModelError> {
        let vpc = self.route_table(table)?.vpc;
        self.check_route_propagation(vpc, &gateways)?;
        self.route_tables[table as usize].propagating = gateways;
        Ok(())
    }

    /// Can these gateways propagate into a table of VPC `vpc`? Each must be live, attached to
    /// that VPC, and given once (errors name `propagating_vpn_gateways[i]`).
    pub fn check_route_propagation(&self, vpc: u32, gateways: &[u32]) -> Result<(), ModelError> {
        for (i, &g) in gateways.iter().enumerate() {
            let field = format!("propagating_vpn_gateways[{i}]");
            if !self.is_live(Kind::VpnGateway, g) {
                return Err(ModelError::not_found(
                    field,
                    "no such virtual private gateway",
                ));
            }
            let x = &self.vpn_gateways[g as usize];
            if x.vpc != vpc {
                return Err(ModelError::invalid(
                    field,
                    format!(
                        "virtual private gateway {} is attached to VPC {}, not to this table's",
                        x.id, self.vpcs[x.vpc as usize].name
                    ),
                ));
            }
            if gateways[..i].contains(&g) {
                return Err(ModelError::invalid(
                    field,
                    format!("virtual private gateway {} is given twice", x.id),
                ));
            }
        }
        Ok(())
    }

    /// The live gateway a VPC has, if any (it keeps the VPC from being deleted).
    pub(super) fn vpn_gateway_of(&self, vpc: u32) -> Option<(Kind, String)> {
        live(&self.vpn_gateways)
            .find(|(_, g)| g.vpc == vpc)
            .map(|(_, g)| (Kind::VpnGateway, g.id.clone()))
    }

    /// The routes propagated into table `table` (destination, gateway, connection, routing),
    /// in the gateways' order then their connections': what a table view lists beside its
    /// static routes.
    pub fn propagated_routes(
        &self,
        table: u32,
    ) -> impl Iterator<Item = (Ipv4Net, u32, u32, VpnRouting)> + '_ {
        self.route_tables[table as usize]
            .propagating
            .iter()
            .filter(|&&g| self.is_live(Kind::VpnGateway, g))
            .flat_map(move |&g| {
                self.vpn_gateways[g as usize]
                    .routes()
                    .map(move |(c, r, n)| (n, g, c, r))
            })
    }

    /// The route table `table` uses for `dst`: its static routes' longest prefix match, and
    /// the routes propagated into it, ranked as AWS ranks them (module doc). `None`: no route.
    #[inline]
    pub(super) fn route_hit(&self, table: u32, dst: Ipv4Addr) -> Option<RouteHit> {
        let t = &self.route_tables[table as usize];
        let hit = t.lookup(dst).map(|(i, r)| RouteHit {
            table,
            route: i,
            target: r.target,
            destination: r.destination,
            propagated: None,
        });
        if t.propagating.is_empty() {
            return hit;
        }
        self.with_propagated(table, dst, hit)
    }

    #[cold]
    fn with_propagated(
        &self,
        table: u32,
        dst: Ipv4Addr,
        hit: Option<RouteHit>,
    ) -> Option<RouteHit> {
        let t = &self.route_tables[table as usize];
        // The local route wins over every propagated route that overlaps the VPC's block.
        if self.vpcs[t.vpc as usize].cidr.contains(dst) {
            return hit;
        }
        let best = self
            .propagated_routes(table)
            .filter(|(n, ..)| n.contains(dst))
            .min_by_key(|&(n, _, _, r)| (std::cmp::Reverse(n.prefix_len()), r));
        match (hit, best) {
            // A static route of the same prefix or longer wins.
            (Some(h), Some((n, ..))) if h.destination.prefix_len() >= n.prefix_len() => Some(h),
            (_, Some((n, g, c, r))) => Some(RouteHit {
                table,
                route: c,
                target: Target::VpnGateway(g),
                destination: n,
                propagated: Some(r),
            }),
            (h, None) => h,
        }
    }

    /// The connection of gateway `g` packet `o` crossed: the one the gateway picks for the
    /// address on premises (the destination, or the source of a packet from premises).
    pub fn hop_connection(&self, g: u32, o: &Outcome) -> Option<u32> {
        let on_premises = match o.from {
            Endpoint::External(_) => o.packet.src,
            _ => o.packet.dst,
        };
        self.vpn_gateways[g as usize]
            .connection_for(on_premises)
            .map(|(c, _)| c)
    }

    /// A packet a VPC routes to its virtual private gateway `g`: over the connection the
    /// gateway picks for its destination ([`VpnGateway::connection_for`]) to the on-premises
    /// host at that address. The gateway routes nothing its connections do not reach
    /// ("The virtual private gateway does not route any other traffic destined outside of
    /// received BGP advertisements, static route entries, or its attached VPC CIDR").
    pub(super) fn through_vpn_gateway(&mut self, g: u32, pkt: Packet, out: &mut Outcome) {
        if self.vpn_gateways[g as usize]
            .connection_for(pkt.dst)
            .is_none()
        {
            out.fate = Fate::Dropped(Drop::VpnNoRoute { gateway: g });
            return;
        }
        let by = Endpoint::Device {
            vpc: self.vpn_gateways[g as usize].vpc,
            device: Device::VpnGateway(g),
        };
        if !self.fits(self.profile.mtu.vpn, by, true, &pkt, out) {
            return;
        }
        self.deliver_on_premises(Site::VpnGateway(g), pkt, out);
    }

    /// A packet from an on-premises host behind gateway `g`: into the gateway's VPC, to the
    /// interface that holds its destination, through that subnet's ACL and the interface's
    /// security group (as a packet from a peer VPC goes). Only the VPC's own block.
    pub(super) fn in_from_premises(
        &mut self,
        now: Time,
        g: u32,
        pkt: Packet,
        view: &PacketView,
        out: &mut Outcome,
    ) {
        let gw = &self.vpn_gateways[g as usize];
        let vpc = gw.vpc;
        if gw.deleted || !self.vpcs[vpc as usize].cidr.contains(pkt.dst) {
            out.fate = Fate::Dropped(Drop::VpnNoRoute { gateway: g });
            return;
        }
        self.arrive_in(now, vpc, pkt, view, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Host;
    use crate::profile::{Profile, Provider};

    /// A deleted gateway's ID is not given again: its static routes stay as blackholes naming
    /// it, and a new gateway under that ID would seem to be their target.
    #[test]
    fn a_deleted_gateways_id_is_not_reused() {
        let mut w = World::new(Config::new(Profile::of(Provider::Aws)));
        let vpc = w
            .create_vpc("app", None, Ipv4Net::parse_strict("10.0.0.0/16").unwrap())
            .unwrap();
        let dx = VpnConnectionSpec {
            name: "dx".into(),
            id: None,
            routing: VpnRouting::DirectConnect,
            networks: vec![Ipv4Net::parse_strict("172.16.0.0/16").unwrap()],
        };
        let id = Some("vgw-0123456789abcdef0".to_string());
        let g = w
            .create_vpn_gateway("vgw", id.clone(), vpc, vec![dx.clone()])
            .unwrap();
        w.delete_vpn_gateway(g).unwrap();
        let e = w
            .create_vpn_gateway("vgw", id, vpc, vec![dx.clone()])
            .unwrap_err();
        assert_eq!(e.field, "id");
        assert_eq!(
            e.message,
            "ID `vgw-0123456789abcdef0` was a deleted virtual private gateway's, which routes may \
             still name"
        );
        // A drawn ID is new; its Direct Connect connection's is `dxvif-` and 8 characters.
        let g = w.create_vpn_gateway("vgw", None, vpc, vec![dx]).unwrap();
        let x = &w.vpn_gateways[g as usize];
        assert_ne!(x.id, "vgw-0123456789abcdef0");
        assert_eq!(x.connections[0].id.len(), "dxvif-".len() + 8);
    }

    /// An on-premises host's drawn ID steps around one a host was given, as an internet
    /// host's does: `host-2` taken, the second host is `host-2-2`.
    #[test]
    fn an_onprem_hosts_drawn_id_is_unique() {
        let mut w = World::new(Config::new(Profile::of(Provider::Aws)));
        let net = |s| Ipv4Net::parse_strict(s).unwrap();
        let vpc = w.create_vpc("app", None, net("10.0.0.0/16")).unwrap();
        let vpn = VpnConnectionSpec {
            name: "vpn".into(),
            id: None,
            routing: VpnRouting::Static,
            networks: vec![net("172.16.0.0/16")],
        };
        let g = w.create_vpn_gateway("vgw", None, vpc, vec![vpn]).unwrap();
        let ip = |s: &str| s.parse().unwrap();
        w.create_external_host_with_id(
            "web",
            Some("host-2".into()),
            ip("203.0.113.5"),
            Host::default(),
        )
        .unwrap();
        let x = w
            .create_onprem_host(
                "dc",
                None,
                ip("172.16.0.20"),
                Host::default(),
                Site::VpnGateway(g),
            )
            .unwrap();
        assert_eq!(w.externals[x as usize].id, "host-2-2");
        let e = w
            .create_onprem_host(
                "dc",
                None,
                ip("172.16.0.21"),
                Host::default(),
                Site::VpnGateway(g),
            )
            .unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("name", "an external host named `dc` already exists")
        );
    }
}
