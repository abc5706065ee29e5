//! `vpclab generate FILE --out DIR`: runs a scenario (usually one with a `workload:`) and
//! writes what the cloud would have delivered (the provider's layout, `deliver`), the truth
//! behind it (`truth/incidents.jsonl`, `truth/records.jsonl`) and a summary, as
//! `docs/generate.md` describes. Windows are written as they close, so memory follows the
//! open windows and the incidents' record keys, not the day.
//!
//! The directory is written beside its destination and renamed into place when complete:
//! an interrupted run leaves no half-written `DIR`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use vpclab_controlplane::deliver::{Delivery, FileFormat, Target};
use vpclab_controlplane::load::Incident;
use vpclab_controlplane::{Loaded, Options};
use vpclab_sim::flowlog::Record;
use vpclab_sim::profile::Provider;
use vpclab_sim::time::Time;

use crate::{BAD_INPUT, fail, load_file};

pub struct Args {
    pub file: PathBuf,
    pub out: PathBuf,
    pub force: bool,
    pub provider: Option<String>,
    pub file_format: String,
    pub quiet: bool,
    pub per_packet: bool,
}

pub fn run(a: &Args) -> ExitCode {
    let provider = match parse_provider(a.provider.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    let file_format = match a.file_format.as_str() {
        "text" => FileFormat::Text,
        "parquet" => FileFormat::Parquet,
        other => {
            return fail(
                BAD_INPUT,
                &format!("--file-format: `{other}`: expected text or parquet"),
            );
        }
    };
    if let Err(e) = check_out(&a.out, a.force) {
        return fail(BAD_INPUT, &e);
    }
    let mut loaded = match load_file(&a.file, &options(provider)) {
        Ok(l) => l,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    let aside = aside_dir(&a.out);
    let result = fs::create_dir_all(&aside)
        .map_err(|e| format!("{}: {e}", aside.display()))
        .and_then(|()| {
            let how = How {
                progress: !a.quiet,
                stop: None,
                per_packet: a.per_packet,
            };
            generate(&mut loaded, &aside, file_format, &how)
        })
        .and_then(|summary| {
            finish_dir(&aside, &a.out, a.force)?;
            Ok(summary)
        });
    match result {
        Ok(s) => {
            eprintln!(
                "vpclab: wrote {}: {} records ({} with incident packets), {} files, {} incidents",
                a.out.display(),
                s.records,
                s.labelled_records,
                s.files.len(),
                s.incidents.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&aside);
            fail(1, &e)
        }
    }
}

/// `--provider`, if given.
pub fn parse_provider(arg: Option<&str>) -> Result<Option<Provider>, String> {
    arg.map(str::parse::<Provider>)
        .transpose()
        .map_err(|e| format!("--provider: {e}"))
}

/// When a loaded scenario's traffic ends: its workload's end, else its `until`, else now.
pub fn script_end(l: &Loaded) -> Time {
    l.workload
        .as_ref()
        .map(|w| w.end)
        .or(l.until)
        .unwrap_or(l.sim.now())
}

/// How `generate` loads a scenario: records keep only their labels (not every packet id),
/// so memory follows the open windows.
pub fn options(provider: Option<Provider>) -> Options {
    Options {
        provider,
        labels_only: true,
        ..Options::default()
    }
}

/// How a run goes, beyond what the scenario says.
pub struct How {
    /// A progress bar on standard error.
    pub progress: bool,
    /// Stop the traffic at the first instant at or after this one (`vpclab bench generate
    /// --hours`): what is still scheduled is dropped, and the open windows close as at the
    /// end of a full run. `None` runs the whole script.
    pub stop: Option<Time>,
    /// Every packet through the pipeline: no packet trains (`--per-packet`; the records are
    /// the same, a test compares them).
    pub per_packet: bool,
}

/// `DIR` may be written: absent, empty, or `--force`.
fn check_out(out: &Path, force: bool) -> Result<(), String> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(format!(
                    "{}: not empty (use --force to replace it)",
                    out.display()
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(format!("{}: not a directory", out.display()))
        }
        Err(e) => Err(format!("{}: {e}", out.display())),
    }
}

/// `DIR.partial-PID` beside `DIR`.
fn aside_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Moves the finished directory into place (replacing what `--force` allowed to replace).
fn finish_dir(aside: &Path, out: &Path, force: bool) -> Result<(), String> {
    if out.exists() {
        let empty = fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty && !force {
            return Err(format!(
                "{}: became non-empty during the run",
                out.display()
            ));
        }
        let old = out.with_file_name(format!(
            ".{}.old-{}",
            out.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        fs::rename(out, &old).map_err(|e| format!("{}: {e}", out.display()))?;
        fs::rename(aside, out).map_err(|e| format!("{}: {e}", out.display()))?;
        fs::remove_dir_all(&old).map_err(|e| format!("{}: {e}", old.display()))?;
        return Ok(());
    }
    fs::rename(aside, out).map_err(|e| format!("{}: {e}", out.display()))
}

/// What `summary.json` holds.
#[derive(Serialize, Default)]
pub struct Summary {
    pub provider: String,
    pub start: u64,
    pub end: u64,
    pub records: u64,
    pub labelled_records: u64,
    pub packets: u64,
    /// Records per action (`ACCEPT`, `REJECT`, `-` for NODATA, SKIPDATA and router records).
    pub by_action: BTreeMap<&'static str, u64>,
    /// Records per log status.
    pub by_status: BTreeMap<&'static str, u64>,
    /// Records per capture window (its start, Unix seconds).
    pub by_window: BTreeMap<u64, u64>,
    /// Per incident kind: incidents, records that count their packets, those packets.
    pub incidents: BTreeMap<String, KindSummary>,
    pub files: Vec<FileSummary>,
}

#[derive(Serialize, Default)]
pub struct KindSummary {
    pub incidents: u64,
    pub records: u64,
    pub packets: u64,
}

#[derive(Serialize)]
pub struct FileSummary {
    pub path: String,
    pub records: u64,
}

/// A record's key (docs/generate.md, "Record keys"); `None` for NODATA and SKIPDATA.
pub fn record_key(r: &Record) -> Option<String> {
    let f = r.flow.as_ref()?;
    let t = &f.tuple;
    let ports = |p: u16| {
        if matches!(t.protocol, 6 | 17) || p != 0 {
            p.to_string()
        } else {
            "0".to_string()
        }
    };
    let action = if r.capture.is_router() {
        "-"
    } else {
        f.action.as_str()
    };
    Some(format!(
        "{}/{}/{}:{}>{}:{}/{}/{}/{}",
        r.flow_log_id,
        r.capture.interface_id,
        t.src,
        ports(t.sport),
        t.dst,
        ports(t.dport),
        t.protocol,
        f.first.secs(),
        action
    ))
}

/// One incident's line of `truth/incidents.jsonl`.
#[derive(Serialize)]
struct IncidentLine<'a> {
    id: &'a str,
    kind: &'a str,
    start: f64,
    end: f64,
    actors: Vec<String>,
    targets: Vec<String>,
    resources: &'a [String],
    ports: &'a [u16],
    packets: u64,
    records: &'a [String],
}

/// What the run learns about an incident from its records.
#[derive(Default)]
struct Seen {
    packets: u64,
    first: Option<Time>,
    last: Option<Time>,
    keys: Vec<String>,
}

fn secs_f(t: Time) -> f64 {
    t.micros() as f64 / 1e6
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// The run itself: simulates `l`, delivering its records into `dir` (which must exist) and
/// writing the truth and the summary there. `vpclab generate` and `vpclab bench generate`
/// both run this.
pub fn generate(
    l: &mut Loaded,
    dir: &Path,
    file_format: FileFormat,
    how: &How,
) -> Result<Summary, String> {
    let progress = how.progress;
    l.sim.use_trains(!how.per_packet);
    let world = &l.sim.world;
    let target = Target {
        provider: l.provider,
        account: world.account_id.clone(),
        region: world.region.clone(),
        file_format,
    };
    let mut delivery = Delivery::new(dir, target).map_err(|e| e.to_string())?;
    let truth_dir = dir.join("truth");
    fs::create_dir_all(&truth_dir).map_err(io(&truth_dir))?;
    let records_path = truth_dir.join("records.jsonl");
    let mut labelled = BufWriter::new(File::create(&records_path).map_err(io(&records_path))?);
    let incidents: Vec<Incident> = l
        .workload
        .as_ref()
        .map(|w| w.incidents.clone())
        .unwrap_or_default();
    let mut seen: BTreeMap<String, Seen> = incidents
        .iter()
        .map(|i| (i.id.clone(), Seen::default()))
        .collect();
    let start = l.sim.now();
    let end = script_end(l);
    let mut summary = Summary {
        provider: l.provider.to_string(),
        start: start.secs(),
        ..Summary::default()
    };

    let bar = if progress {
        ProgressBar::with_draw_target(
            Some(end.micros().saturating_sub(start.micros()) / 1_000_000),
            ProgressDrawTarget::stderr_with_hz(4),
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} virtual {pos}/{len} s  wall {elapsed}  {msg}")
            .map_err(|e| e.to_string())?,
    );
    let wall = Instant::now();

    let mut take = |l: &mut Loaded, summary: &mut Summary| -> Result<(), String> {
        for r in l.sim.world.take_records() {
            if !l.format.prints(&r) {
                continue;
            }
            summary.records += 1;
            let action = match &r.flow {
                Some(f) if !r.capture.is_router() => f.action.as_str(),
                _ => "-",
            };
            *summary.by_action.entry(action).or_default() += 1;
            *summary.by_status.entry(r.status.as_str()).or_default() += 1;
            *summary.by_window.entry(r.window_start.secs()).or_default() += 1;
            if let Some(f) = &r.flow {
                summary.packets += f.packets;
            }
            let incident_labels: Vec<&(std::sync::Arc<str>, u64)> = r
                .truth
                .labels
                .iter()
                .filter(|(name, _)| &**name != "benign")
                .collect();
            if !incident_labels.is_empty()
                && let (Some(key), Some(f)) = (record_key(&r), &r.flow)
            {
                summary.labelled_records += 1;
                let labels: BTreeMap<&str, u64> =
                    r.truth.labels.iter().map(|(n, c)| (&**n, *c)).collect();
                serde_json::to_writer(
                    &mut labelled,
                    &serde_json::json!({"key": key, "labels": labels}),
                )
                .map_err(|e| format!("{}: {e}", records_path.display()))?;
                labelled.write_all(b"\n").map_err(io(&records_path))?;
                for (name, n) in incident_labels {
                    if let Some(s) = seen.get_mut(&**name) {
                        s.packets += n;
                        s.first = Some(s.first.map_or(f.first, |t| t.min(f.first)));
                        s.last = Some(s.last.map_or(f.last, |t| t.max(f.last)));
                        s.keys.push(key.clone());
                    }
                }
            }
            delivery.record(&r).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    let mut last_shown = Instant::now();
    loop {
        // Before `stop`, no instant runs past it, and neither does a packet train, so that
        // the run stops at the same instant with trains as without.
        let before_stop = how
            .stop
            .filter(|&t| l.sim.now() < t)
            .map(|t| Time(t.micros().saturating_sub(1)));
        let mut more = match before_stop {
            Some(until) => l.sim.step_script_until(until),
            None => l.sim.step_script(),
        }
        .map_err(|e| e.to_string())?;
        if !more && before_stop.is_some() {
            // Nothing left before `stop`: the first instant at or after it, then the stop.
            more = l.sim.step_script().map_err(|e| e.to_string())?;
        }
        take(l, &mut summary)?;
        if progress && last_shown.elapsed().as_millis() >= 250 {
            last_shown = Instant::now();
            bar.set_position(l.sim.now().micros().saturating_sub(start.micros()) / 1_000_000);
            let rate = summary.records as f64 / wall.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{} records ({rate:.0}/s)", summary.records));
        }
        if !more {
            break;
        }
        if how.stop.is_some_and(|t| l.sim.now() >= t) {
            l.sim.drop_pending_traffic();
            break;
        }
    }
    let closed = l.sim.close_windows().map_err(|e| e.to_string())?;
    take(l, &mut summary)?;
    bar.finish_and_clear();
    summary.end = closed.secs();
    labelled.flush().map_err(io(&records_path))?;
    drop(labelled);

    // Incidents, with what their records showed.
    let inc_path = truth_dir.join("incidents.jsonl");
    let mut out = BufWriter::new(File::create(&inc_path).map_err(io(&inc_path))?);
    let mut ordered: Vec<&Incident> = incidents.iter().collect();
    ordered.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    for i in ordered {
        let s = &seen[&i.id];
        let line = IncidentLine {
            id: &i.id,
            kind: i.kind,
            start: secs_f(s.first.unwrap_or(i.start)),
            end: secs_f(s.last.unwrap_or(i.end)),
            actors: i.actors.iter().map(|a| a.to_string()).collect(),
            targets: i.targets.iter().map(|a| a.to_string()).collect(),
            resources: &i.resources,
            ports: &i.ports,
            packets: s.packets,
            records: &s.keys,
        };
        serde_json::to_writer(&mut out, &line)
            .map_err(|e| format!("{}: {e}", inc_path.display()))?;
        out.write_all(b"\n").map_err(io(&inc_path))?;
        let k = summary.incidents.entry(i.kind.to_string()).or_default();
        k.incidents += 1;
        k.records += s.keys.len() as u64;
        k.packets += s.packets;
    }
    out.flush().map_err(io(&inc_path))?;
    summary.files = delivery
        .finish()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|f| FileSummary {
            path: f.path,
            records: f.records,
        })
        .collect();
    let summary_path = dir.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
    fs::write(&summary_path, text + "\n").map_err(io(&summary_path))?;
    Ok(summary)
}
