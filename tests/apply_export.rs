//! `vpclab apply` and `vpclab export` against servers started in-process on loopback (port 0):
//! a scenario is applied and read back through the API; its export applies to a fresh server
//! whose export is byte-identical (the round trip); bad files send nothing.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use tonic::transport::Channel;
use vpclab_controlplane::api::pb;
use vpclab_controlplane::api::pb::log_service_client::LogServiceClient;
use vpclab_controlplane::api::pb::network_service_client::NetworkServiceClient;
use vpclab_controlplane::api::pb::router_service_client::RouterServiceClient;
use vpclab_controlplane::api::pb::simulation_service_client::SimulationServiceClient;
use vpclab_controlplane::api::{Cloud, Defaults, Tenancy, serve};
use vpclab_sim::profile::Provider;

mod common;
use common::{TempDir, temp_dir};

const PARENT: &str = "projects/default";

/// The first page of a List call of the project, run on `server`'s runtime:
/// `list!(server, net.list_vpcs(ListVpcsRequest))`.
macro_rules! list {
    ($server:expr, $client:ident . $call:ident ($req:ident)) => {
        $server
            .rt
            .block_on($client.$call(pb::$req {
                parent: PARENT.into(),
                ..Default::default()
            }))
            .unwrap()
            .into_inner()
    };
}

/// A Get call of resource `name`, run on `server`'s runtime:
/// `get!(server, net.get_vpc(GetVpcRequest, name))`.
macro_rules! get {
    ($server:expr, $client:ident . $call:ident ($req:ident, $name:expr)) => {
        $server
            .rt
            .block_on($client.$call(pb::$req { name: $name }))
            .unwrap()
            .into_inner()
    };
}

/// A server on a fresh data directory, stopped and removed on drop.
struct Server {
    rt: tokio::runtime::Runtime,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The data directory, removed when the server is dropped.
    _dir: TempDir,
}

