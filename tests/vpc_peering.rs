//! VPC peering connections (docs/decisions/vpc-peering.md), in a file and over gRPC: what a
//! create refuses and where the file's error points, routes through a connection, what a
//! connection keeps from being deleted, and the life cycle surviving a restart. The packets'
//! side is scenarios/aws-vpc-peering.yaml.

mod common;

use common::fixture::{self, mask, vpc_req};
use common::*;
use tonic::Code;
use tonic::transport::Channel;
use vpclab_controlplane::api::{Defaults, Tenancy, pb};
use vpclab_sim::profile::Provider;

const P: &str = "projects/default";

fn defaults() -> Defaults {
    Defaults {
        seed: 3,
        start: 1_700_000_000,
        ..Defaults::default()
    }
}

async fn vpc(
    net: &mut NetworkServiceClient<Channel>,
    name: &str,
    cidr: &str,
    region: &str,
) -> pb::Vpc {
    let mut r = vpc_req(P, name, cidr);
    if let Some(v) = r.vpc.as_mut() {
        v.region = region.into();
    }
    net.create_vpc(r).await.unwrap().into_inner()
}

/// A server for one tenant of `provider` on a fresh data directory `name` (kept while the
/// server runs), and a network client of it.
async fn start(name: &str, provider: Provider) -> (TempDir, Server, NetworkServiceClient<Channel>) {
    let dir = temp_dir(name);
    let (server, net) = fixture::start_net(&dir, provider, defaults()).await;
    (dir, server, net)
}

fn peering(
    name: &str,
    requester: &pb::Vpc,
    accepter: &pb::Vpc,
) -> pb::CreateVpcPeeringConnectionRequest {
    pb::CreateVpcPeeringConnectionRequest {
        parent: P.into(),
        vpc_peering_connection: Some(pb::VpcPeeringConnection {
            display_name: name.into(),
            requester_vpc: requester.name.clone(),
            accepter_vpc: accepter.name.clone(),
            ..Default::default()
        }),
        vpc_peering_connection_id: String::new(),
    }
}

fn route_to(table: &str, destination: &str, pcx: &str) -> pb::UpdateRouteTableRequest {
    pb::UpdateRouteTableRequest {
        route_table: Some(pb::RouteTable {
            name: table.into(),
            routes: vec![pb::Route {
                destination: destination.into(),
                target: Some(pb::route::Target::VpcPeeringConnection(pcx.into())),
            }],
            ..Default::default()
        }),
        update_mask: mask(&["routes"]),
    }
}

async fn peer(
    net: &mut NetworkServiceClient<Channel>,
    name: &str,
    requester: &pb::Vpc,
    accepter: &pb::Vpc,
) -> pb::VpcPeeringConnection {
    net.create_vpc_peering_connection(peering(name, requester, accepter))
        .await
        .unwrap()
        .into_inner()
}

async fn unpeer(net: &mut NetworkServiceClient<Channel>, name: impl Into<String>) {
    net.delete_vpc_peering_connection(pb::DeleteVpcPeeringConnectionRequest { name: name.into() })
        .await
        .unwrap();
}

async fn peerings(
    net: &mut NetworkServiceClient<Channel>,
) -> pb::ListVpcPeeringConnectionsResponse {
    fixture::list!(net.list_vpc_peering_connections(ListVpcPeeringConnectionsRequest))
}

