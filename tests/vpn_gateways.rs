//! Virtual private gateways (aws `vgw-…`, sim/src/world/vpn.rs), in a file and over gRPC:
//! where a file's mistakes point, what a create refuses and that a refusal changes nothing,
//! route propagation as a route table shows it, what a gateway keeps from being deleted and the
//! blackhole a static route to a deleted one becomes, and the explained route priority of
//! scenarios/aws-vpn-route-priority.yaml.

mod common;

use common::fixture::{
    self, allow_rule, create_eni, create_sg, create_subnet, create_vpc, mask, route_table,
    routes_req, start_net, vpc_in_use,
};
use common::*;
use tonic::Code;
use tonic::transport::Channel;
use vpclab_controlplane::api::{Defaults, pb};
use vpclab_sim::profile::Provider;

const P: &str = "projects/default";
const SCENARIO_FILE: &str = "scenarios/aws-vpn-route-priority.yaml";
const SCENARIO: &str = include_str!("../scenarios/aws-vpn-route-priority.yaml");

fn defaults() -> Defaults {
    Defaults {
        seed: 5,
        start: 1_700_000_000,
        ..Defaults::default()
    }
}

// ----- the file -----

/// The shipped scenario with lines changed, each `(from, to)` once.
fn changed(changes: &[(&str, &str)]) -> String {
    changes.iter().fold(SCENARIO.to_string(), |t, (from, to)| {
        scenario::replaced(&t, from, to)
    })
}

/// The changed scenario is refused at `line`:`column`, naming `field` and saying `message`.
#[track_caller]
fn refused_at(text: &str, (line, column): (u64, u64), field: &str, message: &str) {
    let e = scenario::refused(text, field, message);
    assert_eq!((e.line, e.column), (line, column), "{e}");
}

/// The shipped scenario with `from` changed to `to` is refused on `from`'s line, at `column`,
/// naming `field` and saying `message`.
#[track_caller]
fn refused_change(from: &str, to: &str, column: u64, field: &str, message: &str) {
    let line = scenario::line_of(SCENARIO, from);
    refused_at(&changed(&[(from, to)]), (line, column), field, message);
}

/// `text` is refused on the line of `needle`, at `column`, naming `field` and saying `message`.
#[track_caller]
fn refused_on(text: &str, needle: &str, column: u64, field: &str, message: &str) {
    let line = scenario::line_of(text, needle);
    refused_at(text, (line, column), field, message);
}

const DC_SERVER: &str = "{ name: dc-server, ip: 172.16.0.20, site: { vpn_gateway: vgw } }";
const STATIC_ROUTE: &str = "{ destination: 203.0.113.0/24, target: vpn_gateway, vpn_gateway: vgw }";

#[test]
fn an_unknown_routing_names_the_connection_and_the_word() {
    let text = changed(&[("routing: bgp,", "routing: ospf,")]);
    refused_at(
        &text,
        (scenario::line_of(SCENARIO, "{ name: vpn-bgp,"), 62),
        "vpn_gateways[0].connections[2].routing",
        "unknown routing `ospf` (expected direct_connect, static or bgp)",
    );
    assert_eq!(
        scenario::error(&text).to_string(),
        format!(
            "s.yaml:{}:62: vpn_gateways[0].connections[2].routing: unknown routing `ospf` \
             (expected direct_connect, static or bgp)",
            scenario::line_of(SCENARIO, "{ name: vpn-bgp,")
        )
    );
}

#[test]
fn a_host_site_names_one_existing_gateway() {
    // A gateway the file does not have.
    refused_change(
        DC_SERVER,
        "{ name: dc-server, ip: 172.16.0.20, site: { vpn_gateway: nope } }",
        47,
        "external_hosts[0].site",
        "no virtual private gateway named `nope`",
    );
    // A router's attachment and a gateway at once, or a half of the attachment's pair.
    let either = "a site is `{router: R, attachment: A}` (a router's gateway attachment) or \
                  `{vpn_gateway: G}` (a VPC's virtual private gateway)";
    for site in [
        "{ router: tgw, attachment: dc, vpn_gateway: vgw }",
        "{ attachment: dc, vpn_gateway: vgw }",
        "{ router: tgw }",
        "{}",
    ] {
        refused_change(
            DC_SERVER,
            &format!("{{ name: dc-server, ip: 172.16.0.20, site: {site} }}"),
            47,
            "external_hosts[0].site",
            either,
        );
    }
    // An address none of the gateway's connections reaches.
    refused_change(
        DC_SERVER,
        "{ name: dc-server, ip: 172.31.0.20, site: { vpn_gateway: vgw } }",
        28,
        "external_hosts[0].ip",
        "172.31.0.20 is in none of the networks behind virtual private gateway \
         vgw-0f1e2d3c4b5a69788",
    );
}

