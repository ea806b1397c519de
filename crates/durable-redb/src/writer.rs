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

use std::mem;
use std::sync::Arc;
use std::time::Instant;

use durable_core::BackendError;
use redb::Durability;

use crate::batch::{Batch, Effect, Fatal, Op, Outcome, Tables};
use crate::store::Inner;

/// The queue of writes waiting for the next commit.
#[derive(Default)]
pub(crate) struct Pending {
    ops: Vec<Op>,
    writer_running: bool,
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
        pending.ops.push(op);
        !mem::replace(&mut pending.writer_running, true)
    };
    if start {
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
}

fn write_until_empty(inner: &Inner) {
    loop {
        let ops = {
            let mut pending = inner.pending();
            if pending.ops.is_empty() {
                pending.writer_running = false;
                return;
            }
            mem::take(&mut pending.ops)
        };
        write_batch(inner, ops);
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
    let result = commit(inner, &ops, &held, now_ms, durable);
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
            // The caller may have stopped waiting; the write stands either way.
            let _ = reply.send(answer);
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

fn apply(queues: &mut crate::queue::Queues, effect: Effect) {
    match effect {
        Effect::Message {
            visible_at_ms,
            message,
        } => queues.add_message(visible_at_ms, message),
        Effect::Activity {
            id,
            work,
            visible_at_ms,
        } => queues.add_activity(id, work, visible_at_ms, 0),
        Effect::RemoveInstance(instance_id) => queues.remove_instance(&instance_id),
        Effect::InstanceAcked { instance_id, token } => {
            queues.finish_instance_ack(&instance_id, token);
        }
        Effect::ActivityAcked(id) => queues.finish_activity_ack(id),
    }
}

/// Undoes what submitting an acknowledgement did to its lease.
fn cancel(queues: &mut crate::queue::Queues, op: &Op) {
    match op {
        Op::AckOrchestration {
            instance_id, token, ..
        } => queues.cancel_instance_ack(instance_id, *token),
        Op::AckActivity { id, token, .. } => queues.cancel_activity_ack(*id, *token),
        _ => {}
    }
}
