//! Flow logs as resources: created and deleted, and which ENIs each covers (`eni_logs`, kept
//! in creation order, and the earliest end of an open window). Their capture and records are
//! `capture`'s.

use std::collections::BTreeMap;

use super::*;
use crate::flowlog::{Collector, Filter, Scope, Settings};
use crate::limits;
use crate::time::{Span, Time};

/// What a new flow log needs.
#[derive(Clone, Debug)]
pub struct FlowLogSpec {
    pub name: String,
    pub id: Option<String>,
    pub scope: Scope,
    pub filter: Filter,
    /// `None`: the profile's default window.
    pub window: Option<Span>,
    pub capacity: Option<usize>,
    /// At most 255 characters, no `<` or `>` (seed 003).
    pub description: String,
    pub tags: BTreeMap<String, String>,
    /// The log stream records are delivered to (the API requires one; scenario runs print
    /// records instead).
    pub log_stream: Option<u32>,
}

impl FlowLogSpec {
    /// A flow log named `name` over `scope` that keeps everything, with the profile's window
    /// and capacity and nothing else set.
    pub fn new(name: impl Into<String>, scope: Scope) -> FlowLogSpec {
        FlowLogSpec {
            name: name.into(),
            id: None,
            scope,
            filter: Filter::All,
            window: None,
            capacity: None,
            description: String::new(),
            tags: BTreeMap::new(),
            log_stream: None,
        }
    }
}

/// A change to a flow log: `Some` fields change. Which fields a cloud lets change is in its
/// profile's limits (tencent: name and tags only, seed 002).
#[derive(Clone, Debug, Default)]
pub struct FlowLogUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

impl World {
    /// The longest capture window of the live flow logs (zero without any): a packet older
    /// than this is in no open window, so every record that counts it is out.
    pub fn longest_window(&self) -> Span {
        live(&self.flow_logs)
            .map(|(_, f)| f.collector.settings.window)
            .max()
            .unwrap_or(Span(0))
    }

    pub fn create_flow_log(&mut self, now: Time, spec: FlowLogSpec) -> Result<u32, ModelError> {
        limits::check_flow_log_name(&spec.name).map_err(|m| ModelError::invalid("name", m))?;
        limits::check_description(&spec.description)
            .map_err(|m| ModelError::invalid("description", m))?;
        if live(&self.flow_logs).any(|(_, f)| f.collector.settings.name == spec.name) {
            return Err(ModelError::exists(
                "name",
                format!("a flow log named `{}` already exists", spec.name),
            ));
        }
        self.check_id(Kind::FlowLog, spec.id.as_deref())?;
        let exists = match spec.scope {
            Scope::Eni(i) => self.is_live(Kind::Eni, i),
            Scope::Subnet(i) => self.is_live(Kind::Subnet, i),
            Scope::Vpc(i) => self.is_live(Kind::Vpc, i),
            Scope::RouterAttachment(i) => self.is_live(Kind::RouterAttachment, i),
            Scope::Ccn(i) => self.ccns.get(i).is_some(),
        };
        if !exists {
            return Err(ModelError::not_found(
                "resource",
                "the flow log's resource does not exist",
            ));
        }
        if let Some(s) = spec.log_stream
            && !self.is_live(Kind::LogStream, s)
        {
            return Err(ModelError::not_found("log_stream", "no such log stream"));
        }
        self.check_flow_log_allowed(spec.scope)?;
        self.check_flow_log_unique(&spec)?;
        // ENI and router flow logs have their own windows (router_logs).
        let window = self.check_flow_log_window(spec.scope, spec.window, spec.filter)?;
        let capacity = spec.capacity.unwrap_or(self.profile.window_capacity);
        if capacity == 0 {
            return Err(ModelError::invalid(
                "capacity",
                "capacity must be at least 1 record per window",
            ));
        }
        let f = self.flow_logs.len() as u32;
        let id = self.new_id(Kind::FlowLog, f, spec.id, "fl");
        let settings = Settings {
            id,
            name: spec.name,
            scope: spec.scope,
            filter: spec.filter,
            window,
            capacity,
        };
        self.flow_logs.push(FlowLog {
            collector: Collector::new(settings, now, self.truth),
            deleted: false,
            description: spec.description,
            tags: spec.tags,
            log_stream: spec.log_stream,
            created: now,
        });
        self.cover_with(f);
        Ok(f)
    }

