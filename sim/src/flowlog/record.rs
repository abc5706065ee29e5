//! A flow-log record as vpclab produces it, before any cloud's format is applied: the
//! aggregated counters of one (capture point, direction, 5-tuple, action, window) (decisions
//! D10–D12), the metadata of the capture point, and the ground truth behind it.
//!
//! A capture point is an ENI or, for router flow logs, a router attachment (seed 000,
//! flowlogs.md §1.8, §3.3): its records carry the attachments a packet crossed and the
//! packets the router lost ([`RouterFlow`]).

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::packet::FiveTuple;
use crate::time::Time;
use crate::{Action, Direction};

/// `OK`, `NODATA` or `SKIPDATA` (flowlogs.md §1.6, D12).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum LogStatus {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "NODATA")]
    NoData,
    #[serde(rename = "SKIPDATA")]
    SkipData,
}

impl LogStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::Ok => "OK",
            LogStatus::NoData => "NODATA",
            LogStatus::SkipData => "SKIPDATA",
        }
    }
}

/// AWS v5 `traffic-path` (egress records only): how the packet left the VPC.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum TrafficPath {
    /// 1: to a resource in the same VPC.
    SameVpc = 1,
    /// 2: through an internet gateway.
    InternetGateway = 2,
    /// 3: through a virtual private gateway.
    VirtualPrivateGateway = 3,
    /// 4: through a VPC peering connection within a region.
    IntraRegionPeering = 4,
    /// 5: through a VPC peering connection to another region.
    InterRegionPeering = 5,
}

/// Who captured the record: the network interface and its place in the topology, resolved to
/// the strings the formats print. Shared by every record of that interface.
///
/// Serialized without its `None` router and CCN parts in human-readable formats (the `json`
/// record format), with every field in binary ones (snapshots, whose formats need them all).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct CaptureMeta {
    /// Account (aws, alibaba, tencent AppID) or project id (huawei, 32 hex).
    pub account_id: String,
    /// The ENI id in the cloud's style (D19).
    pub interface_id: String,
    pub vpc_id: String,
    /// Subnet id (alibaba calls it vSwitch).
    pub subnet_id: String,
    /// The instance the ENI is attached to; `None` for requester-managed ENIs.
    pub instance_id: Option<String>,
    pub region: String,
    pub az_id: String,
    /// The ENI's primary private IPv4: what `srcaddr`/`dstaddr` show (flowlogs.md §1.4).
    pub primary_ip: Ipv4Addr,
    /// For a router attachment's records (router flow logs): the router's id. Such a capture
    /// point's `interface_id` is the attachment's id, `vpc_id` the attached VPC's (or `-`),
    /// and subnet, zone and instance do not apply (`-`). `None` for an ENI.
    #[serde(default)]
    pub router_id: Option<String>,
    /// For a Cloud Connect Network's records (CCN flow logs): the CCN and the region pair. Such
    /// a capture point's `interface_id` is the CCN's id, `vpc_id` the source VPC's, `region`
    /// the flow log's ("the region where logs are recorded", seed 004). `None` elsewhere.
    #[serde(default)]
    pub ccn: Option<CcnPoint>,
}

impl serde::Serialize for CaptureMeta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let omit = s.is_human_readable();
        let skip_router = omit && self.router_id.is_none();
        let skip_ccn = omit && self.ccn.is_none();
        let fields = 10 - usize::from(skip_router) - usize::from(skip_ccn);
        let mut st = s.serialize_struct("CaptureMeta", fields)?;
        st.serialize_field("account_id", &self.account_id)?;
        st.serialize_field("interface_id", &self.interface_id)?;
        st.serialize_field("vpc_id", &self.vpc_id)?;
        st.serialize_field("subnet_id", &self.subnet_id)?;
        st.serialize_field("instance_id", &self.instance_id)?;
        st.serialize_field("region", &self.region)?;
        st.serialize_field("az_id", &self.az_id)?;
        st.serialize_field("primary_ip", &self.primary_ip)?;
        if skip_router {
            st.skip_field("router_id")?;
        } else {
            st.serialize_field("router_id", &self.router_id)?;
        }
        if skip_ccn {
            st.skip_field("ccn")?;
        } else {
            st.serialize_field("ccn", &self.ccn)?;
        }
        st.end()
    }
}

/// A CCN capture point: traffic from one attached VPC to another in another region, or (no
/// regions) the CCN as a whole, where a quiet window's NODATA record is (seed 004; `crate::ccn`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CcnPoint {
    pub ccn_id: String,
    /// The source VPC's attachment (alibaba `attachment-id`; tencent: the VPC's id); `-` for
    /// the CCN as a whole.
    pub attachment_id: String,
    pub src_region: Option<String>,
    pub dst_region: Option<String>,
}

