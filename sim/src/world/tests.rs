//! Tests of the world as a whole: flow-log examples sent through the per-packet path and
//! turned into records, and [`World::send_batch`] against [`World::send`] in turn.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::addr::Ipv4Net;
use crate::flowlog::Scope;
use crate::flowlog::format::{AwsFormat, Format, render};
use crate::host::Host;
use crate::packet::{Packet, TcpFlags};
use crate::policy::sg::Remote;
use crate::policy::{PortRange, ProtoMatch, RuleAction, acl, sg};
use crate::profile::{ConnectionTracking, Profile, Provider};
use crate::simulation::Simulation;
use crate::time::{Span, Time};
use crate::{Action, Direction};

fn net(s: &str) -> Ipv4Net {
    Ipv4Net::parse_strict(s).unwrap()
}

/// A VPC `vpc` of block `cidr` with an internet gateway, the main table's default route to it,
/// and a subnet `web` of block `subnet`: (the VPC, the subnet).
fn internet_vpc(w: &mut World, cidr: &str, subnet: &str) -> (u32, u32) {
    let vpc = w.create_vpc("vpc", None, net(cidr)).unwrap();
    let igw = w.create_internet_gateway(vpc, None).unwrap();
    let main = w.vpcs[vpc as usize].main_route_table;
    w.add_route(
        main,
        Route {
            destination: Ipv4Net::ANY,
            target: Target::InternetGateway(igw),
        },
    )
    .unwrap();
    let subnet = w
        .create_subnet("web", None, vpc, net(subnet), None)
        .unwrap();
    (vpc, subnet)
}

/// A security group `name` in `vpc` that lets every packet out and none in.
fn egress_only(w: &mut World, name: &str, vpc: u32) -> u32 {
    w.create_security_group(
        name,
        None,
        vpc,
        vec![sg::Rule::allow_all(Direction::Egress)],
    )
    .unwrap()
}

/// One HTTP exchange from `client` port 40100 to `server` port 80: a request of `request`
/// bytes, a response of `response`, closed with FIN.
fn http_get(
    client: Endpoint,
    server: Endpoint,
    request: u16,
    response: u16,
) -> crate::simulation::TcpSession {
    crate::simulation::TcpSession {
        client,
        server,
        sport: 40100,
        dport: 80,
        requests: vec![request],
        responses: vec![response],
        close: crate::simulation::Close::Fin,
        gap: Span::from_millis(1),
        label: 0,
        nat_port: None,
        server_ip: None,
    }
}

/// The AWS flow-log example "security group and network ACL rules" (flowlogs.md §1.7),
/// built with the operations directly.
fn ping_world(provider: Provider) -> (Simulation, u32) {
    let mut cfg = Config::new(Profile::of(provider));
    cfg.account_id = Some("123456789010".into());
    let mut w = World::new(cfg);
    let t0 = Time::from_secs(1432917000);
    let (vpc, subnet) = internet_vpc(&mut w, "172.31.0.0/16", "172.31.16.0/20");
    let icmp = ProtoMatch::Icmp {
        icmp_type: None,
        code: None,
    };
    let acl = w
        .create_network_acl(
            "web-acl",
            None,
            vpc,
            vec![acl::Entry {
                protocol: icmp,
                ..acl::Entry::allow_all(100, Direction::Ingress)
            }],
        )
        .unwrap();
    w.associate_acl(subnet, acl).unwrap();
    let sg = w
        .create_security_group(
            "web-sg",
            None,
            vpc,
            vec![sg::Rule {
                protocol: icmp,
                ports: PortRange::ALL,
                ..sg::Rule::allow_all(Direction::Ingress)
            }],
        )
        .unwrap();
    let eni = w
        .create_eni(
            t0,
            EniSpec {
                name: "instance".into(),
                id: Some("eni-1235b8ca123456789".into()),
                subnet,
                ip: Some("172.31.16.139".parse().unwrap()),
                eip: Some("198.51.100.7".parse().unwrap()),
                security_groups: vec![sg],
                ..Default::default()
            },
        )
        .unwrap();
    let home = w
        .create_external_host("home", "203.0.113.12".parse().unwrap(), Host::default())
        .unwrap();
    w.create_flow_log(t0, FlowLogSpec::new("fl", Scope::Eni(eni)))
        .unwrap();
    let mut sim = Simulation::new(w, t0, 1);
    sim.ping(
        Time::from_secs(1432917027),
        Endpoint::External(home),
        Endpoint::Eni(eni),
        4,
        Span::from_secs(38),
        Some(1),
        None,
    )
    .unwrap();
    (sim, eni)
}

