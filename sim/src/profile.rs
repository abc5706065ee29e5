//! Provider profiles: the one place where Huawei, Alibaba, Tencent and AWS differ (decisions
//! D1, D2). The engine asks the profile; it never matches on a provider name.
//!
//! Sources: `docs/reference/policy.md` §1–§3 (security groups, ACLs, conntrack),
//! `docs/reference/flowlogs.md` §1 and §3 (windows, formats, excluded traffic),
//! `docs/reference/decisions.md` D3–D19.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::addr::Ipv4Net;
use crate::addressing::Addressing;
use crate::flowlog::format::{AwsFormat, Format, TencentStyle};
use crate::host::Host;
use crate::limits::Limits;
use crate::packet::size;
use crate::time::Span;

/// The four simulated clouds (D1).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Huawei,
    Alibaba,
    Tencent,
    Aws,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Huawei,
        Provider::Alibaba,
        Provider::Tencent,
        Provider::Aws,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Huawei => "huawei",
            Provider::Alibaba => "alibaba",
            Provider::Tencent => "tencent",
            Provider::Aws => "aws",
        }
    }
    pub fn profile(self) -> Profile {
        Profile::of(self)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!("unknown provider `{s}` (expected huawei, alibaba, tencent or aws)")
            })
    }
}

/// How the rules of an ENI's security groups combine into one first-match list (D3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgOrder {
    /// aws: allow-only; the union of every group's rules, no order (policy.md §1.1).
    Union,
    /// alibaba: all groups' rules merged, sorted by priority (1 first), deny before allow at
    /// equal priority (policy.md §3.1).
    MergedPriority,
    /// huawei: groups in attachment order; inside a group by priority, deny first (§3.2).
    GroupThenPriority,
    /// tencent: groups in order, rules top to bottom, first match (§3.3).
    ListOrder,
}

/// What a security-group rule change does to connections already tracked (D8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleChange {
    /// aws: tracked connections live until they time out (untracked flows are cut by nature).
    KeepTracked,
    /// huawei: inbound-initiated connections of the group's ENIs are cleared; outbound persist.
    /// A cleared TCP connection's segments are rejected, not picked up as a new connection,
    /// until a SYN opens a new one or its idle timeout runs out
    /// (`docs/decisions/huawei-rule-change.md`).
    ClearInbound,
    /// alibaba, tencent: a connection whose opening packet the new rules would deny is cut.
    CutIfDenied,
}

/// What becomes of the routes to a target (a NAT gateway, a router attachment) when the target
/// is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrphanRoutes {
    /// The routes stay, as blackholes: a packet that matches one is dropped, and the router
    /// does not fall back to a shorter route (policy.md §6.1, §6.3).
    Blackhole,
    /// The routes go with the target.
    Removed,
    /// The deletion is refused while routes name the target: remove them first.
    Refused,
}

/// How ICMP appears in a flow log's 5-tuple (D10, D14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpPorts {
    /// `0 0` (aws, huawei, alibaba examples).
    Zero,
    /// srcport = identifier, dstport = type×256 + code (the tencent field table).
    IdentTypeCode,
}

/// Connection-tracking idle timeouts (D6; policy.md §1.3, §3, §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timeouts {
    pub tcp_syn: Span,
    pub tcp_established: Span,
    /// After a FIN (FIN-WAIT / TIME-WAIT).
    pub tcp_closing: Span,
    /// After a RST.
    pub tcp_closed: Span,
    /// UDP seen in one direction, or a single request-response.
    pub udp: Span,
    /// UDP that has seen more than one request-response (a stream).
    pub udp_stream: Span,
    pub icmp: Span,
    /// Other protocols, keyed by (src, dst, protocol).
    pub other: Span,
}

/// Idle timeouts a user sets on one interface, in seconds; `None`: the default (the
/// instance type's where [`EniTimeouts::instance_defaults`] names it, else the profile's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionTracking {
    pub tcp_established: Option<u32>,
    pub udp_stream: Option<u32>,
    pub udp: Option<u32>,
}

impl ConnectionTracking {
    pub fn is_empty(&self) -> bool {
        *self == ConnectionTracking::default()
    }
}

/// The largest datagram (IPv4 total length) each kind of link carries, by the cloud's docs
/// (docs/decisions/mtu.md). A datagram with DF set that does not fit the next link is dropped
/// at the hop before it, which answers with ICMP fragmentation-needed carrying the link's MTU
/// (RFC 1191 path MTU discovery); one without DF is fragmented there (AWS EC2 "Network MTU":
/// "packets that exceed the MTU limit are fragmented, or dropped if DF is set"), which vpclab
/// does not split: it goes on whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mtu {
    /// An interface's, and so every link inside a VPC: the largest datagram a host sends.
    pub interface: u16,
    /// To the internet: through the internet gateway, and a NAT gateway's way out.
    pub internet: u16,
    /// Through a virtual private gateway (VPN; Direct Connect at its default).
    pub vpn: u16,
    /// Over a VPC peering connection between regions (within one, as inside a VPC).
    pub peering_cross_region: u16,
    /// Into a router between VPCs (aws transit gateway).
    pub router: u16,
}

impl Mtu {
    /// aws, after EC2 "Network maximum transmission unit (MTU) for your EC2 instance":
    /// instances send jumbo frames (9001) inside a VPC; "traffic that goes through an internet
    /// gateway", "over VPN connections" and between regions is limited to 1500; inter-region
    /// VPC peering to 8500; and a transit gateway "supports an MTU of 8500 bytes" (Transit
    /// Gateway "What is": its VPC, Direct Connect and peering attachments), answering larger
    /// packets with fragmentation-needed since November 2024 (PMTUD support; they were silently
    /// dropped before) and counting them in `packets-lost-mtu-exceeded` (policy.md §6.3).
    pub const AWS: Mtu = Mtu {
        interface: 9001,
        internet: 1500,
        vpn: 1500,
        peering_cross_region: 8500,
        router: 8500,
    };

