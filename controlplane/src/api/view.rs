//! The model as API resources: each function reads one resource out of a project, and one
//! table (`resources!`) lists every resource: its collection, its message and its view.

use vpclab_sim::flowlog::{Filter, Scope};
use vpclab_sim::policy::sg::{GroupKind, Remote};
use vpclab_sim::policy::{ProtoMatch, RuleAction, acl, sg};
use vpclab_sim::world::{Site, Target, VpnRouting};
use vpclab_sim::{Direction, router};

use super::command::Command;
use super::pb;
use super::project::{Applied, Project, timestamp};
use crate::plan::Reply;
use Collection as C;

fn direction(d: Direction) -> i32 {
    match d {
        Direction::Ingress => pb::Direction::Ingress as i32,
        Direction::Egress => pb::Direction::Egress as i32,
    }
}

fn action(a: RuleAction) -> i32 {
    match a {
        RuleAction::Allow => pb::RuleAction::Allow as i32,
        RuleAction::Deny => pb::RuleAction::Deny as i32,
    }
}

/// (protocol, icmp_type, icmp_code) as the API writes them.
fn protocol(p: ProtoMatch) -> (String, Option<u32>, Option<u32>) {
    match p {
        ProtoMatch::Any => ("all".into(), None, None),
        ProtoMatch::Tcp => ("tcp".into(), None, None),
        ProtoMatch::Udp => ("udp".into(), None, None),
        ProtoMatch::Icmp { icmp_type, code } => {
            ("icmp".into(), icmp_type.map(u32::from), code.map(u32::from))
        }
        ProtoMatch::Number(n) => (n.to_string(), None, None),
    }
}

fn ports(p: vpclab_sim::policy::PortRange) -> String {
    if p == vpclab_sim::policy::PortRange::ALL {
        String::new()
    } else if p.lo == p.hi {
        p.lo.to_string()
    } else {
        format!("{}-{}", p.lo, p.hi)
    }
}

fn opt_name(p: &Project, c: C, id: Option<&str>) -> String {
    id.map(|id| p.name(c, id)).unwrap_or_default()
}

pub fn vpc(p: &Project, i: u32) -> pb::Vpc {
    let w = p.world();
    let v = &w.vpcs[i as usize];
    pb::Vpc {
        name: p.name(C::Vpcs, &v.id),
        display_name: v.name.clone(),
        cidr: v.cidr.to_string(),
        main_route_table: p.name(
            C::RouteTables,
            &w.route_tables[v.main_route_table as usize].id,
        ),
        default_security_group: p.name(
            C::SecurityGroups,
            &w.security_groups[v.default_sg as usize].id,
        ),
        default_network_acl: opt_name(
            p,
            C::NetworkAcls,
            v.default_acl.map(|a| w.acls[a as usize].id.as_str()),
        ),
        internet_gateway: opt_name(
            p,
            C::InternetGateways,
            v.igw.map(|g| w.igws[g as usize].id.as_str()),
        ),
        etag: p.etag(C::Vpcs, &v.id),
        region: v.region.clone(),
    }
}

pub fn subnet(p: &Project, i: u32) -> pb::Subnet {
    let w = p.world();
    let s = &w.subnets[i as usize];
    pb::Subnet {
        name: p.name(C::Subnets, &s.id),
        display_name: s.name.clone(),
        vpc: p.name(C::Vpcs, &w.vpcs[s.vpc as usize].id),
        cidr: s.cidr.to_string(),
        zone: s.az.clone(),
        network_acl: opt_name(
            p,
            C::NetworkAcls,
            s.acl.map(|a| w.acls[a as usize].id.as_str()),
        ),
        route_table: p.name(C::RouteTables, &w.route_tables[s.route_table as usize].id),
        etag: p.etag(C::Subnets, &s.id),
    }
}

