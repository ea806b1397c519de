//! The `Backend` trait: the store an engine runs on, and the types that cross it.
//!
//! A backend holds, per orchestration instance, its metadata, its history and an inbox of
//! messages (events waiting to be consumed by the next episode); and a queue of activity work
//! items. Instances talk to each other only through messages: a sub-orchestration is an
//! instance created by its parent's commit, and reports back with a message to the parent;
//! clients raise events, suspend, resume and terminate with messages too. Work is handed out under *leases*: a token, an expiry and an attempt count. While a
//! lease is held and unexpired nobody else gets the same work; when it expires the work is
//! handed out again with the attempt count raised, so a crashed worker loses nothing and a
//! work item that keeps crashing its workers can be poisoned by the runtime.
//!
//! Durable timers are delayed messages: a message with `visible_at_ms` in the future is not
//! handed out before then.
//!
//! Every mutating call is atomic: it either happens whole or not at all. In particular
//! `ack_orchestration` appends the history delta, enqueues new activities and messages,
//! creates sub-orchestration instances, updates the metadata, removes the messages the episode
//! consumed and releases the lease in one step, so a crash never leaves an episode
//! half-recorded.

use std::time::Duration;

use async_trait::async_trait;

use crate::activity::ActivityOptions;
use crate::error::BackendError;
use crate::failure::{Failure, FailureKind};
use crate::history::Event;
use crate::metadata::{InstanceFilter, InstanceMetadata, InstanceStatus, ParentInstance};

/// A lease on a work item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Unique among all leases the backend ever grants.
    pub token: u64,
    /// When the lease runs out (milliseconds since the Unix epoch, backend clock).
    pub expires_at_ms: u64,
    /// How many times this work has been handed out, this time included (1 the first time).
    pub attempt: u32,
}

/// A message in an instance's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Backend-assigned, increasing in enqueue order (inboxes are FIFO).
    pub id: u64,
    /// Target instance.
    pub instance_id: String,
    /// If set, the message is for this execution only and is dropped by later ones.
    pub execution_id: Option<u64>,
    /// The event to feed the orchestration.
    pub event: Event,
}

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Target instance; a message for an instance that does not exist is dropped.
    pub instance_id: String,
    /// If set, the message is for this execution only.
    pub execution_id: Option<u64>,
    /// The event to feed the orchestration.
    pub event: Event,
    /// Not handed out before this time (milliseconds since the Unix epoch); `None` = now.
    pub visible_at_ms: Option<u64>,
}

/// What creating an instance does when its id is already taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdReusePolicy {
    /// Refuse: the existing instance stays as it is (the default).
    #[default]
    Refuse,
    /// Replace the existing instance if it finished (completed, failed or terminated): its
    /// history, inbox, metadata and activity work items are discarded, as by a purge, in the
    /// same atomic step.
    /// A running, pending or suspended instance is never replaced.
    ReplaceFinished,
}

/// A new instance, written by `create_instance` or by an episode's commit
/// (sub-orchestrations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    /// Chosen by the caller; unique in the store.
    pub instance_id: String,
    /// Registered orchestration name.
    pub name: String,
    /// JSON input.
    pub input: String,
    /// The execution the start event begins (1 for a new instance).
    pub execution_id: u64,
    /// The first message of the inbox (an `ExecutionStarted` event).
    pub start: Event,
    /// The start message is not handed out before this time (milliseconds since the Unix
    /// epoch); `None` = now. Recorded as the metadata's `scheduled_start_ms`.
    pub start_at_ms: Option<u64>,
    /// Set for a sub-orchestration; recorded in the metadata.
    pub parent: Option<ParentInstance>,
    /// What to do if the id is taken.
    pub reuse: IdReusePolicy,
}

