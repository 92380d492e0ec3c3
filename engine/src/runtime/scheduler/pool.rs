//! The worker pool: threads that take claimed jobs from the queue, run
//! their stage off the async threads and send the result on, through the
//! blob syncer, to the writer. One extra worker (the lane) only ever takes
//! interactive jobs.

use std::cmp::Reverse;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use kiln_plugin_api::{CostClass, Stage, StageError, StageInput, StageOutput};

use super::claiming::buffer_target;
use super::state::{Handles, Queued, SchedState, queue_len};
use crate::error::EngineError;
use crate::model::{Claimed, Lease, Priority};
use crate::runtime::halt::disk_full;
use crate::runtime::metrics::Finished;
use crate::store::blobs::stage_output;
use crate::store::damage::panic_message;
use crate::txn::claim::Release;
use crate::txn::complete::Complete;
use crate::txn::fail::Fail;

fn take_job(state: &SchedState, lane: bool) -> Option<Queued> {
    let mut q = state.queue.lock().ok()?;
    loop {
        if state.stop.load(Ordering::SeqCst) {
            return None;
        }
        let fits = match q.peek() {
            Some(Reverse(top)) if top.0.lease.priority == Priority::Interactive => true,
            Some(_) => !lane && state.interactive_running.load(Ordering::SeqCst) == 0,
            None => false,
        };
        if fits {
            let Reverse(job) = q.pop()?;
            state.in_flight.fetch_add(1, Ordering::SeqCst);
            return Some(job);
        }
        // Every change that can let a worker go on (a push, the end of an
        // interactive job, stop) notifies while holding the queue's lock.
        q = state.queue_changed.wait(q).ok()?;
    }
}

pub(super) fn worker(handles: Arc<Handles>, state: Arc<SchedState>, lane: bool) {
    let mut runner = Runner::default();
    while let Some(job) = take_job(&state, lane) {
        if queue_len(&state) * 2 <= buffer_target(&handles, &state) {
            state.feeder_wake.notify_one();
        }
        run_job(&handles, &state, job, lane, &mut runner);
    }
}

/// How long a stopping engine still waits for a stage call that is running.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What one call of a stage came to on its runner thread.
type Called = std::thread::Result<Result<StageOutput, StageError>>;

/// A stage call handed to a runner thread.
struct Call {
    stage: Arc<dyn Stage>,
    input: StageInput,
    reply: mpsc::SyncSender<Called>,
}

/// The thread a worker runs stage calls on, so that a call that never
/// returns (a stage stuck on a device, a plugin in an endless loop) can be
/// abandoned: the worker stops waiting for it, and the next call gets a
/// fresh runner. An abandoned runner ends once its call returns.
#[derive(Default)]
struct Runner {
    calls: Option<mpsc::Sender<Call>>,
}

/// Why a stage call did not come back.
enum Abandoned {
    /// It ran past the deadline.
    Deadline,
    /// The engine is stopping.
    Stopping,
}

impl Runner {
    fn sender(&mut self) -> Option<&mpsc::Sender<Call>> {
        if self.calls.is_none() {
            let (sender, receiver) = mpsc::channel::<Call>();
            let spawned = std::thread::Builder::new()
                .name("kiln-stage".into())
                .spawn(move || {
                    while let Ok(call) = receiver.recv() {
                        let outcome =
                            catch_unwind(AssertUnwindSafe(|| call.stage.process(&call.input)));
                        let _ = call.reply.send(outcome);
                    }
                });
            if spawned.is_ok() {
                self.calls = Some(sender);
            }
        }
        self.calls.as_ref()
    }

