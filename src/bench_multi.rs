//! `vpclab bench`'s multi-VPC workload (issue 4): traffic that leaves its VPC, through an
//! enterprise router (transit gateway) to another VPC, or through a NAT gateway to the
//! internet.
//!
//! The world (aws profile): [`VPCS`] VPCs, 10.0.0.0/16 … 10.3.0.0/16, each with [`SUBNETS`]
//! subnets of [`ENIS_PER_SUBNET`] ENIs, network ACLs and security groups generated like the
//! single-VPC workload's (the same fillers, fewer of them: [`RULES_PER_VPC`] in each VPC), and
//! a /28 subnet for its attachment's interface. One router, one route table: every attachment
//! is associated with it and propagates its VPC's block; every VPC's main table sends
//! 10.0.0.0/8 to the router. VPC 0's main table also sends 0.0.0.0/0 to a NAT gateway in a
//! public subnet, whose table sends 0.0.0.0/0 to the VPC's internet gateway; behind it,
//! [`EXTERNAL_HOSTS`] hosts on the internet. A flow log (60 s) on every VPC.
//!
//! Flows: [`NAT_PERCENT`] % from ENIs of VPC 0 to the internet hosts, the rest between ENIs
//! of two different VPCs; a quarter UDP, the rest TCP, to the single-VPC workload's services.
//! A packet between VPCs goes through the sender's SG and ACL, the route to the router, the
//! sender VPC's attachment interface (its subnet's ACL, a record), the router's table, the
//! receiver VPC's attachment interface (ACL, a record), then the receiver's ACL and SG. A
//! packet to the internet goes through the sender's SG and ACL, the NAT gateway's interface
//! in (record), the translation, its interface out (record), the internet gateway's
//! elastic-IP mapping, and the reverse for the reply. Every flow is opened once through
//! [`World::send`] before the run, and its reply is built from the request as delivered: what
//! the receiver would answer (after NAT: to the elastic IP and the NAT port).
//!
//! The timed run is [`bench::drive`]'s, as for the single-VPC workload. Every outcome is
//! checked there: delivered, to the endpoint the packet was meant for, through the router or
//! the NAT gateway as its flow says; a failure, or a SKIPDATA record, panics after the run.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vpclab_sim::addr::Ipv4Net;
use vpclab_sim::flowlog::{Filter, Scope};
use vpclab_sim::host::Host;
use vpclab_sim::packet::{L4, Packet, TcpFlags, size};
use vpclab_sim::profile::Profile;
use vpclab_sim::time::{Span, Time};
use vpclab_sim::world::{
    AttachmentInterface, Config, Endpoint, EniSpec, Fate, FlowLogSpec, ModelError, NatGatewaySpec,
    Outcome, Route, Target, World,
};

use crate::alloc_count;
use crate::bench::{
    self, Options, PROVIDER, T0, TCP_SERVICES, UDP_SERVICES, WINDOW, acl_entries, net, sg_rules,
    shares,
};

/// Concurrent connections unless `--multi-flows` says otherwise.
pub(crate) const DEFAULT_FLOWS: usize = 20_000;
const VPCS: u8 = 4;
/// Workload subnets per VPC (/20 each), besides the attachment's (and VPC 0's public one).
const SUBNETS: u8 = 4;
const ENIS_PER_SUBNET: u32 = 16;
/// Security-group rules plus ACL entries in each VPC: half in [`ACLS`] ACLs, half in
/// [`GROUPS`] groups.
const RULES_PER_VPC: usize = 120;
const ACLS: usize = 2;
const GROUPS: usize = 4;
/// The share of flows to the internet through the NAT gateway.
const NAT_PERCENT: u32 = 20;
const UDP_PERCENT: u32 = 25;
const EXTERNAL_HOSTS: u8 = 64;
/// The NAT gateway's elastic IP. It and the external hosts (9.0.0.0/24) are below 11.0.0.0,
/// where the ACLs' filler entries (internet CIDRs from 11.0.0.0 up) never reach: none of them
/// changes a verdict on the NAT flows.
const EIP: Ipv4Addr = Ipv4Addr::new(3, 0, 0, 10);

fn external_ip(k: u8) -> Ipv4Addr {
    Ipv4Addr::new(9, 0, 0, k + 1)
}

