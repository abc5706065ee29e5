//! The scenario file format, as serde types. Only shape is checked here (unknown fields,
//! types); meaning is checked by `load`, through the world's operations. Values that need a
//! meaning check carry their position (`Spanned`) so an error can name the line.
//!
//! The format is documented for users in `scenarios/README.md`.
//!
//! The types serialise too (`vpclab export` writes a scenario with them): what is absent or
//! has its default value is left out, and the `flow_*` attributes below lay the file out as
//! people write it. Serialising a `Spanned` value writes the value only.

use serde::{Deserialize, Serialize, Serializer};
use serde_saphyr::{FlowMap, FlowSeq, Spanned};

pub type S<T> = Spanned<T>;

// Layout of a serialised scenario: records short enough for one line in flow style
// (`- {destination: 0.0.0.0/0, target: internet_gateway}`), lists of names and ports too
// (`security_groups: [web-sg]`), everything else in blocks. Reading does not care.

/// A list on one line: `[a, b]`.
fn flow_seq<T: Serialize, Z: Serializer>(list: &T, z: Z) -> Result<Z::Ok, Z::Error> {
    FlowSeq(list).serialize(z)
}

/// A record on one line: `{k: v, …}`. Only for values that are always maps: a scalar does
/// not take the hint, which is then spent on the next map written, wherever that is.
fn flow_map<T: Serialize, Z: Serializer>(record: &T, z: Z) -> Result<Z::Ok, Z::Error> {
    FlowMap(record).serialize(z)
}

/// A list of records, one record a line.
fn flow_items<T: Serialize, Z: Serializer>(records: &[T], z: Z) -> Result<Z::Ok, Z::Error> {
    z.collect_seq(records.iter().map(FlowMap))
}

/// `internet_gateway: true` as a scalar (see `flow_map`), `{id: …}` on one line.
fn flow_igw<Z: Serializer>(igw: &Option<S<IgwDoc>>, z: Z) -> Result<Z::Ok, Z::Error> {
    match igw {
        Some(i) if matches!(i.value, IgwDoc::WithId { .. }) => FlowMap(igw).serialize(z),
        _ => igw.serialize(z),
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the behaviour comes from (a seed, a reference section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub provider: S<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub seed: u64,
    /// Unix seconds at which the virtual clock starts.
    pub start: S<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpcs: Vec<S<VpcDoc>>,
    /// VPC peering connections, each joining two of `vpcs` (policy.md §6.1).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub vpc_peerings: Vec<S<VpcPeeringDoc>>,
    /// Virtual private gateways, each attached to one of `vpcs`, with their VPN and Direct
    /// Connect connections (aws, policy.md §6.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpn_gateways: Vec<S<VpnGatewayDoc>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub external_hosts: Vec<S<ExternalDoc>>,
    /// Enterprise routers (transit gateways) joining VPCs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enterprise_routers: Vec<S<RouterDoc>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub router_peerings: Vec<S<PeeringDoc>>,
    /// Cloud Connect Networks joining VPCs of several regions (tencent CCN, alibaba CEN).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ccns: Vec<S<CcnDoc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow_logs: Vec<S<FlowLogDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<S<EventDoc>>,
    /// Seconds after `start` to run until (default: the end of the last window with traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<S<ExpectDoc>>,
    /// Fleets, benign traffic and incidents made by seeded processes (`workload`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<S<WorkloadDoc>>,
}

/// `workload:` — a fleet's traffic as seeded random processes, incidents planted in it.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadDoc {
    /// Seconds of traffic after `start`.
    pub duration: S<f64>,
    /// Internet clients of the web tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<S<ClientsDoc>>,
    /// Where fleets' elastic IPs are taken from (default 198.18.0.0/15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ips: Option<S<String>>,
    /// Where administrators connect from (bastions allow SSH from it; default 203.0.113.0/28).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_cidr: Option<S<String>>,
    /// Multiplies every benign rate (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<S<f64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fleets: Vec<S<FleetDoc>>,
    /// Roles given to ENIs declared under `vpcs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<S<RoleDoc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<S<IncidentDoc>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsDoc {
    pub count: S<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<S<String>>,
}

/// A VPC of ENIs by role, with their subnets, groups, ACLs, gateways and a flow log.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetDoc {
    pub name: S<String>,
    pub cidr: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<S<String>>,
    /// ENIs per role: web, app, db, bastion, batch, private.
    pub roles: S<std::collections::BTreeMap<String, S<u32>>>,
    /// Roles whose ENIs get elastic IPs (default: web, bastion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<Vec<S<String>>>,
    /// The fleet's VPC flow log (default: all traffic, the provider's window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_log: Option<S<FleetFlowLogDoc>>,
    /// Another fleet its databases replicate to (usually in another region), joined by a
    /// CCN where the cloud has one, else by enterprise routers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicate_to: Option<S<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFlowLogDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<S<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<S<usize>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDoc {
    pub eni: S<String>,
    pub role: S<String>,
}

