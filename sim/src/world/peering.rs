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
        Ok(())
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
