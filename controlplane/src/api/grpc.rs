//! The gRPC services: thin handlers. Each one learns the caller from its token, turns the
//! request into a command or a read, and lets the cloud do the rest; errors become statuses
//! in one place (`error`). Blocking work (the project lock, applying) runs on the blocking
//! pool, never on the async workers, unless it is cheap and its project is free at once
//! (`Cloud::try_begin_read`, `try_begin_mutate`); waiting for the durable commit holds no
//! thread.

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::cloud::{Caller, Cloud};
use super::command::{Command, SetSpeed};
use super::error::ApiError;
use super::names::{Collection as C, check_parent, page};
use super::pb;
use super::project::{Applied, Project, time_of, timestamp};
use super::tenancy::Tenancy;
use super::view;

/// Shared by every service.
#[derive(Clone)]
pub struct Api {
    pub cloud: Arc<Cloud>,
    pub tenancy: Arc<Tenancy>,
    /// Flips when the server shuts down, ending tails.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

type Reply<T> = Result<Response<T>, Status>;

impl Api {
    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        self.tenancy.caller(req.metadata()).map_err(Status::from)
    }

    async fn mutate<T: Send + 'static>(
        &self,
        caller: Caller,
        cmd: Command,
        view: impl Fn(&Project, &Applied) -> Result<T, ApiError> + Send + 'static,
    ) -> Reply<T> {
        let kind = cmd.kind();
        let project = caller.project.clone();
        let pending = match self.cloud.try_begin_mutate(&caller, &cmd, &view) {
            Some(p) => Ok(p),
            None => {
                let cloud = self.cloud.clone();
                tokio::task::spawn_blocking(move || cloud.begin_mutate(&caller, cmd, view))
                    .await
                    .map_err(|e| Status::internal(format!("request aborted: {e}")))?
            }
        };
        // The disk is waited for here, holding no thread.
        let result = match pending {
            Ok(p) => p.confirmed().await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => tracing::info!(%project, command = kind, "applied"),
            Err(e) => tracing::info!(%project, command = kind, error = %e, "refused"),
        }
        result.map(Response::new).map_err(Status::from)
    }

    async fn read<T: Send + 'static>(
        &self,
        caller: Caller,
        f: impl Fn(&Project) -> Result<T, ApiError> + Send + 'static,
    ) -> Reply<T> {
        let pending = match self.cloud.try_begin_read(&caller, &f) {
            Some(p) => p,
            None => {
                let cloud = self.cloud.clone();
                tokio::task::spawn_blocking(move || cloud.begin_read(&caller, f))
                    .await
                    .map_err(|e| Status::internal(format!("request aborted: {e}")))??
            }
        };
        pending
            .confirmed()
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}

/// The index of the resource a command created or changed.
fn created(p: &Project, c: C, a: &Applied) -> Result<u32, ApiError> {
    a.id.as_deref()
        .and_then(|id| p.find(c, id))
        .ok_or_else(|| ApiError::internal("the resource vanished while being created"))
}

fn empty(_: &Project, _: &Applied) -> Result<(), ApiError> {
    Ok(())
}

/// Live resources of a world vector as (position, index) for paging.
fn live<'a, T>(
    items: &'a [T],
    deleted: impl Fn(&T) -> bool + 'a,
) -> impl Iterator<Item = (u64, u32)> + 'a {
    items
        .iter()
        .enumerate()
        .filter(move |(_, x)| !deleted(x))
        .map(|(i, _)| (i as u64, i as u32))
}

/// An optional filter by a parent resource: `None` when not given.
fn filter_by(p: &Project, c: C, name: &str, field: &str) -> Result<Option<u32>, ApiError> {
    (!name.is_empty())
        .then(|| p.resolve(c, name, field))
        .transpose()
}

/// A List handler: the caller's project, its `parent` checked, the (position, index) pairs the
/// block yields paged, each shown by `$view`.
macro_rules! list {
    ($self:ident, $req:ident, $resp:ident { $field:ident }, |$p:ident, $r:ident| $items:block, $view:path) => {{
        let caller = $self.caller(&$req)?;
        let $r = $req.into_inner();
        $self
            .read(caller, move |$p| {
                check_parent(&$p.id, &$r.parent)?;
                let (items, next_page_token) = page($items, $r.page_size, &$r.page_token)?;
                Ok(pb::$resp {
                    $field: items.into_iter().map(|i| $view($p, i)).collect(),
                    next_page_token,
                })
            })
            .await
    }};
}

