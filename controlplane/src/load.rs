//! From a scenario file to a ready-to-run simulation. Shape errors come from the YAML parser
//! with their position. The topology goes through the one funnel: `plan` turns it into the API
//! commands a server stores, and `Local` applies them to a project in memory with
//! `Project::apply`, as a server does; a refusal (a subnet outside its VPC, an unknown group, a
//! bad port range) names a request field, which the command's step places back on the file's
//! line. Flow logs, workload fleets and the traffic script are still built here, through the
//! world's own operations (docs/architecture.md). Nothing runs unless everything loads.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde_saphyr::{Location, Spanned};
use vpclab_sim::Direction;
use vpclab_sim::addr::Ipv4Net;
use vpclab_sim::flowlog::format::{AwsFormat, Format};
use vpclab_sim::flowlog::{Filter, Scope};
use vpclab_sim::packet::{Packet, size};
use vpclab_sim::policy::sg::Remote;
use vpclab_sim::policy::{PortRange, ProtoMatch, RuleAction, acl, sg};
use vpclab_sim::profile::{Profile, Provider};
use vpclab_sim::simulation::{Change, Close, Simulation, TcpSession};
use vpclab_sim::time::{Span, Time};
use vpclab_sim::world::{self, Config, Endpoint, FlowLogSpec, ModelError, Route, Target, World};

use crate::api::command::Command;
use crate::api::names::Collection;
use crate::api::project::Project;
use crate::api::view;
use crate::doc::{self, S};
use crate::expect::Expectation;
use crate::parse;
use crate::plan::{self, Planner};

mod workload;
pub use workload::{Incident, KINDS, ROLES, Workload};

/// A scenario that could not be loaded: where, which field, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// `run`'s executor: each command applied to a project in memory, as a server applies it; a
/// refusal placed on the line of the field it names.
struct Local<'a> {
    project: Project,
    loader: &'a Loader,
}

impl plan::Executor for Local<'_> {
    type Error = ScenarioError;

    fn parent(&self) -> String {
        format!("projects/{}", self.project.id)
    }

    fn execute(&mut self, cmd: Command, step: &plan::Step) -> Result<plan::Reply, ScenarioError> {
        let applied = self.project.apply(&cmd).map_err(|e| {
            let (field, at) = step.locate(e.field.as_deref());
            self.loader.err(at, field, e.message)
        })?;
        view::changed(&self.project, &cmd, &applied).ok_or_else(|| {
            self.loader.err(
                step.at,
                step.path.clone(),
                format!("{}: nothing was created", step.doing),
            )
        })
    }

    fn refuse(&self, at: Location, field: String, message: String) -> ScenarioError {
        self.loader.err(at, field, message)
    }

    fn log_stream(&mut self) -> Result<String, ScenarioError> {
        // `load` creates flow logs itself (the API has no `capacity` or `created` yet).
        Err(self.loader.err(
            Location::UNKNOWN,
            "flow_logs",
            "flow logs are not created through commands yet",
        ))
    }
}

/// The fields of a script entry: as a world error names them, as the file names them, and
/// their lines.
type Fields = Vec<(&'static str, &'static str, Location)>;

/// A copy of a world (through its snapshot encoding) to check a script's changes on.
fn copy_world(w: &World) -> Result<World, String> {
    let bytes = postcard::to_allocvec(w).map_err(|e| e.to_string())?;
    postcard::from_bytes(&bytes).map_err(|e| e.to_string())
}

/// The world index of a resource the commands created.
fn find_in(p: &Project, c: Collection, name: &str) -> u32 {
    p.find(c, id_of(name))
        .expect("the commands created every resource they named")
}

/// The file's names of routers, their route tables and attachments → world indices.
fn router_names(p: &Project, names: &mut Names, created: &plan::Created) {
    let find = |c: Collection, name: &str| find_in(p, c, name);
    for (name, resource) in &created.routers {
        names
            .routers
            .insert(name.clone(), find(Collection::EnterpriseRouters, resource));
    }
    for ((router, table), resource) in &created.router_tables {
        let r = names.routers[router];
        names.router_tables.insert(
            (r, table.clone()),
            find(Collection::RouterRouteTables, resource),
        );
    }
    for ((router, att), resource) in &created.attachments {
        let r = names.routers[router];
        names.attachments.insert(
            (r, att.clone()),
            find(Collection::RouterAttachments, resource),
        );
    }
}

/// The last segment of a resource name: the id.
fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A scenario run as another cloud (`--provider`), or applied to a project of another cloud
/// or region (`vpclab apply`), names its zones the file's cloud's way and for the file's
/// region: each VPC region's zones become that region's first, second… zones as `to` names
/// them, in the order the file first names them (a subnet without a zone is in the file
/// region's first), so subnets of one zone stay together and subnets of different zones stay
/// apart. VPCs without a region of their own move to `home`.
pub fn rename_zones(d: &mut doc::Scenario, file: &Profile, to: &Profile, home: &str) {
    let file_home = d
        .region
        .as_ref()
        .map_or(file.default_region, |r| r.value.as_str())
        .to_string();
    let mut seen: Vec<(String, String)> = Vec::new();
    for v in &mut d.vpcs {
        let own = v.value.region.as_ref().map(|r| r.value.clone());
        let from = own.clone().unwrap_or_else(|| file_home.clone());
        let region = own.unwrap_or_else(|| home.to_string());
        for s in &mut v.value.subnets {
            let zone = s
                .value
                .zone
                .clone()
                .unwrap_or_else(|| file.addressing.default_zone(&from));
            let key = (from.clone(), zone);
            let k = match seen.iter().position(|z| *z == key) {
                Some(k) => k,
                None => {
                    seen.push(key);
                    seen.len() - 1
                }
            };
            let nth = seen[..k].iter().filter(|(r, _)| *r == from).count();
            s.value.zone = Some(to.addressing.zone(&region, nth));
        }
    }
}

/// Overrides from the command line.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub provider: Option<Provider>,
    pub format: Option<Format>,
    /// Keep every packet's outcome (`--explain`).
    pub explain: bool,
    /// Keep every packet at every capture point (`--pcap`).
    pub capture: bool,
    /// Records keep labels and decisions but not packet ids (`vpclab generate`: memory
    /// follows the records, not the packets).
    pub labels_only: bool,
}

/// A loaded scenario, ready to run.
pub struct Loaded {
    pub name: String,
    pub description: Option<String>,
    pub source: Option<String>,
    pub provider: Provider,
    pub format: Format,
    pub sim: Simulation,
    /// The scenario's start (`start:`): explanations count time from it.
    pub start: Time,
    pub until: Option<Time>,
    pub expectations: Vec<Expectation>,
    /// The workload's end and incidents, if the file has a `workload:` section.
    pub workload: Option<Workload>,
}

/// Parses and loads a scenario. `file` is used in error messages only.
pub fn load(file: &str, text: &str, opts: &Options) -> Result<Loaded, ScenarioError> {
    let doc: doc::Scenario = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        ScenarioError {
            file: file.into(),
            line,
            column,
            field: key_at(text, line, column).unwrap_or_default(),
            message: parse_message(&e.to_string()),
        }
    })?;
    Loader {
        file: file.to_string(),
        opts: opts.clone(),
    }
    .build(doc)
}

/// The YAML key whose value starts at (line, column), e.g. `seed` for `seed: -1`, so that a
/// type error names its field like every other error.
fn key_at(text: &str, line: u64, column: u64) -> Option<String> {
    let src = text.lines().nth(line.checked_sub(1)? as usize)?;
    let before: String = src
        .chars()
        .take(column.saturating_sub(1) as usize)
        .collect();
    let colon = before.trim_end().strip_suffix(':')?;
    let key: String = colon
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    (!key.is_empty()).then(|| key.chars().rev().collect())
}

