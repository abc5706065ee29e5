//! `vpclab score`: a detector's alerts against the truth `vpclab generate` wrote.
//!
//! Implements docs/generate.md, "Alerts": reading `DIR/truth/incidents.jsonl` and an alerts
//! file (every error names the file, the line and the key), matching alerts to incidents and
//! the report per incident kind, as a table or as one JSON object. [`score`] is a pure function
//! of the two lists; the rest is reading and printing. It does not read the delivered records
//! or `truth/records.jsonl`: an alert names a time, addresses, an interface and a port, all of
//! which the incidents carry.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{BAD_INPUT, fail, output};

/// The incident kinds of docs/generate.md, "Incident kinds": the workloads' own.
pub(crate) use vpclab_controlplane::load::KINDS;

/// Kinds an alert may name instead of one incident kind, and the kinds each holds.
pub(crate) const FAMILIES: [(&str, &[&str]); 3] = [
    ("port_scan", &["port_scan_horizontal", "port_scan_vertical"]),
    ("brute_force", &["ssh_brute_force", "rdp_brute_force"]),
    (
        "scan",
        &[
            "port_scan_horizontal",
            "port_scan_vertical",
            "lateral_movement",
        ],
    ),
];

/// Where false positives without a kind are counted.
pub(crate) const UNKNOWN: &str = "unknown";

/// Default `--grace`: a 600 s capture window plus delivery.
pub(crate) const DEFAULT_GRACE: f64 = 900.0;

/// One line of `truth/incidents.jsonl`, as far as scoring needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Incident {
    pub id: String,
    pub kind: &'static str,
    /// Unix seconds of the first and the last packet.
    pub start: f64,
    pub end: f64,
    pub actors: Vec<Ipv4Addr>,
    pub targets: Vec<Ipv4Addr>,
    pub resources: Vec<String>,
    pub ports: Vec<u16>,
}

/// One line of an alerts file.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Alert {
    /// Unix seconds.
    pub time: f64,
    /// An incident kind or a family ([`FAMILIES`]).
    pub kind: Option<&'static str>,
    pub src: Option<Ipv4Addr>,
    pub dst: Option<Ipv4Addr>,
    pub eni: Option<String>,
    pub port: Option<u16>,
}

/// Whether an alert of kind `alert` (a kind or a family) can match an incident of kind `incident`.
fn covers(alert: &str, incident: &str) -> bool {
    alert == incident
        || FAMILIES
            .iter()
            .any(|(family, kinds)| *family == alert && kinds.contains(&incident))
}

/// The matching rule of docs/generate.md, "Alerts", one condition per sentence.
pub(crate) fn matches(a: &Alert, i: &Incident, grace: f64) -> bool {
    let involved = |ip: &Ipv4Addr| i.actors.contains(ip) || i.targets.contains(ip);
    a.time >= i.start
        && a.time <= i.end + grace
        && a.kind.is_none_or(|k| covers(k, i.kind))
        && a.src.as_ref().is_none_or(involved)
        && a.dst.as_ref().is_none_or(involved)
        && a.eni.as_ref().is_none_or(|e| i.resources.contains(e))
        && a.port
            .is_none_or(|p| i.ports.is_empty() || i.ports.contains(&p))
}

/// The counts of one row of the report: an incident kind, a family or `unknown` (rows that
/// only count false positives), or `all`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Row {
    pub incidents: usize,
    /// Incidents matched by at least one alert.
    pub detected: usize,
    /// Alerts matching at least one incident of the row's kind.
    pub true_positives: usize,
    /// Alerts of the row's kind matching no incident.
    pub false_positives: usize,
    /// Per detected incident, its first matching alert's time minus its start, rounded to
    /// the millisecond; sorted.
    pub delays: Vec<f64>,
}

impl Row {
    pub fn missed(&self) -> usize {
        self.incidents - self.detected
    }

