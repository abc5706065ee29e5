//! Cloud Connect Networks on the packet path, and bandwidth limits: the operations that build
//! a CCN (create, attach VPCs, region-pair limits), ENI bandwidth limits, the CCN hop, and the
//! CCN flow logs' capture points (`crate::ccn` holds the CCN itself and the token bucket).
//!
//! The CCN hop (seed 004; decisions D11, D13, D20):
//!
//! ```text
//!  ENI a ─SG/ACL egress─ route ── learned route ── CCN ──┬─ same region ──────────────┐
//!  (egress record at a,   (longest prefix over          │                            ▼
//!   ACCEPT)                table + CCN routes)          └─ region pair: limit? ─▶ ACL/SG ingress ─ ENI b
//!                                                          CCN record ACCEPT, or REJECT and dropped
//! ```
//!
//! A VPC attached to a CCN learns the other attached VPCs' blocks ([`crate::ccn`]); the route
//! step of the pipeline matches them with the VPC's table, longest prefix first (the table
//! wins a tie). The sender's egress record is written as for any routed packet (ACCEPT). A
//! packet between regions then meets the pair's bandwidth limit: over it, it is dropped and
//! counted REJECT at the CCN's capture point (throttling, not policy: D20); within it (or with
//! no limit) it is counted ACCEPT. A packet between two VPCs of one region is neither
//! throttled nor counted. Then it enters the destination VPC at the destination ENI like a
//! packet from outside the subnet: ACL ingress, SG ingress (there is no interface of the CCN
//! in the VPC, unlike a transit gateway's attachment).
//!
//! CCN flow log records: key = 5-tuple + source region + destination region (one capture
//! point per ordered pair of attached VPCs in different regions), action ACCEPT (forwarded)
//! or REJECT (throttled), `start`/`end` = first/last packet (the formats), 60 s windows on
//! tencent (D11). A window with nothing to record gives one NODATA record for the CCN as a
//! whole. Packets of a CCN are not in packet captures (`--pcap`): the CCN has no interface.
//!
//! ENI bandwidth limits (tencent, D20): an ENI may have a limit in bits per second, each
//! direction a bucket of its own. Egress is captured before the limit: a packet over it has
//! already been counted ACCEPT in the ENI's egress record when it is dropped. Ingress is
//! captured after it: a packet over it is dropped on arrival, before the ACL and the security
//! group, and appears in no record.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use crate::ccn::{self, Admission, Attachment, Bandwidth, Ccn};
use crate::flowlog::collect::Observation;
use crate::flowlog::{CaptureMeta, CcnPoint, Scope};
use crate::ids;
use crate::packet::Packet;
use crate::policy::PacketView;
use crate::time::{Span, Time};
use crate::{Action, Direction};

/// The CCN part of a packet's path: the learned route it took (from one attachment to
/// another) and what the region pair's limit made of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CcnHit {
    pub ccn: u32,
    /// Attachment indices in the CCN.
    pub from: u32,
    pub to: u32,
    /// The regions differ (the limit applies and the CCN flow log counts it).
    pub cross_region: bool,
    /// The pair's limit, bits per second, when it has one.
    pub limit: Option<u64>,
    pub throttled: bool,
}

/// What a bandwidth limit dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Throttle {
    /// A CCN region pair's limit (`rate` bits per second), from attachment `from` to `to`.
    Ccn {
        ccn: u32,
        from: u32,
        to: u32,
        rate: u64,
    },
    /// An ENI's limit in one direction (D20: egress after capture, ingress before it).
    Eni {
        eni: u32,
        direction: Direction,
        rate: u64,
    },
}

/// A learned route chosen for a packet.
#[derive(Clone, Copy, Debug)]
pub(super) struct CcnRoute {
    ccn: u32,
    from: u32,
    to: u32,
}

impl World {
    // ----- operations -----

