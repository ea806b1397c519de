//! A commit returns once its object is free again: the run's lock ends in the episode after
//! the run's, and a worker stopped as soon as the commit returned must not leave it running.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use durable_core::backend::{
    ActivityItem, Backend, NewInstance, NewMessage, OrchestrationCommit, OrchestrationItem,
};
use durable_core::{BackendError, Event, InstanceFilter, InstanceMetadata, MemoryBackend, Worker};
use ocfl_durable::CommitRequest;

use crate::support::{Fixture, tuning, worker_options};

/// The fixture's store, except that the lock's episode that learns its run has ended is
/// handed out late, as a busy worker would get to it.
struct LateLock {
    inner: Arc<MemoryBackend>,
}

/// True for a lock's item that carries the end of its run.
fn ends_a_lock(item: &OrchestrationItem) -> bool {
    item.instance.instance_id.starts_with("object-")
        && item.messages.iter().any(|message| {
            matches!(
                message.event,
                Event::SubOrchestrationCompleted { .. } | Event::SubOrchestrationFailed { .. }
            )
        })
}

#[async_trait]
impl Backend for LateLock {
    async fn create_instance(&self, new: NewInstance) -> Result<(), BackendError> {
        self.inner.create_instance(new).await
    }
    async fn send_message(&self, message: NewMessage) -> Result<(), BackendError> {
        self.inner.send_message(message).await
    }
    async fn read_metadata(&self, id: &str) -> Result<Option<InstanceMetadata>, BackendError> {
        self.inner.read_metadata(id).await
    }
    async fn read_history(&self, id: &str) -> Result<Vec<Event>, BackendError> {
        self.inner.read_history(id).await
    }
    async fn list_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceMetadata>, BackendError> {
        self.inner.list_instances(filter).await
    }
    async fn purge_instance(&self, id: &str) -> Result<(), BackendError> {
        self.inner.purge_instance(id).await
    }
    async fn fetch_orchestration(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<OrchestrationItem>, BackendError> {
        let item = self.inner.fetch_orchestration(lease_for, wait).await?;
        if item.as_ref().is_some_and(ends_a_lock) {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(item)
    }
    async fn ack_orchestration(
        &self,
        id: &str,
        token: u64,
        commit: &OrchestrationCommit,
    ) -> Result<(), BackendError> {
        self.inner.ack_orchestration(id, token, commit).await
    }
    async fn abandon_orchestration(
        &self,
        id: &str,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        self.inner.abandon_orchestration(id, token, delay).await
    }
    async fn renew_orchestration_lease(
        &self,
        id: &str,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        self.inner
            .renew_orchestration_lease(id, token, lease_for)
            .await
    }
    async fn fetch_activity(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<ActivityItem>, BackendError> {
        self.inner.fetch_activity(lease_for, wait).await
    }
    async fn ack_activity(
        &self,
        id: u64,
        token: u64,
        completion: &NewMessage,
    ) -> Result<(), BackendError> {
        self.inner.ack_activity(id, token, completion).await
    }
    async fn abandon_activity(
        &self,
        id: u64,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        self.inner.abandon_activity(id, token, delay).await
    }
    async fn renew_activity_lease(
        &self,
        id: u64,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        self.inner.renew_activity_lease(id, token, lease_for).await
    }
}

const ID: &str = "urn:example:lock-release";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_returns_once_its_object_is_free_again() {
    let fx = Fixture::new();
    let worker = Worker::start(
        Arc::new(LateLock {
            inner: fx.backend.clone(),
        }),
        ocfl_durable::registry(Arc::new(fx.env())),
        worker_options(),
    );
    let service = fx.service(tuning());
    let v1 = fx.source("v1", &[("a.txt", b"a".as_slice())]);
    service
        .commit(&CommitRequest::new(ID, &v1))
        .await
        .expect("commit");
    // As `ocfl commit` does: its worker stops once the commit has returned.
    worker.shutdown().await;
    // With no worker left, the next command on the object is taken at once (`commit
    // --detach`), not refused as busy after waiting for a lock nobody runs.
    let v2 = fx.source("v2", &[("b.txt", b"b".as_slice())]);
    let submitted = tokio::time::timeout(
        Duration::from_secs(5),
        service.submit(&CommitRequest::new(ID, &v2)),
    )
    .await
    .expect("the object is free")
    .expect("submit");
    assert!(!submitted.resumed);
}
