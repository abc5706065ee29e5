//! `vpclab graph`: a scenario's topology as a network engineer draws it (regions, VPCs with
//! their blocks, subnets by zone, interfaces with their addresses and groups, ACLs on the
//! subnet edges, route tables, gateways, routers with their attachments, CCNs, hosts on the
//! internet and on premises, VPC peering connections) and, from a run, its flows drawn over it: one arrow per flow along
//! the hops it took, green where delivered, red where dropped, with the deciding rule in the
//! words of `vpclab_sim::explain` and `World::describe`.
//!
//! Three steps, each a pure function, so that the web console draws the same pictures:
//! [`Topology::of`] reads a world before its run (a script may change it), [`Flows::of`] (or
//! [`Flows::add`], one packet at a time for a streamed run) reads what the run's packets did,
//! and [`render`] writes SVG (`svg`, laid out here), Graphviz DOT or a Mermaid flowchart
//! (`text`). Nothing here decides what a packet does: the outcomes say it.
//!
//! Big worlds are folded so that pictures and time stay bounded: at most [`MAX_ENIS`]
//! interfaces per subnet, [`MAX_HOSTS`] internet hosts, [`MAX_ROUTES`] routes per table, and
//! [`MAX_FLOWS`] flows are drawn; the rest is counted ("+ 120 more ENIs").

mod svg;
mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use vpclab_sim::explain;
use vpclab_sim::packet::{L4, icmp};
use vpclab_sim::router::{AttachmentKind, Hop};
use vpclab_sim::world::{self, Device, Drop, Endpoint, Fate, Outcome, Target, World, live};

/// Interfaces drawn per subnet; the others are counted in one "+ N more ENIs" box.
pub const MAX_ENIS: usize = 6;
/// Internet hosts drawn; the others are counted (workloads have thousands of clients).
pub const MAX_HOSTS: usize = 8;
/// Routes shown per route table.
pub const MAX_ROUTES: usize = 6;
/// Flows drawn (the first ones, in the order of their first packet); the others are counted.
pub const MAX_FLOWS: usize = 30;

/// The key of a drawn thing: an element id in SVG, a node name in DOT and Mermaid. Built
/// from the world's indices (`eni3`, `subnet0`, `host1`), so it needs no escaping and stays
/// the same for the same file.
pub type Key = String;

/// The picture's formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    Svg,
    Dot,
    Mermaid,
}

impl FromStr for GraphFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "svg" => Ok(GraphFormat::Svg),
            "dot" => Ok(GraphFormat::Dot),
            "mermaid" => Ok(GraphFormat::Mermaid),
            _ => Err(format!(
                "unknown graph format `{s}` (expected svg, dot or mermaid)"
            )),
        }
    }
}

impl fmt::Display for GraphFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GraphFormat::Svg => "svg",
            GraphFormat::Dot => "dot",
            GraphFormat::Mermaid => "mermaid",
        })
    }
}

/// Draws a topology, and the flows over it when given.
pub fn render(t: &Topology, flows: Option<&Flows>, f: GraphFormat) -> String {
    match f {
        GraphFormat::Svg => svg::render(t, flows),
        GraphFormat::Dot => text::dot(t, flows),
        GraphFormat::Mermaid => text::mermaid(t, flows),
    }
}

/// What a picture shows of a world: owned, so it outlives the run that changes the world.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    /// The scenario's cloud: `aws` names routers transit gateways, the others enterprise
    /// routers.
    pub provider: String,
    /// Regions by name, each with its VPCs and routers.
    pub regions: Vec<Region>,
    /// Hosts on the internet (the first [`MAX_HOSTS`]) and how many more there are.
    pub internet_hosts: Vec<Host>,
    pub more_hosts: usize,
    /// On-premises networks behind a router's VPN or Direct Connect attachment.
    pub sites: Vec<Site>,
    /// Router peerings: (router, router, the peering's name), each once.
    pub peerings: Vec<(Key, Key, String)>,
    pub ccns: Vec<Ccn>,
    /// Live VPC peering connections, each a box joined to its two VPCs.
    pub vpc_peerings: Vec<VpcPeering>,
    /// Keys not drawn and the drawn thing that stands for them: a folded interface's subnet
    /// fold, a NAT gateway's interface its gateway, a router's interface its router, a folded
    /// host the internet hosts' fold (`hostmore`).
    pub aliases: BTreeMap<Key, Key>,
}