pub fn network_interface(p: &Project, i: u32) -> pb::NetworkInterface {
    let w = p.world();
    let e = &w.enis[i as usize];
    pb::NetworkInterface {
        name: p.name(C::NetworkInterfaces, &e.id),
        display_name: e.name.clone(),
        subnet: p.name(C::Subnets, &w.subnets[e.subnet as usize].id),
        vpc: p.name(C::Vpcs, &w.vpcs[e.vpc as usize].id),
        private_ip: e.ip.to_string(),
        elastic_ip: e.eip.map(|a| a.to_string()).unwrap_or_default(),
        security_groups: e
            .security_groups
            .iter()
            .map(|&g| p.name(C::SecurityGroups, &w.security_groups[g as usize].id))
            .collect(),
        instance_id: e.instance_id.clone().unwrap_or_default(),
        instance_type: e.instance_type.clone().unwrap_or_default(),
        listen_tcp: e.host.tcp.iter().map(|&x| u32::from(x)).collect(),
        listen_udp: e.host.udp.iter().map(|&x| u32::from(x)).collect(),
        auto_reply: Some(e.host.auto_reply),
        etag: p.etag(C::NetworkInterfaces, &e.id),
        bandwidth: e.bandwidth.as_ref().map(|b| b.rate()),
        connection_tracking: (!e.connection_tracking.is_empty()).then_some(
            pb::ConnectionTracking {
                tcp_established: e.connection_tracking.tcp_established,
                udp_stream: e.connection_tracking.udp_stream,
                udp: e.connection_tracking.udp,
            },
        ),
        secondary_private_ips: e.secondary_ips.iter().map(|a| a.to_string()).collect(),
    }
}

fn sg_rule(p: &Project, r: &sg::Rule) -> pb::SecurityGroupRule {
    let w = p.world();
    let (protocol, icmp_type, icmp_code) = protocol(r.protocol);
    pb::SecurityGroupRule {
        direction: direction(r.direction),
        action: action(r.action),
        priority: if w.profile.sg_priority.is_some() {
            r.priority
        } else {
            0
        },
        protocol,
        ports: ports(r.ports),
        icmp_type,
        icmp_code,
        remote: Some(match r.remote {
            Remote::Cidr(c) => pb::security_group_rule::Remote::Cidr(c.to_string()),
            Remote::Group(g) => pb::security_group_rule::Remote::SecurityGroup(
                p.name(C::SecurityGroups, &w.security_groups[g as usize].id),
            ),
        }),
        description: r.description.clone(),
    }
}

pub fn security_group(p: &Project, i: u32) -> pb::SecurityGroup {
    let w = p.world();
    let g = &w.security_groups[i as usize];
    pb::SecurityGroup {
        name: p.name(C::SecurityGroups, &g.id),
        display_name: g.name.clone(),
        vpc: p.name(C::Vpcs, &w.vpcs[g.vpc as usize].id),
        rules: g.rules.iter().map(|r| sg_rule(p, r)).collect(),
        default: w.vpcs[g.vpc as usize].default_sg == i,
        etag: p.etag(C::SecurityGroups, &g.id),
        r#type: match g.kind {
            GroupKind::Basic => pb::SecurityGroupType::Basic,
            GroupKind::Enterprise => pb::SecurityGroupType::Enterprise,
        } as i32,
    }
}

fn acl_entry(e: &acl::Entry) -> pb::NetworkAclEntry {
    let (protocol, icmp_type, icmp_code) = protocol(e.protocol);
    pb::NetworkAclEntry {
        number: e.number,
        direction: direction(e.direction),
        action: action(e.action),
        protocol,
        ports: ports(e.ports),
        source_ports: ports(e.source_ports),
        icmp_type,
        icmp_code,
        cidr: e.cidr.to_string(),
        description: e.description.clone(),
    }
}

