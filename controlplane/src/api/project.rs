//! One project (account): its simulated cloud, and every request applied to it.
//!
//! Handlers stay thin: they turn a request into a [`Command`], the project applies it through
//! the world's operations (the same ones scenario files use, with the same validation), and
//! the handler reads the result back with the `view` functions. A command either succeeds
//! whole or changes nothing.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::str::FromStr;

use tonic::Code;
use vpclab_sim::addr::Ipv4Net;
use vpclab_sim::flowlog::format::Format;
use vpclab_sim::flowlog::{Filter, Scope};
use vpclab_sim::host::Host;
use vpclab_sim::policy::sg::{GroupKind, Remote};
use vpclab_sim::policy::{ProtoMatch, RuleAction, acl, sg};
use vpclab_sim::profile::{ConnectionTracking, Profile, Provider};
use vpclab_sim::router::AttachmentKind;
use vpclab_sim::simulation::{Close, Simulation, TcpSession};
use vpclab_sim::time::{Span, Time};
use vpclab_sim::world::{
    AttachmentInterface, Config, EniSpec, FlowLogSpec, FlowLogUpdate, Kind, ModelError,
    NatGatewaySpec, Route, Site, Target, VpnConnectionSpec, World,
};
use vpclab_sim::{Direction, explain};

use super::command::{Command, Init};
use super::error::ApiError;
use super::names::{Collection, check_id, check_parent, page, parse_name, resource_name};
use super::pb;
use crate::parse;
use crate::store::StoredRecord;

/// How many packet outcomes a project keeps for ExplainFlow (~0.5 kB each): the most recent.
pub const KEEP_OUTCOMES: usize = 100_000;

/// Packets of a traffic request that does not say how many.
const PING_COUNT: u16 = 4;
const UDP_COUNT: u16 = 1;
const PACKET_COUNT: u16 = 1;

/// The latest virtual time a project may reach: 2100-01-01.
const LATEST: Time = Time::from_secs(4_102_444_800);

/// What a successful command produced.
#[derive(Debug, Default)]
pub struct Applied {
    /// The id of the resource created or changed, if any.
    pub id: Option<String>,
    /// Records delivered by it (the clock moved past capture windows).
    pub records: Vec<StoredRecord>,
    /// For traffic: when it was scheduled.
    pub at: Option<Time>,
    /// Packets a DropPendingTraffic forgot.
    pub dropped: u64,
}

/// One project. Serialized whole for snapshots (`snapshot`): a project read back is the one
/// written, and applies later commands exactly as it would have.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Project {
    pub id: String,
    pub provider: Provider,
    pub sim: Simulation,
    /// The virtual start (for messages).
    pub start: Time,
    /// Commands applied so far (the next stored command is `applied + 1`).
    pub applied: u64,
    /// Sequence number of the last delivered record.
    pub record_seq: u64,
    /// Update counts per resource: the etag is one more.
    etags: BTreeMap<(Collection, String), u64>,
    /// Each flow log's record format, its name and (aws) field list as the caller gave them.
    formats: BTreeMap<u32, FlowFormat>,
    /// Real-time pace (0: the clock moves only when told).
    pub speed: f64,
}

/// A flow log's record format as the caller asked for it.
#[derive(serde::Serialize, serde::Deserialize)]
struct FlowFormat {
    name: String,
    aws_fields: String,
    format: Format,
}

fn ipv4(s: &str, field: &str) -> Result<Ipv4Addr, ApiError> {
    s.parse()
        .map_err(|_| ApiError::invalid(field, format!("`{s}` is not an IPv4 address")))
}

fn cidr(s: &str, field: &str) -> Result<Ipv4Net, ApiError> {
    Ipv4Net::parse_strict(s).map_err(|e| ApiError::invalid(field, e.to_string()))
}

fn lenient_cidr(s: &str, field: &str) -> Result<Ipv4Net, ApiError> {
    Ipv4Net::parse_lenient(s).map_err(|e| ApiError::invalid(field, e.to_string()))
}

/// A virtual private gateway's connection, as the request gives it (`field`: its path).
fn vpn_connection(c: &pb::VpnConnection, field: &str) -> Result<VpnConnectionSpec, ApiError> {
    let Some(routing) = super::view::routing_of(c.routing) else {
        return Err(ApiError::invalid(
            format!("{field}.routing"),
            "give DIRECT_CONNECT, VPN_STATIC or VPN_BGP",
        ));
    };
    let networks = c
        .networks
        .iter()
        .enumerate()
        .map(|(i, n)| cidr(n, &format!("{field}.networks[{i}]")))
        .collect::<Result<_, _>>()?;
    if !c.id.is_empty() {
        check_id(&c.id, &format!("{field}.id"))?;
    }
    Ok(VpnConnectionSpec {
        name: c.display_name.clone(),
        id: (!c.id.is_empty()).then(|| c.id.clone()),
        routing,
        networks,
    })
}

fn required<'a, T>(m: &'a Option<T>, field: &str) -> Result<&'a T, ApiError> {
    m.as_ref()
        .ok_or_else(|| ApiError::invalid(field, format!("`{field}` is required")))
}

fn port(n: u32, field: &str) -> Result<u16, ApiError> {
    u16::try_from(n).map_err(|_| ApiError::invalid(field, "ports are 0-65535"))
}

/// An optional `ttl` of injected traffic, 1-255 ([`parse::ttl`]).
fn ttl(t: Option<u32>, field: &str) -> Result<Option<u8>, ApiError> {
    t.map(|t| parse::ttl(u64::from(t)).map_err(|m| ApiError::invalid(field, m)))
        .transpose()
}

fn count(n: u32, default: u16, field: &str) -> Result<u16, ApiError> {
    match n {
        0 => Ok(default),
        n => u16::try_from(n)
            .map_err(|_| ApiError::invalid(field, "at most 65535 packets per request")),
    }
}

fn span(d: &Option<prost_types::Duration>, default: Span, field: &str) -> Result<Span, ApiError> {
    match d {
        None => Ok(default),
        Some(d) if d.seconds < 0 || d.nanos < 0 || d.seconds > 31 * 86_400 => {
            Err(ApiError::invalid(field, "must be between 0 and 31 days"))
        }
        Some(d) => Ok(Span::from_micros(
            d.seconds as u64 * 1_000_000 + d.nanos as u64 / 1000,
        )),
    }
}

pub fn timestamp(t: Time) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (t.micros() / 1_000_000) as i64,
        nanos: (t.micros() % 1_000_000) as i32 * 1000,
    }
}

pub fn time_of(t: &prost_types::Timestamp, field: &str) -> Result<Time, ApiError> {
    if t.seconds < 0 || t.nanos < 0 {
        return Err(ApiError::invalid(
            field,
            "times before 1970 are not simulated",
        ));
    }
    let us = (t.seconds as u64)
        .checked_mul(1_000_000)
        .and_then(|s| s.checked_add(t.nanos as u64 / 1000))
        .ok_or_else(|| ApiError::invalid(field, "time out of range"))?;
    Ok(Time::from_micros(us))
}

/// The paths of an update: the mask's, or (AIP-134) every updatable field that is set.
fn mask_paths(
    mask: &Option<prost_types::FieldMask>,
    updatable: &[&str],
    set: impl Fn(&str) -> bool,
) -> Result<Vec<String>, ApiError> {
    let paths: Vec<String> = match mask {
        Some(m) if !m.paths.is_empty() => m.paths.clone(),
        _ => updatable
            .iter()
            .filter(|p| set(p))
            .map(|p| p.to_string())
            .collect(),
    };
    for p in &paths {
        if !updatable.contains(&p.as_str()) {
            return Err(ApiError::invalid(
                "update_mask",
                format!(
                    "`{p}` cannot be updated (updatable: {})",
                    updatable.join(", ")
                ),
            ));
        }
    }
    Ok(paths)
}

impl Project {
    pub fn new(id: &str, init: &Init) -> Result<Project, ApiError> {
        let provider =
            Provider::from_str(&init.provider).map_err(|e| ApiError::invalid("provider", e))?;
        let start = Time::from_secs(init.start);
        let mut config = Config::new(Profile::of(provider));
        config.seed = init.seed;
        let mut p = Project::local(id, World::new(config), start, init.seed);
        p.sim.keep_outcomes(KEEP_OUTCOMES);
        Ok(p)
    }

    /// A project on a world already configured (a scenario's account, region, capture and
    /// truth settings): `vpclab run` applies a file's commands to one, as a server would.
    pub fn local(id: &str, world: World, start: Time, seed: u64) -> Project {
        let provider = world.profile.provider;
        Project {
            id: id.to_string(),
            provider,
            sim: Simulation::new(world, start, seed),
            start,
            // The project's creation is command 1.
            applied: 1,
            record_seq: 0,
            etags: BTreeMap::new(),
            formats: BTreeMap::new(),
            speed: 0.0,
        }
    }

    pub fn world(&self) -> &World {
        &self.sim.world
    }

    pub fn now(&self) -> Time {
        self.sim.now()
    }

    pub fn name(&self, c: Collection, id: &str) -> String {
        resource_name(&self.id, c, id)
    }

    pub fn etag(&self, c: Collection, id: &str) -> String {
        let n = self.etags.get(&(c, id.to_string())).copied().unwrap_or(0);
        format!("\"{}\"", n + 1)
    }

    fn check_etag(
        &self,
        c: Collection,
        id: &str,
        given: &str,
        field: &str,
    ) -> Result<(), ApiError> {
        let current = self.etag(c, id);
        if given.is_empty() || given == current {
            Ok(())
        } else {
            Err(ApiError::new(
                Code::Aborted,
                format!(
                    "etag {given} is stale: the {} is now at {current}; read it again",
                    c.noun()
                ),
            )
            .at(field)
            .about(c.type_name(), self.name(c, id)))
        }
    }

    fn bump(&mut self, c: Collection, id: &str) {
        *self.etags.entry((c, id.to_string())).or_default() += 1;
    }

    /// The world index of a named resource.
    pub fn resolve(&self, c: Collection, name: &str, field: &str) -> Result<u32, ApiError> {
        let id = parse_name(&self.id, c, name, field)?;
        self.find(c, id).ok_or_else(|| {
            ApiError::not_found(field, format!("{} `{name}` does not exist", c.noun()))
                .about(c.type_name(), name)
        })
    }

    pub fn find(&self, c: Collection, id: &str) -> Option<u32> {
        let w = &self.sim.world;
        let kind = match c {
            Collection::Vpcs => Kind::Vpc,
            Collection::Subnets => Kind::Subnet,
            Collection::NetworkInterfaces => Kind::Eni,
            Collection::SecurityGroups => Kind::SecurityGroup,
            Collection::NetworkAcls => Kind::NetworkAcl,
            Collection::RouteTables => Kind::RouteTable,
            Collection::InternetGateways => Kind::InternetGateway,
            Collection::ExternalHosts => Kind::ExternalHost,
            Collection::FlowLogs => Kind::FlowLog,
            Collection::LogGroups => Kind::LogGroup,
            Collection::LogStreams => Kind::LogStream,
            Collection::EnterpriseRouters => Kind::EnterpriseRouter,
            Collection::RouterAttachments => Kind::RouterAttachment,
            Collection::NatGateways => Kind::NatGateway,
            Collection::VpcPeeringConnections => Kind::VpcPeering,
            Collection::VpnGateways => Kind::VpnGateway,
            // CCNs are the world's `ccns`, outside its kinds.
            Collection::CloudConnectNetworks => return w.ccns.find(id),
            // Router route tables have no index of their own in the world; they go with
            // their router.
            Collection::RouterRouteTables => {
                return w
                    .routers
                    .tables
                    .iter()
                    .position(|t| {
                        !t.deleted && !w.routers.routers[t.router as usize].deleted && t.id == id
                    })
                    .map(|t| t as u32);
            }
        };
        w.find(kind, id)
    }