    /// Ethernet's 1500 on every link: alibaba's ECS interfaces and transit routers default to
    /// it (jumbo frames, 8500, are an opt-in of some instance families and of Enterprise
    /// Edition transit routers: CEN "Enable jumbo frames on a transit router"); huawei and
    /// tencent document no other default in reference/ (docs/decisions/mtu.md).
    pub const ETHERNET: Mtu = Mtu {
        interface: 1500,
        internet: 1500,
        vpn: 1500,
        peering_cross_region: 1500,
        router: 1500,
    };
}

/// Where a cloud documents connection-tracking timeouts per interface (aws: policy.md §1.3,
/// `ConnectionTrackingSpecificationRequest`): the inclusive range of each, in seconds, and
/// the instance families whose default differs from the profile's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EniTimeouts {
    pub tcp_established: (u32, u32),
    pub udp_stream: (u32, u32),
    pub udp: (u32, u32),
    pub instance_defaults: &'static [InstanceDefault],
}

/// A default TCP-established timeout of some instance families (matched as
/// [`crate::limits::Limits::instance_family`] names them, ignoring case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceDefault {
    pub families: &'static [&'static str],
    pub tcp_established: Span,
}

/// The aws instance families on Nitro v6, from the "Hypervisor" column of the EC2 instance
/// types guide's family summaries (general purpose, compute, memory, storage optimized,
/// accelerated computing, HPC). P6e-GB200, which the API reference excludes, is listed there
/// as Nitro v5, so it is not here either.
const AWS_NITRO_V6: &[&str] = &[
    "c8a", "c8gb", "c8gn", "c8i", "c8id", "c8i-flex", "hpc8a", "i8ge", "m8a", "m8azn", "m8gb",
    "m8gn", "m8i", "m8id", "m8i-flex", "p6-b200", "r8a", "r8gb", "r8gn", "r8i", "r8i-flex",
    "x8aedz",
];

const AWS_INSTANCE_DEFAULTS: &[InstanceDefault] = &[InstanceDefault {
    families: AWS_NITRO_V6,
    tcp_established: Span::from_secs(350),
}];

/// A protocol/port matcher used by the profile's fixed tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub net: Ipv4Net,
    /// `None` = any protocol.
    pub protocol: Option<u8>,
    /// Destination ports (inclusive) for TCP/UDP.
    pub ports: (u16, u16),
}

impl Match {
    const fn new(a: [u8; 4], len: u8, protocol: Option<u8>, ports: (u16, u16)) -> Match {
        let ip = u32::from_be_bytes(a);
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - len as u32)
        };
        Match {
            net: Ipv4Net::from_raw(ip & mask, len),
            protocol,
            ports,
        }
    }
    /// Does a packet to or from `peer` with this protocol/destination port match?
    pub fn matches(&self, peer: Ipv4Addr, protocol: u8, dport: u16) -> bool {
        self.net.contains(peer)
            && self.protocol.is_none_or(|p| p == protocol)
            && (self.protocol.is_none()
                || !matches!(protocol, 6 | 17)
                || (self.ports.0..=self.ports.1).contains(&dport))
    }
}

const ANY_PORT: (u16, u16) = (0, 65535);
const UDP: Option<u8> = Some(17);
const TCP: Option<u8> = Some(6);

/// DHCP (client and server ports): never logged, never filtered on any cloud.
const DHCP: Match = Match::new([0, 0, 0, 0], 0, UDP, (67, 68));

/// Windows licence activation on aws: the KMS servers 169.254.169.250 and .251, TCP 1688
/// (flowlogs.md §1.5 item 2, policy.md §1.2 "Non-filtered traffic").
const AWS_EXCLUDED: &[Match] = &[
    Match::new([169, 254, 169, 250], 31, TCP, (1688, 1688)),
    DHCP,
];
/// Windows licence activation on tencent: seeds 002 and 004 name the traffic ("generated by
/// Windows instances for Windows license activation") but no server address, so vpclab
/// matches what such traffic is on the wire: KMS, TCP port 1688, to any address.
const KMS_ANYWHERE: Match = Match::new([0, 0, 0, 0], 0, TCP, (1688, 1688));
const TENCENT_EXCLUDED: &[Match] = &[KMS_ANYWHERE, DHCP];

/// The VPC's own services on aws, which answer like hosts and are never filtered or logged:
/// the Amazon DNS server at the VPC base + 2 and at 169.254.169.253, instance metadata and the
/// Time Sync Service (policy.md §1.2 "Non-filtered traffic", §1.6 and §2 "Not blockable by
/// NACL"; flowlogs.md §1.5 items 1, 3 and 4).
const AWS_SERVICES: &[Service] = &[
    Service::DNS_VPC_BASE_2,
    Service {
        name: "dns-link-local",
        title: "Amazon DNS (link-local)",
        at: ServiceAddr::At([169, 254, 169, 253]),
        tcp: &[53],
        udp: &[53],
        udp_response_len: size::UDP_RESPONSE,
    },
    Service::METADATA,
    Service {
        name: "time-sync",
        title: "Amazon Time Sync Service",
        at: ServiceAddr::At([169, 254, 169, 123]),
        tcp: &[],
        udp: &[123],
        udp_response_len: size::NTP,
    },
];
/// huawei: the metadata service (OpenStack's, HTTP on 169.254.169.254; its ACLs allow it by a
/// preset rule, policy.md §3.2), never filtered or logged as vpclab has always had it (D18).
const HUAWEI_SERVICES: &[Service] = &[Service::METADATA];
const ALIBABA_ACL_IMPLICIT: &[Match] = &[
    Match::new([100, 100, 2, 128], 28, None, ANY_PORT),
    Match::new([100, 100, 2, 112], 28, None, ANY_PORT),
    Match::new([100, 100, 100, 200], 32, None, ANY_PORT),
];
const HUAWEI_ACL_PRESETS: &[Match] = &[
    Match::new([255, 255, 255, 255], 32, None, ANY_PORT),
    Match::new([224, 0, 0, 0], 24, None, ANY_PORT),
    Match::new([169, 254, 169, 254], 32, TCP, (80, 80)),
    Match::new([100, 125, 0, 0], 16, None, ANY_PORT),
];
const HUAWEI_EXCLUDED: &[Match] = &[DHCP];

