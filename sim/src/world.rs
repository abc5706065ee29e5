//! The world: one simulated cloud (D1). It owns the model (VPCs, subnets, ENIs, security
//! groups, ACLs, route tables, internet gateways, external hosts), the topology graph, the
//! connection-tracking table and the flow-log collectors, and runs packets through the
//! per-packet path:
//!
//! ```text
//!  ENI a ──SG egress──ACL egress──route──┬─ local ───────────────ACL ingress──SG ingress── ENI b
//!        (conntrack)  (if leaving        │                       (if entering   (conntrack)
//!                      a's subnet)       └─ IGW (EIP 1:1 NAT) ── internet host / EIP of ENI b
//! ```
//!
//! (D5; policy.md §7). Every operation that changes the model goes through a method here with
//! the same validation, whether it comes from a scenario file or, later, the gRPC API: this is
//! the one funnel. The world does not schedule anything and never reads a clock: each call gets
//! `now`. Creates and policy changes are here; deletes, renames and updates in `lifecycle`.
//! Every operation validates fully before it changes anything; [`World::transact`] also gives
//! back the randomness of a refused one. Deleted resources stay as tombstones (`deleted`),
//! skipped by every check and iteration, so indices never move.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use foldhash::fast::FixedState;
use petgraph::stable_graph::{NodeIndex, StableUnGraph};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::addr::Ipv4Net;
use crate::ccn::{Bandwidth, Ccns};
use crate::conntrack::{self, Zone};
use crate::flowlog::collect::{Observation, Partial};
use crate::flowlog::{
    CaptureMeta, Collector, Filter, Record, Scope, Settings, TrafficPath, TruthLevel,
};
use crate::host::Host;
use crate::ids;
use crate::limits::{self, InstanceScope};
use crate::logs::LogCatalog;
use crate::nat;
use crate::packet::{FiveTuple, L4, Packet, proto};
use crate::policy::classify::{Classifier, Compiled};
use crate::policy::sg::Remote;
use crate::policy::{PacketView, PortRange, ProtoMatch, RuleAction, acl, sg};
use crate::profile::{IcmpPorts, Profile, RuleChange, SgOrder};
use crate::router::Routers;
use crate::time::{Span, Time};
use crate::verdict::{By, Decision, Stage, Verdict};
use crate::{Action, Direction};

mod catalog;
mod connect;
mod gateways;
mod lifecycle;
mod router_logs;
mod routing;
mod saved;
mod trains;

use saved::Topology;

type Map<K, V> = HashMap<K, V, FixedState>;

fn map<K, V>() -> Map<K, V> {
    HashMap::with_hasher(FixedState::with_seed(0))
}

/// How many packets ahead [`World::send_batch`] asks for a packet's memory.
const SEND_AHEAD: usize = 16;

/// The key of a private address in a VPC: one integer, the cheapest thing to hash.
fn ip_key(vpc: u32, ip: Ipv4Addr) -> u64 {
    (vpc as u64) << 32 | u32::from(ip) as u64
}

/// One side of a packet's journey: an ENI or a host on the internet.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Eni(u32),
    External(u32),
}

/// Why an operation was refused. `field` names the offending field relative to the request
/// (`cidr`, `rules[2].priority`), so a scenario loader can point at the YAML line and an API
/// can return a field violation. `dependents` lists the IDs of the resources that block the
/// operation (the ENIs still in a subnet being deleted), sorted; it is empty otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError {
    pub kind: ErrorKind,
    pub field: String,
    pub message: String,
    pub dependents: Vec<String>,
}

/// The class of a refusal, mapped one-to-one to gRPC codes by the API layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    /// A quota is used up.
    ResourceExhausted,
    /// A concurrent change won (an etag that no longer matches).
    Aborted,
}

impl ModelError {
    pub fn new(
        kind: ErrorKind,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ModelError {
        ModelError {
            kind,
            field: field.into(),
            message: message.into(),
            dependents: Vec::new(),
        }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ModelError {
        ModelError::new(ErrorKind::InvalidArgument, field, message)
    }
    pub fn exists(field: impl Into<String>, message: impl Into<String>) -> ModelError {
        ModelError::new(ErrorKind::AlreadyExists, field, message)
    }
    pub fn not_found(field: impl Into<String>, message: impl Into<String>) -> ModelError {
        ModelError::new(ErrorKind::NotFound, field, message)
    }
    pub fn precondition(field: impl Into<String>, message: impl Into<String>) -> ModelError {
        ModelError::new(ErrorKind::FailedPrecondition, field, message)
    }
    pub fn exhausted(field: impl Into<String>, message: impl Into<String>) -> ModelError {
        ModelError::new(ErrorKind::ResourceExhausted, field, message)
    }
    pub fn aborted(field: impl Into<String>, message: impl Into<String>) -> ModelError {
        ModelError::new(ErrorKind::Aborted, field, message)
    }
    /// Names the resources that block the operation (kept sorted).
    pub fn with_dependents(mut self, mut dependents: Vec<String>) -> ModelError {
        dependents.sort();
        dependents.dedup();
        self.dependents = dependents;
        self
    }
    /// Prefixes the field path (`rules[2]` + `.priority`).
    pub fn within(mut self, prefix: &str) -> ModelError {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ModelError {}

/// Resource names: 1–64 letters, digits, `_`, `-`, `.`, starting with a letter or digit (the
/// strictest of the seeds' name rules, seed 003).
pub fn check_name(name: &str) -> Result<(), ModelError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let starts_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 64 || !ok_chars || !starts_ok {
        return Err(ModelError::invalid(
            "name",
            format!(
                "`{name}` is not a valid name: use 1 to 64 letters, digits, `_`, `-` or `.`, starting with a letter or digit"
            ),
        ));
    }
    Ok(())
}

/// The kinds of resource in a world: each has a vector of its own in [`World`], indexed by
/// `u32`, and an ID index ([`World::find`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Vpc,
    Subnet,
    Eni,
    SecurityGroup,
    NetworkAcl,
    RouteTable,
    InternetGateway,
    ExternalHost,
    FlowLog,
    LogGroup,
    LogStream,
    EnterpriseRouter,
    RouterAttachment,
    NatGateway,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Vpc,
        Kind::Subnet,
        Kind::Eni,
        Kind::SecurityGroup,
        Kind::NetworkAcl,
        Kind::RouteTable,
        Kind::InternetGateway,
        Kind::ExternalHost,
        Kind::FlowLog,
        Kind::LogGroup,
        Kind::LogStream,
        Kind::EnterpriseRouter,
        Kind::RouterAttachment,
        Kind::NatGateway,
    ];

    /// The kind in words, for messages ("network interface eni-1 still uses it").
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vpc => "vpc",
            Kind::Subnet => "subnet",
            Kind::Eni => "network interface",
            Kind::SecurityGroup => "security group",
            Kind::NetworkAcl => "network ACL",
            Kind::RouteTable => "route table",
            Kind::InternetGateway => "internet gateway",
            Kind::ExternalHost => "external host",
            Kind::FlowLog => "flow log",
            Kind::LogGroup => "log group",
            Kind::LogStream => "log stream",
            Kind::EnterpriseRouter => "enterprise router",
            Kind::RouterAttachment => "router attachment",
            Kind::NatGateway => "NAT gateway",
        }
    }

    /// The field that names a resource of this kind in a request, as the operations' errors
    /// use it (`vpc`, `security_group`, `acl`, …).
    pub fn field(self) -> &'static str {
        match self {
            Kind::Vpc => "vpc",
            Kind::Subnet => "subnet",
            Kind::Eni => "eni",
            Kind::SecurityGroup => "security_group",
            Kind::NetworkAcl => "acl",
            Kind::RouteTable => "route_table",
            Kind::InternetGateway => "internet_gateway",
            Kind::ExternalHost => "external_host",
            Kind::FlowLog => "flow_log",
            Kind::LogGroup => "log_group",
            Kind::LogStream => "log_stream",
            Kind::EnterpriseRouter => "router",
            Kind::RouterAttachment => "attachment",
            Kind::NatGateway => "nat_gateway",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something stored in one of the world's resource vectors. Deleted resources stay in their
/// vector as tombstones, so indices held elsewhere (records, decisions, past revisions) stay
/// valid; nothing live refers to a tombstone.
pub trait Resource {
    fn is_deleted(&self) -> bool;
}

/// The live entries of a resource vector with their indices, in index order:
/// `live(&world.enis)`.
pub fn live<T: Resource>(items: &[T]) -> impl Iterator<Item = (u32, &T)> {
    items
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.is_deleted())
        .map(|(i, r)| (i as u32, r))
}

macro_rules! resource {
    ($($t:ty),*) => {
        $(impl Resource for $t {
            fn is_deleted(&self) -> bool {
                self.deleted
            }
        })*
    };
}

resource!(
    Vpc,
    Subnet,
    Eni,
    SecurityGroup,
    NetworkAcl,
    RouteTable,
    InternetGateway,
    ExternalHost,
    FlowLog,
    NatGateway
);

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Vpc {
    pub id: String,
    pub name: String,
    pub cidr: Ipv4Net,
    pub main_route_table: u32,
    /// The ACL subnets get when none is associated (aws); `None`: such subnets are not
    /// filtered by any ACL (huawei, alibaba, tencent).
    pub default_acl: Option<u32>,
    pub default_sg: u32,
    pub igw: Option<u32>,
    /// Its region (the world's unless given; `crate::ccn` joins VPCs of several regions).
    pub region: String,
    /// The Cloud Connect Network it is attached to, if any.
    pub ccn: Option<u32>,
    pub deleted: bool,
    node: NodeIndex,
}

impl Vpc {
    /// The VPC's DNS resolver: base address + 2 (aws "Amazon DNS").
    pub fn dns(&self) -> Ipv4Addr {
        self.cidr.nth(2).unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub vpc: u32,
    pub cidr: Ipv4Net,
    pub az: String,
    /// The associated network ACL, if any.
    pub acl: Option<u32>,
    pub route_table: u32,
    pub deleted: bool,
    node: NodeIndex,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Eni {
    pub id: String,
    pub name: String,
    pub subnet: u32,
    pub vpc: u32,
    pub ip: Ipv4Addr,
    pub eip: Option<Ipv4Addr>,
    pub security_groups: Vec<u32>,
    pub instance_id: Option<String>,
    pub instance_type: Option<String>,
    pub host: Host,
    /// A cloud device's interface (NAT gateway, router attachment): no security group.
    pub requester_managed: bool,
    pub created: Time,
    pub meta: Arc<CaptureMeta>,
    /// The compiled first-match lists, [ingress, egress] (shared by ENIs with equal lists).
    /// Snapshots keep each shared list once (`saved::enis`).
    #[serde(skip)]
    rules: [Arc<Classifier<By>>; 2],
    /// aws untracked flows (D7): does the *other* direction allow all ports of TCP / UDP to
    /// 0.0.0.0/0? Indexed like `rules`, then [tcp, udp].
    allows_all_back: [[bool; 2]; 2],
    /// Its bandwidth limit (tencent, D20; `connect`), when it has one.
    pub bandwidth: Option<Box<Bandwidth>>,
    pub deleted: bool,
    node: NodeIndex,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub vpc: u32,
    pub rules: Vec<sg::Rule>,
    /// Rule lists replaced by later changes: revision `r` is `past[r]`, the current list is
    /// revision `past.len()`. Decisions name a revision, so explanations of packets judged
    /// before a change quote the rule that judged them.
    pub past: Vec<Vec<sg::Rule>>,
    pub deleted: bool,
}

impl SecurityGroup {
    pub fn revision(&self) -> u32 {
        self.past.len() as u32
    }
    pub fn rules_at(&self, rev: u32) -> &[sg::Rule] {
        self.past
            .get(rev as usize)
            .map_or(&self.rules, Vec::as_slice)
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NetworkAcl {
    pub id: String,
    pub name: String,
    pub vpc: u32,
    /// Entries sorted by number.
    pub entries: Vec<acl::Entry>,
    /// Entry lists replaced by later changes (revisions, as for security groups).
    pub past: Vec<Vec<acl::Entry>>,
    pub deleted: bool,
    /// Compiled, [ingress, egress].
    rules: [Classifier<By>; 2],
}

impl NetworkAcl {
    pub fn entries_at(&self, rev: u32) -> &[acl::Entry] {
        self.past
            .get(rev as usize)
            .map_or(&self.entries, Vec::as_slice)
    }
}

/// Where a route sends packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Target {
    Local,
    InternetGateway(u32),
    NatGateway(u32),
    /// An enterprise router (transit gateway), through this VPC's attachment to it.
    Router(u32),
    Blackhole,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    pub destination: Ipv4Net,
    pub target: Target,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RouteTable {
    pub id: String,
    pub name: String,
    pub vpc: u32,
    /// Sorted longest prefix first, so the first match is the longest-prefix match.
    pub routes: Vec<Route>,
    pub deleted: bool,
}

impl RouteTable {
    /// Longest-prefix match (policy.md §6.1).
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<(u32, &Route)> {
        self.routes
            .iter()
            .enumerate()
            .find(|(_, r)| r.destination.contains(dst))
            .map(|(i, r)| (i as u32, r))
    }
}

/// A NAT gateway (policy.md §6.2): a requester-managed ENI in a public subnet that
/// translates the sources of private subnets' traffic to its own address.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NatGateway {
    pub id: String,
    pub name: String,
    pub vpc: u32,
    pub subnet: u32,
    /// Its network interface (requester-managed: no security group, instance `-`).
    pub eni: u32,
    pub deleted: bool,
    pub table: nat::Table,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct InternetGateway {
    pub id: String,
    pub vpc: u32,
    pub deleted: bool,
    node: NodeIndex,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ExternalHost {
    /// Given, or `host-N`: external hosts are not cloud resources, their IDs draw no
    /// randomness.
    pub id: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub host: Host,
    pub deleted: bool,
    /// `None`: on the internet. `Some(a)`: on the on-premises network behind attachment `a`
    /// (a VPN or Direct Connect gateway of an enterprise router).
    pub site: Option<u32>,
    node: NodeIndex,
}

/// A flow log and its collector.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FlowLog {
    pub collector: Collector<Decision>,
    pub deleted: bool,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    /// Where its records are delivered (a log stream of `World::logs`).
    pub log_stream: Option<u32>,
    pub created: Time,
}

/// Nodes of the topology graph. Enterprise routers, NAT gateways, VPN and Direct Connect
/// gateways and cross-region links are further kinds of node (a later issue).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Node {
    Internet,
    Vpc(u32),
    Subnet(u32),
    Eni(u32),
    InternetGateway(u32),
    External(u32),
    /// A Cloud Connect Network, joined to the VPCs attached to it.
    Ccn(u32),
    /// An enterprise router, joined to its attached VPCs, peer routers and on-premises hosts.
    Router(u32),
}

/// The route a packet took out of its subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteHit {
    pub table: u32,
    pub route: u32,
    pub target: Target,
}

/// An address translation on the way (the IGW's elastic-IP 1:1 NAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Translation {
    pub igw: u32,
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    /// True when the source was rewritten (leaving), false for the destination (arriving).
    pub source: bool,
}

/// Why a packet went no further.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Drop {
    /// A security group or ACL denied it.
    Policy(Decision),
    /// No route matched the destination.
    NoRoute { table: u32 },
    /// The matching route is a blackhole.
    Blackhole { table: u32, route: u32 },
    /// Leaving through the internet gateway without a public address.
    NoPublicIp,
    /// A NAT gateway dropped it (D13: REJECT on the gateway's record).
    Nat { nat: u32, why: nat::NatDrop },
    /// An enterprise router dropped it (no route, blackhole, no interface in the sender's
    /// availability zone). The sender's record is ACCEPT; nothing downstream (D13).
    Router { router: u32, why: RouterDrop },
    /// A bandwidth limit dropped it: a CCN region pair's (logged REJECT at the CCN) or an
    /// ENI's (D20).
    Throttled(Throttle),
    /// Nothing answers at the destination address.
    NoHost,
}

