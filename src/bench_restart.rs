//! `vpclab bench restart`: how long a server takes to start as its history grows. A server
//! start rebuilds every project by applying its stored commands again (`Cloud::open`), so this
//! fills one project's data directory through the `Cloud` API (the same calls the gRPC
//! handlers make, every one a durable commit) with a mix of commands a user would send, and at
//! each size closes the cloud and times opening it again.
//!
//! The mix grows a project the way a team would: VPCs of ten subnets with a web and a db
//! security group (the db group admits the web group, the web group admits itself), interfaces
//! created in batches and some deleted again, rules changed, flow logs on interfaces, subnets
//! and VPCs (at most eight live, the oldest deleted first: most clouds cap them per region),
//! pings and TCP sessions between the interfaces, and the clock advanced after each batch.
//! Sizes are built in ascending order on one directory, so the largest size is built once.

use std::collections::VecDeque;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use vpclab_controlplane::api::command::Command;
use vpclab_controlplane::api::names::Collection;
use vpclab_controlplane::api::{Caller, Cloud, Defaults, pb};
use vpclab_sim::profile::Provider;

/// The sizes measured when none is given.
pub const DEFAULT_SIZES: [u64; 5] = [5_000, 10_000, 20_000, 50_000, 100_000];

/// What to measure.
pub struct Options {
    /// Stored commands at which the restart is timed, ascending.
    pub sizes: Vec<u64>,
    /// The cloud the project simulates.
    pub provider: Provider,
    /// Restarts timed at each size.
    pub runs: usize,
}

