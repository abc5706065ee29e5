//! The model: the resources a world holds (plain structs in one vector per [`Kind`], indexed by
//! `u32`, deleted ones kept as tombstones), their IDs, the errors operations refuse with
//! ([`ModelError`]), and the [`World`] itself with its lookups by ID and index.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use foldhash::fast::FixedState;
use petgraph::stable_graph::NodeIndex;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::saved::{self, Topology};
use super::{Captured, Trace};
use crate::addr::Ipv4Net;
use crate::ccn::{Bandwidth, Ccns};
use crate::conntrack;
use crate::flowlog::{CaptureMeta, Collector, Record, TruthLevel};
use crate::host::Host;
use crate::ids;
use crate::logs::LogCatalog;
use crate::nat;
use crate::policy::classify::Classifier;
use crate::policy::{acl, sg};
use crate::profile::{ConnectionTracking, Profile, Timeouts};
use crate::router::Routers;
use crate::time::Time;
use crate::verdict::{By, Decision};

pub(super) type Map<K, V> = HashMap<K, V, FixedState>;

pub(super) fn map<K, V>() -> Map<K, V> {
    HashMap::with_hasher(FixedState::with_seed(0))
}

/// `World`'s accessors of live resources, one per kind: `fn name(&self, i) -> Result<&Type,
/// ModelError>`, NOT_FOUND for an index that is unknown or deleted (`live_or_not_found`).
macro_rules! live_accessors {
    ($($name:ident: $ty:ty = $field:ident, $kind:ident;)*) => {$(
        pub(super) fn $name(&self, i: u32) -> Result<&$ty, ModelError> {
            self.live_or_not_found(Kind::$kind, i)?;
            Ok(&self.$field[i as usize])
        }
    )*};
}

/// The key of a private address in a VPC: one integer, the cheapest thing to hash.
// On the per-packet path (`pipeline`, another codegen unit): kept inlinable across units.
#[inline]
pub(super) fn ip_key(vpc: u32, ip: Ipv4Addr) -> u64 {
    (vpc as u64) << 32 | u32::from(ip) as u64
}

/// One side of a packet's journey: an ENI, a host on the internet, a service of a VPC itself
/// (`Profile::services`: its DNS resolver, instance metadata, time sync), or a device of the
/// path answering a packet it could not forward.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Eni(u32),
    External(u32),
    /// Service `service` (its index in the profile's `services`) as VPC `vpc`'s interfaces
    /// reach it.
    Service {
        vpc: u32,
        service: u32,
    },
    /// A device of the path with no address of its own, answering a packet from VPC `vpc`
    /// that did not fit its next link with ICMP fragmentation-needed, sent from the address
    /// the packet was for, back into `vpc` (docs/decisions/mtu.md).
    Device {
        vpc: u32,
        device: Device,
    },
}

/// A device of the path without an address of its own ([`Endpoint::Device`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    InternetGateway(u32),
    VpnGateway(u32),
    Peering(u32),
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
    VpcPeering,
    VpnGateway,
}