    /// A new resource's id: the caller's (checked and unused) or none (generated).
    fn new_id(&self, c: Collection, given: &str, field: &str) -> Result<Option<String>, ApiError> {
        if given.is_empty() {
            return Ok(None);
        }
        check_id(given, field)?;
        if self.find(c, given).is_some() {
            let name = self.name(c, given);
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!("{} `{name}` already exists", c.noun()),
            )
            .at(field)
            .about(c.type_name(), name));
        }
        Ok(Some(given.to_string()))
    }

    fn endpoint(&self, name: &str, field: &str) -> Result<vpclab_sim::world::Endpoint, ApiError> {
        use vpclab_sim::world::Endpoint;
        if name.contains(&format!("/{}/", Collection::ExternalHosts.segment())) {
            Ok(Endpoint::External(self.resolve(
                Collection::ExternalHosts,
                name,
                field,
            )?))
        } else {
            Ok(Endpoint::Eni(self.resolve(
                Collection::NetworkInterfaces,
                name,
                field,
            )?))
        }
    }

    // ----- applying commands -----

    /// Applies one command. On error nothing has changed.
    pub fn apply(&mut self, cmd: &Command) -> Result<Applied, ApiError> {
        let mut out = self.apply_inner(cmd)?;
        self.applied += 1;
        out.records = self.deliver();
        Ok(out)
    }

    fn apply_inner(&mut self, cmd: &Command) -> Result<Applied, ApiError> {
        let created = |id: String| Applied {
            id: Some(id),
            ..Applied::default()
        };
        let now = self.sim.now();
        match cmd {
            Command::Init(_) => Err(ApiError::internal("the project is already initialised")),
            Command::SetSpeed(s) => {
                if !(0.0..=10_000.0).contains(&s.speed) || s.speed.is_nan() {
                    return Err(ApiError::invalid(
                        "speed",
                        "speed must be between 0 and 10000",
                    ));
                }
                self.speed = s.speed;
                Ok(Applied::default())
            }

            // ----- VPC -----
            Command::CreateVpc(r) => {
                check_parent(&self.id, &r.parent)?;
                let v = required(&r.vpc, "vpc")?;
                let id = self.new_id(Collection::Vpcs, &r.vpc_id, "vpc_id")?;
                let block = cidr(&v.cidr, "vpc.cidr")?;
                let region = (!v.region.is_empty()).then(|| v.region.clone());
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_vpc_in(&v.display_name, id, block, region))
                    .map_err(|e| rename_field(ApiError::model(e, "vpc")))?;
                Ok(created(self.sim.world.vpcs[idx as usize].id.clone()))
            }
            Command::UpdateVpc(r) => {
                let v = required(&r.vpc, "vpc")?;
                let idx = self.resolve(Collection::Vpcs, &v.name, "vpc.name")?;
                let id = self.sim.world.vpcs[idx as usize].id.clone();
                self.check_etag(Collection::Vpcs, &id, &v.etag, "vpc.etag")?;
                let paths = mask_paths(&r.update_mask, &["display_name"], |_| {
                    !v.display_name.is_empty()
                })?;
                if !paths.is_empty() {
                    self.sim
                        .world
                        .rename(Kind::Vpc, idx, &v.display_name)
                        .map_err(|e| rename_field(ApiError::model(e, "vpc")))?;
                    self.bump(Collection::Vpcs, &id);
                }
                Ok(created(id))
            }
            Command::DeleteVpc(r) => {
                let idx = self.resolve(Collection::Vpcs, &r.name, "name")?;
                let id = self.sim.world.vpcs[idx as usize].id.clone();
                self.check_etag(Collection::Vpcs, &id, &r.etag, "etag")?;
                self.sim
                    .world
                    .delete_vpc(idx)
                    .map_err(|e| self.in_use(e, Collection::Vpcs, &r.name))?;
                Ok(Applied::default())
            }

            // ----- subnet -----
            Command::CreateSubnet(r) => {
                check_parent(&self.id, &r.parent)?;
                let s = required(&r.subnet, "subnet")?;
                let id = self.new_id(Collection::Subnets, &r.subnet_id, "subnet_id")?;
                let vpc = self.resolve(Collection::Vpcs, &s.vpc, "subnet.vpc")?;
                let block = cidr(&s.cidr, "subnet.cidr")?;
                let zone = (!s.zone.is_empty()).then(|| s.zone.clone());
                let acl = (!s.network_acl.is_empty())
                    .then(|| {
                        self.resolve(
                            Collection::NetworkAcls,
                            &s.network_acl,
                            "subnet.network_acl",
                        )
                    })
                    .transpose()?;
                let rt = (!s.route_table.is_empty())
                    .then(|| {
                        self.resolve(
                            Collection::RouteTables,
                            &s.route_table,
                            "subnet.route_table",
                        )
                    })
                    .transpose()?;
                // Associations are checked before the subnet exists, so that nothing is
                // created when one of them would be refused.
                let w = &self.sim.world;
                if acl.is_some_and(|a| w.acls[a as usize].vpc != vpc) {
                    return Err(ApiError::invalid(
                        "subnet.network_acl",
                        "the network ACL belongs to another VPC",
                    ));
                }
                if rt.is_some_and(|t| w.route_tables[t as usize].vpc != vpc) {
                    return Err(ApiError::invalid(
                        "subnet.route_table",
                        "the route table belongs to another VPC",
                    ));
                }
                let idx = self
                    .sim
                    .world
                    .transact(|w| {
                        let s = w.create_subnet(&s.display_name, id, vpc, block, zone)?;
                        if let Some(a) = acl {
                            w.associate_acl(s, a)?;
                        }
                        if let Some(t) = rt {
                            w.associate_route_table(s, t)?;
                        }
                        Ok(s)
                    })
                    .map_err(|e| rename_field(ApiError::model(e, "subnet")))?;
                Ok(created(self.sim.world.subnets[idx as usize].id.clone()))
            }
            Command::UpdateSubnet(r) => {
                let s = required(&r.subnet, "subnet")?;
                let idx = self.resolve(Collection::Subnets, &s.name, "subnet.name")?;
                let id = self.sim.world.subnets[idx as usize].id.clone();
                self.check_etag(Collection::Subnets, &id, &s.etag, "subnet.etag")?;
                let paths = mask_paths(
                    &r.update_mask,
                    &["display_name", "network_acl", "route_table"],
                    |p| match p {
                        "display_name" => !s.display_name.is_empty(),
                        "network_acl" => !s.network_acl.is_empty(),
                        _ => !s.route_table.is_empty(),
                    },
                )?;
                // Resolve every reference before changing anything.
                let acl = if paths.iter().any(|p| p == "network_acl") && !s.network_acl.is_empty() {
                    Some(self.resolve(
                        Collection::NetworkAcls,
                        &s.network_acl,
                        "subnet.network_acl",
                    )?)
                } else {
                    None
                };
                let rt = if paths.iter().any(|p| p == "route_table") {
                    Some(self.resolve(
                        Collection::RouteTables,
                        &s.route_table,
                        "subnet.route_table",
                    )?)
                } else {
                    None
                };
                let w = &mut self.sim.world;
                let before = w.subnets[idx as usize].clone();
                let result = (|| {
                    for p in &paths {
                        match p.as_str() {
                            "display_name" => w.rename(Kind::Subnet, idx, &s.display_name),
                            "network_acl" => match acl {
                                Some(a) => w.associate_acl(idx, a).map_err(|e| ModelError {
                                    field: "network_acl".into(),
                                    ..e
                                }),
                                None => w.disassociate_acl(idx),
                            },
                            _ => w
                                .associate_route_table(idx, rt.unwrap_or(before.route_table))
                                .map_err(|e| ModelError {
                                    field: "route_table".into(),
                                    ..e
                                }),
                        }?;
                    }
                    Ok(())
                })();
                if let Err(e) = result {
                    // Put back what the earlier paths changed (each restores a valid state).
                    let _ = w.rename(Kind::Subnet, idx, &before.name);
                    let _ = w.associate_route_table(idx, before.route_table);
                    let _ = match before.acl {
                        Some(a) => w.associate_acl(idx, a),
                        None => w.disassociate_acl(idx),
                    };
                    return Err(rename_field(ApiError::model(e, "subnet")));
                }
                if !paths.is_empty() {
                    self.bump(Collection::Subnets, &id);
                }
                Ok(created(id))
            }
            Command::DeleteSubnet(r) => {
                let idx = self.resolve(Collection::Subnets, &r.name, "name")?;
                let id = self.sim.world.subnets[idx as usize].id.clone();
                self.check_etag(Collection::Subnets, &id, &r.etag, "etag")?;
                self.sim
                    .world
                    .delete_subnet(idx)
                    .map_err(|e| self.in_use(e, Collection::Subnets, &r.name))?;
                Ok(Applied::default())
            }

            // ----- network interface -----
            Command::CreateNetworkInterface(r) => {
                check_parent(&self.id, &r.parent)?;
                let e = required(&r.network_interface, "network_interface")?;
                let id = self.new_id(
                    Collection::NetworkInterfaces,
                    &r.network_interface_id,
                    "network_interface_id",
                )?;
                let subnet =
                    self.resolve(Collection::Subnets, &e.subnet, "network_interface.subnet")?;
                let ip = (!e.private_ip.is_empty())
                    .then(|| ipv4(&e.private_ip, "network_interface.private_ip"))
                    .transpose()?;
                let eip = (!e.elastic_ip.is_empty())
                    .then(|| ipv4(&e.elastic_ip, "network_interface.elastic_ip"))
                    .transpose()?;
                let secondary_ips = e
                    .secondary_private_ips
                    .iter()
                    .enumerate()
                    .map(|(i, a)| ipv4(a, &format!("network_interface.secondary_private_ips[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                let groups =
                    self.groups(&e.security_groups, "network_interface.security_groups")?;
                let host = host(
                    &e.listen_tcp,
                    &e.listen_udp,
                    e.auto_reply,
                    "network_interface",
                )?;
                let spec = EniSpec {
                    name: e.display_name.clone(),
                    id,
                    subnet,
                    ip,
                    secondary_ips,
                    eip,
                    security_groups: groups,
                    instance_id: (!e.instance_id.is_empty()).then(|| e.instance_id.clone()),
                    instance_type: (!e.instance_type.is_empty()).then(|| e.instance_type.clone()),
                    host,
                    connection_tracking: connection_tracking(e.connection_tracking.as_ref()),
                    requester_managed: false,
                };
                let idx = self
                    .sim
                    .world
                    .transact(|w| {
                        let idx = w.create_eni(now, spec)?;
                        if e.bandwidth.is_some() {
                            w.set_eni_bandwidth(now, idx, e.bandwidth)?;
                        }
                        Ok(idx)
                    })
                    .map_err(|e| {
                        rename_field(eni_field(ApiError::model(e, "network_interface")))
                    })?;
                Ok(created(self.sim.world.enis[idx as usize].id.clone()))
            }
            Command::UpdateNetworkInterface(r) => {
                let e = required(&r.network_interface, "network_interface")?;
                let idx = self.resolve(
                    Collection::NetworkInterfaces,
                    &e.name,
                    "network_interface.name",
                )?;
                let id = self.sim.world.enis[idx as usize].id.clone();
                self.check_etag(
                    Collection::NetworkInterfaces,
                    &id,
                    &e.etag,
                    "network_interface.etag",
                )?;
                let paths = mask_paths(
                    &r.update_mask,
                    &[
                        "display_name",
                        "security_groups",
                        "elastic_ip",
                        "connection_tracking",
                        "secondary_private_ips",
                    ],
                    |p| match p {
                        "display_name" => !e.display_name.is_empty(),
                        "security_groups" => !e.security_groups.is_empty(),
                        "elastic_ip" => !e.elastic_ip.is_empty(),
                        "connection_tracking" => e.connection_tracking.is_some(),
                        _ => !e.secondary_private_ips.is_empty(),
                    },
                )?;
                if !paths.is_empty() {
                    self.not_nat_managed(idx, &e.name, "changed")
                        .map_err(|err| err.at("network_interface.name"))?;
                }
                let groups = if paths.iter().any(|p| p == "security_groups") {
                    let g = self.groups(&e.security_groups, "network_interface.security_groups")?;
                    if g.is_empty() {
                        return Err(ApiError::invalid(
                            "network_interface.security_groups",
                            "a network interface needs at least one security group",
                        ));
                    }
                    Some(g)
                } else {
                    None
                };
                let eip = if paths.iter().any(|p| p == "elastic_ip") {
                    Some(
                        (!e.elastic_ip.is_empty())
                            .then(|| ipv4(&e.elastic_ip, "network_interface.elastic_ip"))
                            .transpose()?,
                    )
                } else {
                    None
                };
                let tracking = paths
                    .iter()
                    .any(|p| p == "connection_tracking")
                    .then(|| connection_tracking(e.connection_tracking.as_ref()));
                let secondary = if paths.iter().any(|p| p == "secondary_private_ips") {
                    Some(
                        e.secondary_private_ips
                            .iter()
                            .enumerate()
                            .map(|(i, ip)| {
                                ipv4(ip, &format!("network_interface.secondary_private_ips[{i}]"))
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    )
                } else {
                    None
                };
                let w = &mut self.sim.world;
                let before = w.enis[idx as usize].clone();
                let result = (|| {
                    // First: they refuse before anything else changes.
                    if let Some(t) = tracking {
                        w.set_eni_connection_tracking(idx, t)?;
                    }
                    if let Some(ips) = secondary {
                        w.set_eni_secondary_ips(idx, ips)?;
                    }
                    if paths.iter().any(|p| p == "display_name") {
                        w.rename(Kind::Eni, idx, &e.display_name)?;
                    }
                    if let Some(eip) = eip {
                        w.set_eni_elastic_ip(idx, eip)?;
                    }
                    if let Some(g) = groups {
                        w.set_eni_security_groups(now, idx, g)?;
                    }
                    Ok(())
                })();
                if let Err(err) = result {
                    let _ = w.set_eni_secondary_ips(idx, before.secondary_ips.clone());
                    let _ = w.set_eni_connection_tracking(idx, before.connection_tracking);
                    let _ = w.rename(Kind::Eni, idx, &before.name);
                    let _ = w.set_eni_elastic_ip(idx, before.eip);
                    return Err(rename_field(eni_field(ApiError::model(
                        err,
                        "network_interface",
                    ))));
                }
                if !paths.is_empty() {
                    self.bump(Collection::NetworkInterfaces, &id);
                }
                Ok(created(id))
            }
            Command::DeleteNetworkInterface(r) => {
                let idx = self.resolve(Collection::NetworkInterfaces, &r.name, "name")?;
                let id = self.sim.world.enis[idx as usize].id.clone();
                self.check_etag(Collection::NetworkInterfaces, &id, &r.etag, "etag")?;
                // The world refuses a device's interface (it goes with its device).
                self.sim
                    .world
                    .delete_eni(idx, now)
                    .map_err(|e| self.in_use(e, Collection::NetworkInterfaces, &r.name))?;
                Ok(Applied::default())
            }

            // ----- security group -----
            Command::CreateSecurityGroup(r) => {
                check_parent(&self.id, &r.parent)?;
                let g = required(&r.security_group, "security_group")?;
                let id = self.new_id(
                    Collection::SecurityGroups,
                    &r.security_group_id,
                    "security_group_id",
                )?;
                let vpc = self.resolve(Collection::Vpcs, &g.vpc, "security_group.vpc")?;
                let kind = group_kind(g.r#type, "security_group.type")?;
                let rules = self.sg_rules(&g.rules, "security_group.rules")?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_security_group_of(kind, &g.display_name, id, vpc, rules))
                    .map_err(|e| rename_field(ApiError::model(e, "security_group")))?;
                Ok(created(
                    self.sim.world.security_groups[idx as usize].id.clone(),
                ))
            }
            Command::UpdateSecurityGroup(r) => {
                let g = required(&r.security_group, "security_group")?;
                let idx =
                    self.resolve(Collection::SecurityGroups, &g.name, "security_group.name")?;
                let id = self.sim.world.security_groups[idx as usize].id.clone();
                self.check_etag(
                    Collection::SecurityGroups,
                    &id,
                    &g.etag,
                    "security_group.etag",
                )?;
                let paths = mask_paths(&r.update_mask, &["display_name", "rules"], |p| match p {
                    "display_name" => !g.display_name.is_empty(),
                    _ => !g.rules.is_empty(),
                })?;
                let rules = if paths.iter().any(|p| p == "rules") {
                    Some(self.sg_rules(&g.rules, "security_group.rules")?)
                } else {
                    None
                };
                let w = &mut self.sim.world;
                let old_name = w.security_groups[idx as usize].name.clone();
                if paths.iter().any(|p| p == "display_name") {
                    w.rename(Kind::SecurityGroup, idx, &g.display_name)
                        .map_err(|e| rename_field(ApiError::model(e, "security_group")))?;
                }
                if let Some(rules) = rules
                    && let Err(e) = w.set_security_group_rules(now, idx, rules)
                {
                    let _ = w.rename(Kind::SecurityGroup, idx, &old_name);
                    return Err(ApiError::model(e, "security_group"));
                }
                if !paths.is_empty() {
                    self.bump(Collection::SecurityGroups, &id);
                }
                Ok(created(id))
            }
            Command::DeleteSecurityGroup(r) => {
                let idx = self.resolve(Collection::SecurityGroups, &r.name, "name")?;
                let id = self.sim.world.security_groups[idx as usize].id.clone();
                self.check_etag(Collection::SecurityGroups, &id, &r.etag, "etag")?;
                self.sim
                    .world
                    .delete_security_group(idx)
                    .map_err(|e| self.in_use(e, Collection::SecurityGroups, &r.name))?;
                Ok(Applied::default())
            }

            // ----- network ACL -----
            Command::CreateNetworkAcl(r) => {
                check_parent(&self.id, &r.parent)?;
                let a = required(&r.network_acl, "network_acl")?;
                let id =
                    self.new_id(Collection::NetworkAcls, &r.network_acl_id, "network_acl_id")?;
                let vpc = self.resolve(Collection::Vpcs, &a.vpc, "network_acl.vpc")?;
                let entries = acl_entries(&a.entries, "network_acl.entries")?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_network_acl(&a.display_name, id, vpc, entries))
                    .map_err(|e| rename_field(ApiError::model(e, "network_acl")))?;
                Ok(created(self.sim.world.acls[idx as usize].id.clone()))
            }
            Command::UpdateNetworkAcl(r) => {
                let a = required(&r.network_acl, "network_acl")?;
                let idx = self.resolve(Collection::NetworkAcls, &a.name, "network_acl.name")?;
                let id = self.sim.world.acls[idx as usize].id.clone();
                self.check_etag(Collection::NetworkAcls, &id, &a.etag, "network_acl.etag")?;
                let paths =
                    mask_paths(&r.update_mask, &["display_name", "entries"], |p| match p {
                        "display_name" => !a.display_name.is_empty(),
                        _ => !a.entries.is_empty(),
                    })?;
                let entries = if paths.iter().any(|p| p == "entries") {
                    Some(acl_entries(&a.entries, "network_acl.entries")?)
                } else {
                    None
                };
                let w = &mut self.sim.world;
                let old_name = w.acls[idx as usize].name.clone();
                if paths.iter().any(|p| p == "display_name") {
                    w.rename(Kind::NetworkAcl, idx, &a.display_name)
                        .map_err(|e| rename_field(ApiError::model(e, "network_acl")))?;
                }
                if let Some(entries) = entries
                    && let Err(e) = w.set_acl_entries(idx, entries)
                {
                    let _ = w.rename(Kind::NetworkAcl, idx, &old_name);
                    return Err(ApiError::model(e, "network_acl"));
                }
                if !paths.is_empty() {
                    self.bump(Collection::NetworkAcls, &id);
                }
                Ok(created(id))
            }
            Command::DeleteNetworkAcl(r) => {
                let idx = self.resolve(Collection::NetworkAcls, &r.name, "name")?;
                let id = self.sim.world.acls[idx as usize].id.clone();
                self.check_etag(Collection::NetworkAcls, &id, &r.etag, "etag")?;
                self.sim
                    .world
                    .delete_network_acl(idx)
                    .map_err(|e| self.in_use(e, Collection::NetworkAcls, &r.name))?;
                Ok(Applied::default())
            }

            // ----- route table -----
            Command::CreateRouteTable(r) => {
                check_parent(&self.id, &r.parent)?;
                let t = required(&r.route_table, "route_table")?;
                let id =
                    self.new_id(Collection::RouteTables, &r.route_table_id, "route_table_id")?;
                let vpc = self.resolve(Collection::Vpcs, &t.vpc, "route_table.vpc")?;
                let routes = self.routes(&t.routes, vpc, None, "route_table.routes")?;
                let propagating = self.propagating(&t.propagating_vpn_gateways)?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| {
                        w.check_route_propagation(vpc, &propagating)?;
                        let t_idx = w.create_route_table(&t.display_name, id, vpc, routes)?;
                        w.set_route_propagation(t_idx, propagating)?;
                        Ok(t_idx)
                    })
                    .map_err(|e| rename_field(ApiError::model(e, "route_table")))?;
                Ok(created(
                    self.sim.world.route_tables[idx as usize].id.clone(),
                ))
            }
            Command::UpdateRouteTable(r) => {
                let t = required(&r.route_table, "route_table")?;
                let idx = self.resolve(Collection::RouteTables, &t.name, "route_table.name")?;
                let id = self.sim.world.route_tables[idx as usize].id.clone();
                self.check_etag(Collection::RouteTables, &id, &t.etag, "route_table.etag")?;
                let paths = mask_paths(
                    &r.update_mask,
                    &["display_name", "routes", "propagating_vpn_gateways"],
                    |p| match p {
                        "display_name" => !t.display_name.is_empty(),
                        "routes" => !t.routes.is_empty(),
                        _ => !t.propagating_vpn_gateways.is_empty(),
                    },
                )?;
                let routes = if paths.iter().any(|p| p == "routes") {
                    let vpc = self.sim.world.route_tables[idx as usize].vpc;
                    Some(self.routes(&t.routes, vpc, Some(idx), "route_table.routes")?)
                } else {
                    None
                };
                let propagating = if paths.iter().any(|p| p == "propagating_vpn_gateways") {
                    Some(self.propagating(&t.propagating_vpn_gateways)?)
                } else {
                    None
                };
                let w = &mut self.sim.world;
                let old_name = w.route_tables[idx as usize].name.clone();
                if paths.iter().any(|p| p == "display_name") {
                    w.rename(Kind::RouteTable, idx, &t.display_name)
                        .map_err(|e| rename_field(ApiError::model(e, "route_table")))?;
                }
                let changed = w.transact(|w| {
                    // Both checked before either changes.
                    if let Some(gateways) = &propagating {
                        w.check_route_propagation(w.route_tables[idx as usize].vpc, gateways)?;
                    }
                    if let Some(routes) = routes {
                        w.set_routes(idx, routes)?;
                    }
                    if let Some(gateways) = propagating {
                        w.set_route_propagation(idx, gateways)?;
                    }
                    Ok(())
                });
                if let Err(e) = changed {
                    let _ = w.rename(Kind::RouteTable, idx, &old_name);
                    return Err(ApiError::model(e, "route_table"));
                }
                if !paths.is_empty() {
                    self.bump(Collection::RouteTables, &id);
                }
                Ok(created(id))
            }
            Command::DeleteRouteTable(r) => {
                let idx = self.resolve(Collection::RouteTables, &r.name, "name")?;
                let id = self.sim.world.route_tables[idx as usize].id.clone();
                self.check_etag(Collection::RouteTables, &id, &r.etag, "etag")?;
                self.sim
                    .world
                    .delete_route_table(idx)
                    .map_err(|e| self.in_use(e, Collection::RouteTables, &r.name))?;
                Ok(Applied::default())
            }

            // ----- internet gateway -----
            Command::CreateInternetGateway(r) => {
                check_parent(&self.id, &r.parent)?;
                let g = required(&r.internet_gateway, "internet_gateway")?;
                let id = self.new_id(
                    Collection::InternetGateways,
                    &r.internet_gateway_id,
                    "internet_gateway_id",
                )?;
                let vpc = self.resolve(Collection::Vpcs, &g.vpc, "internet_gateway.vpc")?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_internet_gateway(vpc, id))
                    .map_err(|e| {
                        ApiError::model(e, "internet_gateway").at("internet_gateway.vpc")
                    })?;
                Ok(created(self.sim.world.igws[idx as usize].id.clone()))
            }
            Command::DeleteInternetGateway(r) => {
                let idx = self.resolve(Collection::InternetGateways, &r.name, "name")?;
                self.sim
                    .world
                    .delete_internet_gateway(idx)
                    .map_err(|e| self.in_use(e, Collection::InternetGateways, &r.name))?;
                Ok(Applied::default())
            }

            // ----- external host -----
            Command::CreateExternalHost(r) => {
                check_parent(&self.id, &r.parent)?;
                let h = required(&r.external_host, "external_host")?;
                let id = self.new_id(
                    Collection::ExternalHosts,
                    &r.external_host_id,
                    "external_host_id",
                )?;
                let ip = ipv4(&h.ip, "external_host.ip")?;
                let host = host(&h.listen_tcp, &h.listen_udp, h.auto_reply, "external_host")?;
                // A router's gateway attachment, or a VPC's virtual private gateway.
                let site = match h.site.as_str() {
                    "" => None,
                    s if s.contains(&format!("/{}/", Collection::VpnGateways.segment())) => {
                        Some(Site::VpnGateway(self.resolve(
                            Collection::VpnGateways,
                            s,
                            "external_host.site",
                        )?))
                    }
                    s => Some(Site::Attachment(self.resolve(
                        Collection::RouterAttachments,
                        s,
                        "external_host.site",
                    )?)),
                };
                let idx = self
                    .sim
                    .world
                    .transact(|w| match site {
                        Some(site) => w.create_onprem_host(&h.display_name, id, ip, host, site),
                        None => w.create_external_host_with_id(&h.display_name, id, ip, host),
                    })
                    .map_err(|e| rename_field(ApiError::model(e, "external_host")))?;
                Ok(created(self.sim.world.externals[idx as usize].id.clone()))
            }
            Command::DeleteExternalHost(r) => {
                let idx = self.resolve(Collection::ExternalHosts, &r.name, "name")?;
                self.sim
                    .world
                    .delete_external_host(idx)
                    .map_err(|e| self.in_use(e, Collection::ExternalHosts, &r.name))?;
                Ok(Applied::default())
            }

            // ----- log group / stream -----
            Command::CreateLogGroup(r) => {
                check_parent(&self.id, &r.parent)?;
                let g = required(&r.log_group, "log_group")?;
                let id = self.new_id(Collection::LogGroups, &r.log_group_id, "log_group_id")?;
                let days = (g.retention_days != 0).then_some(g.retention_days);
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_log_group(&g.display_name, id, days))
                    .map_err(|e| rename_field(ApiError::model(e, "log_group")))?;
                Ok(created(self.sim.world.logs.groups[idx as usize].id.clone()))
            }
            Command::UpdateLogGroup(r) => {
                let g = required(&r.log_group, "log_group")?;
                let idx = self.resolve(Collection::LogGroups, &g.name, "log_group.name")?;
                let id = self.sim.world.logs.groups[idx as usize].id.clone();
                self.check_etag(Collection::LogGroups, &id, &g.etag, "log_group.etag")?;
                let paths =
                    mask_paths(
                        &r.update_mask,
                        &["display_name", "retention_days"],
                        |p| match p {
                            "display_name" => !g.display_name.is_empty(),
                            _ => g.retention_days != 0,
                        },
                    )?;
                let w = &mut self.sim.world;
                let before = w.logs.groups[idx as usize].clone();
                if paths.iter().any(|p| p == "display_name") {
                    w.rename_log_group(idx, &g.display_name)
                        .map_err(|e| rename_field(ApiError::model(e, "log_group")))?;
                }
                if paths.iter().any(|p| p == "retention_days")
                    && let Err(e) = w.set_log_retention(idx, g.retention_days)
                {
                    let _ = w.rename_log_group(idx, &before.name);
                    return Err(ApiError::model(e, "log_group"));
                }
                if !paths.is_empty() {
                    self.bump(Collection::LogGroups, &id);
                }
                Ok(created(id))
            }
            Command::DeleteLogGroup(r) => {
                let idx = self.resolve(Collection::LogGroups, &r.name, "name")?;
                let id = self.sim.world.logs.groups[idx as usize].id.clone();
                self.check_etag(Collection::LogGroups, &id, &r.etag, "etag")?;
                self.sim
                    .world
                    .delete_log_group(idx)
                    .map_err(|e| self.in_use(e, Collection::LogGroups, &r.name))?;
                Ok(Applied::default())
            }
            Command::CreateLogStream(r) => {
                check_parent(&self.id, &r.parent)?;
                let s = required(&r.log_stream, "log_stream")?;
                let id = self.new_id(Collection::LogStreams, &r.log_stream_id, "log_stream_id")?;
                let group =
                    self.resolve(Collection::LogGroups, &s.log_group, "log_stream.log_group")?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_log_stream(group, &s.display_name, id))
                    .map_err(|e| rename_field(ApiError::model(e, "log_stream")))?;
                Ok(created(
                    self.sim.world.logs.streams[idx as usize].id.clone(),
                ))
            }
            Command::DeleteLogStream(r) => {
                let idx = self.resolve(Collection::LogStreams, &r.name, "name")?;
                self.sim
                    .world
                    .delete_log_stream(idx)
                    .map_err(|e| self.in_use(e, Collection::LogStreams, &r.name))?;
                Ok(Applied::default())
            }

            // ----- flow log -----
            Command::CreateFlowLog(r) => {
                check_parent(&self.id, &r.parent)?;
                let f = required(&r.flow_log, "flow_log")?;
                let id = self.new_id(Collection::FlowLogs, &r.flow_log_id, "flow_log_id")?;
                let scope = self.scope(&f.resource, "flow_log.resource")?;
                let stream = if f.log_stream.is_empty() {
                    return Err(ApiError::invalid(
                        "flow_log.log_stream",
                        "a flow log needs a log stream to deliver its records to",
                    ));
                } else {
                    self.resolve(Collection::LogStreams, &f.log_stream, "flow_log.log_stream")?
                };
                let format = if f.format.is_empty() && f.aws_fields.is_empty() {
                    let d = self.sim.world.profile.default_format();
                    FlowFormat {
                        name: d.name().to_string(),
                        aws_fields: String::new(),
                        format: d,
                    }
                } else {
                    let name = if f.format.is_empty() {
                        self.sim.world.profile.default_format().name().to_string()
                    } else {
                        f.format.clone()
                    };
                    let mut parsed = Format::parse(&name, None)
                        .map_err(|e| ApiError::invalid("flow_log.format", e.to_string()))?;
                    if !f.aws_fields.is_empty() {
                        parsed = Format::parse(&name, Some(&f.aws_fields))
                            .map_err(|e| ApiError::invalid("flow_log.aws_fields", e.to_string()))?;
                    }
                    FlowFormat {
                        name,
                        aws_fields: f.aws_fields.clone(),
                        format: parsed,
                    }
                };
                let window =
                    (f.window_seconds != 0).then(|| Span::from_secs(f.window_seconds as u64));
                let spec = FlowLogSpec {
                    name: f.display_name.clone(),
                    id,
                    scope,
                    filter: filter(f.traffic, "flow_log.traffic")?,
                    window,
                    capacity: None,
                    description: f.description.clone(),
                    tags: f.tags.clone().into_iter().collect(),
                    log_stream: Some(stream),
                };
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_flow_log(now, spec))
                    .map_err(|e| self.flow_log_refused(e, scope, &f.resource))?;
                self.formats.insert(idx, format);
                Ok(created(
                    self.sim.world.flow_logs[idx as usize]
                        .collector
                        .settings
                        .id
                        .clone(),
                ))
            }
            Command::UpdateFlowLog(r) => {
                let f = required(&r.flow_log, "flow_log")?;
                let idx = self.resolve(Collection::FlowLogs, &f.name, "flow_log.name")?;
                let id = self.sim.world.flow_logs[idx as usize]
                    .collector
                    .settings
                    .id
                    .clone();
                self.check_etag(Collection::FlowLogs, &id, &f.etag, "flow_log.etag")?;
                let paths = mask_paths(
                    &r.update_mask,
                    &["display_name", "description", "tags"],
                    |p| match p {
                        "display_name" => !f.display_name.is_empty(),
                        "description" => !f.description.is_empty(),
                        _ => !f.tags.is_empty(),
                    },
                )?;
                let has = |p: &str| paths.iter().any(|x| x == p);
                let update = FlowLogUpdate {
                    name: has("display_name").then(|| f.display_name.clone()),
                    description: has("description").then(|| f.description.clone()),
                    tags: has("tags").then(|| f.tags.clone().into_iter().collect()),
                };
                self.sim
                    .world
                    .update_flow_log(idx, update)
                    .map_err(|e| rename_field(flow_field(ApiError::model(e, "flow_log"))))?;
                if !paths.is_empty() {
                    self.bump(Collection::FlowLogs, &id);
                }
                Ok(created(id))
            }
            Command::DeleteFlowLog(r) => {
                let idx = self.resolve(Collection::FlowLogs, &r.name, "name")?;
                let id = self.sim.world.flow_logs[idx as usize]
                    .collector
                    .settings
                    .id
                    .clone();
                self.check_etag(Collection::FlowLogs, &id, &r.etag, "etag")?;
                self.sim
                    .world
                    .delete_flow_log(idx, now)
                    .map_err(|e| self.in_use(e, Collection::FlowLogs, &r.name))?;
                Ok(Applied::default())
            }

            // ----- enterprise routers -----
            Command::CreateEnterpriseRouter(r) => {
                check_parent(&self.id, &r.parent)?;
                let er = required(&r.enterprise_router, "enterprise_router")?;
                let id = self.new_id(
                    Collection::EnterpriseRouters,
                    &r.enterprise_router_id,
                    "enterprise_router_id",
                )?;
                let asn = (er.asn != 0).then_some(er.asn);
                let region = (!er.region.is_empty())
                    .then(|| check_region(&er.region, "enterprise_router.region"))
                    .transpose()?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_enterprise_router(&er.display_name, id, asn))
                    .map_err(|e| rename_field(ApiError::model(e, "enterprise_router")))?;
                // As scenario files set it (`enterprise_routers[].region`).
                self.sim.world.routers.routers[idx as usize].region = region;
                Ok(created(
                    self.sim.world.routers.routers[idx as usize].id.clone(),
                ))
            }
            Command::UpdateEnterpriseRouter(r) => {
                let er = required(&r.enterprise_router, "enterprise_router")?;
                let idx = self.resolve(
                    Collection::EnterpriseRouters,
                    &er.name,
                    "enterprise_router.name",
                )?;
                let id = self.sim.world.routers.routers[idx as usize].id.clone();
                self.check_etag(
                    Collection::EnterpriseRouters,
                    &id,
                    &er.etag,
                    "enterprise_router.etag",
                )?;
                let paths = mask_paths(&r.update_mask, &["display_name"], |_| {
                    !er.display_name.is_empty()
                })?;
                if !paths.is_empty() {
                    self.sim
                        .world
                        .routers
                        .rename_router(idx, &er.display_name)
                        .map_err(|e| rename_field(ApiError::model(e, "enterprise_router")))?;
                    self.bump(Collection::EnterpriseRouters, &id);
                }
                Ok(created(id))
            }
            Command::DeleteEnterpriseRouter(r) => {
                let idx = self.resolve(Collection::EnterpriseRouters, &r.name, "name")?;
                let id = self.sim.world.routers.routers[idx as usize].id.clone();
                self.check_etag(Collection::EnterpriseRouters, &id, &r.etag, "etag")?;
                self.sim
                    .world
                    .delete_enterprise_router(idx)
                    .map_err(|e| self.in_use(e, Collection::EnterpriseRouters, &r.name))?;
                Ok(Applied::default())
            }
            Command::CreateRouterAttachment(r) => {
                check_parent(&self.id, &r.parent)?;
                let a = required(&r.router_attachment, "router_attachment")?;
                let id = self.new_id(
                    Collection::RouterAttachments,
                    &r.router_attachment_id,
                    "router_attachment_id",
                )?;
                let router = self.resolve(
                    Collection::EnterpriseRouters,
                    &a.enterprise_router,
                    "router_attachment.enterprise_router",
                )?;
                let kind = attachment_kind(a.kind)?;
                // The association and propagations, checked before anything is created.
                let table = (!a.route_table.is_empty())
                    .then(|| {
                        self.router_table_of(
                            router,
                            &a.route_table,
                            "router_attachment.route_table",
                        )
                    })
                    .transpose()?;
                let propagates = self.router_tables_of(
                    router,
                    &a.propagates_to,
                    "router_attachment.propagates_to",
                )?;
                let fields_of = |k: AttachmentKind| -> &'static [&'static str] {
                    match k {
                        AttachmentKind::Vpc => &["networks", "peer_router"],
                        AttachmentKind::PeeringConnection => {
                            &["resource", "subnets", "interfaces", "networks"]
                        }
                        _ => &["subnets", "interfaces", "peer_router"],
                    }
                };
                for f in fields_of(kind) {
                    let given = match *f {
                        "resource" => !a.resource.is_empty(),
                        "subnets" => !a.subnets.is_empty(),
                        "interfaces" => !a.interfaces.is_empty(),
                        "networks" => !a.networks.is_empty(),
                        _ => !a.peer_router.is_empty(),
                    };
                    if given {
                        return Err(ApiError::invalid(
                            format!("router_attachment.{f}"),
                            format!("a {} attachment has no `{f}`", kind.label()),
                        ));
                    }
                }
                let refused = |e: ModelError, interfaces: bool| {
                    let err = rename_field(attachment_field(
                        ApiError::model(e, "router_attachment"),
                        interfaces,
                        kind,
                    ));
                    match err.code {
                        // The router refuses the kind (huawei, seed 000).
                        Code::FailedPrecondition
                            if err.field.as_deref() == Some("router_attachment.kind") =>
                        {
                            err.about(
                                Collection::EnterpriseRouters.type_name(),
                                &a.enterprise_router,
                            )
                        }
                        _ => err,
                    }
                };
                let associate = |w: &mut World, x: u32| -> Result<(), ModelError> {
                    if let Some(t) = table {
                        w.associate_router_table(x, t, false)?;
                    }
                    for &t in &propagates {
                        w.propagate_to_router_table(x, t)?;
                    }
                    Ok(())
                };
                let idx = match kind {
                    AttachmentKind::Vpc => {
                        let vpc = self.resolve(
                            Collection::Vpcs,
                            &a.resource,
                            "router_attachment.resource",
                        )?;
                        let interfaces = self.attachment_interfaces(a)?;
                        self.sim
                            .world
                            .transact(|w| {
                                let x = w.attach_vpc(
                                    now,
                                    router,
                                    &a.display_name,
                                    id,
                                    vpc,
                                    interfaces,
                                )?;
                                associate(w, x)?;
                                Ok(x)
                            })
                            .map_err(|e| refused(e, !a.interfaces.is_empty()))?
                    }
                    AttachmentKind::PeeringConnection => {
                        if a.peer_router.is_empty() {
                            return Err(ApiError::invalid(
                                "router_attachment.peer_router",
                                "a peering connection names the other router: `peer_router`",
                            ));
                        }
                        let peer = self.resolve(
                            Collection::EnterpriseRouters,
                            &a.peer_router,
                            "router_attachment.peer_router",
                        )?;
                        let peer_id = self.new_id(
                            Collection::RouterAttachments,
                            &r.peer_attachment_id,
                            "peer_attachment_id",
                        )?;
                        if peer_id.is_some() && peer_id == id {
                            return Err(ApiError::invalid(
                                "peer_attachment_id",
                                "the two sides of a peering connection need two ids",
                            ));
                        }
                        self.check_peer_side(router, peer, &a.display_name)?;
                        self.sim
                            .world
                            .transact(|w| {
                                let (x, _) =
                                    w.peer_routers(router, peer, &a.display_name, (id, peer_id))?;
                                associate(w, x)?;
                                Ok(x)
                            })
                            .map_err(|e| refused(e, false))?
                    }
                    _ => {
                        if a.resource.is_empty() {
                            return Err(ApiError::invalid(
                                "router_attachment.resource",
                                format!("name the {} to attach (its id)", kind.label()),
                            ));
                        }
                        let networks = a
                            .networks
                            .iter()
                            .enumerate()
                            .map(|(i, n)| cidr(n, &format!("router_attachment.networks[{i}]")))
                            .collect::<Result<Vec<_>, _>>()?;
                        self.sim
                            .world
                            .transact(|w| {
                                let x = w.attach_gateway(
                                    router,
                                    kind,
                                    &a.display_name,
                                    id,
                                    a.resource.clone(),
                                    networks,
                                )?;
                                associate(w, x)?;
                                Ok(x)
                            })
                            .map_err(|e| refused(e, false))?
                    }
                };
                Ok(created(
                    self.sim.world.routers.attachments[idx as usize].id.clone(),
                ))
            }
            Command::UpdateRouterAttachment(r) => {
                let a = required(&r.router_attachment, "router_attachment")?;
                let idx = self.resolve(
                    Collection::RouterAttachments,
                    &a.name,
                    "router_attachment.name",
                )?;
                let att = self.sim.world.routers.attachments[idx as usize].clone();
                self.check_etag(
                    Collection::RouterAttachments,
                    &att.id,
                    &a.etag,
                    "router_attachment.etag",
                )?;
                let paths = mask_paths(
                    &r.update_mask,
                    &["display_name", "route_table", "propagates_to"],
                    |p| match p {
                        "display_name" => !a.display_name.is_empty(),
                        "route_table" => !a.route_table.is_empty(),
                        _ => !a.propagates_to.is_empty(),
                    },
                )?;
                let has = |p: &str| paths.iter().any(|x| x == p);
                // Every reference resolved and every limit checked before anything changes.
                let table = if has("route_table") {
                    if a.route_table.is_empty() {
                        if att.table.is_some() {
                            return Err(ApiError::invalid(
                                "router_attachment.route_table",
                                "an attachment's association cannot be removed: associate another route table instead",
                            ));
                        }
                        None
                    } else {
                        Some(self.router_table_of(
                            att.router,
                            &a.route_table,
                            "router_attachment.route_table",
                        )?)
                    }
                } else {
                    None
                };
                let propagates = if has("propagates_to") {
                    let want = self.router_tables_of(
                        att.router,
                        &a.propagates_to,
                        "router_attachment.propagates_to",
                    )?;
                    if let Some(&gone) = att.propagates.iter().find(|t| !want.contains(t)) {
                        let name = self.name(
                            Collection::RouterRouteTables,
                            &self.sim.world.routers.tables[gone as usize].id,
                        );
                        return Err(ApiError::invalid(
                            "router_attachment.propagates_to",
                            format!(
                                "propagations can only be added: `{name}` is missing from the list (removing a propagation is not supported)"
                            ),
                        ));
                    }
                    want
                } else {
                    Vec::new()
                };
                let w = &mut self.sim.world;
                if has("display_name") {
                    w.transact(|w| w.routers.rename_attachment(idx, &a.display_name))
                        .map_err(|e| rename_field(ApiError::model(e, "router_attachment")))?;
                }
                let result = w.transact(|w| {
                    if let Some(t) = table {
                        w.associate_router_table(idx, t, false)?;
                    }
                    for t in propagates {
                        w.propagate_to_router_table(idx, t)?;
                    }
                    Ok(())
                });
                if let Err(e) = result {
                    let _ = w.routers.rename_attachment(idx, &att.name);
                    return Err(ApiError::model(e, "router_attachment"));
                }
                if !paths.is_empty() {
                    self.bump(Collection::RouterAttachments, &att.id);
                }
                Ok(created(att.id))
            }
            Command::DeleteRouterAttachment(r) => {
                let idx = self.resolve(Collection::RouterAttachments, &r.name, "name")?;
                self.sim
                    .world
                    .delete_router_attachment(idx, now)
                    .map_err(|e| self.in_use(e, Collection::RouterAttachments, &r.name))?;
                Ok(Applied::default())
            }
            Command::CreateRouterRouteTable(r) => {
                check_parent(&self.id, &r.parent)?;
                let t = required(&r.router_route_table, "router_route_table")?;
                let id = self.new_id(
                    Collection::RouterRouteTables,
                    &r.router_route_table_id,
                    "router_route_table_id",
                )?;
                let router = self.resolve(
                    Collection::EnterpriseRouters,
                    &t.enterprise_router,
                    "router_route_table.enterprise_router",
                )?;
                let routes = self.router_routes(
                    router,
                    t.routes.iter().enumerate(),
                    &[],
                    "router_route_table.routes",
                )?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| {
                        let x = w.create_router_route_table(router, &t.display_name, id)?;
                        for (i, (destination, hop)) in routes.into_iter().enumerate() {
                            if let Err(e) = w.add_router_route(x, destination, hop) {
                                // The table was just pushed: taking it back undoes it all.
                                w.routers.tables.pop();
                                return Err(e.within(&format!("routes[{i}]")));
                            }
                        }
                        Ok(x)
                    })
                    .map_err(|e| rename_field(ApiError::model(e, "router_route_table")))?;
                Ok(created(
                    self.sim.world.routers.tables[idx as usize].id.clone(),
                ))
            }
            Command::UpdateRouterRouteTable(r) => {
                let t = required(&r.router_route_table, "router_route_table")?;
                let idx = self.resolve(
                    Collection::RouterRouteTables,
                    &t.name,
                    "router_route_table.name",
                )?;
                let table = self.sim.world.routers.tables[idx as usize].clone();
                self.check_etag(
                    Collection::RouterRouteTables,
                    &table.id,
                    &t.etag,
                    "router_route_table.etag",
                )?;
                let paths = mask_paths(&r.update_mask, &["routes"], |_| !t.routes.is_empty())?;
                if !paths.is_empty() {
                    // The request's list replaces the static routes: routes it leaves out are
                    // deleted, a destination it points elsewhere is replaced, new ones are
                    // added. A route given exactly as it is stays as it is (a huawei route to
                    // a deleted attachment, a blackhole, included).
                    let current: Vec<pb::RouterRoute> = table
                        .routes
                        .iter()
                        .map(|x| super::view::router_route(self, x))
                        .collect();
                    let kept: Vec<pb::RouterRoute> = t
                        .routes
                        .iter()
                        .filter(|x| current.contains(x))
                        .cloned()
                        .collect();
                    let added = t
                        .routes
                        .iter()
                        .enumerate()
                        .filter(|(_, x)| !current.contains(x));
                    let mut fresh = self
                        .router_routes(table.router, added, &kept, "router_route_table.routes")?
                        .into_iter();
                    let mut next = Vec::with_capacity(t.routes.len());
                    for (i, x) in t.routes.iter().enumerate() {
                        let route = match current.iter().position(|c| c == x) {
                            Some(j) => table.routes[j],
                            None => {
                                let Some((destination, hop)) = fresh.next() else {
                                    break;
                                };
                                vpclab_sim::router::StaticRoute {
                                    destination,
                                    hop: hop.map_or(
                                        vpclab_sim::router::Hop::Blackhole,
                                        vpclab_sim::router::Hop::Attachment,
                                    ),
                                }
                            }
                        };
                        if next.iter().any(|n: &vpclab_sim::router::StaticRoute| {
                            n.destination == route.destination
                        }) {
                            return Err(ApiError::new(
                                Code::AlreadyExists,
                                format!(
                                    "a route to {} is given twice: one route per destination",
                                    route.destination
                                ),
                            )
                            .at(format!("router_route_table.routes[{i}].destination")));
                        }
                        next.push(route);
                    }
                    self.sim
                        .world
                        .set_router_routes(idx, next)
                        .map_err(|e| ApiError::model(e, "router_route_table"))?;
                    self.bump(Collection::RouterRouteTables, &table.id);
                }
                Ok(created(table.id))
            }

            // ----- Cloud Connect Networks -----
            Command::CreateCloudConnectNetwork(r) => {
                check_parent(&self.id, &r.parent)?;
                let c = required(&r.cloud_connect_network, "cloud_connect_network")?;
                let id = self.new_id(
                    Collection::CloudConnectNetworks,
                    &r.cloud_connect_network_id,
                    "cloud_connect_network_id",
                )?;
                let vpcs = self.ccn_new_vpcs(None, &c.vpcs)?;
                let limits = self.ccn_limits(None, &vpcs, &c.bandwidth_limits)?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_ccn(&c.display_name, id))
                    .map_err(|e| ccn_field(ApiError::model(e, "cloud_connect_network")))?;
                self.ccn_apply(now, idx, &vpcs, &limits)?;
                Ok(created(self.sim.world.ccns.items[idx as usize].id.clone()))
            }
            Command::UpdateCloudConnectNetwork(r) => {
                let c = required(&r.cloud_connect_network, "cloud_connect_network")?;
                let idx = self.resolve(
                    Collection::CloudConnectNetworks,
                    &c.name,
                    "cloud_connect_network.name",
                )?;
                let id = self.sim.world.ccns.items[idx as usize].id.clone();
                self.check_etag(
                    Collection::CloudConnectNetworks,
                    &id,
                    &c.etag,
                    "cloud_connect_network.etag",
                )?;
                let paths =
                    mask_paths(&r.update_mask, &["vpcs", "bandwidth_limits"], |p| match p {
                        "vpcs" => !c.vpcs.is_empty(),
                        _ => !c.bandwidth_limits.is_empty(),
                    })?;
                let has = |p: &str| paths.iter().any(|x| x == p);
                let vpcs = if has("vpcs") {
                    self.ccn_new_vpcs(Some(idx), &c.vpcs)?
                } else {
                    Vec::new()
                };
                let limits = if has("bandwidth_limits") {
                    self.ccn_limits(Some(idx), &vpcs, &c.bandwidth_limits)?
                } else {
                    Vec::new()
                };
                if !vpcs.is_empty() || !limits.is_empty() {
                    self.ccn_apply(now, idx, &vpcs, &limits)?;
                    self.bump(Collection::CloudConnectNetworks, &id);
                }
                Ok(created(id))
            }

            // ----- NAT gateway -----
            Command::CreateNatGateway(r) => {
                check_parent(&self.id, &r.parent)?;
                let n = required(&r.nat_gateway, "nat_gateway")?;
                let id =
                    self.new_id(Collection::NatGateways, &r.nat_gateway_id, "nat_gateway_id")?;
                let eni_id = self.new_id(
                    Collection::NetworkInterfaces,
                    &r.network_interface_id,
                    "network_interface_id",
                )?;
                let subnet = self.resolve(Collection::Subnets, &n.subnet, "nat_gateway.subnet")?;
                let ip = (!n.private_ip.is_empty())
                    .then(|| ipv4(&n.private_ip, "nat_gateway.private_ip"))
                    .transpose()?;
                let eip = (!n.elastic_ip.is_empty())
                    .then(|| ipv4(&n.elastic_ip, "nat_gateway.elastic_ip"))
                    .transpose()?;
                let vpc = self.sim.world.subnets[subnet as usize].vpc;
                let rules = self.nat_dnat_rules(vpc, &n.dnat_rules)?;
                let spec = NatGatewaySpec {
                    name: n.display_name.clone(),
                    id,
                    subnet,
                    eip,
                    ip,
                    eni_id,
                };
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_nat_gateway(now, spec))
                    .map_err(|e| nat_field(ApiError::model(e, "nat_gateway")))?;
                if !rules.is_empty() {
                    self.sim.world.set_nat_dnat(idx, rules).map_err(|e| {
                        ApiError::internal(format!("DNAT rules failed after their checks: {e}"))
                    })?;
                }
                Ok(created(self.sim.world.nats[idx as usize].id.clone()))
            }
            Command::UpdateNatGateway(r) => {
                let n = required(&r.nat_gateway, "nat_gateway")?;
                let idx = self.resolve(Collection::NatGateways, &n.name, "nat_gateway.name")?;
                let id = self.sim.world.nats[idx as usize].id.clone();
                self.check_etag(Collection::NatGateways, &id, &n.etag, "nat_gateway.etag")?;
                let paths = mask_paths(
                    &r.update_mask,
                    &["display_name", "dnat_rules"],
                    |p| match p {
                        "display_name" => !n.display_name.is_empty(),
                        _ => !n.dnat_rules.is_empty(),
                    },
                )?;
                let has = |p: &str| paths.iter().any(|x| x == p);
                // Everything is checked before anything changes.
                let rules = if has("dnat_rules") {
                    let vpc = self.sim.world.nats[idx as usize].vpc;
                    Some(self.nat_dnat_rules(vpc, &n.dnat_rules)?)
                } else {
                    None
                };
                let old = self.sim.world.nats[idx as usize].name.clone();
                if has("display_name") {
                    self.sim
                        .world
                        .rename(Kind::NatGateway, idx, &n.display_name)
                        .map_err(|e| rename_field(ApiError::model(e, "nat_gateway")))?;
                }
                if let Some(rules) = rules
                    && let Err(e) = self.sim.world.set_nat_dnat(idx, rules)
                {
                    if has("display_name") {
                        // The old name was the gateway's a moment ago: taking it back undoes it.
                        let _ = self.sim.world.rename(Kind::NatGateway, idx, &old);
                    }
                    return Err(nat_field(ApiError::model(e, "nat_gateway")));
                }
                if !paths.is_empty() {
                    self.bump(Collection::NatGateways, &id);
                }
                Ok(created(id))
            }
            Command::DeleteNatGateway(r) => {
                let idx = self.resolve(Collection::NatGateways, &r.name, "name")?;
                let id = self.sim.world.nats[idx as usize].id.clone();
                self.check_etag(Collection::NatGateways, &id, &r.etag, "etag")?;
                self.sim
                    .world
                    .transact(|w| w.delete_nat_gateway(idx, now))
                    .map_err(|e| self.in_use(e, Collection::NatGateways, &r.name))?;
                Ok(Applied::default())
            }

            // ----- VPC peering connection -----
            Command::CreateVpcPeeringConnection(r) => {
                check_parent(&self.id, &r.parent)?;
                let x = required(&r.vpc_peering_connection, "vpc_peering_connection")?;
                let id = self.new_id(
                    Collection::VpcPeeringConnections,
                    &r.vpc_peering_connection_id,
                    "vpc_peering_connection_id",
                )?;
                let field = |f: &str| format!("vpc_peering_connection.{f}");
                let requester =
                    self.resolve(Collection::Vpcs, &x.requester_vpc, &field("requester_vpc"))?;
                let accepter =
                    self.resolve(Collection::Vpcs, &x.accepter_vpc, &field("accepter_vpc"))?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_peering(&x.display_name, id, requester, accepter))
                    .map_err(|e| rename_field(ApiError::model(e, "vpc_peering_connection")))?;
                Ok(created(self.sim.world.peerings[idx as usize].id.clone()))
            }
            Command::DeleteVpcPeeringConnection(r) => {
                let idx = self.resolve(Collection::VpcPeeringConnections, &r.name, "name")?;
                self.sim
                    .world
                    .transact(|w| w.delete_peering(idx))
                    .map_err(|e| self.in_use(e, Collection::VpcPeeringConnections, &r.name))?;
                Ok(Applied::default())
            }

            // ----- virtual private gateway -----
            Command::CreateVpnGateway(r) => {
                check_parent(&self.id, &r.parent)?;
                let g = required(&r.vpn_gateway, "vpn_gateway")?;
                let id =
                    self.new_id(Collection::VpnGateways, &r.vpn_gateway_id, "vpn_gateway_id")?;
                let vpc = self.resolve(Collection::Vpcs, &g.vpc, "vpn_gateway.vpc")?;
                let connections = g
                    .connections
                    .iter()
                    .enumerate()
                    .map(|(i, c)| vpn_connection(c, &format!("vpn_gateway.connections[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                let idx = self
                    .sim
                    .world
                    .transact(|w| w.create_vpn_gateway(&g.display_name, id, vpc, connections))
                    .map_err(|e| rename_field(ApiError::model(e, "vpn_gateway")))?;
                Ok(created(
                    self.sim.world.vpn_gateways[idx as usize].id.clone(),
                ))
            }
            Command::DeleteVpnGateway(r) => {
                let idx = self.resolve(Collection::VpnGateways, &r.name, "name")?;
                self.sim
                    .world
                    .transact(|w| w.delete_vpn_gateway(idx))
                    .map_err(|e| self.in_use(e, Collection::VpnGateways, &r.name))?;
                Ok(Applied::default())
            }

            // ----- traffic and clock -----
            Command::InjectTraffic(r) => {
                check_parent(&self.id, &r.parent)?;
                let at = match &r.at {
                    Some(t) => time_of(t, "at")?,
                    None => now,
                };
                if at < now {
                    return Err(ApiError::invalid(
                        "at",
                        format!("{at} is in the virtual past (now is {now})"),
                    ));
                }
                if at > LATEST {
                    return Err(ApiError::invalid(
                        "at",
                        "the virtual clock stops at 2100-01-01",
                    ));
                }
                self.inject(at, r)?;
                Ok(Applied {
                    at: Some(at),
                    ..Applied::default()
                })
            }
            Command::DropPendingTraffic(r) => {
                check_parent(&self.id, &r.parent)?;
                Ok(Applied {
                    dropped: self.sim.drop_pending_traffic(),
                    ..Applied::default()
                })
            }
            Command::Advance(r) => {
                let to = self.advance_target(r)?;
                self.sim.run_until(to).map_err(|e| ApiError::model(e, ""))?;
                Ok(Applied::default())
            }
        }
    }

    /// Where an Advance would move the clock.
    pub fn advance_target(&self, r: &pb::AdvanceRequest) -> Result<Time, ApiError> {
        let now = self.sim.now();
        check_parent(&self.id, &r.parent)?;
        let to = match &r.until {
            Some(pb::advance_request::Until::To(t)) => time_of(t, "to")?,
            Some(pb::advance_request::Until::By(d)) => now + span(&Some(*d), Span::ZERO, "by")?,
            None => return Err(ApiError::invalid("until", "give `to` or `by`")),
        };
        if to < now {
            return Err(ApiError::invalid(
                "to",
                format!("{to} is in the virtual past (now is {now}); the clock only moves forward"),
            ));
        }
        if to > LATEST {
            return Err(ApiError::invalid(
                "to",
                "the virtual clock stops at 2100-01-01",
            ));
        }
        Ok(to)
    }

    /// A refused flow log. A quota names the request's `flow_log.resource`, and its subject is
    /// what the quota counts for: the interface (one flow log per ENI) or the project (per
    /// region, per account). A precondition (an instance type, the region) is about the
    /// resource to capture.
    fn flow_log_refused(&self, e: ModelError, scope: Scope, resource: &str) -> ApiError {
        let err = rename_field(flow_field(ApiError::model(e, "flow_log")));
        match err.code {
            Code::ResourceExhausted => {
                let err = err.at("flow_log.resource");
                if err.quota.as_deref() == Some("flow_logs_per_eni") {
                    err.about(Collection::NetworkInterfaces.type_name(), resource)
                } else {
                    err.about("vpclab.v1.Project", format!("projects/{}", self.id))
                }
            }
            Code::FailedPrecondition if err.dependents.is_empty() => {
                let c = match scope {
                    Scope::Eni(_) => Collection::NetworkInterfaces,
                    Scope::Subnet(_) => Collection::Subnets,
                    Scope::Vpc(_) => Collection::Vpcs,
                    Scope::RouterAttachment(_) => Collection::RouterAttachments,
                    Scope::Ccn(_) => Collection::CloudConnectNetworks,
                };
                err.about(c.type_name(), resource)
            }
            _ => err,
        }
    }

    /// A refused delete: FAILED_PRECONDITION naming the dependents as resource names.
    fn in_use(&self, e: ModelError, c: Collection, name: &str) -> ApiError {
        let deps: Vec<String> = e
            .dependents
            .iter()
            .map(|d| self.dependent_name(d))
            .collect();
        let mut err = ApiError::model(e, "");
        err.field = Some("name".into());
        err.dependents = deps;
        err.about(c.type_name(), name)
    }

    /// A dependent's id as a resource name (the id tells its collection by lookup).
    fn dependent_name(&self, id: &str) -> String {
        Collection::ALL
            .iter()
            .find(|c| self.find(**c, id).is_some())
            .map_or_else(|| id.to_string(), |c| self.name(*c, id))
    }

    fn groups(&self, names: &[String], field: &str) -> Result<Vec<u32>, ApiError> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| self.resolve(Collection::SecurityGroups, n, &format!("{field}[{i}]")))
            .collect()
    }

    fn scope(&self, name: &str, field: &str) -> Result<Scope, ApiError> {
        let seg = |c: Collection| name.contains(&format!("/{}/", c.segment()));
        if seg(Collection::NetworkInterfaces) {
            Ok(Scope::Eni(self.resolve(
                Collection::NetworkInterfaces,
                name,
                field,
            )?))
        } else if seg(Collection::Subnets) {
            Ok(Scope::Subnet(self.resolve(
                Collection::Subnets,
                name,
                field,
            )?))
        } else if seg(Collection::Vpcs) {
            Ok(Scope::Vpc(self.resolve(Collection::Vpcs, name, field)?))
        } else if seg(Collection::RouterAttachments) {
            Ok(Scope::RouterAttachment(self.resolve(
                Collection::RouterAttachments,
                name,
                field,
            )?))
        } else if seg(Collection::CloudConnectNetworks) {
            Ok(Scope::Ccn(self.resolve(
                Collection::CloudConnectNetworks,
                name,
                field,
            )?))
        } else {
            Err(ApiError::invalid(
                field,
                format!(
                    "`{name}` is not a network interface, subnet, VPC, router attachment or \
                     Cloud Connect Network name"
                ),
            ))
        }
    }

    /// The VPCs a CCN request attaches (`ccn`: the CCN being updated, whose attached VPCs
    /// the list must keep), checked as the world checks an attachment, so that applying them
    /// one by one cannot fail halfway: each VPC once, in no CCN yet, its block overlapping no
    /// other block of the CCN.
    /// A NAT gateway's DNAT rules as the model takes them, checked the way
    /// `World::set_nat_dnat` checks them (so that a create refuses before anything exists);
    /// errors name `nat_gateway.dnat_rules[i].FIELD`. `vpc`: the gateway's VPC.
    fn nat_dnat_rules(
        &self,
        vpc: u32,
        rules: &[pb::DnatRule],
    ) -> Result<Vec<vpclab_sim::nat::Dnat>, ApiError> {
        let w = &self.sim.world;
        let mut out: Vec<vpclab_sim::nat::Dnat> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let at = |f: &str| format!("nat_gateway.dnat_rules[{i}].{f}");
            let protocol = match r.protocol.to_ascii_lowercase().as_str() {
                "tcp" => 6,
                "udp" => 17,
                _ => {
                    return Err(ApiError::invalid(
                        at("protocol"),
                        format!("a DNAT rule forwards `tcp` or `udp`, not `{}`", r.protocol),
                    ));
                }
            };
            let nonzero = |n: u32, f: &str| -> Result<u16, ApiError> {
                match port(n, &at(f))? {
                    0 => Err(ApiError::invalid(at(f), "port 0 cannot be forwarded")),
                    p => Ok(p),
                }
            };
            let public = nonzero(r.port, "port")?;
            let to_port = nonzero(r.to_port, "to_port")?;
            if out
                .iter()
                .any(|q| q.protocol == protocol && q.port == public)
            {
                return Err(ApiError::new(
                    Code::AlreadyExists,
                    format!(
                        "another DNAT rule already forwards {} port {public}",
                        r.protocol
                    ),
                )
                .at(at("port")));
            }
            let eni = self.resolve(Collection::NetworkInterfaces, &r.to, &at("to"))?;
            let e = &w.enis[eni as usize];
            if e.vpc != vpc {
                return Err(ApiError::invalid(
                    at("to"),
                    "a DNAT rule forwards to an interface in the NAT gateway's VPC",
                ));
            }
            if w.nats.iter().any(|n| !n.deleted && n.eni == eni) {
                return Err(ApiError::invalid(
                    at("to"),
                    "a DNAT rule cannot forward to a NAT gateway's own interface",
                ));
            }
            out.push(vpclab_sim::nat::Dnat {
                protocol,
                port: public,
                to: e.ip,
                to_port,
            });
        }
        Ok(out)
    }

    fn ccn_new_vpcs(&self, ccn: Option<u32>, names: &[String]) -> Result<Vec<u32>, ApiError> {
        const FIELD: &str = "cloud_connect_network.vpcs";
        let w = &self.sim.world;
        let current: Vec<u32> = ccn
            .map(|c| {
                w.ccns.items[c as usize]
                    .attachments
                    .iter()
                    .map(|a| a.vpc)
                    .collect()
            })
            .unwrap_or_default();
        let mut listed = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let field = format!("{FIELD}[{i}]");
            let v = self.resolve(Collection::Vpcs, n, &field)?;
            if listed.contains(&v) {
                return Err(ApiError::invalid(field, format!("`{n}` is listed twice")));
            }
            listed.push(v);
        }
        if let Some(&gone) = current.iter().find(|v| !listed.contains(v)) {
            let vpc = &w.vpcs[gone as usize];
            return Err(ApiError::invalid(
                FIELD,
                format!(
                    "VPCs can only be attached: `{}` is missing from the list (detaching a VPC \
                     from a CCN is not supported)",
                    self.name(Collection::Vpcs, &vpc.id)
                ),
            ));
        }
        let mut blocks: Vec<(u32, Ipv4Net)> = current
            .iter()
            .map(|&v| (v, w.vpcs[v as usize].cidr))
            .collect();
        let mut new = Vec::new();
        for (i, &v) in listed.iter().enumerate() {
            if current.contains(&v) {
                continue;
            }
            let field = format!("{FIELD}[{i}]");
            let vpc = &w.vpcs[v as usize];
            if let Some(other) = vpc.ccn {
                return Err(ApiError::new(
                    Code::FailedPrecondition,
                    format!(
                        "vpc `{}` is already attached to CCN {} (a VPC joins one CCN)",
                        vpc.name, w.ccns.items[other as usize].id
                    ),
                )
                .at(field));
            }
            if let Some((o, _)) = blocks.iter().find(|(_, b)| b.overlaps(vpc.cidr)) {
                let o = &w.vpcs[*o as usize];
                return Err(ApiError::invalid(
                    field,
                    format!(
                        "vpc `{}` ({}) overlaps vpc `{}` ({}): the blocks of a CCN's VPCs may \
                         not overlap",
                        vpc.name, vpc.cidr, o.name, o.cidr
                    ),
                ));
            }
            blocks.push((v, vpc.cidr));
            new.push(v);
        }
        Ok(new)
    }

    /// The region-pair limits a CCN request sets (new pairs and changed rates), checked as
    /// the world checks them with `vpcs` attached too; the list must keep every current pair.
    fn ccn_limits(
        &self,
        ccn: Option<u32>,
        vpcs: &[u32],
        limits: &[pb::CcnBandwidthLimit],
    ) -> Result<Vec<([String; 2], u64)>, ApiError> {
        const FIELD: &str = "cloud_connect_network.bandwidth_limits";
        let w = &self.sim.world;
        let c = ccn.map(|c| &w.ccns.items[c as usize]);
        let mut regions: Vec<&str> = vpcs
            .iter()
            .map(|&v| w.vpcs[v as usize].region.as_str())
            .collect();
        if let Some(c) = c {
            regions.extend(c.attachments.iter().map(|a| a.region.as_str()));
        }
        let same = |l: &pb::CcnBandwidthLimit, a: &str, b: &str| {
            (l.region_a == a && l.region_b == b) || (l.region_a == b && l.region_b == a)
        };
        if let Some(c) = c
            && let Some(gone) = c
                .limits
                .iter()
                .find(|x| !limits.iter().any(|l| same(l, &x.regions[0], &x.regions[1])))
        {
            return Err(ApiError::invalid(
                FIELD,
                format!(
                    "bandwidth limits can only be set or changed: the pair {}-{} is missing from \
                     the list (removing a region pair's limit is not supported)",
                    gone.regions[0], gone.regions[1]
                ),
            ));
        }
        let mut out: Vec<([String; 2], u64)> = Vec::new();
        for (i, l) in limits.iter().enumerate() {
            let at = |f: &str| format!("{FIELD}[{i}].{f}");
            for (r, f) in [(&l.region_a, "region_a"), (&l.region_b, "region_b")] {
                vpclab_sim::ccn::check_region(r).map_err(|m| ApiError::invalid(at(f), m))?;
                if !regions.contains(&r.as_str()) {
                    return Err(ApiError::invalid(
                        at(f),
                        format!("no VPC of region {r} is attached to the CCN"),
                    ));
                }
            }
            if l.region_a == l.region_b {
                return Err(ApiError::invalid(
                    at("region_b"),
                    "a bandwidth limit joins two different regions (traffic inside a region is \
                     not limited)",
                ));
            }
            if l.bits_per_second == 0 {
                return Err(ApiError::invalid(
                    at("bits_per_second"),
                    "a bandwidth limit is at least 1 bit/s",
                ));
            }
            if limits[..i]
                .iter()
                .any(|o| same(o, &l.region_a, &l.region_b))
            {
                return Err(ApiError::invalid(
                    FIELD.to_string() + &format!("[{i}]"),
                    format!("the pair {}-{} is listed twice", l.region_a, l.region_b),
                ));
            }
            let unchanged =
                c.is_some_and(|c| c.limit(&l.region_a, &l.region_b) == Some(l.bits_per_second));
            if !unchanged {
                out.push(([l.region_a.clone(), l.region_b.clone()], l.bits_per_second));
            }
        }
        Ok(out)
    }

    /// Attaches `vpcs` to CCN `ccn` and sets `limits`, all checked beforehand
    /// (`ccn_new_vpcs`, `ccn_limits`).
    fn ccn_apply(
        &mut self,
        now: Time,
        ccn: u32,
        vpcs: &[u32],
        limits: &[([String; 2], u64)],
    ) -> Result<(), ApiError> {
        let w = &mut self.sim.world;
        for (i, &v) in vpcs.iter().enumerate() {
            w.attach_to_ccn(ccn, v).map_err(|e| {
                ApiError::internal(format!("attaching VPC {i} failed after its checks: {e}"))
            })?;
        }
        for ([a, b], bps) in limits {
            w.set_ccn_bandwidth(now, ccn, [a, b], *bps).map_err(|e| {
                ApiError::internal(format!("limit {a}-{b} failed after its checks: {e}"))
            })?;
        }
        Ok(())
    }

    /// A router route table of router `router`.
    fn router_table_of(&self, router: u32, name: &str, field: &str) -> Result<u32, ApiError> {
        let t = self.resolve(Collection::RouterRouteTables, name, field)?;
        if self.sim.world.routers.tables[t as usize].router != router {
            return Err(ApiError::invalid(
                field,
                "the route table belongs to another enterprise router",
            ));
        }
        Ok(t)
    }

    /// Router route tables of router `router` (errors name `field[i]`), each once.
    fn router_tables_of(
        &self,
        router: u32,
        names: &[String],
        field: &str,
    ) -> Result<Vec<u32>, ApiError> {
        let mut out = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let t = self.router_table_of(router, n, &f)?;
            if out.contains(&t) {
                return Err(ApiError::invalid(f, format!("`{n}` is named twice")));
            }
            out.push(t);
        }
        Ok(out)
    }

    /// A VPC attachment's interfaces: `subnets` (addresses and ids chosen by the cloud) or
    /// `interfaces` (with them).
    fn attachment_interfaces(
        &self,
        a: &pb::RouterAttachment,
    ) -> Result<Vec<AttachmentInterface>, ApiError> {
        if !a.subnets.is_empty() && !a.interfaces.is_empty() {
            let same = a.subnets.len() == a.interfaces.len()
                && a.subnets
                    .iter()
                    .zip(&a.interfaces)
                    .all(|(s, f)| *s == f.subnet);
            if !same {
                return Err(ApiError::invalid(
                    "router_attachment.subnets",
                    "give `subnets` or `interfaces`, not both",
                ));
            }
        }
        let mut out = Vec::new();
        if a.interfaces.is_empty() {
            for (i, s) in a.subnets.iter().enumerate() {
                let subnet = self.resolve(
                    Collection::Subnets,
                    s,
                    &format!("router_attachment.subnets[{i}]"),
                )?;
                out.push(AttachmentInterface {
                    subnet,
                    ip: None,
                    eni_id: None,
                });
            }
            return Ok(out);
        }
        let mut ids: Vec<&str> = Vec::new();
        for (i, f) in a.interfaces.iter().enumerate() {
            let p = format!("router_attachment.interfaces[{i}]");
            let subnet = self.resolve(Collection::Subnets, &f.subnet, &format!("{p}.subnet"))?;
            let ip = (!f.private_ip.is_empty())
                .then(|| ipv4(&f.private_ip, &format!("{p}.private_ip")))
                .transpose()?;
            let eni_id = self.new_id(
                Collection::NetworkInterfaces,
                &f.network_interface_id,
                &format!("{p}.network_interface_id"),
            )?;
            if let Some(id) = &eni_id {
                if ids.contains(&id.as_str()) {
                    return Err(ApiError::invalid(
                        format!("{p}.network_interface_id"),
                        format!("`{id}` is given to two interfaces"),
                    ));
                }
                ids.push(&f.network_interface_id);
            }
            out.push(AttachmentInterface { subnet, ip, eni_id });
        }
        Ok(out)
    }

    /// The other side of a new peering connection can be created: its router has no
    /// attachment of that name and no peering to this router yet. (Checked before the first
    /// side is created, so that a refusal leaves nothing behind.)
    fn check_peer_side(&self, router: u32, peer: u32, name: &str) -> Result<(), ApiError> {
        let rs = &self.sim.world.routers;
        if router == peer {
            return Ok(()); // The world refuses it before creating anything.
        }
        let (this, other) = (&rs.routers[router as usize], &rs.routers[peer as usize]);
        for a in rs
            .attachments
            .iter()
            .filter(|a| !a.deleted && a.router == peer)
        {
            if a.name == name {
                return Err(ApiError::new(
                    Code::AlreadyExists,
                    format!(
                        "enterprise router `{}` already has an attachment named `{name}` (the peering's other side takes the same name)",
                        other.name
                    ),
                )
                .at("router_attachment.display_name"));
            }
            if a.kind == AttachmentKind::PeeringConnection && a.resource == this.id {
                return Err(ApiError::new(
                    Code::AlreadyExists,
                    format!(
                        "enterprise routers `{}` and `{}` are already peered (attachment `{}`)",
                        this.name, other.name, a.id
                    ),
                )
                .at("router_attachment.peer_router"));
            }
        }
        Ok(())
    }

    /// Static routes of a router route table, as (destination, attachment or blackhole).
    /// `routes` are (position in the request, route); `kept` are routes the table already has.
    fn router_routes<'r>(
        &self,
        router: u32,
        routes: impl Iterator<Item = (usize, &'r pb::RouterRoute)>,
        kept: &[pb::RouterRoute],
        field: &str,
    ) -> Result<Vec<(Ipv4Net, Option<u32>)>, ApiError> {
        let mut seen: Vec<Ipv4Net> = kept
            .iter()
            .filter_map(|r| Ipv4Net::parse_strict(&r.destination).ok())
            .collect();
        let mut out = Vec::new();
        for (i, r) in routes {
            let p = format!("{field}[{i}]");
            let destination = cidr(&r.destination, &format!("{p}.destination"))?;
            if seen.contains(&destination) {
                return Err(ApiError::new(
                    Code::AlreadyExists,
                    format!("a route to {destination} is given twice: one route per destination"),
                )
                .at(format!("{p}.destination")));
            }
            seen.push(destination);
            let hop = match &r.target {
                Some(pb::router_route::Target::Attachment(name)) => {
                    let f = format!("{p}.attachment");
                    let a = self.resolve(Collection::RouterAttachments, name, &f)?;
                    if self.sim.world.routers.attachments[a as usize].router != router {
                        return Err(ApiError::invalid(
                            f,
                            "the attachment belongs to another enterprise router",
                        ));
                    }
                    Some(a)
                }
                Some(pb::router_route::Target::Blackhole(true)) => None,
                _ => {
                    return Err(ApiError::invalid(
                        format!("{p}.target"),
                        "give `attachment` (a router attachment's name) or `blackhole: true`",
                    ));
                }
            };
            out.push((destination, hop));
        }
        Ok(out)
    }

    fn sg_rules(
        &self,
        rules: &[pb::SecurityGroupRule],
        field: &str,
    ) -> Result<Vec<sg::Rule>, ApiError> {
        let has_priority = self.sim.world.profile.sg_priority.is_some();
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let p = format!("{field}[{i}]");
                let remote = match &r.remote {
                    Some(pb::security_group_rule::Remote::Cidr(c)) => {
                        Remote::Cidr(lenient_cidr(c, &format!("{p}.cidr"))?)
                    }
                    Some(pb::security_group_rule::Remote::SecurityGroup(g)) => {
                        Remote::Group(self.resolve(
                            Collection::SecurityGroups,
                            g,
                            &format!("{p}.security_group"),
                        )?)
                    }
                    None => {
                        return Err(ApiError::invalid(
                            format!("{p}.remote"),
                            "give `cidr` or `security_group`",
                        ));
                    }
                };
                Ok(sg::Rule {
                    direction: direction(r.direction, &format!("{p}.direction"))?,
                    action: rule_action(r.action, &format!("{p}.action"))?,
                    priority: if has_priority {
                        r.priority.max(1)
                    } else {
                        i as u32 + 1
                    },
                    protocol: protocol(&r.protocol, r.icmp_type, r.icmp_code, &p)?,
                    ports: parse::ports(&r.ports)
                        .map_err(|m| ApiError::invalid(format!("{p}.ports"), m))?,
                    remote,
                    description: r.description.clone(),
                })
            })
            .collect()
    }

    /// The gateways a route table's `propagating_vpn_gateways` names.
    fn propagating(&self, names: &[String]) -> Result<Vec<u32>, ApiError> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let field = format!("route_table.propagating_vpn_gateways[{i}]");
                self.resolve(Collection::VpnGateways, n, &field)
            })
            .collect()
    }

    /// A VPC route table's routes; `vpc` is the table's VPC (a route to an enterprise router
    /// goes through that VPC's attachment).
    /// The world's routes for a request's `routes`. When `table` (an update) already has a
    /// route with the same destination and the same target as its view shows it, that route is
    /// kept as it is: on aws a route to a deleted NAT gateway or peering connection stays as a
    /// blackhole (policy.md §6.1), and the client sending the table back can only name the
    /// deleted target as the view shows it. A new route naming a deleted target is refused
    /// (NOT_FOUND on its field), as at creation.
    fn routes(
        &self,
        routes: &[pb::Route],
        vpc: u32,
        table: Option<u32>,
        field: &str,
    ) -> Result<Vec<Route>, ApiError> {
        let before: Vec<(pb::Route, Route)> = table
            .map(|t| {
                let w = &self.sim.world.route_tables[t as usize];
                super::view::route_table(self, t)
                    .routes
                    .into_iter()
                    .zip(w.routes.iter().cloned())
                    .collect()
            })
            .unwrap_or_default();
        routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let p = format!("{field}[{i}]");
                let destination = cidr(&r.destination, &format!("{p}.destination"))?;
                if let Some((_, kept)) = before.iter().find(|(shown, kept)| {
                    kept.destination == destination
                        && kept.target != Target::Local
                        && shown.target == r.target
                }) {
                    return Ok(kept.clone());
                }
                let target =
                    match &r.target {
                        Some(pb::route::Target::InternetGateway(g)) => {
                            Target::InternetGateway(self.resolve(
                                Collection::InternetGateways,
                                g,
                                &format!("{p}.internet_gateway"),
                            )?)
                        }
                        Some(pb::route::Target::Blackhole(true)) => Target::Blackhole,
                        Some(pb::route::Target::NatGateway(n)) => Target::NatGateway(
                            self.resolve(Collection::NatGateways, n, &format!("{p}.nat_gateway"))?,
                        ),
                        Some(pb::route::Target::EnterpriseRouter(er)) => {
                            let field = format!("{p}.enterprise_router");
                            let router =
                                self.resolve(Collection::EnterpriseRouters, er, &field)?;
                            match self.sim.world.vpc_attachment(router, vpc) {
                                Some(a) => Target::Router(a),
                                None => {
                                    return Err(ApiError::invalid(
                                        field,
                                        format!(
                                            "the VPC is not attached to enterprise router `{er}`: attach it first (a VPC router attachment)"
                                        ),
                                    ));
                                }
                            }
                        }
                        Some(pb::route::Target::VpcPeeringConnection(x)) => {
                            Target::Peering(self.resolve(
                                Collection::VpcPeeringConnections,
                                x,
                                &format!("{p}.vpc_peering_connection"),
                            )?)
                        }
                        Some(pb::route::Target::VpnGateway(x)) => {
                            Target::VpnGateway(self.resolve(
                                Collection::VpnGateways,
                                x,
                                &format!("{p}.vpn_gateway"),
                            )?)
                        }
                        Some(pb::route::Target::Local(true)) => {
                            return Err(ApiError::invalid(
                                format!("{p}.local"),
                                "`local` routes are created with the VPC",
                            ));
                        }
                        _ => {
                            return Err(ApiError::invalid(
                                format!("{p}.target"),
                                "give `internet_gateway`, `nat_gateway`, `enterprise_router`, `vpc_peering_connection`, `vpn_gateway` or `blackhole: true`",
                            ));
                        }
                    };
                Ok(Route {
                    destination,
                    target,
                })
            })
            .collect()
    }

    fn inject(&mut self, at: Time, r: &pb::InjectTrafficRequest) -> Result<(), ApiError> {
        use pb::inject_traffic_request::Traffic;
        let bad = |field: &'static str| move |m: String| ApiError::invalid(field, m);
        match &r.traffic {
            Some(Traffic::Ping(p)) => {
                let from = self.endpoint(&p.from, "ping.from")?;
                let to = self.endpoint(&p.to, "ping.to")?;
                let n = count(p.count, PING_COUNT, "ping.count")?;
                let every = span(&p.interval, Span::from_secs(1), "ping.interval")?;
                let ident = p
                    .ident
                    .map(|i| {
                        u16::try_from(i)
                            .map_err(|_| ApiError::invalid("ping.ident", "ident is 0-65535"))
                    })
                    .transpose()?;
                let ttl = ttl(p.ttl, "ping.ttl")?;
                self.sim
                    .ping(at, from, to, n, every, ident, ttl)
                    .map_err(bad("ping.to"))
            }
            Some(Traffic::Tcp(t)) => {
                let client = self.endpoint(&t.from, "tcp.from")?;
                let server = self.endpoint(&t.to, "tcp.to")?;
                let close = match t.close.as_str() {
                    "" | "fin" => Close::Fin,
                    "rst" => Close::Rst,
                    "open" => Close::Open,
                    o => {
                        return Err(ApiError::invalid(
                            "tcp.close",
                            format!("unknown close `{o}` (expected fin, rst or open)"),
                        ));
                    }
                };
                let sizes = |v: &[u32], f: &'static str| -> Result<Vec<u16>, ApiError> {
                    v.iter()
                        .map(|&n| {
                            u16::try_from(n)
                                .map_err(|_| ApiError::invalid(f, "at most 65535 bytes"))
                        })
                        .collect()
                };
                let dport = port(t.port, "tcp.port")?;
                let nat_port = match t.nat_port {
                    Some(p)
                        if !(u32::from(vpclab_sim::nat::FIRST_PORT)
                            ..=u32::from(vpclab_sim::nat::LAST_PORT))
                            .contains(&p) =>
                    {
                        return Err(ApiError::invalid(
                            "tcp.nat_port",
                            format!(
                                "NAT port {p} is out of range: a NAT gateway's ports are {}-{}",
                                vpclab_sim::nat::FIRST_PORT,
                                vpclab_sim::nat::LAST_PORT
                            ),
                        ));
                    }
                    p => p.map(|p| p as u16),
                };
                let sport = match t.sport {
                    Some(s) => port(s, "tcp.sport")?,
                    None => 0,
                };
                let spec = TcpSession {
                    client,
                    server,
                    sport,
                    dport,
                    requests: sizes(&t.requests, "tcp.requests")?,
                    responses: sizes(&t.responses, "tcp.responses")?,
                    close,
                    gap: span(&t.gap, Span::from_millis(1), "tcp.gap")?,
                    label: 0,
                    nat_port,
                    server_ip: None,
                };
                if self.sim.world.address_for(client, server).is_none() {
                    return Err(ApiError::invalid(
                        "tcp.to",
                        "the server has no address the client can reach",
                    ));
                }
                let spec = TcpSession {
                    sport: if t.sport.is_some() {
                        spec.sport
                    } else {
                        self.sim.ephemeral_port()
                    },
                    ..spec
                };
                self.sim.tcp(at, spec).map_err(bad("tcp.to"))
            }
            Some(Traffic::Udp(u)) => {
                let from = self.endpoint(&u.from, "udp.from")?;
                let to = self.endpoint(&u.to, "udp.to")?;
                let sport = u.sport.map(|s| port(s, "udp.sport")).transpose()?;
                let len = match u.size {
                    0 => vpclab_sim::packet::size::UDP_REQUEST,
                    n => u16::try_from(n)
                        .map_err(|_| ApiError::invalid("udp.size", "at most 65535 bytes"))?,
                };
                self.sim
                    .world
                    .check_datagram_size(from, len)
                    .map_err(|m| ApiError::invalid("udp.size", m))?;
                self.sim
                    .udp(
                        at,
                        from,
                        to,
                        sport,
                        port(u.port, "udp.port")?,
                        count(u.count, UDP_COUNT, "udp.count")?,
                        span(&u.interval, Span::from_secs(1), "udp.interval")?,
                        len,
                        ttl(u.ttl, "udp.ttl")?,
                    )
                    .map_err(bad("udp.to"))
            }
            Some(Traffic::Packet(p)) => {
                let from = self.endpoint(&p.from, "packet.from")?;
                let dst = match (p.to.is_empty(), p.dst.is_empty()) {
                    (false, true) => {
                        let to = self.endpoint(&p.to, "packet.to")?;
                        self.sim.world.address_for(from, to).ok_or_else(|| {
                            ApiError::invalid(
                                "packet.to",
                                "the destination has no address the sender can reach",
                            )
                        })?
                    }
                    (true, false) => ipv4(&p.dst, "packet.dst")?,
                    _ => {
                        return Err(ApiError::invalid(
                            "packet.to",
                            "give exactly one of `to` (an endpoint name) or `dst` (an address)",
                        ));
                    }
                };
                let proto = protocol(&p.protocol, None, None, "packet")?;
                let mut flags = 0;
                for f in &p.flags {
                    flags |=
                        parse::tcp_flag(f).map_err(|m| ApiError::invalid("packet.flags", m))?;
                }
                let byte = |v: Option<u32>, f: &'static str| {
                    v.map(|n| u8::try_from(n).map_err(|_| ApiError::invalid(f, "must be 0-255")))
                        .transpose()
                };
                let raw = parse::RawPacket {
                    sport: (p.sport != 0)
                        .then(|| port(p.sport, "packet.sport"))
                        .transpose()?,
                    dport: (p.dport != 0)
                        .then(|| port(p.dport, "packet.dport"))
                        .transpose()?,
                    flags,
                    icmp_type: byte(p.icmp_type, "packet.icmp_type")?,
                    icmp_code: byte(p.icmp_code, "packet.icmp_code")?,
                    size: (p.size != 0)
                        .then(|| {
                            u16::try_from(p.size).map_err(|_| {
                                ApiError::invalid("packet.size", "at most 65535 bytes")
                            })
                        })
                        .transpose()?,
                    ttl: ttl(p.ttl, "packet.ttl")?,
                    dont_fragment: p.dont_fragment,
                    ..parse::RawPacket::default()
                };
                let src = self.sim.world.address(from);
                let packet = parse::raw_packet(src, dst, proto, &raw)
                    .map_err(|m| ApiError::invalid("packet.protocol", m))?;
                self.sim
                    .world
                    .check_datagram_size(from, packet.len)
                    .map_err(|m| ApiError::invalid("packet.size", m))?;
                let n = count(p.count, PACKET_COUNT, "packet.count")?;
                let every = span(&p.interval, Span::from_secs(1), "packet.interval")?;
                self.sim.repeat(at, from, packet, n, every);
                Ok(())
            }
            None => Err(ApiError::invalid(
                "traffic",
                "give one of ping, tcp, udp or packet",
            )),
        }
    }

    /// The records the world delivered since the last call, rendered in their flow log's
    /// format for their log stream.
    fn deliver(&mut self) -> Vec<StoredRecord> {
        let records = self.sim.world.take_records();
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            // Live flow logs by their id index; deleted ones deliver their last window too,
            // so those are looked for among all of them.
            let w = &self.sim.world;
            let Some(f) = w
                .find(vpclab_sim::world::Kind::FlowLog, &r.flow_log_id)
                .or_else(|| {
                    w.flow_logs
                        .iter()
                        .position(|f| f.collector.settings.id == r.flow_log_id)
                        .map(|f| f as u32)
                })
            else {
                continue;
            };
            let fl = &self.sim.world.flow_logs[f as usize];
            let Some(stream) = fl.log_stream else {
                continue;
            };
            let format = self
                .formats
                .get(&f)
                .map(|x| x.format.clone())
                .unwrap_or_else(|| self.sim.world.profile.default_format());
            if !format.prints(&r) {
                continue;
            }
            self.record_seq += 1;
            out.push(StoredRecord {
                stream: self.sim.world.logs.streams[stream as usize].id.clone(),
                time_us: r.window_start.micros(),
                seq: self.record_seq,
                flow_log: fl.collector.settings.id.clone(),
                line: format.render(&r),
            });
        }
        out
    }

    /// The format the flow log `id` (live or deleted) delivers its records in, `None` if
    /// there is no such flow log: what names the fields of a stored record's line.
    pub fn flow_log_format(&self, id: &str) -> Option<Format> {
        let w = &self.sim.world;
        let f = w.find(vpclab_sim::world::Kind::FlowLog, id).or_else(|| {
            w.flow_logs
                .iter()
                .position(|f| f.collector.settings.id == id)
                .map(|f| f as u32)
        })?;
        Some(
            self.formats
                .get(&f)
                .map(|x| x.format.clone())
                .unwrap_or_else(|| w.profile.default_format()),
        )
    }

    /// A flow log's format name.
    pub fn format_name(&self, flow_log: u32) -> &str {
        self.formats.get(&flow_log).map_or("", |x| x.name.as_str())
    }

    /// A flow log's custom aws field list as the caller gave it (empty: none).
    pub fn aws_fields(&self, flow_log: u32) -> &str {
        self.formats
            .get(&flow_log)
            .map_or("", |x| x.aws_fields.as_str())
    }

    /// The live NAT gateway a network interface belongs to (its requester-managed interface).
    pub fn nat_of_eni(&self, eni: u32) -> Option<u32> {
        vpclab_sim::world::live(&self.sim.world.nats)
            .find(|(_, n)| n.eni == eni)
            .map(|(i, _)| i)
    }

    /// The live router attachment a network interface belongs to (a VPC attachment's
    /// interface).
    pub fn attachment_of_eni(&self, eni: u32) -> Option<u32> {
        self.sim
            .world
            .routers
            .attachments
            .iter()
            .position(|a| !a.deleted && a.enis.contains(&eni))
            .map(|a| a as u32)
    }

    /// Refuses changing a NAT gateway's or a router attachment's interface: the gateway or
    /// attachment manages it (deleting one is refused by the world itself).
    fn not_nat_managed(&self, eni: u32, name: &str, what: &str) -> Result<(), ApiError> {
        let w = &self.sim.world;
        let (owner, noun) = if let Some(n) = self.nat_of_eni(eni) {
            (
                self.name(Collection::NatGateways, &w.nats[n as usize].id),
                "NAT gateway",
            )
        } else if let Some(a) = self.attachment_of_eni(eni) {
            (
                self.name(
                    Collection::RouterAttachments,
                    &w.routers.attachments[a as usize].id,
                ),
                "router attachment",
            )
        } else {
            return Ok(());
        };
        let mut err = ApiError::new(
            Code::FailedPrecondition,
            format!(
                "network interface `{name}` belongs to {noun} `{owner}`: it cannot be {what} on its own (it goes with the {noun})"
            ),
        )
        .at("name");
        err.dependents = vec![owner];
        Err(err.about(Collection::NetworkInterfaces.type_name(), name))
    }

    /// The oldest record time a stream keeps at the current virtual time (retention).
    pub fn retained_since(&self, stream: u32) -> u64 {
        let days = self.sim.world.logs.retention(stream).unwrap_or(7) as u64;
        self.now()
            .micros()
            .saturating_sub(days * 86_400 * 1_000_000)
    }

    /// Retention purges due now, one per live stream.
    pub fn purges(&self) -> Vec<crate::store::Purge> {
        self.sim
            .world
            .logs
            .streams
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.deleted)
            .map(|(i, s)| crate::store::Purge {
                stream: s.id.clone(),
                before_us: self.retained_since(i as u32),
            })
            .collect()
    }

    /// Explanations of the kept packets of a 5-tuple (either direction), oldest first, one
    /// page of them and the next page's token.
    pub fn explain(&self, r: &pb::ExplainFlowRequest) -> Result<(Vec<String>, String), ApiError> {
        let src = ipv4(&r.src, "src")?;
        let dst = ipv4(&r.dst, "dst")?;
        let proto = if r.protocol.is_empty() {
            None
        } else {
            Some(protocol(&r.protocol, None, None, "")?)
        };
        let sport = port(r.sport, "sport")?;
        let dport = port(r.dport, "dport")?;
        let flow = explain::FlowFilter::new(&self.sim.world, src, dst, proto, sport, dport);
        let (page, next) = page(
            self.sim
                .outcomes()
                .filter(|o| flow.matches(o))
                .map(|o| (o.id, o)),
            r.page_size,
            &r.page_token,
        )?;
        let packets = page
            .into_iter()
            .map(|o| explain::packet(&self.sim.world, o, None).join("\n"))
            .collect();
        Ok((packets, next))
    }

    /// The packets `r` would schedule, for the pending-packets quota (invalid counts are
    /// refused when the request is applied; here they count as their saturated value).
    pub fn packets_of(r: &pb::InjectTrafficRequest) -> u64 {
        use pb::inject_traffic_request::Traffic;
        let n = |count: u32, default: u16| match count {
            0 => u64::from(default),
            n => u64::from(n),
        };
        match &r.traffic {
            Some(Traffic::Ping(p)) => n(p.count, PING_COUNT),
            Some(Traffic::Udp(u)) => n(u.count, UDP_COUNT),
            Some(Traffic::Packet(p)) => n(p.count, PACKET_COUNT),
            Some(Traffic::Tcp(t)) => {
                let close = match t.close.as_str() {
                    "rst" => 1,
                    "open" => 0,
                    _ => 3,
                };
                3 + 2 * (t.requests.len() as u64 + t.responses.len() as u64) + close
            }
            None => 0,
        }
    }
}

