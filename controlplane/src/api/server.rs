//! `vpclab serve`: the gRPC server. `serve` takes its listener and its shutdown signal from
//! the caller (after mini-redis), so tests bind port 0 and stop it when they like.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use tonic::body::Body;
use tonic::codegen::http;
use tonic::{Code, Status};

use super::cloud::Cloud;
use super::error::ApiError;
use super::grpc::Api;
use super::pb;
use super::tenancy::Tenancy;

/// Serves the API until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    cloud: Arc<Cloud>,
    tenancy: Arc<Tenancy>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let api = Api {
        cloud: cloud.clone(),
        tenancy,
        shutdown: stop_rx.clone(),
    };
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the compiled descriptor set is valid");
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::network_service_server::NetworkServiceServer<Api>>()
        .await;
    health_reporter
        .set_serving::<pb::log_service_server::LogServiceServer<Api>>()
        .await;
    health_reporter
        .set_serving::<pb::simulation_service_server::SimulationServiceServer<Api>>()
        .await;
    health_reporter
        .set_serving::<pb::router_service_server::RouterServiceServer<Api>>()
        .await;
    health_reporter
        .set_serving::<pb::ccn_service_server::CcnServiceServer<Api>>()
        .await;
    let limit = cloud.quotas().request_bytes;
    let ticker = tokio::spawn(realtime(cloud, stop_rx));
    let stop = async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    };
    let result = tonic::transport::Server::builder()
        .layer(Refusals { limit })
        .add_service(health)
        .add_service(reflection)
        .add_service(
            pb::network_service_server::NetworkServiceServer::new(api.clone())
                .max_decoding_message_size(limit),
        )
        .add_service(
            pb::log_service_server::LogServiceServer::new(api.clone())
                .max_decoding_message_size(limit),
        )
        .add_service(
            pb::simulation_service_server::SimulationServiceServer::new(api.clone())
                .max_decoding_message_size(limit),
        )
        .add_service(
            pb::router_service_server::RouterServiceServer::new(api.clone())
                .max_decoding_message_size(limit),
        )
        .add_service(
            pb::ccn_service_server::CcnServiceServer::new(api).max_decoding_message_size(limit),
        )
        // Without TCP_NODELAY a response larger than one segment waits for the client's
        // delayed ACK (~40 ms) before its last part goes out.
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), stop)
        .await;
    ticker.abort();
    result
}

/// Moves the clocks of projects running in real time, about once a wall-clock second, by the
/// wall time that really passed since the last tick (so a busy machine that skips ticks does
/// not slow the pace; at most `MAX_TICK` at once). Each tick is an Advance command like any
/// other, so it is stored and replayed. Ticks run on the blocking pool, each project's on its
/// own: a project whose previous tick is still running (a long Advance holds its lock) is
/// skipped this second, and never delays the others.
async fn realtime(cloud: Arc<Cloud>, mut stop: tokio::sync::watch::Receiver<bool>) {
    const MAX_TICK: Duration = Duration::from_secs(10);
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = every.tick() => {}
        }
        let now = tokio::time::Instant::now();
        let wall = (now - last).min(MAX_TICK);
        last = now;
        for project in cloud.due_ticks() {
            let cloud = cloud.clone();
            // The project's speed is read again under its lock: a stop wins over this tick.
            tokio::task::spawn_blocking(move || {
                if let Err(e) = cloud.tick(&project, wall) {
                    tracing::warn!(%project, error = %e, "real-time tick refused");
                }
                cloud.ticked(&project);
            });
        }
    }
}

/// The gRPC layer's own refusals, answered as every other refusal: it refuses a message over
/// `max_decoding_message_size` with OUT_OF_RANGE and one that does not decode (invalid UTF-8
/// in a string, a truncated field) with INTERNAL, both before any handler runs. This layer
/// turns the first into RESOURCE_EXHAUSTED with a QuotaFailure naming `request_bytes`, and the
/// second into INVALID_ARGUMENT with the field that did not decode.
#[derive(Clone, Copy)]
struct Refusals {
    limit: usize,
}

impl<S> tower_layer::Layer<S> for Refusals {
    type Service = RefusalsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RefusalsService {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Clone)]
struct RefusalsService<S> {
    inner: S,
    limit: usize,
}

impl<S, B> tower_service::Service<http::Request<B>> for RefusalsService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let limit = self.limit;
        let method = req.uri().path().to_string();
        let answer = self.inner.call(req);
        Box::pin(async move { answer.await.map(|r| refusal(r, limit, &method)) })
    }
}

/// `response` itself, unless it is one of the gRPC layer's refusals (see [`Refusals`]); the
/// QuotaFailure's subject of an over-size request is the method called.
fn refusal(response: http::Response<Body>, limit: usize, method: &str) -> http::Response<Body> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let err = match status.code() {
        Code::OutOfRange
            if status
                .message()
                .contains("decoded message length too large") =>
        {
            let mut err = ApiError::new(
                Code::ResourceExhausted,
                format!(
                    "the request is larger than the {limit} bytes one request may carry (server setting --quota-request-bytes); send it in parts"
                ),
            );
            err.quota = Some("request_bytes".to_string());
            err.about("grpc.Method", method)
        }
        Code::Internal => match undecodable(status.message()) {
            Some(err) => err,
            None => return response,
        },
        _ => return response,
    };
    Status::from(err).into_http()
}

/// A protobuf decoding failure as INVALID_ARGUMENT on the field at fault. prost says
/// `failed to decode Protobuf message: Vpc.display_name: CreateVpcRequest.vpc: invalid string
/// value: data is not UTF-8 encoded`: the innermost field first, the description last.
fn undecodable(message: &str) -> Option<ApiError> {
    let rest = message.strip_prefix("failed to decode Protobuf message: ")?;
    // The stack's entries are `Message.field`: no spaces; the description follows them.
    let parts: Vec<&str> = rest.split(": ").collect();
    let depth = parts
        .iter()
        .take(parts.len().saturating_sub(1))
        .take_while(|p| p.contains('.') && !p.contains(char::is_whitespace))
        .count();
    let description = parts[depth..].join(": ");
    let field = parts[..depth]
        .iter()
        .rev()
        .filter_map(|p| p.split_once('.').map(|(_, field)| field))
        .collect::<Vec<_>>()
        .join(".");
    let text = format!("the request does not decode as protobuf: {description}");
    Some(if field.is_empty() {
        ApiError::new(Code::InvalidArgument, text)
    } else {
        ApiError::invalid(field, text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_failures_name_their_field() {
        let e = undecodable(
            "failed to decode Protobuf message: Vpc.display_name: CreateVpcRequest.vpc: \
             invalid string value: data is not UTF-8 encoded",
        )
        .unwrap();
        assert_eq!(e.code, Code::InvalidArgument);
        assert_eq!(e.field.as_deref(), Some("vpc.display_name"));
        assert_eq!(
            e.message,
            "the request does not decode as protobuf: invalid string value: data is not UTF-8 encoded"
        );
        let e = undecodable("failed to decode Protobuf message: buffer underflow").unwrap();
        assert_eq!((e.code, e.field), (Code::InvalidArgument, None));
        assert!(undecodable("a handler's own INTERNAL error").is_none());
    }
}