/// Builds the multi-VPC world, opens its flows, measures `opts.packets` packets through it,
/// prints what it did, and returns its packets per second. Panics if any packet did not
/// arrive where and how it should have.
pub(crate) fn run(opts: &Options) -> Result<u64, String> {
    let setup = Instant::now();
    let mut m = Multi::build(opts.seed, opts.multi_flows).map_err(|e| e.to_string())?;
    let setup_seconds = setup.elapsed().as_secs_f64();

    let mut tally = Tally::default();
    let expect = &m.expect[..];
    let mut k = 0;
    let run = bench::drive(&mut m.world, &m.steady, opts.packets, m.now, |out| {
        tally.see(k, &out, expect[k]);
        k += 1;
        if k == expect.len() {
            k = 0;
        }
    });
    let pps = (opts.packets as f64 / run.seconds) as u64;
    crate::output::say!(
        "bench multi-vpc: provider={PROVIDER} vpcs={VPCS} enis={} (subnets={} enis_per_subnet={ENIS_PER_SUBNET}) \
         router_attachments={VPCS} nat_gateways=1 external_hosts={EXTERNAL_HOSTS} flows={} \
         (router={} nat={}) rules={} (acl_entries={} sg_rules={}) window={WINDOW} packets={} \
         seed={} threads=1",
        m.enis,
        u32::from(VPCS) * u32::from(SUBNETS),
        opts.multi_flows,
        opts.multi_flows - m.nat_flows,
        m.nat_flows,
        m.acl_entries + m.sg_rules,
        m.acl_entries,
        m.sg_rules,
        opts.packets,
        opts.seed,
    );
    crate::output::say!(
        "run: multi_vpc packets={} seconds={:.3} pps={pps} delivered={} via_router={} via_nat={} \
         records={} rendered_bytes={} setup_seconds={setup_seconds:.2} bytes_per_flow={}",
        opts.packets,
        run.seconds,
        tally.delivered,
        tally.via_router,
        tally.via_nat,
        run.records,
        run.rendered_bytes,
        m.bytes_per_flow,
    );
    if let Some((i, out)) = tally.first_wrong {
        let (to, via_nat) = m.expect[i];
        panic!(
            "multi-VPC bench: {} of {} packets did not arrive where they should have; the first, \
             {} from {}, should have reached {} through the {}, but: fate {:?}, router {:?}, \
             NAT {:?}",
            opts.packets - tally.delivered,
            opts.packets,
            out.packet.summary(),
            m.world.endpoint_name(out.from),
            m.world.endpoint_name(to),
            if via_nat { "NAT gateway" } else { "router" },
            out.fate,
            out.router,
            out.nat,
        );
    }
    if run.skipped > 0 {
        panic!(
            "multi-VPC bench: {} SKIPDATA records: the flow logs' capacity is too small",
            run.skipped
        );
    }
    if run.records == 0 {
        crate::output::say!(
            "note: no capture window closed during the multi-VPC run (too few packets for its \
             flows): no records were rendered"
        );
    }
    Ok(pps)
}

/// The outcomes of the measured run.
#[derive(Default)]
struct Tally {
    delivered: u64,
    via_router: u64,
    via_nat: u64,
    /// The first packet that went wrong: its index in the cycle, and what became of it.
    first_wrong: Option<(usize, Outcome)>,
}

impl Tally {
    #[inline]
    fn see(&mut self, k: usize, out: &Outcome, (to, via_nat): (Endpoint, bool)) {
        if went_right(out, to, via_nat) {
            self.delivered += 1;
            if via_nat {
                self.via_nat += 1;
            } else {
                self.via_router += 1;
            }
        } else if self.first_wrong.is_none() {
            self.first_wrong = Some((k, *out));
        }
    }
}

/// Delivered to `to`, through the NAT gateway if `via_nat`, else through the router.
fn went_right(out: &Outcome, to: Endpoint, via_nat: bool) -> bool {
    matches!(out.fate, Fate::Delivered { to: got, .. } if got == to)
        && out.nat.is_some() == via_nat
        && out.router.is_some() != via_nat
}

/// What the receiver of `got` sends back: addresses and ports swapped, so after NAT it goes to
/// the elastic IP and the NAT port.
fn answer(got: &Packet, flags: u8, len: u16) -> Packet {
    match got.l4 {
        L4::Tcp { sport, dport, .. } => Packet::tcp(got.dst, dport, got.src, sport, flags, len),
        L4::Udp { sport, dport } => Packet::udp(got.dst, dport, got.src, sport, len),
        _ => unreachable!("the workload sends TCP and UDP only"),
    }
}

/// A generated world with its flows open, and the packets to send through it.
struct Multi {
    world: World,
    /// Two packets per flow, request then reply, cycled over by the measured run.
    steady: Vec<(Endpoint, Packet)>,
    /// For each packet of `steady`: where it must arrive, and whether through the NAT gateway
    /// (else through the router).
    expect: Vec<(Endpoint, bool)>,
    /// When the flows were open: the measured run starts here.
    now: Time,
    nat_flows: usize,
    /// ENIs of the workload (not the NAT gateway's and attachments' interfaces).
    enis: usize,
    acl_entries: usize,
    sg_rules: usize,
    /// Heap bytes the world gained from opening the flows, per flow.
    bytes_per_flow: u64,
}

