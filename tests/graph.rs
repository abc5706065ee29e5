//! `vpclab graph` as a user runs it: the ping scenario's picture holds the instance, its ACL
//! and security group, the home host and the two flows coloured by their fate, with the ACL's
//! default rule on the red one; the SVG is well-formed XML (Python's parser), the DOT is
//! accepted by Graphviz, the same file gives the same bytes, bad input exits 2, every shipped
//! scenario draws, and the README's picture is what the command prints today.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{exit_stderr, python, stderr, stdout, temp_dir, vpclab};

fn graph(args: &[&str]) -> String {
    let mut all = vec!["graph"];
    all.extend_from_slice(args);
    let o = vpclab(&all);
    assert!(o.status.success(), "vpclab {all:?}: {}", stderr(&o));
    assert_eq!(stderr(&o), "");
    stdout(&o)
}

/// The element `<g …>` that starts with `open`, up to its `</g>`.
fn group<'a>(svg: &'a str, open: &str) -> &'a str {
    let at = svg
        .find(open)
        .unwrap_or_else(|| panic!("no `{open}` in:\n{svg}"));
    let end = svg[at..].find("</g>").expect("the group closes") + at;
    &svg[at..end]
}

const PING: &str = "scenarios/ping-acl-asymmetry.yaml";
const ACL_DEFAULT: &str = "ACL web-acl egress (subnet web): no rule matched; default rule * denies";

#[test]
fn the_ping_picture_shows_the_instance_its_acl_and_group_the_host_and_both_flows() {
    let svg = graph(&[PING]);
    // The instance, with its addresses and security group.
    let eni = group(
        &svg,
        "<g class=\"eni\" id=\"eni0\" data-eni=\"eni-lq6mkcis\">",
    );
    for line in [
        ">instance</text>",
        ">eni-lq6mkcis</text>",
        ">172.31.16.139</text>",
        ">EIP 198.51.100.10</text>",
        ">SG web-sg</text>",
    ] {
        assert!(eni.contains(line), "{line} not in {eni}");
    }
    // Its subnet, and the ACL on the subnet's edge.
    assert!(svg.contains("<g class=\"subnet\" id=\"subnet0\""));
    assert!(svg.contains(">subnet web  172.31.16.0/20</text>"));
    let acl = group(&svg, "<g class=\"acl\" id=\"edge0\" data-acl=\"");
    assert!(acl.contains(">ACL web-acl</text>"), "{acl}");
    // Their rules as tooltips.
    assert!(eni.contains(
        "<title>web-sg: ingress allow ICMP from 0.0.0.0/0\n\
         web-sg: egress allow TCP port 443 to 0.0.0.0/0</title>"
    ));
    assert!(acl.contains(
        "<title>ingress 100 allow ICMP from 0.0.0.0/0\ningress * deny all\n\
         egress 100 allow TCP port 443 to 0.0.0.0/0\negress * deny all</title>"
    ));
    // The VPC, its internet gateway and its route table.
    assert!(svg.contains(">VPC main  172.31.0.0/16</text>"));
    assert!(svg.contains("<g class=\"igw\" id=\"igw0\" data-igw=\"igw-"));
    assert!(svg.contains(">0.0.0.0/0 → IGW</text>"));
    // The home host on the internet.
    let home = group(&svg, "<g class=\"host\" id=\"host0\" data-host=\"home\">");
    assert!(home.contains(">203.0.113.12</text>"), "{home}");
    // The requests: green, from home to the instance.
    let accept = group(
        &svg,
        "<g class=\"flow accept\" id=\"flow1\" data-from=\"host0\" data-to=\"eni0\">",
    );
    assert!(
        accept.contains(
            "<title>[1] home → instance  ICMP echo-request  4 packets, 336 bytes  ACCEPT</title>"
        ),
        "{accept}"
    );
    assert!(accept.contains("stroke=\"#1a7f37\""), "{accept}");
    assert!(accept.contains("marker-end=\"url(#arrow-accept)\""));
    // The replies: red, from the instance to its subnet's edge, with the ACL's default rule.
    let reject = group(
        &svg,
        "<g class=\"flow reject\" id=\"flow2\" data-from=\"eni0\" data-to=\"host0\">",
    );
    assert!(
        reject.contains(&format!(
            "<title>[2] instance → home  ICMP echo-reply  4 packets, 336 bytes  DROPPED: \
             {ACL_DEFAULT}</title>"
        )),
        "{reject}"
    );
    assert!(reject.contains("stroke=\"#cf222e\""), "{reject}");
    assert!(reject.contains("marker-end=\"url(#arrow-reject)\""));
    assert!(!svg.contains("class=\"flow accept\" id=\"flow2\""));
    // The deciding rule in words beside the red arrow, and in the list of flows.
    assert!(svg.contains(&format!(
        "class=\"reason\" fill=\"#cf222e\">[2] {ACL_DEFAULT}</text>"
    )));
    let row = group(&svg, "<g class=\"flow-row reject\" data-flow=\"2\">");
    assert!(row.contains(&format!(
        ">[2] instance → home  ICMP echo-reply  4 packets, 336 bytes  DROPPED: \
         {ACL_DEFAULT}</text>"
    )));
    // The legend.
    assert!(svg.contains(">accepted (delivered)</text>"));
    assert!(svg.contains(">rejected or dropped (the deciding rule beside it)</text>"));
    // Self-contained: nothing fetched from elsewhere.
    assert!(
        !svg.contains("href"),
        "no link to fonts, images or style sheets"
    );
    assert!(!svg.contains("@import"));
}

