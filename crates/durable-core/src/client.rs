//! `Client`: schedule orchestrations, watch them, talk to them, clean up after them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use crate::backend::{Backend, IdReusePolicy, NewInstance, NewMessage, WorkerInfo};
use crate::clock::millis;
use crate::error::{BackendError, ClientError};
use crate::history::{Event, HISTORY_FORMAT_VERSION};
use crate::metadata::{InstanceFilter, InstanceMetadata, InstancePage, InstanceStatus};

/// How `Client::schedule_with` creates an instance. `Default`: start now, refuse a taken id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleOptions {
    start_at: Option<SystemTime>,
    reuse: IdReusePolicy,
}

impl ScheduleOptions {
    /// Start now; refuse a taken id.
    pub fn new() -> Self {
        ScheduleOptions::default()
    }

    /// Do not start before `at` (by the backend's clock). Until then the instance is
    /// `Pending`; events raised meanwhile wait for the start, a termination ends it at once.
    pub fn start_at(mut self, at: SystemTime) -> Self {
        self.start_at = Some(at);
        self
    }

    /// What to do if the instance id is taken (default `IdReusePolicy::Refuse`).
    pub fn reuse(mut self, policy: IdReusePolicy) -> Self {
        self.reuse = policy;
        self
    }
}

/// A handle on a backend for scheduling and managing orchestration instances. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    backend: Arc<dyn Backend>,
}

/// Delay between retries of a transient read error while waiting.
const READ_RETRY: Duration = Duration::from_millis(50);

