//! [`WorkQueues`]: a backend's pending work and its leases, kept in memory.
//!
//! The bookkeeping every backend that queues its work in process memory needs, whatever
//! stores it (`MemoryBackend` alone; `durable-redb` as a mirror of its committed rows): each
//! instance's inbox, lease, attempt count and abandon delay, each activity work item's lease
//! and attempt count, and the ready queues a fetch takes the first entry of. It does no I/O
//! and reads no clock: callers pass the time and the lease tokens in.
//!
//! **Acknowledgements in two steps.** A backend that writes an acknowledgement after
//! checking its lease (`durable-redb`'s group commit) marks the lease as committing first
//! ([`WorkQueues::begin_instance_ack`]): the item is then neither handed out again nor
//! acknowledged twice while the write is in flight, and a renewal lands in the expiry that
//! [`WorkQueues::cancel_instance_ack`] restores if the write fails.
//!
//! **Recorded attempts.** For a backend that persists attempt counts, each entry remembers
//! the count on disk; a lease says whether its attempt must be written before the work is
//! handed out (`record`: a redelivery; the first attempt is covered by the commit that queued
//! the work). A backend that persists nothing ignores it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::{ActivityQueue, ReadyQueue, ready_key};
use crate::backend::{ActivityWork, Lease, Message};
use crate::clock::millis;
use crate::error::BackendError;

/// Lease expiry used while an acknowledgement is being committed: the item is not handed out
/// again whatever its lease said.
const COMMITTING: u64 = u64::MAX;

/// The pending messages and activity work items of a backend, with their leases.
#[derive(Debug, Default)]
pub struct WorkQueues {
    /// Instances with messages, a lease or an attempt count.
    instances: HashMap<String, InstanceQueue>,
    /// Instances with messages: fetch takes the first entry.
    ready: ReadyQueue,
    activities: HashMap<u64, ActivityEntry>,
    /// (free at, id): fetch takes the first entry.
    activity_queue: ActivityQueue,
}

#[derive(Debug, Default)]
struct InstanceQueue {
    /// Keyed by (visible at, message id).
    inbox: BTreeMap<(u64, u64), Message>,
    lease: Option<HeldLease>,
    attempts: u32,
    /// The attempt count on disk; `None`: no row, so the first attempt needs no write.
    recorded: Option<u32>,
    not_before_ms: u64,
    /// This instance's entry in `WorkQueues::ready`, if it has one.
    ready_key: Option<(u64, u64)>,
}

#[derive(Debug)]
struct HeldLease {
    token: u64,
    /// `COMMITTING` while its acknowledgement is being written.
    expires_at_ms: u64,
    /// Restored if the acknowledgement fails.
    expiry_before_commit: u64,
    message_keys: Vec<(u64, u64)>,
}

#[derive(Debug)]
struct ActivityEntry {
    work: ActivityWork,
    /// The key in `activity_queue`: visible at, lease expiry, or `COMMITTING`.
    free_at_ms: u64,
    lease: Option<u64>,
    /// The expiry to restore if the acknowledgement fails.
    expiry_before_commit: u64,
    attempts: u32,
    /// The attempt count on disk; `None`: no row, so the first attempt needs no write.
    recorded: Option<u32>,
}

/// A leased instance, before its metadata is read.
#[derive(Debug)]
pub struct LeasedInstance {
    /// The instance.
    pub instance_id: String,
    /// Its visible messages, in the order they were sent.
    pub messages: Vec<Message>,
    /// The lease they are held under.
    pub lease: Lease,
    /// The abandon delay the attempt count is persisted with.
    pub not_before_ms: u64,
    /// The attempt must be on disk before the work is handed out (a redelivery).
    pub record: bool,
}

/// A leased activity work item.
#[derive(Debug)]
pub struct LeasedActivity {
    /// The work item's id.
    pub id: u64,
    /// What to run.
    pub work: ActivityWork,
    /// The lease it is held under.
    pub lease: Lease,
    /// The attempt must be on disk before the work is handed out (a redelivery).
    pub record: bool,
}

/// What an orchestration acknowledgement consumes, captured when it begins.
#[derive(Debug)]
pub struct Consumed {
    /// The ids of the messages handed out under the lease.
    pub message_ids: Vec<u64>,
}

fn lost(item: String, token: u64) -> BackendError {
    BackendError::LeaseLost { item, token }
}

fn instance_item(instance_id: &str) -> String {
    format!("instance '{instance_id}'")
}

fn activity_item(id: u64) -> String {
    format!("activity work item {id}")
}

