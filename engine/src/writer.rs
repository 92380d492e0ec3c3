//! The group-commit writer: one thread that owns every write transaction.
//!
//! Callers send operations over a channel. The thread gathers whatever is
//! queued (up to `max_commit_ops`, waiting at most `commit_window` for more),
//! applies them in one transaction, commits durably, and only then answers
//! each caller. So no caller ever sees a state that is not on disk, and one
//! fsync is shared by hundreds of claims and completions.
//!
//! Completions of non-interactive jobs are sent as background operations
//! while claimed work waits in the scheduler's queue: a commit holding only
//! those stays open for `background_commit_window`, so a busy import makes
//! a few large commits instead of many small ones (each commit costs the
//! writer CPU time and the disk an fsync). Any other operation closes the
//! commit within `commit_window` of its arrival.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use kiln_plugin_api::StageError;
use redb::{Database, Durability};
use tokio::sync::watch;

use crate::config::Config;
use crate::error::EngineError;
use crate::graph::Graph;
use crate::lease::{Claimed, Completion, Failure};
use crate::txn::complete::StoredOutput;
use crate::txn::intake::FileEntry;
use crate::txn::{self, Tx};

/// A write the writer thread applies.
#[derive(Debug)]
pub(crate) enum OpKind {
    Claim {
        max: usize,
        below: Option<(u8, u8)>,
    },
    Complete {
        job_id: u64,
        token: u64,
        output: StoredOutput,
    },
    Fail {
        job_id: u64,
        token: u64,
        error: StageError,
    },
    Release {
        leases: Vec<(u64, u64)>,
    },
    ReclaimAll,
    CreateImport {
        root: String,
        priority: u8,
        walk_done: bool,
        budget: Option<u64>,
    },
    Intake {
        import_id: u64,
        files: Vec<FileEntry>,
    },
    FinishWalk {
        import_id: u64,
    },
    RetryDead {
        only: Option<u64>,
    },
    PurgeDead,
    Rerun {
        stage: String,
        priority: u8,
    },
}

/// The answer to an operation, sent after its commit is durable.
#[derive(Debug)]
pub(crate) enum Reply {
    Claimed(Vec<Claimed>),
    Completed(Completion),
    Failed(Failure),
    Count(u64),
    Import(u64),
    Rerun(u64, u64),
}

type Responder = Box<dyn FnOnce(Result<Reply, EngineError>) + Send>;

struct Op {
    kind: OpKind,
    reply: Responder,
    /// Whether a commit holding this operation may stay open for
    /// `background_commit_window` rather than `commit_window`.
    background: bool,
}

/// Counters describing the writer's work, for metrics.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    pub(crate) commits: AtomicU64,
    pub(crate) ops: AtomicU64,
    pub(crate) commit_ns: AtomicU64,
    /// Of `commit_ns`, the time spent in `WriteTransaction::commit` (page writes and fsync).
    pub(crate) sync_ns: AtomicU64,
}

/// The handle callers use to reach the writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    sender: Mutex<Option<Sender<Op>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub(crate) stats: Arc<WriterStats>,
    /// Bumped after every commit; progress watchers wait on it.
    pub(crate) commits: watch::Sender<u64>,
}

impl Writer {
    pub(crate) fn start(
        db: Arc<Database>,
        config: Arc<Config>,
        graph: Arc<RwLock<Arc<Graph>>>,
    ) -> Writer {
        let (sender, receiver) = mpsc::channel();
        let stats = Arc::new(WriterStats::default());
        let (commits, _) = watch::channel(0u64);
        let thread_stats = stats.clone();
        let thread_commits = commits.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-writer".into())
            .spawn(move || {
                run(db, config, graph, receiver, thread_stats, thread_commits);
            })
            .ok();
        Writer {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(thread),
            stats,
            commits,
        }
    }

    /// Queues an operation; `reply` runs on the writer thread after the commit.
    pub(crate) fn send(&self, kind: OpKind, reply: Responder) {
        self.send_with(kind, reply, false);
    }

    /// [`Writer::send`], as a background operation when `background`: one
    /// nobody waits on, whose commit may be gathered for longer (see the
    /// module documentation).
    pub(crate) fn send_with(&self, kind: OpKind, reply: Responder, background: bool) {
        let op = Op {
            kind,
            reply,
            background,
        };
        let sender = self.sender.lock().ok().and_then(|s| s.clone());
        match sender {
            Some(sender) => {
                if let Err(mpsc::SendError(op)) = sender.send(op) {
                    (op.reply)(Err(EngineError::Closed));
                }
            }
            None => (op.reply)(Err(EngineError::Closed)),
        }
    }

    /// Applies an operation and waits, asynchronously, for its durable answer.
    pub(crate) async fn call(&self, kind: OpKind) -> Result<Reply, EngineError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(
            kind,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.await.map_err(|_| EngineError::Closed)?
    }

    /// Applies an operation and blocks the calling (non-async) thread for the answer.
    pub(crate) fn call_blocking(&self, kind: OpKind) -> Result<Reply, EngineError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(
            kind,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.recv().map_err(|_| EngineError::Closed)?
    }