impl Server {
    fn start(provider: Provider) -> Server {
        let dir = temp_dir("apply-export-data");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cloud = Cloud::open(&dir, Defaults::default()).unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(serve(
            listener,
            Arc::new(cloud),
            Arc::new(Tenancy::single(provider)),
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            rt,
            url: format!("http://{addr}"),
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// The project's network interfaces, as the API lists them.
    fn enis(&self) -> Vec<pb::NetworkInterface> {
        let mut net = self.net();
        list!(
            self,
            net.list_network_interfaces(ListNetworkInterfacesRequest)
        )
        .network_interfaces
    }

    /// A client `connect` makes of the server's address.
    fn client<C, F>(&self, connect: impl FnOnce(String) -> F) -> C
    where
        F: std::future::Future<Output = Result<C, tonic::transport::Error>>,
    {
        self.rt.block_on(connect(self.url.clone())).unwrap()
    }

    fn net(&self) -> NetworkServiceClient<Channel> {
        self.client(NetworkServiceClient::connect)
    }

    fn logs(&self) -> LogServiceClient<Channel> {
        self.client(LogServiceClient::connect)
    }

    fn routers(&self) -> RouterServiceClient<Channel> {
        self.client(RouterServiceClient::connect)
    }

    fn sim(&self) -> SimulationServiceClient<Channel> {
        self.client(SimulationServiceClient::connect)
    }

    /// The project's external hosts, as the API lists them.
    fn external_hosts(&self) -> Vec<pb::ExternalHost> {
        let mut sim = self.sim();
        list!(self, sim.list_external_hosts(ListExternalHostsRequest)).external_hosts
    }

    fn vpcs(&self) -> Vec<pb::Vpc> {
        let mut net = self.net();
        list!(self, net.list_vpcs(ListVpcsRequest)).vpcs
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn vpclab(args: &[&str], _provider: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("VPCLAB_TOKEN")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn apply(file: &Path, server: &Server, provider: &str) -> Output {
    let o = vpclab(
        &["apply", file.to_str().unwrap(), "--server", &server.url],
        provider,
    );
    assert_ok(&o, &format!("apply {}", file.display()));
    o
}

fn export(server: &Server, out: &Path, provider: &str) -> String {
    let o = vpclab(
        &[
            "export",
            "--server",
            &server.url,
            "-o",
            out.to_str().unwrap(),
        ],
        provider,
    );
    assert_ok(&o, "export");
    std::fs::read_to_string(out).unwrap()
}

/// Applies `scenario` to a fresh server, exports it, applies the export to a second fresh
/// server and exports again: the two exports must be the same bytes, and `check` must accept
/// the export. Returns the first server (for inspection) and the export.
fn round_trip(scenario: &Path, provider: Provider, name: &str) -> (Server, String) {
    let dir = temp_dir("apply-export-files");
    let first = Server::start(provider);
    let out = apply(scenario, &first, name);
    assert!(
        text(&out.stdout).contains("created projects/default/vpcs/"),
        "{}",
        text(&out.stdout)
    );
    let one = dir.join("one.yaml");
    let exported = export(&first, &one, name);
    let check = vpclab(&["check", one.to_str().unwrap()], name);
    assert_ok(&check, &format!("check of the export\n{exported}"));

    let second = Server::start(provider);
    apply(&one, &second, name);
    let two = dir.join("two.yaml");
    let again = export(&second, &two, name);
    assert_eq!(
        exported, again,
        "the export of the re-applied export differs"
    );
    (first, exported)
}

/// [`round_trip`] of the shipped scenario `scenario` (a path from the repository's root), whose
/// export must contain each of `wants`.
fn round_trip_has(
    scenario: &str,
    provider: Provider,
    name: &str,
    wants: &[&str],
) -> (Server, String) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(scenario);
    let (server, exported) = round_trip(&file, provider, name);
    for want in wants {
        assert!(exported.contains(want), "missing {want:?} in\n{exported}");
    }
    (server, exported)
}

#[test]
fn shipped_scenario_applies_and_round_trips() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ping-acl-asymmetry.yaml");
    // The scenario is tencent's: the server simulates the same cloud.
    let (server, exported) = round_trip(&file, Provider::Tencent, "tencent");
    assert!(exported.contains("provider: tencent\n"), "{exported}");
    assert!(exported.contains("id: eni-lq6mkcis"), "{exported}");

    let mut net = server.net();
    let eni = get!(
        server,
        net.get_network_interface(
            GetNetworkInterfaceRequest,
            "projects/default/networkInterfaces/eni-lq6mkcis".into()
        )
    );
    assert_eq!(eni.display_name, "instance");
    assert_eq!(eni.private_ip, "172.31.16.139");
    assert_eq!(eni.elastic_ip, "198.51.100.10");
    assert_eq!(eni.security_groups.len(), 1);
    let sg = get!(
        server,
        net.get_security_group(GetSecurityGroupRequest, eni.security_groups[0].clone())
    );
    assert_eq!(sg.display_name, "web-sg");
    assert_eq!(sg.rules.len(), 2);

    let subnet = get!(server, net.get_subnet(GetSubnetRequest, eni.subnet.clone()));
    assert_eq!(subnet.display_name, "web");
    let acl = get!(
        server,
        net.get_network_acl(GetNetworkAclRequest, subnet.network_acl.clone())
    );
    assert_eq!(acl.display_name, "web-acl");
    assert_eq!(acl.entries.len(), 2);

    let vpc = get!(server, net.get_vpc(GetVpcRequest, eni.vpc.clone()));
    assert!(!vpc.internet_gateway.is_empty());
    let main = get!(
        server,
        net.get_route_table(GetRouteTableRequest, vpc.main_route_table.clone())
    );
    assert!(main.routes.iter().any(|r| r.destination == "0.0.0.0/0"
        && r.target
            == Some(pb::route::Target::InternetGateway(
                vpc.internet_gateway.clone()
            ))));

    let hosts = server.external_hosts();
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        (hosts[0].display_name.as_str(), hosts[0].ip.as_str()),
        ("home", "203.0.113.12")
    );

    let mut logs = server.logs();
    let flows = list!(server, logs.list_flow_logs(ListFlowLogsRequest)).flow_logs;
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].display_name, "instance-flows");
    assert_eq!(flows[0].resource, eni.name);
    let stream = get!(
        server,
        logs.get_log_stream(GetLogStreamRequest, flows[0].log_stream.clone())
    );
    assert_eq!(stream.display_name, "flow-logs");
}

const RICH: &str = r#"
name: rich
provider: huawei
start: 1704067200
vpcs:
  - name: prod
    id: vpc-prod-1
    cidr: 10.0.0.0/16
    internet_gateway: true
    routes:
      - { destination: 0.0.0.0/0, target: internet_gateway }
      - { destination: 192.0.2.0/24, target: blackhole }
    route_tables:
      - name: isolated
        routes:
          - { destination: 198.51.100.0/24, target: blackhole }
      - { name: spare-table }
    security_groups:
      - name: web
        rules:
          - { direction: ingress, action: allow, priority: 10, protocol: tcp, ports: 443, remote: 0.0.0.0/0 }
          - { direction: ingress, action: deny, protocol: tcp, ports: "1024-65535", remote: 203.0.113.0/24 }
          - { direction: ingress, protocol: icmp, icmp_type: 8, icmp_code: 0, remote: { group: admin } }
          - { direction: egress, protocol: all, remote: { group: db } }
      - name: db
        id: sg-db-pinned
        rules:
          - { direction: ingress, protocol: tcp, ports: 5432, remote: { group: web } }
          - { direction: ingress, protocol: 47, remote: { group: db } }
          - { direction: egress, protocol: udp, ports: 53, remote: 10.0.0.2/32, description: "dns: the resolver" }
      - name: admin
    network_acls:
      - name: edge
        ingress:
          - { rule: 100, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0 }
          - { rule: 200, action: deny, protocol: all, cidr: 203.0.113.0/24 }
        egress:
          - { rule: 100, action: allow, protocol: tcp, ports: 1024-65535, source_ports: 443, cidr: 0.0.0.0/0 }
          - { rule: 110, action: allow, protocol: icmp, icmp_type: 0, cidr: 0.0.0.0/0 }
    subnets:
      - { name: public, cidr: 10.0.1.0/24, zone: cn-north-4a, acl: edge }
      - { name: private, cidr: 10.0.2.0/24, route_table: isolated }
    enis:
      - name: web-1
        id: eni-web-1
        subnet: public
        ip: 10.0.1.10
        eip: 198.51.100.10
        security_groups: [web, admin]
        instance_id: i-web-1
        instance_type: c3.large.2
        listen: { tcp: [443, 80] }
      - name: db-1
        subnet: private
        security_groups: [db]
        listen: { tcp: [5432], udp: [53] }
        auto_reply: false
      - name: spare
        subnet: private
  - name: lab
    cidr: 172.16.0.0/16
    security_groups:
      - name: web
    subnets:
      - { name: lab-a, cidr: 172.16.0.0/24 }
    enis:
      - { name: lab-1, subnet: lab-a, security_groups: [web] }
external_hosts:
  - { name: home, ip: 203.0.113.12 }
  - { name: dns, ip: 8.8.8.8, listen: { udp: [53] }, auto_reply: false }
flow_logs:
  - { name: web-flows, resource: { eni: web-1 }, traffic: all }
  - { name: private-rejects, resource: { subnet: private }, traffic: rejected, window: 60 }
  - { name: lab-accepted, resource: { vpc: lab }, traffic: accepted, window: 300 }
traffic:
  - at: 1
    ping: { from: home, to: web-1 }
"#;

#[test]
fn rich_topology_round_trips() {
    let dir = temp_dir("apply-export-rich");
    let file = dir.join("rich.yaml");
    std::fs::write(&file, RICH).unwrap();
    let check = vpclab(&["check", file.to_str().unwrap()], "huawei");
    assert_ok(&check, "check of the test scenario");

    let (server, exported) = round_trip(&file, Provider::Huawei, "huawei");
    for want in [
        "id: vpc-prod-1\n",
        "id: sg-db-pinned\n",
        "{direction: ingress, action: allow, priority: 10, protocol: tcp, ports: 443, remote: 0.0.0.0/0}",
        "remote: {group: admin}}",
        "protocol: 47, remote: {group: db}}",
        "description: \"dns: the resolver\"",
        "source_ports: 443",
        "acl: edge",
        "route_table: isolated",
        "security_groups: [web, admin]",
        "instance_type: c3.large.2",
        "listen: {tcp: [80, 443]}",
        "auto_reply: false",
        "resource: {subnet: private}",
        "traffic: rejected",
        "window: 60",
        "resource: {vpc: lab}",
    ] {
        assert!(exported.contains(want), "missing {want:?} in\n{exported}");
    }
    // The ENI on the default group names none.
    let spare = exported.split("- name: spare\n").nth(1).unwrap();
    let spare = spare.split("- name:").next().unwrap();
    assert!(!spare.contains("security_groups"), "{spare}");

    // Rules referencing each other arrived as group references.
    let mut net = server.net();
    let groups = server
        .rt
        .block_on(net.list_security_groups(pb::ListSecurityGroupsRequest {
            parent: PARENT.into(),
            vpc: "projects/default/vpcs/vpc-prod-1".into(),
            ..Default::default()
        }))
        .unwrap()
        .into_inner()
        .security_groups;
    let db = groups.iter().find(|g| g.display_name == "db").unwrap();
    let web = groups.iter().find(|g| g.display_name == "web").unwrap();
    assert_eq!(db.name, "projects/default/securityGroups/sg-db-pinned");
    assert_eq!(
        db.rules[0].remote,
        Some(pb::security_group_rule::Remote::SecurityGroup(
            web.name.clone()
        ))
    );
    assert_eq!(server.vpcs().len(), 2);
}

#[test]
fn bad_file_sends_nothing() {
    let server = Server::start(Provider::Huawei);
    let dir = temp_dir("apply-export-bad");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "provider: huawei\nstart: 1704067200\nvpcs:\n  - name: main\n    cidr: 10.0.0.0/16\n    subnets:\n      - { name: a, cidr: 10.9.0.0/24 }\n",
    )
    .unwrap();
    let o = vpclab(
        &["apply", file.to_str().unwrap(), "--server", &server.url],
        "huawei",
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("bad.yaml:7:"), "{err}");
    assert!(err.contains("vpcs[0].subnets[0].cidr"), "{err}");
    assert!(text(&o.stdout).is_empty());
    assert!(server.vpcs().is_empty());

