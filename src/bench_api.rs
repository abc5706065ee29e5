//! `vpclab bench api`: create+get throughput and tail latency of the gRPC API. A server runs
//! in-process on loopback with a fresh data directory (every create is a durable commit), and
//! `clients` concurrent clients each create a VPC and read it back, `ops` times.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vpclab_controlplane::api::pb::network_service_client::NetworkServiceClient;
use vpclab_controlplane::api::{Cloud, Defaults, Tenancy, pb, serve};
use vpclab_sim::profile::Provider;

pub fn run(clients: usize, ops: usize) -> ExitCode {
    let dir = std::env::temp_dir().join(format!("vpclab-bench-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = bench(&dir, clients.max(1), ops.max(1));
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(1, &e),
    }
}

fn bench(dir: &std::path::Path, clients: usize, ops: usize) -> Result<(), String> {
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
                for i in 0..ops {
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
                        .get_vpc(pb::GetVpcRequest { name: vpc.name })
                        .await
                        .map_err(|e| e.to_string())?;
                    latencies.push(t.elapsed());
                }
                Ok::<Vec<Duration>, String>(latencies)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.map_err(|e| e.to_string())??);
        }
        let elapsed = started.elapsed();
        let _ = stop.send(());
        let _ = server.await;
        all.sort();
        let p99 = all[(all.len() * 99).div_ceil(100).saturating_sub(1)];
        let p50 = all[all.len() / 2];
        crate::output::say!("clients={clients} operations={} (create+get)", all.len());
        crate::output::say!(
            "ops_per_second={:.0}",
            all.len() as f64 / elapsed.as_secs_f64()
        );
        crate::output::say!("p50_ms={:.2}", p50.as_secs_f64() * 1e3);
        crate::output::say!("p99_ms={:.2}", p99.as_secs_f64() * 1e3);
        Ok(())
    })
}