#[derive(Clone, Debug, Default)]
pub struct Region {
    pub name: String,
    pub vpcs: Vec<Vpc>,
    pub routers: Vec<Router>,
}

#[derive(Clone, Debug)]
pub struct Vpc {
    pub key: Key,
    pub id: String,
    pub name: String,
    pub cidr: String,
    /// Its internet gateway: (key, id).
    pub igw: Option<(Key, String)>,
    /// Zones by name, each with its subnets.
    pub zones: Vec<Zone>,
    pub route_tables: Vec<RouteTable>,
}

#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    pub subnets: Vec<Subnet>,
}

#[derive(Clone, Debug)]
pub struct Subnet {
    pub key: Key,
    pub id: String,
    pub name: String,
    pub cidr: String,
    /// Its network ACL: (key, name, id).
    pub acl: Option<(Key, String, String)>,
    /// The ACL's entries in short, in order (`ingress 100 allow icmp from 0.0.0.0/0`), the
    /// default rule last: the picture's tooltip on the ACL.
    pub acl_rules: Vec<String>,
    pub route_table: String,
    pub enis: Vec<Eni>,
    /// Interfaces not drawn ([`MAX_ENIS`]).
    pub more_enis: usize,
    pub nats: Vec<Nat>,
}

#[derive(Clone, Debug)]
pub struct Eni {
    pub key: Key,
    pub id: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub secondary: Vec<Ipv4Addr>,
    pub eip: Option<Ipv4Addr>,
    pub instance: Option<String>,
    pub security_groups: Vec<String>,
    /// Its groups' rules in short (`web-sg: ingress allow icmp from 0.0.0.0/0`): the
    /// picture's tooltip on the interface.
    pub rules: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Nat {
    pub key: Key,
    pub id: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub eip: Option<Ipv4Addr>,
}

#[derive(Clone, Debug)]
pub struct RouteTable {
    pub key: Key,
    pub name: String,
    /// Routes in short: `0.0.0.0/0 → IGW`, longest prefix first; at most [`MAX_ROUTES`].
    pub routes: Vec<String>,
    pub more_routes: usize,
}

#[derive(Clone, Debug)]
pub struct Router {
    pub key: Key,
    pub id: String,
    pub name: String,
    /// `transit gateway` (aws) or `enterprise router`.
    pub kind: &'static str,
    /// Attachments in short: `VPC east-vpc → east`, `VPN gateway office-vpn 192.168.0.0/16`.
    pub attachments: Vec<String>,
    /// The VPCs attached (their keys), for the lines between them.
    pub vpcs: Vec<Key>,
    /// Its route tables' routes in short: `east-rt: 10.2.0.0/16 → east-west`.
    pub routes: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Site {
    /// The attachment's key, or the virtual private gateway's.
    pub key: Key,
    /// `VPN gateway office-vpn`.
    pub title: String,
    pub networks: Vec<String>,
    /// What it joins: its router, or the virtual private gateway's VPC.
    pub joins: Key,
    pub hosts: Vec<Host>,
}

#[derive(Clone, Debug)]
pub struct Host {
    pub key: Key,
    pub name: String,
    pub ip: Ipv4Addr,
}

#[derive(Clone, Debug)]
pub struct Ccn {
    pub key: Key,
    pub id: String,
    pub name: String,
    /// `CCN` (tencent) or `CEN` (alibaba).
    pub kind: String,
    pub vpcs: Vec<Key>,
    /// Region-pair limits in short: `cn-hangzhou ↔ cn-shanghai 1 Mbit/s`.
    pub limits: Vec<String>,
}

/// A VPC peering connection.
#[derive(Clone, Debug)]
pub struct VpcPeering {
    pub key: Key,
    pub id: String,
    pub name: String,
    /// `intra-region` (both VPCs in one region) or `inter-region`.
    pub scope: &'static str,
    /// Its two VPCs' keys, requester then accepter.
    pub vpcs: [Key; 2],
}

fn key(kind: &str, i: u32) -> Key {
    format!("{kind}{i}")
}

impl Topology {
    /// What the world holds now (call it before the run: a script may change the world).
    pub fn of(world: &World) -> Topology {
        let mut t = Topology {
            provider: world.profile.provider.to_string(),
            ..Topology::default()
        };
        let router_kind = world.profile.router_product;
        let mut regions: BTreeMap<String, Region> = BTreeMap::new();
        // Interfaces of cloud devices are drawn as their device.
        for (n, g) in live(&world.nats) {
            t.aliases.insert(key("eni", g.eni), key("nat", n));
        }
        for (_, a) in world
            .routers
            .attachments
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.deleted)
        {
            for &e in &a.enis {
                t.aliases.insert(key("eni", e), key("router", a.router));
            }
        }
        for (v, vpc) in live(&world.vpcs) {
            let mut zones: BTreeMap<String, Vec<Subnet>> = BTreeMap::new();
            for (s, sub) in live(&world.subnets).filter(|(_, s)| s.vpc == v) {
                let mut enis = Vec::new();
                let mut more = 0;
                let fold = key("more", s);
                for (e, eni) in live(&world.enis).filter(|(_, e)| e.subnet == s) {
                    let k = key("eni", e);
                    if t.aliases.contains_key(&k) {
                        continue;
                    }
                    if enis.len() == MAX_ENIS {
                        more += 1;
                        t.aliases.insert(k, fold.clone());
                        continue;
                    }
                    enis.push(Eni {
                        key: k,
                        id: eni.id.clone(),
                        name: eni.name.clone(),
                        ip: eni.ip,
                        secondary: eni.secondary_ips.clone(),
                        eip: eni.eip,
                        instance: eni.instance_id.clone(),
                        security_groups: eni
                            .security_groups
                            .iter()
                            .map(|&g| world.security_groups[g as usize].name.clone())
                            .collect(),
                        rules: eni
                            .security_groups
                            .iter()
                            .flat_map(|&g| sg_rules(world, g))
                            .collect(),
                    });
                }
                let nats = live(&world.nats)
                    .filter(|(_, n)| n.subnet == s)
                    .map(|(n, g)| Nat {
                        key: key("nat", n),
                        id: g.id.clone(),
                        name: g.name.clone(),
                        ip: world.enis[g.eni as usize].ip,
                        eip: world.enis[g.eni as usize].eip,
                    })
                    .collect();
                zones.entry(sub.az.clone()).or_default().push(Subnet {
                    key: key("subnet", s),
                    id: sub.id.clone(),
                    name: sub.name.clone(),
                    cidr: sub.cidr.to_string(),
                    acl_rules: sub.acl.map_or_else(Vec::new, |a| acl_rules(world, a)),
                    acl: sub.acl.map(|a| {
                        let acl = &world.acls[a as usize];
                        (key("acl", a), acl.name.clone(), acl.id.clone())
                    }),
                    route_table: world.route_tables[sub.route_table as usize].name.clone(),
                    enis,
                    more_enis: more,
                    nats,
                });
            }
            let route_tables = live(&world.route_tables)
                .filter(|(_, r)| r.vpc == v)
                .map(|(r, table)| {
                    let routes: Vec<String> = table
                        .routes
                        .iter()
                        .map(|route| format!("{} → {}", route.destination, target(world, route)))
                        .collect();
                    let more_routes = routes.len().saturating_sub(MAX_ROUTES);
                    RouteTable {
                        key: key("rt", r),
                        name: if r == vpc.main_route_table {
                            format!("{} (main)", table.name)
                        } else {
                            table.name.clone()
                        },
                        routes: routes.into_iter().take(MAX_ROUTES).collect(),
                        more_routes,
                    }
                })
                .collect();
            regions
                .entry(vpc.region.clone())
                .or_default()
                .vpcs
                .push(Vpc {
                    key: key("vpc", v),
                    id: vpc.id.clone(),
                    name: vpc.name.clone(),
                    cidr: vpc.cidr.to_string(),
                    igw: vpc
                        .igw
                        .filter(|&g| !world.igws[g as usize].deleted)
                        .map(|g| (key("igw", g), world.igws[g as usize].id.clone())),
                    zones: zones
                        .into_iter()
                        .map(|(name, subnets)| Zone { name, subnets })
                        .collect(),
                    route_tables,
                });
        }
        let routers = &world.routers;
        let att_name = |a: u32| routers.attachments[a as usize].name.clone();
        for (r, router) in routers.routers.iter().enumerate() {
            if router.deleted {
                continue;
            }
            let r = r as u32;
            let mut attachments = Vec::new();
            let mut vpcs = Vec::new();
            for (a, att) in routers.attachments.iter().enumerate() {
                if att.deleted || att.router != r {
                    continue;
                }
                let nets = att
                    .networks
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let line = match att.kind {
                    AttachmentKind::Vpc => {
                        let v = world.find(vpclab_sim::world::Kind::Vpc, &att.resource);
                        if let Some(v) = v {
                            vpcs.push(key("vpc", v));
                        }
                        let vname = v.map_or(att.resource.clone(), |v| {
                            world.vpcs[v as usize].name.clone()
                        });
                        let ips: Vec<String> = att
                            .enis
                            .iter()
                            .map(|&e| world.enis[e as usize].ip.to_string())
                            .collect();
                        format!("VPC {} → {vname} ({})", att.name, ips.join(", "))
                    }
                    AttachmentKind::PeeringConnection => {
                        let peer = att.peer.map_or(String::new(), |p| {
                            let pr = routers.attachments[p as usize].router;
                            routers.routers[pr as usize].name.clone()
                        });
                        if let Some(p) = att.peer {
                            let pr = routers.attachments[p as usize].router;
                            if r < pr {
                                t.peerings.push((
                                    key("router", r),
                                    key("router", pr),
                                    att.name.clone(),
                                ));
                            }
                        }
                        format!("peering {} → {peer}", att.name)
                    }
                    kind => {
                        t.sites.push(Site {
                            key: key("att", a as u32),
                            title: format!("{} {}", kind.label(), att.name),
                            networks: att.networks.iter().map(|n| n.to_string()).collect(),
                            joins: key("router", r),
                            hosts: Vec::new(),
                        });
                        format!("{} {} {nets}", kind.label(), att.name)
                    }
                };
                attachments.push(line);
            }
            let mut lines = Vec::new();
            for table in routers
                .tables
                .iter()
                .filter(|x| x.router == r && !x.deleted)
            {
                for route in &table.routes {
                    let hop = match route.hop {
                        Hop::Attachment(a) => att_name(a),
                        Hop::Blackhole => "blackhole".into(),
                    };
                    lines.push(format!("{}: {} → {hop}", table.name, route.destination));
                }
            }
            let region = router
                .region
                .clone()
                .unwrap_or_else(|| world.region.clone());
            regions.entry(region).or_default().routers.push(Router {
                key: key("router", r),
                id: router.id.clone(),
                name: router.name.clone(),
                kind: router_kind,
                attachments,
                vpcs,
                routes: lines,
            });
        }
        // A VPC's virtual private gateway: its site, joined to the VPC, with each connection's
        // networks.
        for (g, x) in live(&world.vpn_gateways) {
            t.sites.push(Site {
                key: key("vgw", g),
                title: format!("virtual private gateway {}", x.name),
                networks: x
                    .connections
                    .iter()
                    .flat_map(|c| {
                        c.networks
                            .iter()
                            .map(move |n| format!("{n} ({} {})", c.name, c.routing.as_str()))
                    })
                    .collect(),
                joins: key("vpc", x.vpc),
                hosts: Vec::new(),
            });
        }
        for (x, h) in live(&world.externals) {
            let host = Host {
                key: key("host", x),
                name: h.name.clone(),
                ip: h.ip,
            };
            match h.site {
                Some(site) => {
                    let k = site_key(site);
                    if let Some(s) = t.sites.iter_mut().find(|s| s.key == k) {
                        s.hosts.push(host);
                    }
                }
                None if t.internet_hosts.len() < MAX_HOSTS => t.internet_hosts.push(host),
                None => {
                    t.more_hosts += 1;
                    t.aliases.insert(host.key, "hostmore".into());
                }
            }
        }
        // The product's name is its IDs' prefix: CCN (tencent, `ccn-…`), CEN (alibaba, `cen-…`).
        let ccn_kind = world
            .profile
            .ccn
            .as_ref()
            .map_or("CCN".to_string(), |c| c.id_prefix.to_uppercase());
        for (c, ccn) in world.ccns.items.iter().enumerate() {
            t.ccns.push(Ccn {
                key: key("ccn", c as u32),
                id: ccn.id.clone(),
                name: ccn.name.clone(),
                kind: ccn_kind.clone(),
                vpcs: ccn.attachments.iter().map(|a| key("vpc", a.vpc)).collect(),
                limits: ccn
                    .limits
                    .iter()
                    .map(|l| {
                        format!(
                            "{} ↔ {} {}",
                            l.regions[0],
                            l.regions[1],
                            rate(l.bandwidth.rate())
                        )
                    })
                    .collect(),
            });
        }
        for (p, x) in live(&world.peerings) {
            let [a, b] = x.vpcs;
            let same = world.vpcs[a as usize].region == world.vpcs[b as usize].region;
            t.vpc_peerings.push(VpcPeering {
                key: key("peering", p),
                id: x.id.clone(),
                name: x.name.clone(),
                scope: if same { "intra-region" } else { "inter-region" },
                vpcs: [key("vpc", a), key("vpc", b)],
            });
        }
        t.regions = regions
            .into_iter()
            .map(|(name, r)| Region { name, ..r })
            .collect();
        t
    }

