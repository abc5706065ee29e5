//! Hosts behave like hosts (issue 2 §5): echo requests get echo replies, a SYN to a listening
//! port gets SYN-ACK and to a closed port RST, a UDP request to a listening port gets its
//! response and to a closed port ICMP port-unreachable. A scenario can silence a host
//! (`auto_reply: false`) to script every packet itself.

use std::collections::BTreeSet;

use crate::packet::{L4, Packet, TcpFlags, icmp, size};

/// What a host listens on and whether it answers on its own.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Host {
    pub tcp: BTreeSet<u16>,
    pub udp: BTreeSet<u16>,
    pub auto_reply: bool,
    /// Size of UDP responses (policy.md §0.1: a DNS response is 120 bytes).
    pub udp_response_len: u16,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            tcp: BTreeSet::new(),
            udp: BTreeSet::new(),
            auto_reply: true,
            udp_response_len: size::UDP_RESPONSE,
        }
    }
}

impl Host {
    pub fn listens_tcp(&self, port: u16) -> bool {
        self.tcp.contains(&port)
    }

    /// The packet this host sends back on receiving `p`, if any.
    pub fn respond(&self, p: &Packet) -> Option<Packet> {
        if !self.auto_reply || p.is_later_fragment() {
            return None;
        }
        match p.l4 {
            L4::Icmp {
                icmp_type: icmp::ECHO_REQUEST,
                ..
            } => p.echo_reply(),
            L4::Tcp {
                sport,
                dport,
                flags,
                seq,
                ..
            } => {
                if flags.has(TcpFlags::RST) {
                    return None;
                }
                let listening = self.tcp.contains(&dport);
                let (reply_flags, len) = if flags.is_syn_only() && listening {
                    (TcpFlags::SYN | TcpFlags::ACK, size::TCP_SYN)
                } else if !listening {
                    (TcpFlags::RST | TcpFlags::ACK, size::TCP_RST)
                } else {
                    return None;
                };
                let mut r = Packet::tcp(p.dst, dport, p.src, sport, reply_flags, len);
                if let L4::Tcp { ack, .. } = &mut r.l4 {
                    *ack = seq.wrapping_add(1);
                }
                Some(r)
            }
            L4::Udp { sport, dport } => Some(if self.udp.contains(&dport) {
                Packet::udp(p.dst, dport, p.src, sport, self.udp_response_len)
            } else {
                Packet::icmp_error(p.dst, p, icmp::DEST_UNREACHABLE, icmp::PORT_UNREACHABLE)
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> std::net::Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn answers_like_a_host() {
        let h = Host {
            tcp: [22].into(),
            udp: [53].into(),
            ..Host::default()
        };
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let synack = h
            .respond(&Packet::tcp(a, 33000, b, 22, TcpFlags::SYN, 60))
            .unwrap();
        assert_eq!(
            (synack.tcp_flags().0, synack.len, synack.dst),
            (TcpFlags::SYN | TcpFlags::ACK, 60, a)
        );
        let rst = h
            .respond(&Packet::tcp(a, 33000, b, 3389, TcpFlags::SYN, 60))
            .unwrap();
        assert_eq!(
            (rst.tcp_flags().0, rst.len),
            (TcpFlags::RST | TcpFlags::ACK, 40)
        );
        let dns = h.respond(&Packet::udp(a, 40000, b, 53, 60)).unwrap();
        assert_eq!((dns.ports(), dns.len), ((53, 40000), 120));
        let unreach = h.respond(&Packet::udp(a, 40000, b, 54, 60)).unwrap();
        assert!(matches!(
            unreach.l4,
            L4::Icmp {
                icmp_type: 3,
                code: 3,
                embedded: Some(_),
                ..
            }
        ));
        assert_eq!(unreach.len, 56);
        let silent = Host {
            auto_reply: false,
            ..h
        };
        assert!(silent.respond(&Packet::echo_request(a, b, 1, 1)).is_none());
    }
}