/// serde-saphyr's message with its own `error: line X column Y:` prefix and source excerpt
/// removed: the caller prints the position in its own form.
fn parse_message(full: &str) -> String {
    let first = full.lines().next().unwrap_or(full);
    let msg = first.trim_start_matches("error: ");
    match msg.split_once(": ") {
        Some((pos, rest)) if pos.starts_with("line ") => rest.to_string(),
        _ => msg.to_string(),
    }
}

/// Where an ACL entry is: its path, the line of its rule number, the line of its ports.
type EntryLocation = (String, Location, Location);

struct Loader {
    file: String,
    opts: Options,
}

/// Names → indices, for references inside the file.
#[derive(Default)]
struct Names {
    vpcs: BTreeMap<String, u32>,
    /// (vpc, name) → index
    subnets: BTreeMap<(u32, String), u32>,
    groups: BTreeMap<(u32, String), u32>,
    acls: BTreeMap<(u32, String), u32>,
    tables: BTreeMap<(u32, String), u32>,
    nats: BTreeMap<(u32, String), u32>,
    routers: BTreeMap<String, u32>,
    /// (router, name) → index
    router_tables: BTreeMap<(u32, String), u32>,
    attachments: BTreeMap<(u32, String), u32>,
    endpoints: BTreeMap<String, Endpoint>,
    ccns: BTreeMap<String, u32>,
    vpc_peerings: BTreeMap<String, u32>,
    vpn_gateways: BTreeMap<String, u32>,
}

