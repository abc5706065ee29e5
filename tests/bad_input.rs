//! Bad input gets a clear error naming file, line and field, exit code 2, and nothing runs.
//! Each case breaks the shipped ping scenario in one place.

use std::process::Command;

mod common;
use common::scenario::{error, line_of, refused, replaced};
use vpclab_controlplane::{Options, load};

const BASE: &str = include_str!("../scenarios/ping-acl-asymmetry.yaml");

/// The base scenario with `from` replaced by `to` (once).
fn broken(from: &str, to: &str) -> String {
    replaced(BASE, from, to)
}

#[test]
fn malformed_yaml() {
    let e = error("provider: tencent\nstart: [1\n");
    assert_eq!((e.file.as_str(), e.line), ("s.yaml", 2));
    assert_eq!(e.field, "start");
}

#[test]
fn unknown_field() {
    let text = broken(
        "    cidr: 172.31.0.0/16\n",
        "    cidr: 172.31.0.0/16\n    colour: blue\n",
    );
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "colour: blue"));
    assert!(e.message.starts_with("unknown field `colour`"), "{e}");
}

#[test]
fn wrong_type_names_the_field() {
    let text = broken("seed: 1\n", "seed: -1\n");
    let e = error(&text);
    assert_eq!(
        e.to_string(),
        format!("s.yaml:{}:7: seed: invalid u64", line_of(&text, "seed: -1"))
    );
}

#[test]
fn subnet_outside_its_vpc() {
    let text = broken("cidr: 172.31.16.0/20, acl", "cidr: 10.9.0.0/20, acl");
    let e = refused(
        &text,
        "vpcs[0].subnets[0].cidr",
        "subnet 10.9.0.0/20 is not inside its VPC's block 172.31.0.0/16",
    );
    assert_eq!(e.line, line_of(&text, "10.9.0.0/20"));
}

#[test]
fn overlapping_subnets() {
    let text = broken(
        "      - { name: web, cidr: 172.31.16.0/20, acl: web-acl }\n",
        "      - { name: web, cidr: 172.31.16.0/20, acl: web-acl }\n      - { name: web2, cidr: 172.31.16.0/24 }\n",
    );
    let e = refused(
        &text,
        "vpcs[0].subnets[1].cidr",
        "subnet 172.31.16.0/24 overlaps subnet `web` (172.31.16.0/20)",
    );
    assert_eq!(e.line, line_of(&text, "web2"));
}

#[test]
fn unknown_security_group() {
    let text = broken("security_groups: [web-sg]", "security_groups: [web-sgg]");
    let e = refused(
        &text,
        "vpcs[0].enis[0].security_groups[0]",
        "no security group named `web-sgg` in this VPC (known: web-sg)",
    );
    assert_eq!(e.line, line_of(&text, "web-sgg"));
}

#[test]
fn unknown_acl() {
    let text = broken("acl: web-acl }", "acl: nope }");
    refused(
        &text,
        "vpcs[0].subnets[0].acl",
        "no network ACL named `nope` in this VPC (known: web-acl)",
    );
}

#[test]
fn invalid_name() {
    let text = broken("  - name: instance\n", "  - name: \"bad name!\"\n");
    let e = error(&text);
    assert_eq!(e.field, "vpcs[0].enis[0].name");
    assert_eq!(e.line, line_of(&text, "bad name!"));
    assert!(
        e.message.starts_with("`bad name!` is not a valid name"),
        "{e}"
    );
}

#[test]
fn bad_port_range() {
    let text = broken("ports: 443, remote", "ports: \"500-443\", remote");
    let e = error(&text);
    assert_eq!(e.field, "vpcs[0].security_groups[0].rules[1].ports");
    assert_eq!(e.line, line_of(&text, "500-443"));
    assert!(
        e.message.starts_with("`500-443` is not a port range"),
        "{e}"
    );
    let text = broken("ports: 443, remote", "ports: 70000, remote");
    assert_eq!(
        error(&text).field,
        "vpcs[0].security_groups[0].rules[1].ports"
    );
}