    /// aws refuses a flow log that repeats a live one's resource, traffic filter and
    /// destination (`FlowLogAlreadyExists`, [`limits::Limits::refuse_duplicate_flow_logs`]):
    /// on aws the destination is the CloudWatch log group (vpclab's flow logs name a stream of
    /// it), and the record format and window do not make it another flow log. Without a
    /// destination (a scenario's flow log printed to the run's output) there is nothing to
    /// repeat.
    fn check_flow_log_unique(&self, spec: &FlowLogSpec) -> Result<(), ModelError> {
        if !self.profile.limits.refuse_duplicate_flow_logs {
            return Ok(());
        }
        let group = |s: Option<u32>| s.map(|s| self.logs.streams[s as usize].group);
        let Some(g) = group(spec.log_stream) else {
            return Ok(());
        };
        let twin = live(&self.flow_logs).find(|(_, f)| {
            let s = &f.collector.settings;
            s.scope == spec.scope && s.filter == spec.filter && group(f.log_stream) == Some(g)
        });
        match twin {
            Some((_, f)) => Err(ModelError::exists(
                "",
                format!(
                    "flow log `{}` already captures {} traffic of this resource into log group \
                     `{}` (FlowLogAlreadyExists): {} refuses a second flow log with the same \
                     configuration and destination",
                    f.collector.settings.name,
                    spec.filter.label(),
                    self.logs.groups[g as usize].name,
                    self.profile.provider
                ),
            )),
            None => Ok(()),
        }
    }

    /// Deletes a flow log: capture stops at `now`. The windows that ended by `now` close as
    /// usual; the open window is flushed at once, its records (what it captured up to `now`,
    /// and NODATA for the interfaces it covers that had nothing) keep that window's own
    /// bounds, as every record of the window would have. Nothing captured is lost, nothing is
    /// captured after.
    pub fn delete_flow_log(&mut self, f: u32, now: Time) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::FlowLog, f)?;
        self.advance(now);
        self.drain_partials(f as usize);
        let covered = self.covered_by(f as usize);
        self.emit(f as usize, &covered);
        self.bury(Kind::FlowLog, f);
        self.uncover(f);
        Ok(())
    }

    /// Does live flow log `f` capture at ENI `e`?
    fn covers(&self, f: &FlowLog, e: usize) -> bool {
        let eni = &self.enis[e];
        match f.collector.settings.scope {
            Scope::Eni(i) => i as usize == e,
            Scope::Subnet(s) => s == eni.subnet,
            Scope::Vpc(v) => v == eni.vpc,
            Scope::RouterAttachment(_) | Scope::Ccn(_) => false,
        }
    }

    /// The live flow logs that capture at new ENI `e`, in creation order: one walk of the flow
    /// logs, not of every ENI (a create costs what it changes).
    pub(super) fn logs_covering(&self, e: usize) -> Vec<u32> {
        live(&self.flow_logs)
            .filter(|(_, fl)| self.covers(fl, e))
            .map(|(f, _)| f)
            .collect()
    }

    /// A new flow log `f` (the highest index so far) joins the lists of the live ENIs it
    /// covers, which stay in creation order.
    fn cover_with(&mut self, f: u32) {
        let fl = &self.flow_logs[f as usize];
        let covered: Vec<usize> = live(&self.enis)
            .map(|(e, _)| e as usize)
            .filter(|&e| self.covers(fl, e))
            .collect();
        for e in covered {
            self.eni_logs[e].push(f);
        }
        self.refresh_ccn_coverage();
        self.next_window_end = self.earliest_window_end();
    }

    /// Deleted flow log `f` leaves every ENI's list.
    fn uncover(&mut self, f: u32) {
        for logs in &mut self.eni_logs {
            logs.retain(|&g| g != f);
        }
        self.refresh_ccn_coverage();
        self.next_window_end = self.earliest_window_end();
    }

    /// Sets every flow log's capture window to `window` (live mode's `--window`, so a demo
    /// need not wait the clouds' one to ten minutes). Each window still starts where the flow
    /// log's first one did, so call it before any packet is sent. A zero length is taken as
    /// one microsecond.
    pub fn set_windows(&mut self, window: Span) {
        let window = window.max(Span(1));
        for f in &mut self.flow_logs {
            f.collector.settings.window = window;
        }
        self.next_window_end = self.earliest_window_end();
    }

    /// The earliest end of a live flow log's open window.
    pub(super) fn earliest_window_end(&self) -> Time {
        live(&self.flow_logs)
            .map(|(_, f)| f.collector.current_window_end())
            .min()
            .unwrap_or(Time(u64::MAX))
    }
}