    /// Runs `stage` on `input` and waits for it, at most `deadline`, and
    /// no longer than until the engine stops. A runner thread that cannot
    /// be started runs the call on this thread.
    fn call(
        &mut self,
        stage: &Arc<dyn Stage>,
        input: StageInput,
        deadline: Duration,
        stop: &AtomicBool,
    ) -> Result<Called, Abandoned> {
        let (reply, answer) = mpsc::sync_channel(1);
        let call = Call {
            stage: stage.clone(),
            input,
            reply,
        };
        let unsent = match self.sender() {
            Some(sender) => sender.send(call).err().map(|mpsc::SendError(call)| call),
            None => Some(call),
        };
        if let Some(call) = unsent {
            self.calls = None;
            return Ok(catch_unwind(AssertUnwindSafe(|| {
                call.stage.process(&call.input)
            })));
        }
        let started = Instant::now();
        let mut stop_seen: Option<Instant> = None;
        loop {
            match answer.recv_timeout(Duration::from_millis(100)) {
                Ok(called) => return Ok(called),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.calls = None;
                    return Ok(Err(Box::new("the stage's thread ended without an answer")));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if stop.load(Ordering::SeqCst) {
                stop_seen.get_or_insert_with(Instant::now);
            }
            // A stopping engine lets a running call finish for a moment,
            // then stops waiting for it.
            let abandoned = if stop_seen.is_some_and(|seen| seen.elapsed() >= STOP_GRACE) {
                Abandoned::Stopping
            } else if started.elapsed() >= deadline {
                Abandoned::Deadline
            } else {
                continue;
            };
            // The stuck call keeps its thread; the next call gets another.
            self.calls = None;
            return Err(abandoned);
        }
    }
}

/// Counts an interactive job as running until dropped, then lets waiting
/// batch workers go on.
struct Urgent<'a>(&'a SchedState);

impl<'a> Urgent<'a> {
    fn start(state: &'a SchedState) -> Urgent<'a> {
        state.interactive_running.fetch_add(1, Ordering::SeqCst);
        Urgent(state)
    }
}

impl Drop for Urgent<'_> {
    fn drop(&mut self) {
        self.0.interactive_running.fetch_sub(1, Ordering::SeqCst);
        // Take the queue lock so a worker between its check and its wait
        // cannot miss this notification.
        drop(self.0.queue.lock());
        self.0.queue_changed.notify_all();
    }
}

struct CpuSlot<'a>(&'a SchedState);

impl Drop for CpuSlot<'_> {
    fn drop(&mut self) {
        if let Ok(mut n) = self.0.cpu_slots.lock() {
            *n += 1;
        }
        self.0.cpu_freed.notify_one();
    }
}

fn cpu_slot(state: &SchedState) -> Option<CpuSlot<'_>> {
    let mut n = state.cpu_slots.lock().ok()?;
    while *n == 0 {
        n = state.cpu_freed.wait(n).ok()?;
    }
    *n -= 1;
    Some(CpuSlot(state))
}