#[test]
fn acl_rule_number_out_of_range() {
    let text = broken(
        "rule: 100, action: allow, protocol: icmp",
        "rule: 0, action: allow, protocol: icmp",
    );
    refused(
        &text,
        "vpcs[0].network_acls[0].ingress[0].rule",
        "rule number 0 is outside 1-32766",
    );
}

#[test]
fn capture_window_the_cloud_does_not_offer() {
    let text = broken("    traffic: all\n", "    traffic: all\n    window: 45\n");
    let e = error(&text);
    assert_eq!(e.field, "flow_logs[0].window");
    assert_eq!(e.line, line_of(&text, "window: 45"));
}

#[test]
fn deny_rules_on_aws_are_refused() {
    let text = broken("provider: tencent", "provider: aws").replace(
        "{ direction: ingress, action: allow, protocol: icmp",
        "{ direction: ingress, action: deny, protocol: icmp",
    );
    let e = refused(
        &text,
        "vpcs[0].security_groups[0].rules[0].action",
        "aws security groups only have allow rules",
    );
    assert_eq!(e.line, line_of(&text, "action: deny"));
}

#[test]
fn cli_exits_2_and_runs_nothing() {
    let dir = std::env::temp_dir().join(format!("vpclab-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        broken("cidr: 172.31.16.0/20, acl", "cidr: 10.9.0.0/20, acl"),
    )
    .unwrap();
    let pcap = dir.join("out.pcap");
    let o = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--pcap",
            pcap.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty(), "nothing runs, nothing is printed");
    assert!(!pcap.exists(), "nothing is written");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:")
            && err.contains("vpcs[0].subnets[0].cidr: subnet 10.9.0.0/20 is not inside"),
        "{err}"
    );
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "---",
        "[]",
        "provider: 3",
        "\u{0}\u{1}",
        "vpcs: {a: b}",
        "provider: aws\nstart: 1\ntraffic: [{at: -1, advance: true}]",
    ] {
        assert!(
            load("g.yaml", text, &Options::default()).is_err(),
            "{text:?} should be refused"
        );
    }
}

#[test]
fn absurd_numbers_are_refused_not_overflowed() {
    let e = error(&broken("start: 1432917000", "start: 18446744073709551615"));
    assert_eq!(e.field, "start");
    let e = error(&broken("  - at: 27\n", "  - at: 1e300\n"));
    assert_eq!(e.field, "traffic[0].at");
    let e = error(&broken(
        "count: 4, interval: 38",
        "count: 65535, interval: 1e9",
    ));
    assert_eq!(e.field, "traffic[0].ping.interval");
    assert!(e.message.contains("31 days"), "{e}");
}

/// Huawei seed 000: "From May 2024, enterprise routers and Direct Connect virtual gateways
/// cannot be used together to set up a hybrid cloud network." The hybrid scenario attaches a
/// global DC gateway; a virtual gateway in its place is refused at its `kind`.
#[test]
fn huawei_refuses_a_virtual_gateway_attachment() {
    let base = include_str!("../scenarios/huawei-hybrid-vpn.yaml");
    let text = base.replacen(
        "        kind: global_dc_gateway\n",
        "        kind: virtual_gateway\n",
        1,
    );
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "        kind: virtual_gateway"));
    assert_eq!(e.field, "enterprise_routers[0].attachments[2].kind");
    assert!(
        e.message.starts_with(
            "a new virtual gateway (Direct Connect) attachment is not allowed: from May 2024"
        ),
        "{e}"
    );
    // The same attachment on another cloud is fine.
    let aws = text
        .replacen("provider: huawei", "provider: aws", 1)
        .replacen("zone: cn-north-4a", "zone: use1-az1", 1);
    assert!(load("s.yaml", &aws, &Options::default()).is_ok());
}