/// Where a VPC service answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceAddr {
    /// One address in every VPC (link-local: metadata, time sync).
    At([u8; 4]),
    /// The VPC's base address plus this much (aws: the DNS resolver at base + 2).
    VpcBase(u32),
}

/// A service of the VPC itself (decisions D18): it answers like a host listening on its ports
/// (`host::Host`), and nothing between it and an interface filters or logs the traffic, either
/// way (flowlogs.md §1.5, policy.md §1.2, §1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    /// What a scenario calls it (`udp: { from: web-1, to: dns, port: 53 }`).
    pub name: &'static str,
    /// What explanations call it.
    pub title: &'static str,
    pub at: ServiceAddr,
    pub tcp: &'static [u16],
    pub udp: &'static [u16],
    /// The IP length of its UDP answers.
    pub udp_response_len: u16,
}

impl Service {
    /// aws "Amazon DNS": the VPC base + 2, UDP and TCP 53; a response is 120 bytes
    /// (policy.md §0.1).
    const DNS_VPC_BASE_2: Service = Service {
        name: "dns",
        title: "Amazon DNS",
        at: ServiceAddr::VpcBase(2),
        tcp: &[53],
        udp: &[53],
        udp_response_len: size::UDP_RESPONSE,
    };
    /// Instance metadata: HTTP on 169.254.169.254, TCP 80.
    const METADATA: Service = Service {
        name: "metadata",
        title: "instance metadata",
        at: ServiceAddr::At([169, 254, 169, 254]),
        tcp: &[80],
        udp: &[],
        udp_response_len: size::UDP_RESPONSE,
    };

    /// The service's address in a VPC with block `vpc`.
    pub fn addr(&self, vpc: Ipv4Net) -> Ipv4Addr {
        match self.at {
            ServiceAddr::At(a) => Ipv4Addr::from(a),
            ServiceAddr::VpcBase(n) => vpc.nth(n).unwrap_or(Ipv4Addr::UNSPECIFIED),
        }
    }

    /// The host it is: listening on its ports, answering on its own.
    pub fn host(&self) -> Host {
        Host {
            tcp: self.tcp.iter().copied().collect(),
            udp: self.udp.iter().copied().collect(),
            auto_reply: true,
            udp_response_len: self.udp_response_len,
        }
    }
}

/// What a profile says about ID shapes (D19).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdStyle {
    /// `eni-` + 17 hex digits.
    Aws,
    /// `eni-` + 8 lowercase alphanumerics.
    Tencent,
    /// `eni-` + 22 lowercase alphanumerics.
    Alibaba,
    /// UUIDs.
    Huawei,
}

impl IdStyle {
    /// The prefixes of a router's and a router attachment's drawn ids: aws transit gateways
    /// (`tgw-…`, `tgw-attach-…`), alibaba CEN transit routers (`tr-…`, `tr-attach-…`);
    /// elsewhere vpclab's own `er-…` and `att-…` (huawei draws UUIDs, which take no prefix).
    pub fn router_prefixes(self) -> (&'static str, &'static str) {
        match self {
            IdStyle::Aws => ("tgw", "tgw-attach"),
            IdStyle::Alibaba => ("tr", "tr-attach"),
            IdStyle::Tencent | IdStyle::Huawei => ("er", "att"),
        }
    }
}

