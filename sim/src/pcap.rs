//! Packet captures of what the simulator sees: pcapng, one interface per capture point, for
//! Wireshark and tshark ([`PcapWriter`]); classic pcap, one Ethernet link for every tool built
//! on libpcap ([`ClassicPcapWriter`]).
//!
//! Sans-io like the rest of the crate: [`PcapWriter`] appends blocks to an in-memory buffer
//! and the CLI decides where the bytes go.
//!
//! Every capture point (an ENI's egress, an ENI's ingress, a gateway, …) is its own pcapng
//! *interface*, named by the caller. The same packet seen at three points is three frames on
//! three interfaces, and Wireshark's "Interface" column (`frame.interface_name`) shows where
//! each copy was seen: a packet present on the sender's egress but missing from the
//! receiver's ingress was dropped in between.
//!
//! Format (pcapng, little-endian, one section):
//! - a Section Header Block whose `shb_userappl` is "vpclab";
//! - an Interface Description Block per capture point, written when the point is first
//!   used: link type RAW (bare IPv4, as [`crate::wire::encode`] produces), `if_name`,
//!   `if_description` and `if_tsresol` = 6, i.e. timestamps in microseconds, the unit of
//!   virtual [`Time`];
//! - an Enhanced Packet Block per packet, with an optional `opt_comment` (a verdict, a rule).

use std::collections::BTreeMap;

use crate::time::Time;

const SECTION_HEADER_BLOCK: u32 = 0x0A0D_0D0A;
const INTERFACE_DESCRIPTION_BLOCK: u32 = 0x0000_0001;
const ENHANCED_PACKET_BLOCK: u32 = 0x0000_0006;

/// Written in the writer's byte order; a reader that sees it swapped knows to swap.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// LINKTYPE_RAW: each packet is a bare IP datagram, with no link-layer header.
const LINKTYPE_RAW: u16 = 101;
/// No IPv4 datagram is longer, so nothing is ever cut short.
const SNAPLEN: u32 = 65_535;
/// `if_tsresol` value: 10^-6 s, the resolution of [`Time`].
const TSRESOL_MICROS: u8 = 6;

const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;

const USER_APPL: &str = "vpclab";

/// Builds one pcapng section in memory. See the module documentation.
#[derive(Clone, Debug)]
pub struct PcapWriter {
    bytes: Vec<u8>,
    /// Capture-point name to interface id. Ids count up in order of first use, so a run
    /// produces the same file every time.
    interfaces: BTreeMap<String, u32>,
    packets: u64,
}

impl PcapWriter {
    /// A capture holding only its Section Header Block.
    pub fn new() -> Self {
        let mut body = Vec::new();
        put_u32(&mut body, BYTE_ORDER_MAGIC);
        put_u16(&mut body, 1); // major version
        put_u16(&mut body, 0); // minor version
        // Section length: -1 means "not given", which lets us stream blocks without going
        // back to patch the header.
        body.extend_from_slice(&(-1i64).to_le_bytes());
        put_options(&mut body, &[(SHB_USERAPPL, USER_APPL.as_bytes())]);

        let mut writer = PcapWriter {
            bytes: Vec::new(),
            interfaces: BTreeMap::new(),
            packets: 0,
        };
        writer.push_block(SECTION_HEADER_BLOCK, &body);
        writer
    }

    /// The interface id of the capture point `name`, describing it on first use.
    ///
    /// The first call for a name writes its Interface Description Block; later calls return
    /// the same id and ignore `description`. Empty strings are left out of the block.
    pub fn interface(&mut self, name: &str, description: &str) -> u32 {
        if let Some(&id) = self.interfaces.get(name) {
            return id;
        }
        // Ids are u32 in pcapng; a map with 2^32 entries would not fit in memory first.
        let id = u32::try_from(self.interfaces.len()).unwrap_or(u32::MAX);

        let mut body = Vec::new();
        put_u16(&mut body, LINKTYPE_RAW);
        put_u16(&mut body, 0); // reserved
        put_u32(&mut body, SNAPLEN);
        let tsresol = [TSRESOL_MICROS];
        let options = [
            (IF_NAME, name.as_bytes()),
            (IF_DESCRIPTION, description.as_bytes()),
            (IF_TSRESOL, &tsresol[..]),
        ];
        put_options(&mut body, &options);
        self.push_block(INTERFACE_DESCRIPTION_BLOCK, &body);

        self.interfaces.insert(name.to_owned(), id);
        id
    }

