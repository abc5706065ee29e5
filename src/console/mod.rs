//! `vpclab ui FILE --http ADDR`: a local web console for one scenario. The page (plain
//! HTML, CSS and JS in `assets/`, built into the binary: nothing is fetched from outside)
//! shows the scenario's description and its picture (`vpclab graph`'s), its records in a
//! table to filter, each record's explanation (the packets it counts and their paths and
//! verdicts), the flow-log dashboard the Tencent seed describes, and an editor to change the
//! scenario and run it again.
//!
//! The JSON API the page uses (README, "Console"):
//! - `GET /api/state`: the scenario and its run (records as table rows and facts).
//! - `GET /api/records/N`: the Nth record's explanation (1-based, in output order).
//! - `GET /api/graph.svg`: the topology and the run's flows, as `vpclab graph` draws them.
//! - `POST /api/run` with the YAML as the body: load and run it; on success it becomes the
//!   console's scenario and the answer is the new state; a file that does not load or run is
//!   refused (400, the loader's error naming file, line and field) and changes nothing.
//!
//! Costs are bounded: a request body holds at most [`MAX_BODY`] bytes (413 beyond), one run
//! at a time (429 while one runs), a run sends at most `--max-packets` packets (default
//! [`MAX_PACKETS`]; a file that sends more is refused like one that does not load), at most [`MAX_RECORDS`] records are kept and sent (the
//! state says how many more there were), explanations are kept for the first
//! [`MAX_EXPLAINED`] packets, and workloads (`workload:` sections, for `vpclab generate`) are
//! refused. It listens on loopback only: it has no authentication.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::rejection::StringRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use vpclab_controlplane::run::run_within;
use vpclab_controlplane::{Loaded, Options, load};
use vpclab_sim::explain;
use vpclab_sim::flowlog::Record;

use crate::graph::{self, GraphFormat};
use crate::output::say;

pub mod server;

/// Bytes of a `POST /api/run` body (a scenario file; the shipped ones are under 20 KiB).
pub const MAX_BODY: usize = 1 << 20;
/// Records kept and sent per run; the state's `more` counts the others.
pub const MAX_RECORDS: usize = 5_000;
/// Packets a run may send, by default (`vpclab ui --max-packets`): a run keeps each packet's
/// outcome (a few hundred bytes), so this bounds its memory and time.
pub const MAX_PACKETS: u64 = 500_000;
/// Packets whose explanation lines are kept per run (the first ones sent).
pub const MAX_EXPLAINED: usize = 20_000;

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
const CONSOLE_JS: &str = include_str!("assets/console.js");

/// One run of the scenario, as the page shows it.
struct View {
    /// `GET /api/state`'s body.
    state: String,
    /// `GET /api/records/N`'s bodies, by N - 1.
    records: Vec<String>,
    /// `GET /api/graph.svg`: the topology and the run's flows (`vpclab graph`'s picture).
    graph: String,
}

struct Console {
    /// The scenario file's name, as errors name it.
    file: String,
    /// Packets a run may send ([`run_within`]): a run keeps every packet's outcome.
    max_packets: u64,
    view: Mutex<Arc<View>>,
    /// One run at a time: a run holds the permit until it ends, even when the request that
    /// started it has gone.
    running: Arc<Semaphore>,
}

/// `vpclab ui FILE --http ADDR`: serves the console until interrupted (SIGINT, SIGTERM).
pub fn ui(file: &Path, http: SocketAddr, max_packets: u64) -> ExitCode {
    if !http.ip().is_loopback() {
        return crate::fail(
            crate::BAD_INPUT,
            &format!("--http {http}: the console has no authentication; listen on loopback"),
        );
    }
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return crate::fail(crate::BAD_INPUT, &format!("{name}: cannot read: {e}")),
    };
    let view = match view(&name, &text, max_packets) {
        Ok(v) => v,
        Err(e) => return crate::fail(crate::BAD_INPUT, e["error"].as_str().unwrap_or("")),
    };
    let console = Arc::new(Console {
        file: name,
        max_packets,
        view: Mutex::new(Arc::new(view)),
        running: Arc::new(Semaphore::new(1)),
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return crate::fail(1, &format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(http).await {
            Ok(l) => l,
            Err(e) => return crate::fail(crate::BAD_INPUT, &format!("--http {http}: {e}")),
        };
        let addr = listener.local_addr().unwrap_or(http);
        say!("vpclab: console on http://{addr}/");
        match axum::serve(listener, router(console))
            .with_graceful_shutdown(crate::serve::shutdown_signal())
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => crate::fail(1, &format!("the console stopped: {e}")),
        }
    })
}

