//! The `workload:` section: fleets of ENIs by role, the benign traffic of each role, and
//! incidents planted in it, all built through the same world operations as the rest of the
//! file (so every limit and validation applies) and played by seeded processes
//! (`vpclab_sim::workload`). Documented for users in `scenarios/README.md`, "Workloads";
//! what each incident produces and why is in its "Incidents" table.
//!
//! A fleet is one VPC: a public subnet (web, bastion, the NAT gateway) and one private
//! subnet per other role, routed to the internet through the NAT gateway; a security group
//! per role (web: 443 from anywhere; app: 8080 from web; db: 5432 and 3306 from app; bastion:
//! 22 from the admin block; every role: 22 from bastion) and two network ACLs (public,
//! private) that let the return traffic of outbound connections in; a VPC flow log.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_saphyr::Location;
use vpclab_sim::Direction;
use vpclab_sim::addr::Ipv4Net;
use vpclab_sim::flowlog::{Filter, Scope};
use vpclab_sim::host::Host;
use vpclab_sim::policy::sg::Remote;
use vpclab_sim::policy::{PortRange, ProtoMatch, RuleAction, acl, sg};
use vpclab_sim::simulation::{Change, Close, Simulation};
use vpclab_sim::time::{Span, Time};
use vpclab_sim::workload::{Arrivals, Daily, Pattern, Pick, PortRange as Ephemeral, Process, Size};
use vpclab_sim::world::{
    AttachmentInterface, Endpoint, EniSpec, FlowLogSpec, NatGatewaySpec, Route, Target, World,
};

use super::{Loader, Names, ScenarioError, secs, within_horizon};
use crate::doc::{self, S};

/// The roles a fleet's ENIs play.
pub const ROLES: [&str; 6] = ["web", "app", "db", "bastion", "batch", "private"];

/// The incident kinds, as `vpclab score` knows them too.
pub const KINDS: [&str; 12] = [
    "port_scan_horizontal",
    "port_scan_vertical",
    "ssh_brute_force",
    "rdp_brute_force",
    "db_exposure",
    "exfiltration",
    "beaconing",
    "lateral_movement",
    "syn_flood",
    "mining",
    "acl_reply_drop",
    "nat_port_exhaustion",
];

/// An incident as the truth files describe it; its packets carry label `index + 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub id: String,
    pub kind: &'static str,
    pub start: Time,
    pub end: Time,
    pub actors: Vec<Ipv4Addr>,
    pub targets: Vec<Ipv4Addr>,
    pub resources: Vec<String>,
    pub ports: Vec<u16>,
}

/// What a loaded workload plays: until when, and its incidents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    pub end: Time,
    pub incidents: Vec<Incident>,
}

/// The ENIs of one role, everywhere (fleets and declared ENIs given the role).
type ByRole = BTreeMap<&'static str, Vec<u32>>;

/// What the topology part leaves for the traffic part.
pub(super) struct Plan {
    /// ENIs by role, over all fleets, and per fleet.
    all: ByRole,
    fleets: BTreeMap<String, Fleet>,
    clients: Vec<Endpoint>,
    admins: Vec<Endpoint>,
    services: Services,
    replications: Vec<Replication>,
    /// The next free public address for attackers and other outside actors.
    outside: u32,
}

struct Fleet {
    roles: ByRole,
    /// The public subnet's network ACL (acl_reply_drop changes it).
    public_acl: u32,
    nat: u32,
    vpc: u32,
    cidr: Ipv4Net,
    /// The route table of the private subnets (db's among them).
    private_table: u32,
    /// The db subnet, when the fleet has databases.
    db_subnet: Option<u32>,
}

/// A fleet's databases streaming their changes to another fleet's: by fleet name, with
/// where the file asks for it.
struct Replication {
    primary: String,
    replica: String,
    /// The primary's block, which the replica's db group lets in.
    primary_cidr: Ipv4Net,
    field: String,
    loc: Location,
}

/// Hosts on the internet the benign traffic talks to.
struct Services {
    ntp: Endpoint,
    mirror: Endpoint,
    storage: Endpoint,
    api: Endpoint,
    checkers: Vec<Endpoint>,
}

fn role(name: &str) -> Option<&'static str> {
    ROLES.iter().copied().find(|r| *r == name)
}

/// What an ENI of each role listens on.
fn listens(role: &str) -> Host {
    let tcp: &[u16] = match role {
        "web" => &[443, 22],
        "app" => &[8080, 22],
        "db" => &[5432, 3306, 22],
        _ => &[22],
    };
    Host {
        tcp: tcp.iter().copied().collect(),
        ..Host::default()
    }
}

fn tcp_rule(port: u16, remote: Remote) -> sg::Rule {
    sg::Rule {
        direction: Direction::Ingress,
        action: RuleAction::Allow,
        priority: 1,
        protocol: ProtoMatch::Tcp,
        ports: PortRange { lo: port, hi: port },
        remote,
        description: String::new(),
    }
}

fn acl_entry(
    number: u32,
    direction: Direction,
    protocol: ProtoMatch,
    ports: (u16, u16),
    cidr: Ipv4Net,
) -> acl::Entry {
    acl::Entry {
        number,
        direction,
        action: RuleAction::Allow,
        protocol,
        ports: PortRange {
            lo: ports.0,
            hi: ports.1,
        },
        source_ports: PortRange::ALL,
        cidr,
        description: String::new(),
    }
}

/// The public subnet's ACL: HTTPS from anywhere, SSH from the admins, the return traffic of
/// outbound connections (ephemeral ports), anything from inside the VPC; everything out.
fn public_entries(vpc: Ipv4Net, admin: Ipv4Net) -> Vec<acl::Entry> {
    use Direction::{Egress, Ingress};
    vec![
        acl_entry(100, Ingress, ProtoMatch::Tcp, (443, 443), Ipv4Net::ANY),
        acl_entry(110, Ingress, ProtoMatch::Tcp, (22, 22), admin),
        acl_entry(120, Ingress, ProtoMatch::Tcp, (1024, 65535), Ipv4Net::ANY),
        acl_entry(130, Ingress, ProtoMatch::Udp, (1024, 65535), Ipv4Net::ANY),
        acl_entry(140, Ingress, ProtoMatch::Any, (0, 65535), vpc),
        acl_entry(100, Egress, ProtoMatch::Any, (0, 65535), Ipv4Net::ANY),
    ]
}

/// A private subnet's ACL: anything from inside the VPC and the return traffic of outbound
/// connections; everything out.
fn private_entries(vpc: Ipv4Net) -> Vec<acl::Entry> {
    use Direction::{Egress, Ingress};
    vec![
        acl_entry(100, Ingress, ProtoMatch::Any, (0, 65535), vpc),
        acl_entry(110, Ingress, ProtoMatch::Tcp, (1024, 65535), Ipv4Net::ANY),
        acl_entry(120, Ingress, ProtoMatch::Udp, (1024, 65535), Ipv4Net::ANY),
        acl_entry(100, Egress, ProtoMatch::Any, (0, 65535), Ipv4Net::ANY),
    ]
}

/// The smallest block holding `n` addresses besides the five each subnet loses to the cloud
/// (AWS reserves the first four and the last), at least a /28.
fn subnet_prefix(n: u32) -> u8 {
    let need = u64::from(n) + 5;
    let mut len = 28u8;
    while len > 8 && (1u64 << (32 - len)) < need {
        len -= 1;
    }
    len
}

/// A heavy-tailed size in bytes: Pareto from `min` with shape `alpha`, cut at `max`.
fn pareto(min: u32, alpha: f64, max: u32) -> Size {
    Size::Pareto { min, alpha, max }
}

impl Loader {
    fn werr(
        &self,
        loc: Location,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        self.err(loc, field, message)
    }

