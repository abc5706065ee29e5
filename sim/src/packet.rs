//! Packets as typed data: the fixed vocabulary the pipeline, conntrack and flow logs speak.
//! Turning a [`Packet`] into real bytes is `wire`'s job; this module never allocates.
//!
//! Sizes of the synthetic packets follow `docs/reference/policy.md` §0.1 so that byte counts in
//! records can be checked by hand (4 pings = 336 bytes, as in the AWS and Tencent examples).

use std::fmt;
use std::net::Ipv4Addr;

/// IANA protocol numbers the simulator names.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

/// Well-known ICMP types.
pub mod icmp {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    /// Code of destination-unreachable: port unreachable.
    pub const PORT_UNREACHABLE: u8 = 3;
    /// Code of destination-unreachable: fragmentation needed and DF set (RFC 792), the
    /// message of path MTU discovery (RFC 1191).
    pub const FRAGMENTATION_NEEDED: u8 = 4;
}

/// Packet sizes (IPv4 total length) of `docs/reference/policy.md` §0.1.
pub mod size {
    pub const ICMP_ECHO: u16 = 84;
    pub const TCP_SYN: u16 = 60;
    pub const TCP_ACK: u16 = 52;
    pub const TCP_RST: u16 = 40;
    /// IP (20) + TCP with timestamps (32): the header of every data segment.
    pub const TCP_HEADER: u16 = 52;
    pub const UDP_REQUEST: u16 = 60;
    pub const UDP_RESPONSE: u16 = 120;
    pub const ICMP_ERROR: u16 = 56;
    pub const IP_HEADER: u16 = 20;
    /// An NTP packet: IP (20) + UDP (8) + NTP (48), request and answer alike.
    pub const NTP: u16 = 76;
}

/// TCP flags as the bits of the TCP header (FIN = 1 … CWR = 128).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub const fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    pub fn is_syn_only(self) -> bool {
        self.has(Self::SYN) && !self.has(Self::ACK)
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u8, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        let mut first = true;
        for (bit, name) in NAMES {
            if self.has(bit) {
                if !first {
                    f.write_str("+")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// The transport header of an ICMP error: the first bytes of the packet it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Embedded {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// The ports of a quoted TCP or UDP header; a quoted ICMP message's identifier and
    /// sequence number (its bytes 4–7), which a NAT gateway keys its ICMP sessions by.
    pub sport: u16,
    pub dport: u16,
    /// A quoted ICMP message's type and code (0 for other protocols).
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// The quoted header as the datagram arrived where the error was raised (RFC 792, RFC
    /// 1812 §4.3.2.3): its TTL then, identification, total length and DF flag, and a TCP
    /// segment's sequence number (the 8 transport bytes after the ports).
    pub ttl: u8,
    pub ip_id: u16,
    pub len: u16,
    pub dont_fragment: bool,
    pub tcp_seq: u32,
}

/// Declares an enum with [`L4`]'s variants, written once for `L4` and its two serialized forms
/// so that they cannot drift apart.
macro_rules! l4_enum {
    ($(#[$attr:meta])* $vis:vis enum $name:ident) => {
        $(#[$attr])*
        $vis enum $name {
            Tcp {
                sport: u16,
                dport: u16,
                flags: TcpFlags,
                seq: u32,
                ack: u32,
            },
            Udp {
                sport: u16,
                dport: u16,
            },
            Icmp {
                icmp_type: u8,
                code: u8,
                ident: u16,
                seq: u16,
                embedded: Option<Embedded>,
            },
            /// Any other IP protocol: only its number is known.
            Other {
                protocol: u8,
            },
        }
    };
}

l4_enum! {
    /// The layer-4 part of a packet. Serialized tagged by `kind` in human-readable formats (JSON
    /// output), by variant index in binary ones (snapshots, whose formats cannot read tags).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum L4
}

/// [`L4`]'s two serialized forms: the same variants, tagged or not.
mod l4_forms {
    use super::{Embedded, TcpFlags};

    l4_enum! {
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(tag = "kind", rename_all = "lowercase")]
        pub enum Tagged
    }

    l4_enum! {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum Indexed
    }

    macro_rules! convert {
        ($from:path => $to:path) => {
            impl From<$from> for $to {
                fn from(l4: $from) -> $to {
                    use $from as F;
                    use $to as T;
                    match l4 {
                        F::Tcp {
                            sport,
                            dport,
                            flags,
                            seq,
                            ack,
                        } => T::Tcp {
                            sport,
                            dport,
                            flags,
                            seq,
                            ack,
                        },
                        F::Udp { sport, dport } => T::Udp { sport, dport },
                        F::Icmp {
                            icmp_type,
                            code,
                            ident,
                            seq,
                            embedded,
                        } => T::Icmp {
                            icmp_type,
                            code,
                            ident,
                            seq,
                            embedded,
                        },
                        F::Other { protocol } => T::Other { protocol },
                    }
                }
            }
        };
    }
    convert!(super::L4 => Tagged);
    convert!(super::L4 => Indexed);
    convert!(Tagged => super::L4);
    convert!(Indexed => super::L4);
}

impl serde::Serialize for L4 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            l4_forms::Tagged::from(*self).serialize(s)
        } else {
            l4_forms::Indexed::from(*self).serialize(s)
        }
    }
}

