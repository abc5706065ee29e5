//! Packets on the wire, with pnet: turns a typed [`Packet`] into the IPv4 datagram it stands
//! for, so that captures (`pcap`) open in Wireshark as real traffic, and reads real datagrams
//! back into packets, so that live mode (issue 13) can run them through the simulator.
//!
//! Reading: [`decode`] is `encode`'s inverse (`decode(&encode(p)) == p` for every packet the
//! simulator makes), and reads what a Linux stack sends: IPv4 options skipped, bytes after
//! the total length (Ethernet padding) ignored, an ICMP error's quote read into its
//! [`Embedded`]. Anything it cannot read is a [`DecodeError`] that says why in words, never a
//! panic. [`rewrite`] writes what the simulator changed on the way (NAT's addresses, ports and
//! echo identifiers, in the quote of an ICMP error too, and the TTL) back into the datagram
//! read, keeping its payload, and brings every checksum that covers a changed byte up to date.
//!
//! Writing: [`encode`] writes an IPv4 header (no options) and, unless the packet is a later
//! fragment, the TCP, UDP or ICMP header; the rest is zero bytes. Every checksum is real: the
//! IPv4 header's, TCP's and UDP's (over the pseudo-header), ICMP's, and that of the IPv4
//! header quoted inside an ICMP error.
//!
//! Sizes: the datagram is exactly `p.len` bytes (the IPv4 total length flow logs count), and
//! TCP headers take the lengths a Linux host would send, so the synthetic sizes of
//! `packet::size` come out right: SYN = 20 + 40, RST = 20 + 20, anything else 20 + 32.
//! When `p.len` is too small to hold the headers its kind needs, the datagram is *clamped
//! up* to the smallest valid size instead ([`min_len`]); the simulator's own packets never
//! need this, but any `Packet` value must encode without panicking.
//!
//! Header fields come from the packet: the IPv4 identification each sending host numbers
//! (`World::send_labelled`), DF (set on TCP, as Linux sets it), TTL, and the TCP sequence and
//! acknowledgement numbers (a session's own, or `Simulation`'s `streams` for segments sent
//! one by one).
//!
//! What it does not do:
//! - no link layer: no Ethernet, no MACs (captures use LINKTYPE_RAW, bare IPv4; live mode
//!   handles its frames itself);
//! - no IPv6; no IPv4 options in what it encodes (decoding skips them, rewriting keeps them);
//! - no checksum verification when decoding (see [`decode`]);
//! - no real payload in what it encodes: the bytes after the headers are zeros. Zeros rather
//!   than a pattern because Wireshark dissects payloads by port, and zeros read as an empty
//!   but well-formed message (a DNS query with no questions on port 53) where a pattern is
//!   "Malformed";
//! - no fragmentation or reassembly: it encodes (and decodes) the fragment the packet
//!   describes. A later fragment (`frag_offset != 0`) carries only payload bytes, and the L4
//!   header and checksum of a first fragment that `encode` writes cover only that fragment,
//!   since the rest of the datagram is not known.

use std::fmt;
use std::net::Ipv4Addr;

use pnet_packet::icmp::{self, IcmpPacket, MutableIcmpPacket};
use pnet_packet::ip::IpNextHeaderProtocol;
use pnet_packet::ipv4::{self, Ipv4Flags, Ipv4Packet, MutableIpv4Packet};
use pnet_packet::tcp::{self, MutableTcpPacket, TcpOption, TcpPacket};
use pnet_packet::udp::{self, MutableUdpPacket, UdpPacket};

use crate::packet::{Embedded, L4, Packet, TcpFlags, proto, protocol_name, size};

const IP_HEADER: usize = size::IP_HEADER as usize;
const UDP_HEADER: usize = 8;
/// Type, code, checksum and the 4-byte "rest of header" every ICMP message starts with.
const ICMP_HEADER: usize = 8;
/// What an ICMP error quotes of the datagram it reports: its IP header and the first 8 bytes
/// after it (RFC 792), which is where the ports are.
const ICMP_QUOTE: usize = IP_HEADER + 8;

/// TCP header without options.
const TCP_BARE: usize = 20;
/// TCP header with NOP, NOP, timestamps: what Linux puts on every segment after the SYN.
const TCP_WITH_TIMESTAMPS: usize = 32;
/// TCP header of a Linux SYN: MSS, SACK-permitted, timestamps, NOP, window scale.
const TCP_SYN: usize = 40;

const TCP_MSS: u16 = 1460;
const TCP_WINDOW_SCALE: u8 = 7;
/// Linux's initial receive window (MSS 1460 × 44): a plausible value for every segment.
const TCP_WINDOW: u16 = 64240;

/// Fragment offset is a 13-bit field in 8-byte units.
const MAX_FRAG_OFFSET: u16 = 0x1fff;

/// The IPv4 datagram `p` stands for: `p.len` bytes, or [`min_len`] if that is larger.
///
/// Never panics. Out-of-range fields are brought into range rather than rejected: a length
/// below the headers' size is clamped up (see [`min_len`]) and a fragment offset that does
/// not fit 13 bits saturates at the largest one (so a later fragment stays a later fragment).
pub fn encode(p: &Packet) -> Vec<u8> {
    let len = usize::from(p.len).max(min_len(p));
    // Everything not written below stays zero: payload, unused and reserved fields.
    let mut datagram = vec![0u8; len];
    let (header, body) = datagram.split_at_mut(IP_HEADER);

    // A later fragment is only data: the L4 header went out in the first fragment.
    if !p.is_later_fragment() {
        match p.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                seq,
                ack,
            } => write_tcp(body, p.src, p.dst, sport, dport, flags, seq, ack),
            L4::Udp { sport, dport } => write_udp(body, p.src, p.dst, sport, dport),
            L4::Icmp {
                icmp_type,
                code,
                ident,
                seq,
                embedded,
            } => write_icmp(body, icmp_type, code, ident, seq, embedded.as_ref()),
            L4::Other { .. } => {}
        }
    }

    write_ipv4_header(header, p, len);
    datagram
}

/// The smallest datagram that holds the headers `p` needs: IPv4 alone for a later fragment
/// or an unknown protocol, plus 20 for TCP, 8 for UDP and ICMP, and 8 + 28 for an ICMP error
/// (which must quote the reported IP header and 8 bytes of its transport header).
pub fn min_len(p: &Packet) -> usize {
    if p.is_later_fragment() {
        return IP_HEADER;
    }
    IP_HEADER
        + match p.l4 {
            L4::Tcp { .. } => TCP_BARE,
            L4::Udp { .. } => UDP_HEADER,
            L4::Icmp {
                embedded: Some(_), ..
            } => ICMP_HEADER + ICMP_QUOTE,
            L4::Icmp { embedded: None, .. } => ICMP_HEADER,
            L4::Other { .. } => 0,
        }
}

/// The payload bytes of TCP segment `p` as [`encode`] writes it (what its sequence number
/// advances by): its length after the IPv4 and TCP headers. 0 for anything else.
pub fn tcp_payload_len(p: &Packet) -> usize {
    match p.l4 {
        L4::Tcp { flags, .. } if !p.is_later_fragment() => {
            let room = usize::from(p.len).max(min_len(p)) - IP_HEADER;
            room - tcp_header_len(flags, room)
        }
        _ => 0,
    }
}

/// Writes the 20-byte IPv4 header of a `total_len`-byte datagram.
fn write_ipv4_header(header: &mut [u8], p: &Packet, total_len: usize) {
    let mut ip = MutableIpv4Packet::new(header).expect("20 bytes hold an IPv4 header");
    ip.set_version(4);
    ip.set_header_length((IP_HEADER / 4) as u8);
    // Always fits: it is the larger of `p.len` and `min_len` (at most 56).
    ip.set_total_length(u16::try_from(total_len).unwrap_or(u16::MAX));
    ip.set_identification(p.ip_id);
    let mut flags = 0;
    if p.more_fragments {
        flags |= Ipv4Flags::MoreFragments;
    }
    if p.dont_fragment {
        flags |= Ipv4Flags::DontFragment;
    }
    ip.set_flags(flags);
    ip.set_fragment_offset(p.frag_offset.min(MAX_FRAG_OFFSET));
    ip.set_ttl(p.ttl);
    ip.set_next_level_protocol(IpNextHeaderProtocol(p.protocol()));
    ip.set_source(p.src);
    ip.set_destination(p.dst);
    ip.set_checksum(ipv4::checksum(&ip.to_immutable()));
}

/// Length of the TCP header for a segment with `flags` and `room` bytes after the IP header:
/// the one Linux would send, or the largest smaller one that fits (`room` is at least 20).
fn tcp_header_len(flags: TcpFlags, room: usize) -> usize {
    let wanted = if flags.has(TcpFlags::SYN) {
        TCP_SYN
    } else if flags.has(TcpFlags::RST) {
        TCP_BARE
    } else {
        TCP_WITH_TIMESTAMPS
    };
    [TCP_SYN, TCP_WITH_TIMESTAMPS, TCP_BARE]
        .into_iter()
        .find(|&h| h <= wanted && h <= room)
        .unwrap_or(TCP_BARE)
}

/// The options that fill a TCP header of `header_len` bytes, in Linux's order. Timestamps
/// are zero: virtual time is not TCP's clock, and zeros keep captures deterministic.
fn tcp_options(header_len: usize) -> Vec<TcpOption> {
    match header_len {
        TCP_SYN => vec![
            TcpOption::mss(TCP_MSS),
            TcpOption::sack_perm(),
            TcpOption::timestamp(0, 0),
            TcpOption::nop(),
            TcpOption::wscale(TCP_WINDOW_SCALE),
        ],
        TCP_WITH_TIMESTAMPS => vec![
            TcpOption::nop(),
            TcpOption::nop(),
            TcpOption::timestamp(0, 0),
        ],
        _ => Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)] // the fields of `L4::Tcp`, plus the pseudo-header
fn write_tcp(
    segment: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
) {
    let header_len = tcp_header_len(flags, segment.len());

    let mut tcp = MutableTcpPacket::new(segment).expect("encode leaves room for a TCP header");
    tcp.set_source(sport);
    tcp.set_destination(dport);
    tcp.set_sequence(seq);
    tcp.set_acknowledgement(ack);
    tcp.set_data_offset((header_len / 4) as u8);
    tcp.set_flags(flags.0);
    tcp.set_window(TCP_WINDOW);
    tcp.set_options(&tcp_options(header_len));
    tcp.set_checksum(tcp::ipv4_checksum(&tcp.to_immutable(), &src, &dst));
}

