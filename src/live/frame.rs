//! Ethernet and ARP on a live namespace's TAP device: what a cloud's virtual switch does at
//! layer 2, so a real stack can send IPv4 through the simulator.
//!
//! A VPC has no real layer 2: the virtual switch answers every ARP request itself, with one
//! MAC address that stands for the cloud ([`CLOUD_MAC`]), and forwards by IP address. So does
//! live mode: every ARP request for an address other than the asker's own is answered, IPv4
//! frames give their datagram to the simulator, and everything else (IPv6, LLDP, …) is not
//! simulated and goes nowhere.

use pnet_base::MacAddr;
use pnet_packet::MutablePacket;
use pnet_packet::Packet as _;
use pnet_packet::arp::{ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};

/// The MAC address every ARP answer gives and every frame to a namespace comes from: locally
/// administered, unicast.
pub const CLOUD_MAC: MacAddr = MacAddr(0xee, 0xff, 0xff, 0xff, 0xff, 0xff);

const ETHERNET_HEADER: usize = 14;
const ARP_LEN: usize = 28;

/// What a frame read from a namespace's device is.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An IPv4 datagram (the frame's payload, Ethernet padding included).
    Ipv4(&'a [u8]),
    /// An ARP request to answer, and the answer to write back.
    Arp(Vec<u8>),
    /// Anything else: its EtherType, or None for a frame too short to have one.
    Other(Option<u16>),
}

/// Reads one frame the namespace sent.
pub fn classify(frame: &[u8]) -> Frame<'_> {
    let Some(eth) = EthernetPacket::new(frame) else {
        return Frame::Other(None);
    };
    match eth.get_ethertype() {
        EtherTypes::Ipv4 => Frame::Ipv4(&frame[ETHERNET_HEADER..]),
        EtherTypes::Arp => match arp_reply(&eth) {
            Some(reply) => Frame::Arp(reply),
            None => Frame::Other(Some(EtherTypes::Arp.0)),
        },
        other => Frame::Other(Some(other.0)),
    }
}

/// The answer to an ARP request for any address but the asker's own (a gratuitous
/// announcement or a duplicate-address probe asks for its own, and nobody else has it).
fn arp_reply(eth: &EthernetPacket<'_>) -> Option<Vec<u8>> {
    let arp = ArpPacket::new(eth.payload())?;
    if arp.get_operation() != ArpOperations::Request
        || arp.get_target_proto_addr() == arp.get_sender_proto_addr()
        || arp.get_sender_proto_addr().is_unspecified()
    {
        return None;
    }
    let mut reply = vec![0u8; ETHERNET_HEADER + ARP_LEN];
    let mut out = MutableEthernetPacket::new(&mut reply)?;
    out.set_destination(arp.get_sender_hw_addr());
    out.set_source(CLOUD_MAC);
    out.set_ethertype(EtherTypes::Arp);
    let mut a = MutableArpPacket::new(out.payload_mut())?;
    a.set_hardware_type(arp.get_hardware_type());
    a.set_protocol_type(arp.get_protocol_type());
    a.set_hw_addr_len(6);
    a.set_proto_addr_len(4);
    a.set_operation(ArpOperations::Reply);
    a.set_sender_hw_addr(CLOUD_MAC);
    a.set_sender_proto_addr(arp.get_target_proto_addr());
    a.set_target_hw_addr(arp.get_sender_hw_addr());
    a.set_target_proto_addr(arp.get_sender_proto_addr());
    Some(reply)
}

/// `datagram` in an Ethernet frame from the cloud to the namespace's device `to`.
pub fn ethernet(to: MacAddr, datagram: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; ETHERNET_HEADER + datagram.len()];
    frame[0..6].copy_from_slice(&mac_bytes(to));
    frame[6..12].copy_from_slice(&mac_bytes(CLOUD_MAC));
    frame[12..14].copy_from_slice(&EtherTypes::Ipv4.0.to_be_bytes());
    frame[ETHERNET_HEADER..].copy_from_slice(datagram);
    frame
}

fn mac_bytes(m: MacAddr) -> [u8; 6] {
    [m.0, m.1, m.2, m.3, m.4, m.5]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ARP request as Linux sends it: who has 172.31.16.1? tell 172.31.16.139.
    fn request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend([0x02, 0x76, 0x70, 0, 0, 1]); // source MAC
        f.extend([0x08, 0x06]); // ARP
        f.extend([0, 1, 0x08, 0, 6, 4, 0, 1]); // Ethernet, IPv4, 6, 4, request
        f.extend([0x02, 0x76, 0x70, 0, 0, 1]);
        f.extend(sender);
        f.extend([0; 6]);
        f.extend(target);
        f
    }

    #[test]
    fn arp_requests_are_answered_with_the_cloud_mac() {
        let Frame::Arp(reply) = classify(&request([172, 31, 16, 139], [172, 31, 16, 1])) else {
            panic!("not answered");
        };
        let mut want = vec![0x02, 0x76, 0x70, 0, 0, 1];
        want.extend([0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0x08, 0x06]);
        want.extend([0, 1, 0x08, 0, 6, 4, 0, 2]); // reply
        want.extend([0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 172, 31, 16, 1]);
        want.extend([0x02, 0x76, 0x70, 0, 0, 1, 172, 31, 16, 139]);
        assert_eq!(reply, want);
    }

    #[test]
    fn own_address_probes_and_announcements_are_not_answered() {
        let gratuitous = request([172, 31, 16, 139], [172, 31, 16, 139]);
        assert_eq!(classify(&gratuitous), Frame::Other(Some(0x0806)));
        let probe = request([0, 0, 0, 0], [172, 31, 16, 139]);
        assert_eq!(classify(&probe), Frame::Other(Some(0x0806)));
    }

    #[test]
    fn ipv4_frames_give_their_datagram_and_others_their_type() {
        let datagram = [
            0x45u8, 0, 0, 20, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let frame = ethernet(MacAddr(2, 0x76, 0x70, 0, 0, 1), &datagram);
        assert_eq!(&frame[0..6], &[2, 0x76, 0x70, 0, 0, 1]);
        assert_eq!(&frame[6..12], &[0xee, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(classify(&frame), Frame::Ipv4(&datagram[..]));
        let mut ipv6 = frame.clone();
        ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(classify(&ipv6), Frame::Other(Some(0x86dd)));
        assert_eq!(classify(&frame[..10]), Frame::Other(None));
        // A truncated ARP request is not answered (and nothing panics).
        assert_eq!(
            classify(&request([10, 0, 0, 1], [10, 0, 0, 2])[..30]),
            Frame::Other(Some(0x0806))
        );
    }
}
