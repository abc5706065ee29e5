//! Capture points and flow-log records: what each ENI's capture point sees of a packet
//! (`capture`: into the flow logs covering the ENI, or counted with the packet's connection),
//! and time: the windows that end are closed into records (`advance`, `emit`), which the
//! caller takes with [`World::take_records`].

use super::*;
use crate::conntrack::{self, Zone};
use crate::flowlog::collect::{Observation, Partial};
use crate::flowlog::{Record, Scope, TrafficPath};
use crate::packet::{FiveTuple, L4, Packet};
use crate::profile::{IcmpPorts, LoggedAddress};
use crate::time::Time;
use crate::verdict::Decision;
use crate::{Action, Direction};

/// A packet as one capture point saw it (for pcap output).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Captured {
    pub at: Time,
    pub packet_id: u64,
    pub eni: u32,
    pub direction: Direction,
    pub action: Action,
    pub packet: Packet,
}

impl World {
    /// Names the labels packets may carry (index = label, see [`World::send_labelled`]):
    /// records then say how many of their packets carry each.
    pub fn set_label_names(&mut self, names: Vec<String>) {
        self.label_names = names.into_iter().map(Into::into).collect();
    }

    /// The names of the labels packets carry (empty when traffic is not labelled).
    pub fn label_names(&self) -> &[std::sync::Arc<str>] {
        &self.label_names
    }

    /// The 5-tuple a flow log records (ICMP ports as the profile keys them, D10/D14).
    pub(super) fn logged_tuple(&self, p: &Packet) -> FiveTuple {
        let mut t = p.five_tuple();
        if let (
            IcmpPorts::IdentTypeCode,
            L4::Icmp {
                icmp_type,
                code,
                ident,
                ..
            },
        ) = (self.profile.icmp_ports, p.l4)
        {
            t.sport = ident;
            t.dport = (icmp_type as u16) << 8 | code as u16;
        }
        t
    }

