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
use super::view::View;

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

    /// A change: the caller's request stored and applied as the command `as_command` makes of
    /// it, answered with what `answer` reads from the project once the command is durable.
    async fn apply<R: Send, T: Send + 'static>(
        &self,
        req: Request<R>,
        as_command: fn(R) -> Command,
        answer: impl Fn(&Project, &Applied) -> Result<T, ApiError> + Send + 'static,
    ) -> Reply<T> {
        let caller = self.caller(&req)?;
        self.mutate(caller, as_command(req.into_inner()), answer)
            .await
    }

    /// A read: `answer` reads the caller's request from its project.
    async fn query<R: Send + 'static, T: Send + 'static>(
        &self,
        req: Request<R>,
        answer: impl Fn(&Project, &R) -> Result<T, ApiError> + Send + 'static,
    ) -> Reply<T> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        self.read(caller, move |p| answer(p, &r)).await
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

/// The resource a command created or changed, as the API shows it.
fn created<V: View>(p: &Project, a: &Applied) -> Result<V, ApiError> {
    a.id.as_deref()
        .and_then(|id| V::find(p, id))
        .ok_or_else(|| ApiError::internal("the resource vanished while being created"))
}

/// The resource a request's `name` names, as the API shows it.
fn named<V: View>(p: &Project, name: &str) -> Result<V, ApiError> {
    Ok(V::of(p, p.resolve(V::COLLECTION, name, "name")?))
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

/// A List request's optional filter by a parent resource (`vpc`, `log_group`): the parent's
/// index, or `None` when the field is empty and every parent is listed.
#[derive(Clone, Copy)]
struct Parent(Option<u32>);

impl Parent {
    /// The parent that `name` (the request's `field`) names in collection `c`.
    fn named(p: &Project, c: C, name: &str, field: &str) -> Result<Parent, ApiError> {
        let given = (!name.is_empty()).then(|| p.resolve(c, name, field));
        given.transpose().map(Parent)
    }

    /// The VPC of a request's `vpc` filter, the most common one.
    fn vpc(p: &Project, name: &str) -> Result<Parent, ApiError> {
        Parent::named(p, C::Vpcs, name, "vpc")
    }

    /// The router of a request's `enterprise_router` filter.
    fn router(p: &Project, name: &str) -> Result<Parent, ApiError> {
        Parent::named(p, C::EnterpriseRouters, name, "enterprise_router")
    }

    /// Whether a resource whose parent is `owner` is filtered out.
    fn excludes(self, owner: u32) -> bool {
        self.0.is_some_and(|x| x != owner)
    }
}

/// A service's impl from a table (tonic's `async_trait` must see every method, so the table
/// is expanded here, before the impl is). The table holds:
/// - `resource Message { methods }`: one resource's methods, one line each, every one
///   answering with the resource as its `View` shows it:
///   - `change m(Request => Command);` a create or update, answered with what it made or
///     changed;
///   - `get m(Request);`
///   - `list m(Request) -> Response { field }, |p, r| { (position, index) pairs };` the
///     caller's `parent` checked, the pairs the block yields paged;
///   - `delete m(Request => Command);`
/// - `call m(Request) -> Response;` the function `m` below, written out;
/// - any other item of the impl (an associated type) as it is.
///
/// Each handler is the same three steps: the caller from its token, the request applied as
/// a command or read from the project (`Api::apply`, `Api::query`), the error mapped (`?`
/// and `Status::from`, in one exhaustive match in `error`).
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
        resource $res:ident { $($methods:tt)* }
        $($rest:tt)*) => {
        service!(@resource $svc [$($done)*] $res { $($methods)* } $($rest)*);
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

    // One resource's methods, one at a time; then the rest of the table.
    (@resource $svc:path [$($done:tt)*] $res:ident {} $($rest:tt)*) => {
        service!(@munch $svc [$($done)*] $($rest)*);
    };
    (@resource $svc:path [$($done:tt)*] $res:ident {
        change $m:ident($req:ident => $variant:ident); $($more:tt)*
    } $($rest:tt)*) => {
        service!(@resource $svc [$($done)*
            async fn $m(&self, req: Request<pb::$req>) -> Reply<pb::$res> {
                self.apply(req, Command::$variant, created::<pb::$res>).await
            }
        ] $res { $($more)* } $($rest)*);
    };
    (@resource $svc:path [$($done:tt)*] $res:ident {
        get $m:ident($req:ident); $($more:tt)*
    } $($rest:tt)*) => {
        service!(@resource $svc [$($done)*
            async fn $m(&self, req: Request<pb::$req>) -> Reply<pb::$res> {
                self.query(req, |p, r| named::<pb::$res>(p, &r.name)).await
            }
        ] $res { $($more)* } $($rest)*);
    };
    (@resource $svc:path [$($done:tt)*] $res:ident {
        list $m:ident($req:ident) -> $resp:ident { $field:ident },
            |$p:ident, $r:ident| $items:block; $($more:tt)*
    } $($rest:tt)*) => {
        service!(@resource $svc [$($done)*
            async fn $m(&self, req: Request<pb::$req>) -> Reply<pb::$resp> {
                self.query(req, |$p, $r| {
                    check_parent(&$p.id, &$r.parent)?;
                    let (items, next_page_token) = page($items, $r.page_size, &$r.page_token)?;
                    Ok(pb::$resp {
                        $field: items.into_iter().map(|i| pb::$res::of($p, i)).collect(),
                        next_page_token,
                    })
                })
                .await
            }
        ] $res { $($more)* } $($rest)*);
    };
    (@resource $svc:path [$($done:tt)*] $res:ident {
        delete $m:ident($req:ident => $variant:ident); $($more:tt)*
    } $($rest:tt)*) => {
        service!(@resource $svc [$($done)*
            async fn $m(&self, req: Request<pb::$req>) -> Reply<()> {
                self.apply(req, Command::$variant, |_, _| Ok(())).await
            }
        ] $res { $($more)* } $($rest)*);
    };
}