fn write_udp(datagram: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) {
    // At most 65535 - 20: the IPv4 total length bounds it.
    let length = u16::try_from(datagram.len()).unwrap_or(u16::MAX);

    let mut udp = MutableUdpPacket::new(datagram).expect("encode leaves room for a UDP header");
    udp.set_source(sport);
    udp.set_destination(dport);
    udp.set_length(length);
    // In UDP a zero checksum means "none", so a computed zero is sent as its other
    // one's-complement form, 0xffff (RFC 768).
    let checksum = match udp::ipv4_checksum(&udp.to_immutable(), &src, &dst) {
        0 => 0xffff,
        sum => sum,
    };
    udp.set_checksum(checksum);
}

fn write_icmp(
    message: &mut [u8],
    icmp_type: u8,
    code: u8,
    ident: u16,
    seq: u16,
    embedded: Option<&Embedded>,
) {
    let (header, data) = message.split_at_mut(ICMP_HEADER);
    // Echo and other queries: identifier and sequence number, then the payload. An error:
    // the rest of its header (zero, but for fragmentation-needed's next-hop MTU in bytes 6–7,
    // RFC 1191 §4), then the quote of the datagram it is about.
    header[4..6].copy_from_slice(&ident.to_be_bytes());
    header[6..8].copy_from_slice(&seq.to_be_bytes());
    if let Some(e) = embedded {
        write_quote(data, e);
    }

    let mut icmp = MutableIcmpPacket::new(message).expect("encode leaves room for an ICMP header");
    icmp.set_icmp_type(icmp::IcmpType(icmp_type));
    icmp.set_icmp_code(icmp::IcmpCode(code));
    icmp.set_checksum(icmp::checksum(&icmp.to_immutable()));
}

/// The part of the reported datagram an ICMP error carries: its IPv4 header as it arrived
/// where the error was raised (TTL, identification, total length, DF), then the first 8 bytes
/// of its transport header (RFC 792; RFC 1812 §4.3.2.3).
fn write_quote(quote: &mut [u8], e: &Embedded) {
    let total = quoted_len(e);
    let (header, transport) = quote.split_at_mut(IP_HEADER);

    // Ports lead TCP and UDP headers alike. For TCP the next 4 bytes are the sequence
    // number; for UDP they are length and checksum (0 = none). An ICMP message leads with
    // type, code and checksum, then its identifier and sequence number.
    if e.protocol == proto::ICMP {
        let (ident, seq) = (e.sport.to_be_bytes(), e.dport.to_be_bytes());
        let head = [
            e.icmp_type,
            e.icmp_code,
            0,
            0,
            ident[0],
            ident[1],
            seq[0],
            seq[1],
        ];
        transport[..8].copy_from_slice(&head);
        // The message's own checksum: its payload is zeros (see `encode`), so the header
        // alone decides it.
        transport[2..4].copy_from_slice(&(!ones_sum(&head)).to_be_bytes());
    } else {
        transport[0..2].copy_from_slice(&e.sport.to_be_bytes());
        transport[2..4].copy_from_slice(&e.dport.to_be_bytes());
    }
    if e.protocol == proto::UDP {
        let udp_len = total.saturating_sub(size::IP_HEADER);
        transport[4..6].copy_from_slice(&udp_len.to_be_bytes());
    } else if e.protocol == proto::TCP {
        transport[4..8].copy_from_slice(&e.tcp_seq.to_be_bytes());
    }

    let mut ip = MutableIpv4Packet::new(header).expect("an ICMP error quotes 20 bytes of IPv4");
    ip.set_version(4);
    ip.set_header_length((IP_HEADER / 4) as u8);
    ip.set_total_length(total);
    ip.set_identification(e.ip_id);
    if e.dont_fragment {
        ip.set_flags(Ipv4Flags::DontFragment);
    }
    ip.set_ttl(e.ttl);
    ip.set_next_level_protocol(IpNextHeaderProtocol(e.protocol));
    ip.set_source(e.src);
    ip.set_destination(e.dst);
    ip.set_checksum(ipv4::checksum(&ip.to_immutable()));
}

/// The total length of the datagram an ICMP error quotes: its own, or the smallest that holds
/// the headers of its kind when it was shorter (it went on the wire clamped, see [`min_len`]).
fn quoted_len(e: &Embedded) -> u16 {
    let floor = match e.protocol {
        proto::TCP => IP_HEADER + 20,
        proto::UDP | proto::ICMP => IP_HEADER + UDP_HEADER,
        _ => IP_HEADER,
    };
    e.len.max(floor as u16)
}

/// ICMP types whose message quotes the datagram it reports (RFC 792): destination
/// unreachable, source quench, redirect, time exceeded, parameter problem.
fn is_icmp_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
}

/// ICMP types whose bytes 4–8 are an identifier and a sequence number (RFC 792, RFC 950):
/// echo, timestamp, information and address mask, requests and replies.
fn has_ident(icmp_type: u8) -> bool {
    matches!(icmp_type, 0 | 8 | 13..=18)
}

