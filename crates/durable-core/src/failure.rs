//! `Failure`: why an activity or an orchestration did not produce an output.
//!
//! A failure is data, recorded in history and shown to clients, so it is serializable and
//! compared by value. It is deliberately not a `std::error::Error`: that lets any error convert
//! into it with `?` (the same trick `anyhow` uses).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure happened; callers and retry policies branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The user's code returned an error.
    Application,
    /// The user's code panicked.
    Panicked,
    /// Replay diverged from the recorded history.
    Nondeterminism,
    /// A work item kept failing to complete and was given up after the maximum attempt count.
    Poisoned,
    /// No orchestration or activity is registered under the requested name.
    Unregistered,
    /// An input or output could not be serialized or deserialized.
    Serialization,
    /// A wait or an overall retry budget ran out.
    Timeout,
    /// The history was written by a newer engine format than this one understands.
    UnsupportedFormat,
    /// A sub-orchestration could not start: its instance id is taken.
    InstanceExists,
    /// The instance was terminated (a sub-orchestration's outcome seen by its parent).
    Terminated,
}

/// A failure of an activity or an orchestration: a kind and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure this is.
    pub kind: FailureKind,
    /// A message for people: names the activity, orchestration or event involved.
    pub message: String,
}

impl Failure {
    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// An application failure: the user's code decided the work failed.
    pub fn application(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::Application, message)
    }

    /// Builds a failure from a caught panic payload.
    pub(crate) fn from_panic(what: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let detail = if let Some(text) = payload.downcast_ref::<&str>() {
            (*text).to_owned()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        Failure::new(FailureKind::Panicked, format!("{what} panicked: {detail}"))
    }

    pub(crate) fn serialization(what: &str, error: &serde_json::Error) -> Self {
        Failure::new(FailureKind::Serialization, format!("{what}: {error}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Failure {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Failure::application(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_convert_with_their_source_chain() {
        let io = std::io::Error::other("disk full");
        let failure = Failure::from(io);
        assert_eq!(failure.kind, FailureKind::Application);
        assert_eq!(failure.message, "disk full");
    }

    #[test]
    fn panic_payloads_become_messages() {
        let payload: Box<dyn std::any::Any + Send> = Box::new(String::from("boom"));
        let failure = Failure::from_panic("activity 'a'", payload.as_ref());
        assert_eq!(failure.kind, FailureKind::Panicked);
        assert_eq!(failure.message, "activity 'a' panicked: boom");
    }

    #[test]
    fn failures_round_trip_through_json() {
        let failure = Failure::new(FailureKind::Timeout, "late");
        let text = serde_json::to_string(&failure).unwrap_or_default();
        assert_eq!(text, r#"{"kind":"timeout","message":"late"}"#);
        let back: Failure =
            serde_json::from_str(&text).unwrap_or_else(|_| Failure::application("bad"));
        assert_eq!(back, failure);
    }
}