    /// Records `bytes` (an IPv4 datagram) as seen at `interface` at virtual time `at`, with
    /// an optional comment Wireshark shows in the packet details (`frame.comment`).
    ///
    /// # Panics
    ///
    /// If `interface` was not returned by [`PcapWriter::interface`] on this writer: the
    /// frame would point at an interface the file does not describe.
    pub fn packet(&mut self, interface: u32, at: Time, bytes: &[u8], comment: Option<&str>) {
        assert!(
            usize::try_from(interface).is_ok_and(|i| i < self.interfaces.len()),
            "pcap interface {interface} was never described"
        );
        // Datagrams are at most 64 KiB; a longer slice is cut at the snap length, and the
        // original length still says how long it was.
        let captured = &bytes[..bytes.len().min(SNAPLEN as usize)];
        let micros = at.micros();

        let mut body = Vec::with_capacity(20 + captured.len() + 3);
        put_u32(&mut body, interface);
        put_u32(&mut body, (micros >> 32) as u32); // timestamp, high 32 bits
        put_u32(&mut body, micros as u32); // timestamp, low 32 bits
        put_u32(&mut body, captured.len() as u32);
        put_u32(&mut body, u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        put_padded(&mut body, captured);
        if let Some(comment) = comment {
            put_options(&mut body, &[(OPT_COMMENT, comment.as_bytes())]);
        }
        self.push_block(ENHANCED_PACKET_BLOCK, &body);
        self.packets += 1;
    }

    /// How many packets were recorded.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The capture so far: a complete pcapng file after every call.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The bytes written since the last call (the file's start the first time), leaving the
    /// writer empty: a long capture goes to its file as it grows instead of staying here.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }

    /// Frames `body` (already padded to 32 bits) as a block: type, total length, body, and
    /// the total length again so readers can walk the file backwards.
    fn push_block(&mut self, block_type: u32, body: &[u8]) {
        debug_assert_eq!(body.len() % 4, 0, "block bodies are padded to 32 bits");
        // Bodies hold at most a 64 KiB packet and one 64 KiB option: far below 4 GiB.
        let total = u32::try_from(body.len() + 12).unwrap_or(u32::MAX);
        put_u32(&mut self.bytes, block_type);
        put_u32(&mut self.bytes, total);
        self.bytes.extend_from_slice(body);
        put_u32(&mut self.bytes, total);
    }
}

impl Default for PcapWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// LINKTYPE_ETHERNET: each packet behind a 14-byte Ethernet header.
const LINKTYPE_ETHERNET: u32 = 1;
/// The classic pcap magic for microsecond timestamps, in the writer's byte order.
const CLASSIC_MAGIC: u32 = 0xA1B2_C3D4;
/// The first three bytes of every capture point's Ethernet address: locally administered
/// (0x02), then "vp".
const MAC_PREFIX: [u8; 3] = [0x02, 0x76, 0x70];

/// A classic pcap file (libpcap's format, one link type for the whole file) that tcpdump,
/// softflowd, argus and nfpcapd read in full, where the pcapng file of [`PcapWriter`] has one
/// interface per capture point, which libpcap refuses past the first.
///
/// The capture point goes into a field those tools ignore: every frame is Ethernet, and its
/// source address names the point: `02:76:70` then the point's number from 1, in order of
/// first use (`02:76:70:00:00:01` is the first). [`ClassicPcapWriter::legend`] lists them, for
/// the CLI to print; `tcpdump -e` shows them. The destination address is `02:76:70:00:00:00`.
#[derive(Clone, Debug)]
pub struct ClassicPcapWriter {
    bytes: Vec<u8>,
    /// Capture points in order of first use: (name, description).
    points: Vec<(String, String)>,
    by_name: BTreeMap<String, u32>,
    packets: u64,
}

impl ClassicPcapWriter {
    /// A file holding only its global header.
    pub fn new() -> Self {
        let mut bytes = Vec::new();
        put_u32(&mut bytes, CLASSIC_MAGIC);
        put_u16(&mut bytes, 2); // major version
        put_u16(&mut bytes, 4); // minor version
        put_u32(&mut bytes, 0); // thiszone: timestamps are UTC
        put_u32(&mut bytes, 0); // sigfigs
        put_u32(&mut bytes, SNAPLEN);
        put_u32(&mut bytes, LINKTYPE_ETHERNET);
        ClassicPcapWriter {
            bytes,
            points: Vec::new(),
            by_name: BTreeMap::new(),
            packets: 0,
        }
    }

