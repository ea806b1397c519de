//! What a run tells the world: its progress (the instance's custom status, updated as
//! batches complete) and its report (the instance's output).

use serde::{Deserialize, Serialize};

/// Where a run is, as its custom status records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Reading and hashing the source.
    Staging,
    /// Planning the new version against the object's inventory.
    Planning,
    /// Executing the plan's steps.
    Writing,
    /// Validating the object at its new version.
    Verifying,
    /// Removing the run's data.
    Finishing,
    /// A step kept failing with a transient error (a full disk, say): the run waits until it
    /// is resumed (`UpdateService::resume`, or the same commit again).
    Stalled,
}

/// A run's progress: its custom status, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// What the run is doing.
    pub phase: Phase,
    /// The version being written, once planned.
    pub version: Option<String>,
    /// Files staged.
    pub files: u64,
    /// Their total size.
    pub staged_bytes: u64,
    /// Plan steps finished.
    pub steps_done: u64,
    /// Plan steps in all.
    pub steps_total: u64,
    /// Bytes of the finished steps.
    pub bytes_done: u64,
    /// Bytes of all steps.
    pub bytes_total: u64,
    /// While stalled: the error that stalled it.
    pub error: Option<String>,
    /// How many times the run has stalled so far.
    pub stalls: u64,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        Progress {
            phase: Phase::Staging,
            version: None,
            files: 0,
            staged_bytes: 0,
            steps_done: 0,
            steps_total: 0,
            bytes_done: 0,
            bytes_total: 0,
            error: None,
            stalls: 0,
        }
    }

    /// Decodes a custom status.
    pub fn from_status(status: &str) -> Option<Progress> {
        serde_json::from_str(status).ok()
    }
}

/// What a completed run did: its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// The object id.
    pub object_id: String,
    /// The object's head version after the run.
    pub version: String,
    /// Whether the run wrote a new version (false: the object already held the state).
    pub changed: bool,
    /// Steps of the plan (0 without change).
    pub steps: u64,
    /// Bytes the plan wrote (content and metadata).
    pub bytes: u64,
    /// Files in the new state.
    pub files: u64,
    /// Their total size.
    pub staged_bytes: u64,
}