/// The replies are delivered when the ACL tracks connections (huawei): two green flows.
#[test]
fn another_cloud_draws_other_fates() {
    let svg = graph(&[PING, "--provider", "huawei"]);
    assert!(svg.contains("<g class=\"flow accept\" id=\"flow2\" data-from=\"eni0\""));
    assert!(!svg.contains("class=\"flow reject\""));
}

#[test]
fn without_flows_only_the_topology_is_drawn() {
    let svg = graph(&[PING, "--no-flows"]);
    assert!(svg.contains("<g class=\"eni\" id=\"eni0\""));
    assert!(!svg.contains("class=\"flow"), "{svg}");
    assert!(!svg.contains(">Flows ("));
}

/// Python's XML parser reads every shipped scenario's picture, whose element ids are unique.
#[test]
fn every_shipped_scenario_draws_well_formed_svg_and_graphviz_reads_its_dot() {
    let dir = temp_dir("graph");
    let mut files = Vec::new();
    for f in scenario_files(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))) {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let svg = dir.join(format!("{name}.svg"));
        let f = f.to_string_lossy().into_owned();
        let o = vpclab(&["graph", &f, "--out", svg.to_str().unwrap()]);
        assert!(o.status.success(), "{f}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "--out writes the file, not standard output");
        files.push(svg.to_string_lossy().into_owned());
        let dot = graph(&[&f, "--format", "dot"]);
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("graphviz's `dot` runs (apt-get install graphviz; .ci/run installs it)");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dot.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{f}: dot -Tsvg: {}\n{dot}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mermaid = graph(&[&f, "--format", "mermaid", "--no-flows"]);
        assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
        let opened = mermaid
            .lines()
            .filter(|l| l.trim_start().starts_with("subgraph "))
            .count();
        let closed = mermaid.lines().filter(|l| l.trim() == "end").count();
        assert_eq!(opened, closed, "{f}: subgraphs close\n{mermaid}");
    }
    assert!(files.len() > 40, "{} scenarios", files.len());
    let script = "import sys, xml.etree.ElementTree as E\n\
                  for f in sys.argv[1:]:\n\
                  \x20   ids = [e.get('id') for e in E.parse(f).iter() if e.get('id')]\n\
                  \x20   dup = sorted({i for i in ids if ids.count(i) > 1})\n\
                  \x20   assert not dup, (f, dup)\n\
                  print(len(sys.argv) - 1)\n";
    let o = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(&files)
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{}\n", files.len()));
}

fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(scenario_files(&p));
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A workload's picture stays bounded: 8 internet hosts and the rest counted, 30 flows with
/// the dropped ones first (a port scan is one arrow), the others counted.
#[test]
fn big_worlds_are_folded() {
    let svg = graph(&["scenarios/workloads/teaching-hour.yaml"]);
    assert_eq!(svg.matches("<g class=\"host\"").count(), 8);
    assert!(svg.contains("<g class=\"more\" id=\"hostmore\">"));
    assert!(svg.contains(">+ 205 more hosts</text>"));
    assert_eq!(svg.matches("<g class=\"flow ").count(), 30);
    assert_eq!(svg.matches("<g class=\"flow reject\"").count(), 30);
    assert!(svg.contains(
        ">Flows (41997 packets); 69 more flows not drawn: the dropped ones come first</text>"
    ));
    assert!(svg.contains(
        "<title>[1] other internet hosts → shop-bastion-1  TCP 21, 22, 23, 25, 80, 110 + 2 \
         more ports  307 packets, 18420 bytes  DROPPED: ACL public ingress (subnet public): no \
         rule matched; default rule * denies</title>"
    ));
}

