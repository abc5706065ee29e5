//! The server's durable state: an event log of acknowledged commands per project, and the
//! flow-log records those commands delivered, in one embedded redb file (`FILE_NAME`) under the
//! data directory.
//!
//! The server keeps each project's world in memory and rebuilds it on start by replaying the
//! project's commands in order; the store never interprets a command (it is an opaque byte
//! string, JSON in practice). Records are stored as delivered, so the log service can answer
//! queries and tails without re-running the simulation.
//!
//! Every `commit` is one redb write transaction with `Durability::Immediate`: the command, its
//! records and any retention purges land together or not at all, and once `commit` returns
//! they survive `kill -9` and power loss (redb's commit protocol; the file is checked and
//! repaired on every open). An existing file is never recreated or truncated: a file that
//! cannot be read is `StoreError::Corrupt`, one written by a newer vpclab is
//! `StoreError::NewerFormat`, and both leave the file as it was.
//!
//! Faults while running:
//!
//! - I/O errors. After one, redb refuses every further operation on the open database, reads
//!   included ("Previous I/O error occurred"), until it is closed and opened again. So a read or
//!   write that fails with an I/O error closes the database and opens the file again, with the
//!   same integrity check as at start (`Store::reopen`); a read is then tried once more, so the
//!   caller can rebuild a project from its stored commands right after a failed commit. A
//!   failed commit wrote nothing and is not retried: the caller gets its error, which names the
//!   cause (`StoreError::Io`: no space left, no permission, …), and the next commit succeeds
//!   once the cause is gone, without a restart. Should the reopen itself fail (a device that
//!   refuses every write), every later call tries again. The reopen takes the database lock
//!   exclusively, so it never closes the database under a running transaction.
//! - The data file removed or replaced (deleted, or another file renamed over its name) while
//!   the server runs. The open file would go on taking commits that nobody can ever read back,
//!   so every write first compares the file at `FILE_NAME` with the one opened at start (device
//!   and inode) and, if it is gone or another, refuses with `StoreError::Replaced`, from then on
//!   until the server is restarted. Reads go on from the open file. A reopen checks the same,
//!   and never opens a replacing file.
//!
//! Layout (keys sort by tuple element, so each project's and stream's entries are contiguous
//! and never mix with another project's, however the names are spelled):
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `&str` (`"format_version"`) | `u64` |
//! | `projects` | project | `(last command seq, last record seq, record count)` |
//! | `commands` | `(project, seq)` | command bytes |
//! | `records` | `(project, stream, time_us, seq)` | JSON of `StoredRecord` |
//! | `records_by_seq` | `(project, stream, seq)` | `time_us` (the `records` key's missing part) |
//! | `snapshots` | project | `(seq, parts)`: the project's latest whole snapshot |
//! | `snapshot_parts` | `(project, seq, part)` | bytes of the snapshot taken right after command `seq` |
//!
//! A snapshot is opaque here too (the caller encodes and decodes it, `api::snapshot`). It is
//! written in parts (`SnapshotPart`), each in some transaction at or after its command's, so
//! that a large one never makes one transaction large; only the transaction of its last part
//! points `snapshots` at it and drops the project's older parts. Until then the previous one
//! stays whole and in use, and a part of a project deleted meanwhile is not written. A
//! snapshot goes with its project.
//!
//! `query` is a range scan of `records`; `since` a range scan of `records_by_seq`, each hit
//! one point lookup in `records`. A purge is a range scan of `records` that deletes from both.
//!
//! Not here: what a command means, retention policy (the caller computes each `Purge`),
//! record rendering, tenancy checks (the caller names the project; the store keeps projects
//! apart).

use std::fmt;
use std::fs;
use std::io;
use std::ops::Bound;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, PoisonError, RwLock};

use redb::backends::FileBackend;
use redb::{
    Builder, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

/// The version of the store's layout, kept in the `meta` table. A file with a larger number
/// was written by a newer vpclab and is refused rather than misread.
///
/// 2 added `snapshots` and `snapshot_parts`. A file of format 1 is upgraded when opened (the table created, the
/// version set to 2), after which a vpclab of format 1 refuses it: one would neither delete a
/// project's snapshot with the project nor know that commands after it must follow it.
pub const FORMAT_VERSION: u32 = 2;

/// The store's file name inside the data directory.
pub const FILE_NAME: &str = "vpclab.redb";

/// Where a fresh store is built before it is linked into place under `FILE_NAME`, so a crash
/// during creation never leaves a `FILE_NAME` without its `meta` table.
const NEW_FILE_NAME: &str = "vpclab.redb.new";

const FORMAT_VERSION_KEY: &str = "format_version";

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// project → (last command seq, last record seq, number of stored records).
const PROJECTS: TableDefinition<&str, (u64, u64, u64)> = TableDefinition::new("projects");
/// (project, seq) → command bytes.
const COMMANDS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("commands");
/// (project, stream, time_us, seq) → JSON of `StoredRecord`.
const RECORDS: TableDefinition<(&str, &str, u64, u64), &[u8]> = TableDefinition::new("records");
/// (project, stream, seq) → time_us: the index `since` walks.
const RECORDS_BY_SEQ: TableDefinition<(&str, &str, u64), u64> =
    TableDefinition::new("records_by_seq");
/// project → (seq, parts): the project's latest whole snapshot.
const SNAPSHOTS: TableDefinition<&str, (u64, u32)> = TableDefinition::new("snapshots");
/// (project, seq, part) → bytes: the parts of snapshots, whole or being written.
const SNAPSHOT_PARTS: TableDefinition<(&str, u64, u32), &[u8]> =
    TableDefinition::new("snapshot_parts");

/// A project's row in `projects`.
#[derive(Clone, Copy, Debug, Default)]
struct ProjectRow {
    last_command: u64,
    last_record: u64,
    records: u64,
}

impl ProjectRow {
    fn from_value((last_command, last_record, records): (u64, u64, u64)) -> ProjectRow {
        ProjectRow {
            last_command,
            last_record,
            records,
        }
    }

    fn value(self) -> (u64, u64, u64) {
        (self.last_command, self.last_record, self.records)
    }
}

/// Why the store could not be opened, read or written.
#[derive(Debug)]
pub enum StoreError {
    /// The data directory or file could not be created, read or written. The message names the
    /// cause when it is a known one (no space left, no permission).
    Io { path: PathBuf, source: io::Error },
    /// The file exists but is not a vpclab store this version can read. It was left untouched.
    Corrupt { path: PathBuf, detail: String },
    /// The file was written by a newer vpclab (format `found`; this one reads up to `supported`).
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The data file was removed, or another file put in its place, while the server ran
    /// (`detail` says which). Nothing more is written until the server is restarted.
    Replaced { path: PathBuf, detail: String },
    /// A commit the store refused because it does not follow what is stored (a gap in the
    /// command numbers, record seqs out of order). Nothing of it was written.
    Refused(String),
    /// Any other database failure.
    Db(String),
}

/// The causes of an I/O error that the operator can act on, and that the message names
/// instead of guessing.
enum IoCause {
    /// The device is full.
    NoSpace,
    /// The user's disk quota is used up: no space either, as far as the user can tell.
    Quota,
    /// No permission, or a read-only file system.
    Denied,
    /// A file or directory on the way does not exist.
    Missing,
    Other,
}

impl IoCause {
    /// `kind()` covers the raw OS errors too: std maps ENOSPC to `StorageFull`, EDQUOT to
    /// `QuotaExceeded`, EACCES and EPERM to `PermissionDenied`, EROFS to `ReadOnlyFilesystem`.
    /// redb passes its backend's `io::Error` through unchanged (`StorageError::Io`).
    fn of(error: &io::Error) -> IoCause {
        match error.kind() {
            io::ErrorKind::StorageFull => IoCause::NoSpace,
            io::ErrorKind::QuotaExceeded => IoCause::Quota,
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => IoCause::Denied,
            io::ErrorKind::NotFound => IoCause::Missing,
            _ => IoCause::Other,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, source } => match IoCause::of(source) {
                IoCause::NoSpace => write!(
                    f,
                    "no space left on the device holding {}: free space; nothing was stored, \
                     and storing resumes by itself once there is room",
                    path.display()
                ),
                IoCause::Quota => write!(
                    f,
                    "no space left on the device holding {} (disk quota exceeded): free space \
                     or raise the quota; nothing was stored, and storing resumes by itself \
                     once there is room",
                    path.display()
                ),
                IoCause::Denied => write!(
                    f,
                    "{} may not be written ({source}): give this user write access to it and \
                     to the data directory, or make the file system writable; nothing was \
                     stored",
                    path.display()
                ),
                IoCause::Missing => write!(
                    f,
                    "cannot use the data file {}: {source}; check that the data directory \
                     exists",
                    path.display()
                ),
                IoCause::Other => {
                    write!(f, "cannot use the data file {}: {source}", path.display())
                }
            },
            StoreError::Corrupt { path, detail } => write!(
                f,
                "the data file {} is corrupt or not a vpclab store ({detail}); it was left \
                 untouched: restore it from a backup, or move it away to start with an empty \
                 store",
                path.display()
            ),
            StoreError::NewerFormat {
                path,
                found,
                supported,
            } => write!(
                f,
                "the data file {} has store format {found}, but this vpclab reads formats up to \
                 {supported}; run the newer vpclab that wrote it, or choose another data \
                 directory",
                path.display()
            ),
            StoreError::Replaced { path, detail } => write!(
                f,
                "the data file {} was removed or replaced while the server was running \
                 ({detail}); changes are no longer stored, as nobody could read them back: \
                 restart the server (put the original file or a backup back first to keep \
                 its data)",
                path.display()
            ),
            StoreError::Db(message) | StoreError::Refused(message) => {
                write!(f, "data store: {message}")
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl StoreError {
    /// Whether the error is an I/O failure, after which redb refuses every operation on the
    /// open database until it is reopened.
    fn needs_reopen(&self) -> bool {
        matches!(self, StoreError::Io { .. })
    }
}

/// One delivered flow-log record, as stored and as returned by `query` and `since`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The log stream the record was delivered to.
    pub stream: String,
    /// The start of the record's capture window, in virtual microseconds.
    pub time_us: u64,
    /// Per project, strictly increasing in delivery order and at least 1; assigned by the caller.
    pub seq: u64,
    /// The flow log that produced the record.
    pub flow_log: String,
    /// The record as rendered in the flow log's format.
    pub line: String,
}

/// One command to store with what it delivered and the purges due (see `Store::commit`), and
/// perhaps a snapshot of the project right after it.
#[derive(Clone, Copy, Debug)]
pub struct Commit<'a> {
    pub project: &'a str,
    pub seq: u64,
    pub command: &'a [u8],
    pub records: &'a [StoredRecord],
    pub purges: &'a [Purge],
}

/// Part `index` of `of` of the snapshot of `project` taken right after its command `seq`,
/// written with a batch (`Store::commit_batch`). Parts go in order; the last one makes the
/// snapshot the project's. A part is dropped, writing nothing, when its command is not
/// stored, or when `gone` says (read inside the transaction) that its project was deleted
/// since it was taken.
#[derive(Clone, Copy)]
pub struct SnapshotPart<'a> {
    pub project: &'a str,
    pub seq: u64,
    pub index: u32,
    pub of: u32,
    pub bytes: &'a [u8],
    pub gone: &'a dyn Fn() -> bool,
}

impl fmt::Debug for SnapshotPart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotPart")
            .field("project", &self.project)
            .field("seq", &self.seq)
            .field("index", &self.index)
            .field("of", &self.of)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Retention: delete the records of `stream` whose `time_us` is before `before_us`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purge {
    /// The log stream whose old records go.
    pub stream: String,
    /// Records with `time_us` before this instant (virtual microseconds) are deleted.
    pub before_us: u64,
}

/// Puts redb on the opened data file. `file_backend` in the server; tests slip a backend that
/// injects faults in between, and since reopening goes through here too, it stays in place.
type OpenDb = dyn Fn(&Builder, fs::File) -> Result<Database, DatabaseError> + Send + Sync;

/// The server's `OpenDb`: redb's own file backend. `create_with_backend` is redb's one way to
/// open a backend; of an existing file it would only ever initialize an empty one, which
/// `open_file` refuses first.
fn file_backend(builder: &Builder, file: fs::File) -> Result<Database, DatabaseError> {
    builder.create_with_backend(FileBackend::new(file)?)
}

/// Which file a path names: device and inode on Unix. Elsewhere there is no stable equivalent,
/// and only the file's disappearance is noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> FileId {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            FileId {}
        }
    }
}

