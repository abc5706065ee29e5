//! Security groups and network ACLs: created, their rules and entries set and checked,
//! associated, deleted; and what a change does: each ENI's groups compiled again into
//! first-match lists (`recompile_vpc`) and its tracked connections treated as the
//! profile says (D8).

use std::sync::Arc;

use super::lifecycle::{in_use, part_of_vpc};
use super::model::{Map, map};
use super::*;
use crate::Direction;
use crate::addr::Ipv4Net;
use crate::conntrack::Zone;
use crate::packet::proto;
use crate::policy::classify::{Classifier, Compiled};
use crate::policy::sg::GroupKind;
use crate::policy::sg::Remote;
use crate::policy::{PacketView, PortRange, ProtoMatch, RuleAction, acl, sg};
use crate::profile::{Profile, RuleChange, SgOrder};
use crate::time::Time;
use crate::verdict::By;

impl World {
    /// Creates a basic security group ([`World::create_security_group_of`]).
    pub fn create_security_group(
        &mut self,
        name: &str,
        id: Option<String>,
        vpc: u32,
        rules: Vec<sg::Rule>,
    ) -> Result<u32, ModelError> {
        self.create_security_group_of(GroupKind::Basic, name, id, vpc, rules)
    }

    /// Creates a security group of `kind` (enterprise groups where the cloud has them).
    pub fn create_security_group_of(
        &mut self,
        kind: GroupKind,
        name: &str,
        id: Option<String>,
        vpc: u32,
        rules: Vec<sg::Rule>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        self.vpc(vpc)?;
        if kind == GroupKind::Enterprise && !self.profile.sg_enterprise_groups {
            return Err(ModelError::invalid(
                "type",
                format!(
                    "{} has no enterprise security groups (alibaba has): leave the type basic",
                    self.profile.provider
                ),
            ));
        }
        if live(&self.security_groups).any(|(_, g)| g.vpc == vpc && g.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a security group named `{name}` already exists in this VPC"),
            ));
        }
        self.check_id(Kind::SecurityGroup, id.as_deref())?;
        // The rules may refer to the new group itself.
        let g = self.security_groups.len() as u32;
        self.check_rules_of(vpc, g, kind, &rules, &[])?;
        let id = self.new_id(Kind::SecurityGroup, g, id, "sg");
        self.security_groups.push(SecurityGroup {
            id,
            name: name.into(),
            vpc,
            kind,
            rules,
            past: Vec::new(),
            deleted: false,
        });
        Ok(g)
    }

    /// Replaces a security group's rules. Connections already tracked are treated as the
    /// profile says (D8).
    pub fn set_security_group_rules(
        &mut self,
        now: Time,
        group: u32,
        rules: Vec<sg::Rule>,
    ) -> Result<(), ModelError> {
        self.check_security_group_rules(group, &rules)?;
        let g = &mut self.security_groups[group as usize];
        let old = std::mem::replace(&mut g.rules, rules);
        g.past.push(old);
        let vpc = g.vpc;
        self.recompile_vpc(vpc);
        let members: Vec<u32> = live(&self.enis)
            .filter(|(_, e)| e.security_groups.contains(&group))
            .map(|(i, _)| i)
            .collect();
        for e in members {
            self.apply_rule_change(now, e);
        }
        Ok(())
    }

    /// Checks rules for a group without applying them (the same checks as applying them).
    pub fn check_security_group_rules(
        &self,
        group: u32,
        rules: &[sg::Rule],
    ) -> Result<(), ModelError> {
        let g = self.security_group(group)?;
        self.check_rules_of(g.vpc, group, g.kind, rules, &g.rules)
    }

    /// Rules for group `group` of `vpc` (which may not exist yet: a group being created). A
    /// rule the group already has (`kept`) keeps its reference even if that has gone stale
    /// since (`reference_holds`): a client sending the rules back unchanged is not refused.
    fn check_rules_of(
        &self,
        vpc: u32,
        group: u32,
        kind: GroupKind,
        rules: &[sg::Rule],
        kept: &[sg::Rule],
    ) -> Result<(), ModelError> {
        for (i, r) in rules.iter().enumerate() {
            let at = |f: &str| format!("rules[{i}].{f}");
            // policy.md §3.1: "An advanced SG cannot reference other SGs."
            if kind == GroupKind::Enterprise && matches!(r.remote, Remote::Group(_)) {
                return Err(ModelError::invalid(
                    at("remote"),
                    "an enterprise security group cannot reference security groups: use a CIDR",
                ));
            }
            if r.action == RuleAction::Deny && !self.profile.sg_deny_rules {
                return Err(ModelError::invalid(
                    at("action"),
                    format!(
                        "{} security groups only have allow rules",
                        self.profile.provider
                    ),
                ));
            }
            if let Some((lo, hi)) = self.profile.sg_priority
                && !(lo..=hi).contains(&r.priority)
            {
                return Err(ModelError::invalid(
                    at("priority"),
                    format!("priority {} is outside {lo}-{hi}", r.priority),
                ));
            }
            if !r.ports.is_all() && !r.protocol.has_ports() {
                return Err(ModelError::invalid(
                    at("ports"),
                    format!("ports apply to TCP and UDP only, not {}", r.protocol),
                ));
            }
            // aws `InvalidPermission.Duplicate` ("the specified rule already exists"), alibaba
            // `InvalidPermission.Duplicate`: a rule that matches and acts as another of the
            // same request (its description aside; its priority too where there is none).
            if let Some(j) = rules[..i].iter().position(|o| {
                o.direction == r.direction
                    && o.action == r.action
                    && o.protocol == r.protocol
                    && o.ports == r.ports
                    && o.remote == r.remote
                    && (self.profile.sg_priority.is_none() || o.priority == r.priority)
            }) {
                return Err(ModelError::invalid(
                    format!("rules[{i}]"),
                    format!("this rule duplicates rules[{j}]: remove one of them"),
                ));
            }
            if let Remote::Group(g) = r.remote
                && g != group
                && !kept.contains(r)
            {
                self.check_referenced_group(vpc, g)
                    .map_err(|e| e.within(&format!("rules[{i}]")))?;
            }
        }
        Ok(())
    }

    /// A group a rule of `vpc` references: one of the VPC's own, or where the profile allows
    /// it (`PeeringProfile::peer_group_rules`, aws: VPC Peering Guide, "Update your security
    /// groups to reference peer security groups") one of a VPC peered with it in its region by
    /// an active connection. Refusals name `remote` and are NOT_FOUND, as EC2's are
    /// (`InvalidGroup.NotFound`: the group "does not exist in VPC …" for a group it cannot
    /// reference).
    fn check_referenced_group(&self, vpc: u32, g: u32) -> Result<(), ModelError> {
        if !self.is_live(Kind::SecurityGroup, g) {
            return Err(ModelError::not_found(
                "remote",
                "the referenced security group does not exist",
            ));
        }
        let other = self.security_groups[g as usize].vpc;
        if other == vpc {
            return Ok(());
        }
        let (here, there) = (&self.vpcs[vpc as usize], &self.vpcs[other as usize]);
        let group = &self.security_groups[g as usize].name;
        if !self.profile.vpc_peering.peer_group_rules {
            return Err(ModelError::not_found(
                "remote",
                format!(
                    "security group {group} is in VPC {}, not this one: {} rules reference \
                     groups of their own VPC",
                    there.name, self.profile.provider
                ),
            ));
        }
        match self.peering_between(vpc, other) {
            None => Err(ModelError::not_found(
                "remote",
                format!(
                    "security group {group} is in VPC {}, which is not peered with VPC {}: a \
                     rule references a group of its own VPC or of a peered VPC",
                    there.name, here.name
                ),
            )),
            // "You can't reference the security group of a peer VPC that's in a different
            // Region. Instead, use the CIDR block of the peer VPC."
            Some(p) if self.peerings[p as usize].inter_region => Err(ModelError::not_found(
                "remote",
                format!(
                    "security group {group} is in VPC {} of region {}, peered across regions \
                     by {}: reference the peer VPC's block {} instead",
                    there.name, there.region, self.peerings[p as usize].id, there.cidr
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Whether a rule of `vpc` referencing group `g` matches its members: always for a group
    /// of the VPC itself; for a peer VPC's group while a live connection joins the two VPCs in
    /// one region. Otherwise the rule is "stale" (AWS: rules "reference a security group in a
    /// peer VPC for which the VPC peering connection has been deleted", EC2
    /// DescribeStaleSecurityGroups) and matches nothing; a new connection between the two
    /// VPCs makes it match again, the reference being to the group itself.
    fn reference_holds(&self, vpc: u32, g: u32) -> bool {
        let other = self.security_groups[g as usize].vpc;
        other == vpc
            || self
                .peering_between(vpc, other)
                .is_some_and(|p| !self.peerings[p as usize].inter_region)
    }

    /// Replaces the groups of an ENI (in order).
    pub fn set_eni_security_groups(
        &mut self,
        now: Time,
        eni: u32,
        groups: Vec<u32>,
    ) -> Result<(), ModelError> {
        let vpc = self.eni(eni)?.vpc;
        self.check_groups_of_eni(vpc, &groups)?;
        self.enis[eni as usize].security_groups = groups;
        self.recompile_vpc(vpc);
        self.apply_rule_change(now, eni);
        Ok(())
    }

    /// Deletes a security group. Refused for a VPC's default group (it goes with the VPC),
    /// and while network interfaces use it or other groups' rules refer to it.
    pub fn delete_security_group(&mut self, g: u32) -> Result<(), ModelError> {
        let group = self.security_group(g)?;
        let vpc = &self.vpcs[group.vpc as usize];
        if vpc.default_sg == g {
            return Err(part_of_vpc(
                format!("security group `{}` is the default group: it", group.name),
                vpc,
            ));
        }
        let mut deps: Vec<(Kind, String)> = live(&self.enis)
            .filter(|(_, e)| e.security_groups.contains(&g))
            .map(|(_, e)| (Kind::Eni, e.id.clone()))
            .collect();
        deps.extend(
            live(&self.security_groups)
                .filter(|&(i, other)| {
                    i != g && other.rules.iter().any(|r| r.remote == Remote::Group(g))
                })
                .map(|(_, other)| (Kind::SecurityGroup, other.id.clone())),
        );
        if !deps.is_empty() {
            return Err(in_use(format!("security group `{}`", group.name), deps));
        }
        self.bury(Kind::SecurityGroup, g);
        Ok(())
    }

    pub fn create_network_acl(
        &mut self,
        name: &str,
        id: Option<String>,
        vpc: u32,
        entries: Vec<acl::Entry>,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        self.vpc(vpc)?;
        if live(&self.acls).any(|(_, a)| a.vpc == vpc && a.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a network ACL named `{name}` already exists in this VPC"),
            ));
        }
        self.check_id(Kind::NetworkAcl, id.as_deref())?;
        check_acl_entries(&self.profile, &entries)?;
        let a = self.acls.len() as u32;
        let id = self.new_id(Kind::NetworkAcl, a, id, "acl");
        self.acls.push(NetworkAcl {
            id,
            name: name.into(),
            vpc,
            entries: Vec::new(),
            past: Vec::new(),
            deleted: false,
            rules: Default::default(),
        });
        self.set_acl_entries(a, entries)?;
        Ok(a)
    }

    /// Replaces an ACL's entries. Stateless ACLs judge the next packet by the new entries;
    /// huawei's tracked ACLs keep existing connections (D8).
    pub fn set_acl_entries(
        &mut self,
        acl: u32,
        mut entries: Vec<acl::Entry>,
    ) -> Result<(), ModelError> {
        check_acl_entries(&self.profile, &entries)?;
        self.acl(acl)?;
        let a = &mut self.acls[acl as usize];
        entries.sort_by_key(|e| e.number);
        // The new entries become the revision after the current one.
        let rev = a.past.len() as u32 + 1;
        let compile = |dir: Direction| {
            Classifier::new(
                entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.direction == dir)
                    .map(|(i, e)| Compiled {
                        protocol: e.protocol,
                        dports: e.ports,
                        sports: e.source_ports,
                        nets: vec![e.cidr],
                        action: e.action,
                        origin: By::AclRule {
                            acl,
                            rev,
                            rule: i as u32,
                        },
                    })
                    .collect(),
            )
        };
        a.rules = [compile(Direction::Ingress), compile(Direction::Egress)];
        let old = std::mem::replace(&mut a.entries, entries);
        a.past.push(old);
        Ok(())
    }

    /// Associates an ACL with a subnet, replacing the previous one (policy.md §2). Takes effect
    /// for the next packet.
    pub fn associate_acl(&mut self, subnet: u32, acl: u32) -> Result<(), ModelError> {
        let s = self.subnet(subnet)?;
        let a = self.acl(acl)?;
        if a.vpc != s.vpc {
            return Err(ModelError::invalid(
                "acl",
                "the network ACL belongs to another VPC",
            ));
        }
        self.subnets[subnet as usize].acl = Some(acl);
        Ok(())
    }

    /// Returns a subnet to its VPC's default ACL (aws), or to no ACL (the other clouds).
    /// Takes effect for the next packet.
    pub fn disassociate_acl(&mut self, subnet: u32) -> Result<(), ModelError> {
        let vpc = self.subnet(subnet)?.vpc;
        self.subnets[subnet as usize].acl = self.vpcs[vpc as usize].default_acl;
        Ok(())
    }

    /// Deletes a network ACL. Refused for a VPC's default ACL, and while subnets are
    /// associated with it.
    pub fn delete_network_acl(&mut self, a: u32) -> Result<(), ModelError> {
        let acl = self.acl(a)?;
        let vpc = &self.vpcs[acl.vpc as usize];
        if vpc.default_acl == Some(a) {
            return Err(part_of_vpc(
                format!("network ACL `{}` is the default ACL: it", acl.name),
                vpc,
            ));
        }
        let deps: Vec<(Kind, String)> = live(&self.subnets)
            .filter(|(_, s)| s.acl == Some(a))
            .map(|(_, s)| (Kind::Subnet, s.id.clone()))
            .collect();
        if !deps.is_empty() {
            return Err(in_use(format!("network ACL `{}`", acl.name), deps));
        }
        self.bury(Kind::NetworkAcl, a);
        Ok(())
    }

    fn apply_rule_change(&mut self, _now: Time, eni: u32) {
        let zone = Zone::Eni(eni);
        match self.profile.rule_change {
            RuleChange::KeepTracked => {}
            RuleChange::ClearInbound => {
                // Cleared, not forgotten: their next segments are rejected until the client
                // opens a new connection (docs/decisions/huawei-rule-change.md).
                self.conntrack
                    .clear(zone, |c| c.opened == Direction::Ingress);
            }
            RuleChange::CutIfDenied => {
                let rules = &self.enis[eni as usize].rules;
                self.conntrack.purge(zone, |c| {
                    let view = PacketView {
                        protocol: c.protocol,
                        sport: c.opener.1,
                        dport: c.other.1,
                        icmp_type: (c.protocol == proto::ICMP)
                            .then_some(crate::packet::icmp::ECHO_REQUEST),
                        icmp_code: (c.protocol == proto::ICMP).then_some(0),
                    };
                    let (remote, set) = match c.opened {
                        Direction::Ingress => (c.opener.0, &rules[0]),
                        Direction::Egress => (c.other.0, &rules[1]),
                    };
                    set.first_match(remote, &view)
                        .is_none_or(|r| r.action != RuleAction::Allow)
                });
            }
        }
        // Connections cut leave with their flow-log counters.
        self.settle_carried();
    }

    /// Recompiles every ENI of a VPC: group references and memberships may have changed.
    /// A classifier depends on nothing but its rule list, so an ENI whose list did not change
    /// keeps its classifier, and ENIs with equal lists (the same groups) share one: each
    /// distinct list is compiled once.
    pub(super) fn recompile_vpc(&mut self, vpc: u32) {
        self.recompile_one_vpc(vpc);
        // Rules of peered VPCs may reference this VPC's groups (aws, `peer_group_rules`): their
        // members may have changed, so those VPCs' lists are compiled again too.
        if self.peerings.is_empty() {
            return;
        }
        let mut referring: Vec<u32> = live(&self.security_groups)
            .filter(|(_, g)| g.vpc != vpc)
            .filter(|(_, g)| {
                g.rules.iter().any(|r| {
                    matches!(r.remote, Remote::Group(x)
                        if self.security_groups[x as usize].vpc == vpc)
                })
            })
            .map(|(_, g)| g.vpc)
            .collect();
        referring.sort_unstable();
        referring.dedup();
        for v in referring {
            self.recompile_one_vpc(v);
        }
    }

    /// Compiles the first-match lists of one VPC's interfaces ([`World::recompile_vpc`]).
    fn recompile_one_vpc(&mut self, vpc: u32) {
        // The members' addresses of every group, walked once (not once per rule per ENI).
        let mut members: Map<u32, Vec<Ipv4Net>> = map();
        for (_, e) in live(&self.enis) {
            // A group's members are its interfaces' private addresses, secondary ones
            // included ("based on the private IP addresses of the instances", policy.md §1.1).
            for &g in &e.security_groups {
                let m = members.entry(g).or_default();
                m.push(Ipv4Net::host(e.ip));
                m.extend(e.secondary_ips.iter().map(|&x| Ipv4Net::host(x)));
            }
        }
        // ENIs with the same groups in the same order get the same rules: each distinct list
        // of groups is compiled once, so a create in a VPC of n interfaces costs O(n), not O(n²).
        type Rules = ([Arc<Classifier<By>>; 2], [[bool; 2]; 2]);
        let mut by_groups: Map<Vec<u32>, Rules> = map();
        for e in 0..self.enis.len() {
            let eni = &self.enis[e];
            if eni.vpc != vpc || eni.deleted {
                continue;
            }
            let (rules, allows_all_back) = match by_groups.get(&eni.security_groups) {
                Some(done) => done.clone(),
                None => {
                    let rules = [Direction::Ingress, Direction::Egress].map(|dir| {
                        let list = self.sg_rule_list(e as u32, dir, &members);
                        let old = &eni.rules[dir as usize];
                        if old.rules() == list.as_slice() {
                            old.clone()
                        } else {
                            Arc::new(Classifier::new(list))
                        }
                    });
                    let back = |set: &Classifier<By>, p: ProtoMatch| {
                        set.rules().iter().any(|r| {
                            r.action == RuleAction::Allow
                                && (r.protocol == ProtoMatch::Any || r.protocol == p)
                                && r.dports.is_all()
                                && r.nets.contains(&Ipv4Net::ANY)
                        })
                    };
                    let allows_all_back = [
                        [
                            back(&rules[1], ProtoMatch::Tcp),
                            back(&rules[1], ProtoMatch::Udp),
                        ],
                        [
                            back(&rules[0], ProtoMatch::Tcp),
                            back(&rules[0], ProtoMatch::Udp),
                        ],
                    ];
                    let done = (rules, allows_all_back);
                    by_groups.insert(eni.security_groups.clone(), done.clone());
                    done
                }
            };
            let eni = &mut self.enis[e];
            eni.rules = rules;
            eni.allows_all_back = allows_all_back;
        }
    }

    /// The ENI's security groups as one first-match list, ordered as the cloud orders them
    /// (D3), followed by the cloud's implicit rules.
    fn sg_rule_list(
        &self,
        eni: u32,
        dir: Direction,
        members: &Map<u32, Vec<Ipv4Net>>,
    ) -> Vec<Compiled<By>> {
        let e = &self.enis[eni as usize];
        let mut rules: Vec<(u32, u32, &sg::Rule)> = Vec::new();
        for &g in &e.security_groups {
            let group = &self.security_groups[g as usize];
            let mut own: Vec<(u32, u32, &sg::Rule)> = group
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.direction == dir)
                .map(|(i, r)| (g, i as u32, r))
                .collect();
            if self.profile.sg_order == SgOrder::GroupThenPriority {
                own.sort_by_key(|(_, _, r)| (r.priority, r.action == RuleAction::Allow));
            }
            rules.extend(own);
        }
        if self.profile.sg_order == SgOrder::MergedPriority {
            rules.sort_by_key(|(_, _, r)| (r.priority, r.action == RuleAction::Allow));
        }
        let mut compiled: Vec<Compiled<By>> = rules
            .into_iter()
            .map(|(g, i, r)| Compiled {
                protocol: r.protocol,
                dports: r.ports,
                sports: PortRange::ALL,
                nets: match r.remote {
                    Remote::Group(x) if !self.reference_holds(e.vpc, x) => Vec::new(),
                    _ => remote_nets(&r.remote, members),
                },
                action: r.action,
                origin: By::SgRule {
                    sg: g,
                    rev: self.security_groups[g as usize].revision(),
                    rule: i,
                    tracked: true,
                },
            })
            .collect();
        let basic = |g: &u32| self.security_groups[*g as usize].kind == GroupKind::Basic;
        if self.profile.sg_implicit_same_group_ingress && dir == Direction::Ingress {
            for &g in e.security_groups.iter().filter(|g| basic(g)) {
                compiled.push(Compiled {
                    protocol: ProtoMatch::Any,
                    dports: PortRange::ALL,
                    sports: PortRange::ALL,
                    nets: remote_nets(&Remote::Group(g), members),
                    action: RuleAction::Allow,
                    origin: By::SgSameGroup { sg: g },
                });
            }
        }
        if self.profile.sg_implicit_egress_allow_all
            && dir == Direction::Egress
            && e.security_groups.iter().any(basic)
        {
            compiled.push(Compiled {
                protocol: ProtoMatch::Any,
                dports: PortRange::ALL,
                sports: PortRange::ALL,
                nets: vec![Ipv4Net::ANY],
                action: RuleAction::Allow,
                origin: By::SgImplicitEgress,
            });
        }
        compiled
    }
}