    /// TP / (TP + FP); none without alerts.
    pub fn precision(&self) -> Option<f64> {
        let alerts = self.true_positives + self.false_positives;
        (alerts > 0).then(|| self.true_positives as f64 / alerts as f64)
    }

    /// detected / incidents; none without incidents.
    pub fn recall(&self) -> Option<f64> {
        (self.incidents > 0).then(|| self.detected as f64 / self.incidents as f64)
    }

    /// The harmonic mean of precision and recall; none when either is, 0 when both are 0.
    pub fn f1(&self) -> Option<f64> {
        let (p, r) = (self.precision()?, self.recall()?);
        Some(if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        })
    }

    pub fn delay_min(&self) -> Option<f64> {
        self.delays.first().copied()
    }

    /// The middle delay, or the mean of the two middle ones.
    pub fn delay_median(&self) -> Option<f64> {
        let d = &self.delays;
        let n = d.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(d[n / 2]),
            _ => Some(millis((d[n / 2 - 1] + d[n / 2]) / 2.0)),
        }
    }

    pub fn delay_max(&self) -> Option<f64> {
        self.delays.last().copied()
    }
}

/// The result of [`score`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    pub grace: f64,
    pub alerts: usize,
    /// By incident kind, family or `unknown`: every kind the truth holds, and every kind false
    /// positives were counted under.
    pub kinds: BTreeMap<&'static str, Row>,
    pub all: Row,
}

fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// Scores `alerts` against `incidents` (docs/generate.md, "Alerts").
///
/// An alert matching several incidents is one true positive in `all`, and one in the row of
/// each kind among them. An alert matching none is a false positive under its own kind (an
/// incident kind or a family) or, without one, under [`UNKNOWN`].
pub(crate) fn score(incidents: &[Incident], alerts: &[Alert], grace: f64) -> Report {
    let mut kinds: BTreeMap<&'static str, Row> = BTreeMap::new();
    let mut all = Row {
        incidents: incidents.len(),
        ..Row::default()
    };
    for i in incidents {
        kinds.entry(i.kind).or_default().incidents += 1;
    }
    // The time of each incident's first matching alert.
    let mut first: Vec<Option<f64>> = vec![None; incidents.len()];
    let mut hit: Vec<&'static str> = Vec::new();
    for a in alerts {
        hit.clear();
        for (n, i) in incidents.iter().enumerate() {
            if matches(a, i, grace) {
                first[n] = Some(first[n].map_or(a.time, |t: f64| t.min(a.time)));
                if !hit.contains(&i.kind) {
                    hit.push(i.kind);
                }
            }
        }
        if hit.is_empty() {
            all.false_positives += 1;
            kinds
                .entry(a.kind.unwrap_or(UNKNOWN))
                .or_default()
                .false_positives += 1;
        } else {
            all.true_positives += 1;
            for k in &hit {
                kinds.entry(k).or_default().true_positives += 1;
            }
        }
    }
    for (i, t) in incidents.iter().zip(&first) {
        if let Some(t) = t {
            let delay = millis(t - i.start);
            let row = kinds.entry(i.kind).or_default();
            row.detected += 1;
            row.delays.push(delay);
            all.detected += 1;
            all.delays.push(delay);
        }
    }
    for row in kinds.values_mut().chain([&mut all]) {
        row.delays.sort_by(f64::total_cmp);
    }
    Report {
        grace,
        alerts: alerts.len(),
        kinds,
        all,
    }
}

// ---------------------------------------------------------------------------------------------
// Printing

/// How `score` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// A table: one row per kind, then `all`.
    Text,
    /// One JSON object (docs/generate.md, "Alerts").
    Json,
}

fn ratio(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"))
}

/// Seconds, already rounded to the millisecond: `300`, `12.5`.
fn seconds(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{x}"))
}

const HEADER: [&str; 12] = [
    "kind",
    "incidents",
    "detected",
    "missed",
    "TP",
    "FP",
    "precision",
    "recall",
    "F1",
    "delay_min",
    "delay_median",
    "delay_max",
];