    /// Creates a Cloud Connect Network (tencent CCN, alibaba CEN), with no VPC yet.
    pub fn create_ccn(&mut self, name: &str, id: Option<String>) -> Result<u32, ModelError> {
        let Some(p) = self.profile.ccn else {
            return Err(ModelError::precondition(
                "ccn",
                format!(
                    "{} has no Cloud Connect Network in vpclab (tencent's CCN and alibaba's CEN \
                     are simulated); join regions with enterprise-router peering",
                    self.profile.provider
                ),
            ));
        };
        check_name(name)?;
        if self.ccns.by_name(name).is_some() {
            return Err(ModelError::exists(
                "name",
                format!("a CCN named `{name}` already exists"),
            ));
        }
        match id.as_deref() {
            Some("") => return Err(ModelError::invalid("id", "an ID cannot be empty")),
            Some(i) if self.ccns.find(i).is_some() => {
                return Err(ModelError::exists(
                    "id",
                    format!("ID `{i}` is already used by another CCN"),
                ));
            }
            _ => {}
        }
        let id = match id {
            Some(id) => id,
            None => loop {
                let id = ids::resource(&mut self.rng, self.profile.id_style, p.id_prefix);
                if self.ccns.find(&id).is_none() {
                    break id;
                }
            },
        };
        let c = self.ccns.items.len() as u32;
        self.graph.add_node(Node::Ccn(c));
        let meta = Arc::new(CaptureMeta {
            account_id: self.account_id.clone(),
            interface_id: id.clone(),
            vpc_id: "-".into(),
            subnet_id: "-".into(),
            region: self.region.clone(),
            az_id: "-".into(),
            ccn: Some(CcnPoint {
                ccn_id: id.clone(),
                attachment_id: "-".into(),
                src_region: None,
                dst_region: None,
            }),
            ..CaptureMeta::default()
        });
        Ok(self.ccns.push(Ccn::new(id, name.into(), meta)))
    }

    /// Attaches VPC `vpc` to CCN `ccn`: its block is published to the CCN, and it learns the
    /// other attached VPCs' blocks. A VPC joins one CCN; blocks on a CCN may not overlap.
    pub fn attach_to_ccn(&mut self, ccn: u32, vpc: u32) -> Result<(), ModelError> {
        let c = self
            .ccns
            .get(ccn)
            .ok_or_else(|| ModelError::not_found("ccn", "no such CCN"))?;
        let v = self.vpc(vpc)?;
        if let Some(other) = v.ccn {
            return Err(ModelError::precondition(
                "vpc",
                format!(
                    "vpc `{}` is already attached to CCN {} (a VPC joins one CCN)",
                    v.name, self.ccns.items[other as usize].id
                ),
            ));
        }
        if let Some(a) = c.attachments.iter().find(|a| a.cidr.overlaps(v.cidr)) {
            return Err(ModelError::invalid(
                "vpc",
                format!(
                    "vpc `{}` ({}) overlaps vpc `{}` ({}) on CCN {}: the blocks of a CCN's VPCs \
                     may not overlap",
                    v.name, v.cidr, a.vpc_name, a.cidr, c.id
                ),
            ));
        }
        let (vpc_id, vpc_name, cidr, region, vnode) = (
            v.id.clone(),
            v.name.clone(),
            v.cidr,
            v.region.clone(),
            v.node,
        );
        let id = match self.profile.ccn.and_then(|p| p.attachment_prefix) {
            Some(prefix) => ids::resource(&mut self.rng, self.profile.id_style, prefix),
            None => vpc_id.clone(),
        };
        let attachment = Attachment {
            id,
            vpc,
            vpc_id,
            vpc_name,
            cidr,
            region,
        };
        let (account, log_region) = (self.account_id.clone(), self.region.clone());
        let ccn_id = self.ccns.items[ccn as usize].id.clone();
        self.ccns.items[ccn as usize].attach(attachment, |from, to| {
            Arc::new(CaptureMeta {
                account_id: account.clone(),
                interface_id: ccn_id.clone(),
                vpc_id: from.vpc_id.clone(),
                subnet_id: "-".into(),
                region: log_region.clone(),
                az_id: "-".into(),
                ccn: Some(CcnPoint {
                    ccn_id: ccn_id.clone(),
                    attachment_id: from.id.clone(),
                    src_region: Some(from.region.clone()),
                    dst_region: Some(to.region.clone()),
                }),
                ..CaptureMeta::default()
            })
        });
        self.vpcs[vpc as usize].ccn = Some(ccn);
        if let Some(n) = self
            .graph
            .node_indices()
            .find(|&n| self.graph[n] == Node::Ccn(ccn))
        {
            self.graph.add_edge(n, vnode, ());
        }
        Ok(())
    }

