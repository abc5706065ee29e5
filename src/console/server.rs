//! The console of `vpclab serve --http ADDR`: the page of `vpclab ui`, read-only, for the
//! caller's project on the server: its topology (`GET /api/graph.svg`, without flows: the
//! server keeps no packets) and the records its log service holds, in the table, the filters
//! and the dashboard. A server with `--tokens` needs the project's bearer token (the
//! page asks for it and sends it as `Authorization: Bearer …`, as gRPC callers do).
//!
//! `GET /api/state` answers the shape of `vpclab ui`'s state with `"mode": "server"`, no YAML
//! (there is no file to edit) and the first [`MAX_RECORDS`] records of each of the project's
//! log streams (`truncated` when a stream holds more). A stored record is its line: its fields
//! are named by its flow log's format, and there are no packets to explain.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use tonic::metadata::MetadataMap;
use vpclab_controlplane::api::{Caller, Cloud, Tenancy};
use vpclab_controlplane::expect::fields_of;
use vpclab_controlplane::store::StoredRecord;
use vpclab_sim::flowlog::format::Format;

use super::{MAX_RECORDS, json_body, with_assets};
use crate::graph::{self, GraphFormat};

struct Server {
    cloud: Arc<Cloud>,
    tenancy: Arc<Tenancy>,
}

impl Server {
    /// Who asks (the bearer token in the headers), or the 401 the page shows as a token prompt.
    fn caller(&self, headers: HeaderMap) -> Result<Caller, Box<Response>> {
        self.tenancy
            .caller(&MetadataMap::from_headers(headers))
            .map_err(|e| {
                Box::new(json_body(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": e.message, "auth": true}).to_string(),
                ))
            })
    }
}

/// The console's routes for a server's projects.
pub fn router(cloud: Arc<Cloud>, tenancy: Arc<Tenancy>) -> Router {
    with_assets(
        Router::new()
            .route("/api/state", get(state))
            .route("/api/graph.svg", get(graph)),
    )
    .with_state(Arc::new(Server { cloud, tenancy }))
}

async fn state(State(s): State<Arc<Server>>, headers: HeaderMap) -> Response {
    let caller = match s.caller(headers) {
        Ok(c) => c,
        Err(refused) => return *refused,
    };
    let cloud = s.cloud.clone();
    match tokio::task::spawn_blocking(move || project_state(&cloud, &caller)).await {
        Ok(Ok(body)) => json_body(StatusCode::OK, body),
        Ok(Err(e)) => json_body(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": e }).to_string(),
        ),
        Err(e) => json_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("the read failed: {e}")}).to_string(),
        ),
    }
}

/// The project's topology as `vpclab graph` draws it, without flows (the server keeps no
/// packets).
async fn graph(State(s): State<Arc<Server>>, headers: HeaderMap) -> Response {
    let caller = match s.caller(headers) {
        Ok(c) => c,
        Err(refused) => return *refused,
    };
    let cloud = s.cloud.clone();
    let drawn = tokio::task::spawn_blocking(move || {
        cloud.read(&caller, |p| {
            let t = graph::Topology::of(p.world());
            Ok(graph::render(&t, None, GraphFormat::Svg))
        })
    })
    .await;
    match drawn {
        Ok(Ok(svg)) => (
            [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
            svg,
        )
            .into_response(),
        Ok(Err(e)) => json_body(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": e.to_string()}).to_string(),
        ),
        Err(e) => json_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("the read failed: {e}")}).to_string(),
        ),
    }
}

