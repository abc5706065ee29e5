//! VPC peering connections as resources (policy.md §6.1; docs/decisions/vpc-peering.md): two
//! VPCs with no overlapping block, of one region or (where the profile allows) two, joined so
//! that routes of either may send the other's addresses through the connection. The
//! per-packet side is `World::through_peering` (`pipeline`).

use super::lifecycle::in_use;
use super::*;
use crate::profile::OrphanRoutes;

impl World {
    /// Peers VPC `requester` with VPC `accepter` (active at once: one account accepts its own
    /// request). Refused: a VPC peered with itself (`accepter_vpc`), blocks that overlap
    /// (`accepter_vpc`, AWS: "You cannot create a VPC peering connection between VPCs that
    /// have matching or overlapping IPv4 CIDR blocks"), a second live connection between the
    /// same two VPCs (`accepter_vpc`, ALREADY_EXISTS), VPCs of two regions where the cloud
    /// peers within one, and a VPC over the profile's count of connections.
    pub fn create_peering(
        &mut self,
        name: &str,
        id: Option<String>,
        requester: u32,
        accepter: u32,
    ) -> Result<u32, ModelError> {
        check_name(name)?;
        fn named(field: &'static str) -> impl Fn(ModelError) -> ModelError {
            move |e| ModelError {
                field: field.into(),
                ..e
            }
        }
        let a = self.vpc(requester).map_err(named("requester_vpc"))?;
        let b = self.vpc(accepter).map_err(named("accepter_vpc"))?;
        if requester == accepter {
            return Err(ModelError::invalid(
                "accepter_vpc",
                "a VPC cannot be peered with itself",
            ));
        }
        if a.cidr.overlaps(b.cidr) {
            return Err(ModelError::invalid(
                "accepter_vpc",
                format!(
                    "the VPCs' blocks overlap ({} and {}): peered VPCs need distinct addresses",
                    a.cidr, b.cidr
                ),
            ));
        }
        let profile = self.profile.vpc_peering;
        if a.region != b.region && !profile.across_regions {
            return Err(ModelError::invalid(
                "accepter_vpc",
                format!(
                    "{} peers VPCs of one region only (the VPCs are in {} and {})",
                    self.profile.provider, a.region, b.region
                ),
            ));
        }
        if let Some(p) = live(&self.peerings).find(|(_, p)| p.other(requester) == Some(accepter)) {
            return Err(ModelError::exists(
                "accepter_vpc",
                format!("VPC peering connection {} already joins these VPCs", p.1.id),
            ));
        }
        if profile.distinct_peers {
            self.check_distinct_peers(requester, accepter)?;
        }
        if live(&self.peerings).any(|(_, p)| p.name == name) {
            return Err(ModelError::exists(
                "name",
                format!("a VPC peering connection named `{name}` already exists"),
            ));
        }
        if let Some(max) = profile.per_vpc {
            for v in [requester, accepter] {
                let n = live(&self.peerings)
                    .filter(|(_, p)| p.vpcs.contains(&v))
                    .count();
                if n >= max as usize {
                    return Err(ModelError::exhausted(
                        "peerings_per_vpc",
                        format!(
                            "VPC {} has {n} active peering connections, the most it may have",
                            self.vpcs[v as usize].id
                        ),
                    ));
                }
            }
        }
        self.check_id(Kind::VpcPeering, id.as_deref())?;
        let p = self.peerings.len() as u32;
        let inter_region =
            self.vpcs[requester as usize].region != self.vpcs[accepter as usize].region;
        let id = self.new_id(Kind::VpcPeering, p, id, "pcx");
        self.peerings.push(Peering {
            id,
            name: name.to_string(),
            vpcs: [requester, accepter],
            inter_region,
            deleted: false,
        });
        // A stale rule referencing a group of the other VPC matches again (`reference_holds`).
        self.recompile_vpc(requester);
        self.recompile_vpc(accepter);
        Ok(p)
    }