service! {
    pb::network_service_server::NetworkService {
        resource Vpc {
            change create_vpc(CreateVpcRequest => CreateVpc);
            get get_vpc(GetVpcRequest);
            list list_vpcs(ListVpcsRequest) -> ListVpcsResponse { vpcs },
                |p, r| { live(&p.world().vpcs, |v| v.deleted) };
            change update_vpc(UpdateVpcRequest => UpdateVpc);
            delete delete_vpc(DeleteVpcRequest => DeleteVpc);
        }
        resource Subnet {
            change create_subnet(CreateSubnetRequest => CreateSubnet);
            get get_subnet(GetSubnetRequest);
            list list_subnets(ListSubnetsRequest) -> ListSubnetsResponse { subnets }, |p, r| {
                let vpc = Parent::vpc(p, &r.vpc)?;
                live(&p.world().subnets, move |s| s.deleted || vpc.excludes(s.vpc))
            };
            change update_subnet(UpdateSubnetRequest => UpdateSubnet);
            delete delete_subnet(DeleteSubnetRequest => DeleteSubnet);
        }
        resource NetworkInterface {
            change create_network_interface(
                CreateNetworkInterfaceRequest => CreateNetworkInterface
            );
            get get_network_interface(GetNetworkInterfaceRequest);
            list list_network_interfaces(ListNetworkInterfacesRequest)
                -> ListNetworkInterfacesResponse { network_interfaces }, |p, r| {
                let vpc = Parent::vpc(p, &r.vpc)?;
                let subnet = Parent::named(p, C::Subnets, &r.subnet, "subnet")?;
                live(&p.world().enis, move |e| {
                    e.deleted || vpc.excludes(e.vpc) || subnet.excludes(e.subnet)
                })
            };
            change update_network_interface(
                UpdateNetworkInterfaceRequest => UpdateNetworkInterface
            );
            delete delete_network_interface(
                DeleteNetworkInterfaceRequest => DeleteNetworkInterface
            );
        }
        resource SecurityGroup {
            change create_security_group(CreateSecurityGroupRequest => CreateSecurityGroup);
            get get_security_group(GetSecurityGroupRequest);
            list list_security_groups(ListSecurityGroupsRequest)
                -> ListSecurityGroupsResponse { security_groups }, |p, r| {
                let vpc = Parent::vpc(p, &r.vpc)?;
                live(&p.world().security_groups, move |g| g.deleted || vpc.excludes(g.vpc))
            };
            change update_security_group(UpdateSecurityGroupRequest => UpdateSecurityGroup);
            delete delete_security_group(DeleteSecurityGroupRequest => DeleteSecurityGroup);
        }
        resource NetworkAcl {
            change create_network_acl(CreateNetworkAclRequest => CreateNetworkAcl);
            get get_network_acl(GetNetworkAclRequest);
            list list_network_acls(ListNetworkAclsRequest)
                -> ListNetworkAclsResponse { network_acls }, |p, r| {
                let vpc = Parent::vpc(p, &r.vpc)?;
                live(&p.world().acls, move |a| a.deleted || vpc.excludes(a.vpc))
            };
            change update_network_acl(UpdateNetworkAclRequest => UpdateNetworkAcl);
            delete delete_network_acl(DeleteNetworkAclRequest => DeleteNetworkAcl);
        }
        resource RouteTable {
            change create_route_table(CreateRouteTableRequest => CreateRouteTable);
            get get_route_table(GetRouteTableRequest);
            list list_route_tables(ListRouteTablesRequest)
                -> ListRouteTablesResponse { route_tables }, |p, r| {
                let vpc = Parent::vpc(p, &r.vpc)?;
                live(&p.world().route_tables, move |t| t.deleted || vpc.excludes(t.vpc))
            };
            change update_route_table(UpdateRouteTableRequest => UpdateRouteTable);
            delete delete_route_table(DeleteRouteTableRequest => DeleteRouteTable);
        }
        resource InternetGateway {
            change create_internet_gateway(CreateInternetGatewayRequest => CreateInternetGateway);
            get get_internet_gateway(GetInternetGatewayRequest);
            list list_internet_gateways(ListInternetGatewaysRequest)
                -> ListInternetGatewaysResponse { internet_gateways },
                |p, r| { live(&p.world().igws, |g| g.deleted) };
            delete delete_internet_gateway(DeleteInternetGatewayRequest => DeleteInternetGateway);
        }
        resource NatGateway {
            change create_nat_gateway(CreateNatGatewayRequest => CreateNatGateway);
            get get_nat_gateway(GetNatGatewayRequest);
            list list_nat_gateways(ListNatGatewaysRequest)
                -> ListNatGatewaysResponse { nat_gateways }, |p, r| {
                let vpc = Parent::vpc(p, &r.vpc)?;
                live(&p.world().nats, move |n| n.deleted || vpc.excludes(n.vpc))
            };
            change update_nat_gateway(UpdateNatGatewayRequest => UpdateNatGateway);
            delete delete_nat_gateway(DeleteNatGatewayRequest => DeleteNatGateway);
        }
        resource VpcPeeringConnection {
            change create_vpc_peering_connection(
                CreateVpcPeeringConnectionRequest => CreateVpcPeeringConnection
            );
            get get_vpc_peering_connection(GetVpcPeeringConnectionRequest);
            list list_vpc_peering_connections(ListVpcPeeringConnectionsRequest)
                -> ListVpcPeeringConnectionsResponse { vpc_peering_connections },
                |p, r| { live(&p.world().peerings, |x| x.deleted) };
            delete delete_vpc_peering_connection(
                DeleteVpcPeeringConnectionRequest => DeleteVpcPeeringConnection
            );
        }
        resource VpnGateway {
            change create_vpn_gateway(CreateVpnGatewayRequest => CreateVpnGateway);
            get get_vpn_gateway(GetVpnGatewayRequest);
            list list_vpn_gateways(ListVpnGatewaysRequest)
                -> ListVpnGatewaysResponse { vpn_gateways },
                |p, r| { live(&p.world().vpn_gateways, |x| x.deleted) };
            delete delete_vpn_gateway(DeleteVpnGatewayRequest => DeleteVpnGateway);
        }
    }
}

