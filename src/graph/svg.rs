//! The SVG picture, laid out here as nested boxes: the internet on the left, then each region
//! with its VPCs side by side (zones as columns, subnets in them, interfaces and NAT gateways
//! in the subnets, the ACL as a tag on the subnet's top edge, the internet gateway as a tag on
//! the VPC's, route tables under the zones) and its routers under them, the on-premises
//! networks on the right, CCNs underneath, the flows' list at the bottom. Arrows join the
//! anchors of the hops each flow took.
//!
//! Hand-written rather than Graphviz or a layout crate: nested boxes with tags on their edges
//! are what engineers draw, no general graph layout gives them (Graphviz's clusters cannot
//! put a node on a cluster's border, and it is a system binary, not a library), and this
//! layout is a few measured rows and columns. Every size comes from the text's character
//! count in a monospace font, so the same topology gives the same bytes on every machine.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Flow, Flows, Key, Topology, xml_escape as esc};

/// Advance of one character of the 12 px monospace font, in tenths of a pixel (DejaVu Sans
/// Mono: 7.22 px), a little generous so that other monospace fonts fit too.
const CHAR_TENTHS: i32 = 74;
const LINE: i32 = 16;
const PAD: i32 = 8;
const MARGIN: i32 = 20;
const GREEN: &str = "#1a7f37";
const RED: &str = "#cf222e";