    /// The number of the capture point `name`, given on first use.
    pub fn interface(&mut self, name: &str, description: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.points.len() as u32;
        self.points
            .push((name.to_string(), description.to_string()));
        self.by_name.insert(name.to_string(), id);
        id
    }

    /// The Ethernet source address of capture point `id`.
    pub fn mac(id: u32) -> String {
        let n = id + 1;
        format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            MAC_PREFIX[0],
            MAC_PREFIX[1],
            MAC_PREFIX[2],
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8
        )
    }

    /// Appends one IPv4 datagram seen at capture point `interface` (from
    /// [`ClassicPcapWriter::interface`]) at `at`, behind an Ethernet header naming the point.
    pub fn packet(&mut self, interface: u32, at: Time, datagram: &[u8]) {
        let datagram = &datagram[..datagram.len().min(SNAPLEN as usize - 14)];
        let n = interface + 1;
        let mut frame = Vec::with_capacity(14 + datagram.len());
        frame.extend_from_slice(&MAC_PREFIX);
        frame.extend_from_slice(&[0, 0, 0]);
        frame.extend_from_slice(&MAC_PREFIX);
        frame.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        frame.extend_from_slice(&0x0800u16.to_be_bytes());
        frame.extend_from_slice(datagram);
        let us = at.micros();
        put_u32(&mut self.bytes, (us / 1_000_000) as u32);
        put_u32(&mut self.bytes, (us % 1_000_000) as u32);
        put_u32(&mut self.bytes, frame.len() as u32);
        put_u32(&mut self.bytes, frame.len() as u32);
        self.bytes.extend_from_slice(&frame);
        self.packets += 1;
    }

