//! Commands: every change a project accepts, as the request that asked for it. A command is
//! applied to the in-memory project, then stored; on restart the stored commands are applied
//! again in order, and because the simulator is deterministic the project comes back exactly
//! as it was (resource ids, conntrack state, open capture windows and all).
//!
//! Stored form: the variant name, a newline, the request's protobuf encoding.

use prost::Message;

use super::pb;
use super::project::{Applied, Project};
use super::view::View;
use crate::plan::Reply;

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

/// Every command, one row each: variant, the request it stores, its weight, and for a create
/// or update the resource it answers with (`-> Vpc`, shown by its `View`).
///
/// The weight is `light` when applying the command costs little enough to run on an async
/// worker while its project's lock is free (`Cloud::try_begin_mutate`): it simulates nothing
/// and recompiles no security group or interface, so its cost is bounded by the project's
/// quotas and is microseconds in practice; `heavy` for everything else, which runs on the
/// blocking pool. Every row states its weight, so a new command is placed deliberately.
macro_rules! commands {
    (@light light) => { true };
    (@light heavy) => { false };
    (@answer $p:ident, $a:ident) => { None };
    (@answer $p:ident, $a:ident $message:ident) => {
        pb::$message::find($p, $a.id.as_deref()?).map(Reply::from)
    };
    ($($variant:ident($ty:ty) $weight:ident $(-> $answer:ident)?),* $(,)?) => {
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

            /// The resource a create or update made or changed, as the API answers it
            /// (`-> Message` in the table; `None` for the other commands).
            pub fn answer(&self, p: &Project, a: &Applied) -> Option<Reply> {
                match self {
                    $(Command::$variant(_) => commands!(@answer p, a $($answer)?)),*
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
    CreateVpc(pb::CreateVpcRequest) light -> Vpc,
    UpdateVpc(pb::UpdateVpcRequest) light -> Vpc,
    DeleteVpc(pb::DeleteVpcRequest) heavy,
    CreateSubnet(pb::CreateSubnetRequest) light -> Subnet,
    UpdateSubnet(pb::UpdateSubnetRequest) light -> Subnet,
    DeleteSubnet(pb::DeleteSubnetRequest) heavy,
    CreateNetworkInterface(pb::CreateNetworkInterfaceRequest) heavy -> NetworkInterface,
    UpdateNetworkInterface(pb::UpdateNetworkInterfaceRequest) heavy -> NetworkInterface,
    DeleteNetworkInterface(pb::DeleteNetworkInterfaceRequest) heavy,
    CreateSecurityGroup(pb::CreateSecurityGroupRequest) heavy -> SecurityGroup,
    UpdateSecurityGroup(pb::UpdateSecurityGroupRequest) heavy -> SecurityGroup,
    DeleteSecurityGroup(pb::DeleteSecurityGroupRequest) heavy,
    CreateNetworkAcl(pb::CreateNetworkAclRequest) light -> NetworkAcl,
    UpdateNetworkAcl(pb::UpdateNetworkAclRequest) light -> NetworkAcl,
    DeleteNetworkAcl(pb::DeleteNetworkAclRequest) heavy,
    CreateRouteTable(pb::CreateRouteTableRequest) light -> RouteTable,
    UpdateRouteTable(pb::UpdateRouteTableRequest) light -> RouteTable,
    DeleteRouteTable(pb::DeleteRouteTableRequest) heavy,
    CreateInternetGateway(pb::CreateInternetGatewayRequest) light -> InternetGateway,
    DeleteInternetGateway(pb::DeleteInternetGatewayRequest) heavy,
    CreateExternalHost(pb::CreateExternalHostRequest) light -> ExternalHost,
    DeleteExternalHost(pb::DeleteExternalHostRequest) heavy,
    CreateLogGroup(pb::CreateLogGroupRequest) light -> LogGroup,
    UpdateLogGroup(pb::UpdateLogGroupRequest) light -> LogGroup,
    DeleteLogGroup(pb::DeleteLogGroupRequest) heavy,
    CreateLogStream(pb::CreateLogStreamRequest) light -> LogStream,
    DeleteLogStream(pb::DeleteLogStreamRequest) heavy,
    CreateFlowLog(pb::CreateFlowLogRequest) heavy -> FlowLog,
    UpdateFlowLog(pb::UpdateFlowLogRequest) light -> FlowLog,
    DeleteFlowLog(pb::DeleteFlowLogRequest) heavy,
    CreateEnterpriseRouter(pb::CreateEnterpriseRouterRequest) light -> EnterpriseRouter,
    UpdateEnterpriseRouter(pb::UpdateEnterpriseRouterRequest) light -> EnterpriseRouter,
    DeleteEnterpriseRouter(pb::DeleteEnterpriseRouterRequest) heavy,
    CreateRouterAttachment(pb::CreateRouterAttachmentRequest) heavy -> RouterAttachment,
    DeleteRouterAttachment(pb::DeleteRouterAttachmentRequest) heavy,
    InjectTraffic(pb::InjectTrafficRequest) heavy,
    Advance(pb::AdvanceRequest) heavy,
    DropPendingTraffic(pb::DropPendingTrafficRequest) heavy,
    CreateNatGateway(pb::CreateNatGatewayRequest) light -> NatGateway,
    UpdateNatGateway(pb::UpdateNatGatewayRequest) light -> NatGateway,
    DeleteNatGateway(pb::DeleteNatGatewayRequest) heavy,
    UpdateRouterAttachment(pb::UpdateRouterAttachmentRequest) heavy -> RouterAttachment,
    CreateRouterRouteTable(pb::CreateRouterRouteTableRequest) light -> RouterRouteTable,
    UpdateRouterRouteTable(pb::UpdateRouterRouteTableRequest) light -> RouterRouteTable,
    CreateCloudConnectNetwork(pb::CreateCloudConnectNetworkRequest) light -> CloudConnectNetwork,
    UpdateCloudConnectNetwork(pb::UpdateCloudConnectNetworkRequest) light -> CloudConnectNetwork,
    CreateVpcPeeringConnection(pb::CreateVpcPeeringConnectionRequest) light -> VpcPeeringConnection,
    DeleteVpcPeeringConnection(pb::DeleteVpcPeeringConnectionRequest) heavy,
    CreateVpnGateway(pb::CreateVpnGatewayRequest) light -> VpnGateway,
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
