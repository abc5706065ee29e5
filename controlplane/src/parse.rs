//! The words users write for policy and traffic (`tcp`, `1024-65535`, `ingress`, `syn`),
//! turned into the model's types. Scenario files and the gRPC API both come through here, so
//! they accept and refuse exactly the same things. Errors are messages; callers attach the
//! field (and, for files, the line).

use std::net::Ipv4Addr;

use vpclab_sim::Direction;
use vpclab_sim::packet::{self, L4, Packet, TcpFlags, size};
use vpclab_sim::policy::{PortRange, ProtoMatch, RuleAction};

pub fn direction(s: &str) -> Result<Direction, String> {
    match s {
        "ingress" | "inbound" | "in" => Ok(Direction::Ingress),
        "egress" | "outbound" | "out" => Ok(Direction::Egress),
        o => Err(format!(
            "unknown direction `{o}` (expected ingress or egress)"
        )),
    }
}

pub fn action(s: &str) -> Result<RuleAction, String> {
    match s {
        "allow" | "accept" => Ok(RuleAction::Allow),
        "deny" | "drop" | "reject" => Ok(RuleAction::Deny),
        o => Err(format!("unknown action `{o}` (expected allow or deny)")),
    }
}

/// Which part of a protocol specification is wrong.
#[derive(Debug, PartialEq, Eq)]
pub enum ProtocolError {
    Protocol(String),
    IcmpType(String),
    IcmpCode(String),
    /// icmp_type / icmp_code given for a protocol other than ICMP.
    NotIcmp(String),
}

/// A protocol name (`tcp`, `udp`, `icmp`, `all`/`any`/`-1`) or IANA number, with optional
/// ICMP type and code.
pub fn protocol(
    text: &str,
    icmp_type: Option<i64>,
    icmp_code: Option<i64>,
) -> Result<ProtoMatch, ProtocolError> {
    let t = text.trim().to_ascii_lowercase();
    let m = match t.as_str() {
        "tcp" => ProtoMatch::Tcp,
        "udp" => ProtoMatch::Udp,
        "icmp" => ProtoMatch::Icmp {
            icmp_type: None,
            code: None,
        },
        "all" | "-1" | "any" => ProtoMatch::Any,
        n => match n.parse::<i64>() {
            Ok(n) => match u8::try_from(n) {
                Ok(packet::proto::TCP) => ProtoMatch::Tcp,
                Ok(packet::proto::UDP) => ProtoMatch::Udp,
                Ok(packet::proto::ICMP) => ProtoMatch::Icmp {
                    icmp_type: None,
                    code: None,
                },
                Ok(n) => ProtoMatch::Number(n),
                Err(_) => {
                    return Err(ProtocolError::Protocol(format!(
                        "protocol number {n} is outside 0-255"
                    )));
                }
            },
            Err(_) => {
                return Err(ProtocolError::Protocol(format!(
                    "unknown protocol `{text}` (expected tcp, udp, icmp, all or a number 0-255)"
                )));
            }
        },
    };
    let t = icmp_type
        .map(|v| {
            u8::try_from(v).map_err(|_| ProtocolError::IcmpType("icmp_type must be 0-255".into()))
        })
        .transpose()?;
    let c = icmp_code
        .map(|v| {
            u8::try_from(v).map_err(|_| ProtocolError::IcmpCode("icmp_code must be 0-255".into()))
        })
        .transpose()?;
    match m {
        ProtoMatch::Icmp { .. } => Ok(ProtoMatch::Icmp {
            icmp_type: t,
            code: c,
        }),
        _ if t.is_some() || c.is_some() => Err(ProtocolError::NotIcmp(
            "icmp_type and icmp_code apply to ICMP rules only".into(),
        )),
        _ => Ok(m),
    }
}

/// `22`, `1024-65535`, `1024/65535`, `all`; empty means all.
pub fn ports(text: &str) -> Result<PortRange, String> {
    if text.trim().is_empty() {
        return Ok(PortRange::ALL);
    }
    PortRange::parse(text).ok_or_else(|| {
        format!("`{text}` is not a port range (like 22, 1024-65535 or all; the first port must not exceed the last, and ports are 0-65535)")
    })
}

