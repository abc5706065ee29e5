//! What deleting and renaming share across the kinds of resource: the refusal of a delete
//! (`in_use`, `part_of_vpc`), tombstones (`bury`) and renames. Each kind's delete and updates
//! sit with its create (`vpcs`, `endpoints`, `policy`, `flow_logs`, `gateways`, `catalog`);
//! the tests of deletes, renames and updates are here.
//!
//! Deletes never cascade (AIP-135): a resource still in use is refused with
//! `FailedPrecondition`, field `name`, a message naming what uses it and
//! [`ModelError::dependents`] listing their IDs. The exception is what a VPC brings with it
//! and cannot exist without: its main route table, default security group and default ACL go
//! with the VPC (and cannot be deleted on their own).
//!
//! A deleted resource stays in its vector as a tombstone (`deleted: true`), so the indices in
//! records, decisions and past revisions stay valid; it leaves the ID index, every uniqueness
//! check and every iteration, and nothing live refers to it: the per-packet path never meets
//! one. Like every operation, these validate everything before they change anything.

use super::model::kind_vec;
use super::*;
use crate::flowlog::Scope;
use crate::limits;

/// The refusal of a delete: `what` is still used by `deps` (kind, ID).
pub(super) fn in_use(what: String, mut deps: Vec<(Kind, String)>) -> ModelError {
    deps.sort();
    deps.dedup();
    let list: Vec<String> = deps.iter().map(|(k, id)| format!("{k} {id}")).collect();
    ModelError::precondition(
        "name",
        format!(
            "{what} is still in use by {}: delete or detach them first",
            list.join(", ")
        ),
    )
    .with_dependents(deps.into_iter().map(|(_, id)| id).collect())
}

/// The refusal to delete a resource that goes with its VPC.
pub(super) fn part_of_vpc(what: String, vpc: &Vpc) -> ModelError {
    ModelError::precondition(
        "name",
        format!(
            "{what} belongs to vpc `{}` ({}) and is deleted with it",
            vpc.name, vpc.id
        ),
    )
    .with_dependents(vec![vpc.id.clone()])
}

impl World {
    /// Marks a resource deleted and takes it out of the ID index. (Log groups and streams,
    /// routers and their attachments are buried by their catalogs: `catalog`.)
    pub(super) fn bury(&mut self, kind: Kind, idx: u32) {
        if matches!(
            kind,
            Kind::LogGroup | Kind::LogStream | Kind::EnterpriseRouter | Kind::RouterAttachment
        ) {
            return;
        }
        let i = idx as usize;
        kind_vec!(self, kind, [mut] v => {
            v[i].bury();
            self.ids[kind as usize].remove(v[i].id());
        })
    }