pub fn network_acl(p: &Project, i: u32) -> pb::NetworkAcl {
    let w = p.world();
    let a = &w.acls[i as usize];
    pb::NetworkAcl {
        name: p.name(C::NetworkAcls, &a.id),
        display_name: a.name.clone(),
        vpc: p.name(C::Vpcs, &w.vpcs[a.vpc as usize].id),
        entries: a.entries.iter().map(acl_entry).collect(),
        subnets: w
            .subnets
            .iter()
            .filter(|s| !s.deleted && s.acl == Some(i))
            .map(|s| p.name(C::Subnets, &s.id))
            .collect(),
        default: w.vpcs[a.vpc as usize].default_acl == Some(i),
        etag: p.etag(C::NetworkAcls, &a.id),
    }
}

pub fn route_table(p: &Project, i: u32) -> pb::RouteTable {
    let w = p.world();
    let t = &w.route_tables[i as usize];
    pb::RouteTable {
        name: p.name(C::RouteTables, &t.id),
        display_name: t.name.clone(),
        vpc: p.name(C::Vpcs, &w.vpcs[t.vpc as usize].id),
        routes: t
            .routes
            .iter()
            .map(|r| pb::Route {
                destination: r.destination.to_string(),
                target: Some(match r.target {
                    Target::Local => pb::route::Target::Local(true),
                    Target::InternetGateway(g) => pb::route::Target::InternetGateway(
                        p.name(C::InternetGateways, &w.igws[g as usize].id),
                    ),
                    Target::Blackhole => pb::route::Target::Blackhole(true),
                    Target::Router(a) => pb::route::Target::EnterpriseRouter(p.name(
                        C::EnterpriseRouters,
                        &w.routers.routers[w.routers.attachments[a as usize].router as usize].id,
                    )),
                    Target::NatGateway(n) => pb::route::Target::NatGateway(
                        p.name(C::NatGateways, &w.nats[n as usize].id),
                    ),
                    Target::Peering(x) => pb::route::Target::VpcPeeringConnection(
                        p.name(C::VpcPeeringConnections, &w.peerings[x as usize].id),
                    ),
                    Target::VpnGateway(g) => pb::route::Target::VpnGateway(
                        p.name(C::VpnGateways, &w.vpn_gateways[g as usize].id),
                    ),
                }),
            })
            .collect(),
        propagating_vpn_gateways: t
            .propagating
            .iter()
            .map(|&g| p.name(C::VpnGateways, &w.vpn_gateways[g as usize].id))
            .collect(),
        propagated_routes: w
            .propagated_routes(i)
            .map(|(n, g, c, r)| {
                let g = &w.vpn_gateways[g as usize];
                pb::PropagatedRoute {
                    destination: n.to_string(),
                    vpn_gateway: p.name(C::VpnGateways, &g.id),
                    connection: g.connections[c as usize].id.clone(),
                    routing: vpn_routing(r) as i32,
                }
            })
            .collect(),
        subnets: w
            .subnets
            .iter()
            .filter(|s| !s.deleted && s.route_table == i)
            .map(|s| p.name(C::Subnets, &s.id))
            .collect(),
        main: w.vpcs[t.vpc as usize].main_route_table == i,
        etag: p.etag(C::RouteTables, &t.id),
    }
}

/// A connection's routing as the API writes it.
pub fn vpn_routing(r: VpnRouting) -> pb::VpnRouting {
    match r {
        VpnRouting::DirectConnect => pb::VpnRouting::DirectConnect,
        VpnRouting::Static => pb::VpnRouting::VpnStatic,
        VpnRouting::Bgp => pb::VpnRouting::VpnBgp,
    }
}

/// The routing an API value names (`None`: unspecified or unknown).
pub fn routing_of(value: i32) -> Option<VpnRouting> {
    match pb::VpnRouting::try_from(value) {
        Ok(pb::VpnRouting::DirectConnect) => Some(VpnRouting::DirectConnect),
        Ok(pb::VpnRouting::VpnStatic) => Some(VpnRouting::Static),
        Ok(pb::VpnRouting::VpnBgp) => Some(VpnRouting::Bgp),
        _ => None,
    }
}

