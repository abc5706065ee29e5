//! `vpclab serve`: the gRPC control plane on a TCP port, state under a data directory.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use vpclab_controlplane::api::{Cloud, Defaults, Quotas, Tenancy, serve};
use vpclab_sim::profile::Provider;

/// `vpclab serve`'s per-project quotas (README: "Limits").
#[derive(clap::Args, Clone, Debug)]
pub struct QuotaArgs {
    /// Scripted packets a project may have injected and not sent yet.
    #[arg(long, value_name = "PACKETS", default_value_t = Quotas::default().pending_packets)]
    pub quota_pending_packets: u64,
    /// Virtual seconds one Advance may cover.
    #[arg(long, value_name = "SECONDS", default_value_t = Quotas::default().advance.as_secs())]
    pub quota_advance_seconds: u64,
    /// Flow-log records a project may keep stored before Advance is refused.
    #[arg(long, value_name = "RECORDS", default_value_t = Quotas::default().stored_records)]
    pub quota_stored_records: u64,
    /// Rules per security group, entries per network ACL and routes per route table.
    #[arg(long, value_name = "ITEMS", default_value_t = Quotas::default().rules_per_security_group)]
    pub quota_list_items: usize,
    /// Bytes of one request message.
    #[arg(long, value_name = "BYTES", default_value_t = Quotas::default().request_bytes)]
    pub quota_request_bytes: usize,
    /// Objects a project's model may hold: resources (deleted ones included), their rules,
    /// entries and routes (past revisions included).
    #[arg(long, value_name = "OBJECTS", default_value_t = Quotas::default().objects)]
    pub quota_objects: usize,
}

impl QuotaArgs {
    pub fn quotas(&self) -> Quotas {
        Quotas {
            pending_packets: self.quota_pending_packets,
            advance: std::time::Duration::from_secs(self.quota_advance_seconds),
            stored_records: self.quota_stored_records,
            rules_per_security_group: self.quota_list_items,
            entries_per_network_acl: self.quota_list_items,
            routes_per_route_table: self.quota_list_items,
            request_bytes: self.quota_request_bytes,
            objects: self.quota_objects,
        }
    }
}

pub struct Options<'a> {
    pub listen: SocketAddr,
    pub data_dir: &'a Path,
    pub tokens: Option<&'a Path>,
    pub provider: Provider,
    pub seed: u64,
    pub start: u64,
    pub quotas: Quotas,
    /// Where the web console listens (loopback only), if anywhere.
    pub http: Option<SocketAddr>,
}

pub fn run(o: &Options) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VPCLAB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let tenancy = match o.tokens {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    return crate::fail(crate::BAD_INPUT, &format!("{}: {e}", path.display()));
                }
            };
            match Tenancy::from_file(&path.display().to_string(), &text, o.provider) {
                Ok(t) => t,
                Err(e) => return crate::fail(crate::BAD_INPUT, &e),
            }
        }
        None => Tenancy::single(o.provider),
    };
    if tenancy.is_single() && !o.listen.ip().is_loopback() {
        return crate::fail(
            crate::BAD_INPUT,
            &format!(
                "refusing to listen on {} without --tokens: anyone who can reach it could change the default project. Give --tokens FILE or listen on 127.0.0.1",
                o.listen
            ),
        );
    }
    if let Some(http) = o.http
        && !http.ip().is_loopback()
    {
        return crate::fail(
            crate::BAD_INPUT,
            &format!("--http {http}: the console has no TLS; listen on loopback"),
        );
    }
    let defaults = Defaults {
        seed: o.seed,
        start: o.start,
        quotas: o.quotas.clone(),
        // Every `snapshot::EVERY_COMMANDS` commands or `EVERY_PACKETS` packets.
        snapshots: Default::default(),
    };
    let cloud = match Cloud::open(o.data_dir, defaults) {
        Ok(c) => Arc::new(c),
        Err(e) => return crate::fail(1, &e.to_string()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return crate::fail(1, &format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(o.listen).await {
            Ok(l) => l,
            Err(e) => return crate::fail(1, &format!("cannot listen on {}: {e}", o.listen)),
        };
        let addr = listener.local_addr().map_or(o.listen, |a| a);
        tracing::info!(
            %addr,
            data_dir = %o.data_dir.display(),
            projects = cloud.project_ids().len(),
            "serving"
        );
        // A line tools can wait for (tests read the port from it).
        crate::output::say!("vpclab: serving on {addr}");
        let tenancy = Arc::new(tenancy);
        if let Some(http) = o.http {
            let console = match tokio::net::TcpListener::bind(http).await {
                Ok(l) => l,
                Err(e) => return crate::fail(crate::BAD_INPUT, &format!("--http {http}: {e}")),
            };
            let at = console.local_addr().unwrap_or(http);
            crate::output::say!("vpclab: console on http://{at}/");
            let app = crate::console::server::router(cloud.clone(), tenancy.clone());
            // Ends with the runtime, when the gRPC server has stopped.
            tokio::spawn(async move {
                if let Err(e) = axum::serve(console, app).await {
                    tracing::error!(error = %e, "the console stopped");
                }
            });
        }
        match serve(listener, cloud, tenancy, shutdown_signal()).await {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => crate::fail(1, &format!("server error: {e}")),
        }
    })
}

/// SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
