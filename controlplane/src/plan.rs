//! A scenario's topology as API commands: the one translation from a scenario file to the
//! requests the API takes (`Command`s, the same ones a server stores and replays).
//!
//! The commands are built in dependency order and handed one at a time to an [`Executor`],
//! which applies them and answers with the resource as the API shows it; later commands name
//! what earlier ones created by the resource names those answers carry. Two executors:
//! `load`'s `Local` (a project in memory, for `vpclab run`, `check`, `test`, `generate`) and
//! `vpclab apply`'s `Remote` (a server over gRPC). The order: every VPC with its groups, ACLs,
//! route tables, subnets, NAT gateways and interfaces; routers, peerings and their routes;
//! external hosts; (a workload's fleets, built by `load`;) the VPCs' routes to routers; CCNs;
//! flow logs. So a server draws resource ids in the order `vpclab run` does.
//!
//! Each command carries its [`Step`]: what it does in words, and where the file says it, with
//! the file's name and position for each request field. A refusal that names a request field
//! (`subnet.cidr`) is placed back on the file's line (`vpcs[0].subnets[1].cidr`, line 12);
//! a name that names nothing is refused here, with the same words `load` always used. What a
//! scenario says that the API cannot (traffic, expectations, workloads, flow-log capacities) is
//! not translated: see [`not_applied`].

use std::collections::BTreeMap;

use serde_saphyr::Location;

use crate::api::command::Command;
use crate::api::pb;
use crate::doc;
use vpclab_sim::world::VpnRouting;

/// What one command does, in words, and where the file says it: `doing` for a refusal
/// ("creating VPC `main`"), `label` for the line that reports it done ("main", "web-sg: 2
/// rules"); `path` and `at` the item of the file (`vpcs[0].subnets[1]`, its position);
/// `fields` the request's fields as the file names them (`subnet.cidr` → `cidr`, with its
/// position): a refusal that names a request field is placed on the longest that matches.
#[derive(Debug, Clone)]
pub struct Step {
    pub doing: String,
    pub label: String,
    pub path: String,
    pub at: Location,
    pub fields: Vec<(String, String, Location)>,
}

impl Step {
    fn at(mut self, path: impl Into<String>, at: Location) -> Step {
        self.path = path.into();
        self.at = at;
        self
    }

    fn field(mut self, request: impl Into<String>, file: impl Into<String>, at: Location) -> Step {
        self.fields.push((request.into(), file.into(), at));
        self
    }

    /// [`Step::field`] for a field the file may leave out.
    fn field_if<T>(self, request: &str, file: &str, value: Option<&doc::S<T>>) -> Step {
        match value {
            Some(v) => self.field(request, file, v.referenced),
            None => self,
        }
    }

    /// Where a refused request field stands in the file: its path there and position.
    pub fn locate(&self, field: Option<&str>) -> (String, Location) {
        let Some(field) = field else {
            return (self.path.clone(), self.at);
        };
        let hit = self
            .fields
            .iter()
            .filter(|(request, _, _)| {
                field == request
                    || field.starts_with(&format!("{request}."))
                    || field.starts_with(&format!("{request}["))
            })
            .max_by_key(|(request, _, _)| request.len());
        match hit {
            Some((request, file, at)) => (
                format!("{}.{file}{}", self.path, &field[request.len()..]),
                *at,
            ),
            // A field the file does not name: the request's own path under the item's
            // (`subnet.cidr` → `vpcs[0].subnets[1].cidr`).
            None => match field.split_once('.') {
                Some((_, rest)) => (format!("{}.{rest}", self.path), self.at),
                None => (self.path.clone(), self.at),
            },
        }
    }
}

/// Where the commands go.
pub trait Executor {
    type Error;
    /// The project the commands are for: `projects/{id}`.
    fn parent(&self) -> String;
    /// Applies one command; answers with the resource it created or changed.
    fn execute(&mut self, cmd: Command, step: &Step) -> Result<Reply, Self::Error>;
    /// A mistake in the file at `field` (its path there) and `at` (its position), or an
    /// answer that does not fit the request.
    fn refuse(&self, at: Location, field: String, message: String) -> Self::Error;
    /// The log stream the file's flow logs deliver to.
    fn log_stream(&mut self) -> Result<String, Self::Error>;
}

macro_rules! replies {
    ($($variant:ident),* $(,)?) => {
        /// What a create or update answers: the resource as the API shows it.
        #[derive(Debug, Clone)]
        pub enum Reply {
            $($variant(pb::$variant)),*
        }

        impl Reply {
            /// The resource name (`projects/p/vpcs/vpc-1`).
            pub fn name(&self) -> &str {
                match self {
                    $(Reply::$variant(r) => &r.name),*
                }
            }

            pub fn kind(&self) -> &'static str {
                match self {
                    $(Reply::$variant(_) => stringify!($variant)),*
                }
            }
        }

        $(
            impl From<pb::$variant> for Reply {
                fn from(r: pb::$variant) -> Reply {
                    Reply::$variant(r)
                }
            }

            impl TryFrom<Reply> for pb::$variant {
                type Error = Reply;
                fn try_from(r: Reply) -> Result<pb::$variant, Reply> {
                    match r {
                        Reply::$variant(x) => Ok(x),
                        other => Err(other),
                    }
                }
            }
        )*
    };
}

replies!(
    Vpc,
    VpcPeeringConnection,
    VpnGateway,
    Subnet,
    NetworkInterface,
    SecurityGroup,
    NetworkAcl,
    RouteTable,
    InternetGateway,
    ExternalHost,
    FlowLog,
    NatGateway,
    EnterpriseRouter,
    RouterAttachment,
    RouterRouteTable,
    CloudConnectNetwork,
    LogGroup,
    LogStream,
);

/// What of the file the commands leave out, one note each.
pub fn not_applied(d: &doc::Scenario) -> Vec<String> {
    let mut notes = Vec::new();
    let skipped: Vec<&str> = [
        ("traffic", !d.traffic.is_empty()),
        ("until", d.until.is_some()),
        ("expect", !d.expect.is_empty()),
        ("output", d.output.is_some()),
        ("workload", d.workload.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, set)| set.then_some(f))
    .collect();
    if !skipped.is_empty() {
        notes.push(format!(
            "the scenario's {} {} not applied: apply creates the topology and flow logs only",
            skipped.join(", "),
            if skipped.len() == 1 { "is" } else { "are" }
        ));
    }
    let pinned: Vec<&str> = [
        ("account", d.account.is_some()),
        // With CCNs the file's region is its VPCs' (`vpc_region`).
        ("region", d.region.is_some() && d.ccns.is_empty()),
    ]
    .into_iter()
    .filter_map(|(f, set)| set.then_some(f))
    .collect();
    if !pinned.is_empty() {
        notes.push(format!(
            "the scenario's {} {} not applied: the server's project has its own",
            pinned.join(" and "),
            if pinned.len() == 1 { "is" } else { "are" }
        ));
    }
    if d.flow_logs.iter().any(|f| f.value.capacity.is_some()) {
        notes.push("flow logs' `capacity` is not applied: the API has no such field".into());
    }
    if d.flow_logs.iter().any(|f| f.value.created.is_some()) {
        notes.push(
            "flow logs' `created` is not applied: they are created now, on the server's clock"
                .into(),
        );
    }
    notes
}

/// Applies the scenario's topology and flow logs through `exec`, in dependency order; the
/// first refusal stops it.
pub fn apply<E: Executor>(d: &doc::Scenario, exec: &mut E) -> Result<(), E::Error> {
    let mut p = Planner::new(exec);
    for vi in 0..d.vpcs.len() {
        p.vpc(d, vi)?;
    }
    p.routers(d)?;
    p.vpn_gateways(d)?;
    p.external_hosts(d)?;
    // (`load` builds a workload's fleets here.)
    p.vpc_peerings(d)?;
    for vi in 0..d.vpcs.len() {
        p.late_routes(d, vi)?;
    }
    p.ccns(d)?;
    if !d.flow_logs.is_empty() {
        let stream = p.exec.log_stream()?;
        for f in &d.flow_logs {
            p.flow_log(&f.value, &stream)?;
        }
    }
    Ok(())
}

/// The translation, one part of the file at a time, keeping what the commands created so far
/// that later ones name (by the file's names).
pub struct Planner<'e, E: Executor> {
    exec: &'e mut E,
    parent: String,
    made: Created,
}

/// What a file's commands created, by the file's names: resource names.
#[derive(Debug, Default)]
pub struct Created {
    pub vpcs: BTreeMap<String, AppliedVpc>,
    /// Subnets and interfaces of every VPC (flow logs name them so).
    pub subnets: BTreeMap<String, String>,
    pub enis: BTreeMap<String, String>,
    /// NAT gateways' interfaces by the gateways' names (a flow log may capture one).
    pub nat_enis: BTreeMap<String, Vec<String>>,
    pub routers: BTreeMap<String, String>,
    /// (router, table) → resource name.
    pub router_tables: BTreeMap<(String, String), String>,
    /// (router, attachment) → resource name (a peering's two sides under each router's name).
    pub attachments: BTreeMap<(String, String), String>,
    /// External and on-premises hosts.
    pub hosts: BTreeMap<String, String>,
    pub ccns: BTreeMap<String, String>,
    pub vpc_peerings: BTreeMap<String, String>,
    /// Virtual private gateways by the file's name → resource name.
    pub vpn_gateways: BTreeMap<String, String>,
}

/// What one VPC's commands created, by the file's names: resource names.
#[derive(Debug, Default)]
pub struct AppliedVpc {
    pub name: String,
    pub main_route_table: String,
    pub igw: String,
    pub groups: BTreeMap<String, String>,
    pub acls: BTreeMap<String, String>,
    pub tables: BTreeMap<String, String>,
    pub subnets: BTreeMap<String, String>,
    pub nats: BTreeMap<String, String>,
    pub enis: BTreeMap<String, String>,
}

