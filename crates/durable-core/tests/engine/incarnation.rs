//! A worker's cached execution belongs to one incarnation of an instance id: after the id is
//! reused (purged and scheduled again, or replaced with `IdReusePolicy::ReplaceFinished`) the
//! worker must replay the new incarnation, never resume its copy of the old one, even when
//! the execution id and history length happen to match.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use durable_core::backend::{Backend, IdReusePolicy, OrchestrationItem};
use durable_core::client::ScheduleOptions;
use durable_core::testing::{Delegating, Hooks};
use durable_core::{
    BackendError, Client, Clock, InstanceStatus, MemoryBackend, OrchestrationContext, Registry,
    Worker, WorkerOptions,
};
use tokio::sync::watch;

use crate::common::{EPOCH_MS, LIMIT};

/// Hooks whose orchestration fetches can be held back, so that one worker keeps its cache
/// while another runs the instance. An item fetched while held is handed back untouched.
struct Holdable {
    held: watch::Sender<bool>,
}

impl Holdable {
    fn hold(&self, held: bool) {
        self.held.send_replace(held);
    }
}

#[async_trait]
impl Hooks for Holdable {
    async fn fetch_orchestration(
        &self,
        inner: &dyn Backend,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<OrchestrationItem>, BackendError> {
        let mut held = self.held.subscribe();
        if *held.borrow_and_update() {
            let _ = tokio::time::timeout(wait, held.wait_for(|held| !held)).await;
            return Ok(None);
        }
        let item = inner.fetch_orchestration(lease_for, wait).await?;
        match item {
            Some(item) if *self.held.borrow() => {
                let id = &item.instance.instance_id;
                inner
                    .abandon_orchestration(id, item.lease.token, Duration::ZERO)
                    .await?;
                Ok(None)
            }
            item => Ok(item),
        }
    }
}

/// Waits for "go", then returns its input: a worker resuming the wrong incarnation answers
/// with the old input.
fn registry() -> Registry {
    Registry::new().orchestration(
        "echo",
        |ctx: OrchestrationContext, input: String| async move {
            let (): () = ctx.wait_for_event("go").await?;
            Ok(input)
        },
    )
}

/// Waits until instance "x" has run its first episode (it waits for "go").
async fn until_waiting(client: &Client) {
    loop {
        let metadata = client.metadata("x").await.expect("metadata");
        if metadata.is_some_and(|m| m.status == InstanceStatus::Running) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Worker A runs the first episode of "x" (input "old") and keeps it cached; while A is held,
/// worker B ends that incarnation, `reuse_id` makes a new one with input "new", and B runs its
/// first episode. Then only A runs; returns the output of "x".
async fn across_id_reuse(reuse_id: impl AsyncFnOnce(&Client)) -> Option<String> {
    let memory = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let holdable = Arc::new(Delegating::new(
        memory.clone(),
        Holdable {
            held: watch::Sender::new(false),
        },
    ));
    let client = Client::new(memory.clone());
    let a = Worker::start(holdable.clone(), registry(), WorkerOptions::default());
    client.schedule("echo", "x", "old").await.expect("schedule");
    until_waiting(&client).await;
    holdable.hooks().hold(true);

    let b = Worker::start(memory.clone(), registry(), WorkerOptions::default());
    client.terminate("x", "replaced").await.expect("terminate");
    client
        .wait_for_completion("x", LIMIT)
        .await
        .expect("terminated");
    reuse_id(&client).await;
    until_waiting(&client).await;
    b.shutdown().await;

    holdable.hooks().hold(false);
    client.raise_event("x", "go", &()).await.expect("raise");
    let done = client
        .wait_for_completion("x", LIMIT)
        .await
        .expect("completion");
    a.shutdown().await;
    assert_eq!(done.status, InstanceStatus::Completed, "{done:?}");
    done.output::<String>().ok().flatten()
}

#[tokio::test(start_paused = true)]
async fn a_replaced_instance_is_not_resumed_from_the_old_cache() {
    let output = across_id_reuse(async |client: &Client| {
        let options = ScheduleOptions::new().reuse(IdReusePolicy::ReplaceFinished);
        client
            .schedule_with("echo", "x", "new", options)
            .await
            .expect("replace");
    })
    .await;
    assert_eq!(output.as_deref(), Some("new"));
}

#[tokio::test(start_paused = true)]
async fn a_purged_and_recreated_instance_is_not_resumed_from_the_old_cache() {
    let output = across_id_reuse(async |client: &Client| {
        client.purge("x").await.expect("purge");
        client.schedule("echo", "x", "new").await.expect("recreate");
    })
    .await;
    assert_eq!(output.as_deref(), Some("new"));
}

/// An activity still running when its instance is terminated, purged and scheduled again
/// under the same id must not complete the new instance: the late completion has the same
/// execution id and task id, so only the backend dropping the old work can tell them apart.
#[tokio::test(start_paused = true)]
async fn a_late_activity_result_does_not_reach_the_next_incarnation() {
    for mode in [crate::common::Mode::Cached, crate::common::Mode::Evicted] {
        let registry = Registry::new()
            .activity("work", |_ctx, secs: u64| async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                Ok::<_, durable_core::Failure>(secs)
            })
            .orchestration("flow", |ctx: OrchestrationContext, secs: u64| async move {
                ctx.call_activity::<_, u64>("work", &secs).await
            });
        let harness = crate::common::start(registry, mode);
        let client = &harness.client;
        client
            .schedule("flow", "x", &10u64)
            .await
            .expect("schedule");
        client.wait_for_start("x", LIMIT).await.expect("start");
        tokio::time::sleep(Duration::from_secs(1)).await;
        client.terminate("x", "stop").await.expect("terminate");
        client.wait_for_completion("x", LIMIT).await.expect("end");
        client.purge("x").await.expect("purge");
        client.schedule("flow", "x", &30u64).await.expect("again");
        let done = client.wait_for_completion("x", LIMIT).await.expect("end");
        assert_eq!(done.status, InstanceStatus::Completed, "{mode:?}");
        assert_eq!(done.output.as_deref(), Some("30"), "{mode:?}");
    }
}