impl CaptureMeta {
    /// Is this a router attachment (a router flow log's capture point)?
    pub fn is_router(&self) -> bool {
        self.router_id.is_some()
    }
}

/// Why a router dropped packets it received through an attachment: the AWS transit-gateway
/// `packets-lost-*` counters (flowlogs.md §1.8, D13).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// No route for the destination (`packets-lost-no-route`).
    NoRoute,
    /// The matching route is a blackhole (`packets-lost-blackhole`).
    Blackhole,
    /// Larger than the router's MTU (`packets-lost-mtu-exceeded`).
    MtuExceeded,
}

/// One side of a router crossing: the attachment a packet came in or went out through, and
/// for a VPC attachment the interface it used (AWS `tgw-src-*` / `tgw-dst-*`, §1.8).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouterEnd {
    pub attachment_id: String,
    /// The attached VPC's owner and id; `None` for other attachments.
    pub vpc_account_id: Option<String>,
    pub vpc_id: Option<String>,
    /// The attachment's interface in the VPC that carried the packet, its subnet and zone.
    pub subnet_id: Option<String>,
    pub eni_id: Option<String>,
    pub az_id: Option<String>,
}

/// Where the packets of a router record came from and went: in through `src`, out through
/// `dst` (`None`: the router dropped them).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouterPath {
    pub src: RouterEnd,
    pub dst: Option<RouterEnd>,
}

/// The router part of a router record's traffic.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouterFlow {
    /// The path of the record's first packet.
    pub path: Arc<RouterPath>,
    /// Packets of the record the router dropped, by reason (ingress records only). They are
    /// counted in `packets` and `bytes` too: the record describes what crossed the attachment
    /// into the router, the counters what became of it (D13).
    pub lost_no_route: u64,
    pub lost_blackhole: u64,
    pub lost_mtu_exceeded: u64,
}

/// The traffic part of an `OK` record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flow {
    /// srcaddr/dstaddr/ports/protocol as logged: the ENI side shows its primary private IP.
    /// ICMP ports are as the provider profile keys them (0 0, or id and type×256+code, D14).
    pub tuple: FiveTuple,
    /// Addresses in the packet itself (`pkt-srcaddr`, `pkt-dstaddr`).
    pub pkt_src: Ipv4Addr,
    pub pkt_dst: Ipv4Addr,
    pub direction: Direction,
    pub action: Action,
    pub packets: u64,
    pub bytes: u64,
    /// First and last packet in the window.
    pub first: Time,
    pub last: Time,
    /// OR of the TCP flags of every packet (raw header bits; formats mask them).
    pub tcp_flags: u8,
    /// OR over the packets of each packet's AWS-reported flags (FIN 1, SYN 2, RST 4, SYN-ACK
    /// 18; ACK alone 0): AWS maps per packet before OR-ing (flowlogs.md §1.3 row 18), which the
    /// raw OR cannot reproduce (a client's SYN then ACK would look like a SYN-ACK).
    pub aws_tcp_flags: u8,
    /// When a TCP connection closed (FIN or RST) inside the window (alibaba `end`, D11).
    pub closed_at: Option<Time>,
    pub traffic_path: Option<TrafficPath>,
    /// Router records only: the attachments crossed and the packets lost.
    pub router: Option<RouterFlow>,
}

/// Why the record exists: the packets that made it and the decisions that judged them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Truth {
    /// Sequence numbers of the simulated packets counted (empty when the world does not keep
    /// them, as in the benchmark).
    pub packet_ids: Vec<u64>,
    /// Each distinct decision behind the action, in plain words (first seen first).
    pub decisions: Vec<String>,
    /// Packets per label (`benign` or an incident's id) when the world labels its traffic
    /// (workloads), in order of first packet; empty otherwise.
    pub labels: Vec<(std::sync::Arc<str>, u64)>,
    /// True when the record was dropped from the log because the window exceeded the flow log's
    /// capacity (D12): it is not printed by any cloud format, only in `json`.
    pub skipped: bool,
    /// For a SKIPDATA record: how many records it stands for.
    pub skipped_records: u64,
}

/// One flow-log record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The flow log that produced it.
    pub flow_log_id: String,
    pub capture: Arc<CaptureMeta>,
    pub window_start: Time,
    pub window_end: Time,
    pub status: LogStatus,
    /// `None` for NODATA and SKIPDATA records.
    pub flow: Option<Flow>,
    pub truth: Truth,
}

impl Default for CaptureMeta {
    /// An empty placeholder, replaced by the capture point's metadata before a record leaves
    /// the world.
    fn default() -> Self {
        CaptureMeta {
            account_id: String::new(),
            interface_id: String::new(),
            vpc_id: String::new(),
            subnet_id: String::new(),
            instance_id: None,
            region: String::new(),
            az_id: String::new(),
            primary_ip: Ipv4Addr::UNSPECIFIED,
            router_id: None,
            ccn: None,
        }
    }
}