/// Checks ACL entries against the cloud's rules (numbers, duplicates, ports).
pub fn check_acl_entries(profile: &Profile, entries: &[acl::Entry]) -> Result<(), ModelError> {
    let (lo, hi) = profile.acl_rule_numbers;
    for (i, e) in entries.iter().enumerate() {
        let at = |f: &str| format!("entries[{i}].{f}");
        if !(lo..=hi).contains(&e.number) {
            return Err(ModelError::invalid(
                at("number"),
                format!("rule number {} is outside {lo}-{hi}", e.number),
            ));
        }
        if entries[..i]
            .iter()
            .any(|o| o.direction == e.direction && o.number == e.number)
        {
            return Err(ModelError::exists(
                at("number"),
                format!("rule number {} is used twice", e.number),
            ));
        }
        if (!e.ports.is_all() || !e.source_ports.is_all()) && !e.protocol.has_ports() {
            return Err(ModelError::invalid(
                at("ports"),
                format!("ports apply to TCP and UDP only, not {}", e.protocol),
            ));
        }
    }
    Ok(())
}

/// A group reference means the primary private IPs of its members (policy.md §1.1), given as
/// `members` (group → addresses, in ENI order).
fn remote_nets(remote: &Remote, members: &Map<u32, Vec<Ipv4Net>>) -> Vec<Ipv4Net> {
    match remote {
        Remote::Cidr(n) => vec![*n],
        Remote::Group(g) => members.get(g).cloned().unwrap_or_default(),
    }
}
