//! The same picture as Graphviz DOT (clusters) and a Mermaid flowchart (subgraphs): one tree
//! of clusters and nodes built from the topology, the links between them and the flows as
//! chains of edges, written in either syntax. Graphviz or Mermaid lays it out.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{Flow, Flows, Key, Topology};

/// A node or a cluster of the tree.
enum Item {
    Node {
        id: Key,
        lines: Vec<String>,
        shape: Shape,
    },
    Cluster {
        id: Key,
        lines: Vec<String>,
        items: Vec<Item>,
    },
}

#[derive(Clone, Copy)]
enum Shape {
    Box,
    /// A subnet's edge (its ACL), a gateway, the internet.
    Tag,
}

fn node(id: &str, lines: Vec<String>, shape: Shape) -> Item {
    Item::Node {
        id: id.to_string(),
        lines,
        shape,
    }
}

fn tree(t: &Topology) -> Vec<Item> {
    let mut items = Vec::new();
    let mut net = vec![node("internet", vec!["internet".into()], Shape::Tag)];
    net.extend(
        t.internet_hosts
            .iter()
            .map(|h| node(&h.key, vec![h.name.clone(), h.ip.to_string()], Shape::Box)),
    );
    if t.more_hosts > 0 {
        net.push(node(
            "hostmore",
            vec![format!("+ {} more hosts", t.more_hosts)],
            Shape::Box,
        ));
    }
    if t.has_internet() {
        items.push(Item::Cluster {
            id: "c_internet".into(),
            lines: vec!["Internet".into()],
            items: net,
        });
    }
    for (gi, g) in t.regions.iter().enumerate() {
        let mut region = Vec::new();
        for v in &g.vpcs {
            let mut vpc = vec![node(
                &v.key,
                vec![format!("VPC {}", v.name), v.cidr.clone(), v.id.clone()],
                Shape::Box,
            )];
            if let Some((k, id)) = &v.igw {
                vpc.push(node(k, vec![format!("IGW {id}")], Shape::Tag));
            }
            for (zi, z) in v.zones.iter().enumerate() {
                let mut zone = Vec::new();
                for s in &z.subnets {
                    let acl = s
                        .acl
                        .as_ref()
                        .map_or("no ACL".to_string(), |(_, n, _)| format!("ACL {n}"));
                    let mut sub = vec![node(&s.key, vec![acl], Shape::Tag)];
                    for e in &s.enis {
                        let mut lines = vec![e.name.clone(), e.id.clone(), e.ip.to_string()];
                        if let Some(eip) = e.eip {
                            lines.push(format!("EIP {eip}"));
                        }
                        if !e.security_groups.is_empty() {
                            lines.push(format!("SG {}", e.security_groups.join(", ")));
                        }
                        sub.push(node(&e.key, lines, Shape::Box));
                    }
                    for n in &s.nats {
                        let mut lines = vec![format!("NAT gateway {}", n.name), n.ip.to_string()];
                        if let Some(eip) = n.eip {
                            lines.push(format!("EIP {eip}"));
                        }
                        sub.push(node(&n.key, lines, Shape::Tag));
                    }
                    if s.more_enis > 0 {
                        sub.push(node(
                            &s.key.replacen("subnet", "more", 1),
                            vec![format!("+ {} more ENIs", s.more_enis)],
                            Shape::Box,
                        ));
                    }
                    zone.push(Item::Cluster {
                        id: format!("c_{}", s.key),
                        lines: vec![
                            format!("subnet {} {}", s.name, s.cidr),
                            format!("route table {}", s.route_table),
                        ],
                        items: sub,
                    });
                }
                vpc.push(Item::Cluster {
                    id: format!("c_{}_z{zi}", v.key),
                    lines: vec![format!("zone {}", z.name)],
                    items: zone,
                });
            }
            for rt in &v.route_tables {
                let mut lines = vec![format!("route table {}", rt.name)];
                lines.extend(rt.routes.iter().cloned());
                vpc.push(node(&rt.key, lines, Shape::Box));
            }
            region.push(Item::Cluster {
                id: format!("c_{}", v.key),
                lines: vec![format!("VPC {} {}", v.name, v.cidr)],
                items: vpc,
            });
        }
        for r in &g.routers {
            let mut lines = vec![format!("{} {}", r.kind, r.name), r.id.clone()];
            lines.extend(r.attachments.iter().cloned());
            lines.extend(r.routes.iter().map(|x| format!("route {x}")));
            region.push(node(&r.key, lines, Shape::Box));
        }
        items.push(Item::Cluster {
            id: format!("c_region{gi}"),
            lines: vec![format!("region {}", g.name)],
            items: region,
        });
    }
    for s in &t.sites {
        let mut site = vec![node(&s.key, vec!["gateway".into()], Shape::Tag)];
        site.extend(
            s.hosts
                .iter()
                .map(|h| node(&h.key, vec![h.name.clone(), h.ip.to_string()], Shape::Box)),
        );
        let mut lines = vec!["on premises".into(), s.title.clone()];
        lines.extend(s.networks.iter().cloned());
        items.push(Item::Cluster {
            id: format!("c_{}", s.key),
            lines,
            items: site,
        });
    }
    for n in &t.ccns {
        let mut lines = vec![format!("{} {}", n.kind, n.name), n.id.clone()];
        lines.extend(n.limits.iter().map(|l| format!("limit {l}")));
        items.push(node(&n.key, lines, Shape::Box));
    }
    for p in &t.vpc_peerings {
        let lines = vec![
            format!("VPC peering {}", p.name),
            p.id.clone(),
            p.scope.to_string(),
        ];
        items.push(node(&p.key, lines, Shape::Box));
    }
    items
}

