//! The cloud: every project, the store that keeps them, and who may reach which.
//!
//! A change is applied to the project in memory, then stored (command and delivered records in
//! one durable transaction, shared with whatever other changes queued meanwhile: `commit`),
//! then acknowledged. If storing fails the project is rebuilt from the store, so memory never
//! stays ahead of disk. On start every project is rebuilt from its latest snapshot
//! (`snapshot`, taken every so many commands or packets) by applying the commands stored after
//! it; without a snapshot that reads back, by applying every stored command. The simulator is
//! deterministic, so either way the result is the state that was acknowledged.
//!
//! Each project has its own lock, held only while a request applies or reads (never while it
//! waits for the disk), so projects never wait for each other; a long Advance holds only its
//! own project.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tonic::Code;
use vpclab_sim::profile::Provider;

use super::command::{Command, Init};
use super::commit::{self, Committer, Durable, Job};
use super::error::ApiError;
use super::pb;
use super::project::{Applied, Project};
use super::quota::Quotas;
use super::snapshot::{self, Mark};
use crate::store::{Store, StoreError, StoredRecord};

/// Who is calling: the project a token maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub project: String,
    /// The cloud a new project simulates.
    pub provider: Provider,
}

/// How new projects start, and what each may do.
#[derive(Clone, Debug)]
pub struct Defaults {
    pub seed: u64,
    /// Unix seconds at which a new project's virtual clock starts.
    pub start: u64,
    pub quotas: Quotas,
    /// When projects are snapshotted.
    pub snapshots: snapshot::Policy,
}

impl Default for Defaults {
    fn default() -> Self {
        // 2024-01-01T00:00:00Z: a fixed, documented origin keeps runs reproducible.
        Defaults {
            seed: 0,
            start: 1_704_067_200,
            quotas: Quotas::default(),
            snapshots: snapshot::Policy::default(),
        }
    }
}

/// A record delivered to a project's log stream.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub project: String,
    pub record: StoredRecord,
}

struct Slot {
    project: Project,
    /// The last command handed to the committer (0: none yet, not even the project's
    /// creation).
    queued: u64,
    /// Its ticket (`Durable::issue`): what a request that saw this slot waits for.
    ticket: u64,
    /// Where the last snapshot was taken (or what the project was rebuilt from).
    mark: Mark,
}

/// A project and what is read without taking the project's lock (a long Advance holds it; the
/// ticker must never wait for one project to serve the others).
struct Entry {
    slot: Mutex<Slot>,
    /// How far its queued commands are stored.
    durable: Arc<Durable>,
    /// The project's real-time speed (`f64` bits), mirrored after every change.
    speed: AtomicU64,
    /// A real-time tick of this project is running: the next one is skipped, not queued.
    ticking: AtomicBool,
    /// The project was deleted: requests holding this entry start over with a fresh one.
    deleted: AtomicBool,
}

impl Entry {
    fn new(project: Project, stored: u64, mark: Mark) -> Arc<Entry> {
        let speed = AtomicU64::new(project.speed.to_bits());
        Arc::new(Entry {
            slot: Mutex::new(Slot {
                project,
                queued: stored,
                ticket: 0,
                mark,
            }),
            durable: Arc::new(Durable::default()),
            speed,
            ticking: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
        })
    }

    fn speed(&self) -> f64 {
        f64::from_bits(self.speed.load(Ordering::Relaxed))
    }

    /// Waits until what a request saw (commands up to `ticket`) is durable.
    fn wait(&self, ticket: u64) -> Result<(), ApiError> {
        self.durable.wait(ticket).map_err(not_stored)
    }
}

fn not_stored(why: String) -> ApiError {
    ApiError::new(
        Code::Unavailable,
        format!("the change could not be stored: {why}"),
    )
}

/// A request's answer, made under its project's lock, that may not be given before everything
/// it saw is durable: `confirmed` (async, holding no thread meanwhile) or `wait`.
#[must_use = "an answer is given only once what it saw is durable"]
pub struct Pending<T> {
    result: Result<T, ApiError>,
    durable: Arc<Durable>,
    ticket: u64,
}

