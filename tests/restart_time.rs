//! Restart time (issue 8, "restart in bounded time"): figures, not checks. Ignored by default;
//! run them with
//!
//! ```text
//! cargo test --release --test restart_time -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Each builds a history through the in-process server (gRPC, group commit, snapshots as the
//! server takes them), stops the server, and times `Cloud::open` of the data directory: the
//! latest snapshot read back plus the commands after it applied again.

mod common;

use std::time::{Duration, Instant};

use common::fixture::*;
use common::*;
use vpclab_controlplane::api::snapshot::Policy;
use vpclab_controlplane::api::{Cloud, Defaults, Tenancy, pb};
use vpclab_sim::profile::Provider;

use pb::inject_traffic_request::Traffic;

fn advance_by(ms: u64) -> pb::AdvanceRequest {
    pb::AdvanceRequest {
        parent: P.into(),
        until: Some(pb::advance_request::Until::By(prost_types::Duration {
            seconds: (ms / 1000) as i64,
            nanos: (ms % 1000) as i32 * 1_000_000,
        })),
    }
}

fn pings(t: &Topology, count: u32, interval_ms: i32) -> pb::InjectTrafficRequest {
    pb::InjectTrafficRequest {
        parent: P.into(),
        at: None,
        traffic: Some(Traffic::Ping(pb::Ping {
            from: t.home.clone(),
            to: t.eni.clone(),
            count,
            interval: Some(prost_types::Duration {
                seconds: 0,
                nanos: interval_ms * 1_000_000,
            }),
            ident: Some(1),
            ttl: None,
        })),
    }
}

/// Opens the data directory as a restart does, and reports how.
fn restart(dir: &std::path::Path, defaults: Defaults) -> Duration {
    {
        let store = vpclab_controlplane::store::Store::open(dir).unwrap();
        let started = Instant::now();
        if let Some((seq, bytes)) = store.snapshot("default").unwrap() {
            eprintln!(
                "  snapshot at command {seq}: {} kB (read in {:.3?})",
                bytes.len() >> 10,
                started.elapsed()
            );
        }
    }
    let started = Instant::now();
    let cloud = Cloud::open(dir, defaults).unwrap();
    let took = started.elapsed();
    for r in cloud.restored() {
        eprintln!(
            "  project {}: snapshot at {:?}, {} commands applied after it, {:.3} s",
            r.project, r.snapshot, r.replayed, r.seconds
        );
    }
    took
}

/// 10^5 stored commands: pings, Advances and renames from 16 clients at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --release --ignored --nocapture"]
async fn restart_after_100k_commands() {
    for (name, policy) in [
        ("snapshots", Policy::default()),
        ("no snapshot", Policy::NEVER),
    ] {
        let dir = temp_dir("restart-100k");
        let d = Defaults {
            snapshots: policy,
            ..defaults()
        };
        let server = Server::start(&dir, Tenancy::single(Provider::Tencent), d.clone()).await;
        let ch = server.channel().await;
        let t = build(&ch, P, None).await;
        let started = Instant::now();
        let clients = 16;
        let each = 100_000 / clients;
        let mut tasks = Vec::new();
        for c in 0..clients {
            let ch = ch.clone();
            let (t, vpc) = (pings(&t, 1, 1), t.vpc.clone());
            tasks.push(tokio::spawn(async move {
                let mut sim = SimulationServiceClient::new(ch.clone());
                let mut net = NetworkServiceClient::new(ch);
                for i in 0..each {
                    match i % 4 {
                        0 => drop(sim.inject_traffic(t.clone()).await.unwrap()),
                        1 | 3 => drop(sim.advance(advance_by(100)).await.unwrap()),
                        _ => drop(
                            net.update_vpc(pb::UpdateVpcRequest {
                                vpc: Some(pb::Vpc {
                                    name: vpc.clone(),
                                    display_name: format!("main-{c}-{i}"),
                                    ..Default::default()
                                }),
                                update_mask: mask(&["display_name"]),
                            })
                            .await
                            .unwrap(),
                        ),
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let built = started.elapsed();
        server.stop().await;
        eprintln!(
            "{name}: 100,000 commands stored in {built:.1?} ({:.0}/s)",
            100_000.0 / built.as_secs_f64()
        );
        let took = restart(&dir, d);
        eprintln!("{name}: restart after 100,000 commands: {took:.3?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A 10-million-packet history: rounds of 15 × 65,535 pings 1 ms apart (the pending-packets
/// quota), each followed by the Advance that sends them and the host's replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --release --ignored --nocapture"]
async fn restart_after_10m_packets() {
    let dir = temp_dir("restart-10m");
    let d = defaults();
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), d.clone()).await;
    let ch = server.channel().await;
    let t = build(&ch, P, None).await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    let mut sent = 0u64;
    let mut round = 0;
    while sent < 10_000_000 {
        for _ in 0..15 {
            sim.inject_traffic(pings(&t, 65_535, 1)).await.unwrap();
        }
        let started = Instant::now();
        sim.advance(advance_by(1_200_000)).await.unwrap();
        let took = started.elapsed();
        round += 1;
        // Each echo request and each reply is a packet.
        sent += 15 * 65_535 * 2;
        eprintln!(
            "round {round}: ~{sent} packets sent; the Advance over {} took {took:.2?} ({:.0} packets/s)",
            15 * 65_535 * 2,
            (15 * 65_535 * 2) as f64 / took.as_secs_f64()
        );
    }
    // Then a tail that crosses no snapshot bound: half a round.
    for _ in 0..7 {
        sim.inject_traffic(pings(&t, 65_535, 1)).await.unwrap();
    }
    sim.advance(advance_by(1_200_000)).await.unwrap();
    server.stop().await;
    let bytes = std::fs::metadata(dir.join(vpclab_controlplane::store::FILE_NAME))
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!("store: {} MB", bytes >> 20);
    let took = restart(&dir, d);
    eprintln!(
        "restart after ~{sent} packets (+ {} in the tail): {took:.3?}",
        7 * 65_535 * 2
    );
    let _ = std::fs::remove_dir_all(&dir);
}
