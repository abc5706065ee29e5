//! vpclab-sim: the deterministic, sans-io data plane of vpclab.
//!
//! Nothing here reads a clock, does I/O or draws unseeded randomness: time is passed in,
//! randomness comes from the world's seed, and everything iterated into output is ordered.
//!
//! Map of the crate:
//! - `time`: virtual instants and spans.
//! - `addr`: IPv4 prefixes (CIDR) and their arithmetic.
//! - `packet`: typed packets, 5-tuples, TCP flags, the synthetic sizes of policy.md §0.1.
//! - `wire`: packets to real IPv4 bytes and back with pnet (checksums included; decoding and
//!   rewriting real datagrams for live mode).
//! - `pcap`: a pcapng writer, one interface per capture point.
//! - `profile`: provider profiles — the one place where the clouds differ (D1, D2).
//! - `policy`: security-group rules, ACL entries, the compiled first-match classifier.
//! - `conntrack`: connection tracking for security groups and huawei's ACLs (D6–D9).
//! - `verdict`: what each stage decided and why (drops are outcomes, not errors).
//! - `host`: hosts that answer like hosts (echo, SYN-ACK/RST, UDP/port-unreachable).
//! - `ids`: deterministic resource IDs in each cloud's style (D19).
//! - `nat`: NAT gateways' translation tables (SNAT with ports drawn from the seed across
//!   1024-65535, sessions that end on FIN/RST and idle timeout, DNAT).
//! - `world`: the model, its operations (the one funnel), the topology graph, the per-packet
//!   path, flow-log capture.
//! - `flowlog`: flow-log collectors (windows, NODATA, SKIPDATA), records, cloud formats.
//! - `addressing`: address plans per cloud (VPC and subnet block sizes, reserved addresses,
//!   availability-zone names), cited.
//! - `limits`: what each cloud's control plane enforces (quotas, names, retention), cited.
//! - `logs`: log groups and log streams (LTS/SLS/CLS) that flow logs deliver to.
//! - `router`: enterprise routers and their attachments, as configuration.
//! - `ccn`: Cloud Connect Networks (VPCs of several regions, learned routes, region-pair
//!   bandwidth limits) and the token bucket that enforces bandwidth limits on the virtual clock.
//! - `simulation`: the scheduler that owns the clock, and scripted traffic.
//! - `workload`: seeded traffic processes (daily profiles, heavy-tailed sizes, scans, floods)
//!   that make a fleet's day of traffic, every packet labelled benign or with its incident.
//! - `explain`: each packet's path and verdicts in plain words.

pub mod addr;
pub mod addressing;
pub mod ccn;
pub mod conntrack;
pub mod explain;
pub mod flowlog;
pub mod host;
pub mod ids;
pub mod limits;
pub mod logs;
pub mod nat;
pub mod packet;
pub mod pcap;
pub mod policy;
pub mod profile;
pub mod router;
pub mod simulation;
pub mod time;
pub mod verdict;
pub mod wire;
pub mod workload;
pub mod world;

/// Direction of traffic relative to the thing that looks at it (an ENI, a rule, a record).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
    pub fn reverse(self) -> Direction {
        match self {
            Direction::Ingress => Direction::Egress,
            Direction::Egress => Direction::Ingress,
        }
    }
}

/// What a flow-log record says happened to its packets.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Action {
    #[serde(rename = "ACCEPT")]
    Accept,
    #[serde(rename = "REJECT")]
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "ACCEPT",
            Action::Reject => "REJECT",
        }
    }
}