/// The report as a table: kinds in name order, then `all`; the kind column left-aligned and
/// the others right-aligned, each as wide as its widest cell.
pub(crate) fn text(r: &Report) -> String {
    let cells = |kind: &str, row: &Row| -> [String; 12] {
        [
            kind.to_string(),
            row.incidents.to_string(),
            row.detected.to_string(),
            row.missed().to_string(),
            row.true_positives.to_string(),
            row.false_positives.to_string(),
            ratio(row.precision()),
            ratio(row.recall()),
            ratio(row.f1()),
            seconds(row.delay_min()),
            seconds(row.delay_median()),
            seconds(row.delay_max()),
        ]
    };
    let mut rows = vec![HEADER.map(str::to_string)];
    rows.extend(r.kinds.iter().map(|(k, row)| cells(k, row)));
    rows.push(cells("all", &r.all));
    let mut widths = [0; 12];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = format!(
        "{} incidents, {} alerts, grace {} s; delays in seconds from the incident's start\n\n",
        r.all.incidents, r.alerts, r.grace
    );
    for row in &rows {
        let mut line = format!("{:<w$}", row[0], w = widths[0]);
        for (c, w) in row.iter().zip(widths).skip(1) {
            let _ = write!(line, "  {c:>w$}");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    grace: f64,
    incidents: usize,
    alerts: usize,
    kinds: BTreeMap<&'a str, JsonRow>,
    all: JsonRow,
}

#[derive(Serialize)]
struct JsonRow {
    incidents: usize,
    detected: usize,
    missed: usize,
    true_positives: usize,
    false_positives: usize,
    precision: Option<f64>,
    recall: Option<f64>,
    f1: Option<f64>,
    delay: JsonDelay,
}

#[derive(Serialize)]
struct JsonDelay {
    min: Option<f64>,
    median: Option<f64>,
    max: Option<f64>,
}

impl From<&Row> for JsonRow {
    fn from(row: &Row) -> JsonRow {
        JsonRow {
            incidents: row.incidents,
            detected: row.detected,
            missed: row.missed(),
            true_positives: row.true_positives,
            false_positives: row.false_positives,
            precision: row.precision(),
            recall: row.recall(),
            f1: row.f1(),
            delay: JsonDelay {
                min: row.delay_min(),
                median: row.delay_median(),
                max: row.delay_max(),
            },
        }
    }
}

/// The report as one pretty-printed JSON object (keys in docs/generate.md, "Alerts").
pub(crate) fn json(r: &Report) -> String {
    let report = JsonReport {
        grace: r.grace,
        incidents: r.all.incidents,
        alerts: r.alerts,
        kinds: r.kinds.iter().map(|(k, row)| (*k, row.into())).collect(),
        all: (&r.all).into(),
    };
    // Plain numbers, options and strings: serialization cannot fail.
    let mut out = serde_json::to_string_pretty(&report).unwrap_or_default();
    out.push('\n');
    out
}

/// `vpclab score --truth DIR ALERTS [--grace SECONDS] [--format text|json]`.
pub(crate) fn run(truth: &Path, alerts: &Path, grace: f64, format: Format) -> ExitCode {
    if !(grace.is_finite() && grace >= 0.0) {
        return fail(
            BAD_INPUT,
            &format!("--grace: expected a number of seconds, 0 or more, found {grace}"),
        );
    }
    let incidents = match read_incidents(truth) {
        Ok(i) => i,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    let alerts = match read_alerts(alerts) {
        Ok(a) => a,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    let report = score(&incidents, &alerts, grace);
    let printed = match format {
        Format::Text => text(&report),
        Format::Json => json(&report),
    };
    output::to_stdout(|w| {
        w.write_all(printed.as_bytes())?;
        Ok(ExitCode::SUCCESS)
    })
}

// ---------------------------------------------------------------------------------------------
// Reading

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("{}: no such file", path.display()),
        _ => format!("{}: cannot read: {e}", path.display()),
    })
}

/// The JSON objects of a JSON-lines text with their line numbers; blank lines are skipped.
fn objects<'a>(file: &'a str, text: &str) -> Result<Vec<Line<'a>>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => out.push(Line { file, n, object }),
            Ok(other) => return Err(format!("{file}:{n}: expected a JSON object, found {other}")),
            Err(e) => {
                // Each line is parsed alone: its "line 1" would mislead.
                let message = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let message = message.strip_suffix(&suffix).unwrap_or(&message);
                return Err(format!(
                    "{file}:{n}:{}: invalid JSON: {message}",
                    e.column()
                ));
            }
        }
    }
    Ok(out)
}