    let missing = vpclab(
        &["apply", "no/such/file.yaml", "--server", &server.url],
        "huawei",
    );
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn refusals_stop_with_the_status_and_log_streams_are_reused() {
    let server = Server::start(Provider::Tencent);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ping-acl-asymmetry.yaml");
    let first = apply(&file, &server, "tencent");
    let notes = text(&first.stderr);
    assert!(notes.contains("traffic, expect are not applied"), "{notes}");
    assert!(text(&first.stdout).contains("(vpclab/flow-logs)"));

    // Again: the VPC name is taken, and the server says which field.
    let again = vpclab(
        &["apply", file.to_str().unwrap(), "--server", &server.url],
        "tencent",
    );
    assert_eq!(again.status.code(), Some(1));
    let err = text(&again.stderr);
    assert!(err.contains("creating VPC `main`: ALREADY_EXISTS"), "{err}");
    assert!(err.contains("field vpc.display_name"), "{err}");
    assert_eq!(server.vpcs().len(), 1);

    // Another topology with a flow log reuses the log group and stream.
    let dir = temp_dir("apply-export-reuse");
    let other = dir.join("other.yaml");
    std::fs::write(
        &other,
        "provider: tencent\nstart: 1432917000\nvpcs:\n  - name: second\n    cidr: 10.1.0.0/16\n    subnets:\n      - { name: s, cidr: 10.1.0.0/24 }\n    enis:\n      - { name: second-eni, subnet: s }\nflow_logs:\n  - { name: second-flows, resource: { vpc: second } }\n",
    )
    .unwrap();
    let out = apply(&other, &server, "tencent");
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("logGroups"), "{stdout}");
    assert!(stdout.contains("(second-flows)"), "{stdout}");
    let mut logs = server.logs();
    let streams = list!(server, logs.list_log_streams(ListLogStreamsRequest)).log_streams;
    assert_eq!(streams.len(), 1);
}