/// Whether handing out `attempt` needs it written first: only attempts beyond the one on disk
/// (or beyond the first, which the commit that created the work stands for).
fn must_record(attempt: u32, recorded: Option<u32>) -> bool {
    attempt > recorded.unwrap_or(1)
}

impl InstanceQueue {
    fn compute_ready_key(&self) -> Option<(u64, u64)> {
        ready_key(
            self.inbox.first_key_value().map(|(key, _)| *key),
            self.lease.as_ref().map_or(0, |lease| lease.expires_at_ms),
            self.not_before_ms,
        )
    }

    /// Nothing worth remembering: no messages, no lease, no attempts.
    fn is_idle(&self) -> bool {
        self.inbox.is_empty() && self.lease.is_none() && self.attempts == 0
    }
}

impl WorkQueues {
    // ---- loading and adding work ----

    /// Adds a message to its instance's inbox, visible from `visible_at_ms`.
    pub fn add_message(&mut self, visible_at_ms: u64, message: Message) {
        let instance_id = message.instance_id.clone();
        self.instances
            .entry(instance_id.clone())
            .or_default()
            .inbox
            .insert((visible_at_ms, message.id), message);
        self.requeue(&instance_id);
    }

    /// Restores a persisted attempt count and abandon delay (when a store is opened).
    pub fn restore_instance_attempts(&mut self, instance_id: &str, attempts: u32, not_before: u64) {
        let queue = self.instances.entry(instance_id.to_owned()).or_default();
        queue.attempts = attempts;
        queue.recorded = Some(attempts);
        queue.not_before_ms = not_before;
        self.requeue(instance_id);
    }

    /// When a store is opened after a crash or a close: an instance with messages and no
    /// recorded attempt may have been handed out its first attempt, which wrote nothing; it
    /// counts as attempted.
    pub fn count_unrecorded_first_attempts(&mut self) {
        for queue in self.instances.values_mut() {
            if queue.recorded.is_none() && !queue.inbox.is_empty() {
                queue.attempts = 1;
            }
        }
    }

    /// Adds an activity work item, free from `free_at_ms`: new (no attempts, nothing
    /// recorded), or restored with its recorded attempt count.
    pub fn add_activity(
        &mut self,
        id: u64,
        work: ActivityWork,
        free_at_ms: u64,
        attempts: u32,
        recorded: Option<u32>,
    ) {
        self.activities.insert(
            id,
            ActivityEntry {
                work,
                free_at_ms,
                lease: None,
                expiry_before_commit: 0,
                attempts,
                recorded,
            },
        );
        self.activity_queue.insert(free_at_ms, id);
    }

    /// Drops instance entries that hold nothing (after loading).
    pub fn forget_idle(&mut self) {
        self.instances.retain(|_, queue| !queue.is_idle());
    }

    // ---- orchestrations ----

    fn requeue(&mut self, instance_id: &str) {
        let Some(queue) = self.instances.get_mut(instance_id) else {
            return;
        };
        let key = queue.compute_ready_key();
        self.ready.update(instance_id, &mut queue.ready_key, key);
    }

    /// Forgets an instance's queue entry: its messages and its lease.
    fn forget_instance(&mut self, instance_id: &str) {
        if let Some(queue) = self.instances.remove(instance_id) {
            self.ready.remove(instance_id, queue.ready_key);
        }
    }

    /// Forgets an instance entirely (purged or replaced): its messages, its lease and the
    /// activity work items it scheduled (leased ones included: their acknowledgements then
    /// get `LeaseLost`).
    pub fn remove_instance(&mut self, instance_id: &str) {
        self.forget_instance(instance_id);
        self.remove_activities(instance_id);
    }

    /// Removes the activity work items `instance_id` scheduled, leased or not: a worker
    /// running one loses its lease (its renewal and its acknowledgement are refused).
    pub fn remove_activities(&mut self, instance_id: &str) {
        let activity_queue = &mut self.activity_queue;
        self.activities.retain(|&id, entry| {
            let keep = entry.work.instance_id != instance_id;
            if !keep {
                activity_queue.remove(entry.free_at_ms, id);
            }
            keep
        });
    }