/// What became of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fate {
    Delivered {
        to: Endpoint,
        packet: Packet,
    },
    Dropped(Drop),
    /// Traffic the cloud never filters or logs (D18): metadata, DHCP, …
    Excluded,
}

/// The full account of one packet: every stage's decision, the route, translations, fate.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub id: u64,
    pub at: Time,
    pub from: Endpoint,
    pub packet: Packet,
    /// Decisions in the order they were taken: SG/ACL egress, ACL/SG ingress, and the ACLs
    /// of a NAT gateway's subnet on the way through it.
    pub decisions: [Option<Decision>; 8],
    pub route: Option<RouteHit>,
    pub translation: Option<Translation>,
    /// The NAT gateway session it went through, if any, and the route the gateway's
    /// interface took onwards.
    pub nat: Option<NatHit>,
    /// The enterprise router it went through, if any, and the peer router after it (router
    /// peering across regions).
    pub router: Option<RouterHit>,
    pub peer_router: Option<RouterHit>,
    pub onward_route: Option<RouteHit>,
    /// The Cloud Connect Network it crossed, if any.
    pub ccn: Option<CcnHit>,
    pub fate: Fate,
}

/// Why a router dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RouterDrop {
    /// The attachment it arrived on is associated with no route table, or the table has no
    /// route for the destination.
    NoRoute,
    /// The matching route is a blackhole (or its attachment was deleted).
    Blackhole,
    /// The VPC attachment has no interface in the sender's availability zone (policy.md §6.3).
    NoAttachmentInAz,
}

/// The router hop of a packet: where it came in and the route that sent it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouterHit {
    pub router: u32,
    pub from: u32,
    pub choice: Option<crate::router::Choice>,
}

/// A NAT gateway's translation of one packet: the inside (host, port) and the outside
/// (gateway address, NAT port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NatHit {
    pub nat: u32,
    pub inside: (Ipv4Addr, u16),
    pub outside: (Ipv4Addr, u16),
    /// Translated by a DNAT rule (a forwarded flow), not an SNAT session.
    pub forwarded: bool,
}

impl Outcome {
    pub fn delivered(&self) -> Option<(Endpoint, Packet)> {
        match self.fate {
            Fate::Delivered { to, packet } => Some((to, packet)),
            _ => None,
        }
    }
    fn push(&mut self, d: Decision) {
        if let Some(slot) = self.decisions.iter_mut().find(|s| s.is_none()) {
            *slot = Some(d);
        }
    }
}

/// A packet as one capture point saw it (for pcap output).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Captured {
    pub at: Time,
    pub packet_id: u64,
    pub eni: u32,
    pub direction: Direction,
    pub action: Action,
    pub packet: Packet,
}

/// Settings a world is created with.
#[derive(Clone, Debug)]
pub struct Config {
    pub profile: Profile,
    pub seed: u64,
    pub account_id: Option<String>,
    pub region: Option<String>,
    /// How much ground truth each record keeps: packet ids and decisions (scenarios), labels
    /// and decisions (workloads), or none (benchmarks).
    pub truth: TruthLevel,
    /// Keep every packet at every capture point (for `--pcap`).
    pub capture_packets: bool,
}

impl Config {
    pub fn new(profile: Profile) -> Config {
        Config {
            profile,
            seed: 0,
            account_id: None,
            region: None,
            truth: TruthLevel::Packets,
            capture_packets: false,
        }
    }
}

/// What a new ENI needs.
#[derive(Clone, Debug, Default)]
pub struct EniSpec {
    pub name: String,
    pub id: Option<String>,
    pub subnet: u32,
    pub ip: Option<Ipv4Addr>,
    pub eip: Option<Ipv4Addr>,
    pub security_groups: Vec<u32>,
    pub instance_id: Option<String>,
    pub instance_type: Option<String>,
    pub host: Host,
    /// A cloud device's interface (NAT gateway, router attachment): no security group, no
    /// instance (`instance-id` is `-`), created with its device.
    pub requester_managed: bool,
}

pub use connect::{CcnHit, Throttle};
pub use gateways::NatGatewaySpec;
pub use routing::AttachmentInterface;
pub use trains::Trace;

/// What a new flow log needs.
#[derive(Clone, Debug)]
pub struct FlowLogSpec {
    pub name: String,
    pub id: Option<String>,
    pub scope: Scope,
    pub filter: Filter,
    /// `None`: the profile's default window.
    pub window: Option<Span>,
    pub capacity: Option<usize>,
    /// At most 255 characters, no `<` or `>` (seed 003).
    pub description: String,
    pub tags: BTreeMap<String, String>,
    /// The log stream records are delivered to (the API requires one; scenario runs print
    /// records instead).
    pub log_stream: Option<u32>,
}

impl FlowLogSpec {
    /// A flow log named `name` over `scope` that keeps everything, with the profile's window
    /// and capacity and nothing else set.
    pub fn new(name: impl Into<String>, scope: Scope) -> FlowLogSpec {
        FlowLogSpec {
            name: name.into(),
            id: None,
            scope,
            filter: Filter::All,
            window: None,
            capacity: None,
            description: String::new(),
            tags: BTreeMap::new(),
            log_stream: None,
        }
    }
}

/// A change to a flow log: `Some` fields change. Which fields a cloud lets change is in its
/// profile's limits (tencent: name and tags only, seed 002).
#[derive(Clone, Debug, Default)]
pub struct FlowLogUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

/// One simulated cloud. Serialized whole for snapshots (`saved` keeps what is not simply its
/// fields: the topology graph's exact layout, shared classifiers, hash maps in key order), so
/// that a world read back behaves exactly as the one written, packet for packet.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct World {
    pub profile: Profile,
    pub account_id: String,
    pub region: String,
    rng: ChaCha8Rng,
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    #[serde(with = "saved::enis")]
    pub enis: Vec<Eni>,
    pub security_groups: Vec<SecurityGroup>,
    pub acls: Vec<NetworkAcl>,
    pub route_tables: Vec<RouteTable>,
    pub igws: Vec<InternetGateway>,
    pub nats: Vec<NatGateway>,
    pub externals: Vec<ExternalHost>,
    pub flow_logs: Vec<FlowLog>,
    /// Log groups and streams that flow logs deliver to (LTS, SLS, CLS).
    pub logs: LogCatalog,
    /// Enterprise routers and their attachments (configuration; issue 4 routes through them).
    pub routers: Routers,
    /// Each router's node in the topology graph.
    router_nodes: BTreeMap<u32, NodeIndex>,
    /// Cloud Connect Networks (`crate::ccn`, `connect`).
    pub ccns: Ccns,
    /// The topology graph, with what a snapshot needs to rebuild its exact layout.
    graph: Topology,
    internet: NodeIndex,
    /// (VPC, private IP) → ENI, keyed by [`ip_key`].
    #[serde(with = "saved::map")]
    private_ips: Map<u64, u32>,
    /// Public addresses: elastic IPs and external hosts.
    #[serde(with = "saved::map")]
    public_ips: Map<Ipv4Addr, Endpoint>,
    /// Flow logs covering each ENI.
    eni_logs: Vec<Vec<u32>>,
    conntrack: conntrack::Table,
    truth: TruthLevel,
    /// Names of the labels packets carry (index = label): empty unless a workload labels its
    /// traffic, then `benign` first and one per incident.
    #[serde(default)]
    label_names: Vec<std::sync::Arc<str>>,
    /// The label of the packet being sent (see [`World::send_labelled`]).
    #[serde(skip)]
    label: u32,
    packets: u64,
    records: Vec<Record>,
    captures: Option<Vec<Captured>>,
    /// The earliest end of any open flow-log window: a single comparison per packet.
    next_window_end: Time,
    /// Per [`Kind`]: the IDs of live resources and their indices (ordered, for listing).
    ids: [BTreeMap<String, u32>; 14],
    /// What the packet being sent touches, while [`World::send_traced`] runs.
    #[serde(skip)]
    trace: Trace,
}

