//! Cloud Connect Networks over gRPC, end to end: a client that knows only the protos builds
//! the topology of scenarios/tencent-ccn-throttling.yaml (two VPCs in two regions joined by a
//! CCN whose region pair is limited to 1 Mbit/s), attaches a CCN flow log to a log stream,
//! sends the scenario's UDP burst, advances past the capture window and reads the CCN's ACCEPT
//! and REJECT records back with the scenario's counts — the same after a restart. Then the
//! CCN's updates (add-only VPCs and limits) and the refusals of the clouds without CCNs.

mod common;

use common::fixture::{self, allow_rule, flow, flow_log_req, list, mask, sorted_lines, vpc_req};
use common::*;
use pb::ccn_service_client::CcnServiceClient;
use tonic::Code;
use vpclab_controlplane::api::{Defaults, Tenancy, pb};
use vpclab_sim::profile::Provider;

const START: u64 = 1_700_000_000;
const P: &str = "projects/default";
const CCN: &str = "projects/default/cloudConnectNetworks/ccn-a1b2c3d4";

/// The scenario's CCN records (`expect` of scenarios/tencent-ccn-throttling.yaml), sorted.
const DOCUMENTED: [&str; 2] = [
    "version:0001_0001 region-id:ap-guangzhou ccn-id:ccn-a1b2c3d4 srcaddr:10.0.1.10 dstaddr:10.1.1.10 srcport:40000 dstport:5001 protocol:17 srcregionid:ap-guangzhou dstregionid:ap-shanghai packets:249 bytes:311250 start:1700000010 end:1700000011 action:ACCEPT log-status:OK",
    "version:0001_0001 region-id:ap-guangzhou ccn-id:ccn-a1b2c3d4 srcaddr:10.0.1.10 dstaddr:10.1.1.10 srcport:40000 dstport:5001 protocol:17 srcregionid:ap-guangzhou dstregionid:ap-shanghai packets:51 bytes:63750 start:1700000010 end:1700000011 action:REJECT log-status:OK",
];

fn defaults() -> Defaults {
    seeded(4, START)
}

/// One VPC of the scenario with its subnet, group and interface.
struct Side {
    vpc: pb::Vpc,
    eni: pb::NetworkInterface,
}

/// One VPC of the scenario as the file declares it.
struct Plan {
    /// The VPC's display name, and what its ids start with (`vpc-gz000001`).
    name: &'static str,
    /// The second octet of its addresses: the VPC is 10.x.0.0/16, its subnet 10.x.1.0/24,
    /// its interface 10.x.1.10.
    octet: u8,
    /// The subnet's zone; the VPC's region is the zone without its number.
    zone: &'static str,
    /// The interface's id and name.
    eni: (&'static str, &'static str),
}

const GZ: Plan = Plan {
    name: "gz",
    octet: 0,
    zone: "ap-guangzhou-3",
    eni: ("eni-gzsend01", "sender"),
};
const SH: Plan = Plan {
    name: "sh",
    octet: 1,
    zone: "ap-shanghai-2",
    eni: ("eni-shrecv01", "receiver"),
};

/// The VPC of `plan`, its subnet, and its interface in a group of its own allowing `rule`.
async fn side(
    net: &mut NetworkServiceClient<tonic::transport::Channel>,
    plan: &Plan,
    rule: pb::SecurityGroupRule,
) -> Side {
    let (name, x) = (plan.name, plan.octet);
    let region = plan.zone.rsplit_once('-').unwrap().0;
    let mut request = vpc_req(P, name, &format!("10.{x}.0.0/16"));
    request.vpc_id = format!("vpc-{name}000001");
    request.vpc.as_mut().unwrap().region = region.into();
    let vpc = net.create_vpc(request).await.unwrap().into_inner();
    let sn = net
        .create_subnet(pb::CreateSubnetRequest {
            parent: P.into(),
            subnet: Some(pb::Subnet {
                display_name: "app".into(),
                vpc: vpc.name.clone(),
                cidr: format!("10.{x}.1.0/24"),
                zone: plan.zone.into(),
                ..Default::default()
            }),
            subnet_id: format!("subnet-{name}000001"),
        })
        .await
        .unwrap()
        .into_inner();
    let (eni_id, eni_name) = plan.eni;
    let sg = fixture::create_sg(net, eni_name, &vpc.name, vec![rule]).await;
    let ip = format!("10.{x}.1.10");
    let mut request = fixture::eni_req(eni_name, &sn.name, &ip, vec![sg.name]);
    request.network_interface_id = eni_id.into();
    request.network_interface.as_mut().unwrap().auto_reply = Some(false);
    let e = net
        .create_network_interface(request)
        .await
        .unwrap()
        .into_inner();
    Side { vpc, eni: e }
}

