//! Commands: every change a project accepts, as the request that asked for it. A command is
//! applied to the in-memory project, then stored; on restart the stored commands are applied
//! again in order, and because the simulator is deterministic the project comes back exactly
//! as it was (resource ids, conntrack state, open capture windows and all).
//!
//! Stored form: the variant name, a newline, the request's protobuf encoding.

use prost::Message;

use super::pb;

/// How a project begins: its cloud, seed and virtual start time. Always command 1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Init {
    #[prost(string, tag = "1")]
    pub provider: String,
    #[prost(uint64, tag = "2")]
    pub seed: u64,
    /// Unix seconds at which the virtual clock starts.
    #[prost(uint64, tag = "3")]
    pub start: u64,
}

/// A wall-clock tick while running in real time, or a pace change.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetSpeed {
    #[prost(double, tag = "1")]
    pub speed: f64,
}

macro_rules! commands {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        #[derive(Clone, Debug)]
        pub enum Command {
            $($variant($ty)),*
        }

        impl Command {
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Command::$variant(_) => stringify!($variant)),*
                }
            }

            pub fn encode(&self) -> Vec<u8> {
                let mut out = self.kind().as_bytes().to_vec();
                out.push(b'\n');
                match self {
                    $(Command::$variant(m) => m.encode_raw(&mut out)),*
                }
                out
            }

            pub fn decode(bytes: &[u8]) -> Result<Command, String> {
                let nl = bytes
                    .iter()
                    .position(|&b| b == b'\n')
                    .ok_or("no command name")?;
                let (name, body) = (&bytes[..nl], &bytes[nl + 1..]);
                match name {
                    $(n if n == stringify!($variant).as_bytes() => <$ty>::decode(body)
                        .map(Command::$variant)
                        .map_err(|e| format!("{}: {e}", stringify!($variant))),)*
                    other => Err(format!(
                        "unknown command `{}`",
                        String::from_utf8_lossy(other)
                    )),
                }
            }
        }
    };
}

commands! {
    Init(Init),
    SetSpeed(SetSpeed),
    CreateVpc(pb::CreateVpcRequest),
    UpdateVpc(pb::UpdateVpcRequest),
    DeleteVpc(pb::DeleteVpcRequest),
    CreateSubnet(pb::CreateSubnetRequest),
    UpdateSubnet(pb::UpdateSubnetRequest),
    DeleteSubnet(pb::DeleteSubnetRequest),
    CreateNetworkInterface(pb::CreateNetworkInterfaceRequest),
    UpdateNetworkInterface(pb::UpdateNetworkInterfaceRequest),
    DeleteNetworkInterface(pb::DeleteNetworkInterfaceRequest),
    CreateSecurityGroup(pb::CreateSecurityGroupRequest),
    UpdateSecurityGroup(pb::UpdateSecurityGroupRequest),
    DeleteSecurityGroup(pb::DeleteSecurityGroupRequest),
    CreateNetworkAcl(pb::CreateNetworkAclRequest),
    UpdateNetworkAcl(pb::UpdateNetworkAclRequest),
    DeleteNetworkAcl(pb::DeleteNetworkAclRequest),
    CreateRouteTable(pb::CreateRouteTableRequest),
    UpdateRouteTable(pb::UpdateRouteTableRequest),
    DeleteRouteTable(pb::DeleteRouteTableRequest),
    CreateInternetGateway(pb::CreateInternetGatewayRequest),
    DeleteInternetGateway(pb::DeleteInternetGatewayRequest),
    CreateExternalHost(pb::CreateExternalHostRequest),
    DeleteExternalHost(pb::DeleteExternalHostRequest),
    CreateLogGroup(pb::CreateLogGroupRequest),
    UpdateLogGroup(pb::UpdateLogGroupRequest),
    DeleteLogGroup(pb::DeleteLogGroupRequest),
    CreateLogStream(pb::CreateLogStreamRequest),
    DeleteLogStream(pb::DeleteLogStreamRequest),
    CreateFlowLog(pb::CreateFlowLogRequest),
    UpdateFlowLog(pb::UpdateFlowLogRequest),
    DeleteFlowLog(pb::DeleteFlowLogRequest),
    CreateEnterpriseRouter(pb::CreateEnterpriseRouterRequest),
    UpdateEnterpriseRouter(pb::UpdateEnterpriseRouterRequest),
    DeleteEnterpriseRouter(pb::DeleteEnterpriseRouterRequest),
    CreateRouterAttachment(pb::CreateRouterAttachmentRequest),
    DeleteRouterAttachment(pb::DeleteRouterAttachmentRequest),
    InjectTraffic(pb::InjectTrafficRequest),
    Advance(pb::AdvanceRequest),
    DropPendingTraffic(pb::DropPendingTrafficRequest),
    CreateNatGateway(pb::CreateNatGatewayRequest),
    UpdateNatGateway(pb::UpdateNatGatewayRequest),
    DeleteNatGateway(pb::DeleteNatGatewayRequest),
    UpdateRouterAttachment(pb::UpdateRouterAttachmentRequest),
    CreateRouterRouteTable(pb::CreateRouterRouteTableRequest),
    UpdateRouterRouteTable(pb::UpdateRouterRouteTableRequest),
    CreateCloudConnectNetwork(pb::CreateCloudConnectNetworkRequest),
    UpdateCloudConnectNetwork(pb::UpdateCloudConnectNetworkRequest),
    CreateVpcPeeringConnection(pb::CreateVpcPeeringConnectionRequest),
    DeleteVpcPeeringConnection(pb::DeleteVpcPeeringConnectionRequest),
    CreateVpnGateway(pb::CreateVpnGatewayRequest),
    DeleteVpnGateway(pb::DeleteVpnGatewayRequest),
}

