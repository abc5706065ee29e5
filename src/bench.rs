//! `vpclab bench`: the throughput benchmark of issue 2.
//!
//! It builds one deterministic world (aws profile: allow-only security groups, stateless
//! numbered ACLs with deny entries) from a seed, opens `flows` TCP/UDP connections between ENIs
//! of different subnets, and then drives [`World::send`] with pre-generated packets, request and
//! reply alternating, so every packet goes through SG (conntrack) + ACL egress + route + ACL
//! ingress + SG (conntrack) + flow-log aggregation at both ends. Virtual time advances with
//! every packet so that a 60 s capture window closes during the measured run; every record the
//! world produces is rendered in the provider's format inside the timed section.
//!
//! The last two lines of the report are `packets_per_second=N` and `bytes_per_active_flow=N`.
//! This is the one place in vpclab that reads a clock (`Instant`); the simulator never does.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vpclab_sim::Direction;
use vpclab_sim::addr::Ipv4Net;
use vpclab_sim::flowlog::format::render;
use vpclab_sim::flowlog::{Filter, LogStatus, Scope};
use vpclab_sim::packet::{Packet, TcpFlags, size};
use vpclab_sim::policy::{PortRange, ProtoMatch, RuleAction, acl, sg};
use vpclab_sim::profile::{Profile, Provider};
use vpclab_sim::time::{Span, Time};
use vpclab_sim::world::{Config, Endpoint, EniSpec, Fate, FlowLogSpec, Outcome, World};

use crate::{alloc_count, bench_multi};

/// What to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Concurrent connections (each one a request direction and a reply direction).
    pub flows: usize,
    /// Security-group rules plus ACL entries in the world, in total.
    pub rules: usize,
    /// Packets in the measured run.
    pub packets: u64,
    pub seed: u64,
    /// Also measure with 10 and with 10,000 rules and print their ratio.
    pub compare_rules: bool,
    /// Concurrent connections of the multi-VPC workload (0: skip it).
    pub multi_flows: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flows: 100_000,
            rules: 1_000,
            // About 1-2 s at the target rate of 5 M packets/s.
            packets: 8_000_000,
            seed: 1,
            compare_rules: true,
            multi_flows: bench_multi::DEFAULT_FLOWS,
        }
    }
}

/// The provider profile the benchmark world uses.
pub(crate) const PROVIDER: Provider = Provider::Aws;
/// The capture window (aws allows 60 s and 600 s).
pub(crate) const WINDOW: Span = Span::from_secs(60);
/// When the world starts: 2023-11-14 22:13:20 UTC.
pub(crate) const T0: Time = Time::from_secs(1_700_000_000);
const SUBNETS: u32 = 8;
const ENIS_PER_SUBNET: u32 = 32;
/// Services the flows go to. All below 10000, which the groups' own rules open.
pub(crate) const TCP_SERVICES: [u16; 10] = [22, 80, 443, 3306, 5432, 6379, 8080, 8443, 9092, 9200];
pub(crate) const UDP_SERVICES: [u16; 6] = [53, 123, 514, 1812, 5353, 8125];
/// The port every ACL denies inbound (ACL rule 100): the share of flows using it is rejected.
const BLOCKED_TCP_PORT: u16 = 3389;
/// Packets handed to `World::send_batch` at a time.
const BATCH: usize = 64;

/// One measured run.
struct Measured {
    rules: usize,
    acl_entries: usize,
    sg_rules: usize,
    acls: usize,
    groups: usize,
    enis: usize,
    packets: u64,
    seconds: f64,
    delivered: u64,
    dropped: u64,
    records: u64,
    rendered_bytes: u64,
    setup_seconds: f64,
    /// Heap bytes the world gained from setting up and warming the flows, per flow.
    bytes_per_flow: u64,
}

impl Measured {
    fn pps(&self) -> u64 {
        (self.packets as f64 / self.seconds) as u64
    }
}

