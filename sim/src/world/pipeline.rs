//! The per-packet path (D5; policy.md §7), in the order a packet meets it:
//!
//! ```text
//!  ENI a ──SG egress──ACL egress──route──┬─ local ───────────────ACL ingress──SG ingress── ENI b
//!        (conntrack)  (if leaving        │                       (if entering   (conntrack)
//!                      a's subnet)       └─ IGW (EIP 1:1 NAT) ── internet host / EIP of ENI b
//! ```
//!
//! [`World::send`] numbers the packet, after closing the flow-log windows that ended by then;
//! a packet between an interface and one of its VPC's own services (`Profile::services`) goes
//! straight there, unfiltered and unlogged either way (D18); otherwise `pipeline` takes it out
//! of its sender: the security group (`sg_check`) and, when it leaves the
//! subnet, the ACL (`acl_check`) on the way out, then the subnet's route. The route hands it to a
//! NAT gateway (`through_nat`), an enterprise router (`routing`), a Cloud Connect Network
//! (`connect`), the internet through the internet gateway (`cross_internet`), or straight to the
//! ENI holding the address in the VPC. There it `arrive`s: the ACL when it enters the subnet
//! (`enter_subnet`), then the security group; or, at a NAT gateway's interface, the translation
//! back to the inside host (`back_through_nat`), which sends it on. Every capture point on the way
//! records it (`capture`), and the [`Outcome`] says what happened.

use std::net::Ipv4Addr;

use super::model::ip_key;
use super::*;
use crate::addr::Ipv4Net;
use crate::conntrack::{self, Zone};
use crate::flowlog::TrafficPath;
use crate::nat;
use crate::packet::{L4, Packet, proto};
use crate::policy::classify::Compiled;
use crate::policy::{PacketView, RuleAction};
use crate::profile::Mtu;
use crate::time::Time;
use crate::verdict::{By, Decision, Stage, Verdict};
use crate::{Action, Direction};

/// How many packets ahead [`World::send_batch`] asks for a packet's memory.
const SEND_AHEAD: usize = 16;

/// An endpoint as plain numbers: (its kind, 1–6, with its first number; its second). The
/// key of its IPv4 identification counter: integers compare in a few instructions where the
/// enum, with a device's kind nested in it, takes many (the counter is looked up for every
/// packet sent).
pub(super) fn endpoint_numbers(from: Endpoint) -> (u64, u32) {
    let (kind, a, b) = match from {
        Endpoint::Eni(i) => (1u64, i, 0),
        Endpoint::External(i) => (2, i, 0),
        Endpoint::Service { vpc, service } => (3, vpc, service),
        Endpoint::Device { vpc, device } => {
            let (kind, i) = match device {
                Device::InternetGateway(g) => (4, g),
                Device::VpnGateway(g) => (5, g),
                Device::Peering(p) => (6, p),
            };
            (kind, vpc, i)
        }
    };
    (kind << 32 | u64::from(a), b)
}

/// The number a host's IPv4 identification counter starts from (it is incremented before
/// its first datagram): splitmix64's finalizer over the world's seed and the endpoint.
fn first_ip_id(seed: u64, (kind_a, b): (u64, u32)) -> u16 {
    let (kind, a) = (kind_a >> 32, kind_a as u32);
    // The kind in bits 62–63 (1–3) or, for a device (4–6), 56–58: apart from the endpoint's
    // numbers (bits 0–55), and the first three kinds' values as they always were.
    let tag = if kind < 4 { kind << 62 } else { kind << 56 };
    let mut z = seed ^ 0x6970_2d69_6473 ^ tag ^ (u64::from(a) << 24) ^ u64::from(b);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as u16
}

impl World {
    /// Sends a packet from an endpoint through the network. The packet's source address must
    /// be the endpoint's own (the scenario layer fills it in).
    pub fn send(&mut self, now: Time, from: Endpoint, packet: Packet) -> Outcome {
        self.send_labelled(now, from, packet, 0)
    }

    /// [`World::send`] for a packet that carries `label` (what the traffic is: benign, or
    /// which incident): every record counting it says so.
    pub fn send_labelled(
        &mut self,
        now: Time,
        from: Endpoint,
        packet: Packet,
        label: u32,
    ) -> Outcome {
        let mut packet = packet;
        packet.ip_id = self.next_ip_id(from, packet.is_later_fragment(), 1);
        self.send_numbered(now, from, packet, label)
    }

    /// [`World::send`] of a packet whose IPv4 identification its sender already chose: a real
    /// host's datagram (live mode), which the world must not renumber.
    pub fn send_as_is(&mut self, now: Time, from: Endpoint, packet: Packet) -> Outcome {
        self.send_numbered(now, from, packet, 0)
    }