/// An incident: a kind, when, and its parameters (each kind says which it reads).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentDoc {
    pub kind: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<S<String>>,
    /// Seconds after `start`.
    pub at: S<f64>,
    pub duration: S<f64>,
    /// The attacker's address (outside), or an ENI's name (inside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<S<String>>,
    /// `FLEET/ROLE` (its ENIs), an ENI's name, or an address outside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<S<PortsListDoc>>,
    /// Arrivals per second (probes, attempts, connections, SYNs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<S<f64>>,
    /// Beaconing and mining: seconds between connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<S<f64>>,
    /// Exfiltration: bytes sent out in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<S<u64>>,
}

/// `[22, 80]` or `"1-1024"`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PortsListDoc {
    List(Vec<u16>),
    Range(String),
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputDoc {
    pub format: S<FormatDoc>,
}

/// `aws`, `tencent`, … or `{aws: "version vpc-id …"}` for a custom AWS field list.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum FormatDoc {
    Name(String),
    Aws { aws: String },
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VpcDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub cidr: S<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "flow_igw"
    )]
    pub internet_gateway: Option<S<IgwDoc>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub subnets: Vec<S<SubnetDoc>>,
    /// Routes added to the VPC's main route table.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub routes: Vec<S<RouteDoc>>,
    /// Virtual private gateways (by name) whose networks propagate into the main route table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route_propagation: Vec<S<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route_tables: Vec<S<RouteTableDoc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<S<SecurityGroupDoc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_acls: Vec<S<AclDoc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enis: Vec<S<EniDoc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nat_gateways: Vec<S<NatGatewayDoc>>,
    /// The VPC's region (default: the scenario's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<S<String>>,
}

/// A Cloud Connect Network: the VPCs attached to it (each learns the others' blocks) and the
/// bandwidth limits of region pairs.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CcnDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_seq"
    )]
    pub vpcs: Vec<S<String>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub bandwidth_limits: Vec<S<CcnLimitDoc>>,
}

/// `{regions: [A, B], bandwidth: BITS_PER_SECOND}`: each direction between A and B.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CcnLimitDoc {
    pub regions: Vec<S<String>>,
    pub bandwidth: S<u64>,
}

/// A NAT gateway: its interface sits in `subnet` (a public one) with `ip`; `eip` is the
/// address its traffic has on the internet.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatGatewayDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub subnet: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eip: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<S<String>>,
    /// The id of its (requester-managed) network interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eni_id: Option<String>,
    /// DNAT rules (port forwarding from the gateway's address to an inside host).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub dnat: Vec<S<DnatDoc>>,
}