macro_rules! get {
    ($self:ident, $req:ident, $c:expr, $view:path) => {{
        let caller = $self.caller(&$req)?;
        let r = $req.into_inner();
        $self
            .read(caller, move |p| {
                Ok($view(p, p.resolve($c, &r.name, "name")?))
            })
            .await
    }};
}

macro_rules! create {
    ($self:ident, $req:ident, $variant:ident, $c:expr, $view:path) => {{
        let caller = $self.caller(&$req)?;
        $self
            .mutate(caller, Command::$variant($req.into_inner()), |p, a| {
                Ok($view(p, created(p, $c, a)?))
            })
            .await
    }};
}

macro_rules! delete {
    ($self:ident, $req:ident, $variant:ident) => {{
        let caller = $self.caller(&$req)?;
        $self
            .mutate(caller, Command::$variant($req.into_inner()), empty)
            .await
            .map(|_| Response::new(()))
    }};
}

#[tonic::async_trait]
impl pb::network_service_server::NetworkService for Api {
    async fn create_vpc(&self, req: Request<pb::CreateVpcRequest>) -> Reply<pb::Vpc> {
        create!(self, req, CreateVpc, C::Vpcs, view::vpc)
    }
    async fn get_vpc(&self, req: Request<pb::GetVpcRequest>) -> Reply<pb::Vpc> {
        get!(self, req, C::Vpcs, view::vpc)
    }
    async fn list_vpcs(&self, req: Request<pb::ListVpcsRequest>) -> Reply<pb::ListVpcsResponse> {
        list!(
            self,
            req,
            ListVpcsResponse { vpcs },
            |p, r| { live(&p.world().vpcs, move |v| v.deleted) },
            view::vpc
        )
    }
    async fn update_vpc(&self, req: Request<pb::UpdateVpcRequest>) -> Reply<pb::Vpc> {
        create!(self, req, UpdateVpc, C::Vpcs, view::vpc)
    }
    async fn delete_vpc(&self, req: Request<pb::DeleteVpcRequest>) -> Reply<()> {
        delete!(self, req, DeleteVpc)
    }

    async fn create_subnet(&self, req: Request<pb::CreateSubnetRequest>) -> Reply<pb::Subnet> {
        create!(self, req, CreateSubnet, C::Subnets, view::subnet)
    }
    async fn get_subnet(&self, req: Request<pb::GetSubnetRequest>) -> Reply<pb::Subnet> {
        get!(self, req, C::Subnets, view::subnet)
    }
    async fn list_subnets(
        &self,
        req: Request<pb::ListSubnetsRequest>,
    ) -> Reply<pb::ListSubnetsResponse> {
        list!(
            self,
            req,
            ListSubnetsResponse { subnets },
            |p, r| {
                let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                live(&p.world().subnets, move |s| {
                    s.deleted || vpc.is_some_and(|v| v != s.vpc)
                })
            },
            view::subnet
        )
    }
    async fn update_subnet(&self, req: Request<pb::UpdateSubnetRequest>) -> Reply<pb::Subnet> {
        create!(self, req, UpdateSubnet, C::Subnets, view::subnet)
    }
    async fn delete_subnet(&self, req: Request<pb::DeleteSubnetRequest>) -> Reply<()> {
        delete!(self, req, DeleteSubnet)
    }

    async fn create_network_interface(
        &self,
        req: Request<pb::CreateNetworkInterfaceRequest>,
    ) -> Reply<pb::NetworkInterface> {
        create!(
            self,
            req,
            CreateNetworkInterface,
            C::NetworkInterfaces,
            view::network_interface
        )
    }
    async fn get_network_interface(
        &self,
        req: Request<pb::GetNetworkInterfaceRequest>,
    ) -> Reply<pb::NetworkInterface> {
        get!(self, req, C::NetworkInterfaces, view::network_interface)
    }
    async fn list_network_interfaces(
        &self,
        req: Request<pb::ListNetworkInterfacesRequest>,
    ) -> Reply<pb::ListNetworkInterfacesResponse> {
        list!(
            self,
            req,
            ListNetworkInterfacesResponse { network_interfaces },
            |p, r| {
                let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                let subnet = filter_by(p, C::Subnets, &r.subnet, "subnet")?;
                live(&p.world().enis, move |e| {
                    e.deleted
                        || vpc.is_some_and(|v| v != e.vpc)
                        || subnet.is_some_and(|s| s != e.subnet)
                })
            },
            view::network_interface
        )
    }
    async fn update_network_interface(
        &self,
        req: Request<pb::UpdateNetworkInterfaceRequest>,
    ) -> Reply<pb::NetworkInterface> {
        create!(
            self,
            req,
            UpdateNetworkInterface,
            C::NetworkInterfaces,
            view::network_interface
        )
    }
    async fn delete_network_interface(
        &self,
        req: Request<pb::DeleteNetworkInterfaceRequest>,
    ) -> Reply<()> {
        delete!(self, req, DeleteNetworkInterface)
    }