/// Cloud Connect Network mistakes are located like any other: an unknown VPC, a limit on a
/// region no attached VPC is in, a CCN flow log window tencent does not allow.
#[test]
fn ccn_mistakes_name_their_line() {
    let base = include_str!("../scenarios/tencent-ccn-throttling.yaml");
    let broken = |from: &str, to: &str| {
        assert!(base.contains(from), "{from:?}");
        base.replacen(from, to, 1)
    };
    let text = broken("    vpcs: [gz, sh]\n", "    vpcs: [gz, hk]\n");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "vpcs: [gz, hk]"));
    assert_eq!(e.field, "ccns[0].vpcs[1]");
    assert!(e.message.starts_with("no VPC named `hk`"), "{e}");

    let text = broken(
        "regions: [ap-guangzhou, ap-shanghai]",
        "regions: [ap-guangzhou, ap-beijing]",
    );
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "ap-beijing"));
    assert_eq!(e.field, "ccns[0].bandwidth_limits[0].regions[1]");
    assert!(e.message.contains("no VPC of region ap-beijing"), "{e}");

    let text = broken(
        "resource: { ccn: backbone } }",
        "resource: { ccn: backbone }, window: 300 }",
    );
    let e = error(&text);
    assert_eq!(e.field, "flow_logs[0].window");
    assert!(e.message.contains("CCN flow log window"), "{e}");
}

/// A subnet's zone is one of its VPC's region, named the cloud's way, and the error says
/// which ones are.
#[test]
fn a_zone_of_another_region_is_refused() {
    let text = include_str!("../scenarios/aws-transit-gateway.yaml").replacen(
        "zone: use1-az1 }",
        "zone: usw2-az1 }",
        1,
    );
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "zone: usw2-az1 }"));
    assert_eq!(e.field, "vpcs[0].subnets[0].zone");
    assert_eq!(
        e.message,
        "`usw2-az1` is not an availability zone of region us-east-1: use one such as us-east-1a \
         or use1-az1"
    );
}

/// Run as another cloud (`--provider`), a scenario's zones take that cloud's names, region by
/// region in the order the file names them: subnets of one zone stay together, subnets of two
/// zones stay apart (the transit gateway's zone affinity depends on it).
#[test]
fn another_cloud_renames_the_zones() {
    let text = include_str!("../scenarios/aws-transit-gateway.yaml");
    let opts = Options {
        provider: Some(vpclab_sim::profile::Provider::Huawei),
        ..Options::default()
    };
    let loaded = load("s.yaml", text, &opts).unwrap_or_else(|e| panic!("{e}"));
    let zones: Vec<(&str, &str)> = loaded
        .sim
        .world
        .subnets
        .iter()
        .map(|s| (s.name.as_str(), s.az.as_str()))
        .collect();
    assert_eq!(
        zones,
        [
            ("clients", "cn-north-4a"),
            ("az1", "cn-north-4a"),
            ("az2", "cn-north-4b")
        ]
    );
}

/// A subnet without a zone is in its region's first zone, and stays apart from a subnet the
/// file puts in another zone when the scenario runs as another cloud.
#[test]
fn another_cloud_keeps_unnamed_zones_apart() {
    let text = "provider: huawei\nstart: 0\nvpcs:\n  - name: v\n    cidr: 10.0.0.0/16\n    subnets:\n      - { name: s1, cidr: 10.0.1.0/24 }\n      - { name: s2, cidr: 10.0.2.0/24, zone: cn-north-4b }\n      - { name: s3, cidr: 10.0.3.0/24, zone: cn-north-4a }\n";
    let opts = Options {
        provider: Some(vpclab_sim::profile::Provider::Aws),
        ..Options::default()
    };
    let loaded = load("s.yaml", text, &opts).unwrap_or_else(|e| panic!("{e}"));
    let zones: Vec<&str> = loaded
        .sim
        .world
        .subnets
        .iter()
        .map(|s| s.az.as_str())
        .collect();
    assert_eq!(zones, ["use1-az1", "use1-az2", "use1-az1"]);
}

/// The scenario's region is checked like a VPC's: a region ID, or a clear error at its line.
#[test]
fn a_region_that_is_no_region_id_is_refused() {
    let text = BASE.replacen(
        "provider: tencent\n",
        "provider: tencent\nregion: eu-ést-1\n",
        1,
    );
    let e = error(&text);
    assert_eq!(e.field, "region");
    assert_eq!(e.line, line_of(&text, "region: eu-ést-1"));
    assert!(e.message.contains("is not a region ID"), "{e}");
}