    /// Deletes a peering connection. Routes to it are what the profile says
    /// (`vpc_peering.deleted_routes`): on aws they stay, as blackholes; elsewhere the deletion
    /// is refused while they exist.
    pub fn delete_peering(&mut self, p: u32) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::VpcPeering, p)?;
        if self.profile.vpc_peering.deleted_routes != OrphanRoutes::Blackhole {
            let deps: Vec<(Kind, String)> = self
                .tables_routing_to(Target::Peering(p))
                .map(|id| (Kind::RouteTable, id))
                .collect();
            if !deps.is_empty() {
                let id = &self.peerings[p as usize].id;
                return Err(in_use(format!("VPC peering connection {id}"), deps));
            }
        }
        self.bury(Kind::VpcPeering, p);
        // Rules referencing the other VPC's groups go stale: they match nothing (aws, EC2
        // DescribeStaleSecurityGroups; `reference_holds`).
        let [a, b] = self.peerings[p as usize].vpcs;
        self.recompile_vpc(a);
        self.recompile_vpc(b);
        Ok(())
    }

    /// The live connection joining VPCs `a` and `b`, if any (one per pair).
    pub(super) fn peering_between(&self, a: u32, b: u32) -> Option<u32> {
        live(&self.peerings)
            .find(|(_, p)| p.other(a) == Some(b))
            .map(|(i, _)| i)
    }

    /// Where a VPC's peers must not overlap each other (`PeeringProfile::distinct_peers`,
    /// tencent: "the CIDR blocks of multiple peer networks of one VPC cannot overlap"): the
    /// accepter may not overlap a peer the requester has (`accepter_vpc`), nor the requester a
    /// peer the accepter has (`requester_vpc`). The refusal names the connection to that peer.
    fn check_distinct_peers(&self, requester: u32, accepter: u32) -> Result<(), ModelError> {
        for (vpc, new_peer, field) in [
            (requester, accepter, "accepter_vpc"),
            (accepter, requester, "requester_vpc"),
        ] {
            let cidr = self.vpcs[new_peer as usize].cidr;
            let clash = live(&self.peerings).find_map(|(_, p)| {
                let peer = &self.vpcs[p.other(vpc)? as usize];
                peer.cidr.overlaps(cidr).then_some((p, peer))
            });
            if let Some((p, peer)) = clash {
                let (v, new) = (&self.vpcs[vpc as usize], &self.vpcs[new_peer as usize]);
                return Err(ModelError::invalid(
                    field,
                    format!(
                        "VPC {} is already peered with VPC {} ({}) by VPC peering connection \
                         {}, which overlaps VPC {}'s block {}: on {} a VPC's peers may not \
                         overlap each other",
                        v.name,
                        peer.name,
                        peer.cidr,
                        p.id,
                        new.name,
                        new.cidr,
                        self.profile.provider
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The live peering connections a VPC is one end of (they keep it from being deleted).
    pub(super) fn peerings_of(&self, vpc: u32) -> impl Iterator<Item = (Kind, String)> + '_ {
        live(&self.peerings)
            .filter(move |(_, p)| p.vpcs.contains(&vpc))
            .map(|(_, p)| (Kind::VpcPeering, p.id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Direction;
    use crate::addr::Ipv4Net;
    use crate::policy::sg::{self, Remote};
    use crate::profile::{Profile, Provider};
    use crate::time::Time;

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::parse_strict(s).unwrap()
    }

    /// Two VPCs of `provider`: `app` with a host in group `app-hosts`, `data` with a db in
    /// group `data-db` (no rules yet).
    fn two_vpcs(provider: Provider) -> (World, [u32; 2], [u32; 2], u32) {
        let mut w = World::new(Config::new(Profile::of(provider)));
        let app = w.create_vpc("app", None, net("10.0.0.0/16")).unwrap();
        let data = w.create_vpc("data", None, net("10.1.0.0/16")).unwrap();
        let mut hosts = [0; 2];
        let mut groups = [0; 2];
        for (i, (v, cidr, group)) in [
            (app, "10.0.1.0/24", "app-hosts"),
            (data, "10.1.1.0/24", "data-db"),
        ]
        .into_iter()
        .enumerate()
        {
            let s = w.create_subnet("a", None, v, net(cidr), None).unwrap();
            groups[i] = w.create_security_group(group, None, v, Vec::new()).unwrap();
            hosts[i] = w
                .create_eni(
                    Time(0),
                    EniSpec {
                        name: format!("host-{i}"),
                        subnet: s,
                        security_groups: vec![groups[i]],
                        ..Default::default()
                    },
                )
                .unwrap();
        }
        (w, [app, data], groups, hosts[1])
    }

    fn from_app_hosts(g: u32) -> Vec<sg::Rule> {
        vec![sg::Rule {
            remote: Remote::Group(g),
            ..sg::Rule::allow_all(Direction::Ingress)
        }]
    }

    /// The addresses db's first ingress rule (the reference) matches.
    fn referenced(w: &World, db: u32) -> Vec<Ipv4Net> {
        w.enis[db as usize].rules[Direction::Ingress as usize].rules()[0]
            .nets
            .clone()
    }

    /// aws (VPC Peering Guide, "Update your security groups to reference peer security
    /// groups"): a rule may name a group of a VPC peered in the region; it matches the group's
    /// members, follows them as they change, goes stale (matches nothing) when the connection
    /// is deleted and holds again with a new one.
    #[test]
    fn a_rule_references_a_peer_vpcs_group_while_peered() {
        let (mut w, [app, data], [app_hosts, data_db], db) = two_vpcs(Provider::Aws);
        let e = w
            .set_security_group_rules(Time(0), data_db, from_app_hosts(app_hosts))
            .unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (ErrorKind::NotFound, "rules[0].remote")
        );
        assert_eq!(
            e.message,
            "security group app-hosts is in VPC app, which is not peered with VPC data: a rule \
             references a group of its own VPC or of a peered VPC"
        );
        let p = w.create_peering("app-data", None, app, data).unwrap();
        w.set_security_group_rules(Time(0), data_db, from_app_hosts(app_hosts))
            .unwrap();
        assert_eq!(referenced(&w, db), vec![net("10.0.1.4/32")]);
        // A second member of app-hosts joins: data's lists follow.
        let s = w.enis[0].subnet;
        w.create_eni(
            Time(0),
            EniSpec {
                name: "host-2".into(),
                subnet: s,
                security_groups: vec![app_hosts],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            referenced(&w, db),
            vec![net("10.0.1.4/32"), net("10.0.1.5/32")]
        );
        // Stale once the connection goes; the rule stays, and may be sent back unchanged.
        w.delete_peering(p).unwrap();
        assert_eq!(referenced(&w, db), Vec::<Ipv4Net>::new());
        w.set_security_group_rules(Time(0), data_db, from_app_hosts(app_hosts))
            .unwrap();
        w.create_peering("again", None, data, app).unwrap();
        assert_eq!(referenced(&w, db).len(), 2);
    }

    /// Across regions aws refuses the reference ("use the CIDR block of the peer VPC"); the
    /// other clouds document none.
    #[test]
    fn a_peer_group_reference_is_refused_across_regions_and_elsewhere() {
        let (mut w, [app, data], [app_hosts, data_db], _) = two_vpcs(Provider::Aws);
        w.vpcs[app as usize].region = "us-west-2".into();
        w.create_peering("app-data", None, app, data).unwrap();
        let e = w
            .set_security_group_rules(Time(0), data_db, from_app_hosts(app_hosts))
            .unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (ErrorKind::NotFound, "rules[0].remote")
        );
        assert!(e.message.contains("peered across regions"), "{e}");
        for provider in [Provider::Alibaba, Provider::Huawei, Provider::Tencent] {
            let (mut w, [app, data], [app_hosts, data_db], _) = two_vpcs(provider);
            w.create_peering("app-data", None, app, data).unwrap();
            let e = w
                .set_security_group_rules(Time(0), data_db, from_app_hosts(app_hosts))
                .unwrap_err();
            assert_eq!(
                (e.kind, e.message),
                (
                    ErrorKind::NotFound,
                    format!(
                        "security group app-hosts is in VPC app, not this one: {provider} rules \
                         reference groups of their own VPC"
                    )
                ),
            );
        }
    }
}