#[test]
fn unreachable_server_is_an_error() {
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = vpclab(
        &["export", "--server", &format!("http://127.0.0.1:{port}")],
        "huawei",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot connect"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn what_a_scenario_cannot_say_is_noted() {
    let server = Server::start(Provider::Tencent);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ping-acl-asymmetry.yaml");
    apply(&file, &server, "tencent");
    let mut net = server.net();
    let eni = "projects/default/networkInterfaces/eni-lq6mkcis";
    let e = get!(
        server,
        net.get_network_interface(GetNetworkInterfaceRequest, eni.into())
    );
    let vpc = get!(server, net.get_vpc(GetVpcRequest, e.vpc.clone()));
    // The ENI also joins the VPC's default group, which a scenario cannot name.
    server
        .rt
        .block_on(
            net.update_network_interface(pb::UpdateNetworkInterfaceRequest {
                network_interface: Some(pb::NetworkInterface {
                    name: eni.into(),
                    security_groups: vec![
                        e.security_groups[0].clone(),
                        vpc.default_security_group.clone(),
                    ],
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["security_groups".into()],
                }),
            }),
        )
        .unwrap();
    let o = vpclab(&["export", "--server", &server.url], "tencent");
    assert_ok(&o, "export");
    let err = text(&o.stderr);
    assert!(err.contains("default security group"), "{err}");
    let yaml = text(&o.stdout);
    assert!(
        yaml.contains("# Note: network interface `instance`"),
        "{yaml}"
    );
    assert!(yaml.contains("security_groups: [web-sg]"), "{yaml}");
    let dir = temp_dir("apply-export-noted");
    let f = dir.join("export.yaml");
    std::fs::write(&f, &yaml).unwrap();
    assert_ok(&vpclab(&["check", f.to_str().unwrap()], "tencent"), "check");
}

#[test]
fn nat_gateway_scenario_round_trips() {
    let (server, exported) = round_trip_has(
        "scenarios/aws-nat-gateway.yaml",
        Provider::Aws,
        "aws",
        &[
            "    nat_gateways:\n      - name: nat\n",
            "        subnet: public\n        eip: \"198.51.100.20\"\n        ip: \"10.0.0.220\"\n        eni_id: eni-1235b8ca123456789\n",
            "{destination: 0.0.0.0/0, target: nat_gateway, nat_gateway: nat}",
            "{destination: 0.0.0.0/0, target: internet_gateway}",
            "route_table: private",
            "id: eni-1111aaaa2222bbbb3",
        ],
    );
    // The gateway's requester-managed interface comes with it, not as an ENI of its own.
    assert!(!exported.contains("nat.nat-gateway"), "{exported}");
    assert_eq!(exported.matches("eni-1235b8ca123456789").count(), 1);

    let mut net = server.net();
    let nats = list!(server, net.list_nat_gateways(ListNatGatewaysRequest)).nat_gateways;
    assert_eq!(nats.len(), 1);
    let nat = &nats[0];
    assert_eq!(
        (
            nat.display_name.as_str(),
            nat.private_ip.as_str(),
            nat.elastic_ip.as_str(),
            nat.network_interface.as_str()
        ),
        (
            "nat",
            "10.0.0.220",
            "198.51.100.20",
            "projects/default/networkInterfaces/eni-1235b8ca123456789"
        )
    );
    // Traffic of the private subnet goes through it.
    let subnets = list!(server, net.list_subnets(ListSubnetsRequest)).subnets;
    let private = subnets
        .iter()
        .find(|s| s.display_name == "private")
        .unwrap();
    let table = get!(
        server,
        net.get_route_table(GetRouteTableRequest, private.route_table.clone())
    );
    assert!(table.routes.iter().any(|r| r.destination == "0.0.0.0/0"
        && r.target == Some(pb::route::Target::NatGateway(nat.name.clone()))));
}

#[test]
fn transit_gateway_scenario_round_trips() {
    let (server, exported) = round_trip_has(
        "scenarios/aws-transit-gateway.yaml",
        Provider::Aws,
        "aws",
        &[
            "enterprise_routers:\n  - name: tgw\n    id: tgw-0123456789abcdef0\n    route_tables:\n      - name: tgw-rt\n",
            "      - name: b\n",
            "        vpc: vpc-b\n        interfaces:\n          - {subnet: az1, ip: \"10.40.1.175\", eni_id: eni-11111111111111111}\n          - {subnet: az2, ip: \"10.40.2.31\", eni_id: eni-22222222222222222}\n        route_table: tgw-rt\n        propagate: [tgw-rt]\n",
            "{destination: 10.40.0.0/16, target: router, router: tgw}",
            "{destination: 10.20.0.0/16, target: router, router: tgw}",
            "resource: {vpc: vpc-b}",
        ],
    );
    // The attachments' interfaces come with them, not as ENIs of their own.
    assert_eq!(exported.matches("eni-11111111111111111").count(), 1);
    assert!(!exported.contains("tgw.b."), "{exported}");

    let mut routers = server.routers();
    let atts = list!(
        server,
        routers.list_router_attachments(ListRouterAttachmentsRequest)
    )
    .router_attachments;
    assert_eq!(atts.len(), 2);
    assert_eq!(
        atts[1].interfaces[0].network_interface_id,
        "eni-11111111111111111"
    );
    assert_eq!(atts[1].propagates_to, vec![atts[1].route_table.clone()]);
}

#[test]
fn vpc_peering_scenario_round_trips() {
    let (server, _) = round_trip_has(
        "scenarios/aws-vpc-peering.yaml",
        Provider::Aws,
        "aws",
        &[
            "vpc_peerings:\n  - {name: app-data, id: pcx-0a1b2c3d4e5f60001, vpcs: [app, data]}\n  - {name: data-dr, id: pcx-0a1b2c3d4e5f60002, vpcs: [data, dr]}\n",
            "{destination: 10.1.0.0/16, target: peering, peering: app-data}",
            "{destination: 10.2.0.0/16, target: peering, peering: data-dr}",
        ],
    );
    let mut net = server.net();
    let list = list!(
        server,
        net.list_vpc_peering_connections(ListVpcPeeringConnectionsRequest)
    )
    .vpc_peering_connections;
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .any(|x| x.display_name == "data-dr" && x.inter_region)
    );
}

