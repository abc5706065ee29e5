//! Path MTU discovery over gRPC (docs/decisions/mtu.md): InjectTraffic refuses a datagram
//! larger than its sender's interface MTU (aws instances 9001, other clouds' and external hosts
//! 1500) at its `size` field and schedules nothing; a 1501-byte echo with `dont_fragment` from
//! an aws instance to the internet stops at the internet gateway (MTU 1500), whose
//! fragmentation-needed from the host's address a group without an ICMP rule REJECTs (the
//! PMTUD black hole), while without it the same echo is delivered and answered.

mod common;

use common::fixture::{
    self, P, create_eni, create_sg, create_subnet, create_vpc, flow, flow_log_req, inject, query,
    query_all, start_net,
};
use common::*;
use pb::inject_traffic_request::Traffic;
use tonic::Code;
use tonic::transport::Channel;
use vpclab_controlplane::api::pb;
use vpclab_sim::profile::Provider;

const START: u64 = 1_700_000_000;
/// The flow logs' custom format (aws).
const FIELDS: &str = "interface-id srcaddr dstaddr srcport dstport protocol packets bytes action";
const WEB_ID: &str = "eni-0a0000000000000a1";
const PEER_ID: &str = "eni-0a0000000000000a2";

/// The refusal of a datagram over its sender's interface MTU.
fn too_big(len: u32, mtu: u32, whose: &str) -> String {
    format!(
        "{len} bytes do not fit the sender's interface MTU of {mtu} bytes ({whose}): a host \
         sends no larger datagram (it fragments it first, or refuses it when DF is set)"
    )
}

const INSTANCES: &str = "its cloud's instances";
const ETHERNET: &str = "Ethernet's, on the internet and on premises";

/// The request is refused with INVALID_ARGUMENT and one field violation, `field`: `message`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(r: Result<T, tonic::Status>, field: &str, message: &str) {
    let s = err(r);
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert_eq!(
        violations(&s),
        vec![(field.to_string(), message.to_string())],
        "{s:?}"
    );
}

fn egress_all() -> pb::SecurityGroupRule {
    pb::SecurityGroupRule {
        direction: pb::Direction::Egress as i32,
        protocol: "all".into(),
        remote: Some(pb::security_group_rule::Remote::Cidr("0.0.0.0/0".into())),
        ..Default::default()
    }
}

/// An aws VPC 10.0.0.0/16 with an internet gateway (the default route), instance `web`
/// (10.0.1.10, elastic IP 198.51.100.10) in a group with no inbound ICMP rule, instance `peer`
/// (10.0.1.20) admitting the VPC, host `site` (203.0.113.5) on the internet, and a flow log in
/// [`FIELDS`] on the VPC or on web's interface.
struct Aws {
    server: Server,
    ch: Channel,
    web: String,
    peer: String,
    site: String,
    stream: String,
}

