//! Router flow logs: the records of the packets crossing an enterprise-router attachment
//! (seed 000; flowlogs.md §1.8 for AWS transit gateways, §3.3 for huawei's Enterprise Router;
//! decisions D11, D13, D15, D17).
//!
//! A flow log whose scope is [`Scope::RouterAttachment`] has the attachment as its one capture
//! point (its collector's capture-point indices are attachment indices, never ENI indices).
//! [`World::log_router_crossing`], called where the router has chosen a route, counts a packet
//! twice at most:
//!
//! ```text
//!  sender ──▶ attachment A ──▶ router's route table ──▶ attachment B ──▶ on its way
//!             A's flow log: ingress                      B's flow log: egress
//!             (+ packets-lost-* when dropped here)
//! ```
//!
//! - into the router through attachment A: an ingress record at A; a packet the router drops
//!   (no route, blackhole) counts there in `packets`/`bytes` and in the matching
//!   `packets-lost-*` counter: the record says what crossed the attachment, the counter what
//!   became of it. Nothing is recorded downstream (D13);
//! - out of the router through attachment B: an egress record at B.
//!
//! srcaddr/dstaddr are the packet's own (an attachment has no address of its own in these
//! records). The record keeps the path of its first packet: both attachments, and for a VPC
//! attachment the interface, subnet and zone it used (the TGW `tgw-src-*`/`tgw-dst-*` fields).
//! Only the first fragment of a fragmented packet is counted (huawei documents it, seed 000;
//! the other clouds are silent and are treated alike). The router's own traffic (BGP) is never
//! logged: vpclab's routers exchange none. There is no action and no traffic filter: router
//! flow logs record all traffic (aws: `--traffic-type` must not be given, §1.8).
//!
//! A packet larger than the router's MTU (profile `mtu`: aws 8500) counts in
//! `packets-lost-mtu-exceeded`. What it does not: TTL checks (`packets-lost-ttl-expired` stays
//! 0: no router decrements the TTL, docs/decisions/ttl.md), whole-router scopes (AWS `TransitGateway` resource type), packet captures of router crossings.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use crate::flowlog::collect::Observation;
use crate::flowlog::{CaptureMeta, Filter, Loss, RouterEnd, RouterPath, Scope};
use crate::packet::Packet;
use crate::router::AttachmentKind;
use crate::time::{Span, Time};
use crate::{Action, Direction};

impl World {
    /// The capture window of a new flow log of `scope` (the profile's default when `None`),
    /// or why it is refused; refuses a traffic filter on a router flow log.
    pub(super) fn check_flow_log_window(
        &self,
        scope: Scope,
        window: Option<Span>,
        filter: Filter,
    ) -> Result<Span, ModelError> {
        // CCN flow logs have windows of their own (connect).
        if let Scope::Ccn(_) = scope {
            return self.check_ccn_flow_log_window(window);
        }
        let router = matches!(scope, Scope::RouterAttachment(_));
        if router && filter != Filter::All {
            return Err(ModelError::invalid(
                "traffic",
                "a router flow log records all traffic: it has no accepted/rejected filter \
                 (routers do not accept or reject packets)",
            ));
        }
        let (window, allowed) = if router {
            let w = window.unwrap_or(self.profile.router_window_default());
            (w, self.profile.router_window_allowed(w.secs()))
        } else {
            let w = window.unwrap_or(self.profile.window);
            (w, self.profile.windows_allowed.contains(&w.secs()))
        };
        if !allowed || !window.micros().is_multiple_of(1_000_000) {
            let choices = match (router, self.profile.router_window) {
                (true, Some(r)) if r.min_secs == r.max_secs => format!("{} s", r.min_secs),
                (true, Some(r)) => format!("{} to {} s", r.min_secs, r.max_secs),
                _ => format!("{:?} s", self.profile.windows_allowed),
            };
            let what = if router { "router flow log" } else { "capture" };
            return Err(ModelError::invalid(
                "window",
                format!(
                    "{} does not allow a {window} {what} window (allowed: {choices})",
                    self.profile.provider
                ),
            ));
        }
        Ok(window)
    }