/// Everything that differs between clouds, as data (D2).
///
/// Serialized (in snapshots) as its provider alone: a profile is `Profile::of` its provider,
/// and a changed one is refused rather than saved as something it is not.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub provider: Provider,
    /// What the control plane enforces: names, quotas, instance types, retention (seeds).
    pub limits: Limits,
    pub sg_order: SgOrder,
    /// Whether security-group rules may deny (aws: allow-only).
    pub sg_deny_rules: bool,
    /// Inclusive priority range of security-group rules, when the cloud has priorities.
    pub sg_priority: Option<(u32, u32)>,
    /// The implicit rules evaluated after every explicit one. alibaba's basic groups allow
    /// inbound from the same group and all outbound (policy.md §3.1).
    /// They belong to basic groups: an enterprise group has no implicit allow rule.
    pub sg_implicit_same_group_ingress: bool,
    pub sg_implicit_egress_allow_all: bool,
    /// Whether groups may be of the enterprise kind (alibaba, policy.md §3.1).
    pub sg_enterprise_groups: bool,
    /// ACLs with connection tracking (huawei, D4).
    pub acl_stateful: bool,
    /// Inclusive range of ACL rule numbers.
    pub acl_rule_numbers: (u32, u32),
    /// Whether every VPC comes with a default ACL that subnets use until another is associated
    /// (aws: rule 100 allows all in and out). Elsewhere a subnet without an ACL is not filtered.
    pub vpc_default_acl: bool,
    /// Traffic every ACL of this cloud allows before its own rules (alibaba DNS and metaserver,
    /// huawei presets: policy.md §3.1, §3.2).
    pub acl_implicit_allow: &'static [Match],
    pub timeouts: Timeouts,
    /// Timeouts a user may set per interface, where the cloud documents them (aws); `None`:
    /// the profile's `timeouts` hold for every interface and setting one is refused.
    pub eni_timeouts: Option<EniTimeouts>,
    /// ICMP errors about a tracked flow pass as RELATED (D9).
    pub icmp_errors_related: bool,
    /// aws's untracked flows (D7, policy.md §1.3).
    pub untracked_flows: bool,
    pub rule_change: RuleChange,
    /// Default capture window and the windows a user may choose (D11).
    pub window: Span,
    pub windows_allowed: &'static [u64],
    /// Router flow logs (enterprise-router attachments): their own window rule where the cloud
    /// documents one (huawei ER 600 s, 60–600; aws transit gateway 60 s only: D11,
    /// flowlogs.md §1.8, §3.3); `None`: as ENI flow logs.
    pub router_window: Option<RouterWindow>,
    pub icmp_ports: IcmpPorts,
    pub id_style: IdStyle,
    /// Traffic that is never filtered or logged (D18), matched against the remote address and
    /// the remote port (a request's destination port, a reply's source port).
    pub excluded: &'static [Match],
    /// The VPC's own services: they answer, and traffic to or from their addresses is never
    /// filtered or logged (D18).
    pub services: &'static [Service],
    /// NAT gateway sessions idle this long are gone (aws 350 s, policy.md §6.2; the other
    /// clouds document none, D2: the same).
    pub nat_idle_timeout: Span,
    /// A NAT gateway is a routed hop: it decrements the TTL and, when the TTL would reach 0,
    /// drops the packet and answers with ICMP time-exceeded from its private address (RFC
    /// 1812 §5.3.1; traceroute from a private subnet shows the gateway as hop 1). The VPC's
    /// implicit router and the internet gateway do not (docs/decisions/ttl.md).
    pub nat_decrements_ttl: bool,
    /// Each kind of link's MTU, and so where path MTU discovery answers.
    pub mtu: Mtu,
    /// Simultaneous NAT sessions per destination (address, port, protocol): aws 55,000.
    pub nat_sessions_per_destination: u32,
    pub default_region: &'static str,
    /// VPC and subnet block sizes, reserved addresses, zone names.
    pub addressing: Addressing,
    /// Default records per window per flow log before SKIPDATA (D12).
    pub window_capacity: usize,
    /// What the cloud calls its router between VPCs, as pictures label it: aws "transit
    /// gateway", alibaba CEN's "transit router", huawei's "enterprise router" (and vpclab's on
    /// tencent, whose seeds name none).
    pub router_product: &'static str,
    /// Cloud Connect Networks (tencent CCN, alibaba CEN: seeds 004, 001): `None` where vpclab
    /// simulates none (huawei and aws join regions by router peering).
    pub ccn: Option<CcnProfile>,
    /// Whether ENIs may have bandwidth limits, with flow logs capturing egress before the limit
    /// and ingress after it: tencent, whose seed documents it (seed 004, D20).
    pub eni_bandwidth_limits: bool,
    /// How many secondary private IPs an interface may have (`docs/decisions/secondary-ips.md`).
    pub secondary_ips_per_eni: usize,
    /// What a record's `srcaddr`/`dstaddr` show on the interface's side when the packet
    /// carries one of its secondary IPs.
    pub secondary_ip_logged_as: LoggedAddress,
    /// Whether a VPN (or Direct Connect) gateway attaches to a VPC, with route propagation
    /// into its route tables: aws's virtual private gateway (policy.md §6.1). The other clouds
    /// have VPN gateways of their own kinds, which vpclab does not model; their on-premises
    /// links go through the enterprise router (huawei ER, seed 000), transit router or CCN, as
    /// router attachments.
    pub vpc_vpn_gateways: bool,
    /// VPC routes to a deleted NAT gateway: aws keeps them as blackholes ("the specified NAT
    /// instance has been terminated": policy.md §6.1, AWS-ROUTE-API); the other clouds
    /// document nothing, and vpclab refuses the deletion while routes name the gateway.
    pub nat_deleted_routes: OrphanRoutes,
    /// Static router routes to a deleted attachment: huawei's "next hop of its related static
    /// routes will be Blackhole" (policy.md §3.2, HW-ER `deleting_a_vpc_attachment`); the
    /// other clouds document nothing in reference/ and vpclab removes them with the attachment
    /// (issue 11 item 6).
    pub attachment_deleted_routes: OrphanRoutes,
    /// VPC peering connections (`world/peering.rs`, docs/decisions/vpc-peering.md).
    pub vpc_peering: PeeringProfile,
}

/// What a cloud's VPC peering connections may join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeeringProfile {
    /// Whether the two VPCs may be in different regions: aws (inter-region peering, traffic
    /// path 5), alibaba and tencent document cross-region peering; huawei's VPC peering joins
    /// VPCs of one region (its regions meet through enterprise routers and CCN).
    pub across_regions: bool,
    /// Active peering connections one VPC may have: aws 50 (Amazon VPC quotas, "Active VPC
    /// peering connections per VPC"), tencent 10 (Peering Connection, "Use limits",
    /// tencentcloud.com/document/product/553/18830); `None` where no figure was found.
    pub per_vpc: Option<u32>,
    /// VPC routes to a deleted peering connection: aws keeps them as blackholes (policy.md
    /// §6.1, "the route's target isn't available"); elsewhere, as for NAT gateways, vpclab
    /// refuses the deletion while routes name the connection.
    pub deleted_routes: OrphanRoutes,
    /// Whether a VPC's peers must have blocks distinct from each other. tencent (Peering
    /// Connection, "Use limits", tencentcloud.com/document/product/553/18830, 2024-10-29): "For
    /// peering connection, the CIDR blocks of multiple peer networks of one VPC cannot
    /// overlap. Otherwise, an error will occur." (Older copies of the page say it of
    /// cross-region connections; the current one of all, which vpclab follows.) aws lets a VPC
    /// peer with two VPCs of overlapping blocks (only its routes must tell them apart); no
    /// such rule was found for alibaba, and huawei restricts the routes, not the connections.
    pub distinct_peers: bool,
    /// Whether a security-group rule may reference a group of a VPC peered with its own in
    /// the same region. aws (VPC Peering Guide, "Update your security groups to reference peer
    /// security groups"): yes, while the connection is active; "You can't reference the
    /// security group of a peer VPC that's in a different Region. Instead, use the CIDR block
    /// of the peer VPC." A rule whose connection is deleted is "stale" (EC2
    /// DescribeStaleSecurityGroups) and matches nothing. No such reference is documented for
    /// huawei, alibaba or tencent: their rules reference groups of their own VPC.
    pub peer_group_rules: bool,
}

