//! Delivery: writes records into files laid out as each cloud delivers them, so that tools
//! made for the real thing read vpclab's output unchanged (issue 9, item 4;
//! `docs/generate.md`, "Delivery").
//!
//! - `aws`: the S3 layout of VPC flow logs, one gzip text file (header line, then one line per
//!   record in the v2 default, router records in the transit-gateway default) per flow log per
//!   5-minute interval (flowlogs.md §1.1–1.3).
//! - `parquet`: the same files as Parquet, one column per field with AWS's types (§1.3),
//!   gzip-compressed as AWS does (behind the `parquet` cargo feature).
//! - `huawei`, `alibaba`, `tencent`: JSON lines as their log services (LTS, SLS, CLS) show
//!   the records, one file per flow log's stream / logstore / topic per hour (§3.1, §3.2, §3.4).
//!
//! A record goes into the file of the interval holding its window end: when the cloud would
//! publish it. Records arrive as windows close (per flow log, in non-decreasing window end), so
//! each flow log has at most one file open; the previous one is closed when a later interval
//! starts. Nothing is buffered beyond one file's rows (Parquet) or a write buffer (text).
//!
//! What it does not: choose records (the flow logs did), render them (`Format` does), read a
//! clock (file names come from the records' times), or write beside `dir` and rename (the
//! caller does: `vpclab generate`). Records a format does not print (skipped for capacity,
//! `Format::prints`) are not delivered: they exist only in the ground truth.

mod alibaba;
mod aws;
mod huawei;
#[cfg(feature = "parquet")]
mod parquet;
mod tencent;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use vpclab_sim::flowlog::Record;
use vpclab_sim::flowlog::format::Format;
use vpclab_sim::profile::Provider;

/// How AWS files are written (the flow log's S3 `FileFormat`); the log services of the other
/// clouds take only [`FileFormat::Text`] (JSON lines).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FileFormat {
    /// aws: gzip text (`.log.gz`); others: JSON lines (`.jsonl`).
    #[default]
    Text,
    /// aws only: Apache Parquet (`.log.parquet`).
    Parquet,
}

/// Whose delivery: the cloud, the account that owns the destination and its region (the S3
/// path's `{account}` and `{region}`, the SLS project's name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub provider: Provider,
    pub account: String,
    pub region: String,
    pub file_format: FileFormat,
}

/// One file written: its path relative to the delivery directory (`/`-separated) and the
/// records it holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeliveredFile {
    pub path: String,
    pub records: u64,
}

/// Why a delivery failed.
#[derive(Debug)]
pub enum DeliverError {
    /// Reading or writing `path` failed (a full disk, a missing directory, permissions).
    Io { path: PathBuf, source: io::Error },
    /// The delivery directory already holds files.
    NotEmpty(PathBuf),
    /// Parquet was asked for a cloud whose log service does not deliver Parquet.
    ParquetNotAws(Provider),
    /// Parquet was asked for, but this build has no Parquet writer (cargo feature `parquet`).
    ParquetDisabled,
    /// Writing the Parquet file at `path` failed.
    Parquet { path: PathBuf, message: String },
    /// A record of a flow log arrived for an interval whose file is already closed: records
    /// must arrive in non-decreasing window end per flow log.
    OutOfOrder {
        flow_log_id: String,
        window_end: u64,
        open: String,
    },
}

impl fmt::Display for DeliverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliverError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            DeliverError::NotEmpty(dir) => {
                write!(f, "{}: the delivery directory must be empty", dir.display())
            }
            DeliverError::ParquetNotAws(provider) => write!(
                f,
                "Parquet files are an AWS (S3) delivery format; {provider} delivers to its log \
                 service as JSON lines: use the text file format"
            ),
            DeliverError::ParquetDisabled => f.write_str(
                "this vpclab was built without Parquet support (cargo feature `parquet`)",
            ),
            DeliverError::Parquet { path, message } => {
                write!(f, "{}: writing Parquet: {message}", path.display())
            }
            DeliverError::OutOfOrder {
                flow_log_id,
                window_end,
                open,
            } => write!(
                f,
                "flow log {flow_log_id}: a record whose window ends at {window_end} arrived after \
                 its file was closed ({open} is open): records must arrive in window order"
            ),
        }
    }
}

impl std::error::Error for DeliverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeliverError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DeliverError + '_ {
    move |source| DeliverError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one run's records into `dir` as the target cloud delivers them.