#[test]
fn route_propagation_names_a_gateway_of_the_file() {
    refused_change(
        "route_propagation: [vgw]",
        "route_propagation: [nope]",
        25,
        "vpcs[0].route_propagation[0]",
        "no virtual private gateway named `nope`",
    );
}

/// A refused `route_propagation` entry is named once: `vpcs[0].route_propagation[1]`.
#[test]
fn a_refused_route_propagation_entry_is_named_once() {
    // A gateway given twice, into the main table and into a table of its own.
    refused_change(
        "route_propagation: [vgw]",
        "route_propagation: [vgw, vgw]",
        30,
        "vpcs[0].route_propagation[1]",
        "virtual private gateway vgw-0f1e2d3c4b5a69788 is given twice",
    );
    let text = changed(&[(
        "    route_propagation: [vgw]\n",
        "    route_tables:\n      - name: second\n        route_propagation: [vgw, vgw]\n",
    )]);
    refused_on(
        &text,
        "route_propagation: [vgw, vgw]",
        34,
        "vpcs[0].route_tables[0].route_propagation[1]",
        "virtual private gateway vgw-0f1e2d3c4b5a69788 is given twice",
    );
    // Another VPC's gateway.
    let text = changed(&[(
        "vpn_gateways:",
        "  - name: other\n    cidr: 10.9.0.0/16\n    route_propagation: [vgw]\n\nvpn_gateways:",
    )]);
    refused_at(
        &text,
        (scenario::line_of(&text, "  - name: other") + 2, 25),
        "vpcs[1].route_propagation[0]",
        "virtual private gateway vgw-0f1e2d3c4b5a69788 is attached to VPC app, not to this table's",
    );
}

#[test]
fn a_vpc_has_one_gateway_and_a_connection_has_networks() {
    let text = changed(&[(
        "external_hosts:",
        "  - name: vgw2\n    vpc: app\n    connections:\n      - { name: dx2, routing: direct_connect, networks: [172.17.0.0/16] }\n\nexternal_hosts:",
    )]);
    refused_at(
        &text,
        (scenario::line_of(&text, "  - name: vgw2") + 1, 10),
        "vpn_gateways[1].vpc",
        "VPC app already has virtual private gateway vgw-0f1e2d3c4b5a69788: a VPC has one at a time",
    );
    let dx = "{ name: dx, id: dxvif-fgabcd12, routing: direct_connect, networks: [172.16.0.0/16] }";
    refused_change(
        dx,
        "{ name: dx, id: dxvif-fgabcd12, routing: direct_connect, networks: [] }",
        9,
        "vpn_gateways[0].connections[0].networks",
        "name the on-premises networks the connection reaches",
    );
    refused_change(
        "{ name: vpn-bgp,",
        "{ name: dx,",
        17,
        "vpn_gateways[0].connections[2].name",
        "a connection named `dx` is given twice",
    );
}

#[test]
fn another_cloud_points_to_enterprise_router_attachments() {
    refused_at(
        &changed(&[("provider: aws", "provider: huawei")]),
        (scenario::line_of(SCENARIO, "    vpc: app"), 10),
        "vpn_gateways[0].vpc",
        "vpclab models no VPN gateway attached to a VPC on huawei: connect premises through its \
         enterprise router (an attachment of kind vpn_gateway, virtual_gateway or \
         global_dc_gateway)",
    );
}

#[test]
fn a_vpn_gateway_route_names_the_vpcs_gateway() {
    for (to, column, message) in [
        (
            "{ destination: 203.0.113.0/24, target: vpn_gateway }",
            48,
            "a `vpn_gateway` route names the VPC's gateway: `vpn_gateway: NAME`",
        ),
        (
            "{ destination: 203.0.113.0/24, target: vpn_gateway, vpn_gateway: nope }",
            74,
            "no virtual private gateway named `nope`",
        ),
        (
            "{ destination: 203.0.113.0/24, target: blackhole, vpn_gateway: vgw }",
            72,
            "a `blackhole` route names no vpn_gateway: remove `vpn_gateway`",
        ),
    ] {
        refused_change(
            STATIC_ROUTE,
            to,
            column,
            "vpcs[0].routes[1].vpn_gateway",
            message,
        );
    }
    // Another VPC's gateway.
    let text = changed(&[(
        "vpn_gateways:",
        "  - name: other\n    cidr: 10.9.0.0/16\n    routes:\n      - { destination: 172.16.0.0/16, target: vpn_gateway, vpn_gateway: vgw }\n\nvpn_gateways:",
    )]);
    refused_on(
        &text,
        "{ destination: 172.16.0.0/16, target: vpn_gateway",
        9,
        "vpcs[1].routes[0].target",
        "the virtual private gateway is not attached to this VPC",
    );
}

// ----- over gRPC -----

fn connection(name: &str, routing: pb::VpnRouting, networks: &[&str]) -> pb::VpnConnection {
    pb::VpnConnection {
        id: String::new(),
        display_name: name.into(),
        routing: routing as i32,
        networks: networks.iter().map(|n| n.to_string()).collect(),
    }
}