pub fn vpn_gateway(p: &Project, i: u32) -> pb::VpnGateway {
    let w = p.world();
    let g = &w.vpn_gateways[i as usize];
    pb::VpnGateway {
        name: p.name(C::VpnGateways, &g.id),
        display_name: g.name.clone(),
        vpc: p.name(C::Vpcs, &w.vpcs[g.vpc as usize].id),
        connections: g
            .connections
            .iter()
            .map(|c| pb::VpnConnection {
                id: c.id.clone(),
                display_name: c.name.clone(),
                routing: vpn_routing(c.routing) as i32,
                networks: c.networks.iter().map(ToString::to_string).collect(),
            })
            .collect(),
    }
}

pub fn internet_gateway(p: &Project, i: u32) -> pb::InternetGateway {
    let w = p.world();
    let g = &w.igws[i as usize];
    pb::InternetGateway {
        name: p.name(C::InternetGateways, &g.id),
        vpc: p.name(C::Vpcs, &w.vpcs[g.vpc as usize].id),
    }
}

pub fn vpc_peering_connection(p: &Project, i: u32) -> pb::VpcPeeringConnection {
    let w = p.world();
    let x = &w.peerings[i as usize];
    let [a, b] = x.vpcs.map(|v| &w.vpcs[v as usize]);
    pb::VpcPeeringConnection {
        name: p.name(C::VpcPeeringConnections, &x.id),
        display_name: x.name.clone(),
        requester_vpc: p.name(C::Vpcs, &a.id),
        accepter_vpc: p.name(C::Vpcs, &b.id),
        inter_region: x.inter_region,
    }
}

pub fn nat_gateway(p: &Project, i: u32) -> pb::NatGateway {
    let w = p.world();
    let n = &w.nats[i as usize];
    let e = &w.enis[n.eni as usize];
    pb::NatGateway {
        name: p.name(C::NatGateways, &n.id),
        display_name: n.name.clone(),
        subnet: p.name(C::Subnets, &w.subnets[n.subnet as usize].id),
        vpc: p.name(C::Vpcs, &w.vpcs[n.vpc as usize].id),
        private_ip: e.ip.to_string(),
        elastic_ip: e.eip.map(|a| a.to_string()).unwrap_or_default(),
        network_interface: p.name(C::NetworkInterfaces, &e.id),
        etag: p.etag(C::NatGateways, &n.id),
        dnat_rules: n
            .table
            .dnat()
            .iter()
            .map(|r| pb::DnatRule {
                protocol: if r.protocol == 17 { "udp" } else { "tcp" }.to_string(),
                port: r.port.into(),
                // The live interface of the VPC that has the rule's address now.
                to: w
                    .enis
                    .iter()
                    .find(|x| !x.deleted && x.vpc == n.vpc && x.ip == r.to)
                    .map(|x| p.name(C::NetworkInterfaces, &x.id))
                    .unwrap_or_default(),
                to_port: r.to_port.into(),
            })
            .collect(),
    }
}

pub fn external_host(p: &Project, i: u32) -> pb::ExternalHost {
    let w = p.world();
    let h = &w.externals[i as usize];
    pb::ExternalHost {
        site: match h.site {
            Some(Site::Attachment(a)) => {
                p.name(C::RouterAttachments, &w.routers.attachments[a as usize].id)
            }
            Some(Site::VpnGateway(g)) => p.name(C::VpnGateways, &w.vpn_gateways[g as usize].id),
            None => String::new(),
        },
        name: p.name(C::ExternalHosts, &h.id),
        display_name: h.name.clone(),
        ip: h.ip.to_string(),
        listen_tcp: h.host.tcp.iter().map(|&x| u32::from(x)).collect(),
        listen_udp: h.host.udp.iter().map(|&x| u32::from(x)).collect(),
        auto_reply: Some(h.host.auto_reply),
    }
}

pub fn log_group(p: &Project, i: u32) -> pb::LogGroup {
    let g = &p.world().logs.groups[i as usize];
    pb::LogGroup {
        name: p.name(C::LogGroups, &g.id),
        display_name: g.name.clone(),
        retention_days: g.retention_days,
        etag: p.etag(C::LogGroups, &g.id),
    }
}