async fn aws(dir: &std::path::Path, vpc_flow_log: bool) -> Aws {
    let (server, mut net) = start_net(dir, Provider::Aws, seeded(1, START)).await;
    let ch = server.channel().await;
    let vpc = create_vpc(&mut net, "app", "10.0.0.0/16").await;
    fixture::internet_gateway(&mut net, &vpc).await;
    let subnet = create_subnet(&mut net, "public", &vpc.name, "10.0.1.0/24").await;
    let no_icmp = create_sg(
        &mut net,
        "no-icmp",
        &vpc.name,
        vec![
            egress_all(),
            fixture::allow_rule(pb::Direction::Ingress, "tcp", "22", "10.0.0.0/8"),
        ],
    )
    .await;
    let inside = create_sg(
        &mut net,
        "inside",
        &vpc.name,
        vec![
            egress_all(),
            fixture::allow_rule(pb::Direction::Ingress, "all", "", "10.0.0.0/16"),
        ],
    )
    .await;
    let eni =
        |name: &str, ip: &str, eip: &str, sg: &str, id: &str| pb::CreateNetworkInterfaceRequest {
            parent: P.into(),
            network_interface: Some(pb::NetworkInterface {
                display_name: name.into(),
                subnet: subnet.name.clone(),
                private_ip: ip.into(),
                elastic_ip: eip.into(),
                security_groups: vec![sg.into()],
                ..Default::default()
            }),
            network_interface_id: id.into(),
        };
    let web = net
        .create_network_interface(eni(
            "web",
            "10.0.1.10",
            "198.51.100.10",
            &no_icmp.name,
            WEB_ID,
        ))
        .await
        .unwrap()
        .into_inner();
    let peer = net
        .create_network_interface(eni("peer", "10.0.1.20", "", &inside.name, PEER_ID))
        .await
        .unwrap()
        .into_inner();
    let site = SimulationServiceClient::new(ch.clone())
        .create_external_host(pb::CreateExternalHostRequest {
            parent: P.into(),
            external_host: Some(pb::ExternalHost {
                display_name: "site".into(),
                ip: "203.0.113.5".into(),
                ..Default::default()
            }),
            external_host_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let (_, stream) = fixture::log_stream(&ch, P, None, "flows", "app").await;
    let resource = if vpc_flow_log { &vpc.name } else { &web.name };
    LogServiceClient::new(ch.clone())
        .create_flow_log(flow_log_req(
            P,
            pb::FlowLog {
                format: "aws".into(),
                aws_fields: FIELDS.into(),
                ..flow("flows", resource, &stream)
            },
        ))
        .await
        .unwrap();
    Aws {
        server,
        ch,
        web: web.name,
        peer: peer.name,
        site: site.name,
        stream,
    }
}

/// The lines of every record of `stream`, in the order the log service delivers them.
async fn lines(ch: &Channel, stream: &str) -> Vec<String> {
    query_all(ch, None, query(stream))
        .await
        .into_iter()
        .map(|r| r.line)
        .collect()
}

/// A huawei or tencent record as `srcaddr dstaddr srcport dstport protocol packets bytes
/// action`.
fn tuple(line: &str) -> String {
    if line.contains("srcaddr:") {
        let field = |k: &str| {
            line.split(' ')
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix(':'))
                .unwrap_or_else(|| panic!("{k} in {line}"))
        };
        [
            "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "action",
        ]
        .map(field)
        .join(" ")
    } else {
        // huawei: version project-id interface-id srcaddr ... bytes start end action log-status
        let v: Vec<&str> = line.split(' ').collect();
        assert_eq!(v.len(), 14, "{line}");
        format!("{} {}", v[3..10].join(" "), v[12])
    }
}

fn packet(from: &str, to: &str, protocol: &str, size: u32) -> pb::RawPacket {
    pb::RawPacket {
        from: from.into(),
        to: to.into(),
        protocol: protocol.into(),
        size,
        ..Default::default()
    }
}

fn udp(from: &str, to: &str, size: u32) -> pb::Udp {
    pb::Udp {
        from: from.into(),
        to: to.into(),
        port: 5001,
        sport: Some(43000),
        count: 1,
        size,
        ..Default::default()
    }
}

/// An aws instance sends at most 9001 bytes, an external host 1500: over that, a raw packet
/// is refused at `packet.size` and a udp step at `udp.size`, naming the MTU. Nothing of a
/// refused request reaches a flow log: after the clock passes the capture window the VPC's
/// records are those of the 9001 bytes that were taken, only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_injected_datagrams_over_the_interface_mtu_are_refused() {
    let dir = temp_dir("mtu-api-aws");
    let t = aws(&dir, true).await;
    let mut sim = SimulationServiceClient::new(t.ch.clone());
    let at = |traffic| pb::InjectTrafficRequest {
        at: Some(ts(START + 10)),
        ..inject(traffic)
    };
    for protocol in ["udp", "tcp", "icmp"] {
        assert_refused(
            sim.inject_traffic(at(Traffic::Packet(pb::RawPacket {
                sport: 43000,
                dport: 5001,
                ..packet(&t.web, &t.peer, protocol, 9002)
            })))
            .await,
            "packet.size",
            &too_big(9002, 9001, INSTANCES),
        );
    }
    // With don't-fragment the sender refuses it too (Linux's EMSGSIZE).
    assert_refused(
        sim.inject_traffic(at(Traffic::Packet(pb::RawPacket {
            dont_fragment: Some(true),
            ..packet(&t.web, &t.site, "icmp", 9002)
        })))
        .await,
        "packet.size",
        &too_big(9002, 9001, INSTANCES),
    );
    assert_refused(
        sim.inject_traffic(at(Traffic::Udp(udp(&t.web, &t.peer, 9002))))
            .await,
        "udp.size",
        &too_big(9002, 9001, INSTANCES),
    );
    // The host on the internet: Ethernet's 1500, also towards an instance's elastic IP.
    assert_refused(
        sim.inject_traffic(at(Traffic::Packet(packet(&t.site, &t.web, "icmp", 1501))))
            .await,
        "packet.size",
        &too_big(1501, 1500, ETHERNET),
    );
    assert_refused(
        sim.inject_traffic(at(Traffic::Udp(udp(&t.site, &t.web, 1501))))
            .await,
        "udp.size",
        &too_big(1501, 1500, ETHERNET),
    );
    // 9001 bytes fit: jumbo frames inside the VPC, with DF.
    sim.inject_traffic(at(Traffic::Packet(pb::RawPacket {
        sport: 43000,
        dport: 5001,
        dont_fragment: Some(true),
        ..packet(&t.web, &t.peer, "udp", 9001)
    })))
    .await
    .unwrap();
    fixture::advance_to(&t.ch, P, None, START + 700).await;
    // Only the 9001 bytes taken, and peer's port unreachable (it listens on no port), which
    // web's group REJECTs (no inbound ICMP rule; aws tracks no RELATED errors).
    assert_eq!(
        lines(&t.ch, &t.stream).await,
        vec![
            format!("{WEB_ID} 10.0.1.10 10.0.1.20 43000 5001 17 1 9001 ACCEPT"),
            format!("{WEB_ID} 10.0.1.20 10.0.1.10 0 0 1 1 56 REJECT"),
            format!("{PEER_ID} 10.0.1.10 10.0.1.20 43000 5001 17 1 9001 ACCEPT"),
            format!("{PEER_ID} 10.0.1.20 10.0.1.10 0 0 1 1 56 ACCEPT"),
        ]
    );
    t.server.stop().await;
}