fn protocol(
    text: &str,
    t: Option<u32>,
    c: Option<u32>,
    path: &str,
) -> Result<ProtoMatch, ApiError> {
    let join = |f: &str| {
        if path.is_empty() {
            f.to_string()
        } else {
            format!("{path}.{f}")
        }
    };
    parse::protocol(text, t.map(i64::from), c.map(i64::from)).map_err(|e| match e {
        parse::ProtocolError::Protocol(m) => ApiError::invalid(join("protocol"), m),
        parse::ProtocolError::IcmpType(m) | parse::ProtocolError::NotIcmp(m) => {
            ApiError::invalid(join("icmp_type"), m)
        }
        parse::ProtocolError::IcmpCode(m) => ApiError::invalid(join("icmp_code"), m),
    })
}

fn direction(d: i32, field: &str) -> Result<Direction, ApiError> {
    match pb::Direction::try_from(d) {
        Ok(pb::Direction::Ingress) => Ok(Direction::Ingress),
        Ok(pb::Direction::Egress) => Ok(Direction::Egress),
        _ => Err(ApiError::invalid(
            field,
            "direction must be INGRESS or EGRESS",
        )),
    }
}

fn rule_action(a: i32, field: &str) -> Result<RuleAction, ApiError> {
    match pb::RuleAction::try_from(a) {
        Ok(pb::RuleAction::Unspecified | pb::RuleAction::Allow) => Ok(RuleAction::Allow),
        Ok(pb::RuleAction::Deny) => Ok(RuleAction::Deny),
        Err(_) => Err(ApiError::invalid(field, format!("unknown action {a}"))),
    }
}

