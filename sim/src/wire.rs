//! Packets on the wire: turns a typed [`Packet`] into the IPv4 datagram it stands for, with
//! pnet, so that captures (`pcap`) open in Wireshark as real traffic.
//!
//! [`encode`] writes an IPv4 header (no options) and, unless the packet is a later fragment,
//! the TCP, UDP or ICMP header; the rest is zero bytes. Every checksum is real: the IPv4
//! header's, TCP's and UDP's (over the pseudo-header), ICMP's, and that of the IPv4 header
//! quoted inside an ICMP error.
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
//! - no link layer: no Ethernet, no MACs (captures use LINKTYPE_RAW, bare IPv4);
//! - no IPv6, no IPv4 options;
//! - no real payload: the bytes after the headers are zeros. Zeros rather than a pattern
//!   because Wireshark dissects payloads by port, and zeros read as an empty but well-formed
//!   message (a DNS query with no questions on port 53) where a pattern is "Malformed";
//! - no fragmentation or reassembly: it encodes the fragment the packet describes. A later
//!   fragment (`frag_offset != 0`) carries only payload bytes, and the L4 header and
//!   checksum of a first fragment cover only that fragment, since the rest of the datagram
//!   is not known.

use std::net::Ipv4Addr;

use pnet_packet::icmp::{self, MutableIcmpPacket};
use pnet_packet::ip::IpNextHeaderProtocol;
use pnet_packet::ipv4::{self, Ipv4Flags, MutableIpv4Packet};
use pnet_packet::tcp::{self, MutableTcpPacket, TcpOption};
use pnet_packet::udp::{self, MutableUdpPacket};

use crate::packet::{Embedded, L4, Packet, TcpFlags, proto, size};

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
    match embedded {
        // Error: the rest of the header is unused (zero), and the data quotes the datagram
        // the error is about.
        Some(e) => write_quote(data, e),
        // Echo and other queries: identifier and sequence number, then the payload.
        None => {
            header[4..6].copy_from_slice(&ident.to_be_bytes());
            header[6..8].copy_from_slice(&seq.to_be_bytes());
        }
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
    // number; for UDP they are length and checksum (0 = none).
    transport[0..2].copy_from_slice(&e.sport.to_be_bytes());
    transport[2..4].copy_from_slice(&e.dport.to_be_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::icmp as icmp_types;
    use pnet_packet::Packet as _;
    use pnet_packet::icmp::IcmpPacket;
    use pnet_packet::ipv4::Ipv4Packet;
    use pnet_packet::tcp::{TcpOptionNumbers, TcpPacket};
    use pnet_packet::udp::UdpPacket;

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
                match embedded {
                    None => {
                        assert_eq!(u16::from_be_bytes([body[4], body[5]]), ident);
                        assert_eq!(u16::from_be_bytes([body[6], body[7]]), seq);
                    }
                    Some(e) => {
                        assert_eq!(&body[4..8], &[0; 4], "unused field");
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
}
