//! The endpoints packets travel between: network interfaces (ENIs), with their addresses and
//! elastic IPs, and hosts outside the cloud; each created, changed and deleted here.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::lifecycle::in_use;
use super::model::ip_key;
use super::*;
use crate::conntrack::Zone;
use crate::flowlog::{CaptureMeta, Scope};
use crate::host::Host;
use crate::ids;
use crate::profile::ConnectionTracking;
use crate::time::Time;

/// What a new ENI needs.
#[derive(Clone, Debug, Default)]
pub struct EniSpec {
    pub name: String,
    pub id: Option<String>,
    pub subnet: u32,
    pub ip: Option<Ipv4Addr>,
    /// Secondary private IPs (errors name `secondary_private_ips[i]`).
    pub secondary_ips: Vec<Ipv4Addr>,
    pub eip: Option<Ipv4Addr>,
    pub security_groups: Vec<u32>,
    pub instance_id: Option<String>,
    pub instance_type: Option<String>,
    pub host: Host,
    /// Connection-tracking timeouts set on it (aws, policy.md §1.3).
    pub connection_tracking: ConnectionTracking,
    /// A cloud device's interface (NAT gateway, router attachment): no security group, no
    /// instance (`instance-id` is `-`), created with its device.
    pub requester_managed: bool,
}

impl World {
    pub fn create_eni(&mut self, now: Time, spec: EniSpec) -> Result<u32, ModelError> {
        check_name(&spec.name)?;
        let s = self.subnet(spec.subnet)?.clone();
        if live(&self.enis).any(|(_, e)| e.name == spec.name) {
            return Err(ModelError::exists(
                "name",
                format!("an ENI named `{}` already exists", spec.name),
            ));
        }
        self.check_id(Kind::Eni, spec.id.as_deref())?;
        self.check_secondary_ips(&s, &spec.secondary_ips)?;
        let ip = match spec.ip {
            Some(ip) => {
                self.check_private_ip(&s, ip)?;
                if let Some(i) = spec.secondary_ips.iter().position(|&x| x == ip) {
                    return Err(ModelError::invalid(
                        format!("secondary_private_ips[{i}]"),
                        format!("{ip} is the interface's primary address"),
                    ));
                }
                ip
            }
            None => self.next_free_ip(&s, &spec.secondary_ips).ok_or_else(|| {
                ModelError::precondition(
                    "subnet",
                    format!("subnet `{}` has no free address", s.name),
                )
            })?,
        };
        if let Some(eip) = spec.eip {
            self.check_elastic_ip(s.vpc, eip)?;
        }
        let mut groups = spec.security_groups.clone();
        if groups.is_empty() && !spec.requester_managed {
            groups.push(self.vpcs[s.vpc as usize].default_sg);
        }
        self.check_groups_of_eni(s.vpc, &groups)?;
        let timeouts =
            self.timeouts_for(spec.instance_type.as_deref(), &spec.connection_tracking)?;
        let e = self.enis.len() as u32;
        let id = self.new_id(Kind::Eni, e, spec.id, "eni");
        let instance_id = match spec.instance_id {
            Some(i) => Some(i),
            None if spec.requester_managed => None,
            None => Some(ids::resource(&mut self.rng, self.profile.id_style, "i")),
        };
        let meta = Arc::new(CaptureMeta {
            account_id: self.account_id.clone(),
            interface_id: id.clone(),
            vpc_id: self.vpcs[s.vpc as usize].id.clone(),
            subnet_id: s.id.clone(),
            instance_id: instance_id.clone(),
            region: self.vpcs[s.vpc as usize].region.clone(),
            az_id: s.az.clone(),
            primary_ip: ip,
            router_id: None,
            ccn: None,
        });
        let node = self.graph.add_node(Node::Eni(e));
        self.graph.add_edge(node, s.node, ());
        self.enis.push(Eni {
            id,
            name: spec.name,
            subnet: spec.subnet,
            vpc: s.vpc,
            ip,
            secondary_ips: spec.secondary_ips,
            eip: spec.eip,
            security_groups: groups,
            instance_id,
            instance_type: spec.instance_type,
            host: spec.host,
            created: now,
            meta,
            rules: Default::default(),
            allows_all_back: [[false; 2]; 2],
            bandwidth: None,
            connection_tracking: spec.connection_tracking,
            timeouts,
            deleted: false,
            requester_managed: spec.requester_managed,
            node,
        });
        self.private_ips.insert(ip_key(s.vpc, ip), e);
        for &x in &self.enis[e as usize].secondary_ips {
            self.private_ips.insert(ip_key(s.vpc, x), e);
        }
        if let Some(eip) = spec.eip {
            self.public_ips.insert(eip, Endpoint::Eni(e));
        }
        let logs = self.logs_covering(e as usize);
        self.eni_logs.push(logs);
        self.recompile_vpc(s.vpc);
        Ok(e)
    }

