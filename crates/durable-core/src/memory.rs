//! `MemoryBackend`: a complete `Backend` in process memory.
//!
//! For tests, examples and single-process use where durability across restarts is not needed.
//! Waiting fetches are woken in-process (`tokio::sync::Notify`) the moment work is enqueued, and
//! otherwise sleep exactly until the next delayed message or lease expiry, so latency is not
//! bound to a polling interval and paused tokio time drives timers in tests.
//!
//! Instances with messages and activity work items are kept in the queues of
//! [`crate::queue`], ordered by the time they can next be handed out (visibility, lease
//! expiry, abandon delay), so a fetch costs O(log n) however many instances and work items
//! there are.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::backend::{
    ActivityItem, ActivityWork, Backend, Lease, Message, NewInstance, NewMessage,
    OrchestrationCommit, OrchestrationItem,
};
use crate::clock::{Clock, millis};
use crate::error::BackendError;
use crate::history::Event;
use crate::metadata::InstanceFilter;
use crate::metadata::InstanceMetadata;
use crate::queue::{self, ActivityQueue, ReadyQueue};

/// An in-memory backend. Cheap to create; share it with `Arc`.
#[derive(Debug)]
pub struct MemoryBackend {
    state: Mutex<State>,
    clock: Clock,
    orchestration_ready: Notify,
    activity_ready: Notify,
    instance_changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    instances: BTreeMap<String, InstanceRecord>,
    /// Instances with messages: fetch takes the first entry, in O(log n).
    ready: ReadyQueue,
    activities: HashMap<u64, ActivityRecord>,
    activity_queue: ActivityQueue,
    /// Source of message ids, activity ids and lease tokens: all unique and increasing.
    next_id: u64,
}

#[derive(Debug)]
struct InstanceRecord {
    metadata: InstanceMetadata,
    history: Vec<Event>,
    /// Keyed by (visible at, message id): the first entry is the next to become visible.
    inbox: BTreeMap<(u64, u64), Message>,
    lease: Option<HeldLease>,
    /// Fetches since the last acknowledgement.
    attempts: u32,
    /// Set by abandon: not handed out before this time.
    not_before_ms: u64,
    /// This record's entry in `State::ready`, if it has one.
    ready_key: Option<(u64, u64)>,
}

#[derive(Debug)]
struct HeldLease {
    token: u64,
    expires_at_ms: u64,
    /// The inbox keys of the messages handed out under this lease; acknowledging removes them.
    message_keys: Vec<(u64, u64)>,
}

#[derive(Debug)]
struct ActivityRecord {
    work: ActivityWork,
    /// This record's key in `State::activity_queue`: visible at, or lease expiry if leased.
    free_at_ms: u64,
    lease: Option<u64>,
    attempts: u32,
}

impl InstanceRecord {
    fn new(metadata: InstanceMetadata) -> Self {
        InstanceRecord {
            metadata,
            history: Vec::new(),
            inbox: BTreeMap::new(),
            lease: None,
            attempts: 0,
            not_before_ms: 0,
            ready_key: None,
        }
    }

    /// When the instance can next be handed out and its oldest-visible message id; `None`
    /// with an empty inbox.
    fn ready_key(&self) -> Option<(u64, u64)> {
        queue::ready_key(
            self.inbox.first_key_value().map(|(key, _)| *key),
            self.lease.as_ref().map_or(0, |lease| lease.expires_at_ms),
            self.not_before_ms,
        )
    }
}

impl MemoryBackend {
    /// A backend on the system clock (which follows paused tokio time, see `Clock`).
    pub fn new() -> Self {
        MemoryBackend::with_clock(Clock::system())
    }

    /// A backend on the given clock.
    pub fn with_clock(clock: Clock) -> Self {
        MemoryBackend {
            state: Mutex::new(State::default()),
            clock,
            orchestration_ready: Notify::new(),
            activity_ready: Notify::new(),
            instance_changed: Notify::new(),
        }
    }

    /// The clock this backend measures visibility and leases with.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated: every mutation
        // below is computed before it is applied. So a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes every waiter after a change; each re-checks what it waits for.
    fn notify_all(&self) {
        self.orchestration_ready.notify_waiters();
        self.activity_ready.notify_waiters();
        self.instance_changed.notify_waiters();
    }