    async fn create_security_group(
        &self,
        req: Request<pb::CreateSecurityGroupRequest>,
    ) -> Reply<pb::SecurityGroup> {
        create!(
            self,
            req,
            CreateSecurityGroup,
            C::SecurityGroups,
            view::security_group
        )
    }
    async fn get_security_group(
        &self,
        req: Request<pb::GetSecurityGroupRequest>,
    ) -> Reply<pb::SecurityGroup> {
        get!(self, req, C::SecurityGroups, view::security_group)
    }
    async fn list_security_groups(
        &self,
        req: Request<pb::ListSecurityGroupsRequest>,
    ) -> Reply<pb::ListSecurityGroupsResponse> {
        list!(
            self,
            req,
            ListSecurityGroupsResponse { security_groups },
            |p, r| {
                let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                live(&p.world().security_groups, move |g| {
                    g.deleted || vpc.is_some_and(|v| v != g.vpc)
                })
            },
            view::security_group
        )
    }
    async fn update_security_group(
        &self,
        req: Request<pb::UpdateSecurityGroupRequest>,
    ) -> Reply<pb::SecurityGroup> {
        create!(
            self,
            req,
            UpdateSecurityGroup,
            C::SecurityGroups,
            view::security_group
        )
    }
    async fn delete_security_group(
        &self,
        req: Request<pb::DeleteSecurityGroupRequest>,
    ) -> Reply<()> {
        delete!(self, req, DeleteSecurityGroup)
    }

    async fn create_network_acl(
        &self,
        req: Request<pb::CreateNetworkAclRequest>,
    ) -> Reply<pb::NetworkAcl> {
        create!(
            self,
            req,
            CreateNetworkAcl,
            C::NetworkAcls,
            view::network_acl
        )
    }
    async fn get_network_acl(
        &self,
        req: Request<pb::GetNetworkAclRequest>,
    ) -> Reply<pb::NetworkAcl> {
        get!(self, req, C::NetworkAcls, view::network_acl)
    }
    async fn list_network_acls(
        &self,
        req: Request<pb::ListNetworkAclsRequest>,
    ) -> Reply<pb::ListNetworkAclsResponse> {
        list!(
            self,
            req,
            ListNetworkAclsResponse { network_acls },
            |p, r| {
                let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                live(&p.world().acls, move |a| {
                    a.deleted || vpc.is_some_and(|v| v != a.vpc)
                })
            },
            view::network_acl
        )
    }
    async fn update_network_acl(
        &self,
        req: Request<pb::UpdateNetworkAclRequest>,
    ) -> Reply<pb::NetworkAcl> {
        create!(
            self,
            req,
            UpdateNetworkAcl,
            C::NetworkAcls,
            view::network_acl
        )
    }
    async fn delete_network_acl(&self, req: Request<pb::DeleteNetworkAclRequest>) -> Reply<()> {
        delete!(self, req, DeleteNetworkAcl)
    }

    async fn create_route_table(
        &self,
        req: Request<pb::CreateRouteTableRequest>,
    ) -> Reply<pb::RouteTable> {
        create!(
            self,
            req,
            CreateRouteTable,
            C::RouteTables,
            view::route_table
        )
    }
    async fn get_route_table(
        &self,
        req: Request<pb::GetRouteTableRequest>,
    ) -> Reply<pb::RouteTable> {
        get!(self, req, C::RouteTables, view::route_table)
    }
    async fn list_route_tables(
        &self,
        req: Request<pb::ListRouteTablesRequest>,
    ) -> Reply<pb::ListRouteTablesResponse> {
        list!(
            self,
            req,
            ListRouteTablesResponse { route_tables },
            |p, r| {
                let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                live(&p.world().route_tables, move |t| {
                    t.deleted || vpc.is_some_and(|v| v != t.vpc)
                })
            },
            view::route_table
        )
    }
    async fn update_route_table(
        &self,
        req: Request<pb::UpdateRouteTableRequest>,
    ) -> Reply<pb::RouteTable> {
        create!(
            self,
            req,
            UpdateRouteTable,
            C::RouteTables,
            view::route_table
        )
    }
    async fn delete_route_table(&self, req: Request<pb::DeleteRouteTableRequest>) -> Reply<()> {
        delete!(self, req, DeleteRouteTable)
    }