    fn send_numbered(&mut self, now: Time, from: Endpoint, packet: Packet, label: u32) -> Outcome {
        self.label = label;
        if now >= self.next_window_end {
            self.advance(now);
        }
        self.packets += 1;
        let mut out = Outcome::new(self.packets, now, from, packet, Fate::Dropped(Drop::NoHost));
        // Filled in place: the outcome is built where it is returned, not copied there.
        self.pipeline(now, from, packet, &mut out);
        out
    }

    /// The IPv4 identification of the next datagram `from` sends, `n` datagrams on (1: the
    /// next one), counting them. Each sending host keeps one counter, as Linux does for a
    /// socket's datagrams (`ip_select_ident`); it starts at a value drawn from the world's
    /// seed and the endpoint, so hosts differ and the same script numbers alike. A later
    /// fragment (non-zero offset) belongs to the datagram its host began last, so it keeps
    /// that datagram's number and counts nothing.
    pub(super) fn next_ip_id(&mut self, from: Endpoint, later_fragment: bool, n: u64) -> u16 {
        let (seed, key) = (self.seed, endpoint_numbers(from));
        let id = self
            .ip_ids
            .entry(key)
            .or_insert_with(|| first_ip_id(seed, key));
        if !later_fragment {
            *id = id.wrapping_add(n as u16);
        }
        *id
    }

    /// Sends packets one after the other, each at its own time, exactly as [`World::send`]
    /// would in turn, handing each outcome to `each` as it comes. Meanwhile the memory of
    /// the packets a few places ahead (their connections' buckets) is asked for early, so
    /// that the cache misses of consecutive packets overlap instead of queueing: only timing
    /// differs from a loop of `send`.
    pub fn send_batch(
        &mut self,
        batch: &[(Time, Endpoint, Packet)],
        mut each: impl FnMut(Outcome),
    ) {
        for (_, _, p) in batch.iter().take(SEND_AHEAD) {
            self.conntrack.prefetch(p);
        }
        for (i, &(now, from, packet)) in batch.iter().enumerate() {
            if let Some((_, _, p)) = batch.get(i + SEND_AHEAD) {
                self.conntrack.prefetch(p);
            }
            each(self.send(now, from, packet));
        }
    }