/// Undirected links: gateways to the internet, routers to VPCs, sites and peers, CCNs, VPC
/// peering connections.
fn links(t: &Topology) -> Vec<(Key, Key, String)> {
    let mut v = Vec::new();
    for g in &t.regions {
        for vpc in &g.vpcs {
            if let Some((k, _)) = &vpc.igw {
                v.push(("internet".into(), k.clone(), String::new()));
            }
        }
        for r in &g.routers {
            for vpc in &r.vpcs {
                v.push((r.key.clone(), vpc.clone(), String::new()));
            }
        }
    }
    for s in &t.sites {
        v.push((s.joins.clone(), s.key.clone(), String::new()));
    }
    for (a, b, name) in &t.peerings {
        v.push((a.clone(), b.clone(), format!("peering {name}")));
    }
    for n in &t.ccns {
        for vpc in &n.vpcs {
            v.push((n.key.clone(), vpc.clone(), String::new()));
        }
    }
    for p in &t.vpc_peerings {
        for vpc in &p.vpcs {
            v.push((p.key.clone(), vpc.clone(), String::new()));
        }
    }
    v
}

fn node_ids(items: &[Item], out: &mut BTreeSet<Key>) {
    for i in items {
        match i {
            Item::Node { id, .. } => {
                out.insert(id.clone());
            }
            Item::Cluster { items, .. } => node_ids(items, out),
        }
    }
}

/// A drawn flow as a chain of node ids (with a drop node at the end of a flow dropped where
/// it started), and its label.
struct Chain {
    n: usize,
    nodes: Vec<Key>,
    accepted: bool,
    label: String,
}

fn chains(t: &Topology, flows: &Flows, ids: &BTreeSet<Key>) -> Vec<Chain> {
    let mut out = Vec::new();
    for (i, f) in super::drawn_flows(t, flows).0.iter().enumerate() {
        let n = i + 1;
        let mut nodes: Vec<Key> = Vec::new();
        for k in &f.path {
            let k = t.drawn(k);
            if ids.contains(k) && nodes.last().map(String::as_str) != Some(k) {
                nodes.push(k.to_string());
            }
        }
        if nodes.is_empty() {
            continue;
        }
        if nodes.len() == 1 || !f.accepted {
            nodes.push(format!("drop{n}"));
        }
        out.push(Chain {
            n,
            nodes,
            accepted: f.accepted,
            label: label(n, f),
        });
    }
    out
}

fn label(n: usize, f: &Flow) -> String {
    let mut s = format!("{n}: {} ×{}", f.what, f.packets);
    if let (false, Some(r)) = (f.accepted, &f.reason) {
        let _ = write!(s, "\n{r}");
    }
    s
}

const GREEN: &str = "#1a7f37";
const RED: &str = "#cf222e";