/// `routes` with the page and its assets.
fn with_assets<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/console.css",
            get(|| async { asset("text/css; charset=utf-8", CONSOLE_CSS) }),
        )
        .route(
            "/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_JS) }),
        )
}

fn router(console: Arc<Console>) -> Router {
    with_assets(Router::new())
        .route("/api/state", get(state))
        .route("/api/records/{n}", get(record))
        .route("/api/graph.svg", get(graph))
        .route("/api/run", post(rerun))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(console)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn json_body(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn current(c: &Console) -> Arc<View> {
    c.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

async fn state(State(c): State<Arc<Console>>) -> Response {
    json_body(StatusCode::OK, current(&c).state.clone())
}

async fn graph(State(c): State<Arc<Console>>) -> Response {
    let svg = current(&c).graph.clone();
    (
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        svg,
    )
        .into_response()
}

async fn record(State(c): State<Arc<Console>>, UrlPath(n): UrlPath<String>) -> Response {
    let view = current(&c);
    match n.parse::<usize>().ok().and_then(|n| n.checked_sub(1)) {
        Some(i) if i < view.records.len() => json_body(StatusCode::OK, view.records[i].clone()),
        _ => json_body(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no record {n}: the run shows {} records (1 to {0})",
                view.records.len())})
            .to_string(),
        ),
    }
}

async fn rerun(State(c): State<Arc<Console>>, text: Result<String, StringRejection>) -> Response {
    // A body over the limit (413) or not UTF-8 (400), said in JSON as the page shows errors.
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            let error = match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    format!("the scenario is over the console's limit of {MAX_BODY} bytes")
                }
                _ => format!("{}: {}", c.file, e.body_text()),
            };
            return json_body(e.status(), json!({ "error": error }).to_string());
        }
    };
    let Ok(permit) = c.running.clone().try_acquire_owned() else {
        return json_body(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "a run is in progress: try again when it ends"}).to_string(),
        );
    };
    let (file, max_packets) = (c.file.clone(), c.max_packets);
    let made = tokio::task::spawn_blocking(move || {
        let _running = permit;
        view(&file, &text, max_packets)
    })
    .await;
    match made {
        Ok(Ok(v)) => {
            let state = v.state.clone();
            *c.view.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(v);
            json_body(StatusCode::OK, state)
        }
        Ok(Err(e)) => json_body(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => json_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("the run failed: {e}")}).to_string(),
        ),
    }
}

/// Seconds from the scenario's start to `t`, to the microsecond.
fn rel(l: &Loaded, t: vpclab_sim::time::Time) -> f64 {
    (t.micros() as i64 - l.start.micros() as i64) as f64 / 1e6
}