    /// Whether the picture draws the internet: hosts on it, or a VPC with a gateway to it.
    pub fn has_internet(&self) -> bool {
        !self.internet_hosts.is_empty()
            || self
                .regions
                .iter()
                .any(|g| g.vpcs.iter().any(|v| v.igw.is_some()))
    }

    /// The drawn key standing for `k` (itself when drawn).
    pub fn drawn<'a>(&'a self, k: &'a str) -> &'a str {
        self.aliases.get(k).map_or(k, String::as_str)
    }
}

/// A security group's rules in short, one a line: `web-sg: ingress allow tcp 443 from
/// 0.0.0.0/0`.
fn sg_rules(world: &World, g: u32) -> Vec<String> {
    let group = &world.security_groups[g as usize];
    group
        .rules
        .iter()
        .map(|r| {
            let ports = if r.protocol.has_ports() {
                format!(" {}", r.ports)
            } else {
                String::new()
            };
            let (dir, word) = match r.direction {
                vpclab_sim::Direction::Ingress => ("ingress", "from"),
                vpclab_sim::Direction::Egress => ("egress", "to"),
            };
            let remote = match &r.remote {
                vpclab_sim::policy::sg::Remote::Cidr(n) => n.to_string(),
                vpclab_sim::policy::sg::Remote::Group(x) => {
                    format!("group {}", world.security_groups[*x as usize].name)
                }
            };
            format!(
                "{}: {dir} {} {}{ports} {word} {remote}",
                group.name,
                r.action.name(),
                r.protocol
            )
        })
        .collect()
}

/// An ACL's entries in short, in the order they are evaluated, each direction's default rule
/// last: `ingress 100 allow icmp from 0.0.0.0/0`, `ingress * deny all`.
fn acl_rules(world: &World, a: u32) -> Vec<String> {
    let acl = &world.acls[a as usize];
    let mut out = Vec::new();
    for (dir, word) in [
        (vpclab_sim::Direction::Ingress, "from"),
        (vpclab_sim::Direction::Egress, "to"),
    ] {
        for e in acl.entries.iter().filter(|e| e.direction == dir) {
            let ports = if e.protocol.has_ports() {
                format!(" {}", e.ports)
            } else {
                String::new()
            };
            out.push(format!(
                "{} {} {} {}{ports} {word} {}",
                dir.as_str(),
                e.number,
                e.action.name(),
                e.protocol,
                e.cidr
            ));
        }
        out.push(format!("{} * deny all", dir.as_str()));
    }
    out
}

/// A bandwidth in words: `1 Mbit/s`.
fn rate(bits: u64) -> String {
    match bits {
        b if b >= 1_000_000_000 && b % 1_000_000_000 == 0 => {
            format!("{} Gbit/s", b / 1_000_000_000)
        }
        b if b >= 1_000_000 && b % 1_000_000 == 0 => format!("{} Mbit/s", b / 1_000_000),
        b if b >= 1_000 && b % 1_000 == 0 => format!("{} kbit/s", b / 1_000),
        b => format!("{b} bit/s"),
    }
}

/// A route's target in short.
fn target(world: &World, r: &vpclab_sim::world::Route) -> String {
    match r.target {
        Target::Local => "local".into(),
        Target::InternetGateway(_) => "IGW".into(),
        Target::NatGateway(n) => format!("NAT {}", world.nats[n as usize].name),
        Target::Router(a) => {
            let att = &world.routers.attachments[a as usize];
            world.routers.routers[att.router as usize].name.clone()
        }
        Target::Peering(p) => format!("peering {}", world.peerings[p as usize].name),
        Target::VpnGateway(g) => format!("VGW {}", world.vpn_gateways[g as usize].name),
        Target::Blackhole => "blackhole".into(),
    }
}

/// The key of an on-premises site: its router attachment's, or its virtual private gateway's.
fn site_key(site: world::Site) -> Key {
    match site {
        world::Site::Attachment(a) => key("att", a),
        world::Site::VpnGateway(g) => key("vgw", g),
    }
}

/// The flows of a run, aggregated: one per sender, destination, kind of traffic, path and
/// fate, in the order of their first packet.
#[derive(Clone, Debug, Default)]
pub struct Flows {
    pub flows: Vec<Flow>,
    /// Packets read.
    pub packets: u64,
    /// Set when the caller stopped before the run's end (`vpclab graph` reads at most
    /// `FLOW_PACKETS` packets of a long run).
    pub truncated: bool,
    index: BTreeMap<FlowKey, usize>,
}

type FlowKey = (Key, Option<Key>, String, bool, Option<String>, Vec<Key>);

/// One arrow: packets of one kind from one endpoint to another that took one path to one fate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The sender's key and name.
    pub from: Key,
    pub from_name: String,
    /// The destination's key, when the address designates an endpoint, and its name (else
    /// the address).
    pub to: Option<Key>,
    pub to_name: String,
    /// `ICMP echo-request`, `TCP 443`, `UDP 53`.
    pub what: String,
    /// Delivered (or passed unlogged), as opposed to dropped.
    pub accepted: bool,
    pub packets: u64,
    pub bytes: u64,
    /// Why it was dropped, in words: the deciding rule for a security group or ACL.
    pub reason: Option<String>,
    /// The hops taken, sender first, ending where it was delivered or dropped.
    pub path: Vec<Key>,
}

