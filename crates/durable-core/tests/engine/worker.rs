use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use durable_core::backend::OrchestrationCommit;
use durable_core::testing::{Delegating, Fate, Hooks, Method};
use durable_core::{
    ActivityContext, Backend, BackendError, Client, Clock, Event, Failure, FailureKind,
    InstanceStatus, MemoryBackend, OrchestrationContext, Registry, Worker, WorkerOptions,
};
use futures::future::join_all;
use tokio::sync::Notify;

use crate::common::{EPOCH_MS, LIMIT, Mode, options, start};

/// An activity that signals when it starts and then never finishes on its own.
fn hanging(started: Arc<Notify>, runs: Arc<AtomicUsize>) -> Registry {
    Registry::new()
        .activity("hang", move |_ctx: ActivityContext, _: ()| {
            let started = Arc::clone(&started);
            let runs = Arc::clone(&runs);
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                started.notify_one();
                futures::future::pending::<()>().await;
                Ok::<_, Failure>(())
            }
        })
        .orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
            match ctx.call_activity::<_, ()>("hang", &()).await {
                Ok(()) => Ok(None),
                Err(failure) => Ok(Some(failure)),
            }
        })
}

#[tokio::test(start_paused = true)]
async fn a_crash_looping_activity_is_poisoned() {
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let client = Client::new(backend.clone());
    let started = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let options = WorkerOptions {
        max_attempts: 2,
        shutdown_grace: Duration::from_secs(1),
        ..WorkerOptions::default()
    };
    client.schedule("flow", "x", &()).await.expect("schedule");
    // Two workers in a row take the activity and are stopped while it runs.
    for _ in 0..2 {
        let worker = Worker::start(
            backend.clone(),
            hanging(Arc::clone(&started), Arc::clone(&runs)),
            options.clone(),
        );
        started.notified().await;
        worker.shutdown().await;
    }
    let worker = Worker::start(
        backend.clone(),
        hanging(Arc::clone(&started), Arc::clone(&runs)),
        options.clone(),
    );
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    let failure: Option<Failure> = done.output().ok().flatten().flatten();
    let failure = failure.expect("the activity failed");
    assert_eq!(failure.kind, FailureKind::Poisoned);
    assert!(
        failure
            .message
            .contains("activity 'hang' was attempted 3 times"),
        "{}",
        failure.message
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(worker.metrics().poisoned, 1);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn leases_are_renewed_while_long_activities_run() {
    // A 10-minute activity with a 3-second lease, and two workers competing: renewal keeps
    // the second worker from running it again.
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = || {
        let runs = Arc::clone(&runs);
        Registry::new()
            .activity("slow", move |_ctx: ActivityContext, _: ()| {
                let runs = Arc::clone(&runs);
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    Ok::<_, Failure>(())
                }
            })
            .orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
                ctx.call_activity::<_, ()>("slow", &()).await
            })
    };
    let options = WorkerOptions {
        activity_lease: Duration::from_secs(3),
        ..WorkerOptions::default()
    };
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let first = Worker::start(backend.clone(), registry(), options.clone());
    let second = Worker::start(backend.clone(), registry(), options);
    let client = Client::new(backend.clone());
    client.schedule("flow", "x", &()).await.expect("schedule");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Completed);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_running_activities() {
    let registry = Registry::new()
        .activity("patient", |ctx: ActivityContext, _: ()| async move {
            ctx.cancelled().await;
            Ok::<_, Failure>(format!("stopped on attempt {}", ctx.attempt()))
        })
        .orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
            ctx.call_activity::<_, String>("patient", &()).await
        });
    let harness = start(registry.clone(), Mode::Cached);
    harness
        .client
        .schedule("flow", "x", &())
        .await
        .expect("schedule");
    harness
        .client
        .wait_for_start("x", LIMIT)
        .await
        .expect("start");
    // Let the activity start.
    tokio::time::sleep(Duration::from_millis(1)).await;
    harness.worker.shutdown().await;
    // The activity's answer to cancellation was committed by the first worker: a second one
    // records it without running the activity again (that would say "attempt 2").
    let worker = Worker::start(harness.backend.clone(), registry, options(Mode::Cached));
    let done = harness
        .client
        .wait_for_completion("x", LIMIT)
        .await
        .expect("done");
    assert_eq!(
        done.output::<String>().ok().flatten().as_deref(),
        Some("stopped on attempt 1")
    );
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_small_cache_evicts_and_replays() {
    let registry = Registry::new()
        .activity("double", |_ctx: ActivityContext, n: u64| async move {
            Ok::<_, Failure>(n * 2)
        })
        .orchestration("chain", |ctx: OrchestrationContext, n: u64| async move {
            let mut value = n;
            for _ in 0..5 {
                value = ctx.call_activity("double", &value).await?;
            }
            Ok(value)
        });
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let worker = Worker::start(
        backend.clone(),
        registry,
        WorkerOptions {
            cache_capacity: 1,
            ..options(Mode::Cached)
        },
    );
    let client = Client::new(backend.clone());
    for n in 1..=4u64 {
        client
            .schedule("chain", &format!("i{n}"), &n)
            .await
            .expect("schedule");
    }
    for n in 1..=4u64 {
        let done = client
            .wait_for_completion(&format!("i{n}"), LIMIT)
            .await
            .expect("done");
        assert_eq!(done.output::<u64>().ok().flatten(), Some(n * 32));
    }
    let metrics = worker.metrics();
    assert!(metrics.replayed_events > 0, "{metrics:?}");
    assert!(metrics.cache_hits > 0, "{metrics:?}");
    worker.shutdown().await;
}