    async fn create_internet_gateway(
        &self,
        req: Request<pb::CreateInternetGatewayRequest>,
    ) -> Reply<pb::InternetGateway> {
        create!(
            self,
            req,
            CreateInternetGateway,
            C::InternetGateways,
            view::internet_gateway
        )
    }
    async fn get_internet_gateway(
        &self,
        req: Request<pb::GetInternetGatewayRequest>,
    ) -> Reply<pb::InternetGateway> {
        get!(self, req, C::InternetGateways, view::internet_gateway)
    }
    async fn list_internet_gateways(
        &self,
        req: Request<pb::ListInternetGatewaysRequest>,
    ) -> Reply<pb::ListInternetGatewaysResponse> {
        list!(
            self,
            req,
            ListInternetGatewaysResponse { internet_gateways },
            |p, r| { live(&p.world().igws, move |g| g.deleted) },
            view::internet_gateway
        )
    }
    async fn delete_internet_gateway(
        &self,
        req: Request<pb::DeleteInternetGatewayRequest>,
    ) -> Reply<()> {
        delete!(self, req, DeleteInternetGateway)
    }

    async fn create_nat_gateway(
        &self,
        req: Request<pb::CreateNatGatewayRequest>,
    ) -> Reply<pb::NatGateway> {
        create!(
            self,
            req,
            CreateNatGateway,
            C::NatGateways,
            view::nat_gateway
        )
    }
    async fn get_nat_gateway(
        &self,
        req: Request<pb::GetNatGatewayRequest>,
    ) -> Reply<pb::NatGateway> {
        get!(self, req, C::NatGateways, view::nat_gateway)
    }
    async fn list_nat_gateways(
        &self,
        req: Request<pb::ListNatGatewaysRequest>,
    ) -> Reply<pb::ListNatGatewaysResponse> {
        list!(
            self,
            req,
            ListNatGatewaysResponse { nat_gateways },
            |p, r| {
                let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                live(&p.world().nats, move |n| {
                    n.deleted || vpc.is_some_and(|v| v != n.vpc)
                })
            },
            view::nat_gateway
        )
    }
    async fn update_nat_gateway(
        &self,
        req: Request<pb::UpdateNatGatewayRequest>,
    ) -> Reply<pb::NatGateway> {
        create!(
            self,
            req,
            UpdateNatGateway,
            C::NatGateways,
            view::nat_gateway
        )
    }
    async fn delete_nat_gateway(&self, req: Request<pb::DeleteNatGatewayRequest>) -> Reply<()> {
        delete!(self, req, DeleteNatGateway)
    }
}