fn run_job(
    handles: &Arc<Handles>,
    state: &Arc<SchedState>,
    job: Queued,
    lane: bool,
    runner: &mut Runner,
) {
    let started = Instant::now();
    let Queued(Claimed { lease, input }, filled) = job;
    let graph = handles.graph.current();
    let result = match filled.map(|()| graph.get(&lease.stage)) {
        Err(e) => Err(StageError::transient(format!(
            "cannot read the asset's earlier facts: {e}"
        ))),
        Ok(None) => Err(StageError::permanent(format!(
            "stage `{}` is not registered in this engine; register it and retry the dead letter",
            lease.stage
        ))),
        Ok(Some(entry)) => {
            // Counted before waiting for a CPU slot or the stage's lock, so
            // batch workers hold back while the urgent job waits, too.
            let _urgent = (lease.priority == Priority::Interactive).then(|| Urgent::start(state));
            // The lane may exceed the CPU limit by one so urgent work never waits.
            let _slot = if entry.info.cost == CostClass::Cpu && !lane {
                cpu_slot(state)
            } else {
                None
            };
            let _exclusive = if entry.info.concurrent {
                None
            } else {
                Some(entry.exclusive.lock())
            };
            let called = Instant::now();
            let deadline = handles.config.stage_deadline;
            let outcome = runner.call(&entry.stage, input, deadline, &state.stop);
            state.record_job_time(called.elapsed());
            match outcome {
                Err(Abandoned::Stopping) => {
                    // Not the file's fault: the job goes back unrun, its
                    // attempt refunded, and stopping does not wait for it.
                    return give_back(handles, state, lease, started);
                }
                Err(Abandoned::Deadline) => Err(StageError::transient(format!(
                    "stage `{}` did not finish within {} s and was abandoned",
                    lease.stage,
                    deadline.as_secs_f64()
                ))),
                Ok(Ok(result)) => result,
                Ok(Err(panic)) => {
                    let message =
                        panic_message(panic.as_ref()).unwrap_or_else(|| "no message".to_owned());
                    Err(StageError::permanent(format!(
                        "stage `{}` panicked: {message}",
                        lease.stage
                    )))
                }
            }
        }
    };
    let (op, pending) = match result {
        Ok(output) => match stage_output(&handles.store.blobs, output) {
            Ok(staged) => (
                Outcome::Complete(Complete {
                    job_id: lease.job_id,
                    token: lease.token,
                    output: staged.output,
                }),
                staged.pending,
            ),
            Err(e) => (storage_failure(handles, &lease, &e), Vec::new()),
        },
        Err(error) => (
            Outcome::Fail(Fail {
                job_id: lease.job_id,
                token: lease.token,
                error,
            }),
            Vec::new(),
        ),
    };
    let forward_state = state.clone();
    let forward_handles = handles.clone();
    let priority = lease.priority;
    state.syncer.submit(
        pending,
        Box::new(move |synced| {
            let op = match synced {
                Ok(()) => op,
                Err(e) => storage_failure(&forward_handles, &lease, &e),
            };
            let metrics = forward_handles.metrics.clone();
            // A non-interactive completion may wait for a larger commit while
            // claimed work remains; once the queue is empty nothing else
            // would follow it soon, so it closes the commit.
            let background = priority != Priority::Interactive && queue_len(&forward_state) > 0;
            let answered = move |reply: Result<Finished, EngineError>| {
                metrics.finished(&reply, started.elapsed());
                forward_state.in_flight.fetch_sub(1, Ordering::SeqCst);
                forward_state.feeder_wake.notify_one();
            };
            let writer = &forward_handles.writer;
            match op {
                Outcome::Complete(op) => writer.send(op, background, move |reply| {
                    answered(reply.map(Finished::Completed));
                }),
                Outcome::Fail(op) => writer.send(op, background, move |reply| {
                    answered(reply.map(Finished::Failed));
                }),
                Outcome::Release(op) => writer.send(op, background, move |reply| {
                    answered(reply.map(|_| Finished::Released));
                }),
            }
        }),
    );
}

/// Gives a job back unrun (the engine is stopping while its stage was
/// still running): its lease is released with the attempt refunded.
fn give_back(handles: &Arc<Handles>, state: &Arc<SchedState>, lease: Lease, started: Instant) {
    let metrics = handles.metrics.clone();
    let forward_state = state.clone();
    handles.writer.send(
        Release {
            leases: vec![(lease.job_id, lease.token)],
        },
        false,
        move |reply| {
            metrics.finished(&reply.map(|_| Finished::Released), started.elapsed());
            forward_state.in_flight.fetch_sub(1, Ordering::SeqCst);
            forward_state.feeder_wake.notify_one();
        },
    );
}

/// What becomes of a job whose artifacts could not be stored: on a full
/// disk its lease goes back with the attempt refunded and the workers halt
/// (a full disk is no file's fault); otherwise a failed attempt, retried as
/// the disk may recover.
fn storage_failure(handles: &Handles, lease: &Lease, error: &EngineError) -> Outcome {
    match disk_full(error, &handles.store.blobs) {
        Some(full) => {
            handles.halt.raise(full);
            Outcome::Release(Release {
                leases: vec![(lease.job_id, lease.token)],
            })
        }
        None => Outcome::Fail(blob_failure(lease, error)),
    }
}

/// A failed attempt for a job whose artifacts could not be stored: the disk
/// may recover, so it is retried.
fn blob_failure(lease: &Lease, error: &EngineError) -> Fail {
    Fail {
        job_id: lease.job_id,
        token: lease.token,
        error: StageError::transient(error.to_string()),
    }
}

/// What a worker sends the writer for a job it ran.
enum Outcome {
    Complete(Complete),
    Fail(Fail),
    /// Given back unrun, its attempt refunded (the disk was full).
    Release(Release),
}