    /// Leases the instance that is ready first under `token`, or says when the next one will
    /// be (`Err(Some(ms))`) or that none has messages (`Err(None)`).
    pub fn lease_orchestration(
        &mut self,
        now_ms: u64,
        lease_for: Duration,
        token: u64,
    ) -> Result<LeasedInstance, Option<u64>> {
        let (ready_at_ms, instance_id) = match self.ready.first() {
            Some((at, instance_id)) => (at, instance_id.to_owned()),
            None => return Err(None),
        };
        if ready_at_ms > now_ms {
            return Err(Some(ready_at_ms));
        }
        let Some(queue) = self.instances.get_mut(&instance_id) else {
            return Err(None);
        };
        let mut message_keys = Vec::new();
        let mut messages = Vec::new();
        for (key, message) in queue.inbox.range(..(now_ms.saturating_add(1), 0)) {
            message_keys.push(*key);
            messages.push(message.clone());
        }
        // FIFO: in the order they were sent, whatever their visibility times.
        messages.sort_by_key(|message| message.id);
        let expires_at_ms = now_ms.saturating_add(millis(lease_for));
        queue.attempts = queue.attempts.saturating_add(1);
        queue.lease = Some(HeldLease {
            token,
            expires_at_ms,
            expiry_before_commit: expires_at_ms,
            message_keys,
        });
        let leased = LeasedInstance {
            instance_id: instance_id.clone(),
            messages,
            lease: Lease {
                token,
                expires_at_ms,
                attempt: queue.attempts,
            },
            not_before_ms: queue.not_before_ms,
            record: must_record(queue.attempts, queue.recorded),
        };
        self.requeue(&instance_id);
        Ok(leased)
    }

    /// The leased attempt is on disk.
    pub fn instance_attempt_recorded(&mut self, instance_id: &str, attempt: u32) {
        if let Some(queue) = self.instances.get_mut(instance_id) {
            queue.recorded = Some(queue.recorded.unwrap_or(0).max(attempt));
        }
    }

    fn held_lease(
        &mut self,
        instance_id: &str,
        token: u64,
    ) -> Result<&mut HeldLease, BackendError> {
        self.instances
            .get_mut(instance_id)
            .and_then(|queue| queue.lease.as_mut())
            .filter(|lease| lease.token == token && lease.expires_at_ms != COMMITTING)
            .ok_or_else(|| lost(instance_item(instance_id), token))
    }

    /// True if `token` is the instance's lease (committing or not).
    pub fn holds_instance_lease(&self, instance_id: &str, token: u64) -> bool {
        self.instances
            .get(instance_id)
            .and_then(|queue| queue.lease.as_ref())
            .is_some_and(|lease| lease.token == token)
    }

    /// Marks the lease as being acknowledged (so it is neither handed out again nor
    /// acknowledged twice) and returns what the acknowledgement consumes; `LeaseLost` if
    /// `token` is not the instance's lease or is already being acknowledged.
    pub fn begin_instance_ack(
        &mut self,
        instance_id: &str,
        token: u64,
    ) -> Result<Consumed, BackendError> {
        let lease = self.held_lease(instance_id, token)?;
        lease.expiry_before_commit = lease.expires_at_ms;
        lease.expires_at_ms = COMMITTING;
        let consumed = Consumed {
            message_ids: lease.message_keys.iter().map(|&(_, id)| id).collect(),
        };
        self.requeue(instance_id);
        Ok(consumed)
    }

    /// The acknowledgement failed: the lease is as it was.
    pub fn cancel_instance_ack(&mut self, instance_id: &str, token: u64) {
        if let Some(lease) = self
            .instances
            .get_mut(instance_id)
            .and_then(|queue| queue.lease.as_mut())
            .filter(|lease| lease.token == token)
        {
            lease.expires_at_ms = lease.expiry_before_commit;
        }
        self.requeue(instance_id);
    }

    /// The acknowledgement committed: its messages are gone, the lease released, the attempt
    /// count and abandon delay reset.
    pub fn finish_instance_ack(&mut self, instance_id: &str, token: u64) {
        let Some(queue) = self.instances.get_mut(instance_id) else {
            return;
        };
        if queue
            .lease
            .as_ref()
            .is_some_and(|lease| lease.token == token)
            && let Some(lease) = queue.lease.take()
        {
            for key in lease.message_keys {
                queue.inbox.remove(&key);
            }
        }
        // An acknowledgement deletes the recorded attempt.
        queue.attempts = 0;
        queue.recorded = None;
        queue.not_before_ms = 0;
        if queue.is_idle() {
            // Nothing left to hand out for the instance itself; its activities stay queued.
            self.forget_instance(instance_id);
        } else {
            self.requeue(instance_id);
        }
    }