pub struct Delivery {
    dir: PathBuf,
    target: Target,
    /// The format records print in (its counterpart for router records).
    format: Format,
    /// The file open for each flow log (and record shape: aws router records have their own
    /// files), by key.
    open: BTreeMap<FileKey, Open>,
    written: Vec<DeliveredFile>,
}

/// A flow log and the shape of its records' lines (AWS: the header they need).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FileKey {
    flow_log_id: String,
    shape: Shape,
}

/// Which header an AWS file has; the JSON clouds name every field on every line and use
/// [`Shape::Eni`] for all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    Eni,
    Router,
}

/// An open file: the interval it covers, where it is, what it holds so far.
struct Open {
    /// Start of the file's interval (Unix seconds).
    period: u64,
    rel: String,
    abs: PathBuf,
    records: u64,
    sink: Sink,
}

enum Sink {
    /// AWS text: gzip, header already written. Lines are gathered before the encoder, which
    /// otherwise prepares its output buffer anew for every short write.
    Gzip(BufWriter<GzEncoder<BufWriter<File>>>),
    /// JSON lines.
    Lines(BufWriter<File>),
    /// AWS Parquet: one file's rows, written at close.
    #[cfg(feature = "parquet")]
    Parquet(parquet::Rows),
}

impl Delivery {
    /// `dir` exists and is empty (the caller writes aside and renames).
    pub fn new(dir: &Path, target: Target) -> Result<Delivery, DeliverError> {
        if target.file_format == FileFormat::Parquet {
            if target.provider != Provider::Aws {
                return Err(DeliverError::ParquetNotAws(target.provider));
            }
            if cfg!(not(feature = "parquet")) {
                return Err(DeliverError::ParquetDisabled);
            }
        }
        let mut entries = fs::read_dir(dir).map_err(io_error(dir))?;
        if entries.next().is_some() {
            return Err(DeliverError::NotEmpty(dir.to_path_buf()));
        }
        let format = match target.provider {
            Provider::Aws => aws::format(),
            Provider::Huawei => huawei::format(),
            Provider::Alibaba => alibaba::format(),
            Provider::Tencent => tencent::format(),
        };
        Ok(Delivery {
            dir: dir.to_path_buf(),
            target,
            format,
            open: BTreeMap::new(),
            written: Vec::new(),
        })
    }

    /// Records arrive as windows close: per flow log, in non-decreasing window end. A record
    /// the format does not print (skipped for capacity) is left out.
    pub fn record(&mut self, r: &Record) -> Result<(), DeliverError> {
        if !self.format.prints(r) {
            return Ok(());
        }
        let shape = match (self.target.provider, r.capture.is_router()) {
            (Provider::Aws, true) => Shape::Router,
            _ => Shape::Eni,
        };
        let key = FileKey {
            flow_log_id: r.flow_log_id.clone(),
            shape,
        };
        let end = r.window_end.secs();
        let interval = match self.target.provider {
            Provider::Aws => aws::INTERVAL,
            _ => LOG_SERVICE_INTERVAL,
        };
        let period = end - end % interval;
        match self.open.get(&key) {
            Some(open) if open.period == period => {}
            Some(open) if open.period > period => {
                return Err(DeliverError::OutOfOrder {
                    flow_log_id: r.flow_log_id.clone(),
                    window_end: end,
                    open: open.rel.clone(),
                });
            }
            Some(_) => {
                let old = self.open.remove(&key).expect("present");
                self.close(old)?;
                self.open_file(&key, period, r)?;
            }
            None => self.open_file(&key, period, r)?,
        }
        let open = self.open.get_mut(&key).expect("opened above");
        open.records += 1;
        let format = self.format.for_record(r);
        match &mut open.sink {
            Sink::Gzip(w) => {
                let mut line = format.render(r);
                line.push('\n');
                w.write_all(line.as_bytes()).map_err(io_error(&open.abs))
            }
            Sink::Lines(w) => {
                let mut line = match self.target.provider {
                    Provider::Alibaba => alibaba::object(r, &format),
                    Provider::Tencent => tencent::object(r, &format),
                    _ => huawei::object(r, &format),
                };
                line.push('\n');
                w.write_all(line.as_bytes()).map_err(io_error(&open.abs))
            }
            #[cfg(feature = "parquet")]
            Sink::Parquet(rows) => {
                rows.push(&format.render(r))
                    .map_err(|message| DeliverError::Parquet {
                        path: open.abs.clone(),
                        message,
                    })
            }
        }
    }

    /// Closes every open file; returns the files written (relative paths, records each),
    /// sorted by path.
    pub fn finish(mut self) -> Result<Vec<DeliveredFile>, DeliverError> {
        let open = std::mem::take(&mut self.open);
        for (_, file) in open {
            self.close(file)?;
        }
        let mut written = std::mem::take(&mut self.written);
        written.sort();
        Ok(written)
    }