/// The caller's project as the page shows it.
fn project_state(cloud: &Cloud, caller: &Caller) -> Result<String, String> {
    let (streams, provider, start, now) = cloud
        .read(caller, |p| {
            let streams: Vec<String> = p
                .world()
                .logs
                .streams
                .iter()
                .filter(|s| !s.deleted)
                .map(|s| s.id.clone())
                .collect();
            Ok((streams, p.provider, p.start, p.now()))
        })
        .map_err(|e| e.to_string())?;
    let project = &caller.project;
    let mut records: Vec<StoredRecord> = Vec::new();
    let mut truncated = false;
    for stream in &streams {
        let mut got = cloud
            .store()
            .query(project, stream, 0, u64::MAX, &[], None, MAX_RECORDS + 1)
            .map_err(|e| format!("the log store failed: {e}"))?;
        if got.len() > MAX_RECORDS {
            got.truncate(MAX_RECORDS);
            truncated = true;
        }
        records.extend(got);
    }
    records.sort_by_key(|r| (r.time_us, r.seq));
    let flow_logs: BTreeSet<&str> = records.iter().map(|r| r.flow_log.as_str()).collect();
    let formats = cloud
        .read(caller, |p| {
            Ok(flow_logs
                .iter()
                .filter_map(|id| Some((id.to_string(), p.flow_log_format(id)?)))
                .collect::<BTreeMap<_, _>>())
        })
        .map_err(|e| e.to_string())?;
    let origin = start.secs();
    let rows: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let fields = formats
                .get(&r.flow_log)
                .map(|f| columns(&r.line, f))
                .unwrap_or_default();
            let mut row = facts(&fields, origin);
            row.entry("eni").or_insert_with(|| json!(r.flow_log));
            row.entry("window").or_insert_with(|| {
                let t = r.time_us as f64 / 1e6 - origin as f64;
                json!([t, t])
            });
            row.insert("n".into(), json!(i + 1));
            row.insert("line".into(), json!(r.line));
            row.insert("fields".into(), json!(fields));
            Value::Object(row)
        })
        .collect();
    let elapsed = now.secs().saturating_sub(origin);
    Ok(json!({
        "mode": "server",
        "name": project,
        "description": format!(
            "Project {project} on this vpclab server ({provider}), at t+{elapsed}s: the records \
             its log service holds in {} log streams. The log service keeps records, not the \
             packets behind them: run the scenario with `vpclab ui` or `vpclab run --explain` \
             to see those.",
            streams.len()
        ),
        "provider": provider.to_string(),
        "records": rows,
        "total": records.len(),
        "more": 0,
        "truncated": truncated,
        "notes": [],
        "graph": true,
        "flows": [],
        "expectations": {"count": 0, "failures": []},
        "limits": {"records": MAX_RECORDS},
    })
    .to_string())
}

/// What the table's filters and the dashboard read, from a record's named fields (every
/// cloud's formats name them alike: `srcaddr`, `dstport`, `action`…); times in seconds from
/// the project's start.
fn facts(fields: &[(String, String)], origin: u64) -> Map<String, Value> {
    let get = |names: &[&str]| {
        fields
            .iter()
            .find(|(k, v)| names.contains(&k.as_str()) && v != "-")
            .map(|(_, v)| v.as_str())
    };
    let number = |names: &[&str]| get(names).and_then(|v| v.parse::<u64>().ok());
    let mut m = Map::new();
    if let Some(eni) = get(&["interface-id", "eni-id", "tgw-attachment-id", "resource-id"]) {
        m.insert("eni".into(), json!(eni));
    }
    if let Some(a) = get(&["action"]) {
        m.insert("action".into(), json!(a));
    }
    if let Some(s) = get(&["log-status", "log_status", "status"]) {
        m.insert("status".into(), json!(s));
    }
    for (key, names) in [
        ("src", ["srcaddr", "src-addr"]),
        ("dst", ["dstaddr", "dst-addr"]),
    ] {
        if let Some(v) = get(&names) {
            m.insert(key.into(), json!(v));
        }
    }
    for (key, name) in [
        ("sport", "srcport"),
        ("dport", "dstport"),
        ("protocol", "protocol"),
        ("packets", "packets"),
        ("bytes", "bytes"),
    ] {
        if let Some(v) = number(&[name]) {
            m.insert(key.into(), json!(v));
        }
    }
    if let (Some(s), Some(e)) = (number(&["start"]), number(&["end"])) {
        let rel = |t: u64| t as f64 - origin as f64;
        m.insert("window".into(), json!([rel(s), rel(e)]));
    }
    m
}

/// A stored line's named fields in the columns of `--format table` (tencent's key/value
/// lines in its positional order), any other field after them.
fn columns(line: &str, format: &Format) -> Vec<(String, String)> {
    let mut fields = fields_of(line, format);
    if let Some(order) = crate::table::positional(format).and_then(|p| p.positional_fields()) {
        let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(order.len());
        // A stable sort: fields without a column keep their order, after the columns.
        fields.sort_by_key(|(k, _)| rank(k));
    }
    fields
}