service! {
    pb::router_service_server::RouterService {
        resource EnterpriseRouter {
            change create_enterprise_router(
                CreateEnterpriseRouterRequest => CreateEnterpriseRouter
            );
            get get_enterprise_router(GetEnterpriseRouterRequest);
            list list_enterprise_routers(ListEnterpriseRoutersRequest)
                -> ListEnterpriseRoutersResponse { enterprise_routers },
                |p, r| { live(&p.world().routers.routers, |x| x.deleted) };
            change update_enterprise_router(
                UpdateEnterpriseRouterRequest => UpdateEnterpriseRouter
            );
            delete delete_enterprise_router(
                DeleteEnterpriseRouterRequest => DeleteEnterpriseRouter
            );
        }
        resource RouterAttachment {
            change create_router_attachment(
                CreateRouterAttachmentRequest => CreateRouterAttachment
            );
            get get_router_attachment(GetRouterAttachmentRequest);
            list list_router_attachments(ListRouterAttachmentsRequest)
                -> ListRouterAttachmentsResponse { router_attachments }, |p, r| {
                let router = Parent::router(p, &r.enterprise_router)?;
                live(&p.world().routers.attachments, move |a| {
                    a.deleted || router.excludes(a.router)
                })
            };
            change update_router_attachment(
                UpdateRouterAttachmentRequest => UpdateRouterAttachment
            );
            delete delete_router_attachment(
                DeleteRouterAttachmentRequest => DeleteRouterAttachment
            );
        }
        resource RouterRouteTable {
            change create_router_route_table(
                CreateRouterRouteTableRequest => CreateRouterRouteTable
            );
            get get_router_route_table(GetRouterRouteTableRequest);
            list list_router_route_tables(ListRouterRouteTablesRequest)
                -> ListRouterRouteTablesResponse { router_route_tables }, |p, r| {
                let router = Parent::router(p, &r.enterprise_router)?;
                let routers = &p.world().routers.routers;
                // A deleted router's tables go with it.
                live(&p.world().routers.tables, move |t| {
                    t.deleted || routers[t.router as usize].deleted || router.excludes(t.router)
                })
            };
            change update_router_route_table(
                UpdateRouterRouteTableRequest => UpdateRouterRouteTable
            );
        }
    }
}