    /// Runs `attempt` on the state until it yields a value or `wait` runs out (see
    /// [`queue::wait_for`]).
    async fn wait_for<T>(
        &self,
        notify: &Notify,
        wait: Duration,
        mut attempt: impl FnMut(&mut State, u64) -> Result<T, Option<u64>>,
    ) -> Option<T> {
        queue::wait_for(notify, &self.clock, wait, |now_ms| {
            attempt(&mut self.lock(), now_ms)
        })
        .await
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::new()
    }
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Brings the instance's entry in the ready queue up to date after a change.
    fn requeue(&mut self, instance_id: &str) {
        let Some(record) = self.instances.get_mut(instance_id) else {
            return;
        };
        let key = record.ready_key();
        self.ready.update(instance_id, &mut record.ready_key, key);
    }

    /// Appends a message to its instance's inbox; drops it if the instance does not exist.
    fn enqueue(&mut self, message: NewMessage, now_ms: u64) -> bool {
        let id = self.next_id();
        let Some(record) = self.instances.get_mut(&message.instance_id) else {
            return false;
        };
        let visible_at_ms = message.visible_at_ms.unwrap_or(now_ms);
        let instance_id = message.instance_id.clone();
        record.inbox.insert(
            (visible_at_ms, id),
            Message {
                id,
                instance_id: message.instance_id,
                execution_id: message.execution_id,
                event: message.event,
            },
        );
        self.requeue(&instance_id);
        true
    }

    /// Creates an instance, replacing a finished one if its policy allows.
    fn create(&mut self, new: &NewInstance, now_ms: u64) -> Result<(), BackendError> {
        if let Some(existing) = self.instances.get(&new.instance_id) {
            if !new.may_replace(&existing.metadata) {
                return Err(BackendError::InstanceExists(new.instance_id.clone()));
            }
            self.remove_instance(&new.instance_id);
        }
        let incarnation = self.next_id();
        self.instances.insert(
            new.instance_id.clone(),
            InstanceRecord::new(new.metadata(now_ms, incarnation)),
        );
        self.enqueue(new.start_message(), now_ms);
        Ok(())
    }

    /// Removes an instance with the activity work it scheduled, so that a late completion
    /// from a worker still running it gets `LeaseLost` instead of reaching an instance
    /// created later under the same id.
    fn remove_instance(&mut self, instance_id: &str) {
        if let Some(record) = self.instances.remove(instance_id) {
            self.ready.remove(instance_id, record.ready_key);
        }
        self.remove_activities(instance_id);
    }

    /// Removes the activity work `instance_id` scheduled, leased or not: a worker running
    /// some of it loses its lease (its renewal and its completion are refused).
    fn remove_activities(&mut self, instance_id: &str) {
        let queue = &mut self.activity_queue;
        self.activities.retain(|&id, record| {
            let keep = record.work.instance_id != instance_id;
            if !keep {
                queue.remove(record.free_at_ms, id);
            }
            keep
        });
    }

    fn lease_orchestration(
        &mut self,
        now_ms: u64,
        lease_for: Duration,
    ) -> Result<OrchestrationItem, Option<u64>> {
        let (ready_at_ms, instance_id) = match self.ready.first() {
            Some((at, instance_id)) => (at, instance_id.to_owned()),
            None => return Err(None),
        };
        if ready_at_ms > now_ms {
            return Err(Some(ready_at_ms));
        }
        let token = self.next_id();
        let Some(record) = self.instances.get_mut(&instance_id) else {
            return Err(None);
        };
        let visible: Vec<((u64, u64), Message)> = record
            .inbox
            .range(..(now_ms.saturating_add(1), 0))
            .map(|(key, message)| (*key, message.clone()))
            .collect();
        let mut messages: Vec<Message> = Vec::with_capacity(visible.len());
        let mut message_keys = Vec::with_capacity(visible.len());
        for (key, message) in visible {
            message_keys.push(key);
            messages.push(message);
        }
        // FIFO: in the order they were sent, whatever their visibility times.
        messages.sort_by_key(|message| message.id);
        let expires_at_ms = now_ms.saturating_add(millis(lease_for));
        record.attempts = record.attempts.saturating_add(1);
        record.lease = Some(HeldLease {
            token,
            expires_at_ms,
            message_keys,
        });
        let item = OrchestrationItem {
            instance: record.metadata.clone(),
            messages,
            lease: Lease {
                token,
                expires_at_ms,
                attempt: record.attempts,
            },
            now_ms,
        };
        self.requeue(&instance_id);
        Ok(item)
    }