pub fn run(opts: &Options) -> ExitCode {
    let dir = std::env::temp_dir().join(format!("vpclab-bench-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = bench(&dir, opts);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(1, &e),
    }
}

fn bench(dir: &Path, opts: &Options) -> Result<(), String> {
    let mut sizes = opts.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let runs = opts.runs.max(1);
    let caller = Caller {
        project: "default".into(),
        provider: opts.provider,
    };
    let open = || Cloud::open(dir, Defaults::default()).map_err(|e| e.to_string());
    let mut cloud = open()?;
    let mut mix = Mix::default();
    crate::output::say!(
        "provider={} runs={runs} (restart seconds: min median max)",
        opts.provider.as_str()
    );
    crate::output::say!(
        "{:>9} {:>9} {:>9} {:>9} {:>9}",
        "commands",
        "build_s",
        "min_s",
        "median_s",
        "max_s"
    );
    for size in sizes {
        let started = Instant::now();
        let mut stored = stored_commands(&cloud, &caller)?;
        while stored < size {
            mix.round(&cloud, &caller)?;
            stored = stored_commands(&cloud, &caller)?;
        }
        let built = started.elapsed().as_secs_f64();
        drop(cloud);
        let mut times = Vec::with_capacity(runs);
        let mut reopened = None;
        for _ in 0..runs {
            // The previous cloud lets go of the data directory first.
            drop(reopened.take());
            let t = Instant::now();
            let c = open()?;
            times.push(t.elapsed().as_secs_f64());
            reopened = Some(c);
        }
        cloud = reopened.ok_or("no run")?;
        let after = stored_commands(&cloud, &caller)?;
        if after != stored {
            return Err(format!(
                "{stored} commands were stored but {after} came back"
            ));
        }
        times.sort_by(f64::total_cmp);
        crate::output::say!(
            "{stored:>9} {built:>9.2} {:>9.3} {:>9.3} {:>9.3}",
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    Ok(())
}

/// Commands the project has stored (its creation included).
fn stored_commands(cloud: &Cloud, caller: &Caller) -> Result<u64, String> {
    cloud
        .read(caller, |p| Ok(p.applied))
        .map_err(|e| e.to_string())
}

/// Interfaces created per round, and rounds per subnet and per VPC.
const ENIS_PER_ROUND: usize = 4;
const ROUNDS_PER_SUBNET: u64 = 4;
const ROUNDS_PER_VPC: u64 = 40;
/// Live flow logs kept (huawei and alibaba allow ten per region).
const LIVE_FLOW_LOGS: usize = 8;

/// The generator's view of the project: what it created and may use or delete next.
#[derive(Default)]
struct Mix {
    round: u64,
    vpcs: u64,
    enis_made: u64,
    flow_logs_made: u64,
    vpc: String,
    subnet: String,
    web: String,
    db: String,
    stream: String,
    /// Interfaces with no flow log of their own, oldest first, with the round they came in.
    deletable: VecDeque<(String, u64)>,
    /// Interfaces of the current VPC, newest last, for traffic: (name, is a db server).
    recent: Vec<(String, bool)>,
    flow_logs: VecDeque<String>,
}

const P: &str = "projects/default";

impl Mix {
    /// Applies one command and returns the id it created or changed, if any.
    fn send(&self, cloud: &Cloud, caller: &Caller, cmd: Command) -> Result<String, String> {
        let kind = cmd.kind();
        cloud
            .mutate(caller, cmd, |_, a| Ok(a.id.clone().unwrap_or_default()))
            .map_err(|e| format!("{kind} was refused: {e}"))
    }

    fn name(c: Collection, id: &str) -> String {
        format!("{P}/{}/{id}", c.segment())
    }

    /// One round: perhaps a new VPC and subnet, four interfaces, a rule change, a flow log
    /// (deleting the oldest beyond eight), traffic, the clock a minute on, a delete.
    fn round(&mut self, cloud: &Cloud, caller: &Caller) -> Result<(), String> {
        let r = self.round;
        self.round += 1;
        if r == 0 {
            let group = self.send(
                cloud,
                caller,
                Command::CreateLogGroup(pb::CreateLogGroupRequest {
                    parent: P.into(),
                    log_group: Some(pb::LogGroup {
                        display_name: "flows".into(),
                        ..Default::default()
                    }),
                    log_group_id: String::new(),
                }),
            )?;
            let stream = self.send(
                cloud,
                caller,
                Command::CreateLogStream(pb::CreateLogStreamRequest {
                    parent: P.into(),
                    log_stream: Some(pb::LogStream {
                        display_name: "all".into(),
                        log_group: Self::name(Collection::LogGroups, &group),
                        ..Default::default()
                    }),
                    log_stream_id: String::new(),
                }),
            )?;
            self.stream = Self::name(Collection::LogStreams, &stream);
        }
        if r.is_multiple_of(ROUNDS_PER_VPC) {
            self.new_vpc(cloud, caller)?;
        }
        if r.is_multiple_of(ROUNDS_PER_SUBNET) {
            let j = (r % ROUNDS_PER_VPC) / ROUNDS_PER_SUBNET;
            let k = (self.vpcs - 1) % 256;
            let id = self.send(
                cloud,
                caller,
                Command::CreateSubnet(pb::CreateSubnetRequest {
                    parent: P.into(),
                    subnet: Some(pb::Subnet {
                        display_name: format!("sn-{j}"),
                        vpc: self.vpc.clone(),
                        cidr: format!("10.{k}.{j}.0/24"),
                        ..Default::default()
                    }),
                    subnet_id: String::new(),
                }),
            )?;
            self.subnet = Self::name(Collection::Subnets, &id);
        }
        for i in 0..ENIS_PER_ROUND {
            let db = i % 2 == 1;
            let groups = match i {
                0 | 2 => vec![self.web.clone()],
                1 => vec![self.db.clone()],
                _ => vec![self.web.clone(), self.db.clone()],
            };
            self.enis_made += 1;
            let id = self.send(
                cloud,
                caller,
                Command::CreateNetworkInterface(pb::CreateNetworkInterfaceRequest {
                    parent: P.into(),
                    network_interface: Some(pb::NetworkInterface {
                        display_name: format!("eni-{}", self.enis_made),
                        subnet: self.subnet.clone(),
                        security_groups: groups,
                        listen_tcp: vec![80, 443, 5432],
                        ..Default::default()
                    }),
                    network_interface_id: String::new(),
                }),
            )?;
            let name = Self::name(Collection::NetworkInterfaces, &id);
            self.recent.push((name.clone(), db));
            // The first interface of every third round gets a flow log of its own.
            if !(i == 0 && r.is_multiple_of(3)) {
                self.deletable.push_back((name, r));
            }
        }
        // A rule change: the web group's extra port moves.
        self.send(
            cloud,
            caller,
            Command::UpdateSecurityGroup(pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    name: self.web.clone(),
                    rules: web_rules(&self.web, 8000 + (r % 100) as u32),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["rules".into()],
                }),
            }),
        )?;
        // A flow log on the round's first interface, its subnet or its VPC.
        if self.flow_logs.len() >= LIVE_FLOW_LOGS
            && let Some(old) = self.flow_logs.pop_front()
        {
            self.send(
                cloud,
                caller,
                Command::DeleteFlowLog(pb::DeleteFlowLogRequest {
                    name: old,
                    etag: String::new(),
                }),
            )?;
        }
        let first = &self.recent[self.recent.len() - ENIS_PER_ROUND].0;
        let resource = match r % 3 {
            0 => first.clone(),
            1 => self.subnet.clone(),
            _ if r % 6 == 5 => self.vpc.clone(),
            _ => self.subnet.clone(),
        };
        self.flow_logs_made += 1;
        let id = self.send(
            cloud,
            caller,
            Command::CreateFlowLog(pb::CreateFlowLogRequest {
                parent: P.into(),
                flow_log: Some(pb::FlowLog {
                    display_name: format!("fl-{}", self.flow_logs_made),
                    resource,
                    log_stream: self.stream.clone(),
                    ..Default::default()
                }),
                flow_log_id: String::new(),
            }),
        )?;
        self.flow_logs
            .push_back(Self::name(Collection::FlowLogs, &id));
        // Traffic: a ping between two of the round's interfaces, a TCP session from a web
        // interface to a db one of an earlier round.
        let n = self.recent.len();
        let (a, b) = (&self.recent[n - 1].0, &self.recent[n - 2].0);
        self.send(
            cloud,
            caller,
            Command::InjectTraffic(pb::InjectTrafficRequest {
                parent: P.into(),
                at: None,
                traffic: Some(pb::inject_traffic_request::Traffic::Ping(pb::Ping {
                    from: a.clone(),
                    to: b.clone(),
                    count: 3,
                    ..Default::default()
                })),
            }),
        )?;
        let web = &self.recent[n - ENIS_PER_ROUND].0;
        let db = self
            .recent
            .iter()
            .rev()
            .skip(ENIS_PER_ROUND)
            .find(|(_, db)| *db)
            .unwrap_or(&self.recent[n - 3]);
        self.send(
            cloud,
            caller,
            Command::InjectTraffic(pb::InjectTrafficRequest {
                parent: P.into(),
                at: None,
                traffic: Some(pb::inject_traffic_request::Traffic::Tcp(pb::Tcp {
                    from: web.clone(),
                    to: db.0.clone(),
                    port: 5432,
                    requests: vec![120, 40],
                    responses: vec![800, 60],
                    ..Default::default()
                })),
            }),
        )?;
        self.send(
            cloud,
            caller,
            Command::Advance(pb::AdvanceRequest {
                parent: P.into(),
                until: Some(pb::advance_request::Until::By(prost_types::Duration {
                    seconds: 30,
                    nanos: 0,
                })),
            }),
        )?;
        // One interface of two rounds ago or older goes (most stay: the project grows).
        if self
            .deletable
            .front()
            .is_some_and(|(_, made)| made + 2 <= r)
            && let Some((name, _)) = self.deletable.pop_front()
        {
            self.recent.retain(|(n, _)| *n != name);
            self.send(
                cloud,
                caller,
                Command::DeleteNetworkInterface(pb::DeleteNetworkInterfaceRequest {
                    name,
                    etag: String::new(),
                }),
            )?;
        }
        Ok(())
    }

    /// A VPC with a web and a db security group; interfaces of older VPCs are left alone.
    fn new_vpc(&mut self, cloud: &Cloud, caller: &Caller) -> Result<(), String> {
        let k = self.vpcs % 256;
        self.vpcs += 1;
        let id = self.send(
            cloud,
            caller,
            Command::CreateVpc(pb::CreateVpcRequest {
                parent: P.into(),
                vpc: Some(pb::Vpc {
                    display_name: format!("vpc-{}", self.vpcs),
                    cidr: format!("10.{k}.0.0/16"),
                    ..Default::default()
                }),
                vpc_id: String::new(),
            }),
        )?;
        self.vpc = Self::name(Collection::Vpcs, &id);
        let group = |name: &str| {
            Command::CreateSecurityGroup(pb::CreateSecurityGroupRequest {
                parent: P.into(),
                security_group: Some(pb::SecurityGroup {
                    display_name: name.into(),
                    vpc: self.vpc.clone(),
                    ..Default::default()
                }),
                security_group_id: String::new(),
            })
        };
        let web = self.send(cloud, caller, group("web"))?;
        self.web = Self::name(Collection::SecurityGroups, &web);
        let db = self.send(cloud, caller, group("db"))?;
        self.db = Self::name(Collection::SecurityGroups, &db);
        self.send(
            cloud,
            caller,
            Command::UpdateSecurityGroup(pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    name: self.db.clone(),
                    rules: vec![
                        rule_from_group(pb::Direction::Ingress, "tcp", "5432", &self.web),
                        rule(pb::Direction::Ingress, "icmp", "", "10.0.0.0/8"),
                        rule(pb::Direction::Egress, "all", "", "0.0.0.0/0"),
                    ],
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["rules".into()],
                }),
            }),
        )?;
        self.recent.clear();
        Ok(())
    }
}