/// One JSON object being turned into an incident or an alert, for errors that name the line.
struct Line<'a> {
    file: &'a str,
    n: usize,
    object: Map<String, Value>,
}

impl Line<'_> {
    fn error(&self, key: &str, problem: impl std::fmt::Display) -> String {
        format!("{}:{}: {key}: {problem}", self.file, self.n)
    }

    /// Refuses keys outside `known`.
    fn known_keys(&self, known: &[&str], what: &str) -> Result<(), String> {
        match self.object.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(self.error(k, format!("unknown key; {what} has {}", known.join(", ")))),
            None => Ok(()),
        }
    }

    /// The value of `key`; `null` counts as absent.
    fn get(&self, key: &str) -> Option<&Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    fn required(&self, key: &str) -> Result<&Value, String> {
        self.get(key).ok_or_else(|| self.error(key, "missing"))
    }

    fn seconds(&self, key: &str) -> Result<f64, String> {
        match self.required(key)? {
            Value::Number(n) => n.as_f64().ok_or_else(|| self.error(key, "out of range")),
            other => Err(self.error(key, format!("expected Unix seconds, found {other}"))),
        }
    }

    fn list<T>(
        &self,
        key: &str,
        what: &str,
        item: impl Fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>, String> {
        let Value::Array(values) = self.required(key)? else {
            return Err(self.error(
                key,
                format!("expected a list of {what}s, found {}", self.object[key]),
            ));
        };
        values
            .iter()
            .enumerate()
            .map(|(n, v)| {
                item(v).ok_or_else(|| {
                    self.error(
                        &format!("{key}[{n}]"),
                        format!("expected {what}, found {v}"),
                    )
                })
            })
            .collect()
    }
}

fn ipv4(v: &Value) -> Option<Ipv4Addr> {
    v.as_str()?.parse().ok()
}

fn port(v: &Value) -> Option<u16> {
    v.as_u64()?.try_into().ok()
}