impl Kind {
    pub const ALL: [Kind; 16] = [
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
        Kind::VpcPeering,
        Kind::VpnGateway,
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
            Kind::VpcPeering => "VPC peering connection",
            Kind::VpnGateway => "virtual private gateway",
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
            Kind::VpcPeering => "peering",
            Kind::VpnGateway => "vpn_gateway",
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
    /// Its ID in the cloud's style.
    fn id(&self) -> &str;
    /// Marks it deleted (a tombstone from now on).
    fn bury(&mut self);
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
            fn id(&self) -> &str {
                &self.id
            }
            fn bury(&mut self) {
                self.deleted = true;
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
    NatGateway,
    Peering,
    VpnGateway,
    crate::logs::LogGroup,
    crate::logs::LogStream,
    crate::router::EnterpriseRouter,
    crate::router::Attachment
);

impl Resource for FlowLog {
    fn is_deleted(&self) -> bool {
        self.deleted
    }
    fn id(&self) -> &str {
        &self.collector.settings.id
    }
    fn bury(&mut self) {
        self.deleted = true;
    }
}

/// `$body` with `$v` bound to the vector that holds the resources of `$kind` (`&`, or with
/// `[mut]` `&mut`): one place that knows where each kind lives, for the lookups every kind
/// shares (`World::is_live`, `World::id_of`, `World::bury`).
macro_rules! kind_vec {
    ($world:ident, $kind:expr, [$($mut:tt)?] $v:ident => $body:expr) => {
        match $kind {
            Kind::Vpc => { let $v = &$($mut)? $world.vpcs; $body }
            Kind::Subnet => { let $v = &$($mut)? $world.subnets; $body }
            Kind::Eni => { let $v = &$($mut)? $world.enis; $body }
            Kind::SecurityGroup => { let $v = &$($mut)? $world.security_groups; $body }
            Kind::NetworkAcl => { let $v = &$($mut)? $world.acls; $body }
            Kind::RouteTable => { let $v = &$($mut)? $world.route_tables; $body }
            Kind::InternetGateway => { let $v = &$($mut)? $world.igws; $body }
            Kind::ExternalHost => { let $v = &$($mut)? $world.externals; $body }
            Kind::FlowLog => { let $v = &$($mut)? $world.flow_logs; $body }
            Kind::LogGroup => { let $v = &$($mut)? $world.logs.groups; $body }
            Kind::LogStream => { let $v = &$($mut)? $world.logs.streams; $body }
            Kind::EnterpriseRouter => { let $v = &$($mut)? $world.routers.routers; $body }
            Kind::RouterAttachment => { let $v = &$($mut)? $world.routers.attachments; $body }
            Kind::NatGateway => { let $v = &$($mut)? $world.nats; $body }
            Kind::VpcPeering => { let $v = &$($mut)? $world.peerings; $body }
            Kind::VpnGateway => { let $v = &$($mut)? $world.vpn_gateways; $body }
        }
    };
}
pub(super) use kind_vec;

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
    pub(super) node: NodeIndex,
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
    pub(super) node: NodeIndex,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Eni {
    pub id: String,
    pub name: String,
    pub subnet: u32,
    pub vpc: u32,
    /// Its primary private IPv4: what aws records show in `srcaddr`/`dstaddr`, whatever the
    /// packet's address (flowlogs.md §1.4).
    pub ip: Ipv4Addr,
    /// Secondary private IPv4s, in the order given: packets to and from them are the
    /// interface's, past its groups and its subnet's ACL like the primary's
    /// (`World::create_eni`; flowlogs.md §1.4).
    #[serde(default)]
    pub secondary_ips: Vec<Ipv4Addr>,
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
    pub(super) rules: [Arc<Classifier<By>>; 2],
    /// aws untracked flows (D7): does the *other* direction allow all ports of TCP / UDP to
    /// 0.0.0.0/0? Indexed like `rules`, then [tcp, udp].
    pub(super) allows_all_back: [[bool; 2]; 2],
    /// Its bandwidth limit (tencent, D20; `connect`), when it has one.
    pub bandwidth: Option<Box<Bandwidth>>,
    /// Connection-tracking timeouts set on it (aws, policy.md §1.3), as given.
    pub connection_tracking: ConnectionTracking,
    /// The idle timeouts of its connections: those set, else its instance type's defaults,
    /// else the profile's ([`crate::profile::Profile::eni_timeouts`]).
    pub timeouts: Timeouts,
    pub deleted: bool,
    pub(super) node: NodeIndex,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub vpc: u32,
    /// Basic or enterprise (alibaba; basic elsewhere).
    pub kind: sg::GroupKind,
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
    pub(super) rules: [Classifier<By>; 2],
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
    /// A VPC peering connection joining this VPC to another (`world/peering.rs`).
    Peering(u32),
    /// The virtual private gateway attached to this VPC (`world/vpn.rs`).
    VpnGateway(u32),
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
    /// The virtual private gateways whose on-premises networks propagate into this table
    /// (route propagation, policy.md §6.1), in the order they were enabled.
    pub propagating: Vec<u32>,
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

/// A VPC peering connection (policy.md §6.1): two VPCs whose route tables may send each
/// other's addresses through it. Active once created (vpclab simulates one account, which
/// accepts its own requests).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Peering {
    pub id: String,
    pub name: String,
    /// The requester's VPC, then the accepter's.
    pub vpcs: [u32; 2],
    /// The two VPCs are in different regions (a VPC's region never changes).
    pub inter_region: bool,
    pub deleted: bool,
}

impl Peering {
    /// The VPC at the other end from `vpc` (`None` if `vpc` is not one of its two).
    pub fn other(&self, vpc: u32) -> Option<u32> {
        match self.vpcs {
            [a, b] if a == vpc => Some(b),
            [a, b] if b == vpc => Some(a),
            _ => None,
        }
    }

    /// The aws `traffic-path` of packets it carries (flowlogs.md §1.3): 4 within a region,
    /// 5 across two.
    pub fn traffic_path(&self) -> crate::flowlog::TrafficPath {
        if self.inter_region {
            crate::flowlog::TrafficPath::InterRegionPeering
        } else {
            crate::flowlog::TrafficPath::IntraRegionPeering
        }
    }
}

/// How a connection of a virtual private gateway learns the on-premises networks it carries,
/// in AWS's order of preference among propagated routes of one prefix, most preferred first
/// ("How route priority works", Amazon VPC User Guide: "Direct Connect BGP routes (dynamic
/// routes), VPN static routes, VPN BGP routes"; policy.md §6.1). The derived order is that
/// preference.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VpnRouting {
    /// A Direct Connect private virtual interface: its networks are BGP routes.
    DirectConnect,
    /// A Site-to-Site VPN connection with static routes.
    Static,
    /// A Site-to-Site VPN connection with BGP (dynamic) routing.
    Bgp,
}

impl VpnRouting {
    pub const ALL: [VpnRouting; 3] = [
        VpnRouting::DirectConnect,
        VpnRouting::Static,
        VpnRouting::Bgp,
    ];