pub fn log_stream(p: &Project, i: u32) -> pb::LogStream {
    let w = p.world();
    let s = &w.logs.streams[i as usize];
    pb::LogStream {
        name: p.name(C::LogStreams, &s.id),
        display_name: s.name.clone(),
        log_group: p.name(C::LogGroups, &w.logs.groups[s.group as usize].id),
    }
}

pub fn flow_log(p: &Project, i: u32, format: &str) -> pb::FlowLog {
    let w = p.world();
    let f = &w.flow_logs[i as usize];
    let s = &f.collector.settings;
    let resource = match s.scope {
        Scope::Eni(e) => p.name(C::NetworkInterfaces, &w.enis[e as usize].id),
        Scope::Subnet(x) => p.name(C::Subnets, &w.subnets[x as usize].id),
        Scope::Vpc(v) => p.name(C::Vpcs, &w.vpcs[v as usize].id),
        Scope::RouterAttachment(a) => {
            p.name(C::RouterAttachments, &w.routers.attachments[a as usize].id)
        }
        Scope::Ccn(c) => p.name(C::CloudConnectNetworks, &w.ccns.items[c as usize].id),
    };
    pb::FlowLog {
        name: p.name(C::FlowLogs, &s.id),
        display_name: s.name.clone(),
        description: f.description.clone(),
        resource,
        traffic: match s.filter {
            Filter::All => pb::TrafficFilter::All,
            Filter::Accepted => pb::TrafficFilter::Accepted,
            Filter::Rejected => pb::TrafficFilter::Rejected,
        } as i32,
        window_seconds: s.window.secs() as u32,
        log_stream: opt_name(
            p,
            C::LogStreams,
            f.log_stream.map(|x| w.logs.streams[x as usize].id.as_str()),
        ),
        tags: f.tags.clone().into_iter().collect(),
        format: format.to_string(),
        aws_fields: p.aws_fields(i).to_string(),
        create_time: Some(timestamp(f.created)),
        etag: p.etag(C::FlowLogs, &s.id),
    }
}

pub fn enterprise_router(p: &Project, i: u32) -> pb::EnterpriseRouter {
    let r = &p.world().routers.routers[i as usize];
    pb::EnterpriseRouter {
        name: p.name(C::EnterpriseRouters, &r.id),
        display_name: r.name.clone(),
        asn: r.asn,
        etag: p.etag(C::EnterpriseRouters, &r.id),
        region: r.region.clone().unwrap_or_default(),
    }
}

pub fn router_attachment(p: &Project, i: u32) -> pb::RouterAttachment {
    let w = p.world();
    let rs = &w.routers;
    let a = &rs.attachments[i as usize];
    let kind = match a.kind {
        router::AttachmentKind::Vpc => pb::AttachmentKind::Vpc,
        router::AttachmentKind::VpnGateway => pb::AttachmentKind::VpnGateway,
        router::AttachmentKind::VirtualGateway => pb::AttachmentKind::VirtualGateway,
        router::AttachmentKind::PeeringConnection => pb::AttachmentKind::PeeringConnection,
        router::AttachmentKind::GlobalDcGateway => pb::AttachmentKind::GlobalDcGateway,
    };
    let resource = match a.kind {
        router::AttachmentKind::Vpc => p.name(C::Vpcs, &a.resource),
        _ => a.resource.clone(),
    };
    let table_name = |t: u32| p.name(C::RouterRouteTables, &rs.tables[t as usize].id);
    let interfaces: Vec<pb::RouterAttachmentInterface> = a
        .enis
        .iter()
        .map(|&e| {
            let e = &w.enis[e as usize];
            pb::RouterAttachmentInterface {
                subnet: p.name(C::Subnets, &w.subnets[e.subnet as usize].id),
                private_ip: e.ip.to_string(),
                network_interface_id: e.id.clone(),
            }
        })
        .collect();
    let peer = a.peer.map(|x| &rs.attachments[x as usize]);
    pb::RouterAttachment {
        name: p.name(C::RouterAttachments, &a.id),
        display_name: a.name.clone(),
        enterprise_router: p.name(C::EnterpriseRouters, &rs.routers[a.router as usize].id),
        kind: kind as i32,
        resource,
        subnets: interfaces.iter().map(|f| f.subnet.clone()).collect(),
        network_interfaces: a
            .enis
            .iter()
            .map(|&e| p.name(C::NetworkInterfaces, &w.enis[e as usize].id))
            .collect(),
        interfaces,
        networks: a.networks.iter().map(|n| n.to_string()).collect(),
        peer_router: peer.map_or_else(String::new, |x| {
            p.name(C::EnterpriseRouters, &rs.routers[x.router as usize].id)
        }),
        peer_attachment: peer.map_or_else(String::new, |x| p.name(C::RouterAttachments, &x.id)),
        route_table: a
            .table
            .filter(|&t| !rs.tables[t as usize].deleted)
            .map(table_name)
            .unwrap_or_default(),
        propagates_to: a
            .propagates
            .iter()
            .copied()
            .filter(|&t| !rs.tables[t as usize].deleted)
            .map(table_name)
            .collect(),
        etag: p.etag(C::RouterAttachments, &a.id),
    }
}

