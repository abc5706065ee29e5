//! Policy: security-group rules (`sg`), network-ACL entries (`acl`), and the compiled
//! first-match classifier both are turned into (`classify`). User-facing rules are validated
//! once and compiled; the per-packet path never re-parses or re-validates (STYLE.md).

pub mod acl;
pub mod classify;
pub mod sg;

use std::fmt;

use crate::packet::{L4, Packet, proto};

/// What a rule does when it matches.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Allow,
    Deny,
}

impl RuleAction {
    /// `allow` or `deny`.
    pub fn name(self) -> &'static str {
        match self {
            RuleAction::Allow => "allow",
            RuleAction::Deny => "deny",
        }
    }
}

/// Which packets a rule's protocol field selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ProtoMatch {
    Any,
    Tcp,
    Udp,
    /// ICMP, optionally narrowed to a type and code.
    Icmp {
        icmp_type: Option<u8>,
        code: Option<u8>,
    },
    /// Any other IP protocol by number.
    Number(u8),
}

impl ProtoMatch {
    /// Does the packet's protocol (and ICMP type/code) match?
    #[inline]
    pub fn matches(self, pkt: &PacketView) -> bool {
        match self {
            ProtoMatch::Any => true,
            ProtoMatch::Tcp => pkt.protocol == proto::TCP,
            ProtoMatch::Udp => pkt.protocol == proto::UDP,
            ProtoMatch::Icmp { icmp_type, code } => {
                pkt.protocol == proto::ICMP
                    && icmp_type.is_none_or(|t| Some(t) == pkt.icmp_type)
                    && code.is_none_or(|c| Some(c) == pkt.icmp_code)
            }
            ProtoMatch::Number(n) => pkt.protocol == n,
        }
    }

    /// True when ports mean something for this match (TCP or UDP).
    pub fn has_ports(self) -> bool {
        matches!(self, ProtoMatch::Tcp | ProtoMatch::Udp)
            || matches!(self, ProtoMatch::Number(n) if n == proto::TCP || n == proto::UDP)
    }
}

impl fmt::Display for ProtoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProtoMatch::Any => f.write_str("all protocols"),
            ProtoMatch::Tcp => f.write_str("TCP"),
            ProtoMatch::Udp => f.write_str("UDP"),
            ProtoMatch::Icmp {
                icmp_type: None, ..
            } => f.write_str("ICMP"),
            ProtoMatch::Icmp {
                icmp_type: Some(t),
                code: None,
            } => write!(f, "ICMP type {t}"),
            ProtoMatch::Icmp {
                icmp_type: Some(t),
                code: Some(c),
            } => write!(f, "ICMP type {t} code {c}"),
            ProtoMatch::Number(n) => write!(f, "protocol {n}"),
        }
    }
}

/// An inclusive port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const ALL: PortRange = PortRange { lo: 0, hi: 65535 };
    pub fn new(lo: u16, hi: u16) -> Option<PortRange> {
        (lo <= hi).then_some(PortRange { lo, hi })
    }
    pub fn single(p: u16) -> PortRange {
        PortRange { lo: p, hi: p }
    }
    #[inline]
    pub fn contains(self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }
    pub fn is_all(self) -> bool {
        self.lo == 0 && self.hi == 65535
    }
    /// Parses `22`, `1024-65535`, `1024/65535` (alibaba) or `all`.
    pub fn parse(s: &str) -> Option<PortRange> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") || s == "-1/-1" {
            return Some(PortRange::ALL);
        }
        match s.split_once(['-', '/']) {
            Some((a, b)) => PortRange::new(a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => s.parse().ok().map(PortRange::single),
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.write_str("all ports")
        } else if self.lo == self.hi {
            write!(f, "port {}", self.lo)
        } else {
            write!(f, "ports {}-{}", self.lo, self.hi)
        }
    }
}

/// The header fields policy reads, extracted once per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketView {
    pub protocol: u8,
    pub sport: u16,
    pub dport: u16,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
}

impl PacketView {
    pub fn of(p: &Packet) -> PacketView {
        let (sport, dport) = p.ports();
        let (icmp_type, icmp_code) = match p.l4 {
            L4::Icmp {
                icmp_type, code, ..
            } if !p.is_later_fragment() => (Some(icmp_type), Some(code)),
            _ => (None, None),
        };
        PacketView {
            protocol: p.protocol(),
            sport,
            dport,
            icmp_type,
            icmp_code,
        }
    }
}