    fn lease_activity(
        &mut self,
        now_ms: u64,
        lease_for: Duration,
    ) -> Result<ActivityItem, Option<u64>> {
        let Some((free_at_ms, id)) = self.activity_queue.first() else {
            return Err(None);
        };
        if free_at_ms > now_ms {
            return Err(Some(free_at_ms));
        }
        let token = self.next_id();
        let Some(record) = self.activities.get_mut(&id) else {
            return Err(None);
        };
        let expires_at_ms = now_ms.saturating_add(millis(lease_for));
        record.attempts = record.attempts.saturating_add(1);
        record.lease = Some(token);
        record.free_at_ms = expires_at_ms;
        let item = ActivityItem {
            id,
            work: record.work.clone(),
            lease: Lease {
                token,
                expires_at_ms,
                attempt: record.attempts,
            },
        };
        self.activity_queue
            .reschedule(id, free_at_ms, expires_at_ms);
        Ok(item)
    }

    /// Moves an activity to a new place in the queue.
    fn reschedule_activity(&mut self, id: u64, free_at_ms: u64, lease: Option<u64>) {
        if let Some(record) = self.activities.get_mut(&id) {
            self.activity_queue
                .reschedule(id, record.free_at_ms, free_at_ms);
            record.free_at_ms = free_at_ms;
            record.lease = lease;
        }
    }

    /// The instance record if `token` is its current lease.
    fn leased_instance(
        &mut self,
        instance_id: &str,
        token: u64,
    ) -> Result<&mut InstanceRecord, BackendError> {
        let lost = || BackendError::LeaseLost {
            item: format!("instance '{instance_id}'"),
            token,
        };
        let record = self.instances.get_mut(instance_id).ok_or_else(lost)?;
        match &record.lease {
            Some(lease) if lease.token == token => Ok(record),
            _ => Err(lost()),
        }
    }