impl NewInstance {
    /// The message a backend enqueues instead, when this instance comes from a commit and
    /// cannot be created because its id is taken: a `SubOrchestrationFailed` to the parent.
    /// `None` for an instance without a parent.
    pub fn rejection(&self) -> Option<NewMessage> {
        let parent = self.parent.as_ref()?;
        Some(NewMessage {
            instance_id: parent.instance_id.clone(),
            execution_id: Some(parent.execution_id),
            event: Event::SubOrchestrationFailed {
                task_id: parent.task_id,
                failure: Failure::new(
                    FailureKind::InstanceExists,
                    format!(
                        "cannot start sub-orchestration '{}': instance '{}' already exists",
                        self.name, self.instance_id
                    ),
                ),
            },
            visible_at_ms: None,
        })
    }

    /// True if this instance may take the place of `existing` under its reuse policy.
    pub fn may_replace(&self, existing: &InstanceMetadata) -> bool {
        self.reuse == IdReusePolicy::ReplaceFinished && existing.status.is_terminal()
    }

    /// The metadata of the instance as created at `now_ms`: `Pending`, no history, with the
    /// `incarnation` the backend chose (a value no instance created before in the store had).
    pub fn metadata(&self, now_ms: u64, incarnation: u64) -> InstanceMetadata {
        InstanceMetadata {
            instance_id: self.instance_id.clone(),
            name: self.name.clone(),
            execution_id: self.execution_id,
            incarnation,
            status: InstanceStatus::Pending,
            input: self.input.clone(),
            output: None,
            failure: None,
            custom_status: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            history_len: 0,
            parent: self.parent.clone(),
            scheduled_start_ms: self.start_at_ms,
        }
    }

    /// The start message, visible at `start_at_ms`.
    pub fn start_message(&self) -> NewMessage {
        NewMessage {
            instance_id: self.instance_id.clone(),
            execution_id: None,
            event: self.start.clone(),
            visible_at_ms: self.start_at_ms,
        }
    }
}

/// An orchestration instance handed to a worker: everything needed to run one episode.
///
/// The history is not included: a worker that has the instance cached (same execution, same
/// `history_len`) needs none of it, and one that has not reads it with `read_history` while it
/// holds the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrchestrationItem {
    /// The instance's metadata at fetch time.
    pub instance: InstanceMetadata,
    /// Visible inbox messages, oldest first. Acknowledging removes exactly these.
    pub messages: Vec<Message>,
    /// The lease on the instance.
    pub lease: Lease,
    /// The backend's clock at fetch time; the episode's timestamp.
    pub now_ms: u64,
}

/// An activity to run, as scheduled by an orchestration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityWork {
    /// Instance that scheduled it.
    pub instance_id: String,
    /// Execution that scheduled it.
    pub execution_id: u64,
    /// The `task_id` of its `ActivityScheduled` event.
    pub task_id: u64,
    /// Registered activity name.
    pub name: String,
    /// JSON input.
    pub input: String,
    /// Time limits given at the call site (unset: the registered ones or the worker's
    /// defaults). Backends store and hand them back with the work.
    pub options: ActivityOptions,
}

/// An activity work item handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityItem {
    /// Backend-assigned id of the work item.
    pub id: u64,
    /// What to run.
    pub work: ActivityWork,
    /// The lease on it.
    pub lease: Lease,
}

/// Metadata changes made by an episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataUpdate {
    /// The execution the episode ran (or, for continue-as-new, began). When it differs from
    /// the stored one the stored history is replaced by the commit's `history` instead of
    /// being appended to.
    pub execution_id: u64,
    /// New status.
    pub status: InstanceStatus,
    /// JSON input of a new execution (continue-as-new); `None` keeps the stored input.
    pub input: Option<String>,
    /// JSON output if completed.
    pub output: Option<String>,
    /// Failure if failed.
    pub failure: Option<crate::failure::Failure>,
    /// Custom status as last set by the orchestration.
    pub custom_status: Option<String>,
}

