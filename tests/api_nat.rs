//! NAT gateways over gRPC, end to end: a client that knows only the protos builds the aws NAT
//! topology of scenarios/aws-nat-gateway.yaml (AWS's "Traffic through a NAT gateway" example,
//! flowlogs.md §1.7), attaches a VPC flow log in the example's custom format, opens a TCP
//! session from the private instance to a web server on the internet, advances past the
//! capture window and reads the six documented records back — the same after a restart. Then
//! the gateway's life cycle: its interface is its own, deletes are refused while routes target
//! it, and the validation of a create.

mod common;

use common::fixture::{
    self, default_route_req, flow, flow_log_req, get, list, mask, sg_req, sorted_lines, vpc_req,
};
use common::*;
use tonic::Code;
use vpclab_controlplane::api::{Defaults, Tenancy, pb};
use vpclab_sim::profile::Provider;

const START: u64 = 1_700_000_000;
const P: &str = "projects/default";
/// The custom format of AWS's NAT example.
const FIELDS: &str = "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr";
const NAT_ENI: &str = "projects/default/networkInterfaces/eni-1235b8ca123456789";

fn defaults() -> Defaults {
    seeded(1, START)
}

fn in_use(subject: &str) -> Vec<(String, String)> {
    vec![("IN_USE".to_string(), subject.to_string())]
}

/// The six records of the example (docs/reference/flowlogs.md §1.7), as the scenario expects them.
fn documented() -> Vec<String> {
    let mut v: Vec<String> = [
        "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
        "- eni-1235b8ca123456789 10.0.0.220 203.0.113.5 10.0.0.220 203.0.113.5",
        "- eni-1235b8ca123456789 203.0.113.5 10.0.0.220 203.0.113.5 10.0.0.220",
        "- eni-1235b8ca123456789 10.0.0.220 10.0.1.5 203.0.113.5 10.0.1.5",
        "i-01234567890123456 eni-1111aaaa2222bbbb3 10.0.1.5 203.0.113.5 10.0.1.5 203.0.113.5",
        "i-01234567890123456 eni-1111aaaa2222bbbb3 203.0.113.5 10.0.1.5 203.0.113.5 10.0.1.5",
    ]
    .map(String::from)
    .to_vec();
    v.sort();
    v
}

struct Topology {
    vpc: pb::Vpc,
    public: pb::Subnet,
    private_table: pb::RouteTable,
    nat: pb::NatGateway,
    stream: String,
}

