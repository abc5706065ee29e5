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

/// A service's impl, each resource handler written as one line, the other methods as they
/// are (tonic's `async_trait` must see every method, so the lines are expanded here, before
/// the impl is):
/// - `change m(Request => Command) -> Resource in Collection via view;` a create or update;
/// - `get m(Request) -> Resource in Collection via view;`
/// - `list m(Request) -> Response { field } via view, |p, r| { (position, index) pairs };`
/// - `delete m(Request => Command);`
/// - `call m(Request) -> Response;` the function `m` below, written out.
macro_rules! service {
    ($svc:path { $($body:tt)* }) => {
        service!(@munch $svc [] $($body)*);
    };
    (@munch $svc:path [$($done:tt)*]) => {
        #[tonic::async_trait]
        impl $svc for Api {
            $($done)*
        }
    };
    (@munch $svc:path [$($done:tt)*]
        change $m:ident($req:ident => $variant:ident) -> $res:ident in $c:ident via $view:path;
        $($rest:tt)*) => {
        service!(@munch $svc [$($done)*
            async fn $m(&self, req: Request<pb::$req>) -> Reply<pb::$res> {
                create!(self, req, $variant, C::$c, $view)
            }
        ] $($rest)*);
    };
    (@munch $svc:path [$($done:tt)*]
        get $m:ident($req:ident) -> $res:ident in $c:ident via $view:path;
        $($rest:tt)*) => {
        service!(@munch $svc [$($done)*
            async fn $m(&self, req: Request<pb::$req>) -> Reply<pb::$res> {
                get!(self, req, C::$c, $view)
            }
        ] $($rest)*);
    };
    (@munch $svc:path [$($done:tt)*]
        list $m:ident($req:ident) -> $resp:ident { $field:ident } via $view:path,
            |$p:ident, $r:ident| $items:block;
        $($rest:tt)*) => {
        service!(@munch $svc [$($done)*
            async fn $m(&self, req: Request<pb::$req>) -> Reply<pb::$resp> {
                list!(self, req, $resp { $field }, |$p, $r| $items, $view)
            }
        ] $($rest)*);
    };
    (@munch $svc:path [$($done:tt)*]
        delete $m:ident($req:ident => $variant:ident);
        $($rest:tt)*) => {
        service!(@munch $svc [$($done)*
            async fn $m(&self, req: Request<pb::$req>) -> Reply<()> {
                delete!(self, req, $variant)
            }
        ] $($rest)*);
    };
    (@munch $svc:path [$($done:tt)*]
        call $m:ident($req:ident) -> $res:ty;
        $($rest:tt)*) => {
        service!(@munch $svc [$($done)*
            async fn $m(&self, req: Request<pb::$req>) -> Reply<$res> {
                $m(self, req).await
            }
        ] $($rest)*);
    };
    (@munch $svc:path [$($done:tt)*] $item:item $($rest:tt)*) => {
        service!(@munch $svc [$($done)* $item] $($rest)*);
    };
}