/// A security group's kind; UNSPECIFIED means BASIC (network.proto).
fn group_kind(t: i32, field: &str) -> Result<GroupKind, ApiError> {
    match pb::SecurityGroupType::try_from(t) {
        Ok(pb::SecurityGroupType::Unspecified | pb::SecurityGroupType::Basic) => {
            Ok(GroupKind::Basic)
        }
        Ok(pb::SecurityGroupType::Enterprise) => Ok(GroupKind::Enterprise),
        Err(_) => Err(ApiError::invalid(
            field,
            format!("{t} is not a security group type: it must be BASIC or ENTERPRISE"),
        )),
    }
}

/// A flow log's traffic filter; UNSPECIFIED means ALL (logs.proto), an unknown number is refused.
fn filter(t: i32, field: &str) -> Result<Filter, ApiError> {
    match pb::TrafficFilter::try_from(t) {
        Ok(pb::TrafficFilter::Unspecified | pb::TrafficFilter::All) => Ok(Filter::All),
        Ok(pb::TrafficFilter::Accepted) => Ok(Filter::Accepted),
        Ok(pb::TrafficFilter::Rejected) => Ok(Filter::Rejected),
        Err(_) => Err(ApiError::invalid(
            field,
            format!("{t} is not a traffic filter: it must be ALL, ACCEPTED or REJECTED"),
        )),
    }
}

