//! A deployment changes orchestration code while an instance is mid-way: the new worker
//! rebuilds the instance by replay and must detect every divergence, naming the event.

use std::sync::Arc;
use std::time::Duration;

use durable_core::{
    Client, Clock, Failure, FailureKind, InstanceStatus, MemoryBackend, OrchestrationContext,
    Registry, Worker, WorkerOptions,
};
use futures::future::join_all;

use crate::common::{EPOCH_MS, LIMIT};

/// Orchestration code under test: a list of calls made in the first episode, then a wait for
/// the event "go".
#[derive(Clone, Copy)]
enum Call {
    Activity(&'static str, u64),
    Timer(u64),
}

fn registry(calls: &'static [Call]) -> Registry {
    Registry::new()
        .activity("a", |_ctx, n: u64| async move { Ok::<_, Failure>(n) })
        .activity("b", |_ctx, n: u64| async move { Ok::<_, Failure>(n) })
        .activity("c", |_ctx, n: u64| async move { Ok::<_, Failure>(n) })
        .orchestration("flow", move |ctx: OrchestrationContext, _: ()| async move {
            let mut pending = Vec::new();
            for call in calls {
                pending.push(match *call {
                    Call::Activity(name, input) => {
                        let future = ctx.call_activity::<_, u64>(name, &input);
                        Box::pin(async move { future.await.map(|_| ()) })
                            as std::pin::Pin<Box<dyn Future<Output = Result<(), Failure>> + Send>>
                    }
                    Call::Timer(secs) => Box::pin(ctx.create_timer(Duration::from_secs(secs))),
                });
            }
            for result in join_all(pending).await {
                result?;
            }
            let go: String = ctx.wait_for_event("go").await?;
            Ok(go)
        })
}

/// Runs `before` until it waits for "go", swaps the worker for one running `after`, raises
/// "go", and returns how the instance ended.
async fn deploy(
    before: &'static [Call],
    after: &'static [Call],
) -> (InstanceStatus, Option<Failure>) {
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let client = Client::new(backend.clone());
    let old = Worker::start(backend.clone(), registry(before), WorkerOptions::default());
    client.schedule("flow", "i", &()).await.expect("schedule");
    // Wait until the first calls completed and the code waits for the event.
    loop {
        let history = client.history("i").await.expect("history");
        let completions = history
            .iter()
            .filter(|e| matches!(e.kind_name(), "ActivityCompleted" | "TimerFired"))
            .count();
        if completions == before.len() {
            break;
        }
        let len = history.len() as u64;
        let _ = backend_wait(&backend, len).await;
    }
    old.shutdown().await;
    let new = Worker::start(backend.clone(), registry(after), WorkerOptions::default());
    client.raise_event("i", "go", "now").await.expect("raise");
    let metadata = client
        .wait_for_completion("i", LIMIT)
        .await
        .expect("completion");
    new.shutdown().await;
    (metadata.status, metadata.failure)
}

async fn backend_wait(backend: &MemoryBackend, len: u64) -> Result<(), durable_core::BackendError> {
    use durable_core::Backend;
    backend.wait_for_change("i", len, LIMIT).await
}

fn assert_nondeterminism(outcome: (InstanceStatus, Option<Failure>), expected: &[&str]) {
    let (status, failure) = outcome;
    assert_eq!(status, InstanceStatus::Failed);
    let failure = failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Nondeterminism, "{failure}");
    for part in expected {
        assert!(
            failure.message.contains(part),
            "{:?} lacks {part:?}",
            failure.message
        );
    }
}

const AB: &[Call] = &[Call::Activity("a", 1), Call::Activity("b", 2)];

#[tokio::test(start_paused = true)]
async fn unchanged_code_replays_cleanly() {
    let (status, failure) = deploy(AB, AB).await;
    assert_eq!((status, failure), (InstanceStatus::Completed, None));
}

#[tokio::test(start_paused = true)]
async fn reordered_calls_are_detected() {
    let after = &[Call::Activity("b", 2), Call::Activity("a", 1)];
    assert_nondeterminism(
        deploy(AB, after).await,
        &[
            "history event 2 is ActivityScheduled 'a' (task 0",
            "produced ActivityScheduled 'b' (task 0",
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn renamed_calls_are_detected() {
    let after = &[Call::Activity("a", 1), Call::Activity("c", 2)];
    assert_nondeterminism(
        deploy(AB, after).await,
        &[
            "ActivityScheduled 'b' (task 1",
            "produced ActivityScheduled 'c' (task 1",
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn changed_inputs_are_detected() {
    let after = &[Call::Activity("a", 1), Call::Activity("b", 3)];
    assert_nondeterminism(deploy(AB, after).await, &["input 2)", "input 3)"]);
}

#[tokio::test(start_paused = true)]
async fn extra_calls_are_detected() {
    let after = &[
        Call::Activity("a", 1),
        Call::Activity("b", 2),
        Call::Activity("c", 3),
    ];
    assert_nondeterminism(
        deploy(AB, after).await,
        &["produced ActivityScheduled 'c' (task 2", "extra call"],
    );
}

#[tokio::test(start_paused = true)]
async fn missing_calls_are_detected() {
    let after = &[Call::Activity("a", 1)];
    assert_nondeterminism(
        deploy(AB, after).await,
        &["ActivityScheduled 'b' (task 1", "missing call"],
    );
}

#[tokio::test(start_paused = true)]
async fn changed_kinds_are_detected() {
    let after = &[Call::Activity("a", 1), Call::Timer(5)];
    assert_nondeterminism(
        deploy(AB, after).await,
        &[
            "ActivityScheduled 'b' (task 1",
            "produced TimerCreated (task 1",
        ],
    );
}