/// scenarios/aws-nat-gateway.yaml over gRPC, with a VPC flow log delivering to a log stream.
async fn build(server: &Server) -> Topology {
    let ch = server.channel().await;
    let mut net = NetworkServiceClient::new(ch.clone());
    let mut logs = LogServiceClient::new(ch.clone());
    let mut sim = SimulationServiceClient::new(ch.clone());

    let vpc = fixture::create_vpc(&mut net, "main", "10.0.0.0/16").await;
    // The public subnet uses the main table: 0.0.0.0/0 to the internet gateway.
    fixture::internet_gateway(&mut net, &vpc).await;
    let table = net
        .create_route_table(pb::CreateRouteTableRequest {
            parent: P.into(),
            route_table: Some(pb::RouteTable {
                display_name: "private".into(),
                vpc: vpc.name.clone(),
                ..Default::default()
            }),
            route_table_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let subnet = |name: &str, cidr: &str, route_table: &str| pb::CreateSubnetRequest {
        parent: P.into(),
        subnet: Some(pb::Subnet {
            display_name: name.into(),
            vpc: vpc.name.clone(),
            cidr: cidr.into(),
            route_table: route_table.into(),
            ..Default::default()
        }),
        subnet_id: String::new(),
    };
    let public = net
        .create_subnet(subnet("public", "10.0.0.0/24", ""))
        .await
        .unwrap()
        .into_inner();
    let private = net
        .create_subnet(subnet("private", "10.0.1.0/24", &table.name))
        .await
        .unwrap()
        .into_inner();
    let nat = net
        .create_nat_gateway(pb::CreateNatGatewayRequest {
            parent: P.into(),
            nat_gateway: Some(pb::NatGateway {
                display_name: "nat".into(),
                subnet: public.name.clone(),
                private_ip: "10.0.0.220".into(),
                elastic_ip: "198.51.100.20".into(),
                ..Default::default()
            }),
            nat_gateway_id: String::new(),
            network_interface_id: "eni-1235b8ca123456789".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(nat.name.starts_with("projects/default/natGateways/nat-"));
    assert_eq!(nat.vpc, vpc.name);
    assert_eq!(nat.subnet, public.name);
    assert_eq!(nat.network_interface, NAT_ENI);
    assert_eq!(nat.etag, "\"1\"");
    let private_table = net
        .update_route_table(default_route_req(
            &table.name,
            pb::route::Target::NatGateway(nat.name.clone()),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(private_table.subnets.contains(&private.name));
    let app = net
        .create_security_group(sg_req(
            P,
            "app",
            &vpc.name,
            vec![pb::SecurityGroupRule {
                direction: pb::Direction::Egress as i32,
                protocol: "all".into(),
                remote: Some(pb::security_group_rule::Remote::Cidr("0.0.0.0/0".into())),
                ..Default::default()
            }],
        ))
        .await
        .unwrap()
        .into_inner();
    let instance = net
        .create_network_interface(pb::CreateNetworkInterfaceRequest {
            parent: P.into(),
            network_interface: Some(pb::NetworkInterface {
                display_name: "instance".into(),
                subnet: private.name.clone(),
                private_ip: "10.0.1.5".into(),
                security_groups: vec![app.name.clone()],
                instance_id: "i-01234567890123456".into(),
                ..Default::default()
            }),
            network_interface_id: "eni-1111aaaa2222bbbb3".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let web = sim
        .create_external_host(pb::CreateExternalHostRequest {
            parent: P.into(),
            external_host: Some(pb::ExternalHost {
                display_name: "web".into(),
                ip: "203.0.113.5".into(),
                listen_tcp: vec![80],
                ..Default::default()
            }),
            external_host_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let (_, stream) = fixture::log_stream(&ch, P, None, "vpc-flow-logs", "main").await;
    let vpc_flows = |fields: &str, format: &str| {
        flow_log_req(
            P,
            pb::FlowLog {
                format: format.into(),
                aws_fields: fields.into(),
                ..flow("vpc-flows", &vpc.name, &stream)
            },
        )
    };
    // A field list is aws's, and names AWS's fields only.
    let s = err(logs
        .create_flow_log(vpc_flows("srcaddr no-such-field", "aws"))
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "flow_log.aws_fields");
    let s = err(logs.create_flow_log(vpc_flows(FIELDS, "huawei")).await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "flow_log.aws_fields");
    let fl = logs
        .create_flow_log(vpc_flows(FIELDS, "aws"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (fl.format.as_str(), fl.aws_fields.as_str()),
        ("aws", FIELDS)
    );

    // A pinned NAT port is one a NAT gateway hands out: 1024-65535.
    for bad in [80, 70_000] {
        let s = err(sim
            .inject_traffic(pb::InjectTrafficRequest {
                parent: P.into(),
                at: Some(ts(START + 10)),
                traffic: Some(pb::inject_traffic_request::Traffic::Tcp(pb::Tcp {
                    from: instance.name.clone(),
                    to: web.name.clone(),
                    port: 80,
                    nat_port: Some(bad),
                    ..Default::default()
                })),
            })
            .await);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(field(&s), "tcp.nat_port");
        assert!(s.message().contains("1024-65535"), "{s:?}");
    }
    sim.inject_traffic(pb::InjectTrafficRequest {
        parent: P.into(),
        at: Some(ts(START + 10)),
        traffic: Some(pb::inject_traffic_request::Traffic::Tcp(pb::Tcp {
            from: instance.name.clone(),
            to: web.name.clone(),
            port: 80,
            requests: vec![200],
            responses: vec![1200],
            // Pinned, so that the explanation below can name it (drawn from the seed otherwise).
            nat_port: Some(1024),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    // Past the 600 s capture window (not past the next one: it would close with NODATA).
    sim.advance(pb::AdvanceRequest {
        parent: P.into(),
        until: Some(pb::advance_request::Until::To(ts(START + 700))),
    })
    .await
    .unwrap();
    Topology {
        vpc,
        public,
        private_table,
        nat,
        stream,
    }
}

#[tokio::test]
async fn nat_gateway_records_over_grpc_survive_a_restart() {
    let dir = temp_dir("api-nat");
    let server = Server::start(&dir, Tenancy::single(Provider::Aws), defaults()).await;
    let t = build(&server).await;
    let got = sorted_lines(&server, &t.stream).await;
    assert_eq!(got.len(), 6, "{got:#?}");
    assert_eq!(got, documented());

    // The translation is visible in the explanation too.
    let mut sim = SimulationServiceClient::new(server.channel().await);
    let explained = sim
        .explain_flow(pb::ExplainFlowRequest {
            parent: P.into(),
            src: "10.0.1.5".into(),
            dst: "203.0.113.5".into(),
            protocol: "tcp".into(),
            dport: 80,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .packets;
    assert!(
        explained[0].contains(&format!(
            "NAT gateway {}: source 10.0.1.5:",
            id_of(&t.nat.name)
        )) && explained[0].contains("-> 10.0.0.220:1024"),
        "{explained:#?}"
    );
    server.stop().await;

    // Replayed from the store: the gateway, its records and its interface.
    let (server, mut net) = fixture::start_net(&dir, Provider::Aws, defaults()).await;
    assert_eq!(sorted_lines(&server, &t.stream).await, documented());
    let nat = get!(net.get_nat_gateway(GetNatGatewayRequest, &t.nat.name));
    assert_eq!(nat, t.nat);
    server.stop().await;
}

#[tokio::test]
async fn nat_gateway_life_cycle() {
    let dir = temp_dir("api-nat-life");
    let server = Server::start(&dir, Tenancy::single(Provider::Aws), defaults()).await;
    let t = build(&server).await;
    let mut net = NetworkServiceClient::new(server.channel().await);

    // Its interface is listed with the others: requester-managed, no security group.
    let enis = net
        .list_network_interfaces(pb::ListNetworkInterfacesRequest {
            parent: P.into(),
            subnet: t.public.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .network_interfaces;
    assert_eq!(enis.len(), 1);
    let eni = &enis[0];
    assert_eq!(eni.name, NAT_ENI);
    assert_eq!(
        (eni.private_ip.as_str(), eni.elastic_ip.as_str()),
        ("10.0.0.220", "198.51.100.20")
    );
    assert!(eni.security_groups.is_empty());
    assert!(eni.instance_id.is_empty());

    // ... but it is the gateway's: neither deleted nor changed on its own.
    let s = err(net
        .delete_network_interface(pb::DeleteNetworkInterfaceRequest {
            name: NAT_ENI.into(),
            etag: String::new(),
        })
        .await);
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert!(s.message().contains("belongs to NAT gateway"), "{s:?}");
    assert_eq!(field(&s), "name");
    assert_eq!(preconditions(&s), in_use(&t.nat.name));
    let s = err(net
        .update_network_interface(pb::UpdateNetworkInterfaceRequest {
            network_interface: Some(pb::NetworkInterface {
                name: NAT_ENI.into(),
                security_groups: vec![t.vpc.default_security_group.clone()],
                ..Default::default()
            }),
            update_mask: mask(&["security_groups"]),
        })
        .await);
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(field(&s), "network_interface.name");

    // Renamed (display_name only; the subnet is immutable), with etags.
    let renamed = net
        .update_nat_gateway(pb::UpdateNatGatewayRequest {
            nat_gateway: Some(pb::NatGateway {
                name: t.nat.name.clone(),
                display_name: "egress".into(),
                etag: t.nat.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.display_name, "egress");
    assert_eq!(renamed.etag, "\"2\"");
    let s = err(net
        .update_nat_gateway(pb::UpdateNatGatewayRequest {
            nat_gateway: Some(pb::NatGateway {
                name: t.nat.name.clone(),
                display_name: "again".into(),
                etag: t.nat.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
        })
        .await);
    assert_eq!(s.code(), Code::Aborted);
    assert_eq!(field(&s), "nat_gateway.etag");
    let s = err(net
        .update_nat_gateway(pb::UpdateNatGatewayRequest {
            nat_gateway: Some(pb::NatGateway {
                name: t.nat.name.clone(),
                subnet: t.public.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["subnet"]),
        })
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "update_mask");

    // A second (private) gateway in the VPC: names are unique within it; lists page.
    let create = |name: &str, subnet: &str, ip: &str, eip: &str| pb::CreateNatGatewayRequest {
        parent: P.into(),
        nat_gateway: Some(pb::NatGateway {
            display_name: name.into(),
            subnet: subnet.into(),
            private_ip: ip.into(),
            elastic_ip: eip.into(),
            ..Default::default()
        }),
        nat_gateway_id: String::new(),
        network_interface_id: String::new(),
    };
    let s = err(net
        .create_nat_gateway(create("egress", &t.public.name, "", ""))
        .await);
    assert_eq!(s.code(), Code::AlreadyExists);
    assert_eq!(field(&s), "nat_gateway.display_name");
    let s = err(net
        .create_nat_gateway(create("second", &t.public.name, "10.0.0.220", ""))
        .await);
    assert_eq!(s.code(), Code::AlreadyExists);
    assert_eq!(field(&s), "nat_gateway.private_ip");
    let s = err(net
        .create_nat_gateway(create("second", &t.public.name, "10.0.5.1", ""))
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "nat_gateway.private_ip");
    let second = net
        .create_nat_gateway(create("second", &t.public.name, "", ""))
        .await
        .unwrap()
        .into_inner();
    assert!(second.elastic_ip.is_empty());
    let page = |token: &str, vpc: &str| pb::ListNatGatewaysRequest {
        parent: P.into(),
        page_size: 1,
        page_token: token.into(),
        vpc: vpc.into(),
    };
    let first = net
        .list_nat_gateways(page("", &t.vpc.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.nat_gateways.len(), 1);
    assert_eq!(first.nat_gateways[0].name, t.nat.name);
    let rest = net
        .list_nat_gateways(page(&first.next_page_token, &t.vpc.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.nat_gateways, vec![second.clone()]);
    assert!(rest.next_page_token.is_empty());
    let s = err(net
        .list_nat_gateways(page("", "projects/default/vpcs/vpc-nope"))
        .await);
    assert_eq!(s.code(), Code::NotFound);

    // aws: a gateway that routes target can be deleted; the routes stay, in the blackhole
    // state (policy.md §6.1, EC2 Route.State), and the gateway and its interface go.
    net.delete_nat_gateway(pb::DeleteNatGatewayRequest {
        name: t.nat.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    let table = fixture::route_table(&mut net, &t.private_table.name).await;
    assert!(
        table
            .routes
            .iter()
            .any(|r| r.target == Some(pb::route::Target::NatGateway(t.nat.name.clone()))),
        "{table:?}"
    );
    // The table can still be updated: its blackholed route, sent back as the view shows it,
    // is kept as it is (the deleted gateway cannot be named as a new target any more).
    let blackholed = pb::Route {
        destination: "0.0.0.0/0".into(),
        target: Some(pb::route::Target::NatGateway(t.nat.name.clone())),
    };
    let blocked = pb::Route {
        destination: "192.0.2.0/24".into(),
        target: Some(pb::route::Target::Blackhole(true)),
    };
    let kept = net
        .update_route_table(fixture::routes_req(
            &t.private_table.name,
            vec![blackholed.clone(), blocked.clone()],
        ))
        .await
        .unwrap()
        .into_inner();
    let routes = |t: &pb::RouteTable| -> Vec<pb::Route> {
        t.routes
            .iter()
            .filter(|r| r.target != Some(pb::route::Target::Local(true)))
            .cloned()
            .collect()
    };
    assert_eq!(routes(&kept), vec![blocked.clone(), blackholed.clone()]);
    // A new route to the deleted gateway is refused, and changes nothing.
    let new_route = pb::Route {
        destination: "198.51.100.0/24".into(),
        ..blackholed.clone()
    };
    assert_eq!(
        refused(
            net.update_route_table(fixture::routes_req(
                &t.private_table.name,
                vec![blackholed.clone(), new_route]
            ))
            .await
        ),
        (
            Code::NotFound,
            "route_table.routes[1].nat_gateway".to_string()
        )
    );
    let after = fixture::route_table(&mut net, &t.private_table.name).await;
    assert_eq!(after, kept, "a refused update changes nothing");
    // The address and the elastic IP are free again.
    let again = net
        .create_nat_gateway(create("nat", &t.public.name, "10.0.0.220", "198.51.100.20"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.private_ip, "10.0.0.220");
    server.stop().await;

    // Every accepted change replays.
    let (server, mut net) = fixture::start_net(&dir, Provider::Aws, defaults()).await;
    let all = nat_gateways(&mut net).await.nat_gateways;
    assert_eq!(all, vec![second, again]);
    let table = fixture::route_table(&mut net, &t.private_table.name).await;
    assert_eq!(routes(&table), routes(&kept), "the kept blackhole replays");
    // Left out, the blackholed route goes, and cannot come back.
    net.update_route_table(fixture::routes_req(
        &t.private_table.name,
        vec![blocked.clone()],
    ))
    .await
    .unwrap();
    assert_eq!(
        refused(
            net.update_route_table(fixture::routes_req(
                &t.private_table.name,
                vec![blackholed.clone()]
            ))
            .await
        ),
        (
            Code::NotFound,
            "route_table.routes[0].nat_gateway".to_string()
        )
    );
    let s = err(net
        .get_nat_gateway(pb::GetNatGatewayRequest {
            name: t.nat.name.clone(),
        })
        .await);
    assert_eq!(s.code(), Code::NotFound);
    let s = err(net
        .get_network_interface(pb::GetNetworkInterfaceRequest {
            name: NAT_ENI.into(),
        })
        .await);
    assert_eq!(s.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn nat_gateway_create_is_validated() {
    let dir = temp_dir("api-nat-valid");
    let (server, mut net) = fixture::start_net(&dir, Provider::Aws, defaults()).await;
    let vpc = fixture::create_vpc(&mut net, "main", "10.0.0.0/16").await;
    let subnet = fixture::create_subnet(&mut net, "public", &vpc.name, "10.0.0.0/24").await;
    let create = |subnet: &str, eip: &str| pb::CreateNatGatewayRequest {
        parent: P.into(),
        nat_gateway: Some(pb::NatGateway {
            display_name: "nat".into(),
            subnet: subnet.into(),
            elastic_ip: eip.into(),
            ..Default::default()
        }),
        nat_gateway_id: String::new(),
        network_interface_id: String::new(),
    };

    // Another project's subnet.
    let s = err(net
        .create_nat_gateway(create("projects/other/subnets/subnet-1", ""))
        .await);
    assert_eq!(s.code(), Code::PermissionDenied);
    assert_eq!(field(&s), "nat_gateway.subnet");
    // A subnet that does not exist.
    let s = err(net
        .create_nat_gateway(create("projects/default/subnets/subnet-nope", ""))
        .await);
    assert_eq!(s.code(), Code::NotFound);
    assert_eq!(field(&s), "nat_gateway.subnet");
    // An elastic IP needs the VPC's internet gateway.
    let s = err(net
        .create_nat_gateway(create(&subnet.name, "198.51.100.20"))
        .await);
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(field(&s), "nat_gateway.elastic_ip");
    let s = err(net.create_nat_gateway(create(&subnet.name, "nope")).await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "nat_gateway.elastic_ip");
    // A name the clouds refuse; an id taken by another interface.
    let mut bad = create(&subnet.name, "");
    bad.nat_gateway.as_mut().unwrap().display_name = "no spaces".into();
    let s = err(net.create_nat_gateway(bad).await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "nat_gateway.display_name");
    let eni = net
        .create_network_interface(pb::CreateNetworkInterfaceRequest {
            parent: P.into(),
            network_interface: Some(pb::NetworkInterface {
                display_name: "instance".into(),
                subnet: subnet.name.clone(),
                ..Default::default()
            }),
            network_interface_id: "eni-taken".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut taken = create(&subnet.name, "");
    taken.network_interface_id = id_of(&eni.name).into();
    let s = err(net.create_nat_gateway(taken).await);
    assert_eq!(s.code(), Code::AlreadyExists);
    assert_eq!(field(&s), "network_interface_id");

    // Nothing of the refused requests was created.
    let all = nat_gateways(&mut net).await;
    assert!(all.nat_gateways.is_empty());
    let enis = list!(net.list_network_interfaces(ListNetworkInterfacesRequest)).network_interfaces;
    assert_eq!(enis, vec![eni]);
    server.stop().await;
}

/// DNAT rules (port forwarding): set on create, shown by Get and List, replaced by an update
/// with mask path `dnat_rules`; a bad rule is refused naming it, and nothing changes.
#[tokio::test]
async fn nat_gateway_dnat_rules() {
    let dir = temp_dir("api-nat-dnat");
    let (server, mut net) = fixture::start_net(&dir, Provider::Tencent, defaults()).await;
    let vpc = |name: &str, cidr: &str| vpc_req(P, name, cidr);
    let main = net
        .create_vpc(vpc("main", "10.0.0.0/16"))
        .await
        .unwrap()
        .into_inner();
    let other = net
        .create_vpc(vpc("other", "10.1.0.0/16"))
        .await
        .unwrap()
        .into_inner();
    let public = fixture::create_subnet(&mut net, "s", &main.name, "10.0.0.0/24").await;
    let elsewhere = fixture::create_subnet(&mut net, "s", &other.name, "10.1.0.0/24").await;
    let web = fixture::create_eni(&mut net, "web-1", &public.name, "10.0.0.10", vec![]).await;
    let far = fixture::create_eni(&mut net, "far", &elsewhere.name, "10.1.0.10", vec![]).await;
    let rule = |protocol: &str, port: u32, to: &str, to_port: u32| pb::DnatRule {
        protocol: protocol.into(),
        port,
        to: to.into(),
        to_port,
    };
    let create = |rules: Vec<pb::DnatRule>| pb::CreateNatGatewayRequest {
        parent: P.into(),
        nat_gateway: Some(pb::NatGateway {
            display_name: "nat".into(),
            subnet: public.name.clone(),
            private_ip: "10.0.0.100".into(),
            dnat_rules: rules,
            ..Default::default()
        }),
        nat_gateway_id: String::new(),
        network_interface_id: String::new(),
    };

    // Refused creates name the rule and its field, and create nothing.
    for (rules, code, want) in [
        (
            vec![rule("icmp", 8080, &web.name, 80)],
            Code::InvalidArgument,
            "nat_gateway.dnat_rules[0].protocol",
        ),
        (
            vec![
                rule("tcp", 8080, &web.name, 80),
                rule("tcp", 0, &web.name, 80),
            ],
            Code::InvalidArgument,
            "nat_gateway.dnat_rules[1].port",
        ),
        (
            vec![rule("udp", 53, &web.name, 70000)],
            Code::InvalidArgument,
            "nat_gateway.dnat_rules[0].to_port",
        ),
        (
            vec![
                rule("tcp", 8080, &web.name, 80),
                rule("TCP", 8080, &web.name, 81),
            ],
            Code::AlreadyExists,
            "nat_gateway.dnat_rules[1].port",
        ),
        (
            vec![rule("tcp", 8080, &far.name, 80)],
            Code::InvalidArgument,
            "nat_gateway.dnat_rules[0].to",
        ),
        (
            vec![rule(
                "tcp",
                8080,
                "projects/default/networkInterfaces/eni-nope",
                80,
            )],
            Code::NotFound,
            "nat_gateway.dnat_rules[0].to",
        ),
    ] {
        let s = err(net.create_nat_gateway(create(rules)).await);
        assert_eq!((s.code(), field(&s).as_str()), (code, want), "{s:?}");
    }
    let none = nat_gateways(&mut net).await;
    assert!(none.nat_gateways.is_empty());

    // Created with a rule: Get and List show it.
    let forward = rule("tcp", 8080, &web.name, 80);
    let nat = net
        .create_nat_gateway(create(vec![forward.clone()]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nat.dnat_rules, vec![forward.clone()]);
    let got = get!(net.get_nat_gateway(GetNatGatewayRequest, &nat.name));
    assert_eq!(got.dnat_rules, vec![forward.clone()]);

    // Updates replace the list; a bad one (a rule to the gateway's own interface) changes
    // nothing, not even the name given with it.
    let update =
        |name: &str, rules: Vec<pb::DnatRule>, paths: &[&str]| pb::UpdateNatGatewayRequest {
            nat_gateway: Some(pb::NatGateway {
                name: nat.name.clone(),
                display_name: name.into(),
                dnat_rules: rules,
                ..Default::default()
            }),
            update_mask: mask(paths),
        };
    let s = err(net
        .update_nat_gateway(update(
            "renamed",
            vec![forward.clone(), rule("udp", 53, &nat.network_interface, 53)],
            &["display_name", "dnat_rules"],
        ))
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "nat_gateway.dnat_rules[1].to");
    let same = get!(net.get_nat_gateway(GetNatGatewayRequest, &nat.name));
    assert_eq!(same, got);
    let two = vec![forward.clone(), rule("udp", 53, &web.name, 5353)];
    let updated = net
        .update_nat_gateway(update("", two.clone(), &["dnat_rules"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.dnat_rules, two);
    assert_eq!(updated.display_name, "nat");
    assert_ne!(updated.etag, got.etag);
    server.stop().await;

    // The accepted changes replay.
    let (server, mut net) = fixture::start_net(&dir, Provider::Tencent, defaults()).await;
    let all = nat_gateways(&mut net).await.nat_gateways;
    assert_eq!(all, vec![updated.clone()]);
    // An empty list with the mask clears them.
    let cleared = net
        .update_nat_gateway(pb::UpdateNatGatewayRequest {
            nat_gateway: Some(pb::NatGateway {
                name: updated.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["dnat_rules"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(cleared.dnat_rules.is_empty());
    server.stop().await;
}

/// The project's NAT gateways, as the API lists them.
async fn nat_gateways(
    net: &mut NetworkServiceClient<tonic::transport::Channel>,
) -> pb::ListNatGatewaysResponse {
    fixture::list!(net.list_nat_gateways(ListNatGatewaysRequest))
}

fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap()
}
