//! Router flow logs in scenario files: the `resource: {router, attachment}` form and its
//! errors (file, line, field), the window and filter rules, and how each output format prints
//! router records (router records in the router counterpart of an ENI format).

mod common;
use common::scenario::{error, line_of, refused, replaced};
use vpclab_controlplane::{Options, load, run};
use vpclab_sim::flowlog::format::Format;

const BASE: &str = include_str!("../scenarios/huawei-er-flow-log.yaml");
const RESOURCE: &str = "    resource: { router: er, attachment: vpc-b }\n";

/// The base scenario with `from` replaced by `to` (once).
fn broken(from: &str, to: &str) -> String {
    replaced(BASE, from, to)
}

/// The lines a scenario prints with these options.
fn lines(text: &str, opts: &Options) -> Vec<String> {
    let mut l = load("s.yaml", text, opts).expect("loads");
    let r = run(&mut l).expect("runs");
    r.lines().map(str::to_owned).collect()
}

#[test]
fn unknown_router_or_attachment() {
    let text = broken(
        RESOURCE,
        "    resource: { router: er2, attachment: vpc-b }\n",
    );
    let e = refused(
        &text,
        "flow_logs[0].resource.router",
        "no enterprise router named `er2`",
    );
    assert_eq!(e.line, line_of(&text, "router: er2"));

    let text = broken(
        RESOURCE,
        "    resource: { router: er, attachment: vpc-c }\n",
    );
    refused(
        &text,
        "flow_logs[0].resource.attachment",
        "enterprise router `er` has no attachment named `vpc-c`",
    );
}

#[test]
fn router_and_attachment_go_together_and_alone() {
    for resource in [
        "    resource: { router: er }\n",
        "    resource: { attachment: vpc-b }\n",
        "    resource: { router: er, attachment: vpc-b, vpc: vpc-b }\n",
    ] {
        let e = error(&broken(RESOURCE, resource));
        assert_eq!(e.field, "flow_logs[0].resource", "{resource}");
        assert_eq!(
            e.message,
            "a router flow log names `router` and `attachment`, and no eni, subnet or vpc"
        );
    }
}

#[test]
fn router_windows_and_no_filter() {
    let text = broken(RESOURCE, &format!("{RESOURCE}    window: 900\n"));
    let e = refused(
        &text,
        "flow_logs[0].window",
        "huawei does not allow a 900s router flow log window (allowed: 60 to 600 s)",
    );
    assert_eq!(e.line, line_of(&text, "window: 900"));
    let e = error(&broken(
        RESOURCE,
        &format!("{RESOURCE}    traffic: accepted\n"),
    ));
    assert!(e.field.starts_with("flow_logs[0]"), "{e}");
    assert!(e.message.contains("records all traffic"), "{e}");
    // 120 s is a huawei ER window (60-600): the ping window splits in five.
    let text = broken(RESOURCE, &format!("{RESOURCE}    window: 120\n"));
    let out = lines(&text, &Options::default());
    assert!(
        out.iter()
            .any(|l| l.ends_with(" 1670338595 1670338715 egress")),
        "{out:?}"
    );
}

/// The same records asked for in other formats: `aws` prints router records in the TGW
/// default, `huawei-er` as asked, `json` with the router path, `tencent` in its own shape.
#[test]
fn router_records_in_every_format() {
    let with = |format: &str| Options {
        format: Some(format.parse::<Format>().unwrap()),
        ..Options::default()
    };
    assert_eq!(
        lines(BASE, &with("huawei-er")),
        lines(BASE, &Options::default())
    );
    let aws = lines(BASE, &with("aws"));
    assert_eq!(aws.len(), 6);
    assert!(
        aws[0].starts_with(
            "6 TransitGatewayAttachment 0ebc7f641d80f4d32f9dc0056bdaae5b \
             740cc7e2-c686-496e-9fae-2dfc33e9d443 2756dc58-49be-413d-852f-accc5657a6c3 "
        ),
        "{}",
        aws[0]
    );
    let json: serde_json::Value = serde_json::from_str(&lines(BASE, &with("json"))[0]).unwrap();
    assert_eq!(
        json["capture"]["router_id"],
        "740cc7e2-c686-496e-9fae-2dfc33e9d443"
    );
    assert!(json["action"].is_null());
    let kv = lines(BASE, &with("tencent"));
    assert!(
        kv[0].contains("interface-id:2756dc58-49be-413d-852f-accc5657a6c3"),
        "{}",
        kv[0]
    );
    assert!(kv[0].contains("action:- "), "{}", kv[0]);
}