/// `s` in double quotes, each character `escape` names written as it says.
fn quoted(s: &str, escape: fn(char) -> Option<&'static str>) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match escape(c) {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---- DOT ----

fn dot_str(s: &str) -> String {
    quoted(s, |c| match c {
        '"' => Some("\\\""),
        '\\' => Some("\\\\"),
        '\n' => Some("\\n"),
        _ => None,
    })
}

fn dot_items(out: &mut String, items: &[Item], depth: usize) {
    let pad = "  ".repeat(depth);
    for i in items {
        match i {
            Item::Node { id, lines, shape } => {
                let shape = match shape {
                    Shape::Box => "box",
                    Shape::Tag => "cds",
                };
                let _ = writeln!(
                    out,
                    "{pad}{id} [label={}, shape={shape}];",
                    dot_str(&lines.join("\n"))
                );
            }
            Item::Cluster { id, lines, items } => {
                let _ = writeln!(out, "{pad}subgraph cluster_{id} {{");
                let _ = writeln!(out, "{pad}  label={};", dot_str(&lines.join("\n")));
                dot_items(out, items, depth + 1);
                let _ = writeln!(out, "{pad}}}");
            }
        }
    }
}

pub(super) fn dot(t: &Topology, flows: Option<&Flows>) -> String {
    let items = tree(t);
    let mut ids = BTreeSet::new();
    node_ids(&items, &mut ids);
    let mut out = String::from(
        "digraph vpclab {\n  graph [rankdir=LR, fontname=\"monospace\", fontsize=11, \
        labeljust=l];\n  node [style=\"rounded,filled\", fillcolor=\"#ffffff\", \
        fontname=\"monospace\", fontsize=10];\n  edge [fontname=\"monospace\", fontsize=9];\n\
        ",
    );
    dot_items(&mut out, &items, 1);
    for (a, b, l) in links(t) {
        if ids.contains(&a) && ids.contains(&b) {
            let label = if l.is_empty() {
                String::new()
            } else {
                format!(", label={}", dot_str(&l))
            };
            let _ = writeln!(
                out,
                "  {a} -> {b} [dir=none, color=\"#8c959f\", style=dashed{label}];"
            );
        }
    }
    if let Some(flows) = flows {
        for c in chains(t, flows, &ids) {
            let colour = if c.accepted { GREEN } else { RED };
            let class = if c.accepted { "accept" } else { "reject" };
            if c.nodes.last().is_some_and(|k| k.starts_with("drop")) {
                let _ = writeln!(
                    out,
                    "  drop{} [label=\"✕\", shape=plaintext, fontcolor=\"{RED}\"];",
                    c.n
                );
            }
            let last = c.nodes.len() - 2;
            for (i, w) in c.nodes.windows(2).enumerate() {
                let label = if i == last {
                    format!(", label={}", dot_str(&c.label))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "  {} -> {} [color=\"{colour}\", penwidth=2, class=\"flow {class}\", \
                    id=\"flow{}_{i}\"{label}];",
                    w[0], w[1], c.n
                );
            }
        }
    }
    out.push_str("}\n");
    out
}

// ---- Mermaid ----

fn mermaid_str(s: &str) -> String {
    quoted(s, |c| match c {
        '"' => Some("#quot;"),
        '<' => Some("#lt;"),
        '>' => Some("#gt;"),
        '\n' => Some("<br/>"),
        _ => None,
    })
}

fn mermaid_items(out: &mut String, items: &[Item], depth: usize) {
    let pad = "  ".repeat(depth);
    for i in items {
        match i {
            Item::Node { id, lines, shape } => {
                let text = mermaid_str(&lines.join("\n"));
                let _ = match shape {
                    Shape::Box => writeln!(out, "{pad}{id}[{text}]"),
                    Shape::Tag => writeln!(out, "{pad}{id}([{text}])"),
                };
            }
            Item::Cluster { id, lines, items } => {
                let _ = writeln!(
                    out,
                    "{pad}subgraph {id}[{}]",
                    mermaid_str(&lines.join("\n"))
                );
                mermaid_items(out, items, depth + 1);
                let _ = writeln!(out, "{pad}end");
            }
        }
    }
}

pub(super) fn mermaid(t: &Topology, flows: Option<&Flows>) -> String {
    let items = tree(t);
    let mut ids = BTreeSet::new();
    node_ids(&items, &mut ids);
    let mut out = String::from("flowchart LR\n");
    mermaid_items(&mut out, &items, 1);
    let mut n_links = 0;
    let mut styles = String::new();
    for (a, b, l) in links(t) {
        if ids.contains(&a) && ids.contains(&b) {
            if l.is_empty() {
                let _ = writeln!(out, "  {a} -.- {b}");
            } else {
                let _ = writeln!(out, "  {a} -.-|{}| {b}", mermaid_str(&l));
            }
            n_links += 1;
        }
    }
    if let Some(flows) = flows {
        for c in chains(t, flows, &ids) {
            let colour = if c.accepted { GREEN } else { RED };
            if c.nodes.last().is_some_and(|k| k.starts_with("drop")) {
                let _ = writeln!(out, "  drop{}((\"✕\"))", c.n);
                let _ = writeln!(
                    out,
                    "  style drop{} fill:#ffffff,stroke:{RED},color:{RED}",
                    c.n
                );
            }
            let last = c.nodes.len() - 2;
            for (i, w) in c.nodes.windows(2).enumerate() {
                if i == last {
                    let _ = writeln!(out, "  {} -->|{}| {}", w[0], mermaid_str(&c.label), w[1]);
                } else {
                    let _ = writeln!(out, "  {} --> {}", w[0], w[1]);
                }
                let _ = writeln!(
                    styles,
                    "  linkStyle {n_links} stroke:{colour},stroke-width:2px"
                );
                n_links += 1;
            }
        }
    }
    out.push_str(&styles);
    out
}
