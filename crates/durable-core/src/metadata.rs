//! What a backend keeps about each orchestration instance besides its history.

use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::clock::system_time;
use crate::failure::Failure;

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InstanceStatus {
    /// Scheduled; no episode has run yet.
    Pending,
    /// At least one episode ran; not finished.
    Running,
    /// A client suspended it: it records what arrives but runs no code until resumed.
    Suspended,
    /// The orchestration returned an output.
    Completed,
    /// The orchestration failed.
    Failed,
    /// A client terminated it.
    Terminated,
}

impl InstanceStatus {
    /// True once the instance will not run again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            InstanceStatus::Completed | InstanceStatus::Failed | InstanceStatus::Terminated
        )
    }

    /// The statuses of instances that have not finished: pending, running, suspended.
    pub const UNFINISHED: [InstanceStatus; 3] = [
        InstanceStatus::Pending,
        InstanceStatus::Running,
        InstanceStatus::Suspended,
    ];

    /// The statuses of finished instances: completed, failed, terminated.
    pub const FINISHED: [InstanceStatus; 3] = [
        InstanceStatus::Completed,
        InstanceStatus::Failed,
        InstanceStatus::Terminated,
    ];
}

/// Where a sub-orchestration reports its outcome: the parent instance and the call waiting
/// for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ParentInstance {
    /// The parent's instance id.
    pub instance_id: String,
    /// The parent execution that made the call (a later execution ignores the outcome).
    pub execution_id: u64,
    /// The `task_id` of the parent's `SubOrchestrationScheduled` event.
    pub task_id: u64,
}

/// The state of one orchestration instance as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceMetadata {
    /// The instance id chosen when it was scheduled.
    pub instance_id: String,
    /// Registered orchestration name.
    pub name: String,
    /// Which execution is current (1 for the first).
    pub execution_id: u64,
    /// Tells apart the successive instances created under this id: the backend gives every
    /// instance it creates a value no instance created before it in the store had, so an id
    /// purged and scheduled again, or replaced (`IdReusePolicy::ReplaceFinished`), gets a new
    /// one. It stays the same across the instance's executions (continue-as-new). Workers
    /// check it before resuming a cached execution. Rows written before it existed read 0.
    #[serde(default)]
    pub incarnation: u64,
    /// Life-cycle status.
    pub status: InstanceStatus,
    /// JSON input of the current execution.
    pub input: String,
    /// JSON output, once completed.
    pub output: Option<String>,
    /// Why it failed, once failed.
    pub failure: Option<Failure>,
    /// The last value passed to `set_custom_status`.
    pub custom_status: Option<String>,
    /// When it was scheduled (milliseconds since the Unix epoch).
    pub created_at_ms: u64,
    /// When it last changed (milliseconds since the Unix epoch).
    pub updated_at_ms: u64,
    /// Number of events in the current execution's history.
    pub history_len: u64,
    /// The instance that started this one as a sub-orchestration, if any.
    pub parent: Option<ParentInstance>,
    /// When the first execution is due to start, if it was scheduled for later
    /// (milliseconds since the Unix epoch).
    pub scheduled_start_ms: Option<u64>,
}

impl InstanceMetadata {
    /// The output decoded as `O`; `None` unless the instance completed.
    pub fn output<O: DeserializeOwned>(&self) -> Result<Option<O>, serde_json::Error> {
        self.output.as_deref().map(serde_json::from_str).transpose()
    }

    /// When it was scheduled.
    pub fn created_at(&self) -> SystemTime {
        system_time(self.created_at_ms)
    }

    /// When it last changed.
    pub fn updated_at(&self) -> SystemTime {
        system_time(self.updated_at_ms)
    }
}

/// Which instances `list_instances` returns. Empty fields match everything; set fields must
/// all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    /// Any of these statuses (empty: any status).
    pub statuses: Vec<InstanceStatus>,
    /// This orchestration name.
    pub name: Option<String>,
    /// Instance ids starting with this.
    pub instance_id_prefix: Option<String>,
    /// Sub-orchestrations of this instance (of any of its executions).
    pub parent_instance_id: Option<String>,
    /// Created at or after this time (milliseconds since the Unix epoch).
    pub created_from_ms: Option<u64>,
    /// Created before this time (milliseconds since the Unix epoch).
    pub created_before_ms: Option<u64>,
    /// Only instances whose id sorts after this one (bytewise): the cursor of the page that
    /// follows the one ending with this id. See [`InstancePage`].
    pub after: Option<String>,
    /// At most this many, the first by instance id.
    pub limit: Option<usize>,
}

impl InstanceFilter {
    /// Matches every instance.
    pub fn all() -> Self {
        InstanceFilter::default()
    }

    /// Only instances in one of `statuses`.
    pub fn with_statuses(mut self, statuses: impl IntoIterator<Item = InstanceStatus>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Only instances of the orchestration `name`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only instances whose id starts with `prefix`.
    pub fn with_instance_id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.instance_id_prefix = Some(prefix.into());
        self
    }

    /// Only sub-orchestrations of `parent`.
    pub fn with_parent(mut self, parent: impl Into<String>) -> Self {
        self.parent_instance_id = Some(parent.into());
        self
    }

    /// Only instances created in `[from_ms, before_ms)`.
    pub fn created_between(mut self, from_ms: Option<u64>, before_ms: Option<u64>) -> Self {
        self.created_from_ms = from_ms;
        self.created_before_ms = before_ms;
        self
    }

    /// Only instances not finished yet (pending, running, suspended). Backends keep them
    /// apart from finished ones, so this listing does not grow with the finished instances
    /// kept for their retention period.
    pub fn unfinished(self) -> Self {
        self.with_statuses(InstanceStatus::UNFINISHED)
    }

    /// Only instances whose id sorts after `cursor` (a page's `next`).
    pub fn starting_after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// True if the filter selects unfinished instances only.
    pub fn is_unfinished_only(&self) -> bool {
        !self.statuses.is_empty() && self.statuses.iter().all(|status| !status.is_terminal())
    }

    /// At most `limit` instances.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// True if `metadata` passes every condition except `limit` (which backends apply after
    /// ordering by instance id).
    pub fn matches(&self, metadata: &InstanceMetadata) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&metadata.status))
            && self
                .after
                .as_ref()
                .is_none_or(|after| metadata.instance_id.as_str() > after.as_str())
            && self.name.as_ref().is_none_or(|name| *name == metadata.name)
            && self
                .instance_id_prefix
                .as_ref()
                .is_none_or(|prefix| metadata.instance_id.starts_with(prefix.as_str()))
            && self.parent_instance_id.as_ref().is_none_or(|parent| {
                metadata
                    .parent
                    .as_ref()
                    .is_some_and(|link| link.instance_id == *parent)
            })
            && self
                .created_from_ms
                .is_none_or(|from| metadata.created_at_ms >= from)
            && self
                .created_before_ms
                .is_none_or(|before| metadata.created_at_ms < before)
    }
}

/// One page of a listing (`Client::list_page`): instances in instance id order, and the
/// cursor of the next page.
///
/// Pages are keyset pages: the next one starts after the last id of this one, so paging
/// through a store that changes meanwhile never repeats an instance and never skips one that
/// existed throughout; instances created meanwhile appear if their id sorts after the cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePage {
    /// The instances of this page, ordered by instance id.
    pub instances: Vec<InstanceMetadata>,
    /// Pass to `InstanceFilter::starting_after` for the next page; `None` on the last page.
    pub next: Option<String>,
}