/// `vpclab ARGS`, as a user runs it (blocking, off the runtime the server runs on); it must
/// succeed.
async fn vpclab_ok(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let o = tokio::task::spawn_blocking(move || {
        vpclab(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// The export of a fresh server that `vpclab apply` gave `text`.
async fn reapplied_export(dir: &str, text: &str) -> String {
    let dir = temp_dir(dir);
    let fresh = Server::start(&dir, Tenancy::single(Provider::Aws), defaults()).await;
    let file = dir.join("export.yaml");
    std::fs::write(&file, text).unwrap();
    vpclab_ok(&["apply", file.to_str().unwrap(), "--server", &fresh.url()]).await;
    let exported = export(&fresh).await;
    fresh.stop().await;
    exported
}

/// `vpclab export` of a server's project, as a user runs it (blocking, off the runtime the
/// server runs on).
async fn export(server: &Server) -> String {
    stdout(&vpclab_ok(&["export", "--server", &server.url()]).await)
}

const SCENARIO: &str = include_str!("../scenarios/aws-vpc-peering.yaml");

/// The shipped scenario with lines changed, each `(from, to)` once: the error it gives, as
/// printed.
fn error_in(changes: &[(&str, &str)]) -> String {
    let text = changes.iter().fold(SCENARIO.to_string(), |t, (from, to)| {
        scenario::replaced(&t, from, to)
    });
    scenario::error(&text).to_string()
}

fn error(from: &str, to: &str) -> String {
    error_in(&[(from, to)])
}

#[test]
fn a_bad_peering_in_a_file_names_its_line_and_field() {
    let line = scenario::line_of(SCENARIO, "name: data-dr, id:");
    // Overlapping blocks: the accepter, `vpcs[1]`.
    assert_eq!(
        error_in(&[
            ("    cidr: 10.2.0.0/16\n", "    cidr: 10.1.128.0/17\n"),
            ("cidr: 10.2.1.0/24", "cidr: 10.1.129.0/24"),
            ("ip: 10.2.1.30", "ip: 10.1.129.30"),
        ]),
        format!(
            "s.yaml:{line}:62: vpc_peerings[1].vpcs[1]: the VPCs' blocks overlap (10.1.0.0/16 and \
             10.1.128.0/17): peered VPCs need distinct addresses"
        )
    );
    assert_eq!(
        error("vpcs: [data, dr] }", "vpcs: [data, nowhere] }"),
        format!("s.yaml:{line}:62: vpc_peerings[1].vpcs[1]: no VPC named `nowhere`")
    );
    // A name the target does not read.
    let stray = scenario::line_of(
        SCENARIO,
        "10.1.0.0/16, target: peering, peering: app-data }",
    );
    assert_eq!(
        error(
            "{ destination: 10.1.0.0/16, target: peering, peering: app-data }",
            "{ destination: 10.1.0.0/16, target: blackhole, peering: app-data }",
        ),
        format!(
            "s.yaml:{stray}:65: vpcs[0].routes[0].peering: a `blackhole` route names no peering: \
             remove `peering`"
        )
    );
    // A route naming no connection, and a connection of other VPCs.
    let route = scenario::line_of(SCENARIO, "10.2.0.0/16, target: peering, peering: data-dr");
    assert_eq!(
        error(
            "peering: data-dr }\n    route_tables",
            "peering: data-xx }\n    route_tables"
        ),
        format!(
            "s.yaml:{route}:63: vpcs[1].routes[1].peering: no VPC peering connection named `data-xx`"
        )
    );
    let e = error(
        "{ destination: 10.1.0.0/16, target: peering, peering: data-dr }",
        "{ destination: 10.1.0.0/16, target: peering, peering: app-data }",
    );
    assert!(
        e.contains("vpcs[2].routes[0].target: VPC peering connection pcx-0a1b2c3d4e5f60001 joins VPCs app and data, not this one"),
        "{e}"
    );
}

#[tokio::test]
async fn a_peering_joins_two_distinct_vpcs_once_and_holds_them() {
    let (dir, server, mut net) = start("api-peering", Provider::Aws).await;
    let app = vpc(&mut net, "app", "10.0.0.0/16", "").await;
    let data = vpc(&mut net, "data", "10.1.0.0/16", "").await;
    let dr = vpc(&mut net, "dr", "10.2.0.0/16", "us-west-2").await;
    let overlap = vpc(&mut net, "overlap", "10.0.128.0/17", "").await;

    let x = peer(&mut net, "app-data", &app, &data).await;
    assert!(
        x.name
            .starts_with("projects/default/vpcPeeringConnections/pcx-"),
        "{}",
        x.name
    );
    assert_eq!(
        (x.requester_vpc.as_str(), x.accepter_vpc.as_str()),
        (app.name.as_str(), data.name.as_str())
    );
    assert!(!x.inter_region);
    let y = peer(&mut net, "data-dr", &data, &dr).await;
    assert!(y.inter_region, "us-east-1 and us-west-2");

    // Refusals name the field, and change nothing.
    let accepter = "vpc_peering_connection.accepter_vpc".to_string();
    for (req, expected) in [
        (
            peering("again", &data, &app),
            (Code::AlreadyExists, accepter.clone()),
        ),
        (
            peering("self", &app, &app),
            (Code::InvalidArgument, accepter.clone()),
        ),
        (
            peering("overlap", &app, &overlap),
            (Code::InvalidArgument, accepter.clone()),
        ),
        (
            peering("app-data", &app, &dr),
            (
                Code::AlreadyExists,
                "vpc_peering_connection.display_name".into(),
            ),
        ),
    ] {
        assert_eq!(
            refused(net.create_vpc_peering_connection(req).await),
            expected
        );
    }
    let mut gone = peering("gone", &app, &dr);
    gone.vpc_peering_connection.as_mut().unwrap().requester_vpc =
        "projects/default/vpcs/vpc-0000".into();
    assert_eq!(
        refused(net.create_vpc_peering_connection(gone).await),
        (
            Code::NotFound,
            "vpc_peering_connection.requester_vpc".into()
        )
    );
    assert_eq!(peerings(&mut net).await.vpc_peering_connections.len(), 2);

    // A route through a connection of the table's own VPC; not through another's.
    let table = net
        .update_route_table(route_to(&app.main_route_table, "10.1.0.0/16", &x.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        table
            .routes
            .iter()
            .find(|r| r.destination == "10.1.0.0/16")
            .and_then(|r| r.target.clone()),
        Some(pb::route::Target::VpcPeeringConnection(x.name.clone()))
    );
    // Through a connection of two other VPCs; to addresses of the VPC itself.
    for (destination, pcx, field) in [
        ("10.2.0.0/16", &y.name, "route_table.routes[0].target"),
        ("10.0.5.0/24", &x.name, "route_table.routes[0].destination"),
    ] {
        let (code, at) = refused(
            net.update_route_table(route_to(&app.main_route_table, destination, pcx))
                .await,
        );
        assert_eq!((code, at.as_str()), (Code::InvalidArgument, field));
    }

    // A VPC with a live connection stays; the refusal names the connection.
    assert_eq!(
        fixture::vpc_in_use(&mut net, &dr.name).await,
        vec![("IN_USE".to_string(), y.name.clone())]
    );

    // aws: deleting a connection leaves its routes, as blackholes.
    unpeer(&mut net, y.name.clone()).await;
    unpeer(&mut net, x.name.clone()).await;
    let table = fixture::route_table(&mut net, &app.main_route_table).await;
    assert!(
        table.routes.iter().any(|r| r.destination == "10.1.0.0/16"),
        "{table:?}"
    );
    // The table can still be updated: the blackholed route, sent back as the view shows it, is
    // kept as it is; a new route naming a deleted connection is refused and changes nothing.
    let to = |destination: &str, pcx: &str| pb::Route {
        destination: destination.into(),
        target: Some(pb::route::Target::VpcPeeringConnection(pcx.into())),
    };
    let blocked = pb::Route {
        destination: "10.9.0.0/16".into(),
        target: Some(pb::route::Target::Blackhole(true)),
    };
    // A route through `pcx`, and the blackhole after it.
    let with_blocked = |destination: &str, pcx: &str| {
        let mut update = route_to(&app.main_route_table, destination, pcx);
        update
            .route_table
            .as_mut()
            .unwrap()
            .routes
            .push(blocked.clone());
        update
    };
    let kept = net
        .update_route_table(with_blocked("10.1.0.0/16", &x.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        kept.routes[1..].to_vec(),
        vec![to("10.1.0.0/16", &x.name), blocked.clone()],
        "{kept:?}"
    );
    for (destination, pcx) in [("10.3.0.0/16", &x.name), ("10.1.0.0/16", &y.name)] {
        let (code, at) = refused(net.update_route_table(with_blocked(destination, pcx)).await);
        assert_eq!(
            (code, at.as_str()),
            (
                Code::NotFound,
                "route_table.routes[0].vpc_peering_connection"
            )
        );
    }
    let after = fixture::route_table(&mut net, &app.main_route_table).await;
    assert_eq!(after, kept, "a refused update changes nothing");
    // `vpclab export` writes the blackholed route as a blackhole (the connection it names is
    // gone, so a file cannot name it); `vpclab apply` of that file to a fresh server gives
    // the same table, and its export the same bytes.
    let exported = export(&server).await;
    assert!(
        exported.contains("      - {destination: 10.1.0.0/16, target: blackhole}\n"),
        "{exported}"
    );
    assert_eq!(
        reapplied_export("api-peering-reapplied", &exported).await,
        exported
    );
    net.delete_vpc(pb::DeleteVpcRequest {
        name: dr.name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    // What was acknowledged survives a restart; the deleted connections stay deleted.
    let kept = peer(&mut net, "app-data-2", &app, &data).await;
    server.stop().await;
    let (server, mut net) = fixture::start_net(&dir, Provider::Aws, defaults()).await;
    assert_eq!(peerings(&mut net).await.vpc_peering_connections, vec![kept]);
    server.stop().await;
}

#[tokio::test]
async fn huawei_peers_one_region_and_keeps_a_routed_connection() {
    let (_dir, server, mut net) = start("api-peering-huawei", Provider::Huawei).await;
    let a = vpc(&mut net, "a", "10.0.0.0/16", "").await;
    let b = vpc(&mut net, "b", "10.1.0.0/16", "").await;
    let far = vpc(&mut net, "far", "10.2.0.0/16", "cn-south-1").await;
    let (code, at) = refused(
        net.create_vpc_peering_connection(peering("far", &a, &far))
            .await,
    );
    assert_eq!(
        (code, at.as_str()),
        (Code::InvalidArgument, "vpc_peering_connection.accepter_vpc")
    );
    let x = peer(&mut net, "a-b", &a, &b).await;
    net.update_route_table(route_to(&a.main_route_table, "10.1.0.0/16", &x.name))
        .await
        .unwrap();
    let delete = pb::DeleteVpcPeeringConnectionRequest {
        name: x.name.clone(),
    };
    let (code, _) = refused(net.delete_vpc_peering_connection(delete.clone()).await);
    assert_eq!(code, Code::FailedPrecondition, "routes name it");
    net.update_route_table(pb::UpdateRouteTableRequest {
        route_table: Some(pb::RouteTable {
            name: a.main_route_table.clone(),
            ..Default::default()
        }),
        update_mask: mask(&["routes"]),
    })
    .await
    .unwrap();
    net.delete_vpc_peering_connection(delete).await.unwrap();
    server.stop().await;
}

/// `run --explain` names the connection on the packet's path: the first ping crosses it both
/// ways; case 3's packet for data's peer dr ends at it (peering is not transitive).
#[test]
fn the_explained_path_crosses_the_peering_connection() {
    let o = vpclab(&["run", "scenarios/aws-vpc-peering.yaml", "--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let path_of = |packet: &str| -> String {
        let at = out
            .find(&format!("\n{packet} "))
            .unwrap_or_else(|| panic!("no packet {packet} in:\n{out}"));
        let rest = &out[at + 1..];
        let line = rest
            .lines()
            .nth(1)
            .and_then(|l| l.trim().strip_prefix("path: "))
            .unwrap_or_else(|| panic!("packet {packet} has no path:\n{rest}"));
        line.to_string()
    };
    assert_eq!(
        path_of("#1"),
        "ENI app-host -> subnet app-a -> VPC peering pcx-0a1b2c3d4e5f60001 -> subnet data-a -> \
         ENI data-host"
    );
    assert_eq!(
        path_of("#2"),
        "ENI data-host -> subnet data-a -> VPC peering pcx-0a1b2c3d4e5f60001 -> subnet app-a -> \
         ENI app-host"
    );
    assert_eq!(
        path_of("#11"),
        "ENI app-host -> subnet app-a -> VPC peering pcx-0a1b2c3d4e5f60001"
    );
    assert!(out.contains(
        "    dropped at VPC peering connection pcx-0a1b2c3d4e5f60001: 10.2.1.30 is not in the \
         peer VPC data (10.1.0.0/16)"
    ));
}

/// Three tencent VPCs: b and c overlap, so a may peer with one of them only.
const TENCENT: &str = "\
name: tencent-peers
provider: tencent
seed: 1
start: 1700000000
vpcs:
  - { name: a, cidr: 10.0.0.0/16 }
  - { name: b, cidr: 10.1.0.0/16 }
  - { name: c, cidr: 10.1.128.0/17 }
vpc_peerings:
  - { name: a-b, id: pcx-abcd1234, vpcs: [a, b] }
  - { name: a-c, vpcs: [a, c] }
";

/// tencent (Peering Connection, "Use limits", tencentcloud.com/document/product/553/18830):
/// "the CIDR blocks of multiple peer networks of one VPC cannot overlap". The file's error
/// points at the VPC that would overlap a peer the other already has.
#[test]
fn a_tencent_vpcs_peers_may_not_overlap_in_a_file() {
    let line = scenario::line_of(TENCENT, "name: a-c");
    assert_eq!(
        scenario::error(TENCENT).to_string(),
        format!(
            "s.yaml:{line}:28: vpc_peerings[1].vpcs[1]: VPC a is already peered with VPC b \
             (10.1.0.0/16) by VPC peering connection pcx-abcd1234, which overlaps VPC c's block \
             10.1.128.0/17: on tencent a VPC's peers may not overlap each other"
        )
    );
    // The other way round, the requester overlaps a peer the accepter has.
    let text = scenario::replaced(TENCENT, "vpcs: [a, c]", "vpcs: [c, a]");
    assert_eq!(
        scenario::error(&text).to_string(),
        format!(
            "s.yaml:{line}:25: vpc_peerings[1].vpcs[0]: VPC a is already peered with VPC b \
             (10.1.0.0/16) by VPC peering connection pcx-abcd1234, which overlaps VPC c's block \
             10.1.128.0/17: on tencent a VPC's peers may not overlap each other"
        )
    );
}

/// Over gRPC: tencent refuses a's second, overlapping peer (INVALID_ARGUMENT on the VPC that
/// overlaps, naming the connection it conflicts with) and keeps what it had; aws accepts it
/// (a VPC may peer with overlapping VPCs there, its routes telling them apart).
#[tokio::test]
async fn a_tencent_vpcs_peers_may_not_overlap_over_grpc() {
    for provider in [Provider::Tencent, Provider::Aws] {
        let (_dir, server, mut net) = start("api-peering-distinct", provider).await;
        let a = vpc(&mut net, "a", "10.0.0.0/16", "").await;
        let b = vpc(&mut net, "b", "10.1.0.0/16", "").await;
        let c = vpc(&mut net, "c", "10.1.128.0/17", "").await;
        let d = vpc(&mut net, "d", "10.2.0.0/16", "").await;
        let ab = peer(&mut net, "a-b", &a, &b).await;
        // Peers that do not overlap each other are fine everywhere.
        peer(&mut net, "a-d", &a, &d).await;
        let before = peerings(&mut net).await;
        if provider == Provider::Aws {
            peer(&mut net, "a-c", &a, &c).await;
            server.stop().await;
            continue;
        }
        for (req, at) in [
            (
                peering("a-c", &a, &c),
                "vpc_peering_connection.accepter_vpc",
            ),
            (
                peering("c-a", &c, &a),
                "vpc_peering_connection.requester_vpc",
            ),
        ] {
            let s = err(net.create_vpc_peering_connection(req).await);
            assert_eq!((s.code(), field(&s).as_str()), (Code::InvalidArgument, at));
            let id = ab.name.rsplit('/').next().unwrap();
            assert!(
                s.message()
                    .contains(&format!("VPC peering connection {id}")),
                "{s:?}"
            );
        }
        let after = peerings(&mut net).await;
        assert_eq!(after, before, "a refusal changes nothing");
        // Once a-b is deleted, a may peer with c.
        unpeer(&mut net, ab.name.clone()).await;
        peer(&mut net, "a-c", &a, &c).await;
        server.stop().await;
    }
}

/// An ingress rule admitting TCP 5432 from the members of `group`.
fn from_group(group: &str) -> pb::SecurityGroupRule {
    pb::SecurityGroupRule {
        direction: pb::Direction::Ingress as i32,
        action: pb::RuleAction::Allow as i32,
        protocol: "tcp".into(),
        ports: "5432".into(),
        remote: Some(pb::security_group_rule::Remote::SecurityGroup(group.into())),
        ..Default::default()
    }
}

/// aws (VPC Peering Guide, "Update your security groups to reference peer security groups"):
/// a rule may name a group of a VPC peered in the same region, not one of an unpeered VPC nor
/// of a peer in another region (NOT_FOUND, as EC2's `InvalidGroup.NotFound`); huawei documents
/// no such reference and keeps refusing it. A refusal changes nothing.
#[tokio::test]
async fn rules_reference_groups_of_a_vpc_peered_in_the_region() {
    for provider in [Provider::Aws, Provider::Huawei] {
        let (_dir, server, mut net) = start("api-peering-groups", provider).await;
        let app = vpc(&mut net, "app", "10.0.0.0/16", "").await;
        let data = vpc(&mut net, "data", "10.1.0.0/16", "").await;
        let hosts = fixture::create_sg(&mut net, "app-hosts", &app.name, Vec::new()).await;
        let db = fixture::create_sg(&mut net, "data-db", &data.name, Vec::new()).await;
        let set = |rules| pb::UpdateSecurityGroupRequest {
            security_group: Some(pb::SecurityGroup {
                name: db.name.clone(),
                rules,
                ..Default::default()
            }),
            update_mask: mask(&["rules"]),
        };
        let remote = "security_group.rules[0].remote".to_string();
        // Not peered yet: refused, nothing changed.
        let s = err(net
            .update_security_group(set(vec![from_group(&hosts.name)]))
            .await);
        assert_eq!((s.code(), field(&s)), (Code::NotFound, remote.clone()));
        let s = err(net
            .create_security_group(fixture::sg_req(
                P,
                "data-db-2",
                &data.name,
                vec![from_group(&hosts.name)],
            ))
            .await);
        assert_eq!(
            (s.code(), field(&s).as_str()),
            (Code::NotFound, "security_group.rules[0].remote")
        );
        let get = pb::GetSecurityGroupRequest {
            name: db.name.clone(),
        };
        assert_eq!(
            net.get_security_group(get.clone())
                .await
                .unwrap()
                .into_inner(),
            db
        );
        peer(&mut net, "app-data", &app, &data).await;
        let r = net
            .update_security_group(set(vec![from_group(&hosts.name)]))
            .await;
        if provider == Provider::Huawei {
            let s = err(r);
            assert_eq!((s.code(), field(&s)), (Code::NotFound, remote.clone()));
            assert!(
                s.message()
                    .contains("huawei rules reference groups of their own VPC"),
                "{s:?}"
            );
            server.stop().await;
            continue;
        }
        let updated = r.unwrap().into_inner();
        assert_eq!(updated.rules, vec![from_group(&hosts.name)]);

        // A peer in another region: "use the CIDR block of the peer VPC".
        let dr = vpc(&mut net, "dr", "10.2.0.0/16", "us-west-2").await;
        peer(&mut net, "data-dr", &data, &dr).await;
        let far = fixture::create_sg(&mut net, "dr-hosts", &dr.name, Vec::new()).await;
        let s = err(net
            .update_security_group(set(vec![from_group(&far.name)]))
            .await);
        assert_eq!((s.code(), field(&s)), (Code::NotFound, remote.clone()));
        assert!(s.message().contains("peered across regions"), "{s:?}");
        assert_eq!(
            net.get_security_group(get.clone())
                .await
                .unwrap()
                .into_inner(),
            updated
        );
        server.stop().await;
    }
}

#[test]
fn a_bad_peer_group_reference_in_a_file_names_its_line_and_field() {
    let line = scenario::line_of(SCENARIO, "remote: { group: app/app-hosts }");
    let col = |l: u64, needle: &str, text: &str| {
        text.lines()
            .nth(l as usize - 1)
            .unwrap()
            .find(needle)
            .unwrap()
            + 1
    };
    for (group, message) in [
        (
            "app/app-hostz",
            "no security group named `app-hostz` in VPC `app`",
        ),
        (
            "nowhere/app-hosts",
            "no VPC named `nowhere` (in `nowhere/app-hosts`)",
        ),
        // dr is data's peer, in another region.
        (
            "dr/dr-hosts",
            "security group dr-hosts is in VPC dr of region us-west-2, peered across regions \
             by pcx-0a1b2c3d4e5f60002: reference the peer VPC's block 10.2.0.0/16 instead",
        ),
    ] {
        let text = scenario::replaced(
            SCENARIO,
            "remote: { group: app/app-hosts }",
            &format!("remote: {{ group: {group} }}"),
        );
        let field = if group.contains("dr/") {
            "remote"
        } else {
            "remote.group"
        };
        assert_eq!(
            scenario::error(&text).to_string(),
            format!(
                "s.yaml:{line}:{}: vpcs[1].security_groups[1].rules[0].{field}: {message}",
                col(line, "{ group:", &text)
            )
        );
    }
}

/// `vpclab export` writes a rule naming a peer VPC's group as `VPC/GROUP`; once the connection
/// is deleted the rule is stale (it matches nothing) and is left out, with a note, so that the
/// export still applies; its export is the same bytes.
#[tokio::test]
async fn export_writes_peer_group_references_and_leaves_stale_ones_out() {
    let dir = temp_dir("api-peering-export");
    let server = Server::start(&dir, Tenancy::single(Provider::Aws), defaults()).await;
    let url = server.url();
    vpclab_ok(&["apply", "scenarios/aws-vpc-peering.yaml", "--server", &url]).await;
    let rule = "{direction: ingress, action: allow, protocol: tcp, ports: 5432, remote: {group: \
                app/app-hosts}}";
    let live = export(&server).await;
    assert!(live.contains(rule), "{live}");

    let mut net = NetworkServiceClient::new(server.channel().await);
    unpeer(
        &mut net,
        format!("{P}/vpcPeeringConnections/pcx-0a1b2c3d4e5f60001"),
    )
    .await;
    let o = vpclab_ok(&["export", "--server", &url]).await;
    let stale = stdout(&o);
    assert!(!stale.contains("app/app-hosts"), "{stale}");
    assert!(
        stale.contains(
            "\n          - {direction: egress, action: allow, protocol: all, remote: \
                        0.0.0.0/0}\n    enis:\n      - name: data-host\n"
        ),
        "data-db keeps its other rule: {stale}"
    );
    assert!(
        stderr(&o).contains(
            "vpclab: note: security group `data-db` of VPC `data`: a rule refers to group \
             `app-hosts` of a VPC no longer peered (a stale rule, matching nothing): rule left out"
        ),
        "{}",
        stderr(&o)
    );
    // The same bytes, but for the note (the re-applied world has no stale rule to note).
    let unnoted: String = stale
        .lines()
        .filter(|l| !l.starts_with("# Note: "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        reapplied_export("api-peering-export-again", &stale).await,
        unnoted
    );
    server.stop().await;
}

/// A traffic script's rules may name a peer VPC's group as the file's rules do (`VPC/GROUP`):
/// db's rules are set again mid-run to admit app's hosts on 5433 too, and app-host's SYN to
/// 5433 is then ACCEPTed at db (which listens on 5432 only, so it answers with a RST); a VPC
/// the file does not have is an error at its line.
#[test]
fn a_script_names_a_peer_group_as_the_file_does() {
    let script = [
        "  - at: 45",
        "    set_security_group_rules:",
        "      vpc: data",
        "      group: data-db",
        "      rules:",
        "        - { direction: ingress, protocol: tcp, ports: 5432-5433, remote: { group: app/app-hosts } }",
        "        - { direction: egress, protocol: all, remote: 0.0.0.0/0 }",
        "  - at: 46",
        "    tcp: { from: app-host, to: db, port: 5433, sport: 45000 }",
        "",
    ]
    .join("\n");
    let text = scenario::replaced(
        SCENARIO,
        "  # Case 5: app-data deleted",
        &format!("{script}  # Case 5: app-data deleted"),
    );
    let dir = temp_dir("peer-group-script");
    let file = dir.join("s.yaml");
    std::fs::write(&file, &text).unwrap();
    let o = vpclab(&["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l
            == "5 eni-0b00000000000000e 10.0.1.10 10.1.1.40 45000 5433 6 1 60 ACCEPT ingress -"),
        "{out}"
    );
    let bad = scenario::replaced(
        &text,
        "ports: 5432-5433, remote: { group: app/app-hosts }",
        "ports: 5432-5433, remote: { group: nowhere/app-hosts }",
    );
    let line = scenario::line_of(&bad, "remote: { group: nowhere/app-hosts }");
    let col = bad
        .lines()
        .nth(line as usize - 1)
        .unwrap()
        .find("{ group:")
        .unwrap()
        + 1;
    assert_eq!(
        scenario::error(&bad).to_string(),
        format!(
            "s.yaml:{line}:{col}: traffic[6].set_security_group_rules.rules[0].remote.group: \
             no VPC named `nowhere` (in `nowhere/app-hosts`)"
        )
    );
}