/// The address a flow-log record shows on the capturing interface's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoggedAddress {
    /// The interface's primary private IP, whatever the packet carries: aws, whose
    /// `pkt-srcaddr`/`pkt-dstaddr` give the packet's own (flowlogs.md §1.4).
    Primary,
    /// The packet's own address: huawei, alibaba and tencent, whose field tables say "the
    /// source IP address" and have no `pkt-*` fields (flowlogs.md §3.1, §3.2, §3.4;
    /// `docs/decisions/secondary-ips.md`).
    Packet,
}

/// A cloud's Cloud Connect Network: its flow logs' windows (D11) and its IDs' prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CcnProfile {
    /// Default window of a CCN flow log and the windows a user may choose.
    pub window: Span,
    pub windows_allowed: &'static [u64],
    /// `ccn` (tencent), `cen` (alibaba).
    pub id_prefix: &'static str,
    /// Attachments' own IDs (alibaba `tr-attach-…`); `None`: the VPC's id stands for it.
    pub attachment_prefix: Option<&'static str>,
}

/// The capture window of router flow logs: a default and the inclusive range of seconds a
/// user may choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterWindow {
    pub default: Span,
    pub min_secs: u64,
    pub max_secs: u64,
}

/// Linux conntrack defaults (policy.md §4): used where a cloud documents nothing (D6).
const LINUX: Timeouts = Timeouts {
    tcp_syn: Span::from_secs(120),
    tcp_established: Span::from_secs(432_000),
    tcp_closing: Span::from_secs(120),
    tcp_closed: Span::from_secs(10),
    udp: Span::from_secs(30),
    udp_stream: Span::from_secs(120),
    icmp: Span::from_secs(30),
    other: Span::from_secs(600),
};

impl serde::Serialize for Profile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if *self != Profile::of(self.provider) {
            return Err(serde::ser::Error::custom(format!(
                "the {} profile was changed; only a provider's own profile is saved",
                self.provider
            )));
        }
        self.provider.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Profile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Profile, D::Error> {
        Provider::deserialize(d).map(Profile::of)
    }
}

impl Profile {
    /// The timeouts of an interface of `instance_type` with these settings: each one set (in
    /// the profile's range, else an error naming `connection_tracking.FIELD`), else the
    /// instance type's default (aws Nitro v6: 350 s TCP established), else the profile's.
    /// Settings on a cloud without per-interface timeouts are refused (policy.md §1.3).
    pub fn eni_timeouts(
        &self,
        instance_type: Option<&str>,
        set: &ConnectionTracking,
    ) -> Result<Timeouts, (&'static str, String)> {
        let mut t = self.timeouts;
        let fields = [
            ("connection_tracking.tcp_established", set.tcp_established),
            ("connection_tracking.udp_stream", set.udp_stream),
            ("connection_tracking.udp", set.udp),
        ];
        let Some(rule) = self.eni_timeouts else {
            return match fields.into_iter().find(|(_, v)| v.is_some()) {
                Some((field, _)) => Err((
                    field,
                    format!(
                        "vpclab sets connection-tracking timeouts per interface on aws only, \
                         whose API documents them (ConnectionTrackingSpecification), not on {}",
                        self.provider
                    ),
                )),
                None => Ok(t),
            };
        };
        if let Some(ty) = instance_type {
            let family = self.limits.instance_family(ty);
            let listed =
                |d: &&InstanceDefault| d.families.iter().any(|f| f.eq_ignore_ascii_case(family));
            if let Some(d) = rule.instance_defaults.iter().find(listed) {
                t.tcp_established = d.tcp_established;
            }
        }
        let targets = [
            (rule.tcp_established, &mut t.tcp_established),
            (rule.udp_stream, &mut t.udp_stream),
            (rule.udp, &mut t.udp),
        ];
        for ((field, value), ((min, max), span)) in fields.into_iter().zip(targets) {
            let Some(v) = value else { continue };
            if !(min..=max).contains(&v) {
                let name = field.trim_start_matches("connection_tracking.");
                return Err((
                    field,
                    format!(
                        "{name} is {min}-{max} seconds on {}, not {v}",
                        self.provider
                    ),
                ));
            }
            *span = Span::from_secs(u64::from(v));
        }
        Ok(t)
    }

