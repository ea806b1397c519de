//! Activity time limits: start-to-close and heartbeat timeouts cancel the attempt and fail
//! it with `FailureKind::Timeout`, which a retry policy retries; heartbeats keep a slow but
//! progressing activity alive.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable_core::{
    ActivityContext, ActivityOptions, Client, Clock, Failure, FailureKind, InstanceStatus,
    MemoryBackend, OrchestrationContext, Registry, RetryPolicy, Worker, WorkerOptions,
};

use crate::common::{EPOCH_MS, LIMIT};

fn run(registry: Registry, options: WorkerOptions) -> (Client, Worker) {
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let worker = Worker::start(backend.clone(), registry, options);
    (Client::new(backend), worker)
}

#[tokio::test(start_paused = true)]
async fn an_activity_that_stops_heartbeating_is_cancelled_and_retried() {
    let attempts = Arc::new(AtomicU32::new(0));
    // The stuck attempt's context: its future is dropped when it times out, so the test
    // looks at the cancellation signal blocking code would see.
    let stuck: Arc<Mutex<Option<ActivityContext>>> = Arc::default();
    let registry = {
        let attempts = attempts.clone();
        let stuck = stuck.clone();
        Registry::new()
            .activity_with_options(
                "stuck_once",
                ActivityOptions::new().heartbeat_timeout(Duration::from_secs(10)),
                move |ctx: ActivityContext, _: ()| {
                    let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                    let stuck = stuck.clone();
                    async move {
                        ctx.heartbeat();
                        if attempt == 1 {
                            // Stuck: the worker keeps renewing the lease, but no progress.
                            *stuck.lock().expect("lock") = Some(ctx.clone());
                            std::future::pending::<()>().await;
                        }
                        Ok::<_, Failure>(attempt)
                    }
                },
            )
            .orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
                let policy = RetryPolicy::new(3).first_interval(Duration::from_secs(1));
                ctx.call_activity_with_retry::<_, u32>("stuck_once", &(), policy)
                    .await
            })
    };
    let (client, worker) = run(registry, WorkerOptions::default());
    client.schedule("flow", "x", &()).await.expect("schedule");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Completed, "{:?}", done.failure);
    assert_eq!(done.output.as_deref(), Some("2"));
    let stuck = stuck
        .lock()
        .expect("lock")
        .take()
        .expect("the stuck attempt ran");
    assert!(stuck.is_cancelled(), "the stuck attempt was told to stop");
    let metrics = worker.metrics();
    assert_eq!(metrics.activities_timed_out, 1);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_slow_activity_alive() {
    let registry = Registry::new()
        .activity("slow", |ctx: ActivityContext, steps: u32| async move {
            for _ in 0..steps {
                tokio::time::sleep(Duration::from_secs(5)).await;
                ctx.heartbeat();
            }
            Ok::<_, Failure>(steps)
        })
        .orchestration("flow", |ctx: OrchestrationContext, steps: u32| async move {
            ctx.call_activity::<_, u32>("slow", &steps).await
        });
    let options = WorkerOptions {
        activity_defaults: ActivityOptions::new().heartbeat_timeout(Duration::from_secs(8)),
        ..WorkerOptions::default()
    };
    let (client, worker) = run(registry, options);
    // 100 s of work, a heartbeat every 5 s: never 8 s without one.
    client
        .schedule("flow", "ok", &20u32)
        .await
        .expect("schedule");
    let done = client.wait_for_completion("ok", LIMIT).await.expect("done");
    assert_eq!(done.output.as_deref(), Some("20"), "{:?}", done.failure);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_activity_overrunning_its_start_to_close_timeout_fails_with_timeout() {
    let registry = Registry::new()
        .activity("slow", |ctx: ActivityContext, _: ()| async move {
            // Heartbeats do not extend a start-to-close limit.
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                ctx.heartbeat();
            }
            #[allow(unreachable_code)]
            Ok::<_, Failure>(())
        })
        .orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
            ctx.call_activity::<_, ()>("slow", &()).await
        });
    let options = WorkerOptions {
        activity_defaults: ActivityOptions::new()
            .timeout(Duration::from_secs(30))
            .heartbeat_timeout(Duration::from_secs(10)),
        ..WorkerOptions::default()
    };
    let (client, worker) = run(registry, options);
    client.schedule("flow", "x", &()).await.expect("schedule");
    let started = tokio::time::Instant::now();
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Failed);
    let failure = done.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Timeout, "{}", failure.message);
    assert!(
        failure.message.contains("did not finish within 30s"),
        "{}",
        failure.message
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn per_activity_limits_override_the_worker_defaults() {
    let registry = Registry::new()
        .activity_with_options(
            "patient",
            ActivityOptions::new().timeout(Duration::from_secs(600)),
            |_ctx: ActivityContext, _: ()| async move {
                tokio::time::sleep(Duration::from_secs(120)).await;
                Ok::<_, Failure>("done")
            },
        )
        .orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
            ctx.call_activity::<_, String>("patient", &()).await
        });
    let options = WorkerOptions {
        activity_defaults: ActivityOptions::new().timeout(Duration::from_secs(60)),
        ..WorkerOptions::default()
    };
    let (client, worker) = run(registry, options);
    client.schedule("flow", "x", &()).await.expect("schedule");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(
        done.output.as_deref(),
        Some("\"done\""),
        "{:?}",
        done.failure
    );
    worker.shutdown().await;
}

