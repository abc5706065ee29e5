//! The gRPC API end to end: a client that knows only the protos builds the ping/ACL-asymmetry
//! topology (tencent seed 004, scenarios/ping-acl-asymmetry.yaml), attaches a flow log to a
//! log stream, injects the pings, advances the clock past the capture window and reads the two
//! records back from the log service; then the same after a restart, and after `kill -9`.

mod common;

use common::*;
use vpclab_controlplane::api::{Defaults, Tenancy, pb};
use vpclab_sim::profile::Provider;

const START: u64 = 1_432_917_000;
const P: &str = "projects/default";

fn defaults() -> Defaults {
    Defaults {
        seed: 1,
        start: START,
        ..Defaults::default()
    }
}

fn rule(dir: pb::Direction, proto: &str, ports: &str) -> pb::SecurityGroupRule {
    pb::SecurityGroupRule {
        direction: dir as i32,
        action: pb::RuleAction::Allow as i32,
        protocol: proto.into(),
        ports: ports.into(),
        remote: Some(pb::security_group_rule::Remote::Cidr("0.0.0.0/0".into())),
        ..Default::default()
    }
}

fn entry(dir: pb::Direction, proto: &str, ports: &str) -> pb::NetworkAclEntry {
    pb::NetworkAclEntry {
        number: 100,
        direction: dir as i32,
        action: pb::RuleAction::Allow as i32,
        protocol: proto.into(),
        ports: ports.into(),
        cidr: "0.0.0.0/0".into(),
        ..Default::default()
    }
}