    pub fn of(provider: Provider) -> Profile {
        match provider {
            Provider::Aws => Profile {
                provider,
                limits: Limits::of(provider),
                sg_order: SgOrder::Union,
                sg_deny_rules: false,
                sg_priority: None,
                sg_implicit_same_group_ingress: false,
                sg_implicit_egress_allow_all: false,
                sg_enterprise_groups: false,
                acl_stateful: false,
                acl_rule_numbers: (1, 32766),
                vpc_default_acl: true,
                acl_implicit_allow: &[],
                // policy.md §1.3: tcp-established 432000 s, udp 30 s, udp-stream 180 s,
                // other protocols 600 s; ICMP and closing states from Linux.
                timeouts: Timeouts {
                    udp_stream: Span::from_secs(180),
                    ..LINUX
                },
                // policy.md §1.3 and the EC2 API reference (ConnectionTrackingSpecification):
                // tcp-established 60-432000 s, udp-stream 60-180 s, udp 30-60 s; "Default: 350
                // seconds for Nitro v6 instance types (excluding P6e-GB200); 432000 seconds
                // for all other instance types".
                eni_timeouts: Some(EniTimeouts {
                    tcp_established: (60, 432_000),
                    udp_stream: (60, 180),
                    udp: (30, 60),
                    instance_defaults: AWS_INSTANCE_DEFAULTS,
                }),
                icmp_errors_related: false,
                untracked_flows: true,
                rule_change: RuleChange::KeepTracked,
                window: Span::from_secs(600),
                windows_allowed: &[60, 600],
                // Transit gateway flow logs: `--max-aggregation-interval` only 60 (§1.8).
                router_window: Some(RouterWindow {
                    default: Span::from_secs(60),
                    min_secs: 60,
                    max_secs: 60,
                }),
                icmp_ports: IcmpPorts::Zero,
                id_style: IdStyle::Aws,
                // flowlogs.md §1.5: Windows activation, DHCP; and the services (Amazon DNS,
                // metadata, Time Sync), which answer.
                excluded: AWS_EXCLUDED,
                services: AWS_SERVICES,
                nat_idle_timeout: Span::from_secs(350),
                nat_decrements_ttl: true,
                mtu: Mtu::AWS,
                nat_sessions_per_destination: 55_000,
                default_region: "us-east-1",
                addressing: Addressing::AWS,
                window_capacity: 10_000,
                router_product: "transit gateway",
                ccn: None,
                eni_bandwidth_limits: false,
                // 50 private IPv4s per interface on the largest instance types, the primary
                // included ("IP addresses per network interface per instance type", EC2 User
                // Guide): vpclab models no per-type figure (docs/decisions/secondary-ips.md).
                secondary_ips_per_eni: 49,
                secondary_ip_logged_as: LoggedAddress::Primary,
                vpc_vpn_gateways: true,
                nat_deleted_routes: OrphanRoutes::Blackhole,
                attachment_deleted_routes: OrphanRoutes::Removed,
                vpc_peering: PeeringProfile {
                    across_regions: true,
                    per_vpc: Some(50),
                    deleted_routes: OrphanRoutes::Blackhole,
                    distinct_peers: false,
                    peer_group_rules: true,
                },
            },
            Provider::Alibaba => Profile {
                provider,
                limits: Limits::of(provider),
                sg_order: SgOrder::MergedPriority,
                sg_deny_rules: true,
                sg_priority: Some((1, 100)),
                sg_implicit_same_group_ingress: true,
                sg_implicit_egress_allow_all: true,
                sg_enterprise_groups: true,
                acl_stateful: false,
                acl_rule_numbers: (1, 32766),
                vpc_default_acl: false,
                // policy.md §3.1: DNS 100.100.2.128/28, 100.100.2.112/28, metaserver.
                acl_implicit_allow: ALIBABA_ACL_IMPLICIT,
                // "A session can last up to 910 seconds" (policy.md §3.1).
                timeouts: Timeouts {
                    tcp_syn: Span::from_secs(910),
                    tcp_established: Span::from_secs(910),
                    tcp_closing: Span::from_secs(910),
                    tcp_closed: Span::from_secs(10),
                    udp: Span::from_secs(910),
                    udp_stream: Span::from_secs(910),
                    icmp: Span::from_secs(910),
                    other: Span::from_secs(910),
                },
                eni_timeouts: None,
                icmp_errors_related: true,
                untracked_flows: false,
                rule_change: RuleChange::CutIfDenied,
                window: Span::from_secs(600),
                windows_allowed: &[60, 300, 600],
                router_window: None,
                icmp_ports: IcmpPorts::Zero,
                id_style: IdStyle::Alibaba,
                // DHCP. Alibaba's DNS (100.100.2.128/28, .112/28) and metaserver
                // (100.100.100.200) are only documented as always allowed by its ACLs
                // (`acl_implicit_allow`): not as unlogged nor unfiltered by security groups.
                excluded: &[DHCP],
                services: &[],
                nat_idle_timeout: Span::from_secs(350),
                nat_decrements_ttl: true,
                mtu: Mtu::ETHERNET,
                nat_sessions_per_destination: 55_000,
                default_region: "cn-hangzhou",
                addressing: Addressing::ALIBABA,
                window_capacity: 10_000,
                // CEN flow logs: 60 or 600 s (flowlogs.md §3.1, ModifyFlowLogAttribute `Interval`).
                router_product: "transit router",
                ccn: Some(CcnProfile {
                    window: Span::from_secs(600),
                    windows_allowed: &[60, 600],
                    id_prefix: "cen",
                    attachment_prefix: Some("tr-attach"),
                }),
                eni_bandwidth_limits: false,
                // No documented figure in the references: aws's bound (the decision note).
                secondary_ips_per_eni: 49,
                secondary_ip_logged_as: LoggedAddress::Packet,
                vpc_vpn_gateways: false,
                nat_deleted_routes: OrphanRoutes::Refused,
                attachment_deleted_routes: OrphanRoutes::Removed,
                vpc_peering: PeeringProfile {
                    across_regions: true,
                    per_vpc: None,
                    deleted_routes: OrphanRoutes::Refused,
                    distinct_peers: false,
                    peer_group_rules: false,
                },
            },
            Provider::Huawei => Profile {
                provider,
                limits: Limits::of(provider),
                sg_order: SgOrder::GroupThenPriority,
                sg_deny_rules: true,
                sg_priority: Some((1, 100)),
                sg_implicit_same_group_ingress: false,
                sg_implicit_egress_allow_all: false,
                sg_enterprise_groups: false,
                acl_stateful: true,
                acl_rule_numbers: (1, 32766),
                vpc_default_acl: false,
                // policy.md §3.2 presets: broadcast, multicast, metadata TCP 80, public services.
                acl_implicit_allow: HUAWEI_ACL_PRESETS,
                // policy.md §3.2: TCP established 600 s, FIN-WAIT 30 s, ICMP 30 s, other 180/30 s.
                timeouts: Timeouts {
                    tcp_syn: Span::from_secs(30),
                    tcp_established: Span::from_secs(600),
                    tcp_closing: Span::from_secs(30),
                    tcp_closed: Span::from_secs(10),
                    udp: Span::from_secs(30),
                    udp_stream: Span::from_secs(180),
                    icmp: Span::from_secs(30),
                    other: Span::from_secs(180),
                },
                eni_timeouts: None,
                icmp_errors_related: true,
                untracked_flows: false,
                rule_change: RuleChange::ClearInbound,
                window: Span::from_secs(600),
                windows_allowed: &[60, 300, 600],
                // Enterprise-router flow logs: `log_aggregation_interval` 60–600 s, 600 s in
                // the documented example (§3.3).
                router_window: Some(RouterWindow {
                    default: Span::from_secs(600),
                    min_secs: 60,
                    max_secs: 600,
                }),
                icmp_ports: IcmpPorts::Zero,
                id_style: IdStyle::Huawei,
                excluded: HUAWEI_EXCLUDED,
                services: HUAWEI_SERVICES,
                nat_idle_timeout: Span::from_secs(350),
                nat_decrements_ttl: true,
                mtu: Mtu::ETHERNET,
                nat_sessions_per_destination: 55_000,
                default_region: "cn-north-4",
                addressing: Addressing::HUAWEI,
                // OTC: 400,000 records by default (flowlogs.md §3.2).
                window_capacity: 400_000,
                router_product: "enterprise router",
                ccn: None,
                eni_bandwidth_limits: false,
                // No documented figure in the references: aws's bound (the decision note).
                secondary_ips_per_eni: 49,
                secondary_ip_logged_as: LoggedAddress::Packet,
                vpc_vpn_gateways: false,
                nat_deleted_routes: OrphanRoutes::Refused,
                attachment_deleted_routes: OrphanRoutes::Blackhole,
                vpc_peering: PeeringProfile {
                    across_regions: false,
                    per_vpc: None,
                    deleted_routes: OrphanRoutes::Refused,
                    distinct_peers: false,
                    peer_group_rules: false,
                },
            },
            Provider::Tencent => Profile {
                provider,
                limits: Limits::of(provider),
                sg_order: SgOrder::ListOrder,
                sg_deny_rules: true,
                sg_priority: None,
                sg_implicit_same_group_ingress: false,
                sg_implicit_egress_allow_all: false,
                sg_enterprise_groups: false,
                acl_stateful: false,
                acl_rule_numbers: (1, 32766),
                vpc_default_acl: false,
                acl_implicit_allow: &[],
                // Undocumented: Linux defaults (D6).
                timeouts: LINUX,
                eni_timeouts: None,
                icmp_errors_related: true,
                untracked_flows: false,
                rule_change: RuleChange::CutIfDenied,
                window: Span::from_secs(300),
                windows_allowed: &[60, 300, 600],
                router_window: None,
                icmp_ports: IcmpPorts::IdentTypeCode,
                id_style: IdStyle::Tencent,
                // Seeds 002 and 004: Windows license activation and DHCP are not captured.
                excluded: TENCENT_EXCLUDED,
                services: &[],
                nat_idle_timeout: Span::from_secs(350),
                nat_decrements_ttl: true,
                mtu: Mtu::ETHERNET,
                nat_sessions_per_destination: 55_000,
                default_region: "ap-guangzhou",
                addressing: Addressing::TENCENT,
                window_capacity: 10_000,
                // CCN flow logs: "the capture window is approximately 1 minute" (seed 004, D11).
                router_product: "enterprise router",
                ccn: Some(CcnProfile {
                    window: Span::from_secs(60),
                    windows_allowed: &[60],
                    id_prefix: "ccn",
                    attachment_prefix: None,
                }),
                eni_bandwidth_limits: true,
                // No documented figure in the references: aws's bound (the decision note).
                secondary_ips_per_eni: 49,
                secondary_ip_logged_as: LoggedAddress::Packet,
                vpc_vpn_gateways: false,
                nat_deleted_routes: OrphanRoutes::Refused,
                attachment_deleted_routes: OrphanRoutes::Removed,
                vpc_peering: PeeringProfile {
                    across_regions: true,
                    per_vpc: Some(10),
                    deleted_routes: OrphanRoutes::Refused,
                    distinct_peers: true,
                    peer_group_rules: false,
                },
            },
        }
    }