impl World {
    pub fn new(config: Config) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let account_id = config
            .account_id
            .unwrap_or_else(|| ids::account(&mut rng, config.profile.id_style));
        let region = config
            .region
            .unwrap_or_else(|| config.profile.default_region.to_string());
        let mut graph = Topology::default();
        let internet = graph.add_node(Node::Internet);
        World {
            profile: config.profile,
            account_id,
            region,
            rng,
            vpcs: Vec::new(),
            subnets: Vec::new(),
            enis: Vec::new(),
            security_groups: Vec::new(),
            acls: Vec::new(),
            route_tables: Vec::new(),
            igws: Vec::new(),
            nats: Vec::new(),
            externals: Vec::new(),
            flow_logs: Vec::new(),
            logs: LogCatalog::default(),
            routers: Routers::default(),
            router_nodes: BTreeMap::new(),
            ccns: Ccns::default(),
            graph,
            internet,
            private_ips: map(),
            public_ips: map(),
            eni_logs: Vec::new(),
            conntrack: conntrack::Table::default(),
            truth: config.truth,
            label_names: Vec::new(),
            label: 0,
            packets: 0,
            records: Vec::new(),
            captures: config.capture_packets.then(Vec::new),
            next_window_end: Time(u64::MAX),
            ids: Default::default(),
            trace: Trace::default(),
        }
    }

    /// Runs an operation as one unit: when it refuses, the world is as before. Operations
    /// validate everything before they change anything, so a refusal has changed nothing but,
    /// perhaps, the ID generator: restored here, so that a refused request consumes no
    /// randomness and replaying only the accepted operations gives the same IDs. The API calls
    /// every operation through this.
    pub fn transact<T>(
        &mut self,
        f: impl FnOnce(&mut World) -> Result<T, ModelError>,
    ) -> Result<T, ModelError> {
        let rng = self.rng.clone();
        let result = f(self);
        if result.is_err() {
            self.rng = rng;
        }
        result
    }

    /// The index of the live resource of `kind` with this ID.
    pub fn find(&self, kind: Kind, id: &str) -> Option<u32> {
        self.ids[kind as usize].get(id).copied()
    }

    /// The ID of a live resource.
    pub fn id_of(&self, kind: Kind, idx: u32) -> Option<&str> {
        if !self.is_live(kind, idx) {
            return None;
        }
        let i = idx as usize;
        Some(match kind {
            Kind::Vpc => &self.vpcs[i].id,
            Kind::Subnet => &self.subnets[i].id,
            Kind::Eni => &self.enis[i].id,
            Kind::SecurityGroup => &self.security_groups[i].id,
            Kind::NetworkAcl => &self.acls[i].id,
            Kind::RouteTable => &self.route_tables[i].id,
            Kind::InternetGateway => &self.igws[i].id,
            Kind::ExternalHost => &self.externals[i].id,
            Kind::FlowLog => &self.flow_logs[i].collector.settings.id,
            Kind::LogGroup => &self.logs.groups[i].id,
            Kind::LogStream => &self.logs.streams[i].id,
            Kind::EnterpriseRouter => &self.routers.routers[i].id,
            Kind::RouterAttachment => &self.routers.attachments[i].id,
            Kind::NatGateway => &self.nats[i].id,
        })
    }

    /// Packets sent so far (each packet's id is its number).
    pub fn packets_sent(&self) -> u64 {
        self.packets
    }

    /// The live resources of `kind`, ID → index, ordered by ID (for paginated listing).
    pub fn ids(&self, kind: Kind) -> &BTreeMap<String, u32> {
        &self.ids[kind as usize]
    }

    /// Does a resource of `kind` exist at `idx` and is it not deleted?
    pub fn is_live(&self, kind: Kind, idx: u32) -> bool {
        let i = idx as usize;
        fn ok<T: Resource>(v: &[T], i: usize) -> bool {
            v.get(i).is_some_and(|r| !r.is_deleted())
        }
        match kind {
            Kind::Vpc => ok(&self.vpcs, i),
            Kind::Subnet => ok(&self.subnets, i),
            Kind::Eni => ok(&self.enis, i),
            Kind::SecurityGroup => ok(&self.security_groups, i),
            Kind::NetworkAcl => ok(&self.acls, i),
            Kind::RouteTable => ok(&self.route_tables, i),
            Kind::InternetGateway => ok(&self.igws, i),
            Kind::ExternalHost => ok(&self.externals, i),
            Kind::FlowLog => ok(&self.flow_logs, i),
            Kind::LogGroup => self.logs.groups.get(i).is_some_and(|g| !g.deleted),
            Kind::LogStream => self.logs.streams.get(i).is_some_and(|s| !s.deleted),
            Kind::EnterpriseRouter => self.routers.routers.get(i).is_some_and(|r| !r.deleted),
            Kind::RouterAttachment => self.routers.attachments.get(i).is_some_and(|a| !a.deleted),
            Kind::NatGateway => self.nats.get(i).is_some_and(|n| !n.deleted),
        }
    }

    /// NotFound unless `idx` is a live resource of `kind`.
    fn live_or_not_found(&self, kind: Kind, idx: u32) -> Result<(), ModelError> {
        if self.is_live(kind, idx) {
            Ok(())
        } else {
            let what = match kind {
                Kind::Vpc => "VPC",
                Kind::Eni => "ENI",
                k => k.as_str(),
            };
            Err(ModelError::not_found(
                kind.field(),
                format!("no such {what}"),
            ))
        }
    }

    /// Checks an ID a request gives for a new resource: unique among the live resources of
    /// its kind. (IDs of deleted resources may be given again.)
    fn check_id(&self, kind: Kind, given: Option<&str>) -> Result<(), ModelError> {
        match given {
            Some("") => Err(ModelError::invalid("id", "an ID cannot be empty")),
            Some(id) if self.ids[kind as usize].contains_key(id) => Err(ModelError::exists(
                "id",
                format!("ID `{id}` is already used by another {}", kind.as_str()),
            )),
            _ => Ok(()),
        }
    }

    /// The ID of the new resource `idx` of `kind`: the one given ([`World::check_id`] passed),
    /// or drawn in the cloud's style (drawn again in the unlikely case it is taken). Registers
    /// it: call once every check has passed.
    fn new_id(&mut self, kind: Kind, idx: u32, given: Option<String>, prefix: &str) -> String {
        let id = match given {
            Some(id) => id,
            None => loop {
                let id = ids::resource(&mut self.rng, self.profile.id_style, prefix);
                if !self.ids[kind as usize].contains_key(&id) {
                    break id;
                }
            },
        };
        self.ids[kind as usize].insert(id.clone(), idx);
        id
    }

    /// What the project's model holds, in objects: every resource ever created (deleted ones
    /// are kept, so that past records and explanations still name them), every rule, ACL
    /// entry and route they hold or held (past revisions are kept for explanations), and the
    /// compiled rules of each distinct classifier the ENIs use, one per address a rule holds
    /// (a rule naming a group holds its members'). It grows with the model's memory, and
    /// bounds it (the API's `objects` quota). Costs a walk of the model: O(resources).
    pub fn objects(&self) -> usize {
        let resources = self.vpcs.len()
            + self.subnets.len()
            + self.enis.len()
            + self.security_groups.len()
            + self.acls.len()
            + self.route_tables.len()
            + self.igws.len()
            + self.nats.len()
            + self.externals.len()
            + self.flow_logs.len()
            + self.logs.groups.len()
            + self.logs.streams.len()
            + self.routers.routers.len()
            + self.routers.attachments.len()
            + self.routers.tables.len()
            + self.ccns.items.len();
        let rules: usize = self
            .security_groups
            .iter()
            .map(|g| g.rules.len() + g.past.iter().map(Vec::len).sum::<usize>())
            .sum();
        let entries: usize = self
            .acls
            .iter()
            .map(|a| a.entries.len() + a.past.iter().map(Vec::len).sum::<usize>())
            .sum();
        let routes: usize = self
            .route_tables
            .iter()
            .map(|t| t.routes.len())
            .sum::<usize>()
            + self
                .routers
                .tables
                .iter()
                .map(|t| t.routes.len())
                .sum::<usize>();
        // ENIs with the same groups share their classifiers: each counted once.
        let mut seen = std::collections::BTreeSet::new();
        let compiled: usize = self
            .enis
            .iter()
            .flat_map(|e| e.rules.iter())
            .filter(|c| seen.insert(Arc::as_ptr(c)))
            .flat_map(|c| c.rules().iter())
            // A rule naming a group holds its members' addresses.
            .map(|r| r.nets.len().max(1))
            .sum();
        resources + rules + entries + routes + compiled
    }

    /// Pre-sizes the hot tables for `flows` concurrent connections (benchmarks).
    pub fn reserve_flows(&mut self, flows: usize) {
        self.conntrack = conntrack::Table::with_capacity(flows * 2);
        for fl in &mut self.flow_logs {
            fl.collector.reserve(flows * 2);
        }
    }

    // ----- operations: the one funnel for scenario files and the API -----

    /// Creates a VPC with its main route table (a `local` route), default ACL and default
    /// security group, as the clouds do.
    pub fn create_vpc(
        &mut self,
        name: &str,
        id: Option<String>,
        cidr: Ipv4Net,
    ) -> Result<u32, ModelError> {
        self.create_vpc_in(name, id, cidr, None)
    }

    /// [`World::create_vpc`] in region `region` (`None`: the world's). A VPC's region is
    /// fixed at creation; it matters to Cloud Connect Networks (`crate::ccn`) and shows in
    /// the `region` of its interfaces' records.
    pub fn create_vpc_in(
        &mut self,
        name: &str,
        id: Option<String>,
        cidr: Ipv4Net,
        region: Option<String>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        if let Some(r) = &region {
            crate::ccn::check_region(r).map_err(|m| ModelError::invalid("region", m))?;
        }
        if !(8..=28).contains(&cidr.prefix_len()) {
            return Err(ModelError::invalid(
                "cidr",
                format!("VPC block {cidr} must be between /8 and /28"),
            ));
        }
        if live(&self.vpcs).any(|(_, v)| v.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a VPC named `{name}` already exists"),
            ));
        }
        self.check_id(Kind::Vpc, id.as_deref())?;
        // aws gives every VPC a default ACL that allows everything (rule 100 in and out,
        // policy.md §2); the other clouds filter a subnet only once an ACL is associated.
        let allow_all = vec![
            acl::Entry::allow_all(100, Direction::Ingress),
            acl::Entry::allow_all(100, Direction::Egress),
        ];
        if self.profile.vpc_default_acl {
            check_acl_entries(&self.profile, &allow_all).map_err(|e| e.within("default_acl"))?;
        }
        // Nothing below refuses. IDs are drawn in this order: VPC, main table, ACL, group.
        let v = self.vpcs.len() as u32;
        let id = self.new_id(Kind::Vpc, v, id, "vpc");
        let node = self.graph.add_node(Node::Vpc(v));
        let rt = self.route_tables.len() as u32;
        let rt_id = self.new_id(Kind::RouteTable, rt, None, "rtb");
        self.route_tables.push(RouteTable {
            id: rt_id,
            name: format!("{name}-main"),
            vpc: v,
            routes: vec![Route {
                destination: cidr,
                target: Target::Local,
            }],
            deleted: false,
        });
        let default_acl = if self.profile.vpc_default_acl {
            let acl = self.acls.len() as u32;
            let acl_id = self.new_id(Kind::NetworkAcl, acl, None, "acl");
            self.acls.push(NetworkAcl {
                id: acl_id,
                name: format!("{name}-default"),
                vpc: v,
                entries: Vec::new(),
                past: Vec::new(),
                deleted: false,
                rules: Default::default(),
            });
            Some(acl)
        } else {
            None
        };
        let sg = self.security_groups.len() as u32;
        let sg_id = self.new_id(Kind::SecurityGroup, sg, None, "sg");
        // Default group (policy.md §1.2, §3.2): inbound from itself, all outbound.
        let default_rules = vec![
            sg::Rule {
                remote: Remote::Group(sg),
                priority: 1,
                ..sg::Rule::allow_all(Direction::Ingress)
            },
            sg::Rule {
                priority: 1,
                ..sg::Rule::allow_all(Direction::Egress)
            },
        ];
        self.security_groups.push(SecurityGroup {
            id: sg_id,
            name: "default".into(),
            vpc: v,
            rules: default_rules,
            past: Vec::new(),
            deleted: false,
        });
        self.vpcs.push(Vpc {
            id,
            name: name.into(),
            cidr,
            main_route_table: rt,
            default_acl,
            default_sg: sg,
            igw: None,
            region: region.unwrap_or_else(|| self.region.clone()),
            ccn: None,
            deleted: false,
            node,
        });
        if let Some(acl) = default_acl {
            self.set_acl_entries(acl, allow_all)
                .map_err(|e| e.within("default_acl"))?;
        }
        Ok(v)
    }

    pub fn create_subnet(
        &mut self,
        name: &str,
        id: Option<String>,
        vpc: u32,
        cidr: Ipv4Net,
        az: Option<String>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        let v = self.vpc(vpc)?;
        if !v.cidr.covers(cidr) {
            return Err(ModelError::invalid(
                "cidr",
                format!("subnet {cidr} is not inside its VPC's block {}", v.cidr),
            ));
        }
        if cidr.prefix_len() > 29 {
            return Err(ModelError::invalid(
                "cidr",
                format!("subnet {cidr} is smaller than /29"),
            ));
        }
        if let Some((_, other)) =
            live(&self.subnets).find(|(_, s)| s.vpc == vpc && s.cidr.overlaps(cidr))
        {
            return Err(ModelError::invalid(
                "cidr",
                format!(
                    "subnet {cidr} overlaps subnet `{}` ({})",
                    other.name, other.cidr
                ),
            ));
        }
        if live(&self.subnets).any(|(_, s)| s.vpc == vpc && s.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a subnet named `{name}` already exists in this VPC"),
            ));
        }
        self.check_id(Kind::Subnet, id.as_deref())?;
        let (acl, rt, vnode) = (v.default_acl, v.main_route_table, v.node);
        let s = self.subnets.len() as u32;
        let id = self.new_id(Kind::Subnet, s, id, "subnet");
        let node = self.graph.add_node(Node::Subnet(s));
        self.graph.add_edge(node, vnode, ());
        let az = az.unwrap_or_else(|| self.profile.default_az.to_string());
        self.subnets.push(Subnet {
            id,
            name: name.into(),
            vpc,
            cidr,
            az,
            acl,
            route_table: rt,
            deleted: false,
            node,
        });
        Ok(s)
    }

    /// Attaches an internet gateway to a VPC. Routes to it are the route table's business.
    pub fn create_internet_gateway(
        &mut self,
        vpc: u32,
        id: Option<String>,
    ) -> Result<u32, ModelError> {
        let v = self.vpc(vpc)?;
        if v.igw.is_some() {
            return Err(ModelError::exists(
                "internet_gateway",
                "the VPC already has an internet gateway",
            ));
        }
        self.check_id(Kind::InternetGateway, id.as_deref())?;
        let vnode = v.node;
        let g = self.igws.len() as u32;
        let id = self.new_id(Kind::InternetGateway, g, id, "igw");
        let node = self.graph.add_node(Node::InternetGateway(g));
        self.graph.add_edge(node, vnode, ());
        self.graph.add_edge(node, self.internet, ());
        self.igws.push(InternetGateway {
            id,
            vpc,
            deleted: false,
            node,
        });
        self.vpcs[vpc as usize].igw = Some(g);
        Ok(g)
    }

    pub fn create_security_group(
        &mut self,
        name: &str,
        id: Option<String>,
        vpc: u32,
        rules: Vec<sg::Rule>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        self.vpc(vpc)?;
        if live(&self.security_groups).any(|(_, g)| g.vpc == vpc && g.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a security group named `{name}` already exists in this VPC"),
            ));
        }
        self.check_id(Kind::SecurityGroup, id.as_deref())?;
        // The rules may refer to the new group itself.
        let g = self.security_groups.len() as u32;
        self.check_rules_of(vpc, g, &rules)?;
        let id = self.new_id(Kind::SecurityGroup, g, id, "sg");
        self.security_groups.push(SecurityGroup {
            id,
            name: name.into(),
            vpc,
            rules,
            past: Vec::new(),
            deleted: false,
        });
        Ok(g)
    }

    pub fn create_network_acl(
        &mut self,
        name: &str,
        id: Option<String>,
        vpc: u32,
        entries: Vec<acl::Entry>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        self.vpc(vpc)?;
        if live(&self.acls).any(|(_, a)| a.vpc == vpc && a.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a network ACL named `{name}` already exists in this VPC"),
            ));
        }
        self.check_id(Kind::NetworkAcl, id.as_deref())?;
        check_acl_entries(&self.profile, &entries)?;
        let a = self.acls.len() as u32;
        let id = self.new_id(Kind::NetworkAcl, a, id, "acl");
        self.acls.push(NetworkAcl {
            id,
            name: name.into(),
            vpc,
            entries: Vec::new(),
            past: Vec::new(),
            deleted: false,
            rules: Default::default(),
        });
        self.set_acl_entries(a, entries)?;
        Ok(a)
    }

    pub fn create_route_table(
        &mut self,
        name: &str,
        id: Option<String>,
        vpc: u32,
        routes: Vec<Route>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        let cidr = self.vpc(vpc)?.cidr;
        if live(&self.route_tables).any(|(_, t)| t.vpc == vpc && t.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a route table named `{name}` already exists in this VPC"),
            ));
        }
        self.check_id(Kind::RouteTable, id.as_deref())?;
        let all = self.checked_routes(vpc, cidr, routes)?;
        let t = self.route_tables.len() as u32;
        let id = self.new_id(Kind::RouteTable, t, id, "rtb");
        self.route_tables.push(RouteTable {
            id,
            name: name.into(),
            vpc,
            routes: all,
            deleted: false,
        });
        Ok(t)
    }

    /// A table's routes: the `local` route of the VPC's block followed by `routes`, each
    /// checked (errors name `routes[i]`), sorted longest prefix first.
    fn checked_routes(
        &self,
        vpc: u32,
        cidr: Ipv4Net,
        routes: Vec<Route>,
    ) -> Result<Vec<Route>, ModelError> {
        let mut all = vec![Route {
            destination: cidr,
            target: Target::Local,
        }];
        for (i, r) in routes.into_iter().enumerate() {
            self.check_route(vpc, &r, &all)
                .map_err(|e| e.within(&format!("routes[{i}]")))?;
            all.push(r);
        }
        all.sort_by_key(|r| std::cmp::Reverse(r.destination.prefix_len()));
        Ok(all)
    }

    /// Adds a route to a table (the VPC's main table included).
    pub fn add_route(&mut self, table: u32, route: Route) -> Result<(), ModelError> {
        let t = self.route_table(table)?;
        self.check_route(t.vpc, &route, &t.routes)?;
        let routes = &mut self.route_tables[table as usize].routes;
        routes.push(route);
        routes.sort_by_key(|r| std::cmp::Reverse(r.destination.prefix_len()));
        Ok(())
    }

    fn check_route(&self, vpc: u32, r: &Route, existing: &[Route]) -> Result<(), ModelError> {
        if existing.iter().any(|e| e.destination == r.destination) {
            return Err(ModelError::exists(
                "destination",
                format!("a route to {} already exists", r.destination),
            ));
        }
        match r.target {
            Target::Local => Err(ModelError::invalid(
                "target",
                "`local` routes are created with the VPC",
            )),
            Target::InternetGateway(g)
                if !self.is_live(Kind::InternetGateway, g) || self.igws[g as usize].vpc != vpc =>
            {
                Err(ModelError::not_found(
                    "target",
                    "the internet gateway is not attached to this VPC",
                ))
            }
            Target::NatGateway(n)
                if self
                    .nats
                    .get(n as usize)
                    .is_none_or(|g| g.deleted || g.vpc != vpc) =>
            {
                Err(ModelError::not_found(
                    "target",
                    "the NAT gateway is not in this VPC",
                ))
            }
            Target::Router(a)
                if self.routers.attachments.get(a as usize).is_none_or(|x| {
                    x.deleted
                        || x.kind != crate::router::AttachmentKind::Vpc
                        || x.resource != self.vpcs[vpc as usize].id
                }) =>
            {
                Err(ModelError::not_found(
                    "target",
                    "this VPC is not attached to that enterprise router",
                ))
            }
            _ => Ok(()),
        }
    }

    pub fn associate_route_table(&mut self, subnet: u32, table: u32) -> Result<(), ModelError> {
        let s = self.subnet(subnet)?;
        let t = self.route_table(table)?;
        if t.vpc != s.vpc {
            return Err(ModelError::invalid(
                "route_table",
                "the route table belongs to another VPC",
            ));
        }
        self.subnets[subnet as usize].route_table = table;
        Ok(())
    }

    /// Associates an ACL with a subnet, replacing the previous one (policy.md §2). Takes effect
    /// for the next packet.
    pub fn associate_acl(&mut self, subnet: u32, acl: u32) -> Result<(), ModelError> {
        let s = self.subnet(subnet)?;
        let a = self.acl(acl)?;
        if a.vpc != s.vpc {
            return Err(ModelError::invalid(
                "acl",
                "the network ACL belongs to another VPC",
            ));
        }
        self.subnets[subnet as usize].acl = Some(acl);
        Ok(())
    }

    pub fn create_eni(&mut self, now: Time, spec: EniSpec) -> Result<u32, ModelError> {
        check_name(&spec.name)?;
        let s = self.subnet(spec.subnet)?.clone();
        if live(&self.enis).any(|(_, e)| e.name == spec.name) {
            return Err(ModelError::exists(
                "name",
                format!("an ENI named `{}` already exists", spec.name),
            ));
        }
        self.check_id(Kind::Eni, spec.id.as_deref())?;
        let ip = match spec.ip {
            Some(ip) => {
                self.check_private_ip(&s, ip)?;
                ip
            }
            None => self.next_free_ip(&s).ok_or_else(|| {
                ModelError::precondition(
                    "subnet",
                    format!("subnet `{}` has no free address", s.name),
                )
            })?,
        };
        if let Some(eip) = spec.eip {
            self.check_elastic_ip(s.vpc, eip)?;
        }
        let mut groups = spec.security_groups.clone();
        if groups.is_empty() && !spec.requester_managed {
            groups.push(self.vpcs[s.vpc as usize].default_sg);
        }
        self.check_groups_of_eni(s.vpc, &groups)?;
        let e = self.enis.len() as u32;
        let id = self.new_id(Kind::Eni, e, spec.id, "eni");
        let instance_id = match spec.instance_id {
            Some(i) => Some(i),
            None if spec.requester_managed => None,
            None => Some(ids::resource(&mut self.rng, self.profile.id_style, "i")),
        };
        let meta = Arc::new(CaptureMeta {
            account_id: self.account_id.clone(),
            interface_id: id.clone(),
            vpc_id: self.vpcs[s.vpc as usize].id.clone(),
            subnet_id: s.id.clone(),
            instance_id: instance_id.clone(),
            region: self.vpcs[s.vpc as usize].region.clone(),
            az_id: s.az.clone(),
            primary_ip: ip,
            router_id: None,
            ccn: None,
        });
        let node = self.graph.add_node(Node::Eni(e));
        self.graph.add_edge(node, s.node, ());
        self.enis.push(Eni {
            id,
            name: spec.name,
            subnet: spec.subnet,
            vpc: s.vpc,
            ip,
            eip: spec.eip,
            security_groups: groups,
            instance_id,
            instance_type: spec.instance_type,
            host: spec.host,
            created: now,
            meta,
            rules: Default::default(),
            allows_all_back: [[false; 2]; 2],
            bandwidth: None,
            deleted: false,
            requester_managed: spec.requester_managed,
            node,
        });
        self.private_ips.insert(ip_key(s.vpc, ip), e);
        if let Some(eip) = spec.eip {
            self.public_ips.insert(eip, Endpoint::Eni(e));
        }
        let logs = self.logs_covering(e as usize);
        self.eni_logs.push(logs);
        self.recompile_vpc(s.vpc);
        Ok(e)
    }

    /// An ENI's groups (errors name `security_groups[i]`): live groups of its VPC.
    fn check_groups_of_eni(&self, vpc: u32, groups: &[u32]) -> Result<(), ModelError> {
        for (i, &g) in groups.iter().enumerate() {
            if !self.is_live(Kind::SecurityGroup, g) {
                return Err(ModelError::not_found(
                    format!("security_groups[{i}]"),
                    "no such security group",
                ));
            }
            if self.security_groups[g as usize].vpc != vpc {
                return Err(ModelError::invalid(
                    format!("security_groups[{i}]"),
                    "the security group belongs to another VPC",
                ));
            }
        }
        Ok(())
    }

    /// An elastic IP for an ENI of `vpc`: a public address nothing else uses, on a VPC with
    /// an internet gateway.
    fn check_elastic_ip(&self, vpc: u32, eip: Ipv4Addr) -> Result<(), ModelError> {
        if self.public_ips.contains_key(&eip) {
            return Err(ModelError::exists(
                "eip",
                format!("{eip} is already in use as a public address"),
            ));
        }
        if self.vpcs[vpc as usize].igw.is_none() {
            return Err(ModelError::precondition(
                "eip",
                "an elastic IP needs an internet gateway on the VPC",
            ));
        }
        Ok(())
    }

    fn check_private_ip(&self, s: &Subnet, ip: Ipv4Addr) -> Result<(), ModelError> {
        if !s.cidr.contains(ip) {
            return Err(ModelError::invalid(
                "ip",
                format!("{ip} is not inside subnet `{}` ({})", s.name, s.cidr),
            ));
        }
        let offset = u32::from(ip) - u32::from(s.cidr.network());
        if offset < self.reserved_low() || ip == s.cidr.broadcast() {
            return Err(ModelError::invalid(
                "ip",
                format!("{ip} is reserved in subnet {}", s.cidr),
            ));
        }
        if self.private_ips.contains_key(&ip_key(s.vpc, ip)) {
            return Err(ModelError::exists(
                "ip",
                format!("{ip} is already used by another ENI"),
            ));
        }
        Ok(())
    }

    /// The first host addresses of a subnet are the cloud's (network, gateway; aws also DNS
    /// and a spare: policy.md §6.1).
    fn reserved_low(&self) -> u32 {
        if self.profile.exclude_vpc_dns { 4 } else { 2 }
    }

    /// The lowest address of the subnet no live ENI holds (deleted ENIs release theirs).
    fn next_free_ip(&self, s: &Subnet) -> Option<Ipv4Addr> {
        (self.reserved_low()..(s.cidr.size() as u32).saturating_sub(1))
            .filter_map(|n| s.cidr.nth(n))
            .find(|ip| !self.private_ips.contains_key(&ip_key(s.vpc, *ip)))
    }

    pub fn create_external_host(
        &mut self,
        name: &str,
        ip: Ipv4Addr,
        host: Host,
    ) -> Result<u32, ModelError> {
        self.create_external_host_with_id(name, None, ip, host)
    }

    /// [`World::create_external_host`] with the ID given (`None`: `host-N`, N its number).
    pub fn create_external_host_with_id(
        &mut self,
        name: &str,
        id: Option<String>,
        ip: Ipv4Addr,
        host: Host,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        if self.public_ips.contains_key(&ip) {
            return Err(ModelError::exists(
                "ip",
                format!("{ip} is already in use as a public address"),
            ));
        }
        if live(&self.externals).any(|(_, h)| h.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("an external host named `{name}` already exists"),
            ));
        }
        self.check_id(Kind::ExternalHost, id.as_deref())?;
        let x = self.externals.len() as u32;
        // Not drawn from the generator: adding a host never renames the cloud's resources.
        let id = id.unwrap_or_else(|| {
            let mut id = format!("host-{}", x + 1);
            let mut n = 1;
            while self.ids[Kind::ExternalHost as usize].contains_key(&id) {
                n += 1;
                id = format!("host-{}-{n}", x + 1);
            }
            id
        });
        self.ids[Kind::ExternalHost as usize].insert(id.clone(), x);
        let node = self.graph.add_node(Node::External(x));
        self.graph.add_edge(node, self.internet, ());
        self.externals.push(ExternalHost {
            id,
            name: name.into(),
            ip,
            host,
            deleted: false,
            site: None,
            node,
        });
        self.public_ips.insert(ip, Endpoint::External(x));
        Ok(x)
    }

    pub fn create_flow_log(&mut self, now: Time, spec: FlowLogSpec) -> Result<u32, ModelError> {
        limits::check_flow_log_name(&spec.name).map_err(|m| ModelError::invalid("name", m))?;
        limits::check_description(&spec.description)
            .map_err(|m| ModelError::invalid("description", m))?;
        if live(&self.flow_logs).any(|(_, f)| f.collector.settings.name == spec.name) {
            return Err(ModelError::exists(
                "name",
                format!("a flow log named `{}` already exists", spec.name),
            ));
        }
        self.check_id(Kind::FlowLog, spec.id.as_deref())?;
        let exists = match spec.scope {
            Scope::Eni(i) => self.is_live(Kind::Eni, i),
            Scope::Subnet(i) => self.is_live(Kind::Subnet, i),
            Scope::Vpc(i) => self.is_live(Kind::Vpc, i),
            Scope::RouterAttachment(i) => self.is_live(Kind::RouterAttachment, i),
            Scope::Ccn(i) => self.ccns.get(i).is_some(),
        };
        if !exists {
            return Err(ModelError::not_found(
                "resource",
                "the flow log's resource does not exist",
            ));
        }
        if let Some(s) = spec.log_stream
            && !self.is_live(Kind::LogStream, s)
        {
            return Err(ModelError::not_found("log_stream", "no such log stream"));
        }
        self.check_flow_log_allowed(spec.scope)?;
        // ENI and router flow logs have their own windows (router_logs).
        let window = self.check_flow_log_window(spec.scope, spec.window, spec.filter)?;
        let capacity = spec.capacity.unwrap_or(self.profile.window_capacity);
        if capacity == 0 {
            return Err(ModelError::invalid(
                "capacity",
                "capacity must be at least 1 record per window",
            ));
        }
        let f = self.flow_logs.len() as u32;
        let id = self.new_id(Kind::FlowLog, f, spec.id, "fl");
        let settings = Settings {
            id,
            name: spec.name,
            scope: spec.scope,
            filter: spec.filter,
            window,
            capacity,
        };
        self.flow_logs.push(FlowLog {
            collector: Collector::new(settings, now, self.truth),
            deleted: false,
            description: spec.description,
            tags: spec.tags,
            log_stream: spec.log_stream,
            created: now,
        });
        self.cover_with(f);
        Ok(f)
    }

    /// Does live flow log `f` capture at ENI `e`?
    fn covers(&self, f: &FlowLog, e: usize) -> bool {
        let eni = &self.enis[e];
        match f.collector.settings.scope {
            Scope::Eni(i) => i as usize == e,
            Scope::Subnet(s) => s == eni.subnet,
            Scope::Vpc(v) => v == eni.vpc,
            Scope::RouterAttachment(_) | Scope::Ccn(_) => false,
        }
    }

    /// The live flow logs that capture at new ENI `e`, in creation order: one walk of the flow
    /// logs, not of every ENI (a create costs what it changes).
    fn logs_covering(&self, e: usize) -> Vec<u32> {
        live(&self.flow_logs)
            .filter(|(_, fl)| self.covers(fl, e))
            .map(|(f, _)| f)
            .collect()
    }

    /// A new flow log `f` (the highest index so far) joins the lists of the live ENIs it
    /// covers, which stay in creation order.
    fn cover_with(&mut self, f: u32) {
        let fl = &self.flow_logs[f as usize];
        let covered: Vec<usize> = live(&self.enis)
            .map(|(e, _)| e as usize)
            .filter(|&e| self.covers(fl, e))
            .collect();
        for e in covered {
            self.eni_logs[e].push(f);
        }
        self.refresh_ccn_coverage();
        self.next_window_end = self.earliest_window_end();
    }

    /// Deleted flow log `f` leaves every ENI's list.
    fn uncover(&mut self, f: u32) {
        for logs in &mut self.eni_logs {
            logs.retain(|&g| g != f);
        }
        self.refresh_ccn_coverage();
        self.next_window_end = self.earliest_window_end();
    }

    /// The earliest end of a live flow log's open window.
    fn earliest_window_end(&self) -> Time {
        live(&self.flow_logs)
            .map(|(_, f)| f.collector.current_window_end())
            .min()
            .unwrap_or(Time(u64::MAX))
    }

    // ----- changes to policy -----

    /// Replaces a security group's rules. Connections already tracked are treated as the
    /// profile says (D8).
    pub fn set_security_group_rules(
        &mut self,
        now: Time,
        group: u32,
        rules: Vec<sg::Rule>,
    ) -> Result<(), ModelError> {
        self.check_security_group_rules(group, &rules)?;
        let g = &mut self.security_groups[group as usize];
        let old = std::mem::replace(&mut g.rules, rules);
        g.past.push(old);
        let vpc = g.vpc;
        self.recompile_vpc(vpc);
        let members: Vec<u32> = live(&self.enis)
            .filter(|(_, e)| e.security_groups.contains(&group))
            .map(|(i, _)| i)
            .collect();
        for e in members {
            self.apply_rule_change(now, e);
        }
        Ok(())
    }

    /// Replaces the groups of an ENI (in order).
    pub fn set_eni_security_groups(
        &mut self,
        now: Time,
        eni: u32,
        groups: Vec<u32>,
    ) -> Result<(), ModelError> {
        let vpc = self.eni(eni)?.vpc;
        self.check_groups_of_eni(vpc, &groups)?;
        self.enis[eni as usize].security_groups = groups;
        self.recompile_vpc(vpc);
        self.apply_rule_change(now, eni);
        Ok(())
    }

    /// Replaces an ACL's entries. Stateless ACLs judge the next packet by the new entries;
    /// huawei's tracked ACLs keep existing connections (D8).
    pub fn set_acl_entries(
        &mut self,
        acl: u32,
        mut entries: Vec<acl::Entry>,
    ) -> Result<(), ModelError> {
        check_acl_entries(&self.profile, &entries)?;
        self.acl(acl)?;
        let a = &mut self.acls[acl as usize];
        entries.sort_by_key(|e| e.number);
        // The new entries become the revision after the current one.
        let rev = a.past.len() as u32 + 1;
        let compile = |dir: Direction| {
            Classifier::new(
                entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.direction == dir)
                    .map(|(i, e)| Compiled {
                        protocol: e.protocol,
                        dports: e.ports,
                        sports: e.source_ports,
                        nets: vec![e.cidr],
                        action: e.action,
                        origin: By::AclRule {
                            acl,
                            rev,
                            rule: i as u32,
                        },
                    })
                    .collect(),
            )
        };
        a.rules = [compile(Direction::Ingress), compile(Direction::Egress)];
        let old = std::mem::replace(&mut a.entries, entries);
        a.past.push(old);
        Ok(())
    }

    /// Checks rules for a group without applying them (the same checks as applying them).
    pub fn check_security_group_rules(
        &self,
        group: u32,
        rules: &[sg::Rule],
    ) -> Result<(), ModelError> {
        let vpc = self.security_group(group)?.vpc;
        self.check_rules_of(vpc, group, rules)
    }

    /// Rules for group `group` of `vpc` (which may not exist yet: a group being created).
    fn check_rules_of(&self, vpc: u32, group: u32, rules: &[sg::Rule]) -> Result<(), ModelError> {
        for (i, r) in rules.iter().enumerate() {
            let at = |f: &str| format!("rules[{i}].{f}");
            if r.action == RuleAction::Deny && !self.profile.sg_deny_rules {
                return Err(ModelError::invalid(
                    at("action"),
                    format!(
                        "{} security groups only have allow rules",
                        self.profile.provider
                    ),
                ));
            }
            if let Some((lo, hi)) = self.profile.sg_priority
                && !(lo..=hi).contains(&r.priority)
            {
                return Err(ModelError::invalid(
                    at("priority"),
                    format!("priority {} is outside {lo}-{hi}", r.priority),
                ));
            }
            if !r.ports.is_all() && !r.protocol.has_ports() {
                return Err(ModelError::invalid(
                    at("ports"),
                    format!("ports apply to TCP and UDP only, not {}", r.protocol),
                ));
            }
            if let Remote::Group(g) = r.remote
                && g != group
                && (!self.is_live(Kind::SecurityGroup, g)
                    || self.security_groups[g as usize].vpc != vpc)
            {
                return Err(ModelError::not_found(
                    at("remote"),
                    "the referenced security group is not in this VPC",
                ));
            }
        }
        Ok(())
    }

    fn apply_rule_change(&mut self, _now: Time, eni: u32) {
        let zone = Zone::Eni(eni);
        match self.profile.rule_change {
            RuleChange::KeepTracked => {}
            RuleChange::ClearInbound => {
                self.conntrack
                    .purge(zone, |c| c.opened == Direction::Ingress);
            }
            RuleChange::CutIfDenied => {
                let rules = &self.enis[eni as usize].rules;
                self.conntrack.purge(zone, |c| {
                    let view = PacketView {
                        protocol: c.protocol,
                        sport: c.opener.1,
                        dport: c.other.1,
                        icmp_type: (c.protocol == proto::ICMP)
                            .then_some(crate::packet::icmp::ECHO_REQUEST),
                        icmp_code: (c.protocol == proto::ICMP).then_some(0),
                    };
                    let (remote, set) = match c.opened {
                        Direction::Ingress => (c.opener.0, &rules[0]),
                        Direction::Egress => (c.other.0, &rules[1]),
                    };
                    set.first_match(remote, &view)
                        .is_none_or(|r| r.action != RuleAction::Allow)
                });
            }
        }
        // Connections cut leave with their flow-log counters.
        self.settle_carried();
    }

    /// Recompiles every ENI of a VPC: group references and memberships may have changed.
    /// A classifier depends on nothing but its rule list, so an ENI whose list did not change
    /// keeps its classifier, and ENIs with equal lists (the same groups) share one: each
    /// distinct list is compiled once.
    fn recompile_vpc(&mut self, vpc: u32) {
        // The members' addresses of every group, walked once (not once per rule per ENI).
        let mut members: Map<u32, Vec<Ipv4Net>> = map();
        for (_, e) in live(&self.enis) {
            for &g in &e.security_groups {
                members.entry(g).or_default().push(Ipv4Net::host(e.ip));
            }
        }
        // ENIs with the same groups in the same order get the same rules: each distinct list
        // of groups is compiled once, so a create in a VPC of n interfaces costs O(n), not O(n²).
        type Rules = ([Arc<Classifier<By>>; 2], [[bool; 2]; 2]);
        let mut by_groups: Map<Vec<u32>, Rules> = map();
        for e in 0..self.enis.len() {
            let eni = &self.enis[e];
            if eni.vpc != vpc || eni.deleted {
                continue;
            }
            let (rules, allows_all_back) = match by_groups.get(&eni.security_groups) {
                Some(done) => done.clone(),
                None => {
                    let rules = [Direction::Ingress, Direction::Egress].map(|dir| {
                        let list = self.sg_rule_list(e as u32, dir, &members);
                        let old = &eni.rules[dir as usize];
                        if old.rules() == list.as_slice() {
                            old.clone()
                        } else {
                            Arc::new(Classifier::new(list))
                        }
                    });
                    let back = |set: &Classifier<By>, p: ProtoMatch| {
                        set.rules().iter().any(|r| {
                            r.action == RuleAction::Allow
                                && (r.protocol == ProtoMatch::Any || r.protocol == p)
                                && r.dports.is_all()
                                && r.nets.contains(&Ipv4Net::ANY)
                        })
                    };
                    let allows_all_back = [
                        [
                            back(&rules[1], ProtoMatch::Tcp),
                            back(&rules[1], ProtoMatch::Udp),
                        ],
                        [
                            back(&rules[0], ProtoMatch::Tcp),
                            back(&rules[0], ProtoMatch::Udp),
                        ],
                    ];
                    let done = (rules, allows_all_back);
                    by_groups.insert(eni.security_groups.clone(), done.clone());
                    done
                }
            };
            let eni = &mut self.enis[e];
            eni.rules = rules;
            eni.allows_all_back = allows_all_back;
        }
    }

    /// The ENI's security groups as one first-match list, ordered as the cloud orders them
    /// (D3), followed by the cloud's implicit rules.
    fn sg_rule_list(
        &self,
        eni: u32,
        dir: Direction,
        members: &Map<u32, Vec<Ipv4Net>>,
    ) -> Vec<Compiled<By>> {
        let e = &self.enis[eni as usize];
        let mut rules: Vec<(u32, u32, &sg::Rule)> = Vec::new();
        for &g in &e.security_groups {
            let group = &self.security_groups[g as usize];
            let mut own: Vec<(u32, u32, &sg::Rule)> = group
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.direction == dir)
                .map(|(i, r)| (g, i as u32, r))
                .collect();
            if self.profile.sg_order == SgOrder::GroupThenPriority {
                own.sort_by_key(|(_, _, r)| (r.priority, r.action == RuleAction::Allow));
            }
            rules.extend(own);
        }
        if self.profile.sg_order == SgOrder::MergedPriority {
            rules.sort_by_key(|(_, _, r)| (r.priority, r.action == RuleAction::Allow));
        }
        let mut compiled: Vec<Compiled<By>> = rules
            .into_iter()
            .map(|(g, i, r)| Compiled {
                protocol: r.protocol,
                dports: r.ports,
                sports: PortRange::ALL,
                nets: remote_nets(&r.remote, members),
                action: r.action,
                origin: By::SgRule {
                    sg: g,
                    rev: self.security_groups[g as usize].revision(),
                    rule: i,
                    tracked: true,
                },
            })
            .collect();
        if self.profile.sg_implicit_same_group_ingress && dir == Direction::Ingress {
            for &g in &e.security_groups {
                compiled.push(Compiled {
                    protocol: ProtoMatch::Any,
                    dports: PortRange::ALL,
                    sports: PortRange::ALL,
                    nets: remote_nets(&Remote::Group(g), members),
                    action: RuleAction::Allow,
                    origin: By::SgSameGroup { sg: g },
                });
            }
        }
        if self.profile.sg_implicit_egress_allow_all && dir == Direction::Egress {
            compiled.push(Compiled {
                protocol: ProtoMatch::Any,
                dports: PortRange::ALL,
                sports: PortRange::ALL,
                nets: vec![Ipv4Net::ANY],
                action: RuleAction::Allow,
                origin: By::SgImplicitEgress,
            });
        }
        compiled
    }

    // ----- the per-packet path -----

    /// Sends a packet from an endpoint through the network. The packet's source address must
    /// be the endpoint's own (the scenario layer fills it in).
    pub fn send(&mut self, now: Time, from: Endpoint, packet: Packet) -> Outcome {
        self.send_labelled(now, from, packet, 0)
    }

    /// Names the labels packets may carry (index = label, see [`World::send_labelled`]):
    /// records then say how many of their packets carry each.
    pub fn set_label_names(&mut self, names: Vec<String>) {
        self.label_names = names.into_iter().map(Into::into).collect();
    }

    /// The names of the labels packets carry (empty when traffic is not labelled).
    pub fn label_names(&self) -> &[std::sync::Arc<str>] {
        &self.label_names
    }

    /// [`World::send`] for a packet that carries `label` (what the traffic is: benign, or
    /// which incident): every record counting it says so.
    pub fn send_labelled(
        &mut self,
        now: Time,
        from: Endpoint,
        packet: Packet,
        label: u32,
    ) -> Outcome {
        self.label = label;
        if now >= self.next_window_end {
            self.advance(now);
        }
        self.packets += 1;
        let mut out = Outcome {
            id: self.packets,
            at: now,
            from,
            packet,
            decisions: [None; 8],
            route: None,
            translation: None,
            nat: None,
            router: None,
            peer_router: None,
            onward_route: None,
            ccn: None,
            fate: Fate::Dropped(Drop::NoHost),
        };
        // Filled in place: the outcome is built where it is returned, not copied there.
        self.pipeline(now, from, packet, &mut out);
        out
    }

    /// Sends packets one after the other, each at its own time, exactly as [`World::send`]
    /// would in turn, handing each outcome to `each` as it comes. Meanwhile the memory of
    /// the packets a few places ahead (their connections' buckets) is asked for early, so
    /// that the cache misses of consecutive packets overlap instead of queueing: only timing
    /// differs from a loop of `send`.
    pub fn send_batch(
        &mut self,
        batch: &[(Time, Endpoint, Packet)],
        mut each: impl FnMut(Outcome),
    ) {
        for (_, _, p) in batch.iter().take(SEND_AHEAD) {
            self.conntrack.prefetch(p);
        }
        for (i, &(now, from, packet)) in batch.iter().enumerate() {
            if let Some((_, _, p)) = batch.get(i + SEND_AHEAD) {
                self.conntrack.prefetch(p);
            }
            each(self.send(now, from, packet));
        }
    }

    /// The per-packet path of [`World::send`], writing what happens into `out`.
    fn pipeline(&mut self, now: Time, from: Endpoint, packet: Packet, out: &mut Outcome) {
        let view = PacketView::of(&packet);
        let mut pkt = packet;
        match from {
            Endpoint::Eni(a) => {
                let (vpc, subnet, deleted) = {
                    let e = &self.enis[a as usize];
                    (e.vpc, e.subnet, e.deleted)
                };
                // Traffic scheduled before its sender was deleted goes nowhere.
                if deleted {
                    return;
                }
                let dns = self.vpcs[vpc as usize].dns();
                if self
                    .profile
                    .is_excluded(pkt.dst, view.protocol, view.dport, Some(dns))
                {
                    out.fate = Fate::Excluded;
                    return;
                }
                // Start loading the packet's connection entries (both ends' sit together).
                self.conntrack.prefetch(&pkt);
                // 1. Security group, egress (a cloud device's interface has none).
                let (d, tracked) = if self.enis[a as usize].requester_managed {
                    (None, None)
                } else {
                    let (v, tracked) =
                        self.sg_check(now, a, Direction::Egress, &pkt, &view, pkt.dst);
                    let d = Decision {
                        stage: Stage::SgEgress,
                        at: a,
                        verdict: v,
                    };
                    out.push(d);
                    if !v.allows() {
                        self.capture(
                            now,
                            a,
                            Direction::Egress,
                            Action::Reject,
                            &pkt,
                            None,
                            out.id,
                            [Some(d), None],
                            tracked,
                        );
                        out.fate = Fate::Dropped(Drop::Policy(d));
                        return;
                    }
                    (Some(d), tracked)
                };
                // 2. ACL, egress, when the packet leaves the subnet.
                let d2 = if self.subnets[subnet as usize].cidr.contains(pkt.dst) {
                    Decision {
                        stage: Stage::AclEgress,
                        at: subnet,
                        verdict: Verdict::SameSubnet,
                    }
                } else {
                    let v = self.acl_check(now, subnet, Direction::Egress, &pkt, &view, pkt.dst);
                    Decision {
                        stage: Stage::AclEgress,
                        at: subnet,
                        verdict: v,
                    }
                };
                out.push(d2);
                if !d2.verdict.allows() {
                    self.capture(
                        now,
                        a,
                        Direction::Egress,
                        Action::Reject,
                        &pkt,
                        None,
                        out.id,
                        [d, Some(d2)],
                        tracked,
                    );
                    out.fate = Fate::Dropped(Drop::Policy(d2));
                    return;
                }
                // 3. Route.
                let table = self.subnets[subnet as usize].route_table;
                let hit = self.route_tables[table as usize]
                    .lookup(pkt.dst)
                    .map(|(i, r)| RouteHit {
                        table,
                        route: i,
                        target: r.target,
                    });
                // A route learned from the VPC's Cloud Connect Network, when longer (connect).
                let ccn = self.ccn_route(vpc, pkt.dst, hit);
                let hit = if ccn.is_some() { None } else { hit };
                if out.nat.is_some() || out.router.is_some() {
                    out.onward_route = hit;
                } else {
                    out.route = hit;
                }
                let path = match hit.map(|h| h.target) {
                    Some(Target::InternetGateway(_)) => Some(TrafficPath::InternetGateway),
                    Some(Target::Local) => Some(TrafficPath::SameVpc),
                    // A NAT gateway or a transit gateway attachment is a resource with an
                    // interface in the VPC (aws: 1).
                    Some(Target::NatGateway(_) | Target::Router(_)) => Some(TrafficPath::SameVpc),
                    _ => None,
                };
                self.capture(
                    now,
                    a,
                    Direction::Egress,
                    Action::Accept,
                    &pkt,
                    path,
                    out.id,
                    [d, Some(d2)],
                    tracked,
                );
                // Over the ENI's egress bandwidth limit: dropped once captured (D20).
                if !self.eni_admits(now, a, Direction::Egress, pkt.len, out) {
                    return;
                }
                if let Some(c) = ccn {
                    self.through_ccn(now, c, pkt, out);
                    return;
                }
                let Some(hit) = hit else {
                    out.fate = Fate::Dropped(Drop::NoRoute { table });
                    return;
                };
                match hit.target {
                    Target::Blackhole => {
                        out.fate = Fate::Dropped(Drop::Blackhole {
                            table,
                            route: hit.route,
                        });
                    }
                    Target::Local => match self.private_ips.get(&ip_key(vpc, pkt.dst)).copied() {
                        Some(b) => self.arrive(now, b, pkt, &view, out),
                        None => out.fate = Fate::Dropped(Drop::NoHost),
                    },
                    Target::NatGateway(n) => self.through_nat(now, n, pkt, out),
                    Target::Router(att) => {
                        let az = self.subnets[subnet as usize].az.clone();
                        self.through_router(now, att, &az, pkt, out);
                    }
                    Target::InternetGateway(g) => {
                        let Some(eip) = self.enis[a as usize].eip else {
                            out.fate = Fate::Dropped(Drop::NoPublicIp);
                            return;
                        };
                        out.translation = Some(Translation {
                            igw: g,
                            from: pkt.src,
                            to: eip,
                            source: true,
                        });
                        pkt.src = eip;
                        self.cross_internet(now, pkt, &view, out);
                    }
                }
            }
            Endpoint::External(x) => {
                let h = &self.externals[x as usize];
                match (h.deleted, h.site) {
                    (true, _) => {}
                    // On premises: into the cloud through the site's gateway attachment.
                    (false, Some(att)) => self.through_router(now, att, "", pkt, out),
                    (false, None) => self.cross_internet(now, pkt, &view, out),
                }
            }
        }
    }

    /// A packet on the internet: to an external host, or through an IGW to an elastic IP.
    fn cross_internet(&mut self, now: Time, mut pkt: Packet, view: &PacketView, out: &mut Outcome) {
        match self.public_ips.get(&pkt.dst).copied() {
            Some(Endpoint::External(x)) => {
                out.fate = Fate::Delivered {
                    to: Endpoint::External(x),
                    packet: pkt,
                }
            }
            Some(Endpoint::Eni(b)) => {
                let e = &self.enis[b as usize];
                let igw = self.vpcs[e.vpc as usize].igw.unwrap_or(0);
                // The IGW maps the elastic IP 1:1 to the private IP, in the quoted header of an
                // ICMP error as well.
                if out.translation.is_none() {
                    out.translation = Some(Translation {
                        igw,
                        from: pkt.dst,
                        to: e.ip,
                        source: false,
                    });
                }
                if let L4::Icmp {
                    embedded: Some(emb),
                    ..
                } = &mut pkt.l4
                    && emb.src == pkt.dst
                {
                    emb.src = e.ip;
                }
                pkt.dst = e.ip;
                self.arrive(now, b, pkt, view, out);
            }
            None => out.fate = Fate::Dropped(Drop::NoHost),
        }
    }

    /// Ingress at ENI `b`: ACL if the packet enters the subnet, then the security group (a
    /// cloud device's interface has none: a NAT gateway translates and forwards instead).
    fn arrive(&mut self, now: Time, b: u32, pkt: Packet, view: &PacketView, out: &mut Outcome) {
        // Over the ENI's ingress bandwidth limit: dropped before any capture (D20).
        if !self.eni_admits(now, b, Direction::Ingress, pkt.len, out) {
            return;
        }
        let Some(d1) = self.enter_subnet(now, b, &pkt, view, out) else {
            return;
        };
        if self.enis[b as usize].requester_managed {
            match self.nats.iter().position(|n| n.eni == b && !n.deleted) {
                Some(n) => self.back_through_nat(now, n as u32, pkt, d1, out),
                None => out.fate = Fate::Dropped(Drop::NoHost),
            }
            return;
        }
        let (v, tracked) = self.sg_check(now, b, Direction::Ingress, &pkt, view, pkt.src);
        let d2 = Decision {
            stage: Stage::SgIngress,
            at: b,
            verdict: v,
        };
        out.push(d2);
        if !v.allows() {
            self.capture(
                now,
                b,
                Direction::Ingress,
                Action::Reject,
                &pkt,
                None,
                out.id,
                [Some(d1), Some(d2)],
                tracked,
            );
            out.fate = Fate::Dropped(Drop::Policy(d2));
            return;
        }
        self.capture(
            now,
            b,
            Direction::Ingress,
            Action::Accept,
            &pkt,
            None,
            out.id,
            [Some(d1), Some(d2)],
            tracked,
        );
        out.fate = Fate::Delivered {
            to: Endpoint::Eni(b),
            packet: pkt,
        };
    }

    /// The network ACL of `b`'s subnet on the way in, when the packet enters the subnet from
    /// outside. `None` when it drops the packet (recorded as REJECT at `b`).
    fn enter_subnet(
        &mut self,
        now: Time,
        b: u32,
        pkt: &Packet,
        view: &PacketView,
        out: &mut Outcome,
    ) -> Option<Decision> {
        let subnet = self.enis[b as usize].subnet;
        let d1 = if self.subnets[subnet as usize].cidr.contains(pkt.src) {
            Decision {
                stage: Stage::AclIngress,
                at: subnet,
                verdict: Verdict::SameSubnet,
            }
        } else {
            let v = self.acl_check(now, subnet, Direction::Ingress, pkt, view, pkt.src);
            Decision {
                stage: Stage::AclIngress,
                at: subnet,
                verdict: v,
            }
        };
        out.push(d1);
        if !d1.verdict.allows() {
            self.capture(
                now,
                b,
                Direction::Ingress,
                Action::Reject,
                pkt,
                None,
                out.id,
                [Some(d1), None],
                None,
            );
            out.fate = Fate::Dropped(Drop::Policy(d1));
            return None;
        }
        Some(d1)
    }

    /// A packet routed to NAT gateway `n` from inside its VPC: it enters the gateway's
    /// interface (recorded there with the real destination in `pkt-dstaddr`), leaves it with
    /// the gateway's address and a NAT port as its source, and goes on from there like any
    /// packet the gateway's interface sends (policy.md §6.2, flowlogs.md §1.7).
    fn through_nat(&mut self, now: Time, n: u32, pkt: Packet, out: &mut Outcome) {
        let e = self.nats[n as usize].eni;
        let view = PacketView::of(&pkt);
        let Some(d1) = self.enter_subnet(now, e, &pkt, &view, out) else {
            return;
        };
        let (sport, dport) = nat_ports(&pkt);
        let k = nat::Inside {
            protocol: pkt.protocol(),
            src: pkt.src,
            sport,
            dst: pkt.dst,
            dport,
        };
        let (idle, limit) = (
            self.profile.nat_idle_timeout,
            self.profile.nat_sessions_per_destination,
        );
        // A reply of a flow a DNAT rule forwarded leaves from the rule's port; anything else
        // is source-NATed.
        let table = &mut self.nats[n as usize].table;
        let forwarded = table.forwarded_reply(now, idle, k);
        let port = match forwarded {
            Some(p) => Ok(p),
            None => table.outbound(now, idle, limit, k),
        };
        let (action, d2) = nat_decision(n, port.err());
        self.capture(
            now,
            e,
            Direction::Ingress,
            action,
            &pkt,
            None,
            out.id,
            [Some(d1), d2],
            None,
        );
        let port = match port {
            Ok(p) => p,
            Err(why) => {
                out.fate = Fate::Dropped(Drop::Nat { nat: n, why });
                return;
            }
        };
        let mut translated = pkt;
        translated.src = self.enis[e as usize].ip;
        set_nat_ports(&mut translated, Some(port), None);
        out.nat = Some(NatHit {
            nat: n,
            inside: (pkt.src, sport),
            outside: (translated.src, port),
            forwarded: forwarded.is_some(),
        });
        self.pipeline(now, Endpoint::Eni(e), translated, out);
    }

    /// A packet that reached NAT gateway `n`'s interface from outside: a reply of a session
    /// is translated back to the inside host and sent on; anything else is dropped there.
    fn back_through_nat(
        &mut self,
        now: Time,
        n: u32,
        pkt: Packet,
        d1: Decision,
        out: &mut Outcome,
    ) {
        let e = self.nats[n as usize].eni;
        let (sport, dport) = nat_ports(&pkt);
        let idle = self.profile.nat_idle_timeout;
        let table = &mut self.nats[n as usize].table;
        let mut forwarded = false;
        // A reply of an SNAT session first, then the DNAT rules (port forwarding).
        let inside = match table.inbound(now, idle, pkt.protocol(), pkt.src, sport, dport) {
            Err(nat::NatDrop::NoSession) if pkt.dst == self.enis[e as usize].ip => {
                match table.forward(now, pkt.protocol(), pkt.src, sport, dport) {
                    Some(x) => {
                        forwarded = true;
                        Ok(x)
                    }
                    None => Err(nat::NatDrop::NoSession),
                }
            }
            r => r,
        };
        let (action, d2) = nat_decision(n, inside.err());
        self.capture(
            now,
            e,
            Direction::Ingress,
            action,
            &pkt,
            None,
            out.id,
            [Some(d1), d2],
            None,
        );
        let (ip, port) = match inside {
            Ok(x) => x,
            Err(why) => {
                out.fate = Fate::Dropped(Drop::Nat { nat: n, why });
                return;
            }
        };
        let mut back = pkt;
        back.dst = ip;
        set_nat_ports(&mut back, None, Some(port));
        out.nat = Some(NatHit {
            nat: n,
            inside: (ip, port),
            outside: (pkt.dst, dport),
            forwarded,
        });
        self.pipeline(now, Endpoint::Eni(e), back, out);
    }

    /// Security groups with connection tracking: a tracked connection or a RELATED ICMP error
    /// passes; otherwise the first matching rule decides and, if it allows, opens a connection
    /// (unless the flow is untracked, D7). Also returns the packet's tracked connection at the
    /// ENI, whose entry keeps the ENI's flow-log counters for it.
    // Inlined: its result, returned through memory, cost a store-forwarding stall per call.
    #[inline(always)]
    fn sg_check(
        &mut self,
        now: Time,
        eni: u32,
        dir: Direction,
        pkt: &Packet,
        view: &PacketView,
        remote: Ipv4Addr,
    ) -> (Verdict, Option<conntrack::Handle>) {
        let zone = Zone::Eni(eni);
        if let L4::Icmp {
            embedded: Some(emb),
            ..
        } = &pkt.l4
        {
            if self.profile.icmp_errors_related && self.conntrack.is_related(zone, now, emb) {
                return (Verdict::Allow(By::Related), None);
            }
        } else {
            let tracked = self
                .conntrack
                .track_handle(zone, now, pkt, &self.profile.timeouts);
            // An expired entry found on the way left with its counters: merge them now.
            self.settle_carried();
            if let Some(h) = tracked {
                let expires = self.conntrack.expires(h);
                self.trace_zone(zone, pkt, expires);
                return (Verdict::Allow(By::Tracked), tracked);
            }
        }
        let e = &self.enis[eni as usize];
        let set = &e.rules[dir as usize];
        match set.first_match(remote, view) {
            Some(r) if r.action == RuleAction::Allow => {
                let mut origin = r.origin;
                // Flows through a NAT gateway are always tracked (policy.md §6.2, §1.3): the
                // remote end is routed via a NAT gateway from the ENI's subnet, both ways.
                let untracked = self.profile.untracked_flows
                    && untracked_flow(e, dir, r, remote, view)
                    && !self.routed_via_nat(e.subnet, remote);
                if let By::SgRule { tracked, .. } = &mut origin {
                    *tracked = !untracked;
                }
                let mut opened = None;
                if !untracked {
                    opened =
                        self.conntrack
                            .open_handle(zone, now, pkt, dir, &self.profile.timeouts);
                    self.settle_carried();
                    // The next packet would find the connection: decided otherwise.
                    self.trace_unrepeatable();
                }
                (Verdict::Allow(origin), opened)
            }
            Some(r) => (Verdict::Deny(r.origin), None),
            None => (Verdict::Deny(By::SgNoMatch), None),
        }
    }

    /// Does the route table of `subnet` send traffic for `remote` to a NAT gateway?
    fn routed_via_nat(&self, subnet: u32, remote: Ipv4Addr) -> bool {
        let table = self.subnets[subnet as usize].route_table;
        matches!(
            self.route_tables[table as usize].lookup(remote),
            Some((
                _,
                Route {
                    target: Target::NatGateway(_),
                    ..
                }
            ))
        )
    }

    /// Merges the flow-log counters of connections that left the conntrack table into their
    /// collectors, before anything else is counted for them.
    #[inline]
    fn settle_carried(&mut self) {
        if self.conntrack.has_carried() {
            let logs = &mut self.flow_logs;
            self.conntrack.take_carried(|c| {
                logs[c.partial.log() as usize].collector.merge(
                    c.eni,
                    c.tuple,
                    Action::Accept,
                    &c.partial,
                )
            });
        }
    }

    /// A network ACL at a subnet boundary: presets, then (huawei) tracked connections, then the
    /// first matching entry, then `*` denies (D4).
    #[inline(always)]
    fn acl_check(
        &mut self,
        now: Time,
        subnet: u32,
        dir: Direction,
        pkt: &Packet,
        view: &PacketView,
        remote: Ipv4Addr,
    ) -> Verdict {
        if self
            .profile
            .acl_implicitly_allows(remote, view.protocol, view.dport)
        {
            return Verdict::Allow(By::AclPreset);
        }
        let zone = Zone::Acl(subnet);
        let timeouts = self.profile.timeouts;
        let stateful = self.profile.acl_stateful;
        if stateful {
            if let L4::Icmp {
                embedded: Some(emb),
                ..
            } = &pkt.l4
            {
                if self.conntrack.is_related(zone, now, emb) {
                    return Verdict::Allow(By::Related);
                }
            } else if let Some((_, entry)) = self.conntrack.track(zone, now, pkt, &timeouts) {
                self.trace_zone(zone, pkt, Some(entry.expires));
                return Verdict::Allow(By::Tracked);
            }
        }
        let Some(acl) = self.subnets[subnet as usize].acl else {
            return Verdict::NoAcl;
        };
        match self.acls[acl as usize].rules[dir as usize].first_match(remote, view) {
            Some(r) if r.action == RuleAction::Allow => {
                if stateful {
                    self.conntrack.open(zone, now, pkt, dir, &timeouts);
                    self.trace.unrepeat();
                }
                Verdict::Allow(r.origin)
            }
            Some(r) => Verdict::Deny(r.origin),
            None => Verdict::Deny(By::AclDefault { acl }),
        }
    }

    /// The 5-tuple a flow log records (ICMP ports as the profile keys them, D10/D14).
    fn logged_tuple(&self, p: &Packet) -> FiveTuple {
        let mut t = p.five_tuple();
        if let (
            IcmpPorts::IdentTypeCode,
            L4::Icmp {
                icmp_type,
                code,
                ident,
                ..
            },
        ) = (self.profile.icmp_ports, p.l4)
        {
            t.sport = ident;
            t.dport = (icmp_type as u16) << 8 | code as u16;
        }
        t
    }

    #[allow(clippy::too_many_arguments)]
    fn capture(
        &mut self,
        now: Time,
        eni: u32,
        direction: Direction,
        action: Action,
        pkt: &Packet,
        traffic_path: Option<TrafficPath>,
        packet_id: u64,
        decisions: [Option<Decision>; 2],
        tracked: Option<conntrack::Handle>,
    ) {
        if let Some(c) = &mut self.captures {
            c.push(Captured {
                at: now,
                packet_id,
                eni,
                direction,
                action,
                packet: *pkt,
            });
        }
        let logs = &self.eni_logs[eni as usize];
        if logs.is_empty() {
            return;
        }
        let traffic_path = if direction == Direction::Egress {
            traffic_path
        } else {
            None
        };
        // The ENI's first flow log counts accepted TCP and UDP packets of a tracked connection
        // in the connection's entry (the logged 5-tuple is the connection's), unless it keeps
        // packet ids; everything else goes to the collector.
        let first = logs[0];
        let mut counted = false;
        if let Some(h) = tracked
            && action == Action::Accept
            && matches!(pkt.l4, L4::Tcp { .. } | L4::Udp { .. })
            && first <= u16::MAX as u32
            && self.flow_logs[first as usize]
                .collector
                .counts_partially(now, action)
        {
            // Entries may have moved since the SG check (huawei ACL zones): find it again.
            let h = match self.conntrack.partial_mut(h) {
                Some(_) => Some(h),
                None => self.conntrack.find_handle(Zone::Eni(eni), pkt),
            };
            if let Some(p) = h.and_then(|h| self.conntrack.partial_mut(h)) {
                if !p.is_empty() && p.log() != first {
                    // Counted for a flow log that is no longer the ENI's first: hand over.
                    let old = std::mem::replace(p, Partial::EMPTY);
                    let tuple = pkt.five_tuple();
                    self.flow_logs[old.log() as usize].collector.merge(
                        eni,
                        tuple,
                        Action::Accept,
                        &old,
                    );
                }
                if p.takes(first, direction) {
                    // Counted with the connection, not in a slot a train could name.
                    self.trace.unrepeat();
                    p.count(
                        first,
                        now,
                        direction,
                        pkt.len,
                        pkt.tcp_flags(),
                        traffic_path,
                    );
                    counted = true;
                }
            }
        }
        if counted && logs.len() == 1 {
            return;
        }
        // srcaddr/dstaddr are always the interface's own primary address on its side, even
        // when the packet carries another (a NAT gateway's or router's interface forwarding
        // others' packets): the packet's own addresses go to pkt-srcaddr/pkt-dstaddr
        // (flowlogs.md §1.4).
        let mut tuple = self.logged_tuple(pkt);
        let own = self.enis[eni as usize].ip;
        match direction {
            Direction::Egress => tuple.src = own,
            Direction::Ingress => tuple.dst = own,
        }
        let o = Observation {
            at: now,
            eni,
            direction,
            action,
            tuple,
            pkt_src: pkt.src,
            pkt_dst: pkt.dst,
            bytes: pkt.len,
            tcp_flags: pkt.tcp_flags(),
            traffic_path,
            packet_id,
            label: self.label,
            decisions,
        };
        if !counted {
            let slot = self.flow_logs[first as usize].collector.observe(&o);
            self.trace_slot(first, slot, pkt);
        }
        for i in 1..self.eni_logs[eni as usize].len() {
            let f = self.eni_logs[eni as usize][i];
            let slot = self.flow_logs[f as usize].collector.observe(&o);
            self.trace_slot(f, slot, pkt);
        }
    }

    // ----- time and output -----

    /// Closes every flow-log window that ended at or before `now`, turning it into records.
    pub fn advance(&mut self, now: Time) {
        for f in 0..self.flow_logs.len() {
            if self.flow_logs[f].deleted {
                continue;
            }
            if self.flow_logs[f].collector.current_window_end() <= now {
                // Counters kept with connections belong to the window closing first (later
                // ones, closing in the same call, saw no packets).
                self.drain_partials(f);
            }
            while self.flow_logs[f].collector.current_window_end() <= now {
                let covered = self.covered_by(f);
                self.emit(f, &covered);
            }
        }
        self.conntrack.maybe_sweep(now);
        self.settle_carried();
        self.next_window_end = self.earliest_window_end();
    }

    /// Moves the counters kept with connections for flow log `f` into its collector.
    fn drain_partials(&mut self, f: usize) {
        let collector = &mut self.flow_logs[f].collector;
        self.conntrack.drain_partials(f as u32, |c| {
            collector.merge_final(c.eni, c.tuple, Action::Accept, &c.partial)
        });
    }

    /// The ENIs flow log `f` covers now, with the time each came to exist.
    fn covered_by(&self, f: usize) -> Vec<(u32, Time)> {
        match self.flow_logs[f].collector.settings.scope {
            Scope::RouterAttachment(_) => return self.router_points(f),
            Scope::Ccn(_) => return self.ccn_quiet_points(f),
            _ => {}
        }
        self.eni_logs
            .iter()
            .enumerate()
            .filter(|(_, logs)| logs.contains(&(f as u32)))
            .map(|(e, _)| (e as u32, self.enis[e].created))
            .collect()
    }

    /// Closes the open window of flow log `f`: its records get their capture point's metadata
    /// and the decisions behind them in words, and join the world's records.
    fn emit(&mut self, f: usize, covered: &[(u32, Time)]) {
        // A CCN flow log's capture points are the CCN's (connect).
        if let Scope::Ccn(c) = self.flow_logs[f].collector.settings.scope {
            return self.emit_ccn(f, c, covered);
        }
        // A router flow log's one capture point is its attachment (router_logs).
        let attachment = match self.flow_logs[f].collector.settings.scope {
            Scope::RouterAttachment(a) => Some(self.attachment_meta(a)),
            _ => None,
        };
        let collector = &mut self.flow_logs[f].collector;
        self.records.reserve(collector.active_len() + covered.len());
        let (enis, records) = (&self.enis, &mut self.records);
        let mut decided: Vec<(usize, Vec<Decision>)> = Vec::new();
        let names = &self.label_names;
        collector.close_window_into(covered, |eni, mut record, out| {
            record.capture = match &attachment {
                Some(meta) => meta.clone(),
                None => enis[eni as usize].meta.clone(),
            };
            if !names.is_empty() {
                record.truth.labels = label_counts(names, &out.labels);
            }
            if !out.decisions.is_empty() {
                decided.push((records.len(), out.decisions));
            }
            records.push(record);
        });
        for (i, decisions) in decided {
            let words = decisions.iter().map(|d| self.describe(d)).collect();
            self.records[i].truth.decisions = words;
        }
    }

    /// Records produced so far, oldest first; the world keeps none after this.
    pub fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    /// Packets seen at capture points so far (empty unless `capture_packets`).
    pub fn take_captures(&mut self) -> Vec<Captured> {
        self.captures
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The host behind an endpoint.
    pub fn host(&self, e: Endpoint) -> &Host {
        match e {
            Endpoint::Eni(i) => &self.enis[i as usize].host,
            Endpoint::External(i) => &self.externals[i as usize].host,
        }
    }

    /// The external host or elastic IP holding public address `ip`, if any.
    pub fn public_endpoint(&self, ip: Ipv4Addr) -> Option<Endpoint> {
        self.public_ips.get(&ip).copied()
    }

    /// The address an endpoint sends from.
    pub fn address(&self, e: Endpoint) -> Ipv4Addr {
        match e {
            Endpoint::Eni(i) => self.enis[i as usize].ip,
            Endpoint::External(i) => self.externals[i as usize].ip,
        }
    }

    /// The address `from` uses to reach `to`: the private IP inside one VPC, the elastic IP
    /// from elsewhere.
    pub fn address_for(&self, from: Endpoint, to: Endpoint) -> Option<Ipv4Addr> {
        match (from, to) {
            (_, Endpoint::External(x)) => Some(self.externals[x as usize].ip),
            // From premises, through the site's gateway: the private address.
            (Endpoint::External(x), Endpoint::Eni(b))
                if self.externals[x as usize].site.is_some() =>
            {
                Some(self.enis[b as usize].ip)
            }
            (Endpoint::Eni(a), Endpoint::Eni(b))
                if self.enis[a as usize].vpc == self.enis[b as usize].vpc =>
            {
                Some(self.enis[b as usize].ip)
            }
            // Another VPC over a Cloud Connect Network: its private address.
            (Endpoint::Eni(a), Endpoint::Eni(b))
                if self.ccn_destination(self.enis[a as usize].vpc, self.enis[b as usize].ip)
                    == Some(self.enis[b as usize].vpc) =>
            {
                Some(self.enis[b as usize].ip)
            }
            // Another VPC: its private address when the sender's routes reach it through a
            // router, else its elastic IP.
            (Endpoint::Eni(a), Endpoint::Eni(b)) => {
                let b = &self.enis[b as usize];
                let table = self.subnets[self.enis[a as usize].subnet as usize].route_table;
                match self.route_tables[table as usize].lookup(b.ip) {
                    Some((_, r)) if matches!(r.target, Target::Router(_)) => Some(b.ip),
                    _ => b.eip,
                }
            }
            (_, Endpoint::Eni(b)) => self.enis[b as usize].eip,
        }
    }

    /// Which endpoint an address designates, seen from `from`: a private IP inside the VPC,
    /// else an elastic IP or an external host.
    pub fn resolve(&self, from: Endpoint, dst: Ipv4Addr) -> Option<Endpoint> {
        if let Endpoint::Eni(a) = from
            && let Some(&b) = self
                .private_ips
                .get(&ip_key(self.enis[a as usize].vpc, dst))
        {
            return Some(Endpoint::Eni(b));
        }
        // Another VPC's private address, over the sender's Cloud Connect Network.
        if let Endpoint::Eni(a) = from
            && let Some(v) = self.ccn_destination(self.enis[a as usize].vpc, dst)
            && let Some(&b) = self.private_ips.get(&ip_key(v, dst))
        {
            return Some(Endpoint::Eni(b));
        }
        self.public_ips.get(&dst).copied()
    }

    pub fn endpoint_name(&self, e: Endpoint) -> String {
        match e {
            Endpoint::Eni(i) => {
                let e = &self.enis[i as usize];
                format!("{} ({})", e.name, e.id)
            }
            Endpoint::External(i) => self.externals[i as usize].name.clone(),
        }
    }

    /// The hops between two endpoints in the topology graph, by name: the path an engineer
    /// would draw.
    pub fn path(&self, from: Endpoint, to: Endpoint) -> Vec<String> {
        let live = |e: Endpoint| match e {
            Endpoint::Eni(i) => self.is_live(Kind::Eni, i),
            Endpoint::External(i) => self.is_live(Kind::ExternalHost, i),
        };
        // A deleted endpoint's node is gone (and its slot may be another's by now).
        if !live(from) || !live(to) {
            return Vec::new();
        }
        let node = |e: Endpoint| match e {
            Endpoint::Eni(i) => self.enis[i as usize].node,
            Endpoint::External(i) => self.externals[i as usize].node,
        };
        let Some((_, nodes)) =
            petgraph::algo::astar(&*self.graph, node(from), |n| n == node(to), |_| 1u32, |_| 0)
        else {
            return Vec::new();
        };
        nodes.iter().map(|&n| self.node_name(n)).collect()
    }

    fn node_name(&self, n: NodeIndex) -> String {
        match self.graph[n] {
            Node::Internet => "internet".into(),
            Node::Vpc(v) => format!("VPC {}", self.vpcs[v as usize].name),
            Node::Subnet(s) => format!("subnet {}", self.subnets[s as usize].name),
            Node::Eni(e) => format!("ENI {}", self.enis[e as usize].name),
            Node::InternetGateway(g) => format!("IGW {}", self.igws[g as usize].id),
            Node::External(x) => format!("host {}", self.externals[x as usize].name),
            Node::Ccn(c) => format!("CCN {}", self.ccns.items[c as usize].name),
            Node::Router(r) => format!("router {}", self.routers.routers[r as usize].name),
        }
    }

    fn vpc(&self, v: u32) -> Result<&Vpc, ModelError> {
        self.live_or_not_found(Kind::Vpc, v)?;
        Ok(&self.vpcs[v as usize])
    }

    fn subnet(&self, s: u32) -> Result<&Subnet, ModelError> {
        self.live_or_not_found(Kind::Subnet, s)?;
        Ok(&self.subnets[s as usize])
    }

    fn eni(&self, e: u32) -> Result<&Eni, ModelError> {
        self.live_or_not_found(Kind::Eni, e)?;
        Ok(&self.enis[e as usize])
    }

    fn security_group(&self, g: u32) -> Result<&SecurityGroup, ModelError> {
        self.live_or_not_found(Kind::SecurityGroup, g)?;
        Ok(&self.security_groups[g as usize])
    }

    fn acl(&self, a: u32) -> Result<&NetworkAcl, ModelError> {
        self.live_or_not_found(Kind::NetworkAcl, a)?;
        Ok(&self.acls[a as usize])
    }

    fn route_table(&self, t: u32) -> Result<&RouteTable, ModelError> {
        self.live_or_not_found(Kind::RouteTable, t)?;
        Ok(&self.route_tables[t as usize])
    }

    /// A decision in plain words, e.g. "ACL web-acl egress: no rule matched; default rule *
    /// denies".
    pub fn describe(&self, d: &Decision) -> String {
        let dir = d.stage.direction().as_str();
        let (what, by) = match d.verdict {
            Verdict::SameSubnet => {
                return format!(
                    "ACL {dir}: not evaluated, traffic stays inside subnet {}",
                    self.subnets[d.at as usize].name
                );
            }
            Verdict::NoAcl => {
                return format!(
                    "ACL {dir}: subnet {} has no network ACL, nothing to evaluate",
                    self.subnets[d.at as usize].name
                );
            }
            Verdict::Allow(by) | Verdict::Deny(by) => (
                if d.verdict.allows() {
                    "allows"
                } else {
                    "denies"
                },
                by,
            ),
        };
        let place = match d.stage {
            Stage::SgEgress | Stage::SgIngress => {
                format!("SG {dir} at {}", self.enis[d.at as usize].name)
            }
            Stage::AclEgress | Stage::AclIngress => {
                let s = &self.subnets[d.at as usize];
                // The ACL that decided, which may since have been replaced on the subnet.
                let acl = match by {
                    By::AclRule { acl, .. } | By::AclDefault { acl } => Some(acl),
                    _ => s.acl,
                };
                let acl = acl.map_or("(none)", |a| self.acls[a as usize].name.as_str());
                format!("ACL {acl} {dir} (subnet {})", s.name)
            }
            Stage::Nat => format!("NAT gateway {}", self.nats[d.at as usize].name),
        };
        let reason = match by {
            By::SgRule {
                sg,
                rev,
                rule,
                tracked,
            } => {
                let g = &self.security_groups[sg as usize];
                let r = &g.rules_at(rev)[rule as usize];
                let remote = match &r.remote {
                    Remote::Cidr(n) => n.to_string(),
                    Remote::Group(x) => format!("group {}", self.security_groups[*x as usize].name),
                };
                let ports = if r.protocol.has_ports() {
                    format!(" {}", r.ports)
                } else {
                    String::new()
                };
                let dirword = if r.direction == Direction::Ingress {
                    "from"
                } else {
                    "to"
                };
                let track = if tracked {
                    ""
                } else {
                    "; flow not tracked (D7)"
                };
                format!(
                    "rule {} of {} ({} {}{ports} {dirword} {remote}) {what}{track}",
                    rule + 1,
                    g.name,
                    r.action.name(),
                    r.protocol
                )
            }
            By::SgSameGroup { sg } => format!(
                "implicit rule of {}: members of the same group {what}",
                self.security_groups[sg as usize].name
            ),
            By::SgImplicitEgress => format!("implicit rule: all outbound traffic {what}"),
            By::Nat(why) => {
                let p = &self.profile;
                match why {
                    nat::NatDrop::Protocol => "translates TCP, UDP and ICMP only; drops".into(),
                    nat::NatDrop::PortsExhausted => format!(
                        "this destination already holds {} sessions; drops",
                        p.nat_sessions_per_destination
                    ),
                    nat::NatDrop::NoSession => {
                        "no session or DNAT rule matches (connections from outside need a DNAT rule); drops"
                            .into()
                    }
                    nat::NatDrop::Expired => format!(
                        "the session was idle longer than {} s and is gone; drops (TCP: answers the inside host with a RST)",
                        p.nat_idle_timeout.secs()
                    ),
                }
            }
            By::SgNoMatch => format!("no rule matched; the group {what} by default"),
            By::AclRule { acl, rev, rule } => {
                let e = &self.acls[acl as usize].entries_at(rev)[rule as usize];
                let ports = if e.protocol.has_ports() {
                    format!(" {}", e.ports)
                } else {
                    String::new()
                };
                format!(
                    "rule {} ({} {}{ports} {} {}) {what}",
                    e.number,
                    e.action.name(),
                    e.protocol,
                    if e.direction == Direction::Ingress {
                        "from"
                    } else {
                        "to"
                    },
                    e.cidr
                )
            }
            By::AclDefault { .. } => format!("no rule matched; default rule * {what}"),
            By::AclPreset => format!("the cloud's preset rule {what} (service address)"),
            By::Tracked => format!("part of a tracked connection: {what}"),
            By::Related => format!("ICMP error about a tracked connection (RELATED): {what}"),
        };
        format!("{place}: {reason}")
    }
}