fn step(doing: impl Into<String>, label: impl Into<String>) -> Step {
    Step {
        doing: doing.into(),
        label: label.into(),
        path: String::new(),
        at: Location::UNKNOWN,
        fields: Vec::new(),
    }
}

/// The routes of `routes` that `keep` keeps, each with its index in the file.
fn numbered(
    routes: &[doc::S<doc::RouteDoc>],
    keep: impl Fn(&doc::S<doc::RouteDoc>) -> bool,
) -> Vec<(usize, &doc::S<doc::RouteDoc>)> {
    routes.iter().enumerate().filter(|(_, r)| keep(r)).collect()
}

/// A route table request's routes as the file numbers them.
fn route_fields(mut step: Step, chosen: &[(usize, &doc::S<doc::RouteDoc>)]) -> Step {
    for (k, &(j, r)) in chosen.iter().enumerate() {
        let request = format!("route_table.routes[{k}]");
        step = step
            .field(&request, format!("routes[{j}]"), r.referenced)
            .field(
                format!("{request}.destination"),
                format!("routes[{j}].destination"),
                r.value.destination.referenced,
            );
    }
    step
}

fn mask(path: &str) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: vec![path.to_string()],
    })
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

fn direction(s: &str) -> Option<i32> {
    match s {
        "ingress" | "inbound" | "in" => Some(pb::Direction::Ingress as i32),
        "egress" | "outbound" | "out" => Some(pb::Direction::Egress as i32),
        _ => None,
    }
}

fn action(s: &str) -> Option<i32> {
    match s {
        "allow" | "accept" => Some(pb::RuleAction::Allow as i32),
        "deny" | "drop" | "reject" => Some(pb::RuleAction::Deny as i32),
        _ => None,
    }
}

fn protocol(p: &doc::ProtoDoc) -> String {
    match p {
        doc::ProtoDoc::Number(n) => n.to_string(),
        doc::ProtoDoc::Name(s) => s.clone(),
    }
}

fn ports(p: Option<&doc::S<doc::PortsDoc>>) -> String {
    match p.map(|p| &p.value) {
        None => String::new(),
        Some(doc::PortsDoc::Number(n)) => n.to_string(),
        Some(doc::PortsDoc::Text(t)) => t.clone(),
    }
}

/// 0-255 (the file was checked by `load`).
fn byte(v: Option<&doc::S<i64>>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v.value).ok())
}

fn listen(l: &doc::ListenDoc) -> (Vec<u32>, Vec<u32>) {
    (
        l.tcp.iter().map(|&p| u32::from(p)).collect(),
        l.udp.iter().map(|&p| u32::from(p)).collect(),
    )
}

fn text(s: Option<&doc::S<String>>) -> String {
    s.map(|s| s.value.clone()).unwrap_or_default()
}

/// Does a route go through a NAT gateway? (Those are created once the gateways exist, which
/// need subnets, which name route tables.)
fn is_nat_route(r: &doc::S<doc::RouteDoc>) -> bool {
    matches!(r.value.target.value.as_str(), "nat_gateway" | "nat")
}

/// A rule whose remote is a group of another VPC (`{group: VPC/GROUP}`; VPC peering, aws).
fn names_peer_group(r: &doc::S<doc::SgRuleDoc>) -> bool {
    matches!(&r.value.remote.value, doc::RemoteDoc::Group { group } if group.contains('/'))
}

/// Does a route go to an enterprise router or a VPC peering connection? (Those are created
/// once the routers and the VPC's attachment, or the peering connections, exist: after every
/// VPC.)
fn is_late_route(r: &doc::S<doc::RouteDoc>) -> bool {
    matches!(
        r.value.target.value.as_str(),
        "router" | "peering" | "vpn_gateway"
    )
}

fn attachment_kind(k: &str) -> Option<pb::AttachmentKind> {
    Some(match k {
        "vpc" => pb::AttachmentKind::Vpc,
        "vpn_gateway" => pb::AttachmentKind::VpnGateway,
        "virtual_gateway" => pb::AttachmentKind::VirtualGateway,
        "peering_connection" => pb::AttachmentKind::PeeringConnection,
        "global_dc_gateway" => pb::AttachmentKind::GlobalDcGateway,
        _ => return None,
    })
}

impl<'e, E: Executor> Planner<'e, E> {
    pub fn new(exec: &'e mut E) -> Self {
        Planner::resume(exec, Created::default())
    }

    /// Goes on where an earlier planner stopped (`into_created`), after work of the caller's
    /// own in between (`load`'s workload fleets).
    pub fn resume(exec: &'e mut E, made: Created) -> Self {
        Planner {
            parent: exec.parent(),
            exec,
            made,
        }
    }

    /// The executor the commands go to.
    pub fn executor(&mut self) -> &mut E {
        self.exec
    }

    /// What the commands created, by the file's names.
    pub fn into_created(self) -> Created {
        self.made
    }

    /// Applies `cmd` and reads the answer as the resource `T`.
    fn run<T: TryFrom<Reply>>(&mut self, cmd: Command, step: Step) -> Result<T, E::Error> {
        let reply = self.exec.execute(cmd, &step)?;
        let kind = reply.kind();
        T::try_from(reply).map_err(|_| {
            self.exec.refuse(
                step.at,
                step.path.clone(),
                format!(
                    "{}: the answer was a {kind}, not the resource asked for",
                    step.doing
                ),
            )
        })
    }

    fn refuse<T>(&self, at: Location, field: String, message: String) -> Result<T, E::Error> {
        Err(self.exec.refuse(at, field, message))
    }

    /// A refusal placed nowhere in particular (the translations `load` does not share yet
    /// and has checked before).
    fn fail<T>(&self, message: String) -> Result<T, E::Error> {
        self.refuse(Location::UNKNOWN, String::new(), message)
    }

    /// A name of `map`, or the refusal naming what is missing.
    fn known(
        &self,
        map: &BTreeMap<String, String>,
        name: &str,
        missing: impl FnOnce() -> String,
    ) -> Result<String, E::Error> {
        match map.get(name) {
            Some(n) => Ok(n.clone()),
            None => self.fail(missing()),
        }
    }