/// Hooks that fail every `period`-th call with a transient error: half of the failures
/// before doing the work, half after it (the work happened but the caller hears an error).
struct Flaky {
    calls: AtomicU64,
    period: u64,
    /// Also refuse (transiently) every episode commit that schedules an activity.
    refuse_activities: bool,
    /// Every episode commit takes this long (a slow store).
    ack_delay: Duration,
    /// Every episode commit returns this long after it took effect.
    ack_returns_after: Duration,
    /// Every history read takes this long (a hung connection).
    history_delay: Duration,
}

/// A memory store whose calls fail as `hooks` say.
fn flaky(hooks: Flaky) -> Arc<Delegating<Flaky>> {
    let inner = MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS));
    Arc::new(Delegating::new(Arc::new(inner), hooks))
}

fn injected() -> BackendError {
    BackendError::Transient("injected fault".into())
}

#[async_trait]
impl Hooks for Flaky {
    fn fate(&self, method: Method) -> Fate {
        // Clients' writes and waits never fail: the tests count on every instance starting.
        if matches!(
            method,
            Method::CreateInstance | Method::SendMessage | Method::WaitForChange
        ) {
            return Fate::Proceed;
        }
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        match call % self.period {
            0 if call.is_multiple_of(self.period.saturating_mul(2)) => Fate::LoseReply(injected()),
            0 => Fate::Refuse(injected()),
            _ => Fate::Proceed,
        }
    }
    async fn read_history(
        &self,
        inner: &dyn Backend,
        id: &str,
    ) -> Result<Vec<Event>, BackendError> {
        tokio::time::sleep(self.history_delay).await;
        inner.read_history(id).await
    }
    async fn ack_orchestration(
        &self,
        inner: &dyn Backend,
        id: &str,
        token: u64,
        commit: &OrchestrationCommit,
    ) -> Result<(), BackendError> {
        if self.refuse_activities && !commit.activities.is_empty() {
            return Err(injected());
        }
        tokio::time::sleep(self.ack_delay).await;
        let acked = inner.ack_orchestration(id, token, commit).await;
        tokio::time::sleep(self.ack_returns_after).await;
        acked
    }
}