    /// Limits the traffic between two regions of CCN `ccn` to `bandwidth` bits per second in
    /// each direction, from `now` (the buckets start full); replaces the pair's previous limit.
    /// Both regions must be those of attached VPCs (a typo would otherwise limit nothing).
    pub fn set_ccn_bandwidth(
        &mut self,
        now: Time,
        ccn: u32,
        regions: [&str; 2],
        bandwidth: u64,
    ) -> Result<(), ModelError> {
        let c = self
            .ccns
            .get(ccn)
            .ok_or_else(|| ModelError::not_found("ccn", "no such CCN"))?;
        for (i, r) in regions.iter().enumerate() {
            let field = format!("regions[{i}]");
            ccn::check_region(r).map_err(|m| ModelError::invalid(field.clone(), m))?;
            if !c.has_region(r) {
                return Err(ModelError::invalid(
                    field,
                    format!("no VPC of region {r} is attached to CCN {}", c.id),
                ));
            }
        }
        if regions[0] == regions[1] {
            return Err(ModelError::invalid(
                "regions",
                "a bandwidth limit joins two different regions (traffic inside a region is not \
                 limited)",
            ));
        }
        if bandwidth == 0 {
            return Err(ModelError::invalid(
                "bandwidth",
                "a bandwidth limit is at least 1 bit/s",
            ));
        }
        self.ccns.items[ccn as usize]
            .set_limit(regions.map(str::to_string), Bandwidth::new(bandwidth, now));
        Ok(())
    }

    /// Sets (or with `None` removes) the bandwidth limit of ENI `eni`, bits per second in each
    /// direction, from `now` (D20). Only where the cloud documents how flow logs see it
    /// (tencent), and not on a cloud device's interface.
    pub fn set_eni_bandwidth(
        &mut self,
        now: Time,
        eni: u32,
        bandwidth: Option<u64>,
    ) -> Result<(), ModelError> {
        let e = self.eni(eni)?;
        if !self.profile.eni_bandwidth_limits {
            return Err(ModelError::precondition(
                "bandwidth",
                format!(
                    "vpclab limits ENI bandwidth on tencent only, whose flow logs document where \
                     they capture relative to the limit (D20), not on {}",
                    self.profile.provider
                ),
            ));
        }
        if e.requester_managed {
            return Err(ModelError::invalid(
                "bandwidth",
                "a cloud device's interface has no bandwidth limit of its own",
            ));
        }
        if bandwidth == Some(0) {
            return Err(ModelError::invalid(
                "bandwidth",
                "a bandwidth limit is at least 1 bit/s",
            ));
        }
        self.enis[eni as usize].bandwidth = bandwidth.map(|b| Box::new(Bandwidth::new(b, now)));
        Ok(())
    }

    // ----- the per-packet path -----

    /// The route a packet from `vpc` to `dst` takes over the VPC's CCN, if a learned route is
    /// longer than the table's match `hit` (the table wins a tie).
    #[inline]
    pub(super) fn ccn_route(
        &self,
        vpc: u32,
        dst: Ipv4Addr,
        hit: Option<RouteHit>,
    ) -> Option<CcnRoute> {
        let c = self.vpcs[vpc as usize].ccn?;
        let ccn = &self.ccns.items[c as usize];
        let to = ccn.route(vpc, dst)?;
        let learned = ccn.attachments[to as usize].cidr.prefix_len();
        if hit.is_some_and(|h| h.destination.prefix_len() >= learned) {
            return None;
        }
        Some(CcnRoute {
            ccn: c,
            from: ccn.attachment_of(vpc)?,
            to,
        })
    }

    /// Does the address `dst` belong, over a CCN, to another VPC that `vpc` reaches? Gives
    /// that VPC.
    pub(super) fn ccn_destination(&self, vpc: u32, dst: Ipv4Addr) -> Option<u32> {
        let c = self.vpcs[vpc as usize].ccn?;
        let ccn = &self.ccns.items[c as usize];
        ccn.route(vpc, dst).map(|a| ccn.attachments[a as usize].vpc)
    }

