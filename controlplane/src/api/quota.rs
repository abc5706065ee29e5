//! Per-project quotas of the server: what one project may make the server hold or do in one
//! request. They are server settings (`vpclab serve --quota-…`), the same for every cloud:
//! they bound the server's memory and time, while each cloud's own documented limits (VPCs per
//! region, flow logs per interface, …) stay in its provider profile.
//!
//! Quotas are checked when a request arrives, never when stored commands are replayed: a
//! command accepted under a larger quota still replays after a restart with a smaller one.
//! A request over a quota is refused with RESOURCE_EXHAUSTED and a QuotaFailure naming the
//! quota, and changes nothing.

use std::time::Duration;

use tonic::Code;

use super::command::Command;
use super::error::ApiError;
use super::project::Project;

/// The server's per-project quotas. Defaults are documented in README.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Scripted packets injected and not sent yet (InjectTraffic), per project. Scheduled
    /// traffic costs memory per flow, not per packet, but every packet costs time when the
    /// clock reaches it.
    pub pending_packets: u64,
    /// Virtual time one Advance may cover (`by`, or `to` minus now). Each capture window
    /// passed costs a record per quiet interface (NODATA), so this bounds an Advance's records.
    pub advance: Duration,
    /// Flow-log records a project may keep stored; at the quota, Advance is refused until
    /// retention or deletes bring the count down.
    pub stored_records: u64,
    /// Rules one security group may hold (both directions together).
    pub rules_per_security_group: usize,
    /// Entries one network ACL may hold (both directions together).
    pub entries_per_network_acl: usize,
    /// Routes one route table may hold.
    pub routes_per_route_table: usize,
    /// Size of one request message in bytes (enforced by the gRPC layer).
    pub request_bytes: usize,
    /// Objects a project's model may hold (`World::objects`: resources, deleted ones
    /// included, their rules, entries and routes, past revisions included, and compiled
    /// classifier entries) before requests that create or change resources are refused. It
    /// bounds a project's memory: deleting resources does not give room back (the simulator
    /// keeps them for the records that name them); DeleteProject does.
    pub objects: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            pending_packets: 1_000_000,
            advance: Duration::from_secs(7 * 86_400),
            stored_records: 10_000_000,
            rules_per_security_group: 1_000,
            entries_per_network_acl: 1_000,
            routes_per_route_table: 1_000,
            request_bytes: 1 << 20,
            objects: 200_000,
        }
    }
}

impl Quotas {
    /// Refuses `cmd` if applying it to `project` would exceed a quota. `stored_records` is read
    /// only for an Advance.
    pub fn check(
        &self,
        project: &Project,
        cmd: &Command,
        stored_records: impl FnOnce() -> Result<u64, ApiError>,
    ) -> Result<(), ApiError> {
        match cmd {
            Command::InjectTraffic(r) => {
                let pending = project.sim.pending_packets();
                let adding = Project::packets_of(r);
                if pending.saturating_add(adding) > self.pending_packets {
                    return Err(exceeded(
                        project,
                        "pending_packets",
                        "traffic",
                        format!(
                            "this traffic adds {adding} packets to the {pending} not sent yet; a project may have at most {} pending (advance the clock to send them, or DropPendingTraffic)",
                            self.pending_packets
                        ),
                    ));
                }
            }
            Command::Advance(r) => {
                // An Advance the project refuses anyway is left to say why.
                if let Ok(to) = project.advance_target(r) {
                    let span = to.micros().saturating_sub(project.now().micros());
                    if u128::from(span) > self.advance.as_micros() {
                        let field = match r.until {
                            Some(super::pb::advance_request::Until::By(_)) => "by",
                            _ => "to",
                        };
                        return Err(exceeded(
                            project,
                            "advance_time",
                            field,
                            format!(
                                "one Advance may move the clock at most {} s; advance in steps",
                                self.advance.as_secs()
                            ),
                        ));
                    }
                }
                let stored = stored_records()?;
                if stored >= self.stored_records {
                    return Err(exceeded(
                        project,
                        "stored_records",
                        "",
                        format!(
                            "the project stores {stored} flow-log records, its quota is {}; shorten log groups' retention, delete log streams or delete the project before advancing further",
                            self.stored_records
                        ),
                    ));
                }
            }
            _ => {}
        }
        if cmd.grows_model() {
            let held = project.world().objects();
            if held >= self.objects {
                return Err(exceeded(
                    project,
                    "objects",
                    "",
                    format!(
                        "the project holds {held} objects (resources, deleted ones included, with their rules, entries, routes and past revisions); its quota is {}; delete the project to start over",
                        self.objects
                    ),
                ));
            }
        }
        if let Some((given, quota, name, field, what)) = self.list_of(cmd)
            && given > quota
        {
            return Err(exceeded(
                project,
                name,
                field,
                format!("{given} {what}; this server allows at most {quota}"),
            ));
        }
        Ok(())
    }

    /// A list the command sets whole, with its quota: (given, quota, quota name, field, what).
    fn list_of(
        &self,
        cmd: &Command,
    ) -> Option<(usize, usize, &'static str, &'static str, &'static str)> {
        let rules = |g: &Option<super::pb::SecurityGroup>| {
            let n = g.as_ref().map_or(0, |g| g.rules.len());
            (
                n,
                self.rules_per_security_group,
                "rules_per_security_group",
                "security_group.rules",
                "rules in a security group",
            )
        };
        let entries = |a: &Option<super::pb::NetworkAcl>| {
            let n = a.as_ref().map_or(0, |a| a.entries.len());
            (
                n,
                self.entries_per_network_acl,
                "entries_per_network_acl",
                "network_acl.entries",
                "entries in a network ACL",
            )
        };
        let routes = |t: &Option<super::pb::RouteTable>| {
            let n = t.as_ref().map_or(0, |t| t.routes.len());
            (
                n,
                self.routes_per_route_table,
                "routes_per_route_table",
                "route_table.routes",
                "routes in a route table",
            )
        };
        Some(match cmd {
            Command::CreateSecurityGroup(r) => rules(&r.security_group),
            Command::UpdateSecurityGroup(r) => rules(&r.security_group),
            Command::CreateNetworkAcl(r) => entries(&r.network_acl),
            Command::UpdateNetworkAcl(r) => entries(&r.network_acl),
            Command::CreateRouteTable(r) => routes(&r.route_table),
            Command::UpdateRouteTable(r) => routes(&r.route_table),
            _ => return None,
        })
    }
}

/// RESOURCE_EXHAUSTED naming the quota, the request field and the project it counts for.
fn exceeded(project: &Project, quota: &str, field: &str, message: String) -> ApiError {
    let mut err = ApiError::new(Code::ResourceExhausted, message).at(field);
    err.quota = Some(quota.to_string());
    err.about("vpclab.v1.Project", format!("projects/{}", project.id))
}