/// Why [`decode`] or [`rewrite`] refused a datagram. `quoted`: the fault is in the datagram an
/// ICMP error quotes, not in the outer one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The IP version is not 4.
    Version { version: u8, quoted: bool },
    /// The IPv4 header length (IHL, in 32-bit words) is below the 5 of a bare header.
    HeaderLength { words: u8, quoted: bool },
    /// The IPv4 total length is smaller than the header or larger than the bytes read.
    TotalLength {
        total: u16,
        header: usize,
        read: usize,
    },
    /// `what` ("TCP header") needs `need` bytes and only `have` are there.
    Truncated {
        what: &'static str,
        have: usize,
        need: usize,
    },
    /// The TCP data offset (in 32-bit words) is below the 5 of a bare header.
    TcpDataOffset { words: u8 },
    /// [`rewrite`]: the packet seen is not the datagram's kind (protocol, later fragment or not,
    /// ICMP error or not and what it quotes), so its fields have no place in the bytes.
    Mismatch { datagram: String, seen: String },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |q: bool| {
            if q {
                "the datagram an ICMP error quotes: "
            } else {
                ""
            }
        };
        match self {
            DecodeError::Version {
                version: 6,
                quoted: q,
            } => {
                write!(f, "{}IPv6 (version 6) is not simulated", quoted(*q))
            }
            DecodeError::Version { version, quoted: q } => {
                write!(f, "{}not IPv4: IP version {version}", quoted(*q))
            }
            DecodeError::HeaderLength { words, quoted: q } => write!(
                f,
                "{}IPv4 header length of {words} words ({} bytes) is below the minimum of 5 \
                 (20 bytes)",
                quoted(*q),
                u16::from(*words) * 4
            ),
            DecodeError::TotalLength {
                total,
                header,
                read,
            } => {
                if usize::from(*total) < *header {
                    write!(
                        f,
                        "IPv4 total length {total} is smaller than its {header}-byte header"
                    )
                } else {
                    write!(
                        f,
                        "IPv4 total length {total} is larger than the {read} bytes read"
                    )
                }
            }
            DecodeError::Truncated { what, have, need } => {
                write!(f, "truncated {what}: {have} bytes, needs {need}")
            }
            DecodeError::TcpDataOffset { words } => write!(
                f,
                "TCP data offset of {words} words ({} bytes) is below the minimum of 5 (20 bytes)",
                u16::from(*words) * 4
            ),
            DecodeError::Mismatch { datagram, seen } => write!(
                f,
                "the packet seen is {seen} but the datagram is {datagram}: not the same packet"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The IPv4 datagram `datagram` as the simulator's [`Packet`]: the inverse of [`encode`], for
/// datagrams a real IPv4 stack sends as well as for `encode`'s own.
///
/// The datagram is `total length` bytes: what follows (Ethernet padding) is ignored, and a
/// total length beyond the bytes read or below the header is an error. IPv4 options are
/// skipped. Every [`Packet`] field comes from the header; the L4 part from the TCP, UDP or
/// ICMP header (an ICMP error's quote becomes its [`Embedded`]), any other protocol is
/// [`L4::Other`]. A later fragment carries no L4 header, so it gets its protocol's variant with
/// zero fields, which is what [`Packet::ports`] and [`Packet::protocol`] expect of it. A
/// datagram too short for the headers it announces is an error, never a panic.
///
/// Checksums are not verified: the kernel that sent the datagram computed them (a TAP device
/// hands them over complete unless offloads are turned on), nothing on the simulated path
/// corrupts bytes, and a wrong one is for the receiving stack to drop, as it would be after a
/// real network path: routers do not check TCP or UDP checksums either.
pub fn decode(datagram: &[u8]) -> Result<Packet, DecodeError> {
    let h = read_ipv4(datagram, false)?;
    let total = usize::from(h.total);
    if total < h.header_len || total > datagram.len() {
        return Err(DecodeError::TotalLength {
            total: h.total,
            header: h.header_len,
            read: datagram.len(),
        });
    }
    let body = &datagram[h.header_len..total];
    let l4 = if h.frag_offset != 0 {
        empty_l4(h.protocol)
    } else {
        read_l4(h.protocol, body)?
    };
    Ok(Packet {
        src: h.src,
        dst: h.dst,
        len: h.total,
        ttl: h.ttl,
        ip_id: h.ip_id,
        frag_offset: h.frag_offset,
        more_fragments: h.more_fragments,
        dont_fragment: h.dont_fragment,
        l4,
    })
}

/// What the simulator may change in a packet on its way, written into the datagram it was
/// read from: `seen`'s source and destination addresses and TTL, its TCP or UDP ports or ICMP
/// query identifier (NAT), and an ICMP error's quoted addresses and ports (NAT translating the
/// error back). Everything else, the payload included, stays as it was read.
///
/// Every checksum covering a changed byte is brought up to date: the IPv4 header's (outer and
/// quoted), TCP's and UDP's over the pseudo-header (a UDP checksum of 0 means "none" and stays
/// 0), ICMP's over the whole message, and the quoted TCP or UDP checksum when the quote holds
/// it. Transport checksums are *updated* (RFC 1624), not summed afresh: the update is the same
/// value a full sum gives for a datagram whose checksum was right, it is also right for a first
/// fragment (whose TCP, UDP or ICMP checksum covers fragments not in hand), and a checksum that
/// was wrong stays wrong, as after a real NAT. A later fragment changes only in its IP header.
///
/// `datagram` must decode (the same errors as [`decode`]) and `seen` must be the same kind of
/// packet ([`DecodeError::Mismatch`] otherwise); on an error the bytes are left unchanged.
pub fn rewrite(datagram: &mut [u8], seen: &Packet) -> Result<(), DecodeError> {
    let read = decode(datagram)?;
    if kind(&read) != kind(seen) {
        return Err(DecodeError::Mismatch {
            datagram: kind(&read),
            seen: kind(seen),
        });
    }
    // `decode` checked every length used below: the header, the total length, and the L4
    // header (and quote) of a packet that is not a later fragment.
    let header_len = usize::from(datagram[0] & 0x0f) * 4;
    let (header, rest) = datagram.split_at_mut(header_len);
    let body = &mut rest[..usize::from(read.len) - header_len];

    if !read.is_later_fragment() {
        match seen.l4 {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => {
                let new = Ends {
                    src: seen.src,
                    dst: seen.dst,
                    sport,
                    dport,
                };
                let (at, optional) = match seen.l4 {
                    L4::Tcp { .. } => (TCP_CHECKSUM, false),
                    _ => (UDP_CHECKSUM, true),
                };
                update_ports(body, (read.src, read.dst), new, at, optional);
            }
            L4::Icmp {
                ident, embedded, ..
            } => {
                // The bytes hold an identifier if the datagram's type has one.
                let icmp_type = body[0];
                let (message_header, data) = body.split_at_mut(ICMP_HEADER);
                let (checksum, rest) = message_header[2..].split_at_mut(2);
                let sum = u16::from_be_bytes([checksum[0], checksum[1]]);
                let sum = match embedded {
                    Some(e) => rewrite_quote(data, &e, sum),
                    None if has_ident(icmp_type) => {
                        let old = [rest[0], rest[1]];
                        rest[..2].copy_from_slice(&ident.to_be_bytes());
                        updated(sum, &old, &rest[..2])
                    }
                    None => sum,
                };
                checksum.copy_from_slice(&sum.to_be_bytes());
            }
            L4::Other { .. } => {}
        }
    }

    let mut ip = MutableIpv4Packet::new(header).expect("decode read a whole IPv4 header");
    ip.set_source(seen.src);
    ip.set_destination(seen.dst);
    ip.set_ttl(seen.ttl);
    ip.set_checksum(ipv4::checksum(&ip.to_immutable()));
    Ok(())
}

/// What a packet is, in words, as far as [`rewrite`] cares: its protocol, whether it is a
/// later fragment, and for ICMP whether it is an error and what the error quotes.
fn kind(p: &Packet) -> String {
    let what = match p.l4 {
        L4::Icmp {
            embedded: Some(e), ..
        } if !p.is_later_fragment() => {
            format!("an ICMP error quoting {}", protocol_name(e.protocol))
        }
        L4::Icmp { .. } if !p.is_later_fragment() => "an ICMP query".to_string(),
        _ => protocol_name(p.protocol()),
    };
    if p.is_later_fragment() {
        format!("a later fragment of {what}")
    } else {
        what
    }
}

/// Where the checksum is in a TCP header and in a UDP header.
const TCP_CHECKSUM: usize = 16;
const UDP_CHECKSUM: usize = 6;

/// What NAT changes of a TCP or UDP segment: its ports, and the addresses of its
/// pseudo-header (which its checksum covers).
#[derive(Clone, Copy)]
struct Ends {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
}

impl Ends {
    /// The words the checksum sums: the pseudo-header's addresses, then the ports.
    fn words(self) -> [u8; 12] {
        let mut w = [0u8; 12];
        w[..4].copy_from_slice(&self.src.octets());
        w[4..8].copy_from_slice(&self.dst.octets());
        w[8..10].copy_from_slice(&self.sport.to_be_bytes());
        w[10..].copy_from_slice(&self.dport.to_be_bytes());
        w
    }
}

/// Writes `new`'s ports at the start of the TCP or UDP header `l4`, whose pseudo-header had
/// the addresses `old`, and updates its checksum at `at` for both changes. `optional`: UDP,
/// where a checksum of 0 means none and stays 0. Does nothing to a checksum `l4` is too short
/// to hold (the TCP header in an ICMP error's quote may be cut short).
fn update_ports(l4: &mut [u8], old: (Ipv4Addr, Ipv4Addr), new: Ends, at: usize, optional: bool) {
    let before = Ends {
        src: old.0,
        dst: old.1,
        sport: u16::from_be_bytes([l4[0], l4[1]]),
        dport: u16::from_be_bytes([l4[2], l4[3]]),
    };
    l4[..4].copy_from_slice(&new.words()[8..]);

    let Some(field) = l4.get_mut(at..at + 2) else {
        return;
    };
    let sum = u16::from_be_bytes([field[0], field[1]]);
    if optional && sum == 0 {
        return;
    }
    let sum = match updated(sum, &before.words(), &new.words()) {
        // A computed 0 goes out as 0xffff, as in `write_udp`.
        0 if optional => 0xffff,
        s => s,
    };
    field.copy_from_slice(&sum.to_be_bytes());
}

/// Writes `e`'s addresses (and ports, for a quoted TCP or UDP header that is not a later
/// fragment's) into `quote`, the data of an ICMP error, and brings the quoted checksums up to
/// date. Returns the ICMP checksum `icmp_sum` updated for every byte changed.
fn rewrite_quote(quote: &mut [u8], e: &Embedded, icmp_sum: u16) -> u16 {
    let header_len = usize::from(quote[0] & 0x0f) * 4;
    // The quoted IP header and as much of a TCP header as is quoted: every byte changed.
    let end = quote.len().min(header_len + TCP_BARE);
    let before = quote[..end].to_vec();
    let (header, transport) = quote.split_at_mut(header_len);
    let mut ip = MutableIpv4Packet::new(header).expect("decode read a whole quoted header");
    let old = (ip.get_source(), ip.get_destination());
    let later_fragment = ip.get_fragment_offset() != 0;
    ip.set_source(e.src);
    ip.set_destination(e.dst);
    ip.set_checksum(ipv4::checksum(&ip.to_immutable()));
    if !later_fragment {
        let new = Ends {
            src: e.src,
            dst: e.dst,
            sport: e.sport,
            dport: e.dport,
        };
        match e.protocol {
            proto::TCP => update_ports(transport, old, new, TCP_CHECKSUM, false),
            proto::UDP => update_ports(transport, old, new, UDP_CHECKSUM, true),
            // A quoted echo's identifier (a NAT gateway's), and the echo's own checksum.
            proto::ICMP if transport.len() >= 8 => {
                let before = [transport[4], transport[5]];
                transport[4..6].copy_from_slice(&e.sport.to_be_bytes());
                let sum = u16::from_be_bytes([transport[2], transport[3]]);
                let sum = updated(sum, &before, &transport[4..6]);
                transport[2..4].copy_from_slice(&sum.to_be_bytes());
            }
            _ => {}
        }
    }
    updated(icmp_sum, &before, &quote[..end])
}

/// The Internet checksum `sum` after the bytes `before` became `after` (RFC 1624, eqn. 3:
/// HC' = ~(~HC + ~m + m')). Both start at an even offset of the data the checksum covers.
fn updated(sum: u16, before: &[u8], after: &[u8]) -> u16 {
    let total = u32::from(!sum) + u32::from(!ones_sum(before)) + u32::from(ones_sum(after));
    !fold(total)
}

/// One's-complement sum of big-endian 16-bit words (an odd last byte padded with zero).
fn ones_sum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for word in bytes.chunks(2) {
        let lo = word.get(1).copied().unwrap_or(0);
        sum = u32::from(fold(sum + u32::from(u16::from_be_bytes([word[0], lo]))));
    }
    fold(sum)
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    sum as u16
}

/// An IPv4 header as [`decode`] reads it.
struct Header {
    header_len: usize,
    total: u16,
    ttl: u8,
    ip_id: u16,
    dont_fragment: bool,
    more_fragments: bool,
    frag_offset: u16,
    protocol: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

/// The IPv4 header at the start of `bytes`, options included (and skipped). `quoted`: it is
/// the header an ICMP error quotes, for the errors' words.
fn read_ipv4(bytes: &[u8], quoted: bool) -> Result<Header, DecodeError> {
    let what = if quoted {
        "quoted IPv4 header"
    } else {
        "IPv4 header"
    };
    // The version first: a short IPv6 datagram is better called IPv6 than truncated.
    if let Some(&first) = bytes.first()
        && first >> 4 != 4
    {
        return Err(DecodeError::Version {
            version: first >> 4,
            quoted,
        });
    }
    let ip = Ipv4Packet::new(bytes).ok_or(DecodeError::Truncated {
        what,
        have: bytes.len(),
        need: IP_HEADER,
    })?;
    let words = ip.get_header_length();
    if words < 5 {
        return Err(DecodeError::HeaderLength { words, quoted });
    }
    let header_len = usize::from(words) * 4;
    if bytes.len() < header_len {
        return Err(DecodeError::Truncated {
            what,
            have: bytes.len(),
            need: header_len,
        });
    }
    Ok(Header {
        header_len,
        total: ip.get_total_length(),
        ttl: ip.get_ttl(),
        ip_id: ip.get_identification(),
        dont_fragment: ip.get_flags() & Ipv4Flags::DontFragment != 0,
        more_fragments: ip.get_flags() & Ipv4Flags::MoreFragments != 0,
        frag_offset: ip.get_fragment_offset(),
        protocol: ip.get_next_level_protocol().0,
        src: ip.get_source(),
        dst: ip.get_destination(),
    })
}

/// The L4 of a later fragment: `protocol`'s variant with zero fields.
fn empty_l4(protocol: u8) -> L4 {
    match protocol {
        proto::TCP => L4::Tcp {
            sport: 0,
            dport: 0,
            flags: TcpFlags(0),
            seq: 0,
            ack: 0,
        },
        proto::UDP => L4::Udp { sport: 0, dport: 0 },
        proto::ICMP => L4::Icmp {
            icmp_type: 0,
            code: 0,
            ident: 0,
            seq: 0,
            embedded: None,
        },
        protocol => L4::Other { protocol },
    }
}

/// The L4 header of protocol `protocol` at the start of `body` (the bytes after the IPv4
/// header, up to the total length).
fn read_l4(protocol: u8, body: &[u8]) -> Result<L4, DecodeError> {
    let truncated = |what, need| DecodeError::Truncated {
        what,
        have: body.len(),
        need,
    };
    Ok(match protocol {
        proto::TCP => {
            let tcp = TcpPacket::new(body).ok_or(truncated("TCP header", TCP_BARE))?;
            let words = tcp.get_data_offset();
            if words < 5 {
                return Err(DecodeError::TcpDataOffset { words });
            }
            let header_len = usize::from(words) * 4;
            if body.len() < header_len {
                return Err(truncated("TCP header", header_len));
            }
            L4::Tcp {
                sport: tcp.get_source(),
                dport: tcp.get_destination(),
                flags: TcpFlags(tcp.get_flags()),
                seq: tcp.get_sequence(),
                ack: tcp.get_acknowledgement(),
            }
        }
        proto::UDP => {
            let udp = UdpPacket::new(body).ok_or(truncated("UDP header", UDP_HEADER))?;
            L4::Udp {
                sport: udp.get_source(),
                dport: udp.get_destination(),
            }
        }
        proto::ICMP => {
            // (pnet's ICMP packet is 4 bytes: type, code, checksum.)
            if body.len() < ICMP_HEADER {
                return Err(truncated("ICMP header", ICMP_HEADER));
            }
            let icmp = IcmpPacket::new(body).ok_or(truncated("ICMP header", ICMP_HEADER))?;
            let (icmp_type, code) = (icmp.get_icmp_type().0, icmp.get_icmp_code().0);
            let embedded = if is_icmp_error(icmp_type) {
                Some(read_quote(body.get(ICMP_HEADER..).unwrap_or(&[]))?)
            } else {
                None
            };
            // The rest of the header: an identifier and a sequence number, or an error's
            // unused bytes and fragmentation-needed's next-hop MTU.
            let (ident, seq) = if has_ident(icmp_type) || embedded.is_some() {
                (
                    u16::from_be_bytes([body[4], body[5]]),
                    u16::from_be_bytes([body[6], body[7]]),
                )
            } else {
                (0, 0)
            };
            L4::Icmp {
                icmp_type,
                code,
                ident,
                seq,
                embedded,
            }
        }
        protocol => L4::Other { protocol },
    })
}

/// The datagram an ICMP error quotes: its IPv4 header and the transport bytes [`Embedded`]
/// keeps (ports of TCP and UDP, and TCP's sequence number). A quoted ICMP message or other
/// protocol, and a quoted later fragment, have no ports: 0, as [`Packet::icmp_error`] makes
/// them. The quoted total length is the reported datagram's, not the quote's.
fn read_quote(quote: &[u8]) -> Result<Embedded, DecodeError> {
    let h = read_ipv4(quote, true)?;
    let transport = &quote[h.header_len..];
    let need = match h.protocol {
        _ if h.frag_offset != 0 => 0,
        proto::TCP => 8,
        proto::UDP => 4,
        _ => 0,
    };
    if transport.len() < need {
        return Err(DecodeError::Truncated {
            what: "quoted transport header",
            have: transport.len(),
            need,
        });
    }
    let word = |at: usize| u16::from_be_bytes([transport[at], transport[at + 1]]);
    // A quoted ICMP message's first 8 bytes, when quoted (RFC 792 asks for them; a shorter
    // quote reads as 0s, as a later fragment's does).
    let icmp = h.protocol == proto::ICMP && h.frag_offset == 0 && transport.len() >= 8;
    let (sport, dport) = match need {
        _ if icmp => (word(4), word(6)),
        4.. => (word(0), word(2)),
        _ => (0, 0),
    };
    let (icmp_type, icmp_code) = if icmp {
        (transport[0], transport[1])
    } else {
        (0, 0)
    };
    let tcp_seq = if need >= 8 {
        u32::from_be_bytes([transport[4], transport[5], transport[6], transport[7]])
    } else {
        0
    };
    Ok(Embedded {
        src: h.src,
        dst: h.dst,
        protocol: h.protocol,
        sport,
        dport,
        ttl: h.ttl,
        ip_id: h.ip_id,
        len: h.total,
        dont_fragment: h.dont_fragment,
        tcp_seq,
        icmp_type,
        icmp_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::icmp as icmp_types;
    use pnet_packet::Packet as _;
    use pnet_packet::tcp::TcpOptionNumbers;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// One's-complement sum of big-endian 16-bit words, folded. A message whose checksum is
    /// right sums to 0xffff *including* its checksum field: a check independent of pnet's,
    /// which skips that field.
    fn ones_complement_sum(parts: &[&[u8]]) -> u16 {
        let mut sum: u64 = 0;
        for part in parts {
            for word in part.chunks(2) {
                let hi = u64::from(word[0]) << 8;
                let lo = word.get(1).copied().map_or(0, u64::from);
                sum += hi | lo;
            }
        }
        while sum > 0xffff {
            sum = (sum >> 16) + (sum & 0xffff);
        }
        sum as u16
    }

    fn pseudo_header(ip: &Ipv4Packet) -> Vec<u8> {
        let mut h = Vec::with_capacity(12);
        h.extend_from_slice(&ip.get_source().octets());
        h.extend_from_slice(&ip.get_destination().octets());
        h.push(0);
        h.push(ip.get_next_level_protocol().0);
        h.extend_from_slice(&(ip.payload().len() as u16).to_be_bytes());
        h
    }

    /// Parses `bytes` back and checks the IPv4 header and every checksum in it, twice: pnet
    /// recomputes the stored value, and the independent sum comes to 0xffff.
    fn verify(p: &Packet, bytes: &[u8]) -> usize {
        let ip = Ipv4Packet::new(bytes).expect("an IPv4 header");
        assert_eq!(ip.get_version(), 4);
        assert_eq!(ip.get_header_length(), 5);
        assert_eq!(usize::from(ip.get_total_length()), bytes.len());
        assert_eq!(ip.get_ttl(), p.ttl);
        assert_eq!(ip.get_identification(), p.ip_id);
        assert_eq!(
            ip.get_flags() & Ipv4Flags::MoreFragments != 0,
            p.more_fragments
        );
        assert_eq!(
            ip.get_flags() & Ipv4Flags::DontFragment != 0,
            p.dont_fragment
        );
        assert_eq!(ip.get_next_level_protocol().0, p.protocol());
        assert_eq!((ip.get_source(), ip.get_destination()), (p.src, p.dst));
        assert_eq!(
            ip.get_checksum(),
            ipv4::checksum(&ip),
            "IPv4 header checksum"
        );
        assert_eq!(ones_complement_sum(&[&bytes[..IP_HEADER]]), 0xffff);

        let body = ip.payload();
        if p.is_later_fragment() {
            return body.len();
        }
        let pseudo = pseudo_header(&ip);
        match p.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                seq,
                ack,
            } => {
                let tcp = TcpPacket::new(body).expect("a TCP header");
                assert_eq!((tcp.get_source(), tcp.get_destination()), (sport, dport));
                assert_eq!((tcp.get_sequence(), tcp.get_acknowledgement()), (seq, ack));
                assert_eq!(tcp.get_flags(), flags.0);
                assert_eq!(
                    tcp.get_checksum(),
                    tcp::ipv4_checksum(&tcp, &p.src, &p.dst),
                    "TCP checksum"
                );
                assert_eq!(ones_complement_sum(&[&pseudo, body]), 0xffff);
            }
            L4::Udp { sport, dport } => {
                let udp = UdpPacket::new(body).expect("a UDP header");
                assert_eq!((udp.get_source(), udp.get_destination()), (sport, dport));
                assert_eq!(usize::from(udp.get_length()), body.len());
                assert_ne!(udp.get_checksum(), 0, "UDP checksum must be present");
                let expected = match udp::ipv4_checksum(&udp, &p.src, &p.dst) {
                    0 => 0xffff,
                    sum => sum,
                };
                assert_eq!(udp.get_checksum(), expected, "UDP checksum");
                assert_eq!(ones_complement_sum(&[&pseudo, body]), 0xffff);
            }
            L4::Icmp {
                icmp_type,
                code,
                ident,
                seq,
                embedded,
            } => {
                let icmp = IcmpPacket::new(body).expect("an ICMP header");
                assert_eq!(
                    (icmp.get_icmp_type().0, icmp.get_icmp_code().0),
                    (icmp_type, code)
                );
                assert_eq!(icmp.get_checksum(), icmp::checksum(&icmp), "ICMP checksum");
                assert_eq!(ones_complement_sum(&[body]), 0xffff);
                // An identifier and a sequence number, or an error's rest of header (unused
                // but for fragmentation-needed's next-hop MTU, which `seq` holds).
                assert_eq!(u16::from_be_bytes([body[4], body[5]]), ident);
                assert_eq!(u16::from_be_bytes([body[6], body[7]]), seq);
                match embedded {
                    None => {}
                    Some(e) => {
                        let inner = Ipv4Packet::new(&body[ICMP_HEADER..]).expect("quoted IPv4");
                        assert_eq!(
                            (inner.get_source(), inner.get_destination()),
                            (e.src, e.dst)
                        );
                        assert_eq!(inner.get_next_level_protocol().0, e.protocol);
                        assert_eq!(inner.get_total_length(), quoted_len(&e));
                        assert_eq!(inner.get_ttl(), e.ttl);
                        assert_eq!(inner.get_identification(), e.ip_id);
                        assert_eq!(
                            inner.get_checksum(),
                            ipv4::checksum(&inner),
                            "quoted IPv4 checksum"
                        );
                        let ports = inner.payload();
                        assert_eq!(u16::from_be_bytes([ports[0], ports[1]]), e.sport);
                        assert_eq!(u16::from_be_bytes([ports[2], ports[3]]), e.dport);
                    }
                }
            }
            L4::Other { .. } => {}
        }
        body.len()
    }

    fn tcp_header_of(bytes: &[u8]) -> usize {
        usize::from(
            TcpPacket::new(&bytes[IP_HEADER..])
                .unwrap()
                .get_data_offset(),
        ) * 4
    }

    fn syn() -> Packet {
        Packet::tcp(
            ip("10.0.1.5"),
            49152,
            ip("10.0.2.7"),
            443,
            TcpFlags::SYN,
            size::TCP_SYN,
        )
    }

    #[test]
    fn reference_sizes() {
        let a = ip("10.0.1.5");
        let b = ip("10.0.2.7");
        let echo = Packet::echo_request(ip("203.0.113.12"), ip("172.31.16.139"), 1, 0);
        let udp_req = Packet::udp(a, 40000, b, 53, size::UDP_REQUEST);
        let cases = [
            (echo, 84),
            (echo.echo_reply().unwrap(), 84),
            (syn(), 60),
            (
                Packet::tcp(
                    b,
                    443,
                    a,
                    49152,
                    TcpFlags::SYN | TcpFlags::ACK,
                    size::TCP_SYN,
                ),
                60,
            ),
            (
                Packet::tcp(a, 49152, b, 443, TcpFlags::ACK, size::TCP_ACK),
                52,
            ),
            (
                Packet::tcp(
                    b,
                    443,
                    a,
                    49152,
                    TcpFlags::RST | TcpFlags::ACK,
                    size::TCP_RST,
                ),
                40,
            ),
            (
                Packet::tcp(
                    a,
                    49152,
                    b,
                    443,
                    TcpFlags::PSH | TcpFlags::ACK,
                    size::TCP_HEADER + 1000,
                ),
                1052,
            ),
            (udp_req, 60),
            (Packet::udp(b, 53, a, 40000, size::UDP_RESPONSE), 120),
            (
                Packet::icmp_error(
                    b,
                    &udp_req,
                    icmp_types::DEST_UNREACHABLE,
                    icmp_types::PORT_UNREACHABLE,
                ),
                56,
            ),
        ];
        for (p, len) in cases {
            let bytes = encode(&p);
            assert_eq!(bytes.len(), len, "{}", p.summary());
            verify(&p, &bytes);
        }
    }

    #[test]
    fn tcp_headers_follow_linux() {
        let bytes = encode(&syn());
        assert_eq!(tcp_header_of(&bytes), 40);
        let tcp = TcpPacket::new(&bytes[IP_HEADER..]).unwrap();
        let options: Vec<_> = tcp.get_options_iter().map(|o| o.get_number()).collect();
        use TcpOptionNumbers::*;
        assert_eq!(options, [MSS, SACK_PERMITTED, TIMESTAMPS, NOP, WSCALE]);
        assert_eq!(tcp.get_window(), TCP_WINDOW);
        assert!(tcp.payload().is_empty());

        let mut ack = syn();
        ack.l4 = L4::Tcp {
            sport: 1,
            dport: 2,
            flags: TcpFlags(TcpFlags::ACK),
            seq: 7,
            ack: 9,
        };
        ack.len = 1052;
        let bytes = encode(&ack);
        assert_eq!(tcp_header_of(&bytes), 32);
        let tcp = TcpPacket::new(&bytes[IP_HEADER..]).unwrap();
        let options: Vec<_> = tcp.get_options_iter().map(|o| o.get_number()).collect();
        assert_eq!(options, [NOP, NOP, TIMESTAMPS]);
        assert_eq!(tcp.payload().len(), 1000);
        assert!(tcp.payload().iter().all(|&b| b == 0));
    }

    #[test]
    fn tcp_header_shrinks_to_fit() {
        // A SYN of 52 bytes keeps the timestamps; of 44, only the bare header fits.
        for (len, header) in [(52, 32), (51, 20), (44, 20), (40, 20)] {
            let p = Packet { len, ..syn() };
            let bytes = encode(&p);
            assert_eq!(bytes.len(), usize::from(len));
            assert_eq!(tcp_header_of(&bytes), header, "SYN of {len} bytes");
            verify(&p, &bytes);
        }
    }

    #[test]
    fn too_short_is_clamped_to_the_smallest_valid_size() {
        let a = ip("10.0.0.1");
        let b = ip("10.0.0.2");
        let udp = Packet::udp(a, 1, b, 2, 0);
        let error = Packet::icmp_error(b, &udp, icmp_types::TIME_EXCEEDED, 0);
        let cases = [
            (Packet { len: 0, ..syn() }, 40),
            (udp, 28),
            (
                Packet {
                    len: 3,
                    ..Packet::echo_request(a, b, 1, 1)
                },
                28,
            ),
            (Packet { len: 30, ..error }, 56),
            (Packet::other(a, b, 47, 0), 20),
            (
                Packet {
                    frag_offset: 1,
                    ..syn()
                },
                60,
            ),
            (
                Packet {
                    frag_offset: 1,
                    len: 1,
                    ..syn()
                },
                20,
            ),
        ];
        for (p, len) in cases {
            let bytes = encode(&p);
            assert_eq!(bytes.len(), len, "{p:?}");
            assert_eq!(bytes.len(), usize::from(p.len).max(min_len(&p)));
            verify(&p, &bytes);
        }
    }

    #[test]
    fn later_fragments_carry_no_l4_header() {
        let first = Packet {
            more_fragments: true,
            ip_id: 77,
            ..Packet::udp(ip("10.0.0.1"), 5000, ip("10.0.0.2"), 53, 1500)
        };
        let later = Packet {
            frag_offset: 185,
            more_fragments: false,
            len: 548,
            ..first
        };
        verify(&first, &encode(&first));

        let bytes = encode(&later);
        assert_eq!(verify(&later, &bytes), 528);
        let ip = Ipv4Packet::new(&bytes).unwrap();
        assert_eq!(ip.get_fragment_offset(), 185);
        assert!(
            ip.payload().iter().all(|&b| b == 0),
            "payload, not a UDP header"
        );

        // An offset beyond 13 bits saturates, so the fragment stays a later one.
        let huge = Packet {
            frag_offset: u16::MAX,
            ..later
        };
        let bytes = encode(&huge);
        assert_eq!(
            Ipv4Packet::new(&bytes).unwrap().get_fragment_offset(),
            MAX_FRAG_OFFSET
        );
    }

    #[test]
    fn icmp_error_quotes_the_original() {
        let a = ip("10.0.1.5");
        let b = ip("10.0.2.7");
        let original = Packet::tcp(a, 49152, b, 22, TcpFlags::SYN, size::TCP_SYN);
        let error = Packet::icmp_error(ip("10.0.2.1"), &original, icmp_types::TIME_EXCEEDED, 0);
        let bytes = encode(&error);
        assert_eq!(bytes.len(), 56);
        verify(&error, &bytes);
        let inner = Ipv4Packet::new(&bytes[IP_HEADER + ICMP_HEADER..]).unwrap();
        assert_eq!(inner.get_ttl(), original.ttl);
        assert_eq!(inner.get_total_length(), size::TCP_SYN);

        // A longer error quotes more of the original; the quoted length follows.
        let long = Packet { len: 100, ..error };
        assert_eq!(verify(&long, &encode(&long)), 80);
    }

    /// Fragmentation-needed carries the next-hop MTU in bytes 6–7 of the ICMP header (RFC
    /// 1191 §4), quotes the datagram with its DF flag, and decodes back to the same packet.
    #[test]
    fn fragmentation_needed_carries_the_mtu() {
        let mut big = Packet::tcp(
            ip("10.0.1.10"),
            40000,
            ip("203.0.113.5"),
            443,
            TcpFlags::ACK,
            9001,
        );
        big.ip_id = 7;
        let error = Packet::fragmentation_needed(ip("203.0.113.5"), &big, 1500);
        assert_eq!(error.next_hop_mtu(), Some(1500));
        let bytes = encode(&error);
        verify(&error, &bytes);
        let icmp = &bytes[IP_HEADER..];
        assert_eq!((icmp[0], icmp[1]), (3, 4));
        assert_eq!(&icmp[4..8], &[0, 0, 0x05, 0xdc]);
        let inner = Ipv4Packet::new(&icmp[ICMP_HEADER..]).unwrap();
        assert_eq!(inner.get_total_length(), 9001);
        assert_eq!(
            inner.get_flags() & Ipv4Flags::DontFragment,
            Ipv4Flags::DontFragment
        );
        assert_eq!(inner.get_identification(), 7);
        assert_eq!(decode(&bytes).unwrap(), error);
        // Other errors keep those bytes zero.
        let exceeded = Packet::icmp_error(ip("10.0.0.1"), &big, icmp_types::TIME_EXCEEDED, 0);
        assert_eq!(
            &encode(&exceeded)[IP_HEADER + 4..IP_HEADER + 8],
            &[0, 0, 0, 0]
        );
        assert_eq!(exceeded.next_hop_mtu(), None);
    }

    #[test]
    fn udp_checksum_zero_is_sent_as_ffff() {
        // Over all source ports the checksum takes every value, including the one that
        // computes to zero; none may go out as 0 ("no checksum").
        let mut saw_ffff = false;
        for sport in 0..=u16::MAX {
            let p = Packet::udp(ip("10.0.0.1"), sport, ip("10.0.0.2"), 53, 28);
            let bytes = encode(&p);
            let checksum = u16::from_be_bytes([bytes[26], bytes[27]]);
            assert_ne!(checksum, 0);
            saw_ffff |= checksum == 0xffff;
        }
        assert!(saw_ffff);
        let p = Packet::udp(ip("10.0.0.1"), 0, ip("10.0.0.2"), 53, 28);
        verify(&p, &encode(&p));
    }

    #[test]
    fn any_length_encodes_and_verifies() {
        let a = ip("192.0.2.1");
        let b = ip("198.51.100.2");
        let udp = Packet::udp(a, 53, b, 33000, 60);
        let kinds = [
            syn(),
            Packet::tcp(a, 1, b, 2, TcpFlags::ACK, 0),
            Packet::tcp(a, 1, b, 2, TcpFlags::RST, 0),
            udp,
            Packet::echo_request(a, b, 9, 9),
            Packet::icmp_error(b, &udp, icmp_types::DEST_UNREACHABLE, 3),
            Packet::other(a, b, 47, 0),
            Packet {
                frag_offset: 3,
                ..udp
            },
        ];
        let lengths = (0..=200).chain([1499, 1500, 9001, u16::MAX - 1, u16::MAX]);
        for len in lengths {
            for p in kinds {
                let p = Packet { len, ..p };
                let bytes = encode(&p);
                assert_eq!(bytes.len(), usize::from(len).max(min_len(&p)));
                verify(&p, &bytes);
            }
        }
    }

    // Datagrams as a Linux host sends them, with their real checksums: from 10.0.1.5, `ping`
    // (echo request with its 56-byte payload: a timeval, then bytes 0x10–0x37) and its reply,
    // a `curl` SYN (MSS, SACK-permitted, timestamps, NOP, window scale), a `dig` query with
    // EDNS, the port unreachable it drew (Linux quotes the whole datagram, TOS 0xc0), a
    // router's time exceeded quoting the SYN with TTL 1, an IGMPv3 report (a Router Alert
    // option: IHL 6), and a RST read from Ethernet with its 6 bytes of padding.
    const PING: &str = "\
        450000544b2c40004001d8710a0001050a0002070800f6320f3a0001f2b37169\
        00000000c4a10b0000000000101112131415161718191a1b1c1d1e1f20212223\
        2425262728292a2b2c2d2e2f3031323334353637";
    const PING_REPLY: &str = "\
        450000549e0100004001c59c0a0002070a0001050000fe320f3a0001f2b37169\
        00000000c4a10b0000000000101112131415161718191a1b1c1d1e1f20212223\
        2425262728292a2b2c2d2e2f3031323334353637";
    const CURL_SYN: &str = "\
        4500003c8f2140004006948f0a0001050a000207aac601bb9a3b5c7100000000\
        a002faf0c67a0000020405b40402080a6d1e5f3c0000000001030307";
    const DNS_QUERY: &str = "\
        450000443e1a0000401127890a0001050a000002c87a003500309b8db1c20120\
        0001000000000001076578616d706c6503636f6d000001000100002904d00000\
        00000000";
    const PORT_UNREACHABLE: &str = "\
        45c0006051f30000400112e40a0000020a000105030312450000000045000044\
        3e1a0000401127890a0001050a000002c87a003500309b8db1c2012000010000\
        00000001076578616d706c6503636f6d000001000100002904d0000000000000";
    const TIME_EXCEEDED: &str = "\
        45c0005800000000ff01a3df0a0002010a0001050b000c3a000000004500003c\
        8f2140000106d38f0a0001050a000207aac601bb9a3b5c7100000000a002faf0\
        c67a0000020405b40402080a6d1e5f3c0000000001030307";
    const IGMP_REPORT: &str = "\
        46c00028000040000102f8f40a000105e0000016940400002200f90200000001\
        04000000e00000fb";
    const RST_PADDED: &str = "\
        4500002800004000400623c50a0002070a00010501bbaac6000000009a3b5c72\
        50140000f5950000000000000000";
    /// The header of the second fragment of `ping -s 3000`: offset 185 (1480 bytes), MF.
    const LATER_FRAGMENT_HEADER: &str = "450005dc771120b94001c64b0a0001050a000207";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The later fragment: its header, then 1480 bytes counting 0, 1, … 255, 0, …
    fn later_fragment() -> Vec<u8> {
        let mut bytes = hex(LATER_FRAGMENT_HEADER);
        bytes.extend((0..1480).map(|i| i as u8));
        bytes
    }

    fn linux_datagrams() -> Vec<Vec<u8>> {
        let mut all: Vec<_> = [
            PING,
            PING_REPLY,
            CURL_SYN,
            DNS_QUERY,
            PORT_UNREACHABLE,
            TIME_EXCEEDED,
            IGMP_REPORT,
            RST_PADDED,
        ]
        .into_iter()
        .map(hex)
        .collect();
        all.push(later_fragment());
        all
    }

    /// A packet of every kind the simulator makes, with fields away from their defaults.
    fn simulated_kinds() -> Vec<Packet> {
        let a = ip("10.0.1.5");
        let b = ip("10.0.2.7");
        let tcp = |flags, len, seq, ack| Packet {
            l4: L4::Tcp {
                sport: 49152,
                dport: 443,
                flags: TcpFlags(flags),
                seq,
                ack,
            },
            ..Packet::tcp(a, 0, b, 0, 0, len)
        };
        let syn = Packet {
            ip_id: 4321,
            ..tcp(TcpFlags::SYN, size::TCP_SYN, 0x9a3b5c71, 0)
        };
        let data = tcp(TcpFlags::PSH | TcpFlags::ACK, 1052, 1001, 2002);
        let rst = Packet {
            dont_fragment: false,
            ttl: 255,
            ..tcp(TcpFlags::RST | TcpFlags::ACK, size::TCP_RST, 0, 7)
        };
        let udp = Packet::udp(a, 40000, b, 53, size::UDP_REQUEST);
        let udp_df = Packet {
            dont_fragment: true,
            ip_id: 9,
            ..Packet::udp(b, 53, a, 40000, size::UDP_RESPONSE)
        };
        let echo = Packet {
            ttl: 1,
            ..Packet::echo_request(a, b, 0x0f3a, 7)
        };
        let first_fragment = Packet {
            more_fragments: true,
            ip_id: 77,
            ..Packet::udp(a, 5000, b, 53, 1500)
        };
        let later = |l4| Packet {
            frag_offset: 185,
            more_fragments: false,
            len: 548,
            l4,
            ..first_fragment
        };
        vec![
            syn,
            tcp(TcpFlags::SYN | TcpFlags::ACK, size::TCP_SYN, 5, 0x9a3b5c72),
            data,
            tcp(TcpFlags::FIN | TcpFlags::ACK, size::TCP_ACK, u32::MAX, 1),
            rst,
            udp,
            udp_df,
            echo,
            echo.echo_reply().unwrap(),
            Packet::icmp_error(ip("10.0.2.1"), &syn, icmp_types::TIME_EXCEEDED, 0),
            Packet::icmp_error(b, &udp, icmp_types::DEST_UNREACHABLE, 3),
            Packet::icmp_error(ip("10.0.2.1"), &echo, icmp_types::TIME_EXCEEDED, 0),
            Packet::icmp_error(ip("10.0.2.1"), &data, icmp_types::DEST_UNREACHABLE, 4),
            first_fragment,
            later(empty_l4(proto::UDP)),
            later(empty_l4(proto::TCP)),
            later(empty_l4(proto::ICMP)),
            Packet::other(a, b, 47, 100),
            Packet {
                dont_fragment: true,
                ..Packet::other(a, b, 50, 20)
            },
        ]
    }

    #[test]
    fn decode_inverts_encode() {
        for p in simulated_kinds() {
            assert_eq!(decode(&encode(&p)), Ok(p), "{}", p.summary());
        }
        // A later fragment's L4 fields are not in its bytes: it decodes with zeros.
        let later = Packet {
            frag_offset: 185,
            ..Packet::udp(ip("10.0.0.1"), 5000, ip("10.0.0.2"), 53, 548)
        };
        let decoded = decode(&encode(&later)).unwrap();
        assert_eq!(decoded.l4, L4::Udp { sport: 0, dport: 0 });
        assert_eq!((decoded.protocol(), decoded.ports()), (17, (0, 0)));
    }

    #[test]
    fn linux_datagrams_decode() {
        let a = ip("10.0.1.5");
        let b = ip("10.0.2.7");
        let dns = ip("10.0.0.2");
        let base = |src, dst, len, ip_id, dont_fragment, l4| Packet {
            src,
            dst,
            len,
            ttl: 64,
            ip_id,
            frag_offset: 0,
            more_fragments: false,
            dont_fragment,
            l4,
        };
        let echo = |icmp_type| L4::Icmp {
            icmp_type,
            code: 0,
            ident: 0x0f3a,
            seq: 1,
            embedded: None,
        };
        let syn = L4::Tcp {
            sport: 43718,
            dport: 443,
            flags: TcpFlags(TcpFlags::SYN),
            seq: 0x9a3b5c71,
            ack: 0,
        };
        let error = |icmp_type, code, embedded| L4::Icmp {
            icmp_type,
            code,
            ident: 0,
            seq: 0,
            embedded: Some(embedded),
        };
        let expected = [
            base(a, b, 84, 0x4b2c, true, echo(icmp_types::ECHO_REQUEST)),
            base(b, a, 84, 0x9e01, false, echo(icmp_types::ECHO_REPLY)),
            base(a, b, 60, 0x8f21, true, syn),
            base(
                a,
                dns,
                68,
                0x3e1a,
                false,
                L4::Udp {
                    sport: 51322,
                    dport: 53,
                },
            ),
            base(
                dns,
                a,
                96,
                0x51f3,
                false,
                error(
                    3,
                    3,
                    Embedded {
                        src: a,
                        dst: dns,
                        protocol: proto::UDP,
                        sport: 51322,
                        dport: 53,
                        ttl: 64,
                        ip_id: 0x3e1a,
                        len: 68,
                        dont_fragment: false,
                        tcp_seq: 0,
                        icmp_type: 0,
                        icmp_code: 0,
                    },
                ),
            ),
            Packet {
                ttl: 255,
                ..base(
                    ip("10.0.2.1"),
                    a,
                    88,
                    0,
                    false,
                    error(
                        11,
                        0,
                        Embedded {
                            src: a,
                            dst: b,
                            protocol: proto::TCP,
                            sport: 43718,
                            dport: 443,
                            ttl: 1,
                            ip_id: 0x8f21,
                            len: 60,
                            dont_fragment: true,
                            tcp_seq: 0x9a3b5c71,
                            icmp_type: 0,
                            icmp_code: 0,
                        },
                    ),
                )
            },
            Packet {
                ttl: 1,
                ..base(a, ip("224.0.0.22"), 40, 0, true, L4::Other { protocol: 2 })
            },
            base(
                b,
                a,
                40,
                0,
                true,
                L4::Tcp {
                    sport: 443,
                    dport: 43718,
                    flags: TcpFlags(TcpFlags::RST | TcpFlags::ACK),
                    seq: 0,
                    ack: 0x9a3b5c72,
                },
            ),
            Packet {
                frag_offset: 185,
                more_fragments: true,
                ..base(a, b, 1500, 0x7711, false, empty_l4(proto::ICMP))
            },
        ];
        let datagrams = linux_datagrams();
        assert_eq!(datagrams.len(), expected.len());
        for (bytes, p) in datagrams.iter().zip(expected) {
            assert_eq!(decode(bytes), Ok(p), "{}", p.summary());
            verify_checksums(bytes);
        }
    }

    #[test]
    fn malformed_datagrams_are_errors_in_words() {
        let with = |text: &str, total: u16, edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = hex(text);
            bytes[2..4].copy_from_slice(&total.to_be_bytes());
            edit(&mut bytes);
            bytes
        };
        let keep = |_: &mut Vec<u8>| {};
        let syn = hex(CURL_SYN);
        let mut ipv6 = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
        ipv6.resize(48, 0);
        let cases: Vec<(Vec<u8>, DecodeError, &str)> = vec![
            (
                Vec::new(),
                DecodeError::Truncated {
                    what: "IPv4 header",
                    have: 0,
                    need: 20,
                },
                "truncated IPv4 header: 0 bytes, needs 20",
            ),
            (
                ipv6,
                DecodeError::Version {
                    version: 6,
                    quoted: false,
                },
                "IPv6 (version 6) is not simulated",
            ),
            (
                vec![0x15; 40],
                DecodeError::Version {
                    version: 1,
                    quoted: false,
                },
                "not IPv4: IP version 1",
            ),
            (
                syn[..19].to_vec(),
                DecodeError::Truncated {
                    what: "IPv4 header",
                    have: 19,
                    need: 20,
                },
                "truncated IPv4 header: 19 bytes, needs 20",
            ),
            (
                with(CURL_SYN, 60, &|b| b[0] = 0x44),
                DecodeError::HeaderLength {
                    words: 4,
                    quoted: false,
                },
                "IPv4 header length of 4 words (16 bytes) is below the minimum of 5 (20 bytes)",
            ),
            (
                hex(IGMP_REPORT)[..22].to_vec(),
                DecodeError::Truncated {
                    what: "IPv4 header",
                    have: 22,
                    need: 24,
                },
                "truncated IPv4 header: 22 bytes, needs 24",
            ),
            (
                syn[..59].to_vec(),
                DecodeError::TotalLength {
                    total: 60,
                    header: 20,
                    read: 59,
                },
                "IPv4 total length 60 is larger than the 59 bytes read",
            ),
            (
                with(CURL_SYN, 19, &keep),
                DecodeError::TotalLength {
                    total: 19,
                    header: 20,
                    read: 60,
                },
                "IPv4 total length 19 is smaller than its 20-byte header",
            ),
            (
                with(CURL_SYN, 32, &keep),
                DecodeError::Truncated {
                    what: "TCP header",
                    have: 12,
                    need: 20,
                },
                "truncated TCP header: 12 bytes, needs 20",
            ),
            (
                with(CURL_SYN, 52, &keep),
                DecodeError::Truncated {
                    what: "TCP header",
                    have: 32,
                    need: 40,
                },
                "truncated TCP header: 32 bytes, needs 40",
            ),
            (
                with(CURL_SYN, 60, &|b| b[32] = 0x40),
                DecodeError::TcpDataOffset { words: 4 },
                "TCP data offset of 4 words (16 bytes) is below the minimum of 5 (20 bytes)",
            ),
            (
                with(DNS_QUERY, 27, &keep),
                DecodeError::Truncated {
                    what: "UDP header",
                    have: 7,
                    need: 8,
                },
                "truncated UDP header: 7 bytes, needs 8",
            ),
            (
                with(PING, 24, &keep),
                DecodeError::Truncated {
                    what: "ICMP header",
                    have: 4,
                    need: 8,
                },
                "truncated ICMP header: 4 bytes, needs 8",
            ),
            (
                with(PORT_UNREACHABLE, 40, &keep),
                DecodeError::Truncated {
                    what: "quoted IPv4 header",
                    have: 12,
                    need: 20,
                },
                "truncated quoted IPv4 header: 12 bytes, needs 20",
            ),
            (
                with(PORT_UNREACHABLE, 50, &keep),
                DecodeError::Truncated {
                    what: "quoted transport header",
                    have: 2,
                    need: 4,
                },
                "truncated quoted transport header: 2 bytes, needs 4",
            ),
            (
                with(TIME_EXCEEDED, 54, &keep),
                DecodeError::Truncated {
                    what: "quoted transport header",
                    have: 6,
                    need: 8,
                },
                "truncated quoted transport header: 6 bytes, needs 8",
            ),
            (
                with(TIME_EXCEEDED, 88, &|b| b[28] = 0x60),
                DecodeError::Version {
                    version: 6,
                    quoted: true,
                },
                "the datagram an ICMP error quotes: IPv6 (version 6) is not simulated",
            ),
            (
                with(TIME_EXCEEDED, 88, &|b| b[28] = 0x42),
                DecodeError::HeaderLength {
                    words: 2,
                    quoted: true,
                },
                "the datagram an ICMP error quotes: IPv4 header length of 2 words (8 bytes) \
                 is below the minimum of 5 (20 bytes)",
            ),
        ];
        for (bytes, error, words) in cases {
            assert_eq!(decode(&bytes), Err(error.clone()), "{words}");
            assert_eq!(error.to_string(), words);
        }

        // A quoted ICMP message or later fragment needs no transport bytes at all (an ICMP
        // message's identifier and sequence number then read as 0).
        let a = ip("10.0.0.1");
        let b = ip("10.0.0.2");
        for original in [
            Packet::echo_request(a, b, 1, 1),
            Packet {
                frag_offset: 3,
                ..Packet::udp(a, 1, b, 2, 100)
            },
        ] {
            let error = Packet::icmp_error(b, &original, icmp_types::TIME_EXCEEDED, 0);
            let mut bytes = encode(&error);
            let quoted = &mut bytes[IP_HEADER + ICMP_HEADER..];
            quoted[6..8].copy_from_slice(&original.frag_offset.to_be_bytes());
            bytes.truncate(IP_HEADER + ICMP_HEADER + IP_HEADER);
            bytes[2..4].copy_from_slice(&48u16.to_be_bytes());
            let decoded = decode(&bytes).unwrap();
            let L4::Icmp {
                embedded: Some(e), ..
            } = decoded.l4
            else {
                panic!("an ICMP error: {decoded:?}");
            };
            assert_eq!((e.protocol, e.sport, e.dport), (original.protocol(), 0, 0));
        }
    }

    #[test]
    fn decode_never_panics() {
        let mut inputs = linux_datagrams();
        inputs.extend(simulated_kinds().iter().map(encode));
        for bytes in &inputs {
            let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
            for cut in 0..bytes.len() {
                let prefix = &bytes[..cut];
                assert_eq!(decode(prefix).is_ok(), cut >= total, "{cut} bytes");
                let mut copy = prefix.to_vec();
                if let Ok(p) = decode(prefix) {
                    assert_eq!(rewrite(&mut copy, &p), Ok(()));
                }
            }
        }

        // Random bytes, and real datagrams with random bytes changed; half the random ones
        // start as an IPv4 header of a known protocol so that decoding gets past it.
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let seen = simulated_kinds();
        let mut decoded = 0;
        for i in 0..4000 {
            let mut bytes: Vec<u8> = if i % 4 == 3 {
                let mut b = inputs[rng.random_range(0..inputs.len())].clone();
                for _ in 0..rng.random_range(1..4) {
                    let at = rng.random_range(0..b.len());
                    b[at] = rng.random();
                }
                b
            } else {
                let len = rng.random_range(0..120);
                (0..len).map(|_| rng.random()).collect()
            };
            if i % 2 == 0 && bytes.len() >= IP_HEADER {
                bytes[0] = 0x45 + rng.random_range(0..3);
                bytes[9] = [1, 6, 17, 47][rng.random_range(0..4)];
                let total = rng.random_range(0..=bytes.len()) as u16;
                bytes[2..4].copy_from_slice(&total.to_be_bytes());
                bytes[6] &= 0xe0; // Mostly first fragments.
                bytes[7] = 0;
            }
            let before = bytes.clone();
            match decode(&bytes) {
                Ok(p) => {
                    decoded += 1;
                    // Rewriting a datagram as it was read changes nothing but checksums.
                    assert_eq!(rewrite(&mut bytes, &p), Ok(()));
                    assert_eq!(decode(&bytes), Ok(p));
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    let other = seen[rng.random_range(0..seen.len())];
                    assert!(rewrite(&mut bytes, &other).is_err());
                    assert_eq!(bytes, before, "an error leaves the bytes as they were");
                }
            }
        }
        assert!(decoded > 500, "only {decoded} of 4000 decoded");
    }

    /// Checks every checksum in `bytes` with pnet: the IPv4 header's; TCP's, UDP's (unless 0)
    /// and ICMP's; an ICMP error's quoted header, and the quoted TCP or UDP checksum when the
    /// whole quoted datagram is there.
    fn verify_checksums(bytes: &[u8]) {
        let ip = Ipv4Packet::new(bytes).unwrap();
        assert_eq!(ip.get_checksum(), ipv4::checksum(&ip), "IPv4 header");
        let (src, dst) = (ip.get_source(), ip.get_destination());
        let header_len = usize::from(ip.get_header_length()) * 4;
        let body = &bytes[header_len..usize::from(ip.get_total_length())];
        if ip.get_fragment_offset() != 0 || ip.get_flags() & Ipv4Flags::MoreFragments != 0 {
            return;
        }
        match ip.get_next_level_protocol().0 {
            proto::TCP => {
                let tcp = TcpPacket::new(body).unwrap();
                assert_eq!(
                    tcp.get_checksum(),
                    tcp::ipv4_checksum(&tcp, &src, &dst),
                    "TCP"
                );
            }
            proto::UDP => {
                let udp = UdpPacket::new(body).unwrap();
                if udp.get_checksum() != 0 {
                    let sum = match udp::ipv4_checksum(&udp, &src, &dst) {
                        0 => 0xffff,
                        s => s,
                    };
                    assert_eq!(udp.get_checksum(), sum, "UDP");
                }
            }
            proto::ICMP => {
                let icmp = IcmpPacket::new(body).unwrap();
                assert_eq!(icmp.get_checksum(), icmp::checksum(&icmp), "ICMP");
                if is_icmp_error(icmp.get_icmp_type().0) {
                    let quote = &body[ICMP_HEADER..];
                    let inner = Ipv4Packet::new(quote).unwrap();
                    assert_eq!(inner.get_checksum(), ipv4::checksum(&inner), "quoted IPv4");
                    if usize::from(inner.get_total_length()) <= quote.len() {
                        verify_checksums(quote);
                    }
                }
            }
            _ => {}
        }
    }

    /// The bytes of `datagram` that [`rewrite`] must leave alone: those after every header
    /// it may change (after the IPv4 header only, for a later fragment or another protocol).
    fn payload(datagram: &[u8]) -> &[u8] {
        let p = decode(datagram).unwrap();
        let header_len = usize::from(datagram[0] & 0x0f) * 4;
        let body = &datagram[header_len..usize::from(p.len)];
        let skip = match p.l4 {
            _ if p.is_later_fragment() => 0,
            L4::Tcp { .. } => usize::from(body[12] >> 4) * 4,
            L4::Udp { .. } | L4::Icmp { embedded: None, .. } => 8,
            L4::Icmp { .. } => {
                let quoted_header = usize::from(body[ICMP_HEADER] & 0x0f) * 4;
                body.len().min(ICMP_HEADER + quoted_header + TCP_BARE)
            }
            L4::Other { .. } => 0,
        };
        &body[skip..]
    }

    /// Rewrites `datagram` to `seen`, then checks the result: it decodes to `seen`, every
    /// checksum verifies and the payload is the one read.
    fn rewrite_and_check(datagram: &[u8], seen: Packet) -> Vec<u8> {
        let mut bytes = datagram.to_vec();
        assert_eq!(rewrite(&mut bytes, &seen), Ok(()));
        assert_eq!(decode(&bytes), Ok(seen), "{}", seen.summary());
        verify_checksums(&bytes);
        assert_eq!(payload(&bytes), payload(datagram), "{}", seen.summary());
        assert_eq!(
            bytes[usize::from(seen.len)..],
            datagram[usize::from(seen.len)..]
        );
        bytes
    }

    /// `p` as NAT and the path may leave it: other addresses and TTL, other ports or echo
    /// identifier, other quoted addresses and ports.
    fn translated(p: Packet, rng: &mut ChaCha8Rng) -> Packet {
        let mut q = Packet {
            src: Ipv4Addr::from(rng.random::<u32>()),
            dst: Ipv4Addr::from(rng.random::<u32>()),
            ttl: rng.random(),
            ..p
        };
        if p.is_later_fragment() {
            return q;
        }
        match &mut q.l4 {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => {
                (*sport, *dport) = (rng.random(), rng.random());
            }
            L4::Icmp {
                icmp_type: 0 | 8,
                ident,
                ..
            } => *ident = rng.random(),
            L4::Icmp {
                embedded: Some(e), ..
            } => {
                e.src = Ipv4Addr::from(rng.random::<u32>());
                e.dst = Ipv4Addr::from(rng.random::<u32>());
                if matches!(e.protocol, proto::TCP | proto::UDP) {
                    (e.sport, e.dport) = (rng.random(), rng.random());
                }
            }
            _ => {}
        }
        q
    }

    #[test]
    fn rewrite_writes_what_nat_changed_and_fixes_checksums() {
        let nat = ip("203.0.113.5");
        let a = ip("10.0.1.5");

        // Outbound through a NAT gateway: a new source address and port (ICMP: identifier).
        let syn = hex(CURL_SYN);
        let seen = Packet {
            src: nat,
            ttl: 63,
            l4: L4::Tcp {
                sport: 1025,
                dport: 443,
                flags: TcpFlags(TcpFlags::SYN),
                seq: 0x9a3b5c71,
                ack: 0,
            },
            ..decode(&syn).unwrap()
        };
        let out = rewrite_and_check(&syn, seen);
        assert_eq!(&out[12..16], &nat.octets());
        assert_eq!(&out[20..24], &[0x04, 0x01, 0x01, 0xbb]);

        let ping = hex(PING);
        let seen = Packet {
            src: nat,
            ttl: 62,
            l4: L4::Icmp {
                icmp_type: 8,
                code: 0,
                ident: 40000,
                seq: 1,
                embedded: None,
            },
            ..decode(&ping).unwrap()
        };
        rewrite_and_check(&ping, seen);

        // Inbound: the reply back to the inside address and identifier.
        let reply = hex(PING_REPLY);
        let seen = Packet {
            dst: ip("10.9.9.9"),
            ..decode(&reply).unwrap()
        };
        rewrite_and_check(&reply, seen);

        // UDP: the checksum follows; a UDP checksum of 0 ("none") stays 0.
        let dns = hex(DNS_QUERY);
        let seen = Packet {
            src: nat,
            l4: L4::Udp {
                sport: 61000,
                dport: 53,
            },
            ..decode(&dns).unwrap()
        };
        rewrite_and_check(&dns, seen);
        let mut unsummed = dns.clone();
        unsummed[26..28].copy_from_slice(&[0, 0]);
        let out = rewrite_and_check(&unsummed, seen);
        assert_eq!(&out[26..28], &[0, 0]);

        // ICMP errors translated back: the quoted source and port go back to the inside
        // host's, with the quoted header's checksum and the quoted UDP or TCP checksum.
        for text in [PORT_UNREACHABLE, TIME_EXCEEDED] {
            let error = hex(text);
            let mut seen = decode(&error).unwrap();
            seen.dst = ip("10.9.9.9");
            seen.ttl = 60;
            if let L4::Icmp {
                embedded: Some(e), ..
            } = &mut seen.l4
            {
                (e.src, e.sport) = (ip("10.9.9.9"), 1234);
            }
            let out = rewrite_and_check(&error, seen);
            assert_eq!(&out[IP_HEADER + ICMP_HEADER + 12..][..4], &[10, 9, 9, 9]);
        }

        // Later fragments and other protocols: the IP header only, options kept.
        for bytes in [later_fragment(), hex(IGMP_REPORT), hex(RST_PADDED)] {
            let seen = Packet {
                src: nat,
                dst: a,
                ttl: 9,
                ..decode(&bytes).unwrap()
            };
            let out = rewrite_and_check(&bytes, seen);
            assert_eq!(out.len(), bytes.len());
        }
        let igmp = hex(IGMP_REPORT);
        let out = rewrite_and_check(&igmp, decode(&igmp).unwrap());
        assert_eq!(out, igmp, "nothing changed, nothing rewritten");

        // Every kind the simulator makes, every kind Linux sent, changed at random.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut datagrams = linux_datagrams();
        datagrams.extend(simulated_kinds().iter().map(encode));
        for _ in 0..300 {
            for bytes in &datagrams {
                let seen = translated(decode(bytes).unwrap(), &mut rng);
                rewrite_and_check(bytes, seen);
            }
        }
    }

    /// An error quoting an echo a NAT gateway numbered (RFC 5508 §3): back to the inside host,
    /// the quote's address and identifier are rewritten, and the quoted echo's own checksum
    /// stays right for its header (its payload is zeros).
    #[test]
    fn rewrite_translates_a_quoted_echo_identifier() {
        let mut echo = Packet::echo_request(ip("10.0.1.220"), ip("203.0.113.5"), 37933, 0);
        echo.len = 2000;
        echo.dont_fragment = true;
        let error = Packet::fragmentation_needed(ip("203.0.113.5"), &echo, 1500);
        let bytes = encode(&error);
        let quote = &bytes[IP_HEADER + ICMP_HEADER + IP_HEADER..][..8];
        assert_eq!((quote[0], &quote[4..6]), (8, &37933u16.to_be_bytes()[..]));
        assert_eq!(ones_sum(quote), 0xffff, "the quoted echo's checksum");
        let mut seen = error;
        seen.dst = ip("10.0.2.30");
        if let L4::Icmp {
            embedded: Some(e), ..
        } = &mut seen.l4
        {
            (e.src, e.sport) = (ip("10.0.2.30"), 22);
        }
        let out = rewrite_and_check(&bytes, seen);
        let quote = &out[IP_HEADER + ICMP_HEADER + IP_HEADER..][..8];
        assert_eq!(&quote[4..6], &22u16.to_be_bytes());
        assert_eq!(
            ones_sum(quote),
            0xffff,
            "the quoted echo's checksum, rewritten"
        );
    }

    #[test]
    fn rewrite_keeps_a_first_fragments_checksum_right_for_the_whole_datagram() {
        // A 3000-byte UDP datagram whose payload is not zeros, with its real checksum.
        let (a, b) = (ip("10.0.1.5"), ip("10.0.2.7"));
        let mut whole = encode(&Packet::udp(a, 5000, b, 53, 3000));
        for (i, byte) in whole[IP_HEADER + UDP_HEADER..].iter_mut().enumerate() {
            *byte = (i * 7) as u8;
        }
        let udp_sum = {
            let udp = UdpPacket::new(&whole[IP_HEADER..]).unwrap();
            udp::ipv4_checksum(&udp, &a, &b)
        };
        whole[26..28].copy_from_slice(&udp_sum.to_be_bytes());

        // Its first fragment, rewritten; then put back together with the rest.
        let mut first = whole[..1500].to_vec();
        first[2..4].copy_from_slice(&1500u16.to_be_bytes());
        first[6] |= 0x20;
        let seen = Packet {
            src: ip("203.0.113.5"),
            l4: L4::Udp {
                sport: 1025,
                dport: 53,
            },
            ..decode(&first).unwrap()
        };
        assert_eq!(rewrite(&mut first, &seen), Ok(()));
        let mut reassembled = first[IP_HEADER..].to_vec();
        reassembled.extend_from_slice(&whole[1500..]);
        let udp = UdpPacket::new(&reassembled).unwrap();
        assert_eq!(udp.get_source(), 1025);
        assert_eq!(udp.get_checksum(), udp::ipv4_checksum(&udp, &seen.src, &b));
    }

    #[test]
    fn rewrite_refuses_another_kind_of_packet() {
        let mut syn = hex(CURL_SYN);
        let udp = Packet::udp(ip("10.0.1.5"), 1, ip("10.0.2.7"), 2, 60);
        let error = rewrite(&mut syn, &udp).unwrap_err();
        assert_eq!(
            error,
            DecodeError::Mismatch {
                datagram: "TCP".into(),
                seen: "UDP".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "the packet seen is UDP but the datagram is TCP: not the same packet"
        );
        assert_eq!(syn, hex(CURL_SYN));

        let mut te = hex(TIME_EXCEEDED);
        let quoting_udp = Packet::icmp_error(ip("10.0.2.1"), &udp, 11, 0);
        assert_eq!(
            rewrite(&mut te, &quoting_udp).unwrap_err().to_string(),
            "the packet seen is an ICMP error quoting UDP but the datagram is an ICMP error \
             quoting TCP: not the same packet"
        );
        let mut fragment = later_fragment();
        let echo = Packet::echo_request(ip("10.0.1.5"), ip("10.0.2.7"), 1, 1);
        assert_eq!(
            rewrite(&mut fragment, &echo).unwrap_err().to_string(),
            "the packet seen is an ICMP query but the datagram is a later fragment of ICMP: \
             not the same packet"
        );
    }
}