fn lines(sim: &mut Simulation) -> Vec<String> {
    sim.run_to_end().unwrap();
    let f = Format::Aws(AwsFormat::default_v2());
    sim.world
        .take_records()
        .iter()
        .filter(|r| f.prints(r))
        .map(|r| render(r, &f))
        .collect()
}

#[test]
fn stateless_acl_rejects_the_ping_reply() {
    let (mut sim, _) = ping_world(Provider::Aws);
    let got = lines(&mut sim);
    assert_eq!(
        got,
        vec![
            "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917141 ACCEPT OK",
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917027 1432917141 REJECT OK",
        ]
    );
}

#[test]
fn huawei_acl_tracks_the_connection() {
    let (mut sim, _) = ping_world(Provider::Huawei);
    let got = lines(&mut sim);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|l| l.ends_with("ACCEPT OK")), "{got:?}");
}

#[test]
fn records_carry_their_decisions() {
    let (mut sim, _) = ping_world(Provider::Aws);
    sim.run_to_end().unwrap();
    let recs = sim.world.take_records();
    let reject = recs
        .iter()
        .find(|r| r.flow.as_ref().is_some_and(|f| f.action == Action::Reject))
        .unwrap();
    assert_eq!(reject.truth.packet_ids.len(), 4);
    assert!(
        reject
            .truth
            .decisions
            .iter()
            .any(|d| d
                == "ACL web-acl egress (subnet web): no rule matched; default rule * denies"),
        "{:?}",
        reject.truth.decisions
    );
}

/// A world of two subnets (one behind an ACL denying a port), a group allowing part of
/// the traffic, 8 ENIs and a flow log with a 60 s window, and mixed traffic between them.
fn batch_world(provider: Provider) -> (World, Vec<(Time, Endpoint, Packet)>) {
    let t0 = Time::from_secs(1_700_000_000);
    let mut w = World::new(Config::new(Profile::of(provider)));
    let vpc = w.create_vpc("vpc", None, net("10.0.0.0/16")).unwrap();
    let subnets: Vec<u32> = (0..2)
        .map(|i| {
            let cidr = net(&format!("10.0.{}.0/24", i));
            w.create_subnet(&format!("s{i}"), None, vpc, cidr, None)
                .unwrap()
        })
        .collect();
    let acl = w
        .create_network_acl(
            "acl",
            None,
            vpc,
            vec![
                acl::Entry {
                    protocol: ProtoMatch::Tcp,
                    ports: PortRange::single(3389),
                    action: RuleAction::Deny,
                    ..acl::Entry::allow_all(100, Direction::Ingress)
                },
                acl::Entry::allow_all(200, Direction::Ingress),
                acl::Entry::allow_all(200, Direction::Egress),
            ],
        )
        .unwrap();
    w.associate_acl(subnets[1], acl).unwrap();
    let sg = w
        .create_security_group(
            "sg",
            None,
            vpc,
            vec![
                sg::Rule {
                    protocol: ProtoMatch::Tcp,
                    ports: PortRange { lo: 1, hi: 9999 },
                    ..sg::Rule::allow_all(Direction::Ingress)
                },
                sg::Rule {
                    protocol: ProtoMatch::Udp,
                    ports: PortRange { lo: 1, hi: 99 },
                    ..sg::Rule::allow_all(Direction::Ingress)
                },
                sg::Rule::allow_all(Direction::Egress),
            ],
        )
        .unwrap();
    for k in 0..8u32 {
        w.create_eni(
            t0,
            EniSpec {
                name: format!("eni-{k}"),
                subnet: subnets[(k % 2) as usize],
                security_groups: vec![sg],
                ..Default::default()
            },
        )
        .unwrap();
    }
    w.create_flow_log(
        t0,
        FlowLogSpec {
            window: Some(Span::from_secs(60)),
            ..FlowLogSpec::new("fl", Scope::Vpc(vpc))
        },
    )
    .unwrap();
    // Deterministic pseudo-random traffic: new and returning flows, replies, denied ports,
    // echo, spread over three windows and past UDP's conntrack timeout.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut packets = Vec::new();
    let mut now = t0;
    for _ in 0..3000 {
        now = now + Span::from_micros(rng.random_range(1..100_000));
        let a = rng.random_range(0..8u32);
        let b = (a + rng.random_range(1..8u32)) % 8;
        let (ia, ib) = (w.enis[a as usize].ip, w.enis[b as usize].ip);
        let cport = 40_000 + rng.random_range(0..200u16);
        let sport = [22, 80, 53, 3389, 5000, 12_000][rng.random_range(0..6)];
        let reply = rng.random_bool(0.4);
        let (from, p) = match rng.random_range(0..10) {
            0..=4 => {
                let flags = [TcpFlags::SYN, TcpFlags::ACK, TcpFlags::PSH | TcpFlags::ACK]
                    [rng.random_range(0..3)];
                let len = rng.random_range(40..1500);
                if reply {
                    (b, Packet::tcp(ib, sport, ia, cport, flags, len))
                } else {
                    (a, Packet::tcp(ia, cport, ib, sport, flags, len))
                }
            }
            5..=8 => {
                let len = rng.random_range(28..1500);
                if reply {
                    (b, Packet::udp(ib, sport, ia, cport, len))
                } else {
                    (a, Packet::udp(ia, cport, ib, sport, len))
                }
            }
            _ => (a, Packet::echo_request(ia, ib, cport, sport)),
        };
        packets.push((now, Endpoint::Eni(from), p));
    }
    (w, packets)
}