/// A virtual private gateway with its connections, route propagation into the main table, a
/// static route to the gateway and the hosts behind it round-trip; once the gateway is deleted,
/// the static route to it exports as the blackhole it is.
#[test]
fn vpn_gateway_scenario_round_trips() {
    let (server, exported) = round_trip_has(
        "scenarios/aws-vpn-route-priority.yaml",
        Provider::Aws,
        "aws",
        &[
            "vpn_gateways:\n  - name: vgw\n    id: vgw-0f1e2d3c4b5a69788\n    vpc: app\n    connections:\n",
            "      - {name: dx, id: dxvif-fgabcd12, routing: direct_connect, networks: [172.16.0.0/16]}\n",
            "      - {name: vpn-static, id: vpn-0a1b2c3d4e5f60001, routing: static, networks: [172.16.0.0/16, 192.168.0.0/16]}\n",
            "      - {name: vpn-bgp, id: vpn-0a1b2c3d4e5f60002, routing: bgp, networks: [192.168.0.0/16, 192.168.5.0/24, 198.51.100.0/24, 10.0.7.0/24]}\n",
            "{destination: 203.0.113.0/24, target: vpn_gateway, vpn_gateway: vgw}",
            "{name: dc-server, ip: \"172.16.0.20\", site: {vpn_gateway: vgw}}",
            "{name: branch-pc, ip: \"192.168.5.40\", site: {vpn_gateway: vgw}}",
            "{name: partner, ip: \"198.51.100.7\"}",
        ],
    );
    // The main table's propagation, in either YAML style.
    assert!(
        exported.contains("    route_propagation:\n      - vgw\n")
            || exported.contains("    route_propagation: [vgw]\n"),
        "{exported}"
    );

    // What the server made of it: the table's propagated routes, the hosts behind the gateway.
    let mut net = server.net();
    let gateways = list!(server, net.list_vpn_gateways(ListVpnGatewaysRequest)).vpn_gateways;
    assert_eq!(gateways.len(), 1);
    let vgw = gateways[0].name.clone();
    assert_eq!(vgw, "projects/default/vpnGateways/vgw-0f1e2d3c4b5a69788");
    let main = server.vpcs()[0].main_route_table.clone();
    let table = get!(
        server,
        net.get_route_table(GetRouteTableRequest, main.clone())
    );
    assert_eq!(table.propagating_vpn_gateways, vec![vgw.clone()]);
    assert_eq!(table.propagated_routes.len(), 7, "{table:?}");
    let hosts = server.external_hosts();
    assert_eq!(
        hosts.iter().filter(|h| h.site == vgw).count(),
        3,
        "{hosts:?}"
    );

    // The gateway deleted (its hosts first): its static route is a blackhole, its propagation
    // gone.
    let mut sim = server.sim();
    for h in hosts.iter().filter(|h| h.site == vgw) {
        server
            .rt
            .block_on(sim.delete_external_host(pb::DeleteExternalHostRequest {
                name: h.name.clone(),
            }))
            .unwrap();
    }
    server
        .rt
        .block_on(net.delete_vpn_gateway(pb::DeleteVpnGatewayRequest { name: vgw }))
        .unwrap();
    let dir = temp_dir("apply-export-vgw");
    let after = export(&server, &dir.join("after.yaml"), "aws");
    assert!(
        after.contains("{destination: 203.0.113.0/24, target: blackhole}"),
        "{after}"
    );
    for gone in ["vpn_gateways:", "route_propagation", "vpn_gateway: vgw"] {
        assert!(!after.contains(gone), "{gone:?} in\n{after}");
    }
}