/// The scenario's topology, a CCN flow log, the burst, and the clock past the window.
/// Returns the log stream's name.
async fn build(server: &Server) -> String {
    let ch = server.channel().await;
    let mut net = NetworkServiceClient::new(ch.clone());
    let mut logs = LogServiceClient::new(ch.clone());
    let mut sim = SimulationServiceClient::new(ch.clone());
    let mut ccns = CcnServiceClient::new(ch.clone());

    let send = allow_rule(pb::Direction::Egress, "all", "", "0.0.0.0/0");
    let gz = side(&mut net, &GZ, send).await;
    let receive = allow_rule(pb::Direction::Ingress, "udp", "5001", "10.0.0.0/16");
    let sh = side(&mut net, &SH, receive).await;
    assert_eq!(gz.vpc.region, "ap-guangzhou");
    assert_eq!(sh.vpc.region, "ap-shanghai");

    // Created with gz only; sh and the limit come with an update.
    let ccn = ccns
        .create_cloud_connect_network(pb::CreateCloudConnectNetworkRequest {
            parent: P.into(),
            cloud_connect_network: Some(pb::CloudConnectNetwork {
                display_name: "backbone".into(),
                vpcs: vec![gz.vpc.name.clone()],
                ..Default::default()
            }),
            cloud_connect_network_id: "ccn-a1b2c3d4".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ccn.name, CCN);
    assert_eq!(ccn.vpcs, vec![gz.vpc.name.clone()]);
    let limit = pb::CcnBandwidthLimit {
        region_a: "ap-guangzhou".into(),
        region_b: "ap-shanghai".into(),
        bits_per_second: 1_000_000,
    };
    // A limit names regions of attached VPCs: Shanghai is not attached yet.
    let s = err(ccns
        .update_cloud_connect_network(pb::UpdateCloudConnectNetworkRequest {
            cloud_connect_network: Some(pb::CloudConnectNetwork {
                name: CCN.into(),
                bandwidth_limits: vec![limit.clone()],
                ..Default::default()
            }),
            update_mask: mask(&["bandwidth_limits"]),
        })
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(
        field(&s),
        "cloud_connect_network.bandwidth_limits[0].region_b"
    );
    let ccn = ccns
        .update_cloud_connect_network(pb::UpdateCloudConnectNetworkRequest {
            cloud_connect_network: Some(pb::CloudConnectNetwork {
                name: CCN.into(),
                vpcs: vec![gz.vpc.name.clone(), sh.vpc.name.clone()],
                bandwidth_limits: vec![limit.clone()],
                etag: ccn.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["vpcs", "bandwidth_limits"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ccn.vpcs, vec![gz.vpc.name.clone(), sh.vpc.name.clone()]);
    assert_eq!(ccn.bandwidth_limits, vec![limit]);
    assert_eq!(ccn.etag, "\"2\"");

    let (_, stream) = fixture::log_stream(&ch, P, None, "ccn-logs", "backbone").await;
    let fl = logs
        .create_flow_log(flow_log_req(P, flow("ccn-flows", CCN, &stream)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fl.resource, CCN);

    sim.inject_traffic(pb::InjectTrafficRequest {
        parent: P.into(),
        at: Some(ts(START + 10)),
        traffic: Some(pb::inject_traffic_request::Traffic::Udp(pb::Udp {
            from: gz.eni.name.clone(),
            to: sh.eni.name.clone(),
            port: 5001,
            sport: Some(40000),
            count: 300,
            interval: Some(prost_types::Duration {
                seconds: 0,
                nanos: 5_000_000,
            }),
            size: 1250,
            ttl: None,
        })),
    })
    .await
    .unwrap();
    // Past the 60 s window, not past the next one (it would close with NODATA).
    sim.advance(pb::AdvanceRequest {
        parent: P.into(),
        until: Some(pb::advance_request::Until::To(ts(START + 100))),
    })
    .await
    .unwrap();
    stream
}

#[tokio::test]
async fn ccn_throttling_records_over_grpc_survive_a_restart() {
    let dir = temp_dir("api-ccn");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let stream = build(&server).await;
    let got = sorted_lines(&server, &stream).await;
    assert_eq!(got, DOCUMENTED, "{got:#?}");
    server.stop().await;

    // Replayed from the store: the CCN and its records.
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    assert_eq!(sorted_lines(&server, &stream).await, DOCUMENTED);
    let mut ccns = CcnServiceClient::new(server.channel().await);
    let list = list!(ccns.list_cloud_connect_networks(ListCloudConnectNetworksRequest));
    assert_eq!(list.cloud_connect_networks.len(), 1);
    assert_eq!(list.cloud_connect_networks[0].name, CCN);
    assert_eq!(list.cloud_connect_networks[0].vpcs.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn ccn_updates_are_add_only_and_validated() {
    let dir = temp_dir("api-ccn-update");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    build(&server).await;
    let ch = server.channel().await;
    let mut ccns = CcnServiceClient::new(ch.clone());
    let mut net = NetworkServiceClient::new(ch);
    let before = ccns
        .get_cloud_connect_network(pb::GetCloudConnectNetworkRequest { name: CCN.into() })
        .await
        .unwrap()
        .into_inner();
    let update =
        |c: pb::CloudConnectNetwork, paths: &[&str]| pb::UpdateCloudConnectNetworkRequest {
            cloud_connect_network: Some(c),
            update_mask: mask(paths),
        };

    // Detaching a VPC is refused.
    let s = err(ccns
        .update_cloud_connect_network(update(
            pb::CloudConnectNetwork {
                name: CCN.into(),
                vpcs: vec![before.vpcs[0].clone()],
                ..Default::default()
            },
            &["vpcs"],
        ))
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "cloud_connect_network.vpcs");
    assert!(s.message().contains("not supported"), "{}", s.message());
    // So is removing a pair's limit.
    let s = err(ccns
        .update_cloud_connect_network(update(
            pb::CloudConnectNetwork {
                name: CCN.into(),
                bandwidth_limits: vec![],
                ..Default::default()
            },
            &["bandwidth_limits"],
        ))
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "cloud_connect_network.bandwidth_limits");
    // A zero rate, and a pair inside one region (the current pair kept first).
    for (l, f) in [
        (
            ("ap-shanghai", "ap-guangzhou", 0),
            "cloud_connect_network.bandwidth_limits[1].bits_per_second",
        ),
        (
            ("ap-shanghai", "ap-shanghai", 5),
            "cloud_connect_network.bandwidth_limits[1].region_b",
        ),
    ] {
        let s = err(ccns
            .update_cloud_connect_network(update(
                pb::CloudConnectNetwork {
                    name: CCN.into(),
                    bandwidth_limits: vec![
                        before.bandwidth_limits[0].clone(),
                        pb::CcnBandwidthLimit {
                            region_a: l.0.into(),
                            region_b: l.1.into(),
                            bits_per_second: l.2,
                        },
                    ],
                    ..Default::default()
                },
                &["bandwidth_limits"],
            ))
            .await);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(field(&s), f);
    }
    // A VPC whose block overlaps an attached one's, then one of the same region: attached,
    // and the rate changed, in one update; a stale etag is refused first.
    let vpc = |name: &str, cidr: &str| pb::CreateVpcRequest {
        parent: P.into(),
        vpc: Some(pb::Vpc {
            display_name: name.into(),
            cidr: cidr.into(),
            region: "ap-shanghai".into(),
            ..Default::default()
        }),
        vpc_id: String::new(),
    };
    let overlapping = net
        .create_vpc(vpc("overlap", "10.1.128.0/17"))
        .await
        .unwrap()
        .into_inner();
    let third = net
        .create_vpc(vpc("sh-b", "10.2.0.0/16"))
        .await
        .unwrap()
        .into_inner();
    let mut vpcs = before.vpcs.clone();
    vpcs.push(overlapping.name.clone());
    let s = err(ccns
        .update_cloud_connect_network(update(
            pb::CloudConnectNetwork {
                name: CCN.into(),
                vpcs,
                ..Default::default()
            },
            &["vpcs"],
        ))
        .await);
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(field(&s), "cloud_connect_network.vpcs[2]");
    let mut vpcs = before.vpcs.clone();
    vpcs.push(third.name.clone());
    let limits = vec![pb::CcnBandwidthLimit {
        region_a: "ap-shanghai".into(),
        region_b: "ap-guangzhou".into(),
        bits_per_second: 2_000_000,
    }];
    let s = err(ccns
        .update_cloud_connect_network(update(
            pb::CloudConnectNetwork {
                name: CCN.into(),
                vpcs: vpcs.clone(),
                bandwidth_limits: limits.clone(),
                etag: "\"1\"".into(),
                ..Default::default()
            },
            &["vpcs", "bandwidth_limits"],
        ))
        .await);
    assert_eq!(s.code(), Code::Aborted);
    let after = ccns
        .update_cloud_connect_network(update(
            pb::CloudConnectNetwork {
                name: CCN.into(),
                vpcs: vpcs.clone(),
                bandwidth_limits: limits.clone(),
                etag: before.etag.clone(),
                ..Default::default()
            },
            &["vpcs", "bandwidth_limits"],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.vpcs, vpcs);
    assert_eq!(after.bandwidth_limits, limits);
    // A VPC joins one CCN.
    let s = err(ccns
        .create_cloud_connect_network(pb::CreateCloudConnectNetworkRequest {
            parent: P.into(),
            cloud_connect_network: Some(pb::CloudConnectNetwork {
                display_name: "other".into(),
                vpcs: vec![third.name.clone()],
                ..Default::default()
            }),
            cloud_connect_network_id: String::new(),
        })
        .await);
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(field(&s), "cloud_connect_network.vpcs[0]");
    // Nothing was created by the refused request.
    let list = list!(ccns.list_cloud_connect_networks(ListCloudConnectNetworksRequest));
    assert_eq!(list.cloud_connect_networks.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn clouds_without_ccns_refuse_them() {
    for provider in [Provider::Aws, Provider::Huawei] {
        let dir = temp_dir("api-ccn-refused");
        let server = Server::start(&dir, Tenancy::single(provider), defaults()).await;
        let mut ccns = CcnServiceClient::new(server.channel().await);
        let s = err(ccns
            .create_cloud_connect_network(pb::CreateCloudConnectNetworkRequest {
                parent: P.into(),
                cloud_connect_network: Some(pb::CloudConnectNetwork {
                    display_name: "backbone".into(),
                    ..Default::default()
                }),
                cloud_connect_network_id: String::new(),
            })
            .await);
        // The world's refusal: FAILED_PRECONDITION on its `ccn` (the resource itself).
        assert_eq!(s.code(), Code::FailedPrecondition, "{provider}: {s:?}");
        assert_eq!(field(&s), "cloud_connect_network", "{provider}");
        assert!(
            s.message().contains("no Cloud Connect Network"),
            "{}",
            s.message()
        );
        server.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
