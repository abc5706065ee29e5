//! The gRPC services beyond the happy path: many clients at once (unique names, no lost
//! update), tenancy isolation, restart / `kill -9` / SIGTERM of the real binary, a corrupt data
//! file, the log service (time ranges, paging, tails), the simulation service (explanations,
//! real time, the virtual past), list paging, and gRPC health and reflection.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fixture::*;
use common::*;
use tonic::{Code, Request, Status};
use vpclab_controlplane::api::{Tenancy, pb};
use vpclab_sim::profile::Provider;

// ----- 1. concurrency -----

#[derive(Debug)]
struct Attempt {
    display_name: String,
    result: Result<pb::Vpc, Code>,
    deleted: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_clients_keep_names_unique_and_lose_no_acknowledged_create() {
    const CLIENTS: usize = 24;
    const SHARED: usize = 4;
    let dir = temp_dir("svc-race");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let url = server.url();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            // Every client has its own connection.
            let mut net = NetworkServiceClient::new(connect(&url).await);
            barrier.wait().await;
            let mut out = Vec::new();
            // Six clients race on each shared name; each client also creates a name of its
            // own, and a temporary one that a third of them delete again.
            let names = [
                format!("shared-{}", c % SHARED),
                format!("own-{c}"),
                format!("temp-{c}"),
            ];
            for (k, name) in names.iter().enumerate() {
                let cidr = format!("10.{}.{k}.0/24", c);
                let result = net
                    .create_vpc(vpc_req(P, name, &cidr))
                    .await
                    .map(|r| r.into_inner())
                    .map_err(|s| {
                        assert_eq!(s.code(), Code::AlreadyExists, "{name}: {s:?}");
                        s.code()
                    });
                out.push(Attempt {
                    display_name: name.clone(),
                    result,
                    deleted: false,
                });
                tokio::task::yield_now().await;
            }
            if c % 3 == 0 {
                let temp = out.last_mut().unwrap();
                let vpc = temp.result.as_ref().expect("temp names are not contested");
                net.delete_vpc(pb::DeleteVpcRequest {
                    name: vpc.name.clone(),
                    etag: vpc.etag.clone(),
                })
                .await
                .unwrap();
                temp.deleted = true;
            }
            out
        }));
    }
    let mut attempts = Vec::new();
    for t in tasks {
        attempts.extend(t.await.unwrap());
    }

    // Exactly one create of each shared name succeeded; the others were told it exists.
    for s in 0..SHARED {
        let name = format!("shared-{s}");
        let wins = attempts
            .iter()
            .filter(|a| a.display_name == name && a.result.is_ok())
            .count();
        let losses = attempts
            .iter()
            .filter(|a| a.display_name == name && a.result == Err(Code::AlreadyExists))
            .count();
        assert_eq!((wins, losses), (1, CLIENTS / SHARED - 1), "{name}");
    }
    // Uncontested names always succeed.
    for a in attempts
        .iter()
        .filter(|a| !a.display_name.starts_with("shared-"))
    {
        assert!(a.result.is_ok(), "{a:?}");
    }
    // Acknowledged creates got distinct resource names.
    let acked: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_ok()).collect();
    let ids: BTreeSet<&str> = acked
        .iter()
        .map(|a| a.result.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(ids.len(), acked.len(), "resource names are unique");

    // Every acknowledged create is there, unless this test deleted it.
    let ch = server.channel().await;
    let mut net = NetworkServiceClient::new(ch.clone());
    for a in &acked {
        let vpc = a.result.as_ref().unwrap();
        let got = net
            .get_vpc(pb::GetVpcRequest {
                name: vpc.name.clone(),
            })
            .await;
        if a.deleted {
            assert_eq!(got.unwrap_err().code(), Code::NotFound, "{}", vpc.name);
        } else {
            let got = got.unwrap().into_inner();
            assert_eq!(got.display_name, a.display_name);
            assert_eq!(got.cidr, vpc.cidr);
        }
    }
    // And the list holds exactly one VPC per surviving name, nothing else.
    let listed = all_vpcs(&ch, P, None, 7).await;
    let mut per_name: BTreeMap<String, usize> = BTreeMap::new();
    for v in &listed {
        *per_name.entry(v.display_name.clone()).or_default() += 1;
    }
    let expected: BTreeSet<String> = acked
        .iter()
        .filter(|a| !a.deleted)
        .map(|a| a.display_name.clone())
        .collect();
    assert_eq!(
        per_name.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "the surviving names"
    );
    assert!(
        per_name.values().all(|&n| n == 1),
        "one VPC per name: {per_name:?}"
    );
    assert_eq!(listed.len(), CLIENTS * 2 + SHARED - CLIENTS.div_ceil(3));
    server.stop().await;

    // The interleaving that was acknowledged is the one that was stored: a restart replays
    // it to the same VPCs, names and ids alike.
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let replayed = all_vpcs(&server.channel().await, P, None, 100).await;
    assert_eq!(replayed, listed);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_with_one_etag_have_one_winner() {
    const WRITERS: usize = 8;
    let dir = temp_dir("svc-etag");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let mut net = NetworkServiceClient::new(ch.clone());
    let vpc = net
        .create_vpc(vpc_req(P, "contested", "10.0.0.0/16"))
        .await
        .unwrap()
        .into_inner();
    let sg = net
        .create_security_group(sg_req(
            P,
            "shared-sg",
            &vpc.name,
            vec![rule(pb::Direction::Ingress, "tcp", "22")],
        ))
        .await
        .unwrap()
        .into_inner();
    let mut etag = sg.etag.clone();
    assert!(!etag.is_empty(), "security groups carry an etag");
    let mut channels = Vec::new();
    for _ in 0..WRITERS {
        channels.push(connect(&server.url()).await);
    }
    for round in 0..3u32 {
        let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
        let mut tasks = Vec::new();
        for (w, ch) in channels.iter().enumerate() {
            let mut net = NetworkServiceClient::new(ch.clone());
            let barrier = barrier.clone();
            let update = pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    name: sg.name.clone(),
                    rules: vec![rule(
                        pb::Direction::Ingress,
                        "tcp",
                        &format!("{}", 1000 + round * 100 + w as u32),
                    )],
                    etag: etag.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["rules"]),
            };
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                (w, net.update_security_group(update).await)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (w, r) = t.await.unwrap();
            match r {
                Ok(g) => winners.push((w, g.into_inner())),
                Err(s) => {
                    assert_eq!(s.code(), Code::Aborted, "writer {w}: {s:?}");
                    assert_eq!(field(&s), "security_group.etag");
                }
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one writer wins");
        let (w, won) = winners.pop().unwrap();
        let want_port = format!("{}", 1000 + round * 100 + w as u32);
        // The winner's rules are what is stored: no later writer overwrote them.
        let now = get!(net.get_security_group(GetSecurityGroupRequest, &sg.name));
        assert_eq!(now.rules.len(), 1);
        assert_eq!(now.rules[0].ports, want_port);
        assert_eq!(now.etag, won.etag);
        assert_ne!(now.etag, etag, "a successful update changes the etag");
        etag = now.etag;
    }
    server.stop().await;
}

// ----- 2. tenancy -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_never_sees_or_changes_another() {
    let dir = temp_dir("svc-tenancy");
    let tokens_dir = temp_dir("svc-tenancy-tokens");
    let server = Server::start(&dir, two_teams(&tokens_dir), defaults()).await;
    let ch = server.channel().await;
    let (a, b) = (Some(TOKEN_A), Some(TOKEN_B));
    const PA: &str = "projects/team-a";
    const PB: &str = "projects/team-b";
    let mut net = NetworkServiceClient::new(ch.clone());
    let mut logs = LogServiceClient::new(ch.clone());
    let mut sim = SimulationServiceClient::new(ch.clone());

    // Each caller's project simulates its own cloud.
    for (token, name, provider) in [(a, PA, "tencent"), (b, PB, "aws")] {
        let p = sim
            .get_project(req(
                token,
                pb::GetProjectRequest {
                    name: "projects/-".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((p.name.as_str(), p.provider.as_str()), (name, provider));
    }

    // team-a builds a topology and gets records.
    let topo = build(&ch, PA, a).await;
    ping(&ch, PA, a, &topo, START + 27, 2).await;
    // Exactly the end of the window: later windows would add NODATA records.
    advance_to(&ch, PA, a, START + 300).await;
    let a_records = query_all(&ch, a, query(&topo.stream)).await;
    assert_eq!(a_records.len(), 2, "{a_records:?}");

    // team-b sees none of it.
    let listed = net
        .list_vpcs(req(
            b,
            pb::ListVpcsRequest {
                parent: PB.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.vpcs.is_empty(), "{listed:?}");
    let listed = logs
        .list_log_streams(req(
            b,
            pb::ListLogStreamsRequest {
                parent: PB.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.log_streams.is_empty());
    let denied = |r: Result<(), Status>, what: &str| {
        let s = r.expect_err(what);
        assert_eq!(s.code(), Code::PermissionDenied, "{what}: {s:?}");
    };
    // The refusal is the same whether the other project's resource exists or not: it tells
    // nothing about team-a.
    let get = |name: String| {
        let mut net = net.clone();
        async move {
            net.get_vpc(req(b, pb::GetVpcRequest { name }))
                .await
                .unwrap_err()
        }
    };
    let real = get(topo.vpc.clone()).await;
    let made_up = get("projects/team-a/vpcs/vpc-doesnotexist".into()).await;
    assert_eq!(real.code(), Code::PermissionDenied, "{real:?}");
    assert_eq!(
        (real.code(), real.message()),
        (made_up.code(), made_up.message())
    );
    denied(
        net.list_vpcs(req(
            b,
            pb::ListVpcsRequest {
                parent: PA.into(),
                ..Default::default()
            },
        ))
        .await
        .map(drop),
        "list team-a's VPCs",
    );
    denied(
        net.get_vpc(req(
            b,
            pb::GetVpcRequest {
                name: topo.vpc.clone(),
            },
        ))
        .await
        .map(drop),
        "get team-a's VPC",
    );
    denied(
        net.get_network_interface(req(
            b,
            pb::GetNetworkInterfaceRequest {
                name: topo.eni.clone(),
            },
        ))
        .await
        .map(drop),
        "get team-a's interface",
    );
    denied(
        net.delete_vpc(req(
            b,
            pb::DeleteVpcRequest {
                name: topo.vpc.clone(),
                etag: String::new(),
            },
        ))
        .await
        .map(drop),
        "delete team-a's VPC",
    );
    denied(
        logs.delete_flow_log(req(
            b,
            pb::DeleteFlowLogRequest {
                name: topo.flow_log.clone(),
                etag: String::new(),
            },
        ))
        .await
        .map(drop),
        "delete team-a's flow log",
    );
    denied(
        net.create_vpc(req(b, vpc_req(PA, "intruder", "10.9.0.0/16")))
            .await
            .map(drop),
        "create in team-a",
    );
    denied(
        logs.query_records(req(b, query(&topo.stream)))
            .await
            .map(drop),
        "query team-a's records",
    );
    denied(
        logs.tail_records(req(
            b,
            pb::TailRecordsRequest {
                log_stream: topo.stream.clone(),
                after_sequence: 1,
            },
        ))
        .await
        .map(drop),
        "tail team-a's records",
    );
    denied(
        sim.advance(req(
            b,
            pb::AdvanceRequest {
                parent: PA.into(),
                until: Some(pb::advance_request::Until::To(ts(START + 3600))),
            },
        ))
        .await
        .map(drop),
        "advance team-a's clock",
    );
    denied(
        sim.get_project(req(b, pb::GetProjectRequest { name: PA.into() }))
            .await
            .map(drop),
        "read team-a's project",
    );

    // team-b may use the same display names and ids in its own project.
    let (_, b_stream) = log_stream(&ch, PB, b, "vpc-flow-logs", "instance").await;
    let b_vpc = net
        .create_vpc(req(b, vpc_req(PB, "main", "172.31.0.0/16")))
        .await
        .unwrap()
        .into_inner();
    assert!(b_vpc.name.starts_with("projects/team-b/vpcs/"));
    assert!(
        query_all(&ch, b, query(&b_stream)).await.is_empty(),
        "team-b's stream holds none of team-a's records"
    );

    // Nothing of team-a changed.
    let vpc = net
        .get_vpc(req(
            a,
            pb::GetVpcRequest {
                name: topo.vpc.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(vpc.display_name, "main");
    assert_eq!(
        query_all(&ch, a, query(&topo.stream))
            .await
            .iter()
            .map(|r| &r.line)
            .collect::<Vec<_>>(),
        a_records.iter().map(|r| &r.line).collect::<Vec<_>>()
    );
    assert_eq!(secs(&now(&ch, PA, a).await.now), START + 300);
    assert_eq!(secs(&now(&ch, PB, b).await.now), START);

    // No token, an unknown token, a malformed header: unauthenticated.
    let list = || pb::ListVpcsRequest {
        parent: PA.into(),
        ..Default::default()
    };
    let s = net.list_vpcs(list()).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    let s = net
        .list_vpcs(auth(list(), "not-a-known-token"))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    let mut basic = Request::new(list());
    basic
        .metadata_mut()
        .insert("authorization", format!("Basic {TOKEN_A}").parse().unwrap());
    let s = net.list_vpcs(basic).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    let s = logs
        .tail_records(pb::TailRecordsRequest {
            log_stream: topo.stream.clone(),
            after_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");

    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&tokens_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_public_address_without_tokens() {
    let dir = temp_dir("svc-public");
    let data = dir.join("data");
    let (status, stdout, stderr) = run_to_exit(&[
        "serve".as_ref(),
        "--listen".as_ref(),
        "0.0.0.0:0".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--tokens"), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");
    assert!(stdout.is_empty(), "it never served: {stdout}");
    assert!(!data.exists(), "nothing was created");

    // A tokens file that is not one: refused, naming the file.
    let bad = dir.join("bad-tokens.yaml");
    std::fs::write(&bad, "tokens:\n  - token: short\n    project: team-a\n").unwrap();
    let (status, stdout, stderr) = run_to_exit(&[
        "serve".as_ref(),
        "--listen".as_ref(),
        "0.0.0.0:0".as_ref(),
        "--tokens".as_ref(),
        bad.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&bad.display().to_string()), "{stderr}");
    assert!(stdout.is_empty(), "it never served: {stdout}");

    // With --tokens it serves beyond loopback, and asks for a token.
    let tokens = dir.join("tokens.yaml");
    two_teams_file(&tokens);
    let mut server = Serving::start_with(&[
        "--listen".as_ref(),
        "0.0.0.0:0".as_ref(),
        "--tokens".as_ref(),
        tokens.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    let ch = connect(&server.url).await;
    let mut sim = SimulationServiceClient::new(ch);
    let s = sim
        .get_project(pb::GetProjectRequest {
            name: "projects/-".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    let p = sim
        .get_project(auth(
            pb::GetProjectRequest {
                name: "projects/-".into(),
            },
            TOKEN_B,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (p.name.as_str(), p.provider.as_str()),
        ("projects/team-b", "aws")
    );
    let kill = Command::new("kill")
        .args(["-TERM", &server.pid()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::block_in_place(|| server.wait());
    assert!(status.success(), "{status:?}");
}

// ----- 3. the real binary: restart, kill -9, SIGTERM, a corrupt data file -----

/// `vpclab serve` on a loopback port 0, tencent, the test's seed and start.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_dash_nine_loses_nothing_acknowledged() {
    let dir = temp_dir("svc-kill9");
    let mut server = Serving::start(&dir);
    let ch = connect(&server.url).await;
    let topo = build(&ch, P, None).await;
    ping(&ch, P, None, &topo, START + 27, 4).await;
    let clock = advance_to(&ch, P, None, START + 300).await;
    assert_eq!(secs(&clock.now), START + 300);
    let records = query_all(&ch, None, query(&topo.stream)).await;
    assert_eq!(records.len(), 2, "{records:?}");

    // Four clients create VPCs as fast as they can; the server is killed in the middle.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let tried = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let ch = connect(&server.url).await;
        let (acked, tried) = (acked.clone(), tried.clone());
        writers.push(tokio::spawn(async move {
            let mut net = NetworkServiceClient::new(ch);
            for i in 0..10_000 {
                let name = format!("burst-{w}-{i}");
                tried.lock().unwrap().push(name.clone());
                match net.create_vpc(vpc_req(P, &name, "10.1.0.0/16")).await {
                    Ok(_) => acked.lock().unwrap().push(name),
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + PATIENCE;
    while acked.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "the writers made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    let status = server.child.wait().unwrap();
    assert!(!status.success());
    for w in writers {
        tokio::time::timeout(PATIENCE, w).await.unwrap().unwrap();
    }
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let tried: BTreeSet<String> = tried.lock().unwrap().iter().cloned().collect();
    drop(server);

    let server = Serving::start(&dir);
    let ch = connect(&server.url).await;
    // The clock, the topology and the delivered records are as acknowledged.
    assert_eq!(secs(&now(&ch, P, None).await.now), START + 300);
    let again = query_all(&ch, None, query(&topo.stream)).await;
    assert_eq!(again, records);
    let mut net = NetworkServiceClient::new(ch.clone());
    let eni = get!(net.get_network_interface(GetNetworkInterfaceRequest, &topo.eni));
    assert_eq!(eni.private_ip, "172.31.16.139");
    // Every acknowledged create survived; nothing appeared that was never asked for.
    let names = vpc_names(&ch).await;
    let burst: BTreeSet<String> = names
        .iter()
        .filter(|n| n.starts_with("burst-"))
        .cloned()
        .collect();
    let lost: Vec<_> = acked.difference(&burst).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let invented: Vec<_> = burst.difference(&tried).collect();
    assert!(invented.is_empty(), "never asked for: {invented:?}");
    assert!(names.contains("main"));

    // The project still works after the crash: more records arrive and are kept.
    ping(&ch, P, None, &topo, START + 327, 1).await;
    advance_to(&ch, P, None, START + 600).await;
    let more = query_all(&ch, None, query(&topo.stream)).await;
    assert_eq!(more.len(), 4, "{more:?}");
    assert_eq!(more[..2], records[..]);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_a_restart_finds_everything() {
    let dir = temp_dir("svc-sigterm");
    let mut server = Serving::start(&dir);
    let ch = connect(&server.url).await;
    let topo = build(&ch, P, None).await;
    ping(&ch, P, None, &topo, START + 27, 4).await;
    advance_to(&ch, P, None, START + 400).await;
    let records = query_all(&ch, None, query(&topo.stream)).await;
    assert_eq!(records.len(), 2);
    // A second server on the same data directory is refused while this one runs.
    let (status, stdout, stderr) = run_to_exit(&[
        "serve".as_ref(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
    ]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(!stdout.contains("serving on"), "{stdout}");
    // An open tail must not keep the server from stopping.
    let mut tail = LogServiceClient::new(ch.clone())
        .tail_records(pb::TailRecordsRequest {
            log_stream: topo.stream.clone(),
            after_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();

    let kill = Command::new("kill")
        .args(["-TERM", &server.pid()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::block_in_place(|| server.wait());
    assert!(
        status.success(),
        "SIGTERM ends the server cleanly: {status:?}"
    );
    // The tail ended (cleanly or with an error), it did not hang.
    let ended = tokio::time::timeout(PATIENCE, tail.message())
        .await
        .unwrap();
    assert!(!matches!(ended, Ok(Some(_))), "{ended:?}");
    drop(server);

    let mut server = Serving::start(&dir);
    let ch = connect(&server.url).await;
    assert_eq!(secs(&now(&ch, P, None).await.now), START + 400);
    assert_eq!(query_all(&ch, None, query(&topo.stream)).await, records);
    assert_eq!(vpc_names(&ch).await, BTreeSet::from(["main".to_string()]));
    let kill = Command::new("kill")
        .args(["-TERM", &server.pid()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::block_in_place(|| server.wait());
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_garbage_data_file_is_refused_and_left_untouched() {
    let dir = temp_dir("svc-garbage");
    let file = dir.join("vpclab.redb");
    let garbage: Vec<u8> = b"this is not a redb database, just some bytes\n"
        .iter()
        .copied()
        .cycle()
        .take(10_000)
        .collect();
    std::fs::write(&file, &garbage).unwrap();
    let (status, stdout, stderr) = run_to_exit(&[
        "serve".as_ref(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
    ]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(!stdout.contains("serving on"), "it never served: {stdout}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        garbage,
        "the file is unchanged"
    );
}

// ----- 4. log service -----

/// A server with the topology and records in three capture windows (2 per window).
async fn three_windows(name: &str) -> (TempDir, Server, Topology) {
    let dir = temp_dir(name);
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let topo = build(&ch, P, None).await;
    for w in 0..3 {
        ping(&ch, P, None, &topo, START + 27 + w * 300, 2).await;
    }
    // The end of the third window (a fourth, empty one would add a NODATA record).
    advance_to(&ch, P, None, START + 900).await;
    (dir, server, topo)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_records_by_time_range_and_pages() {
    let (_dir, server, topo) = three_windows("svc-query").await;
    let ch = server.channel().await;
    let all = query_all(&ch, None, query(&topo.stream)).await;
    let times: Vec<u64> = all.iter().map(|r| secs(&r.time)).collect();
    assert_eq!(
        times,
        [0, 0, 300, 300, 600, 600].map(|d| START + d).to_vec(),
        "{all:?}"
    );
    for r in &all {
        assert_eq!(r.log_stream, topo.stream);
        assert_eq!(r.flow_log, topo.flow_log);
    }
    let seqs: Vec<u64> = all.iter().map(|r| r.sequence).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // [start_time, end_time): the middle window only.
    let middle = query_all(
        &ch,
        None,
        pb::QueryRecordsRequest {
            start_time: Some(ts(START + 300)),
            end_time: Some(ts(START + 600)),
            ..query(&topo.stream)
        },
    )
    .await;
    assert_eq!(middle, all[2..4]);
    // Open-ended on either side.
    let from = query_all(
        &ch,
        None,
        pb::QueryRecordsRequest {
            start_time: Some(ts(START + 301)),
            ..query(&topo.stream)
        },
    )
    .await;
    assert_eq!(from, all[4..]);
    let until = query_all(
        &ch,
        None,
        pb::QueryRecordsRequest {
            end_time: Some(ts(START + 300)),
            ..query(&topo.stream)
        },
    )
    .await;
    assert_eq!(until, all[..2]);
    // Time and keywords together.
    let rejected = query_all(
        &ch,
        None,
        pb::QueryRecordsRequest {
            start_time: Some(ts(START + 300)),
            keywords: vec!["reject".into()],
            ..query(&topo.stream)
        },
    )
    .await;
    assert_eq!(rejected, vec![all[3].clone(), all[5].clone()]);

    // One record per page: the same records in the same order, then no token.
    let mut logs = LogServiceClient::new(ch.clone());
    let mut paged = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = logs
            .query_records(pb::QueryRecordsRequest {
                page_size: 1,
                page_token: token,
                ..query(&topo.stream)
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.records.len() <= 1);
        paged.extend(page.records);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages <= all.len(), "the tokens never run out");
    }
    assert_eq!(paged, all);
    // Paging within a time range.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = logs
            .query_records(pb::QueryRecordsRequest {
                page_size: 1,
                page_token: token,
                start_time: Some(ts(START + 300)),
                end_time: Some(ts(START + 600)),
                ..query(&topo.stream)
            })
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.records);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, all[2..4]);

    // Refusals name their field.
    let bad = [
        (
            pb::QueryRecordsRequest {
                page_token: "not-a-token".into(),
                ..query(&topo.stream)
            },
            "page_token",
        ),
        (
            pb::QueryRecordsRequest {
                start_time: Some(ts(START + 600)),
                end_time: Some(ts(START + 300)),
                ..query(&topo.stream)
            },
            "end_time",
        ),
        (
            pb::QueryRecordsRequest {
                page_size: -1,
                ..query(&topo.stream)
            },
            "page_size",
        ),
    ];
    for (q, f) in bad {
        let s = logs.query_records(q).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert_eq!(field(&s), f);
    }
    let s = logs
        .query_records(query("projects/default/logStreams/nope"))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound, "{s:?}");
    server.stop().await;
}

async fn next_record(tail: &mut tonic::Streaming<pb::FlowLogRecord>) -> pb::FlowLogRecord {
    tokio::time::timeout(PATIENCE, tail.message())
        .await
        .expect("a record within the patience")
        .expect("the tail is healthy")
        .expect("the tail is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_records_live_and_replayed() {
    let dir = temp_dir("svc-tail");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let topo = build(&ch, P, None).await;
    let mut logs = LogServiceClient::new(ch.clone());
    let mut live = logs
        .tail_records(pb::TailRecordsRequest {
            log_stream: topo.stream.clone(),
            after_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();
    // Records of another stream in the same project must not show up on this tail.
    let (_, other_stream) = log_stream(&ch, P, None, "other-group", "other").await;
    let mut other = logs
        .tail_records(pb::TailRecordsRequest {
            log_stream: other_stream.clone(),
            after_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();

    for w in 0..3 {
        ping(&ch, P, None, &topo, START + 27 + w * 300, 2).await;
    }
    // The end of the third window (a fourth, empty one would add a NODATA record).
    advance_to(&ch, P, None, START + 900).await;
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(next_record(&mut live).await);
    }
    let seqs: Vec<u64> = got.iter().map(|r| r.sequence).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let mut stored = query_all(&ch, None, query(&topo.stream)).await;
    stored.sort_by_key(|r| r.sequence);
    assert_eq!(
        got, stored,
        "the tail saw what was stored, in delivery order"
    );

    // `after_sequence` replays the past first, then continues live.
    let mut replay = logs
        .tail_records(pb::TailRecordsRequest {
            log_stream: topo.stream.clone(),
            after_sequence: got[1].sequence,
        })
        .await
        .unwrap()
        .into_inner();
    for want in &got[2..] {
        assert_eq!(&next_record(&mut replay).await, want);
    }
    ping(&ch, P, None, &topo, START + 927, 1).await;
    advance_to(&ch, P, None, START + 1200).await;
    let a = next_record(&mut live).await;
    let b = next_record(&mut live).await;
    assert!(got[5].sequence < a.sequence && a.sequence < b.sequence);
    assert_eq!(secs(&a.time), START + 900);
    assert_eq!(next_record(&mut replay).await, a);
    assert_eq!(next_record(&mut replay).await, b);
    // Nothing arrived on the other stream's tail.
    let quiet = tokio::time::timeout(Duration::from_millis(300), other.message()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    // Tailing a stream that does not exist is refused up front.
    let s = logs
        .tail_records(pb::TailRecordsRequest {
            log_stream: "projects/default/logStreams/nope".into(),
            after_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound, "{s:?}");
    drop((live, replay, other));
    server.stop().await;
}

// ----- 5. simulation service -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_flow_names_the_acl_decision() {
    let dir = temp_dir("svc-explain");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let topo = build(&ch, P, None).await;
    ping(&ch, P, None, &topo, START + 27, 1).await;
    advance_to(&ch, P, None, START + 60).await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    let explain = |src: &str, dst: &str| pb::ExplainFlowRequest {
        parent: P.into(),
        src: src.into(),
        dst: dst.into(),
        protocol: "icmp".into(),
        ..Default::default()
    };
    // The flow, named by either address of the instance (its elastic IP or its private
    // address) and in either direction: the echo request and its reply, in order.
    let flow = sim
        .explain_flow(explain("203.0.113.12", "198.51.100.10"))
        .await
        .unwrap()
        .into_inner()
        .packets;
    assert_eq!(flow.len(), 2, "{flow:#?}");
    let request = flow[0].to_lowercase();
    assert!(request.contains("echo-request"), "{request}");
    // The ACL's ingress entry lets the request in.
    assert!(
        request
            .lines()
            .any(|l| l.contains("acl web-acl ingress") && l.contains("allow")),
        "{request}"
    );
    // The reply: the ACL's egress entries (TCP 443 only) drop it.
    let reply = flow[1].to_lowercase();
    assert!(reply.contains("echo-reply"), "{reply}");
    assert!(
        reply
            .lines()
            .any(|l| l.contains("acl web-acl egress") && l.contains("denies")),
        "{reply}"
    );
    assert!(reply.contains("dropped by the network acl"), "{reply}");
    for (src, dst) in [
        ("172.31.16.139", "203.0.113.12"),
        ("203.0.113.12", "172.31.16.139"),
        ("198.51.100.10", "203.0.113.12"),
    ] {
        let same = sim
            .explain_flow(explain(src, dst))
            .await
            .unwrap()
            .into_inner()
            .packets;
        assert_eq!(same, flow, "{src} -> {dst}");
    }
    // Another 5-tuple: nothing to explain.
    let none = sim
        .explain_flow(pb::ExplainFlowRequest {
            parent: P.into(),
            src: "203.0.113.99".into(),
            dst: "172.31.16.139".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none.packets.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_realtime_moves_the_clock_at_wall_pace_until_stopped() {
    let dir = temp_dir("svc-realtime");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    let t0 = Instant::now();
    let clock = sim
        .run_realtime(pb::RunRealtimeRequest {
            parent: P.into(),
            speed: 60.0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clock.speed, 60.0);
    assert_eq!(secs(&clock.now), START);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // At least one tick of 60 virtual seconds (waiting longer only on a very loaded machine).
    let moved = loop {
        let c = now(&ch, P, None).await;
        let moved = secs(&c.now) - START;
        if moved >= 60 || t0.elapsed() > PATIENCE {
            break moved;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wall = t0.elapsed().as_secs_f64();
    assert!(moved >= 60, "the clock moved {moved} s in {wall:.1} s");
    assert!(
        moved as f64 <= 60.0 * (wall + 1.0),
        "the clock moved {moved} s in {wall:.1} s"
    );

    let stopped = sim
        .run_realtime(pb::RunRealtimeRequest {
            parent: P.into(),
            speed: 0.0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stopped.speed, 0.0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = now(&ch, P, None).await;
    assert_eq!(after.speed, 0.0);
    assert_eq!(after.now, stopped.now, "speed 0 stops the clock");

    // Speeds out of range are refused.
    let s = sim
        .run_realtime(pb::RunRealtimeRequest {
            parent: P.into(),
            speed: -1.0,
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert_eq!(field(&s), "speed");
    server.stop().await;
}

/// A real-time tick reads the project's speed under its lock: once RunRealtime(0) is
/// acknowledged, no tick computed before it can still move the clock.
#[test]
fn a_tick_never_moves_a_stopped_clock() {
    use vpclab_controlplane::api::command::{Command as Cmd, SetSpeed};
    use vpclab_controlplane::api::{Caller, Cloud};
    let dir = temp_dir("svc-tick");
    let cloud = Cloud::open(&dir, defaults()).unwrap();
    let caller = Caller {
        project: "default".into(),
        provider: Provider::Tencent,
    };
    let now = |cloud: &Cloud| cloud.read(&caller, |p| Ok(p.now().secs())).unwrap();
    let speed = |cloud: &Cloud, speed: f64| {
        cloud
            .mutate(&caller, Cmd::SetSpeed(SetSpeed { speed }), |_, _| Ok(()))
            .unwrap()
    };
    assert!(!cloud.tick(&caller.project, Duration::from_secs(1)).unwrap());
    assert_eq!(now(&cloud), START);
    speed(&cloud, 60.0);
    assert!(
        cloud
            .tick(&caller.project, Duration::from_millis(1500))
            .unwrap()
    );
    assert_eq!(
        now(&cloud),
        START + 90,
        "speed times the wall time that passed"
    );
    speed(&cloud, 0.0);
    assert!(!cloud.tick(&caller.project, Duration::from_secs(1)).unwrap());
    assert_eq!(now(&cloud), START + 90);
    drop(cloud);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_in_the_virtual_past_is_refused() {
    let dir = temp_dir("svc-past");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let topo = build(&ch, P, None).await;
    advance_to(&ch, P, None, START + 100).await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    let inject = |at: u64| pb::InjectTrafficRequest {
        parent: P.into(),
        at: Some(ts(at)),
        traffic: Some(pb::inject_traffic_request::Traffic::Ping(pb::Ping {
            from: topo.home.clone(),
            to: topo.eni.clone(),
            count: 1,
            ..Default::default()
        })),
    };
    let s = sim.inject_traffic(inject(START + 99)).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert_eq!(field(&s), "at");
    // Nothing was scheduled: advancing delivers no traffic records (only NODATA ones).
    advance_to(&ch, P, None, START + 900).await;
    let delivered = query_all(&ch, None, query(&topo.stream)).await;
    assert!(
        delivered
            .iter()
            .all(|r| r.line.contains("log-status:NODATA")),
        "{delivered:?}"
    );
    // Now (and unset `at`) is fine.
    let ok = sim.inject_traffic(inject(START + 900)).await.unwrap();
    assert_eq!(secs(&ok.into_inner().at), START + 900);
    let ok = sim
        .inject_traffic(pb::InjectTrafficRequest {
            at: None,
            ..inject(0)
        })
        .await
        .unwrap();
    assert_eq!(secs(&ok.into_inner().at), START + 900);
    // The clock does not go back either.
    let s = sim
        .advance(pb::AdvanceRequest {
            parent: P.into(),
            until: Some(pb::advance_request::Until::To(ts(START))),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert_eq!(field(&s), "to");
    server.stop().await;
}

/// `ttl` on injected traffic is 1-255, as in a scenario file; a refusal names the field and
/// schedules nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_ttl_out_of_range_is_refused_with_its_field() {
    use pb::inject_traffic_request::Traffic;
    let dir = temp_dir("svc-ttl");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let topo = build(&ch, P, None).await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    let inject = |traffic: Traffic| pb::InjectTrafficRequest {
        parent: P.into(),
        at: None,
        traffic: Some(traffic),
    };
    let (from, to) = (topo.home.clone(), topo.eni.clone());
    for (traffic, field_name) in [
        (
            Traffic::Ping(pb::Ping {
                from: from.clone(),
                to: to.clone(),
                ttl: Some(0),
                ..Default::default()
            }),
            "ping.ttl",
        ),
        (
            Traffic::Udp(pb::Udp {
                from: from.clone(),
                to: to.clone(),
                port: 53,
                ttl: Some(256),
                ..Default::default()
            }),
            "udp.ttl",
        ),
        (
            Traffic::Packet(pb::RawPacket {
                from: from.clone(),
                to: to.clone(),
                protocol: "icmp".into(),
                ttl: Some(0),
                ..Default::default()
            }),
            "packet.ttl",
        ),
    ] {
        let s = sim.inject_traffic(inject(traffic)).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert_eq!(field(&s), field_name);
        assert!(s.message().contains("an IPv4 TTL is 1-255"), "{s:?}");
    }
    advance_to(&ch, P, None, START + 900).await;
    let delivered = query_all(&ch, None, query(&topo.stream)).await;
    assert!(
        delivered
            .iter()
            .all(|r| r.line.contains("log-status:NODATA")),
        "{delivered:?}"
    );
    // In range, it is taken.
    sim.inject_traffic(inject(Traffic::Ping(pb::Ping {
        from,
        to,
        count: 1,
        ttl: Some(1),
        ..Default::default()
    })))
    .await
    .unwrap();
    server.stop().await;
}

// ----- 6. paging a List -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_in_creation_order() {
    let dir = temp_dir("svc-pages");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let mut net = NetworkServiceClient::new(ch.clone());
    let vpc = net
        .create_vpc(vpc_req(P, "paged", "10.0.0.0/16"))
        .await
        .unwrap()
        .into_inner();
    let mut created = Vec::new();
    // Names in an order that is not alphabetical, so creation order shows.
    for (i, name) in ["echo", "alpha", "delta", "bravo", "charlie"]
        .iter()
        .enumerate()
    {
        let s = net
            .create_subnet(pb::CreateSubnetRequest {
                parent: P.into(),
                subnet: Some(pb::Subnet {
                    display_name: name.to_string(),
                    vpc: vpc.name.clone(),
                    cidr: format!("10.0.{i}.0/24"),
                    ..Default::default()
                }),
                subnet_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        created.push(s.display_name);
    }
    let list = |page_token: String| pb::ListSubnetsRequest {
        parent: P.into(),
        page_size: 2,
        page_token,
        vpc: String::new(),
    };
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut token = String::new();
    loop {
        let page = net.list_subnets(list(token)).await.unwrap().into_inner();
        pages.push(page.subnets.into_iter().map(|s| s.display_name).collect());
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages.len() < 10, "the tokens never run out");
    }
    assert_eq!(
        pages,
        vec![
            vec!["echo".to_string(), "alpha".into()],
            vec!["delta".into(), "bravo".into()],
            vec!["charlie".into()],
        ]
    );
    assert_eq!(pages.concat(), created);
    // The same with the VPC filter; and everything on one default-sized page.
    let filtered = net
        .list_subnets(pb::ListSubnetsRequest {
            vpc: vpc.name.clone(),
            page_size: 0,
            ..list(String::new())
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        filtered
            .subnets
            .iter()
            .map(|s| s.display_name.clone())
            .collect::<Vec<_>>(),
        created
    );
    assert!(filtered.next_page_token.is_empty());

    for bad in ["garbage", "p", "r1.2", "p-1"] {
        let s = net.list_subnets(list(bad.to_string())).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{bad}: {s:?}");
        assert_eq!(field(&s), "page_token");
    }
    let s = net
        .list_vpcs(pb::ListVpcsRequest {
            parent: P.into(),
            page_size: 1,
            page_token: "garbage".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert_eq!(field(&s), "page_token");
    server.stop().await;
}

// ----- 7. health and reflection -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let dir = temp_dir("svc-health");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let mut health = HealthClient::new(ch.clone());
    for service in [
        "vpclab.v1.NetworkService",
        "vpclab.v1.LogService",
        "vpclab.v1.SimulationService",
        "vpclab.v1.RouterService",
    ] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service}");
    }
    let s = health
        .check(HealthCheckRequest {
            service: "vpclab.v1.NoSuchService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound, "{s:?}");

    let mut reflection = ServerReflectionClient::new(ch.clone());
    let ask = |m: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let mut answers = reflection
        .server_reflection_info(tonic::codegen::tokio_stream::iter(vec![
            ask(MessageRequest::ListServices(String::new())),
            ask(MessageRequest::FileContainingSymbol(
                "vpclab.v1.LogService".into(),
            )),
        ]))
        .await
        .unwrap()
        .into_inner();
    let first = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("{first:?}");
    };
    let services: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "vpclab.v1.NetworkService",
        "vpclab.v1.LogService",
        "vpclab.v1.SimulationService",
        "vpclab.v1.RouterService",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(want), "{want} missing from {services:?}");
    }
    let second = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = second.message_response else {
        panic!("{second:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    // The descriptor is the proto itself: it names the RPCs a client may call.
    let bytes = files.file_descriptor_proto.concat();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("TailRecords") && text.contains("QueryRecords"));
    server.stop().await;
}