#[test]
fn send_batch_is_send_in_turn() {
    for provider in [Provider::Aws, Provider::Huawei] {
        let (mut one, packets) = batch_world(provider);
        let (mut batched, _) = batch_world(provider);
        let expected: Vec<String> = packets
            .iter()
            .map(|&(now, from, p)| format!("{:?}", one.send(now, from, p)))
            .collect();
        let mut got = Vec::new();
        // Uneven batches, some shorter than the prefetch distance, some longer.
        let mut rest = &packets[..];
        let mut n = 1;
        while !rest.is_empty() {
            let (batch, more) = rest.split_at(n.min(rest.len()));
            batched.send_batch(batch, |o| got.push(format!("{o:?}")));
            rest = more;
            n = n * 3 % 97 + 1;
        }
        assert_eq!(got, expected, "{provider:?}");
        assert_eq!(batched.conntrack.len(), one.conntrack.len());
        let end = packets.last().unwrap().0 + Span::from_secs(600);
        one.advance(end);
        batched.advance(end);
        let (r1, r2) = (one.take_records(), batched.take_records());
        assert!(!r1.is_empty());
        assert_eq!(r2, r1, "{provider:?}");
    }
}

/// An interface whose security group has no rule and whose subnet's ACL has no entry: it can
/// reach nothing but the VPC's own services. On `provider`, with a flow log of the interface.
fn locked_world(provider: Provider) -> (Simulation, u32, u32) {
    let mut w = World::new(Config::new(Profile::of(provider)));
    let t0 = Time::from_secs(1_700_000_000);
    let vpc = w.create_vpc("vpc", None, net("10.0.0.0/16")).unwrap();
    let igw = w.create_internet_gateway(vpc, None).unwrap();
    let main = w.vpcs[vpc as usize].main_route_table;
    w.add_route(
        main,
        Route {
            destination: Ipv4Net::ANY,
            target: Target::InternetGateway(igw),
        },
    )
    .unwrap();
    let subnet = w
        .create_subnet("app", None, vpc, net("10.0.1.0/24"), None)
        .unwrap();
    let acl = w.create_network_acl("deny-all", None, vpc, vec![]).unwrap();
    w.associate_acl(subnet, acl).unwrap();
    let sg = w
        .create_security_group("nothing", None, vpc, vec![])
        .unwrap();
    let eni = w
        .create_eni(
            t0,
            EniSpec {
                name: "locked".into(),
                subnet,
                ip: Some("10.0.1.10".parse().unwrap()),
                eip: Some("198.51.100.7".parse().unwrap()),
                security_groups: vec![sg],
                ..Default::default()
            },
        )
        .unwrap();
    w.create_flow_log(t0, FlowLogSpec::new("fl", Scope::Eni(eni)))
        .unwrap();
    let mut sim = Simulation::new(w, t0, 1);
    sim.keep_outcomes(usize::MAX);
    (sim, vpc, eni)
}

