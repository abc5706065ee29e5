//! A vpclab server in the test process, on loopback port 0, with its own data directory.
#![allow(dead_code)]

pub mod fixture;
pub mod scenario;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_types::StatusExt;
use vpclab_controlplane::api::{Cloud, Defaults, Tenancy, pb, serve};

#[allow(unused_imports)]
pub use pb::log_service_client::LogServiceClient;
#[allow(unused_imports)]
pub use pb::network_service_client::NetworkServiceClient;
#[allow(unused_imports)]
pub use pb::router_service_client::RouterServiceClient;
#[allow(unused_imports)]
pub use pb::simulation_service_client::SimulationServiceClient;

/// `vpclab ARGS` from the repository's root, as a user types it.
pub fn vpclab(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("vpclab runs")
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Each key of the object `want` has its value in `got`; keys `want` does not name are not
/// looked at.
#[track_caller]
pub fn assert_fields(got: &serde_json::Value, want: serde_json::Value) {
    for (key, value) in want.as_object().expect("expected fields as an object") {
        assert_eq!(&got[key], value, "{key} in {got}");
    }
}

/// The stderr of a run that must have ended with exit code `code`.
#[track_caller]
pub fn exit_stderr(o: &std::process::Output, code: i32) -> String {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{e}");
    e
}

/// A fresh, empty directory under the system temp dir, removed with everything in it when the
/// value is dropped (a failing test leaves it behind to look at).
pub fn temp_dir(name: &str) -> TempDir {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "vpclab-test-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A directory of [`temp_dir`]; derefs to its path.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The Python the tests that use real analyzers run (DuckDB, pandas, flowlogs-reader):
/// `VPCLAB_PYTHON`, else `.venv/bin/python` at the repository root. Neither is a failure, not a
/// skip: the README's test set-up creates it.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VPCLAB_PYTHON") {
        let p = PathBuf::from(p);
        assert!(p.exists(), "VPCLAB_PYTHON={} does not exist", p.display());
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no VPCLAB_PYTHON and no {}: create it at the repository root with \
         `python3 -m venv .venv && .venv/bin/pip install -q duckdb pandas pyarrow flowlogs-reader`",
        venv.display()
    );
    venv
}

/// The 14 fields of the AWS-v2 shape, in order: AWS's default format, Tencent's ENI flow logs,
/// Huawei's VPC flow logs (with `project-id` for `account-id`).
pub fn v2_fields() -> Vec<&'static str> {
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes \
     start end action log-status"
        .split(' ')
        .collect()
}

pub struct Server {
    pub addr: SocketAddr,
    /// The cloud it serves (how it was restored, its store).
    pub cloud: Arc<Cloud>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Server {
    pub async fn start(dir: &Path, tenancy: Tenancy, defaults: Defaults) -> Server {
        let cloud = Arc::new(Cloud::open(dir, defaults).expect("open the data dir"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, cloud.clone(), Arc::new(tenancy), async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            cloud,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Stops gracefully and waits until the data directory is released.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

/// The shipped defaults, but for the seed and the virtual start time.
pub fn seeded(seed: u64, start: u64) -> Defaults {
    Defaults {
        seed,
        start,
        ..Defaults::default()
    }
}

/// The refusal of a request that should have been refused.
#[track_caller]
pub fn err<T: Debug>(r: Result<T, Status>) -> Status {
    match r {
        Ok(v) => panic!("the request should have been refused, got {v:?}"),
        Err(s) => s,
    }
}

/// (code, field) of a refusal.
#[track_caller]
pub fn refused<T: Debug>(r: Result<T, Status>) -> (tonic::Code, String) {
    let s = err(r);
    (s.code(), field(&s))
}

/// (type, subject) of each PreconditionFailure violation.
pub fn preconditions(s: &Status) -> Vec<(String, String)> {
    s.get_details_precondition_failure()
        .map(|p| {
            p.violations
                .into_iter()
                .map(|v| (v.r#type, v.subject))
                .collect()
        })
        .unwrap_or_default()
}

/// A request carrying `authorization: Bearer <token>`.
pub fn auth<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

/// The field violations of a status, as (field, description).
pub fn violations(s: &tonic::Status) -> Vec<(String, String)> {
    s.get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// The single field a refused request names.
pub fn field(s: &tonic::Status) -> String {
    let v = violations(s);
    assert_eq!(v.len(), 1, "one field violation expected: {s:?}");
    v[0].0.clone()
}

pub fn ts(secs: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: secs as i64,
        nanos: 0,
    }
}