    /// Stops accepting operations, lets the queued ones commit and joins the thread.
    pub(crate) fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(
    db: Arc<Database>,
    config: Arc<Config>,
    graph: Arc<RwLock<Arc<Graph>>>,
    receiver: Receiver<Op>,
    stats: Arc<WriterStats>,
    commits: watch::Sender<u64>,
) {
    let max_ops = config.max_commit_ops.max(1);
    let background_window = config.background_commit_window.max(config.commit_window);
    while let Ok(first) = receiver.recv() {
        let window = if first.background {
            background_window
        } else {
            config.commit_window
        };
        let mut deadline = Instant::now() + window;
        let mut batch = vec![first];
        while batch.len() < max_ops {
            let op = match receiver.try_recv() {
                Ok(op) => op,
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match receiver.recv_timeout(deadline - now) {
                        Ok(op) => op,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            if !op.background {
                deadline = deadline.min(Instant::now() + config.commit_window);
            }
            batch.push(op);
        }
        let started = Instant::now();
        let current = graph.read().map(|g| g.clone()).unwrap_or_default();
        let count = batch.len() as u64;
        apply_batch(&db, &config, &current, batch, &stats);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.ops.fetch_add(count, Ordering::Relaxed);
        stats.commit_ns.fetch_add(
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        commits.send_modify(|n| *n += 1);
    }
}

/// Whether an operation's error happened before it wrote anything, so the
/// shared transaction may still commit the other operations.
fn is_clean_rejection(error: &EngineError) -> bool {
    matches!(error, EngineError::StaleLease(_) | EngineError::Graph(_))
}

fn apply_batch(db: &Database, config: &Config, graph: &Graph, batch: Vec<Op>, stats: &WriterStats) {
    let (kinds, replies): (Vec<OpKind>, Vec<Responder>) =
        batch.into_iter().map(|op| (op.kind, op.reply)).unzip();
    let batch = replies;
    let fail_all = |batch: Vec<Responder>, message: String| {
        for reply in batch {
            reply(Err(EngineError::Database(redb::Error::Io(
                std::io::Error::other(message.clone()),
            ))));
        }
    };
    let mut txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => return fail_all(batch, e.to_string()),
    };
    if let Err(e) = txn.set_durability(Durability::Immediate) {
        return fail_all(batch, e.to_string());
    }
    let now = config.clock.now_ns();
    let mut results = Vec::with_capacity(batch.len());
    let mut fatal = None;
    {
        match Tx::open(&txn, now, config, graph) {
            Ok(mut tx) => {
                for kind in kinds {
                    let result = apply_one(&mut tx, kind);
                    if let Err(e) = &result
                        && !is_clean_rejection(e)
                    {
                        fatal = Some(e.to_string());
                        break;
                    }
                    results.push(result);
                }
                if fatal.is_none()
                    && let Err(e) = tx.flush_counts()
                {
                    fatal = Some(e.to_string());
                }
            }
            Err(e) => fatal = Some(e.to_string()),
        }
    }
    if let Some(message) = fatal {
        let _ = txn.abort();
        return fail_all(batch, message);
    }
    let sync_started = Instant::now();
    let committed = txn.commit();
    stats.sync_ns.fetch_add(
        u64::try_from(sync_started.elapsed().as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    if let Err(e) = committed {
        return fail_all(batch, e.to_string());
    }
    for (reply, result) in batch.into_iter().zip(results) {
        reply(result);
    }
}

fn apply_one(tx: &mut Tx<'_>, kind: OpKind) -> Result<Reply, EngineError> {
    Ok(match kind {
        OpKind::Claim { max, below } => Reply::Claimed(txn::claim::claim(tx, max, below)?),
        OpKind::Complete {
            job_id,
            token,
            output,
        } => Reply::Completed(txn::complete::complete(tx, job_id, token, output)?),
        OpKind::Fail {
            job_id,
            token,
            error,
        } => Reply::Failed(txn::complete::fail(tx, job_id, token, &error)?),
        OpKind::Release { leases } => Reply::Count(txn::claim::release(tx, &leases)? as u64),
        OpKind::ReclaimAll => Reply::Count(txn::claim::reclaim_all(tx)? as u64),
        OpKind::CreateImport {
            root,
            priority,
            walk_done,
            budget,
        } => Reply::Import(txn::intake::create_import(
            tx, &root, priority, walk_done, budget,
        )?),
        OpKind::Intake { import_id, files } => {
            txn::intake::intake(tx, import_id, &files)?;
            Reply::Count(files.len() as u64)
        }
        OpKind::FinishWalk { import_id } => {
            txn::intake::finish_walk(tx, import_id)?;
            Reply::Count(0)
        }
        OpKind::RetryDead { only } => Reply::Count(txn::dead::retry(tx, only)?),
        OpKind::PurgeDead => Reply::Count(txn::dead::purge(tx)?),
        OpKind::Rerun { stage, priority } => {
            let (import, count) = txn::dead::rerun_outdated(tx, &stage, priority)?;
            Reply::Rerun(import, count)
        }
    })
}
