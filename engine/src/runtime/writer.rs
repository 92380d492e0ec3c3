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
//!
//! Each operation is a [`txn::Op`](crate::txn::Op): the caller gets back
//! exactly its output, or its own error. An operation rejected cleanly (a
//! stale lease) wrote nothing, so the rest of its batch still commits; any
//! other error aborts the batch, and every other caller in it gets a replica
//! of that error, of the same kind.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use redb::{Database, Durability};
use tokio::sync::watch;

use crate::config::Config;
use crate::error::EngineError;
use crate::graph::{Graph, GraphCell};
use crate::runtime::doorbell;
use crate::runtime::halt::{Halt, disk_full};
use crate::store::Store;
use crate::store::damage;
use crate::txn::{Op, Tx, is_clean_rejection};

/// A queued operation with its way back to the caller; the operation's
/// output type is known only inside.
trait Request: Send {
    /// Whether a commit holding this operation may stay open for
    /// `background_commit_window` rather than `commit_window`.
    fn background(&self) -> bool;

    /// Applies the operation and keeps its result for [`Request::answer`].
    /// A fatal error (one that leaves the transaction unusable) comes back
    /// as a replica for the other operations of the batch; the operation
    /// keeps the original.
    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<(), EngineError>;

    /// Answers the caller: with `failed` when the batch did not commit,
    /// otherwise with the kept result.
    fn answer(self: Box<Self>, failed: Option<EngineError>);
}

/// How an operation's caller is answered, on the writer thread.
type Reply<T> = Box<dyn FnOnce(Result<T, EngineError>) + Send>;

struct Typed<O: Op> {
    op: Option<O>,
    result: Option<Result<O::Output, EngineError>>,
    reply: Reply<O::Output>,
    background: bool,
}

impl<O: Op> Request for Typed<O> {
    fn background(&self) -> bool {
        self.background
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<(), EngineError> {
        let Some(op) = self.op.take() else {
            return Ok(());
        };
        let result = op.apply(tx);
        let replica = match &result {
            Err(e) if !is_clean_rejection(e) => Some(e.replica()),
            _ => None,
        };
        self.result = Some(result);
        replica.map_or(Ok(()), Err)
    }

    fn answer(self: Box<Self>, failed: Option<EngineError>) {
        let Typed { result, reply, .. } = *self;
        let answer = match (failed, result) {
            (Some(error), _) => Err(error),
            (None, Some(result)) => result,
            // Only an operation the batch never applied has no result, and
            // such a batch failed.
            (None, None) => Err(EngineError::Closed),
        };
        reply(answer);
    }
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
    sender: Mutex<Option<Sender<Box<dyn Request>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The database file, named by the errors that report damage to it
    /// (shared: every operation's answer holds it).
    file: Arc<Path>,
    /// Raised when the database's disk is full.
    halt: Arc<Halt>,
    pub(crate) stats: Arc<WriterStats>,
    /// Bumped after every commit; progress watchers wait on it.
    pub(crate) commits: watch::Sender<u64>,
}

impl Writer {
    pub(crate) fn start(
        store: &Arc<Store>,
        config: Arc<Config>,
        graph: Arc<GraphCell>,
        halt: Arc<Halt>,
    ) -> Writer {
        let db = store.db.clone();
        let file: Arc<Path> = Arc::from(store.database_file());
        let (sender, receiver) = mpsc::channel();
        let stats = Arc::new(WriterStats::default());
        let (commits, _) = watch::channel(0u64);
        let thread_stats = stats.clone();
        let thread_commits = commits.clone();
        let thread_file = file.clone();
        let thread_store = store.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-writer".into())
            .spawn(move || {
                run(
                    db,
                    &thread_store,
                    &thread_file,
                    config,
                    graph,
                    receiver,
                    thread_stats,
                    thread_commits,
                );
            })
            .ok();
        Writer {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(thread),
            file,
            halt,
            stats,
            commits,
        }
    }

    /// Queues an operation; `reply` runs on the writer thread once the
    /// commit holding it is durable (or failed). A `background` operation
    /// is one nobody waits on, whose commit may be gathered for longer (see
    /// the module documentation).
    pub(crate) fn send<O: Op>(
        &self,
        op: O,
        background: bool,
        reply: impl FnOnce(Result<O::Output, EngineError>) + Send + 'static,
    ) {
        // A redb `Corrupted` error is damage to this file, whichever
        // operation of a batch met it; a full disk stops the workers.
        let file = self.file.clone();
        let halt = self.halt.clone();
        let reply = move |result: Result<O::Output, EngineError>| {
            reply(result.map_err(|e| match disk_full(&e, &file) {
                Some(full) => {
                    halt.raise(full.replica());
                    full
                }
                None => damage::as_damage(&file, e),
            }));
        };
        let request: Box<dyn Request> = Box::new(Typed {
            op: Some(op),
            result: None,
            reply: Box::new(reply),
            background,
        });
        let sender = self.sender.lock().ok().and_then(|s| s.clone());
        match sender {
            Some(sender) => {
                if let Err(mpsc::SendError(request)) = sender.send(request) {
                    request.answer(Some(EngineError::Closed));
                }
            }
            None => request.answer(Some(EngineError::Closed)),
        }
    }