/// A DNAT rule: `{ protocol: tcp, port: 8080, to: web-1, to_port: 80 }` (`to`: an interface
/// of the VPC by name, or its private address).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnatDoc {
    pub protocol: S<String>,
    pub port: u16,
    pub to: S<String>,
    pub to_port: u16,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum IgwDoc {
    Enabled(bool),
    WithId { id: String },
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub cidr: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table: Option<S<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub routes: Vec<S<RouteDoc>>,
    /// Virtual private gateways (by name) whose networks propagate into the table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route_propagation: Vec<S<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDoc {
    pub destination: S<String>,
    /// `internet_gateway`, `nat_gateway` (with `nat_gateway: NAME`), `router` (with
    /// `router: NAME`, through the VPC's attachment), `peering` (with `peering: NAME`, a VPC
    /// peering connection of this VPC), `vpn_gateway` (with `vpn_gateway: NAME`, the VPC's
    /// virtual private gateway) or `blackhole`.
    pub target: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peering: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_gateway: Option<S<String>>,
}

/// A virtual private gateway attached to VPC `vpc`, and its connections to on-premises
/// networks. Hosts behind it are `external_hosts` with `site: { vpn_gateway: NAME }`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VpnGatewayDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub vpc: S<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub connections: Vec<S<VpnConnectionDoc>>,
}

/// A VPN or Direct Connect connection: `routing` is `direct_connect`, `static` (a VPN with
/// static routes) or `bgp` (a VPN with BGP); `networks` the on-premises blocks it reaches.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VpnConnectionDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub routing: S<String>,
    pub networks: Vec<S<String>>,
}

/// Two VPCs of the file joined by a VPC peering connection: `vpcs: [REQUESTER, ACCEPTER]`.
/// Routes `{destination: CIDR, target: peering, peering: NAME}` in either VPC send the other's
/// addresses through it; each side routes its own packets.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VpcPeeringDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub vpcs: [S<String>; 2],
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// The router's region (for peering across regions; default the scenario's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route_tables: Vec<S<RouterTableDoc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<S<AttachmentDoc>>,
}

/// Two routers (usually in two regions) joined by a peering connection: an attachment named
/// `name` on each; `route_tables` associates each side's attachment (in `routers` order).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeeringDoc {
    pub name: S<String>,
    pub routers: [S<String>; 2],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_tables: Option<[S<String>; 2]>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterTableDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Static routes: `{destination, attachment: NAME}` or `{destination, blackhole: true}`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub routes: Vec<S<RouterRouteDoc>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterRouteDoc {
    pub destination: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<S<String>>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub blackhole: bool,
}

/// An attachment: a VPC (`vpc` and an interface in one subnet per availability zone), or a
/// VPN gateway / virtual gateway / global DC gateway (`kind`, `gateway` id and the on-premises
/// `networks` behind it).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `vpc` (default), `vpn_gateway`, `virtual_gateway` or `global_dc_gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<S<String>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub interfaces: Vec<S<InterfaceDoc>>,
    /// The gateway's id (gateway attachments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// On-premises networks behind the gateway.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_seq"
    )]
    pub networks: Vec<S<String>>,
    /// The route table that forwards what arrives through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table: Option<S<String>>,
    /// Route tables it propagates its VPC's block into.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_seq"
    )]
    pub propagate: Vec<S<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceDoc {
    pub subnet: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eni_id: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// alibaba: `basic` (default) or `enterprise` (policy.md §3.1).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<S<String>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub rules: Vec<S<SgRuleDoc>>,
}

/// A protocol: `tcp`, `udp`, `icmp`, `all` (or `-1`), or an IANA number.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(untagged)]
pub enum ProtoDoc {
    Number(i64),
    Name(String),
}

/// Ports: `22`, `"1024-65535"`, `"1024/65535"` or `all`.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(untagged)]
pub enum PortsDoc {
    Number(i64),
    Text(String),
}