impl<'de> serde::Deserialize<'de> for L4 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<L4, D::Error> {
        if d.is_human_readable() {
            l4_forms::Tagged::deserialize(d).map(L4::from)
        } else {
            l4_forms::Indexed::deserialize(d).map(L4::from)
        }
    }
}

/// An IPv4 packet. `len` is the IPv4 total length, which is what flow logs count as bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub len: u16,
    pub ttl: u8,
    /// IPv4 identification field.
    pub ip_id: u16,
    /// Fragment offset in 8-byte units; non-zero means the L4 header is not in this packet.
    pub frag_offset: u16,
    pub more_fragments: bool,
    /// The don't-fragment flag: set on TCP, as Linux sets it (path MTU discovery, RFC 1191).
    #[serde(default)]
    pub dont_fragment: bool,
    pub l4: L4,
}

/// The 5-tuple of a packet, as flow logs and security rules see it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct FiveTuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub protocol: u8,
}

impl FiveTuple {
    pub fn reversed(self) -> FiveTuple {
        FiveTuple {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            protocol: self.protocol,
        }
    }
}

impl fmt::Display for FiveTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.protocol {
            proto::TCP | proto::UDP => write!(
                f,
                "{} {}:{} -> {}:{}",
                protocol_name(self.protocol),
                self.src,
                self.sport,
                self.dst,
                self.dport
            ),
            _ => write!(
                f,
                "{} {} -> {}",
                protocol_name(self.protocol),
                self.src,
                self.dst
            ),
        }
    }
}

/// `TCP`, `UDP`, `ICMP` or `proto 47`.
pub fn protocol_name(p: u8) -> String {
    match p {
        proto::TCP => "TCP".into(),
        proto::UDP => "UDP".into(),
        proto::ICMP => "ICMP".into(),
        n => format!("proto {n}"),
    }
}

impl Packet {
    /// Copy `i` of a repeated packet: an ICMP packet's sequence number counts up by `i`
    /// (wrapping), anything else is sent as it is.
    pub fn nth(self, i: u16) -> Packet {
        let mut q = self;
        if let L4::Icmp { seq, .. } = &mut q.l4 {
            *seq = seq.wrapping_add(i);
        }
        q
    }

    pub fn protocol(&self) -> u8 {
        match self.l4 {
            L4::Tcp { .. } => proto::TCP,
            L4::Udp { .. } => proto::UDP,
            L4::Icmp { .. } => proto::ICMP,
            L4::Other { protocol } => protocol,
        }
    }

    /// True for a fragment other than the first: its ports cannot be read.
    pub fn is_later_fragment(&self) -> bool {
        self.frag_offset != 0
    }

