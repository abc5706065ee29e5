//! What one project may cost the server (issue 8): quotas refused with RESOURCE_EXHAUSTED and a
//! QuotaFailure naming the quota, and nothing changed; pending traffic dropped; a project
//! deleted and started over; ExplainFlow paged; refusals that stay small however large the
//! value sent; a request over the size limit; a flood that stays bounded in memory while
//! another project is served without waiting.

mod common;

use std::time::{Duration, Instant};

use common::fixture::*;
use common::*;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use vpclab_controlplane::api::{Defaults, Quotas, Tenancy, pb};
use vpclab_sim::profile::Provider;

use pb::inject_traffic_request::Traffic;

/// (quota id, subject) of a RESOURCE_EXHAUSTED status.
fn quota(s: &Status) -> (String, String) {
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    let q = s.get_details_quota_failure().expect("a QuotaFailure");
    assert_eq!(q.violations.len(), 1, "{q:?}");
    (
        q.violations[0].quota_id.clone(),
        q.violations[0].subject.clone(),
    )
}

fn tight() -> Defaults {
    Defaults {
        quotas: Quotas {
            pending_packets: 1_000,
            advance: Duration::from_secs(86_400),
            rules_per_security_group: 5,
            entries_per_network_acl: 5,
            routes_per_route_table: 5,
            request_bytes: 64 * 1024,
            ..Quotas::default()
        },
        ..defaults()
    }
}

fn pings(t: &Topology, count: u32) -> Traffic {
    Traffic::Ping(pb::Ping {
        from: t.home.clone(),
        to: t.eni.clone(),
        count,
        ..Default::default()
    })
}

fn tcp(t: &Topology, requests: Vec<u32>) -> Traffic {
    Traffic::Tcp(pb::Tcp {
        from: t.home.clone(),
        to: t.eni.clone(),
        port: 443,
        requests,
        ..Default::default()
    })
}

fn by(seconds: i64) -> pb::AdvanceRequest {
    pb::AdvanceRequest {
        parent: P.into(),
        until: Some(pb::advance_request::Until::By(prost_types::Duration {
            seconds,
            nanos: 0,
        })),
    }
}