/// aws untracked flows (D7, policy.md §1.3): a TCP/UDP flow is not tracked when a rule
/// allows it from (or to) 0.0.0.0/0 and the other direction allows all ports to 0.0.0.0/0.
/// `r` allowed the packet in `dir`; the packet may be the flow's request (`r` is the 0.0.0.0/0
/// rule) or its response (`r` is the all-ports rule and the other direction would admit the
/// request from anywhere).
/// A record's packets per label, by name.
fn label_counts(
    names: &[std::sync::Arc<str>],
    counts: &[(u32, u64)],
) -> Vec<(std::sync::Arc<str>, u64)> {
    counts
        .iter()
        .map(|&(l, n)| {
            let name = names
                .get(l as usize)
                .cloned()
                .unwrap_or_else(|| l.to_string().into());
            (name, n)
        })
        .collect()
}

fn untracked_flow(
    e: &Eni,
    dir: Direction,
    r: &Compiled<By>,
    remote: Ipv4Addr,
    view: &PacketView,
) -> bool {
    let slot = match view.protocol {
        proto::TCP => 0,
        proto::UDP => 1,
        _ => return false,
    };
    let from_anywhere = r.nets.contains(&Ipv4Net::ANY);
    if from_anywhere && e.allows_all_back[dir as usize][slot] {
        return true;
    }
    let all_ports_anywhere = from_anywhere && r.dports.is_all() && r.sports.is_all();
    let request = PacketView {
        sport: view.dport,
        dport: view.sport,
        ..*view
    };
    let other = &e.rules[dir.reverse() as usize];
    all_ports_anywhere
        && other
            .first_match(remote, &request)
            .is_some_and(|q| q.action == RuleAction::Allow && q.nets.contains(&Ipv4Net::ANY))
}