    /// Ports as a policy engine reads them (0 when the packet carries none, or is a later
    /// fragment). ICMP has no ports; rules match its type and code instead.
    pub fn ports(&self) -> (u16, u16) {
        if self.is_later_fragment() {
            return (0, 0);
        }
        match self.l4 {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => (sport, dport),
            _ => (0, 0),
        }
    }

    pub fn tcp_flags(&self) -> TcpFlags {
        match self.l4 {
            L4::Tcp { flags, .. } => flags,
            _ => TcpFlags(0),
        }
    }

    /// The 5-tuple with ports as policy sees them (ICMP: 0 0).
    pub fn five_tuple(&self) -> FiveTuple {
        let (sport, dport) = self.ports();
        FiveTuple {
            src: self.src,
            dst: self.dst,
            sport,
            dport,
            protocol: self.protocol(),
        }
    }

    fn base(src: Ipv4Addr, dst: Ipv4Addr, len: u16, l4: L4) -> Packet {
        Packet {
            src,
            dst,
            len,
            ttl: 64,
            ip_id: 0,
            frag_offset: 0,
            more_fragments: false,
            dont_fragment: false,
            l4,
        }
    }

    pub fn tcp(
        src: Ipv4Addr,
        sport: u16,
        dst: Ipv4Addr,
        dport: u16,
        flags: u8,
        len: u16,
    ) -> Packet {
        // Linux sends TCP with DF (it discovers the path MTU; RFC 1191, `ip(7)` IP_MTU_DISCOVER).
        Packet {
            dont_fragment: true,
            ..Self::base(
                src,
                dst,
                len,
                L4::Tcp {
                    sport,
                    dport,
                    flags: TcpFlags(flags),
                    seq: 0,
                    ack: 0,
                },
            )
        }
    }

    pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, len: u16) -> Packet {
        Self::base(src, dst, len, L4::Udp { sport, dport })
    }

    pub fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, seq: u16) -> Packet {
        Self::base(
            src,
            dst,
            size::ICMP_ECHO,
            L4::Icmp {
                icmp_type: icmp::ECHO_REQUEST,
                code: 0,
                ident,
                seq,
                embedded: None,
            },
        )
    }

    pub fn other(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> Packet {
        Self::base(src, dst, len, L4::Other { protocol })
    }

    /// The ICMP error `icmp_type`/`code` a host at `from` sends about `original`.
    pub fn icmp_error(from: Ipv4Addr, original: &Packet, icmp_type: u8, code: u8) -> Packet {
        let ((sport, dport), (quoted_type, quoted_code)) = match original.l4 {
            L4::Icmp {
                icmp_type,
                code,
                ident,
                seq,
                ..
            } if !original.is_later_fragment() => ((ident, seq), (icmp_type, code)),
            _ => (original.ports(), (0, 0)),
        };
        let embedded = Embedded {
            src: original.src,
            dst: original.dst,
            protocol: original.protocol(),
            sport,
            dport,
            icmp_type: quoted_type,
            icmp_code: quoted_code,
            ttl: original.ttl,
            ip_id: original.ip_id,
            len: original.len,
            dont_fragment: original.dont_fragment,
            tcp_seq: match original.l4 {
                L4::Tcp { seq, .. } => seq,
                _ => 0,
            },
        };
        Self::base(
            from,
            original.src,
            size::ICMP_ERROR,
            L4::Icmp {
                icmp_type,
                code,
                ident: 0,
                seq: 0,
                embedded: Some(embedded),
            },
        )
    }

    /// The ICMP fragmentation-needed error a hop at `from` sends about `original`, a datagram
    /// with DF set that does not fit the next link's `mtu`. The MTU travels in bytes 6–7 of
    /// the ICMP header (RFC 1191 §4), which [`L4::Icmp`] keeps as `seq` (bytes 4–5, `ident`,
    /// are unused: 0).
    pub fn fragmentation_needed(from: Ipv4Addr, original: &Packet, mtu: u16) -> Packet {
        let mut error = Self::icmp_error(
            from,
            original,
            icmp::DEST_UNREACHABLE,
            icmp::FRAGMENTATION_NEEDED,
        );
        if let L4::Icmp { seq, .. } = &mut error.l4 {
            *seq = mtu;
        }
        error
    }

    /// The next-hop MTU a fragmentation-needed error reports (RFC 1191), if it is one.
    pub fn next_hop_mtu(&self) -> Option<u16> {
        match self.l4 {
            L4::Icmp {
                icmp_type: icmp::DEST_UNREACHABLE,
                code: icmp::FRAGMENTATION_NEEDED,
                seq,
                embedded: Some(_),
                ..
            } => Some(seq),
            _ => None,
        }
    }

    /// An echo reply answering this echo request.
    pub fn echo_reply(&self) -> Option<Packet> {
        match self.l4 {
            L4::Icmp {
                icmp_type: icmp::ECHO_REQUEST,
                ident,
                seq,
                ..
            } => Some(Packet {
                l4: L4::Icmp {
                    icmp_type: icmp::ECHO_REPLY,
                    code: 0,
                    ident,
                    seq,
                    embedded: None,
                },
                ..Self::base(self.dst, self.src, self.len, self.l4)
            }),
            _ => None,
        }
    }

    /// One line: `ICMP echo-request 203.0.113.12 -> 172.31.16.139 id=1 seq=0 (84 B)`.
    pub fn summary(&self) -> String {
        let body = match self.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                ..
            } => {
                format!(
                    "TCP {}:{} -> {}:{} [{}]",
                    self.src, sport, self.dst, dport, flags
                )
            }
            L4::Udp { sport, dport } => {
                format!("UDP {}:{} -> {}:{}", self.src, sport, self.dst, dport)
            }
            L4::Icmp {
                icmp_type,
                code,
                ident,
                seq,
                ..
            } => {
                let what = match (icmp_type, code) {
                    (icmp::ECHO_REQUEST, _) => format!("echo-request id={ident} seq={seq}"),
                    (icmp::ECHO_REPLY, _) => format!("echo-reply id={ident} seq={seq}"),
                    (icmp::DEST_UNREACHABLE, icmp::FRAGMENTATION_NEEDED) => {
                        format!("fragmentation-needed mtu={seq}")
                    }
                    (icmp::DEST_UNREACHABLE, c) => format!("destination-unreachable code={c}"),
                    (icmp::TIME_EXCEEDED, c) => format!("time-exceeded code={c}"),
                    (t, c) => format!("type={t} code={c}"),
                };
                format!("ICMP {} -> {} {what}", self.src, self.dst)
            }
            L4::Other { protocol } => format!("proto {protocol} {} -> {}", self.src, self.dst),
        };
        format!("{body} ({} B)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn echo_reply_mirrors_request() {
        let req = Packet::echo_request(ip("203.0.113.12"), ip("172.31.16.139"), 7, 3);
        let rep = req.echo_reply().unwrap();
        assert_eq!((rep.src, rep.dst, rep.len), (req.dst, req.src, 84));
        assert!(matches!(
            rep.l4,
            L4::Icmp {
                icmp_type: 0,
                ident: 7,
                seq: 3,
                ..
            }
        ));
        assert_eq!(rep.five_tuple().protocol, 1);
        assert_eq!(rep.five_tuple().sport, 0);
    }

    #[test]
    fn later_fragments_have_no_ports() {
        let mut p = Packet::udp(ip("10.0.0.1"), 5000, ip("10.0.0.2"), 53, 1500);
        assert_eq!(p.ports(), (5000, 53));
        p.frag_offset = 185;
        assert_eq!(p.ports(), (0, 0));
    }

    #[test]
    fn flags_display() {
        assert_eq!(
            TcpFlags(TcpFlags::SYN | TcpFlags::ACK).to_string(),
            "SYN+ACK"
        );
        assert_eq!(TcpFlags(0).to_string(), "none");
    }
}
