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
