//! NAT gateways beyond plain SNAT: flows through them are always tracked (aws, D7), the RST
//! after the idle timeout, DNAT rules (port forwarding) and their errors, NAT gateway flow
//! logs (`resource: { nat_gateway: NAME }`).

use vpclab_controlplane::{Options, ScenarioError, load, run};

const TRACKED: &str = include_str!("../scenarios/aws-nat-always-tracked.yaml");
const IDLE: &str = include_str!("../scenarios/aws-nat-idle-timeout.yaml");
const DNAT: &str = include_str!("../scenarios/tencent-nat-dnat.yaml");

fn replaced(base: &str, from: &str, to: &str) -> String {
    assert!(
        base.contains(from),
        "the base scenario must contain {from:?}"
    );
    base.replacen(from, to, 1)
}

fn error(text: &str) -> ScenarioError {
    match load("s.yaml", text, &Options::default()) {
        Ok(_) => panic!("the scenario should not load"),
        Err(e) => e,
    }
}

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
    let e = error(&replaced(
        DNAT,
        "to: web-1, to_port: 80",
        "to: web-9, to_port: 80",
    ));
    assert!(e.field.ends_with("nat_gateways[0].dnat[0].to"), "{e}");
    let e = error(&replaced(
        DNAT,
        "to: web-1, to_port: 80",
        "to: 10.0.1.99, to_port: 80",
    ));
    assert!(e.message.contains("10.0.1.99"), "{e}");
    let e = error(&replaced(
        DNAT,
        "{ protocol: tcp, port: 8080",
        "{ protocol: icmp, port: 8080",
    ));
    assert!(e.message.contains("tcp` or `udp"), "{e}");
    let e = error(&replaced(
        DNAT,
        "          - { protocol: tcp, port: 8080, to: web-1, to_port: 80 }\n",
        "          - { protocol: tcp, port: 8080, to: web-1, to_port: 80 }\n          - { protocol: tcp, port: 8080, to: web-1, to_port: 81 }\n",
    ));
    assert!(e.message.contains("already forwards tcp port 8080"), "{e}");
    let e = error(&replaced(
        DNAT,
        "    resource: { nat_gateway: nat }\n",
        "    resource: { nat_gateway: nope }\n",
    ));
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
