//! What the control plane keeps beside the network: log groups and streams, flow-log rules
//! (names, descriptions, quotas, instance types, what may change), and enterprise routers
//! with their attachments. The rules themselves are data in the profile's limits
//! (`limits`, from the seeds); this module applies them at the right moment, and keeps the
//! ID index in step with `logs` and `routers`.

use super::*;
use crate::flowlog::Scope;
use crate::limits::{self, InstanceScope};
use crate::profile::OrphanRoutes;
use crate::router::AttachmentKind;
use crate::time::Time;

impl World {
    /// Registers the ID of a resource an inner catalog creates: the ID is drawn (and taken)
    /// first, then released if the catalog refuses.
    fn catalog_create(
        &mut self,
        kind: Kind,
        next: usize,
        given: Option<String>,
        prefix: &str,
        create: impl FnOnce(&mut World, String) -> Result<u32, ModelError>,
    ) -> Result<u32, ModelError> {
        self.check_id(kind, given.as_deref())?;
        let id = self.new_id(kind, next as u32, given, prefix);
        match create(self, id.clone()) {
            Ok(i) => Ok(i),
            Err(e) => {
                self.ids[kind as usize].remove(&id);
                Err(e)
            }
        }
    }

    // ----- flow-log rules -----

    /// The region of what a flow log captures: its VPC's, or its router's (a router or a VPC
    /// of another region keeps its own); a CCN is global and logs in the world's region.
    pub(super) fn scope_region(&self, scope: Scope) -> &str {
        let vpc = |v: u32| self.vpcs[v as usize].region.as_str();
        match scope {
            Scope::Eni(e) => vpc(self.enis[e as usize].vpc),
            Scope::Subnet(s) => vpc(self.subnets[s as usize].vpc),
            Scope::Vpc(v) => vpc(v),
            Scope::RouterAttachment(a) => {
                self.router_region(self.routers.attachments[a as usize].router)
            }
            Scope::Ccn(_) => &self.region,
        }
    }

    /// A router's region: its own when it has one, else the world's.
    pub(super) fn router_region(&self, r: u32) -> &str {
        self.routers.routers[r as usize]
            .region
            .as_deref()
            .unwrap_or(&self.region)
    }

    /// Whether the cloud lets a new flow log capture `scope`: the region offers flow logs,
    /// the quotas have room, and the instances concerned are of a type that supports them.
    pub(super) fn check_flow_log_allowed(&self, scope: Scope) -> Result<(), ModelError> {
        let limits = &self.profile.limits;
        limits
            .check_flow_log_region(self.scope_region(scope))
            .map_err(|m| ModelError::precondition("resource", m))?;
        // CCN flow logs: no quota documented; no instance is concerned.
        if let Scope::Ccn(_) = scope {
            return Ok(());
        }
        let live_logs = || live(&self.flow_logs).map(|(_, f)| f.collector.settings.scope);
        if let Scope::RouterAttachment(_) = scope {
            if let Some(n) = limits.router_flow_logs {
                let used = live_logs()
                    .filter(|s| matches!(s, Scope::RouterAttachment(_)))
                    .count();
                if used >= n as usize {
                    return Err(ModelError::exhausted(
                        "router_flow_logs",
                        format!(
                            "{} allows {n} enterprise-router flow logs per account and {used} exist: delete one first",
                            self.profile.provider
                        ),
                    ));
                }
            }
            return Ok(());
        }
        if let Some(n) = limits.flow_logs_per_region {
            let used = live_logs()
                .filter(|s| !matches!(s, Scope::RouterAttachment(_)))
                .count();
            if used >= n as usize {
                return Err(ModelError::exhausted(
                    "flow_logs_per_region",
                    format!(
                        "{} allows {n} flow logs per region and region {} has {used}: delete one first",
                        self.profile.provider, self.region
                    ),
                ));
            }
        }
        if let (Scope::Eni(e), Some(n)) = (scope, limits.flow_logs_per_eni) {
            let used = live_logs().filter(|s| *s == Scope::Eni(e)).count();
            if used >= n as usize {
                return Err(ModelError::exhausted(
                    "flow_logs_per_eni",
                    format!(
                        "{} allows {n} flow log per network interface and {} already has one",
                        self.profile.provider, self.enis[e as usize].id
                    ),
                ));
            }
        }
        // Whose instance types decide (seed 001: every instance of the VPC, for alibaba;
        // elsewhere the instance of the ENI).
        let vpc = match scope {
            Scope::Eni(e) => self.enis[e as usize].vpc,
            Scope::Subnet(s) => self.subnets[s as usize].vpc,
            Scope::Vpc(v) => v,
            Scope::RouterAttachment(_) | Scope::Ccn(_) => return Ok(()),
        };
        let concerned: Vec<&Eni> = match (limits.instance_types.scope, scope) {
            (InstanceScope::Vpc, _) => live(&self.enis)
                .filter(|(_, e)| e.vpc == vpc)
                .map(|(_, e)| e)
                .collect(),
            (InstanceScope::Instance, Scope::Eni(e)) => vec![&self.enis[e as usize]],
            // A subnet or VPC flow log captures the interfaces that can be captured.
            (InstanceScope::Instance, _) => Vec::new(),
        };
        for eni in concerned {
            if let Some(t) = &eni.instance_type {
                limits.check_instance_type(t).map_err(|m| {
                    ModelError::precondition("resource", format!("{} ({}): {m}", eni.id, eni.name))
                })?;
            }
        }
        Ok(())
    }