    /// Checks that `token` is the activity's current lease.
    fn check_activity_lease(&self, id: u64, token: u64) -> Result<(), BackendError> {
        match self.activities.get(&id) {
            Some(record) if record.lease == Some(token) => Ok(()),
            _ => Err(BackendError::LeaseLost {
                item: format!("activity work item {id}"),
                token,
            }),
        }
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn create_instance(&self, new: NewInstance) -> Result<(), BackendError> {
        let now_ms = self.clock.now_ms();
        self.lock().create(&new, now_ms)?;
        self.notify_all();
        Ok(())
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    async fn send_message(&self, message: NewMessage) -> Result<(), BackendError> {
        let now_ms = self.clock.now_ms();
        let instance_id = message.instance_id.clone();
        let delivered = self.lock().enqueue(message, now_ms);
        if !delivered {
            return Err(BackendError::InstanceNotFound(instance_id));
        }
        self.notify_all();
        Ok(())
    }

    async fn read_metadata(
        &self,
        instance_id: &str,
    ) -> Result<Option<InstanceMetadata>, BackendError> {
        Ok(self
            .lock()
            .instances
            .get(instance_id)
            .map(|record| record.metadata.clone()))
    }

    async fn read_history(&self, instance_id: &str) -> Result<Vec<Event>, BackendError> {
        Ok(self
            .lock()
            .instances
            .get(instance_id)
            .map(|record| record.history.clone())
            .unwrap_or_default())
    }

    async fn list_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceMetadata>, BackendError> {
        let state = self.lock();
        let start = match &filter.after {
            Some(after) => Bound::Excluded(after.as_str()),
            None => Bound::Unbounded,
        };
        Ok(state
            .instances
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(_, record)| &record.metadata)
            .filter(|metadata| filter.matches(metadata))
            .take(filter.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn purge_instance(&self, instance_id: &str) -> Result<(), BackendError> {
        {
            let mut state = self.lock();
            let record = state
                .instances
                .get(instance_id)
                .ok_or_else(|| BackendError::InstanceNotFound(instance_id.to_owned()))?;
            if !record.metadata.status.is_terminal() {
                return Err(BackendError::InstanceActive(instance_id.to_owned()));
            }
            state.remove_instance(instance_id);
        }
        self.notify_all();
        Ok(())
    }

    async fn wait_for_change(
        &self,
        instance_id: &str,
        seen_history_len: u64,
        timeout: Duration,
    ) -> Result<(), BackendError> {
        self.wait_for(&self.instance_changed, timeout, |state, _| {
            match state.instances.get(instance_id) {
                Some(record) if record.metadata.history_len == seen_history_len => Err(None),
                _ => Ok(()),
            }
        })
        .await;
        Ok(())
    }

    async fn fetch_orchestration(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<OrchestrationItem>, BackendError> {
        Ok(self
            .wait_for(&self.orchestration_ready, wait, |state, now_ms| {
                state.lease_orchestration(now_ms, lease_for)
            })
            .await)
    }

    async fn ack_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        commit: &OrchestrationCommit,
    ) -> Result<(), BackendError> {
        let now_ms = self.clock.now_ms();
        {
            let mut state = self.lock();
            let record = state.leased_instance(instance_id, token)?;
            let consumed = record
                .lease
                .take()
                .map(|lease| lease.message_keys)
                .unwrap_or_default();
            for key in consumed {
                record.inbox.remove(&key);
            }
            record.attempts = 0;
            if let Some(update) = &commit.metadata {
                if update.execution_id != record.metadata.execution_id {
                    record.history.clear();
                    record.metadata.execution_id = update.execution_id;
                }
                record.metadata.status = update.status;
                if let Some(input) = &update.input {
                    record.metadata.input.clone_from(input);
                }
                record.metadata.output.clone_from(&update.output);
                record.metadata.failure.clone_from(&update.failure);
                record
                    .metadata
                    .custom_status
                    .clone_from(&update.custom_status);
            }
            if commit.metadata.is_some() || !commit.history.is_empty() {
                record.history.extend(commit.history.iter().cloned());
                record.metadata.history_len = record.history.len() as u64;
                record.metadata.updated_at_ms = now_ms;
            }
            if commit
                .metadata
                .as_ref()
                .is_some_and(|update| update.status.is_terminal())
            {
                // Nobody will take the results of the work it still has out: cancel it.
                state.remove_activities(instance_id);
            }
            state.requeue(instance_id);
            for work in &commit.activities {
                let id = state.next_id();
                state.activities.insert(
                    id,
                    ActivityRecord {
                        work: work.clone(),
                        free_at_ms: now_ms,
                        lease: None,
                        attempts: 0,
                    },
                );
                state.activity_queue.insert(now_ms, id);
            }
            for new in &commit.instances {
                if state.create(new, now_ms).is_err()
                    && let Some(rejection) = new.rejection()
                {
                    state.enqueue(rejection, now_ms);
                }
            }
            for message in &commit.messages {
                state.enqueue(message.clone(), now_ms);
            }
        }
        self.notify_all();
        Ok(())
    }

    async fn abandon_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        let now_ms = self.clock.now_ms();
        {
            let mut state = self.lock();
            let record = state.leased_instance(instance_id, token)?;
            record.lease = None;
            record.not_before_ms = now_ms.saturating_add(millis(delay));
            state.requeue(instance_id);
        }
        self.notify_all();
        Ok(())
    }

    async fn renew_orchestration_lease(
        &self,
        instance_id: &str,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        let expires_at_ms = self.clock.now_ms().saturating_add(millis(lease_for));
        let mut state = self.lock();
        let record = state.leased_instance(instance_id, token)?;
        if let Some(lease) = &mut record.lease {
            lease.expires_at_ms = expires_at_ms;
        }
        state.requeue(instance_id);
        Ok(expires_at_ms)
    }

    async fn fetch_activity(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<ActivityItem>, BackendError> {
        Ok(self
            .wait_for(&self.activity_ready, wait, |state, now_ms| {
                state.lease_activity(now_ms, lease_for)
            })
            .await)
    }

    async fn ack_activity(
        &self,
        id: u64,
        token: u64,
        completion: &NewMessage,
    ) -> Result<(), BackendError> {
        let now_ms = self.clock.now_ms();
        {
            let mut state = self.lock();
            state.check_activity_lease(id, token)?;
            if let Some(record) = state.activities.remove(&id) {
                state.activity_queue.remove(record.free_at_ms, id);
            }
            state.enqueue(completion.clone(), now_ms);
        }
        self.notify_all();
        Ok(())
    }

    async fn abandon_activity(
        &self,
        id: u64,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        let now_ms = self.clock.now_ms();
        {
            let mut state = self.lock();
            state.check_activity_lease(id, token)?;
            state.reschedule_activity(id, now_ms.saturating_add(millis(delay)), None);
        }
        self.notify_all();
        Ok(())
    }

    async fn renew_activity_lease(
        &self,
        id: u64,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        let expires_at_ms = self.clock.now_ms().saturating_add(millis(lease_for));
        let mut state = self.lock();
        state.check_activity_lease(id, token)?;
        state.reschedule_activity(id, expires_at_ms, Some(token));
        Ok(expires_at_ms)
    }
}

#[cfg(test)]
mod conformance {
    use super::MemoryBackend;

    async fn make() -> MemoryBackend {
        MemoryBackend::new()
    }

    crate::backend_conformance_tests!(make);
}