#[test]
fn hybrid_vpn_scenario_round_trips() {
    let (server, _) = round_trip_has(
        "scenarios/huawei-hybrid-vpn.yaml",
        Provider::Huawei,
        "huawei",
        &[
            "    id: 2756dc58-49be-413d-852f-accc5657a6c3\n",
            "          - {destination: 172.16.0.0/16, attachment: dc}\n",
            "      - name: office-vpn\n",
            "        kind: vpn_gateway\n        gateway: vpngw-office\n        networks: [192.168.0.0/16]\n        route_table: default\n        propagate: [default]\n",
            "        kind: global_dc_gateway\n        gateway: dgw-datacentre\n        networks: [172.16.0.0/16]\n        route_table: default\n",
            "{name: office-pc, ip: \"192.168.3.227\", site: {router: er, attachment: office-vpn}}",
            "{name: admin, ip: \"172.16.0.206\", site: {router: er, attachment: dc}}",
            "{destination: 192.168.0.0/16, target: router, router: er}",
        ],
    );
    let hosts = server.external_hosts();
    assert_eq!(hosts.len(), 2);
    assert!(hosts.iter().all(|h| !h.site.is_empty()));
}

#[test]
fn router_peering_scenario_round_trips_and_routes() {
    let (server, exported) = round_trip_has(
        "scenarios/aws-tgw-peering.yaml",
        Provider::Aws,
        "aws",
        &[
            "  - name: tgw-east\n",
            "    region: us-east-1\n",
            "          - {destination: 10.2.0.0/16, attachment: east-west}\n",
            "router_peerings:\n  - {name: east-west, routers: [tgw-east, tgw-west], route_tables: [east-rt, west-rt]}\n",
        ],
    );
    // The peering's sides are not written as attachments.
    assert_eq!(exported.matches("east-west").count(), 3, "{exported}");

    // Traffic crosses both routers: east pings west over the peering, and the flow logs
    // `apply` created record it on both sides.
    let mut sim = server.sim();
    let rt = &server.rt;
    let start = rt
        .block_on(sim.get_clock(pb::GetClockRequest {
            parent: PARENT.into(),
        }))
        .unwrap()
        .into_inner()
        .now
        .unwrap()
        .seconds as u64;
    let at = |s: u64| prost_types::Timestamp {
        seconds: s as i64,
        nanos: 0,
    };
    rt.block_on(sim.inject_traffic(pb::InjectTrafficRequest {
        parent: PARENT.into(),
        at: Some(at(start + 10)),
        traffic: Some(pb::inject_traffic_request::Traffic::Ping(pb::Ping {
            from: "projects/default/networkInterfaces/eni-0e00000000000000a".into(),
            to: "projects/default/networkInterfaces/eni-0f00000000000000b".into(),
            count: 3,
            ..Default::default()
        })),
    }))
    .unwrap();
    rt.block_on(sim.advance(pb::AdvanceRequest {
        parent: PARENT.into(),
        until: Some(pb::advance_request::Until::To(at(start + 700))),
    }))
    .unwrap();
    let mut logs = server.logs();
    let streams = list!(server, logs.list_log_streams(ListLogStreamsRequest)).log_streams;
    let lines: Vec<String> = rt
        .block_on(logs.query_records(pb::QueryRecordsRequest {
            log_stream: streams[0].name.clone(),
            ..Default::default()
        }))
        .unwrap()
        .into_inner()
        .records
        .into_iter()
        .map(|r| r.line)
        .collect();
    for (eni, src, dst) in [
        ("eni-0e00000000000000a", "10.1.1.10", "10.2.1.20"),
        ("eni-0e00000000000000a", "10.2.1.20", "10.1.1.10"),
        ("eni-0f00000000000000b", "10.1.1.10", "10.2.1.20"),
        ("eni-0f00000000000000b", "10.2.1.20", "10.1.1.10"),
    ] {
        let want = format!(" {eni} {src} {dst} 0 0 1 3 252 ");
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&want) && l.contains(" ACCEPT OK")),
            "missing {want:?} in {lines:#?}"
        );
    }
}

