//! `vpclab bench generate`: how fast `vpclab generate` makes a dataset. It runs the same
//! pipeline as the command (load the scenario, simulate, format, deliver in the provider's
//! layout — gzip text files for aws —, write the truth and the summary) into a temporary
//! directory that is removed afterwards, without the progress bar, and prints the rates. The default workload is the day issue 9 sets the target
//! for (`scenarios/workloads/enterprise-day.yaml`, built into the binary so the benchmark runs
//! from any directory): a virtual day of 1,000 ENIs with ten incidents in at most 60 s on one
//! core, under 2 GiB.
//!
//! Rates are over the wall time from reading the scenario to the last file written (loading
//! the fleet included: a user waits for it too); `load_seconds` says how much of it loading
//! took. Equivalent packets are the simulation's packet counter: every packet sent through the
//! pipeline once, whatever number of capture points counted it (`record_packets`, the sum of
//! the records' `packets`, counts it once per record that saw it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use vpclab_controlplane::deliver::FileFormat;
use vpclab_controlplane::load;
use vpclab_sim::time::Time;

use crate::generate::{self, How};
use crate::output::say;
use crate::{BAD_INPUT, fail};

/// The default workload, and the name its errors carry.
const ENTERPRISE_DAY: &str = include_str!("../scenarios/workloads/enterprise-day.yaml");
const ENTERPRISE_DAY_NAME: &str = "scenarios/workloads/enterprise-day.yaml";

/// Linux reports the CPU times of `/proc/PID/stat` in USER_HZ, 100 on every architecture
/// Rust supports there (`sysconf(_SC_CLK_TCK)`; the kernel converts from its own HZ).
const USER_HZ: f64 = 100.0;

pub struct Args {
    /// Another workload than the built-in enterprise day.
    pub file: Option<PathBuf>,
    /// Only the first hours of virtual time.
    pub hours: Option<f64>,
    pub provider: Option<String>,
    /// Without packet trains.
    pub per_packet: bool,
}

pub fn run(a: &Args) -> ExitCode {
    let provider = match generate::parse_provider(a.provider.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    if let Some(h) = a.hours
        && !(h.is_finite() && h > 0.0)
    {
        return fail(
            BAD_INPUT,
            &format!("--hours: `{h}`: expected a positive number of virtual hours"),
        );
    }
    let (name, text) = match &a.file {
        None => (ENTERPRISE_DAY_NAME.to_string(), ENTERPRISE_DAY.to_string()),
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => (f.display().to_string(), t),
            Err(e) => return fail(BAD_INPUT, &format!("{}: cannot read: {e}", f.display())),
        },
    };
    let dir = std::env::temp_dir().join(format!("vpclab-bench-generate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = bench(&name, &text, provider, a.hours, a.per_packet, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed::Input(e)) => fail(BAD_INPUT, &e),
        Err(Failed::Run(e)) => fail(1, &e),
    }
}

enum Failed {
    /// The scenario does not load.
    Input(String),
    /// The run or its files failed.
    Run(String),
}

fn bench(
    name: &str,
    text: &str,
    provider: Option<vpclab_sim::profile::Provider>,
    hours: Option<f64>,
    per_packet: bool,
    dir: &Path,
) -> Result<(), Failed> {
    let wall = Instant::now();
    let cpu_before = cpu_seconds();
    let mut loaded =
        load(name, text, &generate::options(provider)).map_err(|e| Failed::Input(e.to_string()))?;
    let load_seconds = wall.elapsed().as_secs_f64();

    let start = loaded.sim.now();
    let end = generate::script_end(&loaded);
    let stop = hours.map(|h| Time::from_micros(start.micros().saturating_add((h * 3.6e9) as u64)));
    // The virtual time the traffic covers: the script's, or the first `hours` of it.
    let virtual_end = stop.map_or(end, |s| s.min(end));
    let virtual_seconds = virtual_end.saturating_sub(start).0 as f64 / 1e6;

    std::fs::create_dir_all(dir).map_err(|e| Failed::Run(format!("{}: {e}", dir.display())))?;
    let how = How {
        progress: false,
        stop,
        per_packet,
    };
    let summary =
        generate::generate(&mut loaded, dir, FileFormat::Text, &how).map_err(Failed::Run)?;
    let wall_seconds = wall.elapsed().as_secs_f64();
    let cpu = cpu_before.zip(cpu_seconds()).map(|(b, a)| a - b);
    let delivered = dir_bytes(dir).map_err(|e| Failed::Run(format!("{}: {e}", dir.display())))?;

    let packets = loaded.sim.world.packets_sent();
    say!("scenario={name}");
    say!("provider={}", summary.provider);
    say!("virtual_seconds={virtual_seconds:.0}");
    say!("wall_seconds={wall_seconds:.2}");
    say!("load_seconds={load_seconds:.2}");
    match cpu {
        Some(c) => say!("cpu_seconds={c:.2}"),
        None => say!("cpu_seconds=n/a"),
    }
    say!("records={}", summary.records);
    say!("packets={packets}");
    say!("record_packets={}", summary.packets);
    say!("events={}", loaded.sim.events_run());
    say!("arrivals={}", loaded.sim.arrivals());
    say!("files={}", summary.files.len());
    say!("delivered_mb={:.1}", delivered as f64 / 1e6);
    say!(
        "virtual_seconds_per_wall_second={:.0}",
        virtual_seconds / wall_seconds
    );
    say!(
        "records_per_second={:.0}",
        summary.records as f64 / wall_seconds
    );
    say!(
        "equivalent_packets_per_second={:.0}",
        packets as f64 / wall_seconds
    );
    match peak_rss_mb() {
        Some(mb) => say!("peak_rss_mb={mb:.0}"),
        None => say!("peak_rss_mb=n/a"),
    }
    Ok(())
}

/// User plus system CPU time of this process, from `/proc/self/stat` (Linux; `None`
/// elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    // utime and stime are fields 14 and 15, so the 12th and 13th after the name.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / USER_HZ)
}

/// The peak resident set size in MiB: `VmHWM` of `/proc/self/status` (Linux; `None`
/// elsewhere).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let meta = e.metadata()?;
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}