impl Flows {
    /// The flows of a run whose outcomes were kept (`Options.explain`); `world` is the world
    /// after the run (it keeps deleted resources, so every outcome's indices still resolve).
    /// For callers that hold a whole run (the web console); `vpclab graph` streams its run
    /// into [`Flows::add`] instead.
    pub fn of(world: &World, run: &vpclab_controlplane::Run) -> Flows {
        let mut f = Flows::default();
        for o in &run.outcomes {
            f.add(world, o);
        }
        f
    }

    /// Counts one packet into its flow.
    pub fn add(&mut self, world: &World, o: &Outcome) {
        self.packets += 1;
        let from = endpoint_key(o.from);
        let to = match o.fate {
            Fate::Delivered { to, .. } => Some(to),
            _ => world.resolve(o.from, o.packet.dst),
        };
        let (accepted, reason) = match o.fate {
            Fate::Delivered { .. } | Fate::Excluded => (true, None),
            Fate::Dropped(Drop::Policy(d)) => (false, Some(world.describe(&d))),
            // explain's last line says what became of the packet.
            Fate::Dropped(_) => (
                false,
                explain::packet(world, o, None)
                    .last()
                    .map(|l| l.trim().to_string()),
            ),
        };
        let what = what(o);
        let path = path(world, o);
        let k: FlowKey = (
            from.clone(),
            to.map(endpoint_key),
            what.clone(),
            accepted,
            reason.clone(),
            path.clone(),
        );
        let bytes = u64::from(o.packet.len);
        if let Some(&i) = self.index.get(&k) {
            self.flows[i].packets += 1;
            self.flows[i].bytes += bytes;
            return;
        }
        self.index.insert(k, self.flows.len());
        self.flows.push(Flow {
            from,
            from_name: short_name(world, o.from),
            to: to.map(endpoint_key),
            to_name: to.map_or_else(|| o.packet.dst.to_string(), |e| short_name(world, e)),
            what,
            accepted,
            packets: 1,
            bytes,
            reason,
            path,
        });
    }
}