/// The web group's rules: HTTP(S) from anywhere, everything from its own members, one extra
/// port (the one that changes), ICMP from the VPCs, all out.
fn web_rules(web: &str, extra: u32) -> Vec<pb::SecurityGroupRule> {
    vec![
        rule(pb::Direction::Ingress, "tcp", "80", "0.0.0.0/0"),
        rule(pb::Direction::Ingress, "tcp", "443", "0.0.0.0/0"),
        rule_from_group(pb::Direction::Ingress, "all", "", web),
        rule(
            pb::Direction::Ingress,
            "tcp",
            &extra.to_string(),
            "10.0.0.0/8",
        ),
        rule(pb::Direction::Ingress, "icmp", "", "10.0.0.0/8"),
        rule(pb::Direction::Egress, "all", "", "0.0.0.0/0"),
    ]
}

fn rule(dir: pb::Direction, proto: &str, ports: &str, cidr: &str) -> pb::SecurityGroupRule {
    pb::SecurityGroupRule {
        direction: dir as i32,
        action: pb::RuleAction::Allow as i32,
        protocol: proto.into(),
        ports: ports.into(),
        remote: Some(pb::security_group_rule::Remote::Cidr(cidr.into())),
        ..Default::default()
    }
}

/// [`rule`] from the members of `group` instead of a CIDR.
fn rule_from_group(
    dir: pb::Direction,
    proto: &str,
    ports: &str,
    group: &str,
) -> pb::SecurityGroupRule {
    pb::SecurityGroupRule {
        remote: Some(pb::security_group_rule::Remote::SecurityGroup(group.into())),
        ..rule(dir, proto, ports, "")
    }
}