/// A rule's remote side: a CIDR, or `{group: name}`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RemoteDoc {
    Cidr(String),
    Group { group: String },
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SgRuleDoc {
    pub direction: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<S<i64>>,
    pub protocol: S<ProtoDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<S<PortsDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<S<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<S<i64>>,
    pub remote: S<RemoteDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AclDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub ingress: Vec<S<AclEntryDoc>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub egress: Vec<S<AclEntryDoc>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AclEntryDoc {
    pub rule: S<i64>,
    pub action: S<String>,
    pub protocol: S<ProtoDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<S<PortsDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ports: Option<S<PortsDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<S<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<S<i64>>,
    pub cidr: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenDoc {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub udp: Vec<u16>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EniDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub subnet: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<S<String>>,
    /// Secondary private IPs: the interface's too (flowlogs.md §1.4).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_seq"
    )]
    pub secondary_private_ips: Vec<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eip: Option<S<String>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_seq"
    )]
    pub security_groups: Vec<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        serialize_with = "flow_map"
    )]
    pub listen: ListenDoc,
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub auto_reply: bool,
    /// Bandwidth limit in bits per second, each direction (tencent, D20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<S<u64>>,
    /// Connection-tracking idle timeouts of this interface (aws, policy.md §1.3).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "flow_map"
    )]
    pub connection_tracking: Option<ConnectionTrackingDoc>,
}

/// `{tcp_established: S, udp_stream: S, udp: S}`: idle timeouts in seconds; one left out keeps
/// its default (the instance type's where it has one).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionTrackingDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_established: Option<S<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_stream: Option<S<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<S<u32>>,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalDoc {
    pub name: S<String>,
    pub ip: S<String>,
    /// On premises, behind a router's gateway attachment (`{router: R, attachment: A}`) or a
    /// VPC's virtual private gateway (`{vpn_gateway: G}`). Absent: on the internet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<S<SiteDoc>>,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        serialize_with = "flow_map"
    )]
    pub listen: ListenDoc,
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub auto_reply: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_gateway: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowLogDoc {
    pub name: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(serialize_with = "flow_map")]
    pub resource: S<ResourceDoc>,
    /// `all`, `accepted` or `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<S<String>>,
    /// Capture window in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<S<u64>>,
    /// Records per window before SKIPDATA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<S<u64>>,
    /// Seconds after `start` at which the flow log is created (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<f64>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eni: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<String>,
    /// A router flow log: `{router: R, attachment: A}`, attachment `A` of router `R`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<String>,
    /// A CCN flow log: the CCN's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccn: Option<String>,
    /// A NAT gateway flow log (tencent `ResourceType` NAT, seed 004): the gateway's name. It
    /// captures the gateway's interface, as an ENI flow log of that interface would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway: Option<String>,
}

/// One line of the traffic script: `at` (seconds after `start`) and exactly one action.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventDoc {
    pub at: S<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping: Option<PingDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<PacketDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_security_group_rules: Option<SetSgRulesDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_acl_entries: Option<SetAclDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associate_acl: Option<AssociateAclDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_eni_security_groups: Option<SetEniGroupsDoc>,
    /// A route of a VPC route table added, replaced (re-pointed) or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_route: Option<RouteChangeDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_route: Option<RouteChangeDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_route: Option<DeleteRouteDoc>,
    /// A subnet moved to another route table of its VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associate_route_table: Option<AssociateRouteTableDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_nat_gateway: Option<DeleteNatGatewayDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_vpc_peering: Option<DeleteVpcPeeringDoc>,
    /// A static route of a router route table added, replaced or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_router_route: Option<RouterRouteChangeDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_router_route: Option<RouterRouteChangeDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_router_route: Option<RouterRouteChangeDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_router_attachment: Option<DeleteAttachmentDoc>,
    /// Only moves the clock (closes windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance: Option<bool>,
}

/// `add_route` / `replace_route`: `route_table` (a table's name, or `main` for the VPC's main
/// table) and a route as in `route_tables[].routes`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteChangeDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<S<String>>,
    pub route_table: S<String>,
    pub destination: S<String>,
    pub target: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peering: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_gateway: Option<S<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRouteDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<S<String>>,
    pub route_table: S<String>,
    pub destination: S<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssociateRouteTableDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<S<String>>,
    pub subnet: S<String>,
    pub route_table: S<String>,
}