    /// The file's VPC `vi` with everything in it: groups and their rules, ACLs, route
    /// tables, subnets, NAT gateways, interfaces, DNAT rules (routes to routers wait).
    pub fn vpc(&mut self, d: &doc::Scenario, vi: usize) -> Result<(), E::Error> {
        let item = &d.vpcs[vi];
        let v = &item.value;
        let path = format!("vpcs[{vi}]");
        let vname = v.name.value.clone();
        // A VPC without a region is in the scenario's; where CCNs join regions the file's
        // region is the VPC's, elsewhere the server's project has its own.
        let region = match (&v.region, &d.region) {
            (Some(r), _) => r.value.clone(),
            (None, Some(r)) if !d.ccns.is_empty() => r.value.clone(),
            _ => String::new(),
        };
        let create = step(format!("creating VPC `{vname}`"), &vname)
            .at(&path, item.referenced)
            .field("vpc.display_name", "name", v.name.referenced)
            .field("vpc.cidr", "cidr", v.cidr.referenced)
            .field_if("vpc.region", "region", v.region.as_ref());
        let vpc: pb::Vpc = self.run(
            Command::CreateVpc(pb::CreateVpcRequest {
                parent: self.parent.clone(),
                vpc: Some(pb::Vpc {
                    display_name: vname.clone(),
                    cidr: v.cidr.value.clone(),
                    region,
                    ..Default::default()
                }),
                vpc_id: v.id.clone().unwrap_or_default(),
            }),
            create,
        )?;
        let mut applied = AppliedVpc {
            name: vpc.name.clone(),
            main_route_table: vpc.main_route_table.clone(),
            ..AppliedVpc::default()
        };

        if let Some(g) = &v.internet_gateway {
            let id = match &g.value {
                doc::IgwDoc::Enabled(false) => None,
                doc::IgwDoc::Enabled(true) => Some(String::new()),
                doc::IgwDoc::WithId { id } => Some(id.clone()),
            };
            if let Some(id) = id {
                let igw: pb::InternetGateway = self.run(
                    Command::CreateInternetGateway(pb::CreateInternetGatewayRequest {
                        parent: self.parent.clone(),
                        internet_gateway: Some(pb::InternetGateway {
                            vpc: vpc.name.clone(),
                            ..Default::default()
                        }),
                        internet_gateway_id: id,
                    }),
                    step(
                        format!("creating the internet gateway of VPC `{vname}`"),
                        format!("internet gateway of {vname}"),
                    )
                    .at(&path, g.referenced),
                )?;
                applied.igw = igw.name;
            }
        }

        // Every group first, with no rules, so rules can reference any group of the VPC.
        for (i, g) in v.security_groups.iter().enumerate() {
            let gname = &g.value.name.value;
            let gpath = format!("{path}.security_groups[{i}]");
            let mut create = step(
                format!("creating security group `{gname}` of VPC `{vname}`"),
                gname,
            )
            .at(&gpath, g.referenced)
            .field(
                "security_group.display_name",
                "name",
                g.value.name.referenced,
            );
            let kind = match &g.value.kind {
                None => pb::SecurityGroupType::Unspecified,
                Some(k) => {
                    create = create.field("security_group.type", "type", k.referenced);
                    match k.value.as_str() {
                        "basic" => pb::SecurityGroupType::Basic,
                        "enterprise" => pb::SecurityGroupType::Enterprise,
                        other => {
                            return self.refuse(
                                k.referenced,
                                format!("{gpath}.type"),
                                format!(
                                    "unknown security group type `{other}`: use basic or enterprise"
                                ),
                            );
                        }
                    }
                }
            };
            let created: pb::SecurityGroup = self.run(
                Command::CreateSecurityGroup(pb::CreateSecurityGroupRequest {
                    parent: self.parent.clone(),
                    security_group: Some(pb::SecurityGroup {
                        display_name: gname.clone(),
                        vpc: vpc.name.clone(),
                        r#type: kind as i32,
                        ..Default::default()
                    }),
                    security_group_id: g.value.id.clone().unwrap_or_default(),
                }),
                create,
            )?;
            applied.groups.insert(gname.clone(), created.name);
        }
        for (i, g) in v.security_groups.iter().enumerate() {
            // Rules naming a peer VPC's group wait for the peering connections (`late_rules`).
            if g.value.rules.is_empty() || g.value.rules.iter().any(names_peer_group) {
                continue;
            }
            let gpath = format!("{path}.security_groups[{i}]");
            let resource = applied.groups[&g.value.name.value].clone();
            self.set_group_rules(&gpath, g, &vname, &resource, &applied.groups)?;
        }

        for (i, a) in v.network_acls.iter().enumerate() {
            let aname = &a.value.name.value;
            let apath = format!("{path}.network_acls[{i}]");
            let mut create = step(
                format!("creating network ACL `{aname}` of VPC `{vname}`"),
                aname,
            )
            .at(&apath, a.referenced)
            .field("network_acl.display_name", "name", a.value.name.referenced);
            let sides = [("ingress", &a.value.ingress), ("egress", &a.value.egress)];
            let mut k = 0;
            for (side, list) in sides {
                for (j, e) in list.iter().enumerate() {
                    let pb = format!("network_acl.entries[{k}]");
                    let yaml = format!("{side}[{j}]");
                    create = create.field(&pb, &yaml, e.referenced).field(
                        format!("{pb}.number"),
                        format!("{yaml}.rule"),
                        e.value.rule.referenced,
                    );
                    if let Some(p) = &e.value.ports {
                        create = create.field(
                            format!("{pb}.ports"),
                            format!("{yaml}.ports"),
                            p.referenced,
                        );
                    }
                    k += 1;
                }
            }
            let entries = self.acl_entries(&apath, &a.value)?;
            let created: pb::NetworkAcl = self.run(
                Command::CreateNetworkAcl(pb::CreateNetworkAclRequest {
                    parent: self.parent.clone(),
                    network_acl: Some(pb::NetworkAcl {
                        display_name: aname.clone(),
                        vpc: vpc.name.clone(),
                        entries,
                        ..Default::default()
                    }),
                    network_acl_id: a.value.id.clone().unwrap_or_default(),
                }),
                create,
            )?;
            applied.acls.insert(aname.clone(), created.name);
        }

        // Routes through NAT gateways wait for the gateways (they need subnets, which name
        // route tables), routes to routers and peering connections for those (after every
        // VPC).
        let plain = |r: &doc::S<doc::RouteDoc>| !is_nat_route(r) && !is_late_route(r);
        for (i, t) in v.route_tables.iter().enumerate() {
            let tname = &t.value.name.value;
            let tpath = format!("{path}.route_tables[{i}]");
            let chosen = numbered(&t.value.routes, plain);
            let routes = self.routes(&tpath, &chosen, &applied)?;
            let created: pb::RouteTable = self.run(
                Command::CreateRouteTable(pb::CreateRouteTableRequest {
                    parent: self.parent.clone(),
                    route_table: Some(pb::RouteTable {
                        display_name: tname.clone(),
                        vpc: vpc.name.clone(),
                        routes,
                        ..Default::default()
                    }),
                    route_table_id: t.value.id.clone().unwrap_or_default(),
                }),
                route_fields(
                    step(
                        format!("creating route table `{tname}` of VPC `{vname}`"),
                        tname,
                    )
                    .at(&tpath, t.referenced)
                    .field(
                        "route_table.display_name",
                        "name",
                        t.value.name.referenced,
                    ),
                    &chosen,
                ),
            )?;
            applied.tables.insert(tname.clone(), created.name);
        }
        let chosen = numbered(&v.routes, plain);
        if !chosen.is_empty() {
            let table = applied.main_route_table.clone();
            self.set_routes(
                (&path, item.referenced),
                &table,
                &chosen,
                &applied,
                "main route table",
                &vname,
            )?;
        }

        for (i, s) in v.subnets.iter().enumerate() {
            let spath = format!("{path}.subnets[{i}]");
            let sd = &s.value;
            let sname = &sd.name.value;
            let mut create = step(format!("creating subnet `{sname}` of VPC `{vname}`"), sname)
                .at(&spath, s.referenced)
                .field("subnet.display_name", "name", sd.name.referenced)
                .field("subnet.cidr", "cidr", sd.cidr.referenced);
            let network_acl = match &sd.acl {
                Some(a) => {
                    create = create.field("subnet.network_acl", "acl", a.referenced);
                    self.in_vpc(&applied.acls, a, format!("{spath}.acl"), "network ACL")?
                }
                None => String::new(),
            };
            let route_table = match &sd.route_table {
                Some(t) => {
                    create = create.field("subnet.route_table", "route_table", t.referenced);
                    self.in_vpc(
                        &applied.tables,
                        t,
                        format!("{spath}.route_table"),
                        "route table",
                    )?
                }
                None => String::new(),
            };
            let created: pb::Subnet = self.run(
                Command::CreateSubnet(pb::CreateSubnetRequest {
                    parent: self.parent.clone(),
                    subnet: Some(pb::Subnet {
                        display_name: sname.clone(),
                        vpc: vpc.name.clone(),
                        cidr: sd.cidr.value.clone(),
                        zone: sd.zone.clone().unwrap_or_default(),
                        network_acl,
                        route_table,
                        ..Default::default()
                    }),
                    subnet_id: sd.id.clone().unwrap_or_default(),
                }),
                create,
            )?;
            self.made
                .subnets
                .insert(sname.clone(), created.name.clone());
            applied.subnets.insert(sname.clone(), created.name);
        }

        for (i, n) in v.nat_gateways.iter().enumerate() {
            let npath = format!("{path}.nat_gateways[{i}]");
            let nd = &n.value;
            let nname = &nd.name.value;
            let subnet = self.in_vpc(
                &applied.subnets,
                &nd.subnet,
                format!("{npath}.subnet"),
                "subnet",
            )?;
            let create = step(
                format!("creating NAT gateway `{nname}` of VPC `{vname}`"),
                nname,
            )
            .at(&npath, n.referenced)
            .field("nat_gateway.display_name", "name", nd.name.referenced)
            .field("nat_gateway.subnet", "subnet", nd.subnet.referenced)
            .field_if("nat_gateway.private_ip", "ip", nd.ip.as_ref())
            .field_if("nat_gateway.elastic_ip", "eip", nd.eip.as_ref());
            let created: pb::NatGateway = self.run(
                Command::CreateNatGateway(pb::CreateNatGatewayRequest {
                    parent: self.parent.clone(),
                    nat_gateway: Some(pb::NatGateway {
                        display_name: nname.clone(),
                        subnet,
                        private_ip: text(nd.ip.as_ref()),
                        elastic_ip: text(nd.eip.as_ref()),
                        ..Default::default()
                    }),
                    nat_gateway_id: nd.id.clone().unwrap_or_default(),
                    network_interface_id: nd.eni_id.clone().unwrap_or_default(),
                }),
                create,
            )?;
            self.made
                .nat_enis
                .entry(nname.clone())
                .or_default()
                .push(created.network_interface);
            applied.nats.insert(nname.clone(), created.name);
        }
        // Each table with routes through a NAT gateway gets its whole list again.
        let unrouted = |r: &doc::S<doc::RouteDoc>| !is_late_route(r);
        for (i, t) in v.route_tables.iter().enumerate() {
            if !t.value.routes.iter().any(is_nat_route) {
                continue;
            }
            let tname = &t.value.name.value;
            let chosen = numbered(&t.value.routes, unrouted);
            let table = applied.tables[tname].clone();
            let what = format!("route table `{tname}`");
            let tpath = format!("{path}.route_tables[{i}]");
            self.set_routes(
                (&tpath, t.referenced),
                &table,
                &chosen,
                &applied,
                &what,
                &vname,
            )?;
        }
        if v.routes.iter().any(is_nat_route) {
            let chosen = numbered(&v.routes, unrouted);
            let table = applied.main_route_table.clone();
            self.set_routes(
                (&path, item.referenced),
                &table,
                &chosen,
                &applied,
                "main route table",
                &vname,
            )?;
        }

        // This VPC's interfaces by address (a DNAT rule may name one so).
        let mut eni_ips: BTreeMap<String, String> = BTreeMap::new();
        for (i, e) in v.enis.iter().enumerate() {
            let epath = format!("{path}.enis[{i}]");
            let ed = &e.value;
            let ename = &ed.name.value;
            let subnet = self.in_vpc(
                &applied.subnets,
                &ed.subnet,
                format!("{epath}.subnet"),
                "subnet",
            )?;
            let mut create = step(
                format!("creating network interface `{ename}` of VPC `{vname}`"),
                ename,
            )
            .at(&epath, e.referenced)
            .field("network_interface.display_name", "name", ed.name.referenced)
            .field("network_interface.subnet", "subnet", ed.subnet.referenced)
            .field_if("network_interface.private_ip", "ip", ed.ip.as_ref())
            .field_if("network_interface.elastic_ip", "eip", ed.eip.as_ref())
            .field_if(
                "network_interface.bandwidth",
                "bandwidth",
                ed.bandwidth.as_ref(),
            );
            let ct = ed.connection_tracking.as_ref();
            let (tcp, udp_stream, udp) = match ct {
                Some(c) => (
                    c.tcp_established.as_ref(),
                    c.udp_stream.as_ref(),
                    c.udp.as_ref(),
                ),
                None => (None, None, None),
            };
            create = create
                .field_if(
                    "network_interface.connection_tracking.tcp_established",
                    "connection_tracking.tcp_established",
                    tcp,
                )
                .field_if(
                    "network_interface.connection_tracking.udp_stream",
                    "connection_tracking.udp_stream",
                    udp_stream,
                )
                .field_if(
                    "network_interface.connection_tracking.udp",
                    "connection_tracking.udp",
                    udp,
                );
            for (k, a) in ed.secondary_private_ips.iter().enumerate() {
                create = create.field(
                    format!("network_interface.secondary_private_ips[{k}]"),
                    format!("secondary_private_ips[{k}]"),
                    a.referenced,
                );
            }
            let mut security_groups = Vec::new();
            for (k, g) in ed.security_groups.iter().enumerate() {
                let field = format!("{epath}.security_groups[{k}]");
                security_groups.push(self.in_vpc(&applied.groups, g, field, "security group")?);
                create = create.field(
                    format!("network_interface.security_groups[{k}]"),
                    format!("security_groups[{k}]"),
                    g.referenced,
                );
            }
            let (listen_tcp, listen_udp) = listen(&ed.listen);
            let created: pb::NetworkInterface = self.run(
                Command::CreateNetworkInterface(pb::CreateNetworkInterfaceRequest {
                    parent: self.parent.clone(),
                    network_interface: Some(pb::NetworkInterface {
                        display_name: ename.clone(),
                        subnet,
                        private_ip: text(ed.ip.as_ref()),
                        elastic_ip: text(ed.eip.as_ref()),
                        security_groups,
                        instance_id: ed.instance_id.clone().unwrap_or_default(),
                        instance_type: ed.instance_type.clone().unwrap_or_default(),
                        listen_tcp,
                        listen_udp,
                        auto_reply: Some(ed.auto_reply),
                        bandwidth: ed.bandwidth.as_ref().map(|b| b.value),
                        connection_tracking: ct.map(|_| pb::ConnectionTracking {
                            tcp_established: tcp.map(|v| v.value),
                            udp_stream: udp_stream.map(|v| v.value),
                            udp: udp.map(|v| v.value),
                        }),
                        secondary_private_ips: ed
                            .secondary_private_ips
                            .iter()
                            .map(|a| a.value.clone())
                            .collect(),
                        ..Default::default()
                    }),
                    network_interface_id: ed.id.clone().unwrap_or_default(),
                }),
                create,
            )?;
            eni_ips.insert(created.private_ip.clone(), created.name.clone());
            applied.enis.insert(ename.clone(), created.name.clone());
            self.made.enis.insert(ename.clone(), created.name);
        }
        // DNAT rules name interfaces: set once they exist.
        for (i, n) in v.nat_gateways.iter().enumerate() {
            if n.value.dnat.is_empty() {
                continue;
            }
            let npath = format!("{path}.nat_gateways[{i}]");
            let nname = &n.value.name.value;
            let mut update = step(
                format!("setting the DNAT rules of NAT gateway `{nname}` of VPC `{vname}`"),
                format!("{nname}: {}", plural(n.value.dnat.len(), "DNAT rule")),
            )
            .at(&npath, n.referenced);
            let mut dnat_rules = Vec::new();
            for (j, r) in n.value.dnat.iter().enumerate() {
                let rpath = format!("{npath}.dnat[{j}]");
                let rd = &r.value;
                let protocol = rd.protocol.value.to_ascii_lowercase();
                if !matches!(protocol.as_str(), "tcp" | "6" | "udp" | "17") {
                    return self.refuse(
                        rd.protocol.referenced,
                        format!("{rpath}.protocol"),
                        "a DNAT rule forwards `tcp` or `udp`".into(),
                    );
                }
                let to = &rd.to.value;
                let eni = if to.parse::<std::net::Ipv4Addr>().is_ok() {
                    eni_ips.get(to)
                } else {
                    applied.enis.get(to)
                };
                let Some(to) = eni.cloned() else {
                    return self.refuse(
                        rd.to.referenced,
                        format!("{rpath}.to"),
                        format!("a DNAT rule forwards to an interface of the VPC, not `{to}`"),
                    );
                };
                update = update.field(
                    format!("nat_gateway.dnat_rules[{j}]"),
                    format!("dnat[{j}]"),
                    r.referenced,
                );
                dnat_rules.push(pb::DnatRule {
                    protocol,
                    port: rd.port.into(),
                    to,
                    to_port: rd.to_port.into(),
                });
            }
            self.run::<pb::NatGateway>(
                Command::UpdateNatGateway(pb::UpdateNatGatewayRequest {
                    nat_gateway: Some(pb::NatGateway {
                        name: applied.nats[nname].clone(),
                        dnat_rules,
                        ..Default::default()
                    }),
                    update_mask: mask("dnat_rules"),
                }),
                update,
            )?;
        }
        self.made.vpcs.insert(vname, applied);
        Ok(())
    }

