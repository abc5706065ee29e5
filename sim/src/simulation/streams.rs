//! Sequence numbers of TCP segments sent one by one (a script's `packet:` entries, a workload's
//! forged SYNs, hosts' answers to them), outside a planned session (`Session` numbers its own).
//!
//! A segment's connection is found by its sender and 5-tuple as that sender sees it. A SYN
//! without ACK opens a new connection; a segment of a connection not seen before joins one as
//! if its handshake had happened. Each side numbers its segments from an initial sequence
//! number drawn from the simulation's seed and the connection's number (RFC 6528 draws it from
//! a secret and the 4-tuple; nothing reads the simulation's random stream, so adding segments
//! renames nothing) and acknowledges everything the other side sent, so that a capture reads
//! as one clean stream instead of copies of segment 0 (which Wireshark calls retransmissions).
//! The server's side is learnt from the segment as delivered (after any NAT on the way).
//!
//! Bounded: a connection is forgotten after a RST, after the ACK that follows both FINs, and,
//! the oldest first, when more than [`LIMIT`] are open (a SYN flood opens one per SYN).

use std::collections::BTreeMap;

use crate::packet::{FiveTuple, L4, Packet, TcpFlags};
use crate::wire;
use crate::world::Endpoint;

/// Connections remembered at most.
const LIMIT: usize = 1 << 16;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Conn {
    /// The next sequence number of each side (0: the opener, 1: the other).
    next: [u32; 2],
    /// Whether each side has sent its FIN.
    fin: [bool; 2],
    /// The keys that find it: the opener's and, once a segment was delivered, the other's.
    keys: Vec<(Endpoint, FiveTuple)>,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Streams {
    secret: u64,
    /// Connections by number (numbers only grow: the smallest is the oldest).
    conns: BTreeMap<u64, Conn>,
    /// (sender, 5-tuple as it sends) → (connection, side).
    keys: BTreeMap<(Endpoint, FiveTuple), (u64, usize)>,
    opened: u64,
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Streams {
    pub(super) fn new(seed: u64) -> Streams {
        Streams {
            secret: mix(seed ^ 0x7463_702d_6973_6e73),
            ..Streams::default()
        }
    }

    /// Numbers `p`, a TCP segment `from` sends: its sequence number and, if it carries ACK, its
    /// acknowledgement number. Anything else is left as it is.
    pub(super) fn number(&mut self, from: Endpoint, p: &mut Packet) {
        let L4::Tcp { flags, .. } = p.l4 else {
            return;
        };
        if p.is_later_fragment() {
            return;
        }
        let key = (from, p.five_tuple());
        let found = self.keys.get(&key).copied();
        let (c, side) = match found {
            Some(found) if !flags.is_syn_only() => found,
            _ => {
                // A SYN starts a connection before its first byte; anything else joins one
                // past the handshake.
                let opening = flags.is_syn_only();
                (self.open(key, !opening), 0)
            }
        };
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        if let L4::Tcp { seq, ack, .. } = &mut p.l4 {
            *seq = conn.next[side];
            *ack = if flags.has(TcpFlags::ACK) {
                conn.next[1 - side]
            } else {
                0
            };
        }
        let syn_fin = u32::from(flags.has(TcpFlags::SYN)) + u32::from(flags.has(TcpFlags::FIN));
        let payload = wire::tcp_payload_len(p) as u32;
        conn.next[side] = conn.next[side].wrapping_add(payload + syn_fin);
        let was_closing = conn.fin == [true, true];
        conn.fin[side] |= flags.has(TcpFlags::FIN);
        if flags.has(TcpFlags::RST) || (was_closing && payload + syn_fin == 0) {
            self.forget(c);
        }
    }

    /// Notes the segment of `from` as `to` received it: `to`'s answers, sent to its source,
    /// belong to the same connection.
    pub(super) fn delivered(&mut self, from: Endpoint, sent: &Packet, to: Endpoint, seen: &Packet) {
        if !matches!(seen.l4, L4::Tcp { .. }) || sent.is_later_fragment() {
            return;
        }
        let Some(&(c, side)) = self.keys.get(&(from, sent.five_tuple())) else {
            return;
        };
        let key = (to, seen.five_tuple().reversed());
        if self.keys.get(&key) == Some(&(c, 1 - side)) {
            return;
        }
        if let Some((old, _)) = self.keys.insert(key, (c, 1 - side))
            && old != c
            && let Some(o) = self.conns.get_mut(&old)
        {
            o.keys.retain(|k| *k != key);
        }
        if let Some(conn) = self.conns.get_mut(&c) {
            conn.keys.push(key);
        }
    }

    /// A new connection opened by `key`'s sender; `established`: past the handshake.
    fn open(&mut self, key: (Endpoint, FiveTuple), established: bool) -> u64 {
        if let Some((old, _)) = self.keys.get(&key).copied() {
            self.forget(old);
        }
        if self.conns.len() >= LIMIT
            && let Some((&oldest, _)) = self.conns.iter().next()
        {
            self.forget(oldest);
        }
        self.opened += 1;
        let c = self.opened;
        let isn = mix(self.secret ^ c);
        let mut next = [isn as u32, (isn >> 32) as u32];
        if established {
            next = next.map(|n| n.wrapping_add(1));
        }
        self.conns.insert(
            c,
            Conn {
                next,
                fin: [false; 2],
                keys: vec![key],
            },
        );
        self.keys.insert(key, (c, 0));
        c
    }

    fn forget(&mut self, c: u64) {
        if let Some(conn) = self.conns.remove(&c) {
            for k in conn.keys {
                if self.keys.get(&k).is_some_and(|&(o, _)| o == c) {
                    self.keys.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::size;

    fn ip(s: &str) -> std::net::Ipv4Addr {
        s.parse().unwrap()
    }

    fn numbers(p: &Packet) -> (u32, u32) {
        match p.l4 {
            L4::Tcp { seq, ack, .. } => (seq, ack),
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_scripted_stream_numbers_like_a_connection() {
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let (ea, eb) = (Endpoint::Eni(0), Endpoint::Eni(1));
        let mut s = Streams::new(7);
        let mut syn = Packet::tcp(a, 40000, b, 80, TcpFlags::SYN, size::TCP_SYN);
        s.number(ea, &mut syn);
        s.delivered(ea, &syn, eb, &syn);
        let (isn, zero) = numbers(&syn);
        assert_eq!(zero, 0, "a SYN acknowledges nothing");
        let mut synack = Packet::tcp(
            b,
            80,
            a,
            40000,
            TcpFlags::SYN | TcpFlags::ACK,
            size::TCP_SYN,
        );
        s.number(eb, &mut synack);
        let (server_isn, ack) = numbers(&synack);
        assert_eq!(ack, isn.wrapping_add(1));
        let mut data = Packet::tcp(a, 40000, b, 80, TcpFlags::ACK, size::TCP_HEADER + 100);
        s.number(ea, &mut data);
        assert_eq!(
            numbers(&data),
            (isn.wrapping_add(1), server_isn.wrapping_add(1))
        );
        let mut more = data;
        s.number(ea, &mut more);
        assert_eq!(numbers(&more).0, isn.wrapping_add(101), "no retransmission");
        let mut reply = Packet::tcp(b, 80, a, 40000, TcpFlags::ACK, size::TCP_ACK);
        s.number(eb, &mut reply);
        assert_eq!(
            numbers(&reply),
            (server_isn.wrapping_add(1), isn.wrapping_add(201))
        );

        // A RST ends it; a new SYN opens another with another number.
        let mut rst = Packet::tcp(a, 40000, b, 80, TcpFlags::RST, size::TCP_RST);
        s.number(ea, &mut rst);
        assert!(s.conns.is_empty() && s.keys.is_empty());
        let mut again = syn;
        s.number(ea, &mut again);
        assert_ne!(numbers(&again).0, isn);
    }

    #[test]
    fn open_connections_are_bounded() {
        let mut s = Streams::new(1);
        for port in 0..=u16::MAX {
            let mut syn = Packet::tcp(ip("10.0.0.1"), port, ip("10.0.0.2"), 80, TcpFlags::SYN, 60);
            s.number(Endpoint::Eni(0), &mut syn);
        }
        let mut one = Packet::tcp(ip("10.0.0.9"), 1, ip("10.0.0.2"), 80, TcpFlags::SYN, 60);
        s.number(Endpoint::Eni(0), &mut one);
        assert_eq!((s.conns.len(), s.keys.len()), (LIMIT, LIMIT));
    }
}
