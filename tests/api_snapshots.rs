//! Snapshots through the server (issue 8, "restart in bounded time"): a server that takes
//! snapshots every 20 commands is restarted and rebuilds its project from the latest one,
//! applying only the commands stored after it; everything it answers afterwards (resources,
//! the clock, records, explanations, what later commands deliver) is what a server that never
//! snapshotted nor stopped answers. A snapshot that does not read back (damaged, or written
//! by a vpclab of another snapshot format) is ignored and the whole log applied, and that
//! start leaves a good snapshot behind.

mod common;

use common::fixture::*;
use common::*;
use vpclab_controlplane::api::command::Command;
use vpclab_controlplane::api::snapshot::{self, Policy};
use vpclab_controlplane::api::{Defaults, Restored, Tenancy, pb};
use vpclab_controlplane::store::{Commit, SnapshotPart, Store};

use pb::inject_traffic_request::Traffic;
use vpclab_sim::profile::Provider;

fn every(commands: u64) -> Defaults {
    Defaults {
        snapshots: Policy {
            commands,
            packets: 0,
        },
        ..defaults()
    }
}

fn advance_by(secs: i64) -> pb::AdvanceRequest {
    pb::AdvanceRequest {
        parent: P.into(),
        until: Some(pb::advance_request::Until::By(prost_types::Duration {
            seconds: secs,
            nanos: 0,
        })),
    }
}

/// Step `i` of the traffic both servers get: pings, a TCP session left open (tracked), and
/// Advances that leave capture windows open.
async fn step(server: &Server, t: &Topology, i: u64) {
    let ch = server.channel().await;
    let mut sim = SimulationServiceClient::new(ch);
    let traffic = match i % 3 {
        0 => Traffic::Ping(pb::Ping {
            from: t.home.clone(),
            to: t.eni.clone(),
            count: 3,
            ..Default::default()
        }),
        1 => Traffic::Tcp(pb::Tcp {
            from: t.eni.clone(),
            to: t.home.clone(),
            port: 443,
            requests: vec![200],
            responses: vec![1_000],
            close: "open".into(),
            ..Default::default()
        }),
        _ => {
            sim.advance(advance_by(7 + i as i64)).await.unwrap();
            return;
        }
    };
    sim.inject_traffic(inject(traffic)).await.unwrap();
}

/// What a caller can see of the project: resources, clock, records, explanations.
async fn seen(server: &Server, t: &Topology) -> Vec<String> {
    let ch = server.channel().await;
    let mut out: Vec<String> = vpc_names(&ch).await.into_iter().collect();
    out.push(format!("{:?}", now(&ch, P, None).await));
    let records = query_all(&ch, None, query(&t.stream)).await;
    assert!(!records.is_empty(), "records were delivered");
    out.extend(records.into_iter().map(|r| format!("{r:?}")));
    // The instance (private and elastic address) and the host on the internet, both ways.
    let mut sim = SimulationServiceClient::new(ch);
    for (src, dst) in [
        ("203.0.113.12", "198.51.100.10"),
        ("172.31.16.139", "203.0.113.12"),
    ] {
        for (src, dst) in [(src, dst), (dst, src)] {
            let explained = sim
                .explain_flow(pb::ExplainFlowRequest {
                    parent: P.into(),
                    src: src.into(),
                    dst: dst.into(),
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            out.extend(explained.packets);
        }
    }
    out
}

/// The same project on a server that never snapshots nor stops.
async fn reference(steps: u64) -> (Server, Topology, TempDir) {
    let dir = temp_dir("snapshots-reference");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), every(0)).await;
    let t = build(&server.channel().await, P, None).await;
    for i in 0..steps {
        step(&server, &t, i).await;
    }
    (server, t, dir)
}