/// `delete_vpc_peering: { peering: NAME }`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteVpcPeeringDoc {
    pub peering: S<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteNatGatewayDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<S<String>>,
    pub nat_gateway: S<String>,
}

/// `add_router_route` / `replace_router_route`: a static route (`attachment`) or a blackhole
/// (`blackhole: true`); `delete_router_route` names only the destination.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterRouteChangeDoc {
    pub router: S<String>,
    pub route_table: S<String>,
    pub destination: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackhole: Option<S<bool>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteAttachmentDoc {
    pub router: S<String>,
    pub attachment: S<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PingDoc {
    pub from: S<String>,
    pub to: S<String>,
    #[serde(default = "four")]
    pub count: u16,
    /// Seconds between requests.
    #[serde(default = "one")]
    pub interval: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ident: Option<u16>,
    /// The IPv4 time to live the echo requests leave with (1-255; default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<S<u16>>,
}

fn four() -> u16 {
    4
}
fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpDoc {
    pub from: S<String>,
    pub to: S<String>,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    /// Payload bytes of each request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<u16>,
    /// Payload bytes of each response.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<u16>,
    /// `fin` (default), `rst` or `open`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<S<String>>,
    /// Seconds between packets (default 0.001).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<f64>,
    /// The NAT port (1024-65535) a NAT gateway on the way gives this session, if free for its
    /// destination (drawn from the seed otherwise): pins one case to teach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_port: Option<S<u16>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UdpDoc {
    pub from: S<String>,
    pub to: S<String>,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    #[serde(default = "one_u16")]
    pub count: u16,
    #[serde(default = "one")]
    pub interval: f64,
    /// IP length of each request (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<S<u16>>,
    /// The IPv4 time to live the requests leave with (1-255; default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<S<u16>>,
}

fn one_u16() -> u16 {
    1
}

/// A raw packet. `to` names an endpoint; `dst` gives an address instead.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PacketDoc {
    pub from: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<S<String>>,
    pub protocol: S<ProtoDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// TCP flags: `[syn, ack]`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_seq"
    )]
    pub flags: Vec<S<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ident: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u16>,
    /// IP total length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<S<u16>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment_offset: Option<u16>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub more_fragments: bool,
    /// The IPv4 time to live it leaves with (1-255; default 64, as Linux sends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<S<u16>>,
    /// The don't-fragment flag (default: set on TCP, as Linux sets it; clear otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dont_fragment: Option<bool>,
    /// How many identical packets, `interval` seconds apart.
    #[serde(default = "one_u16")]
    pub count: u16,
    #[serde(default = "one")]
    pub interval: f64,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetSgRulesDoc {
    pub group: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<S<String>>,
    #[serde(serialize_with = "flow_items")]
    pub rules: Vec<S<SgRuleDoc>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetAclDoc {
    pub acl: S<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<S<String>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub ingress: Vec<S<AclEntryDoc>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "flow_items"
    )]
    pub egress: Vec<S<AclEntryDoc>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssociateAclDoc {
    pub subnet: S<String>,
    pub acl: S<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetEniGroupsDoc {
    pub eni: S<String>,
    #[serde(serialize_with = "flow_seq")]
    pub groups: Vec<S<String>>,
}

/// An assertion on the records the scenario prints.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDoc {
    /// Fields a record must have (names as the output format names them; `decision` matches a
    /// substring of any ground-truth decision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<std::collections::BTreeMap<String, ScalarDoc>>,
    /// How many records match `record` (default: at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// No record may match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_record: Option<std::collections::BTreeMap<String, ScalarDoc>>,
    /// Exactly this many records are printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<usize>,
    /// This exact line is printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

/// A field value in an expectation: written as a string or a number.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(untagged)]
pub enum ScalarDoc {
    Int(i64),
    Text(String),
}

impl ScalarDoc {
    pub fn text(&self) -> String {
        match self {
            ScalarDoc::Int(n) => n.to_string(),
            ScalarDoc::Text(s) => s.clone(),
        }
    }
}

/// What a route's `target` names, with the field that names it where the target needs one
/// (`target: nat_gateway` + `nat_gateway: NAME`): the one reading of a route's target, for the
/// file's routes (`plan`) and a traffic script's route changes (`load`) alike.
#[derive(Clone, Copy, Debug)]
pub enum RouteTo<'a> {
    InternetGateway,
    Blackhole,
    NatGateway(&'a S<String>),
    Router(&'a S<String>),
    Peering(&'a S<String>),
    VpnGateway(&'a S<String>),
}

/// A route target the file cannot give: where, the field (relative to the route), and why.
#[derive(Debug)]
pub struct BadTarget {
    pub at: serde_saphyr::Location,
    pub field: &'static str,
    pub message: String,
}

impl<'a> RouteTo<'a> {
    /// Reads `target` with the fields that name its resource.
    pub fn read(
        target: &S<String>,
        nat_gateway: Option<&'a S<String>>,
        router: Option<&'a S<String>>,
        peering: Option<&'a S<String>>,
        vpn_gateway: Option<&'a S<String>>,
    ) -> Result<RouteTo<'a>, BadTarget> {
        let named = |field: &'static str, value: Option<&'a S<String>>, what: &str| {
            value.ok_or_else(|| BadTarget {
                at: target.referenced,
                field,
                message: format!("a `{field}` route names {what}: `{field}: NAME`"),
            })
        };
        let to = match target.value.as_str() {
            "internet_gateway" | "igw" => RouteTo::InternetGateway,
            "blackhole" => RouteTo::Blackhole,
            "nat_gateway" | "nat" => {
                RouteTo::NatGateway(named("nat_gateway", nat_gateway, "its gateway")?)
            }
            "router" => RouteTo::Router(named("router", router, "the router")?),
            "peering" => RouteTo::Peering(named("peering", peering, "the connection")?),
            "vpn_gateway" => {
                RouteTo::VpnGateway(named("vpn_gateway", vpn_gateway, "the VPC's gateway")?)
            }
            other => {
                return Err(BadTarget {
                    at: target.referenced,
                    field: "target",
                    message: format!(
                        "unknown route target `{other}` (expected internet_gateway, nat_gateway, \
                         router, peering, vpn_gateway or blackhole)"
                    ),
                });
            }
        };
        // A name the target does not read is a mistake, not a detail (`target: blackhole,
        // peering: x`).
        let used = match to {
            RouteTo::NatGateway(_) => "nat_gateway",
            RouteTo::Router(_) => "router",
            RouteTo::Peering(_) => "peering",
            RouteTo::VpnGateway(_) => "vpn_gateway",
            RouteTo::InternetGateway | RouteTo::Blackhole => "",
        };
        for (field, value) in [
            ("nat_gateway", nat_gateway),
            ("router", router),
            ("peering", peering),
            ("vpn_gateway", vpn_gateway),
        ] {
            if let Some(v) = value.filter(|_| field != used) {
                return Err(BadTarget {
                    at: v.referenced,
                    field,
                    message: format!(
                        "a `{}` route names no {field}: remove `{field}`",
                        target.value
                    ),
                });
            }
        }
        Ok(to)
    }
}

impl RouteDoc {
    pub fn to(&self) -> Result<RouteTo<'_>, BadTarget> {
        RouteTo::read(
            &self.target,
            self.nat_gateway.as_ref(),
            self.router.as_ref(),
            self.peering.as_ref(),
            self.vpn_gateway.as_ref(),
        )
    }
}

impl RouteChangeDoc {
    pub fn to(&self) -> Result<RouteTo<'_>, BadTarget> {
        RouteTo::read(
            &self.target,
            self.nat_gateway.as_ref(),
            self.router.as_ref(),
            self.peering.as_ref(),
            self.vpn_gateway.as_ref(),
        )
    }
}
