//! Group commit: one thread stores every project's changes, as many as have queued up while
//! the previous transaction was being made durable, in one transaction (`Store::commit_batch`),
//! so concurrent writers share one flush instead of waiting for one each.
//!
//! A request applies its command to the project in memory under the project's lock, queues
//! it here, releases the lock and only then waits for it to be durable (early lock release):
//! the next request to the same project can be applied meanwhile and ride in the same batch.
//! Nothing is acknowledged before it is durable, and neither is anything that depends on it: a
//! request (a read too) waits until every command it may have seen is durable (`Durable::wait`
//! on the ticket of the last command queued when it ran). If storing a command fails, it and every later
//! command of that project fail (the store refuses a gap), the requests that saw any of them
//! get UNAVAILABLE, and the project is rebuilt from the store before its next request
//! (`Cloud::recover`), so memory never stays ahead of disk.
//!
//! Delivered records are published to tails from this thread, after they are durable, in
//! command order.
//!
//! A command may carry a snapshot of its project (`api::snapshot`). Once the command is
//! stored, the snapshot is written in parts of at most `SNAPSHOT_PART` bytes, one with each
//! transaction (the thread does not wait for commands to make one): a large snapshot never
//! makes the commands of other projects wait for more than one part. A project deleted
//! meanwhile (`Durable::abandon`) gets no more of its parts.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::broadcast;

use super::cloud::Delivered;
use crate::store::{Commit, Purge, SnapshotPart, Store, StoredRecord};

/// How many commands one transaction takes at most: bounds a transaction's size and the wait
/// of the first command in it.
const MAX_BATCH: usize = 512;

/// The most snapshot bytes one transaction writes.
pub const SNAPSHOT_PART: usize = 1 << 20;

/// How far a project's queued commands have been stored.
///
/// Commands are counted by *ticket*, a number that only ever grows (a store sequence number is
/// reused when a project is rebuilt after a failure, so it cannot tell a waiter whether the
/// command it waits for was the one that failed).
///
/// Waiters on the blocking pool use `wait`; async request handlers use `confirmed`, so a
/// request waiting for the disk holds no thread. The committer wakes a project's waiters once
/// per batch, not once per command.
#[derive(Debug, Default)]
pub struct Durable {
    state: Mutex<Resolved>,
    changed: Condvar,
    notify: tokio::sync::Notify,
    /// The project was deleted: its snapshots still being written are dropped.
    abandoned: std::sync::atomic::AtomicBool,
}

/// How many failed runs of commands are remembered for requests still waiting on them.
const KEEP_FAILURES: usize = 16;

#[derive(Debug, Default)]
struct Resolved {
    /// The last ticket handed out.
    issued: u64,
    /// Every ticket up to this one is resolved (stored or failed).
    done: u64,
    /// Runs of failed tickets, oldest first: a failed command fails every later one of its
    /// project until the project is rebuilt (the store refuses a gap), so failures come in runs
    /// that end at a rebuild. The last run is open (`last == u64::MAX`) until then.
    failures: VecDeque<Failure>,
    /// Tickets up to this one belonged to runs no longer remembered: their waiters are refused.
    forgotten: u64,
}

impl Resolved {
    /// A run of failures is open: the project has not been rebuilt since.
    fn failing(&self) -> bool {
        self.failures.back().is_some_and(|f| f.last == u64::MAX)
    }

    /// The outcome of a resolved `ticket`.
    fn outcome(&self, ticket: u64) -> Result<(), String> {
        if ticket == 0 {
            return Ok(());
        }
        if ticket <= self.forgotten {
            return Err("its outcome is no longer known".into());
        }
        match self
            .failures
            .iter()
            .find(|f| f.first <= ticket && ticket <= f.last)
        {
            Some(f) => Err(f.why.clone()),
            None => Ok(()),
        }
    }
}

#[derive(Debug)]
struct Failure {
    first: u64,
    last: u64,
    why: String,
}

impl Durable {
    /// Hands out the next ticket. Called under the project's lock, in queueing order.
    pub fn issue(&self) -> u64 {
        let mut state = self.lock();
        state.issued += 1;
        state.issued
    }

    /// Waits until the commands up to `ticket` are resolved; refused if one of them failed.
    pub fn wait(&self, ticket: u64) -> Result<(), String> {
        let state = self.lock();
        let state = self
            .changed
            .wait_while(state, |s| s.done < ticket)
            .unwrap_or_else(|e| e.into_inner());
        state.outcome(ticket)
    }