/// Loads and runs the scenario `text` (named `file` in errors) and lays out what the page
/// shows; or the error as `{"error": "file:line:column: field: message", "line": …}`.
fn view(file: &str, text: &str, max_packets: u64) -> Result<View, Value> {
    let opts = Options {
        explain: true,
        ..Options::default()
    };
    let mut l = load(file, text, &opts).map_err(|e| {
        json!({
            "error": e.to_string(),
            "file": e.file,
            "line": e.line,
            "column": e.column,
            "field": e.field,
            "message": e.message,
        })
    })?;
    if l.workload.is_some() {
        return Err(json!({
            "error": format!(
                "{file}: a workload (`workload:`) is a dataset for `vpclab generate`; \
                 the console runs scenarios"
            )
        }));
    }
    // The picture's topology is the world before the run (its script may change it).
    let topology = graph::Topology::of(&l.sim.world);
    let result =
        run_within(&mut l, max_packets).map_err(|e| json!({"error": format!("{file}: {e}")}))?;
    let flows = graph::Flows::of(&l.sim.world, &result);
    let picture = graph::render(&topology, Some(&flows), GraphFormat::Svg);
    // What clicking flow N of the picture filters the table by: its sender's address and
    // the action of the records it made.
    let addresses = addresses(&topology);
    let drawn: Vec<Value> = flows
        .flows
        .iter()
        .take(graph::MAX_FLOWS)
        .enumerate()
        .map(|(i, f)| {
            json!({
                "n": i + 1,
                "addr": addresses.get(&f.from).map(|a| a.to_string()),
                "action": if f.accepted { "ACCEPT" } else { "REJECT" },
            })
        })
        .collect();
    // The table's columns: the cloud's positional fields, as `--format table` shows them.
    let columns = crate::table::positional(&l.format);
    let printed: Vec<&Record> = result
        .records
        .iter()
        .filter(|r| l.format.prints(r))
        .collect();
    let outcomes: BTreeMap<u64, &vpclab_sim::world::Outcome> = result
        .outcomes
        .iter()
        .take(MAX_EXPLAINED)
        .map(|o| (o.id, o))
        .collect();
    let mut rows = Vec::new();
    let mut details = Vec::new();
    for (i, (r, p)) in printed
        .iter()
        .zip(&result.printed)
        .take(MAX_RECORDS)
        .enumerate()
    {
        let fields = match &columns {
            Some(f) => vpclab_controlplane::expect::Printed::new(r, f).fields,
            None => p.fields.clone(),
        };
        let eni = r
            .capture
            .router_id
            .clone()
            .or_else(|| r.capture.ccn.as_ref().map(|c| c.ccn_id.clone()))
            .unwrap_or_else(|| r.capture.interface_id.clone());
        let mut row = json!({
            "n": i + 1,
            "line": p.line,
            "fields": fields,
            "eni": eni,
            "status": r.status.as_str(),
            "window": [rel(&l, r.window_start), rel(&l, r.window_end)],
        });
        if let Some(f) = &r.flow {
            let extra = json!({
                "action": f.action.as_str(),
                "direction": f.direction.as_str(),
                "src": f.tuple.src.to_string(),
                "dst": f.tuple.dst.to_string(),
                "sport": f.tuple.sport,
                "dport": f.tuple.dport,
                "protocol": f.tuple.protocol,
                "packets": f.packets,
                "bytes": f.bytes,
                "first": rel(&l, f.first),
                "last": rel(&l, f.last),
            });
            if let (Some(row), Value::Object(extra)) = (row.as_object_mut(), extra) {
                row.extend(extra);
            }
        }
        rows.push(row);
        let ids = &r.truth.packet_ids;
        let explained: Vec<Vec<String>> = ids
            .iter()
            .filter_map(|id| outcomes.get(id))
            .map(|o| explain::packet(&l.sim.world, o, Some(l.start)))
            .collect();
        // The record's "why", as `--explain` prints it under the record: its packets, the
        // decisions in plain words, the way they went, a hint for the classic mistakes.
        let why: Vec<String> = result
            .why(&l, i + 1)
            .unwrap_or_default()
            .into_iter()
            .map(|line| line.strip_prefix("    ").unwrap_or(&line).to_string())
            .collect();
        details.push(
            json!({
                "n": i + 1,
                "line": p.line,
                "packets": ids,
                "why": why,
                "decisions": r.truth.decisions,
                "explanations": explained,
                "unexplained": ids.len() - explained.len(),
            })
            .to_string(),
        );
    }
    // The file's `expect:` assertions: a learner's edit shows which no longer hold.
    let failures: Vec<Value> = result
        .check(&l)
        .into_iter()
        .map(|f| json!({"line": f.line, "message": f.message}))
        .collect();
    let notes: Vec<String> = result
        .notes
        .iter()
        .map(|n| vpclab_controlplane::run::note_line(n, Some(l.start)))
        .collect();
    let state = json!({
        "file": file,
        "name": l.name,
        "description": l.description,
        "provider": l.provider.to_string(),
        "format": l.format.name(),
        "yaml": text,
        "records": rows,
        "total": printed.len(),
        "more": printed.len().saturating_sub(MAX_RECORDS),
        "packets": result.outcomes.len(),
        "notes": notes,
        "graph": true,
        "flows": drawn,
        "expectations": {"count": l.expectations.len(), "failures": failures},
        "limits": {
            "body_bytes": MAX_BODY,
            "records": MAX_RECORDS,
            "explained_packets": MAX_EXPLAINED,
        },
    });
    Ok(View {
        state: state.to_string(),
        records: details,
        graph: picture,
    })
}

/// The address of each interface and host the picture draws, by its key.
fn addresses(t: &graph::Topology) -> BTreeMap<graph::Key, std::net::Ipv4Addr> {
    let mut out = BTreeMap::new();
    for v in t.regions.iter().flat_map(|r| &r.vpcs) {
        for s in v.zones.iter().flat_map(|z| &z.subnets) {
            for e in &s.enis {
                out.insert(e.key.clone(), e.ip);
            }
            for n in &s.nats {
                out.insert(n.key.clone(), n.ip);
            }
        }
    }
    for h in t
        .internet_hosts
        .iter()
        .chain(t.sites.iter().flat_map(|s| &s.hosts))
    {
        out.insert(h.key.clone(), h.ip);
    }
    out
}