#[test]
fn vpc_services_answer_unfiltered_and_unlogged_both_ways() {
    let (mut sim, vpc, eni) = locked_world(Provider::Aws);
    let locked = Endpoint::Eni(eni);
    let t = |s: u64| Time::from_secs(1_700_000_000 + s);
    let service = |name: &str| sim.world.service_endpoint(locked, name).unwrap();
    let (dns, metadata, ntp) = (service("dns"), service("metadata"), service("time-sync"));
    assert_eq!(
        sim.world.address(dns),
        "10.0.0.2".parse::<std::net::Ipv4Addr>().unwrap()
    );
    assert_eq!(dns, Endpoint::Service { vpc, service: 0 });
    sim.udp(t(1), locked, dns, Some(40000), 53, 1, Span::ZERO, 60, None)
        .unwrap();
    sim.tcp(t(2), http_get(locked, metadata, 180, 1200))
        .unwrap();
    sim.udp(t(3), locked, ntp, Some(123), 123, 1, Span::ZERO, 76, None)
        .unwrap();
    let records = lines(&mut sim);
    // Nothing but the interface's NODATA: neither the requests nor the answers are logged.
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0].ends_with("NODATA"), "{records:?}");
    let outcomes = sim.take_outcomes();
    // DNS query and answer, the 10 packets of the HTTP exchange, NTP request and answer.
    assert_eq!(outcomes.len(), 2 + 10 + 2);
    for o in &outcomes {
        let (to, p) = o.delivered().expect("every packet is delivered");
        assert!(o.decisions.iter().all(Option::is_none), "no filter: {o:?}");
        assert!(
            matches!(to, Endpoint::Service { .. }) || matches!(o.from, Endpoint::Service { .. })
        );
        if matches!(o.from, Endpoint::Service { .. }) {
            assert_eq!(p.dst, "10.0.1.10".parse::<std::net::Ipv4Addr>().unwrap());
        }
    }
    let answer = |i: usize| outcomes[i].packet;
    assert_eq!((answer(1).ports(), answer(1).len), ((53, 40000), 120));
    assert_eq!(answer(3).tcp_flags().0, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!((answer(13).ports(), answer(13).len), ((123, 123), 76));
    let text = crate::explain::packet(&sim.world, &outcomes[1], None).join("\n");
    assert!(
        text.contains("VPC service: never filtered or logged"),
        "{text}"
    );
}

#[test]
fn a_service_address_answers_by_address_too_and_other_ports_like_a_host() {
    let (mut sim, _, eni) = locked_world(Provider::Aws);
    let t = Time::from_secs(1_700_000_001);
    let src = sim.world.address(Endpoint::Eni(eni));
    let imds = "169.254.169.254".parse().unwrap();
    // A SYN to a port the metadata service does not listen on: RST, unfiltered and unlogged.
    sim.send_at(
        t,
        Endpoint::Eni(eni),
        Packet::tcp(src, 40000, imds, 443, TcpFlags::SYN, 60),
    );
    let records = lines(&mut sim);
    assert!(records.iter().all(|r| r.ends_with("NODATA")), "{records:?}");
    let outcomes = sim.take_outcomes();
    assert_eq!(outcomes.len(), 2);
    assert!(matches!(
        outcomes[0].fate,
        Fate::Delivered {
            to: Endpoint::Service { .. },
            ..
        }
    ));
    assert_eq!(
        outcomes[1].packet.tcp_flags().0,
        TcpFlags::RST | TcpFlags::ACK
    );
    assert!(outcomes[1].delivered().is_some());
}

