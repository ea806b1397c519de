//! The group-commit writer.
//!
//! redb allows one write transaction at a time and a durable commit costs an fsync, so writes
//! are queued and committed in batches: the first write to arrive while no batch is being
//! written starts a writer (a blocking task on tokio's blocking pool, so the async runtime
//! never waits on the disk), which takes everything queued, writes it in one transaction,
//! commits with one fsync, and repeats until the queue is empty. Writes that arrive while a
//! commit is in progress share the next one: under load many acknowledgements share each
//! fsync, and a lone write pays one commit.
//!
//! After the commit the writer applies the batch's effects to the in-memory queues, wakes the
//! waiting fetches and only then answers the callers, so a caller that sees its write
//! acknowledged also sees its effects in the queues.
//!
//! A panic while writing a batch (a bug) leaves the in-memory queues possibly out of step
//! with the file, so the store stops writing: the batch's callers, the writes still queued and
//! every later write fail with a permanent error naming the panic, instead of waiting for
//! an answer that would never come. Reopening the store rebuilds the queues from the file.

use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use durable_core::BackendError;
use redb::Durability;

use crate::batch::{Batch, Effect, Fatal, Op, Outcome, Tables};
use crate::store::Inner;

/// The queue of writes waiting for the next commit.
#[derive(Default)]
pub(crate) struct Pending {
    ops: Vec<Op>,
    writer_running: bool,
    /// Set when a batch panicked: why the store no longer writes.
    failed: Option<String>,
}

impl Pending {
    /// Why the store no longer writes, if it does not.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }
}

/// Runs the writer when dropped, if it has not run: a blocking task that the runtime drops
/// without running (because it is shutting down) must not strand the queued writes.
struct WriterTask {
    inner: Arc<Inner>,
    done: bool,
}

impl WriterTask {
    fn run(mut self) {
        self.done = true;
        write_until_empty(&self.inner);
    }
}

impl Drop for WriterTask {
    fn drop(&mut self) {
        if !self.done {
            write_until_empty(&self.inner);
        }
    }
}

/// Queues a write, starting the writer if none is running.
pub(crate) fn submit(inner: &Arc<Inner>, op: Op) {
    let start = {
        let mut pending = inner.pending();
        if pending.failed.is_some() {
            drop(pending);
            refuse(inner, op);
            return;
        }
        pending.ops.push(op);
        !mem::replace(&mut pending.writer_running, true)
    };
    if start {
        start_writer(inner);
    }
}

/// Queues a write that nobody waits for (an attempt count): it goes with the next commit
/// made for another write, or when the store is closed, and never causes a commit (an fsync)
/// of its own.
pub(crate) fn submit_lazily(inner: &Inner, op: Op) {
    let mut pending = inner.pending();
    if pending.failed.is_none() {
        pending.ops.push(op);
    }
}

/// Writes what is still queued (when the store is closed).
pub(crate) fn write_remaining(inner: &Inner) {
    let idle = {
        let mut pending = inner.pending();
        !mem::replace(&mut pending.writer_running, true)
    };
    if idle {
        write_until_empty(inner);
    }
}

fn start_writer(inner: &Arc<Inner>) {
    let task = WriterTask {
        inner: Arc::clone(inner),
        done: false,
    };
    match tokio::runtime::Handle::try_current() {
        // A blocking task, not a thread of our own: under paused tokio time (tests) the
        // runtime does not jump its clock forward while a blocking task runs.
        Ok(handle) => {
            handle.spawn_blocking(move || task.run());
        }
        Err(_) => task.run(),
    }
}

/// How long the writer waits for more writes before a commit, per round, and at most how
/// many rounds; it waits only after a commit of at least `GATHER_AFTER` writes (under load).
const GATHER_PAUSE: Duration = Duration::from_micros(50);
const GATHER_ROUNDS: usize = 8;
const GATHER_AFTER: usize = 4;

