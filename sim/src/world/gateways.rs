//! NAT gateways as resources: created in a subnet with a requester-managed interface (and,
//! for a public gateway, an elastic IP on it, which needs the VPC's internet gateway),
//! deleted once no route targets them. The per-packet side is `World::through_nat` and
//! `World::back_through_nat`; the translation table is `crate::nat`.

use std::net::Ipv4Addr;

use super::model::ip_key;
use super::*;
use crate::host::Host;
use crate::nat;
use crate::packet::{L4, Packet, TcpFlags, icmp, size};
use crate::profile::OrphanRoutes;
use crate::time::Time;

/// What a new NAT gateway needs.
#[derive(Clone, Debug, Default)]
pub struct NatGatewaySpec {
    pub name: String,
    pub id: Option<String>,
    /// The (public) subnet its interface sits in.
    pub subnet: u32,
    /// Its elastic IP: traffic to the internet leaves with it. `None`: a private NAT gateway.
    pub eip: Option<Ipv4Addr>,
    /// Its interface's private address (first free one if `None`) and id.
    pub ip: Option<Ipv4Addr>,
    pub eni_id: Option<String>,
}

impl World {
    pub fn create_nat_gateway(
        &mut self,
        now: Time,
        spec: NatGatewaySpec,
    ) -> Result<u32, ModelError> {
        check_name(&spec.name)?;
        let vpc = self.subnet(spec.subnet)?.vpc;
        if live(&self.nats).any(|(_, n)| n.vpc == vpc && n.name == spec.name) {
            return Err(ModelError::exists(
                "name",
                format!(
                    "a NAT gateway named `{}` already exists in this VPC",
                    spec.name
                ),
            ));
        }
        self.check_id(Kind::NatGateway, spec.id.as_deref())?;
        let n = self.nats.len() as u32;
        let eni = self
            .create_eni(
                now,
                EniSpec {
                    name: format!("{}.nat-gateway", spec.name),
                    id: spec.eni_id,
                    subnet: spec.subnet,
                    ip: spec.ip,
                    eip: spec.eip,
                    requester_managed: true,
                    host: Host {
                        auto_reply: false,
                        ..Host::default()
                    },
                    ..EniSpec::default()
                },
            )
            .map_err(|e| match e.field.as_str() {
                "name" | "id" => e.within("eni"),
                _ => e,
            })?;
        let id = self.new_id(Kind::NatGateway, n, spec.id, "nat");
        let table = nat::Table::new(nat::port_seed(self.seed, &id));
        self.nats.push(NatGateway {
            id,
            name: spec.name,
            vpc,
            subnet: spec.subnet,
            eni,
            deleted: false,
            table,
        });
        Ok(n)
    }