service! {
    pb::network_service_server::NetworkService {
        change create_vpc(CreateVpcRequest => CreateVpc) -> Vpc in Vpcs via view::vpc;
        get get_vpc(GetVpcRequest) -> Vpc in Vpcs via view::vpc;
        list list_vpcs(ListVpcsRequest)
            -> ListVpcsResponse { vpcs } via view::vpc,
            |p, r| { live(&p.world().vpcs, move |v| v.deleted) };
        change update_vpc(UpdateVpcRequest => UpdateVpc) -> Vpc in Vpcs via view::vpc;
        delete delete_vpc(DeleteVpcRequest => DeleteVpc);

        change create_subnet(CreateSubnetRequest => CreateSubnet)
            -> Subnet in Subnets via view::subnet;
        get get_subnet(GetSubnetRequest) -> Subnet in Subnets via view::subnet;
        list list_subnets(ListSubnetsRequest)
            -> ListSubnetsResponse { subnets } via view::subnet, |p, r| {
                    let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                    live(&p.world().subnets, move |s| {
                        s.deleted || vpc.is_some_and(|v| v != s.vpc)
                    })
                };
        change update_subnet(UpdateSubnetRequest => UpdateSubnet)
            -> Subnet in Subnets via view::subnet;
        delete delete_subnet(DeleteSubnetRequest => DeleteSubnet);

        change create_network_interface(CreateNetworkInterfaceRequest => CreateNetworkInterface)
            -> NetworkInterface in NetworkInterfaces via view::network_interface;
        get get_network_interface(GetNetworkInterfaceRequest)
            -> NetworkInterface in NetworkInterfaces via view::network_interface;
        list list_network_interfaces(ListNetworkInterfacesRequest)
            -> ListNetworkInterfacesResponse { network_interfaces } via view::network_interface,
            |p, r| {
                    let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                    let subnet = filter_by(p, C::Subnets, &r.subnet, "subnet")?;
                    live(&p.world().enis, move |e| {
                        e.deleted
                            || vpc.is_some_and(|v| v != e.vpc)
                            || subnet.is_some_and(|s| s != e.subnet)
                    })
                };
        change update_network_interface(UpdateNetworkInterfaceRequest => UpdateNetworkInterface)
            -> NetworkInterface in NetworkInterfaces via view::network_interface;
        delete delete_network_interface(DeleteNetworkInterfaceRequest => DeleteNetworkInterface);

        change create_security_group(CreateSecurityGroupRequest => CreateSecurityGroup)
            -> SecurityGroup in SecurityGroups via view::security_group;
        get get_security_group(GetSecurityGroupRequest)
            -> SecurityGroup in SecurityGroups via view::security_group;
        list list_security_groups(ListSecurityGroupsRequest)
            -> ListSecurityGroupsResponse { security_groups } via view::security_group, |p, r| {
                    let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                    live(&p.world().security_groups, move |g| {
                        g.deleted || vpc.is_some_and(|v| v != g.vpc)
                    })
                };
        change update_security_group(UpdateSecurityGroupRequest => UpdateSecurityGroup)
            -> SecurityGroup in SecurityGroups via view::security_group;
        delete delete_security_group(DeleteSecurityGroupRequest => DeleteSecurityGroup);

        change create_network_acl(CreateNetworkAclRequest => CreateNetworkAcl)
            -> NetworkAcl in NetworkAcls via view::network_acl;
        get get_network_acl(GetNetworkAclRequest)
            -> NetworkAcl in NetworkAcls via view::network_acl;
        list list_network_acls(ListNetworkAclsRequest)
            -> ListNetworkAclsResponse { network_acls } via view::network_acl, |p, r| {
                    let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                    live(&p.world().acls, move |a| {
                        a.deleted || vpc.is_some_and(|v| v != a.vpc)
                    })
                };
        change update_network_acl(UpdateNetworkAclRequest => UpdateNetworkAcl)
            -> NetworkAcl in NetworkAcls via view::network_acl;
        delete delete_network_acl(DeleteNetworkAclRequest => DeleteNetworkAcl);

        change create_route_table(CreateRouteTableRequest => CreateRouteTable)
            -> RouteTable in RouteTables via view::route_table;
        get get_route_table(GetRouteTableRequest)
            -> RouteTable in RouteTables via view::route_table;
        list list_route_tables(ListRouteTablesRequest)
            -> ListRouteTablesResponse { route_tables } via view::route_table, |p, r| {
                    let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                    live(&p.world().route_tables, move |t| {
                        t.deleted || vpc.is_some_and(|v| v != t.vpc)
                    })
                };
        change update_route_table(UpdateRouteTableRequest => UpdateRouteTable)
            -> RouteTable in RouteTables via view::route_table;
        delete delete_route_table(DeleteRouteTableRequest => DeleteRouteTable);

        change create_internet_gateway(CreateInternetGatewayRequest => CreateInternetGateway)
            -> InternetGateway in InternetGateways via view::internet_gateway;
        get get_internet_gateway(GetInternetGatewayRequest)
            -> InternetGateway in InternetGateways via view::internet_gateway;
        list list_internet_gateways(ListInternetGatewaysRequest)
            -> ListInternetGatewaysResponse { internet_gateways } via view::internet_gateway,
            |p, r| { live(&p.world().igws, move |g| g.deleted) };
        delete delete_internet_gateway(DeleteInternetGatewayRequest => DeleteInternetGateway);

        change create_nat_gateway(CreateNatGatewayRequest => CreateNatGateway)
            -> NatGateway in NatGateways via view::nat_gateway;
        get get_nat_gateway(GetNatGatewayRequest)
            -> NatGateway in NatGateways via view::nat_gateway;
        list list_nat_gateways(ListNatGatewaysRequest)
            -> ListNatGatewaysResponse { nat_gateways } via view::nat_gateway, |p, r| {
                    let vpc = filter_by(p, C::Vpcs, &r.vpc, "vpc")?;
                    live(&p.world().nats, move |n| {
                        n.deleted || vpc.is_some_and(|v| v != n.vpc)
                    })
                };
        change update_nat_gateway(UpdateNatGatewayRequest => UpdateNatGateway)
            -> NatGateway in NatGateways via view::nat_gateway;
        delete delete_nat_gateway(DeleteNatGatewayRequest => DeleteNatGateway);

        change create_vpc_peering_connection(
            CreateVpcPeeringConnectionRequest => CreateVpcPeeringConnection
        ) -> VpcPeeringConnection in VpcPeeringConnections via view::vpc_peering_connection;
        get get_vpc_peering_connection(GetVpcPeeringConnectionRequest)
            -> VpcPeeringConnection in VpcPeeringConnections via view::vpc_peering_connection;
        list list_vpc_peering_connections(ListVpcPeeringConnectionsRequest)
            -> ListVpcPeeringConnectionsResponse { vpc_peering_connections }
            via view::vpc_peering_connection,
            |p, r| { live(&p.world().peerings, move |x| x.deleted) };
        delete delete_vpc_peering_connection(
            DeleteVpcPeeringConnectionRequest => DeleteVpcPeeringConnection
        );

        change create_vpn_gateway(CreateVpnGatewayRequest => CreateVpnGateway)
            -> VpnGateway in VpnGateways via view::vpn_gateway;
        get get_vpn_gateway(GetVpnGatewayRequest) -> VpnGateway in VpnGateways via view::vpn_gateway;
        list list_vpn_gateways(ListVpnGatewaysRequest)
            -> ListVpnGatewaysResponse { vpn_gateways }
            via view::vpn_gateway,
            |p, r| { live(&p.world().vpn_gateways, move |x| x.deleted) };
        delete delete_vpn_gateway(DeleteVpnGatewayRequest => DeleteVpnGateway);
    }
}

