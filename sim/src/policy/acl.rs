//! Network-ACL entries (D4; policy.md §2, §3): numbered, per direction, first match wins, a
//! final `*` rule denies. Inbound entries match the source, outbound the destination; port
//! ranges match the destination port.

use super::{PortRange, ProtoMatch, RuleAction};
use crate::Direction;
use crate::addr::Ipv4Net;

/// One ACL entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Rule number (aws 1–32766) or priority; lower is evaluated first.
    pub number: u32,
    pub direction: Direction,
    pub action: RuleAction,
    pub protocol: ProtoMatch,
    /// Destination ports.
    pub ports: PortRange,
    /// Source ports (huawei ACLs match the full 5-tuple); all by default.
    pub source_ports: PortRange,
    /// Source CIDR for inbound entries, destination CIDR for outbound entries.
    pub cidr: Ipv4Net,
    pub description: String,
}

impl Entry {
    pub fn allow_all(number: u32, direction: Direction) -> Entry {
        Entry {
            number,
            direction,
            action: RuleAction::Allow,
            protocol: ProtoMatch::Any,
            ports: PortRange::ALL,
            source_ports: PortRange::ALL,
            cidr: Ipv4Net::ANY,
            description: String::new(),
        }
    }
}