fn nonempty_string(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

const INCIDENT_KEYS: [&str; 10] = [
    "id",
    "kind",
    "start",
    "end",
    "actors",
    "targets",
    "resources",
    "ports",
    "packets",
    "records",
];

/// `DIR/truth/incidents.jsonl`.
pub(crate) fn read_incidents(dir: &Path) -> Result<Vec<Incident>, String> {
    if !dir.exists() {
        return Err(format!(
            "{}: no such directory (expected the output directory of vpclab generate)",
            dir.display()
        ));
    }
    if !dir.is_dir() {
        return Err(format!(
            "{}: not a directory (expected the output directory of vpclab generate)",
            dir.display()
        ));
    }
    let path = dir.join("truth").join("incidents.jsonl");
    let text = read(&path)?;
    let file = path.display().to_string();
    let mut incidents: Vec<Incident> = Vec::new();
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for l in objects(&file, &text)? {
        l.known_keys(&INCIDENT_KEYS, "an incident")?;
        let id = nonempty_string(l.required("id")?)
            .ok_or_else(|| l.error("id", format!("expected a name, found {}", l.object["id"])))?;
        if let Some(first) = lines.insert(id.clone(), l.n) {
            return Err(l.error("id", format!("\"{id}\" is also the id of line {first}")));
        }
        let kind = match l.required("kind")? {
            Value::String(s) => KINDS.iter().find(|k| *k == s).copied().ok_or_else(|| {
                l.error(
                    "kind",
                    format!(
                        "unknown kind \"{s}\"; an incident is one of {}",
                        KINDS.join(", ")
                    ),
                )
            })?,
            other => return Err(l.error("kind", format!("expected a string, found {other}"))),
        };
        let start = l.seconds("start")?;
        let end = l.seconds("end")?;
        if end < start {
            return Err(l.error("end", format!("{end} is before start {start}")));
        }
        if let Some(v) = l.get("packets")
            && !v.is_u64()
        {
            return Err(l.error("packets", format!("expected a count, found {v}")));
        }
        if l.get("records").is_some() {
            l.list("records", "a record key", nonempty_string)?;
        }
        incidents.push(Incident {
            id,
            kind,
            start,
            end,
            actors: l.list("actors", "an IPv4 address", ipv4)?,
            targets: l.list("targets", "an IPv4 address", ipv4)?,
            resources: l.list("resources", "a resource id", nonempty_string)?,
            ports: l.list("ports", "a port (0-65535)", port)?,
        });
    }
    Ok(incidents)
}

const ALERT_KEYS: [&str; 6] = ["time", "kind", "src", "dst", "eni", "port"];

/// An alerts file: one JSON object per line, blank lines ignored.
pub(crate) fn read_alerts(path: &Path) -> Result<Vec<Alert>, String> {
    let text = read(path)?;
    let file = path.display().to_string();
    objects(&file, &text)?.iter().map(alert).collect()
}

fn alert(l: &Line) -> Result<Alert, String> {
    l.known_keys(&ALERT_KEYS, "an alert")?;
    let time = match l.object.get("time") {
        None => {
            return Err(l.error(
                "time",
                "missing (when the alert was raised: Unix seconds or an RFC 3339 time)",
            ));
        }
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => parse_rfc3339(s),
        Some(_) => None,
    };
    let time = time.ok_or_else(|| {
        l.error(
            "time",
            format!(
                "expected Unix seconds or an RFC 3339 time, found {}",
                l.object["time"]
            ),
        )
    })?;
    let kind = match l.get("kind") {
        None => None,
        Some(Value::String(s)) => Some(alert_kind(s).ok_or_else(|| {
            l.error(
                "kind",
                format!(
                    "unknown kind \"{s}\"; expected one of {}, or a family: {}",
                    KINDS.join(", "),
                    FAMILIES.map(|(f, _)| f).join(", ")
                ),
            )
        })?),
        Some(other) => return Err(l.error("kind", format!("expected a string, found {other}"))),
    };
    let address = |key: &str| -> Result<Option<Ipv4Addr>, String> {
        l.get(key)
            .map(|v| {
                ipv4(v).ok_or_else(|| l.error(key, format!("expected an IPv4 address, found {v}")))
            })
            .transpose()
    };
    Ok(Alert {
        time,
        kind,
        src: address("src")?,
        dst: address("dst")?,
        eni: l
            .get("eni")
            .map(|v| {
                nonempty_string(v)
                    .ok_or_else(|| l.error("eni", format!("expected an interface id, found {v}")))
            })
            .transpose()?,
        port: l
            .get("port")
            .map(|v| {
                port(v)
                    .ok_or_else(|| l.error("port", format!("expected a port (0-65535), found {v}")))
            })
            .transpose()?,
    })
}

/// An incident kind or a family, as the constant naming it.
fn alert_kind(s: &str) -> Option<&'static str> {
    KINDS
        .iter()
        .copied()
        .chain(FAMILIES.iter().map(|(f, _)| *f))
        .find(|k| *k == s)
}

