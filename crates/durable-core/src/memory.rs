//! `MemoryBackend`: a complete `Backend` in process memory.
//!
//! For tests, examples and single-process use where durability across restarts is not needed.
//! Waiting fetches are woken in-process (`tokio::sync::Notify`) the moment work is enqueued, and
//! otherwise sleep exactly until the next delayed message or lease expiry, so latency is not
//! bound to a polling interval and paused tokio time drives timers in tests.
//!
//! Pending messages and activity work items are kept, with their leases, in a
//! [`WorkQueues`], ordered by the time they can next be handed out (visibility, lease
//! expiry, abandon delay), so a fetch costs O(log n) however many instances and work items
//! there are.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::backend::{
    ActivityItem, Backend, Message, NewInstance, NewMessage, OrchestrationCommit, OrchestrationItem,
};
use crate::clock::{Clock, millis};
use crate::error::BackendError;
use crate::history::Event;
use crate::metadata::InstanceFilter;
use crate::metadata::InstanceMetadata;
use crate::queue::{self, WorkQueues};

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
    /// The pending messages and activity work items, with their leases.
    queues: WorkQueues,
    /// Source of message ids, activity ids and lease tokens: all unique and increasing.
    next_id: u64,
}

#[derive(Debug)]
struct InstanceRecord {
    metadata: InstanceMetadata,
    history: Vec<Event>,
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

    /// Appends a message to its instance's inbox; drops it if the instance does not exist.
    fn enqueue(&mut self, message: NewMessage, now_ms: u64) -> bool {
        let id = self.next_id();
        if !self.instances.contains_key(&message.instance_id) {
            return false;
        }
        let visible_at_ms = message.visible_at_ms.unwrap_or(now_ms);
        self.queues.add_message(
            visible_at_ms,
            Message {
                id,
                instance_id: message.instance_id,
                execution_id: message.execution_id,
                event: message.event,
            },
        );
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
            InstanceRecord {
                metadata: new.metadata(now_ms, incarnation),
                history: Vec::new(),
            },
        );
        self.enqueue(new.start_message(), now_ms);
        Ok(())
    }

    /// Removes an instance with the activity work it scheduled, so that a late completion
    /// from a worker still running it gets `LeaseLost` instead of reaching an instance
    /// created later under the same id.
    fn remove_instance(&mut self, instance_id: &str) {
        self.instances.remove(instance_id);
        self.queues.remove_instance(instance_id);
    }

    fn lease_orchestration(
        &mut self,
        now_ms: u64,
        lease_for: Duration,
    ) -> Result<OrchestrationItem, Option<u64>> {
        let token = self.next_id();
        let leased = self.queues.lease_orchestration(now_ms, lease_for, token)?;
        let Some(record) = self.instances.get(&leased.instance_id) else {
            // Unreachable: an instance's queue entry goes with it.
            self.queues
                .drop_instance_lease(&leased.instance_id, leased.lease.token);
            return Err(None);
        };
        Ok(OrchestrationItem {
            instance: record.metadata.clone(),
            messages: leased.messages,
            lease: leased.lease,
            now_ms,
        })
    }

    fn lease_activity(
        &mut self,
        now_ms: u64,
        lease_for: Duration,
    ) -> Result<ActivityItem, Option<u64>> {
        let token = self.next_id();
        let leased = self.queues.lease_activity(now_ms, lease_for, token)?;
        Ok(ActivityItem {
            id: leased.id,
            work: leased.work,
            lease: leased.lease,
        })
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
            state.queues.begin_instance_ack(instance_id, token)?;
            state.queues.finish_instance_ack(instance_id, token);
            let Some(record) = state.instances.get_mut(instance_id) else {
                // Unreachable: an instance's queue entry, and so its lease, goes with it.
                return Err(BackendError::LeaseLost {
                    item: format!("instance '{instance_id}'"),
                    token,
                });
            };
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
                state.queues.remove_activities(instance_id);
            }
            for work in &commit.activities {
                let id = state.next_id();
                state.queues.add_activity(id, work.clone(), now_ms, 0, None);
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
            state.queues.abandon_orchestration(
                instance_id,
                token,
                now_ms.saturating_add(millis(delay)),
            )?;
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
        self.lock()
            .queues
            .renew_orchestration(instance_id, token, expires_at_ms)?;
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
            state.queues.begin_activity_ack(id, token)?;
            state.queues.finish_activity_ack(id);
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
            state
                .queues
                .abandon_activity(id, token, now_ms.saturating_add(millis(delay)))?;
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
        self.lock()
            .queues
            .renew_activity(id, token, expires_at_ms)?;
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
