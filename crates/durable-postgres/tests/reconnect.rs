//! A dropped connection is retried, never turned into a failed orchestration: the server
//! terminates every connection of the backend (pool and listener) several times while
//! orchestrations run, and every orchestration still completes with the right output.
//! Skipped (with a note) without `OCFL_TEST_POSTGRES_URL`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use durable_core::{
    ActivityContext, Backend, Client, Failure, InstanceStatus, OrchestrationContext, Registry,
    Worker, WorkerOptions,
};
use durable_postgres::testing::sql_client;
use durable_postgres::{PostgresBackend, PostgresOptions};

/// Orchestrations scheduled at least (more while the terminator is still at work).
const ORCHESTRATIONS: u64 = 12;
/// Rounds of termination at most.
const MAX_ROUNDS: u32 = 50;
const STEPS: u64 = 6;

fn registry() -> Registry {
    Registry::new()
        .activity("inc", |_ctx: ActivityContext, n: u64| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Failure>(n + 1)
        })
        .orchestration("chain", |ctx: OrchestrationContext, n: u64| async move {
            let mut value = 0u64;
            for _ in 0..n {
                value = ctx.call_activity("inc", &value).await?;
            }
            ctx.create_timer(Duration::from_millis(50)).await?;
            Ok(value)
        })
}

/// Terminates every server process whose application_name is `name`; returns how many.
async fn terminate(admin: &tokio_postgres::Client, name: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .expect("terminate the backend's connections")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_are_retried_and_every_orchestration_completes() {
    let Some(base) =
        common::base_url("terminated_connections_are_retried_and_every_orchestration_completes")
    else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let url = common::fresh_url(&base, "reconnect").await;
    // The backend's connections carry a name of their own, so that only they are terminated.
    let name = format!("reconnect_test_{}", std::process::id());
    let backend_url = format!("{url}&application_name={name}");
    let backend = Arc::new(
        PostgresBackend::connect_with(
            &backend_url,
            PostgresOptions {
                pool_size: 4,
                ..PostgresOptions::default()
            },
        )
        .await
        .expect("connect"),
    );
    let admin = sql_client(&base).await.expect("admin connection");

    let worker = Worker::start(
        backend.clone(),
        registry(),
        WorkerOptions {
            orchestration_concurrency: 4,
            activity_concurrency: 4,
            // A fetch whose answer is lost with its connection leaves a lease nobody holds:
            // the work is handed out again when it expires.
            orchestration_lease: Duration::from_secs(2),
            activity_lease: Duration::from_secs(2),
            ..WorkerOptions::default()
        },
    );
    // Every 400 ms all of the backend's connections are terminated while orchestrations
    // are being scheduled and run: at least eight times, and on until one of them has cut
    // off a call in flight (a connection terminated while idle in the pool is replaced
    // without any call noticing). Bounded, so that the test ends on a loaded machine too.
    let terminated_enough = Arc::new(AtomicBool::new(false));
    let terminator = {
        let name = name.clone();
        let backend = backend.clone();
        let terminated_enough = terminated_enough.clone();
        tokio::spawn(async move {
            let mut terminated = 0;
            for round in 1..=MAX_ROUNDS {
                tokio::time::sleep(Duration::from_millis(400)).await;
                terminated += terminate(&admin, &name).await;
                if round >= 8 && backend.retried_calls() > 0 {
                    break;
                }
            }
            terminated_enough.store(true, Ordering::SeqCst);
            (terminated, admin)
        })
    };
    // Orchestrations keep coming while the terminator works, so that there are calls in
    // flight to cut off.
    let client = Client::new(backend.clone());
    let mut scheduled = 0;
    while scheduled < ORCHESTRATIONS || !terminated_enough.load(Ordering::SeqCst) {
        client
            .schedule("chain", &format!("chain-{scheduled}"), &STEPS)
            .await
            .expect("schedule");
        scheduled += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in 0..scheduled {
        let done = client
            .wait_for_completion(&format!("chain-{n}"), Duration::from_secs(60))
            .await
            .expect("completion");
        assert_eq!(done.status, InstanceStatus::Completed, "{done:?}");
        assert_eq!(done.output::<u64>().ok().flatten(), Some(STEPS), "{done:?}");
    }
    let (terminated, admin) = terminator.await.expect("the terminator ran");
    assert!(
        terminated >= 8,
        "only {terminated} connections were terminated"
    );
    let metrics = worker.metrics();
    assert_eq!(metrics.activities_failed, 0, "{metrics:?}");
    assert_eq!(metrics.poisoned, 0, "{metrics:?}");
    assert!(
        backend.retried_calls() > 0,
        "no call was interrupted: the test did not test anything"
    );
    worker.shutdown().await;

    // The listening connection came back too: with polling all but off, a fetch waiting on
    // this backend is woken by a commit of another backend (another process, as far as
    // PostgreSQL can tell), after the listener was terminated once more.
    terminate(&admin, &name).await;
    let quiet = Arc::new(
        PostgresBackend::connect_with(
            &backend_url,
            PostgresOptions {
                poll_interval: Duration::from_secs(3600),
                ..PostgresOptions::default()
            },
        )
        .await
        .expect("connect"),
    );
    let waiting = {
        let quiet = quiet.clone();
        tokio::spawn(async move {
            quiet
                .fetch_orchestration(Duration::from_secs(30), Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    terminate(&admin, &name).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other = PostgresBackend::connect(&url).await.expect("connect");
    Client::new(Arc::new(other))
        .schedule("chain", "late", &1u64)
        .await
        .expect("schedule");
    let item = waiting
        .await
        .expect("the task ran")
        .expect("fetch")
        .expect("woken by the notification");
    assert_eq!(item.instance.instance_id, "late");
}