#[test]
fn the_same_file_gives_the_same_bytes() {
    for format in ["svg", "dot", "mermaid"] {
        let a = graph(&["scenarios/aws-tgw-peering.yaml", "--format", format]);
        let b = graph(&["scenarios/aws-tgw-peering.yaml", "--format", format]);
        assert_eq!(a, b, "{format}");
    }
}

#[test]
fn dot_and_mermaid_colour_the_flows_and_name_the_rule() {
    let dot = graph(&[PING, "--format", "dot"]);
    assert!(dot.contains(
        "  subnet0 -> eni0 [color=\"#1a7f37\", penwidth=2, class=\"flow accept\", \
         id=\"flow1_3\", label=\"1: ICMP echo-request ×4\"];"
    ));
    assert!(dot.contains(&format!(
        "  subnet0 -> drop2 [color=\"#cf222e\", penwidth=2, class=\"flow reject\", \
         id=\"flow2_1\", label=\"2: ICMP echo-reply ×4\\n{ACL_DEFAULT}\"];"
    )));
    let mermaid = graph(&[PING, "--format", "mermaid"]);
    assert!(mermaid.contains(&format!(
        "  subnet0 -->|\"2: ICMP echo-reply ×4<br/>{ACL_DEFAULT}\"| drop2\n"
    )));
    assert!(mermaid.contains("  linkStyle 4 stroke:#1a7f37,stroke-width:2px\n"));
    assert!(mermaid.contains("  linkStyle 6 stroke:#cf222e,stroke-width:2px\n"));
}

#[test]
fn bad_input_exits_2_naming_the_flag_or_file() {
    let o = vpclab(&["graph", PING, "--format", "png"]);
    assert_eq!(
        exit_stderr(&o, 2),
        "vpclab: --format: unknown graph format `png` (expected svg, dot or mermaid)\n"
    );
    assert_eq!(stdout(&o), "");
    let o = vpclab(&["graph", PING, "--provider", "gcp"]);
    let e = exit_stderr(&o, 2);
    assert!(e.starts_with("vpclab: --provider: "), "{e}");
    let o = vpclab(&["graph", "scenarios/no-such.yaml"]);
    let e = exit_stderr(&o, 2);
    assert!(
        e.starts_with("vpclab: scenarios/no-such.yaml: cannot read: "),
        "{e}"
    );
    let o = vpclab(&["graph", PING, "--out", "/nonexistent-dir/x.svg"]);
    let e = exit_stderr(&o, 1);
    assert!(
        e.starts_with("vpclab: /nonexistent-dir/x.svg: cannot write: "),
        "{e}"
    );
}

#[test]
fn help_shows_the_command() {
    let o = vpclab(&["--help"]);
    assert!(stdout(&o).contains(
        "\n  vpclab graph scenarios/ping-acl-asymmetry.yaml > ping.svg     the topology, its flows \
         drawn over it\n"
    ));
    let o = vpclab(&["graph", "--help"]);
    assert!(stdout(&o).contains("--format <FORMAT>"), "{}", stdout(&o));
    assert!(stdout(&o).contains("svg (the default), dot (Graphviz) or mermaid"));
}

/// README shows this picture: it must be what the command draws today.
#[test]
fn the_readme_picture_is_what_the_command_draws() {
    let svg = graph(&[PING]);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/img/ping-acl-asymmetry.svg"
    ))
    .expect("docs/img/ping-acl-asymmetry.svg");
    assert!(
        committed == svg,
        "docs/img/ping-acl-asymmetry.svg is stale: regenerate it with \
         `cargo run --release -- graph scenarios/ping-acl-asymmetry.yaml \
         --out docs/img/ping-acl-asymmetry.svg`"
    );
}