#[tonic::async_trait]
impl pb::router_service_server::RouterService for Api {
    async fn create_enterprise_router(
        &self,
        req: Request<pb::CreateEnterpriseRouterRequest>,
    ) -> Reply<pb::EnterpriseRouter> {
        create!(
            self,
            req,
            CreateEnterpriseRouter,
            C::EnterpriseRouters,
            view::enterprise_router
        )
    }
    async fn get_enterprise_router(
        &self,
        req: Request<pb::GetEnterpriseRouterRequest>,
    ) -> Reply<pb::EnterpriseRouter> {
        get!(self, req, C::EnterpriseRouters, view::enterprise_router)
    }
    async fn list_enterprise_routers(
        &self,
        req: Request<pb::ListEnterpriseRoutersRequest>,
    ) -> Reply<pb::ListEnterpriseRoutersResponse> {
        list!(
            self,
            req,
            ListEnterpriseRoutersResponse { enterprise_routers },
            |p, r| { live(&p.world().routers.routers, move |x| x.deleted) },
            view::enterprise_router
        )
    }
    async fn update_enterprise_router(
        &self,
        req: Request<pb::UpdateEnterpriseRouterRequest>,
    ) -> Reply<pb::EnterpriseRouter> {
        create!(
            self,
            req,
            UpdateEnterpriseRouter,
            C::EnterpriseRouters,
            view::enterprise_router
        )
    }
    async fn delete_enterprise_router(
        &self,
        req: Request<pb::DeleteEnterpriseRouterRequest>,
    ) -> Reply<()> {
        delete!(self, req, DeleteEnterpriseRouter)
    }
    async fn create_router_attachment(
        &self,
        req: Request<pb::CreateRouterAttachmentRequest>,
    ) -> Reply<pb::RouterAttachment> {
        create!(
            self,
            req,
            CreateRouterAttachment,
            C::RouterAttachments,
            view::router_attachment
        )
    }
    async fn get_router_attachment(
        &self,
        req: Request<pb::GetRouterAttachmentRequest>,
    ) -> Reply<pb::RouterAttachment> {
        get!(self, req, C::RouterAttachments, view::router_attachment)
    }
    async fn list_router_attachments(
        &self,
        req: Request<pb::ListRouterAttachmentsRequest>,
    ) -> Reply<pb::ListRouterAttachmentsResponse> {
        list!(
            self,
            req,
            ListRouterAttachmentsResponse { router_attachments },
            |p, r| {
                let router = filter_by(
                    p,
                    C::EnterpriseRouters,
                    &r.enterprise_router,
                    "enterprise_router",
                )?;
                live(&p.world().routers.attachments, move |a| {
                    a.deleted || router.is_some_and(|x| x != a.router)
                })
            },
            view::router_attachment
        )
    }
    async fn update_router_attachment(
        &self,
        req: Request<pb::UpdateRouterAttachmentRequest>,
    ) -> Reply<pb::RouterAttachment> {
        create!(
            self,
            req,
            UpdateRouterAttachment,
            C::RouterAttachments,
            view::router_attachment
        )
    }
    async fn delete_router_attachment(
        &self,
        req: Request<pb::DeleteRouterAttachmentRequest>,
    ) -> Reply<()> {
        delete!(self, req, DeleteRouterAttachment)
    }
    async fn create_router_route_table(
        &self,
        req: Request<pb::CreateRouterRouteTableRequest>,
    ) -> Reply<pb::RouterRouteTable> {
        create!(
            self,
            req,
            CreateRouterRouteTable,
            C::RouterRouteTables,
            view::router_route_table
        )
    }
    async fn get_router_route_table(
        &self,
        req: Request<pb::GetRouterRouteTableRequest>,
    ) -> Reply<pb::RouterRouteTable> {
        get!(self, req, C::RouterRouteTables, view::router_route_table)
    }
    async fn list_router_route_tables(
        &self,
        req: Request<pb::ListRouterRouteTablesRequest>,
    ) -> Reply<pb::ListRouterRouteTablesResponse> {
        list!(
            self,
            req,
            ListRouterRouteTablesResponse {
                router_route_tables
            },
            |p, r| {
                let router = filter_by(
                    p,
                    C::EnterpriseRouters,
                    &r.enterprise_router,
                    "enterprise_router",
                )?;
                let routers = &p.world().routers.routers;
                // A deleted router's tables go with it.
                live(&p.world().routers.tables, move |t| {
                    t.deleted
                        || routers[t.router as usize].deleted
                        || router.is_some_and(|x| x != t.router)
                })
            },
            view::router_route_table
        )
    }
    async fn update_router_route_table(
        &self,
        req: Request<pb::UpdateRouterRouteTableRequest>,
    ) -> Reply<pb::RouterRouteTable> {
        create!(
            self,
            req,
            UpdateRouterRouteTable,
            C::RouterRouteTables,
            view::router_route_table
        )
    }
}

type RecordStream = Pin<Box<dyn Stream<Item = Result<pb::FlowLogRecord, Status>> + Send>>;

fn record(project: &str, r: &crate::store::StoredRecord) -> pb::FlowLogRecord {
    pb::FlowLogRecord {
        flow_log: super::names::resource_name(project, C::FlowLogs, &r.flow_log),
        log_stream: super::names::resource_name(project, C::LogStreams, &r.stream),
        time: Some(timestamp(vpclab_sim::time::Time::from_micros(r.time_us))),
        sequence: r.seq,
        line: r.line.clone(),
    }
}

fn flow_log_view(p: &Project, i: u32) -> pb::FlowLog {
    view::flow_log(p, i, p.format_name(i))
}