impl Command {
    /// Whether the command may add to what the project's model holds (`World::objects`): a
    /// create, or an update that replaces a list (the old one is kept as a past revision).
    /// Deletes, traffic and time add no objects.
    pub fn grows_model(&self) -> bool {
        let kind = self.kind();
        kind.starts_with("Create") || kind.starts_with("Update")
    }

    /// Whether applying the command costs little enough to run on an async worker when its
    /// project's lock is free (`Cloud::try_begin_mutate`): it simulates nothing and recompiles
    /// no security group or interface, so its cost is bounded by the project's quotas and is
    /// microseconds in practice. Everything else runs on the blocking pool. Listed whole, so
    /// a new command is placed deliberately.
    pub fn light(&self) -> bool {
        match self {
            Command::SetSpeed(_)
            | Command::CreateVpc(_)
            | Command::UpdateVpc(_)
            | Command::CreateSubnet(_)
            | Command::UpdateSubnet(_)
            | Command::CreateNetworkAcl(_)
            | Command::UpdateNetworkAcl(_)
            | Command::CreateRouteTable(_)
            | Command::UpdateRouteTable(_)
            | Command::CreateInternetGateway(_)
            | Command::CreateExternalHost(_)
            | Command::CreateLogGroup(_)
            | Command::UpdateLogGroup(_)
            | Command::CreateLogStream(_)
            | Command::UpdateFlowLog(_)
            | Command::CreateEnterpriseRouter(_)
            | Command::UpdateEnterpriseRouter(_)
            | Command::CreateNatGateway(_)
            | Command::UpdateNatGateway(_)
            | Command::CreateRouterRouteTable(_)
            | Command::UpdateRouterRouteTable(_)
            | Command::CreateCloudConnectNetwork(_)
            | Command::UpdateCloudConnectNetwork(_)
            | Command::CreateVpcPeeringConnection(_)
            | Command::CreateVpnGateway(_) => true,
            Command::Init(_)
            | Command::DeleteVpc(_)
            | Command::DeleteSubnet(_)
            | Command::CreateNetworkInterface(_)
            | Command::UpdateNetworkInterface(_)
            | Command::DeleteNetworkInterface(_)
            | Command::CreateSecurityGroup(_)
            | Command::UpdateSecurityGroup(_)
            | Command::DeleteSecurityGroup(_)
            | Command::DeleteNetworkAcl(_)
            | Command::DeleteRouteTable(_)
            | Command::DeleteInternetGateway(_)
            | Command::DeleteExternalHost(_)
            | Command::DeleteLogGroup(_)
            | Command::DeleteLogStream(_)
            | Command::CreateFlowLog(_)
            | Command::DeleteFlowLog(_)
            | Command::DeleteEnterpriseRouter(_)
            | Command::CreateRouterAttachment(_)
            | Command::DeleteRouterAttachment(_)
            | Command::UpdateRouterAttachment(_)
            | Command::InjectTraffic(_)
            | Command::Advance(_)
            | Command::DropPendingTraffic(_)
            | Command::DeleteNatGateway(_)
            | Command::DeleteVpcPeeringConnection(_)
            | Command::DeleteVpnGateway(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = Command::CreateVpc(pb::CreateVpcRequest {
            parent: "projects/p".into(),
            vpc: Some(pb::Vpc {
                display_name: "web".into(),
                cidr: "10.0.0.0/16".into(),
                ..Default::default()
            }),
            vpc_id: String::new(),
        });
        let bytes = c.encode();
        assert!(bytes.starts_with(b"CreateVpc\n"));
        let Command::CreateVpc(back) = Command::decode(&bytes).unwrap() else {
            panic!("wrong variant")
        };
        assert_eq!(back.vpc.unwrap().display_name, "web");
        assert!(
            Command::decode(b"Nope\n")
                .unwrap_err()
                .contains("unknown command")
        );
    }
}