#[tokio::test(start_paused = true)]
async fn transient_backend_errors_lose_no_orchestration() {
    const RUNS: u64 = 1000;
    let backend = flaky(Flaky {
        calls: AtomicU64::new(0),
        period: 7,
        refuse_activities: false,
        ack_delay: Duration::ZERO,
        ack_returns_after: Duration::ZERO,
        history_delay: Duration::ZERO,
    });
    let registry = Registry::new()
        .activity("double", |_ctx: ActivityContext, n: u64| async move {
            Ok::<_, Failure>(n * 2)
        })
        .orchestration("work", |ctx: OrchestrationContext, n: u64| async move {
            let first: u64 = ctx.call_activity("double", &n).await?;
            let fanned: Vec<u64> = join_all([
                ctx.call_activity::<_, u64>("double", &first),
                ctx.call_activity::<_, u64>("double", &(first + 1)),
            ])
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
            ctx.create_timer(Duration::from_secs(1)).await?;
            Ok(fanned.iter().sum::<u64>())
        });
    let worker = Worker::start(backend.clone(), registry, WorkerOptions::default());
    let client = Client::new(backend.clone());
    for n in 0..RUNS {
        client
            .schedule("work", &format!("i{n}"), &n)
            .await
            .expect("schedule");
    }
    for n in 0..RUNS {
        let done = client
            .wait_for_completion(&format!("i{n}"), LIMIT)
            .await
            .expect("done");
        assert_eq!(done.status, InstanceStatus::Completed, "{done:?}");
        assert_eq!(done.output::<u64>().ok().flatten(), Some(8 * n + 2));
    }
    let metrics = worker.metrics();
    assert!(metrics.backend_errors > 100, "{metrics:?}");
    assert_eq!(metrics.poisoned, 0);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_episode_that_never_commits_is_poisoned() {
    let backend = flaky(Flaky {
        calls: AtomicU64::new(0),
        period: u64::MAX,
        refuse_activities: true,
        ack_delay: Duration::ZERO,
        ack_returns_after: Duration::ZERO,
        history_delay: Duration::ZERO,
    });
    let registry =
        Registry::new().orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
            ctx.call_activity::<_, ()>("anything", &()).await
        });
    let options = WorkerOptions {
        max_attempts: 3,
        ..WorkerOptions::default()
    };
    let worker = Worker::start(backend.clone(), registry, options);
    let client = Client::new(backend.clone());
    client.schedule("flow", "x", &()).await.expect("schedule");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Failed);
    let failure = done.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Poisoned);
    assert!(
        failure.message.contains("attempted 4 times"),
        "{}",
        failure.message
    );
    let metrics = worker.metrics();
    assert_eq!(metrics.poisoned, 1);
    assert_eq!(metrics.episodes, 1);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_episode_that_overruns_its_timeout_is_handed_back_then_poisoned() {
    // Every history read hangs for an hour; the worker renews the episode's lease all along,
    // so without a time limit on the episode the instance would wait on it for ever.
    let backend = flaky(Flaky {
        calls: AtomicU64::new(0),
        period: u64::MAX,
        refuse_activities: false,
        ack_delay: Duration::ZERO,
        ack_returns_after: Duration::ZERO,
        history_delay: Duration::from_secs(3600 * 1000),
    });
    let registry = Registry::new()
        .orchestration("flow", |_ctx: OrchestrationContext, _: ()| async move {
            Ok::<_, Failure>(())
        });
    let options = WorkerOptions {
        max_attempts: 3,
        cache_capacity: 0,
        episode_timeout: Some(Duration::from_secs(60)),
        ..WorkerOptions::default()
    };
    let worker = Worker::start(backend.clone(), registry, options);
    let client = Client::new(backend.clone());
    client.schedule("flow", "x", &()).await.expect("schedule");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Failed);
    let failure = done.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Poisoned, "{}", failure.message);
    assert_eq!(worker.metrics().episodes_timed_out, 3);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn orchestration_leases_are_renewed_during_slow_commits() {
    // Every commit takes 10 s against a 3 s lease, with two workers competing: without
    // renewal the second worker would take the instance over mid-commit and the first
    // commit would be refused.
    let backend = flaky(Flaky {
        calls: AtomicU64::new(0),
        period: u64::MAX,
        refuse_activities: false,
        ack_delay: Duration::from_secs(10),
        ack_returns_after: Duration::ZERO,
        history_delay: Duration::ZERO,
    });
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = || {
        let runs = Arc::clone(&runs);
        Registry::new()
            .activity("count", move |_ctx: ActivityContext, _: ()| {
                let runs = Arc::clone(&runs);
                async move { Ok::<_, Failure>(runs.fetch_add(1, Ordering::SeqCst)) }
            })
            .orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
                let a: usize = ctx.call_activity("count", &()).await?;
                let b: usize = ctx.call_activity("count", &()).await?;
                Ok(a + b)
            })
    };
    let options = WorkerOptions {
        orchestration_lease: Duration::from_secs(3),
        ..WorkerOptions::default()
    };
    let first = Worker::start(backend.clone(), registry(), options.clone());
    let second = Worker::start(backend.clone(), registry(), options);
    let client = Client::new(backend.clone());
    client.schedule("flow", "x", &()).await.expect("schedule");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.output::<usize>().ok().flatten(), Some(1));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let (a, b) = (first.metrics(), second.metrics());
    assert_eq!(a.leases_lost + b.leases_lost, 0, "{a:?} {b:?}");
    assert_eq!(a.episodes + b.episodes, 3);
    assert!(a.lease_renewals + b.lease_renewals >= 9, "{a:?} {b:?}");
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn work_waits_for_a_worker_that_knows_its_name() {
    // A rolling upgrade: the old worker knows "flow" but not the activity "double" nor the
    // orchestration "flow2". It hands back what it cannot run instead of failing it; the new
    // worker that replaces it runs everything.
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let flow = |ctx: OrchestrationContext, n: u64| async move {
        let doubled: u64 = ctx.call_activity("double", &n).await?;
        Ok(doubled)
    };
    let old = Registry::new().orchestration("flow", flow);
    let new = Registry::new()
        .orchestration("flow", flow)
        .orchestration("flow2", flow)
        .activity("double", |_ctx: ActivityContext, n: u64| async move {
            Ok::<_, Failure>(n * 2)
        });
    let client = Client::new(backend.clone());
    let old = Worker::start(backend.clone(), old, WorkerOptions::default());
    client.schedule("flow", "a", &1u64).await.expect("schedule");
    client
        .schedule("flow2", "b", &2u64)
        .await
        .expect("schedule");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let a = client
        .metadata("a")
        .await
        .expect("metadata")
        .expect("exists");
    let b = client
        .metadata("b")
        .await
        .expect("metadata")
        .expect("exists");
    assert_eq!(a.status, InstanceStatus::Running);
    assert_eq!(b.status, InstanceStatus::Pending);
    assert_eq!(
        old.metrics().activities_completed + old.metrics().activities_failed,
        0
    );
    old.shutdown().await;
    let new = Worker::start(backend.clone(), new, WorkerOptions::default());
    for (id, expected) in [("a", 2u64), ("b", 4)] {
        let done = client.wait_for_completion(id, LIMIT).await.expect("done");
        assert_eq!(
            done.output::<u64>().ok().flatten(),
            Some(expected),
            "{done:?}"
        );
    }
    new.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_orchestration_nobody_knows_fails_after_max_attempts() {
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let options = WorkerOptions {
        max_attempts: 4,
        unregistered_retry_delay: Duration::from_secs(10),
        ..WorkerOptions::default()
    };
    let worker = Worker::start(backend.clone(), Registry::new(), options);
    let client = Client::new(backend.clone());
    client.schedule("ghost", "x", &()).await.expect("schedule");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Failed);
    let failure = done.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Unregistered);
    assert!(
        failure.message.contains("'ghost'") && failure.message.contains("(4 attempts)"),
        "{}",
        failure.message
    );
    // Three hand-backs of 10 s each before the fourth attempt gave up.
    assert_eq!(done.updated_at_ms, EPOCH_MS + 30_000);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_next_episode_waits_for_the_cached_state_instead_of_replaying() {
    // Each commit takes effect at once but returns a second later: meanwhile the activity
    // completes and the next episode is fetched by another dispatcher task. It must wait for
    // the previous episode to put its execution back in the cache, not replay the history
    // (which, every episode, would make a long orchestration quadratic).
    let backend = flaky(Flaky {
        calls: AtomicU64::new(0),
        period: u64::MAX,
        refuse_activities: false,
        ack_delay: Duration::ZERO,
        ack_returns_after: Duration::from_secs(1),
        history_delay: Duration::ZERO,
    });
    let registry = Registry::new()
        .activity("inc", |_ctx: ActivityContext, n: u64| async move {
            Ok::<_, Failure>(n + 1)
        })
        .orchestration("count", |ctx: OrchestrationContext, n: u64| async move {
            let mut value = 0u64;
            for _ in 0..n {
                value = ctx.call_activity("inc", &value).await?;
            }
            Ok(value)
        });
    let worker = Worker::start(backend.clone(), registry, WorkerOptions::default());
    let client = Client::new(backend.clone());
    client
        .schedule("count", "x", &20u64)
        .await
        .expect("schedule");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.output::<u64>().ok().flatten(), Some(20));
    let metrics = worker.metrics();
    assert_eq!(
        metrics.full_replays, 1,
        "only the first episode: {metrics:?}"
    );
    assert_eq!(metrics.replayed_events, 0, "{metrics:?}");
    assert_eq!(metrics.cache_hits, 20, "{metrics:?}");
    worker.shutdown().await;
}