/// Checks ACL entries against the cloud's rules (numbers, duplicates, ports).
/// A NAT gateway's record action for a translation, and the decision when it dropped.
fn nat_decision(n: u32, drop: Option<nat::NatDrop>) -> (Action, Option<Decision>) {
    match drop {
        None => (Action::Accept, None),
        Some(why) => (
            Action::Reject,
            Some(Decision {
                stage: Stage::Nat,
                at: n,
                verdict: Verdict::Deny(By::Nat(why)),
            }),
        ),
    }
}

/// The "ports" a NAT gateway translates: TCP/UDP ports, the ICMP echo identifier (as
/// source, and as destination on the way back).
fn nat_ports(p: &Packet) -> (u16, u16) {
    match p.l4 {
        L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => (sport, dport),
        L4::Icmp { ident, .. } => (ident, ident),
        L4::Other { .. } => (0, 0),
    }
}

/// Rewrites a packet's source or destination "port" (see [`nat_ports`]).
fn set_nat_ports(p: &mut Packet, src: Option<u16>, dst: Option<u16>) {
    match &mut p.l4 {
        L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => {
            if let Some(s) = src {
                *sport = s;
            }
            if let Some(d) = dst {
                *dport = d;
            }
        }
        L4::Icmp { ident, .. } => {
            if let Some(x) = src.or(dst) {
                *ident = x;
            }
        }
        L4::Other { .. } => {}
    }
}