service! {
    pb::log_service_server::LogService {
        resource LogGroup {
            change create_log_group(CreateLogGroupRequest => CreateLogGroup);
            get get_log_group(GetLogGroupRequest);
            list list_log_groups(ListLogGroupsRequest) -> ListLogGroupsResponse { log_groups },
                |p, r| { live(&p.world().logs.groups, |g| g.deleted) };
            change update_log_group(UpdateLogGroupRequest => UpdateLogGroup);
            delete delete_log_group(DeleteLogGroupRequest => DeleteLogGroup);
        }
        resource LogStream {
            change create_log_stream(CreateLogStreamRequest => CreateLogStream);
            get get_log_stream(GetLogStreamRequest);
            list list_log_streams(ListLogStreamsRequest)
                -> ListLogStreamsResponse { log_streams }, |p, r| {
                let group = Parent::named(p, C::LogGroups, &r.log_group, "log_group")?;
                live(&p.world().logs.streams, move |s| s.deleted || group.excludes(s.group))
            };
            delete delete_log_stream(DeleteLogStreamRequest => DeleteLogStream);
        }
        resource FlowLog {
            change create_flow_log(CreateFlowLogRequest => CreateFlowLog);
            get get_flow_log(GetFlowLogRequest);
            list list_flow_logs(ListFlowLogsRequest) -> ListFlowLogsResponse { flow_logs },
                |p, r| { live(&p.world().flow_logs, |f| f.deleted) };
            change update_flow_log(UpdateFlowLogRequest => UpdateFlowLog);
            delete delete_flow_log(DeleteFlowLogRequest => DeleteFlowLog);
        }

        call query_records(QueryRecordsRequest) -> pb::QueryRecordsResponse;

        type TailRecordsStream = RecordStream;

        call tail_records(TailRecordsRequest) -> Self::TailRecordsStream;
    }
}