/// A scripted change of an interface's groups is checked when the file loads, as a change of
/// rules is: basic and enterprise groups on one interface are refused at their line.
#[test]
fn a_scripted_group_change_is_checked_at_load() {
    let base = include_str!("../scenarios/alibaba-sg-types.yaml");
    let text = base.replacen(
        "traffic:\n",
        "traffic:\n  - at: 5\n    set_eni_security_groups: { eni: b1, groups: [team-basic, team-enterprise] }\n",
        1,
    );
    let e = error(&text);
    assert_eq!(e.field, "traffic[0].set_eni_security_groups.groups[1]");
    assert_eq!(e.line, line_of(&text, "set_eni_security_groups: { eni: b1"));
    assert_eq!(
        e.message,
        "security groups `team-basic` (basic) and `team-enterprise` (enterprise) cannot go \
         together: an interface's groups are all basic or all enterprise"
    );
}

/// An aws interface timeout out of its range names its line and field (policy.md §1.3: UDP
/// 30-60 s); tencent, which documents no per-interface timeouts, refuses any.
#[test]
fn connection_tracking_out_of_range_names_its_line() {
    let eni = "        security_groups: [web-sg]\n";
    let text = broken("provider: tencent", "provider: aws").replace(
        eni,
        &format!("{eni}        connection_tracking: {{ tcp_established: 350, udp: 61 }}\n"),
    );
    let e = error(&text);
    assert_eq!(e.field, "vpcs[0].enis[0].connection_tracking.udp");
    assert_eq!(e.line, line_of(&text, "connection_tracking:"));
    assert_eq!(e.message, "udp is 30-60 seconds on aws, not 61");

    let text = broken(
        eni,
        &format!("{eni}        connection_tracking:\n          udp_stream: 120\n"),
    );
    let e = error(&text);
    assert_eq!(e.field, "vpcs[0].enis[0].connection_tracking.udp_stream");
    assert_eq!(e.line, line_of(&text, "udp_stream: 120"));
    assert!(e.message.contains("aws only"), "{e}");
}

/// A secondary private IP is checked as the primary is (in the subnet, not reserved, not
/// anyone's already) and the error names its line and its place in the list.
#[test]
fn a_bad_secondary_ip_names_its_entry() {
    let base = include_str!("../scenarios/aws-secondary-ip.yaml");
    let list = "secondary_private_ips: [10.0.1.20, 10.0.1.21]";
    let cases = [
        (
            "secondary_private_ips: [10.0.1.20, 10.0.1.255]",
            "vpcs[0].enis[0].secondary_private_ips[1]",
            "10.0.1.255 is reserved in subnet 10.0.1.0/24: aws keeps the first 4 and the last 1 \
             addresses of every subnet (in 10.0.0.0/24: 10.0.0.0 to 10.0.0.3 and 10.0.0.255)",
        ),
        (
            "secondary_private_ips: [10.0.2.20, 10.0.1.21]",
            "vpcs[0].enis[0].secondary_private_ips[0]",
            "10.0.2.20 is not inside subnet `a` (10.0.1.0/24)",
        ),
        (
            "secondary_private_ips: [10.0.1.20, 10.0.1.10]",
            "vpcs[0].enis[0].secondary_private_ips[1]",
            "10.0.1.10 is the interface's primary address",
        ),
        (
            "secondary_private_ips: [10.0.1.20, 10.0.1.20]",
            "vpcs[0].enis[0].secondary_private_ips[1]",
            "10.0.1.20 is given twice",
        ),
        (
            "secondary_private_ips: [10.0.1.20, 10.0.1.x]",
            "vpcs[0].enis[0].secondary_private_ips[1]",
            "`10.0.1.x` is not an IPv4 address",
        ),
    ];
    for (to, field, message) in cases {
        let text = base.replacen(list, to, 1);
        let e = error(&text);
        assert_eq!(e.line, line_of(&text, to), "{e}");
        assert_eq!((e.field.as_str(), e.message.as_str()), (field, message));
    }
    // Another interface cannot take a secondary IP as its own address.
    let text = base.replacen("ip: 10.0.1.30", "ip: 10.0.1.21", 1);
    let e = refused(
        &text,
        "vpcs[0].enis[1].ip",
        "10.0.1.21 is already used by another ENI",
    );
    assert_eq!(e.line, line_of(&text, "ip: 10.0.1.21"));
    // Traffic to an address nobody holds.
    let text = base.replacen("to: 10.0.1.21,", "to: 10.0.1.99,", 1);
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "to: 10.0.1.99,"));
    assert_eq!(e.field, "traffic[2].tcp.to");
    assert!(
        e.message
            .starts_with("no interface, host or VPC service at 10.0.1.99 that client (eni-")
            && e.message.ends_with(") reaches"),
        "{e}"
    );
}