fn write_until_empty(inner: &Inner) {
    let mut last_batch = 0;
    loop {
        if last_batch >= GATHER_AFTER {
            gather(inner);
        }
        let ops = {
            let mut pending = inner.pending();
            if pending.ops.is_empty() {
                pending.writer_running = false;
                return;
            }
            mem::take(&mut pending.ops)
        };
        last_batch = ops.len();
        // The ops move into the batch: if it panics, unwinding drops their replies, which
        // answer their callers with an error.
        let written =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write_batch(inner, ops)));
        if let Err(panic) = written {
            stop_writing(inner, &panic_message(panic.as_ref()));
            return;
        }
    }
}

/// Marks the store as no longer writing and fails what is queued.
fn stop_writing(inner: &Inner, panic: &str) {
    let detail = format!(
        "the store's writer panicked ({panic}); no more writes are made until the store is \
         reopened"
    );
    tracing::error!(%detail, "redb writer stopped");
    let queued = {
        let mut pending = inner.pending();
        pending.failed = Some(detail);
        pending.writer_running = false;
        mem::take(&mut pending.ops)
    };
    for op in queued {
        refuse(inner, op);
    }
    inner.notify_all();
}

/// Fails a write without writing it, once the writer has stopped: its acknowledgement's lease
/// bookkeeping is undone and its caller told why.
fn refuse(inner: &Inner, op: Op) {
    cancel(&mut inner.queues(), &op);
    if let Some(reply) = op.take_reply() {
        reply.send(Err(inner.writer_stopped()));
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// Waits while writes keep arriving (a short pause per round, a few rounds at most) so that
/// they share the coming commit. Under load the answers of one commit set off a wave of new
/// writes (the next episode of each instance it completed, the next activity): without the
/// pause the writer would commit the first of them nearly alone and make the rest wait a
/// whole fsync. A lone writer (one orchestration at a time) never waits: its commits follow
/// small ones.
fn gather(inner: &Inner) {
    let mut queued = inner.pending().ops.len();
    for _ in 0..GATHER_ROUNDS {
        std::thread::sleep(GATHER_PAUSE);
        let now = inner.pending().ops.len();
        if now == queued {
            return;
        }
        queued = now;
    }
}

fn write_batch(inner: &Inner, ops: Vec<Op>) {
    let now_ms = inner.clock.now_ms();
    // Which acknowledgements still hold their leases: only this writer removes leases that
    // are being acknowledged (by applying purges and replacements), so this stays true until
    // the commit.
    let held: Vec<bool> = {
        let queues = inner.queues();
        ops.iter()
            .map(|op| match op {
                Op::AckOrchestration {
                    instance_id, token, ..
                } => queues.holds_instance_lease(instance_id, *token),
                Op::AckActivity { id, token, .. } => queues.holds_activity_lease(*id, *token),
                _ => true,
            })
            .collect()
    };
    let durable = inner.durable_now(ops.iter().any(Op::needs_flush));
    #[cfg(any(test, feature = "testing"))]
    inner.testing.maybe_panic();
    let result = commit(inner, &ops, &held, now_ms, durable);
    if result.is_ok() {
        inner.stats.record(ops.len(), durable);
    }
    if durable && result.is_ok() {
        *inner.last_flush() = Instant::now();
    }
    let mut replies = Vec::with_capacity(ops.len());
    {
        let mut queues = inner.queues();
        match result {
            Ok(outcomes) => {
                for (op, outcome) in ops.into_iter().zip(outcomes) {
                    let answer = match outcome {
                        Ok(effects) => {
                            for effect in effects {
                                apply(&mut queues, effect);
                            }
                            Ok(())
                        }
                        Err(refused) => {
                            cancel(&mut queues, &op);
                            Err(refused)
                        }
                    };
                    replies.push((op.take_reply(), answer));
                }
            }
            Err(Fatal(detail)) => {
                tracing::error!(%detail, "a group commit failed");
                for op in ops {
                    cancel(&mut queues, &op);
                    replies.push((
                        op.take_reply(),
                        Err(BackendError::Permanent(detail.clone())),
                    ));
                }
            }
        }
    }
    inner.notify_all();
    for (reply, answer) in replies {
        if let Some(reply) = reply {
            reply.send(answer);
        }
    }
}

fn commit(
    inner: &Inner,
    ops: &[Op],
    held: &[bool],
    now_ms: u64,
    durable: bool,
) -> Result<Vec<Outcome>, Fatal> {
    let mut txn = inner.db.begin_write()?;
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })
    .map_err(|error| Fatal(format!("store error: {error}")))?;
    let next_id = || inner.next_id();
    let mut outcomes = Vec::with_capacity(ops.len());
    {
        let mut tables = Tables::open(&txn)?;
        let mut batch = Batch::new(now_ms, &next_id);
        for (op, &lease_held) in ops.iter().zip(held) {
            outcomes.push(batch.apply(&mut tables, op, lease_held)?);
        }
        tables.record_next_id(inner.peek_next_id())?;
    }
    txn.commit()?;
    Ok(outcomes)
}

