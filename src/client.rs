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
use vpclab_controlplane::api::command::Command;
use vpclab_controlplane::api::pb;
use vpclab_controlplane::{doc, plan};

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
    for n in plan::not_applied(&scenario) {
        crate::output::warn(format_args!("vpclab: note: {n}"));
    }
    let result = runtime().and_then(|rt| {
        let client = rt.block_on(Client::connect(server, token))?;
        plan::apply(&scenario, &mut Remote { rt: &rt, client })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}

/// `apply`'s executor: each command sent to the server as the request it is, one at a time.
struct Remote<'a> {
    rt: &'a tokio::runtime::Runtime,
    client: Client,
}

impl plan::Executor for Remote<'_> {
    type Error = Failure;

    fn parent(&self) -> String {
        self.client.parent()
    }

    fn execute(&mut self, cmd: Command, step: &plan::Step) -> Result<plan::Reply, Failure> {
        let verb = if cmd.kind().starts_with("Create") {
            "created"
        } else {
            "updated"
        };
        let reply = self
            .rt
            .block_on(send(&mut self.client, cmd))
            .map_err(server_err(step.doing.clone()))?;
        crate::output::say!("{verb} {} ({})", reply.name(), step.label);
        Ok(reply)
    }

    fn refuse(&self, _: serde_saphyr::Location, field: String, message: String) -> Failure {
        Failure::Input(if field.is_empty() {
            message
        } else {
            format!("{field}: {message}")
        })
    }

    fn log_stream(&mut self) -> Result<String, Failure> {
        self.rt.block_on(log_stream(&mut self.client))
    }
}