#[tonic::async_trait]
impl pb::log_service_server::LogService for Api {
    async fn create_log_group(
        &self,
        req: Request<pb::CreateLogGroupRequest>,
    ) -> Reply<pb::LogGroup> {
        create!(self, req, CreateLogGroup, C::LogGroups, view::log_group)
    }
    async fn get_log_group(&self, req: Request<pb::GetLogGroupRequest>) -> Reply<pb::LogGroup> {
        get!(self, req, C::LogGroups, view::log_group)
    }
    async fn list_log_groups(
        &self,
        req: Request<pb::ListLogGroupsRequest>,
    ) -> Reply<pb::ListLogGroupsResponse> {
        list!(
            self,
            req,
            ListLogGroupsResponse { log_groups },
            |p, r| { live(&p.world().logs.groups, move |g| g.deleted) },
            view::log_group
        )
    }
    async fn update_log_group(
        &self,
        req: Request<pb::UpdateLogGroupRequest>,
    ) -> Reply<pb::LogGroup> {
        create!(self, req, UpdateLogGroup, C::LogGroups, view::log_group)
    }
    async fn delete_log_group(&self, req: Request<pb::DeleteLogGroupRequest>) -> Reply<()> {
        delete!(self, req, DeleteLogGroup)
    }

    async fn create_log_stream(
        &self,
        req: Request<pb::CreateLogStreamRequest>,
    ) -> Reply<pb::LogStream> {
        create!(self, req, CreateLogStream, C::LogStreams, view::log_stream)
    }
    async fn get_log_stream(&self, req: Request<pb::GetLogStreamRequest>) -> Reply<pb::LogStream> {
        get!(self, req, C::LogStreams, view::log_stream)
    }
    async fn list_log_streams(
        &self,
        req: Request<pb::ListLogStreamsRequest>,
    ) -> Reply<pb::ListLogStreamsResponse> {
        list!(
            self,
            req,
            ListLogStreamsResponse { log_streams },
            |p, r| {
                let group = filter_by(p, C::LogGroups, &r.log_group, "log_group")?;
                live(&p.world().logs.streams, move |s| {
                    s.deleted || group.is_some_and(|g| g != s.group)
                })
            },
            view::log_stream
        )
    }
    async fn delete_log_stream(&self, req: Request<pb::DeleteLogStreamRequest>) -> Reply<()> {
        delete!(self, req, DeleteLogStream)
    }

    async fn create_flow_log(&self, req: Request<pb::CreateFlowLogRequest>) -> Reply<pb::FlowLog> {
        create!(self, req, CreateFlowLog, C::FlowLogs, flow_log_view)
    }
    async fn get_flow_log(&self, req: Request<pb::GetFlowLogRequest>) -> Reply<pb::FlowLog> {
        get!(self, req, C::FlowLogs, flow_log_view)
    }
    async fn list_flow_logs(
        &self,
        req: Request<pb::ListFlowLogsRequest>,
    ) -> Reply<pb::ListFlowLogsResponse> {
        list!(
            self,
            req,
            ListFlowLogsResponse { flow_logs },
            |p, r| { live(&p.world().flow_logs, move |f| f.deleted) },
            flow_log_view
        )
    }
    async fn update_flow_log(&self, req: Request<pb::UpdateFlowLogRequest>) -> Reply<pb::FlowLog> {
        create!(self, req, UpdateFlowLog, C::FlowLogs, flow_log_view)
    }
    async fn delete_flow_log(&self, req: Request<pb::DeleteFlowLogRequest>) -> Reply<()> {
        delete!(self, req, DeleteFlowLog)
    }