fn apply(queues: &mut durable_core::queue::WorkQueues, effect: Effect) {
    match effect {
        Effect::Message {
            visible_at_ms,
            message,
        } => queues.add_message(visible_at_ms, message),
        Effect::Activity {
            id,
            work,
            visible_at_ms,
        } => queues.add_activity(id, work, visible_at_ms, 0, None),
        Effect::RemoveInstance(instance_id) => queues.remove_instance(&instance_id),
        Effect::InstanceAcked { instance_id, token } => {
            queues.finish_instance_ack(&instance_id, token);
        }
        Effect::ActivityAcked(id) => queues.finish_activity_ack(id),
        Effect::ActivitiesDropped(ids) => {
            for id in ids {
                queues.finish_activity_ack(id);
            }
        }
    }
}

/// Undoes what submitting an acknowledgement did to its lease.
fn cancel(queues: &mut durable_core::queue::WorkQueues, op: &Op) {
    match op {
        Op::AckOrchestration {
            instance_id, token, ..
        } => queues.cancel_instance_ack(instance_id, *token),
        Op::AckActivity { id, token, .. } => queues.cancel_activity_ack(*id, *token),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use durable_core::testing::new_instance;
    use durable_core::{Backend, BackendError};

    use crate::RedbBackend;

    /// A write must be answered within this long (a writer that died would leave it waiting
    /// for ever).
    const ANSWER_WITHIN: Duration = Duration::from_secs(10);

    async fn create(backend: &RedbBackend, instance_id: &str) -> Result<(), BackendError> {
        tokio::time::timeout(
            ANSWER_WITHIN,
            backend.create_instance(new_instance(instance_id)),
        )
        .await
        .expect("the write is answered, not left waiting")
    }

    #[tokio::test]
    async fn a_panicking_writer_fails_its_callers_and_every_later_write() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("engine.redb");
        let backend = RedbBackend::open(&path).expect("open");
        create(&backend, "before")
            .await
            .expect("a write before the panic");
        backend.panic_in_next_commit();
        let writes =
            futures::future::join_all(["a", "b", "c"].map(|id| create(&backend, id))).await;
        for write in writes {
            match write {
                Err(BackendError::Permanent(detail)) => {
                    assert!(detail.contains("writer panicked"), "{detail}")
                }
                other => panic!("expected a permanent failure, got {other:?}"),
            }
        }
        let later = create(&backend, "d").await;
        assert!(
            matches!(&later, Err(BackendError::Permanent(detail)) if detail.contains("panicked")),
            "{later:?}"
        );
        let fetched = backend
            .fetch_orchestration(Duration::from_secs(30), Duration::ZERO)
            .await;
        assert!(
            matches!(fetched, Err(BackendError::Permanent(_))),
            "{fetched:?}"
        );
        // Nothing of the failed batch reached the file; what was committed before stays.
        drop(backend);
        // The writer's blocking task may still hold the store for a moment after answering.
        let reopened = RedbBackend::open_with(
            &path,
            crate::RedbOptions {
                lock_wait: ANSWER_WITHIN,
                ..crate::RedbOptions::default()
            },
        )
        .expect("reopen");
        assert!(
            reopened
                .read_metadata("before")
                .await
                .expect("read")
                .is_some()
        );
        assert!(reopened.read_metadata("a").await.expect("read").is_none());
        create(&reopened, "e")
            .await
            .expect("a reopened store writes again");
    }
}