impl Multi {
    fn build(seed: u64, flows: usize) -> Result<Multi, ModelError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut world = World::new(Config {
            seed,
            truth: vpclab_sim::flowlog::TruthLevel::Counters,
            capture_packets: false,
            ..Config::new(Profile::of(PROVIDER))
        });
        let router = world.create_enterprise_router("bench-tgw", None, None)?;
        let table = world.create_router_route_table(router, "bench-tgw-rt", None)?;
        let cloud = net([10, 0, 0, 0], 8);
        let mut vpcs = Vec::new();
        // Per VPC, its workload ENIs.
        let mut enis: Vec<Vec<u32>> = Vec::new();
        let (mut acl_total, mut sg_total) = (0, 0);
        for v in 0..VPCS {
            let vpc = world.create_vpc(&format!("vpc-{v}"), None, net([10, v, 0, 0], 16))?;
            vpcs.push(vpc);
            let subnets: Vec<u32> = (0..SUBNETS)
                .map(|i| {
                    let cidr = net([10, v, 16 * i, 0], 20);
                    world.create_subnet(&format!("subnet-{i}"), None, vpc, cidr, None)
                })
                .collect::<Result<_, _>>()?;
            // The attachment's interface has a subnet of its own, under the default ACL.
            let tgw = world.create_subnet("tgw", None, vpc, net([10, v, 255, 240], 28), None)?;
            let interfaces = vec![AttachmentInterface {
                subnet: tgw,
                ..Default::default()
            }];
            let name = format!("vpc-{v}");
            let att = world.attach_vpc(T0, router, &name, None, vpc, interfaces)?;
            world.associate_router_table(att, table, true)?;
            let main = world.vpcs[vpc as usize].main_route_table;
            world.add_route(
                main,
                Route {
                    destination: cloud,
                    target: Target::Router(att),
                },
            )?;

            // VPC 0's ACLs let the internet in and out (for the NAT flows), the others the
            // cloud's VPCs; every group lets the cloud's VPCs in.
            let acl_peers = if v == 0 { Ipv4Net::ANY } else { cloud };
            let mut acls = Vec::new();
            for (i, n) in shares(RULES_PER_VPC / 2, ACLS).into_iter().enumerate() {
                let entries = acl_entries(&mut rng, n, acl_peers);
                acl_total += entries.len();
                acls.push(world.create_network_acl(&format!("acl-{i}"), None, vpc, entries)?);
            }
            // Groups are filled once their ENIs exist (one recompilation each).
            let mut groups = Vec::new();
            for i in 0..GROUPS {
                groups.push(world.create_security_group(
                    &format!("sg-{i}"),
                    None,
                    vpc,
                    Vec::new(),
                )?);
            }
            let mut mine = Vec::new();
            for (i, &s) in subnets.iter().enumerate() {
                world.associate_acl(s, acls[i % ACLS])?;
                for k in 0..ENIS_PER_SUBNET as usize {
                    let n = i * ENIS_PER_SUBNET as usize + k;
                    // Every fourth ENI in two groups.
                    let security_groups = if n.is_multiple_of(4) {
                        vec![groups[n % GROUPS], groups[(n + 1) % GROUPS]]
                    } else {
                        vec![groups[n % GROUPS]]
                    };
                    let spec = EniSpec {
                        name: format!("eni-{v}-{n}"),
                        subnet: s,
                        security_groups,
                        ..Default::default()
                    };
                    mine.push(world.create_eni(T0, spec)?);
                }
            }
            for (&g, n) in groups
                .iter()
                .zip(shares(RULES_PER_VPC - RULES_PER_VPC / 2, GROUPS))
            {
                let rules = sg_rules(&mut rng, n, cloud);
                sg_total += rules.len();
                world.set_security_group_rules(T0, g, rules)?;
            }
            enis.push(mine);

            if v == 0 {
                let igw = world.create_internet_gateway(vpc, None)?;
                let public =
                    world.create_subnet("public", None, vpc, net([10, 0, 254, 0], 24), None)?;
                let to_igw = Route {
                    destination: Ipv4Net::ANY,
                    target: Target::InternetGateway(igw),
                };
                let rt = world.create_route_table("public", None, vpc, vec![to_igw])?;
                world.associate_route_table(public, rt)?;
                let spec = NatGatewaySpec {
                    name: "nat".into(),
                    subnet: public,
                    eip: Some(EIP),
                    ..Default::default()
                };
                let nat = world.create_nat_gateway(T0, spec)?;
                world.add_route(
                    main,
                    Route {
                        destination: Ipv4Net::ANY,
                        target: Target::NatGateway(nat),
                    },
                )?;
            }
        }
        let externals: Vec<(Endpoint, Ipv4Addr)> = (0..EXTERNAL_HOSTS)
            .map(|k| {
                let ip = external_ip(k);
                let x = world.create_external_host(&format!("internet-{k}"), ip, Host::default());
                x.map(|x| (Endpoint::External(x), ip))
            })
            .collect::<Result<_, _>>()?;
        // Every flow leaves 8 records a window (4 capture points, 2 directions) or 6 (NAT).
        let capacity = 8 * flows + world.enis.len() + 16;
        for (v, &vpc) in vpcs.iter().enumerate() {
            world.create_flow_log(
                T0,
                FlowLogSpec {
                    name: format!("vpc-{v}"),
                    id: None,
                    scope: Scope::Vpc(vpc),
                    filter: Filter::All,
                    window: Some(WINDOW),
                    capacity: Some(capacity),
                    description: String::new(),
                    tags: Default::default(),
                    log_stream: None,
                },
            )?;
        }

