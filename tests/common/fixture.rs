//! The fixture of the service tests: the ping/ACL-asymmetry topology built over gRPC, the
//! real `vpclab serve` binary as a child process, two teams' tokens, the request builders the
//! API tests share, and small helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tonic::Request;
use tonic::transport::{Channel, Endpoint};
use vpclab_controlplane::api::{Defaults, Tenancy, pb};
use vpclab_sim::profile::Provider;

use super::*;

pub const START: u64 = 1_432_917_000;
pub const P: &str = "projects/default";
/// How long anything may take on a loaded machine before the test gives up.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn defaults() -> Defaults {
    seeded(1, START)
}

pub async fn connect(url: &str) -> Channel {
    Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect_timeout(PATIENCE)
        .timeout(PATIENCE)
        .connect()
        .await
        .unwrap()
}

/// The first page of a List call of project [`P`], read by `client`:
/// `list!(net.list_vpn_gateways(ListVpnGatewaysRequest))`.
#[allow(unused_macros)]
macro_rules! list {
    ($client:ident . $call:ident ($req:ident)) => {
        $client
            .$call(vpclab_controlplane::api::pb::$req {
                parent: $crate::common::fixture::P.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    };
}
#[allow(unused_imports)]
pub(crate) use list;

/// A Get call by `client` of the resource named `name`:
/// `get!(net.get_nat_gateway(GetNatGatewayRequest, &nat.name))`.
#[allow(unused_macros)]
macro_rules! get {
    ($client:ident . $call:ident ($req:ident, $name:expr)) => {
        $client
            .$call(vpclab_controlplane::api::pb::$req {
                name: String::from($name),
            })
            .await
            .unwrap()
            .into_inner()
    };
}
#[allow(unused_imports)]
pub(crate) use get;

/// A server on `dir` for one tenant of `provider`, and a network client of it.
pub async fn start_net(
    dir: &Path,
    provider: Provider,
    defaults: Defaults,
) -> (Server, NetworkServiceClient<Channel>) {
    let server = Server::start(dir, Tenancy::single(provider), defaults).await;
    let net = NetworkServiceClient::new(server.channel().await);
    (server, net)
}

/// VPC `name` with block `cidr`, created in project [`P`].
pub async fn create_vpc(
    net: &mut NetworkServiceClient<Channel>,
    name: &str,
    cidr: &str,
) -> pb::Vpc {
    net.create_vpc(vpc_req(P, name, cidr))
        .await
        .unwrap()
        .into_inner()
}

/// Subnet `name` of `vpc` with block `cidr`, created in project [`P`].
pub async fn create_subnet(
    net: &mut NetworkServiceClient<Channel>,
    name: &str,
    vpc: &str,
    cidr: &str,
) -> pb::Subnet {
    net.create_subnet(subnet_req(name, vpc, cidr))
        .await
        .unwrap()
        .into_inner()
}

/// A resource the tests create, and the request that creates it.
pub trait Creates {
    type Request;

    /// The request creating this resource in project `parent`, its id left to the server.
    fn create_in(self, parent: &str) -> Self::Request;
}

/// Each resource the tests create: its message, its Create request, the request's fields.
macro_rules! creates {
    ($($message:ident => $req:ident { $field:ident, $id:ident })*) => {$(
        impl Creates for pb::$message {
            type Request = pb::$req;

            fn create_in(self, parent: &str) -> pb::$req {
                pb::$req {
                    parent: parent.into(),
                    $field: Some(self),
                    $id: String::new(),
                }
            }
        }
    )*};
}

creates! {
    Subnet => CreateSubnetRequest { subnet, subnet_id }
    NetworkInterface => CreateNetworkInterfaceRequest { network_interface, network_interface_id }
    Vpc => CreateVpcRequest { vpc, vpc_id }
    SecurityGroup => CreateSecurityGroupRequest { security_group, security_group_id }
    InternetGateway => CreateInternetGatewayRequest { internet_gateway, internet_gateway_id }
    NetworkAcl => CreateNetworkAclRequest { network_acl, network_acl_id }
    ExternalHost => CreateExternalHostRequest { external_host, external_host_id }
    LogGroup => CreateLogGroupRequest { log_group, log_group_id }
    LogStream => CreateLogStreamRequest { log_stream, log_stream_id }
    FlowLog => CreateFlowLogRequest { flow_log, flow_log_id }
}

/// A request for subnet `name` of `vpc` with block `cidr`, in project [`P`].
pub fn subnet_req(name: &str, vpc: &str, cidr: &str) -> pb::CreateSubnetRequest {
    pb::Subnet {
        display_name: name.into(),
        vpc: vpc.into(),
        cidr: cidr.into(),
        ..Default::default()
    }
    .create_in(P)
}

/// Security group `name` of `vpc` with `rules`, created in project [`P`].
pub async fn create_sg(
    net: &mut NetworkServiceClient<Channel>,
    name: &str,
    vpc: &str,
    rules: Vec<pb::SecurityGroupRule>,
) -> pb::SecurityGroup {
    net.create_security_group(sg_req(P, name, vpc, rules))
        .await
        .unwrap()
        .into_inner()
}

/// Network interface `name` in `subnet` at `ip`, in the groups named, created in project [`P`].
pub async fn create_eni(
    net: &mut NetworkServiceClient<Channel>,
    name: &str,
    subnet: &str,
    ip: &str,
    security_groups: Vec<String>,
) -> pb::NetworkInterface {
    net.create_network_interface(eni_req(name, subnet, ip, security_groups))
        .await
        .unwrap()
        .into_inner()
}

/// A request for network interface `name` in `subnet` at `ip`, in the groups named, in
/// project [`P`].
pub fn eni_req(
    name: &str,
    subnet: &str,
    ip: &str,
    security_groups: Vec<String>,
) -> pb::CreateNetworkInterfaceRequest {
    pb::NetworkInterface {
        display_name: name.into(),
        subnet: subnet.into(),
        private_ip: ip.into(),
        security_groups,
        ..Default::default()
    }
    .create_in(P)
}

/// Deleting VPC `name` is refused (FAILED_PRECONDITION): the precondition violations, as
/// (type, subject).
pub async fn vpc_in_use(
    net: &mut NetworkServiceClient<Channel>,
    name: &str,
) -> Vec<(String, String)> {
    let s = err(net
        .delete_vpc(pb::DeleteVpcRequest {
            name: name.into(),
            ..Default::default()
        })
        .await);
    assert_eq!(s.code(), tonic::Code::FailedPrecondition, "{s:?}");
    preconditions(&s)
}

/// Route table `name`, as the API reads it.
pub async fn route_table(net: &mut NetworkServiceClient<Channel>, name: &str) -> pb::RouteTable {
    net.get_route_table(pb::GetRouteTableRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
}

/// A security group rule allowing `protocol` on `ports` from (ingress) or to (egress) `cidr`.
pub fn allow_rule(
    direction: pb::Direction,
    protocol: &str,
    ports: &str,
    cidr: &str,
) -> pb::SecurityGroupRule {
    pb::SecurityGroupRule {
        direction: direction as i32,
        action: pb::RuleAction::Allow as i32,
        protocol: protocol.into(),
        ports: ports.into(),
        remote: Some(pb::security_group_rule::Remote::Cidr(cidr.into())),
        ..Default::default()
    }
}

/// A request for a VPC named `name` with block `cidr`.
pub fn vpc_req(parent: &str, name: &str, cidr: &str) -> pb::CreateVpcRequest {
    pb::Vpc {
        display_name: name.into(),
        cidr: cidr.into(),
        ..Default::default()
    }
    .create_in(parent)
}

/// A request for a security group named `name` in `vpc` with `rules`.
pub fn sg_req(
    parent: &str,
    name: &str,
    vpc: &str,
    rules: Vec<pb::SecurityGroupRule>,
) -> pb::CreateSecurityGroupRequest {
    pb::SecurityGroup {
        display_name: name.into(),
        vpc: vpc.into(),
        rules,
        ..Default::default()
    }
    .create_in(parent)
}

/// A flow log to create: `resource` captured, records to `stream`.
pub fn flow(display_name: &str, resource: &str, stream: &str) -> pb::FlowLog {
    pb::FlowLog {
        display_name: display_name.into(),
        resource: resource.into(),
        log_stream: stream.into(),
        ..Default::default()
    }
}

/// A request for `flow_log` in `parent`.
pub fn flow_log_req(parent: &str, flow_log: pb::FlowLog) -> pb::CreateFlowLogRequest {
    flow_log.create_in(parent)
}

/// A request for an internet gateway of `vpc`.
pub fn igw_req(parent: &str, vpc: &str) -> pb::CreateInternetGatewayRequest {
    pb::InternetGateway {
        vpc: vpc.into(),
        ..Default::default()
    }
    .create_in(parent)
}

/// An internet gateway for `vpc` (of project `P`), with the VPC's main table sending
/// 0.0.0.0/0 to it.
pub async fn internet_gateway(
    net: &mut NetworkServiceClient<Channel>,
    vpc: &pb::Vpc,
) -> pb::InternetGateway {
    let igw = net
        .create_internet_gateway(igw_req(P, &vpc.name))
        .await
        .unwrap()
        .into_inner();
    net.update_route_table(default_route_req(
        &vpc.main_route_table,
        pb::route::Target::InternetGateway(igw.name.clone()),
    ))
    .await
    .unwrap();
    igw
}

/// A request setting the routes of route table `table`: 0.0.0.0/0 to `target`.
pub fn default_route_req(table: &str, target: pb::route::Target) -> pb::UpdateRouteTableRequest {
    routes_req(
        table,
        vec![pb::Route {
            destination: "0.0.0.0/0".into(),
            target: Some(target),
        }],
    )
}

/// A request setting the routes of route table `table`.
pub fn routes_req(table: &str, routes: Vec<pb::Route>) -> pb::UpdateRouteTableRequest {
    pb::UpdateRouteTableRequest {
        route_table: Some(pb::RouteTable {
            name: table.into(),
            routes,
            ..Default::default()
        }),
        update_mask: mask(&["routes"]),
    }
}

pub fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

/// A request, with a bearer token when one is given.
pub fn req<T>(token: Option<&str>, msg: T) -> Request<T> {
    match token {
        Some(t) => auth(msg, t),
        None => Request::new(msg),
    }
}

pub fn secs(t: &Option<prost_types::Timestamp>) -> u64 {
    t.as_ref().expect("a timestamp").seconds as u64
}

pub fn rule(dir: pb::Direction, proto: &str, ports: &str) -> pb::SecurityGroupRule {
    allow_rule(dir, proto, ports, "0.0.0.0/0")
}

pub fn entry(dir: pb::Direction, proto: &str, ports: &str) -> pb::NetworkAclEntry {
    pb::NetworkAclEntry {
        number: 100,
        direction: dir as i32,
        action: pb::RuleAction::Allow as i32,
        protocol: proto.into(),
        ports: ports.into(),
        cidr: "0.0.0.0/0".into(),
        ..Default::default()
    }
}

/// The ping/ACL-asymmetry topology of tests/api.rs (tencent): an instance whose ACL lets ICMP
/// in but only TCP 443 out, an external host, a flow log on the instance's interface.
pub struct Topology {
    pub vpc: String,
    pub eni: String,
    pub home: String,
    pub group: String,
    pub stream: String,
    pub flow_log: String,
}

pub async fn build(ch: &Channel, parent: &str, token: Option<&str>) -> Topology {
    let mut net = NetworkServiceClient::new(ch.clone());
    let mut logs = LogServiceClient::new(ch.clone());
    let mut sim = SimulationServiceClient::new(ch.clone());
    let vpc = net
        .create_vpc(req(token, vpc_req(parent, "main", "172.31.0.0/16")))
        .await
        .unwrap()
        .into_inner();
    let igw = net
        .create_internet_gateway(req(token, igw_req(parent, &vpc.name)))
        .await
        .unwrap()
        .into_inner();
    net.update_route_table(req(
        token,
        default_route_req(
            &vpc.main_route_table,
            pb::route::Target::InternetGateway(igw.name.clone()),
        ),
    ))
    .await
    .unwrap();
    let sg = net
        .create_security_group(req(
            token,
            sg_req(
                parent,
                "web-sg",
                &vpc.name,
                vec![
                    rule(pb::Direction::Ingress, "icmp", ""),
                    rule(pb::Direction::Egress, "tcp", "443"),
                ],
            ),
        ))
        .await
        .unwrap()
        .into_inner();
    let acl = net
        .create_network_acl(req(
            token,
            pb::NetworkAcl {
                display_name: "web-acl".into(),
                vpc: vpc.name.clone(),
                entries: vec![
                    entry(pb::Direction::Ingress, "icmp", ""),
                    entry(pb::Direction::Egress, "tcp", "443"),
                ],
                ..Default::default()
            }
            .create_in(parent),
        ))
        .await
        .unwrap()
        .into_inner();
    let subnet = net
        .create_subnet(req(
            token,
            pb::Subnet {
                display_name: "web".into(),
                vpc: vpc.name.clone(),
                cidr: "172.31.16.0/20".into(),
                network_acl: acl.name.clone(),
                ..Default::default()
            }
            .create_in(parent),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(subnet.network_acl, acl.name);
    let mut instance = pb::NetworkInterface {
        display_name: "instance".into(),
        subnet: subnet.name.clone(),
        private_ip: "172.31.16.139".into(),
        elastic_ip: "198.51.100.10".into(),
        security_groups: vec![sg.name.clone()],
        ..Default::default()
    }
    .create_in(parent);
    instance.network_interface_id = "eni-lq6mkcis".into();
    let eni = net
        .create_network_interface(req(token, instance))
        .await
        .unwrap()
        .into_inner();
    let home = sim
        .create_external_host(req(
            token,
            pb::ExternalHost {
                display_name: "home".into(),
                ip: "203.0.113.12".into(),
                ..Default::default()
            }
            .create_in(parent),
        ))
        .await
        .unwrap()
        .into_inner();
    let (group, stream) = log_stream(ch, parent, token, "vpc-flow-logs", "instance").await;
    assert!(!group.is_empty());
    let flow_log = logs
        .create_flow_log(req(
            token,
            flow_log_req(parent, flow("instance-flows", &eni.name, &stream)),
        ))
        .await
        .unwrap()
        .into_inner();
    Topology {
        vpc: vpc.name,
        eni: eni.name,
        home: home.name,
        group,
        stream,
        flow_log: flow_log.name,
    }
}

/// A log group and a stream in it: (group, stream) resource names.
pub async fn log_stream(
    ch: &Channel,
    parent: &str,
    token: Option<&str>,
    group: &str,
    stream: &str,
) -> (String, String) {
    let mut logs = LogServiceClient::new(ch.clone());
    let group = logs
        .create_log_group(req(
            token,
            pb::LogGroup {
                display_name: group.into(),
                ..Default::default()
            }
            .create_in(parent),
        ))
        .await
        .unwrap()
        .into_inner();
    let stream = logs
        .create_log_stream(req(
            token,
            pb::LogStream {
                display_name: stream.into(),
                log_group: group.name.clone(),
                ..Default::default()
            }
            .create_in(parent),
        ))
        .await
        .unwrap()
        .into_inner();
    (group.name, stream.name)
}

/// `count` pings from home to the instance at virtual time `at`, one a second.
pub async fn ping(
    ch: &Channel,
    parent: &str,
    token: Option<&str>,
    t: &Topology,
    at: u64,
    count: u32,
) {
    ping_every(ch, parent, token, t, at, count, 1).await
}

/// `count` pings from home to the instance at virtual time `at`, `interval` seconds apart.
pub async fn ping_every(
    ch: &Channel,
    parent: &str,
    token: Option<&str>,
    t: &Topology,
    at: u64,
    count: u32,
    interval: i64,
) {
    SimulationServiceClient::new(ch.clone())
        .inject_traffic(req(
            token,
            pb::InjectTrafficRequest {
                parent: parent.into(),
                at: Some(ts(at)),
                traffic: Some(pb::inject_traffic_request::Traffic::Ping(pb::Ping {
                    from: t.home.clone(),
                    to: t.eni.clone(),
                    count,
                    interval: Some(prost_types::Duration {
                        seconds: interval,
                        nanos: 0,
                    }),
                    ident: Some(1),
                    ttl: None,
                })),
            },
        ))
        .await
        .unwrap();
}

/// `traffic` into the default project, now.
pub fn inject(traffic: pb::inject_traffic_request::Traffic) -> pb::InjectTrafficRequest {
    pb::InjectTrafficRequest {
        parent: P.into(),
        at: None,
        traffic: Some(traffic),
    }
}

pub async fn advance_to(ch: &Channel, parent: &str, token: Option<&str>, to: u64) -> pb::Clock {
    SimulationServiceClient::new(ch.clone())
        .advance(req(
            token,
            pb::AdvanceRequest {
                parent: parent.into(),
                until: Some(pb::advance_request::Until::To(ts(to))),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

pub async fn now(ch: &Channel, parent: &str, token: Option<&str>) -> pb::Clock {
    SimulationServiceClient::new(ch.clone())
        .get_clock(req(
            token,
            pb::GetClockRequest {
                parent: parent.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

pub fn query(stream: &str) -> pb::QueryRecordsRequest {
    pb::QueryRecordsRequest {
        log_stream: stream.into(),
        ..Default::default()
    }
}

/// The lines of a log stream's records matching every keyword, in the order the log service
/// answers (its first page).
pub async fn record_lines(server: &Server, stream: &str, keywords: &[&str]) -> Vec<String> {
    LogServiceClient::new(server.channel().await)
        .query_records(pb::QueryRecordsRequest {
            log_stream: stream.into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records
        .into_iter()
        .map(|r| r.line)
        .collect()
}

/// [`record_lines`] of a whole stream, sorted.
pub async fn sorted_lines(server: &Server, stream: &str) -> Vec<String> {
    let mut lines = record_lines(server, stream, &[]).await;
    lines.sort();
    lines
}

/// Every record of a query, following the page tokens.
pub async fn query_all(
    ch: &Channel,
    token: Option<&str>,
    q: pb::QueryRecordsRequest,
) -> Vec<pb::FlowLogRecord> {
    let mut logs = LogServiceClient::new(ch.clone());
    let mut out = Vec::new();
    let mut q = q;
    for _ in 0..10_000 {
        let page = logs
            .query_records(req(token, q.clone()))
            .await
            .unwrap()
            .into_inner();
        out.extend(page.records);
        if page.next_page_token.is_empty() {
            return out;
        }
        q.page_token = page.next_page_token;
    }
    panic!("the page tokens never ran out");
}

/// Every VPC of a project, following the page tokens (`page_size` per page).
pub async fn all_vpcs(
    ch: &Channel,
    parent: &str,
    token: Option<&str>,
    page_size: i32,
) -> Vec<pb::Vpc> {
    let mut net = NetworkServiceClient::new(ch.clone());
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = net
            .list_vpcs(req(
                token,
                pb::ListVpcsRequest {
                    parent: parent.into(),
                    page_size,
                    page_token,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.vpcs.len() <= page_size.max(1) as usize);
        out.extend(page.vpcs);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

pub const TOKEN_A: &str = "token-team-a-0001";
pub const TOKEN_B: &str = "token-team-b-0002";

pub fn two_teams_file(path: &Path) {
    std::fs::write(
        path,
        format!(
            "tokens:\n  - token: {TOKEN_A}\n    project: team-a\n    provider: tencent\n  - token: {TOKEN_B}\n    project: team-b\n    provider: aws\n"
        ),
    )
    .unwrap();
}

pub fn two_teams(dir: &Path) -> Tenancy {
    let path = dir.join("tokens.yaml");
    two_teams_file(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    Tenancy::from_file(&path.display().to_string(), &text, Provider::Huawei).unwrap()
}

/// Runs `vpclab ARGS` that is expected to end by itself: (status, stdout, stderr).
pub fn run_to_exit(args: &[&std::ffi::OsStr]) -> (ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child);
    let out = child.wait_with_output().unwrap();
    (
        status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct Serving {
    pub child: Child,
    pub url: String,
}

impl Serving {
    pub fn start(data_dir: &Path) -> Serving {
        Serving::start_with(&[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
        ])
    }

    pub fn start_with(args: &[&std::ffi::OsStr]) -> Serving {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vpclab"))
            .args(["serve", "--provider", "tencent"])
            .args(["--seed", "1", "--start", &START.to_string()])
            .args(args)
            .env("VPCLAB_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads every line, so the server never writes to a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = match rx.recv_timeout(PATIENCE) {
            Ok(l) => l,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("vpclab serve printed no address ({e}); it ended with {status:?}");
            }
        };
        let addr: std::net::SocketAddr = line
            .strip_prefix("vpclab: serving on ")
            .unwrap_or_else(|| panic!("unexpected first line `{line}`"))
            .parse()
            .unwrap();
        assert_ne!(addr.port(), 0, "the bound port, not the requested one");
        Serving {
            child,
            url: format!("http://127.0.0.1:{}", addr.port()),
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Waits for the process to end by itself.
    pub fn wait(&mut self) -> ExitStatus {
        wait_exit(&mut self.child)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        // A failed test leaves no server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub async fn vpc_names(ch: &Channel) -> BTreeSet<String> {
    all_vpcs(ch, P, None, 100)
        .await
        .into_iter()
        .map(|v| v.display_name)
        .collect()
}
