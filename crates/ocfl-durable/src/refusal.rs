//! How activities report what went wrong: a transient error (retried with backoff) or a
//! [`Refusal`] (recorded as the activity's output and never retried).
//!
//! A refusal is data, not an activity failure, so the engine's retry policy never sees it:
//! a source that changed, an object that changed under us or a digest that does not match
//! will not fix themselves, and retrying them would only delay a clear message.

use std::io;

use durable_core::Failure;
use ocfl_core::storage::StorageError;
use ocfl_plan::{exec, plan, stage};
use serde::{Deserialize, Serialize};

/// Why an update cannot go on, whatever the number of attempts. The message names the file,
/// object or setting at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// What kind of problem it is.
    pub kind: RefusalKind,
    /// What happened, naming the file, object or setting.
    pub message: String,
}

/// The kinds of [`Refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RefusalKind {
    /// The source cannot be staged (a link, a special file, a forbidden or non-UTF-8 name).
    Source,
    /// A source file changed or vanished after it was staged.
    SourceChanged,
    /// The object's inventory changed since the update was planned.
    BaseChanged,
    /// The existing object cannot be updated (corrupt, tampered, not an object).
    InvalidObject,
    /// The requested update cannot be planned (id mismatch, algorithm, padding, ...).
    Plan,
    /// The storage root or the engine's state is not usable (no layout, a missing blob).
    Configuration,
    /// Something other than this run occupies a path the update needs.
    Conflict,
    /// The object does not validate after the update.
    Verification,
}

impl Refusal {
    /// A refusal of `kind` with `message`.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
        }
    }
}

/// What an activity's body returns when it does not succeed.
#[derive(Debug)]
pub(crate) enum ActivityError {
    /// Worth another attempt (I/O: a full disk, a permission fixed meanwhile, a flaky disk).
    Transient(String),
    /// Never worth another attempt.
    Refused(Refusal),
}

impl ActivityError {
    pub(crate) fn refused(kind: RefusalKind, message: impl Into<String>) -> ActivityError {
        ActivityError::Refused(Refusal::new(kind, message))
    }

    /// The activity's result as the engine records it: refusals as output, transient errors
    /// as failures (which the retry policy retries).
    pub(crate) fn into_result<T>(self) -> Result<Result<T, Refusal>, Failure> {
        match self {
            ActivityError::Transient(message) => Err(Failure::application(message)),
            ActivityError::Refused(refusal) => Ok(Err(refusal)),
        }
    }

    /// What happened, for people.
    pub(crate) fn message(&self) -> &str {
        match self {
            ActivityError::Transient(message) => message,
            ActivityError::Refused(refusal) => &refusal.message,
        }
    }

    /// Prefixes the message with `context` (a step id, an object id).
    pub(crate) fn context(self, context: &str) -> ActivityError {
        match self {
            ActivityError::Transient(message) => {
                ActivityError::Transient(format!("{context}: {message}"))
            }
            ActivityError::Refused(mut refusal) => {
                refusal.message = format!("{context}: {}", refusal.message);
                ActivityError::Refused(refusal)
            }
        }
    }
}

impl From<StorageError> for ActivityError {
    fn from(error: StorageError) -> ActivityError {
        match error {
            // A path we built is refused: retrying cannot help.
            StorageError::InvalidPath(_) => {
                ActivityError::refused(RefusalKind::Configuration, error.to_string())
            }
            _ => ActivityError::Transient(error.to_string()),
        }
    }
}

impl From<stage::Error> for ActivityError {
    fn from(error: stage::Error) -> ActivityError {
        let message = error.to_string();
        match &error {
            stage::Error::Unreadable { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => {
                    ActivityError::refused(RefusalKind::SourceChanged, message)
                }
                // A name too long to open (ENAMETOOLONG) will not shorten itself.
                io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidFilename => {
                    ActivityError::refused(RefusalKind::Source, message)
                }
                _ => ActivityError::Transient(message),
            },
            stage::Error::Changed { .. } => {
                ActivityError::refused(RefusalKind::SourceChanged, message)
            }
            _ => ActivityError::refused(RefusalKind::Source, message),
        }
    }
}

impl From<plan::Error> for ActivityError {
    fn from(error: plan::Error) -> ActivityError {
        ActivityError::refused(RefusalKind::Plan, error.to_string())
    }
}

impl From<exec::BaseError> for ActivityError {
    fn from(error: exec::BaseError) -> ActivityError {
        match error {
            exec::BaseError::Storage(error) => error.into(),
            exec::BaseError::Invalid(error) => error.into(),
            other => ActivityError::refused(RefusalKind::InvalidObject, other.to_string()),
        }
    }
}

impl From<exec::Error> for ActivityError {
    fn from(error: exec::Error) -> ActivityError {
        if error.is_retriable() {
            return ActivityError::Transient(error.to_string());
        }
        let kind = match &error {
            exec::Error::SourceChanged { .. } | exec::Error::SourceUnavailable { .. } => {
                RefusalKind::SourceChanged
            }
            exec::Error::BaseChanged { .. } => RefusalKind::BaseChanged,
            exec::Error::CrossDevice { .. } | exec::Error::RenamesNotAtomic { .. } => {
                RefusalKind::Configuration
            }
            _ => RefusalKind::Conflict,
        };
        ActivityError::refused(kind, error.to_string())
    }
}