    /// The per-packet path of [`World::send`], writing what happens into `out`.
    pub(super) fn pipeline(
        &mut self,
        now: Time,
        from: Endpoint,
        packet: Packet,
        out: &mut Outcome,
    ) {
        let view = PacketView::of(&packet);
        let mut pkt = packet;
        match from {
            Endpoint::Eni(a) => {
                let (vpc, subnet, deleted) = {
                    let e = &self.enis[a as usize];
                    (e.vpc, e.subnet, e.deleted)
                };
                // Traffic scheduled before its sender was deleted goes nowhere.
                if deleted {
                    return;
                }
                // The VPC's own services answer, and nothing filters or logs what goes to them
                // (D18, flowlogs.md §1.5, policy.md §1.2): no security group, ACL or route.
                if let Some(s) = self.service_at(vpc, pkt.dst) {
                    out.fate = Fate::Delivered { to: s, packet: pkt };
                    return;
                }
                let cidr = self.vpcs[vpc as usize].cidr;
                if self
                    .profile
                    .is_excluded(pkt.dst, view.protocol, view.dport, cidr)
                {
                    out.fate = Fate::Excluded;
                    return;
                }
                // Start loading the packet's connection entries (both ends' sit together).
                self.conntrack.prefetch(&pkt);
                // 1. Security group, egress (a cloud device's interface has none).
                let (d, tracked) = if self.enis[a as usize].requester_managed {
                    (None, None)
                } else {
                    let (v, tracked) =
                        self.sg_check(now, a, Direction::Egress, &pkt, &view, pkt.dst);
                    let d = Decision {
                        stage: Stage::SgEgress,
                        at: a,
                        verdict: v,
                    };
                    out.push(d);
                    if !v.allows() {
                        self.capture(
                            now,
                            a,
                            Direction::Egress,
                            Action::Reject,
                            &pkt,
                            None,
                            out.id,
                            [Some(d), None],
                            tracked,
                        );
                        out.fate = Fate::Dropped(Drop::Policy(d));
                        return;
                    }
                    (Some(d), tracked)
                };
                // 2. ACL, egress, when the packet leaves the subnet.
                let d2 = if self.subnets[subnet as usize].cidr.contains(pkt.dst) {
                    Decision {
                        stage: Stage::AclEgress,
                        at: subnet,
                        verdict: Verdict::SameSubnet,
                    }
                } else {
                    let v = self.acl_check(now, subnet, Direction::Egress, &pkt, &view, pkt.dst);
                    Decision {
                        stage: Stage::AclEgress,
                        at: subnet,
                        verdict: v,
                    }
                };
                out.push(d2);
                if !d2.verdict.allows() {
                    self.capture(
                        now,
                        a,
                        Direction::Egress,
                        Action::Reject,
                        &pkt,
                        None,
                        out.id,
                        [d, Some(d2)],
                        tracked,
                    );
                    out.fate = Fate::Dropped(Drop::Policy(d2));
                    return;
                }
                // 3. Route.
                let table = self.subnets[subnet as usize].route_table;
                let hit = self.route_hit(table, pkt.dst);
                // A route learned from the VPC's Cloud Connect Network, when longer (connect).
                let ccn = self.ccn_route(vpc, pkt.dst, hit);
                let hit = if ccn.is_some() { None } else { hit };
                if out.nat.is_some() || out.router.is_some() {
                    out.onward_route = hit;
                } else {
                    out.route = hit;
                }
                let path = match hit.map(|h| h.target) {
                    Some(Target::InternetGateway(_)) => Some(TrafficPath::InternetGateway),
                    Some(Target::Local) => Some(TrafficPath::SameVpc),
                    // A NAT gateway or a transit gateway attachment is a resource with an
                    // interface in the VPC (aws: 1).
                    Some(Target::NatGateway(_) | Target::Router(_)) => Some(TrafficPath::SameVpc),
                    Some(Target::Peering(p)) if !self.peerings[p as usize].deleted => {
                        Some(self.peerings[p as usize].traffic_path())
                    }
                    Some(Target::VpnGateway(g)) if !self.vpn_gateways[g as usize].deleted => {
                        Some(TrafficPath::VirtualPrivateGateway)
                    }
                    _ => None,
                };
                self.capture(
                    now,
                    a,
                    Direction::Egress,
                    Action::Accept,
                    &pkt,
                    path,
                    out.id,
                    [d, Some(d2)],
                    tracked,
                );
                // Over the ENI's egress bandwidth limit: dropped once captured (D20).
                if !self.eni_admits(now, a, Direction::Egress, pkt.len, out) {
                    return;
                }
                if let Some(c) = ccn {
                    self.through_ccn(now, c, pkt, out);
                    return;
                }
                let Some(hit) = hit else {
                    out.fate = Fate::Dropped(Drop::NoRoute { table });
                    return;
                };
                match hit.target {
                    // A route to a deleted NAT gateway is a blackhole (profile
                    // `nat_deleted_routes`, policy.md §6.1): the longest match still, no
                    // fallback to a shorter route.
                    Target::Blackhole => {
                        out.fate = Fate::Dropped(Drop::Blackhole {
                            table,
                            route: hit.route,
                        });
                    }
                    Target::NatGateway(n) if self.nats[n as usize].deleted => {
                        out.fate = Fate::Dropped(Drop::Blackhole {
                            table,
                            route: hit.route,
                        });
                    }
                    Target::Local => self.arrive_in(now, vpc, pkt, &view, out),
                    // A route to a deleted peering connection is a blackhole (aws; elsewhere
                    // the deletion waits for the routes to go).
                    Target::Peering(p) if self.peerings[p as usize].deleted => {
                        out.fate = Fate::Dropped(Drop::Blackhole {
                            table,
                            route: hit.route,
                        });
                    }
                    Target::Peering(p) => self.through_peering(now, p, vpc, pkt, &view, out),
                    // A route to a detached gateway is a blackhole (policy.md §6.1: "the
                    // specified gateway isn't attached to the VPC").
                    Target::VpnGateway(g) if self.vpn_gateways[g as usize].deleted => {
                        out.fate = Fate::Dropped(Drop::Blackhole {
                            table,
                            route: hit.route,
                        });
                    }
                    Target::VpnGateway(g) => self.through_vpn_gateway(g, pkt, out),
                    Target::NatGateway(n) => self.through_nat(now, n, pkt, out),
                    Target::Router(att) => {
                        let az = self.subnets[subnet as usize].az.clone();
                        self.through_router(now, att, &az, pkt, out);
                    }
                    Target::InternetGateway(g) => {
                        // The elastic IP maps to the primary private IP: a secondary IP has
                        // no public address of its own here.
                        let e = &self.enis[a as usize];
                        let Some(eip) = e.eip.filter(|_| pkt.src == e.ip) else {
                            out.fate = Fate::Dropped(Drop::NoPublicIp);
                            return;
                        };
                        out.translation = Some(Translation {
                            igw: g,
                            from: pkt.src,
                            to: eip,
                            source: true,
                        });
                        pkt.src = eip;
                        let igw = Endpoint::Device {
                            vpc,
                            device: Device::InternetGateway(g),
                        };
                        if self.fits(self.profile.mtu.internet, igw, true, &pkt, out) {
                            self.cross_internet(now, pkt, &view, out);
                        }
                    }
                }
            }
            // A device's ICMP error, from the address the packet it answers was for: over the
            // internet to the sender's public address, or into the sender's VPC.
            Endpoint::Device {
                device: Device::InternetGateway(_),
                ..
            } => self.cross_internet(now, pkt, &view, out),
            Endpoint::Device { vpc, .. } => self.arrive_in(now, vpc, pkt, &view, out),
            // A VPC service's answer reaches the interface unfiltered and unlogged (D18).
            Endpoint::Service { vpc, .. } => {
                match self.private_ips.get(&ip_key(vpc, pkt.dst)).copied() {
                    Some(b) if !self.enis[b as usize].deleted => {
                        out.fate = Fate::Delivered {
                            to: Endpoint::Eni(b),
                            packet: pkt,
                        }
                    }
                    _ => out.fate = Fate::Dropped(Drop::NoHost),
                }
            }
            Endpoint::External(x) => {
                let h = &self.externals[x as usize];
                match (h.deleted, h.site) {
                    (true, _) => {}
                    // On premises: into the cloud through the site's gateway attachment, or
                    // the VPC's virtual private gateway.
                    (false, Some(Site::Attachment(att))) => {
                        self.through_router(now, att, "", pkt, out)
                    }
                    (false, Some(Site::VpnGateway(g))) => {
                        self.in_from_premises(now, g, pkt, &view, out)
                    }
                    (false, None) => self.cross_internet(now, pkt, &view, out),
                }
            }
        }
    }