/// Unix seconds of an RFC 3339 time, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`
/// (`t` and `z` allowed lowercase, as RFC 3339 permits). Strict: no other separator, no
/// missing offset, no leap second (Unix time has none), every field in range.
pub(crate) fn parse_rfc3339(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        b.get(from..from + len)?.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let byte = |at: usize, expected: &[u8]| b.get(at).is_some_and(|c| expected.contains(c));
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(byte(4, b"-") && byte(7, b"-") && byte(10, b"Tt") && byte(13, b":") && byte(16, b":")) {
        return None;
    }
    let mut at = 19;
    let mut fraction = 0.0;
    if byte(at, b".") {
        let from = at + 1;
        at = from;
        while byte(at, b"0123456789") {
            at += 1;
        }
        if at == from {
            return None;
        }
        fraction = format!("0.{}", &s[from..at]).parse().ok()?;
    }
    let offset = if byte(at, b"Zz") {
        at += 1;
        0
    } else if byte(at, b"+-") {
        let sign = if byte(at, b"-") { -1 } else { 1 };
        let (h, m) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
        if !byte(at + 3, b":") || h > 23 || m > 59 {
            return None;
        }
        at += 6;
        sign * (h * 3600 + m * 60)
    } else {
        return None;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if at != b.len()
        || !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(seconds as f64 + fraction)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// A vertical scan of 10.0.1.10 by 198.51.100.66 from 1000 to 1100, ports 22 and 80.
    fn scan() -> Incident {
        Incident {
            id: "inc-1".into(),
            kind: "port_scan_vertical",
            start: 1000.0,
            end: 1100.0,
            actors: vec![ip("198.51.100.66")],
            targets: vec![ip("10.0.1.10")],
            resources: vec!["eni-0123456789abcdef0".into()],
            ports: vec![22, 80],
        }
    }

    fn at(time: f64) -> Alert {
        Alert {
            time,
            ..Alert::default()
        }
    }

    #[test]
    fn the_window_is_start_to_end_plus_grace_inclusive() {
        let i = scan();
        assert!(!matches(&at(999.999), &i, 900.0));
        assert!(matches(&at(1000.0), &i, 900.0));
        assert!(matches(&at(2000.0), &i, 900.0));
        assert!(!matches(&at(2000.001), &i, 900.0));
        assert!(matches(&at(1100.0), &i, 0.0));
        assert!(!matches(&at(1100.5), &i, 0.0));
    }

    #[test]
    fn a_kind_matches_itself_and_its_families() {
        let i = scan();
        let kind = |k| Alert {
            kind: Some(k),
            ..at(1050.0)
        };
        for k in ["port_scan_vertical", "port_scan", "scan"] {
            assert!(matches(&kind(k), &i, 900.0), "{k}");
        }
        for k in ["port_scan_horizontal", "brute_force", "ssh_brute_force"] {
            assert!(!matches(&kind(k), &i, 900.0), "{k}");
        }
        let mut lateral = scan();
        lateral.kind = "lateral_movement";
        assert!(matches(&kind("scan"), &lateral, 900.0));
        assert!(!matches(&kind("port_scan"), &lateral, 900.0));
        let mut ssh = scan();
        ssh.kind = "ssh_brute_force";
        assert!(matches(&kind("brute_force"), &ssh, 900.0));
        assert!(!matches(&kind("scan"), &ssh, 900.0));
        ssh.kind = "rdp_brute_force";
        assert!(matches(&kind("brute_force"), &ssh, 900.0));
    }

    #[test]
    fn each_address_is_an_actor_or_a_target() {
        let i = scan();
        let a = |src: Option<&str>, dst: Option<&str>| Alert {
            src: src.map(ip),
            dst: dst.map(ip),
            ..at(1050.0)
        };
        assert!(matches(
            &a(Some("198.51.100.66"), Some("10.0.1.10")),
            &i,
            0.0
        ));
        // Either way round: a reply's source is the target.
        assert!(matches(
            &a(Some("10.0.1.10"), Some("198.51.100.66")),
            &i,
            0.0
        ));
        assert!(matches(&a(None, Some("198.51.100.66")), &i, 0.0));
        assert!(!matches(
            &a(Some("198.51.100.66"), Some("10.0.1.11")),
            &i,
            0.0
        ));
        assert!(!matches(&a(Some("10.0.1.11"), None), &i, 0.0));
    }

    #[test]
    fn an_eni_is_one_of_the_resources() {
        let i = scan();
        let a = |eni: &str| Alert {
            eni: Some(eni.into()),
            ..at(1050.0)
        };
        assert!(matches(&a("eni-0123456789abcdef0"), &i, 0.0));
        assert!(!matches(&a("eni-0fedcba9876543210"), &i, 0.0));
    }

    #[test]
    fn a_port_is_one_of_the_ports_or_any_when_the_incident_has_none() {
        let a = |p| Alert {
            port: Some(p),
            ..at(1050.0)
        };
        let mut i = scan();
        assert!(matches(&a(80), &i, 0.0));
        assert!(!matches(&a(443), &i, 0.0));
        i.ports.clear();
        assert!(matches(&a(443), &i, 0.0));
        assert!(matches(&a(0), &i, 0.0));
    }

    #[test]
    fn false_positives_count_under_their_kind_or_unknown() {
        let i = scan();
        let alerts = [
            Alert {
                kind: Some("ssh_brute_force"),
                ..at(1050.0)
            },
            Alert {
                kind: Some("port_scan"),
                ..at(5000.0)
            },
            at(5000.0),
            at(6000.0),
            Alert {
                kind: Some("port_scan_vertical"),
                ..at(1000.0)
            },
        ];
        let r = score(&[i], &alerts, 900.0);
        let fp: Vec<(&str, usize, usize)> = r
            .kinds
            .iter()
            .map(|(k, row)| (*k, row.true_positives, row.false_positives))
            .collect();
        assert_eq!(
            fp,
            [
                ("port_scan", 0, 1),
                ("port_scan_vertical", 1, 0),
                ("ssh_brute_force", 0, 1),
                ("unknown", 0, 2)
            ]
        );
        assert_eq!((r.all.true_positives, r.all.false_positives), (1, 4));
        assert_eq!(r.alerts, 5);
    }

    #[test]
    fn an_alert_matching_two_kinds_is_one_true_positive_in_all() {
        let mut lateral = scan();
        lateral.id = "inc-2".into();
        lateral.kind = "lateral_movement";
        let r = score(&[scan(), lateral], &[at(1000.0)], 900.0);
        assert_eq!(r.kinds["lateral_movement"].true_positives, 1);
        assert_eq!(r.kinds["port_scan_vertical"].true_positives, 1);
        assert_eq!(r.all.true_positives, 1);
        assert_eq!(r.all.detected, 2);
    }

    #[test]
    fn empty_denominators_give_no_ratio() {
        let r = score(&[], &[], 900.0);
        assert!(r.kinds.is_empty());
        assert_eq!(r.all, Row::default());
        assert_eq!(
            (r.all.precision(), r.all.recall(), r.all.f1()),
            (None, None, None)
        );
        // Incidents, no alert: precision none, recall 0.
        let r = score(&[scan()], &[], 900.0);
        assert_eq!(
            (r.all.precision(), r.all.recall(), r.all.f1()),
            (None, Some(0.0), None)
        );
        // Alerts, no incident: precision 0, recall none.
        let r = score(&[], &[at(1.0)], 900.0);
        assert_eq!(
            (r.all.precision(), r.all.recall(), r.all.f1()),
            (Some(0.0), None, None)
        );
        // Both 0: F1 is 0.
        let r = score(&[scan()], &[at(1.0)], 900.0);
        assert_eq!(
            (r.all.precision(), r.all.recall(), r.all.f1()),
            (Some(0.0), Some(0.0), Some(0.0))
        );
    }

    #[test]
    fn ratios_and_f1() {
        let mut other = scan();
        other.id = "inc-2".into();
        other.start = 10_000.0;
        other.end = 10_100.0;
        // Detects 1 of 2 with 2 true positives and 1 false positive.
        let r = score(&[scan(), other], &[at(1000.0), at(1200.0), at(50.0)], 900.0);
        assert_eq!(r.all.precision(), Some(2.0 / 3.0));
        assert_eq!(r.all.recall(), Some(0.5));
        assert_eq!(
            r.all.f1(),
            Some(2.0 * (2.0 / 3.0) * 0.5 / (2.0 / 3.0 + 0.5))
        );
        assert_eq!(r.all.missed(), 1);
    }

    #[test]
    fn delays_come_from_the_first_matching_alert() {
        let incident = |id: &str, start: f64| Incident {
            id: id.into(),
            start,
            end: start + 100.0,
            ..scan()
        };
        let incidents = [
            incident("a", 1000.0),
            incident("b", 2000.5),
            incident("c", 3000.0),
            incident("d", 4000.0),
        ];
        // Unsorted alerts: the earliest matching one counts.
        let alerts = [at(1300.0), at(1060.0), at(2010.5), at(3000.0), at(3500.25)];
        let r = score(&incidents, &alerts, 0.0);
        // c is matched at 3000 (delay 0); 1300 and 3500.25 are outside every window.
        assert_eq!(r.all.delays, [0.0, 10.0, 60.0]);
        assert_eq!(r.all.delay_min(), Some(0.0));
        assert_eq!(r.all.delay_median(), Some(10.0));
        assert_eq!(r.all.delay_max(), Some(60.0));
        assert_eq!((r.all.detected, r.all.false_positives), (3, 2));
        // An even count: the mean of the middle two.
        let r = score(&incidents[..2], &alerts, 0.0);
        assert_eq!(r.all.delay_median(), Some(35.0));
        // No detection: no delay.
        let r = score(&incidents, &[], 0.0);
        assert_eq!(
            (r.all.delay_min(), r.all.delay_median(), r.all.delay_max()),
            (None, None, None)
        );
    }

    #[test]
    fn delays_are_rounded_to_the_millisecond() {
        let mut i = scan();
        i.start = 1_700_000_000.1;
        i.end = 1_700_000_100.0;
        let r = score(&[i], &[at(1_700_000_000.3)], 0.0);
        assert_eq!(r.all.delays, [0.2]);
    }

    #[test]
    fn rfc3339_times() {
        let t = |s| parse_rfc3339(s);
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(t("2023-11-14T22:13:20Z"), Some(1_700_000_000.0));
        assert_eq!(t("2023-11-14t22:13:20z"), Some(1_700_000_000.0));
        assert_eq!(t("2023-11-14T22:13:20.5Z"), Some(1_700_000_000.5));
        assert_eq!(t("2023-11-15T03:43:20+05:30"), Some(1_700_000_000.0));
        assert_eq!(t("2023-11-14T17:13:20-05:00"), Some(1_700_000_000.0));
        assert_eq!(t("2000-02-29T00:00:00Z"), Some(951_782_400.0));
        assert_eq!(t("1969-12-31T23:59:59Z"), Some(-1.0));
        for bad in [
            "",
            "yesterday",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0530",
            "2023-11-14T22:13:20+05",
            "2023-11-14T22:13:20Z ",
            "2023-13-14T22:13:20Z",
            "2023-00-14T22:13:20Z",
            "2023-11-31T22:13:20Z",
            "1900-02-29T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "2023-11-14T22:13:20+24:00",
            "+2023-11-14T22:13:20Z",
            "２023-11-14T22:13:20Z",
        ] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_text_table_aligns_its_columns() {
        let r = score(&[scan()], &[at(1060.0), at(5.0)], 900.0);
        assert_eq!(
            text(&r),
            "1 incidents, 2 alerts, grace 900 s; delays in seconds from the incident's start\n\
             \n\
             kind                incidents  detected  missed  TP  FP  precision  recall     F1  delay_min  delay_median  delay_max\n\
             port_scan_vertical          1         1       0   1   0      1.000   1.000  1.000         60            60         60\n\
             unknown                     0         0       0   0   1      0.000       -      -          -             -          -\n\
             all                         1         1       0   1   1      0.500   1.000  0.667         60            60         60\n"
        );
    }
}
