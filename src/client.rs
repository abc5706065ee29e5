//! `vpclab apply` and `vpclab export`: a scenario's topology and flow logs created on a running
//! server over gRPC, and a server's state written back as a scenario file.
//!
//! apply: the file is checked by `load` first (same errors, exit 2, nothing sent), then every
//! resource is created in dependency order with the file's ids where it pins them. The first
//! refusal stops it (exit 1) with the gRPC code, message and field violations.
//!
//! export: every collection is listed (all pages) and written as scenario YAML with every id
//! pinned, so applying it to a fresh server and exporting again gives the same bytes. What the
//! scenario format cannot say (the default group's rules, log streams, flow-log formats, ...)
//! is named in a note on stderr and in a comment of the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use pb::ccn_service_client::CcnServiceClient;
use pb::log_service_client::LogServiceClient;
use pb::network_service_client::NetworkServiceClient;
use pb::router_service_client::RouterServiceClient;
use pb::simulation_service_client::SimulationServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use vpclab_controlplane::api::pb;
use vpclab_controlplane::doc;

/// The log group and stream `apply` delivers flow logs to.
const LOG_GROUP: &str = "vpclab";
const LOG_STREAM: &str = "flow-logs";

/// Why a command stopped: bad input (exit 2) or a server that refused or was unreachable
/// (exit 1).
enum Failure {
    Input(String),
    Server(String),
}

impl Failure {
    fn exit(self) -> ExitCode {
        match self {
            Failure::Input(m) => crate::fail(crate::BAD_INPUT, &m),
            Failure::Server(m) => crate::fail(1, &m),
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Server(format!("cannot start the async runtime: {e}")))
}

// ----- the connection -----

struct Client {
    project: String,
    /// The cloud the project simulates.
    provider: String,
    auth: Option<MetadataValue<Ascii>>,
    net: NetworkServiceClient<Channel>,
    logs: LogServiceClient<Channel>,
    sim: SimulationServiceClient<Channel>,
    routers: RouterServiceClient<Channel>,
    ccns: CcnServiceClient<Channel>,
}

/// An error and its causes, one after the other (tonic's transport errors say little alone).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cause = c.source();
    }
    s
}

impl Client {
    async fn connect(server: &str, token: Option<&str>) -> Result<Client, Failure> {
        let url = if server.contains("://") {
            server.to_string()
        } else {
            format!("http://{server}")
        };
        let auth = token
            .map(|t| {
                format!("Bearer {t}")
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| Failure::Input("--token: a token is printable ASCII".into()))
            })
            .transpose()?;
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| Failure::Input(format!("--server `{server}`: not a server address: {e}")))?
            .connect_timeout(Duration::from_secs(10));
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| Failure::Server(format!("cannot connect to {url}: {}", chain(&e))))?;
        let mut c = Client {
            project: String::new(),
            provider: String::new(),
            auth,
            net: NetworkServiceClient::new(channel.clone()),
            logs: LogServiceClient::new(channel.clone()),
            sim: SimulationServiceClient::new(channel.clone()),
            routers: RouterServiceClient::new(channel.clone()),
            ccns: CcnServiceClient::new(channel),
        };
        // The token decides the project; the server says which, and which cloud it is.
        let r = c.req(pb::GetProjectRequest {
            name: "projects/-".into(),
        });
        let p = c
            .sim
            .get_project(r)
            .await
            .map_err(server_err("asking the server for the caller's project"))?
            .into_inner();
        c.project = p.name.trim_start_matches("projects/").to_string();
        c.provider = p.provider;
        Ok(c)
    }

    /// A request with the bearer token, when there is one.
    fn req<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        if let Some(a) = &self.auth {
            r.metadata_mut().insert("authorization", a.clone());
        }
        r
    }

    fn parent(&self) -> String {
        format!("projects/{}", self.project)
    }
}

/// Every page of a List call.
macro_rules! list_all {
    ($c:expr, $svc:ident . $method:ident, $field:ident, $what:expr, $req:expr) => {{
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut r = $req;
            r.page_size = 1000;
            r.page_token = token.clone();
            let r = $c.req(r);
            let page = $c
                .$svc
                .$method(r)
                .await
                .map_err(server_err($what))?
                .into_inner();
            out.extend(page.$field);
            if page.next_page_token.is_empty() || page.next_page_token == token {
                break;
            }
            token = page.next_page_token;
        }
        out
    }};
}

// ----- errors from the server -----

