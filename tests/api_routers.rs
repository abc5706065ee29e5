//! Enterprise routers over gRPC, end to end: a client that knows only the protos builds the
//! topologies of scenarios/aws-transit-gateway.yaml (AWS's "Traffic through a transit gateway"
//! example, flowlogs.md §1.7) and scenarios/huawei-hybrid-vpn.yaml (an office behind a VPN
//! gateway and a data centre behind a global DC gateway, with on-premises hosts), injects
//! their traffic, advances past the capture window and reads the documented records back.
//! Then what the router API refuses (huawei's Direct Connect restriction, routes to a router
//! the VPC is not attached to, removing routes, propagations or associations, an attachment's
//! own interface) and a blackhole route's effect: nothing reaches the destination.

mod common;

use common::fixture::{self, flow, flow_log_req, mask, routes_req, sg_req, sorted_lines};
use common::*;
use tonic::transport::Channel;
use tonic::{Code, Status};
use vpclab_controlplane::api::{Defaults, Tenancy, pb};
use vpclab_sim::profile::Provider;

const P: &str = "projects/default";

/// The clients of one server, and the small requests every topology makes.
struct Api {
    ch: Channel,
    net: NetworkServiceClient<Channel>,
    logs: LogServiceClient<Channel>,
    sim: SimulationServiceClient<Channel>,
    routers: RouterServiceClient<Channel>,
}

impl Api {
    async fn new(server: &Server) -> Api {
        let ch = server.channel().await;
        Api {
            net: NetworkServiceClient::new(ch.clone()),
            logs: LogServiceClient::new(ch.clone()),
            sim: SimulationServiceClient::new(ch.clone()),
            routers: RouterServiceClient::new(ch.clone()),
            ch,
        }
    }