/// Sends a create or update command as its gRPC call; the answer is the resource.
async fn send(c: &mut Client, cmd: Command) -> Result<plan::Reply, Status> {
    macro_rules! calls {
        ($($variant:ident => $svc:ident.$method:ident),* $(,)?) => {
            match cmd {
                $(Command::$variant(r) => {
                    let r = c.req(r);
                    c.$svc.$method(r).await.map(|a| plan::Reply::from(a.into_inner()))
                })*
                other => Err(Status::unimplemented(format!(
                    "apply does not send {} commands",
                    other.kind()
                ))),
            }
        };
    }
    calls! {
        CreateVpc => net.create_vpc,
        CreateSubnet => net.create_subnet,
        CreateNetworkInterface => net.create_network_interface,
        CreateSecurityGroup => net.create_security_group,
        UpdateSecurityGroup => net.update_security_group,
        CreateNetworkAcl => net.create_network_acl,
        CreateRouteTable => net.create_route_table,
        UpdateRouteTable => net.update_route_table,
        CreateInternetGateway => net.create_internet_gateway,
        CreateNatGateway => net.create_nat_gateway,
        UpdateNatGateway => net.update_nat_gateway,
        CreateExternalHost => sim.create_external_host,
        CreateFlowLog => logs.create_flow_log,
        CreateEnterpriseRouter => routers.create_enterprise_router,
        CreateRouterRouteTable => routers.create_router_route_table,
        UpdateRouterRouteTable => routers.update_router_route_table,
        CreateRouterAttachment => routers.create_router_attachment,
        UpdateRouterAttachment => routers.update_router_attachment,
        CreateCloudConnectNetwork => ccns.create_cloud_connect_network,
    }
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
    let (text, notes) = render(&state, &state.provider);
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

/// A YAML value, written in block style except `FlowMap` / `FlowSeq`.
enum Y {
    Int(i64),
    Bool(bool),
    Str(String),
    Map(Vec<(&'static str, Y)>),
    Seq(Vec<Y>),
    FlowMap(Vec<(&'static str, Y)>),
    FlowSeq(Vec<Y>),
}

fn s(v: &str) -> Y {
    Y::Str(v.to_string())
}

/// Can `v` be written unquoted and still read back as this string?
fn plain(v: &str) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    let charset = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    let reserved = matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
    );
    let numberish = v.parse::<f64>().is_ok();
    // Addresses and blocks (`10.0.1.0/24`) are strings; other digit-led words may be numbers,
    // dates or times in some YAML dialect: quote them.
    let address = v.matches('.').count() >= 2 || v.contains('/');
    charset
        && !reserved
        && !numberish
        && (first.is_ascii_alphabetic() || (first.is_ascii_digit() && address))
}

fn inline(y: &Y) -> String {
    match y {
        Y::Int(n) => n.to_string(),
        Y::Bool(b) => b.to_string(),
        Y::Str(v) if plain(v) => v.clone(),
        // A JSON string is a YAML double-quoted scalar.
        Y::Str(v) => serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}")),
        Y::FlowMap(m) | Y::Map(m) if m.is_empty() => "{}".into(),
        Y::FlowSeq(v) | Y::Seq(v) if v.is_empty() => "[]".into(),
        Y::FlowMap(m) | Y::Map(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}: {}", inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        Y::FlowSeq(v) | Y::Seq(v) => {
            let parts: Vec<String> = v.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

fn is_block(y: &Y) -> bool {
    match y {
        Y::Map(m) => !m.is_empty(),
        Y::Seq(v) => !v.is_empty(),
        _ => false,
    }
}

fn emit_map(out: &mut String, m: &[(&'static str, Y)], indent: usize) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(k);
        out.push(':');
        if is_block(v) {
            out.push('\n');
            emit_block(out, v, indent + 2);
        } else {
            out.push(' ');
            out.push_str(&inline(v));
            out.push('\n');
        }
    }
}

fn emit_block(out: &mut String, y: &Y, indent: usize) {
    match y {
        Y::Map(m) => emit_map(out, m, indent),
        Y::Seq(items) => {
            for item in items {
                match item {
                    Y::Map(m) if !m.is_empty() => {
                        // The first key goes on the `- ` line.
                        let mut body = String::new();
                        emit_map(&mut body, m, indent + 2);
                        out.push_str(&" ".repeat(indent));
                        out.push_str("- ");
                        out.push_str(&body[indent + 2..]);
                    }
                    other => {
                        out.push_str(&" ".repeat(indent));
                        out.push_str("- ");
                        out.push_str(&inline(other));
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&" ".repeat(indent));
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn protocol_yaml(p: &str) -> Y {
    match p.parse::<i64>() {
        Ok(n) => Y::Int(n),
        Err(_) => s(p),
    }
}

fn ports_yaml(p: &str) -> Option<Y> {
    if p.is_empty() {
        None
    } else {
        Some(match p.parse::<i64>() {
            Ok(n) => Y::Int(n),
            Err(_) => s(p),
        })
    }
}

fn action_yaml(a: i32) -> Y {
    match pb::RuleAction::try_from(a) {
        Ok(pb::RuleAction::Deny) => s("deny"),
        _ => s("allow"),
    }
}

fn direction_is(d: i32, want: pb::Direction) -> bool {
    pb::Direction::try_from(d).ok() == Some(want)
}

fn listen_yaml(tcp: &[u32], udp: &[u32]) -> Option<Y> {
    let mut m = Vec::new();
    if !tcp.is_empty() {
        m.push((
            "tcp",
            Y::FlowSeq(tcp.iter().map(|&p| Y::Int(p.into())).collect()),
        ));
    }
    if !udp.is_empty() {
        m.push((
            "udp",
            Y::FlowSeq(udp.iter().map(|&p| Y::Int(p.into())).collect()),
        ));
    }
    (!m.is_empty()).then_some(Y::FlowMap(m))
}

/// Routes as a scenario writes them; `name` gives a NAT gateway's or router's display name.
fn routes_yaml(routes: &[pb::Route], name: &dyn Fn(&str) -> String) -> Vec<Y> {
    routes
        .iter()
        .filter_map(|r| {
            let mut m = vec![("destination", s(&r.destination))];
            match &r.target {
                Some(pb::route::Target::InternetGateway(_)) => {
                    m.push(("target", s("internet_gateway")))
                }
                Some(pb::route::Target::Blackhole(true)) => m.push(("target", s("blackhole"))),
                Some(pb::route::Target::NatGateway(n)) => {
                    m.push(("target", s("nat_gateway")));
                    m.push(("nat_gateway", s(&name(n))));
                }
                Some(pb::route::Target::EnterpriseRouter(r)) => {
                    m.push(("target", s("router")));
                    m.push(("router", s(&name(r))));
                }
                _ => return None,
            }
            Some(Y::FlowMap(m))
        })
        .collect()
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

/// The scenario's `enterprise_routers` (route tables, attachments other than peerings,
/// associations, propagations, static routes) and `router_peerings`.
fn render_routers(
    st: &State,
    name: &dyn Fn(&str) -> String,
    notes: &mut Vec<String>,
) -> (Vec<Y>, Vec<Y>) {
    let kind_of = |a: &pb::RouterAttachment| pb::AttachmentKind::try_from(a.kind).ok();
    let mut routers = Vec::new();
    for r in &st.routers {
        let rn = &r.display_name;
        let mut m = vec![("name", s(rn)), ("id", s(id_of(&r.name)))];
        if r.asn != 0 && r.asn != 64512 {
            m.push(("asn", Y::Int(r.asn.into())));
        }
        if !r.region.is_empty() {
            m.push(("region", s(&r.region)));
        }
        let tables: Vec<Y> = st
            .router_tables
            .iter()
            .filter(|t| t.enterprise_router == r.name)
            .map(|t| {
                let mut tm = vec![("name", s(&t.display_name)), ("id", s(id_of(&t.name)))];
                let routes: Vec<Y> = t
                    .routes
                    .iter()
                    .map(|rt| {
                        let mut rm = vec![("destination", s(&rt.destination))];
                        match &rt.target {
                            Some(pb::router_route::Target::Attachment(a))
                                if st.attachments.iter().any(|x| &x.name == a) =>
                            {
                                rm.push(("attachment", s(&name(a))));
                            }
                            Some(pb::router_route::Target::Attachment(a)) => {
                                notes.push(format!(
                                    "route table `{}` of enterprise router `{rn}`: the route to {} names deleted attachment {a}: written as a blackhole, as the router treats it",
                                    t.display_name, rt.destination
                                ));
                                rm.push(("blackhole", Y::Bool(true)));
                            }
                            _ => rm.push(("blackhole", Y::Bool(true))),
                        }
                        Y::FlowMap(rm)
                    })
                    .collect();
                if !routes.is_empty() {
                    tm.push(("routes", Y::Seq(routes)));
                }
                Y::Map(tm)
            })
            .collect();
        if !tables.is_empty() {
            m.push(("route_tables", Y::Seq(tables)));
        }
        let mut attachments = Vec::new();
        for a in st
            .attachments
            .iter()
            .filter(|a| a.enterprise_router == r.name)
        {
            let mut am = vec![("name", s(&a.display_name)), ("id", s(id_of(&a.name)))];
            match kind_of(a) {
                Some(pb::AttachmentKind::PeeringConnection) => continue,
                Some(pb::AttachmentKind::Vpc) => {
                    am.push(("vpc", s(&name(&a.resource))));
                    let interfaces: Vec<Y> = a
                        .interfaces
                        .iter()
                        .map(|f| {
                            Y::FlowMap(vec![
                                ("subnet", s(&name(&f.subnet))),
                                ("ip", s(&f.private_ip)),
                                ("eni_id", s(&f.network_interface_id)),
                            ])
                        })
                        .collect();
                    am.push(("interfaces", Y::Seq(interfaces)));
                }
                k => {
                    let kind = match k {
                        Some(pb::AttachmentKind::VpnGateway) => "vpn_gateway",
                        Some(pb::AttachmentKind::VirtualGateway) => "virtual_gateway",
                        _ => "global_dc_gateway",
                    };
                    am.push(("kind", s(kind)));
                    am.push(("gateway", s(&a.resource)));
                    am.push((
                        "networks",
                        Y::FlowSeq(a.networks.iter().map(|n| s(n)).collect()),
                    ));
                }
            }
            if !a.route_table.is_empty() {
                am.push(("route_table", s(&name(&a.route_table))));
            }
            if !a.propagates_to.is_empty() {
                am.push((
                    "propagate",
                    Y::FlowSeq(a.propagates_to.iter().map(|t| s(&name(t))).collect()),
                ));
            }
            attachments.push(Y::Map(am));
        }
        if !attachments.is_empty() {
            m.push(("attachments", Y::Seq(attachments)));
        }
        routers.push(Y::Map(m));
    }

    // Each peering once, from the side listed first.
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
            notes.push(format!(
                "peering attachment `{}` of enterprise router `{}` lost its other side: left out",
                a.display_name,
                name(&a.enterprise_router)
            ));
            continue;
        };
        if j < i {
            continue;
        }
        let mut pm = vec![
            ("name", s(&a.display_name)),
            (
                "routers",
                Y::FlowSeq(vec![
                    s(&name(&a.enterprise_router)),
                    s(&name(&b.enterprise_router)),
                ]),
            ),
        ];
        match (a.route_table.is_empty(), b.route_table.is_empty()) {
            (false, false) => pm.push((
                "route_tables",
                Y::FlowSeq(vec![s(&name(&a.route_table)), s(&name(&b.route_table))]),
            )),
            (true, true) => {}
            _ => notes.push(format!(
                "router peering `{}`: only one side is associated with a route table; a scenario associates both or neither: left out",
                a.display_name
            )),
        }
        if !a.propagates_to.is_empty() || !b.propagates_to.is_empty() {
            notes.push(format!(
                "router peering `{}` propagates into route tables; a scenario's peerings have static routes only: left out",
                a.display_name
            ));
        }
        if a.display_name != b.display_name {
            notes.push(format!(
                "router peering `{}` is named `{}` on its other side; a scenario names both sides alike",
                a.display_name, b.display_name
            ));
        }
        peerings.push(Y::FlowMap(pm));
    }
    (routers, peerings)
}

/// The scenario text and the notes on what it cannot say.
fn render(st: &State, provider: &str) -> (String, Vec<String>) {
    let mut notes: Vec<String> = Vec::new();
    // Resource name → display name, across collections.
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for v in &st.vpcs {
        names.insert(&v.name, &v.display_name);
    }
    for x in &st.subnets {
        names.insert(&x.name, &x.display_name);
    }
    for x in &st.groups {
        names.insert(&x.name, &x.display_name);
    }
    for x in &st.acls {
        names.insert(&x.name, &x.display_name);
    }
    for x in &st.tables {
        names.insert(&x.name, &x.display_name);
    }
    for x in &st.enis {
        names.insert(&x.name, &x.display_name);
    }
    for x in &st.nats {
        names.insert(&x.name, &x.display_name);
    }
    for x in &st.routers {
        names.insert(&x.name, &x.display_name);
    }
    for x in &st.router_tables {
        names.insert(&x.name, &x.display_name);
    }
    for x in &st.attachments {
        names.insert(&x.name, &x.display_name);
    }
    for x in &st.ccns {
        names.insert(&x.name, &x.display_name);
    }
    // NAT gateways' interfaces come with their gateways: not written as `enis`.
    let nat_enis: BTreeMap<&str, &str> = st
        .nats
        .iter()
        .map(|n| (n.network_interface.as_str(), n.display_name.as_str()))
        .collect();
    // Nor router attachments' interfaces, which come with their attachments.
    let attachment_enis: BTreeMap<&str, &str> = st
        .attachments
        .iter()
        .flat_map(|a| {
            a.network_interfaces
                .iter()
                .map(|e| (e.as_str(), a.display_name.as_str()))
        })
        .collect();
    let name = |rn: &str| {
        names
            .get(rn)
            .copied()
            .unwrap_or_else(|| id_of(rn))
            .to_string()
    };
    let default_groups: BTreeSet<&str> = st
        .vpcs
        .iter()
        .map(|v| v.default_security_group.as_str())
        .collect();

    // VPCs' regions are written where they matter: with CCNs, or VPCs of several regions.
    let with_regions = !st.ccns.is_empty()
        || st
            .vpcs
            .iter()
            .any(|v| st.vpcs.first().is_some_and(|f| f.region != v.region));
    let mut vpcs = Vec::new();
    for v in &st.vpcs {
        let vn = &v.display_name;
        let mut m = vec![
            ("name", s(vn)),
            ("id", s(id_of(&v.name))),
            ("cidr", s(&v.cidr)),
        ];
        if with_regions && !v.region.is_empty() {
            m.push(("region", s(&v.region)));
        }
        if !v.internet_gateway.is_empty() {
            m.push((
                "internet_gateway",
                Y::FlowMap(vec![("id", s(id_of(&v.internet_gateway)))]),
            ));
        }
        if let Some(main) = st.tables.iter().find(|t| t.name == v.main_route_table) {
            let r = routes_yaml(&main.routes, &name);
            if !r.is_empty() {
                m.push(("routes", Y::Seq(r)));
            }
        }
        let tables: Vec<Y> = st
            .tables
            .iter()
            .filter(|t| t.vpc == v.name && t.name != v.main_route_table)
            .map(|t| {
                let mut tm = vec![("name", s(&t.display_name)), ("id", s(id_of(&t.name)))];
                let r = routes_yaml(&t.routes, &name);
                if !r.is_empty() {
                    tm.push(("routes", Y::Seq(r)));
                }
                Y::Map(tm)
            })
            .collect();
        if !tables.is_empty() {
            m.push(("route_tables", Y::Seq(tables)));
        }

        let mut groups = Vec::new();
        for g in st.groups.iter().filter(|g| g.vpc == v.name) {
            if g.name == v.default_security_group {
                if !default_group_unchanged(g) {
                    notes.push(format!(
                        "VPC `{vn}`: the rules of its default security group were changed; a scenario cannot say so: left out"
                    ));
                }
                continue;
            }
            let mut rules = Vec::new();
            for r in &g.rules {
                use pb::security_group_rule::Remote;
                let remote = match &r.remote {
                    Some(Remote::Cidr(c)) => s(c),
                    Some(Remote::SecurityGroup(other))
                        if default_groups.contains(other.as_str()) =>
                    {
                        notes.push(format!(
                            "security group `{}` of VPC `{vn}`: a rule refers to the VPC's default group, which a scenario cannot name: rule left out",
                            g.display_name
                        ));
                        continue;
                    }
                    Some(Remote::SecurityGroup(other)) => {
                        Y::FlowMap(vec![("group", s(&name(other)))])
                    }
                    None => continue,
                };
                let mut rm = vec![
                    (
                        "direction",
                        s(if direction_is(r.direction, pb::Direction::Egress) {
                            "egress"
                        } else {
                            "ingress"
                        }),
                    ),
                    ("action", action_yaml(r.action)),
                ];
                if r.priority > 1 {
                    rm.push(("priority", Y::Int(r.priority.into())));
                }
                rm.push(("protocol", protocol_yaml(&r.protocol)));
                if let Some(p) = ports_yaml(&r.ports) {
                    rm.push(("ports", p));
                }
                if let Some(t) = r.icmp_type {
                    rm.push(("icmp_type", Y::Int(t.into())));
                }
                if let Some(c) = r.icmp_code {
                    rm.push(("icmp_code", Y::Int(c.into())));
                }
                rm.push(("remote", remote));
                if !r.description.is_empty() {
                    rm.push(("description", s(&r.description)));
                }
                rules.push(Y::FlowMap(rm));
            }
            let mut gm = vec![("name", s(&g.display_name)), ("id", s(id_of(&g.name)))];
            if !rules.is_empty() {
                gm.push(("rules", Y::Seq(rules)));
            }
            groups.push(Y::Map(gm));
        }
        if !groups.is_empty() {
            m.push(("security_groups", Y::Seq(groups)));
        }

        let mut acls = Vec::new();
        for a in st.acls.iter().filter(|a| a.vpc == v.name) {
            if a.name == v.default_network_acl {
                if !default_acl_unchanged(a) {
                    notes.push(format!(
                        "VPC `{vn}`: the entries of its default network ACL were changed; a scenario cannot say so: left out"
                    ));
                }
                continue;
            }
            let entry = |e: &pb::NetworkAclEntry| {
                let mut em = vec![
                    ("rule", Y::Int(e.number.into())),
                    ("action", action_yaml(e.action)),
                    ("protocol", protocol_yaml(&e.protocol)),
                ];
                if let Some(p) = ports_yaml(&e.ports) {
                    em.push(("ports", p));
                }
                if let Some(p) = ports_yaml(&e.source_ports) {
                    em.push(("source_ports", p));
                }
                if let Some(t) = e.icmp_type {
                    em.push(("icmp_type", Y::Int(t.into())));
                }
                if let Some(c) = e.icmp_code {
                    em.push(("icmp_code", Y::Int(c.into())));
                }
                em.push(("cidr", s(&e.cidr)));
                if !e.description.is_empty() {
                    em.push(("description", s(&e.description)));
                }
                Y::FlowMap(em)
            };
            let ingress: Vec<Y> = a
                .entries
                .iter()
                .filter(|e| direction_is(e.direction, pb::Direction::Ingress))
                .map(entry)
                .collect();
            let egress: Vec<Y> = a
                .entries
                .iter()
                .filter(|e| direction_is(e.direction, pb::Direction::Egress))
                .map(entry)
                .collect();
            let mut am = vec![("name", s(&a.display_name)), ("id", s(id_of(&a.name)))];
            if !ingress.is_empty() {
                am.push(("ingress", Y::Seq(ingress)));
            }
            if !egress.is_empty() {
                am.push(("egress", Y::Seq(egress)));
            }
            acls.push(Y::Map(am));
        }
        if !acls.is_empty() {
            m.push(("network_acls", Y::Seq(acls)));
        }

        let mut subnets = Vec::new();
        for x in st.subnets.iter().filter(|x| x.vpc == v.name) {
            let mut sm = vec![
                ("name", s(&x.display_name)),
                ("id", s(id_of(&x.name))),
                ("cidr", s(&x.cidr)),
            ];
            if !x.zone.is_empty() {
                sm.push(("zone", s(&x.zone)));
            }
            if x.network_acl.is_empty() && !v.default_network_acl.is_empty() {
                notes.push(format!(
                    "subnet `{}` of VPC `{vn}` has no network ACL; on this cloud a scenario's subnet always has one: it gets the default ACL",
                    x.display_name
                ));
            } else if !x.network_acl.is_empty() && x.network_acl != v.default_network_acl {
                sm.push(("acl", s(&name(&x.network_acl))));
            }
            if !x.route_table.is_empty() && x.route_table != v.main_route_table {
                sm.push(("route_table", s(&name(&x.route_table))));
            }
            subnets.push(Y::FlowMap(sm));
        }
        if !subnets.is_empty() {
            m.push(("subnets", Y::Seq(subnets)));
        }

        let nats: Vec<Y> = st
            .nats
            .iter()
            .filter(|n| n.vpc == v.name)
            .map(|n| {
                let mut nm = vec![
                    ("name", s(&n.display_name)),
                    ("id", s(id_of(&n.name))),
                    ("subnet", s(&name(&n.subnet))),
                ];
                if !n.private_ip.is_empty() {
                    nm.push(("ip", s(&n.private_ip)));
                }
                if !n.elastic_ip.is_empty() {
                    nm.push(("eip", s(&n.elastic_ip)));
                }
                if !n.network_interface.is_empty() {
                    nm.push(("eni_id", s(id_of(&n.network_interface))));
                }
                let mut rules = Vec::new();
                for r in &n.dnat_rules {
                    if r.to.is_empty() {
                        notes.push(format!(
                            "NAT gateway `{}` of VPC `{vn}` forwards {} port {} to an address no interface has any more: left out",
                            n.display_name, r.protocol, r.port
                        ));
                        continue;
                    }
                    rules.push(Y::FlowMap(vec![
                        ("protocol", s(&r.protocol)),
                        ("port", Y::Int(r.port.into())),
                        ("to", s(&name(&r.to))),
                        ("to_port", Y::Int(r.to_port.into())),
                    ]));
                }
                if !rules.is_empty() {
                    nm.push(("dnat", Y::Seq(rules)));
                }
                Y::Map(nm)
            })
            .collect();
        if !nats.is_empty() {
            m.push(("nat_gateways", Y::Seq(nats)));
        }

        let mut enis = Vec::new();
        for e in st.enis.iter().filter(|e| {
            e.vpc == v.name
                && !nat_enis.contains_key(e.name.as_str())
                && !attachment_enis.contains_key(e.name.as_str())
        }) {
            let mut em = vec![
                ("name", s(&e.display_name)),
                ("id", s(id_of(&e.name))),
                ("subnet", s(&name(&e.subnet))),
            ];
            if !e.private_ip.is_empty() {
                em.push(("ip", s(&e.private_ip)));
            }
            if !e.elastic_ip.is_empty() {
                em.push(("eip", s(&e.elastic_ip)));
            }
            let only_default =
                e.security_groups.len() == 1 && e.security_groups[0] == v.default_security_group;
            if !only_default {
                let mut gs = Vec::new();
                for g in &e.security_groups {
                    if default_groups.contains(g.as_str()) {
                        notes.push(format!(
                            "network interface `{}`: its VPC's default security group, one of several, cannot be named in a scenario: left out",
                            e.display_name
                        ));
                    } else {
                        gs.push(s(&name(g)));
                    }
                }
                if !gs.is_empty() {
                    em.push(("security_groups", Y::FlowSeq(gs)));
                }
            }
            if !e.instance_id.is_empty() {
                em.push(("instance_id", s(&e.instance_id)));
            }
            if !e.instance_type.is_empty() {
                em.push(("instance_type", s(&e.instance_type)));
            }
            if let Some(l) = listen_yaml(&e.listen_tcp, &e.listen_udp) {
                em.push(("listen", l));
            }
            if e.auto_reply == Some(false) {
                em.push(("auto_reply", Y::Bool(false)));
            }
            enis.push(Y::Map(em));
        }
        if !enis.is_empty() {
            m.push(("enis", Y::Seq(enis)));
        }
        vpcs.push(Y::Map(m));
    }

    let (routers, peerings) = render_routers(st, &name, &mut notes);

    let hosts: Vec<Y> = st
        .hosts
        .iter()
        .map(|h| {
            let mut hm = vec![("name", s(&h.display_name)), ("ip", s(&h.ip))];
            if let Some(a) = st.attachments.iter().find(|a| a.name == h.site) {
                hm.push((
                    "site",
                    Y::FlowMap(vec![
                        ("router", s(&name(&a.enterprise_router))),
                        ("attachment", s(&a.display_name)),
                    ]),
                ));
            }
            if let Some(l) = listen_yaml(&h.listen_tcp, &h.listen_udp) {
                hm.push(("listen", l));
            }
            if h.auto_reply == Some(false) {
                hm.push(("auto_reply", Y::Bool(false)));
            }
            Y::FlowMap(hm)
        })
        .collect();

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
        let seg = f.resource.split('/').nth(2).unwrap_or("");
        let nat = nat_enis.get(f.resource.as_str()).copied();
        if let Some(nat) = nat
            && st.nats.iter().filter(|n| n.display_name == nat).count() > 1
        {
            notes.push(format!(
                "flow log `{}` captures the interface of NAT gateway `{nat}`, a name NAT gateways of several VPCs have, which a scenario cannot tell apart: left out",
                f.display_name
            ));
            continue;
        }
        if let Some(att) = attachment_enis.get(f.resource.as_str()) {
            notes.push(format!(
                "flow log `{}` captures an interface of router attachment `{att}`, which a scenario cannot name: left out",
                f.display_name
            ));
            continue;
        }
        let att = st.attachments.iter().find(|a| a.name == f.resource);
        let kind = match (seg, att) {
            // A NAT gateway flow log: the gateway's interface, named by the gateway.
            _ if nat.is_some() => "nat_gateway",
            ("networkInterfaces", _) => "eni",
            ("subnets", _) => "subnet",
            ("vpcs", _) => "vpc",
            ("routerAttachments", Some(_)) => "router",
            ("cloudConnectNetworks", _) => "ccn",
            _ => {
                notes.push(format!(
                    "flow log `{}` captures {}, which a scenario cannot name: left out",
                    f.display_name, f.resource
                ));
                continue;
            }
        };
        let resource = match att {
            Some(a) if kind == "router" => Y::FlowMap(vec![
                ("router", s(&name(&a.enterprise_router))),
                ("attachment", s(&a.display_name)),
            ]),
            _ => match nat {
                Some(nat) => Y::FlowMap(vec![(kind, s(nat))]),
                None => Y::FlowMap(vec![(kind, s(&name(&f.resource)))]),
            },
        };
        let mut fm = vec![
            ("name", s(&f.display_name)),
            ("id", s(id_of(&f.name))),
            ("resource", resource),
        ];
        match pb::TrafficFilter::try_from(f.traffic) {
            Ok(pb::TrafficFilter::Accepted) => fm.push(("traffic", s("accepted"))),
            Ok(pb::TrafficFilter::Rejected) => fm.push(("traffic", s("rejected"))),
            _ => {}
        }
        if f.window_seconds != 0 {
            fm.push(("window", Y::Int(f.window_seconds.into())));
        }
        flow_logs.push(Y::Map(fm));
        let stream = streams
            .get(f.log_stream.as_str())
            .map_or("", String::as_str);
        if stream != format!("{LOG_GROUP}/{LOG_STREAM}") {
            notes.push(format!(
                "flow log `{}` delivers to log stream `{stream}`; a scenario cannot name streams: `vpclab apply` uses `{LOG_GROUP}/{LOG_STREAM}`",
                f.display_name
            ));
        }
        if !f.description.is_empty() || !f.tags.is_empty() {
            notes.push(format!(
                "flow log `{}`: its description and tags cannot be said in a scenario: left out",
                f.display_name
            ));
        }
    }
    // The same file on every run: the notes in a stable order, each once.
    let notes: Vec<String> = notes
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let mut top = vec![
        ("name", s(&format!("export-{}", st.project))),
        ("provider", s(provider)),
        ("start", Y::Int(st.now)),
    ];
    if !vpcs.is_empty() {
        top.push(("vpcs", Y::Seq(vpcs)));
    }
    if !routers.is_empty() {
        top.push(("enterprise_routers", Y::Seq(routers)));
    }
    if !peerings.is_empty() {
        top.push(("router_peerings", Y::Seq(peerings)));
    }
    if !hosts.is_empty() {
        top.push(("external_hosts", Y::Seq(hosts)));
    }
    let ccns: Vec<Y> = st
        .ccns
        .iter()
        .map(|x| {
            let mut m = vec![("name", s(&x.display_name)), ("id", s(id_of(&x.name)))];
            if !x.vpcs.is_empty() {
                m.push((
                    "vpcs",
                    Y::FlowSeq(x.vpcs.iter().map(|v| s(&name(v))).collect()),
                ));
            }
            if !x.bandwidth_limits.is_empty() {
                let limits = x
                    .bandwidth_limits
                    .iter()
                    .map(|l| {
                        Y::FlowMap(vec![
                            ("regions", Y::FlowSeq(vec![s(&l.region_a), s(&l.region_b)])),
                            ("bandwidth", Y::Int(l.bits_per_second as i64)),
                        ])
                    })
                    .collect();
                m.push(("bandwidth_limits", Y::Seq(limits)));
            }
            Y::Map(m)
        })
        .collect();
    if !ccns.is_empty() {
        top.push(("ccns", Y::Seq(ccns)));
    }
    if !flow_logs.is_empty() {
        top.push(("flow_logs", Y::Seq(flow_logs)));
    }
    let mut out = format!(
        "# Exported by `vpclab export` from project `{}` ({provider}).\n",
        st.project
    );
    for n in &notes {
        out.push_str(&format!("# Note: {}\n", n.replace('\n', " ")));
    }
    emit_map(&mut out, &top, 0);
    (out, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        for p in [
            "web",
            "10.0.1.0/24",
            "10.0.1.10",
            "eni-lq6mkcis",
            "use1-az1",
            "c3.large.2",
        ] {
            assert!(plain(p), "{p}");
        }
        for q in [
            "",
            "true",
            "No",
            "123",
            "1.5",
            "1e3",
            "2024-01-01",
            "a b",
            "x:y",
            "1-2",
            "~",
        ] {
            assert!(!plain(q), "{q}");
        }
        assert_eq!(inline(&s("a\"b")), "\"a\\\"b\"");
    }

    #[test]
    fn block_style() {
        let y = vec![
            ("name", s("x")),
            (
                "vpcs",
                Y::Seq(vec![Y::Map(vec![
                    ("name", s("main")),
                    (
                        "subnets",
                        Y::Seq(vec![Y::FlowMap(vec![
                            ("name", s("a")),
                            ("cidr", s("10.0.0.0/24")),
                        ])]),
                    ),
                    ("enis", Y::Seq(vec![])),
                ])]),
            ),
        ];
        let mut out = String::new();
        emit_map(&mut out, &y, 0);
        assert_eq!(
            out,
            "name: x\nvpcs:\n  - name: main\n    subnets:\n      - { name: a, cidr: 10.0.0.0/24 }\n    enis: []\n"
        );
    }
}