/// Limits given at the call site override the registered ones and the worker's defaults,
/// limit by limit; calls without them keep the registered limits. A retry given at the call
/// retries the timed-out attempts under the call's limits.
#[tokio::test(start_paused = true)]
async fn limits_given_at_the_call_override_the_registered_and_default_ones() {
    let attempts = Arc::new(AtomicU32::new(0));
    let registry = {
        let attempts = attempts.clone();
        Registry::new()
            .activity_with_options(
                "sleep",
                // Registered: 100 s start-to-close; the worker's default heartbeat limit is
                // 1,000 s.
                ActivityOptions::new().timeout(Duration::from_secs(100)),
                move |_ctx: ActivityContext, seconds: u64| {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    async move {
                        tokio::time::sleep(Duration::from_secs(seconds)).await;
                        Ok::<_, Failure>(seconds)
                    }
                },
            )
            .orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
                // 50 s fits the registered 100 s.
                let registered = ctx.call_activity::<_, u64>("sleep", &50u64).await;
                // The call's 20 s start-to-close overrides the registered 100 s.
                let tighter = ctx
                    .call_activity_with_options::<_, u64>(
                        "sleep",
                        &50u64,
                        ActivityOptions::new().timeout(Duration::from_secs(20)),
                    )
                    .await;
                // The call's 500 s overrides the registered 100 s: 200 s of work completes.
                let looser = ctx
                    .call_activity_with_options::<_, u64>(
                        "sleep",
                        &200u64,
                        ActivityOptions::new().timeout(Duration::from_secs(500)),
                    )
                    .await;
                // Only a heartbeat limit at the call: the registered start-to-close still
                // holds, and the call's 30 s heartbeat limit (no heartbeats sent) overrides the
                // worker's default 1,000 s.
                let heartbeat = ctx
                    .call_activity_with_options::<_, u64>(
                        "sleep",
                        &60u64,
                        ActivityOptions::new().heartbeat_timeout(Duration::from_secs(30)),
                    )
                    .await;
                // Three attempts, each under the call's 10 s limit.
                let retried = ctx
                    .call_activity_with_retry_and_options::<_, u64>(
                        "sleep",
                        &15u64,
                        RetryPolicy::new(3).first_interval(Duration::from_secs(1)),
                        ActivityOptions::new().timeout(Duration::from_secs(10)),
                    )
                    .await;
                let kind = |result: Result<u64, Failure>| match result {
                    Ok(value) => format!("ok {value}"),
                    Err(failure) => format!("{:?}", failure.kind),
                };
                Ok(vec![
                    kind(registered),
                    kind(tighter),
                    kind(looser),
                    kind(heartbeat),
                    kind(retried),
                ])
            })
    };
    let options = WorkerOptions {
        activity_defaults: ActivityOptions::new().heartbeat_timeout(Duration::from_secs(1000)),
        ..WorkerOptions::default()
    };
    let (client, worker) = run(registry, options);
    client.schedule("flow", "x", &()).await.expect("schedule");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Completed, "{:?}", done.failure);
    let results: Vec<String> = done.output().expect("output").expect("some output");
    assert_eq!(
        results,
        ["ok 50", "Timeout", "ok 200", "Timeout", "Timeout"],
        "registered, tighter, looser, heartbeat, retried"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 7);
    assert_eq!(worker.metrics().activities_timed_out, 5);
    worker.shutdown().await;
}
