//! `MemoryBackend`: a complete `Backend` in process memory.
//!
//! For tests, examples and single-process use where durability across restarts is not needed.
//! Waiting fetches are woken in-process (`tokio::sync::Notify`) the moment work is enqueued, and
//! otherwise sleep exactly until the next delayed message or lease expiry, so latency is not
//! bound to a polling interval and paused tokio time drives timers in tests.

use std::collections::BTreeMap;
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
use crate::metadata::{InstanceMetadata, InstanceStatus};

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
    activities: BTreeMap<u64, ActivityRecord>,
    /// Source of message ids, activity ids and lease tokens: all unique and increasing.
    next_id: u64,
}

#[derive(Debug)]
struct InstanceRecord {
    metadata: InstanceMetadata,
    history: Vec<Event>,
    /// Ordered by message id.
    inbox: Vec<InboxEntry>,
    lease: Option<HeldLease>,
    /// Fetches since the last acknowledgement.
    attempts: u32,
    /// Set by abandon: not handed out before this time.
    not_before_ms: u64,
}

#[derive(Debug)]
struct InboxEntry {
    message: Message,
    visible_at_ms: u64,
}

#[derive(Debug)]
struct HeldLease {
    token: u64,
    expires_at_ms: u64,
    /// The messages handed out under this lease, sorted; acknowledging removes them.
    message_ids: Vec<u64>,
}

#[derive(Debug)]
struct ActivityRecord {
    work: ActivityWork,
    visible_at_ms: u64,
    lease: Option<(u64, u64)>,
    attempts: u32,
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

    /// Runs `attempt` until it yields a value or `wait` runs out, sleeping until the next
    /// wake-up time it reports or until `notify` fires.
    async fn wait_for<T>(
        &self,
        notify: &Notify,
        wait: Duration,
        mut attempt: impl FnMut(&mut State, u64) -> Result<T, Option<u64>>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_wake_ms = {
                let mut state = self.lock();
                match attempt(&mut state, self.clock.now_ms()) {
                    Ok(found) => return Some(found),
                    Err(next) => next,
                }
            };
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            let until = next_wake_ms.map_or(deadline, |ms| self.clock.instant_at(ms).min(deadline));
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
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
        let Some(record) = self.instances.get_mut(&message.instance_id) else {
            return false;
        };
        record.inbox.push(InboxEntry {
            visible_at_ms: message.visible_at_ms.unwrap_or(now_ms),
            message: Message {
                id,
                instance_id: message.instance_id,
                execution_id: message.execution_id,
                event: message.event,
            },
        });
        true
    }

    fn lease_orchestration(
        &mut self,
        now_ms: u64,
        lease_for: Duration,
    ) -> Result<OrchestrationItem, Option<u64>> {
        let mut next_wake: Option<u64> = None;
        let mut wake_at = |ms: u64| next_wake = Some(next_wake.map_or(ms, |w| w.min(ms)));
        // FIFO across instances: the instance whose oldest visible message is oldest goes first.
        let mut best: Option<(u64, &String)> = None;
        for (instance_id, record) in &self.instances {
            let mut first_visible = None;
            for entry in &record.inbox {
                if entry.visible_at_ms <= now_ms {
                    first_visible.get_or_insert(entry.message.id);
                } else {
                    wake_at(entry.visible_at_ms);
                }
            }
            let Some(first) = first_visible else { continue };
            if let Some(lease) = &record.lease
                && lease.expires_at_ms > now_ms
            {
                wake_at(lease.expires_at_ms);
                continue;
            }
            if record.not_before_ms > now_ms {
                wake_at(record.not_before_ms);
                continue;
            }
            if best.is_none_or(|(oldest, _)| first < oldest) {
                best = Some((first, instance_id));
            }
        }
        let Some((_, instance_id)) = best else {
            return Err(next_wake);
        };
        let instance_id = instance_id.clone();
        let token = self.next_id();
        let Some(record) = self.instances.get_mut(&instance_id) else {
            return Err(next_wake);
        };
        let messages: Vec<Message> = record
            .inbox
            .iter()
            .filter(|entry| entry.visible_at_ms <= now_ms)
            .map(|entry| entry.message.clone())
            .collect();
        let expires_at_ms = now_ms.saturating_add(millis(lease_for));
        record.attempts = record.attempts.saturating_add(1);
        record.lease = Some(HeldLease {
            token,
            expires_at_ms,
            message_ids: messages.iter().map(|message| message.id).collect(),
        });
        Ok(OrchestrationItem {
            instance: record.metadata.clone(),
            messages,
            lease: Lease {
                token,
                expires_at_ms,
                attempt: record.attempts,
            },
            now_ms,
        })
    }

