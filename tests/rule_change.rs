//! A huawei rule change disconnects the inbound connections of the group's instances (issue 11
//! item 3; policy.md §3.2; D8), as `docs/decisions/huawei-rule-change.md` pins it: which
//! segments are rejected, and for how long. The base is the shipped scenario
//! `rule-change-huawei-unrelated.yaml`, whose own expectations pin the records of the common
//! case; these tests vary its traffic and its cloud.

mod common;
use common::scenario::replaced;
use vpclab_controlplane::{Options, load, run};
use vpclab_sim::Action;
use vpclab_sim::flowlog::Record;
use vpclab_sim::profile::Provider;

const BASE: &str = include_str!("../scenarios/rule-change-huawei-unrelated.yaml");

/// The scenario with traffic added at the end of its script.
fn with_traffic(extra: &str) -> String {
    replaced(BASE, "\nexpect:\n", &format!("{extra}\nexpect:\n"))
}

fn records(text: &str, provider: Option<Provider>) -> Vec<Record> {
    let options = Options {
        provider,
        ..Options::default()
    };
    let mut l = load("s.yaml", text, &options).expect("loads");
    run(&mut l).expect("runs").records
}

/// (window start in seconds, action, packets, decisions) of the records from `src`:`sport`.
fn from(records: &[Record], src: &str, sport: u16) -> Vec<(u64, Action, u64, Vec<String>)> {
    records
        .iter()
        .filter_map(|r| r.flow.as_ref().map(|f| (r, f)))
        .filter(|(_, f)| f.tuple.src.to_string() == src && f.tuple.sport == sport)
        .map(|(r, f)| {
            (
                r.window_start.0 / 1_000_000 - 1_700_000_000,
                f.action,
                f.packets,
                r.truth.decisions.clone(),
            )
        })
        .collect()
}

const CLEARED: &str = "the connection was cleared when its security group's rules changed";
const SSH_RULE: &str = "rule 1 of srv-sg (allow TCP port 22 from 10.0.1.10/32) allows";

/// A SYN on the very 5-tuple of the cleared connection is a new connection: the rules judge
/// it, and the connection it opens replaces the cleared one.
#[test]
fn a_syn_on_the_cleared_5_tuple_opens_a_new_connection() {
    let text = replaced(
        BASE,
        "tcp: { from: client, to: server, port: 22, sport: 40023",
        "tcp: { from: client, to: server, port: 22, sport: 40022",
    );
    let recs = records(&text, None);
    let client = from(&recs, "10.0.1.10", 40022);
    let window3: Vec<_> = client.iter().filter(|r| r.0 == 120).collect();
    assert_eq!(window3.len(), 1, "{client:?}");
    let (_, action, packets, decisions) = window3[0];
    assert_eq!((*action, *packets), (Action::Accept, 6));
    assert!(
        decisions.iter().any(|d| d.ends_with(SSH_RULE)),
        "{decisions:?}"
    );
    // The server's side of the new connection is tracked again.
    let server = from(&recs, "10.0.1.20", 22);
    assert!(
        server
            .iter()
            .any(|r| r.0 == 120 && r.1 == Action::Accept && r.2 == 4),
        "{server:?}"
    );
}

/// The cleared connection's segments are rejected until its idle timeout as it stood at its
/// last accepted packet (t=58, the client's ACK; huawei TCP established: 600 s, so t=658):
/// rejected segments do not keep it alive. After that a segment is a packet of no connection,
/// judged by the rules as any such segment is (and picked up mid-stream by the SSH rule).
#[test]
fn the_clearing_lasts_until_the_old_connection_would_have_timed_out() {
    let segment = |at: &str| {
        format!(
            "  - at: {at}\n    packet: {{ from: client, to: server, protocol: tcp, sport: 40022, \
             dport: 22, flags: [psh, ack], size: 152 }}\n"
        )
    };
    let text = with_traffic(&(segment("657.5") + &segment("658.5")));
    let recs = records(&text, None);
    let late: Vec<_> = from(&recs, "10.0.1.10", 40022)
        .into_iter()
        .filter(|r| r.0 == 600)
        .collect();
    assert_eq!(late.len(), 2, "{late:?}");
    let reject = late.iter().find(|r| r.1 == Action::Reject).unwrap();
    assert_eq!(reject.2, 1);
    assert!(
        reject.3.iter().any(|d| d.contains(CLEARED)),
        "{:?}",
        reject.3
    );
    let accept = late.iter().find(|r| r.1 == Action::Accept).unwrap();
    assert_eq!(accept.2, 1);
    assert!(
        accept.3.iter().any(|d| d.ends_with(SSH_RULE)),
        "{:?}",
        accept.3
    );
}

/// Only huawei clears: on aws a tracked connection survives any rule change, and alibaba and
/// tencent cut only a session the new rules deny (the SSH rule did not change). Nothing is
/// rejected there, and the old SSH connection carries on.
#[test]
fn the_other_clouds_keep_the_connection() {
    let rejects = |p: Option<Provider>| {
        records(BASE, p)
            .iter()
            .filter_map(|r| r.flow.as_ref())
            .filter(|f| f.action == Action::Reject)
            .count()
    };
    assert_eq!(rejects(None), 2);
    for p in [Provider::Aws, Provider::Alibaba, Provider::Tencent] {
        assert_eq!(rejects(Some(p)), 0, "{p:?}");
        let recs = records(BASE, Some(p));
        let ssh = from(&recs, "10.0.1.10", 40022);
        // Window 2: the second request, its ACK, the FIN and the last ACK, then the two
        // retransmissions.
        assert!(
            ssh.iter()
                .any(|r| r.0 == 60 && r.1 == Action::Accept && r.2 == 7),
            "{p:?}: {ssh:?}"
        );
    }
}