#[test]
fn a_packet_from_an_excluded_address_is_neither_filtered_nor_logged() {
    // A host on the internet at the metadata address (as a test harness might inject a
    // "reply" from it): what it sends to the interface's elastic IP passes the locked group
    // and ACL unlogged, as AWS excludes traffic "to and from" 169.254.169.254.
    let (mut sim, _, eni) = locked_world(Provider::Aws);
    let imds = "169.254.169.254".parse().unwrap();
    let x = sim
        .world
        .create_external_host("imds", imds, Host::default())
        .unwrap();
    let eip = "198.51.100.7".parse().unwrap();
    let at = Time::from_secs(1_700_000_001);
    sim.send_at(
        at,
        Endpoint::External(x),
        Packet::tcp(imds, 80, eip, 40000, TcpFlags::SYN | TcpFlags::ACK, 60),
    );
    let records = lines(&mut sim);
    assert!(records.iter().all(|r| r.ends_with("NODATA")), "{records:?}");
    let o = sim.take_outcomes()[0];
    assert_eq!(o.delivered().map(|(to, _)| to), Some(Endpoint::Eni(eni)));
    let text = crate::explain::packet(&sim.world, &o, None).join("\n");
    assert!(text.contains("never filters or logs"), "{text}");
}

#[test]
fn huawei_metadata_answers_and_tencent_has_no_services() {
    let (mut sim, _, eni) = locked_world(Provider::Huawei);
    let locked = Endpoint::Eni(eni);
    assert!(sim.world.service_endpoint(locked, "dns").is_none());
    let metadata = sim.world.service_endpoint(locked, "metadata").unwrap();
    sim.tcp(
        Time::from_secs(1_700_000_001),
        http_get(locked, metadata, 100, 900),
    )
    .unwrap();
    sim.run_to_end().unwrap();
    let outcomes = sim.take_outcomes();
    assert_eq!(outcomes.len(), 10);
    assert!(outcomes.iter().all(|o| o.delivered().is_some()));
    assert!(sim.world.take_records().iter().all(|r| r.flow.is_none()));
    let (tencent, _, eni) = locked_world(Provider::Tencent);
    assert!(
        tencent
            .world
            .service_endpoint(Endpoint::Eni(eni), "metadata")
            .is_none()
    );
}