    /// The name in scenario files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            VpnRouting::DirectConnect => "direct_connect",
            VpnRouting::Static => "static",
            VpnRouting::Bgp => "bgp",
        }
    }

    /// The kind of route it makes, in words ("VPN static route").
    pub fn label(self) -> &'static str {
        match self {
            VpnRouting::DirectConnect => "Direct Connect BGP route",
            VpnRouting::Static => "VPN static route",
            VpnRouting::Bgp => "VPN BGP route",
        }
    }
}

impl std::str::FromStr for VpnRouting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VpnRouting::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown routing `{s}` (expected direct_connect, static or bgp)")
            })
    }
}

/// One VPN or Direct Connect connection of a virtual private gateway: the on-premises
/// networks it reaches, and how the gateway learns them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VpnConnection {
    pub id: String,
    pub name: String,
    pub routing: VpnRouting,
    pub networks: Vec<Ipv4Net>,
}

/// A virtual private gateway (aws `vgw-…`) attached to one VPC: the VPC's side of its VPN and
/// Direct Connect connections to on-premises networks (policy.md §6.1; `world/vpn.rs`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct VpnGateway {
    pub id: String,
    pub name: String,
    pub vpc: u32,
    pub connections: Vec<VpnConnection>,
    pub deleted: bool,
    pub(super) node: NodeIndex,
}

impl VpnGateway {
    /// The connection the gateway sends `dst` over, and the network that matched: the
    /// longest prefix, then Direct Connect over VPN static over VPN BGP, then the first
    /// connection given (the gateway's path selection, AWS Site-to-Site VPN User Guide,
    /// "Route tables and VPN route priority"). `None`: no connection reaches `dst`; the
    /// gateway routes nothing else.
    pub fn connection_for(&self, dst: Ipv4Addr) -> Option<(u32, Ipv4Net)> {
        self.routes()
            .filter(|(_, _, n)| n.contains(dst))
            .min_by_key(|&(c, r, n)| (std::cmp::Reverse(n.prefix_len()), r, c))
            .map(|(c, _, n)| (c, n))
    }