    /// Security groups with connection tracking: a tracked connection or a RELATED ICMP error
    /// passes; otherwise the first matching rule decides and, if it allows, opens a connection
    /// (unless the flow is untracked, D7) — except for a segment of a cleared connection
    /// (huawei, D8), which no allow rule lets through. Also returns the packet's tracked
    /// connection at the ENI, whose entry keeps the ENI's flow-log counters for it.
    // Inlined: its result, returned through memory, cost a store-forwarding stall per call.
    #[inline(always)]
    fn sg_check(
        &mut self,
        now: Time,
        eni: u32,
        dir: Direction,
        pkt: &Packet,
        view: &PacketView,
        remote: Ipv4Addr,
    ) -> (Verdict, Option<conntrack::Handle>) {
        let zone = Zone::Eni(eni);
        let mut cleared = false;
        if let L4::Icmp {
            embedded: Some(emb),
            ..
        } = &pkt.l4
        {
            if self.profile.icmp_errors_related && self.conntrack.is_related(zone, now, emb) {
                return (Verdict::Allow(By::Related), None);
            }
        } else {
            // The interface's own timeouts (aws: set per ENI or by its instance type,
            // policy.md §1.3).
            let timeouts = &self.enis[eni as usize].timeouts;
            let found = self.conntrack.track_handle(zone, now, pkt, timeouts);
            // An expired entry found on the way left with its counters: merge them now.
            self.settle_carried();
            match found {
                conntrack::Lookup::Tracked(h) => {
                    let expires = self.conntrack.expires(h);
                    self.trace_zone(zone, pkt, expires);
                    return (Verdict::Allow(By::Tracked), Some(h));
                }
                conntrack::Lookup::Cleared => cleared = true,
                conntrack::Lookup::Untracked => {}
            }
        }
        let e = &self.enis[eni as usize];
        let set = &e.rules[dir as usize];
        match set.first_match(remote, view) {
            // A segment of a connection a rule change cleared (huawei, D8) is not picked up
            // as a new connection by a rule that allows it: only a new connection passes
            // (docs/decisions/huawei-rule-change.md). A rule that denies it says so itself.
            Some(r) if r.action == RuleAction::Allow && cleared => {
                (Verdict::Deny(By::Cleared), None)
            }
            Some(r) if r.action == RuleAction::Allow => {
                let mut origin = r.origin;
                // Flows through a NAT gateway are always tracked (policy.md §6.2, §1.3): the
                // remote end is routed via a NAT gateway from the ENI's subnet, both ways.
                let untracked = self.profile.untracked_flows
                    && untracked_flow(e, dir, r, remote, view)
                    && !self.routed_via_nat(e.subnet, remote);
                if let By::SgRule { tracked, .. } = &mut origin {
                    *tracked = !untracked;
                }
                let mut opened = None;
                if !untracked {
                    opened = self.conntrack.open_handle(zone, now, pkt, dir, &e.timeouts);
                    self.settle_carried();
                    // The next packet would find the connection: decided otherwise.
                    self.trace_unrepeatable();
                }
                (Verdict::Allow(origin), opened)
            }
            Some(r) => (Verdict::Deny(r.origin), None),
            None => (Verdict::Deny(By::SgNoMatch), None),
        }
    }

    /// A packet VPC `vpc` routes into peering connection `p`: it reaches the interface that
    /// holds its destination in the peer VPC, through that subnet's ACL and the interface's
    /// security group, as if it were local. Only the peer's own addresses: a peering is not
    /// transitive and lends neither VPC's gateways to the other (AWS VPC Peering Guide,
    /// "unsupported configurations").
    fn through_peering(
        &mut self,
        now: Time,
        p: u32,
        vpc: u32,
        pkt: Packet,
        view: &PacketView,
        out: &mut Outcome,
    ) {
        let Some(peer) = self.peerings[p as usize].other(vpc) else {
            return;
        };
        if !self.vpcs[peer as usize].cidr.contains(pkt.dst) {
            out.fate = Fate::Dropped(Drop::NotInPeer { peering: p });
            return;
        }
        if self.peerings[p as usize].inter_region {
            let by = Endpoint::Device {
                vpc,
                device: Device::Peering(p),
            };
            if !self.fits(self.profile.mtu.peering_cross_region, by, true, &pkt, out) {
                return;
            }
        }
        self.arrive_in(now, peer, pkt, view, out);
    }