/// Everything one orchestration episode commits, atomically. `Default` is the empty commit
/// (it only consumes the messages handed out and releases the lease).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrchestrationCommit {
    /// Events to append to the history.
    pub history: Vec<Event>,
    /// Activity work items to enqueue.
    pub activities: Vec<ActivityWork>,
    /// Messages to enqueue (durable timers are delayed messages to the instance itself;
    /// events to other instances, outcomes to a parent, terminations to children).
    pub messages: Vec<NewMessage>,
    /// Sub-orchestration instances to create. One whose id is taken (and may not be replaced
    /// under its `reuse` policy) is not created; its `rejection()` message is enqueued
    /// instead.
    pub instances: Vec<NewInstance>,
    /// New metadata; `None` leaves it unchanged (an episode that only discarded messages).
    pub metadata: Option<MetadataUpdate>,
}

/// A worker process as a shared backend saw it, with the work it holds: what a console shows
/// as "the workers seen recently". Backends that record workers (see [`Backend::workers`])
/// fill it; the engine itself never reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Backend-assigned, unique in the store (a process that starts again gets a new one).
    pub id: u64,
    /// Chosen by the process (by default `host:pid`): any text, to be escaped where shown.
    pub name: String,
    /// The host it runs on, as it named itself.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// When it first took work (milliseconds since the Unix epoch, its clock).
    pub started_at_ms: u64,
    /// When it last fetched work or renewed a lease (milliseconds since the Unix epoch).
    pub last_seen_ms: u64,
    /// The work it holds under a live lease, by instance id.
    pub holds: Vec<HeldWork>,
}

/// A work item a worker holds under a live lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldWork {
    /// The instance whose episode, or whose activity, it is.
    pub instance_id: String,
    /// An orchestration episode or an activity.
    pub kind: HeldKind,
    /// When the lease runs out unless renewed (milliseconds since the Unix epoch).
    pub expires_at_ms: u64,
    /// How many times this work has been handed out, this time included.
    pub attempt: u32,
}

/// What kind of work is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldKind {
    /// An episode of the instance's orchestration.
    Orchestration,
    /// An activity the instance scheduled.
    Activity {
        /// The work item's id.
        id: u64,
        /// The registered activity name.
        name: String,
    },
}