#[tokio::test]
async fn a_restart_reads_the_latest_snapshot_and_applies_only_the_commands_after_it() {
    let dir = temp_dir("snapshots");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), every(20)).await;
    let t = build(&server.channel().await, P, None).await;
    let steps = 40;
    for i in 0..steps {
        step(&server, &t, i).await;
    }
    let stored = server.cloud.store().commands("default").unwrap().len() as u64;
    let (at, _) = server.cloud.store().snapshot("default").unwrap().unwrap();
    assert_eq!(
        at,
        stored / 20 * 20,
        "the latest snapshot, every 20 commands"
    );
    assert!(at < stored, "some commands came after it: {at} of {stored}");
    let before = seen(&server, &t).await;
    server.stop().await;

    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), every(20)).await;
    let restored = server.cloud.restored();
    assert_eq!(restored.len(), 1);
    assert_eq!(
        (
            restored[0].project.as_str(),
            restored[0].snapshot,
            restored[0].replayed
        ),
        ("default", Some(at), stored - at),
        "{restored:?}"
    );
    assert_eq!(seen(&server, &t).await, before);

    // Later commands deliver what they deliver on a server that never stopped.
    let (other, t2, other_dir) = reference(steps).await;
    assert_eq!(t2.stream, t.stream);
    assert_eq!(seen(&other, &t2).await, before);
    for i in steps..steps + 9 {
        step(&server, &t, i).await;
        step(&other, &t2, i).await;
    }
    assert_eq!(seen(&server, &t).await, seen(&other, &t2).await);
    server.stop().await;
    other.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other_dir);
}

/// Replaces the project's snapshot with `bytes`, as taken after one more (harmless) command.
fn plant_snapshot(dir: &std::path::Path, bytes: &[u8]) {
    let store = Store::open(dir).unwrap();
    let seq = store.commands("default").unwrap().len() as u64 + 1;
    let command = Command::Advance(advance_by(0)).encode();
    let commit = Commit {
        project: "default",
        seq,
        command: &command,
        records: &[],
        purges: &[],
    };
    let part = SnapshotPart {
        project: "default",
        seq,
        index: 0,
        of: 1,
        bytes,
        gone: &|| false,
    };
    let (results, written) = store.commit_batch_with(&[commit], Some(&part));
    results.into_iter().for_each(|r| r.unwrap());
    assert!(written);
}

#[tokio::test]
async fn a_snapshot_that_does_not_read_back_is_ignored_and_the_whole_log_applied() {
    let dir = temp_dir("snapshots-bad");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), every(10)).await;
    let t = build(&server.channel().await, P, None).await;
    for i in 0..40 {
        step(&server, &t, i).await;
    }
    server.stop().await;
    let (_, good) = Store::open(&dir)
        .unwrap()
        .snapshot("default")
        .unwrap()
        .unwrap();

    // Written by a vpclab of another snapshot format; then damaged; then cut short.
    let mut other_version = good.clone();
    other_version[8..12].copy_from_slice(&(snapshot::VERSION + 1).to_le_bytes());
    let mut damaged = good.clone();
    let middle = damaged.len() / 2;
    damaged[middle..].iter_mut().for_each(|b| *b = 0xff);
    let cut = good[..good.len() / 3].to_vec();
    for bad in [other_version, damaged, cut] {
        plant_snapshot(&dir, &bad);
        let stored = Store::open(&dir)
            .unwrap()
            .commands("default")
            .unwrap()
            .len() as u64;
        let server = Server::start(&dir, Tenancy::single(Provider::Tencent), every(10)).await;
        let restored: Vec<Restored> = server.cloud.restored().to_vec();
        assert_eq!(
            (restored[0].snapshot, restored[0].replayed),
            (None, stored),
            "{restored:?}"
        );
        let after = seen(&server, &t).await;
        server.stop().await;

        // That start left a snapshot of what it rebuilt: the next one applies nothing.
        let again = Server::start(&dir, Tenancy::single(Provider::Tencent), every(10)).await;
        let restored_again: Vec<Restored> = again.cloud.restored().to_vec();
        assert_eq!(
            (restored_again[0].snapshot, restored_again[0].replayed),
            (Some(stored), 0),
            "{restored_again:?}"
        );
        assert_eq!(seen(&again, &t).await, after);
        again.stop().await;

        // The same as a server that applied the same commands and never snapshotted.
        let (other, t2, other_dir) = reference(40).await;
        let mut sim = SimulationServiceClient::new(other.channel().await);
        for _ in
            0..restored[0].replayed - other.cloud.store().commands("default").unwrap().len() as u64
        {
            sim.advance(advance_by(0)).await.unwrap();
        }
        assert_eq!(seen(&other, &t2).await, after);
        other.stop().await;
        let _ = std::fs::remove_dir_all(&other_dir);
    }
}