fn attachment_kind(k: i32) -> Result<vpclab_sim::router::AttachmentKind, ApiError> {
    use vpclab_sim::router::AttachmentKind as K;
    match pb::AttachmentKind::try_from(k) {
        Ok(pb::AttachmentKind::Vpc) => Ok(K::Vpc),
        Ok(pb::AttachmentKind::VpnGateway) => Ok(K::VpnGateway),
        Ok(pb::AttachmentKind::VirtualGateway) => Ok(K::VirtualGateway),
        Ok(pb::AttachmentKind::PeeringConnection) => Ok(K::PeeringConnection),
        Ok(pb::AttachmentKind::GlobalDcGateway) => Ok(K::GlobalDcGateway),
        _ => Err(ApiError::invalid(
            "router_attachment.kind",
            "kind must be VPC, VPN_GATEWAY, VIRTUAL_GATEWAY, PEERING_CONNECTION or GLOBAL_DC_GATEWAY",
        )),
    }
}

fn acl_entries(entries: &[pb::NetworkAclEntry], field: &str) -> Result<Vec<acl::Entry>, ApiError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let p = format!("{field}[{i}]");
            Ok(acl::Entry {
                number: e.number,
                direction: direction(e.direction, &format!("{p}.direction"))?,
                action: rule_action(e.action, &format!("{p}.action"))?,
                protocol: protocol(&e.protocol, e.icmp_type, e.icmp_code, &p)?,
                ports: parse::ports(&e.ports)
                    .map_err(|m| ApiError::invalid(format!("{p}.ports"), m))?,
                source_ports: parse::ports(&e.source_ports)
                    .map_err(|m| ApiError::invalid(format!("{p}.source_ports"), m))?,
                cidr: lenient_cidr(&e.cidr, &format!("{p}.cidr"))?,
                description: e.description.clone(),
            })
        })
        .collect()
}