    /// The records format a world of this cloud prints unless told otherwise.
    pub fn default_format(&self) -> Format {
        match self.provider {
            Provider::Huawei => Format::Huawei,
            Provider::Alibaba => Format::Alibaba,
            Provider::Tencent => Format::Tencent(TencentStyle::KeyValue),
            Provider::Aws => Format::Aws(AwsFormat::default_v2()),
        }
    }

    /// The records format of this cloud's router flow logs: huawei's enterprise-router line,
    /// aws's transit-gateway default (all v2–v6 TGW fields). Alibaba and tencent document none:
    /// their ENI format, which prints a router record with `-` where nothing applies.
    pub fn default_router_format(&self) -> Format {
        self.default_format().for_router()
    }

    /// The default capture window of a router flow log.
    pub fn router_window_default(&self) -> Span {
        self.router_window.map_or(self.window, |w| w.default)
    }

    /// Does the cloud allow a router flow log window of `secs` seconds?
    pub fn router_window_allowed(&self, secs: u64) -> bool {
        match self.router_window {
            Some(w) => (w.min_secs..=w.max_secs).contains(&secs),
            None => self.windows_allowed.contains(&secs),
        }
    }

    /// Is traffic with this remote address, protocol and remote port (a request's destination
    /// port, a reply's source port) excluded (D18), in a VPC with block `vpc`? Everything to
    /// or from a VPC service's address is.
    pub fn is_excluded(&self, remote: Ipv4Addr, protocol: u8, port: u16, vpc: Ipv4Net) -> bool {
        self.service_at(vpc, remote).is_some()
            || self
                .excluded
                .iter()
                .any(|m| m.matches(remote, protocol, port))
    }

    /// The VPC service (its index in `services`) at `addr` in a VPC with block `vpc`.
    pub fn service_at(&self, vpc: Ipv4Net, addr: Ipv4Addr) -> Option<u32> {
        self.services
            .iter()
            .position(|s| s.addr(vpc) == addr)
            .map(|i| i as u32)
    }