/// A static or blackhole route of a router route table. A route to an attachment deleted
/// since still names it (the router treats it as a blackhole).
pub fn router_route(p: &Project, r: &router::StaticRoute) -> pb::RouterRoute {
    let w = p.world();
    pb::RouterRoute {
        destination: r.destination.to_string(),
        target: Some(match r.hop {
            router::Hop::Attachment(a) => pb::router_route::Target::Attachment(
                p.name(C::RouterAttachments, &w.routers.attachments[a as usize].id),
            ),
            router::Hop::Blackhole => pb::router_route::Target::Blackhole(true),
        }),
    }
}

pub fn router_route_table(p: &Project, i: u32) -> pb::RouterRouteTable {
    let rs = &p.world().routers;
    let t = &rs.tables[i as usize];
    let live = || {
        rs.attachments
            .iter()
            .filter(|a| !a.deleted)
            .map(|a| (a, p.name(C::RouterAttachments, &a.id)))
    };
    pb::RouterRouteTable {
        name: p.name(C::RouterRouteTables, &t.id),
        display_name: t.name.clone(),
        enterprise_router: p.name(C::EnterpriseRouters, &rs.routers[t.router as usize].id),
        routes: t.routes.iter().map(|r| router_route(p, r)).collect(),
        propagated_routes: live()
            .filter(|(a, _)| a.propagates.contains(&i))
            .flat_map(|(a, name)| {
                a.networks.iter().map(move |n| pb::RouterRoute {
                    destination: n.to_string(),
                    target: Some(pb::router_route::Target::Attachment(name.clone())),
                })
            })
            .collect(),
        associations: live()
            .filter(|(a, _)| a.table == Some(i))
            .map(|(_, name)| name)
            .collect(),
        etag: p.etag(C::RouterRouteTables, &t.id),
    }
}

pub fn cloud_connect_network(p: &Project, i: u32) -> pb::CloudConnectNetwork {
    let w = p.world();
    let c = &w.ccns.items[i as usize];
    pb::CloudConnectNetwork {
        name: p.name(C::CloudConnectNetworks, &c.id),
        display_name: c.name.clone(),
        vpcs: c
            .attachments
            .iter()
            .map(|a| p.name(C::Vpcs, &a.vpc_id))
            .collect(),
        bandwidth_limits: c
            .limits
            .iter()
            .map(|l| pb::CcnBandwidthLimit {
                region_a: l.regions[0].clone(),
                region_b: l.regions[1].clone(),
                bits_per_second: l.bandwidth.rate(),
            })
            .collect(),
        etag: p.etag(C::CloudConnectNetworks, &c.id),
    }
}

/// A resource as the API shows it, read out of a project by its index in the world.
pub trait View: Into<Reply> {
    /// The collection it is named and listed in.
    const COLLECTION: C;