fn host(
    tcp: &[u32],
    udp: &[u32],
    auto_reply: Option<bool>,
    within: &str,
) -> Result<Host, ApiError> {
    let ports = |v: &[u32], f: &str| -> Result<_, ApiError> {
        v.iter()
            .map(|&p| port(p, &format!("{within}.{f}")))
            .collect()
    };
    Ok(Host {
        tcp: ports(tcp, "listen_tcp")?,
        udp: ports(udp, "listen_udp")?,
        auto_reply: auto_reply.unwrap_or(true),
        ..Host::default()
    })
}

/// An interface's connection-tracking timeouts as the model takes them (checked there, against
/// the profile's ranges).
fn connection_tracking(c: Option<&pb::ConnectionTracking>) -> ConnectionTracking {
    c.map_or_else(ConnectionTracking::default, |c| ConnectionTracking {
        tcp_established: c.tcp_established,
        udp_stream: c.udp_stream,
        udp: c.udp,
    })
}

/// The model calls the human name `name`; the API calls it `display_name`.
fn rename_field(mut e: ApiError) -> ApiError {
    if let Some(f) = &e.field
        && let Some(prefix) = f.strip_suffix(".name")
    {
        e.field = Some(format!("{prefix}.display_name"));
    }
    e
}

/// CCN fields the model names differently: the world's `ccn` (a provider without CCNs) is
/// the resource itself, its `name` the display name.
fn ccn_field(mut e: ApiError) -> ApiError {
    if let Some(f) = e.field.as_deref() {
        let f = match f {
            "cloud_connect_network.ccn" => "cloud_connect_network",
            "cloud_connect_network.name" => "cloud_connect_network.display_name",
            "cloud_connect_network.id" => "cloud_connect_network_id",
            other => other,
        };
        e.field = Some(f.to_string());
    }
    e
}

