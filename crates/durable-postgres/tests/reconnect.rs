//! A dropped connection is retried, never turned into a failed orchestration: the server
//! terminates every connection of the backend (pool and listener) several times while
//! orchestrations run, and every orchestration still completes with the right output.
//! Skipped (with a note) without `OCFL_TEST_POSTGRES_URL`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use durable_core::{
    ActivityContext, Backend, Client, Failure, InstanceStatus, OrchestrationContext, Registry,
    Worker, WorkerOptions,
};
use durable_postgres::{PostgresBackend, PostgresOptions};
use tokio_postgres::NoTls;

const ORCHESTRATIONS: u64 = 12;
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
    let (admin, connection) = tokio_postgres::connect(&base, NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);

    let worker = Worker::start(
        backend.clone(),
        registry(),
        WorkerOptions {
            orchestration_concurrency: 4,
            activity_concurrency: 4,
            ..WorkerOptions::default()
        },
    );
    let client = Client::new(backend.clone());
    for n in 0..ORCHESTRATIONS {
        client
            .schedule("chain", &format!("chain-{n}"), &STEPS)
            .await
            .expect("schedule");
    }
    let mut terminated = 0;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        terminated += terminate(&admin, &name).await;
    }
    assert!(
        terminated >= 6,
        "only {terminated} connections were terminated"
    );
    for n in 0..ORCHESTRATIONS {
        let done = client
            .wait_for_completion(&format!("chain-{n}"), Duration::from_secs(60))
            .await
            .expect("completion");
        assert_eq!(done.status, InstanceStatus::Completed, "{done:?}");
        assert_eq!(done.output::<u64>().ok().flatten(), Some(STEPS), "{done:?}");
    }
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