pub fn tcp_flag(s: &str) -> Result<u8, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "fin" => TcpFlags::FIN,
        "syn" => TcpFlags::SYN,
        "rst" => TcpFlags::RST,
        "psh" => TcpFlags::PSH,
        "ack" => TcpFlags::ACK,
        "urg" => TcpFlags::URG,
        "ece" => TcpFlags::ECE,
        "cwr" => TcpFlags::CWR,
        o => return Err(format!("unknown TCP flag `{o}`")),
    })
}

/// A raw packet of a traffic script.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawPacket {
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub flags: u8,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub ident: Option<u16>,
    pub seq: Option<u16>,
    /// IP total length.
    pub size: Option<u16>,
    pub fragment_offset: u16,
    pub more_fragments: bool,
    /// IPv4 time to live (default 64).
    pub ttl: Option<u8>,
    /// The don't-fragment flag (default: set on TCP, as Linux sets it; clear otherwise).
    pub dont_fragment: Option<bool>,
}

/// An IPv4 time to live a scenario or request sets: 1-255 (0 would expire at the sender).
pub fn ttl(v: u64) -> Result<u8, String> {
    match u8::try_from(v) {
        Ok(t) if t >= 1 => Ok(t),
        _ => Err(format!("TTL {v} is out of range: an IPv4 TTL is 1-255")),
    }
}

/// Builds the packet, with the synthetic sizes of policy.md §0.1 unless `size` is given.
pub fn raw_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: ProtoMatch,
    d: &RawPacket,
) -> Result<Packet, String> {
    let mut p = match protocol {
        ProtoMatch::Tcp => {
            let len = if d.flags & TcpFlags::SYN != 0 {
                size::TCP_SYN
            } else if d.flags & TcpFlags::RST != 0 {
                size::TCP_RST
            } else {
                size::TCP_ACK
            };
            Packet::tcp(
                src,
                d.sport.unwrap_or(33000),
                dst,
                d.dport.unwrap_or(80),
                d.flags,
                len,
            )
        }
        ProtoMatch::Udp => Packet::udp(
            src,
            d.sport.unwrap_or(33000),
            dst,
            d.dport.unwrap_or(53),
            size::UDP_REQUEST,
        ),
        ProtoMatch::Icmp { .. } => {
            let mut p = Packet::echo_request(src, dst, d.ident.unwrap_or(1), d.seq.unwrap_or(0));
            if let L4::Icmp {
                icmp_type, code, ..
            } = &mut p.l4
            {
                *icmp_type = d.icmp_type.unwrap_or(packet::icmp::ECHO_REQUEST);
                *code = d.icmp_code.unwrap_or(0);
            }
            p
        }
        ProtoMatch::Number(n) => Packet::other(src, dst, n, 40),
        ProtoMatch::Any => return Err("a packet needs one protocol, not `all`".into()),
    };
    if let Some(s) = d.size {
        p.len = s.max(size::IP_HEADER);
    }
    p.frag_offset = d.fragment_offset;
    p.more_fragments = d.more_fragments;
    if let Some(t) = d.ttl {
        p.ttl = t;
    }
    if let Some(df) = d.dont_fragment {
        p.dont_fragment = df;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        assert_eq!(protocol("TCP", None, None), Ok(ProtoMatch::Tcp));
        assert_eq!(protocol("6", None, None), Ok(ProtoMatch::Tcp));
        assert_eq!(protocol("-1", None, None), Ok(ProtoMatch::Any));
        assert_eq!(protocol("47", None, None), Ok(ProtoMatch::Number(47)));
        assert_eq!(
            protocol("icmp", Some(8), None),
            Ok(ProtoMatch::Icmp {
                icmp_type: Some(8),
                code: None
            })
        );
        assert_eq!(
            protocol("300", None, None),
            Err(ProtocolError::Protocol(
                "protocol number 300 is outside 0-255".into()
            ))
        );
        assert!(matches!(
            protocol("tcp", Some(8), None),
            Err(ProtocolError::NotIcmp(_))
        ));
        assert!(matches!(
            protocol("gre", None, None),
            Err(ProtocolError::Protocol(_))
        ));
    }

    #[test]
    fn port_ranges() {
        assert_eq!(ports(""), Ok(PortRange::ALL));
        assert_eq!(ports("22").map(|p| (p.lo, p.hi)), Ok((22, 22)));
        assert!(ports("70000").is_err());
    }
}
