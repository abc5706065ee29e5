//! The gRPC API end to end: a client that knows only the protos builds the ping/ACL-asymmetry
//! topology (tencent seed 004, scenarios/ping-acl-asymmetry.yaml), attaches a flow log to a
//! log stream, injects the pings, advances the clock past the capture window and reads the two
//! records back from the log service; then the same after a restart, and after `kill -9`.

mod common;

use common::*;
use vpclab_controlplane::api::{Tenancy, pb};
use vpclab_sim::profile::Provider;

use common::fixture::{self, P, START, Topology, defaults, record_lines};

/// Builds the topology and the flow log, injects the scenario's pings and advances past the
/// capture window; returns the log stream's name.
async fn build(server: &Server) -> String {
    let ch = server.channel().await;
    let t: Topology = fixture::build(&ch, P, None).await;
    assert_eq!(t.eni, "projects/default/networkInterfaces/eni-lq6mkcis");
    let group = LogServiceClient::new(ch.clone())
        .get_log_group(pb::GetLogGroupRequest {
            name: t.group.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(group.retention_days, 7, "the seeds' default retention");
    fixture::ping_every(&ch, P, None, &t, START + 27, 4, 38).await;
    let clock = fixture::advance_to(&ch, P, None, START + 300).await;
    assert_eq!(clock.now, Some(ts(START + 300)));
    t.stream
}

/// The two records of the scenario, field for field (tencent key:value format, D14).
fn expected(account: &str) -> Vec<String> {
    vec![
        format!(
            "srcaddr:203.0.113.12 dstport:2048 account-id:{account} start:1432917000 dstaddr:172.31.16.139 version:0001_0001 packets:4 protocol:1 bytes:336 action:ACCEPT srcport:1 end:1432917300 log-status:OK interface-id:eni-lq6mkcis"
        ),
        format!(
            "srcaddr:172.31.16.139 dstport:0 account-id:{account} start:1432917000 dstaddr:203.0.113.12 version:0001_0001 packets:4 protocol:1 bytes:336 action:REJECT srcport:1 end:1432917300 log-status:OK interface-id:eni-lq6mkcis"
        ),
    ]
}

async fn account_of(server: &Server) -> String {
    let mut sim = SimulationServiceClient::new(server.channel().await);
    let p = sim
        .get_project(pb::GetProjectRequest {
            name: "projects/-".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.name, P);
    assert_eq!(p.provider, "tencent");
    p.account_id
}

#[tokio::test]
async fn ping_acl_asymmetry_over_grpc_survives_a_restart() {
    let dir = temp_dir("api-ping");
    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    let stream = build(&server).await;
    let account = account_of(&server).await;
    let want = expected(&account);
    assert_eq!(record_lines(&server, &stream, &[]).await, want);
    // Keyword search, like the clouds' log search.
    assert_eq!(record_lines(&server, &stream, &["reject"]).await, want[1..]);
    assert_eq!(
        record_lines(&server, &stream, &["REJECT", "203.0.113.12", "ACCEPT"]).await,
        Vec::<String>::new()
    );
    server.stop().await;

    let server = Server::start(&dir, Tenancy::single(Provider::Tencent), defaults()).await;
    assert_eq!(account_of(&server).await, account);
    assert_eq!(record_lines(&server, &stream, &[]).await, want);
    // The project came back whole: the clock, the resources, the open windows.
    let mut sim = SimulationServiceClient::new(server.channel().await);
    let clock = sim
        .get_clock(pb::GetClockRequest { parent: P.into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clock.now, Some(ts(START + 300)));
    let mut net = NetworkServiceClient::new(server.channel().await);
    let eni = net
        .get_network_interface(pb::GetNetworkInterfaceRequest {
            name: "projects/default/networkInterfaces/eni-lq6mkcis".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(eni.private_ip, "172.31.16.139");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