    /// Every (connection, routing, network) it learns, in connection order.
    pub fn routes(&self) -> impl Iterator<Item = (u32, VpnRouting, Ipv4Net)> + '_ {
        self.connections
            .iter()
            .enumerate()
            .flat_map(|(c, x)| x.networks.iter().map(move |n| (c as u32, x.routing, *n)))
    }
}

/// Where an on-premises host sits.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Site {
    /// Behind an enterprise router's VPN, virtual gateway or global DC gateway attachment.
    Attachment(u32),
    /// Behind a VPC's virtual private gateway.
    VpnGateway(u32),
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
    pub(super) node: NodeIndex,
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
    /// `None`: on the internet. Otherwise on the on-premises network behind a router's
    /// gateway attachment or a VPC's virtual private gateway.
    pub site: Option<Site>,
    pub(super) node: NodeIndex,
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
    /// A virtual private gateway, joined to its VPC and the on-premises hosts behind it.
    VpnGateway(u32),
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

/// One simulated cloud. Serialized whole for snapshots (`saved` keeps what is not simply its
/// fields: the topology graph's exact layout, shared classifiers, hash maps in key order), so
/// that a world read back behaves exactly as the one written, packet for packet.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct World {
    pub profile: Profile,
    pub account_id: String,
    pub region: String,
    pub(super) rng: ChaCha8Rng,
    /// The seed the world was created with: NAT gateways derive their port streams from it
    /// (`nat::port_seed`) without drawing from `rng`, so that adding one renames nothing.
    pub(super) seed: u64,
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    #[serde(with = "saved::enis")]
    pub enis: Vec<Eni>,
    pub security_groups: Vec<SecurityGroup>,
    pub acls: Vec<NetworkAcl>,
    pub route_tables: Vec<RouteTable>,
    pub igws: Vec<InternetGateway>,
    pub nats: Vec<NatGateway>,
    pub peerings: Vec<Peering>,
    /// Virtual private gateways attached to VPCs, with their VPN and Direct Connect
    /// connections (`world/vpn.rs`).
    pub vpn_gateways: Vec<VpnGateway>,
    pub externals: Vec<ExternalHost>,
    pub flow_logs: Vec<FlowLog>,
    /// Log groups and streams that flow logs deliver to (LTS, SLS, CLS).
    pub logs: LogCatalog,
    /// Enterprise routers and their attachments (configuration; issue 4 routes through them).
    pub routers: Routers,
    /// Each router's node in the topology graph.
    pub(super) router_nodes: BTreeMap<u32, NodeIndex>,
    /// Cloud Connect Networks (`crate::ccn`, `connect`).
    pub ccns: Ccns,
    /// The topology graph, with what a snapshot needs to rebuild its exact layout.
    pub(super) graph: Topology,
    pub(super) internet: NodeIndex,
    /// (VPC, private IP) → ENI, keyed by [`ip_key`].
    #[serde(with = "saved::map")]
    pub(super) private_ips: Map<u64, u32>,
    /// Public addresses: elastic IPs and external hosts.
    #[serde(with = "saved::map")]
    pub(super) public_ips: Map<Ipv4Addr, Endpoint>,
    /// Flow logs covering each ENI.
    pub(super) eni_logs: Vec<Vec<u32>>,
    pub(super) conntrack: conntrack::Table,
    pub(super) truth: TruthLevel,
    /// Names of the labels packets carry (index = label): empty unless a workload labels its
    /// traffic, then `benign` first and one per incident.
    #[serde(default)]
    pub(super) label_names: Vec<std::sync::Arc<str>>,
    /// The label of the packet being sent (see [`World::send_labelled`]).
    #[serde(skip)]
    pub(super) label: u32,
    pub(super) packets: u64,
    pub(super) records: Vec<Record>,
    pub(super) captures: Option<Vec<Captured>>,
    /// The earliest end of any open flow-log window: a single comparison per packet.
    pub(super) next_window_end: Time,
    /// Per [`Kind`]: the IDs of live resources and their indices (ordered, for listing).
    pub(super) ids: [BTreeMap<String, u32>; 16],
    /// What the packet being sent touches, while [`World::send_traced`] runs.
    #[serde(skip)]
    pub(super) trace: Trace,
    /// The NAT port the packet being sent asks for if it opens a NAT session (a scenario's
    /// pinned port, [`World::pin_nat_port`]); set and cleared around one send.
    #[serde(skip)]
    pub(super) nat_pin: Option<u16>,
    /// The IPv4 identification each sending endpoint (by `pipeline::endpoint_numbers`) put
    /// on its last datagram ([`World::send_labelled`] numbers them); saved, so a restored
    /// world counts on.
    pub(super) ip_ids: BTreeMap<(u64, u32), u16>,
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
            seed: config.seed,
            vpcs: Vec::new(),
            subnets: Vec::new(),
            enis: Vec::new(),
            security_groups: Vec::new(),
            acls: Vec::new(),
            route_tables: Vec::new(),
            igws: Vec::new(),
            nats: Vec::new(),
            peerings: Vec::new(),
            vpn_gateways: Vec::new(),
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
            nat_pin: None,
            ip_ids: BTreeMap::new(),
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
        let i = idx as usize;
        kind_vec!(self, kind, [] v => v.get(i).filter(|r| !r.is_deleted()).map(|r| r.id()))
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
        self.id_of(kind, idx).is_some()
    }

    /// NotFound unless `idx` is a live resource of `kind`.
    pub(super) fn live_or_not_found(&self, kind: Kind, idx: u32) -> Result<(), ModelError> {
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

    live_accessors! {
        vpc: Vpc = vpcs, Vpc;
        subnet: Subnet = subnets, Subnet;
        eni: Eni = enis, Eni;
        security_group: SecurityGroup = security_groups, SecurityGroup;
        acl: NetworkAcl = acls, NetworkAcl;
        route_table: RouteTable = route_tables, RouteTable;
    }

    /// Checks an ID a request gives for a new resource: unique among the live resources of
    /// its kind. (IDs of deleted resources may be given again.)
    pub(super) fn check_id(&self, kind: Kind, given: Option<&str>) -> Result<(), ModelError> {
        match given {
            Some("") => Err(ModelError::invalid("id", "an ID cannot be empty")),
            Some(id) if self.ids[kind as usize].contains_key(id) => Err(ModelError::exists(
                "id",
                format!("ID `{id}` is already used by another {}", kind.as_str()),
            )),
            // Routes to a deleted gateway or connection stay as blackholes naming its ID (aws):
            // a new one under that ID would seem to be their target.
            Some(id)
                if matches!(kind, Kind::NatGateway | Kind::VpcPeering | Kind::VpnGateway)
                    && kind_vec!(self, kind, [] v => v.iter().any(|r| r.id() == id)) =>
            {
                Err(ModelError::exists(
                    "id",
                    format!(
                        "ID `{id}` was a deleted {}'s, which routes may still name",
                        kind.as_str()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The ID of the new resource `idx` of `kind`: the one given ([`World::check_id`] passed),
    /// or drawn in the cloud's style (drawn again in the unlikely case it is taken). Registers
    /// it: call once every check has passed.
    pub(super) fn new_id(
        &mut self,
        kind: Kind,
        idx: u32,
        given: Option<String>,
        prefix: &str,
    ) -> String {
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
            + self.peerings.len()
            + self.vpn_gateways.len()
            + self
                .vpn_gateways
                .iter()
                .map(|g| g.routes().count())
                .sum::<usize>()
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
}