/// The open database, behind `Store::state`.
struct DbState {
    /// `None` after a failed database was closed and opening the file again failed too: the
    /// next read or write tries again.
    db: Option<Database>,
    /// How many times the database was reopened. A call that saw the database fail passes the
    /// generation it used to `reopen`, so of several calls that met the same failure only the
    /// first reopens, and a database that was already replaced is never closed by mistake.
    generation: u64,
}

/// The durable store: one redb database. Cheap to share behind an `Arc`; reads run
/// concurrently with each other and with the one write at a time.
pub struct Store {
    path: PathBuf,
    /// Every read and write holds this shared for as long as it uses the database, so `reopen`,
    /// which holds it exclusively, never closes the database under a running transaction.
    state: RwLock<DbState>,
    /// The file opened at start. Writes and reopens refuse any other (see `check_file`).
    identity: FileId,
    /// Set, once and for good, when the data file was found removed or replaced: why.
    replaced: OnceLock<String>,
    open_db: Box<OpenDb>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the store in `dir` (created if missing). A missing file becomes a fresh store of
    /// `FORMAT_VERSION`; an existing file is opened as it is, its integrity checked, and refused
    /// (`Corrupt`, `NewerFormat`) rather than ever recreated or truncated.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, Box::new(file_backend))
    }

    /// `open`, putting redb on the file with `open_db`, now and on every reopen.
    fn open_with(dir: &Path, open_db: Box<OpenDb>) -> Result<Store, StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let exists = path.try_exists().map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        if !exists {
            create_fresh(dir, &path)?;
        }
        let (file, identity) = open_file(&path)?;
        let db = open_database(&path, file, &*open_db)?;
        Ok(Store {
            path,
            state: RwLock::new(DbState {
                db: Some(db),
                generation: 0,
            }),
            identity,
            replaced: OnceLock::new(),
            open_db,
        })
    }

    /// The projects that have at least one command, sorted.
    pub fn projects(&self) -> Result<Vec<String>, StoreError> {
        self.read(|db| {
            let txn = db.begin_read().map_err(|e| self.fail("read", e))?;
            let table = txn.open_table(PROJECTS).map_err(|e| self.fail("read", e))?;
            let mut projects = Vec::new();
            for entry in table.iter().map_err(|e| self.fail("read", e))? {
                let (key, _) = entry.map_err(|e| self.fail("read", e))?;
                projects.push(key.value().to_string());
            }
            Ok(projects)
        })
    }

    /// A project's commands as `(seq, bytes)`, in seq order (1, 2, …).
    pub fn commands(&self, project: &str) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.commands_after(project, 0)
    }

    /// A project's commands after `after` (those a snapshot taken at `after` lacks), in seq
    /// order.
    pub fn commands_after(
        &self,
        project: &str,
        after: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        if after == u64::MAX {
            return Ok(Vec::new());
        }
        self.read(|db| {
            let txn = db.begin_read().map_err(|e| self.fail("read", e))?;
            let table = txn.open_table(COMMANDS).map_err(|e| self.fail("read", e))?;
            let range = table
                .range((project, after + 1)..=(project, u64::MAX))
                .map_err(|e| self.fail("read", e))?;
            let mut commands = Vec::new();
            for entry in range {
                let (key, value) = entry.map_err(|e| self.fail("read", e))?;
                commands.push((key.value().1, value.value().to_vec()));
            }
            Ok(commands)
        })
    }

    /// The project's latest whole snapshot, as `(seq, bytes)`: its state right after command
    /// `seq`.
    pub fn snapshot(&self, project: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.read(|db| {
            let txn = db.begin_read().map_err(|e| self.fail("read", e))?;
            let table = txn
                .open_table(SNAPSHOTS)
                .map_err(|e| self.fail("read", e))?;
            let Some((seq, of)) = table
                .get(project)
                .map_err(|e| self.fail("read", e))?
                .map(|guard| guard.value())
            else {
                return Ok(None);
            };
            let parts = txn
                .open_table(SNAPSHOT_PARTS)
                .map_err(|e| self.fail("read", e))?;
            let mut bytes = Vec::new();
            for index in 0..of {
                let part = parts
                    .get((project, seq, index))
                    .map_err(|e| self.fail("read", e))?
                    .ok_or_else(|| StoreError::Corrupt {
                        path: self.path.clone(),
                        detail: format!(
                            "project {project:?}: part {index} of the snapshot at command {seq} \
                             is missing"
                        ),
                    })?;
                bytes.extend_from_slice(part.value());
            }
            Ok(Some((seq, bytes)))
        })
    }

    /// Writes a snapshot part into `txn` (see `SnapshotPart`). Returns whether it was written.
    fn write_part(&self, txn: &WriteTransaction, p: &SnapshotPart<'_>) -> Result<bool, StoreError> {
        let fail = |e: redb::Error| self.fail("commit", e);
        let projects = txn.open_table(PROJECTS).map_err(|e| fail(e.into()))?;
        let stored = projects
            .get(p.project)
            .map_err(|e| fail(e.into()))?
            .map(|guard| ProjectRow::from_value(guard.value()).last_command);
        if (p.gone)() || stored.is_none_or(|last| last < p.seq) || p.index >= p.of {
            return Ok(false);
        }
        let mut parts = txn.open_table(SNAPSHOT_PARTS).map_err(|e| fail(e.into()))?;
        parts
            .insert((p.project, p.seq, p.index), p.bytes)
            .map_err(|e| fail(e.into()))?;
        if p.index + 1 == p.of {
            // Whole: it replaces the project's snapshot, and every other part goes.
            let project = p.project;
            parts
                .retain_in((project, 0, 0)..(project, p.seq, 0), |_, _| false)
                .map_err(|e| fail(e.into()))?;
            parts
                .retain_in(
                    (project, p.seq + 1, 0)..=(project, u64::MAX, u32::MAX),
                    |_, _| false,
                )
                .map_err(|e| fail(e.into()))?;
            let mut snapshots = txn.open_table(SNAPSHOTS).map_err(|e| fail(e.into()))?;
            snapshots
                .insert(project, (p.seq, p.of))
                .map_err(|e| fail(e.into()))?;
        }
        Ok(true)
    }

    /// Durably appends command `seq` of `project` with the records it delivered, then applies
    /// `purges`, in one transaction. `seq` must be exactly the project's last seq + 1 (the first
    /// is 1), and record seqs must increase strictly through `records`, past every record seq
    /// the project ever stored (so the first is at least 1); otherwise nothing is written and
    /// the error is `Db`. Purges run after the records are added, so they may remove some of
    /// them. When this returns `Ok`, everything is on disk; when it fails, nothing of it is
    /// (see `write`).
    pub fn commit(
        &self,
        project: &str,
        seq: u64,
        command: &[u8],
        records: &[StoredRecord],
        purges: &[Purge],
    ) -> Result<(), StoreError> {
        let commit = Commit {
            project,
            seq,
            command,
            records,
            purges,
        };
        self.write("commit", |txn| self.write_commit(txn, &commit))
    }

    /// Group commit: durably appends several commits, of one project or many, in one
    /// transaction, so concurrent writers share one flush. Each is checked like `commit`, in
    /// order, against what is stored and what the commits before it in the batch added; one
    /// that does not follow is `Refused` and leaves nothing, without affecting the others. Any
    /// other failure fails them all. One result per commit, in order.
    pub fn commit_batch(&self, commits: &[Commit<'_>]) -> Vec<Result<(), StoreError>> {
        self.commit_batch_with(commits, None).0
    }

    /// `commit_batch`, and a snapshot part written after the commits in the same transaction.
    /// Returns the commits' results, and whether the part was written (`false` when it was
    /// dropped or the transaction failed).
    pub fn commit_batch_with(
        &self,
        commits: &[Commit<'_>],
        part: Option<&SnapshotPart<'_>>,
    ) -> (Vec<Result<(), StoreError>>, bool) {
        let written = std::sync::atomic::AtomicBool::new(false);
        // `write` may run its body twice (a retry after a reopen): each run starts afresh.
        let refused: std::sync::Mutex<Vec<Option<String>>> =
            std::sync::Mutex::new(vec![None; commits.len()]);
        let outcome = self.write("commit", |txn| {
            let mut refused = refused.lock().unwrap_or_else(|e| e.into_inner());
            refused.iter_mut().for_each(|r| *r = None);
            for (i, c) in commits.iter().enumerate() {
                match self.write_commit(txn, c) {
                    Ok(()) => {}
                    Err(StoreError::Refused(m)) => refused[i] = Some(m),
                    Err(e) => return Err(e),
                }
            }
            if let Some(p) = part {
                written.store(
                    self.write_part(txn, p)?,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            Ok(())
        });
        match outcome {
            Ok(()) => (
                refused
                    .into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .into_iter()
                    .map(|r| r.map_or(Ok(()), |m| Err(StoreError::Refused(m))))
                    .collect(),
                written.into_inner(),
            ),
            Err(e) => {
                let message = e.to_string();
                let mut results = vec![Err(e)];
                results.extend((1..commits.len()).map(|_| Err(StoreError::Db(message.clone()))));
                results.truncate(commits.len());
                (results, false)
            }
        }
    }

    /// Runs `body` in one durable write transaction: all of it lands, or none.
    ///
    /// First checks that the data file is still the one opened at start (`check_file`). On an
    /// I/O error the database is reopened, so the next call finds a working store once the
    /// cause is gone; the error is returned either way. The transaction is not retried, as a
    /// retry would mostly meet the same cause, except when beginning it failed: then nothing
    /// was attempted, and the error is one an earlier failure left behind.
    ///
    /// A failed transaction leaves nothing, with one case redb cannot rule out: the final flush
    /// failing after the commit's header write reached the OS, which a reopen may then read as
    /// committed. Callers that rebuild from the store after a failure still agree with it.
    fn write(
        &self,
        what: &str,
        body: impl Fn(&WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.check_file()?;
        let mut retried = false;
        loop {
            let (generation, outcome) = self.with_db(|db| self.write_once(db, what, &body))?;
            let (began, err) = match outcome {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            if !err.needs_reopen() {
                return Err(err);
            }
            let reopened = self.reopen(generation);
            if !began && !retried {
                reopened?;
                retried = true;
                continue;
            }
            if let Err(e) = reopened {
                // The next call tries again; this one reports what failed it.
                tracing::warn!(error = %e, "reopening the data store after a failed write failed");
            }
            return Err(err);
        }
    }

    /// One attempt of `write`. An error comes with whether the transaction had begun.
    fn write_once(
        &self,
        db: &Database,
        what: &str,
        body: &impl Fn(&WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<(), (bool, StoreError)> {
        let mut txn = db.begin_write().map_err(|e| (false, self.fail(what, e)))?;
        // The default in redb 4, set anyway: acknowledging a command promises it is on disk.
        txn.set_durability(Durability::Immediate)
            .map_err(|e| (true, self.fail(what, e)))?;
        match body(&txn) {
            Ok(()) => txn.commit().map_err(|e| (true, self.fail(what, e))),
            Err(err) => {
                // Nothing of a refused commit may land: roll back explicitly.
                let _ = txn.abort();
                Err((true, err))
            }
        }
    }

    /// Writes one commit into `txn`, after checking that it follows what is stored
    /// (`Refused`, with nothing written, when it does not).
    fn write_commit(&self, txn: &WriteTransaction, c: &Commit<'_>) -> Result<(), StoreError> {
        let Commit {
            project,
            seq,
            command,
            records,
            purges,
        } = *c;
        let fail = |e: redb::Error| self.fail("commit", e);
        let mut projects = txn.open_table(PROJECTS).map_err(|e| fail(e.into()))?;
        let mut row = projects
            .get(project)
            .map_err(|e| fail(e.into()))?
            .map(|guard| ProjectRow::from_value(guard.value()))
            .unwrap_or_default();
        if row.last_command.checked_add(1) != Some(seq) {
            return Err(StoreError::Refused(format!(
                "project {project:?}: refused command {seq}: the next command must be {} \
                 (commands are numbered without gaps from 1)",
                row.last_command.saturating_add(1)
            )));
        }
        // Every check before the first write: a refused commit leaves nothing in the batch.
        let mut last = row.last_record;
        for record in records {
            if record.seq <= last {
                return Err(StoreError::Refused(format!(
                    "project {project:?}: refused command {seq}: record seq {} does not follow \
                     seq {last} (record seqs must increase strictly)",
                    record.seq
                )));
            }
            last = record.seq;
        }
        row.last_command = seq;

        let mut commands = txn.open_table(COMMANDS).map_err(|e| fail(e.into()))?;
        commands
            .insert((project, seq), command)
            .map_err(|e| fail(e.into()))?;

        let mut by_time = txn.open_table(RECORDS).map_err(|e| fail(e.into()))?;
        let mut by_seq = txn.open_table(RECORDS_BY_SEQ).map_err(|e| fail(e.into()))?;
        for record in records {
            row.last_record = record.seq;
            let json = serde_json::to_vec(record)
                .map_err(|e| StoreError::Db(format!("cannot encode a record: {e}")))?;
            by_time
                .insert(
                    (project, record.stream.as_str(), record.time_us, record.seq),
                    json.as_slice(),
                )
                .map_err(|e| fail(e.into()))?;
            by_seq
                .insert(
                    (project, record.stream.as_str(), record.seq),
                    record.time_us,
                )
                .map_err(|e| fail(e.into()))?;
            row.records += 1;
        }

        for purge in purges {
            let stream = purge.stream.as_str();
            let mut doomed = Vec::new();
            for entry in by_time
                .range((project, stream, 0, 0)..(project, stream, purge.before_us, 0))
                .map_err(|e| fail(e.into()))?
            {
                let (key, _) = entry.map_err(|e| fail(e.into()))?;
                let (_, _, time_us, seq) = key.value();
                doomed.push((time_us, seq));
            }
            for (time_us, seq) in doomed {
                by_time
                    .remove((project, stream, time_us, seq))
                    .map_err(|e| fail(e.into()))?;
                by_seq
                    .remove((project, stream, seq))
                    .map_err(|e| fail(e.into()))?;
                row.records = row.records.saturating_sub(1);
            }
        }

        projects
            .insert(project, row.value())
            .map_err(|e| fail(e.into()))?;
        Ok(())
    }

    /// The records of `project`'s `stream` with `from_us <= time_us < to_us` whose line contains
    /// every keyword (case-insensitive), ordered by `(time_us, seq)`, at most `limit`. For the
    /// next page pass `after: Some((time_us, seq))` of the last record returned.
    #[allow(clippy::too_many_arguments)]
    pub fn query(
        &self,
        project: &str,
        stream: &str,
        from_us: u64,
        to_us: u64,
        keywords: &[String],
        after: Option<(u64, u64)>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let start = match after {
            Some(cursor) if cursor >= (from_us, 0) => cursor,
            _ => (from_us, 0),
        };
        if limit == 0 || start >= (to_us, 0) {
            return Ok(Vec::new());
        }
        let lower = match after {
            Some(cursor) if cursor >= (from_us, 0) => {
                Bound::Excluded((project, stream, cursor.0, cursor.1))
            }
            _ => Bound::Included((project, stream, from_us, 0)),
        };
        let upper = Bound::Excluded((project, stream, to_us, 0));
        let needles: Vec<String> = keywords.iter().map(|k| k.to_lowercase()).collect();

        self.read(|db| {
            let txn = db.begin_read().map_err(|e| self.fail("query", e))?;
            let table = txn.open_table(RECORDS).map_err(|e| self.fail("query", e))?;
            let mut found = Vec::new();
            for entry in table
                .range((lower, upper))
                .map_err(|e| self.fail("query", e))?
            {
                let (key, value) = entry.map_err(|e| self.fail("query", e))?;
                let record = self.decode(key.value(), value.value())?;
                if matches_all(&record.line, &needles) {
                    found.push(record);
                    if found.len() == limit {
                        break;
                    }
                }
            }
            Ok(found)
        })
    }

    /// The records of `project`'s `stream` with `seq > after_seq`, in seq order, at most `limit`:
    /// a tail resumes from the last seq it has seen.
    pub fn since(
        &self,
        project: &str,
        stream: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(|db| {
            let txn = db.begin_read().map_err(|e| self.fail("tail", e))?;
            let index = txn
                .open_table(RECORDS_BY_SEQ)
                .map_err(|e| self.fail("tail", e))?;
            let records = txn.open_table(RECORDS).map_err(|e| self.fail("tail", e))?;
            let lower = Bound::Excluded((project, stream, after_seq));
            let upper = Bound::Included((project, stream, u64::MAX));
            let mut found = Vec::new();
            for entry in index
                .range((lower, upper))
                .map_err(|e| self.fail("tail", e))?
            {
                let (key, time_us) = entry.map_err(|e| self.fail("tail", e))?;
                let (_, _, seq) = key.value();
                let key = (project, stream, time_us.value(), seq);
                let Some(value) = records.get(key).map_err(|e| self.fail("tail", e))? else {
                    return Err(StoreError::Corrupt {
                        path: self.path.clone(),
                        detail: format!(
                            "record index names project {project:?} stream {stream:?} seq \
                             {seq}, which is missing"
                        ),
                    });
                };
                found.push(self.decode(key, value.value())?);
                if found.len() == limit {
                    break;
                }
            }
            Ok(found)
        })
    }

    /// Deletes everything `project` stored (its commands, records, snapshot and row), durably. The
    /// project's next command is 1 again.
    pub fn delete_project(&self, project: &str) -> Result<(), StoreError> {
        let next = project_successor(project);
        self.write("delete", |txn| {
            let fail = |e: redb::Error| self.fail("delete", e);
            let mut projects = txn.open_table(PROJECTS).map_err(|e| fail(e.into()))?;
            projects.remove(project).map_err(|e| fail(e.into()))?;
            let mut commands = txn.open_table(COMMANDS).map_err(|e| fail(e.into()))?;
            commands
                .retain_in((project, 0)..=(project, u64::MAX), |_, _| false)
                .map_err(|e| fail(e.into()))?;
            // Every stream of the project: tuple keys sort by their first element first.
            let mut by_time = txn.open_table(RECORDS).map_err(|e| fail(e.into()))?;
            by_time
                .retain_in((project, "", 0, 0)..(next.as_str(), "", 0, 0), |_, _| false)
                .map_err(|e| fail(e.into()))?;
            let mut by_seq = txn.open_table(RECORDS_BY_SEQ).map_err(|e| fail(e.into()))?;
            by_seq
                .retain_in((project, "", 0)..(next.as_str(), "", 0), |_, _| false)
                .map_err(|e| fail(e.into()))?;
            let mut snapshots = txn.open_table(SNAPSHOTS).map_err(|e| fail(e.into()))?;
            snapshots.remove(project).map_err(|e| fail(e.into()))?;
            let mut parts = txn.open_table(SNAPSHOT_PARTS).map_err(|e| fail(e.into()))?;
            parts
                .retain_in((project, 0, 0)..=(project, u64::MAX, u32::MAX), |_, _| {
                    false
                })
                .map_err(|e| fail(e.into()))?;
            Ok(())
        })
    }

    /// How many records `project` has stored, over all its streams (after purges).
    pub fn record_count(&self, project: &str) -> Result<u64, StoreError> {
        self.read(|db| {
            let txn = db.begin_read().map_err(|e| self.fail("read", e))?;
            let table = txn.open_table(PROJECTS).map_err(|e| self.fail("read", e))?;
            let row = table.get(project).map_err(|e| self.fail("read", e))?;
            Ok(row.map_or(0, |guard| ProjectRow::from_value(guard.value()).records))
        })
    }

    fn decode(
        &self,
        (project, stream, time_us, seq): (&str, &str, u64, u64),
        bytes: &[u8],
    ) -> Result<StoredRecord, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!(
                "record of project {project:?} stream {stream:?} at {time_us} seq {seq} does \
                 not decode: {e}"
            ),
        })
    }

    /// Maps a redb error met while doing `what` to a `StoreError` naming the file.
    fn fail(&self, what: &str, err: impl Into<redb::Error>) -> StoreError {
        from_redb(&self.path, what, err.into())
    }

    /// Runs the read `f`. If it fails with an I/O error, the database is reopened and `f` runs
    /// once more: redb refuses every operation after one, including reads that would succeed,
    /// and a caller whose commit just failed rebuilds its project by reading.
    fn read<T>(&self, f: impl Fn(&Database) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut retried = false;
        loop {
            let (generation, result) = self.with_db(&f)?;
            match result {
                Err(err) if err.needs_reopen() => {
                    let reopened = self.reopen(generation);
                    if retried {
                        return Err(err);
                    }
                    // Should the file not open again, that is the cause to report.
                    reopened?;
                    retried = true;
                }
                result => return result,
            }
        }
    }

    /// Runs `f` on the open database, with the lock held shared, and returns the generation it
    /// ran on. If an earlier failure left no database open, opens the file again first.
    fn with_db<T>(&self, f: impl FnOnce(&Database) -> T) -> Result<(u64, T), StoreError> {
        loop {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(db) = &state.db {
                return Ok((state.generation, f(db)));
            }
            let generation = state.generation;
            drop(state);
            self.reopen(generation)?;
        }
    }

    /// Closes the database that failed in `generation` and opens the file again, checked as at
    /// start, unless another call already did. Refuses (`Replaced`) to open any other file than
    /// the one opened at start.
    fn reopen(&self, failed: u64) -> Result<(), StoreError> {
        // Not cleared by a poisoned lock: the state is only ever a database or none.
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.generation != failed {
            return Ok(());
        }
        // Closed before opening: redb locks the file per open file description, so the failed
        // handle would make the new open fail as "already open".
        state.db = None;
        self.check_file()?;
        let (file, identity) = open_file(&self.path)?;
        // The name may have been pointed elsewhere since `check_file`; redb must not even
        // repair another file.
        if identity != self.identity {
            return Err(self.mark_replaced("another file now has its name"));
        }
        let db = open_database(&self.path, file, &*self.open_db)?;
        state.db = Some(db);
        state.generation += 1;
        tracing::info!(path = %self.path.display(), "reopened the data store after an I/O error");
        Ok(())
    }

    /// Checks that the data file is still the one opened at start. Once it was found removed or
    /// replaced this keeps failing, even should the file come back: the server's writes in
    /// between were refused, and a restart settles which file is the store.
    fn check_file(&self) -> Result<(), StoreError> {
        if let Some(detail) = self.replaced.get() {
            return Err(StoreError::Replaced {
                path: self.path.clone(),
                detail: detail.clone(),
            });
        }
        match fs::metadata(&self.path) {
            Ok(meta) if FileId::of(&meta) == self.identity => Ok(()),
            Ok(_) => Err(self.mark_replaced("another file now has its name")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(self.mark_replaced("it no longer exists"))
            }
            Err(source) => Err(StoreError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn mark_replaced(&self, detail: &str) -> StoreError {
        let detail = self.replaced.get_or_init(|| {
            tracing::error!(path = %self.path.display(), detail, "the data file was removed or replaced; refusing further writes");
            detail.to_string()
        });
        StoreError::Replaced {
            path: self.path.clone(),
            detail: detail.clone(),
        }
    }
}

/// The next project name after `project` in key order (`project` + NUL): keys whose first
/// element is `project` sort before any key whose first element is this.
fn project_successor(project: &str) -> String {
    format!("{project}\0")
}

/// Whether `line` contains every (already lowercased) needle, ignoring case.
fn matches_all(line: &str, needles: &[String]) -> bool {
    if needles.is_empty() {
        return true;
    }
    let line = line.to_lowercase();
    needles.iter().all(|needle| line.contains(needle.as_str()))
}

fn from_redb(path: &Path, what: &str, err: redb::Error) -> StoreError {
    match err {
        redb::Error::Io(source) => StoreError::Io {
            path: path.to_path_buf(),
            source,
        },
        // The database refuses everything after an I/O error until reopened. An I/O error too,
        // so that callers reopen; the original error went to whoever met it.
        redb::Error::PreviousIo | redb::Error::DatabaseClosed => StoreError::Io {
            path: path.to_path_buf(),
            source: previous_io(),
        },
        redb::Error::Corrupted(detail) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail,
        },
        other => StoreError::Db(format!("{}: {what}: {other}", path.display())),
    }
}

fn previous_io() -> io::Error {
    io::Error::other("an earlier I/O error stopped the database until it is reopened")
}

/// Builds a fresh store under a temporary name and links it into place only once its `meta`
/// table is durable, so `FILE_NAME` never exists without it. Linking (not renaming) refuses to
/// replace a file that appeared meanwhile.
fn create_fresh(dir: &Path, path: &Path) -> Result<(), StoreError> {
    let staging = dir.join(NEW_FILE_NAME);
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    match fs::remove_file(&staging) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&staging)(e)),
    }
    let db = Database::builder()
        .create(&staging)
        .map_err(|e| from_redb(&staging, "create", e.into()))?;
    let fail = |e: redb::Error| from_redb(&staging, "create", e);
    let txn = db.begin_write().map_err(|e| fail(e.into()))?;
    {
        let mut meta = txn.open_table(META).map_err(|e| fail(e.into()))?;
        meta.insert(FORMAT_VERSION_KEY, u64::from(FORMAT_VERSION))
            .map_err(|e| fail(e.into()))?;
        txn.open_table(PROJECTS).map_err(|e| fail(e.into()))?;
        txn.open_table(COMMANDS).map_err(|e| fail(e.into()))?;
        txn.open_table(RECORDS).map_err(|e| fail(e.into()))?;
        txn.open_table(RECORDS_BY_SEQ).map_err(|e| fail(e.into()))?;
        txn.open_table(SNAPSHOTS).map_err(|e| fail(e.into()))?;
        txn.open_table(SNAPSHOT_PARTS).map_err(|e| fail(e.into()))?;
    }
    txn.commit().map_err(|e| fail(e.into()))?;
    db.close().map_err(|e| fail(e.into()))?;

    match fs::hard_link(&staging, path) {
        Ok(()) => fs::remove_file(&staging).map_err(io_error(&staging))?,
        // Another process created the store first: open theirs, drop ours.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(&staging);
            return Ok(());
        }
        // A file system without hard links: rename, after checking the name is still free.
        Err(_) => {
            if path.try_exists().map_err(io_error(path))? {
                let _ = fs::remove_file(&staging);
                return Ok(());
            }
            fs::rename(&staging, path).map_err(io_error(path))?;
        }
    }
    // Make the new name itself durable.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// Opens the existing data file for redb, never creating it, and says which file it is. The
/// store opens it rather than redb so that the checks are about the very file redb gets: its
/// identity, and that it is not empty, which redb would take for a new database to initialize.
fn open_file(path: &Path) -> Result<(fs::File, FileId), StoreError> {
    let io_error = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    if meta.len() == 0 {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "the file is empty".to_string(),
        });
    }
    Ok((file, FileId::of(&meta)))
}

/// Opens the database in `file` (the data file at `path`), checks every page and the format
/// version, and refuses what it cannot read. redb may panic on some files damaged outside redb;
/// that too is `Corrupt`.
fn open_database(path: &Path, file: fs::File, open_db: &OpenDb) -> Result<Database, StoreError> {
    let mut builder = Database::builder();
    builder.set_check_integrity_on_open(true);
    let opened = panic::catch_unwind(AssertUnwindSafe(|| open_db(&builder, file)));
    let path = path.to_path_buf();
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => {
            return Err(StoreError::Db(format!(
                "{} is in use by another process (is another vpclab server using this data \
                 directory?)",
                path.display()
            )));
        }
        // redb reports a file that is not a redb database ("magic number mismatch") or is cut
        // short as I/O errors of these kinds: the file was read, and is not a store.
        Ok(Err(DatabaseError::Storage(redb::StorageError::Io(source))))
            if matches!(
                source.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ) =>
        {
            return Err(StoreError::Corrupt {
                detail: format!("the database cannot be opened: {source}"),
                path,
            });
        }
        // The open repairs and commits, so a full device, say, fails it: not the file's fault.
        Ok(Err(DatabaseError::Storage(redb::StorageError::Io(source)))) => {
            return Err(StoreError::Io { path, source });
        }
        Ok(Err(DatabaseError::Storage(redb::StorageError::PreviousIo))) => {
            return Err(StoreError::Io {
                path,
                source: previous_io(),
            });
        }
        Ok(Err(e)) => {
            return Err(StoreError::Corrupt {
                detail: format!("the database cannot be opened: {e}"),
                path,
            });
        }
        Err(_) => {
            return Err(StoreError::Corrupt {
                detail: "the database engine failed while reading it".to_string(),
                path,
            });
        }
    };
    if check_layout(&db, &path)? < FORMAT_VERSION {
        upgrade(&db, &path)?;
    }
    Ok(db)
}