/// huawei and tencent document no MTU: their instances send at most Ethernet's 1500 bytes.
/// 1501 is refused at the field, naming 1500; 1500 is taken, and only it is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_and_tencent_refuse_more_than_1500_bytes() {
    for provider in [Provider::Huawei, Provider::Tencent] {
        let dir = temp_dir("mtu-api-1500");
        let (server, mut net) = start_net(&dir, provider, seeded(1, START)).await;
        let ch = server.channel().await;
        let vpc = create_vpc(&mut net, "app", "192.168.0.0/16").await;
        let subnet = create_subnet(&mut net, "a", &vpc.name, "192.168.0.0/24").await;
        let sg = create_sg(
            &mut net,
            "open",
            &vpc.name,
            vec![
                fixture::allow_rule(pb::Direction::Ingress, "all", "", "192.168.0.0/16"),
                egress_all(),
            ],
        )
        .await;
        let a = create_eni(
            &mut net,
            "a",
            &subnet.name,
            "192.168.0.10",
            vec![sg.name.clone()],
        )
        .await;
        let b = create_eni(
            &mut net,
            "b",
            &subnet.name,
            "192.168.0.20",
            vec![sg.name.clone()],
        )
        .await;
        let (_, stream) = fixture::log_stream(&ch, P, None, "flows", "app").await;
        LogServiceClient::new(ch.clone())
            .create_flow_log(flow_log_req(P, flow("flows", &a.name, &stream)))
            .await
            .unwrap();
        let mut sim = SimulationServiceClient::new(ch.clone());
        let at = |traffic| pb::InjectTrafficRequest {
            at: Some(ts(START + 10)),
            ..inject(traffic)
        };
        assert_refused(
            sim.inject_traffic(at(Traffic::Packet(pb::RawPacket {
                dont_fragment: Some(true),
                ..packet(&a.name, &b.name, "icmp", 1501)
            })))
            .await,
            "packet.size",
            &too_big(1501, 1500, INSTANCES),
        );
        assert_refused(
            sim.inject_traffic(at(Traffic::Udp(udp(&a.name, &b.name, 1501))))
                .await,
            "udp.size",
            &too_big(1501, 1500, INSTANCES),
        );
        sim.inject_traffic(at(Traffic::Udp(udp(&a.name, &b.name, 1500))))
            .await
            .unwrap();
        fixture::advance_to(&ch, P, None, START + 700).await;
        // Only the 1500 bytes, and b's port unreachable (it listens on no port), which a's
        // group admits (these clouds track ICMP errors as RELATED).
        let mut want = vec![
            "192.168.0.10 192.168.0.20 43000 5001 17 1 1500 ACCEPT",
            "192.168.0.20 192.168.0.10 0 0 1 1 56 ACCEPT",
        ];
        if provider == Provider::Tencent {
            // Tencent writes an ICMP record's type and code as its destination port (3 << 8 | 3),
            // and closes its next, empty 300-second window with NODATA.
            want[1] = "192.168.0.20 192.168.0.10 0 771 1 1 56 ACCEPT";
            want.push("- - - - - - - -");
        }
        let got: Vec<String> = lines(&ch, &stream).await.iter().map(|l| tuple(l)).collect();
        assert_eq!(got, want, "{provider:?}");
        server.stop().await;
    }
}