    /// The largest datagram `from` sends: its interface's MTU (profile `mtu`); an external
    /// host's is Ethernet's 1500, on the internet as on premises.
    pub fn interface_mtu(&self, from: Endpoint) -> u16 {
        match from {
            Endpoint::External(_) => Mtu::ETHERNET.interface,
            _ => self.profile.mtu.interface,
        }
    }

    /// Refuses a `len`-byte datagram from `from` larger than its interface's MTU: no host
    /// puts one on the wire (it fragments it first, or refuses it when DF is set: Linux's
    /// EMSGSIZE, `ip(7)`).
    pub fn check_datagram_size(&self, from: Endpoint, len: u16) -> Result<(), String> {
        let mtu = self.interface_mtu(from);
        if len <= mtu {
            return Ok(());
        }
        Err(format!(
            "{len} bytes do not fit the sender's interface MTU of {mtu} bytes ({}): a host \
             sends no larger datagram (it fragments it first, or refuses it when DF is set)",
            match from {
                Endpoint::External(_) => "Ethernet's, on the internet and on premises",
                _ => "its cloud's instances",
            }
        ))
    }

    /// Path MTU discovery at a hop (profile `mtu`, docs/decisions/mtu.md): does `pkt` go on
    /// over a link of `mtu`? A larger datagram with DF set does not: it is dropped here, and
    /// `by` answers with fragmentation-needed ([`World::hop_error`]). One without DF goes on
    /// whole where the hop `fragments` (vpclab does not split it), and is dropped unanswered
    /// where it does not.
    #[inline]
    pub(super) fn fits(
        &self,
        mtu: u16,
        by: Endpoint,
        fragments: bool,
        pkt: &Packet,
        out: &mut Outcome,
    ) -> bool {
        if pkt.len <= mtu || (fragments && !pkt.dont_fragment) {
            return true;
        }
        out.fate = Fate::Dropped(Drop::TooBig {
            by,
            mtu,
            packet: *pkt,
        });
        false
    }

    /// Does the route table of `subnet` send traffic for `remote` to a NAT gateway?
    fn routed_via_nat(&self, subnet: u32, remote: Ipv4Addr) -> bool {
        let table = self.subnets[subnet as usize].route_table;
        matches!(
            self.route_hit(table, remote),
            Some(RouteHit {
                target: Target::NatGateway(_),
                ..
            })
        )
    }

    /// Merges the flow-log counters of connections that left the conntrack table into their
    /// collectors, before anything else is counted for them.
    #[inline]
    pub(super) fn settle_carried(&mut self) {
        if self.conntrack.has_carried() {
            let logs = &mut self.flow_logs;
            self.conntrack.take_carried(|c| {
                logs[c.partial.log() as usize].collector.merge(
                    c.eni,
                    c.tuple,
                    Action::Accept,
                    &c.partial,
                )
            });
        }
    }

    /// A network ACL at a subnet boundary: presets, then (huawei) tracked connections, then the
    /// first matching entry, then `*` denies (D4).
    #[inline(always)]
    fn acl_check(
        &mut self,
        now: Time,
        subnet: u32,
        dir: Direction,
        pkt: &Packet,
        view: &PacketView,
        remote: Ipv4Addr,
    ) -> Verdict {
        if self
            .profile
            .acl_implicitly_allows(remote, view.protocol, view.dport)
        {
            return Verdict::Allow(By::AclPreset);
        }
        let zone = Zone::Acl(subnet);
        let timeouts = self.profile.timeouts;
        let stateful = self.profile.acl_stateful;
        if stateful {
            if let L4::Icmp {
                embedded: Some(emb),
                ..
            } = &pkt.l4
            {
                if self.conntrack.is_related(zone, now, emb) {
                    return Verdict::Allow(By::Related);
                }
            } else if let Some((_, entry)) = self.conntrack.track(zone, now, pkt, &timeouts) {
                self.trace_zone(zone, pkt, Some(entry.expires));
                return Verdict::Allow(By::Tracked);
            }
        }
        let Some(acl) = self.subnets[subnet as usize].acl else {
            return Verdict::NoAcl;
        };
        match self.acls[acl as usize].rules[dir as usize].first_match(remote, view) {
            Some(r) if r.action == RuleAction::Allow => {
                if stateful {
                    self.conntrack.open(zone, now, pkt, dir, &timeouts);
                    self.trace.unrepeat();
                }
                Verdict::Allow(r.origin)
            }
            Some(r) => Verdict::Deny(r.origin),
            None => Verdict::Deny(By::AclDefault { acl }),
        }
    }