    /// The live flow logs scoped to exactly this resource.
    pub(super) fn logs_scoped_to(&self, scope: Scope) -> impl Iterator<Item = (Kind, String)> + '_ {
        live(&self.flow_logs)
            .filter(move |(_, f)| f.collector.settings.scope == scope)
            .map(|(_, f)| (Kind::FlowLog, f.collector.settings.id.clone()))
    }

    /// Renames a resource, with the name rules and the uniqueness scope of its creation: per
    /// VPC for subnets, security groups, ACLs and route tables; across the world for VPCs,
    /// network interfaces, external hosts and flow logs. Internet gateways have no name.
    pub fn rename(&mut self, kind: Kind, idx: u32, new_name: &str) -> Result<(), ModelError> {
        self.live_or_not_found(kind, idx)?;
        match kind {
            Kind::InternetGateway | Kind::LogStream => {
                return Err(ModelError::invalid(
                    "name",
                    format!("a {kind} cannot be renamed"),
                ));
            }
            Kind::LogGroup => {
                let limits = self.profile.limits;
                return self.logs.rename_group(&limits, idx, new_name);
            }
            Kind::EnterpriseRouter => return self.routers.rename_router(idx, new_name),
            Kind::RouterAttachment => return self.routers.rename_attachment(idx, new_name),
            Kind::NatGateway | Kind::VpcPeering => check_name(new_name)?,
            Kind::FlowLog => {
                limits::check_flow_log_name(new_name).map_err(|m| ModelError::invalid("name", m))?
            }
            _ => check_name(new_name)?,
        }
        let i = idx as usize;
        let taken = |other: u32, same_scope: bool, name: &str| {
            other != idx && same_scope && name == new_name
        };
        let clash = match kind {
            Kind::Vpc => live(&self.vpcs)
                .any(|(o, v)| taken(o, true, &v.name))
                .then(|| format!("a VPC named `{new_name}` already exists")),
            Kind::Subnet => {
                let vpc = self.subnets[i].vpc;
                live(&self.subnets)
                    .any(|(o, s)| taken(o, s.vpc == vpc, &s.name))
                    .then(|| format!("a subnet named `{new_name}` already exists in this VPC"))
            }
            Kind::Eni => live(&self.enis)
                .any(|(o, e)| taken(o, true, &e.name))
                .then(|| format!("an ENI named `{new_name}` already exists")),
            Kind::SecurityGroup => {
                let vpc = self.security_groups[i].vpc;
                live(&self.security_groups)
                    .any(|(o, g)| taken(o, g.vpc == vpc, &g.name))
                    .then(|| {
                        format!("a security group named `{new_name}` already exists in this VPC")
                    })
            }
            Kind::NetworkAcl => {
                let vpc = self.acls[i].vpc;
                live(&self.acls)
                    .any(|(o, a)| taken(o, a.vpc == vpc, &a.name))
                    .then(|| format!("a network ACL named `{new_name}` already exists in this VPC"))
            }
            Kind::RouteTable => {
                let vpc = self.route_tables[i].vpc;
                live(&self.route_tables)
                    .any(|(o, t)| taken(o, t.vpc == vpc, &t.name))
                    .then(|| format!("a route table named `{new_name}` already exists in this VPC"))
            }
            Kind::ExternalHost => live(&self.externals)
                .any(|(o, h)| taken(o, true, &h.name))
                .then(|| format!("an external host named `{new_name}` already exists")),
            Kind::FlowLog => live(&self.flow_logs)
                .any(|(o, f)| taken(o, true, &f.collector.settings.name))
                .then(|| format!("a flow log named `{new_name}` already exists")),
            Kind::InternetGateway
            | Kind::LogGroup
            | Kind::LogStream
            | Kind::EnterpriseRouter
            | Kind::RouterAttachment => None,
            Kind::NatGateway => {
                let vpc = self.nats[i].vpc;
                live(&self.nats)
                    .any(|(o, n)| taken(o, n.vpc == vpc, &n.name))
                    .then(|| format!("a NAT gateway named `{new_name}` already exists in this VPC"))
            }
            Kind::VpcPeering => live(&self.peerings)
                .any(|(o, p)| taken(o, true, &p.name))
                .then(|| format!("a VPC peering connection named `{new_name}` already exists")),
            Kind::VpnGateway => live(&self.vpn_gateways)
                .any(|(o, g)| taken(o, true, &g.name))
                .then(|| format!("a virtual private gateway named `{new_name}` already exists")),
        };
        if let Some(message) = clash {
            return Err(ModelError::exists("name", message));
        }
        let name = new_name.to_string();
        match kind {
            Kind::Vpc => self.vpcs[i].name = name,
            Kind::Subnet => self.subnets[i].name = name,
            Kind::Eni => self.enis[i].name = name,
            Kind::SecurityGroup => self.security_groups[i].name = name,
            Kind::NetworkAcl => self.acls[i].name = name,
            Kind::RouteTable => self.route_tables[i].name = name,
            Kind::ExternalHost => self.externals[i].name = name,
            Kind::FlowLog => self.flow_logs[i].collector.settings.name = name,
            Kind::InternetGateway
            | Kind::LogGroup
            | Kind::LogStream
            | Kind::EnterpriseRouter
            | Kind::RouterAttachment => {}
            Kind::NatGateway => self.nats[i].name = name,
            Kind::VpcPeering => self.peerings[i].name = name,
            Kind::VpnGateway => self.vpn_gateways[i].name = name,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::Direction;
    use crate::addr::Ipv4Net;
    use crate::flowlog::{Filter, LogStatus, Scope, TruthLevel};
    use crate::host::Host;
    use crate::ids;
    use crate::packet::Packet;
    use crate::policy::sg::Remote;
    use crate::policy::{PortRange, acl, sg};
    use crate::profile::{Profile, Provider};
    use crate::time::{Span, Time};

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::parse_strict(s).unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    const T0: Time = Time(1_700_000_000_000_000);

    fn at(secs: u64) -> Time {
        T0 + Span::from_secs(secs)
    }

    fn world(keep_truth: bool) -> World {
        let mut cfg = Config::new(Profile::of(Provider::Aws));
        cfg.truth = if keep_truth {
            TruthLevel::Packets
        } else {
            TruthLevel::Counters
        };
        World::new(cfg)
    }

    fn eni(w: &mut World, name: &str, subnet: u32) -> u32 {
        w.create_eni(
            T0,
            EniSpec {
                name: name.into(),
                subnet,
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn flow_log(w: &mut World, name: &str, scope: Scope) -> u32 {
        w.create_flow_log(
            T0,
            FlowLogSpec {
                window: Some(Span::from_secs(60)),
                ..FlowLogSpec::new(name, scope)
            },
        )
        .unwrap()
    }

    fn id(w: &World, kind: Kind, idx: u32) -> String {
        w.id_of(kind, idx).unwrap().to_string()
    }

    fn sorted(mut ids: Vec<String>) -> Vec<String> {
        ids.sort();
        ids
    }

    /// Everything an operation could change, in one string: "refused" must mean "equal".
    fn snapshot(w: &World) -> String {
        let mut private: Vec<_> = w.private_ips.iter().collect();
        private.sort();
        let mut public: Vec<_> = w.public_ips.iter().collect();
        public.sort();
        format!(
            "{:?}",
            (
                (&w.vpcs, &w.subnets, &w.enis, &w.security_groups, &w.acls),
                (&w.route_tables, &w.igws, &w.externals, &w.flow_logs),
                (private, public, &w.eni_logs, &w.ids, &w.rng),
                (
                    w.graph.node_count(),
                    w.graph.edge_count(),
                    w.conntrack.len()
                ),
                (w.records.len(), w.next_window_end, w.packets),
            )
        )
    }

    /// Asserts that `op` is refused as `kind` on `field` with `dependents`, changing nothing.
    #[track_caller]
    fn refused<T: std::fmt::Debug>(
        w: &mut World,
        kind: ErrorKind,
        field: &str,
        dependents: &[String],
        op: impl FnOnce(&mut World) -> Result<T, ModelError>,
    ) -> ModelError {
        let before = snapshot(w);
        let e = w.transact(op).unwrap_err();
        assert_eq!((e.kind, e.field.as_str()), (kind, field), "{e}");
        assert_eq!(e.dependents, dependents, "{e}");
        assert_eq!(
            snapshot(w),
            before,
            "a refused operation changed the world: {e}"
        );
        e
    }

    /// A VPC with an internet gateway, one subnet, and its default resources.
    fn vpc_world() -> (World, u32, u32) {
        let mut w = world(true);
        let v = w.create_vpc("prod", None, net("10.0.0.0/16")).unwrap();
        let s = w
            .create_subnet("web", None, v, net("10.0.1.0/24"), None)
            .unwrap();
        (w, v, s)
    }

    #[test]
    fn delete_subnet_is_refused_until_its_enis_and_flow_logs_are_gone() {
        let (mut w, _, s) = vpc_world();
        let a = eni(&mut w, "a", s);
        let b = eni(&mut w, "b", s);
        let f = flow_log(&mut w, "fl", Scope::Subnet(s));
        let deps = sorted(vec![
            id(&w, Kind::Eni, a),
            id(&w, Kind::Eni, b),
            id(&w, Kind::FlowLog, f),
        ]);
        let e = refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_subnet(s)
        });
        assert!(
            e.message
                .starts_with("subnet `web` is still in use by network interface eni-"),
            "{e}"
        );
        w.delete_eni(a, at(1)).unwrap();
        w.delete_eni(b, at(1)).unwrap();
        let deps = vec![id(&w, Kind::FlowLog, f)];
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_subnet(s)
        });
        w.delete_flow_log(f, at(2)).unwrap();
        let sid = w.subnets[s as usize].id.clone();
        w.delete_subnet(s).unwrap();
        assert!(!w.is_live(Kind::Subnet, s));
        assert_eq!(w.find(Kind::Subnet, &sid), None);
        assert_eq!(w.id_of(Kind::Subnet, s), None);
        // Gone: a second delete, or using it, is NotFound.
        refused(&mut w, ErrorKind::NotFound, "subnet", &[], |w| {
            w.delete_subnet(s)
        });
        refused(&mut w, ErrorKind::NotFound, "subnet", &[], |w| {
            w.create_eni(
                T0,
                EniSpec {
                    name: "c".into(),
                    subnet: s,
                    ..Default::default()
                },
            )
        });
    }

    #[test]
    fn delete_vpc_names_every_dependent_then_takes_its_defaults_along() {
        let (mut w, v, s) = vpc_world();
        let igw = w.create_internet_gateway(v, None).unwrap();
        let g = w.create_security_group("app", None, v, Vec::new()).unwrap();
        let a = w.create_network_acl("acl", None, v, Vec::new()).unwrap();
        let t = w.create_route_table("rt", None, v, Vec::new()).unwrap();
        let f = flow_log(&mut w, "fl", Scope::Vpc(v));
        let (main, sg0, acl0) = {
            let x = &w.vpcs[v as usize];
            (x.main_route_table, x.default_sg, x.default_acl.unwrap())
        };
        let deps = sorted(vec![
            id(&w, Kind::Subnet, s),
            id(&w, Kind::SecurityGroup, g),
            id(&w, Kind::NetworkAcl, a),
            id(&w, Kind::RouteTable, t),
            id(&w, Kind::InternetGateway, igw),
            id(&w, Kind::FlowLog, f),
        ]);
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_vpc(v)
        });
        w.delete_flow_log(f, at(1)).unwrap();
        w.delete_subnet(s).unwrap();
        w.delete_security_group(g).unwrap();
        w.delete_network_acl(a).unwrap();
        w.delete_route_table(t).unwrap();
        let deps = vec![id(&w, Kind::InternetGateway, igw)];
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_vpc(v)
        });
        w.delete_internet_gateway(igw).unwrap();
        let defaults = [
            (Kind::RouteTable, main),
            (Kind::SecurityGroup, sg0),
            (Kind::NetworkAcl, acl0),
        ];
        let ids: Vec<(Kind, String)> = defaults.iter().map(|&(k, i)| (k, id(&w, k, i))).collect();
        w.delete_vpc(v).unwrap();
        assert!(!w.is_live(Kind::Vpc, v));
        for (k, i) in ids {
            assert_eq!(w.find(k, &i), None, "{k} {i}");
        }
        assert!(Kind::ALL.iter().all(|&k| w.ids(k).is_empty()));
        // Only the internet node is left in the graph.
        assert_eq!((w.graph.node_count(), w.graph.edge_count()), (1, 0));
    }

    #[test]
    fn a_vpcs_defaults_cannot_be_deleted_on_their_own() {
        let (mut w, v, _) = vpc_world();
        let x = w.vpcs[v as usize].clone();
        let deps = vec![x.id.clone()];
        let e = refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_security_group(x.default_sg)
        });
        assert_eq!(
            e.message,
            format!(
                "security group `default` is the default group: it belongs to vpc `prod` ({}) and is deleted with it",
                x.id
            )
        );
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_network_acl(x.default_acl.unwrap())
        });
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_route_table(x.main_route_table)
        });
    }

    #[test]
    fn delete_security_group_is_refused_while_used_or_referenced() {
        let (mut w, v, s) = vpc_world();
        let app = w.create_security_group("app", None, v, Vec::new()).unwrap();
        // Rules that refer to the group itself do not keep it alive.
        w.set_security_group_rules(
            T0,
            app,
            vec![sg::Rule {
                remote: Remote::Group(app),
                ..sg::Rule::allow_all(Direction::Ingress)
            }],
        )
        .unwrap();
        let web = w
            .create_security_group(
                "web",
                None,
                v,
                vec![sg::Rule {
                    remote: Remote::Group(app),
                    ..sg::Rule::allow_all(Direction::Ingress)
                }],
            )
            .unwrap();
        let e = w
            .create_eni(
                T0,
                EniSpec {
                    name: "a".into(),
                    subnet: s,
                    security_groups: vec![app],
                    ..Default::default()
                },
            )
            .unwrap();
        let deps = sorted(vec![id(&w, Kind::Eni, e), id(&w, Kind::SecurityGroup, web)]);
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_security_group(app)
        });
        w.set_eni_security_groups(T0, e, vec![web]).unwrap();
        let deps = vec![id(&w, Kind::SecurityGroup, web)];
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_security_group(app)
        });
        w.set_security_group_rules(T0, web, Vec::new()).unwrap();
        w.delete_security_group(app).unwrap();
        // A deleted group can no longer be used or referred to.
        refused(
            &mut w,
            ErrorKind::NotFound,
            "security_groups[0]",
            &[],
            |w| w.set_eni_security_groups(T0, e, vec![app]),
        );
        refused(&mut w, ErrorKind::NotFound, "rules[0].remote", &[], |w| {
            w.set_security_group_rules(
                T0,
                web,
                vec![sg::Rule {
                    remote: Remote::Group(app),
                    ..sg::Rule::allow_all(Direction::Ingress)
                }],
            )
        });
    }

    #[test]
    fn acls_and_route_tables_are_refused_while_associated() {
        let (mut w, v, s) = vpc_world();
        let s2 = w
            .create_subnet("db", None, v, net("10.0.2.0/24"), None)
            .unwrap();
        let a = w.create_network_acl("acl", None, v, Vec::new()).unwrap();
        let t = w.create_route_table("rt", None, v, Vec::new()).unwrap();
        for sub in [s, s2] {
            w.associate_acl(sub, a).unwrap();
            w.associate_route_table(sub, t).unwrap();
        }
        let deps = sorted(vec![id(&w, Kind::Subnet, s), id(&w, Kind::Subnet, s2)]);
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_network_acl(a)
        });
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_route_table(t)
        });
        // aws: back to the VPC's default ACL; the main table by association.
        w.disassociate_acl(s).unwrap();
        assert_eq!(w.subnets[s as usize].acl, w.vpcs[v as usize].default_acl);
        let main = w.vpcs[v as usize].main_route_table;
        w.associate_route_table(s, main).unwrap();
        // A deleted subnet no longer counts.
        w.delete_subnet(s2).unwrap();
        w.delete_network_acl(a).unwrap();
        w.delete_route_table(t).unwrap();
        refused(&mut w, ErrorKind::NotFound, "acl", &[], |w| {
            w.associate_acl(s, a)
        });
        refused(&mut w, ErrorKind::NotFound, "route_table", &[], |w| {
            w.associate_route_table(s, t)
        });
    }

    #[test]
    fn disassociating_an_acl_leaves_no_acl_where_the_cloud_has_no_default() {
        let mut w = World::new(Config::new(Profile::of(Provider::Huawei)));
        let v = w.create_vpc("prod", None, net("10.0.0.0/16")).unwrap();
        let s = w
            .create_subnet("web", None, v, net("10.0.1.0/24"), None)
            .unwrap();
        let a = w.create_network_acl("acl", None, v, Vec::new()).unwrap();
        w.associate_acl(s, a).unwrap();
        w.disassociate_acl(s).unwrap();
        assert_eq!(w.subnets[s as usize].acl, None);
        w.delete_network_acl(a).unwrap();
    }

    #[test]
    fn delete_internet_gateway_is_refused_while_routed_to_or_eips_exist() {
        let (mut w, v, s) = vpc_world();
        let g = w.create_internet_gateway(v, None).unwrap();
        let main = w.vpcs[v as usize].main_route_table;
        w.add_route(
            main,
            Route {
                destination: Ipv4Net::ANY,
                target: Target::InternetGateway(g),
            },
        )
        .unwrap();
        let e = w
            .create_eni(
                T0,
                EniSpec {
                    name: "a".into(),
                    subnet: s,
                    eip: Some(ip("198.51.100.7")),
                    ..Default::default()
                },
            )
            .unwrap();
        let deps = sorted(vec![id(&w, Kind::RouteTable, main), id(&w, Kind::Eni, e)]);
        refused(&mut w, ErrorKind::FailedPrecondition, "name", &deps, |w| {
            w.delete_internet_gateway(g)
        });
        w.remove_route(main, Ipv4Net::ANY).unwrap();
        w.set_eni_elastic_ip(e, None).unwrap();
        w.delete_internet_gateway(g).unwrap();
        assert_eq!(w.vpcs[v as usize].igw, None);
        // Routes to it and elastic IPs now need a gateway.
        refused(&mut w, ErrorKind::NotFound, "target", &[], |w| {
            w.add_route(
                main,
                Route {
                    destination: Ipv4Net::ANY,
                    target: Target::InternetGateway(g),
                },
            )
        });
        refused(&mut w, ErrorKind::FailedPrecondition, "eip", &[], |w| {
            w.set_eni_elastic_ip(e, Some(ip("198.51.100.7")))
        });
        let g2 = w.create_internet_gateway(v, None).unwrap();
        assert_ne!(g2, g);
        w.set_eni_elastic_ip(e, Some(ip("198.51.100.7"))).unwrap();
    }

    #[test]
    fn deleted_names_and_given_ids_can_be_used_again() {
        let (mut w, v, s) = vpc_world();
        let vpc2 = w
            .create_vpc("old", Some("vpc-old".into()), net("10.1.0.0/16"))
            .unwrap();
        refused(&mut w, ErrorKind::AlreadyExists, "id", &[], |w| {
            w.create_vpc("other", Some("vpc-old".into()), net("10.2.0.0/16"))
        });
        w.delete_vpc(vpc2).unwrap();
        let again = w
            .create_vpc("old", Some("vpc-old".into()), net("10.1.0.0/16"))
            .unwrap();
        assert_eq!(w.find(Kind::Vpc, "vpc-old"), Some(again));

        let g = w.create_security_group("app", None, v, Vec::new()).unwrap();
        w.delete_security_group(g).unwrap();
        w.create_security_group("app", None, v, Vec::new()).unwrap();
        let a = w.create_network_acl("acl", None, v, Vec::new()).unwrap();
        w.delete_network_acl(a).unwrap();
        w.create_network_acl("acl", None, v, Vec::new()).unwrap();
        let t = w.create_route_table("rt", None, v, Vec::new()).unwrap();
        w.delete_route_table(t).unwrap();
        w.create_route_table("rt", None, v, Vec::new()).unwrap();
        let e = eni(&mut w, "a", s);
        w.delete_eni(e, T0).unwrap();
        eni(&mut w, "a", s);
        let f = flow_log(&mut w, "fl", Scope::Vpc(v));
        w.delete_flow_log(f, T0).unwrap();
        flow_log(&mut w, "fl", Scope::Vpc(v));
        let x = w
            .create_external_host("home", ip("203.0.113.12"), Host::default())
            .unwrap();
        w.delete_external_host(x).unwrap();
        let x2 = w
            .create_external_host("home", ip("203.0.113.12"), Host::default())
            .unwrap();
        assert_eq!(
            (
                id(&w, Kind::ExternalHost, x2).as_str(),
                w.find(Kind::ExternalHost, "host-1")
            ),
            ("host-2", None)
        );
        // A given ID that a generated one would take later: that one steps aside.
        w.create_external_host_with_id(
            "far",
            Some("host-4".into()),
            ip("203.0.113.13"),
            Host::default(),
        )
        .unwrap();
        refused(&mut w, ErrorKind::AlreadyExists, "id", &[], |w| {
            w.create_external_host_with_id(
                "far2",
                Some("host-4".into()),
                ip("203.0.113.14"),
                Host::default(),
            )
        });
        let x4 = w
            .create_external_host("near", ip("203.0.113.14"), Host::default())
            .unwrap();
        assert_eq!(id(&w, Kind::ExternalHost, x4), "host-4-2");
        w.delete_subnet(s).unwrap_err();
        let s2 = w
            .create_subnet("web2", None, v, net("10.0.2.0/24"), None)
            .unwrap();
        w.delete_subnet(s2).unwrap();
        // The block of a deleted subnet is free again.
        w.create_subnet("web3", None, v, net("10.0.2.0/24"), None)
            .unwrap();
    }

    #[test]
    fn transact_gives_back_the_randomness_of_a_refused_request() {
        // Draws an ID, then refuses: the draw must not survive.
        let draw_then_refuse = |w: &mut World| -> Result<(), ModelError> {
            ids::resource(&mut w.rng, w.profile.id_style, "vpc");
            Err(ModelError::invalid("cidr", "no"))
        };
        let mut a = world(true);
        a.transact(draw_then_refuse).unwrap_err();
        a.transact(|w| w.create_vpc("bad", None, net("10.0.0.0/30")))
            .unwrap_err();
        let v = a
            .transact(|w| w.create_vpc("prod", None, net("10.0.0.0/16")))
            .unwrap();
        let mut b = world(true);
        let v2 = b.create_vpc("prod", None, net("10.0.0.0/16")).unwrap();
        assert_eq!(a.vpcs[v as usize].id, b.vpcs[v2 as usize].id);
    }

    #[test]
    fn replaying_only_accepted_operations_gives_the_same_ids() {
        // Every operation, some refused; a replay of the accepted ones names things the same.
        type Op = Box<dyn Fn(&mut World) -> Result<u32, ModelError>>;
        let ops: Vec<Op> = vec![
            Box::new(|w| w.create_vpc("prod", None, net("10.0.0.0/16"))),
            Box::new(|w| w.create_vpc("prod", None, net("10.1.0.0/16"))),
            Box::new(|w| w.create_subnet("web", None, 0, net("10.9.0.0/24"), None)),
            Box::new(|w| w.create_subnet("web", None, 0, net("10.0.1.0/24"), None)),
            Box::new(|w| w.create_internet_gateway(0, None)),
            Box::new(|w| {
                w.create_security_group(
                    "app",
                    None,
                    0,
                    vec![sg::Rule {
                        ports: PortRange::single(80),
                        ..sg::Rule::allow_all(Direction::Ingress)
                    }],
                )
            }),
            Box::new(|w| w.create_security_group("app", None, 0, Vec::new())),
            Box::new(|w| {
                w.create_eni(
                    T0,
                    EniSpec {
                        name: "a".into(),
                        subnet: 0,
                        ip: Some(ip("10.0.1.1")),
                        ..Default::default()
                    },
                )
            }),
            Box::new(|w| {
                w.create_eni(
                    T0,
                    EniSpec {
                        name: "a".into(),
                        subnet: 0,
                        eip: Some(ip("198.51.100.7")),
                        security_groups: vec![7],
                        ..Default::default()
                    },
                )
            }),
            Box::new(|w| {
                w.create_eni(
                    T0,
                    EniSpec {
                        name: "a".into(),
                        subnet: 0,
                        eip: Some(ip("198.51.100.7")),
                        ..Default::default()
                    },
                )
            }),
            Box::new(|w| w.delete_subnet(0).map(|_| 0)),
            Box::new(|w| {
                w.create_route_table(
                    "rt",
                    None,
                    0,
                    vec![Route {
                        destination: Ipv4Net::ANY,
                        target: Target::InternetGateway(5),
                    }],
                )
            }),
            Box::new(|w| w.create_route_table("rt", None, 0, Vec::new())),
            Box::new(|w| {
                w.create_flow_log(
                    T0,
                    FlowLogSpec {
                        name: "fl".into(),
                        id: None,
                        scope: Scope::Eni(0),
                        filter: Filter::All,
                        window: Some(Span::from_secs(7)),
                        capacity: None,
                        description: String::new(),
                        tags: Default::default(),
                        log_stream: None,
                    },
                )
            }),
            Box::new(|w| {
                w.create_flow_log(
                    T0,
                    FlowLogSpec {
                        name: "fl".into(),
                        id: None,
                        scope: Scope::Eni(0),
                        filter: Filter::All,
                        window: None,
                        capacity: None,
                        description: String::new(),
                        tags: Default::default(),
                        log_stream: None,
                    },
                )
            }),
        ];
        let mut all = world(true);
        let mut accepted = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if all.transact(|w| op(w)).is_ok() {
                accepted.push(i);
            }
        }
        assert_eq!(accepted, vec![0, 3, 4, 6, 9, 12, 14]);
        let mut replay = world(true);
        for &i in &accepted {
            replay.transact(|w| ops[i](w)).unwrap();
        }
        for k in Kind::ALL {
            assert_eq!(all.ids(k), replay.ids(k), "{k}");
        }
        assert_eq!(
            all.enis[0].instance_id, replay.enis[0].instance_id,
            "instance IDs come from the same stream"
        );
        assert_eq!(snapshot(&all), snapshot(&replay));
    }

    #[test]
    fn delete_eni_frees_its_addresses_for_reuse() {
        let (mut w, v, s) = vpc_world();
        w.create_internet_gateway(v, None).unwrap();
        let a = w
            .create_eni(
                T0,
                EniSpec {
                    name: "a".into(),
                    subnet: s,
                    eip: Some(ip("198.51.100.7")),
                    ..Default::default()
                },
            )
            .unwrap();
        let first = w.enis[a as usize].ip;
        assert_eq!(first, ip("10.0.1.4"));
        refused(&mut w, ErrorKind::AlreadyExists, "ip", &[], |w| {
            w.create_eni(
                T0,
                EniSpec {
                    name: "b".into(),
                    subnet: s,
                    ip: Some(first),
                    ..Default::default()
                },
            )
        });
        w.delete_eni(a, T0).unwrap();
        let b = w
            .create_eni(
                T0,
                EniSpec {
                    name: "b".into(),
                    subnet: s,
                    eip: Some(ip("198.51.100.7")),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            w.enis[b as usize].ip, first,
            "the lowest free address again"
        );
        assert_eq!(
            w.resolve(Endpoint::External(0), ip("198.51.100.7")),
            Some(Endpoint::Eni(b))
        );
    }

    #[test]
    fn traffic_to_a_deleted_eni_finds_no_host() {
        let (mut w, v, s) = vpc_world();
        let g = w.create_internet_gateway(v, None).unwrap();
        let main = w.vpcs[v as usize].main_route_table;
        w.add_route(
            main,
            Route {
                destination: Ipv4Net::ANY,
                target: Target::InternetGateway(g),
            },
        )
        .unwrap();
        let open = w
            .create_security_group("open", None, v, sg::Rule::allow_everything())
            .unwrap();
        let spec = |name: &str, eip: Option<&str>| EniSpec {
            name: name.into(),
            subnet: s,
            eip: eip.map(ip),
            security_groups: vec![open],
            ..Default::default()
        };
        let a = w.create_eni(T0, spec("a", None)).unwrap();
        let b = w.create_eni(T0, spec("b", Some("198.51.100.7"))).unwrap();
        let x = w
            .create_external_host("home", ip("203.0.113.12"), Host::default())
            .unwrap();
        let (ia, ib) = (w.enis[a as usize].ip, w.enis[b as usize].ip);
        let to_b = Packet::udp(ia, 40000, ib, 53, 100);
        let from_home = Packet::udp(ip("203.0.113.12"), 40000, ip("198.51.100.7"), 53, 100);
        assert!(w.send(at(1), Endpoint::Eni(a), to_b).delivered().is_some());
        let out = w.send(at(1), Endpoint::External(x), from_home);
        assert_eq!(out.delivered().map(|d| d.0), Some(Endpoint::Eni(b)));
        assert_eq!(
            w.path(Endpoint::External(x), Endpoint::Eni(b)),
            vec![
                "host home",
                "internet",
                &format!("IGW {}", w.igws[g as usize].id),
                "VPC prod",
                "subnet web",
                "ENI b"
            ]
        );
        w.delete_eni(b, at(2)).unwrap();
        let out = w.send(at(3), Endpoint::Eni(a), to_b);
        assert_eq!(out.fate, Fate::Dropped(Drop::NoHost));
        let out = w.send(at(3), Endpoint::External(x), from_home);
        assert_eq!(out.fate, Fate::Dropped(Drop::NoHost));
        // Traffic still scheduled from it goes nowhere and is judged by nothing.
        let back = Packet::udp(ib, 53, ia, 40000, 100);
        let out = w.send(at(3), Endpoint::Eni(b), back);
        assert_eq!(
            (out.fate, out.decisions),
            (Fate::Dropped(Drop::NoHost), [None; 8])
        );
        assert!(w.path(Endpoint::External(x), Endpoint::Eni(b)).is_empty());
        // Likewise for a deleted external host.
        w.delete_external_host(x).unwrap();
        let to_home = Packet::udp(ia, 40000, ip("203.0.113.12"), 53, 100);
        w.set_eni_elastic_ip(a, Some(ip("198.51.100.8"))).unwrap();
        assert_eq!(
            w.send(at(4), Endpoint::Eni(a), to_home).fate,
            Fate::Dropped(Drop::NoHost)
        );
    }

    #[test]
    fn a_group_reference_forgets_a_deleted_member() {
        let (mut w, v, s) = vpc_world();
        let out = vec![sg::Rule::allow_all(Direction::Egress)];
        let app = w
            .create_security_group("app", None, v, out.clone())
            .unwrap();
        let other = w.create_security_group("other", None, v, out).unwrap();
        let web = w
            .create_security_group(
                "web",
                None,
                v,
                vec![sg::Rule {
                    remote: Remote::Group(app),
                    ..sg::Rule::allow_all(Direction::Ingress)
                }],
            )
            .unwrap();
        let spec = |name: &str, g: u32, ip_: &str| EniSpec {
            name: name.into(),
            subnet: s,
            ip: Some(ip(ip_)),
            security_groups: vec![g],
            ..Default::default()
        };
        let server = w.create_eni(T0, spec("server", web, "10.0.1.10")).unwrap();
        let client = w.create_eni(T0, spec("client", app, "10.0.1.20")).unwrap();
        let p = Packet::udp(ip("10.0.1.20"), 40000, ip("10.0.1.10"), 53, 100);
        assert!(
            w.send(at(1), Endpoint::Eni(client), p)
                .delivered()
                .is_some()
        );
        w.delete_eni(client, at(2)).unwrap();
        // Same address, not in `app`: `web` no longer admits it (a new connection: the
        // server still tracks the old one until it times out).
        let stranger = w
            .create_eni(T0, spec("stranger", other, "10.0.1.20"))
            .unwrap();
        let p = Packet::udp(ip("10.0.1.20"), 40001, ip("10.0.1.10"), 53, 100);
        let out = w.send(at(3), Endpoint::Eni(stranger), p);
        assert!(
            matches!(out.fate, Fate::Dropped(Drop::Policy(d)) if d.at == server),
            "{:?}",
            out.fate
        );
    }

    /// A record in short: (interface, status, (direction, packets), window start, window
    /// end), times in seconds from T0.
    type Line = (String, LogStatus, Option<(Direction, u64)>, u64, u64);

    fn summary(w: &mut World) -> Vec<Line> {
        w.take_records()
            .iter()
            .map(|r| {
                (
                    r.capture.interface_id.clone(),
                    r.status,
                    r.flow.as_ref().map(|f| (f.direction, f.packets)),
                    (r.window_start.micros() - T0.micros()) / 1_000_000,
                    (r.window_end.micros() - T0.micros()) / 1_000_000,
                )
            })
            .collect()
    }

    /// An OK record of interface `eni` counting `packets` in `dir`, window `[start, end)`.
    fn ok(eni: &str, dir: Direction, packets: u64, (start, end): (u64, u64)) -> Line {
        (eni.into(), LogStatus::Ok, Some((dir, packets)), start, end)
    }

    /// A NODATA record of interface `eni`, window `[start, end)`.
    fn nodata(eni: &str, (start, end): (u64, u64)) -> Line {
        (eni.into(), LogStatus::NoData, None, start, end)
    }

    /// VPC prod with subnet web and two ENIs in it, a and b: (world, VPC, a, b).
    fn two_enis(keep_truth: bool) -> (World, u32, u32, u32) {
        let mut w = world(keep_truth);
        let v = w.create_vpc("prod", None, net("10.0.0.0/16")).unwrap();
        let s = w
            .create_subnet("web", None, v, net("10.0.1.0/24"), None)
            .unwrap();
        let a = eni(&mut w, "a", s);
        let b = eni(&mut w, "b", s);
        (w, v, a, b)
    }

    /// A 100-byte DNS datagram between ENIs `from` and `to`, at `t` seconds: a query from
    /// port 40000, or (`reply`) its answer from port 53.
    fn dns(w: &mut World, t: u64, from: u32, to: u32, reply: bool) {
        let (src, dst) = (w.enis[from as usize].ip, w.enis[to as usize].ip);
        let (sport, dport) = if reply { (53, 40000) } else { (40000, 53) };
        w.send(
            at(t),
            Endpoint::Eni(from),
            Packet::udp(src, sport, dst, dport, 100),
        );
    }

    #[test]
    fn delete_flow_log_flushes_its_open_window() {
        for keep_truth in [true, false] {
            let (mut w, _, a, b) = two_enis(keep_truth);
            let f = flow_log(&mut w, "fl", Scope::Eni(a));
            let ea = w.enis[a as usize].id.clone();
            // Window [0, 60) passes with traffic; [60, 120) has 3 packets when the log goes.
            for t in [1, 61, 62, 63] {
                dns(&mut w, t, a, b, false);
            }
            w.delete_flow_log(f, at(70)).unwrap();
            assert_eq!(
                summary(&mut w),
                vec![
                    ok(&ea, Direction::Egress, 1, (0, 60)),
                    ok(&ea, Direction::Egress, 3, (60, 120)),
                ],
                "keep_truth {keep_truth}"
            );
            // Nothing is captured after.
            dns(&mut w, 80, a, b, false);
            w.advance(at(1000));
            assert!(w.take_records().is_empty());
            assert_eq!(w.next_window_end, Time(u64::MAX));
            // The ENI it watched can go now.
            w.delete_eni(a, at(1000)).unwrap();
        }
    }

    #[test]
    fn a_deleted_enis_traffic_stays_in_the_window_it_had_it() {
        for keep_truth in [true, false] {
            let (mut w, v, a, b) = two_enis(keep_truth);
            flow_log(&mut w, "fl", Scope::Vpc(v));
            let (ea, eb) = (w.enis[a as usize].id.clone(), w.enis[b as usize].id.clone());
            for t in [1, 2, 3] {
                dns(&mut w, t, a, b, false);
            }
            // Windows [0, 60) and [60, 120) ended before the delete at 130, no packet since:
            // both count b (NODATA in the second); the window open at the delete does not.
            w.delete_eni(b, at(130)).unwrap();
            dns(&mut w, 131, a, b, false);
            w.advance(at(180));
            assert_eq!(
                summary(&mut w),
                vec![
                    ok(&ea, Direction::Egress, 3, (0, 60)),
                    ok(&eb, Direction::Ingress, 3, (0, 60)),
                    nodata(&ea, (60, 120)),
                    nodata(&eb, (60, 120)),
                    ok(&ea, Direction::Egress, 1, (120, 180)),
                ],
                "keep_truth {keep_truth}"
            );
        }
    }

    #[test]
    fn a_deleted_enis_open_window_traffic_is_recorded() {
        // Counters kept with b's connections (keep_truth off) reach the records all the same.
        for keep_truth in [true, false] {
            let (mut w, v, a, b) = two_enis(keep_truth);
            flow_log(&mut w, "fl", Scope::Vpc(v));
            let (ea, eb) = (w.enis[a as usize].id.clone(), w.enis[b as usize].id.clone());
            for t in [1, 2] {
                dns(&mut w, t, a, b, false);
                dns(&mut w, t, b, a, true);
            }
            w.delete_eni(b, at(10)).unwrap();
            w.advance(at(120));
            assert_eq!(
                summary(&mut w),
                vec![
                    ok(&ea, Direction::Ingress, 2, (0, 60)),
                    ok(&ea, Direction::Egress, 2, (0, 60)),
                    ok(&eb, Direction::Ingress, 2, (0, 60)),
                    ok(&eb, Direction::Egress, 2, (0, 60)),
                    nodata(&ea, (60, 120)),
                ],
                "keep_truth {keep_truth}"
            );
            assert_eq!(w.conntrack.len(), 1, "only a's connection is left");
        }
    }

    #[test]
    fn rename_checks_the_name_and_its_scope() {
        let (mut w, v, s) = vpc_world();
        let v2 = w.create_vpc("dev", None, net("10.1.0.0/16")).unwrap();
        let app = w.create_security_group("app", None, v, Vec::new()).unwrap();
        w.create_security_group("web", None, v, Vec::new()).unwrap();
        w.create_security_group("db", None, v2, Vec::new()).unwrap();
        let e = refused(&mut w, ErrorKind::AlreadyExists, "name", &[], |w| {
            w.rename(Kind::SecurityGroup, app, "web")
        });
        assert_eq!(
            e.message,
            "a security group named `web` already exists in this VPC"
        );
        refused(&mut w, ErrorKind::InvalidArgument, "name", &[], |w| {
            w.rename(Kind::SecurityGroup, app, "no spaces")
        });
        // Another VPC's name, or its own, is fine.
        w.rename(Kind::SecurityGroup, app, "db").unwrap();
        w.rename(Kind::SecurityGroup, app, "db").unwrap();
        assert_eq!(w.security_groups[app as usize].name, "db");
        refused(&mut w, ErrorKind::AlreadyExists, "name", &[], |w| {
            w.rename(Kind::Vpc, v, "dev")
        });
        w.rename(Kind::Vpc, v, "prod2").unwrap();
        let a = eni(&mut w, "a", s);
        let b = eni(&mut w, "b", s);
        refused(&mut w, ErrorKind::AlreadyExists, "name", &[], |w| {
            w.rename(Kind::Eni, b, "a")
        });
        w.delete_eni(a, T0).unwrap();
        w.rename(Kind::Eni, b, "a").unwrap();
        refused(&mut w, ErrorKind::NotFound, "eni", &[], |w| {
            w.rename(Kind::Eni, a, "c")
        });
        let f = flow_log(&mut w, "fl", Scope::Vpc(v));
        w.rename(Kind::FlowLog, f, "fl2").unwrap();
        assert_eq!(w.flow_logs[f as usize].collector.settings.name, "fl2");
        let t = w.create_route_table("rt", None, v, Vec::new()).unwrap();
        refused(&mut w, ErrorKind::AlreadyExists, "name", &[], |w| {
            w.rename(Kind::RouteTable, t, "prod-main")
        });
        let g = w.create_internet_gateway(v, None).unwrap();
        refused(&mut w, ErrorKind::InvalidArgument, "name", &[], |w| {
            w.rename(Kind::InternetGateway, g, "gw")
        });
    }

    #[test]
    fn set_routes_checks_each_route_and_keeps_the_local_one() {
        let (mut w, v, _) = vpc_world();
        let v2 = w.create_vpc("dev", None, net("10.1.0.0/16")).unwrap();
        let g = w.create_internet_gateway(v, None).unwrap();
        let g2 = w.create_internet_gateway(v2, None).unwrap();
        let t = w.create_route_table("rt", None, v, Vec::new()).unwrap();
        let to = |d: &str, target| Route {
            destination: net(d),
            target,
        };
        let e = refused(
            &mut w,
            ErrorKind::AlreadyExists,
            "routes[1].destination",
            &[],
            |w| {
                w.set_routes(
                    t,
                    vec![
                        to("0.0.0.0/0", Target::InternetGateway(g)),
                        to("0.0.0.0/0", Target::Blackhole),
                    ],
                )
            },
        );
        assert_eq!(e.message, "a route to 0.0.0.0/0 already exists");
        refused(&mut w, ErrorKind::NotFound, "routes[0].target", &[], |w| {
            w.set_routes(t, vec![to("0.0.0.0/0", Target::InternetGateway(g2))])
        });
        refused(
            &mut w,
            ErrorKind::InvalidArgument,
            "routes[0].target",
            &[],
            |w| w.set_routes(t, vec![to("192.168.0.0/16", Target::Local)]),
        );
        refused(
            &mut w,
            ErrorKind::AlreadyExists,
            "routes[0].destination",
            &[],
            |w| w.set_routes(t, vec![to("10.0.0.0/16", Target::Blackhole)]),
        );
        w.set_routes(
            t,
            vec![
                to("0.0.0.0/0", Target::InternetGateway(g)),
                to("192.168.0.0/24", Target::Blackhole),
            ],
        )
        .unwrap();
        let dests = |w: &World| -> Vec<String> {
            w.route_tables[t as usize]
                .routes
                .iter()
                .map(|r| r.destination.to_string())
                .collect()
        };
        assert_eq!(
            dests(&w),
            vec!["192.168.0.0/24", "10.0.0.0/16", "0.0.0.0/0"]
        );
        w.set_routes(t, Vec::new()).unwrap();
        assert_eq!(dests(&w), vec!["10.0.0.0/16"]);
        refused(
            &mut w,
            ErrorKind::InvalidArgument,
            "destination",
            &[],
            |w| w.remove_route(t, net("10.0.0.0/16")),
        );
        refused(&mut w, ErrorKind::NotFound, "destination", &[], |w| {
            w.remove_route(t, net("0.0.0.0/0"))
        });
    }

    #[test]
    fn elastic_ips_are_checked_as_at_creation() {
        let (mut w, v, s) = vpc_world();
        let a = eni(&mut w, "a", s);
        let b = eni(&mut w, "b", s);
        refused(&mut w, ErrorKind::FailedPrecondition, "eip", &[], |w| {
            w.set_eni_elastic_ip(a, Some(ip("198.51.100.7")))
        });
        w.create_internet_gateway(v, None).unwrap();
        w.set_eni_elastic_ip(a, Some(ip("198.51.100.7"))).unwrap();
        w.set_eni_elastic_ip(a, Some(ip("198.51.100.7"))).unwrap();
        refused(&mut w, ErrorKind::AlreadyExists, "eip", &[], |w| {
            w.set_eni_elastic_ip(b, Some(ip("198.51.100.7")))
        });
        w.create_external_host("home", ip("203.0.113.12"), Host::default())
            .unwrap();
        refused(&mut w, ErrorKind::AlreadyExists, "eip", &[], |w| {
            w.set_eni_elastic_ip(b, Some(ip("203.0.113.12")))
        });
        // Moving a's address to another frees the first.
        w.set_eni_elastic_ip(a, Some(ip("198.51.100.8"))).unwrap();
        w.set_eni_elastic_ip(b, Some(ip("198.51.100.7"))).unwrap();
        assert_eq!(
            w.resolve(Endpoint::External(0), ip("198.51.100.7")),
            Some(Endpoint::Eni(b))
        );
    }

    #[test]
    fn find_and_id_of_follow_live_resources() {
        let (mut w, v, s) = vpc_world();
        let e = eni(&mut w, "a", s);
        let eid = id(&w, Kind::Eni, e);
        assert_eq!(w.find(Kind::Eni, &eid), Some(e));
        assert_eq!(w.find(Kind::Subnet, &eid), None, "IDs are per kind");
        let vid = w.vpcs[v as usize].id.clone();
        assert_eq!(w.find(Kind::Vpc, &vid), Some(v));
        assert_eq!(w.id_of(Kind::Vpc, 7), None);
        w.delete_eni(e, T0).unwrap();
        assert_eq!(
            (w.find(Kind::Eni, &eid), w.id_of(Kind::Eni, e)),
            (None, None)
        );
        assert_eq!(live(&w.enis).count(), 0);
        // Listing is ordered by ID.
        for i in 0..5 {
            eni(&mut w, &format!("e{i}"), s);
        }
        let ids: Vec<&String> = w.ids(Kind::Eni).keys().collect();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!((ids.len(), &ids), (5, &expected));
    }

    #[test]
    fn refused_creates_change_nothing() {
        let (mut w, v, s) = vpc_world();
        let v2 = w.create_vpc("dev", None, net("10.1.0.0/16")).unwrap();
        let g2 = w
            .create_security_group("other", None, v2, Vec::new())
            .unwrap();
        refused(&mut w, ErrorKind::NotFound, "rules[0].remote", &[], |w| {
            w.create_security_group(
                "app",
                None,
                v,
                vec![sg::Rule {
                    remote: Remote::Group(g2),
                    ..sg::Rule::allow_all(Direction::Ingress)
                }],
            )
        });
        refused(
            &mut w,
            ErrorKind::InvalidArgument,
            "entries[0].number",
            &[],
            |w| {
                w.create_network_acl(
                    "acl",
                    None,
                    v,
                    vec![acl::Entry::allow_all(0, Direction::Ingress)],
                )
            },
        );
        refused(
            &mut w,
            ErrorKind::InvalidArgument,
            "security_groups[0]",
            &[],
            |w| {
                w.create_eni(
                    T0,
                    EniSpec {
                        name: "a".into(),
                        subnet: s,
                        security_groups: vec![g2],
                        ..Default::default()
                    },
                )
            },
        );
        refused(&mut w, ErrorKind::InvalidArgument, "cidr", &[], |w| {
            w.create_subnet("web2", None, v, net("10.0.1.128/25"), None)
        });
        refused(&mut w, ErrorKind::AlreadyExists, "name", &[], |w| {
            w.create_route_table("prod-main", None, v, Vec::new())
        });
        refused(&mut w, ErrorKind::NotFound, "resource", &[], |w| {
            w.create_flow_log(
                T0,
                FlowLogSpec {
                    name: "fl".into(),
                    id: None,
                    scope: Scope::Eni(9),
                    filter: Filter::All,
                    window: None,
                    capacity: None,
                    description: String::new(),
                    tags: Default::default(),
                    log_stream: None,
                },
            )
        });
        refused(&mut w, ErrorKind::InvalidArgument, "id", &[], |w| {
            w.create_subnet("web2", Some(String::new()), v, net("10.0.2.0/24"), None)
        });
        let sid = w.subnets[s as usize].id.clone();
        refused(&mut w, ErrorKind::AlreadyExists, "id", &[], |w| {
            w.create_subnet("web2", Some(sid), v, net("10.0.2.0/24"), None)
        });
    }
}
