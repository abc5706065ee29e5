//! A scenario's topology as API commands: the one translation from a scenario file to the
//! requests the API takes (`Command`s, the same ones a server stores and replays).
//!
//! The commands are built in dependency order and handed one at a time to an [`Executor`],
//! which applies them and answers with the resource as the API shows it; later commands name
//! what earlier ones created by the resource names those answers carry. `vpclab apply` sends
//! them to a server over gRPC. The order is `load`'s (every VPC with its groups, ACLs, route
//! tables, subnets, NAT gateways and interfaces; then routers, peerings and their routes; the
//! VPCs' routes to routers; external hosts; CCNs; flow logs), so a server draws resource ids
//! in the same order `vpclab run` does.
//!
//! The file has been checked by `load` before (same errors as `vpclab check`), so the
//! mistakes found here (a name that names nothing) are a second line of defence; they are
//! reported through [`Executor::refuse`]. What a scenario says that the API cannot (traffic,
//! expectations, workloads, flow-log capacities) is not translated: see [`not_applied`].

use std::collections::BTreeMap;

use crate::api::command::Command;
use crate::api::pb;
use crate::doc;

/// What one command does, in words: `doing` for a refusal ("creating VPC `main`"), `label`
/// for the line that reports it done ("main", "web-sg: 2 rules").
#[derive(Debug, Clone)]
pub struct Step {
    pub doing: String,
    pub label: String,
}

/// Where the commands go.
pub trait Executor {
    type Error;
    /// The project the commands are for: `projects/{id}`.
    fn parent(&self) -> String;
    /// Applies one command; answers with the resource it created or changed.
    fn execute(&mut self, cmd: Command, step: &Step) -> Result<Reply, Self::Error>;
    /// A mistake in the file (or an answer that does not fit the request).
    fn refuse(&self, message: String) -> Self::Error;
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
    let parent = exec.parent();
    let mut p = Planner {
        exec,
        parent,
        vpcs: BTreeMap::new(),
        subnets: BTreeMap::new(),
        enis: BTreeMap::new(),
        nat_enis: BTreeMap::new(),
        routers: BTreeMap::new(),
        router_tables: BTreeMap::new(),
        attachments: BTreeMap::new(),
        ccns: BTreeMap::new(),
    };
    for v in &d.vpcs {
        p.vpc(d, &v.value)?;
    }
    p.routers(d)?;
    for v in &d.vpcs {
        p.routes_to_routers(&v.value)?;
    }
    for h in &d.external_hosts {
        p.external_host(&h.value)?;
    }
    for c in &d.ccns {
        p.ccn(&c.value)?;
    }
    if !d.flow_logs.is_empty() {
        let stream = p.exec.log_stream()?;
        for f in &d.flow_logs {
            p.flow_log(&f.value, &stream)?;
        }
    }
    Ok(())
}

/// What the commands created so far that later ones name, by the file's names.
struct Planner<'e, E: Executor> {
    exec: &'e mut E,
    parent: String,
    vpcs: BTreeMap<String, AppliedVpc>,
    /// Subnets and interfaces of every VPC by name (flow logs name them so).
    subnets: BTreeMap<String, String>,
    enis: BTreeMap<String, String>,
    /// NAT gateways' interfaces by the gateways' names (a flow log may capture one).
    nat_enis: BTreeMap<String, Vec<String>>,
    routers: BTreeMap<String, String>,
    /// (router, table) → resource name.
    router_tables: BTreeMap<(String, String), String>,
    /// (router, attachment) → resource name (a peering's two sides under each router's name).
    attachments: BTreeMap<(String, String), String>,
    ccns: BTreeMap<String, String>,
}

/// What one VPC's commands created that later steps refer to.
struct AppliedVpc {
    name: String,
    main_route_table: String,
    igw: String,
    tables: BTreeMap<String, String>,
    nats: BTreeMap<String, String>,
    subnets: BTreeMap<String, String>,
}