    /// A packet on a learned route: through the region pair's limit when the regions differ
    /// (counted at the CCN's capture point), then into the destination VPC at the destination
    /// ENI (module doc).
    pub(super) fn through_ccn(&mut self, now: Time, r: CcnRoute, pkt: Packet, out: &mut Outcome) {
        let ccn = &mut self.ccns.items[r.ccn as usize];
        let (a, b) = (
            &ccn.attachments[r.from as usize],
            &ccn.attachments[r.to as usize],
        );
        let (dst_vpc, cross) = (b.vpc, a.region != b.region);
        let admission = if cross {
            ccn.admit(now, r.from, r.to, pkt.len as u64)
        } else {
            Admission::Passed(None)
        };
        let (limit, throttled) = match admission {
            Admission::Passed(limit) => (limit, None),
            Admission::Throttled(rate) => (Some(rate), Some(rate)),
        };
        out.ccn = Some(CcnHit {
            ccn: r.ccn,
            from: r.from,
            to: r.to,
            cross_region: cross,
            limit,
            throttled: throttled.is_some(),
        });
        if cross {
            let action = if throttled.is_some() {
                Action::Reject
            } else {
                Action::Accept
            };
            self.capture_ccn(now, r, action, &pkt, out.id);
        }
        if let Some(rate) = throttled {
            out.fate = Fate::Dropped(Drop::Throttled(Throttle::Ccn {
                ccn: r.ccn,
                from: r.from,
                to: r.to,
                rate,
            }));
            return;
        }
        let view = PacketView::of(&pkt);
        self.arrive_in(now, dst_vpc, pkt, &view, out);
    }

    /// Does a packet of `bytes` fit ENI `eni`'s bandwidth limit in `direction` at `now`? If
    /// not, `out` says it was throttled. An ENI without a limit always fits.
    #[inline]
    pub(super) fn eni_admits(
        &mut self,
        now: Time,
        eni: u32,
        direction: Direction,
        bytes: u16,
        out: &mut Outcome,
    ) -> bool {
        if self.enis[eni as usize].bandwidth.is_none() {
            return true;
        }
        // A bucket's level depends on every packet through it, in order.
        self.trace_unrepeatable();
        let Some(bw) = self.enis[eni as usize].bandwidth.as_deref_mut() else {
            return true;
        };
        if bw.admit(now, direction, bytes as u64) {
            return true;
        }
        out.fate = Fate::Dropped(Drop::Throttled(Throttle::Eni {
            eni,
            direction,
            rate: bw.rate(),
        }));
        false
    }

    /// Counts a cross-region packet at its pair's capture point, in every flow log of the CCN.
    fn capture_ccn(&mut self, now: Time, r: CcnRoute, action: Action, pkt: &Packet, id: u64) {
        let ccn = &self.ccns.items[r.ccn as usize];
        if ccn.logs.is_empty() {
            return;
        }
        let Some(point) = ccn.point(r.from, r.to) else {
            return;
        };
        // `in`: into the CCN through the source VPC's attachment (alibaba's `direction`).
        let o = Observation {
            at: now,
            eni: point,
            direction: Direction::Ingress,
            action,
            tuple: self.logged_tuple(pkt),
            pkt_src: pkt.src,
            pkt_dst: pkt.dst,
            bytes: pkt.len,
            tcp_flags: pkt.tcp_flags(),
            traffic_path: None,
            packet_id: id,
            label: self.label,
            decisions: [None, None],
        };
        for &f in &self.ccns.items[r.ccn as usize].logs {
            self.flow_logs[f as usize].collector.observe(&o);
        }
    }

    // ----- flow logs -----

    /// The capture window of a new CCN flow log (the cloud's CCN default when `None`, D11),
    /// or why it is refused.
    pub(super) fn check_ccn_flow_log_window(
        &self,
        window: Option<Span>,
    ) -> Result<Span, ModelError> {
        let Some(p) = self.profile.ccn else {
            return Err(ModelError::precondition(
                "resource",
                format!(
                    "{} has no Cloud Connect Network flow logs",
                    self.profile.provider
                ),
            ));
        };
        let w = window.unwrap_or(p.window);
        if !p.windows_allowed.contains(&w.secs()) || !w.micros().is_multiple_of(1_000_000) {
            return Err(ModelError::invalid(
                "window",
                format!(
                    "{} does not allow a {w} CCN flow log window (allowed: {:?} s)",
                    self.profile.provider, p.windows_allowed
                ),
            ));
        }
        Ok(w)
    }

    /// Recomputes which live flow logs capture each CCN.
    pub(super) fn refresh_ccn_coverage(&mut self) {
        for (c, ccn) in self.ccns.items.iter_mut().enumerate() {
            ccn.logs = live(&self.flow_logs)
                .filter(|(_, f)| f.collector.settings.scope == Scope::Ccn(c as u32))
                .map(|(f, _)| f)
                .collect();
        }
    }

