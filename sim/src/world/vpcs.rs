//! VPCs and their network: subnets, route tables with their routes and associations, and
//! internet gateways; each created, changed and deleted here. A VPC comes with its main route
//! table, default ACL and default security group, and they go with it.

use super::lifecycle::{in_use, part_of_vpc};
use super::*;
use crate::Direction;
use crate::addr::Ipv4Net;
use crate::conntrack::Zone;
use crate::flowlog::Scope;
use crate::policy::sg::Remote;
use crate::policy::{acl, sg};

impl World {
    /// Creates a VPC with its main route table (a `local` route), default ACL and default
    /// security group, as the clouds do.
    pub fn create_vpc(
        &mut self,
        name: &str,
        id: Option<String>,
        cidr: Ipv4Net,
    ) -> Result<u32, ModelError> {
        self.create_vpc_in(name, id, cidr, None)
    }

    /// [`World::create_vpc`] in region `region` (`None`: the world's). A VPC's region is
    /// fixed at creation; it matters to Cloud Connect Networks (`crate::ccn`) and shows in
    /// the `region` of its interfaces' records.
    pub fn create_vpc_in(
        &mut self,
        name: &str,
        id: Option<String>,
        cidr: Ipv4Net,
        region: Option<String>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        if let Some(r) = &region {
            crate::ccn::check_region(r).map_err(|m| ModelError::invalid("region", m))?;
        }
        self.profile
            .addressing
            .check_vpc_block(cidr)
            .map_err(|m| ModelError::invalid("cidr", m))?;
        if live(&self.vpcs).any(|(_, v)| v.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a VPC named `{name}` already exists"),
            ));
        }
        self.check_id(Kind::Vpc, id.as_deref())?;
        // aws gives every VPC a default ACL that allows everything (rule 100 in and out,
        // policy.md §2); the other clouds filter a subnet only once an ACL is associated.
        let allow_all = vec![
            acl::Entry::allow_all(100, Direction::Ingress),
            acl::Entry::allow_all(100, Direction::Egress),
        ];
        if self.profile.vpc_default_acl {
            check_acl_entries(&self.profile, &allow_all).map_err(|e| e.within("default_acl"))?;
        }
        // Nothing below refuses. IDs are drawn in this order: VPC, main table, ACL, group.
        let v = self.vpcs.len() as u32;
        let id = self.new_id(Kind::Vpc, v, id, "vpc");
        let node = self.graph.add_node(Node::Vpc(v));
        let rt = self.route_tables.len() as u32;
        let rt_id = self.new_id(Kind::RouteTable, rt, None, "rtb");
        self.route_tables.push(RouteTable {
            id: rt_id,
            name: format!("{name}-main"),
            vpc: v,
            routes: vec![Route {
                destination: cidr,
                target: Target::Local,
            }],
            propagating: Vec::new(),
            deleted: false,
        });
        let default_acl = if self.profile.vpc_default_acl {
            let acl = self.acls.len() as u32;
            let acl_id = self.new_id(Kind::NetworkAcl, acl, None, "acl");
            self.acls.push(NetworkAcl {
                id: acl_id,
                name: format!("{name}-default"),
                vpc: v,
                entries: Vec::new(),
                past: Vec::new(),
                deleted: false,
                rules: Default::default(),
            });
            Some(acl)
        } else {
            None
        };
        let sg = self.security_groups.len() as u32;
        let sg_id = self.new_id(Kind::SecurityGroup, sg, None, "sg");
        // Default group (policy.md §1.2, §3.2): inbound from itself, all outbound.
        let default_rules = vec![
            sg::Rule {
                remote: Remote::Group(sg),
                priority: 1,
                ..sg::Rule::allow_all(Direction::Ingress)
            },
            sg::Rule {
                priority: 1,
                ..sg::Rule::allow_all(Direction::Egress)
            },
        ];
        self.security_groups.push(SecurityGroup {
            id: sg_id,
            name: "default".into(),
            vpc: v,
            kind: sg::GroupKind::Basic,
            rules: default_rules,
            past: Vec::new(),
            deleted: false,
        });
        self.vpcs.push(Vpc {
            id,
            name: name.into(),
            cidr,
            main_route_table: rt,
            default_acl,
            default_sg: sg,
            igw: None,
            region: region.unwrap_or_else(|| self.region.clone()),
            ccn: None,
            deleted: false,
            node,
        });
        if let Some(acl) = default_acl {
            self.set_acl_entries(acl, allow_all)
                .map_err(|e| e.within("default_acl"))?;
        }
        Ok(v)
    }

    /// Deletes a VPC with its main route table, default security group and default ACL.
    /// Refused while it has subnets, other security groups, ACLs or route tables, an internet
    /// gateway, or flow logs scoped to it.
    pub fn delete_vpc(&mut self, v: u32) -> Result<(), ModelError> {
        let vpc = self.vpc(v)?;
        // CCNs keep their attachments for good (`crate::ccn`: no detaching).
        if let Some(c) = vpc.ccn {
            let ccn = &self.ccns.items[c as usize].id;
            return Err(ModelError::precondition(
                "name",
                format!("vpc `{}` is attached to CCN {ccn}", vpc.name),
            )
            .with_dependents(vec![ccn.clone()]));
        }
        let mut deps: Vec<(Kind, String)> = Vec::new();
        deps.extend(
            live(&self.subnets)
                .filter(|(_, s)| s.vpc == v)
                .map(|(_, s)| (Kind::Subnet, s.id.clone())),
        );
        deps.extend(
            live(&self.security_groups)
                .filter(|&(i, g)| g.vpc == v && i != vpc.default_sg)
                .map(|(_, g)| (Kind::SecurityGroup, g.id.clone())),
        );
        deps.extend(
            live(&self.acls)
                .filter(|&(i, a)| a.vpc == v && Some(i) != vpc.default_acl)
                .map(|(_, a)| (Kind::NetworkAcl, a.id.clone())),
        );
        deps.extend(
            live(&self.route_tables)
                .filter(|&(i, t)| t.vpc == v && i != vpc.main_route_table)
                .map(|(_, t)| (Kind::RouteTable, t.id.clone())),
        );
        if let Some(g) = vpc.igw {
            deps.push((Kind::InternetGateway, self.igws[g as usize].id.clone()));
        }
        deps.extend(self.logs_scoped_to(Scope::Vpc(v)));
        deps.extend(self.attachments_of_vpc(&vpc.id));
        deps.extend(self.peerings_of(v));
        deps.extend(self.vpn_gateway_of(v));
        if !deps.is_empty() {
            return Err(in_use(format!("vpc `{}`", vpc.name), deps));
        }
        let (rt, sg, acl, node) = (
            vpc.main_route_table,
            vpc.default_sg,
            vpc.default_acl,
            vpc.node,
        );
        self.bury(Kind::RouteTable, rt);
        self.bury(Kind::SecurityGroup, sg);
        if let Some(a) = acl {
            self.bury(Kind::NetworkAcl, a);
        }
        self.bury(Kind::Vpc, v);
        self.graph.remove_node(node);
        Ok(())
    }

    pub fn create_subnet(
        &mut self,
        name: &str,
        id: Option<String>,
        vpc: u32,
        cidr: Ipv4Net,
        az: Option<String>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        let v = self.vpc(vpc)?;
        if !v.cidr.covers(cidr) {
            return Err(ModelError::invalid(
                "cidr",
                format!("subnet {cidr} is not inside its VPC's block {}", v.cidr),
            ));
        }
        let addressing = &self.profile.addressing;
        addressing
            .check_subnet_block(cidr)
            .map_err(|m| ModelError::invalid("cidr", m))?;
        let az = match az {
            Some(zone) => {
                addressing
                    .check_zone(&v.region, &zone)
                    .map_err(|m| ModelError::invalid("zone", m))?;
                zone
            }
            None => addressing.default_zone(&v.region),
        };
        if let Some((_, other)) =
            live(&self.subnets).find(|(_, s)| s.vpc == vpc && s.cidr.overlaps(cidr))
        {
            return Err(ModelError::invalid(
                "cidr",
                format!(
                    "subnet {cidr} overlaps subnet `{}` ({})",
                    other.name, other.cidr
                ),
            ));
        }
        if live(&self.subnets).any(|(_, s)| s.vpc == vpc && s.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a subnet named `{name}` already exists in this VPC"),
            ));
        }
        self.check_id(Kind::Subnet, id.as_deref())?;
        let (acl, rt, vnode) = (v.default_acl, v.main_route_table, v.node);
        let s = self.subnets.len() as u32;
        let id = self.new_id(Kind::Subnet, s, id, "subnet");
        let node = self.graph.add_node(Node::Subnet(s));
        self.graph.add_edge(node, vnode, ());
        self.subnets.push(Subnet {
            id,
            name: name.into(),
            vpc,
            cidr,
            az,
            acl,
            route_table: rt,
            deleted: false,
            node,
        });
        Ok(s)
    }

    /// Deletes a subnet. Refused while network interfaces are in it or flow logs are scoped
    /// to it.
    pub fn delete_subnet(&mut self, s: u32) -> Result<(), ModelError> {
        let subnet = self.subnet(s)?;
        let mut deps: Vec<(Kind, String)> = live(&self.enis)
            .filter(|(_, e)| e.subnet == s)
            .map(|(_, e)| (Kind::Eni, e.id.clone()))
            .collect();
        deps.extend(self.logs_scoped_to(Scope::Subnet(s)));
        if !deps.is_empty() {
            return Err(in_use(format!("subnet `{}`", subnet.name), deps));
        }
        let node = subnet.node;
        self.bury(Kind::Subnet, s);
        self.graph.remove_node(node);
        // Connections its (huawei) ACL tracked: nobody is left to use them.
        self.conntrack.purge(Zone::Acl(s), |_| true);
        self.settle_carried();
        Ok(())
    }

    /// Attaches an internet gateway to a VPC. Routes to it are the route table's business.
    pub fn create_internet_gateway(
        &mut self,
        vpc: u32,
        id: Option<String>,
    ) -> Result<u32, ModelError> {
        let v = self.vpc(vpc)?;
        if v.igw.is_some() {
            return Err(ModelError::exists(
                "internet_gateway",
                "the VPC already has an internet gateway",
            ));
        }
        self.check_id(Kind::InternetGateway, id.as_deref())?;
        let vnode = v.node;
        let g = self.igws.len() as u32;
        let id = self.new_id(Kind::InternetGateway, g, id, "igw");
        let node = self.graph.add_node(Node::InternetGateway(g));
        self.graph.add_edge(node, vnode, ());
        self.graph.add_edge(node, self.internet, ());
        self.igws.push(InternetGateway {
            id,
            vpc,
            deleted: false,
            node,
        });
        self.vpcs[vpc as usize].igw = Some(g);
        Ok(g)
    }

    /// Detaches and deletes an internet gateway. Refused while routes target it (the
    /// dependents are their tables) or network interfaces of its VPC have elastic IPs.
    pub fn delete_internet_gateway(&mut self, g: u32) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::InternetGateway, g)?;
        let igw = &self.igws[g as usize];
        let mut deps: Vec<(Kind, String)> = live(&self.route_tables)
            .filter(|(_, t)| {
                t.routes
                    .iter()
                    .any(|r| r.target == Target::InternetGateway(g))
            })
            .map(|(_, t)| (Kind::RouteTable, t.id.clone()))
            .collect();
        deps.extend(
            live(&self.enis)
                .filter(|(_, e)| e.vpc == igw.vpc && e.eip.is_some())
                .map(|(_, e)| (Kind::Eni, e.id.clone())),
        );
        if !deps.is_empty() {
            return Err(in_use(format!("internet gateway {}", igw.id), deps));
        }
        let (vpc, node) = (igw.vpc, igw.node);
        self.bury(Kind::InternetGateway, g);
        self.vpcs[vpc as usize].igw = None;
        self.graph.remove_node(node);
        Ok(())
    }

    pub fn create_route_table(
        &mut self,
        name: &str,
        id: Option<String>,
        vpc: u32,
        routes: Vec<Route>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        let cidr = self.vpc(vpc)?.cidr;
        if live(&self.route_tables).any(|(_, t)| t.vpc == vpc && t.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a route table named `{name}` already exists in this VPC"),
            ));
        }
        self.check_id(Kind::RouteTable, id.as_deref())?;
        let all = self.checked_routes(vpc, cidr, routes, &[])?;
        let t = self.route_tables.len() as u32;
        let id = self.new_id(Kind::RouteTable, t, id, "rtb");
        self.route_tables.push(RouteTable {
            id,
            name: name.into(),
            vpc,
            routes: all,
            propagating: Vec::new(),
            deleted: false,
        });
        Ok(t)
    }

    /// A table's routes: the `local` route of the VPC's block followed by `routes`, each
    /// checked (errors name `routes[i]`), sorted longest prefix first. A route equal to one of
    /// `kept` (the table's routes before an update) is kept as it is, even if its target has
    /// been deleted since: on aws such a route stays as a blackhole (policy.md §6.1), and a
    /// client that sends the table back unchanged must not lose it or be refused for it. Its
    /// destination is still checked against the others.
    fn checked_routes(
        &self,
        vpc: u32,
        cidr: Ipv4Net,
        routes: Vec<Route>,
        kept: &[Route],
    ) -> Result<Vec<Route>, ModelError> {
        let mut all = vec![Route {
            destination: cidr,
            target: Target::Local,
        }];
        for (i, r) in routes.into_iter().enumerate() {
            let checked = if kept.contains(&r) && r.target != Target::Local {
                unique(&r, &all)
            } else {
                self.check_route(vpc, &r, &all)
            };
            checked.map_err(|e| e.within(&format!("routes[{i}]")))?;
            all.push(r);
        }
        all.sort_by_key(|r| std::cmp::Reverse(r.destination.prefix_len()));
        Ok(all)
    }

    /// The IDs of the live route tables with a route to `target` (they keep a NAT gateway, a
    /// router attachment or a peering connection from being deleted where the profile says so).
    pub(super) fn tables_routing_to(&self, target: Target) -> impl Iterator<Item = String> + '_ {
        live(&self.route_tables)
            .filter(move |(_, t)| t.routes.iter().any(|r| r.target == target))
            .map(|(_, t)| t.id.clone())
    }

    /// Adds a route to a table (the VPC's main table included).
    pub fn add_route(&mut self, table: u32, route: Route) -> Result<(), ModelError> {
        let t = self.route_table(table)?;
        self.check_route(t.vpc, &route, &t.routes)?;
        let routes = &mut self.route_tables[table as usize].routes;
        routes.push(route);
        routes.sort_by_key(|r| std::cmp::Reverse(r.destination.prefix_len()));
        Ok(())
    }

    fn check_route(&self, vpc: u32, r: &Route, existing: &[Route]) -> Result<(), ModelError> {
        unique(r, existing)?;
        match r.target {
            Target::Local => Err(ModelError::invalid(
                "target",
                "`local` routes are created with the VPC",
            )),
            Target::InternetGateway(g)
                if !self.is_live(Kind::InternetGateway, g) || self.igws[g as usize].vpc != vpc =>
            {
                Err(ModelError::not_found(
                    "target",
                    "the internet gateway is not attached to this VPC",
                ))
            }
            Target::NatGateway(n)
                if self
                    .nats
                    .get(n as usize)
                    .is_none_or(|g| g.deleted || g.vpc != vpc) =>
            {
                Err(ModelError::not_found(
                    "target",
                    "the NAT gateway is not in this VPC",
                ))
            }
            Target::Router(a)
                if self.routers.attachments.get(a as usize).is_none_or(|x| {
                    x.deleted
                        || x.kind != crate::router::AttachmentKind::Vpc
                        || x.resource != self.vpcs[vpc as usize].id
                }) =>
            {
                Err(ModelError::not_found(
                    "target",
                    "this VPC is not attached to that enterprise router",
                ))
            }
            Target::Peering(p) if self.peerings.get(p as usize).is_none_or(|x| x.deleted) => Err(
                ModelError::not_found("target", "no such VPC peering connection"),
            ),
            Target::Peering(p) if self.peerings[p as usize].other(vpc).is_none() => {
                let x = &self.peerings[p as usize];
                let [a, b] = x.vpcs.map(|v| &self.vpcs[v as usize].name);
                Err(ModelError::invalid(
                    "target",
                    format!(
                        "VPC peering connection {} joins VPCs {a} and {b}, not this one",
                        x.id
                    ),
                ))
            }
            Target::VpnGateway(g)
                if self
                    .vpn_gateways
                    .get(g as usize)
                    .is_none_or(|x| x.deleted || x.vpc != vpc) =>
            {
                Err(ModelError::not_found(
                    "target",
                    "the virtual private gateway is not attached to this VPC",
                ))
            }
            // The local route wins over the premises' addresses in the VPC's block (policy.md
            // §6.1: a route more specific than `local` targets a NAT gateway, an interface or
            // an endpoint).
            Target::VpnGateway(_) if self.vpcs[vpc as usize].cidr.covers(r.destination) => {
                Err(ModelError::invalid(
                    "destination",
                    format!(
                        "{} is in this VPC's own block {}: a route to the virtual private \
                         gateway sends on-premises addresses",
                        r.destination, self.vpcs[vpc as usize].cidr
                    ),
                ))
            }
            // Only the peer's addresses cross a connection (policy.md §6.1: a route more
            // specific than `local` targets a NAT gateway, an interface or an endpoint).
            Target::Peering(_) if self.vpcs[vpc as usize].cidr.overlaps(r.destination) => {
                Err(ModelError::invalid(
                    "destination",
                    format!(
                        "{} is in this VPC's own block {}: a peering route sends the peer's \
                         addresses",
                        r.destination, self.vpcs[vpc as usize].cidr
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Replaces every route of a table but the `local` one, checked as at creation (errors
    /// name `routes[i]`); a route the table already has is kept as it is (`checked_routes`).
    pub fn set_routes(&mut self, table: u32, routes: Vec<Route>) -> Result<(), ModelError> {
        let t = self.route_table(table)?;
        let (vpc, kept) = (t.vpc, t.routes.clone());
        let cidr = self.vpcs[vpc as usize].cidr;
        let all = self.checked_routes(vpc, cidr, routes, &kept)?;
        self.route_tables[table as usize].routes = all;
        Ok(())
    }

    /// Replaces the route to `route.destination`, which must exist and not be `local`, with
    /// `route` (EC2 `ReplaceRoute`), checked as a new route is.
    pub fn replace_route(&mut self, table: u32, route: Route) -> Result<(), ModelError> {
        let t = self.route_table(table)?;
        let Some(i) = t
            .routes
            .iter()
            .position(|r| r.destination == route.destination)
        else {
            return Err(ModelError::not_found(
                "destination",
                format!(
                    "route table `{}` has no route to {}",
                    t.name, route.destination
                ),
            ));
        };
        if t.routes[i].target == Target::Local {
            return Err(ModelError::invalid(
                "destination",
                "the `local` route goes with the VPC and cannot be replaced",
            ));
        }
        let others: Vec<Route> = t
            .routes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, r)| r.clone())
            .collect();
        self.check_route(t.vpc, &route, &others)?;
        self.route_tables[table as usize].routes[i] = route;
        Ok(())
    }

    /// Removes the route to `destination` from a table (not the `local` route).
    pub fn remove_route(&mut self, table: u32, destination: Ipv4Net) -> Result<(), ModelError> {
        let t = self.route_table(table)?;
        let Some(i) = t.routes.iter().position(|r| r.destination == destination) else {
            return Err(ModelError::not_found(
                "destination",
                format!("route table `{}` has no route to {destination}", t.name),
            ));
        };
        if t.routes[i].target == Target::Local {
            return Err(ModelError::invalid(
                "destination",
                "the `local` route goes with the VPC and cannot be removed",
            ));
        }
        self.route_tables[table as usize].routes.remove(i);
        Ok(())
    }

    pub fn associate_route_table(&mut self, subnet: u32, table: u32) -> Result<(), ModelError> {
        let s = self.subnet(subnet)?;
        let t = self.route_table(table)?;
        if t.vpc != s.vpc {
            return Err(ModelError::invalid(
                "route_table",
                "the route table belongs to another VPC",
            ));
        }
        self.subnets[subnet as usize].route_table = table;
        Ok(())
    }

    /// Deletes a route table. Refused for a VPC's main table, and while subnets are
    /// associated with it.
    pub fn delete_route_table(&mut self, t: u32) -> Result<(), ModelError> {
        let table = self.route_table(t)?;
        let vpc = &self.vpcs[table.vpc as usize];
        if vpc.main_route_table == t {
            return Err(part_of_vpc(
                format!("route table `{}` is the main table: it", table.name),
                vpc,
            ));
        }
        let deps: Vec<(Kind, String)> = live(&self.subnets)
            .filter(|(_, s)| s.route_table == t)
            .map(|(_, s)| (Kind::Subnet, s.id.clone()))
            .collect();
        if !deps.is_empty() {
            return Err(in_use(format!("route table `{}`", table.name), deps));
        }
        self.bury(Kind::RouteTable, t);
        Ok(())
    }
}

/// Refuses a second route to one destination.
fn unique(r: &Route, existing: &[Route]) -> Result<(), ModelError> {
    if existing.iter().any(|e| e.destination == r.destination) {
        return Err(ModelError::exists(
            "destination",
            format!("a route to {} already exists", r.destination),
        ));
    }
    Ok(())
}