    /// The resource name of `name` among a VPC's resources of one kind, or the refusal
    /// listing the names the VPC has.
    fn in_vpc(
        &self,
        map: &BTreeMap<String, String>,
        name: &doc::S<String>,
        field: String,
        kind: &str,
    ) -> Result<String, E::Error> {
        match map.get(&name.value) {
            Some(n) => Ok(n.clone()),
            None => {
                let known: Vec<&str> = map.keys().map(String::as_str).collect();
                let known = if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                };
                self.refuse(
                    name.referenced,
                    field,
                    format!(
                        "no {kind} named `{}` in this VPC (known: {known})",
                        name.value
                    ),
                )
            }
        }
    }

    /// Sets a group's rules from the file (`UpdateSecurityGroup`), each rule's fields placed
    /// back on the file's lines.
    fn set_group_rules(
        &mut self,
        gpath: &str,
        g: &doc::S<doc::SecurityGroupDoc>,
        vname: &str,
        resource: &str,
        groups: &BTreeMap<String, String>,
    ) -> Result<(), E::Error> {
        let gname = &g.value.name.value;
        let rules = self.sg_rules(gpath, &g.value.rules, groups)?;
        let n = rules.len();
        let mut update = step(
            format!("setting the rules of security group `{gname}` of VPC `{vname}`"),
            format!("{gname}: {}", plural(n, "rule")),
        )
        .at(gpath, g.referenced);
        for (k, r) in g.value.rules.iter().enumerate() {
            let pb = format!("security_group.rules[{k}]");
            let yaml = format!("rules[{k}]");
            update = update.field(&pb, &yaml, r.referenced).field(
                format!("{pb}.remote"),
                format!("{yaml}.remote"),
                r.value.remote.referenced,
            );
            if let Some(p) = &r.value.ports {
                update = update.field(format!("{pb}.ports"), format!("{yaml}.ports"), p.referenced);
            }
            if let Some(a) = &r.value.action {
                update = update.field(
                    format!("{pb}.action"),
                    format!("{yaml}.action"),
                    a.referenced,
                );
            }
        }
        self.run::<pb::SecurityGroup>(
            Command::UpdateSecurityGroup(pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    name: resource.to_string(),
                    rules,
                    ..Default::default()
                }),
                update_mask: mask("rules"),
            }),
            update,
        )?;
        Ok(())
    }

    /// The rules that name a group of a peer VPC (`{group: VPC/GROUP}`, aws), set once the
    /// peering connections exist: each such group gets its whole list.
    pub fn late_rules(&mut self, d: &doc::Scenario, vi: usize) -> Result<(), E::Error> {
        let v = &d.vpcs[vi].value;
        let vname = &v.name.value;
        for (i, g) in v.security_groups.iter().enumerate() {
            if !g.value.rules.iter().any(names_peer_group) {
                continue;
            }
            let gpath = format!("vpcs[{vi}].security_groups[{i}]");
            let groups = self.made.vpcs[vname].groups.clone();
            let resource = groups[&g.value.name.value].clone();
            self.set_group_rules(&gpath, g, vname, &resource, &groups)?;
        }
        Ok(())
    }

    fn sg_rules(
        &self,
        path: &str,
        rules: &[doc::S<doc::SgRuleDoc>],
        groups: &BTreeMap<String, String>,
    ) -> Result<Vec<pb::SecurityGroupRule>, E::Error> {
        let mut out = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let p = format!("{path}.rules[{i}]");
            let r = &r.value;
            let remote = match &r.remote.value {
                doc::RemoteDoc::Cidr(c) => pb::security_group_rule::Remote::Cidr(c.clone()),
                doc::RemoteDoc::Group { group } => {
                    let field = format!("{p}.remote.group");
                    let name = match group.split_once('/') {
                        // A group of another (peered) VPC: `VPC/GROUP`.
                        Some((vpc, name)) => {
                            let found = self.made.vpcs.get(vpc).map(|a| a.groups.get(name));
                            match found {
                                Some(Some(g)) => g.clone(),
                                Some(None) => {
                                    return self.refuse(
                                        r.remote.referenced,
                                        field,
                                        format!("no security group named `{name}` in VPC `{vpc}`"),
                                    );
                                }
                                None => {
                                    return self.refuse(
                                        r.remote.referenced,
                                        field,
                                        format!("no VPC named `{vpc}` (in `{group}`)"),
                                    );
                                }
                            }
                        }
                        None => {
                            let g =
                                doc::S::new(group.clone(), r.remote.referenced, r.remote.defined);
                            self.in_vpc(groups, &g, field, "security group")?
                        }
                    };
                    pb::security_group_rule::Remote::SecurityGroup(name)
                }
            };
            let Some(direction) = direction(&r.direction.value) else {
                return self.refuse(
                    r.direction.referenced,
                    format!("{p}.direction"),
                    crate::parse::direction(&r.direction.value)
                        .err()
                        .unwrap_or_default(),
                );
            };
            let action = match &r.action {
                None => pb::RuleAction::Allow as i32,
                Some(a) => match action(&a.value) {
                    Some(x) => x,
                    None => {
                        return self.refuse(
                            a.referenced,
                            format!("{p}.action"),
                            crate::parse::action(&a.value).err().unwrap_or_default(),
                        );
                    }
                },
            };
            out.push(pb::SecurityGroupRule {
                direction,
                action,
                priority: r
                    .priority
                    .as_ref()
                    .and_then(|p| u32::try_from(p.value).ok())
                    .unwrap_or(0),
                protocol: protocol(&r.protocol.value),
                ports: ports(r.ports.as_ref()),
                icmp_type: byte(r.icmp_type.as_ref()),
                icmp_code: byte(r.icmp_code.as_ref()),
                remote: Some(remote),
                description: r.description.clone().unwrap_or_default(),
            });
        }
        Ok(out)
    }

    fn acl_entries(
        &self,
        path: &str,
        a: &doc::AclDoc,
    ) -> Result<Vec<pb::NetworkAclEntry>, E::Error> {
        let mut out = Vec::new();
        let sides = [
            (pb::Direction::Ingress, "ingress", &a.ingress),
            (pb::Direction::Egress, "egress", &a.egress),
        ];
        for (dir, side, list) in sides {
            for (i, e) in list.iter().enumerate() {
                let p = format!("{path}.{side}[{i}]");
                let e = &e.value;
                let Ok(number) = u32::try_from(e.rule.value) else {
                    return self.refuse(
                        e.rule.referenced,
                        format!("{p}.rule"),
                        "rule number must be positive".into(),
                    );
                };
                let Some(action) = action(&e.action.value) else {
                    return self.refuse(
                        e.action.referenced,
                        format!("{p}.action"),
                        crate::parse::action(&e.action.value)
                            .err()
                            .unwrap_or_default(),
                    );
                };
                out.push(pb::NetworkAclEntry {
                    number,
                    direction: dir as i32,
                    action,
                    protocol: protocol(&e.protocol.value),
                    ports: ports(e.ports.as_ref()),
                    source_ports: ports(e.source_ports.as_ref()),
                    icmp_type: byte(e.icmp_type.as_ref()),
                    icmp_code: byte(e.icmp_code.as_ref()),
                    cidr: e.cidr.value.clone(),
                    description: e.description.clone().unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    /// A VPC's routes as the API takes them (`chosen`: the file's index of each): its
    /// internet gateway, NAT gateways and the routers created so far are named by their
    /// resource names. `path` is the table's (or the VPC's, for its main table's `routes`).
    fn routes(
        &self,
        path: &str,
        chosen: &[(usize, &doc::S<doc::RouteDoc>)],
        vpc: &AppliedVpc,
    ) -> Result<Vec<pb::Route>, E::Error> {
        let mut out = Vec::new();
        for &(j, r) in chosen {
            let p = format!("{path}.routes[{j}]");
            let r = &r.value;
            let to = r
                .to()
                .or_else(|e| self.refuse(e.at, format!("{p}.{}", e.field), e.message))?;
            let target = match to {
                doc::RouteTo::InternetGateway if vpc.igw.is_empty() => {
                    return self.refuse(
                        r.target.referenced,
                        format!("{p}.target"),
                        "the VPC has no internet gateway (set `internet_gateway: true`)".into(),
                    );
                }
                doc::RouteTo::InternetGateway => {
                    pb::route::Target::InternetGateway(vpc.igw.clone())
                }
                doc::RouteTo::Blackhole => pb::route::Target::Blackhole(true),
                doc::RouteTo::NatGateway(n) => pb::route::Target::NatGateway(self.in_vpc(
                    &vpc.nats,
                    n,
                    format!("{p}.nat_gateway"),
                    "NAT gateway",
                )?),
                doc::RouteTo::Router(n) => pb::route::Target::EnterpriseRouter(self.made_named(
                    &self.made.routers,
                    n,
                    format!("{p}.router"),
                    "enterprise router",
                )?),
                doc::RouteTo::Peering(n) => {
                    pb::route::Target::VpcPeeringConnection(self.made_named(
                        &self.made.vpc_peerings,
                        n,
                        format!("{p}.peering"),
                        "VPC peering connection",
                    )?)
                }
                doc::RouteTo::VpnGateway(n) => pb::route::Target::VpnGateway(self.made_named(
                    &self.made.vpn_gateways,
                    n,
                    format!("{p}.vpn_gateway"),
                    "virtual private gateway",
                )?),
            };
            out.push(pb::Route {
                destination: r.destination.value.clone(),
                target: Some(target),
            });
        }
        Ok(out)
    }

    /// Replaces a route table's routes (all but `local`) with the `chosen` routes of the
    /// file's item at `path` (a table, or the VPC for its main table's `routes`).
    fn set_routes(
        &mut self,
        (path, at): (&str, Location),
        table: &str,
        chosen: &[(usize, &doc::S<doc::RouteDoc>)],
        vpc: &AppliedVpc,
        what: &str,
        vname: &str,
    ) -> Result<(), E::Error> {
        let routes = self.routes(path, chosen, vpc)?;
        let n = routes.len();
        let update = route_fields(
            step(
                format!("setting the routes of the {what} of VPC `{vname}`"),
                format!("{what} of {vname}: {}", plural(n, "route")),
            )
            .at(path, at),
            chosen,
        );
        self.run::<pb::RouteTable>(
            Command::UpdateRouteTable(pb::UpdateRouteTableRequest {
                route_table: Some(pb::RouteTable {
                    name: table.to_string(),
                    routes,
                    ..Default::default()
                }),
                update_mask: mask("routes"),
            }),
            update,
        )?;
        Ok(())
    }

    /// Turns on route propagation from the file's gateways (`names`, the item's
    /// `route_propagation` at `path`) into a route table.
    fn route_propagation(
        &mut self,
        path: &str,
        table: &str,
        names: &[doc::S<String>],
        what: &str,
        vname: &str,
    ) -> Result<(), E::Error> {
        let Some(first) = names.first() else {
            return Ok(());
        };
        let mut gateways = Vec::new();
        let mut update = step(
            format!("turning on route propagation into the {what} of VPC `{vname}`"),
            format!("{what} of {vname}: propagation from {}", names.len()),
        )
        .at(path, first.referenced);
        for (i, n) in names.iter().enumerate() {
            let field = format!("{path}.route_propagation[{i}]");
            gateways.push(self.made_named(
                &self.made.vpn_gateways,
                n,
                field,
                "virtual private gateway",
            )?);
            update = update.field(
                format!("route_table.propagating_vpn_gateways[{i}]"),
                format!("route_propagation[{i}]"),
                n.referenced,
            );
        }
        self.run::<pb::RouteTable>(
            Command::UpdateRouteTable(pb::UpdateRouteTableRequest {
                route_table: Some(pb::RouteTable {
                    name: table.to_string(),
                    propagating_vpn_gateways: gateways,
                    ..Default::default()
                }),
                update_mask: mask("propagating_vpn_gateways"),
            }),
            update,
        )?;
        Ok(())
    }

    /// The file's virtual private gateways, once every VPC exists (before the hosts behind
    /// them).
    pub fn vpn_gateways(&mut self, d: &doc::Scenario) -> Result<(), E::Error> {
        for (i, item) in d.vpn_gateways.iter().enumerate() {
            let path = format!("vpn_gateways[{i}]");
            let x = &item.value;
            let gname = &x.name.value;
            let vpc = self.named_vpc(&x.vpc, format!("{path}.vpc"))?;
            let mut create = step(
                format!("creating virtual private gateway `{gname}`"),
                format!(
                    "{gname} of {}: {}",
                    x.vpc.value,
                    plural(x.connections.len(), "connection")
                ),
            )
            .at(&path, item.referenced)
            .field("vpn_gateway.display_name", "name", x.name.referenced)
            .field("vpn_gateway.vpc", "vpc", x.vpc.referenced);
            let mut connections = Vec::new();
            for (j, c) in x.connections.iter().enumerate() {
                let cp = format!("connections[{j}]");
                // The names are the model's (`VpnRouting::as_str`).
                let routing = match c.value.routing.value.parse::<VpnRouting>() {
                    Ok(r) => crate::api::view::vpn_routing(r),
                    Err(message) => {
                        return self.refuse(
                            c.value.routing.referenced,
                            format!("{path}.{cp}.routing"),
                            message,
                        );
                    }
                };
                let req = format!("vpn_gateway.{cp}");
                create = create.field(&req, &cp, c.referenced).field(
                    format!("{req}.display_name"),
                    format!("{cp}.name"),
                    c.value.name.referenced,
                );
                for (k, n) in c.value.networks.iter().enumerate() {
                    create = create.field(
                        format!("{req}.networks[{k}]"),
                        format!("{cp}.networks[{k}]"),
                        n.referenced,
                    );
                }
                connections.push(pb::VpnConnection {
                    id: c.value.id.clone().unwrap_or_default(),
                    display_name: c.value.name.value.clone(),
                    routing: routing as i32,
                    networks: c.value.networks.iter().map(|n| n.value.clone()).collect(),
                });
            }
            let created: pb::VpnGateway = self.run(
                Command::CreateVpnGateway(pb::CreateVpnGatewayRequest {
                    parent: self.parent.clone(),
                    vpn_gateway: Some(pb::VpnGateway {
                        display_name: gname.clone(),
                        vpc,
                        connections,
                        ..Default::default()
                    }),
                    vpn_gateway_id: x.id.clone().unwrap_or_default(),
                }),
                create,
            )?;
            self.made.vpn_gateways.insert(gname.clone(), created.name);
        }
        Ok(())
    }

    /// The file's VPC peering connections, once every VPC exists.
    pub fn vpc_peerings(&mut self, d: &doc::Scenario) -> Result<(), E::Error> {
        for (i, item) in d.vpc_peerings.iter().enumerate() {
            let path = format!("vpc_peerings[{i}]");
            let x = &item.value;
            let pname = &x.name.value;
            let [a, b] = [0, 1].map(|k| self.named_vpc(&x.vpcs[k], format!("{path}.vpcs[{k}]")));
            let (a, b) = (a?, b?);
            let created: pb::VpcPeeringConnection = self.run(
                Command::CreateVpcPeeringConnection(pb::CreateVpcPeeringConnectionRequest {
                    parent: self.parent.clone(),
                    vpc_peering_connection: Some(pb::VpcPeeringConnection {
                        display_name: pname.clone(),
                        requester_vpc: a,
                        accepter_vpc: b,
                        ..Default::default()
                    }),
                    vpc_peering_connection_id: x.id.clone().unwrap_or_default(),
                }),
                step(
                    format!("creating VPC peering connection `{pname}`"),
                    format!(
                        "peering {pname} of {} and {}",
                        x.vpcs[0].value, x.vpcs[1].value
                    ),
                )
                .at(&path, item.referenced)
                .field(
                    "vpc_peering_connection.display_name",
                    "name",
                    x.name.referenced,
                )
                .field(
                    "vpc_peering_connection.requester_vpc",
                    "vpcs[0]",
                    x.vpcs[0].referenced,
                )
                .field(
                    "vpc_peering_connection.accepter_vpc",
                    "vpcs[1]",
                    x.vpcs[1].referenced,
                ),
            )?;
            self.made.vpc_peerings.insert(pname.clone(), created.name);
        }
        Ok(())
    }

    /// A VPC of the file by its name, or the refusal at `field`.
    fn named_vpc(&self, v: &doc::S<String>, field: String) -> Result<String, E::Error> {
        match self.made.vpcs.get(&v.value) {
            Some(a) => Ok(a.name.clone()),
            None => self.refuse(v.referenced, field, format!("no VPC named `{}`", v.value)),
        }
    }

    /// The resource the file calls `n` among those `made` so far, or the refusal at `field`.
    fn made_named(
        &self,
        made: &BTreeMap<String, String>,
        n: &doc::S<String>,
        field: String,
        what: &str,
    ) -> Result<String, E::Error> {
        match made.get(&n.value) {
            Some(x) => Ok(x.clone()),
            None => self.refuse(
                n.referenced,
                field,
                format!("no {what} named `{}`", n.value),
            ),
        }
    }

    /// The VPCs' routes to routers and peering connections, now that those exist (each table
    /// gets its whole list again), after the rules naming peer VPCs' groups (`late_rules`).
    pub fn late_routes(&mut self, d: &doc::Scenario, vi: usize) -> Result<(), E::Error> {
        // Rules naming peer VPCs' groups first: they too waited for the connections.
        self.late_rules(d, vi)?;
        let item = &d.vpcs[vi];
        let v = &item.value;
        let path = format!("vpcs[{vi}]");
        let vname = &v.name.value;
        let a = self.made.vpcs.remove(vname).expect("every VPC was applied");
        let all = |_: &doc::S<doc::RouteDoc>| true;
        let result = (|| {
            for (i, t) in v.route_tables.iter().enumerate() {
                let tname = &t.value.name.value;
                let tpath = format!("{path}.route_tables[{i}]");
                self.route_propagation(
                    &tpath,
                    &a.tables[tname],
                    &t.value.route_propagation,
                    &format!("route table `{tname}`"),
                    vname,
                )?;
            }
            self.route_propagation(
                &path,
                &a.main_route_table,
                &v.route_propagation,
                "main route table",
                vname,
            )?;
            for (i, t) in v.route_tables.iter().enumerate() {
                if !t.value.routes.iter().any(is_late_route) {
                    continue;
                }
                let tname = &t.value.name.value;
                let what = format!("route table `{tname}`");
                let tpath = format!("{path}.route_tables[{i}]");
                let chosen = numbered(&t.value.routes, all);
                self.set_routes(
                    (&tpath, t.referenced),
                    &a.tables[tname],
                    &chosen,
                    &a,
                    &what,
                    vname,
                )?;
            }
            if v.routes.iter().any(is_late_route) {
                let chosen = numbered(&v.routes, all);
                let table = a.main_route_table.clone();
                self.set_routes(
                    (&path, item.referenced),
                    &table,
                    &chosen,
                    &a,
                    "main route table",
                    vname,
                )?;
            }
            Ok(())
        })();
        self.made.vpcs.insert(vname.clone(), a);
        result
    }

    /// A route table of a router, by the file's name, or the refusal at `field`.
    fn router_table(
        &self,
        router: &str,
        table: &doc::S<String>,
        field: String,
    ) -> Result<String, E::Error> {
        match self
            .made
            .router_tables
            .get(&(router.to_string(), table.value.clone()))
        {
            Some(t) => Ok(t.clone()),
            None => self.refuse(
                table.referenced,
                field,
                format!("no route table named `{}` on this router", table.value),
            ),
        }
    }

    /// A router by the file's name, or the refusal at `field`.
    fn named_router(&self, r: &doc::S<String>, field: String) -> Result<String, E::Error> {
        match self.made.routers.get(&r.value) {
            Some(x) => Ok(x.clone()),
            None => self.refuse(
                r.referenced,
                field,
                format!("no enterprise router named `{}`", r.value),
            ),
        }
    }

    /// Enterprise routers with their route tables and attachments (associations and
    /// propagations with them), then the peerings, then every static route (they may name a
    /// peering's attachment).
    pub fn routers(&mut self, d: &doc::Scenario) -> Result<(), E::Error> {
        for (i, r) in d.enterprise_routers.iter().enumerate() {
            self.router(&format!("enterprise_routers[{i}]"), r)?;
        }
        for (i, p) in d.router_peerings.iter().enumerate() {
            self.peering(&format!("router_peerings[{i}]"), p)?;
        }
        for (i, r) in d.enterprise_routers.iter().enumerate() {
            self.router_routes(&format!("enterprise_routers[{i}]"), &r.value)?;
        }
        Ok(())
    }

    fn router(&mut self, path: &str, item: &doc::S<doc::RouterDoc>) -> Result<(), E::Error> {
        let r = &item.value;
        let rname = &r.name.value;
        let er: pb::EnterpriseRouter = self.run(
            Command::CreateEnterpriseRouter(pb::CreateEnterpriseRouterRequest {
                parent: self.parent.clone(),
                enterprise_router: Some(pb::EnterpriseRouter {
                    display_name: rname.clone(),
                    asn: r.asn.unwrap_or(0),
                    region: r.region.clone().unwrap_or_default(),
                    ..Default::default()
                }),
                enterprise_router_id: r.id.clone().unwrap_or_default(),
            }),
            step(format!("creating enterprise router `{rname}`"), rname)
                .at(path, item.referenced)
                .field("enterprise_router.display_name", "name", r.name.referenced),
        )?;
        self.made.routers.insert(rname.clone(), er.name.clone());
        for (i, t) in r.route_tables.iter().enumerate() {
            let tname = &t.value.name.value;
            let created: pb::RouterRouteTable = self.run(
                Command::CreateRouterRouteTable(pb::CreateRouterRouteTableRequest {
                    parent: self.parent.clone(),
                    router_route_table: Some(pb::RouterRouteTable {
                        display_name: tname.clone(),
                        enterprise_router: er.name.clone(),
                        ..Default::default()
                    }),
                    router_route_table_id: t.value.id.clone().unwrap_or_default(),
                }),
                step(
                    format!("creating route table `{tname}` of enterprise router `{rname}`"),
                    tname,
                )
                .at(format!("{path}.route_tables[{i}]"), t.referenced)
                .field(
                    "router_route_table.display_name",
                    "name",
                    t.value.name.referenced,
                ),
            )?;
            self.made
                .router_tables
                .insert((rname.clone(), tname.clone()), created.name);
        }
        for (i, a) in r.attachments.iter().enumerate() {
            let p = format!("{path}.attachments[{i}]");
            let att = self.attachment(&p, rname, &er.name, a)?;
            self.made
                .attachments
                .insert((rname.clone(), a.value.name.value.clone()), att);
        }
        Ok(())
    }

    /// An attachment of a router (a VPC with its interfaces, or a gateway with its
    /// networks), associated and propagating as the file says.
    fn attachment(
        &mut self,
        p: &str,
        rname: &str,
        router: &str,
        item: &doc::S<doc::AttachmentDoc>,
    ) -> Result<String, E::Error> {
        let a = &item.value;
        let aname = &a.name.value;
        let kind_name = a.kind.as_ref().map_or("vpc", |k| k.value.as_str());
        let Some(kind) = attachment_kind(kind_name) else {
            let k = a.kind.as_ref().expect("the default kind is known");
            let message = k
                .value
                .parse::<vpclab_sim::router::AttachmentKind>()
                .err()
                .unwrap_or_else(|| format!("unknown attachment kind `{kind_name}`"));
            return self.refuse(k.referenced, format!("{p}.kind"), message);
        };
        let mut create = step(
            format!("creating attachment `{aname}` of enterprise router `{rname}`"),
            format!("{aname} of {rname}"),
        )
        .at(p, item.referenced)
        .field("router_attachment.display_name", "name", a.name.referenced)
        .field_if("router_attachment.kind", "kind", a.kind.as_ref());
        let route_table = match &a.route_table {
            Some(t) => self.router_table(rname, t, format!("{p}.route_table"))?,
            None => String::new(),
        };
        let mut propagates_to = Vec::new();
        for (j, t) in a.propagate.iter().enumerate() {
            propagates_to.push(self.router_table(rname, t, format!("{p}.propagate[{j}]"))?);
            create = create.field(
                format!("router_attachment.propagates_to[{j}]"),
                format!("propagate[{j}]"),
                t.referenced,
            );
        }
        let mut att = pb::RouterAttachment {
            display_name: aname.clone(),
            enterprise_router: router.to_string(),
            kind: kind as i32,
            route_table,
            propagates_to,
            ..Default::default()
        };
        if kind == pb::AttachmentKind::Vpc {
            let Some(vname) = &a.vpc else {
                return self.refuse(
                    item.referenced,
                    format!("{p}.vpc"),
                    "a VPC attachment names its `vpc`".into(),
                );
            };
            let Some(v) = self.made.vpcs.get(&vname.value) else {
                return self.refuse(
                    vname.referenced,
                    format!("{p}.vpc"),
                    format!("no VPC named `{}`", vname.value),
                );
            };
            let mut interfaces = Vec::new();
            for (j, f) in a.interfaces.iter().enumerate() {
                let fd = &f.value;
                let field = format!("{p}.interfaces[{j}].subnet");
                interfaces.push(pb::RouterAttachmentInterface {
                    subnet: self.in_vpc(&v.subnets, &fd.subnet, field, "subnet")?,
                    private_ip: text(fd.ip.as_ref()),
                    network_interface_id: fd.eni_id.clone().unwrap_or_default(),
                });
                let request = format!("router_attachment.interfaces[{j}]");
                create = create
                    .field(&request, format!("interfaces[{j}]"), f.referenced)
                    .field_if(
                        &format!("{request}.private_ip"),
                        &format!("interfaces[{j}].ip"),
                        fd.ip.as_ref(),
                    );
            }
            att.resource = v.name.clone();
            att.interfaces = interfaces;
        } else {
            // `load`'s default gateway id.
            att.resource = a
                .gateway
                .clone()
                .unwrap_or_else(|| format!("{kind_name}-{aname}"));
            att.networks = a.networks.iter().map(|n| n.value.clone()).collect();
            for (j, n) in a.networks.iter().enumerate() {
                create = create.field(
                    format!("router_attachment.networks[{j}]"),
                    format!("networks[{j}]"),
                    n.referenced,
                );
            }
        }
        let created: pb::RouterAttachment = self.run(
            Command::CreateRouterAttachment(pb::CreateRouterAttachmentRequest {
                parent: self.parent.clone(),
                router_attachment: Some(att),
                router_attachment_id: a.id.clone().unwrap_or_default(),
                peer_attachment_id: String::new(),
            }),
            create,
        )?;
        Ok(created.name)
    }

    /// A peering of two routers: one request makes both sides; the second side's route
    /// table is set on its own.
    fn peering(&mut self, path: &str, item: &doc::S<doc::PeeringDoc>) -> Result<(), E::Error> {
        let p = &item.value;
        let pname = &p.name.value;
        let [ra, rb] = [&p.routers[0].value, &p.routers[1].value];
        let a = self.named_router(&p.routers[0], format!("{path}.routers[0]"))?;
        let b = self.named_router(&p.routers[1], format!("{path}.routers[1]"))?;
        let (ta, tb) = match &p.route_tables {
            Some([ta, tb]) => (
                self.router_table(ra, ta, format!("{path}.route_tables[0]"))?,
                self.router_table(rb, tb, format!("{path}.route_tables[1]"))?,
            ),
            None => (String::new(), String::new()),
        };
        let created: pb::RouterAttachment = self.run(
            Command::CreateRouterAttachment(pb::CreateRouterAttachmentRequest {
                parent: self.parent.clone(),
                router_attachment: Some(pb::RouterAttachment {
                    display_name: pname.clone(),
                    enterprise_router: a,
                    kind: pb::AttachmentKind::PeeringConnection as i32,
                    peer_router: b,
                    route_table: ta,
                    ..Default::default()
                }),
                router_attachment_id: String::new(),
                peer_attachment_id: String::new(),
            }),
            step(
                format!("creating router peering `{pname}` ({ra}, {rb})"),
                format!("peering {pname} of {ra} and {rb}"),
            )
            .at(path, item.referenced)
            .field("router_attachment.display_name", "name", p.name.referenced),
        )?;
        if !tb.is_empty() {
            let at = p
                .route_tables
                .as_ref()
                .map_or(item.referenced, |t| t[1].referenced);
            self.run::<pb::RouterAttachment>(
                Command::UpdateRouterAttachment(pb::UpdateRouterAttachmentRequest {
                    router_attachment: Some(pb::RouterAttachment {
                        name: created.peer_attachment.clone(),
                        route_table: tb,
                        ..Default::default()
                    }),
                    update_mask: mask("route_table"),
                }),
                step(
                    format!("associating router peering `{pname}` on `{rb}` with its route table"),
                    format!("peering {pname} on {rb}"),
                )
                .at(format!("{path}.route_tables[1]"), at),
            )?;
        }
        self.made
            .attachments
            .insert((ra.clone(), pname.clone()), created.name);
        self.made
            .attachments
            .insert((rb.clone(), pname.clone()), created.peer_attachment);
        Ok(())
    }

    /// A router's static and blackhole routes, table by table.
    fn router_routes(&mut self, path: &str, r: &doc::RouterDoc) -> Result<(), E::Error> {
        let rname = &r.name.value;
        for (i, t) in r.route_tables.iter().enumerate() {
            if t.value.routes.is_empty() {
                continue;
            }
            let tpath = format!("{path}.route_tables[{i}]");
            let tname = &t.value.name.value;
            let n = t.value.routes.len();
            let mut update = step(
                format!(
                    "adding the routes of route table `{tname}` of enterprise router `{rname}`"
                ),
                format!("{tname} of {rname}: {}", plural(n, "route")),
            )
            .at(&tpath, t.referenced);
            let mut routes = Vec::new();
            for (j, rt) in t.value.routes.iter().enumerate() {
                let p = format!("{tpath}.routes[{j}]");
                let rd = &rt.value;
                let target = match (&rd.attachment, rd.blackhole) {
                    (Some(a), false) => {
                        match self.made.attachments.get(&(rname.clone(), a.value.clone())) {
                            Some(att) => pb::router_route::Target::Attachment(att.clone()),
                            None => {
                                return self.refuse(
                                    a.referenced,
                                    format!("{p}.attachment"),
                                    format!("no attachment named `{}` on this router", a.value),
                                );
                            }
                        }
                    }
                    (None, true) => pb::router_route::Target::Blackhole(true),
                    _ => {
                        return self.refuse(
                            rt.referenced,
                            p,
                            "a router route has `attachment: NAME` or `blackhole: true`".into(),
                        );
                    }
                };
                let request = format!("router_route_table.routes[{j}]");
                update = update
                    .field(&request, format!("routes[{j}]"), rt.referenced)
                    .field(
                        format!("{request}.destination"),
                        format!("routes[{j}].destination"),
                        rd.destination.referenced,
                    );
                routes.push(pb::RouterRoute {
                    destination: rd.destination.value.clone(),
                    target: Some(target),
                });
            }
            let name = self.made.router_tables[&(rname.clone(), tname.clone())].clone();
            self.run::<pb::RouterRouteTable>(
                Command::UpdateRouterRouteTable(pb::UpdateRouterRouteTableRequest {
                    router_route_table: Some(pb::RouterRouteTable {
                        name,
                        routes,
                        ..Default::default()
                    }),
                    update_mask: mask("routes"),
                }),
                update,
            )?;
        }
        Ok(())
    }

    /// The hosts on the internet, and on premises behind a router's gateway attachment.
    pub fn external_hosts(&mut self, d: &doc::Scenario) -> Result<(), E::Error> {
        for (i, h) in d.external_hosts.iter().enumerate() {
            self.external_host(&format!("external_hosts[{i}]"), h)?;
        }
        Ok(())
    }

    fn external_host(
        &mut self,
        path: &str,
        item: &doc::S<doc::ExternalDoc>,
    ) -> Result<(), E::Error> {
        let h = &item.value;
        let hname = &h.name.value;
        let (listen_tcp, listen_udp) = listen(&h.listen);
        let mut create = step(format!("creating external host `{hname}`"), hname)
            .at(path, item.referenced)
            .field("external_host.display_name", "name", h.name.referenced)
            .field("external_host.ip", "ip", h.ip.referenced);
        let site = match &h.site {
            None => String::new(),
            Some(site) => {
                create = create.field("external_host.site", "site", site.referenced);
                let s = &site.value;
                let found = match (&s.router, &s.attachment, &s.vpn_gateway) {
                    (Some(r), Some(a), None) => self
                        .made
                        .attachments
                        .get(&(r.clone(), a.clone()))
                        .ok_or_else(|| format!("no attachment `{a}` on a router named `{r}`")),
                    (None, None, Some(g)) => self
                        .made
                        .vpn_gateways
                        .get(g)
                        .ok_or_else(|| format!("no virtual private gateway named `{g}`")),
                    _ => Err(
                        "a site is `{router: R, attachment: A}` (a router's gateway \
                              attachment) or `{vpn_gateway: G}` (a VPC's virtual private \
                              gateway)"
                            .to_string(),
                    ),
                };
                match found {
                    Ok(x) => x.clone(),
                    Err(m) => return self.refuse(site.referenced, format!("{path}.site"), m),
                }
            }
        };
        let created: pb::ExternalHost = self.run(
            Command::CreateExternalHost(pb::CreateExternalHostRequest {
                parent: self.parent.clone(),
                external_host: Some(pb::ExternalHost {
                    display_name: hname.clone(),
                    ip: h.ip.value.clone(),
                    listen_tcp,
                    listen_udp,
                    auto_reply: Some(h.auto_reply),
                    site,
                    ..Default::default()
                }),
                external_host_id: String::new(),
            }),
            create,
        )?;
        self.made.hosts.insert(hname.clone(), created.name);
        Ok(())
    }

    /// The Cloud Connect Networks, with their VPCs and region-pair bandwidth limits.
    pub fn ccns(&mut self, d: &doc::Scenario) -> Result<(), E::Error> {
        for (i, c) in d.ccns.iter().enumerate() {
            self.ccn(&format!("ccns[{i}]"), c)?;
        }
        Ok(())
    }

    fn ccn(&mut self, path: &str, item: &doc::S<doc::CcnDoc>) -> Result<(), E::Error> {
        let x = &item.value;
        let cname = &x.name.value;
        let mut create = step(format!("creating CCN `{cname}`"), cname)
            .at(path, item.referenced)
            .field(
                "cloud_connect_network.display_name",
                "name",
                x.name.referenced,
            );
        let mut vpcs = Vec::new();
        for (i, v) in x.vpcs.iter().enumerate() {
            let Some(a) = self.made.vpcs.get(&v.value) else {
                let known: Vec<&str> = self.made.vpcs.keys().map(String::as_str).collect();
                return self.refuse(
                    v.referenced,
                    format!("{path}.vpcs[{i}]"),
                    format!("no VPC named `{}` (known: {})", v.value, known.join(", ")),
                );
            };
            vpcs.push(a.name.clone());
            create = create.field(
                format!("cloud_connect_network.vpcs[{i}]"),
                format!("vpcs[{i}]"),
                v.referenced,
            );
        }
        let mut limits = Vec::new();
        for (i, l) in x.bandwidth_limits.iter().enumerate() {
            let ld = &l.value;
            let p = format!("bandwidth_limits[{i}]");
            let [a, b] = ld.regions.as_slice() else {
                return self.refuse(
                    l.referenced,
                    format!("{path}.{p}.regions"),
                    "a bandwidth limit names two regions: `regions: [ap-guangzhou, ap-shanghai]`"
                        .into(),
                );
            };
            let request = format!("cloud_connect_network.bandwidth_limits[{i}]");
            create = create
                .field(&request, &p, l.referenced)
                .field(
                    format!("{request}.region_a"),
                    format!("{p}.regions[0]"),
                    a.referenced,
                )
                .field(
                    format!("{request}.region_b"),
                    format!("{p}.regions[1]"),
                    b.referenced,
                )
                .field(
                    format!("{request}.regions[0]"),
                    format!("{p}.regions[0]"),
                    a.referenced,
                )
                .field(
                    format!("{request}.regions[1]"),
                    format!("{p}.regions[1]"),
                    b.referenced,
                )
                .field(
                    format!("{request}.bits_per_second"),
                    format!("{p}.bandwidth"),
                    ld.bandwidth.referenced,
                );
            limits.push(pb::CcnBandwidthLimit {
                region_a: a.value.clone(),
                region_b: b.value.clone(),
                bits_per_second: ld.bandwidth.value,
            });
        }
        let created: pb::CloudConnectNetwork = self.run(
            Command::CreateCloudConnectNetwork(pb::CreateCloudConnectNetworkRequest {
                parent: self.parent.clone(),
                cloud_connect_network: Some(pb::CloudConnectNetwork {
                    display_name: cname.clone(),
                    vpcs,
                    bandwidth_limits: limits,
                    ..Default::default()
                }),
                cloud_connect_network_id: x.id.clone().unwrap_or_default(),
            }),
            create,
        )?;
        self.made.ccns.insert(cname.clone(), created.name);
        Ok(())
    }

    /// The resource a flow log captures, by the file's names.
    fn captured(&self, f: &doc::FlowLogDoc) -> Result<String, E::Error> {
        let fname = &f.name.value;
        let r = &f.resource.value;
        if let Some(ccn) = &r.ccn {
            return self.known(&self.made.ccns, ccn, || {
                format!("flow log `{fname}`: no CCN `{ccn}`")
            });
        }
        if let (Some(n), None, None, None) = (&r.nat_gateway, &r.eni, &r.subnet, &r.vpc) {
            // A NAT gateway flow log: the gateway's interface.
            return match self.made.nat_enis.get(n).map(Vec::as_slice) {
                Some([eni]) => Ok(eni.clone()),
                Some([_, _, ..]) => self.fail(format!(
                    "flow log `{fname}`: `{n}` names NAT gateways in several VPCs"
                )),
                _ => self.fail(format!("flow log `{fname}`: no NAT gateway `{n}`")),
            };
        }
        if let (Some(router), Some(att)) = (&r.router, &r.attachment) {
            // A router flow log: an attachment of a router (a peering's side by its name).
            return match self.made.attachments.get(&(router.clone(), att.clone())) {
                Some(a) => Ok(a.clone()),
                None => self.fail(format!(
                    "flow log `{fname}`: no attachment `{att}` on a router named `{router}`"
                )),
            };
        }
        let vpcs: BTreeMap<String, String>;
        let (map, key, what) = match (&r.eni, &r.subnet, &r.vpc) {
            (Some(e), None, None) => (&self.made.enis, e, "ENI"),
            (None, Some(s), None) => (&self.made.subnets, s, "subnet"),
            (None, None, Some(v)) => {
                vpcs = self
                    .made
                    .vpcs
                    .iter()
                    .map(|(k, a)| (k.clone(), a.name.clone()))
                    .collect();
                (&vpcs, v, "VPC")
            }
            _ => {
                return self.fail(format!(
                    "flow log `{fname}`: give exactly one of eni, subnet, vpc or router and attachment"
                ));
            }
        };
        self.known(map, key, || {
            format!("flow log `{fname}`: no {what} `{key}`")
        })
    }

    fn flow_log(&mut self, f: &doc::FlowLogDoc, stream: &str) -> Result<(), E::Error> {
        let fname = &f.name.value;
        let resource = self.captured(f)?;
        let traffic = match f.traffic.as_ref().map(|t| t.value.as_str()) {
            None | Some("all") => pb::TrafficFilter::All,
            Some("accepted" | "accept") => pb::TrafficFilter::Accepted,
            Some("rejected" | "reject") => pb::TrafficFilter::Rejected,
            Some(o) => {
                return self.fail(format!("flow log `{fname}`: unknown traffic filter `{o}`"));
            }
        };
        let window_seconds = match &f.window {
            Some(w) => match u32::try_from(w.value) {
                Ok(s) => s,
                Err(_) => return self.fail(format!("flow log `{fname}`: window too large")),
            },
            None => 0,
        };
        self.run::<pb::FlowLog>(
            Command::CreateFlowLog(pb::CreateFlowLogRequest {
                parent: self.parent.clone(),
                flow_log: Some(pb::FlowLog {
                    display_name: fname.clone(),
                    resource,
                    traffic: traffic as i32,
                    window_seconds,
                    log_stream: stream.to_string(),
                    ..Default::default()
                }),
                flow_log_id: f.id.clone().unwrap_or_default(),
            }),
            step(format!("creating flow log `{fname}`"), fname),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each command's kind and label and answers with a resource named after its
    /// order (`projects/p/r3`); refuses the command whose label is `refuse`.
    struct Recorder {
        steps: Vec<String>,
        refuse: Option<&'static str>,
    }

    impl Executor for Recorder {
        type Error = String;

        fn parent(&self) -> String {
            "projects/p".into()
        }

        fn execute(&mut self, cmd: Command, step: &Step) -> Result<Reply, String> {
            if self.refuse == Some(step.label.as_str()) {
                return Err(format!("refused: {}", step.doing));
            }
            self.steps.push(format!("{} {}", cmd.kind(), step.label));
            let name = format!("projects/p/r{}", self.steps.len());
            Ok(match cmd {
                Command::CreateVpc(_) => Reply::from(pb::Vpc {
                    main_route_table: format!("{name}-main"),
                    name,
                    ..Default::default()
                }),
                Command::CreateInternetGateway(_) => pb::InternetGateway {
                    name,
                    ..Default::default()
                }
                .into(),
                Command::CreateSecurityGroup(_) | Command::UpdateSecurityGroup(_) => {
                    pb::SecurityGroup {
                        name,
                        ..Default::default()
                    }
                    .into()
                }
                Command::CreateRouteTable(_) | Command::UpdateRouteTable(_) => pb::RouteTable {
                    name,
                    ..Default::default()
                }
                .into(),
                Command::CreateSubnet(_) => pb::Subnet {
                    name,
                    ..Default::default()
                }
                .into(),
                Command::CreateNatGateway(_) => pb::NatGateway {
                    network_interface: format!("{name}-eni"),
                    name,
                    ..Default::default()
                }
                .into(),
                Command::CreateNetworkInterface(r) => pb::NetworkInterface {
                    name,
                    private_ip: r.network_interface.unwrap_or_default().private_ip,
                    ..Default::default()
                }
                .into(),
                Command::CreateExternalHost(_) => pb::ExternalHost {
                    name,
                    ..Default::default()
                }
                .into(),
                Command::CreateFlowLog(r) => {
                    let f = r.flow_log.unwrap_or_default();
                    self.steps.push(format!("  captures {}", f.resource));
                    pb::FlowLog {
                        name,
                        ..Default::default()
                    }
                    .into()
                }
                other => return Err(format!("unexpected {}", other.kind())),
            })
        }

        fn refuse(&self, _: Location, field: String, message: String) -> String {
            format!("{field}: {message}")
        }

        fn log_stream(&mut self) -> Result<String, String> {
            Ok("projects/p/logStreams/flows".into())
        }
    }

    fn scenario() -> doc::Scenario {
        let text = include_str!("../../scenarios/aws-nat-gateway.yaml");
        serde_saphyr::from_str(text).unwrap()
    }

    #[test]
    fn commands_come_in_dependency_order_and_name_what_came_before() {
        let mut r = Recorder {
            steps: Vec::new(),
            refuse: None,
        };
        apply(&scenario(), &mut r).unwrap();
        assert_eq!(
            r.steps,
            [
                "CreateVpc main",
                "CreateInternetGateway internet gateway of main",
                "CreateSecurityGroup app",
                "UpdateSecurityGroup app: 1 rule",
                // The private table's route waits for its NAT gateway.
                "CreateRouteTable private",
                "UpdateRouteTable main route table of main: 1 route",
                "CreateSubnet public",
                "CreateSubnet private",
                "CreateNatGateway nat",
                "UpdateRouteTable route table `private` of main: 1 route",
                "CreateNetworkInterface instance",
                "CreateExternalHost web",
                "CreateFlowLog vpc-flows",
                "  captures projects/p/r1",
            ]
        );
    }

    #[test]
    fn a_refusal_stops_everything_after_it() {
        let mut r = Recorder {
            steps: Vec::new(),
            refuse: Some("nat"),
        };
        let e = apply(&scenario(), &mut r).unwrap_err();
        assert_eq!(e, "refused: creating NAT gateway `nat` of VPC `main`");
        assert_eq!(r.steps.last().unwrap(), "CreateSubnet private");
    }

    #[test]
    fn what_commands_cannot_say_is_named() {
        let notes = not_applied(&scenario());
        assert_eq!(
            notes,
            [
                "the scenario's traffic, expect, output are not applied: apply creates the \
                 topology and flow logs only",
                "the scenario's account is not applied: the server's project has its own"
            ]
        );
    }
}