fn gateway_req(
    name: &str,
    vpc: &str,
    connections: Vec<pb::VpnConnection>,
) -> pb::CreateVpnGatewayRequest {
    pb::CreateVpnGatewayRequest {
        parent: P.into(),
        vpn_gateway: Some(pb::VpnGateway {
            display_name: name.into(),
            vpc: vpc.into(),
            connections,
            ..Default::default()
        }),
        vpn_gateway_id: String::new(),
    }
}

fn propagation_req(table: &str, gateways: &[&str]) -> pb::UpdateRouteTableRequest {
    pb::UpdateRouteTableRequest {
        route_table: Some(pb::RouteTable {
            name: table.into(),
            propagating_vpn_gateways: gateways.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }),
        update_mask: mask(&["propagating_vpn_gateways"]),
    }
}

/// A request for route table `name` of `vpc`, `gateway` propagating into it.
fn propagating_table(name: &str, vpc: &str, gateway: &str) -> pb::CreateRouteTableRequest {
    pb::CreateRouteTableRequest {
        parent: P.into(),
        route_table: Some(pb::RouteTable {
            display_name: name.into(),
            vpc: vpc.into(),
            propagating_vpn_gateways: vec![gateway.into()],
            ..Default::default()
        }),
        route_table_id: String::new(),
    }
}

async fn gateways(net: &mut NetworkServiceClient<Channel>) -> Vec<pb::VpnGateway> {
    fixture::list!(net.list_vpn_gateways(ListVpnGatewaysRequest)).vpn_gateways
}

fn propagated(
    destination: &str,
    gateway: &str,
    connection: &str,
    routing: pb::VpnRouting,
) -> pb::PropagatedRoute {
    pb::PropagatedRoute {
        destination: destination.into(),
        vpn_gateway: gateway.into(),
        connection: connection.into(),
        routing: routing as i32,
    }
}