/// The base for scripted routing changes.
const ROUTES: &str = include_str!("../scenarios/aws-route-changes.yaml");

/// `base` with `entry` as the last entry of its script (just before `expect:`).
fn appended(base: &str, entry: &str) -> String {
    base.replacen("\nexpect:\n", &format!("{entry}\n\nexpect:\n"), 1)
}

fn with_change(entry: &str) -> String {
    appended(ROUTES, &format!("  - at: 200\n{entry}"))
}

/// A scripted change that names a missing resource is refused at load, at its line and field.
#[test]
fn a_scripted_change_naming_a_missing_resource_is_refused() {
    let text = with_change("    delete_nat_gateway: { nat_gateway: nat-z }");
    let e = error(&text);
    assert_eq!(e.field, "traffic[11].delete_nat_gateway.nat_gateway");
    assert_eq!(e.line, line_of(&text, "nat_gateway: nat-z"));
    assert_eq!(
        e.message,
        "no NAT gateway named `nat-z` in this VPC (known: nat-a, nat-b)"
    );

    let text = with_change(
        "    replace_route: { route_table: nope, destination: 0.0.0.0/0, target: blackhole }",
    );
    let e = error(&text);
    assert_eq!(e.field, "traffic[11].replace_route.route_table");
    assert_eq!(e.line, line_of(&text, "route_table: nope"));
    assert!(e.message.starts_with("no route table named `nope`"), "{e}");

    let text = with_change("    associate_route_table: { subnet: dmz, route_table: main }");
    let e = error(&text);
    assert_eq!(e.field, "traffic[11].associate_route_table.subnet");
    assert_eq!(e.line, line_of(&text, "subnet: dmz"));
}

/// Changes are checked in the file's order against the world the earlier ones leave: a
/// route deleted twice, a route to a NAT gateway deleted earlier in the script.
#[test]
fn a_scripted_change_is_checked_against_the_earlier_changes() {
    let text = with_change("    delete_route: { route_table: via-a, destination: 10.9.0.0/16 }");
    let e = error(&text);
    assert_eq!(e.field, "traffic[11].delete_route.destination");
    assert_eq!(e.line, line_of(&text, "destination: 10.9.0.0/16"));
    assert_eq!(e.message, "route table `via-a` has no route to 10.9.0.0/16");

    let text = with_change(
        "    add_route: { route_table: main, destination: 10.8.0.0/16, target: nat_gateway, nat_gateway: nat-b }",
    );
    let e = error(&text);
    assert_eq!(e.field, "traffic[11].add_route.target");
    assert_eq!(e.line, line_of(&text, "destination: 10.8.0.0/16"));
    assert_eq!(e.message, "the NAT gateway is not in this VPC");

    let text = with_change("    delete_nat_gateway: { nat_gateway: nat-b }");
    let e = error(&text);
    assert_eq!(e.field, "traffic[11].delete_nat_gateway.nat_gateway");
    // The second deletion's line (the script's first is at t=40).
    let needle = "delete_nat_gateway: { nat_gateway: nat-b }";
    let lines: Vec<&str> = text.lines().collect();
    let second = lines
        .iter()
        .rposition(|l| l.contains(needle))
        .expect("present") as u64
        + 1;
    assert!(second > line_of(&text, needle));
    assert_eq!(e.line, second);
}