fn step(doing: impl Into<String>, label: impl Into<String>) -> Step {
    Step {
        doing: doing.into(),
        label: label.into(),
    }
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

/// Does a route go to an enterprise router? (Those are created once the routers and the VPC's
/// attachment exist, after every VPC.)
fn is_router_route(r: &doc::S<doc::RouteDoc>) -> bool {
    r.value.target.value == "router"
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

impl<E: Executor> Planner<'_, E> {
    /// Applies `cmd` and reads the answer as the resource `T`.
    fn run<T: TryFrom<Reply>>(&mut self, cmd: Command, step: Step) -> Result<T, E::Error> {
        let reply = self.exec.execute(cmd, &step)?;
        let kind = reply.kind();
        T::try_from(reply).map_err(|_| {
            self.exec.refuse(format!(
                "{}: the answer was a {kind}, not the resource asked for",
                step.doing
            ))
        })
    }

    fn refuse<T>(&self, message: String) -> Result<T, E::Error> {
        Err(self.exec.refuse(message))
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
            None => self.refuse(missing()),
        }
    }

    fn vpc(&mut self, d: &doc::Scenario, v: &doc::VpcDoc) -> Result<(), E::Error> {
        let vname = v.name.value.clone();
        // A VPC without a region is in the scenario's; where CCNs join regions the file's
        // region is the VPC's, elsewhere the server's project has its own.
        let region = match (&v.region, &d.region) {
            (Some(r), _) => r.value.clone(),
            (None, Some(r)) if !d.ccns.is_empty() => r.clone(),
            _ => String::new(),
        };
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
            step(format!("creating VPC `{vname}`"), &vname),
        )?;

        let igw_id = match v.internet_gateway.as_ref().map(|g| &g.value) {
            None | Some(doc::IgwDoc::Enabled(false)) => None,
            Some(doc::IgwDoc::Enabled(true)) => Some(String::new()),
            Some(doc::IgwDoc::WithId { id }) => Some(id.clone()),
        };
        let mut igw = String::new();
        if let Some(id) = igw_id {
            let g: pb::InternetGateway = self.run(
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
                ),
            )?;
            igw = g.name;
        }

        // Every group first, with no rules, so rules can reference any group of the VPC.
        let mut groups: BTreeMap<String, String> = BTreeMap::new();
        for g in &v.security_groups {
            let gname = &g.value.name.value;
            let created: pb::SecurityGroup = self.run(
                Command::CreateSecurityGroup(pb::CreateSecurityGroupRequest {
                    parent: self.parent.clone(),
                    security_group: Some(pb::SecurityGroup {
                        display_name: gname.clone(),
                        vpc: vpc.name.clone(),
                        ..Default::default()
                    }),
                    security_group_id: g.value.id.clone().unwrap_or_default(),
                }),
                step(
                    format!("creating security group `{gname}` of VPC `{vname}`"),
                    gname,
                ),
            )?;
            groups.insert(gname.clone(), created.name);
        }
        for g in v
            .security_groups
            .iter()
            .filter(|g| !g.value.rules.is_empty())
        {
            let gname = &g.value.name.value;
            let rules = self.sg_rules(&g.value.rules, &groups)?;
            let n = rules.len();
            self.run::<pb::SecurityGroup>(
                Command::UpdateSecurityGroup(pb::UpdateSecurityGroupRequest {
                    security_group: Some(pb::SecurityGroup {
                        name: groups[gname].clone(),
                        rules,
                        ..Default::default()
                    }),
                    update_mask: mask("rules"),
                }),
                step(
                    format!("setting the rules of security group `{gname}` of VPC `{vname}`"),
                    format!("{gname}: {}", plural(n, "rule")),
                ),
            )?;
        }

        let mut acls: BTreeMap<String, String> = BTreeMap::new();
        for a in &v.network_acls {
            let aname = &a.value.name.value;
            let entries = self.acl_entries(&a.value)?;
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
                step(
                    format!("creating network ACL `{aname}` of VPC `{vname}`"),
                    aname,
                ),
            )?;
            acls.insert(aname.clone(), created.name);
        }

        let mut applied = AppliedVpc {
            name: vpc.name.clone(),
            main_route_table: vpc.main_route_table.clone(),
            igw,
            tables: BTreeMap::new(),
            nats: BTreeMap::new(),
            subnets: BTreeMap::new(),
        };
        let plain = |r: &&doc::S<doc::RouteDoc>| !is_nat_route(r) && !is_router_route(r);
        for t in &v.route_tables {
            let tname = &t.value.name.value;
            let routes = self.routes(t.value.routes.iter().filter(plain), &applied, &vname)?;
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
                step(
                    format!("creating route table `{tname}` of VPC `{vname}`"),
                    tname,
                ),
            )?;
            applied.tables.insert(tname.clone(), created.name);
        }
        if v.routes.iter().any(|r| plain(&r)) {
            let main = self.routes(v.routes.iter().filter(plain), &applied, &vname)?;
            let table = applied.main_route_table.clone();
            self.set_routes(&table, main, "main route table", &vname)?;
        }

        for s in &v.subnets {
            let s = &s.value;
            let sname = &s.name.value;
            let network_acl = match &s.acl {
                Some(a) => self.known(&acls, &a.value, || {
                    format!("subnet `{sname}`: no network ACL `{}`", a.value)
                })?,
                None => String::new(),
            };
            let route_table = match &s.route_table {
                Some(t) => self.known(&applied.tables, &t.value, || {
                    format!("subnet `{sname}`: no route table `{}`", t.value)
                })?,
                None => String::new(),
            };
            let created: pb::Subnet = self.run(
                Command::CreateSubnet(pb::CreateSubnetRequest {
                    parent: self.parent.clone(),
                    subnet: Some(pb::Subnet {
                        display_name: sname.clone(),
                        vpc: vpc.name.clone(),
                        cidr: s.cidr.value.clone(),
                        zone: s.zone.clone().unwrap_or_default(),
                        network_acl,
                        route_table,
                        ..Default::default()
                    }),
                    subnet_id: s.id.clone().unwrap_or_default(),
                }),
                step(format!("creating subnet `{sname}` of VPC `{vname}`"), sname),
            )?;
            self.subnets.insert(sname.clone(), created.name.clone());
            applied.subnets.insert(sname.clone(), created.name);
        }

        // NAT gateways once their subnets exist, then the routes through them (each table
        // gets its whole list again).
        for n in &v.nat_gateways {
            let n = &n.value;
            let nname = &n.name.value;
            let subnet = self.known(&applied.subnets, &n.subnet.value, || {
                format!("NAT gateway `{nname}`: no subnet `{}`", n.subnet.value)
            })?;
            let created: pb::NatGateway = self.run(
                Command::CreateNatGateway(pb::CreateNatGatewayRequest {
                    parent: self.parent.clone(),
                    nat_gateway: Some(pb::NatGateway {
                        display_name: nname.clone(),
                        subnet,
                        private_ip: text(n.ip.as_ref()),
                        elastic_ip: text(n.eip.as_ref()),
                        ..Default::default()
                    }),
                    nat_gateway_id: n.id.clone().unwrap_or_default(),
                    network_interface_id: n.eni_id.clone().unwrap_or_default(),
                }),
                step(
                    format!("creating NAT gateway `{nname}` of VPC `{vname}`"),
                    nname,
                ),
            )?;
            self.nat_enis
                .entry(nname.clone())
                .or_default()
                .push(created.network_interface);
            applied.nats.insert(nname.clone(), created.name);
        }
        let unrouted = |r: &&doc::S<doc::RouteDoc>| !is_router_route(r);
        for t in v
            .route_tables
            .iter()
            .filter(|t| t.value.routes.iter().any(is_nat_route))
        {
            let tname = &t.value.name.value;
            let all = self.routes(t.value.routes.iter().filter(unrouted), &applied, &vname)?;
            let table = applied.tables[tname].clone();
            self.set_routes(&table, all, &format!("route table `{tname}`"), &vname)?;
        }
        if v.routes.iter().any(is_nat_route) {
            let all = self.routes(v.routes.iter().filter(unrouted), &applied, &vname)?;
            let table = applied.main_route_table.clone();
            self.set_routes(&table, all, "main route table", &vname)?;
        }

        // This VPC's interfaces by name and by address (a DNAT rule may name one either way).
        let mut enis: BTreeMap<String, String> = BTreeMap::new();
        let mut eni_ips: BTreeMap<String, String> = BTreeMap::new();
        for e in &v.enis {
            let e = &e.value;
            let ename = &e.name.value;
            let subnet = self.known(&applied.subnets, &e.subnet.value, || {
                format!("ENI `{ename}`: no subnet `{}`", e.subnet.value)
            })?;
            let security_groups = e
                .security_groups
                .iter()
                .map(|g| {
                    self.known(&groups, &g.value, || {
                        format!("ENI `{ename}`: no security group `{}`", g.value)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (listen_tcp, listen_udp) = listen(&e.listen);
            let created: pb::NetworkInterface = self.run(
                Command::CreateNetworkInterface(pb::CreateNetworkInterfaceRequest {
                    parent: self.parent.clone(),
                    network_interface: Some(pb::NetworkInterface {
                        display_name: ename.clone(),
                        subnet,
                        private_ip: text(e.ip.as_ref()),
                        elastic_ip: text(e.eip.as_ref()),
                        security_groups,
                        instance_id: e.instance_id.clone().unwrap_or_default(),
                        instance_type: e.instance_type.clone().unwrap_or_default(),
                        listen_tcp,
                        listen_udp,
                        auto_reply: Some(e.auto_reply),
                        ..Default::default()
                    }),
                    network_interface_id: e.id.clone().unwrap_or_default(),
                }),
                step(
                    format!("creating network interface `{ename}` of VPC `{vname}`"),
                    ename,
                ),
            )?;
            eni_ips.insert(created.private_ip.clone(), created.name.clone());
            enis.insert(ename.clone(), created.name.clone());
            self.enis.insert(ename.clone(), created.name);
        }
        // DNAT rules name interfaces: set once they exist.
        for n in v.nat_gateways.iter().filter(|n| !n.value.dnat.is_empty()) {
            let nname = &n.value.name.value;
            let mut dnat_rules = Vec::new();
            for r in &n.value.dnat {
                let r = &r.value;
                let to = &r.to.value;
                let by = if to.parse::<std::net::Ipv4Addr>().is_ok() {
                    &eni_ips
                } else {
                    &enis
                };
                let to = self.known(by, to, || {
                    format!(
                        "NAT gateway `{nname}`: a DNAT rule forwards to `{to}`, no interface of VPC `{vname}`"
                    )
                })?;
                dnat_rules.push(pb::DnatRule {
                    protocol: r.protocol.value.to_ascii_lowercase(),
                    port: r.port.into(),
                    to,
                    to_port: r.to_port.into(),
                });
            }
            let k = dnat_rules.len();
            self.run::<pb::NatGateway>(
                Command::UpdateNatGateway(pb::UpdateNatGatewayRequest {
                    nat_gateway: Some(pb::NatGateway {
                        name: applied.nats[nname].clone(),
                        dnat_rules,
                        ..Default::default()
                    }),
                    update_mask: mask("dnat_rules"),
                }),
                step(
                    format!("setting the DNAT rules of NAT gateway `{nname}` of VPC `{vname}`"),
                    format!("{nname}: {}", plural(k, "DNAT rule")),
                ),
            )?;
        }
        self.vpcs.insert(vname, applied);
        Ok(())
    }

    fn sg_rules(
        &self,
        rules: &[doc::S<doc::SgRuleDoc>],
        groups: &BTreeMap<String, String>,
    ) -> Result<Vec<pb::SecurityGroupRule>, E::Error> {
        let mut out = Vec::new();
        for r in rules {
            let r = &r.value;
            let remote = match &r.remote.value {
                doc::RemoteDoc::Cidr(c) => pb::security_group_rule::Remote::Cidr(c.clone()),
                doc::RemoteDoc::Group { group } => pb::security_group_rule::Remote::SecurityGroup(
                    self.known(groups, group, || format!("no security group `{group}`"))?,
                ),
            };
            let Some(direction) = direction(&r.direction.value) else {
                return self.refuse(format!("unknown direction `{}`", r.direction.value));
            };
            let action = match &r.action {
                None => pb::RuleAction::Allow as i32,
                Some(a) => match action(&a.value) {
                    Some(a) => a,
                    None => return self.refuse(format!("unknown action `{}`", a.value)),
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

    fn acl_entries(&self, a: &doc::AclDoc) -> Result<Vec<pb::NetworkAclEntry>, E::Error> {
        let ingress = a.ingress.iter().map(|e| (pb::Direction::Ingress, e));
        let egress = a.egress.iter().map(|e| (pb::Direction::Egress, e));
        let mut out = Vec::new();
        for (dir, e) in ingress.chain(egress) {
            let e = &e.value;
            let Ok(number) = u32::try_from(e.rule.value) else {
                return self.refuse(format!("bad rule number {}", e.rule.value));
            };
            let Some(action) = action(&e.action.value) else {
                return self.refuse(format!("unknown action `{}`", e.action.value));
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
        Ok(out)
    }

    /// A VPC's routes as the API takes them: its internet gateway, NAT gateways and the
    /// routers created so far are named by their resource names.
    fn routes<'a>(
        &self,
        routes: impl IntoIterator<Item = &'a doc::S<doc::RouteDoc>>,
        vpc: &AppliedVpc,
        vname: &str,
    ) -> Result<Vec<pb::Route>, E::Error> {
        let mut out = Vec::new();
        for r in routes {
            let r = &r.value;
            let target = match r.target.value.as_str() {
                "internet_gateway" | "igw" if !vpc.igw.is_empty() => {
                    pb::route::Target::InternetGateway(vpc.igw.clone())
                }
                "blackhole" => pb::route::Target::Blackhole(true),
                "nat_gateway" | "nat" => {
                    let n = r.nat_gateway.as_ref().map_or("", |n| n.value.as_str());
                    pb::route::Target::NatGateway(self.known(&vpc.nats, n, || {
                        format!("VPC `{vname}`: no NAT gateway `{n}`")
                    })?)
                }
                "router" => {
                    let n = r.router.as_ref().map_or("", |n| n.value.as_str());
                    pb::route::Target::EnterpriseRouter(self.known(&self.routers, n, || {
                        format!("VPC `{vname}`: no enterprise router `{n}`")
                    })?)
                }
                o => {
                    return self.refuse(format!(
                        "VPC `{vname}`: route target `{o}` cannot be applied"
                    ));
                }
            };
            out.push(pb::Route {
                destination: r.destination.value.clone(),
                target: Some(target),
            });
        }
        Ok(out)
    }

    /// Replaces a route table's routes (all but `local`).
    fn set_routes(
        &mut self,
        table: &str,
        routes: Vec<pb::Route>,
        what: &str,
        vname: &str,
    ) -> Result<(), E::Error> {
        let n = routes.len();
        self.run::<pb::RouteTable>(
            Command::UpdateRouteTable(pb::UpdateRouteTableRequest {
                route_table: Some(pb::RouteTable {
                    name: table.to_string(),
                    routes,
                    ..Default::default()
                }),
                update_mask: mask("routes"),
            }),
            step(
                format!("setting the routes of the {what} of VPC `{vname}`"),
                format!("{what} of {vname}: {}", plural(n, "route")),
            ),
        )?;
        Ok(())
    }

    /// The VPCs' routes to routers, now that the routers exist (each table gets its whole
    /// list again).
    fn routes_to_routers(&mut self, v: &doc::VpcDoc) -> Result<(), E::Error> {
        let vname = &v.name.value;
        let a = self.vpcs.remove(vname).expect("every VPC was applied");
        let result = (|| {
            for t in v
                .route_tables
                .iter()
                .filter(|t| t.value.routes.iter().any(is_router_route))
            {
                let tname = &t.value.name.value;
                let all = self.routes(&t.value.routes, &a, vname)?;
                self.set_routes(
                    &a.tables[tname],
                    all,
                    &format!("route table `{tname}`"),
                    vname,
                )?;
            }
            if v.routes.iter().any(is_router_route) {
                let all = self.routes(&v.routes, &a, vname)?;
                self.set_routes(&a.main_route_table, all, "main route table", vname)?;
            }
            Ok(())
        })();
        self.vpcs.insert(vname.clone(), a);
        result
    }

    fn router_table(&self, router: &str, table: &str) -> Result<String, E::Error> {
        match self
            .router_tables
            .get(&(router.to_string(), table.to_string()))
        {
            Some(t) => Ok(t.clone()),
            None => self.refuse(format!(
                "enterprise router `{router}`: no route table `{table}`"
            )),
        }
    }

    /// Enterprise routers with their route tables and attachments (associations and
    /// propagations with them), then the peerings, then every static route (they may name a
    /// peering's attachment).
    fn routers(&mut self, d: &doc::Scenario) -> Result<(), E::Error> {
        for r in &d.enterprise_routers {
            self.router(&r.value)?;
        }
        for p in &d.router_peerings {
            self.peering(&p.value)?;
        }
        for r in &d.enterprise_routers {
            self.router_routes(&r.value)?;
        }
        Ok(())
    }

    fn router(&mut self, r: &doc::RouterDoc) -> Result<(), E::Error> {
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
            step(format!("creating enterprise router `{rname}`"), rname),
        )?;
        for t in &r.route_tables {
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
                ),
            )?;
            self.router_tables
                .insert((rname.clone(), tname.clone()), created.name);
        }
        for a in &r.attachments {
            let a = &a.value;
            let aname = &a.name.value;
            let kind_name = a.kind.as_ref().map_or("vpc", |k| k.value.as_str());
            let Some(kind) = attachment_kind(kind_name) else {
                return self.refuse(format!("unknown attachment kind `{kind_name}`"));
            };
            let route_table = match &a.route_table {
                Some(t) => self.router_table(rname, &t.value)?,
                None => String::new(),
            };
            let propagates_to = a
                .propagate
                .iter()
                .map(|t| self.router_table(rname, &t.value))
                .collect::<Result<Vec<_>, _>>()?;
            let mut att = pb::RouterAttachment {
                display_name: aname.clone(),
                enterprise_router: er.name.clone(),
                kind: kind as i32,
                route_table,
                propagates_to,
                ..Default::default()
            };
            if kind == pb::AttachmentKind::Vpc {
                let vname = a.vpc.as_ref().map_or("", |v| v.value.as_str());
                let Some(v) = self.vpcs.get(vname) else {
                    return self.refuse(format!(
                        "attachment `{aname}` of router `{rname}`: no VPC `{vname}`"
                    ));
                };
                att.resource = v.name.clone();
                let mut interfaces = Vec::new();
                for f in &a.interfaces {
                    let f = &f.value;
                    let subnet = self.known(&v.subnets, &f.subnet.value, || {
                        format!(
                            "attachment `{aname}` of router `{rname}`: no subnet `{}` in VPC `{vname}`",
                            f.subnet.value
                        )
                    })?;
                    interfaces.push(pb::RouterAttachmentInterface {
                        subnet,
                        private_ip: text(f.ip.as_ref()),
                        network_interface_id: f.eni_id.clone().unwrap_or_default(),
                    });
                }
                att.interfaces = interfaces;
            } else {
                // `load`'s default gateway id.
                att.resource = a
                    .gateway
                    .clone()
                    .unwrap_or_else(|| format!("{kind_name}-{aname}"));
                att.networks = a.networks.iter().map(|n| n.value.clone()).collect();
            }
            let created: pb::RouterAttachment = self.run(
                Command::CreateRouterAttachment(pb::CreateRouterAttachmentRequest {
                    parent: self.parent.clone(),
                    router_attachment: Some(att),
                    router_attachment_id: a.id.clone().unwrap_or_default(),
                    peer_attachment_id: String::new(),
                }),
                step(
                    format!("creating attachment `{aname}` of enterprise router `{rname}`"),
                    format!("{aname} of {rname}"),
                ),
            )?;
            self.attachments
                .insert((rname.clone(), aname.clone()), created.name);
        }
        self.routers.insert(rname.clone(), er.name);
        Ok(())
    }

    /// A peering of two routers: one request makes both sides; the second side's route
    /// table is set on its own.
    fn peering(&mut self, p: &doc::PeeringDoc) -> Result<(), E::Error> {
        let pname = &p.name.value;
        let [ra, rb] = [&p.routers[0].value, &p.routers[1].value];
        let router = |r: &str| {
            self.known(&self.routers, r, || {
                format!("router peering `{pname}`: no enterprise router `{r}`")
            })
        };
        let (a, b) = (router(ra)?, router(rb)?);
        let (ta, tb) = match &p.route_tables {
            Some([ta, tb]) => (
                self.router_table(ra, &ta.value)?,
                self.router_table(rb, &tb.value)?,
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
            ),
        )?;
        if !tb.is_empty() {
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
                ),
            )?;
        }
        self.attachments
            .insert((ra.clone(), pname.clone()), created.name);
        self.attachments
            .insert((rb.clone(), pname.clone()), created.peer_attachment);
        Ok(())
    }

    fn router_routes(&mut self, r: &doc::RouterDoc) -> Result<(), E::Error> {
        let rname = &r.name.value;
        for t in r.route_tables.iter().filter(|t| !t.value.routes.is_empty()) {
            let tname = &t.value.name.value;
            let mut routes = Vec::new();
            for rt in &t.value.routes {
                let rt = &rt.value;
                let target = match &rt.attachment {
                    Some(a) => match self.attachments.get(&(rname.clone(), a.value.clone())) {
                        Some(att) => pb::router_route::Target::Attachment(att.clone()),
                        None => {
                            return self.refuse(format!(
                                "route table `{tname}` of router `{rname}`: no attachment `{}`",
                                a.value
                            ));
                        }
                    },
                    None => pb::router_route::Target::Blackhole(true),
                };
                routes.push(pb::RouterRoute {
                    destination: rt.destination.value.clone(),
                    target: Some(target),
                });
            }
            let n = routes.len();
            let name = self.router_table(rname, tname)?;
            self.run::<pb::RouterRouteTable>(
                Command::UpdateRouterRouteTable(pb::UpdateRouterRouteTableRequest {
                    router_route_table: Some(pb::RouterRouteTable {
                        name,
                        routes,
                        ..Default::default()
                    }),
                    update_mask: mask("routes"),
                }),
                step(
                    format!(
                        "adding the routes of route table `{tname}` of enterprise router `{rname}`"
                    ),
                    format!("{tname} of {rname}: {}", plural(n, "route")),
                ),
            )?;
        }
        Ok(())
    }

    fn external_host(&mut self, h: &doc::ExternalDoc) -> Result<(), E::Error> {
        let hname = &h.name.value;
        let (listen_tcp, listen_udp) = listen(&h.listen);
        let site = match &h.site {
            None => String::new(),
            Some(site) => {
                let site = &site.value;
                match self
                    .attachments
                    .get(&(site.router.clone(), site.attachment.clone()))
                {
                    Some(a) => a.clone(),
                    None => {
                        return self.refuse(format!(
                            "external host `{hname}`: no attachment `{}` on a router named `{}`",
                            site.attachment, site.router
                        ));
                    }
                }
            }
        };
        self.run::<pb::ExternalHost>(
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
            step(format!("creating external host `{hname}`"), hname),
        )?;
        Ok(())
    }

    /// A Cloud Connect Network with its VPCs and region-pair limits.
    fn ccn(&mut self, x: &doc::CcnDoc) -> Result<(), E::Error> {
        let cname = &x.name.value;
        let mut vpcs = Vec::new();
        for v in &x.vpcs {
            match self.vpcs.get(&v.value) {
                Some(a) => vpcs.push(a.name.clone()),
                None => return self.refuse(format!("CCN `{cname}`: no VPC `{}`", v.value)),
            }
        }
        let mut limits = Vec::new();
        for l in &x.bandwidth_limits {
            let l = &l.value;
            let [a, b] = l.regions.as_slice() else {
                return self.refuse(format!(
                    "CCN `{cname}`: a bandwidth limit names two regions"
                ));
            };
            limits.push(pb::CcnBandwidthLimit {
                region_a: a.value.clone(),
                region_b: b.value.clone(),
                bits_per_second: l.bandwidth.value,
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
            step(format!("creating CCN `{cname}`"), cname),
        )?;
        self.ccns.insert(cname.clone(), created.name);
        Ok(())
    }

    /// The resource a flow log captures, by the file's names.
    fn captured(&self, f: &doc::FlowLogDoc) -> Result<String, E::Error> {
        let fname = &f.name.value;
        let r = &f.resource.value;
        if let Some(ccn) = &r.ccn {
            return self.known(&self.ccns, ccn, || {
                format!("flow log `{fname}`: no CCN `{ccn}`")
            });
        }
        if let (Some(n), None, None, None) = (&r.nat_gateway, &r.eni, &r.subnet, &r.vpc) {
            // A NAT gateway flow log: the gateway's interface.
            return match self.nat_enis.get(n).map(Vec::as_slice) {
                Some([eni]) => Ok(eni.clone()),
                Some([_, _, ..]) => self.refuse(format!(
                    "flow log `{fname}`: `{n}` names NAT gateways in several VPCs"
                )),
                _ => self.refuse(format!("flow log `{fname}`: no NAT gateway `{n}`")),
            };
        }
        if let (Some(router), Some(att)) = (&r.router, &r.attachment) {
            // A router flow log: an attachment of a router (a peering's side by its name).
            return match self.attachments.get(&(router.clone(), att.clone())) {
                Some(a) => Ok(a.clone()),
                None => self.refuse(format!(
                    "flow log `{fname}`: no attachment `{att}` on a router named `{router}`"
                )),
            };
        }
        let vpcs: BTreeMap<String, String>;
        let (map, key, what) = match (&r.eni, &r.subnet, &r.vpc) {
            (Some(e), None, None) => (&self.enis, e, "ENI"),
            (None, Some(s), None) => (&self.subnets, s, "subnet"),
            (None, None, Some(v)) => {
                vpcs = self
                    .vpcs
                    .iter()
                    .map(|(k, a)| (k.clone(), a.name.clone()))
                    .collect();
                (&vpcs, v, "VPC")
            }
            _ => {
                return self.refuse(format!(
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
                return self.refuse(format!("flow log `{fname}`: unknown traffic filter `{o}`"));
            }
        };
        let window_seconds = match &f.window {
            Some(w) => match u32::try_from(w.value) {
                Ok(s) => s,
                Err(_) => return self.refuse(format!("flow log `{fname}`: window too large")),
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

        fn refuse(&self, message: String) -> String {
            message
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