/// `ping -M do -s 1473` from web to the internet: 1501 bytes with DF do not fit the internet
/// gateway's 1500. web's egress record is ACCEPT (the echo left it); the gateway's
/// fragmentation-needed, from the host's address (56 bytes: its header, 8 ICMP bytes, the
/// quoted header and 8 bytes), is REJECTed by web's group, which has no inbound ICMP rule: the
/// PMTUD black hole. The echo never reaches the host, so no reply comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dont_fragment_echo_too_big_for_the_internet_gateway_is_answered_and_rejected() {
    let dir = temp_dir("mtu-api-df");
    let t = aws(&dir, false).await;
    SimulationServiceClient::new(t.ch.clone())
        .inject_traffic(pb::InjectTrafficRequest {
            at: Some(ts(START + 10)),
            ..inject(Traffic::Packet(pb::RawPacket {
                dont_fragment: Some(true),
                ..packet(&t.web, &t.site, "icmp", 1501)
            }))
        })
        .await
        .unwrap();
    fixture::advance_to(&t.ch, P, None, START + 700).await;
    assert_eq!(
        lines(&t.ch, &t.stream).await,
        vec![
            format!("{WEB_ID} 10.0.1.10 203.0.113.5 0 0 1 1 1501 ACCEPT"),
            format!("{WEB_ID} 203.0.113.5 10.0.1.10 0 0 1 1 56 REJECT"),
        ]
    );
    t.server.stop().await;
}

/// The same 1501 bytes without `dont_fragment` (an echo's default: clear) go on through the
/// gateway (which would fragment them), and the host's echo reply comes back through web's
/// group as the reply of a tracked flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dont_fragment_the_same_echo_is_delivered() {
    for df in [None, Some(false)] {
        let dir = temp_dir("mtu-api-no-df");
        let t = aws(&dir, false).await;
        SimulationServiceClient::new(t.ch.clone())
            .inject_traffic(pb::InjectTrafficRequest {
                at: Some(ts(START + 10)),
                ..inject(Traffic::Packet(pb::RawPacket {
                    dont_fragment: df,
                    ..packet(&t.web, &t.site, "icmp", 1501)
                }))
            })
            .await
            .unwrap();
        fixture::advance_to(&t.ch, P, None, START + 700).await;
        assert_eq!(
            lines(&t.ch, &t.stream).await,
            vec![
                format!("{WEB_ID} 10.0.1.10 203.0.113.5 0 0 1 1 1501 ACCEPT"),
                format!("{WEB_ID} 203.0.113.5 10.0.1.10 0 0 1 1 1501 ACCEPT"),
            ],
            "dont_fragment {df:?}"
        );
        t.server.stop().await;
    }
}

/// A TCP segment carries DF by default (as Linux sends it): 9001 bytes to the internet stop at
/// the gateway and are answered; `dont_fragment: false` overrides it and the segment goes on
/// (the host, listening on no port, resets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_carries_dont_fragment_unless_told_otherwise() {
    for (df, want) in [
        (
            None,
            vec!["1 9001 ACCEPT", "203.0.113.5 10.0.1.10 0 0 1 1 56 REJECT"],
        ),
        (
            Some(false),
            vec![
                "1 9001 ACCEPT",
                "203.0.113.5 10.0.1.10 443 40000 6 1 40 ACCEPT",
            ],
        ),
    ] {
        let dir = temp_dir("mtu-api-tcp");
        let t = aws(&dir, false).await;
        SimulationServiceClient::new(t.ch.clone())
            .inject_traffic(pb::InjectTrafficRequest {
                at: Some(ts(START + 10)),
                ..inject(Traffic::Packet(pb::RawPacket {
                    sport: 40000,
                    dport: 443,
                    flags: vec!["ack".into()],
                    dont_fragment: df,
                    ..packet(&t.web, &t.site, "tcp", 9001)
                }))
            })
            .await
            .unwrap();
        fixture::advance_to(&t.ch, P, None, START + 700).await;
        let got = lines(&t.ch, &t.stream).await;
        assert_eq!(got.len(), 2, "dont_fragment {df:?}: {got:#?}");
        assert_eq!(
            got[0],
            format!("{WEB_ID} 10.0.1.10 203.0.113.5 40000 443 6 {}", want[0]),
            "dont_fragment {df:?}"
        );
        assert_eq!(
            got[1],
            format!("{WEB_ID} {}", want[1]),
            "dont_fragment {df:?}"
        );
        t.server.stop().await;
    }
}