    /// A packet routed to NAT gateway `n` from inside its VPC: it enters the gateway's
    /// interface (recorded there with the real destination in `pkt-dstaddr`), leaves it with
    /// the gateway's address and a NAT port as its source, and goes on from there like any
    /// packet the gateway's interface sends (policy.md §6.2, flowlogs.md §1.7).
    fn through_nat(&mut self, now: Time, n: u32, pkt: Packet, out: &mut Outcome) {
        let e = self.nats[n as usize].eni;
        let view = PacketView::of(&pkt);
        let Some(d1) = self.enter_subnet(now, e, &pkt, &view, out) else {
            return;
        };
        // A routed hop (profile `nat_decrements_ttl`, docs/decisions/ttl.md): a datagram that
        // arrives with TTL 1 is received (recorded ACCEPT on the gateway's interface) and not
        // forwarded; the gateway answers with time-exceeded (RFC 1812 §5.3.1).
        if self.profile.nat_decrements_ttl && pkt.ttl <= 1 {
            self.capture(
                now,
                e,
                Direction::Ingress,
                Action::Accept,
                &pkt,
                None,
                out.id,
                [Some(d1), None],
                None,
            );
            out.fate = Fate::Dropped(Drop::TtlExpired { at: e, packet: pkt });
            return;
        }
        let mut pkt = pkt;
        if self.profile.nat_decrements_ttl {
            pkt.ttl -= 1;
        }
        let (sport, dport) = nat_ports(&pkt);
        let k = nat::Inside {
            protocol: pkt.protocol(),
            src: pkt.src,
            sport,
            dst: pkt.dst,
            dport,
        };
        let pin = self.nat_pin.take();
        let (idle, limit) = (
            self.profile.nat_idle_timeout,
            self.profile.nat_sessions_per_destination,
        );
        // A reply of a flow a DNAT rule forwarded leaves from the rule's port; anything else
        // is source-NATed.
        let table = &mut self.nats[n as usize].table;
        let forwarded = table.forwarded_reply(now, idle, k);
        let port = match forwarded {
            Some(p) => Ok(p),
            None => table.outbound(now, idle, limit, k, segment(&pkt), pin),
        };
        let (action, d2) = nat_decision(n, port.err());
        self.capture(
            now,
            e,
            Direction::Ingress,
            action,
            &pkt,
            None,
            out.id,
            [Some(d1), d2],
            None,
        );
        let port = match port {
            Ok(p) => p,
            Err(why) => {
                out.fate = Fate::Dropped(Drop::Nat { nat: n, why });
                return;
            }
        };
        let mut translated = pkt;
        translated.src = self.enis[e as usize].ip;
        set_nat_ports(&mut translated, Some(port), None);
        out.nat = Some(NatHit {
            nat: n,
            inside: (pkt.src, sport),
            outside: (translated.src, port),
            forwarded: forwarded.is_some(),
        });
        self.pipeline(now, Endpoint::Eni(e), translated, out);
    }

    /// A packet on the internet: to an external host, or through an IGW to an elastic IP.
    fn cross_internet(&mut self, now: Time, mut pkt: Packet, view: &PacketView, out: &mut Outcome) {
        match self.public_ips.get(&pkt.dst).copied() {
            Some(Endpoint::External(x)) => {
                out.fate = Fate::Delivered {
                    to: Endpoint::External(x),
                    packet: pkt,
                }
            }
            Some(Endpoint::Eni(b)) => {
                let e = &self.enis[b as usize];
                let igw = self.vpcs[e.vpc as usize].igw.unwrap_or(0);
                // The IGW maps the elastic IP 1:1 to the private IP, in the quoted header of an
                // ICMP error as well.
                if out.translation.is_none() {
                    out.translation = Some(Translation {
                        igw,
                        from: pkt.dst,
                        to: e.ip,
                        source: false,
                    });
                }
                if let L4::Icmp {
                    embedded: Some(emb),
                    ..
                } = &mut pkt.l4
                    && emb.src == pkt.dst
                {
                    emb.src = e.ip;
                }
                pkt.dst = e.ip;
                self.arrive(now, b, pkt, view, out);
            }
            // (No public address designates a VPC service or a device.)
            Some(Endpoint::Service { .. } | Endpoint::Device { .. }) | None => {
                out.fate = Fate::Dropped(Drop::NoHost)
            }
        }
    }

    /// Into VPC `vpc`: ingress at the interface holding the packet's destination, or lost
    /// when none does.
    #[inline]
    pub(super) fn arrive_in(
        &mut self,
        now: Time,
        vpc: u32,
        pkt: Packet,
        view: &PacketView,
        out: &mut Outcome,
    ) {
        match self.private_ips.get(&ip_key(vpc, pkt.dst)).copied() {
            Some(b) => self.arrive(now, b, pkt, view, out),
            None => out.fate = Fate::Dropped(Drop::NoHost),
        }
    }