service! {
    pb::router_service_server::RouterService {
        change create_enterprise_router(CreateEnterpriseRouterRequest => CreateEnterpriseRouter)
            -> EnterpriseRouter in EnterpriseRouters via view::enterprise_router;
        get get_enterprise_router(GetEnterpriseRouterRequest)
            -> EnterpriseRouter in EnterpriseRouters via view::enterprise_router;
        list list_enterprise_routers(ListEnterpriseRoutersRequest)
            -> ListEnterpriseRoutersResponse { enterprise_routers } via view::enterprise_router,
            |p, r| { live(&p.world().routers.routers, move |x| x.deleted) };
        change update_enterprise_router(UpdateEnterpriseRouterRequest => UpdateEnterpriseRouter)
            -> EnterpriseRouter in EnterpriseRouters via view::enterprise_router;
        delete delete_enterprise_router(DeleteEnterpriseRouterRequest => DeleteEnterpriseRouter);
        change create_router_attachment(CreateRouterAttachmentRequest => CreateRouterAttachment)
            -> RouterAttachment in RouterAttachments via view::router_attachment;
        get get_router_attachment(GetRouterAttachmentRequest)
            -> RouterAttachment in RouterAttachments via view::router_attachment;
        list list_router_attachments(ListRouterAttachmentsRequest)
            -> ListRouterAttachmentsResponse { router_attachments } via view::router_attachment,
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
                };
        change update_router_attachment(UpdateRouterAttachmentRequest => UpdateRouterAttachment)
            -> RouterAttachment in RouterAttachments via view::router_attachment;
        delete delete_router_attachment(DeleteRouterAttachmentRequest => DeleteRouterAttachment);
        change create_router_route_table(CreateRouterRouteTableRequest => CreateRouterRouteTable)
            -> RouterRouteTable in RouterRouteTables via view::router_route_table;
        get get_router_route_table(GetRouterRouteTableRequest)
            -> RouterRouteTable in RouterRouteTables via view::router_route_table;
        list list_router_route_tables(ListRouterRouteTablesRequest)
            -> ListRouterRouteTablesResponse { router_route_tables } via view::router_route_table,
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
                };
        change update_router_route_table(UpdateRouterRouteTableRequest => UpdateRouterRouteTable)
            -> RouterRouteTable in RouterRouteTables via view::router_route_table;
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

