//! Verdicts: what each stage of the pipeline decided and why. A drop is an outcome with a
//! reason, not an error (STYLE.md, after oxidecomputer/opte): flow-log actions and
//! explanations are both read from these values.

use crate::Direction;

/// The stages of the per-packet path (D5): egress SG, egress ACL, route, ingress ACL,
/// ingress SG.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    SgEgress,
    AclEgress,
    AclIngress,
    SgIngress,
    /// A NAT gateway's translation, on its interface (`at` is the gateway): only its drops
    /// are decisions (D13: REJECT on the gateway's record).
    Nat,
}

impl Stage {
    pub fn direction(self) -> Direction {
        match self {
            Stage::SgEgress | Stage::AclEgress => Direction::Egress,
            Stage::AclIngress | Stage::SgIngress | Stage::Nat => Direction::Ingress,
        }
    }
}

/// Which rule (or which absence of one) decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum By {
    /// Rule `rule` (index in the list) of revision `rev` of security group `sg`'s rules;
    /// `tracked` says whether the allowed flow entered connection tracking (aws untracked
    /// flows, D7). Revisions keep explanations true after the rules change.
    SgRule {
        sg: u32,
        rev: u32,
        rule: u32,
        tracked: bool,
    },
    /// alibaba's implicit rule: inbound from instances of the same group.
    SgSameGroup { sg: u32 },
    /// alibaba's implicit rule: all outbound.
    SgImplicitEgress,
    /// No security-group rule matched.
    SgNoMatch,
    /// Entry `rule` (index in the sorted entries) of revision `rev` of ACL `acl`.
    AclRule { acl: u32, rev: u32, rule: u32 },
    /// The final `*` rule of ACL `acl`.
    AclDefault { acl: u32 },
    /// Traffic the cloud's ACLs always allow (alibaba DNS/metaserver, huawei presets).
    AclPreset,
    /// Part of a tracked connection.
    Tracked,
    /// An ICMP error about a tracked connection (D9).
    Related,
    /// A segment of a connection a rule change cleared (huawei, D8), which the rules would
    /// otherwise have let in as a new connection: only a new connection (a SYN) passes.
    Cleared,
    /// A NAT gateway could not translate the packet.
    Nat(crate::nat::NatDrop),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow(By),
    Deny(By),
    /// The stage does not apply: an ACL between two ENIs of one subnet (D4).
    SameSubnet,
    /// The subnet has no network ACL associated (not possible on aws, whose VPCs have a
    /// default ACL).
    NoAcl,
}

impl Verdict {
    pub fn allows(self) -> bool {
        !matches!(self, Verdict::Deny(_))
    }
}

/// A stage's verdict and where it was taken: the ENI (SG stages) or subnet (ACL stages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub stage: Stage,
    pub at: u32,
    pub verdict: Verdict,
}