#[tokio::test]
async fn a_gateway_is_created_read_listed_and_refused_without_changes() {
    let dir = temp_dir("api-vgw");
    let (server, mut net) = start_net(&dir, Provider::Aws, defaults()).await;
    let app = create_vpc(&mut net, "app", "10.0.0.0/16").await;

    let mut req = gateway_req(
        "vgw",
        &app.name,
        vec![
            connection("dx", pb::VpnRouting::DirectConnect, &["172.16.0.0/16"]),
            connection("office", pb::VpnRouting::VpnStatic, &["192.168.0.0/16"]),
            pb::VpnConnection {
                id: "vpn-0a1b2c3d4e5f60002".into(),
                ..connection("branch", pb::VpnRouting::VpnBgp, &["192.168.5.0/24"])
            },
        ],
    );
    req.vpn_gateway_id = "vgw-0f1e2d3c4b5a69788".into();
    let g = net.create_vpn_gateway(req).await.unwrap().into_inner();
    assert_eq!(g.name, "projects/default/vpnGateways/vgw-0f1e2d3c4b5a69788");
    assert_eq!(
        (g.display_name.as_str(), g.vpc.as_str()),
        ("vgw", app.name.as_str())
    );
    // Ids not given are drawn: a Direct Connect virtual interface's `dxvif-` and 8 lowercase
    // letters and digits, a VPN connection's `vpn-…` (17 hex digits, as EC2 draws its ids).
    let ids: Vec<&str> = g.connections.iter().map(|c| c.id.as_str()).collect();
    assert!(
        ids[0].starts_with("dxvif-") && ids[0].len() == 14,
        "{ids:?}"
    );
    assert!(
        ids[0][6..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{ids:?}"
    );
    assert!(ids[1].starts_with("vpn-") && ids[1].len() == 21, "{ids:?}");
    assert!(
        ids[1][4..].chars().all(|c| c.is_ascii_hexdigit()),
        "{ids:?}"
    );
    assert_eq!(ids[2], "vpn-0a1b2c3d4e5f60002");
    assert_eq!(
        g.connections
            .iter()
            .map(|c| (c.display_name.as_str(), c.routing, c.networks.clone()))
            .collect::<Vec<_>>(),
        vec![
            (
                "dx",
                pb::VpnRouting::DirectConnect as i32,
                vec!["172.16.0.0/16".to_string()]
            ),
            (
                "office",
                pb::VpnRouting::VpnStatic as i32,
                vec!["192.168.0.0/16".to_string()]
            ),
            (
                "branch",
                pb::VpnRouting::VpnBgp as i32,
                vec!["192.168.5.0/24".to_string()]
            ),
        ]
    );
    let get = pb::GetVpnGatewayRequest {
        name: g.name.clone(),
    };
    let delete = pb::DeleteVpnGatewayRequest {
        name: g.name.clone(),
    };
    let got = net.get_vpn_gateway(get.clone()).await.unwrap().into_inner();
    assert_eq!(got, g);
    assert_eq!(gateways(&mut net).await, vec![g.clone()]);

    // Refusals name the field, and change nothing.
    let other = create_vpc(&mut net, "other", "10.9.0.0/16").await;
    let dc = || connection("dc", pb::VpnRouting::DirectConnect, &["172.16.0.0/16"]);
    let mut unspecified = dc();
    unspecified.routing = pb::VpnRouting::Unspecified as i32;
    let mut taken_id = gateway_req("again", &other.name, vec![dc()]);
    taken_id.vpn_gateway.as_mut().unwrap().connections[0].id = ids[0].to_string();
    for (req, expected) in [
        (
            gateway_req("x", &other.name, vec![unspecified]),
            (Code::InvalidArgument, "vpn_gateway.connections[0].routing"),
        ),
        (
            gateway_req(
                "x",
                &other.name,
                vec![connection("dc", pb::VpnRouting::VpnBgp, &[])],
            ),
            (Code::InvalidArgument, "vpn_gateway.connections[0].networks"),
        ),
        (
            gateway_req(
                "x",
                &other.name,
                vec![connection("dc", pb::VpnRouting::VpnBgp, &["172.16.0.0/33"])],
            ),
            (
                Code::InvalidArgument,
                "vpn_gateway.connections[0].networks[0]",
            ),
        ),
        (
            gateway_req("x", &other.name, vec![dc(), dc()]),
            (
                Code::AlreadyExists,
                "vpn_gateway.connections[1].display_name",
            ),
        ),
        (
            taken_id,
            (Code::AlreadyExists, "vpn_gateway.connections[0].id"),
        ),
        // "You can attach only one virtual private gateway to a VPC at a time".
        (
            gateway_req("second", &app.name, vec![dc()]),
            (Code::AlreadyExists, "vpn_gateway.vpc"),
        ),
        (
            gateway_req("x", "projects/default/vpcs/vpc-0000", vec![dc()]),
            (Code::NotFound, "vpn_gateway.vpc"),
        ),
        (
            gateway_req("vgw", &other.name, vec![dc()]),
            (Code::AlreadyExists, "vpn_gateway.display_name"),
        ),
    ] {
        let (code, at) = refused(net.create_vpn_gateway(req).await);
        assert_eq!((code, at.as_str()), expected);
    }
    let s = err(net
        .create_vpn_gateway(gateway_req("second", &app.name, vec![dc()]))
        .await);
    assert_eq!(
        s.message(),
        "VPC app already has virtual private gateway vgw-0f1e2d3c4b5a69788: a VPC has one at a time"
    );
    assert_eq!(gateways(&mut net).await, vec![g.clone()]);

    // Deleted: gone from Get and List; the VPC is free for another gateway.
    net.delete_vpn_gateway(delete.clone()).await.unwrap();
    let s = err(net.get_vpn_gateway(get).await);
    assert_eq!(s.code(), Code::NotFound);
    assert_eq!(gateways(&mut net).await, vec![]);
    let (code, _) = refused(net.delete_vpn_gateway(delete).await);
    assert_eq!(code, Code::NotFound);
    let again = net
        .create_vpn_gateway(gateway_req("vgw", &app.name, vec![dc()]))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(again.name, g.name);
    server.stop().await;
}

#[tokio::test]
async fn other_clouds_refuse_a_vpc_attached_gateway() {
    let dir = temp_dir("api-vgw-huawei");
    let (server, mut net) = start_net(&dir, Provider::Huawei, defaults()).await;
    let vpc = create_vpc(&mut net, "app", "10.0.0.0/16").await;
    let s = err(net
        .create_vpn_gateway(gateway_req(
            "vgw",
            &vpc.name,
            vec![connection(
                "dc",
                pb::VpnRouting::DirectConnect,
                &["172.16.0.0/16"],
            )],
        ))
        .await);
    assert_eq!(
        (s.code(), field(&s).as_str()),
        (Code::FailedPrecondition, "vpn_gateway.vpc")
    );
    assert_eq!(
        s.message(),
        "vpclab models no VPN gateway attached to a VPC on huawei: connect premises through its \
         enterprise router (an attachment of kind vpn_gateway, virtual_gateway or \
         global_dc_gateway)"
    );
    assert_eq!(gateways(&mut net).await, vec![]);
    server.stop().await;
}

/// A UDP packet from `eni` to 172.16.0.20 from port `sport`, sent now and carried.
async fn send(sim: &mut SimulationServiceClient<Channel>, eni: &str, sport: u32) {
    sim.inject_traffic(common::fixture::inject(
        pb::inject_traffic_request::Traffic::Packet(pb::RawPacket {
            from: eni.into(),
            dst: "172.16.0.20".into(),
            protocol: "udp".into(),
            sport,
            dport: 514,
            ..Default::default()
        }),
    ))
    .await
    .unwrap();
    sim.advance(pb::AdvanceRequest {
        parent: P.into(),
        until: Some(pb::advance_request::Until::By(prost_types::Duration {
            seconds: 5,
            nanos: 0,
        })),
    })
    .await
    .unwrap();
}

/// The explanation of the one packet [`send`] sent from `sport`, but for its first line (which
/// names the drawn interface id and the time), each line trimmed.
async fn explain(sim: &mut SimulationServiceClient<Channel>, sport: u32) -> Vec<String> {
    let packets = sim
        .explain_flow(pb::ExplainFlowRequest {
            parent: P.into(),
            src: "10.0.1.10".into(),
            dst: "172.16.0.20".into(),
            protocol: "udp".into(),
            sport,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .packets;
    assert_eq!(packets.len(), 1, "{packets:#?}");
    packets[0]
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect()
}

#[tokio::test]
async fn propagation_routes_and_deletion_of_a_gateway() {
    let dir = temp_dir("api-vgw-routes");
    let (server, mut net) = start_net(&dir, Provider::Aws, defaults()).await;
    let mut sim = SimulationServiceClient::new(server.channel().await);
    let app = create_vpc(&mut net, "app", "10.0.0.0/16").await;
    let other = create_vpc(&mut net, "other", "10.9.0.0/16").await;
    let g = net
        .create_vpn_gateway(gateway_req(
            "vgw",
            &app.name,
            vec![
                pb::VpnConnection {
                    id: "dxvif-fgabcd12".into(),
                    ..connection("dx", pb::VpnRouting::DirectConnect, &["172.16.0.0/16"])
                },
                pb::VpnConnection {
                    id: "vpn-0a1b2c3d4e5f60001".into(),
                    ..connection(
                        "vpn-static",
                        pb::VpnRouting::VpnStatic,
                        &["172.16.0.0/16", "192.168.0.0/16"],
                    )
                },
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    let g2 = net
        .create_vpn_gateway(gateway_req(
            "vgw-other",
            &other.name,
            vec![connection("dc", pb::VpnRouting::VpnBgp, &["172.20.0.0/16"])],
        ))
        .await
        .unwrap()
        .into_inner();

    // Another VPC's gateway propagates into none of this VPC's tables; nothing changes.
    let before = route_table(&mut net, &app.main_route_table).await;
    for (gateways, code, at) in [
        (
            vec![g2.name.as_str()],
            Code::InvalidArgument,
            "route_table.propagating_vpn_gateways[0]",
        ),
        (
            vec![g.name.as_str(), g.name.as_str()],
            Code::InvalidArgument,
            "route_table.propagating_vpn_gateways[1]",
        ),
        (
            vec!["projects/default/vpnGateways/vgw-00000000000000000"],
            Code::NotFound,
            "route_table.propagating_vpn_gateways[0]",
        ),
    ] {
        let update = propagation_req(&app.main_route_table, &gateways);
        let (got, named) = refused(net.update_route_table(update).await);
        assert_eq!((got, named.as_str()), (code, at));
    }
    assert_eq!(route_table(&mut net, &app.main_route_table).await, before);
    // A refused propagation takes the request's other changes back with it.
    let mut all = propagation_req(&app.main_route_table, &[&g2.name]);
    let t = all.route_table.as_mut().unwrap();
    t.display_name = "renamed".into();
    t.routes = vec![pb::Route {
        destination: "0.0.0.0/0".into(),
        target: Some(pb::route::Target::Blackhole(true)),
    }];
    all.update_mask = mask(&["display_name", "routes", "propagating_vpn_gateways"]);
    let (code, at) = refused(net.update_route_table(all).await);
    assert_eq!(
        (code, at.as_str()),
        (
            Code::InvalidArgument,
            "route_table.propagating_vpn_gateways[0]"
        )
    );
    assert_eq!(route_table(&mut net, &app.main_route_table).await, before);
    assert!(before.propagating_vpn_gateways.is_empty() && before.propagated_routes.is_empty());

    // Propagation on: the table lists what each connection learned.
    let updated = net
        .update_route_table(propagation_req(&app.main_route_table, &[&g.name]))
        .await
        .unwrap()
        .into_inner();
    let rt = route_table(&mut net, &app.main_route_table).await;
    assert_eq!(rt, updated);
    assert_eq!(rt.propagating_vpn_gateways, vec![g.name.clone()]);
    assert_eq!(
        rt.propagated_routes,
        vec![
            propagated(
                "172.16.0.0/16",
                &g.name,
                "dxvif-fgabcd12",
                pb::VpnRouting::DirectConnect
            ),
            propagated(
                "172.16.0.0/16",
                &g.name,
                "vpn-0a1b2c3d4e5f60001",
                pb::VpnRouting::VpnStatic
            ),
            propagated(
                "192.168.0.0/16",
                &g.name,
                "vpn-0a1b2c3d4e5f60001",
                pb::VpnRouting::VpnStatic
            ),
        ]
    );

    // An empty list (the mask names it) turns propagation off; a new table starts with it.
    let off = net
        .update_route_table(propagation_req(&app.main_route_table, &[]))
        .await
        .unwrap()
        .into_inner();
    assert!(
        off.propagating_vpn_gateways.is_empty() && off.propagated_routes.is_empty(),
        "{off:?}"
    );
    net.update_route_table(propagation_req(&app.main_route_table, &[&g.name]))
        .await
        .unwrap();
    let second = net
        .create_route_table(propagating_table("second", &app.name, &g.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.propagating_vpn_gateways, vec![g.name.clone()]);
    assert_eq!(second.propagated_routes, rt.propagated_routes);
    let (code, at) = refused(
        net.create_route_table(propagating_table("third", &app.name, &g2.name))
            .await,
    );
    assert_eq!(
        (code, at.as_str()),
        (
            Code::InvalidArgument,
            "route_table.propagating_vpn_gateways[0]"
        )
    );

    // A static route to the VPC's own gateway; not to another VPC's.
    let rt = net
        .update_route_table(routes_req(
            &app.main_route_table,
            vec![pb::Route {
                destination: "172.16.0.0/16".into(),
                target: Some(pb::route::Target::VpnGateway(g.name.clone())),
            }],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rt.routes
            .iter()
            .find(|r| r.destination == "172.16.0.0/16")
            .and_then(|r| r.target.clone()),
        Some(pb::route::Target::VpnGateway(g.name.clone()))
    );
    assert_eq!(rt.propagating_vpn_gateways, vec![g.name.clone()], "kept");
    let (code, at) = refused(
        net.update_route_table(routes_req(
            &app.main_route_table,
            vec![pb::Route {
                destination: "172.20.0.0/16".into(),
                target: Some(pb::route::Target::VpnGateway(g2.name.clone())),
            }],
        ))
        .await,
    );
    assert_eq!(
        (code, at.as_str()),
        (Code::NotFound, "route_table.routes[0].target")
    );

    // An instance in the VPC, whose packets to 172.16.0.20 the table sends to the gateway.
    let subnet = create_subnet(&mut net, "app-a", &app.name, "10.0.1.0/24").await;
    let out = vec![allow_rule(pb::Direction::Egress, "all", "", "0.0.0.0/0")];
    let sg = create_sg(&mut net, "out", &app.name, out).await;
    let eni = create_eni(
        &mut net,
        "app-server",
        &subnet.name,
        "10.0.1.10",
        vec![sg.name],
    )
    .await;
    // A host behind the gateway, at an address one of its connections reaches.
    let host = |name: &str, ip: &str| pb::CreateExternalHostRequest {
        parent: P.into(),
        external_host: Some(pb::ExternalHost {
            display_name: name.into(),
            ip: ip.into(),
            site: g.name.clone(),
            ..Default::default()
        }),
        external_host_id: String::new(),
    };
    let (code, at) = refused(sim.create_external_host(host("far", "10.200.0.1")).await);
    assert_eq!(
        (code, at.as_str()),
        (Code::InvalidArgument, "external_host.ip")
    );
    let dc = sim
        .create_external_host(host("dc-server", "172.16.0.20"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dc.site, g.name);

    // The static route wins over the propagated ones of its prefix; the gateway carries the
    // packet over the connection it prefers for the address (Direct Connect), to the host.
    send(&mut sim, &eni.name, 40001).await;
    let vgw = g.name.rsplit('/').next().unwrap();
    let lines = explain(&mut sim, 40001).await;
    assert_eq!(
        lines[..5],
        [
            format!("path: ENI app-server -> subnet app-a -> VGW {vgw} (dx) -> host dc-server"),
            "SG egress at app-server: rule 1 of out (allow all protocols to 0.0.0.0/0) allows".into(),
            "ACL app-default egress (subnet app-a): rule 100 (allow all protocols to 0.0.0.0/0) allows".into(),
            format!(
                "route table app-main: 172.16.0.0/16 -> virtual private gateway {vgw} (preferred \
                 to the Direct Connect BGP route 172.16.0.0/16 of dx, the VPN static route \
                 172.16.0.0/16 of vpn-static (at one prefix a static route wins, then Direct \
                 Connect, VPN static, VPN BGP); longest prefix match for 172.16.0.20)"
            ),
            "delivered to dc-server".into(),
        ],
        "{lines:#?}"
    );

    // Neither the gateway nor its VPC goes while the host sits behind it.
    let delete = pb::DeleteVpnGatewayRequest {
        name: g.name.clone(),
    };
    let s = err(net.delete_vpn_gateway(delete.clone()).await);
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(
        preconditions(&s),
        vec![("IN_USE".to_string(), dc.name.clone())]
    );
    let in_use = vpc_in_use(&mut net, &app.name).await;
    assert!(
        in_use.contains(&("IN_USE".to_string(), g.name.clone())),
        "{in_use:?}"
    );
    assert_eq!(gateways(&mut net).await.len(), 2);

    sim.delete_external_host(pb::DeleteExternalHostRequest {
        name: dc.name.clone(),
    })
    .await
    .unwrap();
    net.delete_vpn_gateway(delete).await.unwrap();
    assert_eq!(gateways(&mut net).await, vec![g2.clone()]);
    // Its propagation goes with it; the static route to it stays.
    let rt = route_table(&mut net, &app.main_route_table).await;
    assert!(rt.propagating_vpn_gateways.is_empty(), "{rt:?}");
    assert!(rt.propagated_routes.is_empty(), "{rt:?}");
    let second = route_table(&mut net, &second.name).await;
    assert!(
        second.propagating_vpn_gateways.is_empty() && second.propagated_routes.is_empty(),
        "{second:?}"
    );
    assert!(
        rt.routes.iter().any(|r| r.destination == "172.16.0.0/16"
            && r.target == Some(pb::route::Target::VpnGateway(g.name.clone()))),
        "{rt:?}"
    );

    // ...as a blackhole: a packet to 172.16.0.20 is dropped there.
    send(&mut sim, &eni.name, 40002).await;
    assert_eq!(
        explain(&mut sim, 40002).await,
        vec![
            "path: ENI app-server -> subnet app-a".to_string(),
            "SG egress at app-server: rule 1 of out (allow all protocols to 0.0.0.0/0) allows".into(),
            "ACL app-default egress (subnet app-a): rule 100 (allow all protocols to 0.0.0.0/0) allows".into(),
            format!(
                "route table app-main: 172.16.0.0/16 -> virtual private gateway {vgw} (detached: \
                 blackhole) (longest prefix match for 172.16.0.20)"
            ),
            format!(
                "dropped: blackhole route in app-main (its virtual private gateway {vgw} was detached)"
            ),
        ]
    );

    // What was acknowledged survives a restart.
    let rt = route_table(&mut net, &app.main_route_table).await;
    server.stop().await;
    let (server, mut net) = start_net(&dir, Provider::Aws, defaults()).await;
    assert_eq!(gateways(&mut net).await, vec![g2]);
    assert_eq!(route_table(&mut net, &app.main_route_table).await, rt);
    server.stop().await;
}

// ----- the shipped scenario -----

/// `run --explain` of the shipped scenario: which route each packet met and why, and the path
/// it took through the gateway's connections.
#[test]
fn the_explained_run_shows_the_route_priority() {
    let o = vpclab(&["run", SCENARIO_FILE, "--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let has = |line: &str| {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?} in:\n{out}"
        )
    };
    // 1. Direct Connect BGP beats VPN static at one prefix.
    has(
        "    route table app-main: 172.16.0.0/16 -> virtual private gateway vgw-0f1e2d3c4b5a69788 \
         (propagated: Direct Connect BGP route of connection dx (dxvif-fgabcd12); preferred to \
         the VPN static route 172.16.0.0/16 of vpn-static (at one prefix a static route wins, \
         then Direct Connect, VPN static, VPN BGP); longest prefix match for 172.16.0.20)",
    );
    has(
        "    path: ENI app-server -> subnet app-a -> VGW vgw-0f1e2d3c4b5a69788 (dx) -> host dc-server",
    );
    has(
        "    path: host dc-server -> VGW vgw-0f1e2d3c4b5a69788 (dx) -> subnet app-a -> ENI app-server",
    );
    // 2. VPN static beats VPN BGP at one prefix.
    has(
        "    route table app-main: 192.168.0.0/16 -> virtual private gateway vgw-0f1e2d3c4b5a69788 \
         (propagated: VPN static route of connection vpn-static (vpn-0a1b2c3d4e5f60001); \
         preferred to the VPN BGP route 192.168.0.0/16 of vpn-bgp (at one prefix a static route \
         wins, then Direct Connect, VPN static, VPN BGP); longest prefix match for 192.168.1.30)",
    );
    has(
        "    path: ENI app-server -> subnet app-a -> VGW vgw-0f1e2d3c4b5a69788 (vpn-static) -> host office-pc",
    );
    // 3. The longest prefix first.
    has(
        "    route table app-main: 192.168.5.0/24 -> virtual private gateway vgw-0f1e2d3c4b5a69788 \
         (propagated: VPN BGP route of connection vpn-bgp (vpn-0a1b2c3d4e5f60002); longest \
         prefix match for 192.168.5.40)",
    );
    has(
        "    path: ENI app-server -> subnet app-a -> VGW vgw-0f1e2d3c4b5a69788 (vpn-bgp) -> host branch-pc",
    );
    // 4. A static route to the internet gateway beats the propagated one.
    has(
        "    route table app-main: 198.51.100.0/24 -> internet gateway igw-a756a7dab12790f65 \
         (preferred to the VPN BGP route 198.51.100.0/24 of vpn-bgp (at one prefix a static \
         route wins, then Direct Connect, VPN static, VPN BGP); longest prefix match for \
         198.51.100.7)",
    );
    // 5. The local route beats a more specific propagated one.
    has(
        "    route table app-main: 10.0.0.0/16 -> local (preferred to the VPN BGP route \
         10.0.7.0/24 of vpn-bgp (the local route wins over propagated routes in the VPC's block, \
         even more specific ones); longest prefix match for 10.0.7.9)",
    );
    // 6. The gateway drops what none of its connections reaches.
    has(
        "    route table app-main: 203.0.113.0/24 -> virtual private gateway vgw-0f1e2d3c4b5a69788 \
         (longest prefix match for 203.0.113.9)",
    );
    has("    path: ENI app-server -> subnet app-a -> VGW vgw-0f1e2d3c4b5a69788");
    has(
        "    dropped at virtual private gateway vgw-0f1e2d3c4b5a69788: none of its connections \
         reaches 203.0.113.9, and it routes only their networks and its VPC's block (10.0.0.0/16 \
         of VPC app)",
    );
}

/// No other test runs a shipped scenario twice: the same file gives the same bytes, records
/// and explanations alike.
#[test]
fn two_runs_give_the_same_bytes() {
    for args in [
        &["run", SCENARIO_FILE][..],
        &["run", SCENARIO_FILE, "--explain"][..],
    ] {
        let a = vpclab(args);
        let b = vpclab(args);
        assert!(a.status.success(), "{}", stderr(&a));
        assert!(stdout(&a).contains("ACCEPT egress 3"), "{}", stdout(&a));
        assert_eq!(a.stdout, b.stdout, "{args:?}");
    }
}

/// The same gateway propagating into a route table of the subnet's own, not the main one: the
/// same records.
#[test]
fn a_route_table_of_its_own_propagates_as_the_main_one() {
    use vpclab_controlplane::{Options, load, run};
    let text = changed(&[(
        "    routes:\n      - { destination: 198.51.100.0/24, target: internet_gateway }\n      - { destination: 203.0.113.0/24, target: vpn_gateway, vpn_gateway: vgw }\n    route_propagation: [vgw]\n    subnets:\n      - { name: app-a, cidr: 10.0.1.0/24 }\n",
        "    route_tables:\n      - name: app-rt\n        routes:\n          - { destination: 198.51.100.0/24, target: internet_gateway }\n          - { destination: 203.0.113.0/24, target: vpn_gateway, vpn_gateway: vgw }\n        route_propagation: [vgw]\n    subnets:\n      - { name: app-a, cidr: 10.0.1.0/24, route_table: app-rt }\n",
    )]);
    let lines = |text: &str| {
        let mut l = load("s.yaml", text, &Options::default()).unwrap();
        let r = run(&mut l).unwrap();
        assert!(r.check(&l).is_empty(), "its expectations hold");
        r.lines().map(str::to_string).collect::<Vec<_>>()
    };
    let own = lines(&text);
    assert_eq!(own.len(), 10);
    assert_eq!(own, lines(SCENARIO));
}

/// A static route to the gateway may not be more specific than the VPC's own block (only a
/// NAT gateway, an interface or an endpoint may, policy.md §6.1); and a gateway propagates at
/// most 100 networks into a table (Amazon VPC quota), RESOURCE_EXHAUSTED past it.
#[test]
fn a_gateway_route_stays_out_of_the_vpc_and_its_networks_are_bounded() {
    let inside = STATIC_ROUTE.replace("203.0.113.0/24", "10.0.7.0/24");
    let text = changed(&[(STATIC_ROUTE, &inside)]);
    let line = scenario::line_of(&text, "10.0.7.0/24, target: vpn_gateway");
    let column = text
        .lines()
        .nth(line as usize - 1)
        .unwrap()
        .find("10.0.7.0/24")
        .unwrap() as u64;
    refused_at(
        &text,
        (line, column + 1),
        "vpcs[0].routes[1].destination",
        "10.0.7.0/24 is in this VPC's own block 10.0.0.0/16: a route to the virtual private \
         gateway sends on-premises addresses",
    );
    // 7 networks in the file, 94 more: 101.
    let many: Vec<String> = (0..94).map(|i| format!("10.200.{i}.0/24")).collect();
    let bgp = "networks: [192.168.0.0/16, 192.168.5.0/24, 198.51.100.0/24, 10.0.7.0/24] }";
    let text = changed(&[(
        bgp,
        &format!(
            "networks: [192.168.0.0/16, 192.168.5.0/24, 198.51.100.0/24, 10.0.7.0/24, {}] }}",
            many.join(", ")
        ),
    )]);
    let e = scenario::error(&text);
    assert_eq!(
        e.to_string(),
        format!(
            "s.yaml:{}:5: vpn_gateways[0]: the connections reach 101 networks: a gateway \
             propagates at most 100 routes into a table",
            scenario::line_of(SCENARIO, "- name: vgw")
        )
    );
}