pub fn run(opts: &Options) -> Result<(), String> {
    if opts.flows == 0 {
        return Err("--flows must be at least 1".into());
    }
    if opts.packets == 0 {
        return Err("--packets must be at least 1".into());
    }
    if opts.rules < 6 {
        return Err("--rules must be at least 6 (each ACL and group needs 3)".into());
    }
    let main = measure(opts, opts.rules)?;
    crate::output::say!(
        "bench: provider={PROVIDER} flows={} rules={} (acl_entries={} in {} ACLs, sg_rules={} in {} groups) \
         subnets={SUBNETS} enis={} window={WINDOW} packets={} seed={} threads=1 build={}",
        opts.flows,
        main.rules,
        main.acl_entries,
        main.acls,
        main.sg_rules,
        main.groups,
        main.enis,
        main.packets,
        opts.seed,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    report(&main);
    crate::output::say!("packets_per_second={}", main.pps());
    if opts.compare_rules {
        let few = measure(opts, 10)?;
        report(&few);
        let many = measure(opts, 10_000)?;
        report(&many);
        crate::output::say!("pps_rules_10={}", few.pps());
        crate::output::say!("pps_rules_10000={}", many.pps());
        crate::output::say!("ratio={:.3}", many.pps() as f64 / few.pps() as f64);
    }
    let multi = if opts.multi_flows > 0 {
        Some(bench_multi::run(opts)?)
    } else {
        None
    };
    if alloc_count::live_bytes() == 0 {
        crate::output::say!(
            "note: the counting allocator is not installed; bytes_per_active_flow is 0"
        );
    }
    if let Some(pps) = multi {
        crate::output::say!("multi_vpc_packets_per_second={pps}");
    }
    crate::output::say!("packets_per_second={}", main.pps());
    crate::output::say!("bytes_per_active_flow={}", main.bytes_per_flow);
    Ok(())
}

fn report(m: &Measured) {
    let total = (m.delivered + m.dropped).max(1);
    crate::output::say!(
        "run: rules={} packets={} seconds={:.3} pps={} delivered={} rejected={} ({:.2}%) \
         records={} rendered_bytes={} setup_seconds={:.2}",
        m.rules,
        m.packets,
        m.seconds,
        m.pps(),
        m.delivered,
        m.dropped,
        100.0 * m.dropped as f64 / total as f64,
        m.records,
        m.rendered_bytes,
        m.setup_seconds,
    );
}

/// Builds the world for `rules`, warms it, and measures `opts.packets` packets.
fn measure(opts: &Options, rules: usize) -> Result<Measured, String> {
    let setup = Instant::now();
    let mut w = Workload::build(opts.seed, opts.flows, rules).map_err(|e| e.to_string())?;

    // Memory: what the world gains from the flows (tables pre-sized, connections opened,
    // aggregation entries created), excluding the pre-generated packets.
    let before = alloc_count::live_bytes();
    w.world.reserve_flows(opts.flows);
    let mut now = T0;
    for &(from, p) in &w.warm {
        now = now + Span::from_micros(1);
        w.world.send(now, from, p);
    }
    for &(from, p) in &w.steady {
        now = now + Span::from_micros(1);
        w.world.send(now, from, p);
    }
    let after = alloc_count::live_bytes();
    let bytes_per_flow = (after.saturating_sub(before) / opts.flows) as u64;
    let setup_seconds = setup.elapsed().as_secs_f64();

    let (mut delivered, mut dropped) = (0u64, 0u64);
    let run = drive(&mut w.world, &w.steady, opts.packets, now, |out| {
        if matches!(out.fate, Fate::Delivered { .. }) {
            delivered += 1;
        } else {
            dropped += 1;
        }
    });
    Ok(Measured {
        rules,
        acl_entries: w.acl_entries,
        sg_rules: w.sg_rules,
        acls: w.acls,
        groups: w.groups,
        enis: w.world.enis.len(),
        packets: opts.packets,
        seconds: run.seconds,
        delivered,
        dropped,
        records: run.records,
        rendered_bytes: run.rendered_bytes,
        setup_seconds,
        bytes_per_flow,
    })
}

/// What the timed section did besides sending.
pub(crate) struct Driven {
    pub seconds: f64,
    /// Records rendered, and their bytes (one newline each included).
    pub records: u64,
    pub rendered_bytes: u64,
    /// Records saying SKIPDATA: a flow log's capacity was too small for a window.
    pub skipped: u64,
}

/// The timed section of a run: `packets` packets from `steady`, cycled over from its start,
/// one after the other from `now` on, handed to [`World::send_batch`] in batches; `each`
/// gets every outcome in order. Virtual time per packet: the run spans 1.5 capture windows,
/// so one window closes inside it, but every flow comes back well within the shortest
/// conntrack timeout (UDP, 30 s). Every record is rendered in the profile's format as it
/// comes.
pub(crate) fn drive(
    world: &mut World,
    steady: &[(Endpoint, Packet)],
    packets: u64,
    mut now: Time,
    mut each: impl FnMut(Outcome),
) -> Driven {
    let format = world.profile.default_format();
    let span = WINDOW.micros() * 3 / 2;
    let revisit_cap = 10_000_000 / steady.len() as u64;
    let dt = (span / packets).clamp(1, revisit_cap.max(1));

    let (mut records, mut rendered_bytes, mut skipped) = (0u64, 0u64, 0u64);
    let mut j = 0;
    let mut batch = Vec::with_capacity(BATCH);
    let start = Instant::now();
    let mut i = 0;
    while i < packets {
        // The same packets at the same times as one `send` each, handed over in batches.
        batch.clear();
        while batch.len() < BATCH && i + (batch.len() as u64) < packets {
            let (from, p) = steady[j];
            j += 1;
            if j == steady.len() {
                j = 0;
            }
            now = Time(now.micros() + dt);
            batch.push((now, from, p));
        }
        world.send_batch(&batch, &mut each);
        let end = i + batch.len() as u64;
        // Closed windows leave records in the world; format them as they come (every 64 Ki
        // packets, and at the end).
        if end >> 16 != i >> 16 || end == packets {
            for r in world.take_records() {
                records += 1;
                skipped += u64::from(r.status == LogStatus::SkipData);
                rendered_bytes += render(&r, &format).len() as u64 + 1;
            }
        }
        i = end;
    }
    Driven {
        seconds: start.elapsed().as_secs_f64(),
        records,
        rendered_bytes,
        skipped,
    }
}

/// A generated world and the packets to send through it.
struct Workload {
    world: World,
    /// The opening packets of every flow (SYN, SYN-ACK, ACK; first UDP request and response).
    warm: Vec<(Endpoint, Packet)>,
    /// Two packets per flow, request then reply, cycled over by the measured run.
    steady: Vec<(Endpoint, Packet)>,
    acl_entries: usize,
    sg_rules: usize,
    acls: usize,
    groups: usize,
}

/// Splits `total` into `parts` near-equal shares.
pub(crate) fn shares(total: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

pub(crate) fn net(a: [u8; 4], len: u8) -> Ipv4Net {
    Ipv4Net::new_truncating(Ipv4Addr::from(a), len)
}

/// A CIDR on the internet (never inside 10.0.0.0/8): partners, blocklists.
fn external_net(rng: &mut ChaCha8Rng) -> Ipv4Net {
    let first = loop {
        let f: u8 = rng.random_range(11..=223);
        if f != 127 {
            break f;
        }
    };
    let len = [8, 12, 16, 20, 24, 24, 28, 32, 32, 32][rng.random_range(0..10)];
    let rest: [u8; 3] = rng.random();
    net([first, rest[0], rest[1], rest[2]], len)
}

/// A CIDR inside the VPC (10.0.0.0/16).
fn internal_net(rng: &mut ChaCha8Rng) -> Ipv4Net {
    let len = rng.random_range(20..=28);
    let rest: [u8; 2] = rng.random();
    net([10, 0, rest[0], rest[1]], len)
}

/// Destination ports of a filler rule: mostly single ports and short ranges, some wide.
fn filler_ports(rng: &mut ChaCha8Rng) -> PortRange {
    match rng.random_range(0..10) {
        0..=4 => PortRange::single(rng.random_range(1..=65535)),
        5..=8 => {
            let lo = rng.random_range(1..=64_000u16);
            PortRange {
                lo,
                hi: lo + rng.random_range(1..=500),
            }
        }
        _ => {
            let lo = rng.random_range(0..=1024u16);
            PortRange {
                lo,
                hi: lo + rng.random_range(1000..=40_000),
            }
        }
    }
}

fn tcp_or_udp(rng: &mut ChaCha8Rng) -> ProtoMatch {
    if rng.random_bool(0.6) {
        ProtoMatch::Tcp
    } else {
        ProtoMatch::Udp
    }
}

/// The entries of one ACL: 3 that carry the traffic (deny RDP in, allow `peers` in and out,
/// last), and `n - 3` fillers before and between them: blocklists (deny everything from an
/// internet CIDR), denied and allowed port ranges of internet CIDRs, allowed ranges inside
/// 10.0.0.0/16. None of the fillers changes a verdict on traffic between addresses of 10.0.0.0/8
/// or 1.0.0.0-9.255.255.255; all are evaluated.
pub(crate) fn acl_entries(rng: &mut ChaCha8Rng, n: usize, peers: Ipv4Net) -> Vec<acl::Entry> {
    let entry = |number, direction, action, protocol, ports, cidr| acl::Entry {
        number,
        direction,
        action,
        protocol,
        ports,
        source_ports: PortRange::ALL,
        cidr,
        description: String::new(),
    };
    let mut out = vec![
        entry(
            100,
            Direction::Ingress,
            RuleAction::Deny,
            ProtoMatch::Tcp,
            PortRange::single(BLOCKED_TCP_PORT),
            Ipv4Net::ANY,
        ),
        entry(
            32_000,
            Direction::Ingress,
            RuleAction::Allow,
            ProtoMatch::Any,
            PortRange::ALL,
            peers,
        ),
        entry(
            32_000,
            Direction::Egress,
            RuleAction::Allow,
            ProtoMatch::Any,
            PortRange::ALL,
            peers,
        ),
    ];
    let mut used: HashSet<(Direction, u32)> = out.iter().map(|e| (e.direction, e.number)).collect();
    while out.len() < n {
        let direction = if rng.random_bool(0.5) {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        let number = rng.random_range(1..32_000);
        if !used.insert((direction, number)) {
            continue;
        }
        let e = match rng.random_range(0..10) {
            0..=3 => entry(
                number,
                direction,
                RuleAction::Deny,
                ProtoMatch::Any,
                PortRange::ALL,
                external_net(rng),
            ),
            4..=6 => entry(
                number,
                direction,
                RuleAction::Deny,
                tcp_or_udp(rng),
                filler_ports(rng),
                external_net(rng),
            ),
            7..=8 => entry(
                number,
                direction,
                RuleAction::Allow,
                tcp_or_udp(rng),
                filler_ports(rng),
                external_net(rng),
            ),
            _ => entry(
                number,
                direction,
                RuleAction::Allow,
                tcp_or_udp(rng),
                filler_ports(rng),
                internal_net(rng),
            ),
        };
        out.push(e);
    }
    out
}

/// The rules of one security group (aws: allow only): fillers for partners on the internet and
/// for parts of the VPC, then TCP and UDP 1-9999 in from `peers` and everything out.
pub(crate) fn sg_rules(rng: &mut ChaCha8Rng, n: usize, peers: Ipv4Net) -> Vec<sg::Rule> {
    let rule = |direction, protocol, ports, remote| sg::Rule {
        direction,
        action: RuleAction::Allow,
        priority: 1,
        protocol,
        ports,
        remote: sg::Remote::Cidr(remote),
        description: String::new(),
    };
    let mut out = Vec::with_capacity(n);
    while out.len() + 3 < n {
        let r = match rng.random_range(0..10) {
            0..=4 => rule(
                Direction::Ingress,
                tcp_or_udp(rng),
                filler_ports(rng),
                external_net(rng),
            ),
            5 => rule(
                Direction::Ingress,
                ProtoMatch::Any,
                PortRange::ALL,
                external_net(rng),
            ),
            6..=7 => rule(
                Direction::Ingress,
                tcp_or_udp(rng),
                filler_ports(rng),
                internal_net(rng),
            ),
            _ => rule(
                Direction::Egress,
                tcp_or_udp(rng),
                filler_ports(rng),
                external_net(rng),
            ),
        };
        out.push(r);
    }
    let services = PortRange { lo: 1, hi: 9999 };
    out.push(rule(Direction::Ingress, ProtoMatch::Tcp, services, peers));
    out.push(rule(Direction::Ingress, ProtoMatch::Udp, services, peers));
    out.push(sg::Rule::allow_all(Direction::Egress));
    out
}

impl Workload {
    fn build(
        seed: u64,
        flows: usize,
        rules: usize,
    ) -> Result<Workload, vpclab_sim::world::ModelError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut world = World::new(Config {
            seed,
            truth: vpclab_sim::flowlog::TruthLevel::Counters,
            capture_packets: false,
            ..Config::new(Profile::of(PROVIDER))
        });
        let vpc_block = net([10, 0, 0, 0], 16);
        let vpc = world.create_vpc("bench", None, vpc_block)?;
        let subnets: Vec<u32> = (0..SUBNETS)
            .map(|i| {
                world.create_subnet(
                    &format!("subnet-{i}"),
                    None,
                    vpc,
                    net([10, 0, (16 * i) as u8, 0], 20),
                    None,
                )
            })
            .collect::<Result<_, _>>()?;

        // Half the rules are ACL entries, half security-group rules; at least 3 per resource.
        let acl_total = rules / 2;
        let sg_total = rules - acl_total;
        let n_acls = (acl_total / 16).clamp(1, 4);
        let n_groups = (sg_total / 16).clamp(1, 8);
        let mut acls = Vec::new();
        for (i, n) in shares(acl_total, n_acls).into_iter().enumerate() {
            let entries = acl_entries(&mut rng, n, vpc_block);
            acls.push(world.create_network_acl(&format!("acl-{i}"), None, vpc, entries)?);
        }
        for (i, &s) in subnets.iter().enumerate() {
            world.associate_acl(s, acls[i % acls.len()])?;
        }
        // Groups are created empty and filled once every ENI exists: each change recompiles
        // the VPC's ENIs, so this is 8 recompilations rather than one per ENI.
        let groups: Vec<u32> = (0..n_groups)
            .map(|i| world.create_security_group(&format!("sg-{i}"), None, vpc, Vec::new()))
            .collect::<Result<_, _>>()?;
        for (i, &s) in subnets.iter().enumerate() {
            for k in 0..ENIS_PER_SUBNET {
                let e = i as u32 * ENIS_PER_SUBNET + k;
                let mut sgs = vec![groups[e as usize % groups.len()]];
                if groups.len() > 1 && e.is_multiple_of(4) {
                    sgs.push(groups[(e as usize + 1) % groups.len()]);
                }
                world.create_eni(
                    T0,
                    EniSpec {
                        name: format!("eni-{e}"),
                        subnet: s,
                        security_groups: sgs,
                        ..Default::default()
                    },
                )?;
            }
        }
        for (&g, n) in groups.iter().zip(shares(sg_total, n_groups)) {
            let r = sg_rules(&mut rng, n, vpc_block);
            world.set_security_group_rules(T0, g, r)?;
        }
        world.create_flow_log(
            T0,
            FlowLogSpec {
                name: "bench".into(),
                id: None,
                scope: Scope::Vpc(vpc),
                filter: Filter::All,
                window: Some(WINDOW),
                // Every flow gives 4 records a window (2 directions at 2 ENIs): keep them all.
                capacity: Some(4 * flows + world.enis.len() + 16),
                description: String::new(),
                tags: Default::default(),
                log_stream: None,
            },
        )?;

        let enis = world.enis.len() as u32;
        let per_subnet = ENIS_PER_SUBNET;
        let mut seen = HashSet::with_capacity(flows);
        let mut warm = Vec::with_capacity(flows * 3);
        let mut steady = Vec::with_capacity(flows * 2);
        while steady.len() < flows * 2 {
            let a = rng.random_range(0..enis);
            let b = rng.random_range(0..enis);
            if a / per_subnet == b / per_subnet {
                continue;
            }
            let (ea, eb) = (Endpoint::Eni(a), Endpoint::Eni(b));
            let (ia, ib) = (world.enis[a as usize].ip, world.enis[b as usize].ip);
            let cport: u16 = rng.random_range(32_768..=60_999);
            let kind = rng.random_range(0..100);
            let (udp, sport) = match kind {
                0..=1 => (false, BLOCKED_TCP_PORT),
                2..=24 => (true, UDP_SERVICES[rng.random_range(0..UDP_SERVICES.len())]),
                _ => (false, TCP_SERVICES[rng.random_range(0..TCP_SERVICES.len())]),
            };
            if !seen.insert((a, b, cport, sport, udp)) {
                continue;
            }
            let req_len = rng.random_range(40..=1400u16);
            let rep_len = rng.random_range(0..=1400u16);
            if udp {
                let req = Packet::udp(ia, cport, ib, sport, size::UDP_REQUEST);
                let rep = Packet::udp(ib, sport, ia, cport, size::UDP_RESPONSE);
                warm.extend([(ea, req), (eb, rep)]);
                steady.push((ea, Packet::udp(ia, cport, ib, sport, 28 + req_len)));
                steady.push((eb, Packet::udp(ib, sport, ia, cport, 28 + rep_len)));
            } else if sport == BLOCKED_TCP_PORT {
                // Rejected at the server's ACL: the client keeps retrying its SYN.
                let syn = Packet::tcp(ia, cport, ib, sport, TcpFlags::SYN, size::TCP_SYN);
                warm.push((ea, syn));
                steady.extend([(ea, syn), (ea, syn)]);
            } else {
                let ack = TcpFlags::ACK;
                let psh = TcpFlags::PSH | TcpFlags::ACK;
                warm.extend([
                    (
                        ea,
                        Packet::tcp(ia, cport, ib, sport, TcpFlags::SYN, size::TCP_SYN),
                    ),
                    (
                        eb,
                        Packet::tcp(ib, sport, ia, cport, TcpFlags::SYN | ack, size::TCP_SYN),
                    ),
                    (ea, Packet::tcp(ia, cport, ib, sport, ack, size::TCP_ACK)),
                ]);
                let rep_flags = if rep_len == 0 { ack } else { psh };
                steady.push((
                    ea,
                    Packet::tcp(ia, cport, ib, sport, psh, size::TCP_HEADER + req_len),
                ));
                steady.push((
                    eb,
                    Packet::tcp(ib, sport, ia, cport, rep_flags, size::TCP_HEADER + rep_len),
                ));
            }
        }
        let acl_entries = world.acls[acls[0] as usize..]
            .iter()
            .map(|a| a.entries.len())
            .sum();
        let sg_rules = groups
            .iter()
            .map(|&g| world.security_groups[g as usize].rules.len())
            .sum();
        Ok(Workload {
            world,
            warm,
            steady,
            acl_entries,
            sg_rules,
            acls: acls.len(),
            groups: groups.len(),
        })
    }
}
