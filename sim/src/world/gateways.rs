//! NAT gateways as resources: created in a subnet with a requester-managed interface (and,
//! for a public gateway, an elastic IP on it, which needs the VPC's internet gateway),
//! deleted once no route targets them. The per-packet side is `World::through_nat` and
//! `World::back_through_nat`; the translation table is `crate::nat`.

use super::*;

/// What a new NAT gateway needs.
#[derive(Clone, Debug, Default)]
pub struct NatGatewaySpec {
    pub name: String,
    pub id: Option<String>,
    /// The (public) subnet its interface sits in.
    pub subnet: u32,
    /// Its elastic IP: traffic to the internet leaves with it. `None`: a private NAT gateway.
    pub eip: Option<Ipv4Addr>,
    /// Its interface's private address (first free one if `None`) and id.
    pub ip: Option<Ipv4Addr>,
    pub eni_id: Option<String>,
}

impl World {
    pub fn create_nat_gateway(
        &mut self,
        now: Time,
        spec: NatGatewaySpec,
    ) -> Result<u32, ModelError> {
        check_name(&spec.name)?;
        let vpc = self.subnet(spec.subnet)?.vpc;
        if live(&self.nats).any(|(_, n)| n.vpc == vpc && n.name == spec.name) {
            return Err(ModelError::exists(
                "name",
                format!(
                    "a NAT gateway named `{}` already exists in this VPC",
                    spec.name
                ),
            ));
        }
        self.check_id(Kind::NatGateway, spec.id.as_deref())?;
        let n = self.nats.len() as u32;
        let eni = self
            .create_eni(
                now,
                EniSpec {
                    name: format!("{}.nat-gateway", spec.name),
                    id: spec.eni_id,
                    subnet: spec.subnet,
                    ip: spec.ip,
                    eip: spec.eip,
                    requester_managed: true,
                    host: Host {
                        auto_reply: false,
                        ..Host::default()
                    },
                    ..EniSpec::default()
                },
            )
            .map_err(|e| match e.field.as_str() {
                "name" | "id" => e.within("eni"),
                _ => e,
            })?;
        let id = self.new_id(Kind::NatGateway, n, spec.id, "nat");
        self.nats.push(NatGateway {
            id,
            name: spec.name,
            vpc,
            subnet: spec.subnet,
            eni,
            deleted: false,
            table: nat::Table::default(),
        });
        Ok(n)
    }

    /// Deletes a NAT gateway and its interface; refused while routes target it or flow logs
    /// capture its interface.
    pub fn delete_nat_gateway(&mut self, n: u32, now: Time) -> Result<(), ModelError> {
        self.live_or_not_found(Kind::NatGateway, n)?;
        let tables: Vec<String> = live(&self.route_tables)
            .filter(|(_, t)| t.routes.iter().any(|r| r.target == Target::NatGateway(n)))
            .map(|(_, t)| t.id.clone())
            .collect();
        if !tables.is_empty() {
            return Err(ModelError::precondition(
                "name",
                format!(
                    "NAT gateway {} is the target of routes in route table {}: remove them first",
                    self.nats[n as usize].id,
                    tables.join(", ")
                ),
            )
            .with_dependents(tables));
        }
        let eni = self.nats[n as usize].eni;
        self.delete_eni_managed(eni, now)?;
        self.bury(Kind::NatGateway, n);
        Ok(())
    }
}