    async fn vpc(&mut self, name: &str, id: &str, cidr: &str) -> pb::Vpc {
        self.net
            .create_vpc(pb::CreateVpcRequest {
                parent: P.into(),
                vpc: Some(pb::Vpc {
                    display_name: name.into(),
                    cidr: cidr.into(),
                    ..Default::default()
                }),
                vpc_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn subnet(
        &mut self,
        vpc: &pb::Vpc,
        name: &str,
        id: &str,
        cidr: &str,
        zone: &str,
    ) -> pb::Subnet {
        self.net
            .create_subnet(pb::CreateSubnetRequest {
                parent: P.into(),
                subnet: Some(pb::Subnet {
                    display_name: name.into(),
                    vpc: vpc.name.clone(),
                    cidr: cidr.into(),
                    zone: zone.into(),
                    ..Default::default()
                }),
                subnet_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn group(
        &mut self,
        vpc: &pb::Vpc,
        name: &str,
        rules: Vec<pb::SecurityGroupRule>,
    ) -> pb::SecurityGroup {
        self.net
            .create_security_group(sg_req(P, name, &vpc.name, rules))
            .await
            .unwrap()
            .into_inner()
    }

    async fn eni(&mut self, id: &str, e: pb::NetworkInterface) -> pb::NetworkInterface {
        self.net
            .create_network_interface(pb::CreateNetworkInterfaceRequest {
                parent: P.into(),
                network_interface: Some(e),
                network_interface_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn router(&mut self, name: &str, id: &str) -> pb::EnterpriseRouter {
        self.routers
            .create_enterprise_router(pb::CreateEnterpriseRouterRequest {
                parent: P.into(),
                enterprise_router: Some(pb::EnterpriseRouter {
                    display_name: name.into(),
                    ..Default::default()
                }),
                enterprise_router_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn table(&mut self, router: &pb::EnterpriseRouter, name: &str) -> pb::RouterRouteTable {
        self.routers
            .create_router_route_table(pb::CreateRouterRouteTableRequest {
                parent: P.into(),
                router_route_table: Some(pb::RouterRouteTable {
                    display_name: name.into(),
                    enterprise_router: router.name.clone(),
                    ..Default::default()
                }),
                router_route_table_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn attach(
        &mut self,
        a: pb::RouterAttachment,
    ) -> Result<tonic::Response<pb::RouterAttachment>, Status> {
        self.routers
            .create_router_attachment(pb::CreateRouterAttachmentRequest {
                parent: P.into(),
                router_attachment: Some(a),
                router_attachment_id: String::new(),
                peer_attachment_id: String::new(),
            })
            .await
    }

    /// Adds routes to a router route table (the request keeps the current ones).
    async fn add_router_routes(
        &mut self,
        table: &str,
        routes: Vec<pb::RouterRoute>,
    ) -> Result<tonic::Response<pb::RouterRouteTable>, Status> {
        let current = self
            .routers
            .get_router_route_table(pb::GetRouterRouteTableRequest { name: table.into() })
            .await
            .unwrap()
            .into_inner();
        let mut all = current.routes;
        all.extend(routes);
        self.routers
            .update_router_route_table(pb::UpdateRouterRouteTableRequest {
                router_route_table: Some(pb::RouterRouteTable {
                    name: table.into(),
                    routes: all,
                    ..Default::default()
                }),
                update_mask: mask(&["routes"]),
            })
            .await
    }

    async fn set_routes(
        &mut self,
        table: &str,
        routes: Vec<pb::Route>,
    ) -> Result<tonic::Response<pb::RouteTable>, Status> {
        self.net.update_route_table(routes_req(table, routes)).await
    }

    async fn host(&mut self, name: &str, ip: &str, site: &str) -> pb::ExternalHost {
        self.sim
            .create_external_host(pb::CreateExternalHostRequest {
                parent: P.into(),
                external_host: Some(pb::ExternalHost {
                    display_name: name.into(),
                    ip: ip.into(),
                    site: site.into(),
                    ..Default::default()
                }),
                external_host_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn stream(&mut self) -> String {
        fixture::log_stream(&self.ch, P, None, "flow-logs", "main")
            .await
            .1
    }

    async fn flow_log(&mut self, name: &str, resource: &str, stream: &str, fields: &str) {
        self.logs
            .create_flow_log(flow_log_req(
                P,
                pb::FlowLog {
                    aws_fields: fields.into(),
                    ..flow(name, resource, stream)
                },
            ))
            .await
            .unwrap();
    }

    async fn inject(&mut self, at: u64, t: pb::inject_traffic_request::Traffic) {
        self.sim
            .inject_traffic(pb::InjectTrafficRequest {
                parent: P.into(),
                at: Some(ts(at)),
                traffic: Some(t),
            })
            .await
            .unwrap();
    }

    async fn advance_to(&mut self, t: u64) {
        self.sim
            .advance(pb::AdvanceRequest {
                parent: P.into(),
                until: Some(pb::advance_request::Until::To(ts(t))),
            })
            .await
            .unwrap();
    }

    /// The project's account id (records carry it; the API cannot choose it).
    async fn account(&mut self) -> String {
        self.sim
            .get_project(pb::GetProjectRequest {
                name: "projects/-".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .account_id
    }

    async fn explain(&mut self, src: &str, dst: &str, protocol: &str) -> Vec<String> {
        self.sim
            .explain_flow(pb::ExplainFlowRequest {
                parent: P.into(),
                src: src.into(),
                dst: dst.into(),
                protocol: protocol.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .packets
    }
}

fn rule(
    direction: pb::Direction,
    protocol: &str,
    ports: &str,
    cidr: &str,
    priority: u32,
) -> pb::SecurityGroupRule {
    pb::SecurityGroupRule {
        direction: direction as i32,
        protocol: protocol.into(),
        ports: ports.into(),
        priority,
        remote: Some(pb::security_group_rule::Remote::Cidr(cidr.into())),
        ..Default::default()
    }
}

fn to_router(destination: &str, router: &str) -> pb::Route {
    pb::Route {
        destination: destination.into(),
        target: Some(pb::route::Target::EnterpriseRouter(router.into())),
    }
}

fn interface(subnet: &str, ip: &str, id: &str) -> pb::RouterAttachmentInterface {
    pb::RouterAttachmentInterface {
        subnet: subnet.into(),
        private_ip: ip.into(),
        network_interface_id: id.into(),
    }
}

fn route_to(destination: &str, attachment: &str) -> pb::RouterRoute {
    pb::RouterRoute {
        destination: destination.into(),
        target: Some(pb::router_route::Target::Attachment(attachment.into())),
    }
}

/// A router route table's static routes.
async fn static_routes(api: &mut Api, name: &str) -> Vec<pb::RouterRoute> {
    api.routers
        .get_router_route_table(pb::GetRouterRouteTableRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
        .routes
}

fn blackhole(destination: &str) -> pb::RouterRoute {
    pb::RouterRoute {
        destination: destination.into(),
        target: Some(pb::router_route::Target::Blackhole(true)),
    }
}

// ===== aws: the transit-gateway example =====

const TGW_START: u64 = 1_700_000_000;
/// The custom format of scenarios/aws-transit-gateway.yaml.
const TGW_FIELDS: &str = "version interface-id account-id vpc-id subnet-id instance-id srcaddr dstaddr srcport dstport protocol tcp-flags type pkt-srcaddr pkt-dstaddr action log-status";

/// The four records of the example (docs/reference/flowlogs.md §1.7), as the scenario expects
/// them, with the project's account id.
fn tgw_documented(account: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "3 eni-33333333333333333 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb i-01234567890123456 10.20.33.164 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK",
        "3 eni-33333333333333333 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb i-01234567890123456 10.40.2.236 10.20.33.164 80 39812 6 19 IPv4 10.40.2.236 10.20.33.164 ACCEPT OK",
        "3 eni-11111111111111111 123456789010 vpc-abcdefab012345678 subnet-11111111aaaaaaaaa - 10.40.1.175 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK",
        "3 eni-22222222222222222 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb - 10.40.2.236 10.40.2.31 80 39812 6 19 IPv4 10.40.2.236 10.20.33.164 ACCEPT OK",
    ]
    .map(|l| l.replace("123456789010", account))
    .to_vec();
    v.sort();
    v
}

#[tokio::test]
async fn transit_gateway_records_over_grpc() {
    let dir = temp_dir("api-tgw");
    let defaults = || Defaults {
        seed: 1,
        start: TGW_START,
        ..Defaults::default()
    };
    let server = Server::start(&dir, Tenancy::single(Provider::Aws), defaults()).await;
    let mut api = Api::new(&server).await;

    let vpc_a = api.vpc("vpc-a", "", "10.20.0.0/16").await;
    let vpc_b = api
        .vpc("vpc-b", "vpc-abcdefab012345678", "10.40.0.0/16")
        .await;
    let clients = api
        .subnet(&vpc_a, "clients", "", "10.20.33.0/24", "use1-az1")
        .await;
    let az1 = api
        .subnet(
            &vpc_b,
            "az1",
            "subnet-11111111aaaaaaaaa",
            "10.40.1.0/24",
            "use1-az1",
        )
        .await;
    let az2 = api
        .subnet(
            &vpc_b,
            "az2",
            "subnet-22222222bbbbbbbbb",
            "10.40.2.0/24",
            "use1-az2",
        )
        .await;
    let client_sg = api
        .group(
            &vpc_a,
            "client",
            vec![rule(pb::Direction::Egress, "all", "", "0.0.0.0/0", 0)],
        )
        .await;
    let web_sg = api
        .group(
            &vpc_b,
            "web",
            vec![rule(pb::Direction::Ingress, "tcp", "80", "10.20.0.0/16", 0)],
        )
        .await;
    let client = api
        .eni(
            "",
            pb::NetworkInterface {
                display_name: "client".into(),
                subnet: clients.name.clone(),
                private_ip: "10.20.33.164".into(),
                security_groups: vec![client_sg.name.clone()],
                ..Default::default()
            },
        )
        .await;
    let web = api
        .eni(
            "eni-33333333333333333",
            pb::NetworkInterface {
                display_name: "web".into(),
                subnet: az2.name.clone(),
                private_ip: "10.40.2.236".into(),
                security_groups: vec![web_sg.name.clone()],
                instance_id: "i-01234567890123456".into(),
                listen_tcp: vec![80],
                ..Default::default()
            },
        )
        .await;

    let tgw = api.router("tgw", "tgw-0123456789abcdef0").await;
    let rt = api.table(&tgw, "tgw-rt").await;
    assert!(rt.name.starts_with("projects/default/routerRouteTables/"));
    // Before it is attached, a VPC cannot route to the router.
    let s = err(api
        .set_routes(
            &vpc_a.main_route_table,
            vec![to_router("10.40.0.0/16", &tgw.name)],
        )
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "route_table.routes[0].enterprise_router");
    assert!(s.message().contains("not attached"), "{s:?}");

    // VPC A by its subnet alone; VPC B with both interfaces' addresses and ids.
    let a = api
        .attach(pb::RouterAttachment {
            display_name: "a".into(),
            enterprise_router: tgw.name.clone(),
            kind: pb::AttachmentKind::Vpc as i32,
            resource: vpc_a.name.clone(),
            interfaces: vec![interface(&clients.name, "10.20.33.10", "")],
            route_table: rt.name.clone(),
            propagates_to: vec![rt.name.clone()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let b = api
        .attach(pb::RouterAttachment {
            display_name: "b".into(),
            enterprise_router: tgw.name.clone(),
            kind: pb::AttachmentKind::Vpc as i32,
            resource: vpc_b.name.clone(),
            interfaces: vec![
                interface(&az1.name, "10.40.1.175", "eni-11111111111111111"),
                interface(&az2.name, "10.40.2.31", "eni-22222222222222222"),
            ],
            route_table: rt.name.clone(),
            propagates_to: vec![rt.name.clone()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.kind, pb::AttachmentKind::Vpc as i32);
    assert_eq!(b.resource, vpc_b.name);
    assert_eq!(b.subnets, vec![az1.name.clone(), az2.name.clone()]);
    assert_eq!(
        b.network_interfaces,
        vec![
            "projects/default/networkInterfaces/eni-11111111111111111".to_string(),
            "projects/default/networkInterfaces/eni-22222222222222222".to_string(),
        ]
    );
    assert_eq!(b.interfaces[1].private_ip, "10.40.2.31");
    assert_eq!(b.networks, vec!["10.40.0.0/16".to_string()]);
    assert_eq!(
        (b.route_table.as_str(), b.propagates_to.clone()),
        (rt.name.as_str(), vec![rt.name.clone()])
    );
    assert_eq!(a.interfaces[0].private_ip, "10.20.33.10");
    assert!(!a.interfaces[0].network_interface_id.is_empty());
    // The table learns both blocks.
    let rt = api
        .routers
        .get_router_route_table(pb::GetRouterRouteTableRequest {
            name: rt.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(rt.routes.is_empty());
    assert_eq!(
        rt.propagated_routes,
        vec![
            route_to("10.20.0.0/16", &a.name),
            route_to("10.40.0.0/16", &b.name)
        ]
    );
    assert_eq!(rt.associations, vec![a.name.clone(), b.name.clone()]);

    let main_a = api
        .set_routes(
            &vpc_a.main_route_table,
            vec![to_router("10.40.0.0/16", &tgw.name)],
        )
        .await
        .unwrap()
        .into_inner();
    assert!(
        main_a
            .routes
            .contains(&to_router("10.40.0.0/16", &tgw.name))
    );
    api.set_routes(
        &vpc_b.main_route_table,
        vec![to_router("10.20.0.0/16", &tgw.name)],
    )
    .await
    .unwrap();

    let stream = api.stream().await;
    api.flow_log("vpc-b-flows", &vpc_b.name, &stream, TGW_FIELDS)
        .await;
    api.inject(
        TGW_START + 10,
        pb::inject_traffic_request::Traffic::Tcp(pb::Tcp {
            from: client.name.clone(),
            to: web.name.clone(),
            port: 80,
            sport: Some(39812),
            requests: vec![100],
            responses: vec![400],
            ..Default::default()
        }),
    )
    .await;
    // Past the 600 s capture window (not past the next one: it would close with NODATA).
    api.advance_to(TGW_START + 700).await;

    let account = api.account().await;
    let want = tgw_documented(&account);
    assert_eq!(sorted_lines(&server, &stream).await, want);
    let explained = api.explain("10.20.33.164", "10.40.2.236", "tcp").await;
    assert!(
        explained[0].contains("router tgw-0123456789abcdef0: in through"),
        "{explained:#?}"
    );
    server.stop().await;

    // Replayed from the store: the same records, attachments and tables.
    let server = Server::start(&dir, Tenancy::single(Provider::Aws), defaults()).await;
    let mut api = Api::new(&server).await;
    assert_eq!(sorted_lines(&server, &stream).await, want);
    let again = api
        .routers
        .get_router_attachment(pb::GetRouterAttachmentRequest {
            name: b.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, b);
    let tables = api
        .routers
        .list_router_route_tables(pb::ListRouterRouteTablesRequest {
            parent: P.into(),
            enterprise_router: tgw.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .router_route_tables;
    assert_eq!(tables, vec![rt]);
    server.stop().await;
}

// ===== huawei: a hybrid cloud through a VPN and a global DC gateway =====

const HW_START: u64 = 1_670_338_595;

fn hw_defaults() -> Defaults {
    Defaults {
        seed: 3,
        start: HW_START,
        ..Defaults::default()
    }
}

struct Hybrid {
    subnet: pb::Subnet,
    app_sg: pb::SecurityGroup,
    server: pb::NetworkInterface,
    er: pb::EnterpriseRouter,
    table: pb::RouterRouteTable,
    cloud: pb::RouterAttachment,
    office: pb::RouterAttachment,
    dc: pb::RouterAttachment,
    office_pc: pb::ExternalHost,
    admin: pb::ExternalHost,
    stream: String,
}

/// scenarios/huawei-hybrid-vpn.yaml over gRPC, with the server's flow log.
async fn hybrid(api: &mut Api) -> Hybrid {
    let vpc = api.vpc("cloud", "", "10.0.0.0/16").await;
    let subnet = api
        .subnet(&vpc, "app", "", "10.0.1.0/24", "cn-north-4a")
        .await;
    let app_sg = api
        .group(
            &vpc,
            "app",
            vec![
                rule(pb::Direction::Ingress, "icmp", "", "192.168.0.0/16", 1),
                rule(pb::Direction::Ingress, "tcp", "22", "172.16.0.0/16", 1),
                rule(pb::Direction::Egress, "all", "", "0.0.0.0/0", 1),
            ],
        )
        .await;
    let server = api
        .eni(
            "740cc7e2-c686-496e-9fae-2dfc33e9d443",
            pb::NetworkInterface {
                display_name: "app-server".into(),
                subnet: subnet.name.clone(),
                private_ip: "10.0.1.10".into(),
                security_groups: vec![app_sg.name.clone()],
                listen_tcp: vec![22],
                ..Default::default()
            },
        )
        .await;

    let er = api
        .router("er", "2756dc58-49be-413d-852f-accc5657a6c3")
        .await;
    let table = api.table(&er, "default").await;
    let cloud = api
        .attach(pb::RouterAttachment {
            display_name: "cloud".into(),
            enterprise_router: er.name.clone(),
            kind: pb::AttachmentKind::Vpc as i32,
            resource: vpc.name.clone(),
            interfaces: vec![interface(&subnet.name, "10.0.1.250", "")],
            route_table: table.name.clone(),
            propagates_to: vec![table.name.clone()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let office = api
        .attach(pb::RouterAttachment {
            display_name: "office-vpn".into(),
            enterprise_router: er.name.clone(),
            kind: pb::AttachmentKind::VpnGateway as i32,
            resource: "vpngw-office".into(),
            networks: vec!["192.168.0.0/16".into()],
            route_table: table.name.clone(),
            propagates_to: vec![table.name.clone()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // The data centre: associated at creation, its route added afterwards (static, not
    // propagated).
    let dc = api
        .attach(pb::RouterAttachment {
            display_name: "dc".into(),
            enterprise_router: er.name.clone(),
            kind: pb::AttachmentKind::GlobalDcGateway as i32,
            resource: "dgw-datacentre".into(),
            networks: vec!["172.16.0.0/16".into()],
            route_table: table.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(dc.propagates_to.is_empty());
    let table = api
        .add_router_routes(&table.name, vec![route_to("172.16.0.0/16", &dc.name)])
        .await
        .unwrap()
        .into_inner();
    assert_eq!(table.routes, vec![route_to("172.16.0.0/16", &dc.name)]);
    assert_eq!(table.etag, "\"2\"");
    assert_eq!(
        table.propagated_routes,
        vec![
            route_to("10.0.0.0/16", &cloud.name),
            route_to("192.168.0.0/16", &office.name)
        ]
    );
    assert_eq!(
        table.associations,
        vec![cloud.name.clone(), office.name.clone(), dc.name.clone()]
    );
    api.set_routes(
        &vpc.main_route_table,
        vec![
            to_router("192.168.0.0/16", &er.name),
            to_router("172.16.0.0/16", &er.name),
        ],
    )
    .await
    .unwrap();

    let office_pc = api.host("office-pc", "192.168.3.227", &office.name).await;
    assert_eq!(office_pc.site, office.name);
    let admin = api.host("admin", "172.16.0.206", &dc.name).await;

    let stream = api.stream().await;
    api.flow_log("app-server-flows", &server.name, &stream, "")
        .await;
    Hybrid {
        subnet,
        app_sg,
        server,
        er,
        table,
        cloud,
        office,
        dc,
        office_pc,
        admin,
        stream,
    }
}

#[tokio::test]
async fn hybrid_vpn_records_over_grpc() {
    let dir = temp_dir("api-hybrid");
    let server = Server::start(&dir, Tenancy::single(Provider::Huawei), hw_defaults()).await;
    let mut api = Api::new(&server).await;
    let h = hybrid(&mut api).await;
    api.inject(
        HW_START + 5,
        pb::inject_traffic_request::Traffic::Ping(pb::Ping {
            from: h.office_pc.name.clone(),
            to: h.server.name.clone(),
            count: 4,
            ident: Some(7),
            ..Default::default()
        }),
    )
    .await;
    api.inject(
        HW_START + 20,
        pb::inject_traffic_request::Traffic::Tcp(pb::Tcp {
            from: h.admin.name.clone(),
            to: h.server.name.clone(),
            port: 22,
            sport: Some(50022),
            requests: vec![120],
            responses: vec![300],
            ..Default::default()
        }),
    )
    .await;
    api.advance_to(HW_START + 700).await;

    let account = api.account().await;
    let got = sorted_lines(&server, &h.stream).await;
    assert_eq!(got.len(), 4, "{got:#?}");
    for want in [
        "1 0ebc7f641d80f4d32f9dc0056bdaae5b 740cc7e2-c686-496e-9fae-2dfc33e9d443 192.168.3.227 10.0.1.10 0 0 1 4 336 1670338595 1670339195 ACCEPT OK",
        "1 0ebc7f641d80f4d32f9dc0056bdaae5b 740cc7e2-c686-496e-9fae-2dfc33e9d443 10.0.1.10 192.168.3.227 0 0 1 4 336 1670338595 1670339195 ACCEPT OK",
    ] {
        let want = want.replace("0ebc7f641d80f4d32f9dc0056bdaae5b", &account);
        assert!(got.contains(&want), "missing {want:?} in {got:#?}");
    }
    for ssh in [
        " 172.16.0.206 10.0.1.10 50022 22 6 ",
        " 10.0.1.10 172.16.0.206 22 50022 6 ",
    ] {
        assert!(
            got.iter()
                .any(|l| l.contains(ssh) && l.ends_with(" ACCEPT OK")),
            "missing {ssh:?} in {got:#?}"
        );
    }
    // The replies took the static route to the data centre.
    let explained = api.explain("172.16.0.206", "10.0.1.10", "tcp").await;
    assert!(
        explained
            .iter()
            .any(|e| e.contains("-> ") && e.contains("attachment dc (static route")),
        "{explained:#?}"
    );
    server.stop().await;

    // Replayed: the records, the hosts behind their sites, the attachments.
    let server = Server::start(&dir, Tenancy::single(Provider::Huawei), hw_defaults()).await;
    let mut api = Api::new(&server).await;
    assert_eq!(sorted_lines(&server, &h.stream).await, got);
    let admin = api
        .sim
        .get_external_host(pb::GetExternalHostRequest {
            name: h.admin.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(admin.site, h.dc.name);
    let atts = api
        .routers
        .list_router_attachments(pb::ListRouterAttachmentsRequest {
            parent: P.into(),
            enterprise_router: h.er.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .router_attachments;
    assert_eq!(atts, vec![h.cloud, h.office, h.dc]);
    server.stop().await;
}

#[tokio::test]
async fn router_refusals_and_blackhole_routes() {
    let dir = temp_dir("api-router-refusals");
    let server = Server::start(&dir, Tenancy::single(Provider::Huawei), hw_defaults()).await;
    let mut api = Api::new(&server).await;
    let h = hybrid(&mut api).await;
    let count = async |api: &mut Api| {
        let request = pb::ListRouterAttachmentsRequest {
            parent: P.into(),
            ..Default::default()
        };
        let page = api.routers.list_router_attachments(request).await;
        page.unwrap().into_inner().router_attachments.len()
    };
    let before = count(&mut api).await;

    // seed 000: "From May 2024, enterprise routers and Direct Connect virtual gateways cannot
    // be used together to set up a hybrid cloud network."
    let s = err(api
        .attach(pb::RouterAttachment {
            display_name: "dx".into(),
            enterprise_router: h.er.name.clone(),
            kind: pb::AttachmentKind::VirtualGateway as i32,
            resource: "vgw-1".into(),
            networks: vec!["10.99.0.0/16".into()],
            ..Default::default()
        })
        .await);
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(field(&s), "router_attachment.kind");
    assert!(s.message().contains("global DC gateway instead"), "{s:?}");
    assert_eq!(count(&mut api).await, before);

    // What an attachment needs, by kind.
    let s = err(api
        .attach(pb::RouterAttachment {
            display_name: "vpn2".into(),
            enterprise_router: h.er.name.clone(),
            kind: pb::AttachmentKind::VpnGateway as i32,
            resource: "vpngw-2".into(),
            ..Default::default()
        })
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "router_attachment.networks");
    let s = err(api
        .attach(pb::RouterAttachment {
            display_name: "vpn2".into(),
            enterprise_router: h.er.name.clone(),
            kind: pb::AttachmentKind::VpnGateway as i32,
            resource: "vpngw-2".into(),
            networks: vec!["10.50.0.0/16".into()],
            subnets: vec![h.subnet.name.clone()],
            ..Default::default()
        })
        .await);
    assert_eq!(field(&s), "router_attachment.subnets");
    let s = err(api
        .attach(pb::RouterAttachment {
            display_name: "peer".into(),
            enterprise_router: h.er.name.clone(),
            kind: pb::AttachmentKind::PeeringConnection as i32,
            ..Default::default()
        })
        .await);
    assert_eq!(field(&s), "router_attachment.peer_router");
    let s = err(api
        .attach(pb::RouterAttachment {
            display_name: "peer".into(),
            enterprise_router: h.er.name.clone(),
            kind: pb::AttachmentKind::PeeringConnection as i32,
            peer_router: h.er.name.clone(),
            ..Default::default()
        })
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "router_attachment.peer_router");
    assert_eq!(count(&mut api).await, before);

    // An on-premises host lies in its site's networks, behind a gateway.
    let s = err(api
        .sim
        .create_external_host(pb::CreateExternalHostRequest {
            parent: P.into(),
            external_host: Some(pb::ExternalHost {
                display_name: "stray".into(),
                ip: "10.77.0.1".into(),
                site: h.office.name.clone(),
                ..Default::default()
            }),
            external_host_id: String::new(),
        })
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "external_host.ip");
    let s = err(api
        .sim
        .create_external_host(pb::CreateExternalHostRequest {
            parent: P.into(),
            external_host: Some(pb::ExternalHost {
                display_name: "stray".into(),
                ip: "10.0.1.77".into(),
                site: h.cloud.name.clone(),
                ..Default::default()
            }),
            external_host_id: String::new(),
        })
        .await);
    assert_eq!(field(&s), "external_host.site");

    // The request's list replaces the static routes (issue 11 item 6): a destination pointed
    // elsewhere is replaced, a route left out is deleted, a new one is added.
    let before = static_routes(&mut api, &h.table.name).await;
    let replace = |routes: Vec<pb::RouterRoute>| pb::UpdateRouterRouteTableRequest {
        router_route_table: Some(pb::RouterRouteTable {
            name: h.table.name.clone(),
            routes,
            ..Default::default()
        }),
        update_mask: mask(&["routes"]),
    };
    let mut changed: Vec<pb::RouterRoute> = before
        .iter()
        .map(|r| {
            if r.destination == "172.16.0.0/16" {
                blackhole("172.16.0.0/16")
            } else {
                r.clone()
            }
        })
        .collect();
    changed.push(blackhole("10.0.1.20/32"));
    api.routers
        .update_router_route_table(replace(changed.clone()))
        .await
        .unwrap();
    assert_eq!(static_routes(&mut api, &h.table.name).await, changed);
    // A destination given twice is refused, and changes nothing.
    let mut twice = changed.clone();
    twice.push(blackhole("10.0.1.20/32"));
    let s = err(api.routers.update_router_route_table(replace(twice)).await);
    assert_eq!(s.code(), Code::AlreadyExists);
    assert_eq!(
        field(&s),
        format!("router_route_table.routes[{}].destination", changed.len())
    );
    assert_eq!(static_routes(&mut api, &h.table.name).await, changed);
    // Back as it was: the blackhole deleted, 172.16.0.0/16 pointed at its attachment again.
    api.routers
        .update_router_route_table(replace(before.clone()))
        .await
        .unwrap();
    assert_eq!(static_routes(&mut api, &h.table.name).await, before);
    let s = err(api
        .add_router_routes(&h.table.name, vec![blackhole("172.16.0.0/16")])
        .await);
    assert_eq!(s.code(), Code::AlreadyExists);
    assert_eq!(field(&s), "router_route_table.routes[1].destination");
    let s = err(api
        .routers
        .update_router_attachment(pb::UpdateRouterAttachmentRequest {
            router_attachment: Some(pb::RouterAttachment {
                name: h.office.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["propagates_to"]),
        })
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "router_attachment.propagates_to");
    let s = err(api
        .routers
        .update_router_attachment(pb::UpdateRouterAttachmentRequest {
            router_attachment: Some(pb::RouterAttachment {
                name: h.office.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["route_table"]),
        })
        .await);
    assert_eq!(field(&s), "router_attachment.route_table");
    // The data centre starts propagating; the static route still wins its prefix.
    let dc = api
        .routers
        .update_router_attachment(pb::UpdateRouterAttachmentRequest {
            router_attachment: Some(pb::RouterAttachment {
                name: h.dc.name.clone(),
                propagates_to: vec![h.table.name.clone()],
                etag: h.dc.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["propagates_to"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dc.propagates_to, vec![h.table.name.clone()]);
    assert_eq!(dc.etag, "\"2\"");

    // An attachment's interface is the attachment's.
    let s = err(api
        .net
        .delete_network_interface(pb::DeleteNetworkInterfaceRequest {
            name: h.cloud.network_interfaces[0].clone(),
            etag: String::new(),
        })
        .await);
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert!(s.message().contains("router attachment"), "{s:?}");

    // A VPC routes only to routers it is attached to.
    let other = api.router("other", "").await;
    let s = err(api
        .net
        .create_route_table(pb::CreateRouteTableRequest {
            parent: P.into(),
            route_table: Some(pb::RouteTable {
                display_name: "to-other".into(),
                vpc: h.subnet.vpc.clone(),
                routes: vec![to_router("10.9.0.0/16", &other.name)],
                ..Default::default()
            }),
            route_table_id: String::new(),
        })
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "route_table.routes[0].enterprise_router");
    // ... and a router routes only to its own attachments.
    let other_table = api.table(&other, "rt").await;
    let s = err(api
        .add_router_routes(
            &other_table.name,
            vec![route_to("10.0.0.0/16", &h.cloud.name)],
        )
        .await);
    assert_eq!(field(&s), "router_route_table.routes[0].attachment");

    // A blackhole route for a second server: the office reaches the first, never the second.
    let second = api
        .eni(
            "",
            pb::NetworkInterface {
                display_name: "app-2".into(),
                subnet: h.subnet.name.clone(),
                private_ip: "10.0.1.20".into(),
                security_groups: vec![h.app_sg.name.clone()],
                ..Default::default()
            },
        )
        .await;
    let table = api
        .add_router_routes(&h.table.name, vec![blackhole("10.0.1.20/32")])
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        table.routes,
        vec![
            route_to("172.16.0.0/16", &h.dc.name),
            blackhole("10.0.1.20/32")
        ]
    );
    api.flow_log("app-2-flows", &second.name, &h.stream, "")
        .await;
    for to in [&h.server.name, &second.name] {
        api.inject(
            HW_START + 5,
            pb::inject_traffic_request::Traffic::Ping(pb::Ping {
                from: h.office_pc.name.clone(),
                to: to.clone(),
                count: 2,
                ..Default::default()
            }),
        )
        .await;
    }
    api.advance_to(HW_START + 700).await;
    let got = sorted_lines(&server, &h.stream).await;
    assert!(
        got.iter()
            .any(|l| l.contains(" 192.168.3.227 10.0.1.10 ") && l.ends_with(" ACCEPT OK")),
        "{got:#?}"
    );
    assert!(!got.iter().any(|l| l.contains("10.0.1.20")), "{got:#?}");
    let explained = api.explain("192.168.3.227", "10.0.1.20", "icmp").await;
    assert_eq!(explained.len(), 2, "{explained:#?}");
    assert!(
        explained[0].contains("blackhole") && explained[0].contains("dropped by enterprise router"),
        "{explained:#?}"
    );
    server.stop().await;
}