    /// Applies an operation and waits, asynchronously, for its durable answer.
    pub(crate) async fn call<O: Op>(&self, op: O) -> Result<O::Output, EngineError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(op, false, move |result| {
            let _ = tx.send(result);
        });
        rx.await.map_err(|_| EngineError::Closed)?
    }

    /// Applies an operation and blocks the calling (non-async) thread for the answer.
    pub(crate) fn call_blocking<O: Op>(&self, op: O) -> Result<O::Output, EngineError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(op, false, move |result| {
            let _ = tx.send(result);
        });
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

#[allow(clippy::too_many_arguments)]
fn run(
    db: Arc<Database>,
    store: &Store,
    file: &Path,
    config: Arc<Config>,
    graph: Arc<GraphCell>,
    receiver: Receiver<Box<dyn Request>>,
    stats: Arc<WriterStats>,
    commits: watch::Sender<u64>,
) {
    let max_ops = config.max_commit_ops.max(1);
    let background_window = config.background_commit_window.max(config.commit_window);
    while let Ok(first) = receiver.recv() {
        let window = if first.background() {
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
            if !op.background() {
                deadline = deadline.min(Instant::now() + config.commit_window);
            }
            batch.push(op);
        }
        let started = Instant::now();
        let current = graph.current();
        let count = batch.len() as u64;
        apply_batch(&db, file, &config, &current, batch, &stats);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.ops.fetch_add(count, Ordering::Relaxed);
        stats.commit_ns.fetch_add(
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        commits.send_modify(|n| *n += 1);
        // The primary of another process sleeps until told of new work.
        if !store.holds_lock() {
            doorbell::ring(&store.dir);
        }
    }
}

/// Answers every operation of a batch that did not commit: the first with
/// `error` itself, the others with replicas of it.
fn fail_all(batch: Vec<Box<dyn Request>>, error: EngineError) {
    let mut error = Some(error);
    for request in batch {
        let this = error.take().unwrap_or(EngineError::Closed);
        error = Some(this.replica());
        request.answer(Some(this));
    }
}

/// Applies a batch in one write transaction and commits it durably, then
/// answers every operation.
///
/// An operation rejected cleanly (a stale lease, an unknown stage) wrote
/// nothing, so the others still commit. Any other error leaves the
/// transaction unusable: it is aborted, the operation that failed gets its
/// own error and the rest of the batch a replica of it. Damage to the
/// database file (a redb panic or `Corrupted` error) fails the batch as
/// [`EngineError::Damaged`], and the writer goes on with the next one.
fn apply_batch(
    db: &Database,
    file: &Path,
    config: &Config,
    graph: &Graph,
    mut batch: Vec<Box<dyn Request>>,
    stats: &WriterStats,
) {
    let outcome = damage::catch(file, || commit_batch(db, config, graph, &mut batch, stats))
        .unwrap_or_else(|damaged| Err((None, damaged)));
    match outcome {
        Ok(()) => {
            for request in batch {
                request.answer(None);
            }
        }
        Err((None, error)) => fail_all(batch, error),
        Err((Some(culprit), error)) => {
            for (index, request) in batch.into_iter().enumerate() {
                let failed = (index != culprit).then(|| error.replica());
                request.answer(failed);
            }
        }
    }
}

/// Why a batch did not commit: the index of the operation that failed
/// (`None`: the transaction itself) and the replica of its error the
/// others get (the failing operation already holds its own).
type BatchFailure = (Option<usize>, EngineError);

/// The transaction of [`apply_batch`]: applies every operation of `batch`
/// and commits.
fn commit_batch(
    db: &Database,
    config: &Config,
    graph: &Graph,
    batch: &mut [Box<dyn Request>],
    stats: &WriterStats,
) -> Result<(), BatchFailure> {
    let mut txn = db.begin_write().map_err(|e| (None, e.into()))?;
    if let Err(e) = txn.set_durability(Durability::Immediate) {
        return Err((None, redb::Error::from(e).into()));
    }
    let now = config.clock.now_ns();
    let mut fatal: Option<BatchFailure> = None;

    {
        match Tx::open(&txn, now, config, graph) {
            Ok(mut tx) => {
                for (index, request) in batch.iter_mut().enumerate() {
                    if let Err(replica) = request.apply(&mut tx) {
                        fatal = Some((Some(index), replica));
                        break;
                    }
                }
                if fatal.is_none()
                    && let Err(e) = tx.flush_counts()
                {
                    fatal = Some((None, e));
                }
            }
            Err(e) => fatal = Some((None, e)),
        }
    }
    if let Some(failure) = fatal {
        let _ = txn.abort();
        return Err(failure);
    }
    let sync_started = Instant::now();
    let committed = txn.commit();
    stats.sync_ns.fetch_add(
        u64::try_from(sync_started.elapsed().as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    committed.map_err(|e| (None, e.into()))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::store;

    /// Takes the next value of a test sequence: a write that commits.
    struct Next;

    impl Op for Next {
        type Output = u64;

        fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
            tx.next_id("writer_test")
        }
    }

    /// Fails with the error it is given.
    struct Fails(fn() -> EngineError);

    impl Op for Fails {
        type Output = ();

        fn apply(self, _tx: &mut Tx<'_>) -> Result<(), EngineError> {
            Err((self.0)())
        }
    }

    fn corrupted() -> EngineError {
        EngineError::Database(redb::Error::Corrupted("bad page".into()))
    }

    fn stale() -> EngineError {
        EngineError::StaleLease(7)
    }

    /// A writer whose batches stay open long enough to gather every
    /// operation a test sends at once.
    fn writer(dir: &std::path::Path) -> Writer {
        let config = Config {
            commit_window: Duration::from_millis(200),
            ..Config::default()
        };
        let store = Arc::new(store::open(dir, &config).expect("open store"));
        Writer::start(&store, Arc::new(config), Arc::default(), Arc::default())
    }

    /// Sends `op` and returns where its answer arrives.
    fn sent<O: Op>(writer: &Writer, op: O) -> mpsc::Receiver<Result<O::Output, EngineError>> {
        let (tx, rx) = mpsc::channel();
        writer.send(op, false, move |result| {
            let _ = tx.send(result);
        });
        rx
    }

    fn answer<T>(rx: &mpsc::Receiver<Result<T, EngineError>>) -> Result<T, EngineError> {
        rx.recv_timeout(Duration::from_secs(10)).expect("an answer")
    }

    #[test]
    fn an_operation_gets_its_own_output_and_its_own_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = writer(dir.path());
        assert_eq!(writer.call_blocking(Next).expect("next"), 1);
        let error = writer.call_blocking(Fails(corrupted)).expect_err("fails");
        assert!(
            matches!(&error, EngineError::Damaged { detail, .. } if detail == "bad page"),
            "a corrupted page is damage to the database file: {error:?}"
        );
        let error = writer.call_blocking(Fails(stale)).expect_err("fails");
        assert!(
            matches!(error, EngineError::StaleLease(7)),
            "any other error keeps its kind: {error:?}"
        );
        writer.close();
    }

    #[test]
    fn a_failed_batch_commits_nothing_and_tells_everyone_the_same_kind_of_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = writer(dir.path());
        let before = sent(&writer, Next);
        let failing = sent(&writer, Fails(corrupted));
        let after = sent(&writer, Next);
        for error in [
            answer(&before).expect_err("aborted"),
            answer(&after).expect_err("never applied"),
        ] {
            assert!(
                matches!(&error, EngineError::Damaged { detail, .. } if detail == "bad page"),
                "{error:?}"
            );
        }
        assert!(matches!(answer(&failing), Err(EngineError::Damaged { .. })));
        assert_eq!(
            writer.call_blocking(Next).expect("next"),
            1,
            "the aborted batch advanced no sequence"
        );
        writer.close();
    }

    #[test]
    fn a_clean_rejection_leaves_the_rest_of_its_batch_to_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = writer(dir.path());
        let first = sent(&writer, Next);
        let rejected = sent(&writer, Fails(stale));
        let second = sent(&writer, Next);
        assert!(matches!(answer(&rejected), Err(EngineError::StaleLease(7))));
        assert_eq!(answer(&first).expect("first"), 1);
        assert_eq!(answer(&second).expect("second"), 2);
        // The batch is counted after its answers went out: read the count
        // once the writer thread has ended.
        writer.close();
        assert_eq!(writer.stats.commits.load(Ordering::Relaxed), 1, "one batch");
    }
}
