//! NAT gateways beyond plain SNAT: flows through them are always tracked (aws, D7), the RST
//! after the idle timeout, ports drawn across 1024-65535 against an ACL that lets back only
//! the upper half, sessions that end on FIN and a new session for a new connection, DNAT
//! rules (port forwarding) and their errors, NAT gateway flow logs
//! (`resource: { nat_gateway: NAME }`).

mod common;
use common::scenario::{error, replaced};
use vpclab_controlplane::{Options, load, run};

const TRACKED: &str = include_str!("../scenarios/aws-nat-always-tracked.yaml");
const IDLE: &str = include_str!("../scenarios/aws-nat-idle-timeout.yaml");
const DNAT: &str = include_str!("../scenarios/tencent-nat-dnat.yaml");
const PORT_ACL: &str = include_str!("../scenarios/aws-nat-port-acl.yaml");

/// Every ground-truth decision of the records whose source and destination are these.
fn decisions(text: &str, src: &str, dst: &str) -> Vec<String> {
    let mut l = load("s.yaml", text, &Options::default()).expect("loads");
    let r = run(&mut l).expect("runs");
    r.records
        .iter()
        .filter_map(|rec| rec.flow.as_ref().map(|f| (f, &rec.truth)))
        .filter(|(f, _)| f.tuple.src.to_string() == src && f.tuple.dst.to_string() == dst)
        .flat_map(|(_, t)| t.decisions.clone())
        .collect()
}

#[test]
fn the_same_rules_leave_a_direct_flow_untracked_and_a_nat_flow_tracked() {
    // Direct through the internet gateway: untracked both ways (D7).
    let direct = decisions(TRACKED, "203.0.113.5", "10.0.0.10");
    assert!(
        direct.iter().any(|d| d.ends_with("flow not tracked (D7)")),
        "{direct:?}"
    );
    // Through the NAT gateway: the reply is let in by tracking, and nothing is untracked.
    let nat = decisions(TRACKED, "203.0.113.5", "10.0.1.5");
    assert!(
        nat.iter()
            .any(|d| d == "SG ingress at behind-nat: part of a tracked connection: allows"),
        "{nat:?}"
    );
    let out = decisions(TRACKED, "10.0.1.5", "203.0.113.5");
    assert!(out.iter().all(|d| !d.contains("not tracked")), "{out:?}");
    // Routed to the internet gateway instead, the private instance's flow is untracked too.
    let no_nat = replaced(
        TRACKED,
        "{ destination: 0.0.0.0/0, target: nat_gateway, nat_gateway: nat }",
        "{ destination: 0.0.0.0/0, target: internet_gateway }",
    );
    let no_nat = replaced(
        &no_nat,
        "{ name: behind-nat, subnet: private, ip: 10.0.1.5,",
        "{ name: behind-nat, subnet: private, ip: 10.0.1.5, eip: 198.51.100.11,",
    );
    let d = decisions(&no_nat, "10.0.1.5", "203.0.113.5");
    assert!(
        d.iter().any(|d| d.ends_with("flow not tracked (D7)")),
        "{d:?}"
    );
}

#[test]
fn a_late_packet_gets_a_rst_only_after_the_idle_timeout() {
    // 300 s later the session is still live: the ACK goes out, no REJECT, no RST.
    let early = replaced(IDLE, "  - at: 410\n", "  - at: 310\n");
    let mut l = load("s.yaml", &early, &Options::default()).expect("loads");
    let r = run(&mut l).expect("runs");
    assert!(r.lines().all(|x| !x.contains("REJECT")));
    assert!(
        r.lines()
            .any(|x| x.contains("10.0.0.220 203.0.113.5 40684 80 6 5 468")),
        "{:?}",
        r.lines().collect::<Vec<_>>()
    );
    // 400 s later: REJECT at the gateway, and the RST reaches the instance (40 bytes more).
    let rejected = decisions(IDLE, "10.0.1.5", "10.0.0.220");
    assert!(
        rejected
            .iter()
            .any(|d| d.starts_with("NAT gateway nat: the session was idle longer than 350 s")),
        "{rejected:?}"
    );
}

#[test]
fn dnat_rules_are_checked() {
    let dnat_error = |from: &str, to: &str| error(&replaced(DNAT, from, to));
    let e = dnat_error("to: web-1, to_port: 80", "to: web-9, to_port: 80");
    assert!(e.field.ends_with("nat_gateways[0].dnat[0].to"), "{e}");
    let e = dnat_error("to: web-1, to_port: 80", "to: 10.0.1.99, to_port: 80");
    assert!(e.message.contains("10.0.1.99"), "{e}");
    let e = dnat_error(
        "{ protocol: tcp, port: 8080",
        "{ protocol: icmp, port: 8080",
    );
    assert!(e.message.contains("tcp` or `udp"), "{e}");
    let e = dnat_error(
        "          - { protocol: tcp, port: 8080, to: web-1, to_port: 80 }\n",
        "          - { protocol: tcp, port: 8080, to: web-1, to_port: 80 }\n          - { protocol: tcp, port: 8080, to: web-1, to_port: 81 }\n",
    );
    assert!(e.message.contains("already forwards tcp port 8080"), "{e}");
    let e = dnat_error(
        "    resource: { nat_gateway: nat }\n",
        "    resource: { nat_gateway: nope }\n",
    );
    assert!(e.message.contains("no NAT gateway named `nope`"), "{e}");
}

