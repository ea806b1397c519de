use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable_core::{
    ActivityContext, Event, Failure, FailureKind, InstanceStatus, OrchestrationContext, Registry,
    RetryPolicy,
};

use crate::common::{EPOCH_MS, count, run_both};

/// A registry whose "flaky" activity fails its first `failures` invocations (per registry, so
/// the cached and evicted runs each start afresh), with the orchestration "retry" calling it
/// under `policy`.
fn registry(failures: u32, kind: FailureKind, policy: RetryPolicy) -> Registry {
    let calls = Arc::new(AtomicU32::new(0));
    Registry::new()
        .activity("flaky", move |_ctx: ActivityContext, _: ()| {
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if call <= failures {
                    Err(Failure::new(kind, format!("call {call} failed")))
                } else {
                    Ok(call)
                }
            }
        })
        .orchestration("retry", move |ctx: OrchestrationContext, _: ()| {
            let policy = policy.clone();
            async move {
                let call: u32 = ctx.call_activity_with_retry("flaky", &(), policy).await?;
                Ok(call)
            }
        })
}

fn timers(history: &[Event]) -> Vec<u64> {
    history
        .iter()
        .filter_map(|event| match event {
            Event::TimerCreated { fire_at_ms, .. } => Some(fire_at_ms - EPOCH_MS),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn retries_wait_on_durable_timers_with_backoff() {
    let policy = RetryPolicy::new(5)
        .first_interval(Duration::from_secs(1))
        .backoff_coefficient(2.0);
    let run = run_both(
        || registry(3, FailureKind::Application, policy.clone()),
        "retry",
        &(),
    )
    .await;
    assert_eq!(run.metadata.output::<u32>().ok().flatten(), Some(4));
    assert_eq!(count(&run.history, "ActivityScheduled"), 4);
    // Waits of 1 s, 2 s and 4 s after each failure: fire times 1, 3 and 7 seconds in.
    assert_eq!(timers(&run.history), vec![1_000, 3_000, 7_000]);
}

#[tokio::test(start_paused = true)]
async fn attempts_are_limited() {
    let policy = RetryPolicy::new(2);
    let run = run_both(
        || registry(5, FailureKind::Application, policy.clone()),
        "retry",
        &(),
    )
    .await;
    assert_eq!(run.metadata.status, InstanceStatus::Failed);
    assert_eq!(
        run.metadata.failure,
        Some(Failure::application("call 2 failed"))
    );
    assert_eq!(count(&run.history, "ActivityScheduled"), 2);
}

#[tokio::test(start_paused = true)]
async fn only_retriable_failures_are_retried() {
    let policy = RetryPolicy::new(5).retry_if(|failure| failure.message != "call 2 failed");
    let run = run_both(
        || registry(5, FailureKind::Application, policy.clone()),
        "retry",
        &(),
    )
    .await;
    assert_eq!(
        run.metadata.failure,
        Some(Failure::application("call 2 failed"))
    );
    // Non-retriable kinds by default: a serialization failure is final at once.
    let run = run_both(
        || registry(5, FailureKind::Serialization, RetryPolicy::new(5)),
        "retry",
        &(),
    )
    .await;
    assert_eq!(count(&run.history, "ActivityScheduled"), 1);
}

#[tokio::test(start_paused = true)]
async fn the_overall_timeout_stops_retrying() {
    // Waits 10 s, 20 s, 40 s: the third attempt would start at 30 s, past the 25 s budget.
    let policy = RetryPolicy::new(10)
        .first_interval(Duration::from_secs(10))
        .timeout(Duration::from_secs(25));
    let run = run_both(
        || registry(10, FailureKind::Application, policy.clone()),
        "retry",
        &(),
    )
    .await;
    assert_eq!(
        run.metadata.failure,
        Some(Failure::application("call 2 failed"))
    );
    assert_eq!(timers(&run.history), vec![10_000]);
}
