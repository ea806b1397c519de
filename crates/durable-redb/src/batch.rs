//! One group commit: the operations that arrived together, written in one transaction.
//!
//! Each operation is checked before it writes anything, so one that is refused (a taken id, a
//! lost lease) leaves the transaction to the others. A failure of the store itself (an I/O
//! error, a row that does not decode) aborts the whole transaction and fails every operation
//! in it. What a committed operation changes in the in-memory queues is returned as
//! [`Effect`]s, applied only after the commit.

use std::collections::HashSet;

use durable_core::BackendError;
use durable_core::backend::{ActivityWork, Message, NewInstance, NewMessage, OrchestrationCommit};
use redb::{ReadableTable, Table, WriteTransaction};
use tokio::sync::oneshot;

use crate::index::{Indexed, StatusIndex};
use crate::schema::{
    self, ACTIVITIES, ACTIVITY_LEASES, HISTORY, INBOX, INSTANCES, META, NEXT_ID_KEY,
    ORCHESTRATION_LEASES, StoredActivity, StoredMessage,
};
use durable_core::queue::Consumed;

/// Where a write's caller waits for its answer. A reply dropped unanswered answers with an
/// error, so no caller waits for ever: a permanent one while the writer unwinds from a panic
/// (the batch may or may not be in the file, and the queues no longer match it).
pub(crate) struct Reply(Option<oneshot::Sender<Result<(), BackendError>>>);

impl Reply {
    pub fn new(sender: oneshot::Sender<Result<(), BackendError>>) -> Reply {
        Reply(Some(sender))
    }

    /// Answers the caller (who may have stopped waiting; the answer stands either way).
    pub fn send(mut self, answer: Result<(), BackendError>) {
        if let Some(sender) = self.0.take() {
            let _ = sender.send(answer);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(sender) = self.0.take() {
            let error = if std::thread::panicking() {
                BackendError::Permanent(
                    "the store's writer panicked; no more writes are made until the store is \
                     reopened"
                        .to_owned(),
                )
            } else {
                BackendError::Transient("the store's writer stopped before answering".to_owned())
            };
            let _ = sender.send(Err(error));
        }
    }
}

/// A write waiting for the next group commit.
pub(crate) enum Op {
    Create {
        new: NewInstance,
        reply: Reply,
    },
    Send {
        message: NewMessage,
        reply: Reply,
    },
    AckOrchestration {
        instance_id: String,
        token: u64,
        consumed: Consumed,
        commit: OrchestrationCommit,
        reply: Reply,
    },
    AckActivity {
        id: u64,
        token: u64,
        completion: NewMessage,
        reply: Reply,
    },
    Purge {
        instance_id: String,
        reply: Reply,
    },
    /// Makes everything committed so far durable (relaxed mode).
    Flush {
        reply: Reply,
    },
    /// Persists an instance's attempt count and abandon delay. A fetch that redelivers work
    /// waits for it (with `reply`, flushed): the attempt is on disk before the work runs, so
    /// work that kills the process is still counted, and poisoned (a first attempt needs no
    /// write: see the crate documentation, **Leases**). An abandon does not wait (no reply).
    InstanceAttempts {
        instance_id: String,
        attempts: u32,
        not_before_ms: u64,
        reply: Option<Reply>,
    },
    /// Persists an activity's attempt count and abandon delay, as `InstanceAttempts`.
    ActivityAttempts {
        id: u64,
        attempts: u32,
        not_before_ms: u64,
        reply: Option<Reply>,
    },
}

/// A change to the in-memory queues, made once the transaction has committed.
#[derive(Debug)]
pub(crate) enum Effect {
    Message {
        visible_at_ms: u64,
        message: Message,
    },
    Activity {
        id: u64,
        work: ActivityWork,
        visible_at_ms: u64,
    },
    RemoveInstance(String),
    /// Work items deleted because the instance that scheduled them finished.
    ActivitiesDropped(Vec<u64>),
    InstanceAcked {
        instance_id: String,
        token: u64,
    },
    ActivityAcked(u64),
}

/// What one operation did: its effects, or why it was refused.
pub(crate) type Outcome = Result<Vec<Effect>, BackendError>;

impl Op {
    /// Whether the operation needs its commit to be durable before it is answered.
    pub fn needs_flush(&self) -> bool {
        matches!(
            self,
            Op::Flush { .. }
                | Op::InstanceAttempts { reply: Some(_), .. }
                | Op::ActivityAttempts { reply: Some(_), .. }
        )
    }