#[test]
fn without_the_rule_the_forwarded_syn_is_rejected_at_the_gateway() {
    let text = replaced(DNAT, "port: 8080, to: web-1", "port: 8090, to: web-1");
    let d = decisions(&text, "203.0.113.7", "10.0.0.100");
    assert!(
        d.iter()
            .any(|d| d.contains("no session or DNAT rule matches")),
        "{d:?}"
    );
    // Nothing of the client's reaches web-1. What does arrive is the gateway's RST answering
    // web-1's own scripted segment to the client (no session: only a SYN opens one), on
    // behalf of the client; web-1's connection tracking lets it in.
    let inside = decisions(&text, "203.0.113.7", "10.0.1.10");
    assert!(
        inside
            .iter()
            .all(|d| !d.contains("allow TCP port 80 from 0.0.0.0/0")),
        "{inside:?}"
    );
    let reply = decisions(&text, "10.0.1.10", "10.0.0.100");
    assert!(
        reply.iter().any(|d| d.contains(
            "no session for this TCP connection, and only a SYN opens one; drops (answers the inside host with a RST)"
        )),
        "{reply:?}"
    );
}

/// The printed records of a scenario's text.
fn lines(text: &str) -> Vec<String> {
    let mut l = load("s.yaml", text, &Options::default()).expect("loads");
    let r = run(&mut l).expect("runs");
    r.lines().map(String::from).collect()
}

#[test]
fn an_acl_that_lets_back_only_32768_and_up_fails_about_half_the_drawn_sessions() {
    // aws-nat-port-acl.yaml's topology and broken ACL, with 40 connections whose NAT ports are
    // all drawn (none pinned) and no fix.
    let head = &PORT_ACL[..PORT_ACL.find("traffic:\n").expect("a traffic section")];
    let mut text = format!("{head}traffic:\n");
    for i in 0..40 {
        text.push_str(&format!(
            "  - at: {}\n    tcp: {{ from: instance, to: web, port: 80, sport: {}, requests: [100], responses: [1000] }}\n",
            10 + i,
            41_000 + i
        ));
    }
    let got = lines(&text);
    let port = |l: &str, at: usize| -> u16 { l.split(' ').nth(at).unwrap().parse().unwrap() };
    // The replies the ACL rejected, and the NAT ports of all 40 sessions.
    let rejected: Vec<u16> = got
        .iter()
        .filter(|l| l.contains(" 203.0.113.5 10.0.0.220 80 ") && l.ends_with("REJECT OK"))
        .map(|l| port(l, 6))
        .collect();
    let drawn: Vec<u16> = got
        .iter()
        .filter(|l| l.contains(" 10.0.0.220 203.0.113.5 "))
        .map(|l| port(l, 5))
        .collect();
    assert_eq!(drawn.len(), 40, "{got:#?}");
    assert!(drawn.iter().all(|&p| p >= 1024));
    // Exactly the sessions below 32768 fail, and those are neither none nor all.
    let mut low: Vec<u16> = drawn.iter().copied().filter(|&p| p < 32768).collect();
    let mut rejected = rejected;
    low.sort();
    rejected.sort();
    assert_eq!(rejected, low);
    assert!(
        (8..=32).contains(&low.len()),
        "{} of 40 below 32768",
        low.len()
    );
}

#[test]
fn a_closed_session_resets_late_segments_and_a_new_connection_is_a_new_session() {
    // aws-nat-idle-timeout.yaml, but the connection closes with FIN (t=10), a late ACK on its
    // 5-tuple follows 20 s later, and a new connection on the very same 5-tuple at t=40.
    let text = replaced(IDLE, "close: open }", "close: fin }");
    let text = replaced(&text, "  - at: 410\n", "  - at: 30\n");
    let text = format!(
        "{}  - at: 40\n    tcp: {{ from: instance, to: web, port: 80, sport: 40000, requests: [200], responses: [1200] }}\n{}",
        &text[..text.find("expect:").unwrap()],
        &text[text.find("expect:").unwrap()..]
    );
    let late = decisions(&text, "10.0.1.5", "10.0.0.220");
    assert!(
        late.iter().any(|d| d.starts_with(
            "NAT gateway nat: the connection was closed (FIN from both sides and the last ACK, or a RST) and its session is gone; drops (answers the inside host with a RST"
        )),
        "{late:?}"
    );
    // Two sessions, two NAT ports: the first drawn at t=10, the second at t=40.
    let got = lines(&text);
    let mut ports: Vec<&str> = got
        .iter()
        .filter(|l| l.contains(" 10.0.0.220 203.0.113.5 "))
        .map(|l| l.split(' ').nth(5).unwrap())
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 2, "{got:#?}");
    assert!(ports.contains(&"40684"), "{ports:?}");
    // The late ACK is the gateway's one REJECT; the new connection is not refused.
    let rejects: Vec<&String> = got.iter().filter(|l| l.ends_with("REJECT OK")).collect();
    assert_eq!(rejects.len(), 1, "{rejects:#?}");
    assert!(
        rejects[0].contains(" 10.0.1.5 10.0.0.220 40000 80 6 1 52 "),
        "{rejects:?}"
    );
}

#[test]
fn a_pinned_nat_port_is_one_a_gateway_hands_out() {
    for bad in ["80", "1023"] {
        let e = error(&replaced(
            PORT_ACL,
            "nat_port: 20000",
            &format!("nat_port: {bad}"),
        ));
        assert!(e.field.ends_with("traffic[2].tcp.nat_port"), "{e}");
        assert!(e.message.contains("1024-65535"), "{e}");
    }
}