    /// Releases the lease; not handed out again before `not_before_ms`. Returns the attempt
    /// count to persist.
    pub fn abandon_orchestration(
        &mut self,
        instance_id: &str,
        token: u64,
        not_before_ms: u64,
    ) -> Result<u32, BackendError> {
        self.held_lease(instance_id, token)?;
        let Some(queue) = self.instances.get_mut(instance_id) else {
            return Err(lost(instance_item(instance_id), token));
        };
        queue.lease = None;
        queue.not_before_ms = not_before_ms;
        let attempts = queue.attempts;
        self.requeue(instance_id);
        Ok(attempts)
    }

    /// Drops a lease whose instance turned out to be gone from the store.
    pub fn drop_instance_lease(&mut self, instance_id: &str, token: u64) {
        if let Some(queue) = self.instances.get_mut(instance_id)
            && queue
                .lease
                .as_ref()
                .is_some_and(|lease| lease.token == token)
        {
            queue.lease = None;
            self.requeue(instance_id);
        }
    }

    /// Extends the instance's lease to `expires_at_ms` (after its acknowledgement, if one is
    /// being committed and fails).
    pub fn renew_orchestration(
        &mut self,
        instance_id: &str,
        token: u64,
        expires_at_ms: u64,
    ) -> Result<(), BackendError> {
        let lease = self
            .instances
            .get_mut(instance_id)
            .and_then(|queue| queue.lease.as_mut())
            .filter(|lease| lease.token == token)
            .ok_or_else(|| lost(instance_item(instance_id), token))?;
        if lease.expires_at_ms == COMMITTING {
            lease.expiry_before_commit = expires_at_ms;
        } else {
            lease.expires_at_ms = expires_at_ms;
        }
        self.requeue(instance_id);
        Ok(())
    }

    // ---- activities ----

    /// Leases the activity work item that is free first under `token`, or says when the next
    /// one will be (`Err(Some(ms))`) or that there is none (`Err(None)`).
    pub fn lease_activity(
        &mut self,
        now_ms: u64,
        lease_for: Duration,
        token: u64,
    ) -> Result<LeasedActivity, Option<u64>> {
        let Some((free_at_ms, id)) = self.activity_queue.first() else {
            return Err(None);
        };
        if free_at_ms > now_ms {
            return Err(Some(free_at_ms));
        }
        let Some(entry) = self.activities.get_mut(&id) else {
            return Err(None);
        };
        let expires_at_ms = now_ms.saturating_add(millis(lease_for));
        entry.attempts = entry.attempts.saturating_add(1);
        entry.lease = Some(token);
        entry.free_at_ms = expires_at_ms;
        let leased = LeasedActivity {
            id,
            work: entry.work.clone(),
            lease: Lease {
                token,
                expires_at_ms,
                attempt: entry.attempts,
            },
            record: must_record(entry.attempts, entry.recorded),
        };
        self.activity_queue
            .reschedule(id, free_at_ms, expires_at_ms);
        Ok(leased)
    }

    /// The leased attempt is on disk.
    pub fn activity_attempt_recorded(&mut self, id: u64, attempt: u32) {
        if let Some(entry) = self.activities.get_mut(&id) {
            entry.recorded = Some(entry.recorded.unwrap_or(0).max(attempt));
        }
    }

    fn held_activity(&mut self, id: u64, token: u64) -> Result<&mut ActivityEntry, BackendError> {
        self.activities
            .get_mut(&id)
            .filter(|entry| entry.lease == Some(token) && entry.free_at_ms != COMMITTING)
            .ok_or_else(|| lost(activity_item(id), token))
    }

    fn move_activity(&mut self, id: u64, free_at_ms: u64) {
        if let Some(entry) = self.activities.get_mut(&id) {
            self.activity_queue
                .reschedule(id, entry.free_at_ms, free_at_ms);
            entry.free_at_ms = free_at_ms;
        }
    }

    /// Marks the activity's lease as being acknowledged; `LeaseLost` if `token` is not its
    /// lease or is already being acknowledged.
    pub fn begin_activity_ack(&mut self, id: u64, token: u64) -> Result<(), BackendError> {
        let entry = self.held_activity(id, token)?;
        entry.expiry_before_commit = entry.free_at_ms;
        self.move_activity(id, COMMITTING);
        Ok(())
    }

    /// The acknowledgement failed: the lease is as it was.
    pub fn cancel_activity_ack(&mut self, id: u64, token: u64) {
        if let Some(entry) = self.activities.get(&id)
            && entry.lease == Some(token)
        {
            let expiry = entry.expiry_before_commit;
            self.move_activity(id, expiry);
        }
    }