    async fn query_records(
        &self,
        req: Request<pb::QueryRecordsRequest>,
    ) -> Reply<pb::QueryRecordsResponse> {
        let caller = self.caller(&req)?;
        let project = caller.project.clone();
        let r = req.into_inner();
        let name = r.log_stream.clone();
        // The stream and its retention come from the project; the records from the store.
        let (stream, kept_since) = self
            .read(caller, move |p| {
                let s = p.resolve(C::LogStreams, &name, "log_stream")?;
                Ok((
                    p.world().logs.streams[s as usize].id.clone(),
                    p.retained_since(s),
                ))
            })
            .await?
            .into_inner();
        let from = match &r.start_time {
            Some(t) => time_of(t, "start_time")?.micros(),
            None => 0,
        };
        let to = match &r.end_time {
            Some(t) => time_of(t, "end_time")?.micros(),
            None => u64::MAX,
        };
        if to < from {
            return Err(ApiError::invalid("end_time", "end_time is before start_time").into());
        }
        if r.page_size < 0 {
            return Err(ApiError::invalid("page_size", "page_size must not be negative").into());
        }
        let size = match r.page_size {
            0 => 100,
            n => (n as usize).min(1000),
        };
        let after = if r.page_token.is_empty() {
            None
        } else {
            Some(parse_record_token(&r.page_token)?)
        };
        let cloud = self.cloud.clone();
        let keywords = r.keywords.clone();
        let q_project = project.clone();
        let mut records = tokio::task::spawn_blocking(move || {
            cloud.store().query(
                &q_project,
                &stream,
                from.max(kept_since),
                to,
                &keywords,
                after,
                size + 1,
            )
        })
        .await
        .map_err(|e| Status::internal(format!("query aborted: {e}")))?
        .map_err(|e| Status::unavailable(format!("the log store failed: {e}")))?;
        let next_page_token = if records.len() > size {
            records.truncate(size);
            records
                .last()
                .map(|l| format!("r{}.{}", l.time_us, l.seq))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::QueryRecordsResponse {
            records: records.iter().map(|x| record(&project, x)).collect(),
            next_page_token,
        }))
    }

    type TailRecordsStream = RecordStream;

    async fn tail_records(
        &self,
        req: Request<pb::TailRecordsRequest>,
    ) -> Reply<Self::TailRecordsStream> {
        let caller = self.caller(&req)?;
        let project = caller.project.clone();
        let r = req.into_inner();
        let name = r.log_stream.clone();
        // Subscribe before reading the past, so nothing falls between the two.
        let mut live = self.cloud.subscribe();
        let stream = self
            .read(caller, move |p| {
                let s = p.resolve(C::LogStreams, &name, "log_stream")?;
                Ok(p.world().logs.streams[s as usize].id.clone())
            })
            .await?
            .into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let cloud = self.cloud.clone();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut last = r.after_sequence;
            // Catches up from the store: the past on start, and whatever a slow reader missed.
            let catch_up = |last: u64| {
                let (cloud, project, stream) = (cloud.clone(), project.clone(), stream.clone());
                tokio::task::spawn_blocking(move || {
                    cloud.store().since(&project, &stream, last, usize::MAX)
                })
            };
            let mut pending = if last > 0 {
                match catch_up(last).await {
                    Ok(Ok(v)) => v,
                    _ => return,
                }
            } else {
                Vec::new()
            };
            loop {
                for x in pending.drain(..) {
                    if x.seq > last {
                        last = x.seq;
                        if tx.send(Ok(record(&project, &x))).await.is_err() {
                            return;
                        }
                    }
                }
                tokio::select! {
                    _ = shutdown.changed() => return,
                    got = live.recv() => match got {
                        Ok(d) if d.project == project && d.record.stream == stream => {
                            pending.push(d.record.clone());
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            match catch_up(last).await {
                                Ok(Ok(v)) => pending = v,
                                _ => return,
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

fn parse_record_token(t: &str) -> Result<(u64, u64), Status> {
    t.strip_prefix('r')
        .and_then(|r| r.split_once('.'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| {
            ApiError::invalid("page_token", "the page token is not one this server issued").into()
        })
}

#[tonic::async_trait]
impl pb::simulation_service_server::SimulationService for Api {
    async fn get_project(&self, req: Request<pb::GetProjectRequest>) -> Reply<pb::Project> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        self.read(caller, move |p| {
            if r.name != "projects/-" {
                check_parent(&p.id, &r.name).map_err(|e| e.at("name"))?;
            }
            Ok(pb::Project {
                name: format!("projects/{}", p.id),
                provider: p.provider.as_str().to_string(),
                start_time: Some(timestamp(p.start)),
                clock: Some(clock(p)),
                account_id: p.world().account_id.clone(),
                region: p.world().region.clone(),
                pending_packets: p.sim.pending_packets(),
            })
        })
        .await
    }

    async fn create_external_host(
        &self,
        req: Request<pb::CreateExternalHostRequest>,
    ) -> Reply<pb::ExternalHost> {
        create!(
            self,
            req,
            CreateExternalHost,
            C::ExternalHosts,
            view::external_host
        )
    }
    async fn get_external_host(
        &self,
        req: Request<pb::GetExternalHostRequest>,
    ) -> Reply<pb::ExternalHost> {
        get!(self, req, C::ExternalHosts, view::external_host)
    }
    async fn list_external_hosts(
        &self,
        req: Request<pb::ListExternalHostsRequest>,
    ) -> Reply<pb::ListExternalHostsResponse> {
        list!(
            self,
            req,
            ListExternalHostsResponse { external_hosts },
            |p, r| { live(&p.world().externals, move |h| h.deleted) },
            view::external_host
        )
    }
    async fn delete_external_host(&self, req: Request<pb::DeleteExternalHostRequest>) -> Reply<()> {
        delete!(self, req, DeleteExternalHost)
    }

    async fn inject_traffic(
        &self,
        req: Request<pb::InjectTrafficRequest>,
    ) -> Reply<pb::InjectTrafficResponse> {
        let caller = self.caller(&req)?;
        self.mutate(caller, Command::InjectTraffic(req.into_inner()), |_, a| {
            Ok(pb::InjectTrafficResponse {
                at: a.at.map(timestamp),
            })
        })
        .await
    }
    async fn advance(&self, req: Request<pb::AdvanceRequest>) -> Reply<pb::Clock> {
        let caller = self.caller(&req)?;
        self.mutate(caller, Command::Advance(req.into_inner()), |p, _| {
            Ok(clock(p))
        })
        .await
    }
    async fn get_clock(&self, req: Request<pb::GetClockRequest>) -> Reply<pb::Clock> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        self.read(caller, move |p| {
            check_parent(&p.id, &r.parent)?;
            Ok(clock(p))
        })
        .await
    }
    async fn run_realtime(&self, req: Request<pb::RunRealtimeRequest>) -> Reply<pb::Clock> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        if r.parent != format!("projects/{}", caller.project) {
            let project = caller.project.clone();
            return Err(check_parent(&project, &r.parent)
                .err()
                .unwrap_or_else(|| ApiError::internal("parent"))
                .into());
        }
        self.mutate(
            caller,
            Command::SetSpeed(SetSpeed { speed: r.speed }),
            |p, _| Ok(clock(p)),
        )
        .await
    }
    async fn explain_flow(
        &self,
        req: Request<pb::ExplainFlowRequest>,
    ) -> Reply<pb::ExplainFlowResponse> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        self.read(caller, move |p| {
            check_parent(&p.id, &r.parent)?;
            let (packets, next_page_token) = p.explain(&r)?;
            Ok(pb::ExplainFlowResponse {
                packets,
                next_page_token,
            })
        })
        .await
    }

    async fn drop_pending_traffic(
        &self,
        req: Request<pb::DropPendingTrafficRequest>,
    ) -> Reply<pb::DropPendingTrafficResponse> {
        let caller = self.caller(&req)?;
        let cmd = Command::DropPendingTraffic(req.into_inner());
        self.mutate(caller, cmd, |_, a| {
            Ok(pb::DropPendingTrafficResponse {
                dropped_packets: a.dropped,
            })
        })
        .await
    }

    async fn delete_project(&self, req: Request<pb::DeleteProjectRequest>) -> Reply<()> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        if r.name != "projects/-" {
            check_parent(&caller.project, &r.name).map_err(|e| Status::from(e.at("name")))?;
        }
        let cloud = self.cloud.clone();
        let project = caller.project.clone();
        tokio::task::spawn_blocking(move || cloud.delete_project(&caller))
            .await
            .map_err(|e| Status::internal(format!("request aborted: {e}")))??;
        tracing::info!(%project, "project deleted");
        Ok(Response::new(()))
    }
}

fn clock(p: &Project) -> pb::Clock {
    pb::Clock {
        now: Some(timestamp(p.now())),
        speed: p.speed,
    }
}

#[tonic::async_trait]
impl pb::ccn_service_server::CcnService for Api {
    async fn create_cloud_connect_network(
        &self,
        req: Request<pb::CreateCloudConnectNetworkRequest>,
    ) -> Reply<pb::CloudConnectNetwork> {
        create!(
            self,
            req,
            CreateCloudConnectNetwork,
            C::CloudConnectNetworks,
            view::cloud_connect_network
        )
    }
    async fn get_cloud_connect_network(
        &self,
        req: Request<pb::GetCloudConnectNetworkRequest>,
    ) -> Reply<pb::CloudConnectNetwork> {
        get!(
            self,
            req,
            C::CloudConnectNetworks,
            view::cloud_connect_network
        )
    }
    async fn list_cloud_connect_networks(
        &self,
        req: Request<pb::ListCloudConnectNetworksRequest>,
    ) -> Reply<pb::ListCloudConnectNetworksResponse> {
        list!(
            self,
            req,
            ListCloudConnectNetworksResponse {
                cloud_connect_networks
            },
            |p, r| { live(&p.world().ccns.items, move |_| false) },
            view::cloud_connect_network
        )
    }
    async fn update_cloud_connect_network(
        &self,
        req: Request<pb::UpdateCloudConnectNetworkRequest>,
    ) -> Reply<pb::CloudConnectNetwork> {
        create!(
            self,
            req,
            UpdateCloudConnectNetwork,
            C::CloudConnectNetworks,
            view::cloud_connect_network
        )
    }
}