impl Client {
    /// A client on `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Client { backend }
    }

    /// Schedules the orchestration registered as `name` under `instance_id` with `input`, to
    /// start now. Fails with `BackendError::InstanceExists` if the id is taken.
    pub async fn schedule<I: Serialize + ?Sized>(
        &self,
        name: &str,
        instance_id: &str,
        input: &I,
    ) -> Result<(), ClientError> {
        self.schedule_with(name, instance_id, input, ScheduleOptions::default())
            .await
    }

    /// `schedule` with a start time and an id-reuse policy. Fails with
    /// `BackendError::InstanceExists` if the id is taken and the policy does not allow
    /// replacing the instance that has it.
    pub async fn schedule_with<I: Serialize + ?Sized>(
        &self,
        name: &str,
        instance_id: &str,
        input: &I,
        options: ScheduleOptions,
    ) -> Result<(), ClientError> {
        let input = to_json("the orchestration input", input)?;
        let execution_id = 1;
        let start_at_ms = options
            .start_at
            .map(|at| at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, millis));
        self.backend
            .create_instance(NewInstance {
                instance_id: instance_id.to_owned(),
                name: name.to_owned(),
                input: input.clone(),
                execution_id,
                start: Event::ExecutionStarted {
                    format_version: HISTORY_FORMAT_VERSION,
                    name: name.to_owned(),
                    input,
                    execution_id,
                },
                start_at_ms,
                parent: None,
                reuse: options.reuse,
            })
            .await?;
        Ok(())
    }

    /// The instance's metadata, or `None` if there is no such instance.
    pub async fn metadata(
        &self,
        instance_id: &str,
    ) -> Result<Option<InstanceMetadata>, ClientError> {
        Ok(self.backend.read_metadata(instance_id).await?)
    }

    /// The current execution's full history.
    pub async fn history(&self, instance_id: &str) -> Result<Vec<Event>, ClientError> {
        Ok(self.backend.read_history(instance_id).await?)
    }

    /// Delivers an event named `name` with `data` to the instance (see `wait_for_event`).
    pub async fn raise_event<T: Serialize + ?Sized>(
        &self,
        instance_id: &str,
        name: &str,
        data: &T,
    ) -> Result<(), ClientError> {
        let data = to_json(&format!("event '{name}'"), data)?;
        self.send(
            instance_id,
            Event::EventRaised {
                name: name.to_owned(),
                data,
            },
        )
        .await
    }

    /// Terminates the instance, recursively: its next episode records `ExecutionTerminated`
    /// and it runs no more, and the same episode sends a termination to each of its running
    /// sub-orchestrations (which do the same to theirs). Its status becomes `Terminated`, with
    /// a `FailureKind::Terminated` failure; a parent sees that failure. Outstanding activities
    /// still run; their results are discarded. A finished instance is left as it is.
    pub async fn terminate(&self, instance_id: &str, reason: &str) -> Result<(), ClientError> {
        self.send(
            instance_id,
            Event::ExecutionTerminated {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    /// Suspends the instance: from its next episode on (status `Suspended`) it runs no code;
    /// completions and events that arrive are recorded and held back, and delivered in order
    /// by `resume`. Timers keep their due times (a timer that fires while suspended is seen on
    /// resumption). Termination still works. A finished instance is left as it is.
    pub async fn suspend(&self, instance_id: &str, reason: &str) -> Result<(), ClientError> {
        self.send(
            instance_id,
            Event::ExecutionSuspended {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    /// Resumes a suspended instance (see `suspend`); a no-op for one that is not suspended.
    pub async fn resume(&self, instance_id: &str, reason: &str) -> Result<(), ClientError> {
        self.send(
            instance_id,
            Event::ExecutionResumed {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    /// Deletes a finished instance and, recursively, its finished sub-orchestrations (of every
    /// execution): metadata, history and inbox. Returns the ids deleted, children before their
    /// parent. Fails with `NotFinished` (deleting nothing) if the instance itself has not
    /// finished; sub-orchestrations still running are left alone (terminate first to stop
    /// them). Each deletion is atomic; if the call fails midway, calling it again finishes it.
    pub async fn purge(&self, instance_id: &str) -> Result<Vec<String>, ClientError> {
        let metadata = self
            .backend
            .read_metadata(instance_id)
            .await?
            .ok_or_else(|| ClientError::NotFound(instance_id.to_owned()))?;
        if !metadata.status.is_terminal() {
            return Err(ClientError::NotFinished(instance_id.to_owned()));
        }
        let mut purged = Vec::new();
        // Depth first, children before parents, so that a failure leaves every remaining
        // instance reachable from the root for a second attempt.
        let mut stack = vec![(instance_id.to_owned(), false)];
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                match self.backend.purge_instance(&id).await {
                    Ok(()) => purged.push(id),
                    Err(BackendError::InstanceNotFound(_) | BackendError::InstanceActive(_))
                        if id != instance_id => {}
                    Err(BackendError::InstanceActive(id)) => {
                        return Err(ClientError::NotFinished(id));
                    }
                    Err(error) => return Err(error.into()),
                }
                continue;
            }
            stack.push((id.clone(), true));
            let children = self
                .backend
                .list_instances(&InstanceFilter::all().with_parent(id))
                .await?;
            for child in children.into_iter().rev() {
                if child.status.is_terminal() {
                    stack.push((child.instance_id, false));
                }
            }
        }
        Ok(purged)
    }

    /// The metadata of the instances that match `filter`, ordered by instance id.
    pub async fn list(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceMetadata>, ClientError> {
        Ok(self.backend.list_instances(filter).await?)
    }

    /// One page of at most `limit` instances that match `filter` (its own `limit` is
    /// ignored), ordered by instance id, starting after `filter.after`. The page's `next` is
    /// the cursor of the following page (`filter.starting_after(next)`), `None` on the last
    /// one. A `limit` of 0 is taken as 1.
    pub async fn list_page(
        &self,
        filter: &InstanceFilter,
        limit: usize,
    ) -> Result<InstancePage, ClientError> {
        let limit = limit.max(1);
        // One more than asked tells whether a next page exists without another call.
        let mut instances = self
            .backend
            .list_instances(&filter.clone().with_limit(limit.saturating_add(1)))
            .await?;
        let next = if instances.len() > limit {
            instances.truncate(limit);
            instances.last().map(|last| last.instance_id.clone())
        } else {
            None
        };
        Ok(InstancePage { instances, next })
    }

    /// Deletes, as `purge` does for one, at most `limit` finished instances whose last change
    /// is older than `cutoff`, oldest first; returns their ids. Retention (the worker's
    /// `WorkerOptions::retention`) calls it in batches; call it again while it returns
    /// `limit` ids to purge everything older than `cutoff`.
    pub async fn purge_finished_before(
        &self,
        cutoff: SystemTime,
        limit: usize,
    ) -> Result<Vec<String>, ClientError> {
        let cutoff_ms = cutoff
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, millis);
        Ok(self.backend.purge_finished_before(cutoff_ms, limit).await?)
    }

    /// `purge_finished_before` with the cutoff `age` before now by the backend's clock:
    /// at most `limit` finished instances whose last change is older than `age`.
    pub async fn purge_finished_older_than(
        &self,
        age: Duration,
        limit: usize,
    ) -> Result<Vec<String>, ClientError> {
        let cutoff_ms = self.backend.now_ms().saturating_sub(millis(age));
        Ok(self.backend.purge_finished_before(cutoff_ms, limit).await?)
    }

    /// The worker processes seen within `within` by the backend's clock (or holding a live
    /// lease), each with the work it holds; `None` if the backend does not record workers
    /// (see [`Backend::workers`]).
    pub async fn workers(&self, within: Duration) -> Result<Option<Vec<WorkerInfo>>, ClientError> {
        let since_ms = self.backend.now_ms().saturating_sub(millis(within));
        Ok(self.backend.workers(since_ms).await?)
    }

    async fn send(&self, instance_id: &str, event: Event) -> Result<(), ClientError> {
        let sent = self
            .backend
            .send_message(NewMessage {
                instance_id: instance_id.to_owned(),
                execution_id: None,
                event,
                visible_at_ms: None,
            })
            .await;
        match sent {
            Err(BackendError::InstanceNotFound(id)) => Err(ClientError::NotFound(id)),
            other => Ok(other?),
        }
    }

    /// Waits until the instance has started (its first episode ran) or `timeout` passes.
    pub async fn wait_for_start(
        &self,
        instance_id: &str,
        timeout: Duration,
    ) -> Result<InstanceMetadata, ClientError> {
        self.wait_until(instance_id, timeout, "start", |metadata| {
            metadata.status != InstanceStatus::Pending
        })
        .await
    }

    /// Waits until the instance completed, failed or was terminated, or `timeout` passes.
    pub async fn wait_for_completion(
        &self,
        instance_id: &str,
        timeout: Duration,
    ) -> Result<InstanceMetadata, ClientError> {
        self.wait_until(instance_id, timeout, "complete", |metadata| {
            metadata.status.is_terminal()
        })
        .await
    }

    async fn wait_until(
        &self,
        instance_id: &str,
        timeout: Duration,
        what: &'static str,
        done: impl Fn(&InstanceMetadata) -> bool,
    ) -> Result<InstanceMetadata, ClientError> {
        let deadline = Instant::now() + timeout;
        let timed_out = || ClientError::Timeout {
            instance_id: instance_id.to_owned(),
            what,
            timeout,
        };
        loop {
            let seen = match self.backend.read_metadata(instance_id).await {
                Ok(Some(metadata)) if done(&metadata) => return Ok(metadata),
                Ok(Some(metadata)) => Some(metadata.history_len),
                Ok(None) => return Err(ClientError::NotFound(instance_id.to_owned())),
                Err(error) if error.is_transient() => None,
                Err(error) => return Err(error.into()),
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(timed_out());
            }
            let remaining = deadline - now;
            match seen {
                Some(history_len) => {
                    match self
                        .backend
                        .wait_for_change(instance_id, history_len, remaining)
                        .await
                    {
                        Err(error) if !error.is_transient() => return Err(error.into()),
                        _ => {}
                    }
                }
                None => tokio::time::sleep(READ_RETRY.min(remaining)).await,
            }
        }
    }
}

fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String, ClientError> {
    serde_json::to_string(value).map_err(|source| ClientError::Serialization {
        what: what.to_owned(),
        source,
    })
}