/// Router changes name their router, table and attachment.
#[test]
fn a_scripted_router_change_naming_a_missing_attachment_is_refused() {
    let base = include_str!("../scenarios/huawei-er-attachment-deleted.yaml");
    let text = appended(
        base,
        "  - at: 40\n    delete_router_attachment: { router: er, attachment: vpc-c }",
    );
    let e = error(&text);
    assert_eq!(e.field, "traffic[4].delete_router_attachment.attachment");
    assert_eq!(e.line, line_of(&text, "attachment: vpc-c"));
    assert_eq!(
        e.message,
        "no attachment named `vpc-c` in this router (known: vpc-a, vpc-b)"
    );

    // Deleted at t=20 by the script: a route to it is refused at its line.
    let text = appended(
        base,
        "  - at: 40\n    add_router_route: { router: er, route_table: default, destination: 10.0.0.0/8, attachment: vpc-b }",
    );
    let e = error(&text);
    assert_eq!(e.field, "traffic[4].add_router_route.attachment");
    assert_eq!(e.line, line_of(&text, "destination: 10.0.0.0/8"));
}

/// A scripted packet's, ping's or udp step's TTL is 1-255: 0 would never leave its sender,
/// 256 does not fit.
#[test]
fn a_ttl_out_of_range_names_its_line() {
    let base = include_str!("../scenarios/traceroute.yaml");
    for (step, field) in [
        ("dport: 33435, ttl: 2 }", "traffic[1].packet.ttl"),
        ("ident: 7, ttl: 1 }", "traffic[2].ping.ttl"),
        ("sport: 40001, ttl: 1 }", "traffic[3].udp.ttl"),
    ] {
        for bad in ["0", "256"] {
            let (head, _) = step.rsplit_once("ttl:").unwrap();
            let wrong = format!("{head}ttl: {bad} }}");
            let text = base.replacen(step, &wrong, 1);
            assert_ne!(text, base, "{step}");
            let e = error(&text);
            assert_eq!(e.field, field);
            assert_eq!(e.line, line_of(&text, &wrong));
            assert_eq!(
                e.message,
                format!("TTL {bad} is out of range: an IPv4 TTL is 1-255")
            );
        }
    }
}

/// The path MTU scenario: aws, instances at MTU 9001, an external host at 1500.
const PATH_MTU: &str = include_str!("../scenarios/aws-path-mtu.yaml");

/// The refusal of a datagram over its sender's interface MTU (docs/decisions/mtu.md, 2).
fn too_big(len: u32, mtu: u32, whose: &str) -> String {
    format!(
        "{len} bytes do not fit the sender's interface MTU of {mtu} bytes ({whose}): a host \
         sends no larger datagram (it fragments it first, or refuses it when DF is set)"
    )
}

/// `s.yaml:LINE:COL` of the first `needle` in `text` (both 1-based).
fn place_of(text: &str, needle: &str) -> String {
    let line = line_of(text, needle);
    let col = text
        .lines()
        .nth(line as usize - 1)
        .unwrap()
        .find(needle)
        .unwrap()
        + 1;
    format!("s.yaml:{line}:{col}")
}

/// An aws instance sends at most 9001 bytes (jumbo frames): a scripted packet of 9002 is
/// refused at its `size`, naming the MTU; 9001 loads.
#[test]
fn an_aws_packet_over_9001_bytes_is_refused_at_its_size() {
    // traffic[0]: web's TCP segment; traffic[5]: web's UDP datagram with DF.
    for (step, index) in [
        ("sport: 40000, dport: 443, flags: [ack], size: 9001 }", 0),
        ("sport: 43000, dport: 5001, size: 9001, dont_fragment", 5),
    ] {
        let wrong = step.replace("size: 9001", "size: 9002");
        let text = replaced(PATH_MTU, step, &wrong);
        let e = refused(
            &text,
            &format!("traffic[{index}].packet.size"),
            &too_big(9002, 9001, "its cloud's instances"),
        );
        assert_eq!(
            (e.file.as_str(), e.line),
            ("s.yaml", line_of(&text, "size: 9002"))
        );
    }
    load("s.yaml", PATH_MTU, &Options::default()).expect("9001 bytes fit");
}

