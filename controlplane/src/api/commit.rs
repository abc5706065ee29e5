//! Group commit: one thread stores every project's changes, as many as have queued up while
//! the previous transaction was being made durable, in one transaction (`Store::commit_batch`),
//! so concurrent writers share one flush instead of waiting for one each.
//!
//! A request applies its command to the project in memory under the project's lock, queues
//! it here, releases the lock and only then waits for it to be durable (early lock release):
//! the next request to the same project can be applied meanwhile and ride in the same batch.
//! Nothing is acknowledged before it is durable, and neither is anything that depends on it: a
//! request (a read too) waits until every command it may have seen is durable (`Durable::wait`
//! on the last command queued when it ran). If storing a command fails, it and every later
//! command of that project fail (the store refuses a gap), the requests that saw any of them
//! get UNAVAILABLE, and the project is rebuilt from the store before its next request
//! (`Cloud::recover`), so memory never stays ahead of disk.
//!
//! Delivered records are published to tails from this thread, after they are durable, in
//! command order.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::broadcast;

use super::cloud::Delivered;
use crate::store::{Commit, Purge, Store, StoredRecord};

/// How many commands one transaction takes at most: bounds a transaction's size and the wait
/// of the first command in it.
const MAX_BATCH: usize = 512;

/// How far a project's queued commands have been stored.
#[derive(Debug)]
pub struct Durable {
    state: Mutex<Resolved>,
    changed: Condvar,
}

#[derive(Debug)]
struct Resolved {
    /// Every command up to this one is resolved (stored or failed).
    seq: u64,
    /// The first command that failed since the project was last rebuilt, and why.
    failed: Option<(u64, String)>,
}

impl Durable {
    /// A project whose commands up to `seq` are stored.
    pub fn new(seq: u64) -> Durable {
        Durable {
            state: Mutex::new(Resolved { seq, failed: None }),
            changed: Condvar::new(),
        }
    }

    /// Waits until the commands up to `seq` are resolved; refused if one of them failed.
    pub fn wait(&self, seq: u64) -> Result<(), String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = self
            .changed
            .wait_while(state, |s| s.seq < seq)
            .unwrap_or_else(|e| e.into_inner());
        match &state.failed {
            Some((failed, why)) if *failed <= seq => Err(why.clone()),
            _ => Ok(()),
        }
    }

    /// Whether a command failed since the last rebuild (the project must be rebuilt).
    pub fn failed(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failed
            .is_some()
    }

    /// After a rebuild: the commands up to `seq` are what is stored.
    pub fn reset(&self, seq: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = Resolved { seq, failed: None };
        self.changed.notify_all();
    }

    fn resolve(&self, seq: u64, error: Option<String>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.seq = state.seq.max(seq);
        if let Some(why) = error
            && state.failed.is_none()
        {
            state.failed = Some((seq, why));
        }
        self.changed.notify_all();
    }
}

/// One command to store.
pub struct Job {
    pub project: String,
    pub seq: u64,
    pub command: Vec<u8>,
    pub records: Vec<StoredRecord>,
    pub purges: Vec<Purge>,
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
        let seq = job.seq;
        let sent = self.queue.as_ref().map(|q| q.send(job));
        if !matches!(sent, Some(Ok(()))) {
            durable.resolve(seq, Some("the server is shutting down".into()));
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

fn run(store: &Store, jobs: &mpsc::Receiver<Job>, delivered: &broadcast::Sender<Arc<Delivered>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
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
        let results = store.commit_batch(&commits);
        drop(commits);
        for (job, result) in batch.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    for record in job.records {
                        // Nobody tailing is fine.
                        let _ = delivered.send(Arc::new(Delivered {
                            project: job.project.clone(),
                            record,
                        }));
                    }
                    job.durable.resolve(job.seq, None);
                }
                Err(e) => {
                    tracing::error!(project = %job.project, seq = job.seq, error = %e, "storing a change failed");
                    job.durable.resolve(job.seq, Some(e.to_string()));
                }
            }
        }
    }
}