/// The flows the picture draws, in the order of their first packet, and how many flows there
/// are in all: at most [`MAX_FLOWS`], the dropped ones first (what a picture is looked at
/// for), then the others, each in the order of their first packet.
pub(crate) fn drawn_flows(t: &Topology, flows: &Flows) -> (Vec<Flow>, usize) {
    let merged = merged_flows(t, flows);
    let total = merged.len();
    let mut chosen: Vec<usize> = (0..total).filter(|&i| !merged[i].accepted).collect();
    chosen.extend((0..total).filter(|&i| merged[i].accepted));
    chosen.truncate(MAX_FLOWS);
    chosen.sort_unstable();
    let mut merged: Vec<Option<Flow>> = merged.into_iter().map(Some).collect();
    let drawn = chosen.iter().filter_map(|&i| merged[i].take()).collect();
    (drawn, total)
}

/// The flows as the picture sees them: the keys of things not drawn replaced by what stands
/// for them (a folded host by the hosts' fold, a folded interface by its subnet's fold), and
/// flows that become alike merged, in the order of their first packet.
fn merged_flows(t: &Topology, flows: &Flows) -> Vec<Flow> {
    let mut out: Vec<Flow> = Vec::new();
    // Dropped TCP and UDP flows that differ only in their port are one (a port scan is one
    // arrow): their ports, by merged flow.
    let mut ports: BTreeMap<usize, std::collections::BTreeSet<u16>> = BTreeMap::new();
    let mut index: BTreeMap<FlowKey, usize> = BTreeMap::new();
    for f in &flows.flows {
        let from = t.drawn(&f.from).to_string();
        let to = f.to.as_deref().map(|k| t.drawn(k).to_string());
        let mut path: Vec<Key> = Vec::new();
        for k in &f.path {
            let k = t.drawn(k);
            if path.last().map(String::as_str) != Some(k) {
                path.push(k.to_string());
            }
        }
        let port = f
            .what
            .strip_prefix("TCP ")
            .or_else(|| f.what.strip_prefix("UDP "))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|_| !f.accepted);
        let what = match port {
            Some(_) => f.what[..3].to_string(),
            None => f.what.clone(),
        };
        let k: FlowKey = (
            from.clone(),
            to.clone(),
            what,
            f.accepted,
            f.reason.clone(),
            path.clone(),
        );
        if let Some(&i) = index.get(&k) {
            out[i].packets += f.packets;
            out[i].bytes += f.bytes;
            if let Some(p) = port {
                ports.entry(i).or_default().insert(p);
            }
            continue;
        }
        index.insert(k, out.len());
        if let Some(p) = port {
            ports.entry(out.len()).or_default().insert(p);
        }
        let name = |k: &str, own: &str| match k {
            "hostmore" => "other internet hosts".to_string(),
            k if k.starts_with("more") => "other ENIs".to_string(),
            _ => own.to_string(),
        };
        out.push(Flow {
            from_name: if from == f.from {
                f.from_name.clone()
            } else {
                name(&from, &f.from_name)
            },
            to_name: if to == f.to {
                f.to_name.clone()
            } else {
                name(to.as_deref().unwrap_or(""), &f.to_name)
            },
            from,
            to,
            path,
            ..f.clone()
        });
    }
    for (i, ports) in ports {
        if ports.len() > 1 {
            let shown: Vec<String> = ports.iter().take(6).map(u16::to_string).collect();
            let mut what = format!("{} {}", &out[i].what[..3], shown.join(", "));
            if ports.len() > 6 {
                what.push_str(&format!(" + {} more ports", ports.len() - 6));
            }
            out[i].what = what;
        }
    }
    out
}

