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

/// Every command, one row each: variant, the request it stores, and its weight: `light` when
/// applying it costs little enough to run on an async worker while its project's lock is
/// free (`Cloud::try_begin_mutate`): it simulates nothing and recompiles no security group or
/// interface, so its cost is bounded by the project's quotas and is microseconds in
/// practice; `heavy` for everything else, which runs on the blocking pool. Every row states
/// its weight, so a new command is placed deliberately.
macro_rules! commands {
    (@light light) => { true };
    (@light heavy) => { false };
    ($($variant:ident($ty:ty) $weight:ident),* $(,)?) => {
        #[derive(Clone, Debug)]
        pub enum Command {
            $($variant($ty)),*
        }

        impl Command {
            /// Whether the command is `light` in the table.
            pub fn light(&self) -> bool {
                match self {
                    $(Command::$variant(_) => commands!(@light $weight)),*
                }
            }

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
    Init(Init) heavy,
    SetSpeed(SetSpeed) light,
    CreateVpc(pb::CreateVpcRequest) light,
    UpdateVpc(pb::UpdateVpcRequest) light,
    DeleteVpc(pb::DeleteVpcRequest) heavy,
    CreateSubnet(pb::CreateSubnetRequest) light,
    UpdateSubnet(pb::UpdateSubnetRequest) light,
    DeleteSubnet(pb::DeleteSubnetRequest) heavy,
    CreateNetworkInterface(pb::CreateNetworkInterfaceRequest) heavy,
    UpdateNetworkInterface(pb::UpdateNetworkInterfaceRequest) heavy,
    DeleteNetworkInterface(pb::DeleteNetworkInterfaceRequest) heavy,
    CreateSecurityGroup(pb::CreateSecurityGroupRequest) heavy,
    UpdateSecurityGroup(pb::UpdateSecurityGroupRequest) heavy,
    DeleteSecurityGroup(pb::DeleteSecurityGroupRequest) heavy,
    CreateNetworkAcl(pb::CreateNetworkAclRequest) light,
    UpdateNetworkAcl(pb::UpdateNetworkAclRequest) light,
    DeleteNetworkAcl(pb::DeleteNetworkAclRequest) heavy,
    CreateRouteTable(pb::CreateRouteTableRequest) light,
    UpdateRouteTable(pb::UpdateRouteTableRequest) light,
    DeleteRouteTable(pb::DeleteRouteTableRequest) heavy,
    CreateInternetGateway(pb::CreateInternetGatewayRequest) light,
    DeleteInternetGateway(pb::DeleteInternetGatewayRequest) heavy,
    CreateExternalHost(pb::CreateExternalHostRequest) light,
    DeleteExternalHost(pb::DeleteExternalHostRequest) heavy,
    CreateLogGroup(pb::CreateLogGroupRequest) light,
    UpdateLogGroup(pb::UpdateLogGroupRequest) light,
    DeleteLogGroup(pb::DeleteLogGroupRequest) heavy,
    CreateLogStream(pb::CreateLogStreamRequest) light,
    DeleteLogStream(pb::DeleteLogStreamRequest) heavy,
    CreateFlowLog(pb::CreateFlowLogRequest) heavy,
    UpdateFlowLog(pb::UpdateFlowLogRequest) light,
    DeleteFlowLog(pb::DeleteFlowLogRequest) heavy,
    CreateEnterpriseRouter(pb::CreateEnterpriseRouterRequest) light,
    UpdateEnterpriseRouter(pb::UpdateEnterpriseRouterRequest) light,
    DeleteEnterpriseRouter(pb::DeleteEnterpriseRouterRequest) heavy,
    CreateRouterAttachment(pb::CreateRouterAttachmentRequest) heavy,
    DeleteRouterAttachment(pb::DeleteRouterAttachmentRequest) heavy,
    InjectTraffic(pb::InjectTrafficRequest) heavy,
    Advance(pb::AdvanceRequest) heavy,
    DropPendingTraffic(pb::DropPendingTrafficRequest) heavy,
    CreateNatGateway(pb::CreateNatGatewayRequest) light,
    UpdateNatGateway(pb::UpdateNatGatewayRequest) light,
    DeleteNatGateway(pb::DeleteNatGatewayRequest) heavy,
    UpdateRouterAttachment(pb::UpdateRouterAttachmentRequest) heavy,
    CreateRouterRouteTable(pb::CreateRouterRouteTableRequest) light,
    UpdateRouterRouteTable(pb::UpdateRouterRouteTableRequest) light,
    CreateCloudConnectNetwork(pb::CreateCloudConnectNetworkRequest) light,
    UpdateCloudConnectNetwork(pb::UpdateCloudConnectNetworkRequest) light,
    CreateVpcPeeringConnection(pb::CreateVpcPeeringConnectionRequest) light,
    DeleteVpcPeeringConnection(pb::DeleteVpcPeeringConnectionRequest) heavy,
    CreateVpnGateway(pb::CreateVpnGatewayRequest) light,
    DeleteVpnGateway(pb::DeleteVpnGatewayRequest) heavy,
}

impl Command {
    /// Whether the command may add to what the project's model holds (`World::objects`): a
    /// create, or an update that replaces a list (the old one is kept as a past revision).
    /// Deletes, traffic and time add no objects.
    pub fn grows_model(&self) -> bool {
        let kind = self.kind();
        kind.starts_with("Create") || kind.starts_with("Update")
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
