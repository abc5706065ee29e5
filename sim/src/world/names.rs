//! Addresses and names: the address that reaches an endpoint and the endpoint an address
//! designates, the names of endpoints and of the hops between them, and decisions in plain
//! words ([`World::describe`]).

use std::borrow::Cow;
use std::net::Ipv4Addr;

use super::model::ip_key;
use super::*;
use crate::Direction;
use crate::host::Host;
use crate::nat;
use crate::policy::sg::Remote;
use crate::verdict::{By, Decision, Stage, Verdict};

impl World {
    /// The host behind an endpoint (a VPC service is a host listening on its ports).
    pub fn host(&self, e: Endpoint) -> Cow<'_, Host> {
        match e {
            Endpoint::Eni(i) => Cow::Borrowed(&self.enis[i as usize].host),
            Endpoint::External(i) => Cow::Borrowed(&self.externals[i as usize].host),
            Endpoint::Service { service, .. } => {
                Cow::Owned(self.profile.services[service as usize].host())
            }
            // A device answers nothing sent to it (its ICMP errors get no answer either).
            Endpoint::Device { .. } => Cow::Owned(Host {
                auto_reply: false,
                ..Host::default()
            }),
        }
    }

    /// The VPC service named `name` (`Profile::services`) as the interfaces of `from`'s VPC
    /// reach it; `None` when `from` is not an interface or its cloud has no such service.
    pub fn service_endpoint(&self, from: Endpoint, name: &str) -> Option<Endpoint> {
        let Endpoint::Eni(a) = from else {
            return None;
        };
        let service = self.profile.services.iter().position(|s| s.name == name)?;
        Some(Endpoint::Service {
            vpc: self.enis[a as usize].vpc,
            service: service as u32,
        })
    }

    /// The VPC service at `addr` as the interfaces of VPC `vpc` reach it, if any.
    pub fn service_at(&self, vpc: u32, addr: Ipv4Addr) -> Option<Endpoint> {
        let service = self
            .profile
            .service_at(self.vpcs[vpc as usize].cidr, addr)?;
        Some(Endpoint::Service { vpc, service })
    }

    /// The external host or elastic IP holding public address `ip`, if any.
    pub fn public_endpoint(&self, ip: Ipv4Addr) -> Option<Endpoint> {
        self.public_ips.get(&ip).copied()
    }

    /// The address an endpoint sends from (unspecified for a device, which sends from the
    /// address of the packet it answers: [`Endpoint::Device`]).
    pub fn address(&self, e: Endpoint) -> Ipv4Addr {
        match e {
            Endpoint::Eni(i) => self.enis[i as usize].ip,
            Endpoint::External(i) => self.externals[i as usize].ip,
            Endpoint::Service { vpc, service } => {
                self.profile.services[service as usize].addr(self.vpcs[vpc as usize].cidr)
            }
            Endpoint::Device { .. } => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The address `from` uses to reach `to`: the private IP inside one VPC, the elastic IP
    /// from elsewhere.
    pub fn address_for(&self, from: Endpoint, to: Endpoint) -> Option<Ipv4Addr> {
        match (from, to) {
            // A VPC service answers its own VPC's interfaces only.
            (Endpoint::Eni(a), Endpoint::Service { vpc, .. }) => {
                (self.enis[a as usize].vpc == vpc).then(|| self.address(to))
            }
            // Nothing is addressed to a device, and it answers only what it could not forward.
            (Endpoint::Device { .. }, _) | (_, Endpoint::Device { .. }) => None,
            (_, Endpoint::Service { .. }) => None,
            (Endpoint::Service { vpc, .. }, Endpoint::Eni(b)) => {
                (self.enis[b as usize].vpc == vpc).then(|| self.enis[b as usize].ip)
            }
            (Endpoint::Service { .. }, Endpoint::External(_)) => None,
            (_, Endpoint::External(x)) => Some(self.externals[x as usize].ip),
            // From premises, through the site's gateway: the private address.
            (Endpoint::External(x), Endpoint::Eni(b))
                if self.externals[x as usize].site.is_some() =>
            {
                Some(self.enis[b as usize].ip)
            }
            (Endpoint::Eni(a), Endpoint::Eni(b))
                if self.enis[a as usize].vpc == self.enis[b as usize].vpc =>
            {
                Some(self.enis[b as usize].ip)
            }
            // Another VPC over a Cloud Connect Network: its private address.
            (Endpoint::Eni(a), Endpoint::Eni(b))
                if self.ccn_destination(self.enis[a as usize].vpc, self.enis[b as usize].ip)
                    == Some(self.enis[b as usize].vpc) =>
            {
                Some(self.enis[b as usize].ip)
            }
            // Another VPC: its private address when the sender's routes reach it through a
            // router or a peering connection, else its elastic IP.
            (Endpoint::Eni(a), Endpoint::Eni(b)) => {
                let b = &self.enis[b as usize];
                let table = self.subnets[self.enis[a as usize].subnet as usize].route_table;
                match self.route_tables[table as usize].lookup(b.ip) {
                    Some((_, r)) if matches!(r.target, Target::Router(_) | Target::Peering(_)) => {
                        Some(b.ip)
                    }
                    _ => b.eip,
                }
            }
            (_, Endpoint::Eni(b)) => self.enis[b as usize].eip,
        }
    }

    /// Which endpoint an address designates, seen from `from`: a private IP inside the VPC,
    /// else an elastic IP or an external host.
    pub fn resolve(&self, from: Endpoint, dst: Ipv4Addr) -> Option<Endpoint> {
        if let Endpoint::Eni(a) = from
            && let Some(s) = self.service_at(self.enis[a as usize].vpc, dst)
        {
            return Some(s);
        }
        if let Endpoint::Eni(a) = from
            && let Some(&b) = self
                .private_ips
                .get(&ip_key(self.enis[a as usize].vpc, dst))
        {
            return Some(Endpoint::Eni(b));
        }
        // Another VPC's private address, over the sender's Cloud Connect Network.
        if let Endpoint::Eni(a) = from
            && let Some(v) = self.ccn_destination(self.enis[a as usize].vpc, dst)
            && let Some(&b) = self.private_ips.get(&ip_key(v, dst))
        {
            return Some(Endpoint::Eni(b));
        }
        self.public_ips.get(&dst).copied()
    }

    pub fn endpoint_name(&self, e: Endpoint) -> String {
        match e {
            Endpoint::Eni(i) => {
                let e = &self.enis[i as usize];
                format!("{} ({})", e.name, e.id)
            }
            Endpoint::External(i) => self.externals[i as usize].name.clone(),
            Endpoint::Service { service, .. } => format!(
                "VPC service {} ({})",
                self.profile.services[service as usize].title,
                self.address(e)
            ),
            Endpoint::Device { device, .. } => match device {
                Device::InternetGateway(g) => {
                    format!("internet gateway {}", self.igws[g as usize].id)
                }
                Device::VpnGateway(g) => {
                    format!(
                        "virtual private gateway {}",
                        self.vpn_gateways[g as usize].id
                    )
                }
                Device::Peering(p) => {
                    format!("peering connection {}", self.peerings[p as usize].id)
                }
            },
        }
    }

    /// The hops between two endpoints in the topology graph, by name: the path an engineer
    /// would draw.
    pub fn path(&self, from: Endpoint, to: Endpoint) -> Vec<String> {
        let live = |e: Endpoint| match e {
            Endpoint::Eni(i) => self.is_live(Kind::Eni, i),
            Endpoint::External(i) => self.is_live(Kind::ExternalHost, i),
            Endpoint::Service { vpc, .. } | Endpoint::Device { vpc, .. } => {
                self.is_live(Kind::Vpc, vpc)
            }
        };
        // A deleted endpoint's node is gone (and its slot may be another's by now).
        if !live(from) || !live(to) {
            return Vec::new();
        }
        let node = |e: Endpoint| match e {
            Endpoint::Eni(i) => self.enis[i as usize].node,
            Endpoint::External(i) => self.externals[i as usize].node,
            // The VPC answers for its services.
            Endpoint::Service { vpc, .. } => self.vpcs[vpc as usize].node,
            Endpoint::Device { vpc, device } => match device {
                Device::InternetGateway(g) => self.igws[g as usize].node,
                Device::VpnGateway(g) => self.vpn_gateways[g as usize].node,
                Device::Peering(_) => self.vpcs[vpc as usize].node,
            },
        };
        let Some((_, nodes)) =
            petgraph::algo::astar(&*self.graph, node(from), |n| n == node(to), |_| 1u32, |_| 0)
        else {
            return Vec::new();
        };
        nodes
            .iter()
            .map(|&n| self.name_of(&self.graph[n]))
            .collect()
    }

    /// A node as the paths name it, `subnet web`, `ENI web-1`, `IGW igw-…`, `host home`: the
    /// words of [`World::path`] and of `explain::path_taken`.
    pub(crate) fn name_of(&self, n: &Node) -> String {
        match *n {
            Node::Internet => "internet".into(),
            Node::Vpc(v) => format!("VPC {}", self.vpcs[v as usize].name),
            Node::Subnet(s) => format!("subnet {}", self.subnets[s as usize].name),
            Node::Eni(e) => format!("ENI {}", self.enis[e as usize].name),
            Node::InternetGateway(g) => format!("IGW {}", self.igws[g as usize].id),
            Node::External(x) => format!("host {}", self.externals[x as usize].name),
            Node::Ccn(c) => format!("CCN {}", self.ccns.items[c as usize].name),
            Node::Router(r) => format!("router {}", self.routers.routers[r as usize].name),
            Node::VpnGateway(g) => format!("VGW {}", self.vpn_gateways[g as usize].id),
        }
    }

    /// A decision in plain words, e.g. "ACL web-acl egress: no rule matched; default rule *
    /// denies".
    pub fn describe(&self, d: &Decision) -> String {
        let dir = d.stage.direction().as_str();
        let (what, by) = match d.verdict {
            Verdict::SameSubnet => {
                return format!(
                    "ACL {dir}: not evaluated, traffic stays inside subnet {}",
                    self.subnets[d.at as usize].name
                );
            }
            Verdict::NoAcl => {
                return format!(
                    "ACL {dir}: subnet {} has no network ACL, nothing to evaluate",
                    self.subnets[d.at as usize].name
                );
            }
            Verdict::Allow(by) | Verdict::Deny(by) => (
                if d.verdict.allows() {
                    "allows"
                } else {
                    "denies"
                },
                by,
            ),
        };
        let place = match d.stage {
            Stage::SgEgress | Stage::SgIngress => {
                format!("SG {dir} at {}", self.enis[d.at as usize].name)
            }
            Stage::AclEgress | Stage::AclIngress => {
                let s = &self.subnets[d.at as usize];
                // The ACL that decided, which may since have been replaced on the subnet.
                let acl = match by {
                    By::AclRule { acl, .. } | By::AclDefault { acl } => Some(acl),
                    _ => s.acl,
                };
                let acl = acl.map_or("(none)", |a| self.acls[a as usize].name.as_str());
                format!("ACL {acl} {dir} (subnet {})", s.name)
            }
            Stage::Nat => format!("NAT gateway {}", self.nats[d.at as usize].name),
        };
        let reason = match by {
            By::SgRule {
                sg,
                rev,
                rule,
                tracked,
            } => {
                let g = &self.security_groups[sg as usize];
                let r = &g.rules_at(rev)[rule as usize];
                let remote = match &r.remote {
                    Remote::Cidr(n) => n.to_string(),
                    // A peer VPC's group is named with its VPC, as a file names it.
                    Remote::Group(x) => {
                        let other = &self.security_groups[*x as usize];
                        if other.vpc == g.vpc {
                            format!("group {}", other.name)
                        } else {
                            let v = &self.vpcs[other.vpc as usize].name;
                            format!("group {v}/{}", other.name)
                        }
                    }
                };
                let ports = if r.protocol.has_ports() {
                    format!(" {}", r.ports)
                } else {
                    String::new()
                };
                let dirword = if r.direction == Direction::Ingress {
                    "from"
                } else {
                    "to"
                };
                let track = if tracked {
                    ""
                } else {
                    "; flow not tracked (D7)"
                };
                format!(
                    "rule {} of {} ({} {}{ports} {dirword} {remote}) {what}{track}",
                    rule + 1,
                    g.name,
                    r.action.name(),
                    r.protocol
                )
            }
            By::SgSameGroup { sg } => format!(
                "implicit rule of {}: members of the same group {what}",
                self.security_groups[sg as usize].name
            ),
            By::SgImplicitEgress => format!("implicit rule: all outbound traffic {what}"),
            By::Nat(why) => {
                let p = &self.profile;
                match why {
                    nat::NatDrop::Protocol => "translates TCP, UDP and ICMP only; drops".into(),
                    nat::NatDrop::PortsExhausted => format!(
                        "this destination already holds {} sessions; drops",
                        p.nat_sessions_per_destination
                    ),
                    nat::NatDrop::NoSession => {
                        "no session or DNAT rule matches (connections from outside need a DNAT rule); drops"
                            .into()
                    }
                    nat::NatDrop::NoConnection => "no session for this TCP connection, and only a SYN opens one; drops (answers the inside host with a RST)".into(),
                    nat::NatDrop::Expired { from: nat::Side::Inside } => format!(
                        "the session was idle longer than {} s and is gone; drops (TCP: answers the inside host with a RST)",
                        p.nat_idle_timeout.secs()
                    ),
                    nat::NatDrop::Expired { from: nat::Side::Outside } => format!(
                        "the session was idle longer than {} s and is gone; drops the late reply",
                        p.nat_idle_timeout.secs()
                    ),
                    nat::NatDrop::Closed { from: nat::Side::Inside } => "the connection was closed (FIN from both sides and the last ACK, or a RST) and its session is gone; drops (answers the inside host with a RST; a new connection starts with SYN)".into(),
                    nat::NatDrop::Closed { from: nat::Side::Outside } => "the connection was closed (FIN from both sides and the last ACK, or a RST) and its session is gone; drops the late reply".into(),
                }
            }
            By::SgNoMatch => format!("{}; the group {what} by default", crate::explain::NO_MATCH),
            By::AclRule { acl, rev, rule } => {
                let e = &self.acls[acl as usize].entries_at(rev)[rule as usize];
                let ports = if e.protocol.has_ports() {
                    format!(" {}", e.ports)
                } else {
                    String::new()
                };
                format!(
                    "rule {} ({} {}{ports} {} {}) {what}",
                    e.number,
                    e.action.name(),
                    e.protocol,
                    if e.direction == Direction::Ingress {
                        "from"
                    } else {
                        "to"
                    },
                    e.cidr
                )
            }
            By::AclDefault { .. } => format!("{}; default rule * {what}", crate::explain::NO_MATCH),
            By::AclPreset => format!("the cloud's preset rule {what} (service address)"),
            By::Tracked => format!("part of a tracked connection: {what}"),
            By::Related => format!("ICMP error about a tracked connection (RELATED): {what}"),
            By::Cleared => format!(
                "the connection was cleared when its security group's rules changed, so its \
                 segments are no longer part of a tracked connection and are not taken for a \
                 new one; only a new connection (a SYN) passes: {what}"
            ),
        };
        format!("{place}: {reason}")
    }
}