    fn open_file(&mut self, key: &FileKey, period: u64, r: &Record) -> Result<(), DeliverError> {
        let t = &self.target;
        let id = path_safe(&key.flow_log_id);
        let rel = match t.provider {
            Provider::Aws => aws::path(t, &id, key.shape, period),
            Provider::Huawei => huawei::path(t, &id, period),
            Provider::Alibaba => alibaba::path(t, &id, period),
            Provider::Tencent => tencent::path(t, &id, period),
        };
        let abs = self.dir.join(&rel);
        if let Some(parent) = abs.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        let format = self.format.for_record(r);
        let sink = match (t.provider, t.file_format) {
            #[cfg(feature = "parquet")]
            (Provider::Aws, FileFormat::Parquet) => Sink::Parquet(parquet::Rows::new(&format)),
            (Provider::Aws, _) => {
                let file = File::create(&abs).map_err(io_error(&abs))?;
                // GzEncoder writes mtime 0 and no file name: same records, same bytes.
                // The fastest level: a day of records is gigabytes before compression, and
                // readers decode every level alike.
                let mut w = GzEncoder::new(BufWriter::new(file), Compression::fast());
                let mut header = aws::header(&format);
                header.push('\n');
                w.write_all(header.as_bytes()).map_err(io_error(&abs))?;
                Sink::Gzip(BufWriter::with_capacity(1 << 16, w))
            }
            _ => Sink::Lines(BufWriter::new(File::create(&abs).map_err(io_error(&abs))?)),
        };
        self.open.insert(
            key.clone(),
            Open {
                period,
                rel,
                abs,
                records: 0,
                sink,
            },
        );
        Ok(())
    }

    fn close(&mut self, open: Open) -> Result<(), DeliverError> {
        let Open {
            rel,
            abs,
            records,
            sink,
            ..
        } = open;
        let flushed = match sink {
            Sink::Gzip(w) => w
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(GzEncoder::finish)
                .and_then(finish_file),
            Sink::Lines(w) => finish_file(w),
            #[cfg(feature = "parquet")]
            Sink::Parquet(rows) => {
                return rows
                    .write(&abs)
                    .map(|()| self.written.push(DeliveredFile { path: rel, records }));
            }
        };
        flushed.map_err(io_error(&abs))?;
        self.written.push(DeliveredFile { path: rel, records });
        Ok(())
    }
}

/// Flushes the buffer: an error here (a full disk) is reported, not lost in a drop.
fn finish_file(w: BufWriter<File>) -> io::Result<()> {
    w.into_inner().map(drop).map_err(|e| e.into_error())
}

/// The log services' files cover an hour each.
const LOG_SERVICE_INTERVAL: u64 = 3600;

/// A calendar instant in UTC, to the minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
}

impl Utc {
    /// From Unix seconds (days to civil date: H. Hinnant's algorithm, proleptic Gregorian).
    fn from_secs(secs: u64) -> Utc {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3_600) as u32,
            minute: (rem % 3_600 / 60) as u32,
        }
    }

    /// `YYYY/MM/DD`, the day folders of every layout.
    fn day_folder(&self) -> String {
        format!("{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }
}

/// An id as one path component: characters other than ASCII letters, digits, `-`, `_` and `.`
/// become `_`, and `.`/`..`/empty become `_` (vpclab's ids never need this; a scenario's
/// chosen id might).
fn path_safe(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "_".repeat(s.len().max(1))
    } else {
        s
    }
}

/// Keys whose values the log-service JSON lines give as numbers (`-` as `null`); every other
/// value is the string the service shows.
const NUMERIC_KEYS: [&str; 9] = [
    "version",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "tcp-flags",
];

/// One JSON object from named values in order: numeric keys as numbers (`-` → `null`, a value
/// that is not a number stays a string: tencent's version `0001_0001`), others as strings.
fn json_object<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::with_capacity(320);
    out.push('{');
    for (i, (key, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, key);
        out.push(':');
        let numeric = NUMERIC_KEYS.contains(&key);
        if numeric && value == "-" {
            out.push_str("null");
        } else if numeric && !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // Without leading zeros, as JSON numbers are written.
            let trimmed = value.trim_start_matches('0');
            out.push_str(if trimmed.is_empty() { "0" } else { trimmed });
        } else {
            push_json_string(&mut out, value);
        }
    }
    out.push('}');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("a string serializes"));
}

#[cfg(test)]
mod tests;