    /// What a router attachment's records say about where they were captured: the account
    /// (huawei project), the router, the attachment as the interface, the attached VPC.
    pub(super) fn attachment_meta(&self, a: u32) -> Arc<CaptureMeta> {
        let att = &self.routers.attachments[a as usize];
        let vpc_id = match att.kind {
            AttachmentKind::Vpc => att.resource.clone(),
            _ => "-".to_string(),
        };
        Arc::new(CaptureMeta {
            account_id: self.account_id.clone(),
            interface_id: att.id.clone(),
            vpc_id,
            subnet_id: "-".to_string(),
            instance_id: None,
            region: self.router_region(att.router).to_string(),
            az_id: "-".to_string(),
            primary_ip: Ipv4Addr::UNSPECIFIED,
            router_id: Some(self.routers.routers[att.router as usize].id.clone()),
            ccn: None,
        })
    }

    /// The capture points of router flow log `f` now (its attachment while it is live), with
    /// the time each came to exist (the flow log's creation: attachments keep no time).
    pub(super) fn router_points(&self, f: usize) -> Vec<(u32, Time)> {
        match self.flow_logs[f].collector.settings.scope {
            Scope::RouterAttachment(a) if self.is_live(Kind::RouterAttachment, a) => {
                vec![(a, self.flow_logs[f].created)]
            }
            _ => Vec::new(),
        }
    }

    /// Counts a packet that entered a router through attachment `from` (sent from availability
    /// zone `az`; empty from premises or a peer) and that leaves through attachment `crossing`
    /// or is lost there for that reason: an ingress record at `from`, and unless lost an
    /// egress record at the next attachment. Call it once the route is chosen, before the
    /// packet goes on.
    pub(super) fn log_router_crossing(
        &mut self,
        now: Time,
        from: u32,
        az: &str,
        crossing: Result<u32, Loss>,
        pkt: &Packet,
        packet_id: u64,
    ) {
        if pkt.is_later_fragment() {
            return;
        }
        let covers = |w: &World, a: u32| {
            live(&w.flow_logs)
                .any(|(_, f)| f.collector.settings.scope == Scope::RouterAttachment(a))
        };
        let (to, lost) = match crossing {
            Ok(next) => (Some(next), None),
            Err(loss) => (None, Some(loss)),
        };
        if !covers(self, from) && !to.is_some_and(|t| covers(self, t)) {
            return;
        }
        // The interfaces `through_router` uses: the sender's zone in, the same zone (or the
        // first interface) out; none for attachments other than VPCs.
        let from_eni = self.attachment_eni(from, az, false);
        let to = to.map(|t| (t, self.attachment_eni(t, az, true)));
        let mut o = Observation {
            at: now,
            eni: from,
            direction: Direction::Ingress,
            action: Action::Accept,
            tuple: self.logged_tuple(pkt),
            pkt_src: pkt.src,
            pkt_dst: pkt.dst,
            bytes: pkt.len,
            tcp_flags: pkt.tcp_flags(),
            traffic_path: None,
            packet_id,
            label: self.label,
            decisions: [None, None],
        };
        let mut path: Option<Arc<RouterPath>> = None;
        let points = [(from, Direction::Ingress, lost)]
            .into_iter()
            .chain(to.map(|(t, _)| (t, Direction::Egress, None)));
        for (point, direction, lost) in points {
            o.eni = point;
            o.direction = direction;
            for f in 0..self.flow_logs.len() {
                let fl = &self.flow_logs[f];
                if fl.deleted || fl.collector.settings.scope != Scope::RouterAttachment(point) {
                    continue;
                }
                let (routers, enis, subnets, account) =
                    (&self.routers, &self.enis, &self.subnets, &self.account_id);
                let path = &mut path;
                self.flow_logs[f].collector.observe_router(&o, lost, || {
                    path.get_or_insert_with(|| {
                        let end = |(a, e)| router_end(routers, enis, subnets, account, a, e);
                        Arc::new(RouterPath {
                            src: end((from, from_eni)),
                            dst: to.map(end),
                        })
                    })
                    .clone()
                });
            }
        }
    }
}