    /// Ingress at ENI `b`: ACL if the packet enters the subnet, then the security group (a
    /// cloud device's interface has none: a NAT gateway translates and forwards instead).
    pub(super) fn arrive(
        &mut self,
        now: Time,
        b: u32,
        pkt: Packet,
        view: &PacketView,
        out: &mut Outcome,
    ) {
        // Traffic from an excluded address (a reply from a service address, DHCP) is neither
        // filtered nor logged on the way in either (D18, flowlogs.md §1.5 "to and from").
        // (A cloud device's interface translates what it receives instead.)
        let e = &self.enis[b as usize];
        let cidr = self.vpcs[e.vpc as usize].cidr;
        if !e.requester_managed
            && self
                .profile
                .is_excluded(pkt.src, view.protocol, view.sport, cidr)
        {
            out.fate = Fate::Delivered {
                to: Endpoint::Eni(b),
                packet: pkt,
            };
            return;
        }
        // Over the ENI's ingress bandwidth limit: dropped before any capture (D20).
        if !self.eni_admits(now, b, Direction::Ingress, pkt.len, out) {
            return;
        }
        let Some(d1) = self.enter_subnet(now, b, &pkt, view, out) else {
            return;
        };
        if self.enis[b as usize].requester_managed {
            match self.nats.iter().position(|n| n.eni == b && !n.deleted) {
                Some(n) => self.back_through_nat(now, n as u32, pkt, d1, out),
                None => out.fate = Fate::Dropped(Drop::NoHost),
            }
            return;
        }
        let (v, tracked) = self.sg_check(now, b, Direction::Ingress, &pkt, view, pkt.src);
        let d2 = Decision {
            stage: Stage::SgIngress,
            at: b,
            verdict: v,
        };
        out.push(d2);
        if !v.allows() {
            self.capture(
                now,
                b,
                Direction::Ingress,
                Action::Reject,
                &pkt,
                None,
                out.id,
                [Some(d1), Some(d2)],
                tracked,
            );
            out.fate = Fate::Dropped(Drop::Policy(d2));
            return;
        }
        self.capture(
            now,
            b,
            Direction::Ingress,
            Action::Accept,
            &pkt,
            None,
            out.id,
            [Some(d1), Some(d2)],
            tracked,
        );
        out.fate = Fate::Delivered {
            to: Endpoint::Eni(b),
            packet: pkt,
        };
    }

    /// The network ACL of `b`'s subnet on the way in, when the packet enters the subnet from
    /// outside. `None` when it drops the packet (recorded as REJECT at `b`).
    pub(super) fn enter_subnet(
        &mut self,
        now: Time,
        b: u32,
        pkt: &Packet,
        view: &PacketView,
        out: &mut Outcome,
    ) -> Option<Decision> {
        let subnet = self.enis[b as usize].subnet;
        let d1 = if self.subnets[subnet as usize].cidr.contains(pkt.src) {
            Decision {
                stage: Stage::AclIngress,
                at: subnet,
                verdict: Verdict::SameSubnet,
            }
        } else {
            let v = self.acl_check(now, subnet, Direction::Ingress, pkt, view, pkt.src);
            Decision {
                stage: Stage::AclIngress,
                at: subnet,
                verdict: v,
            }
        };
        out.push(d1);
        if !d1.verdict.allows() {
            self.capture(
                now,
                b,
                Direction::Ingress,
                Action::Reject,
                pkt,
                None,
                out.id,
                [Some(d1), None],
                None,
            );
            out.fate = Fate::Dropped(Drop::Policy(d1));
            return None;
        }
        Some(d1)
    }