#[test]
fn router_flow_logs_and_blackholes_round_trip() {
    for (file, provider, name, want) in [
        (
            "scenarios/router-blackhole.yaml",
            Provider::Aws,
            "aws",
            &[
                "{destination: 10.40.9.0/24, blackhole: true}",
                "resource: {router: tgw, attachment: a}",
            ][..],
        ),
        (
            "scenarios/huawei-er-flow-log.yaml",
            Provider::Huawei,
            "huawei",
            &["resource: {router: er, attachment: vpc-b}"][..],
        ),
    ] {
        let (_, exported) = round_trip_has(file, provider, name, want);
        assert!(!exported.contains("# Note"), "{exported}");
    }
}

#[test]
fn ccn_scenarios_round_trip() {
    for (file, provider, name, want) in [
        (
            "scenarios/tencent-ccn-throttling.yaml",
            Provider::Tencent,
            "tencent",
            "ccns:\n  - name: backbone\n    id: ccn-a1b2c3d4\n    vpcs: [gz, sh]\n    bandwidth_limits:\n      - {regions: [ap-guangzhou, ap-shanghai], bandwidth: 1000000}\n",
        ),
        (
            "scenarios/tencent-ccn-same-region.yaml",
            Provider::Tencent,
            "tencent",
            "    vpcs: [gz-a, gz-b, sh]\n",
        ),
        (
            "scenarios/alibaba-cen-cross-region.yaml",
            Provider::Alibaba,
            "alibaba",
            "    vpcs: [hz, sh]\n",
        ),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let (server, exported) = round_trip(&path, provider, name);
        for w in [want, "resource: {ccn: ", "    region: "] {
            assert!(exported.contains(w), "{file}: missing {w:?} in\n{exported}");
        }
        assert!(!exported.contains("not applied"), "{exported}");
        let mut ccns = server.client(pb::ccn_service_client::CcnServiceClient::connect);
        let list = list!(
            server,
            ccns.list_cloud_connect_networks(ListCloudConnectNetworksRequest)
        )
        .cloud_connect_networks;
        assert_eq!(list.len(), 1, "{file}");
        assert_eq!(list[0].bandwidth_limits.len(), 1, "{file}");
    }
}

#[test]
fn nat_dnat_scenario_round_trips() {
    let (server, exported) = round_trip_has(
        "scenarios/tencent-nat-dnat.yaml",
        Provider::Tencent,
        "tencent",
        &[
            "    nat_gateways:\n      - name: nat\n",
            "        subnet: public\n        eip: \"198.51.100.30\"\n        ip: \"10.0.0.100\"\n        eni_id: eni-nat00001\n        dnat:\n          - {protocol: tcp, port: 8080, to: web-1, to_port: 80}\n",
            "resource: {nat_gateway: nat}",
            "resource: {eni: web-1}",
        ],
    );
    assert!(!exported.contains("left out"), "{exported}");

    let mut net = server.net();
    let nats = list!(server, net.list_nat_gateways(ListNatGatewaysRequest)).nat_gateways;
    assert_eq!(nats.len(), 1);
    assert_eq!(
        nats[0].dnat_rules,
        vec![pb::DnatRule {
            protocol: "tcp".into(),
            port: 8080,
            to: "projects/default/networkInterfaces/eni-web00001".into(),
            to_port: 80,
        }]
    );
}