    /// Checks groups for ENI `eni` without applying them (the checks of
    /// [`World::set_eni_security_groups`]); errors name `security_groups[i]`.
    pub fn check_eni_security_groups(&self, eni: u32, groups: &[u32]) -> Result<(), ModelError> {
        self.check_groups_of_eni(self.eni(eni)?.vpc, groups)
    }

    /// An ENI's groups (errors name `security_groups[i]`): live groups of its VPC.
    pub(super) fn check_groups_of_eni(&self, vpc: u32, groups: &[u32]) -> Result<(), ModelError> {
        for (i, &g) in groups.iter().enumerate() {
            if !self.is_live(Kind::SecurityGroup, g) {
                return Err(ModelError::not_found(
                    format!("security_groups[{i}]"),
                    "no such security group",
                ));
            }
            if self.security_groups[g as usize].vpc != vpc {
                return Err(ModelError::invalid(
                    format!("security_groups[{i}]"),
                    "the security group belongs to another VPC",
                ));
            }
            // alibaba: "An ECS instance cannot belong to basic and advanced security groups
            // at the same time" ([ALI-TYPES]).
            let kind = self.security_groups[g as usize].kind;
            if let Some(&other) = groups[..i]
                .iter()
                .find(|&&o| self.security_groups[o as usize].kind != kind)
            {
                return Err(ModelError::invalid(
                    format!("security_groups[{i}]"),
                    format!(
                        "security groups `{}` ({}) and `{}` ({}) cannot go together: an \
                         interface's groups are all basic or all enterprise",
                        self.security_groups[other as usize].name,
                        self.security_groups[other as usize].kind.label(),
                        self.security_groups[g as usize].name,
                        kind.label()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// An elastic IP for an ENI of `vpc`: a public address nothing else uses, on a VPC with
    /// an internet gateway.
    fn check_elastic_ip(&self, vpc: u32, eip: Ipv4Addr) -> Result<(), ModelError> {
        if self.public_ips.contains_key(&eip) {
            return Err(ModelError::exists(
                "eip",
                format!("{eip} is already in use as a public address"),
            ));
        }
        if self.vpcs[vpc as usize].igw.is_none() {
            return Err(ModelError::precondition(
                "eip",
                "an elastic IP needs an internet gateway on the VPC",
            ));
        }
        Ok(())
    }

    fn check_private_ip(&self, s: &Subnet, ip: Ipv4Addr) -> Result<(), ModelError> {
        if !s.cidr.contains(ip) {
            return Err(ModelError::invalid(
                "ip",
                format!("{ip} is not inside subnet `{}` ({})", s.name, s.cidr),
            ));
        }
        let addressing = &self.profile.addressing;
        if addressing.is_reserved(s.cidr, ip) {
            let r = addressing.reserved;
            return Err(ModelError::invalid(
                "ip",
                format!(
                    "{ip} is reserved in subnet {}: {} keeps the first {} and the last {} \
                     addresses of every subnet ({})",
                    s.cidr, self.profile.provider, r.first, r.last, r.example
                ),
            ));
        }
        if self.private_ips.contains_key(&ip_key(s.vpc, ip)) {
            return Err(ModelError::exists(
                "ip",
                format!("{ip} is already used by another ENI"),
            ));
        }
        Ok(())
    }

    /// An interface's secondary private IPs (AWS `AssignPrivateIpAddresses`; flowlogs.md
    /// §1.4): each an address of its subnet that the cloud does not reserve and no interface
    /// holds, none twice, at most the profile's number (`docs/decisions/secondary-ips.md`).
    /// Errors name `secondary_private_ips[i]`.
    fn check_secondary_ips(&self, s: &Subnet, ips: &[Ipv4Addr]) -> Result<(), ModelError> {
        self.check_secondary_ips_of(s, ips, &[])
    }

    /// [`World::check_secondary_ips`], where the addresses in `held` (the interface's own)
    /// count as free.
    fn check_secondary_ips_of(
        &self,
        s: &Subnet,
        ips: &[Ipv4Addr],
        held: &[Ipv4Addr],
    ) -> Result<(), ModelError> {
        let limit = self.profile.secondary_ips_per_eni;
        if ips.len() > limit {
            return Err(ModelError::invalid(
                format!("secondary_private_ips[{limit}]"),
                format!(
                    "an interface has at most {limit} secondary private IPs on {}",
                    self.profile.provider
                ),
            ));
        }
        for (i, &ip) in ips.iter().enumerate() {
            let field = format!("secondary_private_ips[{i}]");
            if ips[..i].contains(&ip) {
                return Err(ModelError::invalid(field, format!("{ip} is given twice")));
            }
            if held.contains(&ip) {
                continue;
            }
            self.check_private_ip(s, ip).map_err(|mut e| {
                e.field = field;
                e
            })?;
        }
        Ok(())
    }

    /// The lowest address of the subnet no live ENI holds (deleted ENIs release theirs) and
    /// that is not `taken`.
    fn next_free_ip(&self, s: &Subnet, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        self.profile
            .addressing
            .usable(s.cidr)
            .find(|ip| !taken.contains(ip) && !self.private_ips.contains_key(&ip_key(s.vpc, *ip)))
    }

    /// Is `ip` one of interface `e`'s private addresses, primary or secondary?
    pub fn holds_private_ip(&self, e: u32, ip: Ipv4Addr) -> bool {
        let eni = &self.enis[e as usize];
        eni.ip == ip || eni.secondary_ips.contains(&ip)
    }

    /// Gives a network interface an elastic IP, replaces it, or (`None`) releases it; checked
    /// as at creation (an address nothing else uses, an internet gateway on the VPC).
    pub fn set_eni_elastic_ip(
        &mut self,
        eni: u32,
        eip: Option<Ipv4Addr>,
    ) -> Result<(), ModelError> {
        let e = self.eni(eni)?;
        let (vpc, old) = (e.vpc, e.eip);
        if eip == old {
            return Ok(());
        }
        if let Some(new) = eip {
            self.check_elastic_ip(vpc, new)?;
        }
        if let Some(old) = old
            && self.public_ips.get(&old) == Some(&Endpoint::Eni(eni))
        {
            self.public_ips.remove(&old);
        }
        if let Some(new) = eip {
            self.public_ips.insert(new, Endpoint::Eni(eni));
        }
        self.enis[eni as usize].eip = eip;
        Ok(())
    }

    /// Replaces the secondary private IPs of a network interface (AWS
    /// `AssignPrivateIpAddresses` / `UnassignPrivateIpAddresses`), checked as at creation; the
    /// addresses it already holds stay valid. A cloud device's interface cannot be changed.
    /// An address given up is free at once: packets to it find no host, and the connections
    /// tracked with it time out as their entries do. Security-group rules that name the
    /// interface's groups follow its addresses.
    pub fn set_eni_secondary_ips(
        &mut self,
        eni: u32,
        ips: Vec<Ipv4Addr>,
    ) -> Result<(), ModelError> {
        let e = self.changeable_eni(eni, "secondary_private_ips")?;
        let (vpc, primary, held) = (e.vpc, e.ip, e.secondary_ips.clone());
        let s = self.subnets[e.subnet as usize].clone();
        if let Some(i) = ips.iter().position(|&x| x == primary) {
            return Err(ModelError::invalid(
                format!("secondary_private_ips[{i}]"),
                format!("{primary} is the interface's primary address"),
            ));
        }
        self.check_secondary_ips_of(&s, &ips, &held)?;
        for ip in &held {
            self.private_ips.remove(&ip_key(vpc, *ip));
        }
        for ip in &ips {
            self.private_ips.insert(ip_key(vpc, *ip), eni);
        }
        self.enis[eni as usize].secondary_ips = ips;
        self.recompile_vpc(vpc);
        Ok(())
    }

    /// Sets the connection-tracking timeouts of a network interface (aws
    /// ModifyNetworkInterfaceAttribute, "Idle connection tracking timeout"), checked as at
    /// creation; fields left unset take the instance type's or the profile's default. A cloud
    /// device's interface cannot be changed ("You can't change the attributes of a
    /// requester-managed network interface"). Tracked connections keep the expiry their last
    /// packet gave them, and each packet from then on uses the new timeouts (AWS does not say
    /// what a change does to existing connections).
    pub fn set_eni_connection_tracking(
        &mut self,
        eni: u32,
        tracking: ConnectionTracking,
    ) -> Result<(), ModelError> {
        let e = self.changeable_eni(eni, "connection_tracking")?;
        let timeouts = self.timeouts_for(e.instance_type.as_deref(), &tracking)?;
        let e = &mut self.enis[eni as usize];
        e.connection_tracking = tracking;
        e.timeouts = timeouts;
        Ok(())
    }

    /// Live interface `eni`, if a user may change its `field`: a cloud device's interface
    /// (requester-managed) refuses every change.
    fn changeable_eni(&self, eni: u32, field: &str) -> Result<&Eni, ModelError> {
        let e = self.eni(eni)?;
        if e.requester_managed {
            return Err(ModelError::precondition(
                field,
                "a cloud device's interface (requester-managed) cannot be changed",
            ));
        }
        Ok(e)
    }

    /// The idle timeouts an interface of `instance_type` gets with `tracking` set: out of range
    /// is InvalidArgument; set on a cloud without the setting, FailedPrecondition.
    fn timeouts_for(
        &self,
        instance_type: Option<&str>,
        tracking: &ConnectionTracking,
    ) -> Result<crate::profile::Timeouts, ModelError> {
        self.profile
            .eni_timeouts(instance_type, tracking)
            .map_err(|(field, m)| match self.profile.eni_timeouts {
                Some(_) => ModelError::invalid(field, m),
                None => ModelError::precondition(field, m),
            })
    }

    /// Deletes a network interface, releasing its private address and elastic IP for reuse.
    /// Refused while flow logs are scoped to it.
    ///
    /// The flow-log windows that ended by `now` are closed first, so the interface is counted
    /// in them (NODATA included). Its connections are dropped: their counters join the open
    /// windows of the flow logs that counted them, so traffic it had before the delete is
    /// still recorded when those windows close; it gets no NODATA for that last window.
    /// Connections that other interfaces (and huawei's ACLs) track with its address stay until
    /// they time out: a new interface given the address meanwhile matches them, as in a cloud.
    pub fn delete_eni(&mut self, e: u32, now: Time) -> Result<(), ModelError> {
        let eni = self.eni(e)?;
        if eni.requester_managed {
            // A cloud device's interface goes with its device.
            let owner = self
                .nats
                .iter()
                .find(|n| !n.deleted && n.eni == e)
                .map(|n| (format!("NAT gateway {}", n.id), n.id.clone()))
                .or_else(|| {
                    self.routers
                        .attachments
                        .iter()
                        .find(|a| !a.deleted && a.enis.contains(&e))
                        .map(|a| (format!("router attachment {}", a.id), a.id.clone()))
                });
            if let Some((what, id)) = owner {
                return Err(ModelError::precondition(
                    "name",
                    format!(
                        "network interface `{}` belongs to {what} and goes with it: delete that instead",
                        eni.name
                    ),
                )
                .with_dependents(vec![id]));
            }
        }
        self.delete_eni_managed(e, now)
    }

    /// Deletes an interface, a cloud device's included (its device is going).
    pub(super) fn delete_eni_managed(&mut self, e: u32, now: Time) -> Result<(), ModelError> {
        let eni = self.eni(e)?;
        let deps: Vec<(Kind, String)> = self.logs_scoped_to(Scope::Eni(e)).collect();
        if !deps.is_empty() {
            return Err(in_use(format!("network interface `{}`", eni.name), deps));
        }
        let (vpc, eip, node) = (eni.vpc, eni.eip, eni.node);
        let ips: Vec<Ipv4Addr> = std::iter::once(eni.ip)
            .chain(eni.secondary_ips.iter().copied())
            .collect();
        self.advance(now);
        for ip in ips {
            if self.private_ips.get(&ip_key(vpc, ip)) == Some(&e) {
                self.private_ips.remove(&ip_key(vpc, ip));
            }
        }
        if let Some(eip) = eip
            && self.public_ips.get(&eip) == Some(&Endpoint::Eni(e))
        {
            self.public_ips.remove(&eip);
        }
        self.graph.remove_node(node);
        self.bury(Kind::Eni, e);
        // Its own connections go with it (their counters to the flow logs' open windows).
        // Those other interfaces and ACLs track with its address time out as a cloud's would.
        self.conntrack.purge(Zone::Eni(e), |_| true);
        self.settle_carried();
        // Groups referring to its groups no longer include its address.
        self.recompile_vpc(vpc);
        self.eni_logs[e as usize].clear();
        Ok(())
    }

    pub fn create_external_host(
        &mut self,
        name: &str,
        ip: Ipv4Addr,
        host: Host,
    ) -> Result<u32, ModelError> {
        self.create_external_host_with_id(name, None, ip, host)
    }

    /// [`World::create_external_host`] with the ID given (`None`: `host-N`, N its number).
    pub fn create_external_host_with_id(
        &mut self,
        name: &str,
        id: Option<String>,
        ip: Ipv4Addr,
        host: Host,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        if self.public_ips.contains_key(&ip) {
            return Err(ModelError::exists(
                "ip",
                format!("{ip} is already in use as a public address"),
            ));
        }
        let x = self.push_external(name, id, ip, host, None)?;
        self.public_ips.insert(ip, Endpoint::External(x));
        Ok(x)
    }

    /// Adds an external host (on the internet, or behind `site`) once its address is checked:
    /// refuses a name another live host has and an ID in use; otherwise its ID is `host-N`
    /// (N its number; `host-N-2`… when a given ID took that), and its node joins the internet
    /// or the site's gateway in the topology graph.
    pub(super) fn push_external(
        &mut self,
        name: &str,
        id: Option<String>,
        ip: Ipv4Addr,
        host: Host,
        site: Option<Site>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        if live(&self.externals).any(|(_, h)| h.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("an external host named `{name}` already exists"),
            ));
        }
        self.check_id(Kind::ExternalHost, id.as_deref())?;
        let x = self.externals.len() as u32;
        // Not drawn from the generator: adding a host never renames the cloud's resources.
        let id = id.unwrap_or_else(|| {
            let mut id = format!("host-{}", x + 1);
            let mut n = 1;
            while self.ids[Kind::ExternalHost as usize].contains_key(&id) {
                n += 1;
                id = format!("host-{}-{n}", x + 1);
            }
            id
        });
        self.ids[Kind::ExternalHost as usize].insert(id.clone(), x);
        let node = self.graph.add_node(Node::External(x));
        let joins = match site {
            None => Some(self.internet),
            Some(Site::Attachment(a)) => {
                let router = self.routers.attachments[a as usize].router;
                self.router_nodes.get(&router).copied()
            }
            Some(Site::VpnGateway(g)) => Some(self.vpn_gateways[g as usize].node),
        };
        if let Some(n) = joins {
            self.graph.add_edge(node, n, ());
        }
        self.externals.push(ExternalHost {
            id,
            name: name.into(),
            ip,
            host,
            deleted: false,
            site,
            node,
        });
        Ok(x)
    }

    /// Deletes a host on the internet, releasing its address.
    pub fn delete_external_host(&mut self, x: u32) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::ExternalHost, x)?;
        let (ip, node) = (
            self.externals[x as usize].ip,
            self.externals[x as usize].node,
        );
        if self.public_ips.get(&ip) == Some(&Endpoint::External(x)) {
            self.public_ips.remove(&ip);
        }
        self.graph.remove_node(node);
        self.bury(Kind::ExternalHost, x);
        Ok(())
    }
}