    /// The resource at world index `i`.
    fn of(p: &Project, i: u32) -> Self;

    /// The resource of collection `COLLECTION` with this id, if it exists.
    fn find(p: &Project, id: &str) -> Option<Self> {
        p.find(Self::COLLECTION, id).map(|i| Self::of(p, i))
    }
}

/// Every resource of the API, one row each: its collection, its message and the function
/// above that shows it, its name segment (`vpcs`, `networkInterfaces`), and the noun messages
/// use. A row makes the resource's `Collection` variant and its `View`; the rows' order is
/// the collections' (`Collection::ALL`, and their stored form in snapshots).
macro_rules! resources {
    ($($variant:ident => $message:ident via $show:ident, $segment:literal, $noun:literal;)*) => {
        /// A collection of the API's resources.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize,
            serde::Deserialize,
        )]
        pub enum Collection {
            $($variant),*
        }

        impl Collection {
            /// Every collection, in the table's order.
            pub const ALL: &[Collection] = &[$(Collection::$variant),*];

            /// The name segment (`vpcs`, `networkInterfaces`).
            pub const fn segment(self) -> &'static str {
                match self {
                    $(Collection::$variant => $segment),*
                }
            }

            /// The resource type for error details (`vpclab.v1.Vpc`).
            pub const fn type_name(self) -> &'static str {
                match self {
                    $(Collection::$variant => concat!("vpclab.v1.", stringify!($message))),*
                }
            }

            /// In words, for messages.
            pub const fn noun(self) -> &'static str {
                match self {
                    $(Collection::$variant => $noun),*
                }
            }
        }

        $(
            impl View for pb::$message {
                const COLLECTION: C = C::$variant;

                fn of(p: &Project, i: u32) -> Self {
                    $show(p, i)
                }
            }
        )*
    };
}

resources! {
    Vpcs => Vpc via vpc, "vpcs", "VPC";
    Subnets => Subnet via subnet, "subnets", "subnet";
    NetworkInterfaces => NetworkInterface via network_interface, "networkInterfaces", "network interface";
    SecurityGroups => SecurityGroup via security_group, "securityGroups", "security group";
    NetworkAcls => NetworkAcl via network_acl, "networkAcls", "network ACL";
    RouteTables => RouteTable via route_table, "routeTables", "route table";
    InternetGateways => InternetGateway via internet_gateway, "internetGateways", "internet gateway";
    ExternalHosts => ExternalHost via external_host, "externalHosts", "external host";
    FlowLogs => FlowLog via flow_log_in_its_format, "flowLogs", "flow log";
    LogGroups => LogGroup via log_group, "logGroups", "log group";
    LogStreams => LogStream via log_stream, "logStreams", "log stream";
    EnterpriseRouters => EnterpriseRouter via enterprise_router, "enterpriseRouters", "enterprise router";
    RouterAttachments => RouterAttachment via router_attachment, "routerAttachments", "router attachment";
    NatGateways => NatGateway via nat_gateway, "natGateways", "NAT gateway";
    RouterRouteTables => RouterRouteTable via router_route_table, "routerRouteTables", "router route table";
    CloudConnectNetworks => CloudConnectNetwork via cloud_connect_network, "cloudConnectNetworks", "Cloud Connect Network";
    VpcPeeringConnections => VpcPeeringConnection via vpc_peering_connection, "vpcPeeringConnections", "VPC peering connection";
    VpnGateways => VpnGateway via vpn_gateway, "vpnGateways", "virtual private gateway";
}

/// A flow log with the name of the format its records are written in.
fn flow_log_in_its_format(p: &Project, i: u32) -> pb::FlowLog {
    flow_log(p, i, p.format_name(i))
}

/// The resource a create or update command made or changed, as the API answers it (`None`
/// for the other commands): the `-> Message` of its row in the `commands!` table.
pub fn changed(p: &Project, cmd: &Command, a: &Applied) -> Option<Reply> {
    cmd.answer(p, a)
}