    // Called from `pipeline` (another codegen unit) at every capture point of every packet:
    // kept inlinable across units, as it was when both lived in one module.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn capture(
        &mut self,
        now: Time,
        eni: u32,
        direction: Direction,
        action: Action,
        pkt: &Packet,
        traffic_path: Option<TrafficPath>,
        packet_id: u64,
        decisions: [Option<Decision>; 2],
        tracked: Option<conntrack::Handle>,
    ) {
        if let Some(c) = &mut self.captures {
            c.push(Captured {
                at: now,
                packet_id,
                eni,
                direction,
                action,
                packet: *pkt,
            });
        }
        let logs = &self.eni_logs[eni as usize];
        if logs.is_empty() {
            return;
        }
        let traffic_path = if direction == Direction::Egress {
            traffic_path
        } else {
            None
        };
        // The ENI's first flow log counts accepted TCP and UDP packets of a tracked connection
        // in the connection's entry (the logged 5-tuple is the connection's), unless it keeps
        // packet ids; everything else goes to the collector.
        let first = logs[0];
        let mut counted = false;
        if let Some(h) = tracked
            && action == Action::Accept
            && matches!(pkt.l4, L4::Tcp { .. } | L4::Udp { .. })
            // A partial logs the connection's addresses as the packet's: not for an interface
            // whose records may show its primary instead of a secondary IP (§1.4).
            && self.enis[eni as usize].secondary_ips.is_empty()
            && first <= u16::MAX as u32
            && self.flow_logs[first as usize]
                .collector
                .counts_partially(now, action)
        {
            // Entries may have moved since the SG check (huawei ACL zones): find it again.
            let h = match self.conntrack.partial_mut(h) {
                Some(_) => Some(h),
                None => self.conntrack.find_handle(Zone::Eni(eni), pkt),
            };
            if let Some(p) = h.and_then(|h| self.conntrack.partial_mut(h)) {
                if !p.is_empty() && p.log() != first {
                    // Counted for a flow log that is no longer the ENI's first: hand over.
                    let old = std::mem::replace(p, Partial::EMPTY);
                    let tuple = pkt.five_tuple();
                    self.flow_logs[old.log() as usize].collector.merge(
                        eni,
                        tuple,
                        Action::Accept,
                        &old,
                    );
                }
                if p.takes(first, direction) {
                    // Counted with the connection, not in a slot a train could name.
                    self.trace.unrepeat();
                    p.count(
                        first,
                        now,
                        direction,
                        pkt.len,
                        pkt.tcp_flags(),
                        traffic_path,
                    );
                    counted = true;
                }
            }
        }
        if counted && logs.len() == 1 {
            return;
        }
        // srcaddr/dstaddr are always the interface's own primary address on its side, even
        // when the packet carries another (a NAT gateway's or router's interface forwarding
        // others' packets): the packet's own addresses go to pkt-srcaddr/pkt-dstaddr
        // (flowlogs.md §1.4).
        // A secondary IP of the interface: the primary on aws (§1.4), the packet's own where
        // the profile says the records show it (`Profile::secondary_ip_logged_as`).
        let mut tuple = self.logged_tuple(pkt);
        let e = &self.enis[eni as usize];
        let side = match direction {
            Direction::Egress => &mut tuple.src,
            Direction::Ingress => &mut tuple.dst,
        };
        let packet_own = self.profile.secondary_ip_logged_as == LoggedAddress::Packet
            && !e.secondary_ips.is_empty()
            && e.secondary_ips.contains(side);
        if !packet_own {
            *side = e.ip;
        }
        let o = Observation {
            at: now,
            eni,
            direction,
            action,
            tuple,
            pkt_src: pkt.src,
            pkt_dst: pkt.dst,
            bytes: pkt.len,
            tcp_flags: pkt.tcp_flags(),
            traffic_path,
            packet_id,
            label: self.label,
            decisions,
        };
        if !counted {
            let slot = self.flow_logs[first as usize].collector.observe(&o);
            self.trace_slot(first, slot, pkt);
        }
        for i in 1..self.eni_logs[eni as usize].len() {
            let f = self.eni_logs[eni as usize][i];
            let slot = self.flow_logs[f as usize].collector.observe(&o);
            self.trace_slot(f, slot, pkt);
        }
    }

    /// Closes every flow-log window that ended at or before `now`, turning it into records.
    pub fn advance(&mut self, now: Time) {
        for f in 0..self.flow_logs.len() {
            if self.flow_logs[f].deleted {
                continue;
            }
            if self.flow_logs[f].collector.current_window_end() <= now {
                // Counters kept with connections belong to the window closing first (later
                // ones, closing in the same call, saw no packets).
                self.drain_partials(f);
            }
            while self.flow_logs[f].collector.current_window_end() <= now {
                let covered = self.covered_by(f);
                self.emit(f, &covered);
            }
        }
        self.conntrack.maybe_sweep(now);
        self.settle_carried();
        self.next_window_end = self.earliest_window_end();
    }

    /// Moves the counters kept with connections for flow log `f` into its collector.
    pub(super) fn drain_partials(&mut self, f: usize) {
        let collector = &mut self.flow_logs[f].collector;
        self.conntrack.drain_partials(f as u32, |c| {
            collector.merge_final(c.eni, c.tuple, Action::Accept, &c.partial)
        });
    }

    /// The ENIs flow log `f` covers now, with the time each came to exist.
    pub(super) fn covered_by(&self, f: usize) -> Vec<(u32, Time)> {
        match self.flow_logs[f].collector.settings.scope {
            Scope::RouterAttachment(_) => return self.router_points(f),
            Scope::Ccn(_) => return self.ccn_quiet_points(f),
            _ => {}
        }
        self.eni_logs
            .iter()
            .enumerate()
            .filter(|(_, logs)| logs.contains(&(f as u32)))
            .map(|(e, _)| (e as u32, self.enis[e].created))
            .collect()
    }

    /// Closes the open window of flow log `f`: its records get their capture point's metadata
    /// and the decisions behind them in words, and join the world's records.
    pub(super) fn emit(&mut self, f: usize, covered: &[(u32, Time)]) {
        // A CCN flow log's capture points are the CCN's (connect).
        if let Scope::Ccn(c) = self.flow_logs[f].collector.settings.scope {
            return self.emit_ccn(f, c, covered);
        }
        // A router flow log's one capture point is its attachment (router_logs).
        let attachment = match self.flow_logs[f].collector.settings.scope {
            Scope::RouterAttachment(a) => Some(self.attachment_meta(a)),
            _ => None,
        };
        let collector = &mut self.flow_logs[f].collector;
        self.records.reserve(collector.active_len() + covered.len());
        let (enis, records) = (&self.enis, &mut self.records);
        let mut decided: Vec<(usize, Vec<Decision>)> = Vec::new();
        let names = &self.label_names;
        collector.close_window_into(covered, |eni, mut record, out| {
            record.capture = match &attachment {
                Some(meta) => meta.clone(),
                None => enis[eni as usize].meta.clone(),
            };
            if !names.is_empty() {
                record.truth.labels = label_counts(names, &out.labels);
            }
            if !out.decisions.is_empty() {
                decided.push((records.len(), out.decisions));
            }
            records.push(record);
        });
        for (i, decisions) in decided {
            let words = decisions.iter().map(|d| self.describe(d)).collect();
            self.records[i].truth.decisions = words;
        }
    }

    /// Records produced so far, oldest first; the world keeps none after this.
    pub fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    /// Packets seen at capture points so far (empty unless `capture_packets`).
    pub fn take_captures(&mut self) -> Vec<Captured> {
        self.captures
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

/// A record's packets per label, by name.
fn label_counts(
    names: &[std::sync::Arc<str>],
    counts: &[(u32, u64)],
) -> Vec<(std::sync::Arc<str>, u64)> {
    counts
        .iter()
        .map(|&(l, n)| {
            let name = names
                .get(l as usize)
                .cloned()
                .unwrap_or_else(|| l.to_string().into());
            (name, n)
        })
        .collect()
}
