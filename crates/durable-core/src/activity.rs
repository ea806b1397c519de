//! `ActivityContext`: what an activity knows about the work it runs and how it keeps its lease.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::backend::Backend;
use crate::error::BackendError;

/// Handed to every activity invocation. Cheap to clone.
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
    item_id: u64,
    token: u64,
    lease_for: Duration,
    backend: Arc<dyn Backend>,
}

/// Identifies one activity invocation (for `ActivityContext::new`).
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub(crate) instance_id: String,
    pub(crate) execution_id: u64,
    pub(crate) task_id: u64,
    pub(crate) name: String,
    pub(crate) attempt: u32,
    pub(crate) item_id: u64,
    pub(crate) token: u64,
    pub(crate) lease_for: Duration,
}

impl ActivityContext {
    pub(crate) fn new(
        invocation: Invocation,
        backend: Arc<dyn Backend>,
        cancel: watch::Receiver<bool>,
    ) -> Self {
        ActivityContext {
            inner: Arc::new(Inner {
                instance_id: invocation.instance_id,
                execution_id: invocation.execution_id,
                task_id: invocation.task_id,
                name: invocation.name,
                attempt: invocation.attempt,
                item_id: invocation.item_id,
                token: invocation.token,
                lease_for: invocation.lease_for,
                backend,
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

    /// Renews this invocation's lease now. The worker also renews it periodically while the
    /// activity runs; an error means the lease is lost and another worker may run the same
    /// work, so long work should stop.
    pub async fn heartbeat(&self) -> Result<(), BackendError> {
        self.inner
            .backend
            .renew_activity_lease(self.inner.item_id, self.inner.token, self.inner.lease_for)
            .await
            .map(|_| ())
    }

    /// True once the worker asked this activity to stop (shutdown or a lost lease).
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