service! {
    pb::simulation_service_server::SimulationService {
        call get_project(GetProjectRequest) -> pb::Project;

        resource ExternalHost {
            change create_external_host(CreateExternalHostRequest => CreateExternalHost);
            get get_external_host(GetExternalHostRequest);
            list list_external_hosts(ListExternalHostsRequest)
                -> ListExternalHostsResponse { external_hosts },
                |p, r| { live(&p.world().externals, |h| h.deleted) };
            delete delete_external_host(DeleteExternalHostRequest => DeleteExternalHost);
        }

        call inject_traffic(InjectTrafficRequest) -> pb::InjectTrafficResponse;
        call advance(AdvanceRequest) -> pb::Clock;
        call get_clock(GetClockRequest) -> pb::Clock;
        call run_realtime(RunRealtimeRequest) -> pb::Clock;
        call explain_flow(ExplainFlowRequest) -> pb::ExplainFlowResponse;

        call drop_pending_traffic(DropPendingTrafficRequest) -> pb::DropPendingTrafficResponse;

        call delete_project(DeleteProjectRequest) -> ();
    }
}

service! {
    pb::ccn_service_server::CcnService {
        resource CloudConnectNetwork {
            change create_cloud_connect_network(
                CreateCloudConnectNetworkRequest => CreateCloudConnectNetwork
            );
            get get_cloud_connect_network(GetCloudConnectNetworkRequest);
            list list_cloud_connect_networks(ListCloudConnectNetworksRequest)
                -> ListCloudConnectNetworksResponse { cloud_connect_networks },
                |p, r| { live(&p.world().ccns.items, |_| false) };
            change update_cloud_connect_network(
                UpdateCloudConnectNetworkRequest => UpdateCloudConnectNetwork
            );
        }
    }
}

// ----- the handlers that are not one resource's CRUD -----

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

fn parse_record_token(t: &str) -> Result<(u64, u64), Status> {
    t.strip_prefix('r')
        .and_then(|r| r.split_once('.'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| {
            ApiError::invalid("page_token", "the page token is not one this server issued").into()
        })
}

fn clock(p: &Project) -> pb::Clock {
    pb::Clock {
        now: Some(timestamp(p.now())),
        speed: p.speed,
    }
}

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
    api.query(req, |p, r| {
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
    api.apply(req, Command::InjectTraffic, |_, a| {
        Ok(pb::InjectTrafficResponse {
            at: a.at.map(timestamp),
        })
    })
    .await
}

async fn advance(api: &Api, req: Request<pb::AdvanceRequest>) -> Reply<pb::Clock> {
    api.apply(req, Command::Advance, |p, _| Ok(clock(p))).await
}

async fn get_clock(api: &Api, req: Request<pb::GetClockRequest>) -> Reply<pb::Clock> {
    api.query(req, |p, r| {
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
    api.query(req, |p, r| {
        check_parent(&p.id, &r.parent)?;
        let (packets, next_page_token) = p.explain(r)?;
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
    api.apply(req, Command::DropPendingTraffic, |_, a| {
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