        let mut seen = HashSet::with_capacity(flows);
        let mut steady = Vec::with_capacity(2 * flows);
        let mut expect = Vec::with_capacity(2 * flows);
        let before = alloc_count::live_bytes();
        world.reserve_flows(flows);
        let mut now = T0;
        let mut nat_flows = 0;
        while steady.len() < 2 * flows {
            let via_nat = rng.random_range(0..100) < NAT_PERCENT;
            let from_vpc = if via_nat {
                0
            } else {
                rng.random_range(0..VPCS as usize)
            };
            let a = enis[from_vpc][rng.random_range(0..enis[from_vpc].len())];
            let (server, server_ip) = if via_nat {
                externals[rng.random_range(0..externals.len())]
            } else {
                let mut to_vpc = rng.random_range(0..VPCS as usize - 1);
                if to_vpc >= from_vpc {
                    to_vpc += 1;
                }
                let b = enis[to_vpc][rng.random_range(0..enis[to_vpc].len())];
                (Endpoint::Eni(b), world.enis[b as usize].ip)
            };
            let (client, ia) = (Endpoint::Eni(a), world.enis[a as usize].ip);
            let cport: u16 = rng.random_range(32_768..=60_999);
            let udp = rng.random_range(0..100) < UDP_PERCENT;
            let sport = if udp {
                UDP_SERVICES[rng.random_range(0..UDP_SERVICES.len())]
            } else {
                TCP_SERVICES[rng.random_range(0..TCP_SERVICES.len())]
            };
            if !seen.insert((client, server, cport, sport, udp)) {
                continue;
            }
            let req_len = rng.random_range(40..=1400u16);
            let rep_len = rng.random_range(0..=1400u16);
            let mut open = |from, p, to| {
                now = now + Span::from_micros(1);
                let out = world.send(now, from, p);
                match out.fate {
                    Fate::Delivered { packet, .. } if went_right(&out, to, via_nat) => packet,
                    _ => panic!(
                        "multi-VPC bench: opening packet {} from {} did not reach {} through \
                         the {}: fate {:?}, router {:?}, NAT {:?}",
                        p.summary(),
                        world.endpoint_name(from),
                        world.endpoint_name(to),
                        if via_nat { "NAT gateway" } else { "router" },
                        out.fate,
                        out.router,
                        out.nat,
                    ),
                }
            };
            let (request, reply) = if udp {
                let req = Packet::udp(ia, cport, server_ip, sport, size::UDP_REQUEST);
                let got = open(client, req, server);
                open(server, answer(&got, 0, size::UDP_RESPONSE), client);
                (
                    Packet::udp(ia, cport, server_ip, sport, 28 + req_len),
                    answer(&got, 0, 28 + rep_len),
                )
            } else {
                let (syn, ack, psh) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::PSH);
                let req = Packet::tcp(ia, cport, server_ip, sport, syn, size::TCP_SYN);
                let got = open(client, req, server);
                open(server, answer(&got, syn | ack, size::TCP_SYN), client);
                let req = Packet::tcp(ia, cport, server_ip, sport, ack, size::TCP_ACK);
                open(client, req, server);
                let rep_flags = if rep_len == 0 { ack } else { psh | ack };
                let len = size::TCP_HEADER + req_len;
                (
                    Packet::tcp(ia, cport, server_ip, sport, psh | ack, len),
                    answer(&got, rep_flags, size::TCP_HEADER + rep_len),
                )
            };
            steady.extend([(client, request), (server, reply)]);
            expect.extend([(server, via_nat), (client, via_nat)]);
            nat_flows += usize::from(via_nat);
        }
        let after = alloc_count::live_bytes();
        Ok(Multi {
            enis: enis.iter().map(Vec::len).sum(),
            world,
            steady,
            expect,
            now,
            nat_flows,
            acl_entries: acl_total,
            sg_rules: sg_total,
            bytes_per_flow: (after.saturating_sub(before) / flows.max(1)) as u64,
        })
    }
}