/// Each live VPC peering connection is a box joined to its two VPCs, and a flow through a
/// connection runs through its box (aws-vpc-peering.yaml).
#[test]
fn vpc_peering_connections_are_boxes_between_their_vpcs_that_flows_cross() {
    let peering = "scenarios/aws-vpc-peering.yaml";
    let dot = graph(&[peering, "--format", "dot"]);
    for line in [
        "  peering0 [label=\"VPC peering app-data\\npcx-0a1b2c3d4e5f60001\\nintra-region\", \
         shape=box];\n",
        "  peering1 [label=\"VPC peering data-dr\\npcx-0a1b2c3d4e5f60002\\ninter-region\", \
         shape=box];\n",
        "  peering0 -> vpc0 [dir=none, color=\"#8c959f\", style=dashed];\n",
        "  peering0 -> vpc1 [dir=none, color=\"#8c959f\", style=dashed];\n",
        "  peering1 -> vpc1 [dir=none, color=\"#8c959f\", style=dashed];\n",
        "  peering1 -> vpc2 [dir=none, color=\"#8c959f\", style=dashed];\n",
        // The first ping's requests: app's subnet, the connection, data's subnet.
        "  subnet0 -> peering0 [color=\"#1a7f37\", penwidth=2, class=\"flow accept\", \
         id=\"flow1_1\"];\n",
        "  peering0 -> subnet1 [color=\"#1a7f37\", penwidth=2, class=\"flow accept\", \
         id=\"flow1_2\"];\n",
    ] {
        assert!(dot.contains(line), "{line} not in:\n{dot}");
    }
    // Not transitive: app's packet for dr ends at the connection.
    assert!(
        dot.contains(
            "  peering0 -> drop5 [color=\"#cf222e\", penwidth=2, class=\"flow reject\", \
             id=\"flow5_2\", label=\"5: TCP 5432 ×1\\ndropped at VPC peering connection \
             pcx-0a1b2c3d4e5f60001: 10.2.1.30 is not in the peer VPC data"
        ),
        "{dot}"
    );
    let mermaid = graph(&[peering, "--format", "mermaid"]);
    for line in [
        "  peering1[\"VPC peering data-dr<br/>pcx-0a1b2c3d4e5f60002<br/>inter-region\"]\n",
        "  peering1 -.- vpc2\n",
        "  subnet0 --> peering0\n",
    ] {
        assert!(mermaid.contains(line), "{line} not in:\n{mermaid}");
    }
    let svg = graph(&[peering]);
    let pcx = group(
        &svg,
        "<g class=\"vpc-peering\" id=\"peering0\" data-peering=\"pcx-0a1b2c3d4e5f60001\">",
    );
    for line in [
        ">VPC peering app-data</text>",
        ">pcx-0a1b2c3d4e5f60001</text>",
        ">intra-region</text>",
    ] {
        assert!(pcx.contains(line), "{line} not in {pcx}");
    }
    assert!(svg.contains(".vpc-peering > rect {"));
    // A picture without a connection has neither the box nor its style.
    let ping = graph(&[PING]);
    assert!(!ping.contains("vpc-peering"));
}

/// A VPC's virtual private gateway is an on-premises site joined to its VPC, with each
/// connection's networks and the hosts behind it; flows to and from them run through it, and a
/// packet no connection reaches ends there (aws-vpn-route-priority.yaml).
#[test]
fn a_virtual_private_gateway_is_a_site_joined_to_its_vpc() {
    let file = "scenarios/aws-vpn-route-priority.yaml";
    let dot = graph(&[file, "--format", "dot"]);
    for line in [
        "  vpc0 -> vgw0 [dir=none, color=\"#8c959f\", style=dashed];\n",
        // The data centre's ping: in through the gateway, the reply back out through it.
        "  host0 -> vgw0 [color=\"#1a7f37\", penwidth=2, class=\"flow accept\", id=\"flow1_0\"];\n",
        "  vgw0 -> subnet0 [color=\"#1a7f37\", penwidth=2, class=\"flow accept\", id=\"flow1_1\"];\n",
        "  vgw0 -> host0 [color=\"#1a7f37\", penwidth=2, class=\"flow accept\", id=\"flow2_2\", \
         label=\"2: ICMP echo-reply ×2\"];\n",
        "  vgw0 -> drop10 [color=\"#cf222e\", penwidth=2, class=\"flow reject\", \
         id=\"flow10_2\", label=\"10: UDP 514 ×1\\ndropped at virtual private gateway \
         vgw-0f1e2d3c4b5a69788: none of its connections reaches 203.0.113.9",
    ] {
        assert!(dot.contains(line), "{line} not in:\n{dot}");
    }
    let mermaid = graph(&[file, "--format", "mermaid"]);
    for line in [
        "  subgraph c_vgw0[\"on premises<br/>virtual private gateway vgw<br/>172.16.0.0/16 (dx \
         direct_connect)<br/>172.16.0.0/16 (vpn-static static)<br/>",
        "    host0[\"dc-server<br/>172.16.0.20\"]\n",
        "  vpc0 -.- vgw0\n",
    ] {
        assert!(mermaid.contains(line), "{line} not in:\n{mermaid}");
    }
    let svg = graph(&[file]);
    assert!(
        svg.contains("<g class=\"site\" id=\"vgw0-frame\">"),
        "{svg}"
    );
}