    /// `wait`, for async callers.
    pub async fn confirmed(&self, ticket: u64) -> Result<(), String> {
        loop {
            // Registered before looking, so a resolution in between is not missed.
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.lock();
                if state.done >= ticket {
                    return state.outcome(ticket);
                }
            }
            notified.await;
        }
    }

    /// The project is being deleted: no more of its snapshots' parts are written. Set before
    /// the deletion's transaction: a part is checked inside its own, so either it is written
    /// before the deletion (which removes it) or not at all.
    pub fn abandon(&self) {
        self.abandoned
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn abandoned(&self) -> bool {
        self.abandoned.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether a command failed since the last rebuild (the project must be rebuilt).
    pub fn failed(&self) -> bool {
        self.lock()
            .failures
            .back()
            .is_some_and(|f| f.last == u64::MAX)
    }

    /// After a rebuild (every ticket handed out is resolved): the failed run ends here.
    /// Returns a ticket that stands for the rebuilt state, resolved and good: what a request
    /// that sees it waits for.
    pub fn rebuilt(&self) -> u64 {
        let mut state = self.lock();
        let done = state.done;
        if let Some(f) = state.failures.back_mut()
            && f.last == u64::MAX
        {
            f.last = done;
        }
        state.issued = state.issued.max(done) + 1;
        state.done = state.issued;
        let ticket = state.issued;
        drop(state);
        self.wake();
        ticket
    }

    fn resolve(&self, ticket: u64, error: Option<String>) {
        self.resolve_quietly(ticket, error);
        self.wake();
    }

    /// Resolves without waking the waiters: the committer wakes them once per batch.
    fn resolve_quietly(&self, ticket: u64, error: Option<String>) {
        let mut state = self.lock();
        state.done = state.done.max(ticket);
        if let Some(why) = error
            && !state.failing()
        {
            if state.failures.len() == KEEP_FAILURES
                && let Some(old) = state.failures.pop_front()
            {
                state.forgotten = old.last;
            }
            state.failures.push_back(Failure {
                first: ticket,
                last: u64::MAX,
                why,
            });
        }
    }

    fn wake(&self) {
        self.changed.notify_all();
        self.notify.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Resolved> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One command to store.
pub struct Job {
    pub project: String,
    pub seq: u64,
    /// From `Durable::issue`.
    pub ticket: u64,
    pub command: Vec<u8>,
    pub records: Vec<StoredRecord>,
    pub purges: Vec<Purge>,
    /// The project's snapshot right after this command, when one was due
    /// (`api::snapshot`): written in parts once the command is stored.
    pub snapshot: Option<Vec<u8>>,
    pub durable: Arc<Durable>,
}

/// The committing thread. Dropping it stores what is queued, then stops the thread.
pub struct Committer {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    pub fn start(store: Arc<Store>, delivered: broadcast::Sender<Arc<Delivered>>) -> Committer {
        let (queue, jobs) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("vpclab-commit".into())
            .spawn(move || run(&store, &jobs, &delivered))
            .expect("the committing thread starts");
        Committer {
            queue: Some(queue),
            thread: Some(thread),
        }
    }

    /// Queues a command. Commands of one project must be queued in order, under its lock.
    pub fn queue(&self, job: Job) {
        let durable = job.durable.clone();
        let ticket = job.ticket;
        let sent = self.queue.as_ref().is_some_and(|q| q.send(job).is_ok());
        if !sent {
            durable.resolve(ticket, Some("the server is shutting down".into()));
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A snapshot being written, part by part.
struct Writing {
    project: String,
    seq: u64,
    bytes: Vec<u8>,
    /// The next part to write.
    next: u32,
    durable: Arc<Durable>,
}

impl Writing {
    fn parts(&self) -> u32 {
        self.bytes.len().div_ceil(SNAPSHOT_PART).max(1) as u32
    }

    fn part(&self) -> &[u8] {
        let start = self.next as usize * SNAPSHOT_PART;
        &self.bytes[start.min(self.bytes.len())..(start + SNAPSHOT_PART).min(self.bytes.len())]
    }
}

/// Stores a snapshot of `project` taken right after command `seq`, part by part, outside any
/// command (at start, before the commit thread runs). False when a part could not be written
/// (logged; the project goes on without it).
pub fn store_snapshot(store: &Store, project: &str, seq: u64, bytes: Vec<u8>) -> bool {
    let mut w = Writing {
        project: project.to_string(),
        seq,
        bytes,
        next: 0,
        durable: Arc::new(Durable::default()),
    };
    let never = || false;
    while w.next < w.parts() {
        let part = SnapshotPart {
            project: &w.project,
            seq: w.seq,
            index: w.next,
            of: w.parts(),
            bytes: w.part(),
            gone: &never,
        };
        if !store.commit_batch_with(&[], Some(&part)).1 {
            tracing::warn!(project = %w.project, seq = w.seq, "a snapshot could not be stored");
            return false;
        }
        w.next += 1;
    }
    true
}

fn run(store: &Store, jobs: &mpsc::Receiver<Job>, delivered: &broadcast::Sender<Arc<Delivered>>) {
    let mut writing: VecDeque<Writing> = VecDeque::new();
    // Until the server stops; then the snapshots under way are finished.
    let mut open = true;
    loop {
        // With a snapshot to write, a transaction goes ahead without waiting for commands.
        let first = if writing.is_empty() {
            if !open {
                break;
            }
            match jobs.recv() {
                Ok(job) => Some(job),
                Err(_) => break,
            }
        } else if open {
            match jobs.try_recv() {
                Ok(job) => Some(job),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    None
                }
            }
        } else {
            None
        };
        let mut batch: Vec<Job> = first.into_iter().collect();
        while !batch.is_empty() && batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commits: Vec<Commit<'_>> = batch
            .iter()
            .map(|j| Commit {
                project: &j.project,
                seq: j.seq,
                command: &j.command,
                records: &j.records,
                purges: &j.purges,
            })
            .collect();
        let gone = || writing.front().is_some_and(|w| w.durable.abandoned());
        let part = writing.front().map(|w| SnapshotPart {
            project: &w.project,
            seq: w.seq,
            index: w.next,
            of: w.parts(),
            bytes: w.part(),
            gone: &gone,
        });
        let (results, written) = store.commit_batch_with(&commits, part.as_ref());
        drop(commits);
        if let Some(w) = writing.front_mut() {
            w.next += 1;
            // Dropped or failed: the snapshot is abandoned (the next interval takes another).
            if !written || w.next == w.parts() {
                if !written && !w.durable.abandoned() {
                    tracing::warn!(project = %w.project, seq = w.seq, "a snapshot could not be stored");
                }
                writing.pop_front();
            }
        }
        // Each project's waiters are woken once, after all of its commands in the batch.
        let mut resolved: Vec<Arc<Durable>> = Vec::new();
        for (job, result) in batch.into_iter().zip(results) {
            if !resolved.iter().any(|d| Arc::ptr_eq(d, &job.durable)) {
                resolved.push(job.durable.clone());
            }
            match result {
                Ok(()) => {
                    for record in job.records {
                        // Nobody tailing is fine.
                        let _ = delivered.send(Arc::new(Delivered {
                            project: job.project.clone(),
                            record,
                        }));
                    }
                    if let Some(bytes) = job.snapshot {
                        writing.push_back(Writing {
                            project: job.project,
                            seq: job.seq,
                            bytes,
                            next: 0,
                            durable: job.durable.clone(),
                        });
                    }
                    job.durable.resolve_quietly(job.ticket, None);
                }
                Err(e) => {
                    tracing::error!(project = %job.project, seq = job.seq, error = %e, "storing a change failed");
                    job.durable.resolve_quietly(job.ticket, Some(e.to_string()));
                }
            }
        }
        for durable in resolved {
            durable.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_learns_its_command_failed_even_after_the_project_was_rebuilt() {
        let d = Durable::default();
        let (a, b, c) = (d.issue(), d.issue(), d.issue());
        d.resolve(a, None);
        d.resolve(b, Some("disk full".into()));
        d.resolve(c, Some("gap".into()));
        assert!(d.failed());
        // The rebuild happens before the waiters of `b` and `c` look.
        let good = d.rebuilt();
        assert!(!d.failed());
        assert_eq!(d.wait(good), Ok(()));
        let e = d.issue();
        d.resolve(e, None);
        assert_eq!(d.wait(a), Ok(()));
        assert_eq!(d.wait(b), Err("disk full".into()));
        assert_eq!(d.wait(c), Err("disk full".into()));
        assert_eq!(d.wait(e), Ok(()));
    }

    #[test]
    fn a_waiter_is_woken_by_its_resolution_and_not_stranded_by_a_rebuild() {
        let d = Arc::new(Durable::default());
        let t = (d.issue(), d.issue());
        let waiter = {
            let d = d.clone();
            std::thread::spawn(move || d.wait(t.1))
        };
        d.resolve(t.0, Some("no space".into()));
        d.resolve(t.1, Some("gap".into()));
        d.rebuilt();
        assert_eq!(waiter.join().unwrap(), Err("no space".into()));
    }

    #[test]
    fn outcomes_of_runs_too_old_to_remember_are_refused() {
        let d = Durable::default();
        let first = d.issue();
        d.resolve(first, Some("lost".into()));
        d.rebuilt();
        for _ in 0..KEEP_FAILURES {
            let t = d.issue();
            d.resolve(t, Some("again".into()));
            d.rebuilt();
        }
        assert!(d.wait(first).is_err());
        let ok = d.issue();
        d.resolve(ok, None);
        assert_eq!(d.wait(ok), Ok(()));
    }
}