/// An interface's bandwidth limit (tencent, D20) is applied through the API, shown by it and
/// exported: it round-trips like the rest.
#[test]
fn eni_bandwidth_round_trips() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tencent-eni-bandwidth.yaml");
    let (server, exported) = round_trip(&file, Provider::Tencent, "tencent");
    assert!(exported.contains("bandwidth: 1000000"), "{exported}");
    assert!(exported.contains("bandwidth: 500000"), "{exported}");
    let enis = server.enis();
    let limited: Vec<(&str, Option<u64>)> = enis
        .iter()
        .filter(|e| e.bandwidth.is_some())
        .map(|e| (e.display_name.as_str(), e.bandwidth))
        .collect();
    assert_eq!(
        limited,
        [("fast", Some(1_000_000)), ("slow", Some(500_000))]
    );
}

/// An interface's connection-tracking timeouts (aws, policy.md §1.3) are applied through the
/// API, shown by it as set (defaults, the instance type's included, are not written) and
/// exported: they round-trip like the rest, next to the instance type.
#[test]
fn eni_connection_tracking_round_trips() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/aws-conntrack-timeouts.yaml");
    let (server, exported) = round_trip(&file, Provider::Aws, "aws-conntrack");
    assert_eq!(
        exported.matches("connection_tracking:").count(),
        1,
        "{exported}"
    );
    assert!(
        exported.contains("connection_tracking: {tcp_established: 120}"),
        "{exported}"
    );
    assert!(exported.contains("instance_type: m8i.large"), "{exported}");
    let enis = server.enis();
    let set: Vec<(&str, Option<pb::ConnectionTracking>)> = enis
        .iter()
        .filter(|e| e.connection_tracking.is_some())
        .map(|e| (e.display_name.as_str(), e.connection_tracking))
        .collect();
    assert_eq!(
        set,
        [(
            "tuned",
            Some(pb::ConnectionTracking {
                tcp_established: Some(120),
                udp_stream: None,
                udp: None,
            })
        )]
    );
}

/// alibaba's enterprise security groups go through `apply` and come back from `export` with
/// their type; basic groups (the default) are exported without one.
#[test]
fn security_group_types_round_trip() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/alibaba-sg-types.yaml");
    let (_, exported) = round_trip(&file, Provider::Alibaba, "alibaba-sg-types");
    assert_eq!(
        exported.matches("type: enterprise").count(),
        2,
        "{exported}"
    );
    assert!(!exported.contains("type: basic"), "{exported}");
}

/// A file of another cloud applies to a project of this one with the project's zone names:
/// subnets of one zone stay together, of two zones apart (the transit gateway's zone
/// affinity depends on it).
#[test]
fn another_clouds_file_applies_with_this_clouds_zones() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/aws-transit-gateway.yaml");
    let server = Server::start(Provider::Huawei);
    apply(&file, &server, "zones-huawei");
    let dir = temp_dir("apply-export-zones");
    let exported = export(&server, &dir.join("e.yaml"), "zones-huawei");
    for subnet in [
        "cidr: 10.20.33.0/24, zone: cn-north-4a}",
        "cidr: 10.40.1.0/24, zone: cn-north-4a}",
        "cidr: 10.40.2.0/24, zone: cn-north-4b}",
    ] {
        assert!(exported.contains(subnet), "{subnet}\n{exported}");
    }
}

/// An interface's secondary private IPs are applied through the API, shown by it and
/// exported in order: they round-trip like the rest.
#[test]
fn secondary_private_ips_round_trip() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/aws-secondary-ip.yaml");
    let (server, exported) = round_trip(&file, Provider::Aws, "aws");
    assert!(
        exported.contains(r#"secondary_private_ips: ["10.0.1.20", "10.0.1.21"]"#),
        "{exported}"
    );
    let enis = server.enis();
    let mut secondary: Vec<(&str, Vec<&str>)> = enis
        .iter()
        .map(|e| {
            let ips = e.secondary_private_ips.iter().map(String::as_str);
            (e.display_name.as_str(), ips.collect())
        })
        .collect();
    secondary.sort();
    assert_eq!(
        secondary,
        [("client", vec![]), ("web", vec!["10.0.1.20", "10.0.1.21"])]
    );
}
