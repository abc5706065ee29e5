//! Security-group rules as users write them (D3). Compilation into the per-ENI first-match
//! list, which is where the clouds differ, lives in `world` with the profile's `SgOrder`.

use std::fmt;

use super::{PortRange, ProtoMatch, RuleAction};
use crate::Direction;
use crate::addr::Ipv4Net;

/// alibaba's two kinds of security group (policy.md §3.1, [ALI-TYPES]): a basic group lets
/// its instances reach each other and allows all outbound traffic by implicit rules; an
/// enterprise (advanced) group "denies both inbound and outbound traffic by default", isolates
/// its instances from each other and cannot reference other groups. Groups of the other
/// clouds are all of the basic kind (their implicit rules are the profile's).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum GroupKind {
    #[default]
    Basic,
    Enterprise,
}

impl GroupKind {
    pub fn label(self) -> &'static str {
        match self {
            GroupKind::Basic => "basic",
            GroupKind::Enterprise => "enterprise",
        }
    }
}

/// Where a rule's remote side is: a CIDR, or the members of a security group (their primary
/// private IPs, policy.md §1.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Remote {
    Cidr(Ipv4Net),
    /// Index of the referenced security group in the world.
    Group(u32),
}

/// One security-group rule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    pub direction: Direction,
    pub action: RuleAction,
    /// Priority where the cloud has one (1 is highest); position otherwise.
    pub priority: u32,
    pub protocol: ProtoMatch,
    /// Destination ports (TCP/UDP).
    pub ports: PortRange,
    /// Source for ingress rules, destination for egress rules.
    pub remote: Remote,
    pub description: String,
}

impl Rule {
    pub fn allow_all(direction: Direction) -> Rule {
        Rule {
            direction,
            action: RuleAction::Allow,
            priority: 100,
            protocol: ProtoMatch::Any,
            ports: PortRange::ALL,
            remote: Remote::Cidr(Ipv4Net::ANY),
            description: String::new(),
        }
    }

    /// Rules that allow everything both ways: a wide-open group.
    pub fn allow_everything() -> Vec<Rule> {
        vec![
            Rule::allow_all(Direction::Ingress),
            Rule::allow_all(Direction::Egress),
        ]
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Cidr(n) => write!(f, "{n}"),
            Remote::Group(g) => write!(f, "group #{g}"),
        }
    }
}