/// One side of a crossing in ids: attachment `a`, and for a VPC attachment its VPC (owned by
/// the world's account) and the interface `eni` with its subnet and zone.
fn router_end(
    routers: &crate::router::Routers,
    enis: &[Eni],
    subnets: &[Subnet],
    account: &str,
    a: u32,
    eni: Option<u32>,
) -> RouterEnd {
    let att = &routers.attachments[a as usize];
    let vpc = att.kind == AttachmentKind::Vpc;
    let eni = eni.map(|e| &enis[e as usize]);
    let subnet = eni.map(|e| &subnets[e.subnet as usize]);
    RouterEnd {
        attachment_id: att.id.clone(),
        vpc_account_id: vpc.then(|| account.to_string()),
        vpc_id: vpc.then(|| att.resource.clone()),
        subnet_id: subnet.map(|s| s.id.clone()),
        eni_id: eni.map(|e| e.id.clone()),
        az_id: subnet.map(|s| s.az.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::Direction;
    use crate::addr::Ipv4Net;
    use crate::flowlog::{Filter, LogStatus, Scope};
    use crate::packet::Packet;
    use crate::policy::sg;
    use crate::profile::{Profile, Provider};
    use crate::time::{Span, Time};

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::parse_strict(s).unwrap()
    }

    /// VPC a (10.20.0.0/16, sender at 10.20.0.10, all of 10.0.0.0/8 to the router) and VPC b (10.40.0.0/16, receiver at
    /// 10.40.0.10) joined by router `er`; 10.40.9.0/24 is a blackhole. Returns the world, the
    /// sender, and the attachments a and b.
    fn two_vpcs(provider: Provider) -> (World, u32, u32, u32) {
        let mut cfg = Config::new(Profile::of(provider));
        cfg.account_id = Some("123456789010".into());
        let mut w = World::new(cfg);
        let t0 = Time(0);
        let open = |w: &mut World, vpc| {
            let all = [Direction::Ingress, Direction::Egress].map(sg::Rule::allow_all);
            w.create_security_group("open", None, vpc, all.to_vec())
                .unwrap()
        };
        let r = w.create_enterprise_router("er", None, None).unwrap();
        let t = w.create_router_route_table(r, "rt", None).unwrap();
        let mut atts = Vec::new();
        let mut enis = Vec::new();
        for (name, cidr, ip) in [
            ("a", "10.20.0.0/16", "10.20.0.10"),
            ("b", "10.40.0.0/16", "10.40.0.10"),
        ] {
            let vpc = w.create_vpc(name, None, net(cidr)).unwrap();
            let s = w.create_subnet(name, None, vpc, net(cidr), None).unwrap();
            let g = open(&mut w, vpc);
            let e = w
                .create_eni(
                    t0,
                    EniSpec {
                        name: format!("host-{name}"),
                        subnet: s,
                        ip: Some(ip.parse().unwrap()),
                        security_groups: vec![g],
                        ..Default::default()
                    },
                )
                .unwrap();
            let iface = AttachmentInterface {
                subnet: s,
                ..Default::default()
            };
            let a = w.attach_vpc(t0, r, name, None, vpc, vec![iface]).unwrap();
            w.associate_router_table(a, t, true).unwrap();
            atts.push(a);
            enis.push(e);
        }
        for (vpc, other) in [(0u32, "10.0.0.0/8"), (1, "10.20.0.0/16")] {
            let main = w.vpcs[vpc as usize].main_route_table;
            let route = Route {
                destination: net(other),
                target: Target::Router(atts[vpc as usize]),
            };
            w.add_route(main, route).unwrap();
        }
        w.add_router_route(t, net("10.40.9.0/24"), None).unwrap();
        (w, enis[0], atts[0], atts[1])
    }

    fn spec(scope: Scope, window: Option<u64>, filter: Filter) -> FlowLogSpec {
        FlowLogSpec {
            name: "er-log".into(),
            id: None,
            scope,
            filter,
            window: window.map(Span::from_secs),
            capacity: None,
            description: String::new(),
            tags: Default::default(),
            log_stream: None,
        }
    }

    #[test]
    fn router_windows_and_filters() {
        let (mut w, _, a, _) = two_vpcs(Provider::Huawei);
        let scope = Scope::RouterAttachment(a);
        for bad in [30, 601] {
            let e = w
                .create_flow_log(Time(0), spec(scope, Some(bad), Filter::All))
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "window: huawei does not allow a {bad}s router flow log window (allowed: \
                     60 to 600 s)"
                )
            );
        }
        let e = w
            .create_flow_log(Time(0), spec(scope, None, Filter::Rejected))
            .unwrap_err();
        assert_eq!(e.field, "traffic");
        let f = w
            .create_flow_log(Time(0), spec(scope, Some(120), Filter::All))
            .unwrap();
        assert_eq!(
            w.flow_logs[f as usize].collector.settings.window.secs(),
            120
        );

        let (mut w, _, a, _) = two_vpcs(Provider::Aws);
        let scope = Scope::RouterAttachment(a);
        let e = w
            .create_flow_log(Time(0), spec(scope, Some(600), Filter::All))
            .unwrap_err();
        assert!(e.message.ends_with("(allowed: 60 s)"), "{e}");
        let f = w
            .create_flow_log(Time(0), spec(scope, None, Filter::All))
            .unwrap();
        assert_eq!(w.flow_logs[f as usize].collector.settings.window.secs(), 60);
    }

    /// What attachment a's flow log records: ingress for what enters the router through it
    /// (dropped packets counted as lost), only the first fragment of a fragmented packet, and
    /// NODATA for a quiet window.
    #[test]
    fn records_of_an_attachment() {
        let (mut w, sender, a, b) = two_vpcs(Provider::Aws);
        // A router of another region than the world's records its own (item 10 of issue 11).
        w.routers.routers[0].region = Some("us-west-2".into());
        w.create_flow_log(Time(0), spec(Scope::RouterAttachment(a), None, Filter::All))
            .unwrap();
        let src: Ipv4Addr = "10.20.0.10".parse().unwrap();
        let to_b: Ipv4Addr = "10.40.0.10".parse().unwrap();
        let mut first = Packet::udp(src, 5000, to_b, 53, 1500);
        first.more_fragments = true;
        let mut later = Packet::udp(src, 5000, to_b, 53, 520);
        later.frag_offset = 185;
        let sent = [
            first,
            later,
            Packet::echo_request(src, "10.40.9.1".parse().unwrap(), 1, 0),
            Packet::echo_request(src, "10.99.0.1".parse().unwrap(), 1, 0),
        ];
        for (i, p) in sent.into_iter().enumerate() {
            let o = w.send(Time::from_secs(10 + i as u64), Endpoint::Eni(sender), p);
            assert_eq!(o.delivered().is_some(), i < 2, "packet {i}: {:?}", o.fate);
        }
        w.advance(Time::from_secs(120));
        let records = w.take_records();
        let meta = &records[0].capture;
        assert_eq!(
            meta.router_id.as_deref(),
            Some(w.routers.routers[0].id.as_str())
        );
        assert_eq!(meta.interface_id, w.routers.attachments[a as usize].id);
        assert_eq!(
            (w.region.as_str(), meta.region.as_str()),
            ("us-east-1", "us-west-2")
        );
        let flows: Vec<_> = records
            .iter()
            .filter_map(|r| r.flow.as_ref())
            .map(|f| {
                let r = f.router.as_ref().unwrap();
                (
                    f.tuple.dst.to_string(),
                    f.direction,
                    f.packets,
                    f.bytes,
                    r.lost_no_route,
                    r.lost_blackhole,
                    r.path.dst.as_ref().map(|e| e.attachment_id.clone()),
                )
            })
            .collect();
        let b_id = Some(w.routers.attachments[b as usize].id.clone());
        assert_eq!(
            flows,
            [
                ("10.40.0.10".into(), Direction::Ingress, 1, 1500, 0, 0, b_id),
                ("10.40.9.1".into(), Direction::Ingress, 1, 84, 0, 1, None),
                ("10.99.0.1".into(), Direction::Ingress, 1, 84, 1, 0, None),
            ]
        );
        let statuses: Vec<_> = records.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [
                LogStatus::Ok,
                LogStatus::Ok,
                LogStatus::Ok,
                LogStatus::NoData
            ]
        );
    }
}