    pub fn acl_implicitly_allows(&self, remote: Ipv4Addr, protocol: u8, dport: u16) -> bool {
        self.acl_implicit_allow
            .iter()
            .any(|m| m.matches(remote, protocol, dport))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn each_cloud_lists_its_own_vpc_services() {
        let vpc = Ipv4Net::parse_strict("10.0.0.0/16").unwrap();
        let names = |p: Provider| -> Vec<(&str, Ipv4Addr)> {
            Profile::of(p)
                .services
                .iter()
                .map(|s| (s.name, s.addr(vpc)))
                .collect()
        };
        assert_eq!(
            names(Provider::Aws),
            [
                ("dns", ip("10.0.0.2")),
                ("dns-link-local", ip("169.254.169.253")),
                ("metadata", ip("169.254.169.254")),
                ("time-sync", ip("169.254.169.123")),
            ]
        );
        assert_eq!(
            names(Provider::Huawei),
            [("metadata", ip("169.254.169.254"))]
        );
        assert!(names(Provider::Alibaba).is_empty());
        assert!(names(Provider::Tencent).is_empty());
        let ntp = Profile::of(Provider::Aws).services[3].host();
        assert!(ntp.udp.contains(&123) && ntp.tcp.is_empty() && ntp.udp_response_len == 76);
    }

    #[test]
    fn excluded_traffic_matches_requests_and_replies() {
        let vpc = Ipv4Net::parse_strict("10.0.0.0/16").unwrap();
        let aws = Profile::of(Provider::Aws);
        // Everything to or from a service address, whatever the port.
        assert!(aws.is_excluded(ip("10.0.0.2"), 17, 53, vpc));
        assert!(aws.is_excluded(ip("10.0.0.2"), 1, 0, vpc));
        assert!(aws.is_excluded(ip("169.254.169.254"), 6, 80, vpc));
        assert!(!aws.is_excluded(ip("10.0.0.3"), 17, 53, vpc));
        // Windows activation: aws's KMS servers only; tencent's, wherever they are (TCP 1688).
        assert!(aws.is_excluded(ip("169.254.169.251"), 6, 1688, vpc));
        assert!(!aws.is_excluded(ip("192.0.2.1"), 6, 1688, vpc));
        let tencent = Profile::of(Provider::Tencent);
        assert!(tencent.is_excluded(ip("192.0.2.1"), 6, 1688, vpc));
        assert!(!tencent.is_excluded(ip("192.0.2.1"), 6, 443, vpc));
        // DHCP on every cloud, the server's reply (source port 67) too.
        for p in Provider::ALL {
            assert!(
                Profile::of(p).is_excluded(ip("10.0.0.1"), 17, 67, vpc),
                "{p}"
            );
        }
        // No VPC DNS elsewhere (alibaba's and tencent's resolvers are ordinary traffic).
        assert!(!tencent.is_excluded(ip("10.0.0.2"), 17, 53, vpc));
    }

    /// aws interface timeouts (policy.md §1.3, ConnectionTrackingSpecification): Nitro v6
    /// types default to 350 s TCP established, P6e-GB200 and older types to 432000 s; a value
    /// set wins over the type's default; each range is checked, bounds included.
    #[test]
    fn aws_interface_timeouts_follow_the_instance_type_and_the_settings() {
        let aws = Profile::of(Provider::Aws);
        let none = ConnectionTracking::default();
        let tcp = |ty: Option<&str>, set: &ConnectionTracking| {
            aws.eni_timeouts(ty, set).unwrap().tcp_established
        };
        assert_eq!(tcp(None, &none), Span::from_secs(432_000));
        for nitro_v6 in [
            "m8i.large",
            "C8GN.xlarge",
            "p6-b200.48xlarge",
            "m8i-flex.large",
        ] {
            assert_eq!(
                tcp(Some(nitro_v6), &none),
                Span::from_secs(350),
                "{nitro_v6}"
            );
        }
        for other in ["p6e-gb200.36xlarge", "m7i.large", "m8g.large", "t3.micro"] {
            assert_eq!(tcp(Some(other), &none), Span::from_secs(432_000), "{other}");
        }
        let set = ConnectionTracking {
            tcp_established: Some(600),
            udp_stream: Some(60),
            udp: Some(60),
        };
        let t = aws.eni_timeouts(Some("m8i.large"), &set).unwrap();
        assert_eq!(
            (t.tcp_established, t.udp_stream, t.udp, t.icmp),
            (
                Span::from_secs(600),
                Span::from_secs(60),
                Span::from_secs(60),
                aws.timeouts.icmp
            )
        );
        let only_udp = ConnectionTracking {
            udp: Some(45),
            ..none
        };
        assert_eq!(tcp(Some("m8i.large"), &only_udp), Span::from_secs(350));
        let err = |set: ConnectionTracking| aws.eni_timeouts(None, &set).unwrap_err().0;
        let at = |tcp, stream, udp| ConnectionTracking {
            tcp_established: Some(tcp),
            udp_stream: Some(stream),
            udp: Some(udp),
        };
        assert_eq!(err(at(59, 60, 30)), "connection_tracking.tcp_established");
        assert_eq!(
            err(at(432_001, 60, 30)),
            "connection_tracking.tcp_established"
        );
        assert_eq!(err(at(60, 181, 30)), "connection_tracking.udp_stream");
        assert_eq!(err(at(60, 60, 29)), "connection_tracking.udp");
        assert!(aws.eni_timeouts(None, &at(432_000, 180, 60)).is_ok());
        // Elsewhere nothing is set per interface: the profile's timeouts, whatever the type.
        let huawei = Profile::of(Provider::Huawei);
        assert_eq!(
            huawei.eni_timeouts(Some("c7.large.2"), &none),
            Ok(huawei.timeouts)
        );
        assert_eq!(
            huawei.eni_timeouts(None, &only_udp).unwrap_err().0,
            "connection_tracking.udp"
        );
    }
}