    /// The capture points of CCN flow log `f` for NODATA in its open window: the CCN as a
    /// whole when the window holds nothing, else none (a quiet region pair of a busy CCN is
    /// not a NODATA record).
    pub(super) fn ccn_quiet_points(&self, f: usize) -> Vec<(u32, Time)> {
        let fl = &self.flow_logs[f];
        if fl.collector.active_len() == 0 {
            vec![(0, fl.created)]
        } else {
            Vec::new()
        }
    }

    /// Closes the open window of CCN flow log `f` (of CCN `c`): its records get their capture
    /// point's metadata and their action in words.
    pub(super) fn emit_ccn(&mut self, f: usize, c: u32, covered: &[(u32, Time)]) {
        let ccn = &self.ccns.items[c as usize];
        let records = &mut self.records;
        self.flow_logs[f]
            .collector
            .close_window_into(covered, |point, mut record, _| {
                record.capture = ccn.point_meta(point);
                if let Some(flow) = &record.flow {
                    let dropped = flow.action == Action::Reject;
                    record.truth.decisions = vec![ccn.verdict_words(point, dropped)];
                }
                records.push(record);
            });
    }

    /// The CCN hop of a packet in words, for explanations.
    pub fn describe_ccn_hop(&self, h: &CcnHit, dst: Ipv4Addr) -> String {
        let ccn = &self.ccns.items[h.ccn as usize];
        let (a, b) = (
            &ccn.attachments[h.from as usize],
            &ccn.attachments[h.to as usize],
        );
        let route = format!(
            "CCN {} ({}): learned route {} -> vpc {} (published when it joined; longest prefix match for {dst})",
            ccn.id, ccn.name, b.cidr, b.vpc_name
        );
        if !h.cross_region {
            return format!(
                "{route}; both VPCs in {}: not limited, not in CCN flow logs",
                a.region
            );
        }
        let pair = format!("{}→{}", a.region, b.region);
        match (h.throttled, h.limit) {
            (true, Some(rate)) => format!(
                "{route}; region pair {pair} over its {} limit: dropped, logged REJECT",
                ccn::rate_text(rate)
            ),
            (_, Some(rate)) => format!(
                "{route}; region pair {pair} within its {} limit: forwarded, logged ACCEPT",
                ccn::rate_text(rate)
            ),
            (_, None) => {
                format!("{route}; region pair {pair} has no limit: forwarded, logged ACCEPT")
            }
        }
    }