/// Brings a file of format 1 to `FORMAT_VERSION`: adds the snapshot tables, in one
/// transaction.
fn upgrade(db: &Database, path: &Path) -> Result<(), StoreError> {
    let fail = |e: redb::Error| from_redb(path, "upgrade", e);
    let mut txn = db.begin_write().map_err(|e| fail(e.into()))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| fail(e.into()))?;
    {
        txn.open_table(SNAPSHOTS).map_err(|e| fail(e.into()))?;
        txn.open_table(SNAPSHOT_PARTS).map_err(|e| fail(e.into()))?;
        let mut meta = txn.open_table(META).map_err(|e| fail(e.into()))?;
        meta.insert(FORMAT_VERSION_KEY, u64::from(FORMAT_VERSION))
            .map_err(|e| fail(e.into()))?;
    }
    txn.commit().map_err(|e| fail(e.into()))?;
    tracing::info!(path = %path.display(), from = 1, to = FORMAT_VERSION, "upgraded the data store's format");
    Ok(())
}

/// Checks the format version, then that every table of that version exists with its expected
/// types. Returns the version.
fn check_layout(db: &Database, path: &Path) -> Result<u32, StoreError> {
    let fail = |e: redb::Error| from_redb(path, "open", e);
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let txn = db.begin_read().map_err(|e| fail(e.into()))?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::Storage(e)) => return Err(fail(e.into())),
        Err(e) => return Err(corrupt(format!("no readable meta table: {e}"))),
    };
    let version = meta
        .get(FORMAT_VERSION_KEY)
        .map_err(|e| fail(e.into()))?
        .map(|guard| guard.value())
        .ok_or_else(|| corrupt("the meta table has no format version".to_string()))?;
    if version > u64::from(FORMAT_VERSION) {
        return Err(StoreError::NewerFormat {
            path: path.to_path_buf(),
            found: u32::try_from(version).unwrap_or(u32::MAX),
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(corrupt("format version 0 does not exist".to_string()));
    }
    let missing = |e: redb::TableError| match e {
        redb::TableError::Storage(e) => fail(e.into()),
        e => corrupt(format!("bad table layout: {e}")),
    };
    txn.open_table(PROJECTS).map_err(missing)?;
    txn.open_table(COMMANDS).map_err(missing)?;
    txn.open_table(RECORDS).map_err(missing)?;
    txn.open_table(RECORDS_BY_SEQ).map_err(missing)?;
    // Checked above: 1 ..= FORMAT_VERSION.
    let version = version as u32;
    if version >= 2 {
        txn.open_table(SNAPSHOTS).map_err(missing)?;
        txn.open_table(SNAPSHOT_PARTS).map_err(missing)?;
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
    use std::sync::{Arc, mpsc};

    use redb::{BackendError, StorageBackend};
    use std::time::{Duration, Instant};

    /// A unique directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "vpclab-store-{name}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            TempDir(dir)
        }

        fn file(&self) -> PathBuf {
            self.0.join(FILE_NAME)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn record(stream: &str, time_us: u64, seq: u64, line: &str) -> StoredRecord {
        StoredRecord {
            stream: stream.to_string(),
            time_us,
            seq,
            flow_log: "fl-1".to_string(),
            line: line.to_string(),
        }
    }

    fn seqs(records: &[StoredRecord]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    /// Stream "s" of project "p": seq k at time k * 1000, lines alternating ACCEPT / REJECT.
    fn ten_records(store: &Store) {
        for k in 1..=10u64 {
            let action = if k % 2 == 0 { "REJECT" } else { "ACCEPT" };
            let line = format!("srcaddr:10.0.0.{k} action:{action}");
            let cmd = format!("{{\"n\":{k}}}");
            store
                .commit(
                    "p",
                    k,
                    cmd.as_bytes(),
                    &[record("s", k * 1000, k, &line)],
                    &[],
                )
                .unwrap();
        }
    }

    #[test]
    fn a_batch_stores_each_commit_that_follows_and_refuses_the_others_alone() {
        let dir = TempDir::new("batch");
        let store = Store::open(&dir.0).unwrap();
        let r1 = [record("s", 10, 1, "one")];
        let r_old = [record("s", 20, 1, "reused seq")];
        let r2 = [record("s", 30, 2, "two")];
        let c = |project, seq, command, records| Commit {
            project,
            seq,
            command,
            records,
            purges: &[],
        };
        let results = store.commit_batch(&[
            c("p", 1, b"p1", &r1),
            c("p", 3, b"gap", &[]),
            c("q", 1, b"q1", &[]),
            c("p", 2, b"stale record", &r_old),
            c("p", 2, b"p2", &r2),
        ]);
        let shown: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(shown, [true, false, true, false, true]);
        assert!(matches!(results[1], Err(StoreError::Refused(_))));
        assert!(matches!(results[3], Err(StoreError::Refused(_))));
        let commands = |p| -> Vec<Vec<u8>> {
            store
                .commands(p)
                .unwrap()
                .into_iter()
                .map(|c| c.1)
                .collect()
        };
        assert_eq!(commands("p"), [b"p1".to_vec(), b"p2".to_vec()]);
        assert_eq!(commands("q"), [b"q1".to_vec()]);
        // The refused commit left none of its records.
        assert_eq!(seqs(&store.since("p", "s", 0, 10).unwrap()), [1, 2]);
        assert_eq!(store.record_count("p").unwrap(), 2);
    }

    #[test]
    fn deleting_a_project_takes_all_of_it_and_nothing_of_others() {
        let dir = TempDir::new("delete");
        let store = Store::open(&dir.0).unwrap();
        ten_records(&store);
        // Names that sort right next to "p" keep everything.
        for other in ["o", "p\0", "pa", "p-"] {
            store
                .commit(other, 1, b"c", &[record("s", 5, 1, "kept")], &[])
                .unwrap();
        }
        store.delete_project("p").unwrap();
        assert!(store.commands("p").unwrap().is_empty());
        assert_eq!(store.record_count("p").unwrap(), 0);
        assert!(store.since("p", "s", 0, 100).unwrap().is_empty());
        assert!(
            store
                .query("p", "s", 0, u64::MAX, &[], None, 100)
                .unwrap()
                .is_empty()
        );
        for other in ["o", "p\0", "pa", "p-"] {
            assert_eq!(store.commands(other).unwrap().len(), 1, "{other:?}");
            assert_eq!(seqs(&store.since(other, "s", 0, 100).unwrap()), [1]);
        }
        // The project starts again at command 1.
        store.commit("p", 1, b"again", &[], &[]).unwrap();
        assert_eq!(store.projects().unwrap(), ["o", "p", "p\0", "p-", "pa"]);
    }

    #[test]
    fn an_empty_dir_gets_a_fresh_store() {
        let dir = TempDir::new("fresh");
        let store = Store::open(&dir.0.join("nested")).unwrap();
        assert!(store.projects().unwrap().is_empty());
        assert!(store.commands("p").unwrap().is_empty());
        assert_eq!(store.record_count("p").unwrap(), 0);
        assert!(dir.0.join("nested").join(FILE_NAME).exists());
        assert!(!dir.0.join("nested").join(NEW_FILE_NAME).exists());
        drop(store);
        // And it opens again as an existing store.
        Store::open(&dir.0.join("nested")).unwrap();
    }

    #[test]
    fn commands_and_records_survive_reopen() {
        let dir = TempDir::new("reopen");
        let records = vec![
            record("s", 5_000, 1, "first ACCEPT"),
            record("t", 5_000, 2, "second REJECT"),
        ];
        {
            let store = Store::open(&dir.0).unwrap();
            store.commit("p", 1, b"{\"a\":1}", &[], &[]).unwrap();
            store.commit("p", 2, b"{\"b\":2}", &records, &[]).unwrap();
            store.commit("q", 1, b"\x00\xffraw", &[], &[]).unwrap();
        }
        let store = Store::open(&dir.0).unwrap();
        assert_eq!(store.projects().unwrap(), ["p", "q"]);
        assert_eq!(
            store.commands("p").unwrap(),
            [(1, b"{\"a\":1}".to_vec()), (2, b"{\"b\":2}".to_vec())]
        );
        assert_eq!(store.commands("q").unwrap(), [(1, b"\x00\xffraw".to_vec())]);
        assert_eq!(store.record_count("p").unwrap(), 2);
        assert_eq!(
            store.query("p", "s", 0, u64::MAX, &[], None, 10).unwrap(),
            [records[0].clone()]
        );
        assert_eq!(store.since("p", "t", 0, 10).unwrap(), [records[1].clone()]);
        // The next command continues the numbering.
        store.commit("p", 3, b"{}", &[], &[]).unwrap();
    }

    #[test]
    fn a_seq_gap_or_repeat_is_refused_and_writes_nothing() {
        let dir = TempDir::new("gap");
        let store = Store::open(&dir.0).unwrap();
        let bad = [record("s", 1, 1, "x")];
        for seq in [0, 2, u64::MAX] {
            let err = store.commit("p", seq, b"c", &bad, &[]).unwrap_err();
            assert!(matches!(err, StoreError::Refused(_)), "{err:?}");
            assert!(err.to_string().contains("next command must be 1"), "{err}");
        }
        assert!(store.projects().unwrap().is_empty());
        assert_eq!(store.record_count("p").unwrap(), 0);

        store.commit("p", 1, b"one", &bad, &[]).unwrap();
        let later = [record("s", 2, 2, "y")];
        for seq in [1, 3] {
            let err = store.commit("p", seq, b"bad", &later, &[]).unwrap_err();
            assert!(err.to_string().contains("next command must be 2"), "{err}");
        }
        assert_eq!(store.commands("p").unwrap(), [(1, b"one".to_vec())]);
        assert_eq!(store.record_count("p").unwrap(), 1);
        assert_eq!(seqs(&store.since("p", "s", 0, 10).unwrap()), [1]);
        // Nothing of the refused commits survives a reopen either.
        drop(store);
        let store = Store::open(&dir.0).unwrap();
        assert_eq!(store.commands("p").unwrap(), [(1, b"one".to_vec())]);
        assert_eq!(store.record_count("p").unwrap(), 1);
    }

    #[test]
    fn record_seqs_must_increase() {
        let dir = TempDir::new("recseq");
        let store = Store::open(&dir.0).unwrap();
        store
            .commit("p", 1, b"c", &[record("s", 10, 5, "a")], &[])
            .unwrap();
        // Not past the stored seq, or not increasing within the commit: refused whole.
        for records in [
            vec![record("t", 10, 5, "dup")],
            vec![record("t", 10, 7, "b"), record("u", 10, 6, "c")],
        ] {
            let err = store.commit("p", 2, b"c", &records, &[]).unwrap_err();
            assert!(
                err.to_string().contains("record seqs must increase"),
                "{err}"
            );
        }
        assert_eq!(store.commands("p").unwrap().len(), 1);
        assert_eq!(store.record_count("p").unwrap(), 1);
        assert!(store.since("p", "t", 0, 10).unwrap().is_empty());
        // Another project numbers its records independently.
        store
            .commit("q", 1, b"c", &[record("s", 10, 1, "a")], &[])
            .unwrap();
    }

    #[test]
    fn query_by_time_range() {
        let dir = TempDir::new("range");
        let store = Store::open(&dir.0).unwrap();
        ten_records(&store);
        let got = store.query("p", "s", 3000, 6000, &[], None, 100).unwrap();
        assert_eq!(seqs(&got), [3, 4, 5]);
        assert_eq!(
            got[0],
            record("s", 3000, 3, "srcaddr:10.0.0.3 action:ACCEPT")
        );
        let all = store.query("p", "s", 0, u64::MAX, &[], None, 100).unwrap();
        assert_eq!(seqs(&all), (1..=10).collect::<Vec<_>>());
        // An empty or reversed range, no room, an unknown stream: nothing.
        for (stream, from, to, limit) in [
            ("s", 6000, 6000, 9),
            ("s", 7000, 3000, 9),
            ("s", 0, 99, 0),
            ("x", 0, u64::MAX, 9),
        ] {
            let got = store
                .query("p", stream, from, to, &[], None, limit)
                .unwrap();
            assert!(got.is_empty(), "{stream} {from}..{to} limit {limit}");
        }
    }

    #[test]
    fn query_orders_by_time_then_seq() {
        let dir = TempDir::new("order");
        let store = Store::open(&dir.0).unwrap();
        let records = [
            record("s", 2000, 1, "late window, first delivered"),
            record("s", 1000, 2, "early window"),
            record("s", 2000, 3, "late window, second delivered"),
        ];
        store.commit("p", 1, b"c", &records, &[]).unwrap();
        let got = store.query("p", "s", 0, u64::MAX, &[], None, 10).unwrap();
        assert_eq!(seqs(&got), [2, 1, 3]);
        assert_eq!(seqs(&store.since("p", "s", 0, 10).unwrap()), [1, 2, 3]);
    }

    #[test]
    fn query_keywords_are_anded_and_case_insensitive() {
        let dir = TempDir::new("keywords");
        let store = Store::open(&dir.0).unwrap();
        ten_records(&store);
        let q = |kw: &[&str]| {
            seqs(
                &store
                    .query("p", "s", 0, u64::MAX, &words(kw), None, 100)
                    .unwrap(),
            )
        };
        assert_eq!(q(&["reject"]), [2, 4, 6, 8, 10]);
        assert_eq!(q(&["Action:Accept", "10.0.0.1"]), [1]);
        assert_eq!(q(&["10.0.0.1"]), [1, 10]);
        assert_eq!(q(&["10.0.0.1", "REJECT"]), [10]);
        assert_eq!(q(&["accept", "reject"]), Vec::<u64>::new());
        assert_eq!(q(&[""]).len(), 10);
    }

    #[test]
    fn query_pages_with_after() {
        let dir = TempDir::new("paging");
        let store = Store::open(&dir.0).unwrap();
        ten_records(&store);
        let kw = words(&["accept"]);
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = store.query("p", "s", 2000, 10_000, &kw, after, 2).unwrap();
            if page.is_empty() {
                break;
            }
            let last = page.last().unwrap();
            after = Some((last.time_us, last.seq));
            pages.push(seqs(&page));
        }
        assert_eq!(pages, [vec![3, 5], vec![7, 9]]);
        // A cursor before the range starts at the range; one past it ends the query.
        let got = store
            .query("p", "s", 4000, 6000, &[], Some((1000, 1)), 10)
            .unwrap();
        assert_eq!(seqs(&got), [4, 5]);
        assert!(
            store
                .query("p", "s", 0, 6000, &[], Some((6000, 6)), 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn since_tails_one_stream_in_seq_order() {
        let dir = TempDir::new("since");
        let store = Store::open(&dir.0).unwrap();
        store
            .commit(
                "p",
                1,
                b"c",
                &[
                    record("s", 9000, 1, "a"),
                    record("other", 1000, 2, "b"),
                    record("s", 1000, 3, "c"),
                ],
                &[],
            )
            .unwrap();
        store
            .commit("p", 2, b"c", &[record("s", 500, 4, "d")], &[])
            .unwrap();
        assert_eq!(seqs(&store.since("p", "s", 0, 100).unwrap()), [1, 3, 4]);
        assert_eq!(seqs(&store.since("p", "s", 1, 100).unwrap()), [3, 4]);
        assert_eq!(seqs(&store.since("p", "s", 0, 2).unwrap()), [1, 3]);
        assert!(store.since("p", "s", 4, 100).unwrap().is_empty());
        assert!(store.since("p", "s", u64::MAX, 100).unwrap().is_empty());
        assert_eq!(seqs(&store.since("p", "other", 0, 100).unwrap()), [2]);
    }

    #[test]
    fn purge_deletes_old_records_of_one_stream_everywhere() {
        let dir = TempDir::new("purge");
        let store = Store::open(&dir.0).unwrap();
        ten_records(&store);
        store
            .commit("p", 11, b"c", &[record("t", 1000, 11, "other stream")], &[])
            .unwrap();
        // Retention runs after the command's own records land.
        store
            .commit(
                "p",
                12,
                b"c",
                &[record("s", 2500, 12, "late record, already expired")],
                &[Purge {
                    stream: "s".to_string(),
                    before_us: 4000,
                }],
            )
            .unwrap();
        let left = store.query("p", "s", 0, u64::MAX, &[], None, 100).unwrap();
        assert_eq!(seqs(&left), [4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(
            seqs(&store.since("p", "s", 0, 100).unwrap()),
            [4, 5, 6, 7, 8, 9, 10]
        );
        assert_eq!(seqs(&store.since("p", "t", 0, 100).unwrap()), [11]);
        assert_eq!(store.record_count("p").unwrap(), 8);
        // The commands stay: replay needs them.
        assert_eq!(store.commands("p").unwrap().len(), 12);
        // Purging nothing, or everything.
        let purge = |before_us| Purge {
            stream: "s".to_string(),
            before_us,
        };
        store.commit("p", 13, b"c", &[], &[purge(0)]).unwrap();
        assert_eq!(store.record_count("p").unwrap(), 8);
        store
            .commit("p", 14, b"c", &[], &[purge(u64::MAX)])
            .unwrap();
        assert!(store.since("p", "s", 0, 100).unwrap().is_empty());
        assert_eq!(store.record_count("p").unwrap(), 1);
        drop(store);
        assert_eq!(Store::open(&dir.0).unwrap().record_count("p").unwrap(), 1);
    }

    #[test]
    fn projects_are_isolated() {
        let dir = TempDir::new("tenancy");
        let store = Store::open(&dir.0).unwrap();
        // Names that are prefixes of each other, and a separator inside a name.
        let a = [
            record("s", 1000, 1, "secret of a"),
            record("s\u{0}x", 1000, 2, "a"),
        ];
        let b = [record("s", 1000, 1, "secret of ab")];
        store.commit("a", 1, b"cmd a", &a, &[]).unwrap();
        store.commit("ab", 1, b"cmd ab", &b, &[]).unwrap();
        store.commit("a\u{0}b", 1, b"cmd a0b", &[], &[]).unwrap();
        assert_eq!(store.projects().unwrap(), ["a", "a\u{0}b", "ab"]);
        assert_eq!(store.commands("a").unwrap(), [(1, b"cmd a".to_vec())]);
        assert_eq!(store.commands("ab").unwrap(), [(1, b"cmd ab".to_vec())]);
        assert_eq!(store.record_count("a").unwrap(), 2);
        assert_eq!(store.record_count("ab").unwrap(), 1);
        assert_eq!(store.record_count("a\u{0}b").unwrap(), 0);
        let all = |p: &str, s: &str| store.query(p, s, 0, u64::MAX, &[], None, 100).unwrap();
        assert_eq!(all("a", "s"), [a[0].clone()]);
        assert_eq!(all("ab", "s"), [b[0].clone()]);
        assert!(all("a\u{0}b", "s").is_empty());
        assert!(all("", "s").is_empty());
        assert_eq!(store.since("a", "s", 0, 100).unwrap(), [a[0].clone()]);
        assert_eq!(store.since("ab", "s", 0, 100).unwrap(), [b[0].clone()]);
        // B's purge leaves A's records alone.
        let purge = Purge {
            stream: "s".to_string(),
            before_us: u64::MAX,
        };
        store.commit("ab", 2, b"purge", &[], &[purge]).unwrap();
        assert!(all("ab", "s").is_empty());
        assert_eq!(all("a", "s"), [a[0].clone()]);
        assert_eq!(store.record_count("a").unwrap(), 2);
    }

    #[test]
    fn garbage_is_corrupt_and_left_untouched() {
        let dir = TempDir::new("garbage");
        fs::create_dir_all(&dir.0).unwrap();
        let mut garbage = Vec::new();
        let mut x = 0x9e37_79b9_u32;
        for _ in 0..64 * 1024 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            garbage.push(x as u8);
        }
        // A real store whose pages after the first are garbled.
        let garbled = {
            let store = Store::open(&dir.0).unwrap();
            ten_records(&store);
            drop(store);
            let mut bytes = fs::read(dir.file()).unwrap();
            bytes[4096..].iter_mut().for_each(|b| *b ^= 0x5a);
            bytes
        };
        for bytes in [
            b"this is not a database".to_vec(),
            garbage,
            Vec::new(),
            garbled,
        ] {
            fs::write(dir.file(), &bytes).unwrap();
            let err = Store::open(&dir.0).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains(&dir.file().display().to_string()),
                "{message}"
            );
            assert!(message.contains("move it away"), "{message}");
            assert_eq!(fs::read(dir.file()).unwrap(), bytes, "the file was changed");
        }
    }

    #[test]
    fn a_redb_file_without_meta_is_corrupt() {
        let dir = TempDir::new("nometa");
        fs::create_dir_all(&dir.0).unwrap();
        let other: TableDefinition<&str, u64> = TableDefinition::new("something else");
        {
            let db = Database::create(dir.file()).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(other).unwrap().insert("k", 1).unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(&dir.0).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("meta"), "{err}");
        // Still the foreign database, with its data.
        let db = Database::open(dir.file()).unwrap();
        let txn = db.begin_read().unwrap();
        assert_eq!(
            txn.open_table(other)
                .unwrap()
                .get("k")
                .unwrap()
                .unwrap()
                .value(),
            1
        );
    }

    #[test]
    fn a_newer_format_is_refused() {
        let dir = TempDir::new("newer");
        {
            let store = Store::open(&dir.0).unwrap();
            store.commit("p", 1, b"keep me", &[], &[]).unwrap();
            drop(store);
            let db = Database::open(dir.file()).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(FORMAT_VERSION_KEY, 99)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(&dir.0).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NewerFormat {
                    found: 99,
                    supported: FORMAT_VERSION,
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&dir.file().display().to_string()),
            "{message}"
        );
        assert!(message.contains("format 99"), "{message}");
        // Untouched: set the version back and the command is still there.
        let db = Database::open(dir.file()).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(FORMAT_VERSION_KEY, u64::from(FORMAT_VERSION))
            .unwrap();
        txn.commit().unwrap();
        drop(db);
        let store = Store::open(&dir.0).unwrap();
        assert_eq!(store.commands("p").unwrap(), [(1, b"keep me".to_vec())]);
    }

    #[test]
    fn a_second_open_is_refused_while_in_use() {
        let dir = TempDir::new("locked");
        let _store = Store::open(&dir.0).unwrap();
        let err = Store::open(&dir.0).unwrap_err();
        assert!(matches!(err, StoreError::Db(_)), "{err:?}");
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
    }

    /// The disk under a `FaultyBackend`: what it does with writes, and how much of the data
    /// file it holds. Shared by every backend the store opens on the file, as a disk is.
    #[derive(Debug, Default)]
    struct Disk {
        mode: AtomicU8,
        /// The end of the blocks the file has: its length when first opened, raised by every
        /// write that lands and lowered by truncation. Holes below it count as allocated:
        /// close enough, since redb writes the pages it allocates. (Not the file's length,
        /// which `set_len` raises without allocating anything.)
        allocated: AtomicU64,
    }

    impl Disk {
        /// Writes land.
        const FINE: u8 = 0;
        /// The device is full, as ext4 or tmpfs are: a write that needs blocks the file does not
        /// have yet fails with ENOSPC, while one over blocks it has lands (redb rewrites its
        /// header in place), and growing the file with `set_len` only makes a hole.
        const FULL: u8 = 1;
        /// Every write, `set_len` and sync fails with ENOSPC, as on a device that refuses to
        /// write at all: not even a reopen, which repairs and commits, gets through.
        const REFUSING: u8 = 2;

        fn set(&self, mode: u8) {
            self.mode.store(mode, Ordering::SeqCst);
        }

        fn mode(&self) -> u8 {
            self.mode.load(Ordering::SeqCst)
        }
    }

    fn no_space() -> io::Error {
        io::Error::from(io::ErrorKind::StorageFull)
    }

    /// redb's file backend over a `Disk` that can fill up. Locks go to the file backend, so a
    /// second open is refused as in the server.
    #[derive(Debug)]
    struct FaultyBackend {
        inner: FileBackend,
        disk: Arc<Disk>,
    }

    /// `StorageBackend`'s range-lock methods, each passed on to `self.inner` as it is.
    macro_rules! forward_lock_ranges {
        ($($name:ident -> $out:ty;)*) => {$(
            fn $name(&self, start: Bound<u64>, end: Bound<u64>) -> Result<$out, BackendError> {
                self.inner.$name(start, end)
            }
        )*};
    }

    impl StorageBackend for FaultyBackend {
        fn len(&self) -> Result<u64, io::Error> {
            self.inner.len()
        }

        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
            self.inner.read(offset, out)
        }

        fn set_len(&self, len: u64) -> Result<(), io::Error> {
            if self.disk.mode() == Disk::REFUSING {
                return Err(no_space());
            }
            self.inner.set_len(len)?;
            self.disk.allocated.fetch_min(len, Ordering::SeqCst);
            Ok(())
        }

        fn sync_data(&self) -> Result<(), io::Error> {
            if self.disk.mode() == Disk::REFUSING {
                return Err(no_space());
            }
            self.inner.sync_data()
        }

        fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
            let end = offset + data.len() as u64;
            match self.disk.mode() {
                Disk::REFUSING => return Err(no_space()),
                Disk::FULL if end > self.disk.allocated.load(Ordering::SeqCst) => {
                    return Err(no_space());
                }
                _ => {}
            }
            self.inner.write(offset, data)?;
            self.disk.allocated.fetch_max(end, Ordering::SeqCst);
            Ok(())
        }

        fn close(&self) -> Result<(), io::Error> {
            self.inner.close()
        }

        // The locks: the file backend's own.
        forward_lock_ranges! {
            try_lock_range -> bool;
            try_lock_shared_range -> bool;
            lock_range -> ();
            lock_shared_range -> ();
            unlock_range -> ();
            query_lock_range -> bool;
        }
    }

    /// A store whose database, also when reopened, sits on `disk`.
    fn open_on(dir: &Path, disk: &Arc<Disk>) -> Store {
        let disk = disk.clone();
        let open_db = move |builder: &Builder, file: fs::File| {
            // The first open meets a file `create_fresh` wrote out whole.
            let len = file.metadata()?.len();
            let _ = disk
                .allocated
                .compare_exchange(0, len, Ordering::SeqCst, Ordering::SeqCst);
            builder.create_with_backend(FaultyBackend {
                inner: FileBackend::new(file)?,
                disk: disk.clone(),
            })
        };
        Store::open_with(dir, Box::new(open_db)).unwrap()
    }

    /// Asserts that `err` reports a full device, plainly.
    fn assert_no_space(err: &StoreError, dir: &TempDir) {
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "no space left on the device holding {}",
                dir.file().display()
            )),
            "{message}"
        );
        assert!(message.contains("free space"), "{message}");
        assert!(!message.contains("Previous I/O"), "{message}");
        assert!(!message.contains("data directory exists"), "{message}");
    }

    /// Commands 1..=10 of project "p", as `ten_records` stores them.
    fn ten_commands() -> Vec<(u64, Vec<u8>)> {
        (1..=10u64)
            .map(|k| (k, format!("{{\"n\":{k}}}").into_bytes()))
            .collect()
    }

    #[test]
    fn a_full_disk_fails_the_commit_and_the_store_recovers_once_space_is_freed() {
        let dir = TempDir::new("full");
        let disk = Arc::new(Disk::default());
        let store = open_on(&dir.0, &disk);
        ten_records(&store);
        // Far more than the file has room for: the commit must grow it.
        let big = vec![b'x'; 4 << 20];
        let big_record = [record("s", 11_000, 11, "big ACCEPT")];

        disk.set(Disk::FULL);
        for _ in 0..2 {
            let err = store.commit("p", 11, &big, &big_record, &[]).unwrap_err();
            assert_no_space(&err, &dir);
            // Reads go on, from the reopened file: the caller rebuilds the project from them.
            // The failed command left nothing.
            assert_eq!(store.commands("p").unwrap(), ten_commands());
            assert_eq!(store.record_count("p").unwrap(), 10);
            assert_eq!(
                seqs(&store.since("p", "s", 0, 100).unwrap()),
                (1..=10).collect::<Vec<_>>()
            );
        }
        // Sequencing is intact: the next command is still 11.
        let err = store.commit("p", 12, b"c", &[], &[]).unwrap_err();
        assert!(err.to_string().contains("next command must be 11"), "{err}");

        // Space freed: the same commit now succeeds, without a new Store.
        disk.set(Disk::FINE);
        store.commit("p", 11, &big, &big_record, &[]).unwrap();
        store
            .commit("p", 12, b"after", &[record("s", 12_000, 12, "after")], &[])
            .unwrap();
        let check = |store: &Store| {
            let commands = store.commands("p").unwrap();
            assert_eq!(commands[..10], ten_commands()[..]);
            assert_eq!(commands[10], (11, big.clone()));
            assert_eq!(commands[11], (12, b"after".to_vec()));
            assert_eq!(commands.len(), 12);
            assert_eq!(
                seqs(&store.query("p", "s", 0, u64::MAX, &[], None, 100).unwrap()),
                (1..=12).collect::<Vec<_>>()
            );
            assert_eq!(store.record_count("p").unwrap(), 12);
        };
        check(&store);
        // And it is all on disk, in a sound file.
        drop(store);
        check(&Store::open(&dir.0).unwrap());
    }

    #[test]
    fn a_store_that_cannot_reopen_tries_again_on_every_call() {
        let dir = TempDir::new("refusing");
        let disk = Arc::new(Disk::default());
        let store = open_on(&dir.0, &disk);
        ten_records(&store);

        disk.set(Disk::REFUSING);
        let err = store.commit("p", 11, b"lost", &[], &[]).unwrap_err();
        assert_no_space(&err, &dir);
        // Opening the file again needs a write too, so reads fail as well, for the same
        // reason, stated as plainly; so do further commits.
        assert_no_space(&store.commands("p").unwrap_err(), &dir);
        assert_no_space(&store.projects().unwrap_err(), &dir);
        assert_no_space(&store.commit("p", 11, b"lost", &[], &[]).unwrap_err(), &dir);

        disk.set(Disk::FINE);
        assert_eq!(store.commands("p").unwrap(), ten_commands());
        store.commit("p", 11, b"kept", &[], &[]).unwrap();
        drop(store);
        let store = Store::open(&dir.0).unwrap();
        assert_eq!(store.commands("p").unwrap()[10], (11, b"kept".to_vec()));
        assert_eq!(store.commands("p").unwrap().len(), 11);
    }

    /// Asserts that `err` refuses a write because the data file was removed or replaced.
    fn assert_replaced(err: &StoreError, dir: &TempDir, detail: &str) {
        assert!(matches!(err, StoreError::Replaced { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&dir.file().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains("removed or replaced while the server was running"),
            "{message}"
        );
        assert!(message.contains(detail), "{message}");
        assert!(message.contains("restart the server"), "{message}");
    }

    #[test]
    fn removing_the_data_file_stops_writes() {
        let dir = TempDir::new("removed");
        let store = Store::open(&dir.0).unwrap();
        store
            .commit("p", 1, b"one", &[record("s", 1, 1, "a")], &[])
            .unwrap();
        fs::remove_file(dir.file()).unwrap();
        for seq in [2, 2] {
            let err = store.commit("p", seq, b"two", &[], &[]).unwrap_err();
            assert_replaced(&err, &dir, "it no longer exists");
        }
        // Reads go on from the open file, and nothing recreated the name.
        assert_eq!(store.commands("p").unwrap(), [(1, b"one".to_vec())]);
        assert_eq!(seqs(&store.since("p", "s", 0, 10).unwrap()), [1]);
        assert!(!dir.file().exists());
        // A file under the name again does not resume writing: it may not be the store.
        fs::write(dir.file(), b"something else").unwrap();
        let err = store.commit("p", 2, b"two", &[], &[]).unwrap_err();
        assert_replaced(&err, &dir, "it no longer exists");
        assert_eq!(fs::read(dir.file()).unwrap(), b"something else");
    }

    #[test]
    fn replacing_the_data_file_stops_writes() {
        let dir = TempDir::new("replaced");
        let store = Store::open(&dir.0).unwrap();
        store.commit("p", 1, b"one", &[], &[]).unwrap();
        // Another store renamed over the data file, as a careless restore would.
        let other = TempDir::new("replacement");
        Store::open(&other.0)
            .unwrap()
            .commit("q", 1, b"theirs", &[], &[])
            .unwrap();
        fs::rename(other.file(), dir.file()).unwrap();
        let err = store.commit("p", 2, b"two", &[], &[]).unwrap_err();
        assert_replaced(&err, &dir, "another file now has its name");
        assert_eq!(store.commands("p").unwrap(), [(1, b"one".to_vec())]);
        // Nothing was written to the newcomer.
        drop(store);
        let store = Store::open(&dir.0).unwrap();
        assert_eq!(store.projects().unwrap(), ["q"]);
        assert_eq!(store.commands("q").unwrap(), [(1, b"theirs".to_vec())]);
    }

    #[test]
    fn a_reopen_never_opens_a_replacing_file() {
        let dir = TempDir::new("reopen-replaced");
        let disk = Arc::new(Disk::default());
        let store = open_on(&dir.0, &disk);
        store.commit("p", 1, b"one", &[], &[]).unwrap();
        // A failed write whose reopen fails leaves the store to reopen on the next call...
        disk.set(Disk::REFUSING);
        assert_no_space(&store.commit("p", 2, b"two", &[], &[]).unwrap_err(), &dir);
        // ...by which time another file has the name.
        let other = TempDir::new("reopen-replacement");
        Store::open(&other.0)
            .unwrap()
            .commit("q", 1, b"theirs", &[], &[])
            .unwrap();
        fs::rename(other.file(), dir.file()).unwrap();
        let before = fs::read(dir.file()).unwrap();
        disk.set(Disk::FINE);
        assert_replaced(
            &store.commands("p").unwrap_err(),
            &dir,
            "another file now has its name",
        );
        assert_replaced(
            &store.commit("p", 2, b"two", &[], &[]).unwrap_err(),
            &dir,
            "another file now has its name",
        );
        drop(store);
        assert_eq!(
            fs::read(dir.file()).unwrap(),
            before,
            "the newcomer was changed"
        );
    }

    #[test]
    fn io_errors_name_their_cause() {
        let path = PathBuf::from("/data/vpclab.redb");
        let message = |source: io::Error| {
            StoreError::Io {
                path: path.clone(),
                source,
            }
            .to_string()
        };
        let no_space = [
            io::Error::from(io::ErrorKind::StorageFull),
            io::Error::from(io::ErrorKind::QuotaExceeded),
            #[cfg(target_os = "linux")]
            io::Error::from_raw_os_error(28), // ENOSPC
        ];
        for source in no_space {
            let m = message(source);
            assert!(
                m.starts_with("no space left on the device holding /data/vpclab.redb"),
                "{m}"
            );
            assert!(!m.contains("data directory exists"), "{m}");
        }
        let denied = [
            io::Error::from(io::ErrorKind::PermissionDenied),
            io::Error::from(io::ErrorKind::ReadOnlyFilesystem),
            #[cfg(target_os = "linux")]
            io::Error::from_raw_os_error(30), // EROFS
        ];
        for source in denied {
            let m = message(source);
            assert!(m.starts_with("/data/vpclab.redb may not be written"), "{m}");
            assert!(m.contains("write access"), "{m}");
            assert!(!m.contains("data directory exists"), "{m}");
        }
        let m = message(io::Error::from(io::ErrorKind::NotFound));
        assert!(m.contains("check that the data directory exists"), "{m}");
        // An unknown cause is reported as it is, without a guess.
        let m = message(io::Error::other("the disk caught fire"));
        assert_eq!(
            m,
            "cannot use the data file /data/vpclab.redb: the disk caught fire"
        );
    }

    /// A tmpfs of `size` mounted on a directory for the test's lifetime.
    struct Tmpfs(PathBuf);

    impl Tmpfs {
        /// `None` where mounting is not allowed (not root, or no mount in this container).
        fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
            let output = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir)
                .output()
                .ok()?;
            output.status.success().then(|| Tmpfs(dir.to_path_buf()))
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let unmounted = Command::new("umount").arg(&self.0).status();
            if !matches!(unmounted, Ok(status) if status.success()) {
                let _ = Command::new("umount").arg("-l").arg(&self.0).status();
            }
        }
    }

    /// The same as the backend test, on a real file system that fills up: a small tmpfs.
    #[test]
    fn a_real_full_file_system_then_freed() {
        let dir = TempDir::new("tmpfs");
        fs::create_dir_all(&dir.0).unwrap();
        let Some(_tmpfs) = Tmpfs::mount(&dir.0, "16m") else {
            println!("note: a_real_full_file_system_then_freed skipped: cannot mount a tmpfs");
            return;
        };
        let data = TempDir(dir.0.join("data"));
        let store = Store::open(&data.0).unwrap();
        ten_records(&store);
        // Take the rest of the space.
        let filler = dir.0.join("filler");
        {
            let mut file = fs::File::create(&filler).unwrap();
            let chunk = vec![0u8; 64 * 1024];
            loop {
                match file.write_all(&chunk) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::StorageFull => break,
                    Err(e) => panic!("filling the tmpfs: {e}"),
                }
            }
        }
        let big = vec![b'x'; 1 << 20];
        let err = store.commit("p", 11, &big, &[], &[]).unwrap_err();
        assert_no_space(&err, &data);
        assert_eq!(store.commands("p").unwrap(), ten_commands());

        fs::remove_file(&filler).unwrap();
        store.commit("p", 11, &big, &[], &[]).unwrap();
        assert_eq!(store.commands("p").unwrap()[10], (11, big.clone()));
        drop(store);
        let store = Store::open(&data.0).unwrap();
        assert_eq!(store.commands("p").unwrap().len(), 11);
        assert_eq!(store.record_count("p").unwrap(), 10);
    }

    #[test]
    fn store_is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Store>();
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        error::<StoreError>();
    }

    const CHILD_ENV: &str = "VPCLAB_STORE_CHILD";
    const CHILD_TEST: &str = "store::tests::crash_child";
    const CHILD_READY: &str = "vpclab-store-child-committed";
    /// A child nobody kills stops by itself after this long.
    const CHILD_MAX_RUN: Duration = Duration::from_secs(30);

    /// The child command `n`: its JSON names its own seq, so decoding checks the bytes.
    fn crash_command(n: u64) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "seq": n, "pad": "x".repeat(200) })).unwrap()
    }

    /// Not a test on its own: run by `commits_survive_kill_9` as a child process, it commits
    /// command after command (each with a record, every tenth with a purge) until killed, or
    /// for at most `CHILD_MAX_RUN` should the parent never kill it.
    #[test]
    fn crash_child() {
        let Some(dir) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        let started = Instant::now();
        let store = Store::open(Path::new(&dir)).unwrap();
        let mut n = store.commands("p").unwrap().len() as u64;
        let mut announced = false;
        while started.elapsed() < CHILD_MAX_RUN {
            n += 1;
            let purges = match n % 10 {
                0 => vec![Purge {
                    stream: "s".to_string(),
                    before_us: (n - 5) * 1000,
                }],
                _ => Vec::new(),
            };
            let line = format!("record {n} ACCEPT");
            store
                .commit(
                    "p",
                    n,
                    &crash_command(n),
                    &[record("s", n * 1000, n, &line)],
                    &purges,
                )
                .unwrap();
            if !announced {
                // On its own line: libtest has already printed "test … ... " without a newline.
                println!("\n{CHILD_READY}");
                announced = true;
            }
        }
    }

    #[test]
    fn commits_survive_kill_9() {
        let dir = TempDir::new("crash");
        let mut last = 0;
        for delay_ms in [150, 200, 250] {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, &dir.0)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            // Wait, bounded, for the child's first commit: read its output on a thread.
            let stdout = child.stdout.take().unwrap();
            let (ready_tx, ready_rx) = mpsc::channel();
            std::thread::spawn(move || {
                let ready = BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .any(|line| line.trim() == CHILD_READY);
                let _ = ready_tx.send(ready);
            });
            match ready_rx.recv_timeout(Duration::from_secs(60)) {
                Ok(true) => {}
                outcome => {
                    let _ = child.kill();
                    let status = child.wait().unwrap();
                    panic!("the child made no first commit ({outcome:?}, {status})");
                }
            }
            std::thread::sleep(Duration::from_millis(delay_ms));
            child.kill().unwrap(); // SIGKILL on Unix.
            child.wait().unwrap();

            let store = Store::open(&dir.0).unwrap();
            let commands = store.commands("p").unwrap();
            let n = commands.len() as u64;
            assert!(
                n > last,
                "no progress after the kill: {n} commands, {last} before"
            );
            for (i, (seq, bytes)) in commands.iter().enumerate() {
                assert_eq!(*seq, i as u64 + 1, "gap in the command log");
                assert_eq!(bytes, &crash_command(*seq), "command {seq} does not decode");
            }
            // Each command's records and purges landed with it, and only with it.
            let purged_up_to = n / 10 * 10;
            let first = if purged_up_to == 0 {
                1
            } else {
                purged_up_to - 5
            };
            let expected: Vec<u64> = (first..=n).collect();
            assert_eq!(
                seqs(&store.since("p", "s", 0, usize::MAX).unwrap()),
                expected
            );
            let by_time = store
                .query("p", "s", 0, u64::MAX, &[], None, usize::MAX)
                .unwrap();
            assert_eq!(seqs(&by_time), expected);
            assert_eq!(store.record_count("p").unwrap(), expected.len() as u64);
            last = n;
        }
    }
}