    /// Takes the reply channel, if someone waits for this operation.
    pub fn take_reply(self) -> Option<Reply> {
        match self {
            Op::Create { reply, .. }
            | Op::Send { reply, .. }
            | Op::AckOrchestration { reply, .. }
            | Op::AckActivity { reply, .. }
            | Op::Purge { reply, .. }
            | Op::Flush { reply } => Some(reply),
            Op::InstanceAttempts { reply, .. } | Op::ActivityAttempts { reply, .. } => reply,
        }
    }
}

/// A failure of the store itself: the whole transaction is abandoned.
#[derive(Debug)]
pub(crate) struct Fatal(pub String);

impl<E: Into<redb::Error>> From<E> for Fatal {
    fn from(error: E) -> Self {
        Fatal(format!("store error: {}", error.into()))
    }
}

fn corrupt(detail: String) -> Fatal {
    Fatal(format!("store is corrupt: {detail}"))
}

/// The tables of one write transaction.
pub(crate) struct Tables<'txn> {
    meta: Table<'txn, &'static str, u64>,
    instances: Table<'txn, &'static str, &'static [u8]>,
    history: Table<'txn, (&'static str, u64), &'static [u8]>,
    inbox: Table<'txn, (&'static str, u64), &'static [u8]>,
    activities: Table<'txn, u64, &'static [u8]>,
    orchestration_leases: Table<'txn, &'static str, (u32, u64)>,
    activity_leases: Table<'txn, u64, (u32, u64)>,
    index: StatusIndex<'txn>,
}

/// Writes a batch; `ids` hands out message and work item ids in commit order. `valid_lease`
/// says, per operation, whether an acknowledgement's lease was still held when the batch
/// began (purges and replacements of earlier batches may have taken it).
pub(crate) struct Batch<'a> {
    pub now_ms: u64,
    pub next_id: &'a dyn Fn() -> u64,
    /// Instances purged or replaced earlier in this batch: their leases are gone.
    removed: HashSet<String>,
}

impl<'txn> Tables<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self, Fatal> {
        Ok(Tables {
            meta: txn.open_table(META)?,
            instances: txn.open_table(INSTANCES)?,
            history: txn.open_table(HISTORY)?,
            inbox: txn.open_table(INBOX)?,
            activities: txn.open_table(ACTIVITIES)?,
            orchestration_leases: txn.open_table(ORCHESTRATION_LEASES)?,
            activity_leases: txn.open_table(ACTIVITY_LEASES)?,
            index: StatusIndex::open(txn)?,
        })
    }

    pub fn record_next_id(&mut self, next_id: u64) -> Result<(), Fatal> {
        self.meta.insert(NEXT_ID_KEY, next_id)?;
        Ok(())
    }

    fn metadata(&self, instance_id: &str) -> Result<Option<durable_core::InstanceMetadata>, Fatal> {
        match self.instances.get(instance_id)? {
            Some(bytes) => schema::decode_metadata(bytes.value(), instance_id)
                .map(Some)
                .map_err(corrupt),
            None => Ok(None),
        }
    }

    /// Writes an instance's metadata; `before` is where its stored row is indexed (`None`
    /// for a new instance).
    fn put_metadata(
        &mut self,
        metadata: &durable_core::InstanceMetadata,
        before: Option<Indexed>,
    ) -> Result<(), Fatal> {
        let bytes = schema::encode(metadata).map_err(Fatal)?;
        self.instances
            .insert(metadata.instance_id.as_str(), bytes.as_slice())?;
        self.index
            .update(&metadata.instance_id, before, Some(Indexed::of(metadata)))?;
        Ok(())
    }

    /// Deletes an instance's rows: metadata, history, inbox, attempt count, index entry, and
    /// the activity work items it scheduled (so that a late completion of one is refused
    /// rather than delivered to an instance created later under the same id).
    fn delete_instance(&mut self, instance_id: &str, indexed: Indexed) -> Result<(), Fatal> {
        self.instances.remove(instance_id)?;
        self.index.update(instance_id, Some(indexed), None)?;
        self.clear_history(instance_id)?;
        self.inbox
            .retain_in((instance_id, 0)..=(instance_id, u64::MAX), |_, _| false)?;
        self.orchestration_leases.remove(instance_id)?;
        self.delete_activities(instance_id)?;
        Ok(())
    }

    /// Deletes the activity work items `instance_id` scheduled, leased or not; returns their
    /// ids. A worker running one of them loses its lease: its renewal and its completion are
    /// refused.
    fn delete_activities(&mut self, instance_id: &str) -> Result<Vec<u64>, Fatal> {
        // Work items are keyed by id alone: the queue of pending work is short, so a scan
        // costs less than an index every enqueue would have to maintain.
        let mut scheduled = Vec::new();
        for row in self.activities.iter()? {
            let (id, bytes) = row?;
            let stored: StoredActivity =
                schema::decode(bytes.value(), &format!("activity work item {}", id.value()))
                    .map_err(corrupt)?;
            if stored.instance_id == instance_id {
                scheduled.push(id.value());
            }
        }
        for &id in &scheduled {
            self.activities.remove(id)?;
            self.activity_leases.remove(id)?;
        }
        Ok(scheduled)
    }

    fn clear_history(&mut self, instance_id: &str) -> Result<(), Fatal> {
        self.history
            .retain_in((instance_id, 0)..=(instance_id, u64::MAX), |_, _| false)?;
        Ok(())
    }
}