    /// Each capture point's Ethernet source address, name and description, in order.
    pub fn legend(&self) -> impl Iterator<Item = (String, &str, &str)> {
        self.points
            .iter()
            .enumerate()
            .map(|(i, (name, desc))| (Self::mac(i as u32), name.as_str(), desc.as_str()))
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The bytes written since the last call (the file's start the first time), leaving the
    /// writer empty: a long capture goes to its file as it grows instead of staying here.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

impl Default for ClassicPcapWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends `data` and zeros up to the next multiple of 4 bytes.
fn put_padded(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    out.resize(out.len() + padding(data.len()), 0);
}

fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Appends an options list: each non-empty option as code, length, padded value, then
/// `opt_endofopt`. With nothing to write, the list (which is optional) is left out.
fn put_options(out: &mut Vec<u8>, options: &[(u16, &[u8])]) {
    let mut wrote_any = false;
    for &(code, value) in options {
        if value.is_empty() {
            continue;
        }
        let value = clip(value);
        put_u16(out, code);
        put_u16(out, value.len() as u16);
        put_padded(out, value);
        wrote_any = true;
    }
    if wrote_any {
        put_u16(out, OPT_ENDOFOPT);
        put_u16(out, 0);
    }
}

/// An option's length is a u16: longer values are cut, at a UTF-8 character boundary since
/// every option written here is text (`if_tsresol` is one byte). Never cuts short values.
fn clip(value: &[u8]) -> &[u8] {
    const MAX: usize = u16::MAX as usize;
    if value.len() <= MAX {
        return value;
    }
    // Step back over continuation bytes (10xxxxxx) so the cut falls before a character.
    let mut end = MAX;
    while end > 0 && value[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block as read back: its type and body, after checking its framing.
    struct Block<'a> {
        block_type: u32,
        body: &'a [u8],
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// Splits a capture into blocks, checking every length: multiple of 4, at least 12, and
    /// equal at both ends.
    fn blocks(bytes: &[u8]) -> Vec<Block<'_>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let len = u32_at(bytes, at + 4) as usize;
            assert_eq!(
                len % 4,
                0,
                "block at {at}: length {len} is not a multiple of 4"
            );
            assert!(
                len >= 12 && at + len <= bytes.len(),
                "block at {at}: bad length {len}"
            );
            assert_eq!(
                u32_at(bytes, at + len - 4),
                len as u32,
                "block at {at}: trailing length"
            );
            out.push(Block {
                block_type: u32_at(bytes, at),
                body: &bytes[at + 8..at + len - 4],
            });
            at += len;
        }
        assert_eq!(at, bytes.len());
        out
    }

    /// Reads an options list, checking padding and the closing `opt_endofopt`.
    fn options(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        if b.is_empty() {
            return out;
        }
        loop {
            let (code, len) = (u16_at(b, 0), usize::from(u16_at(b, 2)));
            if code == OPT_ENDOFOPT {
                assert_eq!(len, 0);
                assert_eq!(b.len(), 4, "nothing after opt_endofopt");
                return out;
            }
            out.push((code, b[4..4 + len].to_vec()));
            let padded = 4 + len + padding(len);
            assert!(
                b[4 + len..padded].iter().all(|&x| x == 0),
                "padding is zeros"
            );
            b = &b[padded..];
        }
    }

    fn option(opts: &[(u16, Vec<u8>)], code: u16) -> Option<&[u8]> {
        opts.iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    #[test]
    fn classic_frames_name_their_capture_point_in_the_source_address() {
        let mut w = ClassicPcapWriter::new();
        let a = w.interface("eni-a/egress", "a out");
        let b = w.interface("eni-b/ingress", "b in");
        assert_eq!(w.interface("eni-a/egress", "again"), a);
        w.packet(b, Time(1_700_000_000_250_000), &[0x45, 0, 0, 20]);
        let bytes = w.into_bytes();
        assert_eq!(&bytes[..4], &0xA1B2_C3D4u32.to_le_bytes());
        assert_eq!(u32_at(&bytes, 20), 1, "Ethernet");
        let rec = &bytes[24..];
        assert_eq!((u32_at(rec, 0), u32_at(rec, 4)), (1_700_000_000, 250_000));
        assert_eq!((u32_at(rec, 8), u32_at(rec, 12)), (18, 18));
        assert_eq!(
            &rec[16..28],
            &[2, 0x76, 0x70, 0, 0, 0, 2, 0x76, 0x70, 0, 0, 2]
        );
        assert_eq!(&rec[28..30], &[8, 0]);
        assert_eq!(ClassicPcapWriter::mac(b), "02:76:70:00:00:02");
    }

    #[test]
    fn bytes_taken_as_they_come_make_the_same_file() {
        // Live mode writes a capture as it grows: the pieces, in order, are the whole file.
        let fill = |w: &mut PcapWriter, c: &mut ClassicPcapWriter, n: u64| {
            let i = w.interface("eni-1/ingress", "instance ingress");
            let k = c.interface("eni-1/ingress", "instance ingress");
            w.packet(i, Time::from_secs(n), &[0x45; 28], Some("packet"));
            c.packet(k, Time::from_secs(n), &[0x45; 28]);
        };
        let (mut whole, mut whole_classic) = (PcapWriter::new(), ClassicPcapWriter::new());
        let (mut parts, mut parts_classic) = (PcapWriter::new(), ClassicPcapWriter::new());
        let (mut streamed, mut streamed_classic) = (Vec::new(), Vec::new());
        for n in 0..3 {
            fill(&mut whole, &mut whole_classic, n);
            fill(&mut parts, &mut parts_classic, n);
            streamed.extend(parts.take_bytes());
            streamed_classic.extend(parts_classic.take_bytes());
        }
        assert_eq!(parts.packets(), 3);
        assert!(parts.take_bytes().is_empty());
        assert_eq!(streamed, whole.into_bytes());
        assert_eq!(streamed_classic, whole_classic.into_bytes());
    }

    #[test]
    fn section_header() {
        let w = PcapWriter::new();
        let blocks = blocks(w.as_bytes());
        assert_eq!(blocks.len(), 1);
        let shb = &blocks[0];
        assert_eq!(shb.block_type, SECTION_HEADER_BLOCK);
        assert_eq!(u32_at(shb.body, 0), BYTE_ORDER_MAGIC);
        assert_eq!((u16_at(shb.body, 4), u16_at(shb.body, 6)), (1, 0));
        assert_eq!(&shb.body[8..16], &[0xff; 8], "section length -1");
        let opts = options(&shb.body[16..]);
        assert_eq!(option(&opts, SHB_USERAPPL), Some(&b"vpclab"[..]));
        assert_eq!(w.packets(), 0);
    }

    #[test]
    fn interfaces_are_described_once_in_order_of_first_use() {
        let mut w = PcapWriter::default();
        assert_eq!(w.interface("eni-a/egress", "ENI a, leaving"), 0);
        assert_eq!(w.interface("eni-b/ingress", ""), 1);
        assert_eq!(w.interface("eni-a/egress", "ignored"), 0);
        assert_eq!(w.interface("eni-0", "sorts before the others"), 2);

        let idbs: Vec<_> = blocks(w.as_bytes())
            .into_iter()
            .filter(|b| b.block_type == INTERFACE_DESCRIPTION_BLOCK)
            .collect();
        assert_eq!(idbs.len(), 3);
        let names: Vec<_> = idbs
            .iter()
            .map(|idb| {
                assert_eq!(u16_at(idb.body, 0), LINKTYPE_RAW);
                assert_eq!(u32_at(idb.body, 4), SNAPLEN);
                let opts = options(&idb.body[8..]);
                assert_eq!(option(&opts, IF_TSRESOL), Some(&[TSRESOL_MICROS][..]));
                (
                    option(&opts, IF_NAME).unwrap().to_vec(),
                    option(&opts, IF_DESCRIPTION).map(<[u8]>::to_vec),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                (b"eni-a/egress".to_vec(), Some(b"ENI a, leaving".to_vec())),
                (b"eni-b/ingress".to_vec(), None),
                (b"eni-0".to_vec(), Some(b"sorts before the others".to_vec())),
            ]
        );
    }

    #[test]
    fn enhanced_packet_blocks() {
        let mut w = PcapWriter::new();
        let eth = w.interface("eni-a/egress", "");
        let at = Time::from_micros(1_700_000_000_123_456); // above 2^32 µs: both halves used
        let datagram: Vec<u8> = (0..57).collect(); // 57 bytes: 3 bytes of padding
        w.packet(eth, at, &datagram, Some("ACCEPT by sg-1"));
        w.packet(eth, at, &datagram[..4], None);
        assert_eq!(w.packets(), 2);

        let bytes = w.into_bytes();
        let epbs: Vec<_> = blocks(&bytes)
            .into_iter()
            .filter(|b| b.block_type == ENHANCED_PACKET_BLOCK)
            .collect();
        assert_eq!(epbs.len(), 2);

        let epb = epbs[0].body;
        assert_eq!(u32_at(epb, 0), eth);
        let ts = (u64::from(u32_at(epb, 4)) << 32) | u64::from(u32_at(epb, 8));
        assert_eq!(ts, at.micros());
        assert_eq!((u32_at(epb, 12), u32_at(epb, 16)), (57, 57));
        assert_eq!(&epb[20..77], &datagram[..]);
        assert_eq!(&epb[77..80], &[0, 0, 0], "padding");
        let opts = options(&epb[80..]);
        assert_eq!(opts, [(OPT_COMMENT, b"ACCEPT by sg-1".to_vec())]);

        let epb = epbs[1].body;
        assert_eq!((u32_at(epb, 12), u32_at(epb, 16)), (4, 4));
        assert_eq!(epb.len(), 24, "no padding and no options");
    }

    #[test]
    fn every_length_and_comment_is_framed() {
        let mut w = PcapWriter::new();
        let id = w.interface("x", "y");
        for len in 0..=9 {
            let data = vec![0xab; len];
            let comment = "é".repeat(len); // odd byte lengths too
            w.packet(id, Time::from_secs(len as u64), &data, Some(&comment));
        }
        let epbs: Vec<_> = blocks(w.as_bytes())
            .into_iter()
            .filter(|b| b.block_type == ENHANCED_PACKET_BLOCK)
            .collect();
        assert_eq!(epbs.len(), 10);
        for (len, epb) in epbs.iter().enumerate() {
            assert_eq!(u32_at(epb.body, 12) as usize, len);
            let opts = options(&epb.body[20 + len + padding(len)..]);
            let comment = "é".repeat(len);
            assert_eq!(
                option(&opts, OPT_COMMENT),
                (len > 0).then_some(comment.as_bytes())
            );
        }
    }

    #[test]
    fn oversized_input_is_cut_not_corrupted() {
        let mut w = PcapWriter::new();
        let long_name = "é".repeat(40_000); // 80 000 bytes: over an option's u16 length
        let id = w.interface(&long_name, "");
        w.packet(id, Time(0), &vec![1; 70_000], None);
        let blocks = blocks(w.as_bytes());
        let opts = options(&blocks[1].body[8..]);
        let name = option(&opts, IF_NAME).unwrap();
        assert!(std::str::from_utf8(name).is_ok() && name.len() == 65_534);
        let epb = blocks[2].body;
        assert_eq!((u32_at(epb, 12), u32_at(epb, 16)), (SNAPLEN, 70_000));
    }

    #[test]
    #[should_panic(expected = "never described")]
    fn unknown_interface_is_a_bug() {
        PcapWriter::new().packet(0, Time(0), &[], None);
    }

    #[test]
    fn carries_wire_datagrams() {
        use crate::packet::{Packet, TcpFlags};
        use crate::wire::encode;
        let (a, b) = ("10.0.1.5".parse().unwrap(), "10.0.2.7".parse().unwrap());
        let mut w = PcapWriter::new();
        let out = w.interface("eni-a/egress", "10.0.1.5 sending");
        let inn = w.interface("eni-b/ingress", "10.0.2.7 receiving");
        let syn = encode(&Packet::tcp(a, 49152, b, 443, TcpFlags::SYN, 60));
        w.packet(out, Time::from_secs(1), &syn, None);
        w.packet(
            inn,
            Time::from_secs(1) + crate::time::Span::from_micros(250),
            &syn,
            Some("ACCEPT"),
        );
        let epbs: Vec<_> = blocks(w.as_bytes())
            .into_iter()
            .filter(|b| b.block_type == ENHANCED_PACKET_BLOCK)
            .collect();
        assert_eq!(epbs.len(), 2);
        assert!(epbs.iter().all(|e| &e.body[20..80] == syn.as_slice()));
        assert_eq!(u32_at(epbs[1].body, 8) - u32_at(epbs[0].body, 8), 250);
    }
}