service! {
    pb::log_service_server::LogService {
        change create_log_group(CreateLogGroupRequest => CreateLogGroup)
            -> LogGroup in LogGroups via view::log_group;
        get get_log_group(GetLogGroupRequest) -> LogGroup in LogGroups via view::log_group;
        list list_log_groups(ListLogGroupsRequest)
            -> ListLogGroupsResponse { log_groups } via view::log_group,
            |p, r| { live(&p.world().logs.groups, move |g| g.deleted) };
        change update_log_group(UpdateLogGroupRequest => UpdateLogGroup)
            -> LogGroup in LogGroups via view::log_group;
        delete delete_log_group(DeleteLogGroupRequest => DeleteLogGroup);

        change create_log_stream(CreateLogStreamRequest => CreateLogStream)
            -> LogStream in LogStreams via view::log_stream;
        get get_log_stream(GetLogStreamRequest) -> LogStream in LogStreams via view::log_stream;
        list list_log_streams(ListLogStreamsRequest)
            -> ListLogStreamsResponse { log_streams } via view::log_stream, |p, r| {
                    let group = filter_by(p, C::LogGroups, &r.log_group, "log_group")?;
                    live(&p.world().logs.streams, move |s| {
                        s.deleted || group.is_some_and(|g| g != s.group)
                    })
                };
        delete delete_log_stream(DeleteLogStreamRequest => DeleteLogStream);

        change create_flow_log(CreateFlowLogRequest => CreateFlowLog)
            -> FlowLog in FlowLogs via flow_log_view;
        get get_flow_log(GetFlowLogRequest) -> FlowLog in FlowLogs via flow_log_view;
        list list_flow_logs(ListFlowLogsRequest)
            -> ListFlowLogsResponse { flow_logs } via flow_log_view,
            |p, r| { live(&p.world().flow_logs, move |f| f.deleted) };
        change update_flow_log(UpdateFlowLogRequest => UpdateFlowLog)
            -> FlowLog in FlowLogs via flow_log_view;
        delete delete_flow_log(DeleteFlowLogRequest => DeleteFlowLog);

        call query_records(QueryRecordsRequest) -> pb::QueryRecordsResponse;

        type TailRecordsStream = RecordStream;

        call tail_records(TailRecordsRequest) -> Self::TailRecordsStream;
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

service! {
    pb::simulation_service_server::SimulationService {
        call get_project(GetProjectRequest) -> pb::Project;

        change create_external_host(CreateExternalHostRequest => CreateExternalHost)
            -> ExternalHost in ExternalHosts via view::external_host;
        get get_external_host(GetExternalHostRequest)
            -> ExternalHost in ExternalHosts via view::external_host;
        list list_external_hosts(ListExternalHostsRequest)
            -> ListExternalHostsResponse { external_hosts } via view::external_host,
            |p, r| { live(&p.world().externals, move |h| h.deleted) };
        delete delete_external_host(DeleteExternalHostRequest => DeleteExternalHost);

        call inject_traffic(InjectTrafficRequest) -> pb::InjectTrafficResponse;
        call advance(AdvanceRequest) -> pb::Clock;
        call get_clock(GetClockRequest) -> pb::Clock;
        call run_realtime(RunRealtimeRequest) -> pb::Clock;
        call explain_flow(ExplainFlowRequest) -> pb::ExplainFlowResponse;

        call drop_pending_traffic(DropPendingTrafficRequest) -> pb::DropPendingTrafficResponse;

        call delete_project(DeleteProjectRequest) -> ();
    }
}

fn clock(p: &Project) -> pb::Clock {
    pb::Clock {
        now: Some(timestamp(p.now())),
        speed: p.speed,
    }
}

service! {
    pb::ccn_service_server::CcnService {
        change create_cloud_connect_network(CreateCloudConnectNetworkRequest
            => CreateCloudConnectNetwork)
            -> CloudConnectNetwork in CloudConnectNetworks via view::cloud_connect_network;
        get get_cloud_connect_network(GetCloudConnectNetworkRequest)
            -> CloudConnectNetwork in CloudConnectNetworks via view::cloud_connect_network;
        list list_cloud_connect_networks(ListCloudConnectNetworksRequest)
            -> ListCloudConnectNetworksResponse { cloud_connect_networks }
            via view::cloud_connect_network,
            |p, r| { live(&p.world().ccns.items, move |_| false) };
        change update_cloud_connect_network(UpdateCloudConnectNetworkRequest
            => UpdateCloudConnectNetwork)
            -> CloudConnectNetwork in CloudConnectNetworks via view::cloud_connect_network;
    }
}

// ----- the handlers that are not one resource's CRUD -----

async fn query_records(
    api: &Api,
    req: Request<pb::QueryRecordsRequest>,
) -> Reply<pb::QueryRecordsResponse> {
    let caller = api.caller(&req)?;
    let project = caller.project.clone();
    let r = req.into_inner();
    let name = r.log_stream.clone();
    // The stream and its retention come from the project; the records from the store.
    let (stream, kept_since) = api
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
    let cloud = api.cloud.clone();
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

async fn tail_records(api: &Api, req: Request<pb::TailRecordsRequest>) -> Reply<RecordStream> {
    let caller = api.caller(&req)?;
    let project = caller.project.clone();
    let r = req.into_inner();
    let name = r.log_stream.clone();
    // Subscribe before reading the past, so nothing falls between the two.
    let mut live = api.cloud.subscribe();
    let stream = api
        .read(caller, move |p| {
            let s = p.resolve(C::LogStreams, &name, "log_stream")?;
            Ok(p.world().logs.streams[s as usize].id.clone())
        })
        .await?
        .into_inner();
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let cloud = api.cloud.clone();
    let mut shutdown = api.shutdown.clone();
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

async fn get_project(api: &Api, req: Request<pb::GetProjectRequest>) -> Reply<pb::Project> {
    let caller = api.caller(&req)?;
    let r = req.into_inner();
    api.read(caller, move |p| {
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

async fn inject_traffic(
    api: &Api,
    req: Request<pb::InjectTrafficRequest>,
) -> Reply<pb::InjectTrafficResponse> {
    let caller = api.caller(&req)?;
    api.mutate(caller, Command::InjectTraffic(req.into_inner()), |_, a| {
        Ok(pb::InjectTrafficResponse {
            at: a.at.map(timestamp),
        })
    })
    .await
}

async fn advance(api: &Api, req: Request<pb::AdvanceRequest>) -> Reply<pb::Clock> {
    let caller = api.caller(&req)?;
    api.mutate(caller, Command::Advance(req.into_inner()), |p, _| {
        Ok(clock(p))
    })
    .await
}

async fn get_clock(api: &Api, req: Request<pb::GetClockRequest>) -> Reply<pb::Clock> {
    let caller = api.caller(&req)?;
    let r = req.into_inner();
    api.read(caller, move |p| {
        check_parent(&p.id, &r.parent)?;
        Ok(clock(p))
    })
    .await
}

async fn run_realtime(api: &Api, req: Request<pb::RunRealtimeRequest>) -> Reply<pb::Clock> {
    let caller = api.caller(&req)?;
    let r = req.into_inner();
    if r.parent != format!("projects/{}", caller.project) {
        let project = caller.project.clone();
        return Err(check_parent(&project, &r.parent)
            .err()
            .unwrap_or_else(|| ApiError::internal("parent"))
            .into());
    }
    api.mutate(
        caller,
        Command::SetSpeed(SetSpeed { speed: r.speed }),
        |p, _| Ok(clock(p)),
    )
    .await
}

async fn explain_flow(
    api: &Api,
    req: Request<pb::ExplainFlowRequest>,
) -> Reply<pb::ExplainFlowResponse> {
    let caller = api.caller(&req)?;
    let r = req.into_inner();
    api.read(caller, move |p| {
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
    api: &Api,
    req: Request<pb::DropPendingTrafficRequest>,
) -> Reply<pb::DropPendingTrafficResponse> {
    let caller = api.caller(&req)?;
    let cmd = Command::DropPendingTraffic(req.into_inner());
    api.mutate(caller, cmd, |_, a| {
        Ok(pb::DropPendingTrafficResponse {
            dropped_packets: a.dropped,
        })
    })
    .await
}

async fn delete_project(api: &Api, req: Request<pb::DeleteProjectRequest>) -> Reply<()> {
    let caller = api.caller(&req)?;
    let r = req.into_inner();
    if r.name != "projects/-" {
        check_parent(&caller.project, &r.name).map_err(|e| Status::from(e.at("name")))?;
    }
    let cloud = api.cloud.clone();
    let project = caller.project.clone();
    tokio::task::spawn_blocking(move || cloud.delete_project(&caller))
        .await
        .map_err(|e| Status::internal(format!("request aborted: {e}")))??;
    tracing::info!(%project, "project deleted");
    Ok(Response::new(()))
}