impl Loader {
    fn err(
        &self,
        loc: Location,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: self.file.clone(),
            line: loc.line(),
            column: loc.column(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A world error, placed at the field it names when that field is known, else at `item`.
    fn model<F: AsRef<str>>(
        &self,
        e: ModelError,
        path: &str,
        item: Location,
        fields: &[(F, Location)],
    ) -> ScenarioError {
        let loc = fields
            .iter()
            .filter(|(f, _)| {
                let f = f.as_ref();
                e.field == f
                    || e.field.starts_with(&format!("{f}."))
                    || e.field.starts_with(&format!("{f}["))
            })
            .map(|(_, l)| *l)
            .next()
            .unwrap_or(item);
        let field = if e.field.is_empty() {
            path.to_string()
        } else {
            format!("{path}.{}", e.field)
        };
        self.err(loc, field, e.message)
    }

    fn build(self, mut d: doc::Scenario) -> Result<Loaded, ScenarioError> {
        let provider = match self.opts.provider {
            Some(p) => p,
            None => d
                .provider
                .value
                .parse()
                .map_err(|m: String| self.err(d.provider.referenced, "provider", m))?,
        };
        let profile = Profile::of(provider);
        if let Some(r) = &d.region {
            vpclab_sim::ccn::check_region(&r.value)
                .map_err(|m| self.err(r.referenced, "region", m))?;
        }
        if let Ok(file) = d.provider.value.parse::<Provider>()
            && file != provider
        {
            let home = d
                .region
                .as_ref()
                .map_or(profile.default_region, |r| r.value.as_str())
                .to_string();
            rename_zones(&mut d, &Profile::of(file), &profile, &home);
        }
        let format = match (&self.opts.format, &d.output) {
            (Some(f), _) => f.clone(),
            (None, Some(o)) => self.format(&o.format)?,
            (None, None) => profile.default_format(),
        };
        if d.start.value > LATEST_START {
            return Err(self.err(
                d.start.referenced,
                "start",
                format!(
                    "{} is after the year 2100 (at most {LATEST_START})",
                    d.start.value
                ),
            ));
        }
        let start = Time::from_secs(d.start.value);
        let mut cfg = Config::new(profile);
        cfg.seed = d.seed;
        cfg.account_id = d.account.clone();
        cfg.region = d.region.as_ref().map(|r| r.value.clone());
        cfg.capture_packets = self.opts.capture;
        if self.opts.labels_only {
            cfg.truth = vpclab_sim::flowlog::TruthLevel::Labels;
        }
        // VPCs and routers go through the one funnel: the commands a server would store,
        // applied to a project in memory as a server applies them (`plan`).
        let mut local = Local {
            project: Project::local("local", World::new(cfg), start, d.seed),
            loader: &self,
        };
        let mut planner = Planner::new(&mut local);
        for vi in 0..d.vpcs.len() {
            planner.vpc(&d, vi)?;
        }
        planner.routers(&d)?;
        planner.vpn_gateways(&d)?;
        planner.external_hosts(&d)?;
        let created = planner.into_created();
        let mut names = Names::default();
        let project = &local.project;
        for (vi, v) in d.vpcs.iter().enumerate() {
            let applied = &created.vpcs[&v.value.name.value];
            self.vpc_names(project, &mut names, vi, &v.value, applied)?;
        }
        router_names(project, &mut names, &created);
        for (name, resource) in &created.vpn_gateways {
            let g = find_in(project, Collection::VpnGateways, resource);
            names.vpn_gateways.insert(name.clone(), g);
        }
        for (i, x) in d.external_hosts.iter().enumerate() {
            let h = find_in(
                project,
                Collection::ExternalHosts,
                &created.hosts[&x.value.name.value],
            );
            let path = format!("external_hosts[{i}]");
            self.unique_endpoint(&mut names, &x.value.name, &path, Endpoint::External(h))?;
        }
        let plan = match &d.workload {
            Some(wd) => {
                Some(self.workload_topology(&mut local.project.sim.world, &mut names, start, wd)?)
            }
            None => None,
        };

        // VPC routes to routers and peering connections, now that they exist; then CCNs.
        let mut planner = Planner::resume(&mut local, created);
        planner.vpc_peerings(&d)?;
        for vi in 0..d.vpcs.len() {
            planner.late_routes(&d, vi)?;
        }
        planner.ccns(&d)?;
        let created = planner.into_created();
        for (name, resource) in &created.ccns {
            let ccn = find_in(&local.project, Collection::CloudConnectNetworks, resource);
            names.ccns.insert(name.clone(), ccn);
        }
        for (name, resource) in &created.vpc_peerings {
            let x = find_in(&local.project, Collection::VpcPeeringConnections, resource);
            names.vpc_peerings.insert(name.clone(), x);
        }
        let mut sim = local.project.sim;
        let w = &mut sim.world;
        for (i, f) in d.flow_logs.iter().enumerate() {
            self.flow_log(w, &names, start, &format!("flow_logs[{i}]"), f)?;
        }

        // Explanations and captures show every packet of the run.
        sim.keep_outcomes(if self.opts.explain || self.opts.capture {
            usize::MAX
        } else {
            0
        });
        let mut shadow = None;
        for (i, e) in d.traffic.iter().enumerate() {
            self.event(
                &mut sim,
                &mut shadow,
                &names,
                start,
                &format!("traffic[{i}]"),
                e,
            )?;
        }
        let workload = match (&d.workload, plan) {
            (Some(wd), Some(plan)) => {
                Some(self.workload_traffic(&mut sim, &names, start, d.seed, wd, plan)?)
            }
            _ => None,
        };
        let until = match d.until {
            Some(u) if within_horizon(u) => Some(start + secs(u)),
            Some(_) => {
                return Err(self.err(Location::UNKNOWN, "until", HORIZON_MESSAGE));
            }
            None => None,
        };
        let expectations = d
            .expect
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Expectation::from_doc(e)
                    .map_err(|m| self.err(e.referenced, format!("expect[{i}]"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Loaded {
            name: d.name.unwrap_or_else(|| self.file.clone()),
            description: d.description,
            source: d.source,
            provider,
            format,
            start,
            sim,
            until,
            expectations,
            workload,
        })
    }

    /// The file's names of one VPC's resources → world indices, from what its commands
    /// created; its interfaces join the hosts traffic names (each name once).
    fn vpc_names(
        &self,
        p: &Project,
        names: &mut Names,
        vi: usize,
        v: &doc::VpcDoc,
        a: &plan::AppliedVpc,
    ) -> Result<(), ScenarioError> {
        let find = |c: Collection, name: &str| find_in(p, c, name);
        let vpc = find(Collection::Vpcs, &a.name);
        names.vpcs.insert(v.name.value.clone(), vpc);
        for (map, c, created) in [
            (&mut names.groups, Collection::SecurityGroups, &a.groups),
            (&mut names.acls, Collection::NetworkAcls, &a.acls),
            (&mut names.tables, Collection::RouteTables, &a.tables),
            (&mut names.subnets, Collection::Subnets, &a.subnets),
            (&mut names.nats, Collection::NatGateways, &a.nats),
        ] {
            for (name, resource) in created {
                map.insert((vpc, name.clone()), find(c, resource));
            }
        }
        // The VPC's own: its main route table, default security group and (aws) default ACL,
        // by the names the clouds give them, unless the file gives those names to its own.
        let own = &p.sim.world.vpcs[vpc as usize];
        names
            .tables
            .entry((vpc, "main".into()))
            .or_insert(own.main_route_table);
        names
            .groups
            .entry((vpc, "default".into()))
            .or_insert(own.default_sg);
        if let Some(acl) = own.default_acl {
            names.acls.entry((vpc, "default".into())).or_insert(acl);
        }
        for (i, e) in v.enis.iter().enumerate() {
            let eni = find(Collection::NetworkInterfaces, &a.enis[&e.value.name.value]);
            let path = format!("vpcs[{vi}].enis[{i}]");
            self.unique_endpoint(names, &e.value.name, &path, Endpoint::Eni(eni))?;
        }
        Ok(())
    }

    fn format(&self, f: &S<doc::FormatDoc>) -> Result<Format, ScenarioError> {
        let r = match &f.value {
            doc::FormatDoc::Name(n) => n.parse::<Format>().map_err(|e| e.to_string()),
            doc::FormatDoc::Aws { aws } => AwsFormat::parse(aws)
                .map(Format::Aws)
                .map_err(|e| e.to_string()),
        };
        r.map_err(|m| self.err(f.referenced, "output.format", m))
    }

    fn cidr(&self, s: &S<String>, field: &str) -> Result<Ipv4Net, ScenarioError> {
        Ipv4Net::parse_strict(&s.value).map_err(|e| self.err(s.referenced, field, e.to_string()))
    }

    /// A `ttl:` of a traffic step, 1-255 ([`parse::ttl`]).
    fn ttl(&self, t: &Option<S<u16>>, field: &str) -> Result<Option<u8>, ScenarioError> {
        t.as_ref()
            .map(|t| {
                crate::parse::ttl(u64::from(t.value)).map_err(|m| self.err(t.referenced, field, m))
            })
            .transpose()
    }

    fn ip(&self, s: &S<String>, field: &str) -> Result<Ipv4Addr, ScenarioError> {
        s.value.parse().map_err(|_| {
            self.err(
                s.referenced,
                field,
                format!("`{}` is not an IPv4 address", s.value),
            )
        })
    }

    fn unique_endpoint(
        &self,
        names: &mut Names,
        name: &S<String>,
        path: &str,
        e: Endpoint,
    ) -> Result<(), ScenarioError> {
        if names.endpoints.insert(name.value.clone(), e).is_some() {
            return Err(self.err(
                name.referenced,
                format!("{path}.name"),
                format!("`{}` names two hosts", name.value),
            ));
        }
        Ok(())
    }

    fn lookup(
        &self,
        map: &BTreeMap<(u32, String), u32>,
        vpc: u32,
        name: &S<String>,
        field: &str,
        kind: &str,
    ) -> Result<u32, ScenarioError> {
        map.get(&(vpc, name.value.clone())).copied().ok_or_else(|| {
            let known: Vec<&str> = map
                .keys()
                .filter(|(v, _)| *v == vpc)
                .map(|(_, n)| n.as_str())
                .collect();
            self.err(
                name.referenced,
                field,
                format!(
                    "no {kind} named `{}` in this VPC (known: {})",
                    name.value,
                    list(&known)
                ),
            )
        })
    }

    fn sg_rules(
        &self,
        has_priority: bool,
        names: &Names,
        vpc: u32,
        path: &str,
        docs: &[S<doc::SgRuleDoc>],
    ) -> Result<Vec<sg::Rule>, ScenarioError> {
        docs.iter()
            .enumerate()
            .map(|(i, r)| {
                let p = format!("{path}.rules[{i}]");
                let d = &r.value;
                let direction = self.direction(&d.direction, &format!("{p}.direction"))?;
                let action = match &d.action {
                    Some(a) => self.action(a, &format!("{p}.action"))?,
                    None => RuleAction::Allow,
                };
                let protocol =
                    self.protocol(&d.protocol, d.icmp_type.as_ref(), d.icmp_code.as_ref(), &p)?;
                let ports = self.ports(d.ports.as_ref(), &format!("{p}.ports"))?;
                let remote = match &d.remote.value {
                    doc::RemoteDoc::Cidr(c) => {
                        Remote::Cidr(Ipv4Net::parse_lenient(c).map_err(|e| {
                            self.err(d.remote.referenced, format!("{p}.remote"), e.to_string())
                        })?)
                    }
                    doc::RemoteDoc::Group { group } => {
                        let field = format!("{p}.remote.group");
                        // A group of another (peered) VPC is `VPC/GROUP`, as in `plan`; the
                        // world checks that the VPCs are peered where the cloud allows it.
                        let (in_vpc, name) = match group.split_once('/') {
                            Some((v, name)) => {
                                let v = names.vpcs.get(v).copied().ok_or_else(|| {
                                    self.err(
                                        d.remote.referenced,
                                        &field,
                                        format!("no VPC named `{v}` (in `{group}`)"),
                                    )
                                })?;
                                (v, name)
                            }
                            None => (vpc, group.as_str()),
                        };
                        let s =
                            Spanned::new(name.to_string(), d.remote.referenced, d.remote.defined);
                        Remote::Group(self.lookup(
                            &names.groups,
                            in_vpc,
                            &s,
                            &field,
                            "security group",
                        )?)
                    }
                };
                let priority = match (&d.priority, has_priority) {
                    (Some(pr), true) => u32::try_from(pr.value).map_err(|_| {
                        self.err(
                            pr.referenced,
                            format!("{p}.priority"),
                            "priority must be a positive number",
                        )
                    })?,
                    (None, true) => 1,
                    // Clouds without priorities keep list order (tencent) or none at all (aws).
                    (_, false) => i as u32 + 1,
                };
                Ok(sg::Rule {
                    direction,
                    action,
                    priority,
                    protocol,
                    ports,
                    remote,
                    description: d.description.clone().unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Entries of both directions, with the location of each (for error placement).
    fn acl_entries(
        &self,
        path: &str,
        ingress: &[S<doc::AclEntryDoc>],
        egress: &[S<doc::AclEntryDoc>],
    ) -> Result<(Vec<acl::Entry>, Vec<EntryLocation>), ScenarioError> {
        let mut entries = Vec::new();
        let mut locs = Vec::new();
        for (dir, list, name) in [
            (Direction::Ingress, ingress, "ingress"),
            (Direction::Egress, egress, "egress"),
        ] {
            for (i, e) in list.iter().enumerate() {
                let p = format!("{path}.{name}[{i}]");
                let d = &e.value;
                let number = u32::try_from(d.rule.value).map_err(|_| {
                    self.err(
                        d.rule.referenced,
                        format!("{p}.rule"),
                        "rule number must be positive",
                    )
                })?;
                let action = self.action(&d.action, &format!("{p}.action"))?;
                let protocol =
                    self.protocol(&d.protocol, d.icmp_type.as_ref(), d.icmp_code.as_ref(), &p)?;
                let ports = self.ports(d.ports.as_ref(), &format!("{p}.ports"))?;
                let source_ports =
                    self.ports(d.source_ports.as_ref(), &format!("{p}.source_ports"))?;
                let cidr = Ipv4Net::parse_lenient(&d.cidr.value)
                    .map_err(|e| self.err(d.cidr.referenced, format!("{p}.cidr"), e.to_string()))?;
                entries.push(acl::Entry {
                    number,
                    direction: dir,
                    action,
                    protocol,
                    ports,
                    source_ports,
                    cidr,
                    description: d.description.clone().unwrap_or_default(),
                });
                locs.push((
                    p,
                    d.rule.referenced,
                    d.ports.as_ref().map_or(e.referenced, |x| x.referenced),
                ));
            }
        }
        Ok((entries, locs))
    }

    fn acl_error(
        &self,
        e: ModelError,
        path: &str,
        item: Location,
        name: Location,
        locs: &[EntryLocation],
    ) -> ScenarioError {
        // The world numbers entries across both directions: `entries[3].number`, which the
        // file calls `rule`.
        if let Some(rest) = e.field.strip_prefix("entries[")
            && let Some((n, field)) = rest.split_once("].")
            && let Ok(n) = n.parse::<usize>()
            && let Some((p, rule, ports)) = locs.get(n)
        {
            let (loc, field) = match field {
                "ports" => (*ports, field),
                "number" => (*rule, "rule"),
                _ => (*rule, field),
            };
            return self.err(loc, format!("{p}.{field}"), e.message);
        }
        self.model(e, path, item, &[("name", name)])
    }

    fn direction(&self, s: &S<String>, field: &str) -> Result<Direction, ScenarioError> {
        parse::direction(&s.value).map_err(|m| self.err(s.referenced, field, m))
    }

    fn action(&self, s: &S<String>, field: &str) -> Result<RuleAction, ScenarioError> {
        parse::action(&s.value).map_err(|m| self.err(s.referenced, field, m))
    }

    fn protocol(
        &self,
        p: &S<doc::ProtoDoc>,
        icmp_type: Option<&S<i64>>,
        icmp_code: Option<&S<i64>>,
        path: &str,
    ) -> Result<ProtoMatch, ScenarioError> {
        let text = match &p.value {
            doc::ProtoDoc::Name(n) => n.clone(),
            doc::ProtoDoc::Number(n) => n.to_string(),
        };
        parse::protocol(
            &text,
            icmp_type.map(|s| s.value),
            icmp_code.map(|s| s.value),
        )
        .map_err(|e| match e {
            parse::ProtocolError::Protocol(m) => {
                self.err(p.referenced, format!("{path}.protocol"), m)
            }
            parse::ProtocolError::IcmpType(m) => self.err(
                icmp_type.map_or(p.referenced, |s| s.referenced),
                format!("{path}.icmp_type"),
                m,
            ),
            parse::ProtocolError::IcmpCode(m) => self.err(
                icmp_code.map_or(p.referenced, |s| s.referenced),
                format!("{path}.icmp_code"),
                m,
            ),
            parse::ProtocolError::NotIcmp(m) => self.err(
                icmp_type
                    .or(icmp_code)
                    .map_or(p.referenced, |s| s.referenced),
                format!("{path}.icmp_type"),
                m,
            ),
        })
    }

    fn ports(&self, p: Option<&S<doc::PortsDoc>>, field: &str) -> Result<PortRange, ScenarioError> {
        let Some(p) = p else {
            return Ok(PortRange::ALL);
        };
        let text = match &p.value {
            doc::PortsDoc::Number(n) => n.to_string(),
            doc::PortsDoc::Text(t) => t.clone(),
        };
        parse::ports(&text).map_err(|m| self.err(p.referenced, field, m))
    }

    fn flow_log(
        &self,
        w: &mut World,
        names: &Names,
        start: Time,
        path: &str,
        f: &S<doc::FlowLogDoc>,
    ) -> Result<(), ScenarioError> {
        let d = &f.value;
        let r = &d.resource.value;
        let rfield = format!("{path}.resource");
        let scope = match (&r.eni, &r.subnet, &r.vpc) {
            // A CCN flow log: a Cloud Connect Network's cross-region traffic.
            _ if r.ccn.is_some() => self.ccn_scope(names, &d.resource, &rfield)?,
            // A NAT gateway flow log: the gateway's (requester-managed) interface, whose
            // records are those of an ENI flow log (tencent's NAT flow logs use the ENI record
            // shape, flowlogs.md §3.4).
            (None, None, None) if r.nat_gateway.is_some() => {
                let n = r.nat_gateway.as_deref().unwrap_or_default();
                let found: Vec<u32> = names
                    .nats
                    .iter()
                    .filter(|((_, x), _)| x == n)
                    .map(|(_, i)| *i)
                    .collect();
                match found.as_slice() {
                    [i] => Scope::Eni(w.nats[*i as usize].eni),
                    [] => {
                        return Err(self.err(
                            d.resource.referenced,
                            format!("{rfield}.nat_gateway"),
                            format!("no NAT gateway named `{n}`"),
                        ));
                    }
                    _ => {
                        return Err(self.err(
                            d.resource.referenced,
                            format!("{rfield}.nat_gateway"),
                            format!("`{n}` names NAT gateways in several VPCs"),
                        ));
                    }
                }
            }
            // A router flow log: an attachment of an enterprise router.
            _ if r.router.is_some() || r.attachment.is_some() => {
                self.attachment_scope(w, names, &d.resource, &rfield)?
            }
            (Some(e), None, None) => match names.endpoints.get(e) {
                Some(Endpoint::Eni(i)) => Scope::Eni(*i),
                _ => {
                    return Err(self.err(
                        d.resource.referenced,
                        format!("{rfield}.eni"),
                        format!("no ENI named `{e}`"),
                    ));
                }
            },
            (None, Some(s), None) => {
                let found: Vec<u32> = names
                    .subnets
                    .iter()
                    .filter(|((_, n), _)| n == s)
                    .map(|(_, i)| *i)
                    .collect();
                match found.as_slice() {
                    [i] => Scope::Subnet(*i),
                    [] => {
                        return Err(self.err(
                            d.resource.referenced,
                            format!("{rfield}.subnet"),
                            format!("no subnet named `{s}`"),
                        ));
                    }
                    _ => {
                        return Err(self.err(
                            d.resource.referenced,
                            format!("{rfield}.subnet"),
                            format!("`{s}` names subnets in several VPCs"),
                        ));
                    }
                }
            }
            (None, None, Some(v)) => match names.vpcs.get(v) {
                Some(i) => Scope::Vpc(*i),
                None => {
                    return Err(self.err(
                        d.resource.referenced,
                        format!("{rfield}.vpc"),
                        format!("no VPC named `{v}`"),
                    ));
                }
            },
            _ => {
                return Err(self.err(
                    d.resource.referenced,
                    rfield,
                    "give exactly one of eni, subnet, vpc or nat_gateway",
                ));
            }
        };
        let filter = match d.traffic.as_ref().map(|t| t.value.as_str()) {
            None | Some("all") => Filter::All,
            Some("accepted" | "accept") => Filter::Accepted,
            Some("rejected" | "reject") => Filter::Rejected,
            Some(o) => {
                let at = d.traffic.as_ref().map_or(f.referenced, |t| t.referenced);
                return Err(self.err(
                    at,
                    format!("{path}.traffic"),
                    format!("unknown traffic filter `{o}` (expected all, accepted or rejected)"),
                ));
            }
        };
        let created = match d.created {
            Some(c) if within_horizon(c) => start + secs(c),
            Some(_) => {
                return Err(self.err(f.referenced, format!("{path}.created"), HORIZON_MESSAGE));
            }
            None => start,
        };
        let spec = FlowLogSpec {
            name: d.name.value.clone(),
            id: d.id.clone(),
            scope,
            filter,
            window: d.window.as_ref().map(|s| Span::from_secs(s.value)),
            capacity: d.capacity.as_ref().map(|s| s.value as usize),
            description: String::new(),
            tags: Default::default(),
            log_stream: None,
        };
        let mut fields = vec![
            ("name", d.name.referenced),
            ("resource", d.resource.referenced),
        ];
        if let Some(s) = &d.window {
            fields.push(("window", s.referenced));
        }
        if let Some(s) = &d.capacity {
            fields.push(("capacity", s.referenced));
        }
        w.create_flow_log(created, spec)
            .map_err(|e| self.model(e, path, f.referenced, &fields))?;
        Ok(())
    }

    /// `resource: {ccn: C}`: CCN `C`'s cross-region traffic, and nothing else.
    fn ccn_scope(
        &self,
        names: &Names,
        resource: &S<doc::ResourceDoc>,
        rfield: &str,
    ) -> Result<Scope, ScenarioError> {
        let r = &resource.value;
        let at = resource.referenced;
        let (Some(ccn), None, None, None, None, None) =
            (&r.ccn, &r.eni, &r.subnet, &r.vpc, &r.router, &r.attachment)
        else {
            return Err(self.err(at, rfield, "a CCN flow log names `ccn` and nothing else"));
        };
        match names.ccns.get(ccn) {
            Some(&c) => Ok(Scope::Ccn(c)),
            None => Err(self.err(at, format!("{rfield}.ccn"), format!("no CCN named `{ccn}`"))),
        }
    }

    /// `resource: {router: R, attachment: A}`: attachment `A` of router `R`, and nothing else.
    fn attachment_scope(
        &self,
        w: &World,
        names: &Names,
        resource: &S<doc::ResourceDoc>,
        rfield: &str,
    ) -> Result<Scope, ScenarioError> {
        let r = &resource.value;
        let at = resource.referenced;
        let (Some(router), Some(attachment), None, None, None) =
            (&r.router, &r.attachment, &r.eni, &r.subnet, &r.vpc)
        else {
            return Err(self.err(
                at,
                rfield,
                "a router flow log names `router` and `attachment`, and no eni, subnet or vpc",
            ));
        };
        let Some(&ri) = names.routers.get(router) else {
            return Err(self.err(
                at,
                format!("{rfield}.router"),
                format!("no enterprise router named `{router}`"),
            ));
        };
        let found = w
            .routers
            .attachments
            .iter()
            .position(|a| !a.deleted && a.router == ri && &a.name == attachment);
        match found {
            Some(a) => Ok(Scope::RouterAttachment(a as u32)),
            None => Err(self.err(
                at,
                format!("{rfield}.attachment"),
                format!("enterprise router `{router}` has no attachment named `{attachment}`"),
            )),
        }
    }

    fn endpoint(
        &self,
        names: &Names,
        s: &S<String>,
        field: &str,
    ) -> Result<Endpoint, ScenarioError> {
        names.endpoints.get(&s.value).copied().ok_or_else(|| {
            let known: Vec<&str> = names.endpoints.keys().map(String::as_str).collect();
            self.err(
                s.referenced,
                field,
                format!(
                    "no ENI or external host named `{}` (known: {})",
                    s.value,
                    list(&known)
                ),
            )
        })
    }

    /// The endpoint `to` of traffic from `from`: an ENI or external host by name, else the
    /// VPC service of that name in `from`'s VPC (`dns`, `metadata`, `time-sync` on aws: the
    /// profile's `services`).
    ///
    /// Or an address (`to: 10.0.1.21`, an interface's secondary IP say): the endpoint holding
    /// it as `from` reaches it, with the address to send to.
    fn target(
        &self,
        sim: &Simulation,
        names: &Names,
        from: Endpoint,
        s: &S<String>,
        field: &str,
    ) -> Result<(Endpoint, Option<Ipv4Addr>), ScenarioError> {
        if let Some(&e) = names.endpoints.get(&s.value) {
            return Ok((e, None));
        }
        if let Ok(ip) = s.value.parse::<Ipv4Addr>() {
            return match sim.world.resolve(from, ip) {
                Some(e) => Ok((e, Some(ip))),
                None => Err(self.err(
                    s.referenced,
                    field,
                    format!(
                        "no interface, host or VPC service at {ip} that {} reaches",
                        sim.world.endpoint_name(from)
                    ),
                )),
            };
        }
        let found = sim
            .world
            .service_endpoint(from, &s.value)
            .map(|e| (e, None));
        found.ok_or_else(|| {
            let mut known: Vec<&str> = names.endpoints.keys().map(String::as_str).collect();
            if matches!(from, Endpoint::Eni(_)) {
                known.extend(sim.world.profile.services.iter().map(|s| s.name));
            }
            self.err(
                s.referenced,
                field,
                format!(
                    "no ENI, external host or VPC service named `{}` (known: {})",
                    s.value,
                    list(&known)
                ),
            )
        })
    }

    /// One entry of the traffic script. `shadow`: a copy of the world that the script's
    /// routing changes are made to as the file lists them, so that a change that does not fit
    /// the world as the earlier changes left it (a route deleted twice, a NAT gateway deleted
    /// and then routed to) is refused at load with its line, by the world's own operations.
    fn event(
        &self,
        sim: &mut Simulation,
        shadow: &mut Option<World>,
        names: &Names,
        start: Time,
        path: &str,
        e: &S<doc::EventDoc>,
    ) -> Result<(), ScenarioError> {
        let d = &e.value;
        if !within_horizon(d.at.value) {
            return Err(self.err(d.at.referenced, format!("{path}.at"), HORIZON_MESSAGE));
        }
        let at = start + secs(d.at.value);
        let actions = [
            d.ping.is_some(),
            d.tcp.is_some(),
            d.udp.is_some(),
            d.packet.is_some(),
            d.set_security_group_rules.is_some(),
            d.set_acl_entries.is_some(),
            d.associate_acl.is_some(),
            d.set_eni_security_groups.is_some(),
            d.add_route.is_some(),
            d.replace_route.is_some(),
            d.delete_route.is_some(),
            d.associate_route_table.is_some(),
            d.delete_nat_gateway.is_some(),
            d.delete_vpc_peering.is_some(),
            d.add_router_route.is_some(),
            d.replace_router_route.is_some(),
            d.delete_router_route.is_some(),
            d.delete_router_attachment.is_some(),
            d.advance.is_some(),
        ];
        if actions.iter().filter(|a| **a).count() != 1 {
            return Err(self.err(
                e.referenced,
                path,
                "each traffic entry needs `at` and exactly one of ping, tcp, udp, packet, set_security_group_rules, set_acl_entries, associate_acl, set_eni_security_groups, add_route, replace_route, delete_route, associate_route_table, delete_nat_gateway, delete_vpc_peering, add_router_route, replace_router_route, delete_router_route, delete_router_attachment, advance",
            ));
        }
        if let Some((change, step, fields)) = self.routing_change(sim, names, path, d)? {
            // Checked on the copy, in the file's order, as the run will make it.
            let copy = match shadow {
                Some(w) => w,
                None => shadow.insert(copy_world(&sim.world).map_err(|m| {
                    self.err(e.referenced, path, format!("cannot check the change: {m}"))
                })?),
            };
            change
                .clone()
                .apply(copy, at)
                .map_err(|err| self.change_error(err, &step, e.referenced, &fields))?;
            sim.change_at(at, change);
            return Ok(());
        }
        let bad = |m: String| self.err(e.referenced, path, m);
        // A series of packets must end inside the horizon too.
        let series = |interval: f64, count: u16, what: &str| {
            let last = d.at.value + interval * f64::from(count.saturating_sub(1));
            if within_horizon(interval) && within_horizon(last) {
                Ok(())
            } else {
                Err(self.err(
                    e.referenced,
                    format!("{path}.{what}.interval"),
                    HORIZON_MESSAGE,
                ))
            }
        };
        if let Some(p) = &d.ping {
            let from = self.endpoint(names, &p.from, &format!("{path}.ping.from"))?;
            let (to, dst) = self.target(sim, names, from, &p.to, &format!("{path}.ping.to"))?;
            series(p.interval, p.count, "ping")?;
            let ttl = self.ttl(&p.ttl, &format!("{path}.ping.ttl"))?;
            match dst {
                // An address given: the echo requests go to it.
                Some(dst) => {
                    let ident = p.ident.unwrap_or_else(|| sim.echo_ident());
                    let mut first = Packet::echo_request(sim.world.address(from), dst, ident, 0);
                    first.ttl = ttl.unwrap_or(first.ttl);
                    sim.repeat(at, from, first, p.count, secs(p.interval));
                }
                None => sim
                    .ping(at, from, to, p.count, secs(p.interval), p.ident, ttl)
                    .map_err(bad)?,
            }
        } else if let Some(t) = &d.tcp {
            let client = self.endpoint(names, &t.from, &format!("{path}.tcp.from"))?;
            let (server, server_ip) =
                self.target(sim, names, client, &t.to, &format!("{path}.tcp.to"))?;
            let close = match t.close.as_ref().map(|c| c.value.as_str()) {
                None | Some("fin") => Close::Fin,
                Some("rst") => Close::Rst,
                Some("open") => Close::Open,
                Some(o) => {
                    let at = t.close.as_ref().map_or(e.referenced, |c| c.referenced);
                    return Err(self.err(
                        at,
                        format!("{path}.tcp.close"),
                        format!("unknown close `{o}` (expected fin, rst or open)"),
                    ));
                }
            };
            let nat_port = match &t.nat_port {
                Some(p) if p.value < vpclab_sim::nat::FIRST_PORT => {
                    return Err(self.err(
                        p.referenced,
                        format!("{path}.tcp.nat_port"),
                        format!(
                            "NAT port {} is out of range: a NAT gateway's ports are {}-{}",
                            p.value,
                            vpclab_sim::nat::FIRST_PORT,
                            vpclab_sim::nat::LAST_PORT
                        ),
                    ));
                }
                p => p.as_ref().map(|p| p.value),
            };
            let sport = t.sport.unwrap_or_else(|| sim.ephemeral_port());
            let spec = TcpSession {
                client,
                server,
                sport,
                dport: t.port,
                requests: t.requests.clone(),
                responses: t.responses.clone(),
                close,
                gap: secs(t.gap.unwrap_or(0.001).clamp(0.0, 3600.0)),
                label: 0,
                nat_port,
                server_ip,
            };
            sim.tcp(at, spec).map_err(bad)?;
        } else if let Some(u) = &d.udp {
            let from = self.endpoint(names, &u.from, &format!("{path}.udp.from"))?;
            let (to, dst) = self.target(sim, names, from, &u.to, &format!("{path}.udp.to"))?;
            series(u.interval, u.count, "udp")?;
            let len = u.size.as_ref().map_or(size::UDP_REQUEST, |s| s.value);
            if let Some(s) = &u.size {
                sim.world
                    .check_datagram_size(from, len)
                    .map_err(|m| self.err(s.referenced, format!("{path}.udp.size"), m))?;
            }
            let ttl = self.ttl(&u.ttl, &format!("{path}.udp.ttl"))?;
            match dst {
                // An address given: the requests go to it.
                Some(dst) => {
                    let sport = u.sport.unwrap_or_else(|| sim.ephemeral_port());
                    let src = sim.world.address(from);
                    let mut packet = Packet::udp(src, sport, dst, u.port, len);
                    packet.ttl = ttl.unwrap_or(packet.ttl);
                    sim.repeat(at, from, packet, u.count, secs(u.interval));
                }
                None => sim
                    .udp(
                        at,
                        from,
                        to,
                        u.sport,
                        u.port,
                        u.count,
                        secs(u.interval),
                        len,
                        ttl,
                    )
                    .map_err(bad)?,
            }
        } else if let Some(p) = &d.packet {
            series(p.interval, p.count, "packet")?;
            self.packet(sim, names, at, &format!("{path}.packet"), p)?;
        } else if let Some(c) = &d.set_security_group_rules {
            let vpc = self.vpc_of(
                names,
                c.vpc.as_ref(),
                &format!("{path}.set_security_group_rules.vpc"),
            )?;
            let p = format!("{path}.set_security_group_rules");
            let group = self.lookup(
                &names.groups,
                vpc,
                &c.group,
                &format!("{p}.group"),
                "security group",
            )?;
            let rules = self.sg_rules(
                sim.world.profile.sg_priority.is_some(),
                names,
                vpc,
                &p,
                &c.rules,
            )?;
            sim.world
                .check_security_group_rules(group, &rules)
                .map_err(|err| self.model(err, &p, e.referenced, &spans("rules", &c.rules)))?;
            sim.change_at(at, Change::SecurityGroupRules { group, rules });
        } else if let Some(c) = &d.set_acl_entries {
            let vpc = self.vpc_of(
                names,
                c.vpc.as_ref(),
                &format!("{path}.set_acl_entries.vpc"),
            )?;
            let p = format!("{path}.set_acl_entries");
            let acl = self.lookup(&names.acls, vpc, &c.acl, &format!("{p}.acl"), "network ACL")?;
            let (entries, locs) = self.acl_entries(&p, &c.ingress, &c.egress)?;
            world::check_acl_entries(&sim.world.profile, &entries)
                .map_err(|err| self.acl_error(err, &p, e.referenced, c.acl.referenced, &locs))?;
            sim.change_at(at, Change::AclEntries { acl, entries });
        } else if let Some(c) = &d.associate_acl {
            let p = format!("{path}.associate_acl");
            let (vpc, subnet) = names
                .subnets
                .iter()
                .find(|((_, n), _)| *n == c.subnet.value)
                .map(|((v, _), i)| (*v, *i))
                .ok_or_else(|| {
                    self.err(
                        c.subnet.referenced,
                        format!("{p}.subnet"),
                        format!("no subnet named `{}`", c.subnet.value),
                    )
                })?;
            let acl = self.lookup(&names.acls, vpc, &c.acl, &format!("{p}.acl"), "network ACL")?;
            sim.change_at(at, Change::AssociateAcl { subnet, acl });
        } else if let Some(c) = &d.set_eni_security_groups {
            let p = format!("{path}.set_eni_security_groups");
            let Endpoint::Eni(eni) = self.endpoint(names, &c.eni, &format!("{p}.eni"))? else {
                return Err(self.err(
                    c.eni.referenced,
                    format!("{p}.eni"),
                    "an external host has no security groups",
                ));
            };
            let vpc = sim.world.enis[eni as usize].vpc;
            let groups = c
                .groups
                .iter()
                .enumerate()
                .map(|(j, g)| {
                    self.lookup(
                        &names.groups,
                        vpc,
                        g,
                        &format!("{p}.groups[{j}]"),
                        "security group",
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            // Checked now, as a change of rules is, so a refusal names its line.
            if let Err(err) = sim.world.check_eni_security_groups(eni, &groups) {
                let j = err
                    .field
                    .strip_prefix("security_groups[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|j| j.parse::<usize>().ok())
                    .filter(|j| *j < c.groups.len());
                return Err(match j {
                    Some(j) => self.err(
                        c.groups[j].referenced,
                        format!("{p}.groups[{j}]"),
                        err.message,
                    ),
                    None => self.model::<&str>(err, &p, e.referenced, &[]),
                });
            }
            sim.change_at(at, Change::EniSecurityGroups { eni, groups });
        } else {
            // `advance`: nothing to schedule; the run covers this instant.
            sim.run_until(at)
                .map_err(|err| self.model(err, path, e.referenced, &[] as &[(&str, Location)]))?;
        }
        Ok(())
    }

    /// The routing change an entry asks for (`add_route` … `delete_router_attachment`), with
    /// its path and the lines of its fields as the world's errors name them; `None` for any
    /// other entry.
    fn routing_change(
        &self,
        sim: &Simulation,
        names: &Names,
        path: &str,
        d: &doc::EventDoc,
    ) -> Result<Option<(Change, String, Fields)>, ScenarioError> {
        let w = &sim.world;
        let table_of = |vpc: u32, t: &S<String>, p: &str| {
            self.lookup(
                &names.tables,
                vpc,
                t,
                &format!("{p}.route_table"),
                "route table",
            )
        };
        let replacing = d.replace_route.is_some();
        if let Some(r) = d.add_route.as_ref().or(d.replace_route.as_ref()) {
            let p = format!(
                "{path}.{}",
                if replacing {
                    "replace_route"
                } else {
                    "add_route"
                }
            );
            let vpc = self.vpc_of(names, r.vpc.as_ref(), &format!("{p}.vpc"))?;
            let table = table_of(vpc, &r.route_table, &p)?;
            let destination = self.cidr(&r.destination, &format!("{p}.destination"))?;
            let to = r
                .to()
                .map_err(|e| self.err(e.at, format!("{p}.{}", e.field), e.message))?;
            let target_at = match to {
                doc::RouteTo::NatGateway(n)
                | doc::RouteTo::Router(n)
                | doc::RouteTo::Peering(n)
                | doc::RouteTo::VpnGateway(n) => n.referenced,
                _ => r.target.referenced,
            };
            let target = match to {
                doc::RouteTo::InternetGateway => match w.vpcs[vpc as usize].igw {
                    Some(g) => Target::InternetGateway(g),
                    None => {
                        return Err(self.err(
                            target_at,
                            format!("{p}.target"),
                            "the VPC has no internet gateway (set `internet_gateway: true`)",
                        ));
                    }
                },
                doc::RouteTo::Blackhole => Target::Blackhole,
                doc::RouteTo::NatGateway(n) => Target::NatGateway(self.lookup(
                    &names.nats,
                    vpc,
                    n,
                    &format!("{p}.nat_gateway"),
                    "NAT gateway",
                )?),
                doc::RouteTo::Router(n) => {
                    let router = *names.routers.get(&n.value).ok_or_else(|| {
                        self.err(
                            n.referenced,
                            format!("{p}.router"),
                            format!("no enterprise router named `{}`", n.value),
                        )
                    })?;
                    let att = w.vpc_attachment(router, vpc).ok_or_else(|| {
                        self.err(
                            n.referenced,
                            format!("{p}.router"),
                            format!("the VPC is not attached to enterprise router `{}`", n.value),
                        )
                    })?;
                    Target::Router(att)
                }
                doc::RouteTo::Peering(n) => {
                    Target::Peering(*names.vpc_peerings.get(&n.value).ok_or_else(|| {
                        self.err(
                            n.referenced,
                            format!("{p}.peering"),
                            format!("no VPC peering connection named `{}`", n.value),
                        )
                    })?)
                }
                doc::RouteTo::VpnGateway(n) => {
                    Target::VpnGateway(*names.vpn_gateways.get(&n.value).ok_or_else(|| {
                        self.err(
                            n.referenced,
                            format!("{p}.vpn_gateway"),
                            format!("no virtual private gateway named `{}`", n.value),
                        )
                    })?)
                }
            };
            let route = Route {
                destination,
                target,
            };
            let fields = vec![
                ("destination", "destination", r.destination.referenced),
                ("target", "target", target_at),
                ("route_table", "route_table", r.route_table.referenced),
            ];
            let change = if replacing {
                Change::ReplaceRoute { table, route }
            } else {
                Change::AddRoute { table, route }
            };
            return Ok(Some((change, p, fields)));
        }
        if let Some(r) = &d.delete_route {
            let p = format!("{path}.delete_route");
            let vpc = self.vpc_of(names, r.vpc.as_ref(), &format!("{p}.vpc"))?;
            let table = table_of(vpc, &r.route_table, &p)?;
            let destination = self.cidr(&r.destination, &format!("{p}.destination"))?;
            let fields = vec![("destination", "destination", r.destination.referenced)];
            return Ok(Some((
                Change::RemoveRoute { table, destination },
                p,
                fields,
            )));
        }
        if let Some(r) = &d.associate_route_table {
            let p = format!("{path}.associate_route_table");
            let vpc = self.vpc_of(names, r.vpc.as_ref(), &format!("{p}.vpc"))?;
            let subnet = self.lookup(
                &names.subnets,
                vpc,
                &r.subnet,
                &format!("{p}.subnet"),
                "subnet",
            )?;
            let table = table_of(vpc, &r.route_table, &p)?;
            let fields = vec![
                ("route_table", "route_table", r.route_table.referenced),
                ("subnet", "subnet", r.subnet.referenced),
            ];
            return Ok(Some((
                Change::AssociateRouteTable { subnet, table },
                p,
                fields,
            )));
        }
        if let Some(r) = &d.delete_nat_gateway {
            let p = format!("{path}.delete_nat_gateway");
            let vpc = self.vpc_of(names, r.vpc.as_ref(), &format!("{p}.vpc"))?;
            let f = format!("{p}.nat_gateway");
            let nat = self.lookup(&names.nats, vpc, &r.nat_gateway, &f, "NAT gateway")?;
            // The world's errors name the gateway `name`: the file calls it `nat_gateway`.
            let at = r.nat_gateway.referenced;
            let fields = vec![
                ("name", "nat_gateway", at),
                ("nat_gateway", "nat_gateway", at),
            ];
            return Ok(Some((Change::DeleteNatGateway { nat }, p, fields)));
        }
        if let Some(r) = &d.delete_vpc_peering {
            let p = format!("{path}.delete_vpc_peering");
            let peering = *names.vpc_peerings.get(&r.peering.value).ok_or_else(|| {
                self.err(
                    r.peering.referenced,
                    format!("{p}.peering"),
                    format!("no VPC peering connection named `{}`", r.peering.value),
                )
            })?;
            // The world's errors name the connection `name`: the file calls it `peering`.
            let at = r.peering.referenced;
            let fields = vec![("name", "peering", at), ("peering", "peering", at)];
            return Ok(Some((Change::DeleteVpcPeering { peering }, p, fields)));
        }
        let router_change = [
            ("add_router_route", &d.add_router_route),
            ("replace_router_route", &d.replace_router_route),
            ("delete_router_route", &d.delete_router_route),
        ]
        .into_iter()
        .find_map(|(k, r)| r.as_ref().map(|r| (k, r)));
        if let Some((kind, r)) = router_change {
            let p = format!("{path}.{kind}");
            let router = self.router_named(names, &r.router, &format!("{p}.router"))?;
            let table = *names
                .router_tables
                .get(&(router, r.route_table.value.clone()))
                .ok_or_else(|| {
                    self.err(
                        r.route_table.referenced,
                        format!("{p}.route_table"),
                        format!(
                            "no route table named `{}` in router `{}`",
                            r.route_table.value, r.router.value
                        ),
                    )
                })?;
            let destination = self.cidr(&r.destination, &format!("{p}.destination"))?;
            let blackhole = r.blackhole.as_ref().is_some_and(|b| b.value);
            let attachment = match (&r.attachment, blackhole, kind) {
                (None, false, "delete_router_route") => None,
                (Some(a), _, "delete_router_route") => {
                    return Err(self.err(
                        a.referenced,
                        format!("{p}.attachment"),
                        "a route to delete is named by its destination only",
                    ));
                }
                (Some(a), false, _) => Some(self.attachment_named(names, router, a, &p)?),
                (None, true, _) => None,
                (Some(a), true, _) => {
                    return Err(self.err(
                        a.referenced,
                        format!("{p}.attachment"),
                        "a route has an attachment or `blackhole: true`, not both",
                    ));
                }
                (None, false, _) => {
                    return Err(self.err(
                        r.destination.referenced,
                        format!("{p}.attachment"),
                        "a router route needs `attachment: NAME` or `blackhole: true`",
                    ));
                }
            };
            let at = r
                .attachment
                .as_ref()
                .map_or(r.destination.referenced, |a| a.referenced);
            let fields = vec![
                ("destination", "destination", r.destination.referenced),
                ("attachment", "attachment", at),
                ("route_table", "route_table", r.route_table.referenced),
            ];
            let change = match kind {
                "add_router_route" => Change::AddRouterRoute {
                    table,
                    destination,
                    attachment,
                },
                "replace_router_route" => Change::ReplaceRouterRoute {
                    table,
                    destination,
                    attachment,
                },
                _ => Change::RemoveRouterRoute { table, destination },
            };
            return Ok(Some((change, p, fields)));
        }
        if let Some(r) = &d.delete_router_attachment {
            let p = format!("{path}.delete_router_attachment");
            let router = self.router_named(names, &r.router, &format!("{p}.router"))?;
            let attachment = self.attachment_named(names, router, &r.attachment, &p)?;
            let at = r.attachment.referenced;
            let fields = vec![("name", "attachment", at), ("attachment", "attachment", at)];
            return Ok(Some((
                Change::DeleteRouterAttachment { attachment },
                p,
                fields,
            )));
        }
        Ok(None)
    }

    /// A world error about a script change, placed on the line of the file's field it is
    /// about (the entry's line otherwise), named as the file names it.
    fn change_error(
        &self,
        e: ModelError,
        path: &str,
        item: Location,
        fields: &Fields,
    ) -> ScenarioError {
        let hit = fields.iter().find(|(world, _, _)| {
            e.field == *world
                || e.field.starts_with(&format!("{world}."))
                || e.field.starts_with(&format!("{world}["))
        });
        match hit {
            Some((_, file, at)) => self.err(*at, format!("{path}.{file}"), e.message),
            None => self.model::<&str>(e, path, item, &[]),
        }
    }

    fn router_named(
        &self,
        names: &Names,
        r: &S<String>,
        field: &str,
    ) -> Result<u32, ScenarioError> {
        names.routers.get(&r.value).copied().ok_or_else(|| {
            let known: Vec<&str> = names.routers.keys().map(String::as_str).collect();
            self.err(
                r.referenced,
                field,
                format!(
                    "no enterprise router named `{}` (known: {})",
                    r.value,
                    list(&known)
                ),
            )
        })
    }

    /// Attachment `a` of router `router`; the error names `{path}.attachment`.
    fn attachment_named(
        &self,
        names: &Names,
        router: u32,
        a: &S<String>,
        path: &str,
    ) -> Result<u32, ScenarioError> {
        names
            .attachments
            .get(&(router, a.value.clone()))
            .copied()
            .ok_or_else(|| {
                let known: Vec<&str> = names
                    .attachments
                    .keys()
                    .filter(|(r, _)| *r == router)
                    .map(|(_, n)| n.as_str())
                    .collect();
                self.err(
                    a.referenced,
                    format!("{path}.attachment"),
                    format!(
                        "no attachment named `{}` in this router (known: {})",
                        a.value,
                        list(&known)
                    ),
                )
            })
    }

    fn vpc_of(
        &self,
        names: &Names,
        v: Option<&S<String>>,
        field: &str,
    ) -> Result<u32, ScenarioError> {
        match v {
            Some(s) => names.vpcs.get(&s.value).copied().ok_or_else(|| {
                self.err(s.referenced, field, format!("no VPC named `{}`", s.value))
            }),
            None if names.vpcs.len() == 1 => Ok(*names.vpcs.values().next().unwrap_or(&0)),
            None => Err(self.err(
                Location::UNKNOWN,
                field,
                "several VPCs: say which with `vpc:`",
            )),
        }
    }

    fn packet(
        &self,
        sim: &mut Simulation,
        names: &Names,
        at: Time,
        path: &str,
        d: &doc::PacketDoc,
    ) -> Result<(), ScenarioError> {
        let from = self.endpoint(names, &d.from, &format!("{path}.from"))?;
        let dst = match (&d.to, &d.dst) {
            (Some(to), None) => {
                let (to_ep, given) = self.target(sim, names, from, to, &format!("{path}.to"))?;
                given
                    .or_else(|| sim.world.address_for(from, to_ep))
                    .ok_or_else(|| {
                        self.err(
                            to.referenced,
                            format!("{path}.to"),
                            format!(
                                "`{}` has no address `{}` can reach (no elastic IP)",
                                to.value, d.from.value
                            ),
                        )
                    })?
            }
            (None, Some(ip)) => self.ip(ip, &format!("{path}.dst"))?,
            _ => {
                return Err(self.err(
                    d.from.referenced,
                    path,
                    "give exactly one of `to` (a host name) or `dst` (an address)",
                ));
            }
        };
        let src = sim.world.address(from);
        let proto = self.protocol(&d.protocol, None, None, path)?;
        let mut flags = 0u8;
        for f in &d.flags {
            flags |= parse::tcp_flag(&f.value)
                .map_err(|m| self.err(f.referenced, format!("{path}.flags"), m))?;
        }
        let raw = parse::RawPacket {
            sport: d.sport,
            dport: d.dport,
            flags,
            icmp_type: d.icmp_type,
            icmp_code: d.icmp_code,
            ident: d.ident,
            seq: d.seq,
            size: d.size.as_ref().map(|s| s.value),
            fragment_offset: d.fragment_offset.unwrap_or(0),
            more_fragments: d.more_fragments,
            ttl: self.ttl(&d.ttl, &format!("{path}.ttl"))?,
            dont_fragment: d.dont_fragment,
        };
        let p = parse::raw_packet(src, dst, proto, &raw)
            .map_err(|m| self.err(d.protocol.referenced, format!("{path}.protocol"), m))?;
        // Only a given size can be too big (the defaults are a few dozen bytes).
        if let Some(s) = &d.size {
            sim.world
                .check_datagram_size(from, p.len)
                .map_err(|m| self.err(s.referenced, format!("{path}.size"), m))?;
        }
        sim.repeat(at, from, p, d.count, secs(d.interval));
        Ok(())
    }
}

/// The latest `start` accepted: 2100-01-01 in Unix seconds.
const LATEST_START: u64 = 4_102_444_800;

/// How far after `start` a scenario may schedule anything: 31 days of virtual time. It keeps
/// absurd numbers from turning into billions of capture windows.
const HORIZON_SECS: f64 = 31.0 * 86_400.0;

const HORIZON_MESSAGE: &str =
    "must be a number of seconds from 0 to 2678400 (31 days) after `start`";

fn within_horizon(s: f64) -> bool {
    s.is_finite() && (0.0..=HORIZON_SECS).contains(&s)
}

fn secs(s: f64) -> Span {
    Span((s * 1_000_000.0).round() as u64)
}

/// `rules[3]` → the line of the fourth rule.
fn spans<T>(prefix: &str, items: &[S<T>]) -> Vec<(String, Location)> {
    items
        .iter()
        .enumerate()
        .map(|(i, x)| (format!("{prefix}[{i}]"), x.referenced))
        .collect()
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