/// The store of an engine. See the module documentation for the model and guarantees.
///
/// All times are milliseconds since the Unix epoch by the backend's clock.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The backend's clock: milliseconds since the Unix epoch, the time it stamps
    /// `created_at_ms` and `updated_at_ms` with. Retention measures ages by it. The default
    /// is the system's wall clock.
    fn now_ms(&self) -> u64 {
        crate::clock::Clock::system().now_ms()
    }

    // ---- client side ----

    /// Creates an instance (`new.metadata(now)`) and enqueues `new.start_message()` as its
    /// first message. Fails with `InstanceExists` if the id is taken, unless
    /// `new.may_replace(existing)`: then the existing instance is replaced, atomically.
    async fn create_instance(&self, new: NewInstance) -> Result<(), BackendError>;

    /// Enqueues a message to an existing instance (`InstanceNotFound` otherwise).
    async fn send_message(&self, message: NewMessage) -> Result<(), BackendError>;

    /// The instance's metadata, or `None` if there is no such instance.
    async fn read_metadata(
        &self,
        instance_id: &str,
    ) -> Result<Option<InstanceMetadata>, BackendError>;

    /// The current execution's full history (empty if there is no such instance).
    async fn read_history(&self, instance_id: &str) -> Result<Vec<Event>, BackendError>;

    /// The metadata of the instances `filter.matches`, ordered by instance id (bytewise), at
    /// most `filter.limit` of them. A filter that selects unfinished instances only
    /// ([`InstanceFilter::is_unfinished_only`]) should not cost more with many finished
    /// instances in the store (keep an index of the unfinished ones).
    async fn list_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceMetadata>, BackendError>;

    /// Deletes a finished instance: metadata, history, inbox and the activity work items it
    /// scheduled, leased or not. `InstanceNotFound` if there is none, `InstanceActive` if it
    /// has not finished (nothing is deleted then). A worker still running one of those
    /// activities gets `LeaseLost` when it acknowledges, so its completion cannot reach an
    /// instance created later under the same id (same execution and task ids).
    async fn purge_instance(&self, instance_id: &str) -> Result<(), BackendError>;

    /// Deletes, as `purge_instance` does, at most `limit` finished instances (completed,
    /// failed, terminated) whose last change (`updated_at_ms`) is before `cutoff_ms`, oldest
    /// first; returns their ids. Unfinished instances are never touched. Retention calls it
    /// in small batches, so it should cost in proportion to `limit`, not to the store
    /// (keep finished instances indexed by their last change); the default lists every
    /// finished instance and purges the oldest one by one.
    async fn purge_finished_before(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let mut finished = self
            .list_instances(&InstanceFilter::all().with_statuses(InstanceStatus::FINISHED))
            .await?;
        finished.retain(|metadata| metadata.updated_at_ms < cutoff_ms);
        finished.sort_by(|a, b| {
            (a.updated_at_ms, &a.instance_id).cmp(&(b.updated_at_ms, &b.instance_id))
        });
        let mut purged = Vec::new();
        for metadata in finished.into_iter().take(limit) {
            match self.purge_instance(&metadata.instance_id).await {
                Ok(()) => purged.push(metadata.instance_id),
                // Purged or replaced by someone else meanwhile.
                Err(BackendError::InstanceNotFound(_) | BackendError::InstanceActive(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(purged)
    }

    /// Returns once the instance's `history_len` differs from `seen_history_len` (or it is
    /// gone), or after `timeout`, whichever comes first. The default polls briefly; backends
    /// with in-process notifications return as soon as the change is committed.
    async fn wait_for_change(
        &self,
        instance_id: &str,
        seen_history_len: u64,
        timeout: Duration,
    ) -> Result<(), BackendError> {
        let _ = (instance_id, seen_history_len);
        tokio::time::sleep(timeout.min(Duration::from_millis(50))).await;
        Ok(())
    }

    // ---- orchestration work ----

    /// Leases an instance that has visible messages and no live lease, for `lease_for`.
    /// Waits up to `wait` for one to become available; `None` if none did.
    async fn fetch_orchestration(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<OrchestrationItem>, BackendError>;

    /// Commits an episode atomically and releases the lease. `LeaseLost` if `token` is not the
    /// instance's current lease.
    ///
    /// A commit whose metadata finishes the instance (completed, failed, terminated) deletes,
    /// in the same step, the activity work items the instance scheduled in earlier episodes,
    /// leased or not: nobody will take their results, and a worker running one loses its
    /// lease (its renewal and completion get `LeaseLost`), which cancels the activity. Work
    /// items of the commit itself are enqueued as usual.
    async fn ack_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        commit: &OrchestrationCommit,
    ) -> Result<(), BackendError>;

    /// Releases the lease without changes; the instance is not handed out again for `delay`.
    /// The attempt count is kept.
    async fn abandon_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError>;

    /// Extends the lease to `lease_for` from now; returns the new expiry.
    async fn renew_orchestration_lease(
        &self,
        instance_id: &str,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError>;

    // ---- activity work ----

    /// Leases the oldest visible activity work item with no live lease. Waits up to `wait`.
    async fn fetch_activity(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<ActivityItem>, BackendError>;

    /// Removes the work item and enqueues its completion message, atomically. `LeaseLost` if
    /// `token` is not its current lease.
    async fn ack_activity(
        &self,
        id: u64,
        token: u64,
        completion: &NewMessage,
    ) -> Result<(), BackendError>;

    /// Releases the lease; the item is not handed out again for `delay`. The attempt count is
    /// kept.
    async fn abandon_activity(
        &self,
        id: u64,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError>;

    /// Extends the lease to `lease_for` from now; returns the new expiry.
    async fn renew_activity_lease(
        &self,
        id: u64,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError>;

    // ---- observation ----

    /// The worker processes that fetched work or renewed a lease at or after
    /// `seen_since_ms`, or that hold a live lease, each with the work it holds, by id. For
    /// consoles; nothing in the engine depends on it. `None` (the default): this backend does
    /// not record workers (an embedded store has one process, which knows its own work).
    async fn workers(&self, seen_since_ms: u64) -> Result<Option<Vec<WorkerInfo>>, BackendError> {
        let _ = seen_since_ms;
        Ok(None)
    }
}