impl<'a> Batch<'a> {
    pub fn new(now_ms: u64, next_id: &'a dyn Fn() -> u64) -> Self {
        Batch {
            now_ms,
            next_id,
            removed: HashSet::new(),
        }
    }

    /// Writes one operation. `lease_held` is false for an acknowledgement whose lease was
    /// taken away before the batch began.
    pub fn apply(
        &mut self,
        tables: &mut Tables<'_>,
        op: &Op,
        lease_held: bool,
    ) -> Result<Outcome, Fatal> {
        match op {
            Op::Create { new, .. } => {
                let mut effects = Vec::new();
                Ok(self.create(tables, new, &mut effects)?.map(|()| effects))
            }
            Op::Send { message, .. } => {
                let mut effects = Vec::new();
                if self.enqueue(tables, message, &mut effects)? {
                    Ok(Ok(effects))
                } else {
                    Ok(Err(BackendError::InstanceNotFound(
                        message.instance_id.clone(),
                    )))
                }
            }
            Op::AckOrchestration {
                instance_id,
                token,
                consumed,
                commit,
                ..
            } => {
                if !lease_held || self.removed.contains(instance_id) {
                    return Ok(Err(BackendError::LeaseLost {
                        item: format!("instance '{instance_id}'"),
                        token: *token,
                    }));
                }
                self.ack_orchestration(tables, instance_id, *token, consumed, commit)
            }
            Op::AckActivity {
                id,
                token,
                completion,
                ..
            } => {
                // The row is gone if a purge or replacement earlier in this batch took it.
                if !lease_held || tables.activities.get(*id)?.is_none() {
                    return Ok(Err(BackendError::LeaseLost {
                        item: format!("activity work item {id}"),
                        token: *token,
                    }));
                }
                tables.activities.remove(*id)?;
                tables.activity_leases.remove(*id)?;
                let mut effects = vec![Effect::ActivityAcked(*id)];
                self.enqueue(tables, completion, &mut effects)?;
                Ok(Ok(effects))
            }
            Op::Purge { instance_id, .. } => self.purge(tables, instance_id),
            Op::Flush { .. } => Ok(Ok(Vec::new())),
            Op::InstanceAttempts {
                instance_id,
                attempts,
                not_before_ms,
                ..
            } => {
                if tables.instances.get(instance_id.as_str())?.is_some() {
                    tables
                        .orchestration_leases
                        .insert(instance_id.as_str(), (*attempts, *not_before_ms))?;
                }
                Ok(Ok(Vec::new()))
            }
            Op::ActivityAttempts {
                id,
                attempts,
                not_before_ms,
                ..
            } => {
                if tables.activities.get(*id)?.is_some() {
                    tables
                        .activity_leases
                        .insert(*id, (*attempts, *not_before_ms))?;
                }
                Ok(Ok(Vec::new()))
            }
        }
    }

    /// Appends a message to an existing instance's inbox; false (nothing written) if there is
    /// no such instance.
    fn enqueue(
        &mut self,
        tables: &mut Tables<'_>,
        message: &NewMessage,
        effects: &mut Vec<Effect>,
    ) -> Result<bool, Fatal> {
        if tables
            .instances
            .get(message.instance_id.as_str())?
            .is_none()
        {
            return Ok(false);
        }
        let id = (self.next_id)();
        let visible_at_ms = message.visible_at_ms.unwrap_or(self.now_ms);
        let stored = StoredMessage {
            visible_at_ms,
            execution_id: message.execution_id,
            event: message.event.clone(),
        };
        let bytes = schema::encode(&stored).map_err(Fatal)?;
        tables
            .inbox
            .insert((message.instance_id.as_str(), id), bytes.as_slice())?;
        effects.push(Effect::Message {
            visible_at_ms,
            message: Message {
                id,
                instance_id: message.instance_id.clone(),
                execution_id: message.execution_id,
                event: message.event.clone(),
            },
        });
        Ok(true)
    }

