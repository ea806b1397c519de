//! `ActivityContext`: what an activity knows about the work it runs, how it reports progress
//! (heartbeats) and how it learns that it must stop (cancellation).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

/// Handed to every activity invocation. Cheap to clone, `Send` and `Sync`: it can be moved
/// into blocking code (`spawn_blocking`), where `heartbeat` and `is_cancelled` work as well.
#[derive(Clone)]
pub struct ActivityContext {
    inner: Arc<Inner>,
    cancel: watch::Receiver<bool>,
}

struct Inner {
    instance_id: String,
    execution_id: u64,
    task_id: u64,
    name: String,
    attempt: u32,
    /// When the activity last reported progress (its start, then each heartbeat).
    progress: Arc<Mutex<Instant>>,
}

/// Identifies one activity invocation (for `ActivityContext::new`).
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub(crate) instance_id: String,
    pub(crate) execution_id: u64,
    pub(crate) task_id: u64,
    pub(crate) name: String,
    pub(crate) attempt: u32,
}

/// The time limits of an activity. Each limit comes from the first of: the call
/// (`OrchestrationContext::call_activity_with_options`, recorded with the call in history and
/// carried by the work item), the registration (`Registry::activity_with_options`), the
/// worker's defaults (`WorkerOptions::activity_defaults`). `Default` is no limit at all.
///
/// Serialized as `{"timeout_ms": .., "heartbeat_timeout_ms": ..}`, unset limits left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityOptions {
    /// Start-to-close: an attempt still running this long after it started is cancelled and
    /// fails with `FailureKind::Timeout` (retried like any failure by a `RetryPolicy`).
    #[serde(
        rename = "timeout_ms",
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::optional_millis"
    )]
    pub timeout: Option<Duration>,
    /// An attempt that goes this long without calling `ActivityContext::heartbeat` (counted
    /// from its start) is cancelled and fails with `FailureKind::Timeout`, although its worker
    /// still holds the lease: renewing a lease proves the worker is alive, not that the
    /// activity makes progress.
    #[serde(
        rename = "heartbeat_timeout_ms",
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::optional_millis"
    )]
    pub heartbeat_timeout: Option<Duration>,
}

impl ActivityOptions {
    /// No limits.
    pub fn new() -> Self {
        ActivityOptions::default()
    }

    /// Sets the start-to-close timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the heartbeat timeout.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = Some(timeout);
        self
    }

    /// True if no limit is set.
    pub fn is_unset(&self) -> bool {
        self.timeout.is_none() && self.heartbeat_timeout.is_none()
    }

    /// These options, with each unset limit taken from `defaults`.
    pub fn or(self, defaults: ActivityOptions) -> ActivityOptions {
        ActivityOptions {
            timeout: self.timeout.or(defaults.timeout),
            heartbeat_timeout: self.heartbeat_timeout.or(defaults.heartbeat_timeout),
        }
    }
}

impl ActivityContext {
    pub(crate) fn new(
        invocation: Invocation,
        progress: Arc<Mutex<Instant>>,
        cancel: watch::Receiver<bool>,
    ) -> Self {
        ActivityContext {
            inner: Arc::new(Inner {
                instance_id: invocation.instance_id,
                execution_id: invocation.execution_id,
                task_id: invocation.task_id,
                name: invocation.name,
                attempt: invocation.attempt,
                progress,
            }),
            cancel,
        }
    }

    /// The orchestration instance that scheduled this activity.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// The execution of that instance.
    pub fn execution_id(&self) -> u64 {
        self.inner.execution_id
    }

    /// The task id of the scheduling call in the orchestration's history.
    pub fn task_id(&self) -> u64 {
        self.inner.task_id
    }

    /// The registered activity name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many times this work item has been handed out, this time included (1 the first
    /// time). Above 1 a previous worker crashed, lost its lease or was shut down mid-way:
    /// activities run at least once, so their effects should be idempotent.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// Reports progress: the activity is not stuck. Cheap (no backend call; the worker renews
    /// the lease on its own), so long work can call it after every step. An activity with a
    /// heartbeat timeout that stops calling it is cancelled and fails with
    /// `FailureKind::Timeout`.
    pub fn heartbeat(&self) {
        *self
            .inner
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// True once the worker asked this activity to stop: its lease is lost (another worker
    /// may be running the same work, or its instance finished or was terminated and the work
    /// was cancelled), it timed out, or the worker shuts down. Long work
    /// should check it between steps and stop without further effects.
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves when the worker asks this activity to stop; select on it in long work.
    pub async fn cancelled(&self) {
        let mut cancel = self.cancel.clone();
        // An error means the worker dropped the sender: it is gone, so stop as well.
        let _ = cancel.wait_for(|cancelled| *cancelled).await;
    }
}