    /// A packet that reached NAT gateway `n`'s interface from outside: a reply of a session
    /// is translated back to the inside host and sent on; anything else is dropped there.
    fn back_through_nat(
        &mut self,
        now: Time,
        n: u32,
        pkt: Packet,
        d1: Decision,
        out: &mut Outcome,
    ) {
        let e = self.nats[n as usize].eni;
        let (sport, dport) = nat_ports(&pkt);
        let idle = self.profile.nat_idle_timeout;
        let table = &mut self.nats[n as usize].table;
        let mut forwarded = false;
        let o = nat::Outside {
            protocol: pkt.protocol(),
            remote: pkt.src,
            rport: sport,
            port: dport,
        };
        // An ICMP error about a packet the gateway sent out (a host's port-unreachable, a
        // router's time-exceeded) goes back to the session's inside host, quote translated;
        // then a reply of an SNAT session, then the DNAT rules (port forwarding).
        let quoted = match pkt.l4 {
            L4::Icmp {
                embedded: Some(q), ..
            } if q.src == pkt.dst => {
                let (sport, dport) = quoted_nat_ports(&q);
                Some(nat::Outside {
                    protocol: q.protocol,
                    remote: q.dst,
                    rport: dport,
                    port: sport,
                })
            }
            _ => None,
        };
        let related = quoted.and_then(|q| Some((table.related(now, idle, q)?, q.port)));
        let inside = match related {
            Some((x, _)) => Ok(x),
            None => match table.inbound(now, idle, o, segment(&pkt)) {
                Err(why) if pkt.dst == self.enis[e as usize].ip => match table.forward(now, o) {
                    Some(x) => {
                        forwarded = true;
                        Ok(x)
                    }
                    None => Err(why),
                },
                r => r,
            },
        };
        let (action, d2) = nat_decision(n, inside.err());
        self.capture(
            now,
            e,
            Direction::Ingress,
            action,
            &pkt,
            None,
            out.id,
            [Some(d1), d2],
            None,
        );
        let (ip, port) = match inside {
            Ok(x) => x,
            Err(why) => {
                out.fate = Fate::Dropped(Drop::Nat { nat: n, why });
                return;
            }
        };
        let mut back = pkt;
        back.dst = ip;
        let outside_port = match (related, &mut back.l4) {
            (
                Some((_, quoted_port)),
                L4::Icmp {
                    embedded: Some(q), ..
                },
            ) => {
                q.src = ip;
                q.sport = port;
                quoted_port
            }
            _ => {
                set_nat_ports(&mut back, None, Some(port));
                dport
            }
        };
        out.nat = Some(NatHit {
            nat: n,
            inside: (ip, port),
            outside: (pkt.dst, outside_port),
            forwarded,
        });
        self.pipeline(now, Endpoint::Eni(e), back, out);
    }
}

/// aws untracked flows (D7, policy.md §1.3): a TCP/UDP flow is not tracked when a rule
/// allows it from (or to) 0.0.0.0/0 and the other direction allows all ports to 0.0.0.0/0.
/// `r` allowed the packet in `dir`; the packet may be the flow's request (`r` is the 0.0.0.0/0
/// rule) or its response (`r` is the all-ports rule and the other direction would admit the
/// request from anywhere).
fn untracked_flow(
    e: &Eni,
    dir: Direction,
    r: &Compiled<By>,
    remote: Ipv4Addr,
    view: &PacketView,
) -> bool {
    let slot = match view.protocol {
        proto::TCP => 0,
        proto::UDP => 1,
        _ => return false,
    };
    let from_anywhere = r.nets.contains(&Ipv4Net::ANY);
    if from_anywhere && e.allows_all_back[dir as usize][slot] {
        return true;
    }
    let all_ports_anywhere = from_anywhere && r.dports.is_all() && r.sports.is_all();
    let request = PacketView {
        sport: view.dport,
        dport: view.sport,
        ..*view
    };
    let other = &e.rules[dir.reverse() as usize];
    all_ports_anywhere
        && other
            .first_match(remote, &request)
            .is_some_and(|q| q.action == RuleAction::Allow && q.nets.contains(&Ipv4Net::ANY))
}

/// A NAT gateway's record action for a translation, and the decision when it dropped.
fn nat_decision(n: u32, drop: Option<nat::NatDrop>) -> (Action, Option<Decision>) {
    match drop {
        None => (Action::Accept, None),
        Some(why) => (
            Action::Reject,
            Some(Decision {
                stage: Stage::Nat,
                at: n,
                verdict: Verdict::Deny(By::Nat(why)),
            }),
        ),
    }
}

/// A TCP segment's flags (none for other protocols): what moves a NAT session along.
/// What a NAT gateway reads of a TCP segment (nothing of other packets).
fn segment(p: &Packet) -> crate::nat::Segment {
    match p.l4 {
        L4::Tcp {
            flags, seq, ack, ..
        } => crate::nat::Segment { flags, seq, ack },
        _ => crate::nat::Segment::default(),
    }
}

/// The "ports" a NAT gateway translates: TCP/UDP ports, the ICMP echo identifier (as
/// source, and as destination on the way back).
fn nat_ports(p: &Packet) -> (u16, u16) {
    match p.l4 {
        L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => (sport, dport),
        L4::Icmp { ident, .. } => (ident, ident),
        L4::Other { .. } => (0, 0),
    }
}

/// [`nat_ports`] of the datagram an ICMP error quotes.
fn quoted_nat_ports(q: &crate::packet::Embedded) -> (u16, u16) {
    match q.protocol {
        proto::ICMP => (q.sport, q.sport),
        _ => (q.sport, q.dport),
    }
}

/// Rewrites a packet's source or destination "port" (see [`nat_ports`]).
fn set_nat_ports(p: &mut Packet, src: Option<u16>, dst: Option<u16>) {
    match &mut p.l4 {
        L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => {
            if let Some(s) = src {
                *sport = s;
            }
            if let Some(d) = dst {
                *dport = d;
            }
        }
        L4::Icmp { ident, .. } => {
            if let Some(x) = src.or(dst) {
                *ident = x;
            }
        }
        L4::Other { .. } => {}
    }
}