    /// Deletes a NAT gateway and its interface; refused while flow logs capture its
    /// interface. Routes to it are what the profile says (`nat_deleted_routes`): on aws they
    /// stay, as blackholes (policy.md §6.1); elsewhere the deletion is refused while they
    /// exist, or they go with it.
    pub fn delete_nat_gateway(&mut self, n: u32, now: Time) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::NatGateway, n)?;
        let tables: Vec<String> = self.tables_routing_to(Target::NatGateway(n)).collect();
        let orphans = self.profile.nat_deleted_routes;
        if !tables.is_empty() && orphans == OrphanRoutes::Refused {
            return Err(ModelError::precondition(
                "name",
                format!(
                    "NAT gateway {} is the target of routes in route table {}: remove them first",
                    self.nats[n as usize].id,
                    tables.join(", ")
                ),
            )
            .with_dependents(tables));
        }
        let eni = self.nats[n as usize].eni;
        self.delete_eni_managed(eni, now)?;
        self.bury(Kind::NatGateway, n);
        if orphans == OrphanRoutes::Removed {
            for t in &mut self.route_tables {
                t.routes.retain(|r| r.target != Target::NatGateway(n));
            }
        }
        Ok(())
    }

    /// Sets NAT gateway `n`'s DNAT rules (port forwarding from its address to an inside
    /// host). Each rule: TCP or UDP, a port other than 0 used by no other rule of the
    /// protocol, and an inside address that is a live interface's private IP in the gateway's
    /// VPC. Errors name `dnat[i].FIELD`.
    pub fn set_nat_dnat(&mut self, n: u32, rules: Vec<nat::Dnat>) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::NatGateway, n)?;
        let vpc = self.nats[n as usize].vpc;
        for (i, r) in rules.iter().enumerate() {
            let at = |f: &str| format!("dnat[{i}].{f}");
            if !matches!(r.protocol, 6 | 17) {
                return Err(ModelError::invalid(
                    at("protocol"),
                    "a DNAT rule forwards TCP or UDP",
                ));
            }
            if r.port == 0 {
                return Err(ModelError::invalid(
                    at("port"),
                    "port 0 cannot be forwarded",
                ));
            }
            if r.to_port == 0 {
                return Err(ModelError::invalid(
                    at("to_port"),
                    "port 0 cannot be forwarded",
                ));
            }
            if rules[..i]
                .iter()
                .any(|q| q.protocol == r.protocol && q.port == r.port)
            {
                return Err(ModelError::exists(
                    at("port"),
                    format!("another DNAT rule already forwards port {}", r.port),
                ));
            }
            if r.to == self.enis[self.nats[n as usize].eni as usize].ip
                || !self.private_ips.contains_key(&ip_key(vpc, r.to))
            {
                return Err(ModelError::not_found(
                    at("to"),
                    format!(
                        "no interface in the NAT gateway's VPC (other than its own) has the address {}",
                        r.to
                    ),
                ));
            }
        }
        self.nats[n as usize].table.set_dnat(rules);
        Ok(())
    }

    /// Asks that the next NAT session a packet sent opens use NAT port `port` (if free for
    /// its destination; drawn as usual otherwise): a scenario pins one session's port to
    /// teach a case (a port below the range a network ACL lets back). `None` clears it. The
    /// simulation sets it around the one packet (a TCP session's SYN) it is for.
    pub fn pin_nat_port(&mut self, port: Option<u16>) {
        self.nat_pin = port;
    }

    /// The RST a NAT gateway returns to an inside host that continues a TCP connection it no
    /// longer has: timed out, closed, or never opened with a SYN ([`nat::NatDrop::resets`];
    /// policy.md §6.2, AWS: "returns an RST packet to any resources behind the NAT gateway
    /// that attempt to continue the connection"), sent from the gateway's interface.
    ///
    /// The RST stands in for the remote end: its source is the destination the host was
    /// talking to (address and port), its destination the host, so the host's stack and its
    /// security group see it as part of the host's own connection. It is judged like any
    /// packet: ACL egress of the gateway's subnet, the route back, ACL ingress of the host's
    /// subnet and the host's security group, where the host's tracked connection (still live:
    /// the host has just sent on it) lets it in as a reply. Sequence number: the dropped
    /// segment's acknowledgement (RFC 9293 §3.10.7.1: a RST answering a segment with ACK takes
    /// its SEQ from SEG.ACK), no ACK flag. A RST is never answered with a RST.
    pub fn nat_reset(&self, out: &Outcome) -> Option<(Endpoint, Packet)> {
        let Fate::Dropped(Drop::Nat { nat, why }) = out.fate else {
            return None;
        };
        if !why.resets() {
            return None;
        }
        let L4::Tcp {
            sport,
            dport,
            flags,
            ack,
            ..
        } = out.packet.l4
        else {
            return None;
        };
        if flags.has(TcpFlags::RST) {
            return None;
        }
        let p = &out.packet;
        let mut rst = Packet::tcp(p.dst, dport, p.src, sport, TcpFlags::RST, size::TCP_RST);
        if let L4::Tcp { seq, .. } = &mut rst.l4 {
            *seq = ack;
        }
        Some((Endpoint::Eni(self.nats[nat as usize].eni), rst))
    }

    /// The ICMP error a hop that dropped a packet sends back to its sender: time-exceeded
    /// (type 11 code 0) where the TTL expired (RFC 792, RFC 1812 §5.3.1); fragmentation-needed
    /// with the next link's MTU where a datagram with DF set did not fit (RFC 1191). A hop
    /// with an interface sends from its address; a device without one from the address the
    /// packet was for ([`Endpoint::Device`], docs/decisions/mtu.md).
    pub fn hop_error(&self, out: &Outcome) -> Option<(Endpoint, Packet)> {
        // The hop, the datagram as it arrived there, and the MTU it did not fit (if that).
        let (by, packet, mtu) = match out.fate {
            Fate::Dropped(Drop::TtlExpired { at, packet }) => (Endpoint::Eni(at), packet, None),
            // Without DF, dropped unanswered (a router, which fragments nothing).
            Fate::Dropped(Drop::TooBig { by, mtu, packet }) if packet.dont_fragment => {
                (by, packet, Some(mtu))
            }
            _ => return None,
        };
        // No ICMP error about an ICMP error (RFC 1812 §4.3.2.7).
        if let L4::Icmp {
            embedded: Some(_), ..
        } = packet.l4
        {
            return None;
        }
        let from = match by {
            Endpoint::Eni(e) => self.enis[e as usize].ip,
            _ => packet.dst,
        };
        let error = match mtu {
            Some(mtu) => Packet::fragmentation_needed(from, &packet, mtu),
            None => Packet::icmp_error(from, &packet, icmp::TIME_EXCEEDED, 0),
        };
        Some((by, error))
    }
}