fn endpoint_key(e: Endpoint) -> Key {
    match e {
        Endpoint::Eni(i) => key("eni", i),
        Endpoint::External(i) => key("host", i),
        Endpoint::Service { vpc, .. } => key("vpc", vpc),
        Endpoint::Device { vpc, device } => match device {
            Device::InternetGateway(g) => key("igw", g),
            Device::VpnGateway(g) => key("vgw", g),
            // A peering connection is drawn as a line between its VPCs.
            Device::Peering(_) => key("vpc", vpc),
        },
    }
}

fn short_name(world: &World, e: Endpoint) -> String {
    match e {
        // A cloud device's interface is named after its device.
        Endpoint::Eni(i) => match world.nats.iter().find(|n| n.eni == i) {
            Some(n) => format!("NAT gateway {}", n.name),
            None => world.enis[i as usize].name.clone(),
        },
        Endpoint::External(i) => world.externals[i as usize].name.clone(),
        Endpoint::Service { .. } | Endpoint::Device { .. } => world.endpoint_name(e),
    }
}

/// The kind of traffic: the protocol and the service's port (the lower of the two, so a
/// request and its reply say the same), or the ICMP message.
fn what(o: &Outcome) -> String {
    match o.packet.l4 {
        L4::Tcp { sport, dport, .. } => format!("TCP {}", sport.min(dport)),
        L4::Udp { sport, dport } => format!("UDP {}", sport.min(dport)),
        L4::Icmp { icmp_type, .. } => match icmp_type {
            icmp::ECHO_REQUEST => "ICMP echo-request".into(),
            icmp::ECHO_REPLY => "ICMP echo-reply".into(),
            icmp::DEST_UNREACHABLE => "ICMP unreachable".into(),
            icmp::TIME_EXCEEDED => "ICMP time-exceeded".into(),
            t => format!("ICMP type {t}"),
        },
        L4::Other { protocol } => format!("protocol {protocol}"),
    }
}