fn text_w(s: &str) -> i32 {
    (s.chars().count() as i32 * CHAR_TENTHS + 9) / 10
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Rect {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
}

impl Rect {
    fn center(self) -> (i32, i32) {
        (self.x + self.w / 2, self.y + self.h / 2)
    }
    fn bottom(self) -> i32 {
        self.y + self.h
    }
    fn right(self) -> i32 {
        self.x + self.w
    }
    /// Where the segment from the centre towards `to` leaves the rectangle.
    fn exit_towards(self, to: (i32, i32)) -> (i32, i32) {
        let (cx, cy) = self.center();
        let (dx, dy) = ((to.0 - cx) as f64, (to.1 - cy) as f64);
        if dx == 0.0 && dy == 0.0 {
            return (cx, cy);
        }
        let sx = if dx == 0.0 {
            f64::INFINITY
        } else {
            (self.w as f64 / 2.0) / dx.abs()
        };
        let sy = if dy == 0.0 {
            f64::INFINITY
        } else {
            (self.h as f64 / 2.0) / dy.abs()
        };
        let s = sx.min(sy).min(1.0);
        (cx + (dx * s).round() as i32, cy + (dy * s).round() as i32)
    }
}

/// A box of text lines (an interface, a host, a gateway, a router): the first line is its
/// title.
struct Leaf {
    key: Key,
    class: &'static str,
    data: Vec<(&'static str, String)>,
    lines: Vec<String>,
    /// A tooltip (an interface's security-group rules).
    title: Option<String>,
}

impl Leaf {
    /// A box without a tooltip.
    fn new(
        key: Key,
        class: &'static str,
        data: Vec<(&'static str, String)>,
        lines: Vec<String>,
    ) -> Leaf {
        Leaf {
            key,
            class,
            data,
            lines,
            title: None,
        }
    }

    fn size(&self) -> (i32, i32) {
        let w = self.lines.iter().map(|l| text_w(l)).max().unwrap_or(0) + 2 * PAD;
        (w, self.lines.len() as i32 * LINE + PAD)
    }
}

/// The picture being drawn, in layers: containers, links, flows, leaves, labels.
#[derive(Default)]
struct Canvas {
    back: String,
    links: String,
    flows: String,
    front: String,
    top: String,
    /// Where each drawn key is: arrows join these.
    anchors: BTreeMap<Key, Rect>,
    /// Where each container is (VPCs: routers and CCNs are joined to them).
    frames: BTreeMap<Key, Rect>,
    /// The flows' numbers and drop marks, which callouts keep clear of.
    marks: Vec<Rect>,
}

fn data_attrs(data: &[(&'static str, String)]) -> String {
    data.iter()
        .map(|(k, v)| format!(" data-{k}=\"{}\"", esc(v)))
        .collect()
}

fn text_lines(out: &mut String, x: i32, y: i32, lines: &[String], first_class: &str) {
    for (i, l) in lines.iter().enumerate() {
        let class = if i == 0 { first_class } else { "t" };
        let _ = writeln!(
            out,
            "<text x=\"{x}\" y=\"{}\" class=\"{class}\">{}</text>",
            y + (i as i32 + 1) * LINE - 4,
            esc(l)
        );
    }
}

impl Canvas {
    fn leaf(&mut self, l: &Leaf, x: i32, y: i32) -> Rect {
        let (w, h) = l.size();
        let r = Rect { x, y, w, h };
        let title = l
            .title
            .as_ref()
            .map_or(String::new(), |t| format!("<title>{}</title>\n", esc(t)));
        let _ = writeln!(
            self.front,
            "<g class=\"{}\" id=\"{}\"{}>\n{title}<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" \
            height=\"{h}\" rx=\"4\"/>",
            l.class,
            l.key,
            data_attrs(&l.data)
        );
        text_lines(&mut self.front, x + PAD, y + 2, &l.lines, "b");
        self.front.push_str("</g>\n");
        self.anchors.insert(l.key.clone(), r);
        r
    }

    /// A container's frame and title, drawn behind everything.
    fn frame(&mut self, class: &str, id: &str, data: &[(&'static str, String)], r: Rect) {
        let _ = writeln!(
            self.back,
            "<g class=\"{class}\" id=\"{id}\"{}>\n<rect x=\"{}\" y=\"{}\" width=\"{}\" \
            height=\"{}\" rx=\"6\"/>\n</g>",
            data_attrs(data),
            r.x,
            r.y,
            r.w,
            r.h
        );
        self.frames.insert(id.to_string(), r);
    }

    /// A zone's or a region's frame, `kind` and name written in its top-left corner
    /// (`zone cn-north-4a`).
    fn named_frame(&mut self, kind: &'static str, id: &str, name: &str, r: Rect) {
        self.frame(kind, id, &[(kind, name.to_string())], r);
        let _ = writeln!(
            self.back,
            "<text x=\"{}\" y=\"{}\" class=\"z\">{kind} {}</text>",
            r.x + PAD,
            r.y + LINE - 2,
            esc(name)
        );
    }

    /// A tag on a container's edge (an ACL, an internet gateway, a gateway to premises).
    fn tag(&mut self, class: &str, key: &str, data: &[(&'static str, String)], r: Rect, t: &str) {
        self.tag_titled(class, key, data, r, t, None);
    }

    /// A tag with a tooltip (an ACL's entries).
    fn tag_titled(
        &mut self,
        class: &str,
        key: &str,
        data: &[(&'static str, String)],
        r: Rect,
        t: &str,
        title: Option<&str>,
    ) {
        let title = title.map_or(String::new(), |x| format!("<title>{}</title>\n", esc(x)));
        let _ = writeln!(
            self.front,
            "<g class=\"{class}\" id=\"{key}\"{}>\n{title}<rect x=\"{}\" y=\"{}\" width=\"{}\" \
            height=\"{}\" rx=\"9\"/>\n<text x=\"{}\" y=\"{}\" class=\"b\">{}</text>\n</g>",
            data_attrs(data),
            r.x,
            r.y,
            r.w,
            r.h,
            r.x + PAD,
            r.y + 14,
            esc(t)
        );
        self.anchors.insert(key.to_string(), r);
    }

    fn title(&mut self, x: i32, y: i32, lines: &[String]) {
        text_lines(&mut self.back, x, y, lines, "b");
    }

    fn link(&mut self, class: &str, a: (i32, i32), b: (i32, i32)) {
        let _ = writeln!(
            self.links,
            "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            a.0, a.1, b.0, b.1
        );
    }

    /// A flow's number or drop mark at `x`, `y`, `w` wide and `h` high: callouts keep clear
    /// of it.
    fn keep_clear(&mut self, x: i32, y: i32, w: i32, h: i32) {
        self.marks.push(Rect { x, y, w, h });
    }

    /// A line from the middle of `upper`'s bottom edge to the middle of `lower`'s top edge: a
    /// VPC to its router or CCN.
    fn link_down(&mut self, class: &str, upper: Rect, lower: Rect) {
        self.link(
            class,
            (upper.x + upper.w / 2, upper.bottom()),
            (lower.x + lower.w / 2, lower.y),
        );
    }
}

fn tag_rect(x: i32, mid_y: i32, t: &str) -> Rect {
    Rect {
        x,
        y: mid_y - 10,
        w: text_w(t) + 2 * PAD,
        h: 20,
    }
}

// ---- measuring and drawing the nested boxes ----

fn eni_leaf(e: &super::Eni) -> Leaf {
    let mut lines = vec![e.name.clone(), e.id.clone()];
    let mut ip = e.ip.to_string();
    if !e.secondary.is_empty() {
        let _ = write!(ip, " + {} secondary", e.secondary.len());
    }
    lines.push(ip);
    if let Some(eip) = e.eip {
        lines.push(format!("EIP {eip}"));
    }
    if let Some(i) = &e.instance {
        lines.push(format!("instance {i}"));
    }
    if !e.security_groups.is_empty() {
        let mut sgs = e.security_groups.clone();
        if sgs.len() > 3 {
            let more = sgs.len() - 3;
            sgs.truncate(3);
            sgs.push(format!("+{more}"));
        }
        lines.push(format!("SG {}", sgs.join(", ")));
    }
    Leaf {
        title: (!e.rules.is_empty()).then(|| e.rules.join("\n")),
        ..Leaf::new(e.key.clone(), "eni", vec![("eni", e.id.clone())], lines)
    }
}

fn nat_leaf(n: &super::Nat) -> Leaf {
    let mut lines = vec![
        format!("NAT gateway {}", n.name),
        n.id.clone(),
        n.ip.to_string(),
    ];
    if let Some(eip) = n.eip {
        lines.push(format!("EIP {eip}"));
    }
    Leaf::new(n.key.clone(), "nat", vec![("nat", n.id.clone())], lines)
}

fn subnet_leaves(s: &super::Subnet) -> Vec<Leaf> {
    let mut v: Vec<Leaf> = s.enis.iter().map(eni_leaf).collect();
    v.extend(s.nats.iter().map(nat_leaf));
    if s.more_enis > 0 {
        v.push(Leaf::new(
            s.key.replacen("subnet", "more", 1),
            "more",
            Vec::new(),
            vec![format!("+ {} more ENIs", s.more_enis)],
        ));
    }
    v
}

fn subnet_title(s: &super::Subnet) -> Vec<String> {
    vec![
        format!("subnet {}  {}", s.name, s.cidr),
        format!("route table {}", s.route_table),
    ]
}

fn acl_text(s: &super::Subnet) -> String {
    s.acl
        .as_ref()
        .map_or("no ACL".into(), |(_, name, _)| format!("ACL {name}"))
}

/// Space above a subnet's title for the ACL tag on its edge.
const TAG_ROOM: i32 = 14;

/// A subnet's boxes go in one column, or two when there are more than three (a fleet's
/// subnet stays about as wide as it is tall).
fn grid(leaves: &[Leaf]) -> (usize, i32, Vec<i32>) {
    let cols = if leaves.len() > 3 { 2 } else { 1 };
    let col_w = leaves.iter().map(|l| l.size().0).max().unwrap_or(0);
    let rows = leaves
        .chunks(cols)
        .map(|row| row.iter().map(|l| l.size().1).max().unwrap_or(0))
        .collect();
    (cols, col_w, rows)
}

fn subnet_size(s: &super::Subnet) -> (i32, i32) {
    let leaves = subnet_leaves(s);
    let title = subnet_title(s);
    let (cols, col_w, rows) = grid(&leaves);
    let w = title
        .iter()
        .map(|l| text_w(l))
        .chain([cols as i32 * (col_w + PAD) - PAD])
        .chain([text_w(&acl_text(s)) + 3 * PAD])
        .max()
        .unwrap_or(0)
        + 2 * PAD;
    let h = TAG_ROOM + title.len() as i32 * LINE + rows.iter().map(|h| h + PAD).sum::<i32>() + PAD;
    (w, h)
}

fn draw_subnet(c: &mut Canvas, s: &super::Subnet, x: i32, y: i32) -> Rect {
    let (w, h) = subnet_size(s);
    let r = Rect { x, y, w, h };
    c.frame("subnet", &s.key, &[("subnet", s.id.clone())], r);
    c.title(x + PAD, y + TAG_ROOM, &subnet_title(s));
    let mut ly = y + TAG_ROOM + 2 * LINE + PAD / 2;
    let leaves = subnet_leaves(s);
    let (cols, col_w, rows) = grid(&leaves);
    for (row, height) in leaves.chunks(cols).zip(rows) {
        for (i, l) in row.iter().enumerate() {
            c.leaf(l, x + PAD + i as i32 * (col_w + PAD), ly);
        }
        ly += height + PAD;
    }
    // The subnet's edge, where its ACL sits: the anchor of every hop in or out of it.
    let text = acl_text(s);
    let tr = tag_rect(x + PAD, y, &text);
    match &s.acl {
        Some((akey, _, id)) => {
            let _ = writeln!(c.front, "<g class=\"edge\" data-acl-key=\"{akey}\">");
            c.tag_titled(
                "acl",
                &s.key.replacen("subnet", "edge", 1),
                &[("acl", id.clone())],
                tr,
                &text,
                Some(&s.acl_rules.join("\n")),
            );
            c.front.push_str("</g>\n");
        }
        None => c.tag(
            "acl none",
            &s.key.replacen("subnet", "edge", 1),
            &[],
            tr,
            &text,
        ),
    }
    c.anchors.insert(s.key.clone(), tr);
    r
}

fn zone_size(z: &super::Zone) -> (i32, i32) {
    let w = z
        .subnets
        .iter()
        .map(|s| subnet_size(s).0)
        .chain([text_w(&format!("zone {}", z.name))])
        .max()
        .unwrap_or(0)
        + 2 * PAD;
    let h = LINE
        + PAD
        + z.subnets
            .iter()
            .map(|s| subnet_size(s).1 + 2 * PAD)
            .sum::<i32>();
    (w, h)
}

fn draw_zone(c: &mut Canvas, id: &str, z: &super::Zone, x: i32, y: i32) -> Rect {
    let (w, h) = zone_size(z);
    let r = Rect { x, y, w, h };
    c.named_frame("zone", id, &z.name, r);
    let mut sy = y + LINE + PAD + 2;
    for s in &z.subnets {
        let sr = draw_subnet(c, s, x + PAD, sy);
        sy += sr.h + 2 * PAD;
    }
    r
}

fn rt_leaf(t: &super::RouteTable) -> Leaf {
    let mut lines = vec![format!("route table {}", t.name)];
    lines.extend(t.routes.iter().cloned());
    if t.more_routes > 0 {
        lines.push(format!("+ {} more routes", t.more_routes));
    }
    Leaf::new(t.key.clone(), "rt", Vec::new(), lines)
}

fn vpc_title(v: &super::Vpc) -> Vec<String> {
    vec![format!("VPC {}  {}", v.name, v.cidr), v.id.clone()]
}

fn igw_text(v: &super::Vpc) -> Option<String> {
    v.igw.as_ref().map(|(_, id)| format!("IGW {id}"))
}

fn row_size(sizes: impl Iterator<Item = (i32, i32)>, gap: i32) -> (i32, i32) {
    let (mut w, mut h, mut n) = (0, 0, 0);
    for (sw, sh) in sizes {
        w += sw;
        h = h.max(sh);
        n += 1;
    }
    (w + gap * (n - 1).max(0), h)
}

fn vpc_size(v: &super::Vpc) -> (i32, i32) {
    let zones = row_size(v.zones.iter().map(zone_size), 2 * PAD);
    let rts = row_size(v.route_tables.iter().map(|t| rt_leaf(t).size()), PAD);
    let title = vpc_title(v);
    let title_w = title.iter().map(|l| text_w(l)).max().unwrap_or(0)
        + igw_text(v).map_or(0, |t| text_w(&t) + 4 * PAD);
    let w = title_w.max(zones.0).max(rts.0) + 2 * PAD;
    let h = TAG_ROOM + 2 * LINE + PAD + zones.1 + PAD + rts.1 + PAD;
    (w, h)
}

fn draw_vpc(c: &mut Canvas, v: &super::Vpc, x: i32, y: i32) -> Rect {
    let (w, h) = vpc_size(v);
    let r = Rect { x, y, w, h };
    c.frame("vpc", &v.key, &[("vpc", v.id.clone())], r);
    c.title(x + PAD, y + TAG_ROOM - 4, &vpc_title(v));
    if let (Some((key, id)), Some(t)) = (&v.igw, igw_text(v)) {
        let tr = tag_rect(0, y, &t);
        let tr = Rect {
            x: x + w - tr.w - PAD,
            ..tr
        };
        c.tag("igw", key, &[("igw", id.clone())], tr, &t);
    }
    let zy = y + TAG_ROOM + 2 * LINE;
    let mut zx = x + PAD;
    let mut zh = 0;
    for (i, z) in v.zones.iter().enumerate() {
        let zr = draw_zone(c, &format!("{}z{i}", v.key), z, zx, zy);
        zx += zr.w + 2 * PAD;
        zh = zh.max(zr.h);
    }
    let mut tx = x + PAD;
    for t in &v.route_tables {
        let tr = c.leaf(&rt_leaf(t), tx, zy + zh + PAD);
        tx += tr.w + PAD;
    }
    r
}

fn router_leaf(r: &super::Router) -> Leaf {
    let mut lines = vec![format!("{} {}", r.kind, r.name), r.id.clone()];
    lines.extend(r.attachments.iter().map(|a| format!("• {a}")));
    lines.extend(r.routes.iter().map(|a| format!("route {a}")));
    Leaf::new(
        r.key.clone(),
        "router",
        vec![("router", r.id.clone())],
        lines,
    )
}

const VPC_GAP: i32 = 60;
/// A VPC's top edge below its region's.
const VPC_TOP: i32 = LINE + 2 * PAD;
const ROUTER_GAP: i32 = 50;

fn region_size(g: &super::Region) -> (i32, i32) {
    let vpcs = row_size(g.vpcs.iter().map(vpc_size), VPC_GAP);
    let routers = row_size(g.routers.iter().map(|r| router_leaf(r).size()), VPC_GAP);
    let w = vpcs
        .0
        .max(routers.0)
        .max(text_w(&format!("region {}", g.name)))
        + 2 * PAD;
    let mut h = LINE + 2 * PAD + vpcs.1 + PAD;
    if !g.routers.is_empty() {
        h += ROUTER_GAP + routers.1;
    }
    (w, h)
}

fn draw_region(c: &mut Canvas, id: &str, g: &super::Region, x: i32, y: i32) -> Rect {
    let (w, h) = region_size(g);
    let r = Rect { x, y, w, h };
    c.named_frame("region", id, &g.name, r);
    let vy = y + VPC_TOP;
    let mut vx = x + PAD;
    let mut vh = 0;
    for v in &g.vpcs {
        let vr = draw_vpc(c, v, vx, vy);
        vx += vr.w + VPC_GAP;
        vh = vh.max(vr.h);
    }
    // Routers centred under the VPCs they join.
    let routers_w = row_size(g.routers.iter().map(|r| router_leaf(r).size()), VPC_GAP).0;
    let mut rx = x + PAD + ((vx - VPC_GAP - x - PAD) - routers_w).max(0) / 2;
    for router in &g.routers {
        let rr = c.leaf(&router_leaf(router), rx, vy + vh + ROUTER_GAP);
        rx += rr.w + VPC_GAP;
    }
    r
}

fn host_leaf(h: &super::Host) -> Leaf {
    Leaf::new(
        h.key.clone(),
        "host",
        vec![("host", h.name.clone())],
        vec![h.name.clone(), h.ip.to_string()],
    )
}

/// A column of hosts in a frame with a tag on its edge (the internet, a site on premises).
struct Column<'a> {
    class: &'static str,
    key: Key,
    title: Vec<String>,
    tag: String,
    hosts: &'a [super::Host],
    more: usize,
}

impl Column<'_> {
    fn size(&self) -> (i32, i32) {
        let mut leaves: Vec<Leaf> = self.hosts.iter().map(host_leaf).collect();
        if self.more > 0 {
            leaves.push(self.more_leaf());
        }
        let w = self
            .title
            .iter()
            .map(|l| text_w(l))
            .chain(leaves.iter().map(|l| l.size().0))
            .max()
            .unwrap_or(0)
            + 2 * PAD;
        let h = self.title.len() as i32 * LINE
            + 2 * PAD
            + leaves.iter().map(|l| l.size().1 + PAD).sum::<i32>();
        (w, h.max(60))
    }

    fn more_leaf(&self) -> Leaf {
        Leaf::new(
            "hostmore".into(),
            "more",
            Vec::new(),
            vec![format!("+ {} more hosts", self.more)],
        )
    }

    /// Draws it with the tag on its right edge (`right`) or its left.
    fn draw(&self, c: &mut Canvas, x: i32, y: i32, right: bool) -> Rect {
        let (w, h) = self.size();
        let r = Rect { x, y, w, h };
        c.frame(self.class, &format!("{}-frame", self.key), &[], r);
        c.title(x + PAD, y + 2, &self.title);
        let mut hy = y + self.title.len() as i32 * LINE + PAD;
        let mut leaves: Vec<Leaf> = self.hosts.iter().map(host_leaf).collect();
        if self.more > 0 {
            leaves.push(self.more_leaf());
        }
        for l in &leaves {
            let lr = c.leaf(l, x + PAD, hy);
            hy += lr.h + PAD;
        }
        // The internet's tag faces the top edges of the VPCs, where their gateways are, so
        // that the lines to them run along those edges and cross no title; a site's faces its
        // router.
        let mid = if right { y + VPC_TOP } else { y + h / 2 };
        let t = tag_rect(0, mid, &self.tag);
        let t = Rect {
            x: if right { x + w - 12 } else { x - t.w + 12 },
            ..t
        };
        c.tag("gateway", &self.key, &[], t, &self.tag);
        r
    }
}

fn peering_leaf(p: &super::VpcPeering) -> Leaf {
    let lines = vec![
        format!("VPC peering {}", p.name),
        p.id.clone(),
        p.scope.to_string(),
    ];
    Leaf::new(
        p.key.clone(),
        "vpc-peering",
        vec![("peering", p.id.clone())],
        lines,
    )
}

fn ccn_leaf(n: &super::Ccn) -> Leaf {
    let mut lines = vec![format!("{} {}", n.kind, n.name), n.id.clone()];
    lines.extend(n.limits.iter().map(|l| format!("limit {l}")));
    Leaf::new(n.key.clone(), "ccn", vec![("ccn", n.id.clone())], lines)
}

/// The flows drawn, each with its number (1-based, in the order of their first packet).
fn numbered(flows: &[Flow]) -> impl Iterator<Item = (usize, &Flow)> {
    flows.iter().enumerate().map(|(i, f)| (i + 1, f))
}

fn flow_row(n: usize, f: &Flow) -> String {
    let fate = if f.accepted {
        "ACCEPT".to_string()
    } else {
        format!("DROPPED: {}", f.reason.as_deref().unwrap_or("dropped"))
    };
    format!(
        "[{n}] {} → {}  {}  {} packets, {} bytes  {fate}",
        f.from_name, f.to_name, f.what, f.packets, f.bytes
    )
}

/// The SVG document.
pub(super) fn render(t: &Topology, flows: Option<&Flows>) -> String {
    let mut c = Canvas::default();
    let legend_h = 2 * LINE + PAD;
    let top = MARGIN + legend_h + 16;
    let mut x = MARGIN;
    let mut bottom = top;
    // The internet, on the left.
    if t.has_internet() {
        let col = Column {
            class: "internet",
            key: "internet".into(),
            title: vec!["Internet".into()],
            tag: "internet".into(),
            hosts: &t.internet_hosts,
            more: t.more_hosts,
        };
        let r = col.draw(&mut c, x + 4, top, true);
        x = r.right() + VPC_GAP + 20;
        bottom = bottom.max(r.bottom());
    }
    for (i, g) in t.regions.iter().enumerate() {
        let r = draw_region(&mut c, &format!("region{i}"), g, x, top);
        x = r.right() + VPC_GAP;
        bottom = bottom.max(r.bottom());
    }
    // Sites on premises, on the right.
    let mut sy = top;
    let site_x = x + 20;
    let mut right = x;
    for s in &t.sites {
        let mut title = vec!["on premises".to_string(), s.title.clone()];
        title.extend(s.networks.iter().cloned());
        let col = Column {
            class: "site",
            key: s.key.clone(),
            title,
            tag: "gateway".into(),
            hosts: &s.hosts,
            more: 0,
        };
        let r = col.draw(&mut c, site_x, sy, false);
        sy = r.bottom() + 2 * PAD;
        bottom = bottom.max(r.bottom());
        right = right.max(r.right());
    }
    // CCNs under the regions.
    let mut cx = MARGIN;
    let cy = bottom + ROUTER_GAP;
    for n in &t.ccns {
        let r = c.leaf(&ccn_leaf(n), cx, cy);
        cx = r.right() + VPC_GAP;
        bottom = bottom.max(r.bottom());
        right = right.max(r.right());
    }
    // VPC peering connections beside them, each under the middle of its two VPCs where that
    // is free.
    for p in &t.vpc_peerings {
        let leaf = peering_leaf(p);
        let centres: Vec<i32> = p
            .vpcs
            .iter()
            .filter_map(|v| c.frames.get(v))
            .map(|r| r.x + r.w / 2)
            .collect();
        let x = match centres.as_slice() {
            [a, b] => cx.max((a + b) / 2 - leaf.size().0 / 2),
            _ => cx,
        };
        let r = c.leaf(&leaf, x, cy);
        cx = r.right() + VPC_GAP;
        bottom = bottom.max(r.bottom());
        right = right.max(r.right());
    }
    // What joins what: internet gateways to the internet, routers to their VPCs, sites and
    // peers, CCNs and VPC peering connections to their VPCs.
    let anchor = |c: &Canvas, k: &str| c.anchors.get(k).copied();
    let vpc_rects = c.frames.clone();
    for g in &t.regions {
        for v in &g.vpcs {
            if let (Some((k, _)), Some(net)) = (&v.igw, anchor(&c, "internet"))
                && let Some(igw) = anchor(&c, k)
            {
                c.link("link", net.center(), igw.center());
            }
        }
        for router in &g.routers {
            let Some(rr) = anchor(&c, &router.key) else {
                continue;
            };
            for vr in router.vpcs.iter().filter_map(|v| vpc_rects.get(v)) {
                c.link_down("link", *vr, rr);
            }
        }
    }
    for s in &t.sites {
        if let (Some(a), Some(b)) = (anchor(&c, &s.joins), anchor(&c, &s.key)) {
            c.link("link", (a.right(), a.y + a.h / 2), b.center());
        }
    }
    for (a, b, name) in &t.peerings {
        if let (Some(ra), Some(rb)) = (anchor(&c, a), anchor(&c, b)) {
            let (p, q) = ((ra.right(), ra.y + ra.h / 2), (rb.x, rb.y + rb.h / 2));
            c.link("link peering", p, q);
            let _ = writeln!(
                c.top,
                "<text x=\"{}\" y=\"{}\" class=\"l\" text-anchor=\"middle\">peering {}</text>",
                (p.0 + q.0) / 2,
                (p.1 + q.1) / 2 - 6,
                esc(name)
            );
        }
    }
    for n in &t.ccns {
        let Some(nr) = anchor(&c, &n.key) else {
            continue;
        };
        for vr in n.vpcs.iter().filter_map(|v| vpc_rects.get(v)) {
            c.link_down("link ccn", *vr, nr);
        }
    }
    for p in &t.vpc_peerings {
        let Some(pr) = anchor(&c, &p.key) else {
            continue;
        };
        for vr in p.vpcs.iter().filter_map(|v| vpc_rects.get(v)) {
            c.link_down("link peering", *vr, pr);
        }
    }
    right = right.max(x);
    // The flows over it all, and their list underneath.
    let mut rows: Vec<(usize, &Flow)> = Vec::new();
    let (merged, total) = flows.map(|f| super::drawn_flows(t, f)).unwrap_or_default();
    let merged = &merged;
    if flows.is_some() {
        let mut drops: BTreeMap<(i32, i32), Vec<(usize, String)>> = BTreeMap::new();
        for (n, f) in numbered(merged) {
            draw_flow(&mut c, t, n, f, &mut drops);
            rows.push((n, f));
        }
        // Each drop point's reasons in a callout beside it, where it hides the fewest boxes.
        let mut placed: Vec<Rect> = Vec::new();
        for ((x, y), reasons) in drops {
            let labels = callout_lines(&reasons);
            let w = labels.iter().map(|l| text_w(l)).max().unwrap_or(0) + 2 * PAD;
            let h = labels.len() as i32 * LINE + PAD;
            let r = callout_place(&c, &placed, (x, y), w, h);
            placed.push(r);
            let (bx, by) = (r.x, r.y);
            let near = (x.clamp(bx, bx + w), y.clamp(by, by + h));
            let _ = writeln!(
                c.top,
                "<g class=\"callout\">\n<line x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{}\" \
                stroke=\"{RED}\" stroke-dasharray=\"2 2\"/>\n<rect x=\"{bx}\" y=\"{by}\" \
                width=\"{w}\" height=\"{h}\" rx=\"4\" fill=\"#ffffff\" stroke=\"{RED}\"/>",
                near.0, near.1
            );
            for (i, l) in labels.iter().enumerate() {
                let _ = writeln!(
                    c.top,
                    "<text x=\"{}\" y=\"{}\" class=\"reason\" fill=\"{RED}\">{}</text>",
                    bx + PAD,
                    by + (i as i32 + 1) * LINE,
                    esc(l)
                );
            }
            c.top.push_str("</g>\n");
            right = right.max(bx + w);
            bottom = bottom.max(by + h);
        }
    }
    let mut panel = String::new();
    let mut py = bottom + 40;
    if let Some(flows) = flows {
        let shown = rows.len();
        let mut head = format!("Flows ({} packets", flows.packets);
        if flows.truncated {
            head.push_str(", the run's first ones only");
        }
        head.push(')');
        if total > shown {
            let _ = write!(
                head,
                "; {} more flows not drawn: the dropped ones come first",
                total - shown
            );
        }
        if total == 0 {
            head.push_str(": none");
        }
        let _ = writeln!(
            panel,
            "<text x=\"{MARGIN}\" y=\"{py}\" class=\"h\">{}</text>",
            esc(&head)
        );
        right = right.max(MARGIN + text_w(&head));
        for (n, f) in rows {
            py += LINE + 4;
            let (class, colour) = flow_class(f);
            let row = flow_row(n, f);
            let _ = writeln!(
                panel,
                "<g class=\"flow-row {class}\" data-flow=\"{n}\">\n<line x1=\"{MARGIN}\" \
                y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"3\"/>\n<text \
                x=\"{}\" y=\"{py}\" class=\"t\">{}</text>\n</g>",
                py - 4,
                MARGIN + 24,
                py - 4,
                MARGIN + 32,
                esc(&row)
            );
            right = right.max(MARGIN + 32 + text_w(&row));
        }
    }
    let width = right + MARGIN;
    let height = py + MARGIN;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
        width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
        font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"12\">"
    );
    out.push_str(STYLE);
    // Only pictures with a VPC peering connection carry its style, so that the others stay as
    // they were.
    if !t.vpc_peerings.is_empty() {
        out.push_str(PEERING_STYLE);
    }
    let _ = writeln!(
        out,
        "<rect class=\"paper\" x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\"/>"
    );
    legend(&mut out, &t.provider);
    out.push_str(&c.back);
    out.push_str(&c.links);
    out.push_str(&c.flows);
    out.push_str(&c.front);
    out.push_str(&c.top);
    out.push_str(&panel);
    out.push_str("</svg>\n");
    out
}

fn flow_class(f: &Flow) -> (&'static str, &'static str) {
    if f.accepted {
        ("accept", GREEN)
    } else {
        ("reject", RED)
    }
}

fn draw_flow(
    c: &mut Canvas,
    t: &Topology,
    n: usize,
    f: &Flow,
    drops: &mut BTreeMap<(i32, i32), Vec<(usize, String)>>,
) {
    // The hops as drawn rectangles (a folded interface stands as its subnet's fold).
    let mut rects: Vec<Rect> = Vec::new();
    for k in &f.path {
        let Some(&r) = c.anchors.get(t.drawn(k)) else {
            continue;
        };
        if rects.last() != Some(&r) {
            rects.push(r);
        }
    }
    let Some(&first) = rects.first() else {
        return;
    };
    let mut pts: Vec<(i32, i32)> = rects.iter().map(|r| r.center()).collect();
    if pts.len() == 1 {
        // Dropped where it started: a stub out of the sender.
        pts.push((first.right() + 28, first.y + first.h / 2));
    } else {
        pts[0] = first.exit_towards(pts[1]);
        let last = pts.len() - 1;
        if f.accepted {
            pts[last] = rects[last].exit_towards(pts[last - 1]);
        }
    }
    // Flows keep to the right of their way, in lanes, so that a request and its reply, or
    // two flows along one path, run side by side.
    let lane = 4.0 + ((n - 1) % 3) as f64 * 4.0;
    let pts = keep_right(&pts, lane);
    let (class, colour) = flow_class(f);
    let title = flow_row(n, f);
    let points: Vec<String> = pts.iter().map(|(x, y)| format!("{x},{y}")).collect();
    let to = f.to.as_deref().unwrap_or("");
    let _ = writeln!(
        c.flows,
        "<g class=\"flow {class}\" id=\"flow{n}\" data-from=\"{}\" data-to=\"{to}\">\n\
        <title>{}</title>\n<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" \
        stroke-width=\"2.5\" marker-end=\"url(#arrow-{class})\"/>\n</g>",
        f.from,
        esc(&title),
        points.join(" ")
    );
    // The number on the longest segment, at a place that depends on the flow's number (not
    // on its direction), so that a request's and its reply's numbers stand apart.
    let (a, b) = pts
        .windows(2)
        .map(|w| (w[0].min(w[1]), w[0].max(w[1])))
        .max_by_key(|(a, b)| ((a.0 - b.0).abs() + (a.1 - b.1).abs(), -a.0, -a.1))
        .unwrap_or((pts[0], pts[0]));
    let t = [3, 5, 7, 4, 6, 2, 8][(n - 1) % 7];
    let (bx, by) = (a.0 + (b.0 - a.0) * t / 10, a.1 + (b.1 - a.1) * t / 10);
    c.keep_clear(bx - 10, by - 10, 20, 20);
    let _ = writeln!(
        c.top,
        "<g class=\"badge {class}\" data-flow=\"{n}\"><circle cx=\"{bx}\" cy=\"{by}\" r=\"9\" \
        fill=\"{colour}\"/><text x=\"{bx}\" y=\"{}\" text-anchor=\"middle\" \
        class=\"n\">{n}</text></g>",
        by + 4
    );
    if !f.accepted {
        let at = rects.last().map_or((0, 0), |r| r.center());
        let &(x, y) = pts.last().unwrap_or(&(0, 0));
        c.keep_clear(x - 8, y - 10, 16, 18);
        let _ = writeln!(
            c.top,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" class=\"x\" fill=\"{RED}\">✕</text>",
            y + 6
        );
        let reason = f.reason.as_deref().unwrap_or("dropped").to_string();
        drops.entry(at).or_default().push((n, reason));
    }
}

/// A drop point's callout: one line per reason, with the numbers of the flows it dropped
/// (`[2, 5, 8] ACL web-acl egress …`).
fn callout_lines(reasons: &[(usize, String)]) -> Vec<String> {
    let mut by: Vec<(Vec<usize>, &str)> = Vec::new();
    for (n, r) in reasons {
        match by.iter_mut().find(|(_, x)| x == r) {
            Some((ns, _)) => ns.push(*n),
            None => by.push((vec![*n], r)),
        }
    }
    by.into_iter()
        .map(|(ns, r)| {
            let mut list: Vec<String> = ns.iter().take(8).map(usize::to_string).collect();
            if ns.len() > 8 {
                list.push("…".into());
            }
            format!("[{}] {r}", list.join(", "))
        })
        .collect()
}

/// Where a callout of `w` × `h` about the point `at` goes: of a few places around it, the
/// first that hides the least of the drawn boxes and earlier callouts (never above the
/// picture's top).
fn callout_place(c: &Canvas, placed: &[Rect], at: (i32, i32), w: i32, h: i32) -> Rect {
    let (x, y) = at;
    // Beside the whole drawing, on the right, where it hides nothing (the dashed leader line
    // crosses the boxes instead).
    let beyond = c
        .frames
        .values()
        .chain(c.anchors.values())
        .map(|r| r.right())
        .max()
        .unwrap_or(x)
        + 24;
    let candidates = [
        (beyond, y - h / 2),
        (x + 16, y - h - 8),
        (x + 16, y + 10),
        (x - w - 16, y - h - 8),
        (x - w - 16, y + 10),
        (x + 16, y - h - 40),
        (x + 16, y + 40),
        (x - w / 2, y + 60),
        (x - w / 2, y - h - 60),
    ];
    let overlap = |a: Rect, b: Rect| {
        let dx = (a.right().min(b.right()) - a.x.max(b.x)).max(0);
        let dy = (a.bottom().min(b.bottom()) - a.y.max(b.y)).max(0);
        i64::from(dx) * i64::from(dy)
    };
    candidates
        .iter()
        .map(|&(cx, cy)| Rect {
            x: cx.max(MARGIN),
            y: cy.max(MARGIN + 2 * LINE),
            w,
            h,
        })
        .min_by_key(|&r| {
            // A container's title (its first lines: name, CIDR, ID) must stay readable.
            let titles = c.frames.values().map(|f| Rect {
                h: f.h.min(2 * LINE + PAD),
                ..*f
            });
            c.anchors.values().map(|&a| overlap(r, a)).sum::<i64>()
                + titles.map(|t| 5 * overlap(r, t)).sum::<i64>()
                + placed.iter().map(|&p| 10 * overlap(r, p)).sum::<i64>()
                + c.marks.iter().map(|&m| 20 * overlap(r, m)).sum::<i64>()
        })
        .unwrap_or(Rect { x, y, w, h })
}

/// The polyline moved `by` pixels to the right of its direction of travel: each vertex along
/// the mean of its segments' normals.
fn keep_right(pts: &[(i32, i32)], by: f64) -> Vec<(i32, i32)> {
    let normal = |a: (i32, i32), b: (i32, i32)| {
        let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
        let len = (dx * dx + dy * dy).sqrt();
        if len == 0.0 {
            (0.0, 0.0)
        } else {
            // SVG's y grows downwards: the right of (dx, dy) is (-dy, dx).
            (-dy / len, dx / len)
        }
    };
    (0..pts.len())
        .map(|i| {
            let before = (i > 0).then(|| normal(pts[i - 1], pts[i]));
            let after = (i + 1 < pts.len()).then(|| normal(pts[i], pts[i + 1]));
            let (nx, ny) = match (before, after) {
                (Some(a), Some(b)) => ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => (0.0, 0.0),
            };
            (
                pts[i].0 + (nx * by).round() as i32,
                pts[i].1 + (ny * by).round() as i32,
            )
        })
        .collect()
}

fn legend(out: &mut String, provider: &str) {
    let y = MARGIN + LINE;
    let _ = writeln!(
        out,
        "<g class=\"legend\">\n<text x=\"{MARGIN}\" y=\"{y}\" class=\"b\">{} topology</text>\n\
        <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{GREEN}\" stroke-width=\"3\"/>\n\
        <text x=\"{}\" y=\"{y}\" class=\"t\">accepted (delivered)</text>\n<line x1=\"{}\" \
        y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{RED}\" stroke-width=\"3\"/>\n<text x=\"{}\" \
        y=\"{y}\" class=\"t\">rejected or dropped (the deciding rule beside it)</text>\n</g>",
        esc(provider),
        MARGIN + 150,
        y - 4,
        MARGIN + 180,
        y - 4,
        MARGIN + 188,
        MARGIN + 360,
        y - 4,
        MARGIN + 390,
        y - 4,
        MARGIN + 398,
    );
}

/// The style of VPC peering connections' boxes (their links are `.link.peering`, dashed).
const PEERING_STYLE: &str =
    "<style>\n.vpc-peering > rect { fill: #dafbe1; stroke: #1a7f37; }\n</style>\n";

const STYLE: &str = r##"<defs>
<marker id="arrow-accept" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"
 orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1a7f37"/></marker>
<marker id="arrow-reject" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"
 orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#cf222e"/></marker>
</defs>
<style>
.paper { fill: #ffffff; }
text { fill: #1f2328; }
.b { font-weight: bold; }
.z { fill: #57606a; font-style: italic; }
.h { font-weight: bold; font-size: 14px; }
.l { fill: #57606a; }
.n { fill: #ffffff; font-weight: bold; font-size: 11px; }
.x { font-size: 18px; font-weight: bold; }
.reason { font-weight: bold; }
.region > rect { fill: #f6f8fa; stroke: #8c959f; stroke-dasharray: 8 4; }
.vpc > rect { fill: #eef4fb; stroke: #0969da; stroke-width: 2; }
.zone > rect { fill: none; stroke: #8c959f; stroke-dasharray: 3 3; }
.subnet > rect { fill: #ffffff; stroke: #57606a; }
.internet > rect, .site > rect { fill: #fff8e6; stroke: #bf8700; }
.eni > rect { fill: #ddf4ff; stroke: #0969da; }
.nat > rect, .igw > rect, .gateway > rect { fill: #fff1e5; stroke: #bc4c00; }
.acl > rect { fill: #fbefff; stroke: #8250df; }
.acl.none > rect { fill: #f6f8fa; stroke: #8c959f; stroke-dasharray: 3 3; }
.rt > rect { fill: #f6f8fa; stroke: #8c959f; }
.router > rect, .ccn > rect { fill: #dafbe1; stroke: #1a7f37; }
.host > rect { fill: #ffffff; stroke: #bf8700; }
.more > rect { fill: #f6f8fa; stroke: #8c959f; stroke-dasharray: 3 3; }
.link { stroke: #8c959f; stroke-width: 1.5; }
.link.peering, .link.ccn { stroke-dasharray: 6 4; }
</style>
"##;