    fn lease_activity(
        &mut self,
        now_ms: u64,
        lease_for: Duration,
    ) -> Result<ActivityItem, Option<u64>> {
        let mut next_wake: Option<u64> = None;
        let mut chosen = None;
        for (id, record) in &self.activities {
            let free_at = match record.lease {
                Some((_, expires)) if expires > now_ms => expires,
                _ => record.visible_at_ms,
            };
            if free_at <= now_ms {
                chosen = Some(*id);
                break;
            }
            next_wake = Some(next_wake.map_or(free_at, |w: u64| w.min(free_at)));
        }
        let Some(id) = chosen else {
            return Err(next_wake);
        };
        let token = self.next_id();
        let Some(record) = self.activities.get_mut(&id) else {
            return Err(next_wake);
        };
        let expires_at_ms = now_ms.saturating_add(millis(lease_for));
        record.attempts = record.attempts.saturating_add(1);
        record.lease = Some((token, expires_at_ms));
        Ok(ActivityItem {
            id,
            work: record.work.clone(),
            lease: Lease {
                token,
                expires_at_ms,
                attempt: record.attempts,
            },
        })
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

    /// The activity record if `token` is its current lease.
    fn leased_activity(
        &mut self,
        id: u64,
        token: u64,
    ) -> Result<&mut ActivityRecord, BackendError> {
        let lost = || BackendError::LeaseLost {
            item: format!("activity work item {id}"),
            token,
        };
        let record = self.activities.get_mut(&id).ok_or_else(lost)?;
        match record.lease {
            Some((held, _)) if held == token => Ok(record),
            _ => Err(lost()),
        }
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn create_instance(&self, new: NewInstance) -> Result<(), BackendError> {
        let now_ms = self.clock.now_ms();
        {
            let mut state = self.lock();
            if state.instances.contains_key(&new.instance_id) {
                return Err(BackendError::InstanceExists(new.instance_id));
            }
            let metadata = InstanceMetadata {
                instance_id: new.instance_id.clone(),
                name: new.name,
                execution_id: new.execution_id,
                status: InstanceStatus::Pending,
                input: new.input,
                output: None,
                failure: None,
                custom_status: None,
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
                history_len: 0,
            };
            state.instances.insert(
                new.instance_id.clone(),
                InstanceRecord {
                    metadata,
                    history: Vec::new(),
                    inbox: Vec::new(),
                    lease: None,
                    attempts: 0,
                    not_before_ms: 0,
                },
            );
            state.enqueue(
                NewMessage {
                    instance_id: new.instance_id,
                    execution_id: None,
                    event: new.start,
                    visible_at_ms: None,
                },
                now_ms,
            );
        }
        self.notify_all();
        Ok(())
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
                .map(|lease| lease.message_ids)
                .unwrap_or_default();
            record
                .inbox
                .retain(|entry| consumed.binary_search(&entry.message.id).is_err());
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
            record.history.extend(commit.history.iter().cloned());
            record.metadata.history_len = record.history.len() as u64;
            record.metadata.updated_at_ms = now_ms;
            for work in &commit.activities {
                let id = state.next_id();
                state.activities.insert(
                    id,
                    ActivityRecord {
                        work: work.clone(),
                        visible_at_ms: now_ms,
                        lease: None,
                        attempts: 0,
                    },
                );
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
            state.leased_activity(id, token)?;
            state.activities.remove(&id);
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
            let record = state.leased_activity(id, token)?;
            record.lease = None;
            record.visible_at_ms = now_ms.saturating_add(millis(delay));
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
        let record = state.leased_activity(id, token)?;
        record.lease = Some((token, expires_at_ms));
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