/// Builds the topology and the flow log; returns the log stream's name.
async fn build(server: &Server) -> String {
    let ch = server.channel().await;
    let mut net = NetworkServiceClient::new(ch.clone());
    let mut logs = LogServiceClient::new(ch.clone());
    let mut sim = SimulationServiceClient::new(ch);

    let vpc = net
        .create_vpc(pb::CreateVpcRequest {
            parent: P.into(),
            vpc: Some(pb::Vpc {
                display_name: "main".into(),
                cidr: "172.31.0.0/16".into(),
                ..Default::default()
            }),
            vpc_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let igw = net
        .create_internet_gateway(pb::CreateInternetGatewayRequest {
            parent: P.into(),
            internet_gateway: Some(pb::InternetGateway {
                vpc: vpc.name.clone(),
                ..Default::default()
            }),
            internet_gateway_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    net.update_route_table(pb::UpdateRouteTableRequest {
        route_table: Some(pb::RouteTable {
            name: vpc.main_route_table.clone(),
            routes: vec![pb::Route {
                destination: "0.0.0.0/0".into(),
                target: Some(pb::route::Target::InternetGateway(igw.name.clone())),
            }],
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["routes".into()],
        }),
    })
    .await
    .unwrap();
    let sg = net
        .create_security_group(pb::CreateSecurityGroupRequest {
            parent: P.into(),
            security_group: Some(pb::SecurityGroup {
                display_name: "web-sg".into(),
                vpc: vpc.name.clone(),
                rules: vec![
                    rule(pb::Direction::Ingress, "icmp", ""),
                    rule(pb::Direction::Egress, "tcp", "443"),
                ],
                ..Default::default()
            }),
            security_group_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let acl = net
        .create_network_acl(pb::CreateNetworkAclRequest {
            parent: P.into(),
            network_acl: Some(pb::NetworkAcl {
                display_name: "web-acl".into(),
                vpc: vpc.name.clone(),
                entries: vec![
                    entry(pb::Direction::Ingress, "icmp", ""),
                    entry(pb::Direction::Egress, "tcp", "443"),
                ],
                ..Default::default()
            }),
            network_acl_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let subnet = net
        .create_subnet(pb::CreateSubnetRequest {
            parent: P.into(),
            subnet: Some(pb::Subnet {
                display_name: "web".into(),
                vpc: vpc.name.clone(),
                cidr: "172.31.16.0/20".into(),
                network_acl: acl.name.clone(),
                ..Default::default()
            }),
            subnet_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(subnet.network_acl, acl.name);
    let eni = net
        .create_network_interface(pb::CreateNetworkInterfaceRequest {
            parent: P.into(),
            network_interface: Some(pb::NetworkInterface {
                display_name: "instance".into(),
                subnet: subnet.name.clone(),
                private_ip: "172.31.16.139".into(),
                elastic_ip: "198.51.100.10".into(),
                security_groups: vec![sg.name.clone()],
                ..Default::default()
            }),
            network_interface_id: "eni-lq6mkcis".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(eni.name, "projects/default/networkInterfaces/eni-lq6mkcis");
    let home = sim
        .create_external_host(pb::CreateExternalHostRequest {
            parent: P.into(),
            external_host: Some(pb::ExternalHost {
                display_name: "home".into(),
                ip: "203.0.113.12".into(),
                ..Default::default()
            }),
            external_host_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let group = logs
        .create_log_group(pb::CreateLogGroupRequest {
            parent: P.into(),
            log_group: Some(pb::LogGroup {
                display_name: "vpc-flow-logs".into(),
                ..Default::default()
            }),
            log_group_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(group.retention_days, 7, "the seeds' default retention");
    let stream = logs
        .create_log_stream(pb::CreateLogStreamRequest {
            parent: P.into(),
            log_stream: Some(pb::LogStream {
                display_name: "instance".into(),
                log_group: group.name.clone(),
                ..Default::default()
            }),
            log_stream_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    logs.create_flow_log(pb::CreateFlowLogRequest {
        parent: P.into(),
        flow_log: Some(pb::FlowLog {
            display_name: "instance-flows".into(),
            resource: eni.name.clone(),
            log_stream: stream.name.clone(),
            ..Default::default()
        }),
        flow_log_id: String::new(),
    })
    .await
    .unwrap();
    sim.inject_traffic(pb::InjectTrafficRequest {
        parent: P.into(),
        at: Some(ts(START + 27)),
        traffic: Some(pb::inject_traffic_request::Traffic::Ping(pb::Ping {
            from: home.name.clone(),
            to: eni.name.clone(),
            count: 4,
            interval: Some(prost_types::Duration {
                seconds: 38,
                nanos: 0,
            }),
            ident: Some(1),
            ttl: None,
        })),
    })
    .await
    .unwrap();
    let clock = sim
        .advance(pb::AdvanceRequest {
            parent: P.into(),
            until: Some(pb::advance_request::Until::To(ts(START + 300))),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clock.now, Some(ts(START + 300)));
    stream.name
}

/// The two records of the scenario, field for field (tencent key:value format, D14).
fn expected(account: &str) -> Vec<String> {
    vec![
        format!(
            "srcaddr:203.0.113.12 dstport:2048 account-id:{account} start:1432917000 dstaddr:172.31.16.139 version:0001_0001 packets:4 protocol:1 bytes:336 action:ACCEPT srcport:1 end:1432917300 log-status:OK interface-id:eni-lq6mkcis"
        ),
        format!(
            "srcaddr:172.31.16.139 dstport:0 account-id:{account} start:1432917000 dstaddr:203.0.113.12 version:0001_0001 packets:4 protocol:1 bytes:336 action:REJECT srcport:1 end:1432917300 log-status:OK interface-id:eni-lq6mkcis"
        ),
    ]
}

async fn records(server: &Server, stream: &str, keywords: &[&str]) -> Vec<String> {
    let mut logs = LogServiceClient::new(server.channel().await);
    logs.query_records(pb::QueryRecordsRequest {
        log_stream: stream.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .records
    .into_iter()
    .map(|r| r.line)
    .collect()
}

async fn account_of(server: &Server) -> String {
    let mut sim = SimulationServiceClient::new(server.channel().await);
    let p = sim
        .get_project(pb::GetProjectRequest {
            name: "projects/-".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.name, P);
    assert_eq!(p.provider, "tencent");
    p.account_id
}

#[tokio::test]
async fn ping_acl_asymmetry_over_grpc_survives_a_restart() {
    let dir = temp_dir("api-ping");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let stream = build(&server).await;
    let account = account_of(&server).await;
    let want = expected(&account);
    assert_eq!(records(&server, &stream, &[]).await, want);
    // Keyword search, like the clouds' log search.
    assert_eq!(records(&server, &stream, &["reject"]).await, want[1..]);
    assert_eq!(
        records(&server, &stream, &["REJECT", "203.0.113.12", "ACCEPT"]).await,
        Vec::<String>::new()
    );
    server.stop().await;

    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    assert_eq!(account_of(&server).await, account);
    assert_eq!(records(&server, &stream, &[]).await, want);
    // The project came back whole: the clock, the resources, the open windows.
    let mut sim = SimulationServiceClient::new(server.channel().await);
    let clock = sim
        .get_clock(pb::GetClockRequest { parent: P.into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clock.now, Some(ts(START + 300)));
    let mut net = NetworkServiceClient::new(server.channel().await);
    let eni = net
        .get_network_interface(pb::GetNetworkInterfaceRequest {
            name: "projects/default/networkInterfaces/eni-lq6mkcis".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(eni.private_ip, "172.31.16.139");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
