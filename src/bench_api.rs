//! `vpclab bench api`: create+get throughput and tail latency of the gRPC API. A server runs
//! in-process on loopback with a fresh data directory (every create is a durable commit), and
//! `clients` concurrent clients each create a VPC and read it back, `ops` times. Then one
//! client lists the VPCs in pages of 50, `LIST_PAGES` times, as a console would. With
//! `reads_only`, each client creates one VPC and then reads it `2 × ops` times: the ceiling
//! of the RPC stack, with no disk and no waiting.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vpclab_controlplane::api::pb::network_service_client::NetworkServiceClient;
use vpclab_controlplane::api::{Cloud, Defaults, Tenancy, pb, serve};
use vpclab_sim::profile::Provider;

/// How many pages of 50 VPCs are listed after the create+get phase.
const LIST_PAGES: usize = 500;

/// The median and 99th percentile of `latencies`, in milliseconds.
fn percentiles(latencies: &mut [Duration]) -> (f64, f64) {
    latencies.sort();
    let at = |i: usize| latencies[i].as_secs_f64() * 1e3;
    let n = latencies.len();
    (at(n / 2), at((n * 99).div_ceil(100).saturating_sub(1)))
}

pub fn run(clients: usize, ops: usize, reads_only: bool) -> ExitCode {
    let dir = std::env::temp_dir().join(format!("vpclab-bench-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = bench(&dir, clients.max(1), ops.max(1), reads_only);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(1, &e),
    }
}

fn bench(
    dir: &std::path::Path,
    clients: usize,
    ops: usize,
    reads_only: bool,
) -> Result<(), String> {
    let cloud = Arc::new(Cloud::open(dir, Defaults::default()).map_err(|e| e.to_string())?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            cloud,
            Arc::new(Tenancy::single(Provider::Huawei)),
            async {
                let _ = stopped.await;
            },
        ));
        let endpoint = format!("http://{addr}");
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let endpoint = endpoint.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = NetworkServiceClient::connect(endpoint)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut latencies = Vec::with_capacity(ops * 2);
                let mut read = String::new();
                for i in 0..ops {
                    if reads_only && !read.is_empty() {
                        for _ in 0..2 {
                            let t = Instant::now();
                            client
                                .get_vpc(pb::GetVpcRequest { name: read.clone() })
                                .await
                                .map_err(|e| e.to_string())?;
                            latencies.push(t.elapsed());
                        }
                        continue;
                    }
                    let t = Instant::now();
                    let vpc = client
                        .create_vpc(pb::CreateVpcRequest {
                            parent: "projects/default".into(),
                            vpc: Some(pb::Vpc {
                                display_name: format!("bench-{c}-{i}"),
                                cidr: "10.0.0.0/16".into(),
                                ..Default::default()
                            }),
                            vpc_id: String::new(),
                        })
                        .await
                        .map_err(|e| e.to_string())?
                        .into_inner();
                    latencies.push(t.elapsed());
                    let t = Instant::now();
                    client
                        .get_vpc(pb::GetVpcRequest {
                            name: vpc.name.clone(),
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                    latencies.push(t.elapsed());
                    read = vpc.name;
                }
                Ok::<Vec<Duration>, String>(latencies)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.map_err(|e| e.to_string())??);
        }
        let elapsed = started.elapsed();
        // Then pages of 50 VPCs, one client at a time: what a console listing costs.
        let mut client = NetworkServiceClient::connect(endpoint)
            .await
            .map_err(|e| e.to_string())?;
        let mut pages = Vec::with_capacity(LIST_PAGES);
        let mut token = String::new();
        for _ in 0..LIST_PAGES {
            let t = Instant::now();
            let page = client
                .list_vpcs(pb::ListVpcsRequest {
                    parent: "projects/default".into(),
                    page_size: 50,
                    page_token: std::mem::take(&mut token),
                })
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            pages.push(t.elapsed());
            token = page.next_page_token;
        }
        let _ = stop.send(());
        let _ = server.await;
        let (p50, p99) = percentiles(&mut all);
        let what = if reads_only { "get" } else { "create+get" };
        crate::output::say!("clients={clients} operations={} ({what})", all.len());
        crate::output::say!(
            "ops_per_second={:.0}",
            all.len() as f64 / elapsed.as_secs_f64()
        );
        crate::output::say!("p50_ms={p50:.2}");
        crate::output::say!("p99_ms={p99:.2}");
        let (p50, p99) = percentiles(&mut pages);
        crate::output::say!("list_page_of_50_p50_ms={p50:.2}");
        crate::output::say!("list_page_of_50_p99_ms={p99:.2}");
        Ok(())
    })
}