impl<T> Pending<T> {
    /// The answer, once everything it saw is durable.
    pub async fn confirmed(self) -> Result<T, ApiError> {
        self.durable
            .confirmed(self.ticket)
            .await
            .map_err(not_stored)?;
        self.result
    }

    /// `confirmed`, blocking the thread.
    pub fn wait(self) -> Result<T, ApiError> {
        self.durable.wait(self.ticket).map_err(not_stored)?;
        self.result
    }
}

pub struct Cloud {
    store: Arc<Store>,
    defaults: Defaults,
    projects: Mutex<BTreeMap<String, Arc<Entry>>>,
    delivered: broadcast::Sender<Arc<Delivered>>,
    committer: Committer,
    /// How each project was rebuilt at start.
    restored: Vec<Restored>,
}

/// How a project was rebuilt from the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Restored {
    pub project: String,
    /// The command of the snapshot it started from (`None`: every stored command applied).
    pub snapshot: Option<u64>,
    /// Stored commands applied (after the snapshot, or from the first).
    pub replayed: u64,
    /// Wall-clock time to read and apply them.
    pub seconds: f64,
}

/// Why the cloud could not start.
#[derive(Debug)]
pub enum OpenError {
    Store(StoreError),
    /// A stored command that no longer decodes or applies.
    Replay {
        project: String,
        seq: u64,
        detail: String,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Store(e) => write!(f, "{e}"),
            OpenError::Replay {
                project,
                seq,
                detail,
            } => write!(
                f,
                "project `{project}`: stored command {seq} cannot be applied again ({detail}); the data directory was written by an incompatible vpclab or is damaged"
            ),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<StoreError> for OpenError {
    fn from(e: StoreError) -> Self {
        OpenError::Store(e)
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        Code::Unavailable,
        format!("the change could not be stored: {e}"),
    )
}

fn poisoned() -> ApiError {
    ApiError::internal("a previous request failed while holding this project; retry")
}

impl Cloud {
    /// Opens the data directory and rebuilds every stored project.
    pub fn open(dir: &Path, defaults: Defaults) -> Result<Cloud, OpenError> {
        let store = Arc::new(Store::open(dir)?);
        let mut projects = BTreeMap::new();
        let mut restored = Vec::new();
        for id in store.projects()? {
            let Some((project, mut mark, how)) = restore(&store, &id)? else {
                continue;
            };
            // A start that had to apply a long log (no snapshot, or one that did not read
            // back) leaves a snapshot, so the next start does not pay it again.
            if defaults.snapshots.due(&project, mark) {
                match snapshot::encode(&project) {
                    Ok(bytes) => {
                        if commit::store_snapshot(&store, &id, project.applied, bytes) {
                            tracing::info!(project = %id, seq = project.applied, "snapshot taken at start");
                        }
                        mark = Mark::of(&project);
                    }
                    Err(why) => {
                        tracing::warn!(project = %id, error = %why, "no snapshot at start")
                    }
                }
            }
            let stored = project.applied;
            projects.insert(id, Entry::new(project, stored, mark));
            restored.push(how);
        }
        let (delivered, _) = broadcast::channel(4096);
        let committer = Committer::start(store.clone(), delivered.clone());
        Ok(Cloud {
            store,
            defaults,
            projects: Mutex::new(projects),
            delivered,
            committer,
            restored,
        })
    }

    /// How each stored project was rebuilt when the cloud opened, in project order.
    pub fn restored(&self) -> &[Restored] {
        &self.restored
    }

    pub fn project_ids(&self) -> Vec<String> {
        self.projects
            .lock()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn init(&self, provider: Provider) -> Init {
        Init {
            provider: provider.as_str().to_string(),
            seed: self.defaults.seed,
            start: self.defaults.start,
        }
    }

    fn entry(&self, caller: &Caller) -> Result<Arc<Entry>, ApiError> {
        let mut all = self.projects.lock().map_err(|_| poisoned())?;
        if let Some(s) = all.get(&caller.project) {
            return Ok(s.clone());
        }
        let project = Project::new(&caller.project, &self.init(caller.provider))?;
        let entry = Entry::new(project, 0, Mark::default());
        all.insert(caller.project.clone(), entry.clone());
        Ok(entry)
    }

    /// Runs `f` on the caller's project under its lock (rebuilt first if storing one of its
    /// changes failed). The answer is pending until everything `f` saw is durable: a refusal
    /// or a read may rest on changes not yet durable too. A project deleted while the request
    /// waited for the lock is looked up again (a new, empty one).
    fn with_slot<T>(
        &self,
        caller: &Caller,
        f: impl FnOnce(&Entry, &mut Slot) -> Result<T, ApiError>,
    ) -> Result<Pending<T>, ApiError> {
        loop {
            let entry = self.entry(caller)?;
            let mut slot = entry.slot.lock().map_err(|_| poisoned())?;
            if entry.deleted.load(Ordering::Acquire) {
                continue;
            }
            self.recover(&caller.project, &entry, &mut slot)?;
            let result = f(&entry, &mut slot);
            return Ok(Pending {
                result,
                durable: entry.durable.clone(),
                ticket: slot.ticket,
            });
        }
    }

    /// `with_slot` without waiting for anything: `None` when the project's lock (or the
    /// table of projects) is held by another request, when the project does not exist yet or
    /// must be rebuilt, or when `f` declines by answering `None`. The caller then goes to the
    /// blocking pool and `with_slot`. This lets the cheap majority of requests be answered on
    /// the async worker that received them, with no hand-off to another thread.
    fn try_with_slot<T>(
        &self,
        caller: &Caller,
        f: impl FnOnce(&Entry, &mut Slot) -> Option<Result<T, ApiError>>,
    ) -> Option<Pending<T>> {
        let entry = self.projects.try_lock().ok()?.get(&caller.project)?.clone();
        let mut slot = entry.slot.try_lock().ok()?;
        if entry.deleted.load(Ordering::Acquire) || entry.durable.failed() {
            return None;
        }
        let result = f(&entry, &mut slot)?;
        Some(Pending {
            result,
            durable: entry.durable.clone(),
            ticket: slot.ticket,
        })
    }

    /// After a failed store: waits for the project's queued commands to resolve, then
    /// rebuilds it from what the store holds.
    fn recover(&self, id: &str, entry: &Entry, slot: &mut Slot) -> Result<(), ApiError> {
        if !entry.durable.failed() {
            return Ok(());
        }
        let _ = entry.durable.wait(slot.ticket);
        let (project, stored, mark) = match restore(&self.store, id).map_err(unavailable)? {
            Some((project, mark, _)) => {
                let stored = project.applied;
                (project, stored, mark)
            }
            // Its creation was never stored: it starts over, unstored.
            None => (
                Project::new(id, &self.init(slot.project.provider))?,
                0,
                Mark::default(),
            ),
        };
        tracing::warn!(project = %id, commands = stored, "rebuilt from the store after a failed change");
        slot.project = project;
        slot.queued = stored;
        slot.mark = mark;
        slot.ticket = entry.durable.rebuilt();
        entry
            .speed
            .store(slot.project.speed.to_bits(), Ordering::Relaxed);
        Ok(())
    }

    /// Applies a change, stores it, and answers with `view` of the result. Quotas are checked
    /// first: a request over one changes nothing.
    pub fn mutate<T>(
        &self,
        caller: &Caller,
        cmd: Command,
        view: impl FnOnce(&Project, &Applied) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.begin_mutate(caller, cmd, view)?.wait()
    }

    /// `mutate`, with the answer pending until the change is durable.
    pub fn begin_mutate<T>(
        &self,
        caller: &Caller,
        cmd: Command,
        view: impl FnOnce(&Project, &Applied) -> Result<T, ApiError>,
    ) -> Result<Pending<T>, ApiError> {
        self.with_slot(caller, |entry, slot| {
            self.mutate_locked(caller, entry, slot, &cmd, view)
        })
    }

    /// `begin_mutate` when it can be done at once on the calling thread: a light command
    /// (`Command::light`) whose project's lock is free and that makes no snapshot due. `None`
    /// otherwise, having done nothing: then `begin_mutate` on the blocking pool.
    pub fn try_begin_mutate<T>(
        &self,
        caller: &Caller,
        cmd: &Command,
        view: impl FnOnce(&Project, &Applied) -> Result<T, ApiError>,
    ) -> Option<Pending<T>> {
        if !cmd.light() {
            return None;
        }
        self.try_with_slot(caller, |entry, slot| {
            if self
                .defaults
                .snapshots
                .due_after_next(&slot.project, slot.mark)
            {
                return None;
            }
            Some(self.mutate_locked(caller, entry, slot, cmd, view))
        })
    }

    /// Checks the quotas, applies `cmd` to a locked project, queues it and views the result.
    fn mutate_locked<T>(
        &self,
        caller: &Caller,
        entry: &Entry,
        slot: &mut Slot,
        cmd: &Command,
        view: impl FnOnce(&Project, &Applied) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.defaults.quotas.check(&slot.project, cmd, || {
            self.store
                .record_count(&caller.project)
                .map_err(unavailable)
        })?;
        let applied = self.apply(&caller.project, entry, slot, cmd)?;
        view(&slot.project, &applied)
    }

    /// The server's quotas.
    pub fn quotas(&self) -> &Quotas {
        &self.defaults.quotas
    }

    /// Deletes the caller's project: memory, stored commands and records. Requests waiting for
    /// it see an empty project afterwards.
    pub fn delete_project(&self, caller: &Caller) -> Result<(), ApiError> {
        let entry = {
            let all = self.projects.lock().map_err(|_| poisoned())?;
            all.get(&caller.project).cloned()
        };
        let Some(entry) = entry else {
            return Ok(());
        };
        // Under the project's lock, once its queued commands are resolved: nothing of it is
        // being applied or stored meanwhile.
        let slot = entry.slot.lock().map_err(|_| poisoned())?;
        let _ = entry.durable.wait(slot.ticket);
        // Its snapshots still being written stop here.
        entry.durable.abandon();
        self.store
            .delete_project(&caller.project)
            .map_err(unavailable)?;
        entry.deleted.store(true, Ordering::Release);
        let mut all = self.projects.lock().map_err(|_| poisoned())?;
        if all
            .get(&caller.project)
            .is_some_and(|e| Arc::ptr_eq(e, &entry))
        {
            all.remove(&caller.project);
        }
        Ok(())
    }

    /// One real-time tick of a project: advances its clock by `wall` times the speed it runs
    /// at now. The speed is read under the project's lock, so a tick never moves a clock that
    /// a RunRealtime(0) already stopped. Returns whether the clock moved.
    pub fn tick(&self, project: &str, wall: Duration) -> Result<bool, ApiError> {
        // A tick never creates a project: one deleted since it was due is not ticked.
        let entry = {
            let all = self.projects.lock().map_err(|_| poisoned())?;
            all.get(project).cloned()
        };
        let Some(entry) = entry else {
            return Ok(false);
        };
        let seen = {
            let mut slot = entry.slot.lock().map_err(|_| poisoned())?;
            if entry.deleted.load(Ordering::Acquire) {
                return Ok(false);
            }
            self.recover(project, &entry, &mut slot)?;
            let speed = slot.project.speed;
            let micros = (speed * wall.as_micros() as f64) as i64;
            if speed <= 0.0 || micros <= 0 {
                return Ok(false);
            }
            let cmd = Command::Advance(pb::AdvanceRequest {
                parent: format!("projects/{project}"),
                until: Some(pb::advance_request::Until::By(prost_types::Duration {
                    seconds: micros / 1_000_000,
                    nanos: (micros % 1_000_000) as i32 * 1000,
                })),
            });
            self.apply(project, &entry, &mut slot, &cmd)?;
            slot.ticket
        };
        entry.wait(seen)?;
        Ok(true)
    }

    /// Applies `cmd` to a locked project and queues it for storing (after the project's
    /// creation, when this is its first change). A refused command changes and queues nothing.
    fn apply(
        &self,
        project: &str,
        entry: &Entry,
        slot: &mut Slot,
        cmd: &Command,
    ) -> Result<Applied, ApiError> {
        let applied = slot.project.apply(cmd)?;
        let job = |seq, command: Vec<u8>, records, purges, snapshot| Job {
            project: project.to_string(),
            seq,
            ticket: entry.durable.issue(),
            command,
            records,
            purges,
            snapshot,
            durable: entry.durable.clone(),
        };
        if slot.queued == 0 {
            let init = Init {
                provider: slot.project.provider.as_str().to_string(),
                seed: self.defaults.seed,
                start: slot.project.start.secs(),
            };
            self.committer.queue(job(
                1,
                Command::Init(init).encode(),
                Vec::new(),
                Vec::new(),
                None,
            ));
            slot.queued = 1;
        }
        let purges = if matches!(cmd, Command::Advance(_)) || !applied.records.is_empty() {
            slot.project.purges()
        } else {
            Vec::new()
        };
        let seq = slot.project.applied;
        let snapshot = self.snapshot(project, slot);
        // The records go to the store (and to tails from there); the caller's view needs none.
        let job = job(seq, cmd.encode(), applied.records.clone(), purges, snapshot);
        slot.ticket = job.ticket;
        self.committer.queue(job);
        slot.queued = seq;
        entry
            .speed
            .store(slot.project.speed.to_bits(), Ordering::Relaxed);
        Ok(applied)
    }

    /// A snapshot of a locked project right after its latest command, when one is due
    /// (`Defaults::snapshots`), to be stored once the command is (`commit`). Costs the time to
    /// serialise the project, under its lock; a project that cannot be serialised is logged
    /// and goes on without one.
    fn snapshot(&self, id: &str, slot: &mut Slot) -> Option<Vec<u8>> {
        if !self.defaults.snapshots.due(&slot.project, slot.mark) {
            return None;
        }
        let started = Instant::now();
        let mark = Mark::of(&slot.project);
        // Not retried before the next interval, taken or not.
        slot.mark = mark;
        match snapshot::encode(&slot.project) {
            Ok(bytes) => {
                tracing::info!(
                    project = %id,
                    seq = mark.seq,
                    bytes = bytes.len(),
                    seconds = started.elapsed().as_secs_f64(),
                    "snapshot taken"
                );
                Some(bytes)
            }
            Err(why) => {
                tracing::warn!(project = %id, seq = mark.seq, error = %why, "no snapshot");
                None
            }
        }
    }

    /// Reads a project.
    pub fn read<T>(
        &self,
        caller: &Caller,
        f: impl FnOnce(&Project) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.begin_read(caller, f)?.wait()
    }

    /// `read`, with the answer pending until what it saw is durable.
    pub fn begin_read<T>(
        &self,
        caller: &Caller,
        f: impl FnOnce(&Project) -> Result<T, ApiError>,
    ) -> Result<Pending<T>, ApiError> {
        self.with_slot(caller, |_, slot| f(&slot.project))
    }

    /// `begin_read` when the project's lock is free: a read is bounded (one resource, or one
    /// page), so it is answered on the calling thread. `None` otherwise, having done nothing.
    pub fn try_begin_read<T>(
        &self,
        caller: &Caller,
        f: impl FnOnce(&Project) -> Result<T, ApiError>,
    ) -> Option<Pending<T>> {
        self.try_with_slot(caller, |_, slot| Some(f(&slot.project)))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Records delivered from now on, every project's: filter by project.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.delivered.subscribe()
    }

    /// Projects running in real time whose previous tick has finished, marked as ticking:
    /// the caller runs each one's tick and then calls `ticked`. Takes no project's lock.
    pub fn due_ticks(&self) -> Vec<String> {
        let all = match self.projects.lock() {
            Ok(a) => a,
            Err(_) => return Vec::new(),
        };
        all.iter()
            .filter(|(_, e)| e.speed() > 0.0)
            .filter(|(_, e)| !e.ticking.swap(true, Ordering::AcqRel))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// A tick `due_ticks` handed out has finished.
    pub fn ticked(&self, project: &str) {
        if let Ok(all) = self.projects.lock()
            && let Some(e) = all.get(project)
        {
            e.ticking.store(false, Ordering::Release);
        }
    }
}

/// Rebuilds a project from the store: from its latest snapshot and the commands after it, or
/// (no snapshot, or one that does not read back) from every stored command. Logs when it
/// starts and ends, with how many commands it applied and how long it took. `None` when the
/// project has no stored command.
fn restore(store: &Store, id: &str) -> Result<Option<(Project, Mark, Restored)>, OpenError> {
    let started = Instant::now();
    let base = match store.snapshot(id)? {
        Some((seq, bytes)) => match snapshot::decode(id, seq, &bytes) {
            Ok(project) => Some(project),
            Err(why) => {
                tracing::warn!(
                    project = %id,
                    seq,
                    reason = %why,
                    "ignoring the stored snapshot; applying every stored command"
                );
                None
            }
        },
        None => None,
    };
    let from = base.as_ref().map(|p| p.applied);
    let tail = store.commands_after(id, from.unwrap_or(0))?;
    if from.is_none() && tail.is_empty() {
        return Ok(None);
    }
    let replayed = tail.len() as u64;
    tracing::info!(project = %id, snapshot = ?from, commands = replayed, "replaying stored commands");
    let (project, mark) = match base {
        Some(project) => {
            let mark = Mark::of(&project);
            match replay(id, project, tail) {
                Ok(project) => (project, mark),
                Err(e) => {
                    tracing::warn!(
                        project = %id,
                        error = %e,
                        "the commands after the snapshot do not apply to it; applying every stored command"
                    );
                    let all = store.commands(id)?;
                    return finish(id, rebuild(id, all)?, Mark::default(), None, started).map(Some);
                }
            }
        }
        None => (rebuild(id, tail)?, Mark::default()),
    };
    finish(id, project, mark, from, started).map(Some)
}

/// Logs the end of a `restore`.
fn finish(
    id: &str,
    project: Project,
    mark: Mark,
    snapshot: Option<u64>,
    started: Instant,
) -> Result<(Project, Mark, Restored), OpenError> {
    let replayed = project.applied - snapshot.unwrap_or(0);
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        project = %id,
        snapshot = ?snapshot,
        commands = replayed,
        seconds,
        "replayed"
    );
    let how = Restored {
        project: id.to_string(),
        snapshot,
        replayed,
        seconds,
    };
    Ok((project, mark, how))
}

/// Applies commands, in order, to a project restored from a snapshot.
fn replay(
    id: &str,
    mut project: Project,
    commands: Vec<(u64, Vec<u8>)>,
) -> Result<Project, OpenError> {
    for (seq, bytes) in commands {
        apply_stored(id, &mut project, seq, &bytes)?;
    }
    Ok(project)
}

/// Applies stored command `seq` to a project at `seq - 1`.
fn apply_stored(id: &str, project: &mut Project, seq: u64, bytes: &[u8]) -> Result<(), OpenError> {
    let fail = |detail: String| OpenError::Replay {
        project: id.to_string(),
        seq,
        detail,
    };
    let cmd = Command::decode(bytes).map_err(fail)?;
    project.apply(&cmd).map_err(|e| fail(e.to_string()))?;
    if project.applied != seq {
        return Err(fail(format!("sequence {} expected", project.applied)));
    }
    Ok(())
}

/// Rebuilds a project from all its commands, the first its creation.
fn rebuild(id: &str, commands: Vec<(u64, Vec<u8>)>) -> Result<Project, OpenError> {
    let fail = |seq: u64, detail: String| OpenError::Replay {
        project: id.to_string(),
        seq,
        detail,
    };
    let mut iter = commands.into_iter();
    let Some((seq, first)) = iter.next() else {
        return Err(fail(1, "no commands".into()));
    };
    let Ok(Command::Init(init)) = Command::decode(&first) else {
        return Err(fail(
            seq,
            "the first command is not the project's creation".into(),
        ));
    };
    let project = Project::new(id, &init).map_err(|e| fail(seq, e.to_string()))?;
    replay(id, project, iter.collect())
}