/// The refusal points at the `size` it names: its line when the packet is written as a
/// block, its column when written on one line (as every other field's refusal does).
#[test]
fn an_oversized_packet_is_refused_at_the_place_of_its_size() {
    let text = replaced(
        PATH_MTU,
        "    packet: { from: web, to: site, protocol: tcp, sport: 40000, dport: 443, flags: [ack], size: 9001 }\n",
        "    packet:\n      from: web\n      to: site\n      protocol: tcp\n      sport: 40000\n      dport: 443\n      flags: [ack]\n      size: 9002\n",
    );
    let e = refused(
        &text,
        "traffic[0].packet.size",
        &too_big(9002, 9001, "its cloud's instances"),
    );
    assert_eq!(
        format!("s.yaml:{}:{}", e.line, e.column),
        place_of(&text, "9002"),
        "{e}"
    );
    let text = replaced(
        PATH_MTU,
        "flags: [ack], size: 9001 }",
        "flags: [ack], size: 9002 }",
    );
    let e = error(&text);
    assert_eq!(
        format!("s.yaml:{}:{}", e.line, e.column),
        place_of(&text, "9002"),
        "{e}"
    );
}

/// huawei and tencent document no MTU: Ethernet's 1500. Read from the file's `provider:`
/// (no --provider): 1501 bytes are refused naming 1500, 1500 load.
#[test]
fn a_datagram_over_1500_bytes_is_refused_on_huawei_and_tencent() {
    let huawei = include_str!("../scenarios/huawei-vpc-flow-log.yaml");
    let step = "port: 53, sport: 38929, size: 96 }";
    let text = replaced(huawei, step, "port: 53, sport: 38929, size: 1501 }");
    let e = refused(
        &text,
        "traffic[0].udp.size",
        &too_big(1501, 1500, "its cloud's instances"),
    );
    assert_eq!(e.line, line_of(&text, "size: 1501"));
    let text = replaced(huawei, step, "port: 53, sport: 38929, size: 1500 }");
    load("s.yaml", &text, &Options::default()).expect("1500 bytes fit on huawei");

    let tencent = include_str!("../scenarios/sg-first-match-tencent.yaml");
    let packet = |size: u32| {
        appended(
            tencent,
            &format!(
                "  - at: 40\n    packet: {{ from: admin, to: server, protocol: tcp, sport: 50004, dport: 22, flags: [ack], size: {size} }}"
            ),
        )
    };
    let text = packet(1501);
    let e = refused(
        &text,
        "traffic[3].packet.size",
        &too_big(1501, 1500, "its cloud's instances"),
    );
    assert_eq!(
        (e.file.as_str(), e.line),
        ("s.yaml", line_of(&text, "size: 1501"))
    );
    load("s.yaml", &packet(1500), &Options::default()).expect("1500 bytes fit on tencent");
}

/// A host on the internet sends at most Ethernet's 1500 bytes, even to an aws instance whose
/// own MTU is 9001.
#[test]
fn an_external_host_packet_over_1500_bytes_is_refused() {
    let packet = |size: u32| {
        appended(
            PATH_MTU,
            &format!(
                "  - at: 90\n    packet: {{ from: site, to: fixed, protocol: udp, sport: 5001, dport: 5001, size: {size} }}"
            ),
        )
    };
    let text = packet(1501);
    // The appended step comes after the scenario's own.
    let n = PATH_MTU.matches("\n  - at: ").count();
    let e = refused(
        &text,
        &format!("traffic[{n}].packet.size"),
        &too_big(1501, 1500, "Ethernet's, on the internet and on premises"),
    );
    assert_eq!(
        (e.file.as_str(), e.line),
        ("s.yaml", line_of(&text, "size: 1501 }"))
    );
    load("s.yaml", &packet(1500), &Options::default()).expect("1500 bytes fit");
}