/// The hops a packet took as drawn keys, sender first, ending where it was delivered or
/// dropped: [`explain::hops`], the walk `--explain` names in words, over the things the
/// picture draws. A subnet hop is its edge, where its ACL sits: inside one subnet the packet
/// never crosses it (nor its ACL), so a same-subnet delivery goes interface to interface.
fn path(world: &World, o: &Outcome) -> Vec<Key> {
    use explain::Hop;
    let mut hops = explain::hops(world, o);
    // The walk's one subnet hop between two interfaces of a subnet (a hop never repeats).
    if let (
        Fate::Delivered {
            to: Endpoint::Eni(_),
            ..
        },
        [Hop::Eni(_), Hop::Subnet(_), Hop::Eni(_)],
    ) = (o.fate, hops.as_slice())
    {
        hops.remove(1);
    }
    let mut keys: Vec<Key> = Vec::new();
    for h in hops {
        let k = match h {
            Hop::Eni(e) => key("eni", e),
            Hop::Subnet(s) => key("subnet", s),
            Hop::Igw(g) => key("igw", g),
            Hop::Nat(n) => key("nat", n),
            Hop::Router(r) => key("router", r),
            Hop::Peering(p) => key("peering", p),
            Hop::Ccn(c) => key("ccn", c),
            Hop::Internet => "internet".into(),
            Hop::Host(x) => key("host", x),
            Hop::Site(site) => site_key(site),
            // A VPC's services are drawn as the VPC.
            Hop::Service { vpc, .. } => key("vpc", vpc),
        };
        // An interface sending to itself is one box.
        if keys.last() != Some(&k) {
            keys.push(k);
        }
    }
    keys
}