/// Secondary IPs are the interface's addresses: found by address, skipped when its primary is
/// picked, released with it; and the elastic IP maps the primary only, so a packet from a
/// secondary IP finds no public address at the internet gateway.
#[test]
fn secondary_ips_are_held_released_and_not_translated() {
    let (mut sim, eni) = ping_world(Provider::Aws);
    let t = Time::from_secs(1432917001);
    let w = &mut sim.world;
    let subnet = w.enis[eni as usize].subnet;
    let secondary: std::net::Ipv4Addr = "172.31.16.4".parse().unwrap();
    let multi = w
        .create_eni(
            t,
            EniSpec {
                name: "multi".into(),
                subnet,
                secondary_ips: vec![secondary],
                ..Default::default()
            },
        )
        .unwrap();
    // 172.31.16.4 is the first address aws leaves free: taken, so the primary is the next.
    assert_eq!(w.enis[multi as usize].ip.to_string(), "172.31.16.5");
    assert_eq!(
        w.resolve(Endpoint::Eni(eni), secondary),
        Some(Endpoint::Eni(multi))
    );
    w.delete_eni(multi, t).unwrap();
    assert_eq!(w.resolve(Endpoint::Eni(eni), secondary), None);

    // The instance (elastic IP 198.51.100.7 on 172.31.16.139) with a secondary IP: only its
    // primary reaches the internet.
    let (mut sim, _) = ping_world(Provider::Aws);
    let w = &mut sim.world;
    // The subnet's ACL lets everything out, so only the gateway can stop the packets.
    let acl = w.subnets[subnet as usize].acl.unwrap();
    w.set_acl_entries(
        acl,
        vec![
            acl::Entry::allow_all(100, Direction::Ingress),
            acl::Entry::allow_all(100, Direction::Egress),
        ],
    )
    .unwrap();
    let other = w
        .create_eni(
            t,
            EniSpec {
                name: "other".into(),
                subnet,
                ip: Some("172.31.16.140".parse().unwrap()),
                secondary_ips: vec!["172.31.16.141".parse().unwrap()],
                eip: Some("198.51.100.8".parse().unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
    let home = "203.0.113.12".parse().unwrap();
    let from_secondary = Packet::echo_request("172.31.16.141".parse().unwrap(), home, 1, 0);
    let out = w.send(t, Endpoint::Eni(other), from_secondary);
    assert!(
        matches!(out.fate, Fate::Dropped(Drop::NoPublicIp)),
        "{:?}",
        out.fate
    );
    let from_primary = Packet::echo_request("172.31.16.140".parse().unwrap(), home, 1, 0);
    let out = w.send(t, Endpoint::Eni(other), from_primary);
    assert!(out.delivered().is_some(), "{:?}", out.fate);
}

/// A rule naming a group covers its members' secondary private IPs too: traffic is allowed
/// "based on the private IP addresses of the instances" in the group (policy.md §1.1).
#[test]
fn a_group_rule_covers_its_members_secondary_ips() {
    let mut w = World::new(Config::new(Profile::of(Provider::Aws)));
    let t = Time::from_secs(1_700_000_000);
    let vpc = w.create_vpc("vpc", None, net("10.0.0.0/16")).unwrap();
    let subnet = w
        .create_subnet("a", None, vpc, net("10.0.1.0/24"), None)
        .unwrap();
    let clients = egress_only(&mut w, "clients", vpc);
    let servers = w
        .create_security_group(
            "servers",
            None,
            vpc,
            vec![sg::Rule {
                remote: Remote::Group(clients),
                ..sg::Rule::allow_all(Direction::Ingress)
            }],
        )
        .unwrap();
    let eni = |w: &mut World, name: &str, ip: &str, secondary: &[&str], g: u32| {
        let spec = EniSpec {
            name: name.into(),
            subnet,
            ip: Some(ip.parse().unwrap()),
            secondary_ips: secondary.iter().map(|a| a.parse().unwrap()).collect(),
            security_groups: vec![g],
            ..Default::default()
        };
        w.create_eni(t, spec).unwrap()
    };
    let client = eni(&mut w, "client", "10.0.1.10", &["10.0.1.11"], clients);
    eni(&mut w, "server", "10.0.1.20", &[], servers);
    let stranger = eni(&mut w, "stranger", "10.0.1.30", &[], clients);
    let syn = |src: &str, sport| {
        let dst = "10.0.1.20".parse().unwrap();
        Packet::tcp(src.parse().unwrap(), sport, dst, 443, TcpFlags::SYN, 60)
    };
    let out = w.send(t, Endpoint::Eni(client), syn("10.0.1.11", 40000));
    assert!(out.delivered().is_some(), "{:?}", out.fate);
    // An address no member holds is not covered (the stranger spoofs one).
    let out = w.send(t, Endpoint::Eni(stranger), syn("10.0.1.12", 40001));
    assert!(out.delivered().is_none(), "{:?}", out.fate);
}

/// An interface's timeouts changed after creation (aws ModifyNetworkInterfaceAttribute): a
/// tracked UDP flow's next packet takes the new timeout, so a reply 50 s after it is let in
/// by the connection with `udp: 60` and refused by the default 30 s.
#[test]
fn changed_timeouts_apply_from_the_next_packet() {
    let reply_after_50s = |udp: Option<u32>| {
        let mut w = World::new(Config::new(Profile::of(Provider::Aws)));
        let t0 = Time::from_secs(1_700_000_000);
        let (vpc, subnet) = internet_vpc(&mut w, "10.0.0.0/16", "10.0.1.0/24");
        let sg = egress_only(&mut w, "out-only", vpc);
        let eip: std::net::Ipv4Addr = "198.51.100.7".parse().unwrap();
        let eni = w
            .create_eni(
                t0,
                EniSpec {
                    name: "app".into(),
                    subnet,
                    ip: Some("10.0.1.10".parse().unwrap()),
                    eip: Some(eip),
                    security_groups: vec![sg],
                    ..Default::default()
                },
            )
            .unwrap();
        let far: std::net::Ipv4Addr = "203.0.113.12".parse().unwrap();
        let home = w
            .create_external_host("home", far, Host::default())
            .unwrap();
        let ip = w.enis[eni as usize].ip;
        let out = Packet::udp(ip, 40000, far, 514, 60);
        w.send(t0, Endpoint::Eni(eni), out);
        if udp.is_some() {
            let tracking = ConnectionTracking {
                udp,
                ..Default::default()
            };
            w.set_eni_connection_tracking(eni, tracking).unwrap();
        }
        let t1 = t0 + Span::from_secs(1);
        w.send(t1, Endpoint::Eni(eni), out);
        let back = Packet::udp(far, 514, eip, 40000, 60);
        w.send(t1 + Span::from_secs(50), Endpoint::External(home), back)
            .fate
    };
    assert!(matches!(
        reply_after_50s(Some(60)),
        Fate::Delivered {
            to: Endpoint::Eni(_),
            ..
        }
    ));
    assert!(matches!(
        reply_after_50s(None),
        Fate::Dropped(Drop::Policy(_))
    ));
}

/// Secondary IPs changed after creation (AWS Assign/UnassignPrivateIpAddresses): a new one
/// reaches the interface, one given up is free at once (nothing answers there; another
/// interface may take it), one the interface keeps stays valid, and the primary, another
/// interface's address or a reserved one is refused naming its place in the list.
#[test]
fn secondary_ips_change_after_creation() {
    let (mut sim, eni) = ping_world(Provider::Aws);
    let t = Time::from_secs(1432917001);
    let w = &mut sim.world;
    let subnet = w.enis[eni as usize].subnet;
    let ip = |s: &str| -> std::net::Ipv4Addr { s.parse().unwrap() };
    let other = w
        .create_eni(
            t,
            EniSpec {
                name: "other".into(),
                subnet,
                ip: Some(ip("172.31.16.50")),
                ..Default::default()
            },
        )
        .unwrap();
    w.set_eni_secondary_ips(eni, vec![ip("172.31.16.20"), ip("172.31.16.21")])
        .unwrap();
    assert_eq!(
        w.resolve(Endpoint::Eni(other), ip("172.31.16.21")),
        Some(Endpoint::Eni(eni))
    );
    // Keeps .21 (its own), gives up .20.
    w.set_eni_secondary_ips(eni, vec![ip("172.31.16.21")])
        .unwrap();
    assert_eq!(w.resolve(Endpoint::Eni(other), ip("172.31.16.20")), None);
    w.set_eni_secondary_ips(other, vec![ip("172.31.16.20")])
        .unwrap();
    for (ips, field, message) in [
        (
            vec![ip("172.31.16.21"), ip("172.31.16.139")],
            "secondary_private_ips[1]",
            "172.31.16.139 is the interface's primary address",
        ),
        (
            vec![ip("172.31.16.20")],
            "secondary_private_ips[0]",
            "172.31.16.20 is already used by another ENI",
        ),
        (
            vec![ip("172.31.16.1")],
            "secondary_private_ips[0]",
            "172.31.16.1 is reserved in subnet 172.31.16.0/20: aws keeps the first 4 and the \
             last 1 addresses of every subnet (in 10.0.0.0/24: 10.0.0.0 to 10.0.0.3 and \
             10.0.0.255)",
        ),
    ] {
        let e = w.set_eni_secondary_ips(eni, ips).unwrap_err();
        assert_eq!((e.field.as_str(), e.message.as_str()), (field, message));
        assert_eq!(w.enis[eni as usize].secondary_ips, vec![ip("172.31.16.21")]);
    }
}