async fn pending(sim: &mut SimulationServiceClient<tonic::transport::Channel>) -> u64 {
    sim.get_project(pb::GetProjectRequest { name: P.into() })
        .await
        .unwrap()
        .into_inner()
        .pending_packets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_with_quota_failure_and_change_nothing() {
    let dir = temp_dir("limits-quotas");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), tight()).await;
    let ch = server.channel().await;
    let t = build(&ch, P, None).await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    let mut net = NetworkServiceClient::new(ch.clone());

    // Pending packets: 600 fit, 600 more do not; a TCP session counts every packet of its
    // plan (3 + 2 per request + 3 to close), however few bytes the request takes.
    sim.inject_traffic(inject(pings(&t, 600))).await.unwrap();
    assert_eq!(pending(&mut sim).await, 600);
    let s = sim
        .inject_traffic(inject(pings(&t, 600)))
        .await
        .unwrap_err();
    assert_eq!(quota(&s), ("pending_packets".into(), P.into()));
    assert_eq!(field(&s), "traffic");
    assert!(s.message().contains("600"), "{}", s.message());
    let s = sim
        .inject_traffic(inject(tcp(&t, vec![1; 200])))
        .await
        .unwrap_err();
    assert_eq!(quota(&s).0, "pending_packets");
    sim.inject_traffic(inject(tcp(&t, vec![1; 190])))
        .await
        .unwrap();
    assert_eq!(pending(&mut sim).await, 600 + 3 + 380 + 3);

    // Virtual time per Advance, `by` and `to` alike; the clock stays.
    let before = now(&ch, P, None).await;
    let s = sim.advance(by(86_401)).await.unwrap_err();
    assert_eq!(quota(&s).0, "advance_time");
    assert_eq!(field(&s), "by");
    let ten_years = START + 10 * 365 * 86_400;
    let s = sim
        .advance(pb::AdvanceRequest {
            parent: P.into(),
            until: Some(pb::advance_request::Until::To(ts(ten_years))),
        })
        .await
        .unwrap_err();
    assert_eq!(quota(&s).0, "advance_time");
    assert_eq!(field(&s), "to");
    assert_eq!(now(&ch, P, None).await, before);

    // Dropping the pending traffic frees the quota; nothing of it is ever sent.
    let dropped = sim
        .drop_pending_traffic(pb::DropPendingTrafficRequest { parent: P.into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dropped.dropped_packets, 986);
    assert_eq!(pending(&mut sim).await, 0);
    sim.advance(by(86_400)).await.unwrap();
    let records = query_all(&ch, None, query(&t.stream)).await;
    assert!(!records.is_empty(), "NODATA windows are still recorded");
    assert!(
        records.iter().all(|r| r.line.contains("NODATA")),
        "no dropped packet was sent: {records:?}"
    );

    // Lists set whole: rules, entries, routes.
    let rules = vec![
        pb::SecurityGroupRule {
            direction: pb::Direction::Ingress as i32,
            protocol: "tcp".into(),
            ports: "22".into(),
            remote: Some(pb::security_group_rule::Remote::Cidr("10.0.0.0/8".into())),
            ..Default::default()
        };
        6
    ];
    let s = net
        .create_security_group(sg_req(P, "big", &t.vpc, rules))
        .await
        .unwrap_err();
    assert_eq!(quota(&s).0, "rules_per_security_group");
    assert_eq!(field(&s), "security_group.rules");
    let groups = list!(net.list_security_groups(ListSecurityGroupsRequest));
    assert!(
        groups
            .security_groups
            .iter()
            .all(|g| g.display_name != "big")
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_records_quota_stops_advancing() {
    let dir = temp_dir("limits-records");
    let mut d = defaults();
    d.quotas.stored_records = 3;
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), d).await;
    let ch = server.channel().await;
    let _t = build(&ch, P, None).await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    // One NODATA record per 10-minute window: an hour stores six, over the quota of three.
    sim.advance(by(3_600)).await.unwrap();
    let s = sim.advance(by(600)).await.unwrap_err();
    assert_eq!(quota(&s), ("stored_records".into(), P.into()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_size_limit_is_refused() {
    let dir = temp_dir("limits-size");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), tight()).await;
    let ch = server.channel().await;
    let t = build(&ch, P, None).await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    // 40,000 request sizes of 1,000 bytes: two bytes each, 80 kB over the 64 kB limit.
    let s = sim
        .inject_traffic(inject(tcp(&t, vec![1_000; 40_000])))
        .await
        .unwrap_err();
    assert_eq!(
        quota(&s),
        (
            "request_bytes".into(),
            "/vpclab.v1.SimulationService/InjectTraffic".into()
        )
    );
    assert_eq!(
        s.message(),
        "the request is larger than the 65536 bytes one request may carry (server setting --quota-request-bytes); send it in parts"
    );
    assert_eq!(pending(&mut sim).await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_quotes_little_of_a_huge_value() {
    let dir = temp_dir("limits-echo");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let mut net = NetworkServiceClient::new(ch.clone());
    let huge = "9".repeat(5_000);
    let s = net.create_vpc(vpc_req(P, "main", &huge)).await.unwrap_err();
    // Not RESOURCE_EXHAUSTED from the client's header limit: the refusal itself.
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert_eq!(field(&s), "vpc.cidr");
    assert!(
        s.message().len() < 400,
        "{} bytes: {}",
        s.message().len(),
        s.message()
    );
    assert!(s.message().contains(&"9".repeat(100)), "{}", s.message());
    assert!(!s.message().contains(&"9".repeat(101)), "{}", s.message());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_project_starts_over_and_stays_deleted_after_a_restart() {
    let dir = temp_dir("limits-delete");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let t = build(&ch, P, None).await;
    ping(&ch, P, None, &t, START + 27, 4).await;
    advance_to(&ch, P, None, START + 1_200).await;
    assert!(!query_all(&ch, None, query(&t.stream)).await.is_empty());
    let mut sim = SimulationServiceClient::new(ch.clone());
    sim.delete_project(pb::DeleteProjectRequest {
        name: "projects/-".into(),
    })
    .await
    .unwrap();
    assert!(all_vpcs(&ch, P, None, 50).await.is_empty());
    assert_eq!(secs(&now(&ch, P, None).await.now), START, "a new clock");
    // Another project's name is refused.
    let s = sim
        .delete_project(pb::DeleteProjectRequest {
            name: "projects/someone-else".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    // Nothing of the old project comes back after a restart; the new one does.
    NetworkServiceClient::new(ch.clone())
        .create_vpc(vpc_req(P, "second", "10.0.0.0/16"))
        .await
        .unwrap();
    server.stop().await;
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let names: Vec<String> = all_vpcs(&ch, P, None, 50)
        .await
        .into_iter()
        .map(|v| v.display_name)
        .collect();
    assert_eq!(names, ["second"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_flow_pages() {
    let dir = temp_dir("limits-explain");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let t = build(&ch, P, None).await;
    ping(&ch, P, None, &t, START + 27, 5).await;
    advance_to(&ch, P, None, START + 100).await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    let ask = |page_token: String| pb::ExplainFlowRequest {
        parent: P.into(),
        src: "203.0.113.12".into(),
        dst: "172.31.16.139".into(),
        page_size: 4,
        page_token,
        ..Default::default()
    };
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = sim.explain_flow(ask(token)).await.unwrap().into_inner();
        assert!(page.packets.len() <= 4);
        pages.push(page.packets.len());
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    // Five echo requests and five replies (REJECTed on the way out, still explained).
    assert_eq!(pages, [4, 4, 2]);
    server.stop().await;
}

/// Peak resident memory of a process, from /proc (kB → bytes).
fn peak_rss(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024
}

/// The crash loop of issue 8, at the pending-packets quota: team A fills its quota with pings
/// and advances through them while team B keeps working. The server's memory stays bounded
/// (the packets are never materialised, explanations keep the last 100,000), B never waits
/// behind A's Advance, and A's flood survives a restart as stored traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_stays_bounded_and_another_project_is_served_meanwhile() {
    let dir = temp_dir("limits-flood");
    let tokens = dir.join("tokens.yaml");
    two_teams_file(&tokens);
    let data = dir.join("data");
    let server = Serving::start_with(&[
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--tokens".as_ref(),
        tokens.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    let ch = connect(&server.url).await;
    let pa = "projects/team-a";
    let t = build(&ch, pa, Some(TOKEN_A)).await;
    let mut sim = SimulationServiceClient::new(ch.clone());
    let quota = Quotas::default().pending_packets;
    let mut injected = 0u64;
    // 65,535 pings 1 ms apart per request, until the quota refuses.
    loop {
        let r = sim
            .inject_traffic(auth(
                pb::InjectTrafficRequest {
                    parent: pa.into(),
                    at: None,
                    traffic: Some(Traffic::Ping(pb::Ping {
                        from: t.home.clone(),
                        to: t.eni.clone(),
                        count: 65_535,
                        interval: Some(prost_types::Duration {
                            seconds: 0,
                            nanos: 1_000_000,
                        }),
                        ident: Some(1),
                        ttl: None,
                    })),
                },
                TOKEN_A,
            ))
            .await;
        match r {
            Ok(_) => injected += 65_535,
            Err(s) => {
                assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
                break;
            }
        }
    }
    assert_eq!(injected, quota / 65_535 * 65_535);

    // Team A also runs in real time: its ticks wait for its own lock, never for B's.
    sim.run_realtime(auth(
        pb::RunRealtimeRequest {
            parent: pa.into(),
            speed: 1.0,
        },
        TOKEN_A,
    ))
    .await
    .unwrap();
    // Team B works while team A's Advance sends every one of them.
    let advancing = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            SimulationServiceClient::new(ch)
                .advance(auth(
                    pb::AdvanceRequest {
                        parent: "projects/team-a".into(),
                        until: Some(pb::advance_request::Until::By(prost_types::Duration {
                            seconds: 1_200,
                            nanos: 0,
                        })),
                    },
                    TOKEN_A,
                ))
                .await
                .unwrap();
            started.elapsed()
        })
    };
    let mut net = NetworkServiceClient::new(ch.clone());
    let mut worst = Duration::ZERO;
    let mut served = 0;
    while !advancing.is_finished() {
        let started = Instant::now();
        net.create_vpc(auth(
            vpc_req("projects/team-b", &format!("b-{served}"), "10.0.0.0/16"),
            TOKEN_B,
        ))
        .await
        .unwrap();
        worst = worst.max(started.elapsed());
        served += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = advancing.await.unwrap();
    eprintln!(
        "advance of {injected} pings took {took:?}; team B: {served} creates meanwhile, slowest {worst:?}"
    );
    assert!(served > 0, "team B was served during team A's Advance");
    assert!(
        worst < Duration::from_millis(500),
        "team B waited {worst:?} behind team A's Advance"
    );
    let peak = peak_rss(&server.pid());
    eprintln!("server peak RSS {} MB", peak >> 20);
    // Kept: the last 100,000 outcomes (~0.5 kB each) and the topology. Materialising the
    // pings up front and keeping every outcome until the Advance ended, as before, took
    // ~0.65 kB per packet: over 600 MB here.
    assert!(
        peak < 300 << 20,
        "the server's memory stayed bounded: {} MB",
        peak >> 20
    );
    let mut sim = SimulationServiceClient::new(ch.clone());
    let project = sim
        .get_project(auth(
            pb::GetProjectRequest {
                name: "projects/-".into(),
            },
            TOKEN_A,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(project.pending_packets, 0, "everything was sent");
    let explained = sim
        .explain_flow(auth(
            pb::ExplainFlowRequest {
                parent: pa.into(),
                src: "203.0.113.12".into(),
                dst: "172.31.16.139".into(),
                page_size: 1,
                ..Default::default()
            },
            TOKEN_A,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.packets.len(), 1);
    assert!(!explained.next_page_token.is_empty(), "more than one kept");
    drop(server);
}

/// Group commit never acknowledges what is not durable, and memory never stays ahead of the
/// store: after the data file is removed under the server, a create is refused (UNAVAILABLE),
/// and reads show the project as stored, without the refused VPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_cannot_be_stored_is_refused_and_forgotten() {
    let dir = temp_dir("limits-lost-file");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let ch = server.channel().await;
    let mut net = NetworkServiceClient::new(ch.clone());
    net.create_vpc(vpc_req(P, "kept", "10.0.0.0/16"))
        .await
        .unwrap();
    std::fs::remove_file(dir.join(vpclab_controlplane::store::FILE_NAME)).unwrap();
    // Several at once: they share a batch, and all of them fail.
    let mut refused = Vec::new();
    for i in 0..8 {
        let mut net = net.clone();
        refused.push(tokio::spawn(async move {
            net.create_vpc(vpc_req(P, &format!("lost-{i}"), "10.1.0.0/16"))
                .await
        }));
    }
    for r in refused {
        let s = r.await.unwrap().unwrap_err();
        assert_eq!(s.code(), Code::Unavailable, "{s:?}");
        assert!(
            s.message().contains("removed or replaced"),
            "{}",
            s.message()
        );
    }
    let names: Vec<String> = all_vpcs(&ch, P, None, 50)
        .await
        .into_iter()
        .map(|v| v.display_name)
        .collect();
    assert_eq!(names, ["kept"]);
    server.stop().await;
}

/// A project that keeps creating is stopped at its `objects` quota, whatever it deletes
/// meanwhile (deleted resources are kept), with a refusal that changes nothing; DeleteProject
/// gives it a clean start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_objects_quota_bounds_what_a_project_holds() {
    let dir = temp_dir("limits-objects");
    let mut d = defaults();
    d.quotas.objects = 40;
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), d).await;
    let ch = server.channel().await;
    let mut net = NetworkServiceClient::new(ch.clone());
    let mut made = 0;
    let refused = loop {
        match net
            .create_vpc(vpc_req(P, &format!("v{made}"), "10.0.0.0/16"))
            .await
        {
            Ok(v) => {
                made += 1;
                // Deleting gives no room back: the VPC stays in the model, deleted.
                net.delete_vpc(pb::DeleteVpcRequest {
                    name: v.into_inner().name,
                    etag: String::new(),
                })
                .await
                .unwrap();
            }
            Err(s) => break s,
        }
        assert!(made < 40, "never refused");
    };
    assert_eq!(quota(&refused), ("objects".into(), P.into()));
    let held = refused
        .message()
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse::<usize>().ok())
        .expect("the count held");
    assert!(held >= 40, "{}", refused.message());
    assert_eq!(
        refused.message(),
        format!(
            "the project holds {held} objects (resources, deleted ones included, with their rules, entries, routes and past revisions); its quota is 40; delete the project to start over"
        )
    );
    assert!(
        all_vpcs(&ch, P, None, 50).await.is_empty(),
        "the refused VPC was not made"
    );
    SimulationServiceClient::new(ch.clone())
        .delete_project(pb::DeleteProjectRequest {
            name: "projects/-".into(),
        })
        .await
        .unwrap();
    net.create_vpc(vpc_req(P, "again", "10.0.0.0/16"))
        .await
        .unwrap();
    server.stop().await;
}