    /// The acknowledgement committed (or the item was dropped): the item is gone.
    pub fn finish_activity_ack(&mut self, id: u64) {
        if let Some(entry) = self.activities.remove(&id) {
            self.activity_queue.remove(entry.free_at_ms, id);
        }
    }

    /// Releases the lease; not handed out before `free_at_ms`. Returns the attempt count.
    pub fn abandon_activity(
        &mut self,
        id: u64,
        token: u64,
        free_at_ms: u64,
    ) -> Result<u32, BackendError> {
        let entry = self.held_activity(id, token)?;
        entry.lease = None;
        let attempts = entry.attempts;
        self.move_activity(id, free_at_ms);
        Ok(attempts)
    }

    /// Extends the activity's lease to `expires_at_ms` (after its acknowledgement, if one is
    /// being committed and fails).
    pub fn renew_activity(
        &mut self,
        id: u64,
        token: u64,
        expires_at_ms: u64,
    ) -> Result<(), BackendError> {
        let entry = self
            .activities
            .get_mut(&id)
            .filter(|entry| entry.lease == Some(token))
            .ok_or_else(|| lost(activity_item(id), token))?;
        if entry.free_at_ms == COMMITTING {
            entry.expiry_before_commit = expires_at_ms;
        } else {
            self.move_activity(id, expires_at_ms);
        }
        Ok(())
    }

    /// True if the activity's lease is `token` (being acknowledged or not).
    pub fn holds_activity_lease(&self, id: u64, token: u64) -> bool {
        self.activities
            .get(&id)
            .is_some_and(|entry| entry.lease == Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::start_event;

    const LEASE: Duration = Duration::from_millis(100);

    fn queues_with_one_message() -> WorkQueues {
        let mut queues = WorkQueues::default();
        queues.add_message(
            0,
            Message {
                id: 1,
                instance_id: "a".to_owned(),
                execution_id: None,
                event: start_event("flow"),
            },
        );
        queues
    }

    #[test]
    fn an_instance_being_acknowledged_is_not_handed_out_again_until_the_ack_fails() {
        let mut queues = queues_with_one_message();
        let leased = queues.lease_orchestration(0, LEASE, 7).expect("held");
        assert_eq!((leased.lease.attempt, leased.record), (1, false));
        let consumed = queues.begin_instance_ack("a", 7).expect("held");
        assert_eq!(consumed.message_ids, vec![1]);
        // Long after the lease would have expired, and a second acknowledgement is refused.
        assert!(queues.lease_orchestration(10_000, LEASE, 8).is_err());
        assert!(queues.begin_instance_ack("a", 7).is_err());
        // A renewal during the commit lands in the expiry the failed ack restores.
        queues.renew_orchestration("a", 7, 500).expect("held");
        queues.cancel_instance_ack("a", 7);
        assert_eq!(
            queues
                .lease_orchestration(400, LEASE, 8)
                .expect_err("nothing ready"),
            Some(500)
        );
        let again = queues.lease_orchestration(500, LEASE, 8).expect("held");
        assert_eq!((again.lease.attempt, again.record), (2, true));
        queues.begin_instance_ack("a", 8).expect("held");
        queues.finish_instance_ack("a", 8);
        assert_eq!(
            queues
                .lease_orchestration(10_000, LEASE, 9)
                .expect_err("nothing ready"),
            None
        );
        assert!(!queues.holds_instance_lease("a", 8));
    }

    #[test]
    fn an_abandoned_activity_comes_back_when_its_delay_ends() {
        let mut queues = WorkQueues::default();
        let work = ActivityWork {
            instance_id: "a".to_owned(),
            execution_id: 1,
            task_id: 1,
            name: "step".to_owned(),
            input: "null".to_owned(),
            options: Default::default(),
        };
        queues.add_activity(3, work, 0, 0, None);
        let leased = queues.lease_activity(0, LEASE, 7).expect("held");
        assert_eq!(
            queues
                .lease_activity(50, LEASE, 8)
                .expect_err("nothing ready"),
            Some(100)
        );
        assert_eq!(queues.abandon_activity(leased.id, 7, 300).expect("held"), 1);
        assert!(queues.renew_activity(leased.id, 7, 900).is_err());
        let again = queues.lease_activity(300, LEASE, 8).expect("held");
        assert_eq!((again.id, again.lease.attempt, again.record), (3, 2, true));
        queues.remove_activities("a");
        assert!(queues.begin_activity_ack(3, 8).is_err());
    }
}