/// The canonical name of a gRPC code (`INVALID_ARGUMENT`).
fn code_name(c: Code) -> &'static str {
    match c {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A refusal in words: what was being done, the code, the message, and the google.rpc
/// details (field violations, blocking resources, quotas).
fn describe(what: &str, s: &Status) -> String {
    let mut m = format!("{what}: {}: {}", code_name(s.code()), s.message());
    for d in details(s) {
        m.push_str("\n  ");
        m.push_str(&d);
    }
    match s.code() {
        Code::PermissionDenied => {
            m.push_str("\n  the resource belongs to another project than the token's")
        }
        Code::Unauthenticated => {
            m.push_str("\n  the server needs a bearer token: pass --token or set VPCLAB_TOKEN")
        }
        _ => {}
    }
    m
}

fn server_err(what: impl Into<String>) -> impl FnOnce(Status) -> Failure {
    let what = what.into();
    move |s| Failure::Server(describe(&what, &s))
}

/// The google.rpc details of a status, one line each: `field vpc.cidr: …`,
/// `precondition IN_USE projects/…`, `quota …`.
fn details(s: &Status) -> Vec<String> {
    use tonic_types::StatusExt;
    let d = s.get_error_details();
    let mut out = Vec::new();
    if let Some(b) = d.bad_request() {
        for v in &b.field_violations {
            out.push(format!("field {}: {}", v.field, v.description));
        }
    }
    if let Some(p) = d.precondition_failure() {
        for v in p.violations.iter().filter(|v| !v.subject.is_empty()) {
            out.push(format!("precondition {} {}", v.r#type, v.subject));
        }
    }
    if let Some(q) = d.quota_failure() {
        for v in &q.violations {
            out.push(format!("quota {}: {}", v.subject, v.description));
        }
    }
    out
}

// ----- apply -----

pub fn apply(file: &Path, server: &str, token: Option<&str>) -> ExitCode {
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return crate::fail(crate::BAD_INPUT, &format!("{shown}: cannot read: {e}")),
    };
    // The same checks as `vpclab check`: a bad file is refused before anything is sent.
    if let Err(e) =
        vpclab_controlplane::load(&shown, &text, &vpclab_controlplane::Options::default())
    {
        return crate::fail(crate::BAD_INPUT, &e.to_string());
    }
    let scenario: doc::Scenario = match serde_saphyr::from_str(&text) {
        Ok(s) => s,
        Err(e) => return crate::fail(crate::BAD_INPUT, &format!("{shown}: {e}")),
    };
    for n in apply_notes(&scenario) {
        crate::output::warn(format_args!("vpclab: note: {n}"));
    }
    let result = runtime().and_then(|rt| rt.block_on(apply_scenario(&scenario, server, token)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}

/// What of the file `apply` leaves out.
fn apply_notes(d: &doc::Scenario) -> Vec<String> {
    let mut notes = Vec::new();
    let mut skipped = Vec::new();
    if !d.traffic.is_empty() {
        skipped.push("traffic");
    }
    if d.until.is_some() {
        skipped.push("until");
    }
    if !d.expect.is_empty() {
        skipped.push("expect");
    }
    if d.output.is_some() {
        skipped.push("output");
    }
    if !skipped.is_empty() {
        notes.push(format!(
            "the scenario's {} {} not applied: apply creates the topology and flow logs only",
            skipped.join(", "),
            if skipped.len() == 1 { "is" } else { "are" }
        ));
    }
    let pinned: Vec<&str> = [
        ("account", d.account.is_some()),
        // With CCNs the file's region is its VPCs' (`apply_scenario`).
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

fn direction(s: &str) -> Result<i32, Failure> {
    match s {
        "ingress" | "inbound" | "in" => Ok(pb::Direction::Ingress as i32),
        "egress" | "outbound" | "out" => Ok(pb::Direction::Egress as i32),
        o => Err(Failure::Input(format!("unknown direction `{o}`"))),
    }
}

fn action(s: &str) -> Result<i32, Failure> {
    match s {
        "allow" | "accept" => Ok(pb::RuleAction::Allow as i32),
        "deny" | "drop" | "reject" => Ok(pb::RuleAction::Deny as i32),
        o => Err(Failure::Input(format!("unknown action `{o}`"))),
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

fn sg_rules(
    rules: &[doc::S<doc::SgRuleDoc>],
    groups: &BTreeMap<String, String>,
) -> Result<Vec<pb::SecurityGroupRule>, Failure> {
    rules
        .iter()
        .map(|r| {
            let r = &r.value;
            let remote = match &r.remote.value {
                doc::RemoteDoc::Cidr(c) => pb::security_group_rule::Remote::Cidr(c.clone()),
                doc::RemoteDoc::Group { group } => pb::security_group_rule::Remote::SecurityGroup(
                    groups
                        .get(group)
                        .cloned()
                        .ok_or_else(|| Failure::Input(format!("no security group `{group}`")))?,
                ),
            };
            Ok(pb::SecurityGroupRule {
                direction: direction(&r.direction.value)?,
                action: match &r.action {
                    Some(a) => action(&a.value)?,
                    None => pb::RuleAction::Allow as i32,
                },
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
            })
        })
        .collect()
}

fn acl_entries(a: &doc::AclDoc) -> Result<Vec<pb::NetworkAclEntry>, Failure> {
    let ingress = a.ingress.iter().map(|e| (pb::Direction::Ingress, e));
    let egress = a.egress.iter().map(|e| (pb::Direction::Egress, e));
    ingress
        .chain(egress)
        .map(|(dir, e)| {
            let e = &e.value;
            Ok(pb::NetworkAclEntry {
                number: u32::try_from(e.rule.value)
                    .map_err(|_| Failure::Input(format!("bad rule number {}", e.rule.value)))?,
                direction: dir as i32,
                action: action(&e.action.value)?,
                protocol: protocol(&e.protocol.value),
                ports: ports(e.ports.as_ref()),
                source_ports: ports(e.source_ports.as_ref()),
                icmp_type: byte(e.icmp_type.as_ref()),
                icmp_code: byte(e.icmp_code.as_ref()),
                cidr: e.cidr.value.clone(),
                description: e.description.clone().unwrap_or_default(),
            })
        })
        .collect()
}

/// Does a route go through a NAT gateway? (Those are created once the gateways exist, which
/// need subnets, which name route tables: `load`'s order.)
fn is_nat_route(r: &doc::S<doc::RouteDoc>) -> bool {
    matches!(r.value.target.value.as_str(), "nat_gateway" | "nat")
}

/// Does a route go to an enterprise router? (Those are created once the routers and the VPC's
/// attachment exist, after every VPC: `load`'s order.)
fn is_router_route(r: &doc::S<doc::RouteDoc>) -> bool {
    r.value.target.value == "router"
}

/// A VPC's routes as the API takes them; `nats` maps the VPC's NAT gateways' names to their
/// resource names, `routers` the enterprise routers' names to theirs.
fn routes<'a>(
    routes: impl IntoIterator<Item = &'a doc::S<doc::RouteDoc>>,
    igw: &str,
    nats: &BTreeMap<String, String>,
    routers: &BTreeMap<String, String>,
    vpc: &str,
) -> Result<Vec<pb::Route>, Failure> {
    routes
        .into_iter()
        .map(|r| {
            let target = match r.value.target.value.as_str() {
                "internet_gateway" | "igw" if !igw.is_empty() => {
                    pb::route::Target::InternetGateway(igw.to_string())
                }
                "blackhole" => pb::route::Target::Blackhole(true),
                "nat_gateway" | "nat" => {
                    let n = r
                        .value
                        .nat_gateway
                        .as_ref()
                        .map_or("", |n| n.value.as_str());
                    pb::route::Target::NatGateway(nats.get(n).cloned().ok_or_else(|| {
                        Failure::Input(format!("VPC `{vpc}`: no NAT gateway `{n}`"))
                    })?)
                }
                "router" => {
                    let n = r.value.router.as_ref().map_or("", |n| n.value.as_str());
                    pb::route::Target::EnterpriseRouter(routers.get(n).cloned().ok_or_else(
                        || Failure::Input(format!("VPC `{vpc}`: no enterprise router `{n}`")),
                    )?)
                }
                o => {
                    return Err(Failure::Input(format!(
                        "VPC `{vpc}`: route target `{o}` cannot be applied"
                    )));
                }
            };
            Ok(pb::Route {
                destination: r.value.destination.value.clone(),
                target: Some(target),
            })
        })
        .collect()
}

fn listen(l: &doc::ListenDoc) -> (Vec<u32>, Vec<u32>) {
    (
        l.tcp.iter().map(|&p| u32::from(p)).collect(),
        l.udp.iter().map(|&p| u32::from(p)).collect(),
    )
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

async fn apply_scenario(
    d: &doc::Scenario,
    server: &str,
    token: Option<&str>,
) -> Result<(), Failure> {
    let mut c = Client::connect(server, token).await?;
    let parent = c.parent();
    let mut vpcs: BTreeMap<String, String> = BTreeMap::new();
    let mut subnets_by_name: BTreeMap<String, String> = BTreeMap::new();
    let mut enis: BTreeMap<String, String> = BTreeMap::new();
    // NAT gateways' interfaces by the gateways' names (a flow log may capture one).
    let mut nat_enis: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // What the routes to routers need once the routers exist, per VPC.
    let mut applied: BTreeMap<String, AppliedVpc> = BTreeMap::new();
    let none = BTreeMap::new();

    for v in &d.vpcs {
        let v = &v.value;
        let vname = v.name.value.clone();
        // A VPC without a region is in the scenario's; where CCNs join regions the file's
        // region is the VPC's, elsewhere the server's project has its own.
        let region = match (&v.region, &d.region) {
            (Some(r), _) => r.value.clone(),
            (None, Some(r)) if !d.ccns.is_empty() => r.clone(),
            _ => String::new(),
        };
        let r = c.req(pb::CreateVpcRequest {
            parent: parent.clone(),
            vpc: Some(pb::Vpc {
                display_name: vname.clone(),
                cidr: v.cidr.value.clone(),
                region,
                ..Default::default()
            }),
            vpc_id: v.id.clone().unwrap_or_default(),
        });
        let vpc = c
            .net
            .create_vpc(r)
            .await
            .map_err(server_err(format!("creating VPC `{vname}`")))?
            .into_inner();
        crate::output::say!("created {} ({vname})", vpc.name);
        vpcs.insert(vname.clone(), vpc.name.clone());

        let igw_id = match v.internet_gateway.as_ref().map(|g| &g.value) {
            None | Some(doc::IgwDoc::Enabled(false)) => None,
            Some(doc::IgwDoc::Enabled(true)) => Some(String::new()),
            Some(doc::IgwDoc::WithId { id }) => Some(id.clone()),
        };
        let mut igw = String::new();
        if let Some(id) = igw_id {
            let r = c.req(pb::CreateInternetGatewayRequest {
                parent: parent.clone(),
                internet_gateway: Some(pb::InternetGateway {
                    vpc: vpc.name.clone(),
                    ..Default::default()
                }),
                internet_gateway_id: id,
            });
            let g = c
                .net
                .create_internet_gateway(r)
                .await
                .map_err(server_err(format!(
                    "creating the internet gateway of VPC `{vname}`"
                )))?
                .into_inner();
            crate::output::say!("created {} (internet gateway of {vname})", g.name);
            igw = g.name;
        }

        // Every group first, with no rules, so rules can reference any group of the VPC.
        let mut groups: BTreeMap<String, String> = BTreeMap::new();
        for g in &v.security_groups {
            let g = &g.value;
            let gname = &g.name.value;
            let r = c.req(pb::CreateSecurityGroupRequest {
                parent: parent.clone(),
                security_group: Some(pb::SecurityGroup {
                    display_name: gname.clone(),
                    vpc: vpc.name.clone(),
                    ..Default::default()
                }),
                security_group_id: g.id.clone().unwrap_or_default(),
            });
            let created = c
                .net
                .create_security_group(r)
                .await
                .map_err(server_err(format!(
                    "creating security group `{gname}` of VPC `{vname}`"
                )))?
                .into_inner();
            crate::output::say!("created {} ({gname})", created.name);
            groups.insert(gname.clone(), created.name);
        }
        for g in &v.security_groups {
            let g = &g.value;
            if g.rules.is_empty() {
                continue;
            }
            let gname = &g.name.value;
            let rules = sg_rules(&g.rules, &groups)?;
            let n = rules.len();
            let r = c.req(pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    name: groups[gname].clone(),
                    rules,
                    ..Default::default()
                }),
                update_mask: mask("rules"),
            });
            let updated = c
                .net
                .update_security_group(r)
                .await
                .map_err(server_err(format!(
                    "setting the rules of security group `{gname}` of VPC `{vname}`"
                )))?
                .into_inner();
            crate::output::say!("updated {} ({gname}: {})", updated.name, plural(n, "rule"));
        }

        let mut acls: BTreeMap<String, String> = BTreeMap::new();
        for a in &v.network_acls {
            let a = &a.value;
            let aname = &a.name.value;
            let r = c.req(pb::CreateNetworkAclRequest {
                parent: parent.clone(),
                network_acl: Some(pb::NetworkAcl {
                    display_name: aname.clone(),
                    vpc: vpc.name.clone(),
                    entries: acl_entries(a)?,
                    ..Default::default()
                }),
                network_acl_id: a.id.clone().unwrap_or_default(),
            });
            let created = c
                .net
                .create_network_acl(r)
                .await
                .map_err(server_err(format!(
                    "creating network ACL `{aname}` of VPC `{vname}`"
                )))?
                .into_inner();
            crate::output::say!("created {} ({aname})", created.name);
            acls.insert(aname.clone(), created.name);
        }

        let mut tables: BTreeMap<String, String> = BTreeMap::new();
        for t in &v.route_tables {
            let t = &t.value;
            let tname = &t.name.value;
            let r = c.req(pb::CreateRouteTableRequest {
                parent: parent.clone(),
                route_table: Some(pb::RouteTable {
                    display_name: tname.clone(),
                    vpc: vpc.name.clone(),
                    routes: routes(
                        t.routes
                            .iter()
                            .filter(|r| !is_nat_route(r) && !is_router_route(r)),
                        &igw,
                        &none,
                        &none,
                        &vname,
                    )?,
                    ..Default::default()
                }),
                route_table_id: t.id.clone().unwrap_or_default(),
            });
            let created = c
                .net
                .create_route_table(r)
                .await
                .map_err(server_err(format!(
                    "creating route table `{tname}` of VPC `{vname}`"
                )))?
                .into_inner();
            crate::output::say!("created {} ({tname})", created.name);
            tables.insert(tname.clone(), created.name);
        }
        if v.routes
            .iter()
            .any(|r| !is_nat_route(r) && !is_router_route(r))
        {
            let main = routes(
                v.routes
                    .iter()
                    .filter(|r| !is_nat_route(r) && !is_router_route(r)),
                &igw,
                &none,
                &none,
                &vname,
            )?;
            set_routes(
                &mut c,
                &vpc.main_route_table,
                main,
                "main route table",
                &vname,
            )
            .await?;
        }

        let mut subnets: BTreeMap<String, String> = BTreeMap::new();
        for s in &v.subnets {
            let s = &s.value;
            let sname = &s.name.value;
            let lookup =
                |map: &BTreeMap<String, String>, n: Option<&doc::S<String>>, what: &str| {
                    n.map(|n| {
                        map.get(&n.value).cloned().ok_or_else(|| {
                            Failure::Input(format!("subnet `{sname}`: no {what} `{}`", n.value))
                        })
                    })
                    .transpose()
                    .map(Option::unwrap_or_default)
                };
            let network_acl = lookup(&acls, s.acl.as_ref(), "network ACL")?;
            let route_table = lookup(&tables, s.route_table.as_ref(), "route table")?;
            let r = c.req(pb::CreateSubnetRequest {
                parent: parent.clone(),
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
            });
            let created = c
                .net
                .create_subnet(r)
                .await
                .map_err(server_err(format!(
                    "creating subnet `{sname}` of VPC `{vname}`"
                )))?
                .into_inner();
            crate::output::say!("created {} ({sname})", created.name);
            subnets_by_name.insert(sname.clone(), created.name.clone());
            subnets.insert(sname.clone(), created.name);
        }

        // NAT gateways once their subnets exist, then the routes through them (each table
        // gets its whole list again).
        let mut nats: BTreeMap<String, String> = BTreeMap::new();
        for n in &v.nat_gateways {
            let n = &n.value;
            let nname = &n.name.value;
            let subnet = subnets.get(&n.subnet.value).cloned().ok_or_else(|| {
                Failure::Input(format!(
                    "NAT gateway `{nname}`: no subnet `{}`",
                    n.subnet.value
                ))
            })?;
            let r = c.req(pb::CreateNatGatewayRequest {
                parent: parent.clone(),
                nat_gateway: Some(pb::NatGateway {
                    display_name: nname.clone(),
                    subnet,
                    private_ip: n.ip.as_ref().map(|s| s.value.clone()).unwrap_or_default(),
                    elastic_ip: n.eip.as_ref().map(|s| s.value.clone()).unwrap_or_default(),
                    ..Default::default()
                }),
                nat_gateway_id: n.id.clone().unwrap_or_default(),
                network_interface_id: n.eni_id.clone().unwrap_or_default(),
            });
            let created = c
                .net
                .create_nat_gateway(r)
                .await
                .map_err(server_err(format!(
                    "creating NAT gateway `{nname}` of VPC `{vname}`"
                )))?
                .into_inner();
            crate::output::say!("created {} ({nname})", created.name);
            nat_enis
                .entry(nname.clone())
                .or_default()
                .push(created.network_interface);
            nats.insert(nname.clone(), created.name);
        }
        for t in &v.route_tables {
            let t = &t.value;
            if t.routes.iter().any(is_nat_route) {
                let all = routes(
                    t.routes.iter().filter(|r| !is_router_route(r)),
                    &igw,
                    &nats,
                    &none,
                    &vname,
                )?;
                let what = format!("route table `{}`", t.name.value);
                set_routes(&mut c, &tables[&t.name.value], all, &what, &vname).await?;
            }
        }
        if v.routes.iter().any(is_nat_route) {
            let all = routes(
                v.routes.iter().filter(|r| !is_router_route(r)),
                &igw,
                &nats,
                &none,
                &vname,
            )?;
            set_routes(
                &mut c,
                &vpc.main_route_table,
                all,
                "main route table",
                &vname,
            )
            .await?;
        }

        // This VPC's interfaces by address (a DNAT rule may name one so).
        let mut eni_ips: BTreeMap<String, String> = BTreeMap::new();
        for e in &v.enis {
            let e = &e.value;
            let ename = &e.name.value;
            let subnet = subnets.get(&e.subnet.value).cloned().ok_or_else(|| {
                Failure::Input(format!("ENI `{ename}`: no subnet `{}`", e.subnet.value))
            })?;
            let security_groups = e
                .security_groups
                .iter()
                .map(|g| {
                    groups.get(&g.value).cloned().ok_or_else(|| {
                        Failure::Input(format!("ENI `{ename}`: no security group `{}`", g.value))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (listen_tcp, listen_udp) = listen(&e.listen);
            let r = c.req(pb::CreateNetworkInterfaceRequest {
                parent: parent.clone(),
                network_interface: Some(pb::NetworkInterface {
                    display_name: ename.clone(),
                    subnet,
                    private_ip: e.ip.as_ref().map(|s| s.value.clone()).unwrap_or_default(),
                    elastic_ip: e.eip.as_ref().map(|s| s.value.clone()).unwrap_or_default(),
                    security_groups,
                    instance_id: e.instance_id.clone().unwrap_or_default(),
                    instance_type: e.instance_type.clone().unwrap_or_default(),
                    listen_tcp,
                    listen_udp,
                    auto_reply: Some(e.auto_reply),
                    ..Default::default()
                }),
                network_interface_id: e.id.clone().unwrap_or_default(),
            });
            let created = c
                .net
                .create_network_interface(r)
                .await
                .map_err(server_err(format!(
                    "creating network interface `{ename}` of VPC `{vname}`"
                )))?
                .into_inner();
            crate::output::say!("created {} ({ename})", created.name);
            eni_ips.insert(created.private_ip.clone(), created.name.clone());
            enis.insert(ename.clone(), created.name);
        }
        // DNAT rules name interfaces: set once they exist.
        for n in &v.nat_gateways {
            let n = &n.value;
            if n.dnat.is_empty() {
                continue;
            }
            let nname = &n.name.value;
            let dnat_rules = n
                .dnat
                .iter()
                .map(|r| {
                    let r = &r.value;
                    let to = &r.to.value;
                    let eni = if to.parse::<std::net::Ipv4Addr>().is_ok() {
                        eni_ips.get(to)
                    } else {
                        enis.get(to)
                    };
                    let to = eni.cloned().ok_or_else(|| {
                        Failure::Input(format!(
                            "NAT gateway `{nname}`: a DNAT rule forwards to `{to}`, no interface of VPC `{vname}`"
                        ))
                    })?;
                    Ok(pb::DnatRule {
                        protocol: r.protocol.value.to_ascii_lowercase(),
                        port: r.port.into(),
                        to,
                        to_port: r.to_port.into(),
                    })
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            let k = dnat_rules.len();
            let r = c.req(pb::UpdateNatGatewayRequest {
                nat_gateway: Some(pb::NatGateway {
                    name: nats[nname].clone(),
                    dnat_rules,
                    ..Default::default()
                }),
                update_mask: mask("dnat_rules"),
            });
            let updated = c
                .net
                .update_nat_gateway(r)
                .await
                .map_err(server_err(format!(
                    "setting the DNAT rules of NAT gateway `{nname}` of VPC `{vname}`"
                )))?
                .into_inner();
            crate::output::say!(
                "updated {} ({nname}: {})",
                updated.name,
                plural(k, "DNAT rule")
            );
        }
        applied.insert(
            vname.clone(),
            AppliedVpc {
                name: vpc.name.clone(),
                main_route_table: vpc.main_route_table.clone(),
                igw,
                tables,
                nats,
                subnets,
            },
        );
    }

    // Enterprise routers, peerings, their static routes, then the VPCs' routes to them.
    let attachments = apply_routers(&mut c, d, &applied).await?;
    let routers: BTreeMap<String, String> = attachments
        .routers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for v in &d.vpcs {
        let v = &v.value;
        let vname = &v.name.value;
        let a = &applied[vname];
        for t in &v.route_tables {
            let t = &t.value;
            if t.routes.iter().any(is_router_route) {
                let all = routes(&t.routes, &a.igw, &a.nats, &routers, vname)?;
                let what = format!("route table `{}`", t.name.value);
                set_routes(&mut c, &a.tables[&t.name.value], all, &what, vname).await?;
            }
        }
        if v.routes.iter().any(is_router_route) {
            let all = routes(&v.routes, &a.igw, &a.nats, &routers, vname)?;
            set_routes(&mut c, &a.main_route_table, all, "main route table", vname).await?;
        }
    }

    for h in &d.external_hosts {
        let h = &h.value;
        let hname = &h.name.value;
        let (listen_tcp, listen_udp) = listen(&h.listen);
        let site = match &h.site {
            None => String::new(),
            Some(site) => {
                let site = &site.value;
                attachments
                    .attachments
                    .get(&(site.router.clone(), site.attachment.clone()))
                    .cloned()
                    .ok_or_else(|| {
                        Failure::Input(format!(
                            "external host `{hname}`: no attachment `{}` on a router named `{}`",
                            site.attachment, site.router
                        ))
                    })?
            }
        };
        let r = c.req(pb::CreateExternalHostRequest {
            parent: parent.clone(),
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
        });
        let created = c
            .sim
            .create_external_host(r)
            .await
            .map_err(server_err(format!("creating external host `{hname}`")))?
            .into_inner();
        crate::output::say!("created {} ({hname})", created.name);
    }

    let ccns = apply_ccns(&mut c, d, &vpcs).await?;

    if d.flow_logs.is_empty() {
        return Ok(());
    }
    let stream = log_stream(&mut c).await?;
    for f in &d.flow_logs {
        let f = &f.value;
        let fname = &f.name.value;
        let r = &f.resource.value;
        let resource = if let Some(ccn) = &r.ccn {
            ccns.get(ccn)
                .cloned()
                .ok_or_else(|| Failure::Input(format!("flow log `{fname}`: no CCN `{ccn}`")))?
        } else if let (Some(n), None, None, None) = (&r.nat_gateway, &r.eni, &r.subnet, &r.vpc) {
            // A NAT gateway flow log: the gateway's interface.
            match nat_enis.get(n).map(Vec::as_slice) {
                Some([eni]) => eni.clone(),
                Some([_, _, ..]) => {
                    return Err(Failure::Input(format!(
                        "flow log `{fname}`: `{n}` names NAT gateways in several VPCs"
                    )));
                }
                _ => {
                    return Err(Failure::Input(format!(
                        "flow log `{fname}`: no NAT gateway `{n}`"
                    )));
                }
            }
        } else if let (Some(router), Some(att)) = (&r.router, &r.attachment) {
            // A router flow log: an attachment of a router (a peering's side by its name).
            let key = (router.clone(), att.clone());
            attachments.attachments.get(&key).cloned().ok_or_else(|| {
                Failure::Input(format!(
                    "flow log `{fname}`: no attachment `{att}` on a router named `{router}`"
                ))
            })?
        } else {
            let (map, key, what) = match (&r.eni, &r.subnet, &r.vpc) {
                (Some(e), None, None) => (&enis, e, "ENI"),
                (None, Some(s), None) => (&subnets_by_name, s, "subnet"),
                (None, None, Some(v)) => (&vpcs, v, "VPC"),
                _ => {
                    return Err(Failure::Input(format!(
                        "flow log `{fname}`: give exactly one of eni, subnet, vpc or router and attachment"
                    )));
                }
            };
            map.get(key)
                .cloned()
                .ok_or_else(|| Failure::Input(format!("flow log `{fname}`: no {what} `{key}`")))?
        };
        let traffic = match f.traffic.as_ref().map(|t| t.value.as_str()) {
            None | Some("all") => pb::TrafficFilter::All,
            Some("accepted" | "accept") => pb::TrafficFilter::Accepted,
            Some("rejected" | "reject") => pb::TrafficFilter::Rejected,
            Some(o) => {
                return Err(Failure::Input(format!(
                    "flow log `{fname}`: unknown traffic filter `{o}`"
                )));
            }
        };
        let window_seconds = match &f.window {
            Some(w) => u32::try_from(w.value)
                .map_err(|_| Failure::Input(format!("flow log `{fname}`: window too large")))?,
            None => 0,
        };
        let r = c.req(pb::CreateFlowLogRequest {
            parent: parent.clone(),
            flow_log: Some(pb::FlowLog {
                display_name: fname.clone(),
                resource,
                traffic: traffic as i32,
                window_seconds,
                log_stream: stream.clone(),
                ..Default::default()
            }),
            flow_log_id: f.id.clone().unwrap_or_default(),
        });
        let created = c
            .logs
            .create_flow_log(r)
            .await
            .map_err(server_err(format!("creating flow log `{fname}`")))?
            .into_inner();
        crate::output::say!("created {} ({fname})", created.name);
    }
    Ok(())
}

/// Creates the scenario's Cloud Connect Networks with their VPCs and region-pair limits;
/// returns CCN name → resource name.
async fn apply_ccns(
    c: &mut Client,
    d: &doc::Scenario,
    vpcs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Failure> {
    let parent = c.parent();
    let mut out = BTreeMap::new();
    for x in &d.ccns {
        let x = &x.value;
        let cname = &x.name.value;
        let attached = x
            .vpcs
            .iter()
            .map(|v| {
                vpcs.get(&v.value)
                    .cloned()
                    .ok_or_else(|| Failure::Input(format!("CCN `{cname}`: no VPC `{}`", v.value)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut limits = Vec::new();
        for l in &x.bandwidth_limits {
            let l = &l.value;
            let [a, b] = l.regions.as_slice() else {
                return Err(Failure::Input(format!(
                    "CCN `{cname}`: a bandwidth limit names two regions"
                )));
            };
            limits.push(pb::CcnBandwidthLimit {
                region_a: a.value.clone(),
                region_b: b.value.clone(),
                bits_per_second: l.bandwidth.value,
            });
        }
        let r = c.req(pb::CreateCloudConnectNetworkRequest {
            parent: parent.clone(),
            cloud_connect_network: Some(pb::CloudConnectNetwork {
                display_name: cname.clone(),
                vpcs: attached,
                bandwidth_limits: limits,
                ..Default::default()
            }),
            cloud_connect_network_id: x.id.clone().unwrap_or_default(),
        });
        let created = c
            .ccns
            .create_cloud_connect_network(r)
            .await
            .map_err(server_err(format!("creating CCN `{cname}`")))?
            .into_inner();
        crate::output::say!("created {} ({cname})", created.name);
        out.insert(cname.clone(), created.name);
    }
    Ok(out)
}

/// What `apply` created for one VPC that later steps refer to (by the file's names).
struct AppliedVpc {
    name: String,
    main_route_table: String,
    igw: String,
    tables: BTreeMap<String, String>,
    nats: BTreeMap<String, String>,
    subnets: BTreeMap<String, String>,
}

/// The routers `apply` created: router name → resource name; (router, attachment) → resource
/// name (a peering's two sides under each router's name).
#[derive(Default)]
struct AppliedRouters {
    routers: BTreeMap<String, String>,
    attachments: BTreeMap<(String, String), String>,
}

fn attachment_kind(k: &str) -> Result<pb::AttachmentKind, Failure> {
    Ok(match k {
        "vpc" => pb::AttachmentKind::Vpc,
        "vpn_gateway" => pb::AttachmentKind::VpnGateway,
        "virtual_gateway" => pb::AttachmentKind::VirtualGateway,
        "peering_connection" => pb::AttachmentKind::PeeringConnection,
        "global_dc_gateway" => pb::AttachmentKind::GlobalDcGateway,
        o => return Err(Failure::Input(format!("unknown attachment kind `{o}`"))),
    })
}

/// Enterprise routers with their route tables and attachments (associations and
/// propagations with them), then the peerings, then every static route (they may name a
/// peering's attachment): `load`'s order.
async fn apply_routers(
    c: &mut Client,
    d: &doc::Scenario,
    vpcs: &BTreeMap<String, AppliedVpc>,
) -> Result<AppliedRouters, Failure> {
    let parent = c.parent();
    let mut out = AppliedRouters::default();
    let mut tables: BTreeMap<(String, String), String> = BTreeMap::new();
    let table_of = |tables: &BTreeMap<(String, String), String>, router: &str, t: &str| {
        tables
            .get(&(router.to_string(), t.to_string()))
            .cloned()
            .ok_or_else(|| {
                Failure::Input(format!(
                    "enterprise router `{router}`: no route table `{t}`"
                ))
            })
    };
    for r in &d.enterprise_routers {
        let r = &r.value;
        let rname = &r.name.value;
        let req = c.req(pb::CreateEnterpriseRouterRequest {
            parent: parent.clone(),
            enterprise_router: Some(pb::EnterpriseRouter {
                display_name: rname.clone(),
                asn: r.asn.unwrap_or(0),
                region: r.region.clone().unwrap_or_default(),
                ..Default::default()
            }),
            enterprise_router_id: r.id.clone().unwrap_or_default(),
        });
        let er = c
            .routers
            .create_enterprise_router(req)
            .await
            .map_err(server_err(format!("creating enterprise router `{rname}`")))?
            .into_inner();
        crate::output::say!("created {} ({rname})", er.name);
        for t in &r.route_tables {
            let t = &t.value;
            let tname = &t.name.value;
            let req = c.req(pb::CreateRouterRouteTableRequest {
                parent: parent.clone(),
                router_route_table: Some(pb::RouterRouteTable {
                    display_name: tname.clone(),
                    enterprise_router: er.name.clone(),
                    ..Default::default()
                }),
                router_route_table_id: t.id.clone().unwrap_or_default(),
            });
            let created = c
                .routers
                .create_router_route_table(req)
                .await
                .map_err(server_err(format!(
                    "creating route table `{tname}` of enterprise router `{rname}`"
                )))?
                .into_inner();
            crate::output::say!("created {} ({tname})", created.name);
            tables.insert((rname.clone(), tname.clone()), created.name);
        }
        for a in &r.attachments {
            let a = &a.value;
            let aname = &a.name.value;
            let kind_name = a.kind.as_ref().map_or("vpc", |k| k.value.as_str());
            let kind = attachment_kind(kind_name)?;
            let route_table = a
                .route_table
                .as_ref()
                .map(|t| table_of(&tables, rname, &t.value))
                .transpose()?
                .unwrap_or_default();
            let propagates_to = a
                .propagate
                .iter()
                .map(|t| table_of(&tables, rname, &t.value))
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
                let v = vpcs.get(vname).ok_or_else(|| {
                    Failure::Input(format!(
                        "attachment `{aname}` of router `{rname}`: no VPC `{vname}`"
                    ))
                })?;
                att.resource = v.name.clone();
                att.interfaces = a
                    .interfaces
                    .iter()
                    .map(|f| {
                        let f = &f.value;
                        let subnet = v.subnets.get(&f.subnet.value).cloned().ok_or_else(|| {
                            Failure::Input(format!(
                                "attachment `{aname}` of router `{rname}`: no subnet `{}` in VPC `{vname}`",
                                f.subnet.value
                            ))
                        })?;
                        Ok(pb::RouterAttachmentInterface {
                            subnet,
                            private_ip: f.ip.as_ref().map(|s| s.value.clone()).unwrap_or_default(),
                            network_interface_id: f.eni_id.clone().unwrap_or_default(),
                        })
                    })
                    .collect::<Result<Vec<_>, Failure>>()?;
            } else {
                // `load`'s default gateway id.
                att.resource = a
                    .gateway
                    .clone()
                    .unwrap_or_else(|| format!("{kind_name}-{aname}"));
                att.networks = a.networks.iter().map(|n| n.value.clone()).collect();
            }
            let req = c.req(pb::CreateRouterAttachmentRequest {
                parent: parent.clone(),
                router_attachment: Some(att),
                router_attachment_id: a.id.clone().unwrap_or_default(),
                peer_attachment_id: String::new(),
            });
            let created = c
                .routers
                .create_router_attachment(req)
                .await
                .map_err(server_err(format!(
                    "creating attachment `{aname}` of enterprise router `{rname}`"
                )))?
                .into_inner();
            crate::output::say!("created {} ({aname} of {rname})", created.name);
            out.attachments
                .insert((rname.clone(), aname.clone()), created.name);
        }
        out.routers.insert(rname.clone(), er.name);
    }

    for p in &d.router_peerings {
        let p = &p.value;
        let pname = &p.name.value;
        let [ra, rb] = [&p.routers[0].value, &p.routers[1].value];
        let router = |r: &str| {
            out.routers.get(r).cloned().ok_or_else(|| {
                Failure::Input(format!(
                    "router peering `{pname}`: no enterprise router `{r}`"
                ))
            })
        };
        let (a, b) = (router(ra)?, router(rb)?);
        let (ta, tb) = match &p.route_tables {
            Some([ta, tb]) => (
                table_of(&tables, ra, &ta.value)?,
                table_of(&tables, rb, &tb.value)?,
            ),
            None => (String::new(), String::new()),
        };
        let req = c.req(pb::CreateRouterAttachmentRequest {
            parent: parent.clone(),
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
        });
        let created = c
            .routers
            .create_router_attachment(req)
            .await
            .map_err(server_err(format!(
                "creating router peering `{pname}` ({ra}, {rb})"
            )))?
            .into_inner();
        crate::output::say!(
            "created {} and {} (peering {pname} of {ra} and {rb})",
            created.name,
            created.peer_attachment
        );
        if !tb.is_empty() {
            let req = c.req(pb::UpdateRouterAttachmentRequest {
                router_attachment: Some(pb::RouterAttachment {
                    name: created.peer_attachment.clone(),
                    route_table: tb,
                    ..Default::default()
                }),
                update_mask: mask("route_table"),
            });
            c.routers
                .update_router_attachment(req)
                .await
                .map_err(server_err(format!(
                    "associating router peering `{pname}` on `{rb}` with its route table"
                )))?;
        }
        out.attachments
            .insert((ra.clone(), pname.clone()), created.name.clone());
        out.attachments
            .insert((rb.clone(), pname.clone()), created.peer_attachment);
    }

    for r in &d.enterprise_routers {
        let r = &r.value;
        let rname = &r.name.value;
        for t in r.route_tables.iter().filter(|t| !t.value.routes.is_empty()) {
            let t = &t.value;
            let tname = &t.name.value;
            let routes = t
                .routes
                .iter()
                .map(|rt| {
                    let rt = &rt.value;
                    let target = match &rt.attachment {
                        Some(a) => pb::router_route::Target::Attachment(
                            out.attachments
                                .get(&(rname.clone(), a.value.clone()))
                                .cloned()
                                .ok_or_else(|| {
                                    Failure::Input(format!(
                                        "route table `{tname}` of router `{rname}`: no attachment `{}`",
                                        a.value
                                    ))
                                })?,
                        ),
                        None => pb::router_route::Target::Blackhole(true),
                    };
                    Ok(pb::RouterRoute {
                        destination: rt.destination.value.clone(),
                        target: Some(target),
                    })
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            let n = routes.len();
            let req = c.req(pb::UpdateRouterRouteTableRequest {
                router_route_table: Some(pb::RouterRouteTable {
                    name: table_of(&tables, rname, tname)?,
                    routes,
                    ..Default::default()
                }),
                update_mask: mask("routes"),
            });
            let updated = c
                .routers
                .update_router_route_table(req)
                .await
                .map_err(server_err(format!(
                    "adding the routes of route table `{tname}` of enterprise router `{rname}`"
                )))?
                .into_inner();
            crate::output::say!(
                "updated {} ({tname} of {rname}: {})",
                updated.name,
                plural(n, "route")
            );
        }
    }
    Ok(out)
}

/// Replaces a route table's routes (all but `local`).
async fn set_routes(
    c: &mut Client,
    table: &str,
    routes: Vec<pb::Route>,
    what: &str,
    vpc: &str,
) -> Result<(), Failure> {
    let n = routes.len();
    let r = c.req(pb::UpdateRouteTableRequest {
        route_table: Some(pb::RouteTable {
            name: table.to_string(),
            routes,
            ..Default::default()
        }),
        update_mask: mask("routes"),
    });
    let updated = c
        .net
        .update_route_table(r)
        .await
        .map_err(server_err(format!(
            "setting the routes of the {what} of VPC `{vpc}`"
        )))?
        .into_inner();
    crate::output::say!(
        "updated {} ({what} of {vpc}: {})",
        updated.name,
        plural(n, "route")
    );
    Ok(())
}

async fn find_log_group(c: &mut Client) -> Result<Option<String>, Failure> {
    let parent = c.parent();
    let groups = list_all!(
        c,
        logs.list_log_groups,
        log_groups,
        "listing log groups",
        pb::ListLogGroupsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    Ok(groups
        .into_iter()
        .find(|g| g.display_name == LOG_GROUP)
        .map(|g| g.name))
}

async fn find_log_stream(c: &mut Client, group: &str) -> Result<Option<String>, Failure> {
    let parent = c.parent();
    let streams = list_all!(
        c,
        logs.list_log_streams,
        log_streams,
        "listing log streams",
        pb::ListLogStreamsRequest {
            parent: parent.clone(),
            log_group: group.to_string(),
            ..Default::default()
        }
    );
    Ok(streams
        .into_iter()
        .find(|s| s.display_name == LOG_STREAM)
        .map(|s| s.name))
}

/// The stream flow logs deliver to: `vpclab/flow-logs`, created unless a previous apply did.
async fn log_stream(c: &mut Client) -> Result<String, Failure> {
    let parent = c.parent();
    let group = match find_log_group(c).await? {
        Some(g) => g,
        None => {
            let r = c.req(pb::CreateLogGroupRequest {
                parent: parent.clone(),
                log_group: Some(pb::LogGroup {
                    display_name: LOG_GROUP.into(),
                    ..Default::default()
                }),
                log_group_id: String::new(),
            });
            match c.logs.create_log_group(r).await {
                Ok(g) => {
                    let g = g.into_inner();
                    crate::output::say!("created {} ({LOG_GROUP})", g.name);
                    g.name
                }
                // Created meanwhile by someone else.
                Err(s) if s.code() == Code::AlreadyExists => find_log_group(c)
                    .await?
                    .ok_or_else(|| server_err(format!("creating log group `{LOG_GROUP}`"))(s))?,
                Err(s) => return Err(server_err(format!("creating log group `{LOG_GROUP}`"))(s)),
            }
        }
    };
    if let Some(s) = find_log_stream(c, &group).await? {
        return Ok(s);
    }
    let r = c.req(pb::CreateLogStreamRequest {
        parent,
        log_stream: Some(pb::LogStream {
            display_name: LOG_STREAM.into(),
            log_group: group.clone(),
            ..Default::default()
        }),
        log_stream_id: String::new(),
    });
    let what = format!("creating log stream `{LOG_STREAM}` in log group `{LOG_GROUP}`");
    match c.logs.create_log_stream(r).await {
        Ok(s) => {
            let s = s.into_inner();
            crate::output::say!("created {} ({LOG_GROUP}/{LOG_STREAM})", s.name);
            Ok(s.name)
        }
        Err(s) if s.code() == Code::AlreadyExists => find_log_stream(c, &group)
            .await?
            .ok_or_else(|| server_err(what)(s)),
        Err(s) => Err(server_err(what)(s)),
    }
}

// ----- export -----

pub fn export(server: &str, token: Option<&str>, output: Option<&Path>) -> ExitCode {
    let state = match runtime().and_then(|rt| rt.block_on(read_state(server, token))) {
        Ok(s) => s,
        Err(f) => return f.exit(),
    };
    let (text, notes) = match render(&state) {
        Ok(r) => r,
        Err(e) => return crate::fail(1, &e),
    };
    for n in &notes {
        crate::output::warn(format_args!("vpclab: note: {n}"));
    }
    match output {
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => crate::fail(1, &format!("{}: cannot write: {e}", p.display())),
        },
        None => crate::output::to_stdout(|w| {
            w.write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// Everything of a project that a scenario can say, as the server lists it.
#[derive(Default)]
struct State {
    project: String,
    /// The cloud the project simulates.
    provider: String,
    /// The virtual clock, Unix seconds.
    now: i64,
    vpcs: Vec<pb::Vpc>,
    subnets: Vec<pb::Subnet>,
    groups: Vec<pb::SecurityGroup>,
    acls: Vec<pb::NetworkAcl>,
    tables: Vec<pb::RouteTable>,
    enis: Vec<pb::NetworkInterface>,
    nats: Vec<pb::NatGateway>,
    hosts: Vec<pb::ExternalHost>,
    flow_logs: Vec<pb::FlowLog>,
    log_groups: Vec<pb::LogGroup>,
    log_streams: Vec<pb::LogStream>,
    routers: Vec<pb::EnterpriseRouter>,
    router_tables: Vec<pb::RouterRouteTable>,
    attachments: Vec<pb::RouterAttachment>,
    ccns: Vec<pb::CloudConnectNetwork>,
}

async fn read_state(server: &str, token: Option<&str>) -> Result<State, Failure> {
    let mut c = Client::connect(server, token).await?;
    let parent = c.parent();
    let r = c.req(pb::GetClockRequest {
        parent: parent.clone(),
    });
    let clock = c
        .sim
        .get_clock(r)
        .await
        .map_err(server_err("reading the clock"))?
        .into_inner();
    let mut s = State {
        project: c.project.clone(),
        provider: c.provider.clone(),
        now: clock.now.map_or(0, |t| t.seconds),
        ..State::default()
    };
    s.vpcs = list_all!(
        c,
        net.list_vpcs,
        vpcs,
        "listing VPCs",
        pb::ListVpcsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.subnets = list_all!(
        c,
        net.list_subnets,
        subnets,
        "listing subnets",
        pb::ListSubnetsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.groups = list_all!(
        c,
        net.list_security_groups,
        security_groups,
        "listing security groups",
        pb::ListSecurityGroupsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.acls = list_all!(
        c,
        net.list_network_acls,
        network_acls,
        "listing network ACLs",
        pb::ListNetworkAclsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.tables = list_all!(
        c,
        net.list_route_tables,
        route_tables,
        "listing route tables",
        pb::ListRouteTablesRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.enis = list_all!(
        c,
        net.list_network_interfaces,
        network_interfaces,
        "listing network interfaces",
        pb::ListNetworkInterfacesRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.nats = list_all!(
        c,
        net.list_nat_gateways,
        nat_gateways,
        "listing NAT gateways",
        pb::ListNatGatewaysRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.hosts = list_all!(
        c,
        sim.list_external_hosts,
        external_hosts,
        "listing external hosts",
        pb::ListExternalHostsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.flow_logs = list_all!(
        c,
        logs.list_flow_logs,
        flow_logs,
        "listing flow logs",
        pb::ListFlowLogsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.log_groups = list_all!(
        c,
        logs.list_log_groups,
        log_groups,
        "listing log groups",
        pb::ListLogGroupsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.log_streams = list_all!(
        c,
        logs.list_log_streams,
        log_streams,
        "listing log streams",
        pb::ListLogStreamsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.routers = list_all!(
        c,
        routers.list_enterprise_routers,
        enterprise_routers,
        "listing enterprise routers",
        pb::ListEnterpriseRoutersRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.router_tables = list_all!(
        c,
        routers.list_router_route_tables,
        router_route_tables,
        "listing router route tables",
        pb::ListRouterRouteTablesRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.attachments = list_all!(
        c,
        routers.list_router_attachments,
        router_attachments,
        "listing router attachments",
        pb::ListRouterAttachmentsRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    s.ccns = list_all!(
        c,
        ccns.list_cloud_connect_networks,
        cloud_connect_networks,
        "listing Cloud Connect Networks",
        pb::ListCloudConnectNetworksRequest {
            parent: parent.clone(),
            ..Default::default()
        }
    );
    Ok(s)
}

/// The last segment of a resource name: the id.
fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A value of the written scenario: it was read from no file, so it has no position.
fn s<T>(value: T) -> doc::S<T> {
    doc::S::new(
        value,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

/// A resource's id, pinned in the scenario so that applying it gives the same names.
fn pinned_id(name: &str) -> Option<String> {
    Some(id_of(name).to_string())
}

/// An optional field the server reports as a string: empty when unset.
fn nonempty(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

/// A port as the server reports it. It keeps ports as u16, so every one fits.
fn port(p: u32) -> u16 {
    u16::try_from(p).unwrap_or(u16::MAX)
}

fn proto_doc(p: &str) -> doc::ProtoDoc {
    match p.parse() {
        Ok(n) => doc::ProtoDoc::Number(n),
        Err(_) => doc::ProtoDoc::Name(p.to_string()),
    }
}

fn ports_doc(p: &str) -> Option<doc::S<doc::PortsDoc>> {
    (!p.is_empty()).then(|| {
        s(match p.parse() {
            Ok(n) => doc::PortsDoc::Number(n),
            Err(_) => doc::PortsDoc::Text(p.to_string()),
        })
    })
}

fn action_doc(a: i32) -> doc::S<String> {
    s(match pb::RuleAction::try_from(a) {
        Ok(pb::RuleAction::Deny) => "deny",
        _ => "allow",
    }
    .to_string())
}

fn direction_is(d: i32, want: pb::Direction) -> bool {
    pb::Direction::try_from(d).ok() == Some(want)
}

fn listen_doc(tcp: &[u32], udp: &[u32]) -> doc::ListenDoc {
    doc::ListenDoc {
        tcp: tcp.iter().map(|&p| port(p)).collect(),
        udp: udp.iter().map(|&p| port(p)).collect(),
    }
}

fn acl_entry(e: &pb::NetworkAclEntry) -> doc::S<doc::AclEntryDoc> {
    s(doc::AclEntryDoc {
        rule: s(e.number.into()),
        action: action_doc(e.action),
        protocol: s(proto_doc(&e.protocol)),
        ports: ports_doc(&e.ports),
        source_ports: ports_doc(&e.source_ports),
        icmp_type: e.icmp_type.map(|t| s(t.into())),
        icmp_code: e.icmp_code.map(|c| s(c.into())),
        cidr: s(e.cidr.clone()),
        description: nonempty(&e.description),
    })
}

fn kind_of(a: &pb::RouterAttachment) -> Option<pb::AttachmentKind> {
    pb::AttachmentKind::try_from(a.kind).ok()
}

/// The default group as the VPC was created with it: inbound from itself, all outbound.
fn default_group_unchanged(g: &pb::SecurityGroup) -> bool {
    use pb::security_group_rule::Remote;
    let all = |r: &pb::SecurityGroupRule| {
        r.action != pb::RuleAction::Deny as i32
            && r.protocol == "all"
            && r.ports.is_empty()
            && r.priority <= 1
    };
    match g.rules.as_slice() {
        [a, b] => {
            all(a)
                && all(b)
                && direction_is(a.direction, pb::Direction::Ingress)
                && a.remote == Some(Remote::SecurityGroup(g.name.clone()))
                && direction_is(b.direction, pb::Direction::Egress)
                && b.remote == Some(Remote::Cidr("0.0.0.0/0".into()))
        }
        _ => false,
    }
}

/// aws's default ACL as created: rule 100 allows everything in and out.
fn default_acl_unchanged(a: &pb::NetworkAcl) -> bool {
    a.entries.len() == 2
        && a.entries.iter().all(|e| {
            e.number == 100
                && e.action != pb::RuleAction::Deny as i32
                && e.protocol == "all"
                && e.ports.is_empty()
                && e.source_ports.is_empty()
                && e.cidr == "0.0.0.0/0"
        })
}

/// A project's state made into a scenario, with notes on what the scenario cannot say.
struct Export<'a> {
    st: &'a State,
    /// Resource name → display name, across collections.
    names: BTreeMap<&'a str, &'a str>,
    /// NAT gateways' interfaces (→ the gateway's name) come with their gateways: not written
    /// as `enis`.
    nat_enis: BTreeMap<&'a str, &'a str>,
    /// Nor router attachments' interfaces (→ the attachment's name), which come with their
    /// attachments.
    attachment_enis: BTreeMap<&'a str, &'a str>,
    /// The VPCs' default security groups, which a scenario cannot name.
    default_groups: BTreeSet<&'a str>,
    notes: Vec<String>,
}

impl<'a> Export<'a> {
    fn new(st: &'a State) -> Self {
        let names = st
            .vpcs
            .iter()
            .map(|x| (&x.name, &x.display_name))
            .chain(st.subnets.iter().map(|x| (&x.name, &x.display_name)))
            .chain(st.groups.iter().map(|x| (&x.name, &x.display_name)))
            .chain(st.acls.iter().map(|x| (&x.name, &x.display_name)))
            .chain(st.tables.iter().map(|x| (&x.name, &x.display_name)))
            .chain(st.enis.iter().map(|x| (&x.name, &x.display_name)))
            .chain(st.nats.iter().map(|x| (&x.name, &x.display_name)))
            .chain(st.routers.iter().map(|x| (&x.name, &x.display_name)))
            .chain(st.router_tables.iter().map(|x| (&x.name, &x.display_name)))
            .chain(st.attachments.iter().map(|x| (&x.name, &x.display_name)))
            .chain(st.ccns.iter().map(|x| (&x.name, &x.display_name)))
            .map(|(name, display)| (name.as_str(), display.as_str()))
            .collect();
        let nat_enis = st
            .nats
            .iter()
            .map(|n| (n.network_interface.as_str(), n.display_name.as_str()))
            .collect();
        let attachment_enis = st
            .attachments
            .iter()
            .flat_map(|a| {
                a.network_interfaces
                    .iter()
                    .map(|e| (e.as_str(), a.display_name.as_str()))
            })
            .collect();
        let default_groups = st
            .vpcs
            .iter()
            .map(|v| v.default_security_group.as_str())
            .collect();
        Export {
            st,
            names,
            nat_enis,
            attachment_enis,
            default_groups,
            notes: Vec::new(),
        }
    }

    /// A resource's display name (its id if the project has no such resource any more).
    fn name(&self, resource: &str) -> String {
        self.names
            .get(resource)
            .copied()
            .unwrap_or_else(|| id_of(resource))
            .to_string()
    }

    fn scenario(&mut self) -> doc::Scenario {
        let st = self.st;
        // VPCs' regions are written where they matter: with CCNs, or VPCs of several regions.
        let with_regions = !st.ccns.is_empty()
            || st
                .vpcs
                .iter()
                .any(|v| st.vpcs.first().is_some_and(|f| f.region != v.region));
        doc::Scenario {
            name: Some(format!("export-{}", st.project)),
            description: None,
            source: None,
            provider: s(st.provider.clone()),
            seed: 0,
            // The virtual clock does not run before 1970.
            start: s(u64::try_from(st.now).unwrap_or_default()),
            account: None,
            region: None,
            vpcs: st
                .vpcs
                .iter()
                .map(|v| s(self.vpc(v, with_regions)))
                .collect(),
            external_hosts: self.external_hosts(),
            enterprise_routers: self.routers(),
            router_peerings: self.peerings(),
            ccns: self.ccns(),
            flow_logs: self.flow_logs(),
            output: None,
            traffic: Vec::new(),
            until: None,
            expect: Vec::new(),
            workload: None,
        }
    }

    fn vpc(&mut self, v: &pb::Vpc, with_regions: bool) -> doc::VpcDoc {
        let st = self.st;
        let routes = st
            .tables
            .iter()
            .find(|t| t.name == v.main_route_table)
            .map(|main| self.routes(&main.routes))
            .unwrap_or_default();
        let route_tables = st
            .tables
            .iter()
            .filter(|t| t.vpc == v.name && t.name != v.main_route_table)
            .map(|t| {
                s(doc::RouteTableDoc {
                    name: s(t.display_name.clone()),
                    id: pinned_id(&t.name),
                    routes: self.routes(&t.routes),
                })
            })
            .collect();
        doc::VpcDoc {
            name: s(v.display_name.clone()),
            id: pinned_id(&v.name),
            cidr: s(v.cidr.clone()),
            internet_gateway: (!v.internet_gateway.is_empty()).then(|| {
                s(doc::IgwDoc::WithId {
                    id: id_of(&v.internet_gateway).to_string(),
                })
            }),
            subnets: self.subnets(v),
            routes,
            route_tables,
            security_groups: self.security_groups(v),
            network_acls: self.network_acls(v),
            enis: self.enis(v),
            nat_gateways: self.nat_gateways(v),
            region: (with_regions && !v.region.is_empty()).then(|| s(v.region.clone())),
        }
    }

    /// Routes as a scenario writes them (the VPC's local route comes with its block).
    fn routes(&self, routes: &[pb::Route]) -> Vec<doc::S<doc::RouteDoc>> {
        use pb::route::Target;
        routes
            .iter()
            .filter_map(|r| {
                let (target, nat_gateway, router) = match &r.target {
                    Some(Target::InternetGateway(_)) => ("internet_gateway", None, None),
                    Some(Target::Blackhole(true)) => ("blackhole", None, None),
                    Some(Target::NatGateway(n)) => ("nat_gateway", Some(s(self.name(n))), None),
                    Some(Target::EnterpriseRouter(x)) => ("router", None, Some(s(self.name(x)))),
                    _ => return None,
                };
                Some(s(doc::RouteDoc {
                    destination: s(r.destination.clone()),
                    target: s(target.to_string()),
                    nat_gateway,
                    router,
                }))
            })
            .collect()
    }

    fn subnets(&mut self, v: &pb::Vpc) -> Vec<doc::S<doc::SubnetDoc>> {
        let st = self.st;
        let mut subnets = Vec::new();
        for x in st.subnets.iter().filter(|x| x.vpc == v.name) {
            if x.network_acl.is_empty() && !v.default_network_acl.is_empty() {
                self.notes.push(format!(
                    "subnet `{}` of VPC `{}` has no network ACL; on this cloud a scenario's subnet always has one: it gets the default ACL",
                    x.display_name, v.display_name
                ));
            }
            // The VPC's default ACL and main route table are what a subnet naming none gets.
            let acl = !x.network_acl.is_empty() && x.network_acl != v.default_network_acl;
            let table = !x.route_table.is_empty() && x.route_table != v.main_route_table;
            subnets.push(s(doc::SubnetDoc {
                name: s(x.display_name.clone()),
                id: pinned_id(&x.name),
                cidr: s(x.cidr.clone()),
                zone: nonempty(&x.zone),
                acl: acl.then(|| s(self.name(&x.network_acl))),
                route_table: table.then(|| s(self.name(&x.route_table))),
            }));
        }
        subnets
    }

    fn security_groups(&mut self, v: &pb::Vpc) -> Vec<doc::S<doc::SecurityGroupDoc>> {
        let st = self.st;
        let mut groups = Vec::new();
        for g in st.groups.iter().filter(|g| g.vpc == v.name) {
            if g.name == v.default_security_group {
                if !default_group_unchanged(g) {
                    self.notes.push(format!(
                        "VPC `{}`: the rules of its default security group were changed; a scenario cannot say so: left out",
                        v.display_name
                    ));
                }
                continue;
            }
            let rules = g
                .rules
                .iter()
                .filter_map(|r| self.security_group_rule(v, g, r))
                .collect();
            groups.push(s(doc::SecurityGroupDoc {
                name: s(g.display_name.clone()),
                id: pinned_id(&g.name),
                rules,
            }));
        }
        groups
    }

    /// A rule of group `g` of VPC `v`; `None` if a scenario cannot say it.
    fn security_group_rule(
        &mut self,
        v: &pb::Vpc,
        g: &pb::SecurityGroup,
        r: &pb::SecurityGroupRule,
    ) -> Option<doc::S<doc::SgRuleDoc>> {
        use pb::security_group_rule::Remote;
        let remote = match &r.remote {
            Some(Remote::Cidr(c)) => doc::RemoteDoc::Cidr(c.clone()),
            Some(Remote::SecurityGroup(other)) if self.default_groups.contains(other.as_str()) => {
                self.notes.push(format!(
                    "security group `{}` of VPC `{}`: a rule refers to the VPC's default group, which a scenario cannot name: rule left out",
                    g.display_name, v.display_name
                ));
                return None;
            }
            Some(Remote::SecurityGroup(other)) => doc::RemoteDoc::Group {
                group: self.name(other),
            },
            None => return None,
        };
        let direction = if direction_is(r.direction, pb::Direction::Egress) {
            "egress"
        } else {
            "ingress"
        };
        Some(s(doc::SgRuleDoc {
            direction: s(direction.to_string()),
            action: Some(action_doc(r.action)),
            priority: (r.priority > 1).then(|| s(r.priority.into())),
            protocol: s(proto_doc(&r.protocol)),
            ports: ports_doc(&r.ports),
            icmp_type: r.icmp_type.map(|t| s(t.into())),
            icmp_code: r.icmp_code.map(|c| s(c.into())),
            remote: s(remote),
            description: nonempty(&r.description),
        }))
    }

    fn network_acls(&mut self, v: &pb::Vpc) -> Vec<doc::S<doc::AclDoc>> {
        let st = self.st;
        let mut acls = Vec::new();
        for a in st.acls.iter().filter(|a| a.vpc == v.name) {
            if a.name == v.default_network_acl {
                if !default_acl_unchanged(a) {
                    self.notes.push(format!(
                        "VPC `{}`: the entries of its default network ACL were changed; a scenario cannot say so: left out",
                        v.display_name
                    ));
                }
                continue;
            }
            let entries = |direction| {
                a.entries
                    .iter()
                    .filter(|e| direction_is(e.direction, direction))
                    .map(acl_entry)
                    .collect()
            };
            acls.push(s(doc::AclDoc {
                name: s(a.display_name.clone()),
                id: pinned_id(&a.name),
                ingress: entries(pb::Direction::Ingress),
                egress: entries(pb::Direction::Egress),
            }));
        }
        acls
    }

    fn nat_gateways(&mut self, v: &pb::Vpc) -> Vec<doc::S<doc::NatGatewayDoc>> {
        let st = self.st;
        let mut nats = Vec::new();
        for n in st.nats.iter().filter(|n| n.vpc == v.name) {
            let mut dnat = Vec::new();
            for r in &n.dnat_rules {
                if r.to.is_empty() {
                    self.notes.push(format!(
                        "NAT gateway `{}` of VPC `{}` forwards {} port {} to an address no interface has any more: left out",
                        n.display_name, v.display_name, r.protocol, r.port
                    ));
                    continue;
                }
                dnat.push(s(doc::DnatDoc {
                    protocol: s(r.protocol.clone()),
                    port: port(r.port),
                    to: s(self.name(&r.to)),
                    to_port: port(r.to_port),
                }));
            }
            nats.push(s(doc::NatGatewayDoc {
                name: s(n.display_name.clone()),
                id: pinned_id(&n.name),
                subnet: s(self.name(&n.subnet)),
                eip: nonempty(&n.elastic_ip).map(s),
                ip: nonempty(&n.private_ip).map(s),
                eni_id: (!n.network_interface.is_empty())
                    .then(|| id_of(&n.network_interface).to_string()),
                dnat,
            }));
        }
        nats
    }

    fn enis(&mut self, v: &pb::Vpc) -> Vec<doc::S<doc::EniDoc>> {
        let st = self.st;
        let mut enis = Vec::new();
        for e in st.enis.iter().filter(|e| e.vpc == v.name) {
            let name = e.name.as_str();
            if self.nat_enis.contains_key(name) || self.attachment_enis.contains_key(name) {
                continue;
            }
            // An interface in its VPC's default group only is what a scenario's interface
            // without `security_groups` gets.
            let only_default =
                e.security_groups.len() == 1 && e.security_groups[0] == v.default_security_group;
            let groups: &[String] = if only_default {
                &[]
            } else {
                &e.security_groups
            };
            let mut security_groups = Vec::new();
            for g in groups {
                if self.default_groups.contains(g.as_str()) {
                    self.notes.push(format!(
                        "network interface `{}`: its VPC's default security group, one of several, cannot be named in a scenario: left out",
                        e.display_name
                    ));
                } else {
                    security_groups.push(s(self.name(g)));
                }
            }
            enis.push(s(doc::EniDoc {
                name: s(e.display_name.clone()),
                id: pinned_id(&e.name),
                subnet: s(self.name(&e.subnet)),
                ip: nonempty(&e.private_ip).map(s),
                eip: nonempty(&e.elastic_ip).map(s),
                security_groups,
                instance_id: nonempty(&e.instance_id),
                instance_type: nonempty(&e.instance_type),
                listen: listen_doc(&e.listen_tcp, &e.listen_udp),
                auto_reply: e.auto_reply != Some(false),
                // The API does not report an interface's bandwidth limit.
                bandwidth: None,
            }));
        }
        enis
    }

    /// The scenario's `enterprise_routers`: route tables with their static routes, and the
    /// attachments other than peerings with their associations and propagations.
    fn routers(&mut self) -> Vec<doc::S<doc::RouterDoc>> {
        let st = self.st;
        let mut routers = Vec::new();
        for r in &st.routers {
            let route_tables = st
                .router_tables
                .iter()
                .filter(|t| t.enterprise_router == r.name)
                .map(|t| s(self.router_table(r, t)))
                .collect();
            let attachments = st
                .attachments
                .iter()
                .filter(|a| a.enterprise_router == r.name)
                .filter_map(|a| self.attachment(a))
                .collect();
            routers.push(s(doc::RouterDoc {
                name: s(r.display_name.clone()),
                id: pinned_id(&r.name),
                // What a router without `asn` gets.
                asn: (r.asn != 0 && r.asn != vpclab_sim::router::DEFAULT_ASN).then_some(r.asn),
                region: nonempty(&r.region),
                route_tables,
                attachments,
            }));
        }
        routers
    }

    fn router_table(
        &mut self,
        r: &pb::EnterpriseRouter,
        t: &pb::RouterRouteTable,
    ) -> doc::RouterTableDoc {
        let st = self.st;
        let mut routes = Vec::new();
        for rt in &t.routes {
            let attachment = match &rt.target {
                Some(pb::router_route::Target::Attachment(a))
                    if st.attachments.iter().any(|x| &x.name == a) =>
                {
                    Some(s(self.name(a)))
                }
                Some(pb::router_route::Target::Attachment(a)) => {
                    self.notes.push(format!(
                        "route table `{}` of enterprise router `{}`: the route to {} names deleted attachment {a}: written as a blackhole, as the router treats it",
                        t.display_name, r.display_name, rt.destination
                    ));
                    None
                }
                _ => None,
            };
            routes.push(s(doc::RouterRouteDoc {
                destination: s(rt.destination.clone()),
                blackhole: attachment.is_none(),
                attachment,
            }));
        }
        doc::RouterTableDoc {
            name: s(t.display_name.clone()),
            id: pinned_id(&t.name),
            routes,
        }
    }

    /// An attachment of a router; `None` for a side of a peering (see `peerings`).
    fn attachment(&self, a: &pb::RouterAttachment) -> Option<doc::S<doc::AttachmentDoc>> {
        let mut att = doc::AttachmentDoc {
            name: s(a.display_name.clone()),
            id: pinned_id(&a.name),
            kind: None,
            vpc: None,
            interfaces: Vec::new(),
            gateway: None,
            networks: Vec::new(),
            route_table: nonempty(&a.route_table).map(|t| s(self.name(&t))),
            propagate: a.propagates_to.iter().map(|t| s(self.name(t))).collect(),
        };
        match kind_of(a) {
            Some(pb::AttachmentKind::PeeringConnection) => return None,
            Some(pb::AttachmentKind::Vpc) => {
                att.vpc = Some(s(self.name(&a.resource)));
                att.interfaces = a
                    .interfaces
                    .iter()
                    .map(|f| {
                        s(doc::InterfaceDoc {
                            subnet: s(self.name(&f.subnet)),
                            ip: nonempty(&f.private_ip).map(s),
                            eni_id: nonempty(&f.network_interface_id),
                        })
                    })
                    .collect();
            }
            k => {
                let kind = match k {
                    Some(pb::AttachmentKind::VpnGateway) => "vpn_gateway",
                    Some(pb::AttachmentKind::VirtualGateway) => "virtual_gateway",
                    _ => "global_dc_gateway",
                };
                att.kind = Some(s(kind.to_string()));
                att.gateway = Some(a.resource.clone());
                att.networks = a.networks.iter().map(|n| s(n.clone())).collect();
            }
        }
        Some(s(att))
    }

    /// The scenario's `router_peerings`: each peering once, from the side listed first.
    fn peerings(&mut self) -> Vec<doc::S<doc::PeeringDoc>> {
        let st = self.st;
        let mut peerings = Vec::new();
        for (i, a) in st.attachments.iter().enumerate() {
            if kind_of(a) != Some(pb::AttachmentKind::PeeringConnection) {
                continue;
            }
            let Some((j, b)) = st
                .attachments
                .iter()
                .enumerate()
                .find(|(_, b)| b.name == a.peer_attachment)
            else {
                self.notes.push(format!(
                    "peering attachment `{}` of enterprise router `{}` lost its other side: left out",
                    a.display_name,
                    self.name(&a.enterprise_router)
                ));
                continue;
            };
            if j < i {
                continue;
            }
            let route_tables = match (a.route_table.is_empty(), b.route_table.is_empty()) {
                (false, false) => {
                    Some([s(self.name(&a.route_table)), s(self.name(&b.route_table))])
                }
                (true, true) => None,
                _ => {
                    self.notes.push(format!(
                        "router peering `{}`: only one side is associated with a route table; a scenario associates both or neither: left out",
                        a.display_name
                    ));
                    None
                }
            };
            if !a.propagates_to.is_empty() || !b.propagates_to.is_empty() {
                self.notes.push(format!(
                    "router peering `{}` propagates into route tables; a scenario's peerings have static routes only: left out",
                    a.display_name
                ));
            }
            if a.display_name != b.display_name {
                self.notes.push(format!(
                    "router peering `{}` is named `{}` on its other side; a scenario names both sides alike",
                    a.display_name, b.display_name
                ));
            }
            peerings.push(s(doc::PeeringDoc {
                name: s(a.display_name.clone()),
                routers: [
                    s(self.name(&a.enterprise_router)),
                    s(self.name(&b.enterprise_router)),
                ],
                route_tables,
            }));
        }
        peerings
    }

    fn external_hosts(&self) -> Vec<doc::S<doc::ExternalDoc>> {
        let st = self.st;
        st.hosts
            .iter()
            .map(|h| {
                let site = st.attachments.iter().find(|a| a.name == h.site);
                s(doc::ExternalDoc {
                    name: s(h.display_name.clone()),
                    ip: s(h.ip.clone()),
                    site: site.map(|a| {
                        s(doc::SiteDoc {
                            router: self.name(&a.enterprise_router),
                            attachment: a.display_name.clone(),
                        })
                    }),
                    listen: listen_doc(&h.listen_tcp, &h.listen_udp),
                    auto_reply: h.auto_reply != Some(false),
                })
            })
            .collect()
    }

    fn ccns(&self) -> Vec<doc::S<doc::CcnDoc>> {
        self.st
            .ccns
            .iter()
            .map(|x| {
                let limits = x.bandwidth_limits.iter().map(|l| {
                    s(doc::CcnLimitDoc {
                        regions: vec![s(l.region_a.clone()), s(l.region_b.clone())],
                        bandwidth: s(l.bits_per_second),
                    })
                });
                s(doc::CcnDoc {
                    name: s(x.display_name.clone()),
                    id: pinned_id(&x.name),
                    vpcs: x.vpcs.iter().map(|v| s(self.name(v))).collect(),
                    bandwidth_limits: limits.collect(),
                })
            })
            .collect()
    }

    fn flow_logs(&mut self) -> Vec<doc::S<doc::FlowLogDoc>> {
        let st = self.st;
        // Log stream → `group/stream`.
        let streams: BTreeMap<&str, String> = st
            .log_streams
            .iter()
            .map(|x| {
                let group = st
                    .log_groups
                    .iter()
                    .find(|g| g.name == x.log_group)
                    .map_or("?", |g| g.display_name.as_str());
                (x.name.as_str(), format!("{group}/{}", x.display_name))
            })
            .collect();
        let mut flow_logs = Vec::new();
        for f in &st.flow_logs {
            let nat = self.nat_enis.get(f.resource.as_str()).copied();
            if let Some(nat) = nat
                && st.nats.iter().filter(|n| n.display_name == nat).count() > 1
            {
                self.notes.push(format!(
                    "flow log `{}` captures the interface of NAT gateway `{nat}`, a name NAT gateways of several VPCs have, which a scenario cannot tell apart: left out",
                    f.display_name
                ));
                continue;
            }
            if let Some(att) = self.attachment_enis.get(f.resource.as_str()).copied() {
                self.notes.push(format!(
                    "flow log `{}` captures an interface of router attachment `{att}`, which a scenario cannot name: left out",
                    f.display_name
                ));
                continue;
            }
            let captured = Some(self.name(&f.resource));
            let kind = f.resource.split('/').nth(2).unwrap_or("");
            let att = st.attachments.iter().find(|a| a.name == f.resource);
            let resource = match (kind, att) {
                // A NAT gateway flow log: the gateway's interface, named by the gateway.
                _ if nat.is_some() => doc::ResourceDoc {
                    nat_gateway: nat.map(str::to_string),
                    ..Default::default()
                },
                ("networkInterfaces", _) => doc::ResourceDoc {
                    eni: captured,
                    ..Default::default()
                },
                ("subnets", _) => doc::ResourceDoc {
                    subnet: captured,
                    ..Default::default()
                },
                ("vpcs", _) => doc::ResourceDoc {
                    vpc: captured,
                    ..Default::default()
                },
                ("routerAttachments", Some(a)) => doc::ResourceDoc {
                    router: Some(self.name(&a.enterprise_router)),
                    attachment: Some(a.display_name.clone()),
                    ..Default::default()
                },
                ("cloudConnectNetworks", _) => doc::ResourceDoc {
                    ccn: captured,
                    ..Default::default()
                },
                _ => {
                    self.notes.push(format!(
                        "flow log `{}` captures {}, which a scenario cannot name: left out",
                        f.display_name, f.resource
                    ));
                    continue;
                }
            };
            let traffic = match pb::TrafficFilter::try_from(f.traffic) {
                Ok(pb::TrafficFilter::Accepted) => Some("accepted"),
                Ok(pb::TrafficFilter::Rejected) => Some("rejected"),
                _ => None,
            };
            flow_logs.push(s(doc::FlowLogDoc {
                name: s(f.display_name.clone()),
                id: pinned_id(&f.name),
                resource: s(resource),
                traffic: traffic.map(|t| s(t.to_string())),
                window: (f.window_seconds != 0).then(|| s(f.window_seconds.into())),
                capacity: None,
                created: None,
            }));
            let stream = streams
                .get(f.log_stream.as_str())
                .map_or("", String::as_str);
            if stream != format!("{LOG_GROUP}/{LOG_STREAM}") {
                self.notes.push(format!(
                    "flow log `{}` delivers to log stream `{stream}`; a scenario cannot name streams: `vpclab apply` uses `{LOG_GROUP}/{LOG_STREAM}`",
                    f.display_name
                ));
            }
            if !f.description.is_empty() || !f.tags.is_empty() {
                self.notes.push(format!(
                    "flow log `{}`: its description and tags cannot be said in a scenario: left out",
                    f.display_name
                ));
            }
        }
        flow_logs
    }
}

/// The scenario text (a comment naming the project, one a note, then the document) and the
/// notes on what it cannot say.
fn render(st: &State) -> Result<(String, Vec<String>), String> {
    let mut export = Export::new(st);
    let scenario = export.scenario();
    // The same file on every run: the notes in a stable order, each once.
    let notes: Vec<String> = export
        .notes
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = format!(
        "# Exported by `vpclab export` from project `{}` ({}).\n",
        st.project, st.provider
    );
    for n in &notes {
        out.push_str(&format!("# Note: {}\n", n.replace('\n', " ")));
    }
    // Lists indented under their key, as the shipped scenarios are written; every string on
    // its key's line (quoted if need be), not folded into a block.
    let options = serde_saphyr::ser_options! {
        compact_list_indent: false,
        prefer_block_scalars: false,
    };
    let yaml = serde_saphyr::to_string_with_options(&scenario, options)
        .map_err(|e| format!("cannot write the scenario: {e}"))?;
    out.push_str(&yaml);
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VPC: &str = "projects/default/vpcs/vpc-1";
    const DEFAULT_GROUP: &str = "projects/default/securityGroups/sg-default";
    const YES_GROUP: &str = "projects/default/securityGroups/sg-yes";

    fn rule(
        direction: pb::Direction,
        remote: pb::security_group_rule::Remote,
    ) -> pb::SecurityGroupRule {
        pb::SecurityGroupRule {
            direction: direction as i32,
            action: pb::RuleAction::Allow as i32,
            protocol: "all".into(),
            remote: Some(remote),
            ..Default::default()
        }
    }

    /// A VPC with a subnet, its default group as created, a group whose name YAML 1.1 reads as
    /// a boolean and one that refers to it, an interface in the first and the default group;
    /// and a host on the internet.
    fn project() -> State {
        use pb::security_group_rule::Remote;
        let vpc = VPC.to_string();
        State {
            project: "default".into(),
            provider: "aws".into(),
            now: 1_704_067_200,
            vpcs: vec![pb::Vpc {
                name: vpc.clone(),
                display_name: "main".into(),
                cidr: "10.0.0.0/16".into(),
                default_security_group: DEFAULT_GROUP.into(),
                ..Default::default()
            }],
            subnets: vec![pb::Subnet {
                name: "projects/default/subnets/subnet-1".into(),
                display_name: "web".into(),
                vpc: vpc.clone(),
                cidr: "10.0.1.0/24".into(),
                zone: "use1-az1".into(),
                ..Default::default()
            }],
            groups: vec![
                pb::SecurityGroup {
                    name: DEFAULT_GROUP.into(),
                    display_name: "default".into(),
                    vpc: vpc.clone(),
                    rules: vec![
                        rule(
                            pb::Direction::Ingress,
                            Remote::SecurityGroup(DEFAULT_GROUP.into()),
                        ),
                        rule(pb::Direction::Egress, Remote::Cidr("0.0.0.0/0".into())),
                    ],
                    ..Default::default()
                },
                pb::SecurityGroup {
                    name: YES_GROUP.into(),
                    display_name: "yes".into(),
                    vpc: vpc.clone(),
                    rules: vec![pb::SecurityGroupRule {
                        protocol: "tcp".into(),
                        ports: "443".into(),
                        description: "https: from anywhere".into(),
                        ..rule(pb::Direction::Ingress, Remote::Cidr("0.0.0.0/0".into()))
                    }],
                    ..Default::default()
                },
                pb::SecurityGroup {
                    name: "projects/default/securityGroups/sg-db".into(),
                    display_name: "db".into(),
                    vpc: vpc.clone(),
                    rules: vec![pb::SecurityGroupRule {
                        protocol: "6".into(),
                        ports: "5432".into(),
                        ..rule(
                            pb::Direction::Ingress,
                            Remote::SecurityGroup(YES_GROUP.into()),
                        )
                    }],
                    ..Default::default()
                },
            ],
            enis: vec![pb::NetworkInterface {
                name: "projects/default/networkInterfaces/eni-1".into(),
                display_name: "web-1".into(),
                vpc,
                subnet: "projects/default/subnets/subnet-1".into(),
                private_ip: "10.0.1.10".into(),
                security_groups: vec![YES_GROUP.into(), DEFAULT_GROUP.into()],
                ..Default::default()
            }],
            hosts: vec![pb::ExternalHost {
                display_name: "client".into(),
                ip: "203.0.113.5".into(),
                listen_tcp: vec![80],
                ..Default::default()
            }],
            ..State::default()
        }
    }

    #[test]
    fn export_writes_a_scenario_that_reads_back() {
        let (text, notes) = render(&project()).unwrap();
        let note = "network interface `web-1`: its VPC's default security group, one of several, cannot be named in a scenario: left out";
        assert_eq!(notes, [note]);
        // Short records and lists on one line; what YAML would read as another type quoted.
        let want = format!(
            r#"# Exported by `vpclab export` from project `default` (aws).
# Note: {note}
name: export-default
provider: aws
start: 1704067200
vpcs:
  - name: main
    id: vpc-1
    cidr: 10.0.0.0/16
    subnets:
      - {{name: web, id: subnet-1, cidr: 10.0.1.0/24, zone: use1-az1}}
    security_groups:
      - name: "yes"
        id: sg-yes
        rules:
          - {{direction: ingress, action: allow, protocol: tcp, ports: 443, remote: 0.0.0.0/0, description: "https: from anywhere"}}
      - name: db
        id: sg-db
        rules:
          - {{direction: ingress, action: allow, protocol: 6, ports: 5432, remote: {{group: "yes"}}}}
    enis:
      - name: web-1
        id: eni-1
        subnet: web
        ip: "10.0.1.10"
        security_groups: ["yes"]
external_hosts:
  - {{name: client, ip: "203.0.113.5", listen: {{tcp: [80]}}}}
"#
        );
        assert_eq!(text, want);

        let back: doc::Scenario = serde_saphyr::from_str(&text).unwrap();
        let vpc = &back.vpcs[0].value;
        assert_eq!(vpc.security_groups[0].value.name.value, "yes");
        let remote = &vpc.security_groups[1].value.rules[0].value.remote.value;
        assert!(matches!(remote, doc::RemoteDoc::Group { group } if group == "yes"));
        let eni = &vpc.enis[0].value;
        assert_eq!(
            eni.ip.as_ref().map(|ip| ip.value.as_str()),
            Some("10.0.1.10")
        );
        assert!(eni.auto_reply);
        assert_eq!(back.external_hosts[0].value.listen.tcp, [80]);
    }
}
