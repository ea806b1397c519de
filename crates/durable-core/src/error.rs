//! Errors of the engine's own machinery (as opposed to `Failure`, which is the outcome of user
//! code and is recorded in history).

use std::time::Duration;

/// An error from a `Backend` call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The lease behind this token expired and was taken by another worker, or the work item
    /// was already acknowledged: the caller must drop its work, not retry.
    #[error("lease {token} on {item} is no longer held")]
    LeaseLost {
        /// The work item (instance id or activity id).
        item: String,
        /// The token that is no longer valid.
        token: u64,
    },
    /// `create_instance` found an instance with this id.
    #[error("instance '{0}' already exists")]
    InstanceExists(String),
    /// No instance has this id.
    #[error("instance '{0}' not found")]
    InstanceNotFound(String),
    /// The operation needs a finished instance and this one is still pending, running or
    /// suspended.
    #[error("instance '{0}' has not finished")]
    InstanceActive(String),
    /// A failure that may succeed if retried (lost connection, lock contention, injected fault).
    #[error("transient backend error: {0}")]
    Transient(String),
    /// A failure that retrying will not fix (corrupt store, bad configuration).
    #[error("backend error: {0}")]
    Permanent(String),
}

impl BackendError {
    /// True when retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, BackendError::Transient(_))
    }
}

/// An error from a `Client` call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The backend refused or failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// An input or event payload could not be serialized.
    #[error("cannot serialize {what}: {source}")]
    Serialization {
        /// What was being serialized.
        what: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The instance did not reach the awaited state in time.
    #[error("instance '{instance_id}' did not {what} within {timeout:?}")]
    Timeout {
        /// The instance waited for.
        instance_id: String,
        /// "start" or "complete".
        what: &'static str,
        /// The limit that ran out.
        timeout: Duration,
    },
    /// No instance has this id.
    #[error("instance '{0}' not found")]
    NotFound(String),
    /// The instance has not finished (purge needs a completed, failed or terminated one).
    #[error("instance '{0}' has not finished")]
    NotFinished(String),
}
