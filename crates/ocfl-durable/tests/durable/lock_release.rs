//! A commit returns once its object is free again: the run's lock ends in the episode after
//! the run's, and a worker stopped as soon as the commit returned must not leave it running.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use durable_core::backend::{Backend, OrchestrationItem};
use durable_core::testing::{Delegating, Hooks};
use durable_core::{BackendError, Event, Worker};
use ocfl_durable::CommitRequest;

use crate::support::{Fixture, tuning, worker_options};

/// Hooks that hand out late the lock's episode that learns its run has ended, as a busy
/// worker would get to it.
struct LateLock;

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
impl Hooks for LateLock {
    async fn fetch_orchestration(
        &self,
        inner: &dyn Backend,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<OrchestrationItem>, BackendError> {
        let item = inner.fetch_orchestration(lease_for, wait).await?;
        if item.as_ref().is_some_and(ends_a_lock) {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(item)
    }
}

const ID: &str = "urn:example:lock-release";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_returns_once_its_object_is_free_again() {
    let fx = Fixture::new();
    let worker = Worker::start(
        Arc::new(Delegating::new(fx.backend.clone(), LateLock)),
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