    /// Changes a flow log's name, description or tags, as far as the cloud allows.
    pub fn update_flow_log(&mut self, f: u32, u: FlowLogUpdate) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::FlowLog, f)?;
        let limits = self.profile.limits;
        for (field, given) in [
            ("name", u.name.is_some()),
            ("description", u.description.is_some()),
            ("tags", u.tags.is_some()),
        ] {
            if given {
                limits
                    .check_flow_log_update(field)
                    .map_err(|m| ModelError::invalid(field, m))?;
            }
        }
        if let Some(d) = &u.description {
            limits::check_description(d).map_err(|m| ModelError::invalid("description", m))?;
        }
        if let Some(name) = &u.name {
            self.rename(Kind::FlowLog, f, name)?;
        }
        let fl = &mut self.flow_logs[f as usize];
        if let Some(d) = u.description {
            fl.description = d;
        }
        if let Some(t) = u.tags {
            fl.tags = t;
        }
        Ok(())
    }

    // ----- log groups and streams -----

    pub fn create_log_group(
        &mut self,
        name: &str,
        id: Option<String>,
        retention_days: Option<u32>,
    ) -> Result<u32, ModelError> {
        let next = self.logs.groups.len();
        self.catalog_create(Kind::LogGroup, next, id, "lg", |w, id| {
            let limits = w.profile.limits;
            w.logs.create_group(&limits, id, name, retention_days)
        })
    }

    pub fn create_log_stream(
        &mut self,
        group: u32,
        name: &str,
        id: Option<String>,
    ) -> Result<u32, ModelError> {
        let next = self.logs.streams.len();
        self.catalog_create(Kind::LogStream, next, id, "ls", |w, id| {
            let limits = w.profile.limits;
            w.logs.create_stream(&limits, id, group, name)
        })
    }

    pub fn rename_log_group(&mut self, group: u32, name: &str) -> Result<(), ModelError> {
        let limits = self.profile.limits;
        self.logs.rename_group(&limits, group, name)
    }

    pub fn set_log_retention(&mut self, group: u32, days: u32) -> Result<(), ModelError> {
        let limits = self.profile.limits;
        self.logs.set_retention(&limits, group, days)
    }

    /// Deletes a log group; refused while it has streams.
    pub fn delete_log_group(&mut self, group: u32) -> Result<(), ModelError> {
        self.logs.delete_group(group)?;
        let id = self.logs.groups[group as usize].id.clone();
        self.ids[Kind::LogGroup as usize].remove(&id);
        Ok(())
    }

    /// Deletes a log stream; refused while a flow log delivers to it.
    pub fn delete_log_stream(&mut self, stream: u32) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::LogStream, stream)?;
        let users: Vec<String> = live(&self.flow_logs)
            .filter(|(_, f)| f.log_stream == Some(stream))
            .map(|(_, f)| f.collector.settings.id.clone())
            .collect();
        if !users.is_empty() {
            let s = &self.logs.streams[stream as usize];
            return Err(ModelError::precondition(
                "name",
                format!(
                    "log stream `{}` still receives the records of flow log {}: delete them first",
                    s.name,
                    users.join(", ")
                ),
            )
            .with_dependents(users));
        }
        self.logs.delete_stream(stream)?;
        let id = self.logs.streams[stream as usize].id.clone();
        self.ids[Kind::LogStream as usize].remove(&id);
        Ok(())
    }

    // ----- enterprise routers -----

    pub fn create_enterprise_router(
        &mut self,
        name: &str,
        id: Option<String>,
        asn: Option<u32>,
    ) -> Result<u32, ModelError> {
        let next = self.routers.routers.len();
        let (prefix, _) = self.profile.id_style.router_prefixes();
        let r = self.catalog_create(Kind::EnterpriseRouter, next, id, prefix, |w, id| {
            w.routers.create_router(id, name, asn)
        })?;
        let node = self.graph.add_node(Node::Router(r));
        self.router_nodes.insert(r, node);
        Ok(r)
    }

    /// Attaches a resource to a router. A VPC attachment names a live VPC by its id.
    pub fn create_router_attachment(
        &mut self,
        name: &str,
        id: Option<String>,
        router: u32,
        kind: AttachmentKind,
        resource: String,
    ) -> Result<u32, ModelError> {
        if kind == AttachmentKind::Vpc && self.find(Kind::Vpc, &resource).is_none() {
            return Err(ModelError::not_found(
                "resource",
                format!("no VPC `{resource}`"),
            ));
        }
        let next = self.routers.attachments.len();
        let (_, prefix) = self.profile.id_style.router_prefixes();
        self.catalog_create(Kind::RouterAttachment, next, id, prefix, |w, id| {
            let limits = w.profile.limits;
            w.routers
                .create_attachment(&limits, id, name, router, kind, resource)
        })
    }

    pub fn delete_enterprise_router(&mut self, r: u32) -> Result<(), ModelError> {
        self.routers.delete_router(r)?;
        let id = self.routers.routers[r as usize].id.clone();
        self.ids[Kind::EnterpriseRouter as usize].remove(&id);
        Ok(())
    }

    /// Detaches. Refused while flow logs capture the attachment, VPC routes send traffic to
    /// it, or on-premises hosts sit behind it. A VPC attachment's interfaces go with it; a
    /// peering goes on both sides. Static router routes to it are what the profile says
    /// (`attachment_deleted_routes`): huawei keeps them as blackholes (policy.md §3.2), the
    /// other clouds remove them.
    pub fn delete_router_attachment(&mut self, a: u32, now: Time) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::RouterAttachment, a)?;
        let mut users: Vec<String> = live(&self.flow_logs)
            .filter(|(_, f)| f.collector.settings.scope == Scope::RouterAttachment(a))
            .map(|(_, f)| f.collector.settings.id.clone())
            .collect();
        users.extend(self.tables_routing_to(Target::Router(a)));
        users.extend(
            live(&self.externals)
                .filter(|(_, h)| h.site == Some(Site::Attachment(a)))
                .map(|(_, h)| h.id.clone()),
        );
        if !users.is_empty() {
            return Err(ModelError::precondition(
                "name",
                format!(
                    "router attachment {} is still used by {}: delete or reroute them first",
                    self.routers.attachments[a as usize].id,
                    users.join(", ")
                ),
            )
            .with_dependents(users));
        }
        let att = self.routers.attachments[a as usize].clone();
        self.routers.delete_attachment(a)?;
        self.unlink_attachment(&att);
        self.ids[Kind::RouterAttachment as usize].remove(&att.id);
        for e in att.enis {
            if self.is_live(Kind::Eni, e) {
                // Interfaces carry no flow logs of their own here (a VPC flow log covers them
                // and simply stops seeing them).
                let _ = self.delete_eni_managed(e, now);
            }
        }
        if let Some(p) = att.peer
            && self.is_live(Kind::RouterAttachment, p)
        {
            self.routers.delete_attachment(p)?;
            let pid = self.routers.attachments[p as usize].id.clone();
            self.ids[Kind::RouterAttachment as usize].remove(&pid);
        }
        if self.profile.attachment_deleted_routes == OrphanRoutes::Removed {
            self.routers.remove_routes_to_deleted();
        }
        Ok(())
    }

    /// Live router attachments of a VPC (they keep it from being deleted).
    pub(super) fn attachments_of_vpc(&self, vpc_id: &str) -> Vec<(Kind, String)> {
        self.routers
            .attachments
            .iter()
            .filter(|a| !a.deleted && a.kind == AttachmentKind::Vpc && a.resource == vpc_id)
            .map(|a| (Kind::RouterAttachment, a.id.clone()))
            .collect()
    }

    /// Takes an attachment's edge out of the topology graph (router–VPC, router–router).
    fn unlink_attachment(&mut self, att: &crate::router::Attachment) {
        let Some(&rn) = self.router_nodes.get(&att.router) else {
            return;
        };
        let other = match att.kind {
            AttachmentKind::Vpc => self
                .find(Kind::Vpc, &att.resource)
                .map(|v| self.vpcs[v as usize].node),
            AttachmentKind::PeeringConnection => att
                .peer
                .map(|p| self.routers.attachments[p as usize].router)
                .and_then(|r| self.router_nodes.get(&r).copied()),
            _ => None,
        };
        if let Some(o) = other
            && let Some(e) = self.graph.find_edge(rn, o)
        {
            self.graph.remove_edge(e);
        }
    }
}