pub fn check_acl_entries(profile: &Profile, entries: &[acl::Entry]) -> Result<(), ModelError> {
    let (lo, hi) = profile.acl_rule_numbers;
    for (i, e) in entries.iter().enumerate() {
        let at = |f: &str| format!("entries[{i}].{f}");
        if !(lo..=hi).contains(&e.number) {
            return Err(ModelError::invalid(
                at("rule"),
                format!("rule number {} is outside {lo}-{hi}", e.number),
            ));
        }
        if entries[..i]
            .iter()
            .any(|o| o.direction == e.direction && o.number == e.number)
        {
            return Err(ModelError::exists(
                at("rule"),
                format!("rule number {} is used twice", e.number),
            ));
        }
        if (!e.ports.is_all() || !e.source_ports.is_all()) && !e.protocol.has_ports() {
            return Err(ModelError::invalid(
                at("ports"),
                format!("ports apply to TCP and UDP only, not {}", e.protocol),
            ));
        }
    }
    Ok(())
}

/// A group reference means the primary private IPs of its members (policy.md §1.1), given as
/// `members` (group → addresses, in ENI order).
fn remote_nets(remote: &Remote, members: &Map<u32, Vec<Ipv4Net>>) -> Vec<Ipv4Net> {
    match remote {
        Remote::Cidr(n) => vec![*n],
        Remote::Group(g) => members.get(g).cloned().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::format::{AwsFormat, Format, render};
    use crate::packet::TcpFlags;
    use crate::policy::PortRange;
    use crate::profile::Provider;
    use crate::simulation::Simulation;
    use rand::RngExt;

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::parse_strict(s).unwrap()
    }

    /// The AWS flow-log example "security group and network ACL rules" (flowlogs.md §1.7),
    /// built with the operations directly.
    fn ping_world(provider: Provider) -> (Simulation, u32) {
        let mut cfg = Config::new(Profile::of(provider));
        cfg.account_id = Some("123456789010".into());
        let mut w = World::new(cfg);
        let t0 = Time::from_secs(1432917000);
        let vpc = w.create_vpc("vpc", None, net("172.31.0.0/16")).unwrap();
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
            .create_subnet("web", None, vpc, net("172.31.16.0/20"), None)
            .unwrap();
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
        w.create_flow_log(
            t0,
            FlowLogSpec {
                name: "fl".into(),
                id: None,
                scope: Scope::Eni(eni),
                filter: Filter::All,
                window: None,
                capacity: None,
                description: String::new(),
                tags: Default::default(),
                log_stream: None,
            },
        )
        .unwrap();
        let mut sim = Simulation::new(w, t0, 1);
        sim.ping(
            Time::from_secs(1432917027),
            Endpoint::External(home),
            Endpoint::Eni(eni),
            4,
            Span::from_secs(38),
            Some(1),
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
}