/// Escapes text for XML (SVG) and for DOT's and Mermaid's quoted labels.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_refuse_others_with_the_list() {
        assert_eq!("svg".parse(), Ok(GraphFormat::Svg));
        assert_eq!("dot".parse(), Ok(GraphFormat::Dot));
        assert_eq!("mermaid".parse(), Ok(GraphFormat::Mermaid));
        assert_eq!(
            "png".parse::<GraphFormat>(),
            Err("unknown graph format `png` (expected svg, dot or mermaid)".into())
        );
    }

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
    }

    fn ping(explain: bool) -> vpclab_controlplane::Loaded {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/ping-acl-asymmetry.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let opts = vpclab_controlplane::Options {
            explain,
            ..Default::default()
        };
        vpclab_controlplane::load(path, &text, &opts).unwrap()
    }

    /// The ping scenario's two flows: the requests along the whole path from home to the
    /// instance, the replies from the instance to its subnet's edge, where the ACL drops them;
    /// a whole run read at once and a streamed one give the same flows.
    #[test]
    fn the_ping_flows_follow_their_paths_to_their_fates() {
        let mut l = ping(true);
        let t = Topology::of(&l.sim.world);
        assert_eq!(t.internet_hosts[0].key, "host0");
        let run = vpclab_controlplane::run(&mut l).unwrap();
        let f = Flows::of(&l.sim.world, &run);
        let brief: Vec<_> = f
            .flows
            .iter()
            .map(|f| {
                (
                    f.what.as_str(),
                    f.accepted,
                    f.packets,
                    f.reason.as_deref(),
                    f.path.join(" "),
                )
            })
            .collect();
        assert_eq!(
            brief,
            [
                (
                    "ICMP echo-request",
                    true,
                    4,
                    None,
                    "host0 internet igw0 subnet0 eni0".into()
                ),
                (
                    "ICMP echo-reply",
                    false,
                    4,
                    Some("ACL web-acl egress (subnet web): no rule matched; default rule * denies"),
                    "eni0 subnet0".to_string()
                ),
            ]
        );
        let mut streamed = Flows::default();
        let mut l = ping(true);
        vpclab_controlplane::run::stream(&mut l, |w, item| {
            if let vpclab_controlplane::run::Streamed::Packet(o) = item {
                streamed.add(w, o);
            }
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(streamed.flows, f.flows);
        assert_eq!((streamed.packets, f.packets), (8, 8));
    }

    #[test]
    fn rates_read_in_the_largest_whole_unit() {
        assert_eq!(rate(1_000_000), "1 Mbit/s");
        assert_eq!(rate(2_000_000_000), "2 Gbit/s");
        assert_eq!(rate(1_500), "1500 bit/s");
    }
}