    /// Creates an instance, replacing a finished one if its policy allows.
    fn create(
        &mut self,
        tables: &mut Tables<'_>,
        new: &NewInstance,
        effects: &mut Vec<Effect>,
    ) -> Result<Result<(), BackendError>, Fatal> {
        if let Some(existing) = tables.metadata(&new.instance_id)? {
            if !new.may_replace(&existing) {
                return Ok(Err(BackendError::InstanceExists(new.instance_id.clone())));
            }
            tables.delete_instance(&new.instance_id, Indexed::of(&existing))?;
            self.removed.insert(new.instance_id.clone());
            effects.push(Effect::RemoveInstance(new.instance_id.clone()));
        }
        let incarnation = (self.next_id)();
        tables.put_metadata(&new.metadata(self.now_ms, incarnation), None)?;
        self.enqueue(tables, &new.start_message(), effects)?;
        Ok(Ok(()))
    }

    fn purge(&mut self, tables: &mut Tables<'_>, instance_id: &str) -> Result<Outcome, Fatal> {
        let Some(metadata) = tables.metadata(instance_id)? else {
            return Ok(Err(BackendError::InstanceNotFound(instance_id.to_owned())));
        };
        if !metadata.status.is_terminal() {
            return Ok(Err(BackendError::InstanceActive(instance_id.to_owned())));
        }
        tables.delete_instance(instance_id, Indexed::of(&metadata))?;
        self.removed.insert(instance_id.to_owned());
        Ok(Ok(vec![Effect::RemoveInstance(instance_id.to_owned())]))
    }

    fn ack_orchestration(
        &mut self,
        tables: &mut Tables<'_>,
        instance_id: &str,
        token: u64,
        consumed: &Consumed,
        commit: &OrchestrationCommit,
    ) -> Result<Outcome, Fatal> {
        let Some(mut metadata) = tables.metadata(instance_id)? else {
            return Ok(Err(BackendError::LeaseLost {
                item: format!("instance '{instance_id}'"),
                token,
            }));
        };
        let before = Indexed::of(&metadata);
        for &id in &consumed.message_ids {
            tables.inbox.remove((instance_id, id))?;
        }
        tables.orchestration_leases.remove(instance_id)?;
        let mut effects = vec![Effect::InstanceAcked {
            instance_id: instance_id.to_owned(),
            token,
        }];
        if let Some(update) = &commit.metadata {
            if update.execution_id != metadata.execution_id {
                tables.clear_history(instance_id)?;
                metadata.history_len = 0;
                metadata.execution_id = update.execution_id;
            }
            metadata.status = update.status;
            if let Some(input) = &update.input {
                metadata.input.clone_from(input);
            }
            metadata.output.clone_from(&update.output);
            metadata.failure.clone_from(&update.failure);
            metadata.custom_status.clone_from(&update.custom_status);
            if update.status.is_terminal() {
                // Nobody will take the results of the work it still has out: cancel it.
                let dropped = tables.delete_activities(instance_id)?;
                if !dropped.is_empty() {
                    effects.push(Effect::ActivitiesDropped(dropped));
                }
            }
        }
        if commit.metadata.is_some() || !commit.history.is_empty() {
            for event in &commit.history {
                let bytes = schema::encode(event).map_err(Fatal)?;
                tables
                    .history
                    .insert((instance_id, metadata.history_len), bytes.as_slice())?;
                metadata.history_len += 1;
            }
            metadata.updated_at_ms = self.now_ms;
            tables.put_metadata(&metadata, Some(before))?;
        }
        for work in &commit.activities {
            let id = (self.next_id)();
            let bytes = schema::encode(&StoredActivity::new(work, self.now_ms)).map_err(Fatal)?;
            tables.activities.insert(id, bytes.as_slice())?;
            effects.push(Effect::Activity {
                id,
                work: work.clone(),
                visible_at_ms: self.now_ms,
            });
        }
        for new in &commit.instances {
            if self.create(tables, new, &mut effects)?.is_err()
                && let Some(rejection) = new.rejection()
            {
                self.enqueue(tables, &rejection, &mut effects)?;
            }
        }
        for message in &commit.messages {
            self.enqueue(tables, message, &mut effects)?;
        }
        Ok(Ok(effects))
    }
}