    /// Why a bandwidth limit dropped a packet, in words.
    pub fn describe_throttle(&self, t: &Throttle) -> String {
        match *t {
            Throttle::Ccn {
                ccn,
                from,
                to,
                rate,
            } => {
                let c = &self.ccns.items[ccn as usize];
                ccn::throttled_words(
                    &c.id,
                    &c.attachments[from as usize].region,
                    &c.attachments[to as usize].region,
                    rate,
                )
            }
            Throttle::Eni {
                eni,
                direction: Direction::Egress,
                rate,
            } => format!(
                "dropped by the egress bandwidth limit of ENI {} ({}): captured before the \
                 limit, so its egress record counts it ACCEPT (D20)",
                self.enis[eni as usize].id,
                ccn::rate_text(rate)
            ),
            Throttle::Eni {
                eni,
                direction: Direction::Ingress,
                rate,
            } => format!(
                "dropped by the ingress bandwidth limit of ENI {} ({}): captured after the \
                 limit, so no record shows it (D20)",
                self.enis[eni as usize].id,
                ccn::rate_text(rate)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Ipv4Net;
    use crate::flowlog::{Filter, Scope};
    use crate::host::Host;
    use crate::packet::Packet;
    use crate::policy::sg;
    use crate::profile::{Profile, Provider};
    use crate::time::{Span, Time};

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::parse_strict(s).unwrap()
    }

    const T0: Time = Time::from_secs(1_700_000_000);

    /// Two tencent VPCs, gz (10.0.0.0/16) and sh (10.1.0.0/16), an ENI in each allowing
    /// everything, both on one CCN.
    fn two_regions() -> (World, u32, [u32; 2], [u32; 2]) {
        let mut w = World::new(Config::new(Profile::of(Provider::Tencent)));
        let mut vpcs = [0; 2];
        let mut enis = [0; 2];
        for (i, (name, cidr, region)) in [
            ("gz", "10.0.0.0/16", "ap-guangzhou"),
            ("sh", "10.1.0.0/16", "ap-shanghai"),
        ]
        .into_iter()
        .enumerate()
        {
            let v = w
                .create_vpc_in(name, None, net(cidr), Some(region.into()))
                .unwrap();
            let s = w
                .create_subnet(
                    "app",
                    None,
                    v,
                    net(&cidr.replace(".0.0/16", ".1.0/24")),
                    None,
                )
                .unwrap();
            let g = w
                .create_security_group("all", None, v, sg::Rule::allow_everything())
                .unwrap();
            enis[i] = w
                .create_eni(
                    T0,
                    EniSpec {
                        name: format!("{name}-host"),
                        subnet: s,
                        security_groups: vec![g],
                        host: Host {
                            auto_reply: false,
                            ..Host::default()
                        },
                        ..Default::default()
                    },
                )
                .unwrap();
            vpcs[i] = v;
        }
        let c = w.create_ccn("ccn", None).unwrap();
        for v in vpcs {
            w.attach_to_ccn(c, v).unwrap();
        }
        (w, c, vpcs, enis)
    }

    fn udp(w: &World, from: u32, to: u32) -> Packet {
        Packet::udp(
            w.enis[from as usize].ip,
            40000,
            w.enis[to as usize].ip,
            5001,
            1250,
        )
    }

    #[test]
    fn clouds_without_a_ccn_refuse_one() {
        for p in [Provider::Aws, Provider::Huawei] {
            let mut w = World::new(Config::new(Profile::of(p)));
            let e = w.create_ccn("ccn", None).unwrap_err();
            assert_eq!(e.kind, ErrorKind::FailedPrecondition, "{p}");
        }
        let mut ali = World::new(Config::new(Profile::of(Provider::Alibaba)));
        let c = ali.create_ccn("cen", None).unwrap();
        assert!(ali.ccns.items[c as usize].id.starts_with("cen-"));
    }

    #[test]
    fn attachments_and_limits_are_checked() {
        let (mut w, c, [gz, _], [gz_host, _]) = two_regions();
        // A VPC joins one CCN; blocks on a CCN do not overlap.
        let again = w.attach_to_ccn(c, gz).unwrap_err();
        assert_eq!(again.kind, ErrorKind::FailedPrecondition);
        let clash = w
            .create_vpc_in("sh2", None, net("10.1.0.0/17"), Some("ap-shanghai".into()))
            .unwrap();
        let e = w.attach_to_ccn(c, clash).unwrap_err();
        assert!(e.message.contains("overlaps vpc `sh`"), "{e}");
        // Limits join two regions of attached VPCs, at 1 bit/s at least.
        let bad = |w: &mut World, r: [&str; 2], bw: u64| {
            w.set_ccn_bandwidth(T0, c, r, bw).unwrap_err().field
        };
        assert_eq!(
            bad(&mut w, ["ap-guangzhou", "ap-beijing"], 1000),
            "regions[1]"
        );
        assert_eq!(
            bad(&mut w, ["ap-guangzhou", "ap-guangzhou"], 1000),
            "regions"
        );
        assert_eq!(bad(&mut w, ["ap-guangzhou", "ap-shanghai"], 0), "bandwidth");
        assert_eq!(
            bad(&mut w, ["Guangzhou", "ap-shanghai"], 1000),
            "regions[0]"
        );
        w.set_ccn_bandwidth(T0, c, ["ap-shanghai", "ap-guangzhou"], 8000)
            .unwrap();
        // Regions are checked where VPCs are made.
        let e = w
            .create_vpc_in("x", None, net("10.9.0.0/16"), Some("AP".into()))
            .unwrap_err();
        assert_eq!(e.field, "region");
        // ENI limits: tencent only, never 0.
        assert_eq!(
            w.set_eni_bandwidth(T0, gz_host, Some(0)).unwrap_err().field,
            "bandwidth"
        );
        w.set_eni_bandwidth(T0, gz_host, Some(8000)).unwrap();
        let mut aws = World::new(Config::new(Profile::of(Provider::Aws)));
        let v = aws.create_vpc("v", None, net("10.0.0.0/16")).unwrap();
        let s = aws
            .create_subnet("s", None, v, net("10.0.1.0/24"), None)
            .unwrap();
        let e = aws
            .create_eni(
                T0,
                EniSpec {
                    name: "e".into(),
                    subnet: s,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            aws.set_eni_bandwidth(T0, e, Some(8000)).unwrap_err().kind,
            ErrorKind::FailedPrecondition
        );
    }

    #[test]
    fn learned_routes_lose_to_table_routes_as_long_or_longer() {
        let (mut w, c, [gz, _], [a, b]) = two_regions();
        // 80,000 bits: eight packets of 1250 bytes at one instant.
        w.set_ccn_bandwidth(T0, c, ["ap-guangzhou", "ap-shanghai"], 80_000)
            .unwrap();
        // 0.0.0.0/0 is shorter than the learned 10.1.0.0/16: the CCN carries the packet.
        let main = w.vpcs[gz as usize].main_route_table;
        w.add_route(
            main,
            Route {
                destination: Ipv4Net::ANY,
                target: Target::Blackhole,
            },
        )
        .unwrap();
        let fates: Vec<Outcome> = (0..9)
            .map(|_| w.send(T0, Endpoint::Eni(a), udp(&w, a, b)))
            .collect();
        for out in &fates[..8] {
            assert_eq!(out.delivered().map(|(to, _)| to), Some(Endpoint::Eni(b)));
            let hit = out.ccn.unwrap();
            assert!(hit.cross_region && !hit.throttled);
            assert_eq!(hit.limit, Some(80_000));
        }
        assert_eq!(
            fates[8].fate,
            Fate::Dropped(Drop::Throttled(Throttle::Ccn {
                ccn: c,
                from: 0,
                to: 1,
                rate: 80_000
            }))
        );
        // The other direction has a bucket of its own.
        assert!(
            w.send(T0, Endpoint::Eni(b), udp(&w, b, a))
                .delivered()
                .is_some()
        );
        // A blackhole of the same /16 in the table wins the tie.
        w.add_route(
            main,
            Route {
                destination: net("10.1.0.0/16"),
                target: Target::Blackhole,
            },
        )
        .unwrap();
        let out = w.send(T0 + Span::from_secs(10), Endpoint::Eni(a), udp(&w, a, b));
        assert!(matches!(out.fate, Fate::Dropped(Drop::Blackhole { .. })));
        assert!(out.ccn.is_none());
    }

    #[test]
    fn same_region_is_neither_limited_nor_logged() {
        let mut w = World::new(Config::new(Profile::of(Provider::Tencent)));
        let (v1, v2) = (
            w.create_vpc("a", None, net("10.0.0.0/16")).unwrap(),
            w.create_vpc("b", None, net("10.1.0.0/16")).unwrap(),
        );
        assert_eq!(w.vpcs[v1 as usize].region, "ap-guangzhou");
        let s1 = w
            .create_subnet("s", None, v1, net("10.0.1.0/24"), None)
            .unwrap();
        let s2 = w
            .create_subnet("s", None, v2, net("10.1.1.0/24"), None)
            .unwrap();
        let c = w.create_ccn("ccn", None).unwrap();
        w.attach_to_ccn(c, v1).unwrap();
        w.attach_to_ccn(c, v2).unwrap();
        let open = |w: &mut World, v| {
            w.create_security_group("all", None, v, sg::Rule::allow_everything())
                .unwrap()
        };
        let (g1, g2) = (open(&mut w, v1), open(&mut w, v2));
        let eni = |w: &mut World, name: &str, subnet, g| {
            w.create_eni(
                T0,
                EniSpec {
                    name: name.into(),
                    subnet,
                    security_groups: vec![g],
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let (a, b) = (eni(&mut w, "a", s1, g1), eni(&mut w, "b", s2, g2));
        w.create_flow_log(
            T0,
            FlowLogSpec {
                name: "ccn".into(),
                id: None,
                scope: Scope::Ccn(c),
                filter: Filter::All,
                window: None,
                capacity: None,
                description: String::new(),
                tags: Default::default(),
                log_stream: None,
            },
        )
        .unwrap();
        let out = w.send(T0, Endpoint::Eni(a), udp(&w, a, b));
        assert!(out.delivered().is_some());
        assert!(!out.ccn.unwrap().cross_region);
        w.advance(T0 + Span::from_secs(60));
        let records = w.take_records();
        // One window, nothing cross-region: one NODATA record for the CCN as a whole.
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].status, crate::flowlog::LogStatus::NoData);
        assert_eq!(
            records[0]
                .window_end
                .saturating_sub(records[0].window_start)
                .secs(),
            60
        );
    }
}