/// ENI fields the model names differently.
fn eni_field(mut e: ApiError) -> ApiError {
    if let Some(f) = &e.field {
        let f = f
            .replace("network_interface.ip", "network_interface.private_ip")
            .replace("network_interface.eip", "network_interface.elastic_ip");
        e.field = Some(f);
    }
    e
}

/// NAT-gateway fields the model names differently: its interface's address fields, and the
/// interface's own name and id (the name derives from the gateway's, the id is the request's
/// `network_interface_id`).
fn nat_field(mut e: ApiError) -> ApiError {
    if let Some(f) = e.field.as_deref() {
        let f = match f {
            "nat_gateway.ip" => "nat_gateway.private_ip",
            "nat_gateway.eip" => "nat_gateway.elastic_ip",
            "nat_gateway.eni.id" => "network_interface_id",
            "nat_gateway.name" | "nat_gateway.eni.name" => "nat_gateway.display_name",
            other => {
                if let Some(rest) = other.strip_prefix("nat_gateway.dnat[") {
                    e.field = Some(format!("nat_gateway.dnat_rules[{rest}"));
                    return e;
                }
                other
            }
        };
        e.field = Some(f.to_string());
    }
    e
}

/// Router-attachment fields the model names differently: a VPC attachment's interfaces are
/// the model's `subnets[i]` (`interfaces[i]` in the request when given so), the interfaces'
/// names derive from the attachment's, and a peering's other side is `peer_router`.
fn attachment_field(mut e: ApiError, interfaces: bool, kind: AttachmentKind) -> ApiError {
    let Some(f) = e.field.clone() else {
        return e;
    };
    let Some(rest) = f.strip_prefix("router_attachment.") else {
        return e;
    };
    let mapped = if let Some(sub) = rest.strip_prefix("subnets") {
        // `subnets`, `subnets[i]`, `subnets[i].x`
        let (index, inner) = match sub.find(']') {
            Some(end) => (&sub[..=end], sub[end + 1..].trim_start_matches('.')),
            None => (sub, ""),
        };
        match (inner, interfaces) {
            ("name", _) => "display_name".to_string(),
            ("", true) if index.is_empty() => "interfaces".to_string(),
            ("" | "subnet", true) => format!("interfaces{index}.subnet"),
            ("ip", true) => format!("interfaces{index}.private_ip"),
            ("id", true) => format!("interfaces{index}.network_interface_id"),
            (_, true) => format!("interfaces{index}"),
            (_, false) => format!("subnets{index}"),
        }
    } else if kind == AttachmentKind::PeeringConnection
        && (rest == "resource" || rest == "peer" || rest.starts_with("peer."))
    {
        match rest {
            "peer.name" => "display_name".to_string(),
            _ => "peer_router".to_string(),
        }
    } else {
        return e;
    };
    e.field = Some(format!("router_attachment.{mapped}"));
    e
}

/// A region name: lowercase letters, digits and `-` (`cn-north-4`, `us-east-1`).
fn check_region(r: &str, field: &str) -> Result<String, ApiError> {
    let ok = r.len() <= 64
        && r.starts_with(|c: char| c.is_ascii_lowercase())
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(r.to_string())
    } else {
        Err(ApiError::invalid(
            field,
            format!("`{r}` is not a region name: lowercase letters, digits and `-`"),
        ))
    }
}

/// Flow-log fields the model names differently.
fn flow_field(mut e: ApiError) -> ApiError {
    if let Some(f) = &e.field {
        e.field = Some(
            f.replace("flow_log.scope", "flow_log.resource")
                .replace("flow_log.window", "flow_log.window_seconds")
                .replace("flow_log.filter", "flow_log.traffic"),
        );
    }
    e
}