    /// Fleets, role assignments and the outside hosts the workload talks to.
    pub(super) fn workload_topology(
        &self,
        w: &mut World,
        names: &mut Names,
        start: Time,
        d: &S<doc::WorkloadDoc>,
    ) -> Result<Plan, ScenarioError> {
        let wd = &d.value;
        let path = "workload";
        let cidr_or =
            |s: &Option<S<String>>, field: &str, default: &str| -> Result<Ipv4Net, ScenarioError> {
                match s {
                    Some(s) => self.cidr(s, &format!("{path}.{field}")),
                    None => Ok(Ipv4Net::parse_strict(default).expect("a valid default block")),
                }
            };
        let public = cidr_or(&wd.public_ips, "public_ips", "198.18.0.0/15")?;
        let admin = cidr_or(&wd.admin_cidr, "admin_cidr", "203.0.113.0/28")?;
        let mut eips =
            (1..public.size().min(u64::from(u32::MAX)) as u32 - 1).map(move |i| public.nth(i));
        let mut all: ByRole = BTreeMap::new();
        let mut fleets = BTreeMap::new();
        let replications = self.replications(wd)?;
        for (fi, f) in wd.fleets.iter().enumerate() {
            let fpath = format!("{path}.fleets[{fi}]");
            // The blocks of the fleets whose databases replicate to this one's.
            let primaries: Vec<Ipv4Net> = replications
                .iter()
                .filter(|r| r.replica == f.value.name.value)
                .map(|r| r.primary_cidr)
                .collect();
            let fleet = self.fleet(w, names, start, &fpath, f, admin, &primaries, &mut eips)?;
            for (r, enis) in &fleet.roles {
                all.entry(r).or_default().extend(enis);
            }
            fleets.insert(f.value.name.value.clone(), fleet);
        }
        self.connect_replicas(w, start, &fleets, &replications)?;
        for (i, r) in wd.roles.iter().enumerate() {
            let rpath = format!("{path}.roles[{i}]");
            let Some(Endpoint::Eni(e)) = names.endpoints.get(&r.value.eni.value).copied() else {
                return Err(self.werr(
                    r.value.eni.referenced,
                    format!("{rpath}.eni"),
                    format!("no ENI named `{}`", r.value.eni.value),
                ));
            };
            let Some(role) = role(&r.value.role.value) else {
                return Err(self.werr(
                    r.value.role.referenced,
                    format!("{rpath}.role"),
                    format!(
                        "unknown role `{}` (roles: {})",
                        r.value.role.value,
                        ROLES.join(", ")
                    ),
                ));
            };
            all.entry(role).or_default().push(e);
        }
        // Outside: clients, administrators and the services benign traffic reaches, at
        // addresses drawn from their blocks by the seed.
        let (count, client_block) = match &wd.clients {
            Some(c) => {
                let block = cidr_or(&c.value.cidr, "clients.cidr", "100.64.0.0/10")?;
                if c.value.count.value == 0 || u64::from(c.value.count.value) > block.size() / 2 {
                    return Err(self.werr(
                        c.value.count.referenced,
                        format!("{path}.clients.count"),
                        format!(
                            "{} clients do not fit {} (1 to {})",
                            c.value.count.value,
                            block,
                            block.size() / 2
                        ),
                    ));
                }
                (c.value.count.value, block)
            }
            None => (1000, Ipv4Net::parse_strict("100.64.0.0/10").expect("valid")),
        };
        let mut clients = Vec::with_capacity(count as usize);
        let stride = (client_block.size() / u64::from(count)).max(1);
        for i in 0..count {
            // Spread over the block, each at a seeded offset inside its share.
            let offset = (u64::from(i) * stride
                + (u64::from(i).wrapping_mul(0x9e37_79b9) % stride))
                .min(client_block.size() - 2)
                + 1;
            let ip = client_block
                .nth(offset as u32)
                .unwrap_or(client_block.network());
            clients.push(self.outside_host(
                w,
                names,
                &format!("client-{}", i + 1),
                ip,
                Host::default(),
                d.referenced,
            )?);
        }
        let admins = (1..=3u32)
            .filter_map(|i| admin.nth(i))
            .enumerate()
            .map(|(i, ip)| {
                self.outside_host(
                    w,
                    names,
                    &format!("admin-{}", i + 1),
                    ip,
                    Host::default(),
                    d.referenced,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let service = |w: &mut World,
                       names: &mut Names,
                       name: &str,
                       ip: [u8; 4],
                       tcp: &[u16],
                       udp: &[u16]| {
            let host = Host {
                tcp: tcp.iter().copied().collect(),
                udp: udp.iter().copied().collect(),
                ..Host::default()
            };
            self.outside_host(w, names, name, ip.into(), host, d.referenced)
        };
        let services = Services {
            ntp: {
                let ntp = service(w, names, "ntp", [192, 0, 2, 123], &[], &[123])?;
                if let Endpoint::External(h) = ntp {
                    // An NTP response is as long as the request (48 bytes of NTP).
                    w.externals[h as usize].host.udp_response_len = 76;
                }
                ntp
            },
            mirror: service(w, names, "package-mirror", [192, 0, 2, 80], &[443, 80], &[])?,
            storage: service(w, names, "object-storage", [192, 0, 2, 10], &[443], &[])?,
            api: service(w, names, "partner-api", [192, 0, 2, 20], &[443], &[])?,
            checkers: (0..3u8)
                .map(|i| {
                    service(
                        w,
                        names,
                        &format!("health-checker-{}", i + 1),
                        [198, 51, 100, 200 + i],
                        &[],
                        &[],
                    )
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Plan {
            all,
            fleets,
            clients,
            admins,
            services,
            replications,
            outside: u32::from(Ipv4Addr::new(198, 51, 100, 66)),
        })
    }

    /// The fleets' `replicate_to`, checked: another fleet, and databases at both ends.
    fn replications(&self, wd: &doc::WorkloadDoc) -> Result<Vec<Replication>, ScenarioError> {
        let dbs = |f: &doc::FleetDoc| f.roles.value.get("db").is_some_and(|n| n.value > 0);
        let mut out = Vec::new();
        for (fi, f) in wd.fleets.iter().enumerate() {
            let Some(to) = &f.value.replicate_to else {
                continue;
            };
            let field = format!("workload.fleets[{fi}].replicate_to");
            let Some((ri, replica)) = wd
                .fleets
                .iter()
                .enumerate()
                .find(|(_, g)| g.value.name.value == to.value)
            else {
                let known: Vec<&str> = wd
                    .fleets
                    .iter()
                    .map(|g| g.value.name.value.as_str())
                    .collect();
                return Err(self.werr(
                    to.referenced,
                    field,
                    format!(
                        "no fleet named `{}` (fleets: {})",
                        to.value,
                        known.join(", ")
                    ),
                ));
            };
            if to.value == f.value.name.value {
                return Err(self.werr(to.referenced, field, "a fleet cannot replicate to itself"));
            }
            if let Some(none) = [&f.value, &replica.value].into_iter().find(|x| !dbs(x)) {
                return Err(self.werr(
                    to.referenced,
                    field,
                    format!(
                        "replication streams from databases to databases: fleet `{}` has no db ENIs",
                        none.name.value
                    ),
                ));
            }
            // Replication joins the fleets by routes: their blocks must not overlap.
            let block = |i: usize, g: &doc::FleetDoc| {
                self.cidr(&g.cidr, &format!("workload.fleets[{i}].cidr"))
            };
            let (a, b) = (block(fi, &f.value)?, block(ri, &replica.value)?);
            if a.overlaps(b) {
                return Err(self.werr(
                    to.referenced,
                    field,
                    format!(
                        "fleets `{}` ({a}) and `{}` ({b}) overlap: replication routes between their blocks",
                        f.value.name.value, to.value
                    ),
                ));
            }
            out.push(Replication {
                primary: f.value.name.value.clone(),
                replica: to.value.clone(),
                primary_cidr: a,
                field,
                loc: to.referenced,
            });
        }
        Ok(out)
    }

    /// Joins the fleets that replicate: one CCN for all of them where the cloud has CCNs
    /// (tencent, alibaba: a VPC on a CCN learns the others' blocks), else an enterprise router
    /// per region (named `replication-REGION`, a VPC attachment per fleet in its db subnet,
    /// one route table that the attachments propagate to), routers of two regions peered
    /// with static routes to the far blocks, and a route to the far block through the router
    /// in each fleet's private route table.
    fn connect_replicas(
        &self,
        w: &mut World,
        start: Time,
        fleets: &BTreeMap<String, Fleet>,
        replications: &[Replication],
    ) -> Result<(), ScenarioError> {
        let Some(first) = replications.first() else {
            return Ok(());
        };
        let fail_at = |r: &Replication, e: vpclab_sim::world::ModelError| {
            self.werr(
                r.loc,
                r.field.clone(),
                format!("joining the replicating fleets: {}", e.message),
            )
        };
        let fail = |e| fail_at(first, e);
        // The fleets that take part, each once, in file order.
        let mut members: Vec<&str> = Vec::new();
        for r in replications {
            for f in [&r.primary, &r.replica] {
                if !members.contains(&f.as_str()) {
                    members.push(f);
                }
            }
        }
        if w.profile.ccn.is_some() {
            let ccn = w.create_ccn("replication", None).map_err(fail)?;
            for f in &members {
                w.attach_to_ccn(ccn, fleets[*f].vpc).map_err(fail)?;
            }
            return Ok(());
        }
        let region_of = |w: &World, f: &Fleet| w.vpcs[f.vpc as usize].region.clone();
        // Per region: its router and route table.
        let mut routers: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        let mut attachments: BTreeMap<&str, u32> = BTreeMap::new();
        for f in &members {
            let fleet = &fleets[*f];
            let region = region_of(w, fleet);
            let (router, table) = match routers.get(&region) {
                Some(&rt) => rt,
                None => {
                    let router = w
                        .create_enterprise_router(&format!("replication-{region}"), None, None)
                        .map_err(fail)?;
                    if region != w.region {
                        w.routers.routers[router as usize].region = Some(region.clone());
                    }
                    let table = w
                        .create_router_route_table(router, "replication", None)
                        .map_err(fail)?;
                    routers.insert(region.clone(), (router, table));
                    (router, table)
                }
            };
            let subnet = fleet.db_subnet.ok_or_else(|| {
                fail(vpclab_sim::world::ModelError::invalid(
                    "",
                    "a fleet without databases",
                ))
            })?;
            let att = w
                .attach_vpc(
                    start,
                    router,
                    f,
                    None,
                    fleet.vpc,
                    vec![AttachmentInterface {
                        subnet,
                        ip: None,
                        eni_id: None,
                    }],
                )
                .map_err(fail)?;
            w.associate_router_table(att, table, true).map_err(fail)?;
            attachments.insert(f, att);
        }
        // Routers of two regions: peered once, with static routes to the fleets of the other.
        let mut peered: Vec<[String; 2]> = Vec::new();
        for r in replications {
            let fail = |e| fail_at(r, e);
            let (a, b) = (&fleets[&r.primary], &fleets[&r.replica]);
            let (ra, rb) = (region_of(w, a), region_of(w, b));
            let mut pair = [ra.clone(), rb.clone()];
            pair.sort();
            if ra != rb && !peered.contains(&pair) {
                let ((xa, ta), (xb, tb)) = (routers[&ra], routers[&rb]);
                let (pa, pb) = w
                    .peer_routers(xa, xb, &format!("replication-{ra}-{rb}"), (None, None))
                    .map_err(fail)?;
                w.associate_router_table(pa, ta, false).map_err(fail)?;
                w.associate_router_table(pb, tb, false).map_err(fail)?;
                for m in &members {
                    let far = &fleets[*m];
                    let region = region_of(w, far);
                    if region == rb {
                        w.add_router_route(ta, far.cidr, Some(pa)).map_err(fail)?;
                    } else if region == ra {
                        w.add_router_route(tb, far.cidr, Some(pb)).map_err(fail)?;
                    }
                }
                peered.push(pair);
            }
            // Each end routes the other's block through its attachment.
            for (near, far, name) in [(a, b, &r.primary), (b, a, &r.replica)] {
                let routed = w.route_tables[near.private_table as usize]
                    .routes
                    .iter()
                    .any(|x| x.destination == far.cidr);
                if !routed {
                    let route = Route {
                        destination: far.cidr,
                        target: Target::Router(attachments[name.as_str()]),
                    };
                    w.add_route(near.private_table, route).map_err(fail)?;
                }
            }
        }
        Ok(())
    }

    fn outside_host(
        &self,
        w: &mut World,
        names: &mut Names,
        name: &str,
        ip: Ipv4Addr,
        host: Host,
        loc: Location,
    ) -> Result<Endpoint, ScenarioError> {
        if let Some(e) = names.endpoints.get(name) {
            return Ok(*e);
        }
        let h = w.create_external_host(name, ip, host).map_err(|e| {
            self.werr(
                loc,
                "workload",
                format!("outside host {name} ({ip}): {}", e.message),
            )
        })?;
        names
            .endpoints
            .insert(name.to_string(), Endpoint::External(h));
        Ok(Endpoint::External(h))
    }

    #[allow(clippy::too_many_arguments)]
    fn fleet(
        &self,
        w: &mut World,
        names: &mut Names,
        start: Time,
        path: &str,
        f: &S<doc::FleetDoc>,
        admin: Ipv4Net,
        primaries: &[Ipv4Net],
        eips: &mut impl Iterator<Item = Option<Ipv4Addr>>,
    ) -> Result<Fleet, ScenarioError> {
        let fd = &f.value;
        let name = fd.name.value.as_str();
        let cidr = self.cidr(&fd.cidr, &format!("{path}.cidr"))?;
        let model = |e: vpclab_sim::world::ModelError, field: &str| {
            self.werr(f.referenced, format!("{path}.{field}"), e.message)
        };
        if names.vpcs.contains_key(name) {
            return Err(self.werr(
                fd.name.referenced,
                format!("{path}.name"),
                format!("a VPC named `{name}` already exists"),
            ));
        }
        let region = fd.region.as_ref().map(|r| r.value.clone());
        let vpc = w.create_vpc_in(name, None, cidr, region).map_err(|e| {
            self.werr(
                fd.name.referenced,
                format!(
                    "{path}.{}",
                    if e.field.is_empty() { "name" } else { &e.field }
                ),
                e.message,
            )
        })?;
        names.vpcs.insert(name.to_string(), vpc);
        // Roles, in the order of ROLES, with their counts.
        let mut counts: Vec<(&'static str, u32, Location)> = Vec::new();
        for (r, n) in &fd.roles.value {
            let Some(r) = role(r) else {
                return Err(self.werr(
                    n.referenced,
                    format!("{path}.roles.{r}"),
                    format!("unknown role `{r}` (roles: {})", ROLES.join(", ")),
                ));
            };
            counts.push((r, n.value, n.referenced));
        }
        counts.sort_by_key(|(r, ..)| ROLES.iter().position(|x| x == r));
        let public_roles: Vec<&'static str> = match &fd.public {
            None => vec!["web", "bastion"],
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    role(&r.value).ok_or_else(|| {
                        self.werr(
                            r.referenced,
                            format!("{path}.public[{i}]"),
                            format!("unknown role `{}` (roles: {})", r.value, ROLES.join(", ")),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        // Subnets: public (web, bastion and the NAT gateway), then one per other role, each
        // aligned after the previous, largest first so that alignment wastes nothing.
        let public_n: u32 = counts
            .iter()
            .filter(|(r, ..)| matches!(*r, "web" | "bastion"))
            .map(|(_, n, _)| n)
            .sum::<u32>()
            + 1;
        let mut blocks: Vec<(&str, u32)> = vec![("public", public_n)];
        blocks.extend(
            counts
                .iter()
                .filter(|(r, ..)| !matches!(*r, "web" | "bastion"))
                .map(|(r, n, _)| (*r, *n)),
        );
        let mut order: Vec<usize> = (0..blocks.len()).collect();
        order.sort_by_key(|&i| (subnet_prefix(blocks[i].1), i));
        let mut next = u64::from(u32::from(cidr.network()));
        let end = next + cidr.size();
        let mut subnets: BTreeMap<&str, u32> = BTreeMap::new();
        for i in order {
            let (sname, n) = blocks[i];
            let len = subnet_prefix(n);
            let size = 1u64 << (32 - len);
            next = next.div_ceil(size) * size;
            if next + size > end {
                return Err(self.werr(fd.roles.referenced, format!("{path}.roles"), format!("the fleet's ENIs do not fit its block {cidr}: the {sname} subnet needs a /{len} and the block is full")));
            }
            let block = Ipv4Net::new_truncating(Ipv4Addr::from(next as u32), len);
            next += size;
            let s = w
                .create_subnet(sname, None, vpc, block, None)
                .map_err(|e| model(e, "cidr"))?;
            names.subnets.insert((vpc, sname.to_string()), s);
            subnets.insert(sname, s);
        }
        // Internet gateway, NAT gateway, routes.
        let igw = w
            .create_internet_gateway(vpc, None)
            .map_err(|e| model(e, "name"))?;
        let main = w.vpcs[vpc as usize].main_route_table;
        w.add_route(
            main,
            Route {
                destination: Ipv4Net::ANY,
                target: Target::InternetGateway(igw),
            },
        )
        .map_err(|e| model(e, "name"))?;
        let nat_eip = eips.next().flatten();
        let nat = w
            .create_nat_gateway(
                start,
                NatGatewaySpec {
                    name: format!("{name}-nat"),
                    id: None,
                    subnet: subnets["public"],
                    eip: nat_eip,
                    ip: None,
                    eni_id: None,
                },
            )
            .map_err(|e| model(e, "name"))?;
        names.nats.insert((vpc, format!("{name}-nat")), nat);
        let private_table = w
            .create_route_table(
                "private",
                None,
                vpc,
                vec![Route {
                    destination: Ipv4Net::ANY,
                    target: Target::NatGateway(nat),
                }],
            )
            .map_err(|e| model(e, "name"))?;
        // Security groups: one per role, referring to each other.
        let mut groups: BTreeMap<&'static str, u32> = BTreeMap::new();
        for r in ROLES {
            let g = w
                .create_security_group(r, None, vpc, Vec::new())
                .map_err(|e| model(e, "roles"))?;
            names.groups.insert((vpc, r.to_string()), g);
            groups.insert(r, g);
        }
        let from = |r: &str| Remote::Group(groups[r]);
        for r in ROLES {
            let mut rules = match r {
                "web" => vec![tcp_rule(443, Remote::Cidr(Ipv4Net::ANY))],
                "app" => vec![tcp_rule(8080, from("web"))],
                // Replication from the primaries' databases, by block: a group of another
                // VPC cannot be referred to.
                "db" => [tcp_rule(5432, from("app")), tcp_rule(3306, from("app"))]
                    .into_iter()
                    .chain(primaries.iter().map(|&p| tcp_rule(5432, Remote::Cidr(p))))
                    .collect(),
                "bastion" => vec![tcp_rule(22, Remote::Cidr(admin))],
                _ => Vec::new(),
            };
            if r != "bastion" {
                rules.push(tcp_rule(22, from("bastion")));
            }
            rules.push(sg::Rule::allow_all(Direction::Egress));
            w.set_security_group_rules(start, groups[r], rules)
                .map_err(|e| model(e, "roles"))?;
        }
        // Network ACLs.
        let public_acl = w
            .create_network_acl("public", None, vpc, public_entries(cidr, admin))
            .map_err(|e| model(e, "roles"))?;
        let private_acl = w
            .create_network_acl("private", None, vpc, private_entries(cidr))
            .map_err(|e| model(e, "roles"))?;
        names.acls.insert((vpc, "public".into()), public_acl);
        names.acls.insert((vpc, "private".into()), private_acl);
        for (sname, &s) in &subnets {
            let (acl, private) = if *sname == "public" {
                (public_acl, false)
            } else {
                (private_acl, true)
            };
            w.associate_acl(s, acl).map_err(|e| model(e, "roles"))?;
            if private {
                w.associate_route_table(s, private_table)
                    .map_err(|e| model(e, "roles"))?;
            }
        }
        // ENIs.
        let mut roles: ByRole = BTreeMap::new();
        for (r, n, loc) in counts {
            let subnet = if matches!(r, "web" | "bastion") {
                subnets["public"]
            } else {
                subnets[r]
            };
            for i in 1..=n {
                let eni_name = format!("{name}-{r}-{i}");
                let eip = if public_roles.contains(&r) {
                    Some(eips.next().flatten().ok_or_else(|| {
                        self.werr(
                            loc,
                            "workload.public_ips",
                            "the block of elastic IPs is used up",
                        )
                    })?)
                } else {
                    None
                };
                let e = w
                    .create_eni(
                        start,
                        EniSpec {
                            name: eni_name.clone(),
                            subnet,
                            eip,
                            security_groups: vec![groups[r]],
                            host: listens(r),
                            ..EniSpec::default()
                        },
                    )
                    .map_err(|e| self.werr(loc, format!("{path}.roles.{r}"), e.message))?;
                if names
                    .endpoints
                    .insert(eni_name.clone(), Endpoint::Eni(e))
                    .is_some()
                {
                    return Err(self.werr(
                        loc,
                        format!("{path}.roles.{r}"),
                        format!("an ENI or host named `{eni_name}` already exists"),
                    ));
                }
                roles.entry(r).or_default().push(e);
            }
        }
        // The fleet's VPC flow log.
        let enis: usize = roles.values().map(Vec::len).sum();
        let fl = fd.flow_log.as_ref().map(|f| &f.value);
        let filter = match fl.and_then(|f| f.traffic.as_ref()) {
            None => Filter::All,
            Some(t) => match t.value.as_str() {
                "all" => Filter::All,
                "accepted" => Filter::Accepted,
                "rejected" => Filter::Rejected,
                other => {
                    return Err(self.werr(
                        t.referenced,
                        format!("{path}.flow_log.traffic"),
                        format!("`{other}`: expected all, accepted or rejected"),
                    ));
                }
            },
        };
        w.create_flow_log(
            start,
            FlowLogSpec {
                name: format!("{name}-flows"),
                id: None,
                scope: Scope::Vpc(vpc),
                filter,
                window: fl
                    .and_then(|f| f.window.as_ref())
                    .map(|s| Span::from_secs(s.value)),
                // A VPC's flow log records every interface in it: by default it keeps as many
                // records a window as 10,000 per ENI (the per-interface default, D12), so a
                // busy fleet is not cut to SKIPDATA unless the file asks for it.
                capacity: Some(
                    fl.and_then(|f| f.capacity.as_ref())
                        .map_or(10_000 * (enis + 1), |s| s.value),
                ),
                description: String::new(),
                tags: BTreeMap::new(),
                log_stream: None,
            },
        )
        .map_err(|e| {
            self.werr(
                f.referenced,
                format!(
                    "{path}.flow_log{}",
                    if e.field.is_empty() {
                        String::new()
                    } else {
                        format!(".{}", e.field)
                    }
                ),
                e.message,
            )
        })?;
        Ok(Fleet {
            roles,
            public_acl,
            nat,
            vpc,
            cidr,
            private_table,
            db_subnet: subnets.get("db").copied(),
        })
    }

    /// The benign processes of every role and the incidents, into the simulation.
    pub(super) fn workload_traffic(
        &self,
        sim: &mut Simulation,
        names: &Names,
        start: Time,
        seed: u64,
        d: &S<doc::WorkloadDoc>,
        mut plan: Plan,
    ) -> Result<Workload, ScenarioError> {
        let wd = &d.value;
        if !within_horizon(wd.duration.value) || wd.duration.value <= 0.0 {
            return Err(self.werr(
                wd.duration.referenced,
                "workload.duration",
                "seconds of traffic: more than 0 and at most 31 days (2678400)",
            ));
        }
        let end = start + secs(wd.duration.value);
        let scale = match &wd.scale {
            Some(s) if !(s.value > 0.0 && s.value <= 1000.0) => {
                return Err(self.werr(
                    s.referenced,
                    "workload.scale",
                    format!(
                        "{}: a multiplier of the benign rates, above 0 and at most 1000",
                        s.value
                    ),
                ));
            }
            Some(s) => s.value,
            None => 1.0,
        };
        let mut index = 0u64;
        // A benign process (label 0), the whole workload long.
        let mut add = |sim: &mut Simulation, arrivals: Arrivals, pattern: Pattern| {
            sim.add_process(Process::new(
                seed,
                index,
                0,
                (start, end),
                arrivals,
                pattern,
                Ephemeral::LINUX,
            ));
            index += 1;
        };
        let enis = |v: &[u32]| v.iter().map(|&e| Endpoint::Eni(e)).collect::<Vec<_>>();
        let all = &plan.all;
        let of = |r: &str| all.get(r).map(Vec::as_slice).unwrap_or(&[]);
        let n = |r: &str| of(r).len() as f64;
        let poisson = |rate: f64, profile: Daily| Arrivals::Poisson {
            rate: rate * scale,
            profile,
        };
        let web_sizes = (Size::Uniform(200, 1500), pareto(800, 1.3, 5_000_000));
        // Internet clients → web (HTTPS), many sources, heavy-tailed responses.
        if n("web") > 0.0 {
            add(
                sim,
                poisson(0.5 * n("web"), Daily::Web),
                Pattern::Tcp {
                    clients: Pick::skewed(plan.clients.clone()),
                    servers: Pick::uniform(enis(of("web"))),
                    ports: vec![443],
                    request: web_sizes.0,
                    response: web_sizes.1,
                    close: Close::Fin,
                    gap_ms: Size::Uniform(1, 40),
                },
            );
            // Health checks of each web server from the checkers, every 30 s each.
            add(
                sim,
                poisson(n("web") / 30.0, Daily::Flat),
                Pattern::Tcp {
                    clients: Pick::uniform(plan.services.checkers.clone()),
                    servers: Pick::uniform(enis(of("web"))),
                    ports: vec![443],
                    request: Size::Fixed(120),
                    response: Size::Fixed(300),
                    close: Close::Fin,
                    gap_ms: Size::Uniform(1, 5),
                },
            );
        }
        // web → app → db, inside each VPC's groups.
        for fleet in plan.fleets.values() {
            let f = |r: &str| fleet.roles.get(r).map(Vec::as_slice).unwrap_or(&[]);
            if !f("web").is_empty() && !f("app").is_empty() {
                add(
                    sim,
                    poisson(0.5 * f("web").len() as f64, Daily::Web),
                    Pattern::Tcp {
                        clients: Pick::uniform(enis(f("web"))),
                        servers: Pick::uniform(enis(f("app"))),
                        ports: vec![8080],
                        request: Size::Uniform(300, 2000),
                        response: pareto(500, 1.5, 1_000_000),
                        close: Close::Fin,
                        gap_ms: Size::Uniform(1, 10),
                    },
                );
            }
            if !f("app").is_empty() && !f("db").is_empty() {
                add(
                    sim,
                    poisson(0.25 * f("app").len() as f64, Daily::Web),
                    Pattern::Tcp {
                        clients: Pick::uniform(enis(f("app"))),
                        servers: Pick::skewed(enis(f("db"))),
                        ports: vec![5432, 3306],
                        request: Size::Uniform(100, 1200),
                        response: pareto(200, 1.4, 2_000_000),
                        close: Close::Fin,
                        gap_ms: Size::Uniform(1, 5),
                    },
                );
            }
            // Administrators through the bastion, office hours; the bastion on to the rest.
            if !f("bastion").is_empty() {
                add(
                    sim,
                    poisson(0.003 * f("bastion").len() as f64, Daily::Office),
                    Pattern::Tcp {
                        clients: Pick::uniform(plan.admins.clone()),
                        servers: Pick::uniform(enis(f("bastion"))),
                        ports: vec![22],
                        request: pareto(3000, 1.2, 2_000_000),
                        response: pareto(5000, 1.2, 5_000_000),
                        close: Close::Fin,
                        gap_ms: Size::Uniform(50, 400),
                    },
                );
                let inner: Vec<Endpoint> = ["app", "db", "batch", "private", "web"]
                    .iter()
                    .flat_map(|r| enis(f(r)))
                    .collect();
                if !inner.is_empty() {
                    add(
                        sim,
                        poisson(0.002 * f("bastion").len() as f64, Daily::Office),
                        Pattern::Tcp {
                            clients: Pick::uniform(enis(f("bastion"))),
                            servers: Pick::uniform(inner),
                            ports: vec![22],
                            request: pareto(2000, 1.2, 500_000),
                            response: pareto(4000, 1.2, 2_000_000),
                            close: Close::Fin,
                            gap_ms: Size::Uniform(20, 300),
                        },
                    );
                }
            }
        }
        // Databases stream their changes to their replicas in another fleet (WAL shipping):
        // every ~minute per primary, sizes following the day's load.
        for r in &plan.replications {
            let (a, b) = (&plan.fleets[&r.primary], &plan.fleets[&r.replica]);
            let dbs = |f: &Fleet| enis(f.roles.get("db").map(Vec::as_slice).unwrap_or(&[]));
            add(
                sim,
                poisson(dbs(a).len() as f64 / 60.0, Daily::Web),
                Pattern::Tcp {
                    clients: Pick::uniform(dbs(a)),
                    servers: Pick::uniform(dbs(b)),
                    ports: vec![5432],
                    request: pareto(20_000, 1.3, 50_000_000),
                    response: Size::Fixed(200),
                    close: Close::Fin,
                    gap_ms: Size::Uniform(1, 5),
                },
            );
        }
        // Everyone: NTP every ~1024 s; package updates out through the NAT gateway (the
        // private tiers) or the internet gateway (public ones), mostly at night.
        let everyone: Vec<Endpoint> = ROLES.iter().flat_map(|r| enis(of(r))).collect();
        if !everyone.is_empty() {
            let count = everyone.len() as f64;
            add(
                sim,
                poisson(count / 1024.0, Daily::Flat),
                Pattern::Udp {
                    clients: Pick::uniform(everyone.clone()),
                    servers: Pick::uniform(vec![plan.services.ntp]),
                    port: 123,
                    size: 76,
                    count: 1,
                },
            );
            add(
                sim,
                poisson(count / 7200.0, Daily::Night),
                Pattern::Tcp {
                    clients: Pick::uniform(everyone),
                    servers: Pick::uniform(vec![plan.services.mirror]),
                    ports: vec![443],
                    request: Size::Uniform(300, 900),
                    response: pareto(20_000, 1.1, 30_000_000),
                    close: Close::Fin,
                    gap_ms: Size::Uniform(1, 5),
                },
            );
        }
        // Batch: large uploads to object storage at night.
        if n("batch") > 0.0 {
            add(
                sim,
                poisson(n("batch") / 900.0, Daily::Night),
                Pattern::Tcp {
                    clients: Pick::uniform(enis(of("batch"))),
                    servers: Pick::uniform(vec![plan.services.storage]),
                    ports: vec![443],
                    request: pareto(500_000, 1.2, 40_000_000),
                    response: Size::Fixed(400),
                    close: Close::Fin,
                    gap_ms: Size::Uniform(1, 3),
                },
            );
        }
        // The private tier calls partner APIs through the NAT gateway, office hours.
        if n("private") > 0.0 {
            add(
                sim,
                poisson(0.05 * n("private"), Daily::Office),
                Pattern::Tcp {
                    clients: Pick::uniform(enis(of("private"))),
                    servers: Pick::uniform(vec![plan.services.api]),
                    ports: vec![443],
                    request: Size::Uniform(400, 3000),
                    response: pareto(600, 1.4, 500_000),
                    close: Close::Fin,
                    gap_ms: Size::Uniform(5, 60),
                },
            );
        }
        // Incidents.
        let mut incidents = Vec::new();
        for (i, inc) in wd.incidents.iter().enumerate() {
            let label = i as u32 + 1;
            let ipath = format!("workload.incidents[{i}]");
            let made = self.incident(
                sim,
                names,
                &mut plan,
                start,
                end,
                seed,
                1_000_000 + i as u64,
                label,
                &ipath,
                inc,
            )?;
            if incidents.iter().any(|x: &Incident| x.id == made.id) {
                return Err(self.werr(
                    inc.referenced,
                    format!("{ipath}.name"),
                    format!("two incidents are named `{}`", made.id),
                ));
            }
            incidents.push(made);
        }
        let mut labels = vec!["benign".to_string()];
        labels.extend(incidents.iter().map(|x| x.id.clone()));
        sim.world.set_label_names(labels);
        Ok(Workload { end, incidents })
    }

    #[allow(clippy::too_many_arguments)]
    fn incident(
        &self,
        sim: &mut Simulation,
        names: &Names,
        plan: &mut Plan,
        start: Time,
        end: Time,
        seed: u64,
        stream: u64,
        label: u32,
        path: &str,
        d: &S<doc::IncidentDoc>,
    ) -> Result<Incident, ScenarioError> {
        let x = &d.value;
        let Some(kind) = KINDS.iter().copied().find(|k| *k == x.kind.value) else {
            return Err(self.werr(
                x.kind.referenced,
                format!("{path}.kind"),
                format!(
                    "unknown incident kind `{}` (kinds: {})",
                    x.kind.value,
                    KINDS.join(", ")
                ),
            ));
        };
        if !within_horizon(x.at.value) {
            return Err(self.werr(
                x.at.referenced,
                format!("{path}.at"),
                super::HORIZON_MESSAGE,
            ));
        }
        if !(x.duration.value > 0.0 && within_horizon(x.duration.value)) {
            return Err(self.werr(
                x.duration.referenced,
                format!("{path}.duration"),
                "seconds: more than 0 and at most 31 days",
            ));
        }
        let from_t = start + secs(x.at.value);
        let to_t = (from_t + secs(x.duration.value)).min(end.max(from_t + secs(x.duration.value)));
        if from_t >= end {
            return Err(self.werr(
                x.at.referenced,
                format!("{path}.at"),
                format!(
                    "{} s is after the workload's end ({} s)",
                    x.at.value,
                    (end.micros() - start.micros()) as f64 / 1e6
                ),
            ));
        }
        let id = x
            .name
            .as_ref()
            .map(|n| n.value.clone())
            .unwrap_or_else(|| format!("inc-{label}"));
        let rate = |default: f64| -> Result<f64, ScenarioError> {
            match &x.rate {
                Some(r) if !(r.value > 0.0 && r.value <= 100_000.0) => Err(self.werr(
                    r.referenced,
                    format!("{path}.rate"),
                    format!(
                        "{}: arrivals per second, above 0 and at most 100000",
                        r.value
                    ),
                )),
                Some(r) => Ok(r.value),
                None => Ok(default),
            }
        };
        let period = |default: f64| -> Result<Span, ScenarioError> {
            match &x.period {
                Some(p) if !(p.value >= 0.001 && within_horizon(p.value)) => Err(self.werr(
                    p.referenced,
                    format!("{path}.period"),
                    format!("{}: seconds, at least 0.001", p.value),
                )),
                Some(p) => Ok(secs(p.value)),
                None => Ok(secs(default)),
            }
        };
        let ports = |default: &[u16]| -> Result<Vec<u16>, ScenarioError> {
            match &x.ports {
                None => Ok(default.to_vec()),
                Some(p) => match &p.value {
                    doc::PortsListDoc::List(v) if !v.is_empty() && v.len() <= 65536 => {
                        Ok(v.clone())
                    }
                    doc::PortsListDoc::Range(r) => {
                        let range = r.split_once('-').and_then(|(a, b)| {
                            Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
                        });
                        match range {
                            Some((a, b)) if a >= 1 && a <= b => Ok((a..=b).collect()),
                            _ => Err(self.werr(
                                p.referenced,
                                format!("{path}.ports"),
                                format!("`{r}`: a list of ports or a range LO-HI of 1-65535"),
                            )),
                        }
                    }
                    _ => Err(self.werr(
                        p.referenced,
                        format!("{path}.ports"),
                        "a list of 1 to 65536 ports, or a range LO-HI",
                    )),
                },
            }
        };
        // The attacker outside (a new external host) or an ENI inside.
        let outside = |sim: &mut Simulation,
                       plan: &mut Plan,
                       default_name: &str|
         -> Result<Endpoint, ScenarioError> {
            match &x.from {
                Some(f) if names.endpoints.contains_key(&f.value) => Ok(names.endpoints[&f.value]),
                Some(f) => {
                    let ip: Ipv4Addr = f.value.parse().map_err(|_| {
                        self.werr(
                            f.referenced,
                            format!("{path}.from"),
                            format!(
                                "`{}`: an address outside, or the name of an ENI or host",
                                f.value
                            ),
                        )
                    })?;
                    Ok(self.new_outside(sim, &format!("{id}-{default_name}"), ip, f.referenced)?)
                }
                None => {
                    let ip = Ipv4Addr::from(plan.outside);
                    plan.outside += 1;
                    Ok(self.new_outside(sim, &format!("{id}-{default_name}"), ip, d.referenced)?)
                }
            }
        };
        let inside = |plan: &Plan,
                      default_role: &str,
                      field: &str,
                      s: Option<&S<String>>|
         -> Result<Vec<u32>, ScenarioError> {
            let (text, loc) = match s {
                Some(s) => (s.value.clone(), s.referenced),
                None => (default_role.to_string(), d.referenced),
            };
            if let Some(Endpoint::Eni(e)) = names.endpoints.get(&text) {
                return Ok(vec![*e]);
            }
            let found = match text.split_once('/') {
                Some((fleet, r)) => plan.fleets.get(fleet).and_then(|f| f.roles.get(r)).cloned(),
                // A fleet's name: all its ENIs.
                None if plan.fleets.contains_key(&text) => Some(
                    plan.fleets[&text]
                        .roles
                        .values()
                        .flatten()
                        .copied()
                        .collect(),
                ),
                None => plan.all.get(text.as_str()).cloned(),
            };
            match found {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(self.werr(
                    loc,
                    format!("{path}.{field}"),
                    format!(
                        "`{text}` is no ENI, role or FLEET/ROLE with ENIs (fleets: {})",
                        plan.fleets.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )),
            }
        };
        let eni_ip = |w: &World, e: u32| w.enis[e as usize].ip;
        let public = |w: &World, e: u32| w.enis[e as usize].eip;
        let eni_id = |w: &World, e: u32| w.enis[e as usize].id.clone();
        let mut pattern_of: Vec<(Arrivals, Pattern)> = Vec::new();
        let mut changes: Vec<(Time, Change)> = Vec::new();
        let target = x.target.as_ref();
        let (actors, targets, resources, used_ports): (
            Vec<Ipv4Addr>,
            Vec<Ipv4Addr>,
            Vec<String>,
            Vec<u16>,
        );
        let steady = |r: f64| Arrivals::Poisson {
            rate: r,
            profile: Daily::Flat,
        };
        let needs_public = |w: &World, enis: &[u32], field: &str| -> Result<(), ScenarioError> {
            match enis.iter().find(|&&e| public(w, e).is_none()) {
                Some(&e) => Err(self.werr(
                    target.map(|t| t.referenced).unwrap_or(d.referenced),
                    format!("{path}.{field}"),
                    format!(
                        "{} has no elastic IP: from outside a host is reached only through one",
                        w.enis[e as usize].name
                    ),
                )),
                None => Ok(()),
            }
        };
        match kind {
            "port_scan_horizontal"
            | "port_scan_vertical"
            | "ssh_brute_force"
            | "rdp_brute_force"
            | "syn_flood"
            | "db_exposure" => {
                let (default_role, default_ports, default_rate): (&str, &[u16], f64) = match kind {
                    "port_scan_horizontal" => ("web", &[22, 80, 443, 3389], 20.0),
                    "port_scan_vertical" => ("web", &[], 50.0),
                    "ssh_brute_force" => ("bastion", &[22], 2.0),
                    "rdp_brute_force" => ("web", &[3389], 2.0),
                    "syn_flood" => ("web", &[443], 500.0),
                    _ => ("db", &[5432], 1.0),
                };
                let mut hosts = inside(plan, default_role, "target", target)?;
                // From outside only hosts with an elastic IP can be reached: a sweep of a
                // fleet's or a role's hosts probes those (the others are not on the internet).
                if hosts.len() > 1 {
                    let reachable: Vec<u32> = hosts
                        .iter()
                        .copied()
                        .filter(|&e| public(&sim.world, e).is_some())
                        .collect();
                    if !reachable.is_empty() {
                        hosts = reachable;
                    }
                }
                if matches!(
                    kind,
                    "port_scan_vertical"
                        | "ssh_brute_force"
                        | "rdp_brute_force"
                        | "syn_flood"
                        | "db_exposure"
                ) {
                    hosts.truncate(1);
                }
                needs_public(&sim.world, &hosts, "target")?;
                let scan_ports = if kind == "port_scan_vertical" {
                    ports(&(1..=1024).collect::<Vec<_>>())?
                } else {
                    ports(default_ports)?
                };
                let attacker = outside(sim, plan, "attacker")?;
                let r = rate(default_rate)?;
                let eps: Vec<Endpoint> = hosts.iter().map(|&e| Endpoint::Eni(e)).collect();
                match kind {
                    "port_scan_horizontal" | "port_scan_vertical" => pattern_of.push((
                        steady(r),
                        Pattern::Scan {
                            from: attacker,
                            targets: eps,
                            ports: scan_ports.clone(),
                            ports_first: kind == "port_scan_vertical",
                        },
                    )),
                    "syn_flood" => {
                        let base = u32::from(Ipv4Addr::new(100, 100, 0, 0));
                        pattern_of.push((
                            steady(r),
                            Pattern::ForgedSyn {
                                from: attacker,
                                target: eps[0],
                                port: scan_ports[0],
                                source_base: base,
                                source_count: 65536,
                            },
                        ))
                    }
                    "db_exposure" => {
                        // Someone opens the database's group to the internet; a scanner
                        // finds it and dumps tables.
                        let db = hosts[0];
                        let group = sim.world.enis[db as usize]
                            .security_groups
                            .first()
                            .copied()
                            .ok_or_else(|| {
                                self.werr(
                                    d.referenced,
                                    format!("{path}.target"),
                                    "the database has no security group",
                                )
                            })?;
                        let mut rules = sim.world.security_groups[group as usize].rules.clone();
                        for &p in &scan_ports {
                            rules.push(tcp_rule(p, Remote::Cidr(Ipv4Net::ANY)));
                        }
                        changes.push((from_t, Change::SecurityGroupRules { group, rules }));
                        pattern_of.push((
                            steady(r),
                            Pattern::Tcp {
                                clients: Pick::uniform(vec![attacker]),
                                servers: Pick::uniform(eps.clone()),
                                ports: scan_ports.clone(),
                                request: Size::Uniform(100, 800),
                                response: pareto(2000, 1.1, 20_000_000),
                                close: Close::Fin,
                                gap_ms: Size::Uniform(1, 5),
                            },
                        ));
                    }
                    _ => pattern_of.push((
                        steady(r),
                        Pattern::Tcp {
                            clients: Pick::uniform(vec![attacker]),
                            servers: Pick::uniform(eps.clone()),
                            ports: scan_ports.clone(),
                            request: Size::Uniform(600, 1400),
                            response: Size::Uniform(800, 1600),
                            close: Close::Fin,
                            gap_ms: Size::Uniform(20, 80),
                        },
                    )),
                }
                actors = vec![sim.world.address(attacker)];
                targets = hosts
                    .iter()
                    .filter_map(|&e| public(&sim.world, e))
                    .chain(hosts.iter().map(|&e| eni_ip(&sim.world, e)))
                    .collect();
                let mut res: Vec<String> = hosts.iter().map(|&e| eni_id(&sim.world, e)).collect();
                if kind == "db_exposure" {
                    res.extend(changes.iter().filter_map(|(_, c)| match c {
                        Change::SecurityGroupRules { group, .. } => {
                            Some(sim.world.security_groups[*group as usize].id.clone())
                        }
                        _ => None,
                    }));
                }
                resources = res;
                used_ports = scan_ports;
            }
            "exfiltration" | "beaconing" | "mining" | "nat_port_exhaustion" => {
                let default_role = if kind == "nat_port_exhaustion" {
                    "private"
                } else {
                    "app"
                };
                let mut hosts = inside(plan, default_role, "from", x.from.as_ref())?;
                hosts.truncate(if kind == "nat_port_exhaustion" { 64 } else { 1 });
                let (name, dport): (&str, u16) = match kind {
                    "exfiltration" => ("drop-site", 443),
                    "beaconing" => ("c2", 443),
                    "mining" => ("pool", 3333),
                    _ => ("busy-api", 443),
                };
                let p = ports(&[dport])?;
                let dest_ip = match target {
                    Some(t) => t.value.parse().map_err(|_| {
                        self.werr(
                            t.referenced,
                            format!("{path}.target"),
                            format!("`{}`: an address outside", t.value),
                        )
                    })?,
                    None => {
                        let ip = Ipv4Addr::from(plan.outside);
                        plan.outside += 1;
                        ip
                    }
                };
                let dest =
                    self.new_listening(sim, &format!("{id}-{name}"), dest_ip, &p, d.referenced)?;
                let clients = Pick::uniform(hosts.iter().map(|&e| Endpoint::Eni(e)).collect());
                let servers = Pick::uniform(vec![dest]);
                match kind {
                    "exfiltration" => {
                        let total = x.bytes.as_ref().map(|b| b.value).unwrap_or(2_000_000_000);
                        if !(1..=1_000_000_000_000).contains(&total) {
                            return Err(self.werr(
                                x.bytes
                                    .as_ref()
                                    .map(|b| b.referenced)
                                    .unwrap_or(d.referenced),
                                format!("{path}.bytes"),
                                "bytes: 1 to 10^12",
                            ));
                        }
                        // In chunks of 20 MB, spread over the incident.
                        let chunks = total.div_ceil(20_000_000);
                        let chunk = total.div_ceil(chunks).min(u64::from(u32::MAX)) as u32;
                        let r = chunks as f64 / x.duration.value;
                        pattern_of.push((
                            steady(r),
                            Pattern::Tcp {
                                clients,
                                servers,
                                ports: p.clone(),
                                request: Size::Fixed(chunk),
                                response: Size::Fixed(200),
                                close: Close::Fin,
                                gap_ms: Size::Fixed(1),
                            },
                        ));
                    }
                    "beaconing" | "mining" => {
                        let every = period(if kind == "beaconing" { 60.0 } else { 30.0 })?;
                        let (req, resp) = if kind == "beaconing" {
                            (Size::Uniform(180, 260), Size::Uniform(90, 140))
                        } else {
                            (Size::Uniform(300, 500), Size::Uniform(200, 400))
                        };
                        pattern_of.push((
                            Arrivals::Periodic {
                                period: every,
                                jitter: 0.1,
                            },
                            Pattern::Tcp {
                                clients,
                                servers,
                                ports: p.clone(),
                                request: req,
                                response: resp,
                                close: Close::Fin,
                                gap_ms: Size::Uniform(20, 60),
                            },
                        ));
                    }
                    _ => {
                        // Connections left open hold their NAT mapping until the idle
                        // timeout: past 55,000 to one destination the gateway drops.
                        let r = rate(300.0)?;
                        pattern_of.push((
                            steady(r),
                            Pattern::Tcp {
                                clients,
                                servers,
                                ports: p.clone(),
                                request: Size::Uniform(200, 600),
                                response: Size::Uniform(300, 900),
                                close: Close::Open,
                                gap_ms: Size::Uniform(1, 5),
                            },
                        ));
                    }
                }
                actors = hosts.iter().map(|&e| eni_ip(&sim.world, e)).collect();
                targets = vec![dest_ip];
                let mut res: Vec<String> = hosts.iter().map(|&e| eni_id(&sim.world, e)).collect();
                if kind == "nat_port_exhaustion" {
                    let vpc = sim.world.enis[hosts[0] as usize].vpc;
                    if let Some(f) = plan
                        .fleets
                        .values()
                        .find(|f| sim.world.nats[f.nat as usize].vpc == vpc)
                    {
                        res.push(sim.world.nats[f.nat as usize].id.clone());
                    }
                }
                resources = res;
                used_ports = p;
            }
            "lateral_movement" => {
                let from = inside(plan, "app", "from", x.from.as_ref())?[0];
                let vpc = sim.world.enis[from as usize].vpc;
                let mut hosts: Vec<u32> = match target {
                    Some(_) => inside(plan, "app", "target", target)?,
                    None => plan
                        .all
                        .values()
                        .flatten()
                        .copied()
                        .filter(|&e| sim.world.enis[e as usize].vpc == vpc)
                        .collect(),
                };
                hosts.sort_unstable();
                hosts.retain(|&e| e != from);
                hosts.truncate(256);
                let p = ports(&[22, 445, 3389, 5432])?;
                pattern_of.push((
                    steady(rate(10.0)?),
                    Pattern::Scan {
                        from: Endpoint::Eni(from),
                        targets: hosts.iter().map(|&e| Endpoint::Eni(e)).collect(),
                        ports: p.clone(),
                        ports_first: false,
                    },
                ));
                actors = vec![eni_ip(&sim.world, from)];
                targets = hosts.iter().map(|&e| eni_ip(&sim.world, e)).collect();
                resources = std::iter::once(from)
                    .chain(hosts.iter().copied())
                    .map(|e| eni_id(&sim.world, e))
                    .collect();
                used_ports = p;
            }
            _ => {
                // acl_reply_drop: someone "tightens" the public subnet's ACL to HTTPS only
                // and forgets the ephemeral ports back; the ACL is stateless, so replies to
                // connections that come in are dropped on their way out. Monitoring pings and
                // HTTPS checks (this incident's packets) show it; restored at the end.
                let hosts = inside(plan, "web", "target", target)?;
                needs_public(&sim.world, &hosts[..1], "target")?;
                let vpc = sim.world.enis[hosts[0] as usize].vpc;
                let fleet = plan
                    .fleets
                    .values()
                    .find(|f| sim.world.acls[f.public_acl as usize].vpc == vpc)
                    .ok_or_else(|| {
                        self.werr(
                            d.referenced,
                            format!("{path}.target"),
                            "acl_reply_drop needs a fleet's public subnet",
                        )
                    })?;
                let acl = fleet.public_acl;
                let before = sim.world.acls[acl as usize].entries.clone();
                let mut after: Vec<acl::Entry> = before
                    .iter()
                    .filter(|e| e.direction == Direction::Ingress)
                    .cloned()
                    .collect();
                after.push(acl_entry(
                    100,
                    Direction::Egress,
                    ProtoMatch::Tcp,
                    (443, 443),
                    Ipv4Net::ANY,
                ));
                changes.push((
                    from_t,
                    Change::AclEntries {
                        acl,
                        entries: after,
                    },
                ));
                changes.push((
                    to_t,
                    Change::AclEntries {
                        acl,
                        entries: before,
                    },
                ));
                let monitor = outside(sim, plan, "monitor")?;
                let eps: Vec<Endpoint> = hosts.iter().map(|&e| Endpoint::Eni(e)).collect();
                pattern_of.push((
                    steady(rate(1.0)?),
                    Pattern::Ping {
                        clients: Pick::uniform(vec![monitor]),
                        servers: Pick::uniform(eps.clone()),
                        count: 1,
                    },
                ));
                pattern_of.push((
                    steady(rate(1.0)?),
                    Pattern::Tcp {
                        clients: Pick::uniform(vec![monitor]),
                        servers: Pick::uniform(eps),
                        ports: vec![443],
                        request: Size::Fixed(120),
                        response: Size::Fixed(300),
                        close: Close::Fin,
                        gap_ms: Size::Uniform(1, 5),
                    },
                ));
                actors = vec![sim.world.address(monitor)];
                targets = hosts
                    .iter()
                    .filter_map(|&e| public(&sim.world, e))
                    .collect();
                resources = vec![sim.world.acls[acl as usize].id.clone()];
                used_ports = vec![443];
            }
        }
        for (at, c) in changes {
            sim.change_at(at, c);
        }
        for (k, (arrivals, pattern)) in pattern_of.into_iter().enumerate() {
            sim.add_process(Process::new(
                seed,
                stream * 16 + k as u64,
                label,
                (from_t, to_t),
                arrivals,
                pattern,
                Ephemeral::LINUX,
            ));
        }
        let mut targets = targets;
        targets.dedup();
        Ok(Incident {
            id,
            kind,
            start: from_t,
            end: to_t,
            actors,
            targets,
            resources,
            ports: used_ports,
        })
    }

    fn new_outside(
        &self,
        sim: &mut Simulation,
        name: &str,
        ip: Ipv4Addr,
        loc: Location,
    ) -> Result<Endpoint, ScenarioError> {
        self.new_listening(sim, name, ip, &[], loc)
    }

    fn new_listening(
        &self,
        sim: &mut Simulation,
        name: &str,
        ip: Ipv4Addr,
        tcp: &[u16],
        loc: Location,
    ) -> Result<Endpoint, ScenarioError> {
        let host = Host {
            tcp: tcp.iter().copied().collect(),
            ..Host::default()
        };
        match sim.world.public_endpoint(ip) {
            Some(e) => Ok(e),
            None => sim
                .world
                .create_external_host(name, ip, host)
                .map(Endpoint::External)
                .map_err(|e| self.werr(loc, "workload.incidents", format!("{ip}: {}", e.message))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_fit_their_enis_and_the_five_reserved_addresses() {
        assert_eq!(subnet_prefix(1), 28);
        assert_eq!(subnet_prefix(11), 28);
        assert_eq!(subnet_prefix(12), 27);
        assert_eq!(subnet_prefix(251), 24);
        assert_eq!(subnet_prefix(252), 23);
    }
}
