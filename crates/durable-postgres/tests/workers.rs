//! `Backend::workers`: the processes that take work, when they were last seen, and the
//! leases each holds; processes that only read or schedule are not listed.
//! Skipped (with a note) without `OCFL_TEST_POSTGRES_URL`.

mod common;

use std::time::Duration;

use durable_core::backend::{ActivityWork, OrchestrationCommit};
use durable_core::testing::new_instance;
use durable_core::{ActivityOptions, Backend, Clock, HeldKind, WorkerInfo};
use durable_postgres::{PostgresBackend, PostgresOptions, testing};

const LEASE: Duration = Duration::from_secs(30);

async fn connect(url: &str, name: Option<&str>, clock: Option<Clock>) -> PostgresBackend {
    let options = PostgresOptions {
        clock,
        ..testing::options(name)
    };
    PostgresBackend::connect_with(url, options)
        .await
        .expect("connect to the test database")
}

fn named<'a>(workers: &'a [WorkerInfo], name: &str) -> &'a WorkerInfo {
    workers
        .iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no worker {name:?} in {workers:#?}"))
}

#[tokio::test]
async fn workers_are_listed_with_the_leases_they_hold() {
    let Some(base) = common::base_url("workers_are_listed_with_the_leases_they_hold") else {
        return;
    };
    let url = common::fresh_url(&base, "workers_listed").await;
    let reader = connect(&url, None, None).await;
    let first = connect(&url, Some("first"), None).await;
    let second = connect(&url, Some("second <b>\"quoted\""), None).await;
    reader
        .create_instance(new_instance("a"))
        .await
        .expect("create a");
    reader
        .create_instance(new_instance("b"))
        .await
        .expect("create b");

    let held_a = first
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("a is visible");
    assert_eq!(held_a.instance.instance_id, "a");
    let episode_b = second
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("b is visible");
    assert_eq!(episode_b.instance.instance_id, "b");
    let commit = OrchestrationCommit {
        activities: vec![ActivityWork {
            instance_id: "b".to_owned(),
            execution_id: 1,
            task_id: 1,
            name: "copy".to_owned(),
            input: "null".to_owned(),
            options: ActivityOptions::default(),
        }],
        ..OrchestrationCommit::default()
    };
    second
        .ack_orchestration("b", episode_b.lease.token, &commit)
        .await
        .expect("ack b");
    let activity = second
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch activity")
        .expect("the activity is visible");

    let workers = reader
        .workers_seen_within(Duration::from_secs(600))
        .await
        .expect("list workers");
    assert_eq!(workers.len(), 2, "the reader took no work: {workers:#?}");
    let listed_first = named(&workers, "first");
    assert_eq!(listed_first.pid, std::process::id());
    assert!(!listed_first.host.is_empty());
    assert_eq!(listed_first.holds.len(), 1, "{listed_first:#?}");
    assert_eq!(listed_first.holds[0].instance_id, "a");
    assert_eq!(listed_first.holds[0].kind, HeldKind::Orchestration);
    assert_eq!(
        listed_first.holds[0].expires_at_ms,
        held_a.lease.expires_at_ms
    );
    assert_eq!(listed_first.holds[0].attempt, 1);
    let listed_second = named(&workers, "second <b>\"quoted\"");
    assert_eq!(listed_second.holds.len(), 1, "{listed_second:#?}");
    assert_eq!(listed_second.holds[0].instance_id, "b");
    assert_eq!(
        listed_second.holds[0].kind,
        HeldKind::Activity {
            id: activity.id,
            name: "copy".to_owned()
        }
    );
    // The trait's form answers the same.
    let through_trait = reader
        .workers(0)
        .await
        .expect("list workers")
        .expect("PostgreSQL records workers");
    assert_eq!(through_trait, workers);

    // A released lease is no longer held.
    first
        .abandon_orchestration("a", held_a.lease.token, Duration::ZERO)
        .await
        .expect("abandon a");
    let workers = reader
        .workers_seen_within(Duration::from_secs(600))
        .await
        .expect("list workers");
    assert!(named(&workers, "first").holds.is_empty(), "{workers:#?}");
}

/// A worker last seen long ago is listed only while it holds a live lease.
#[tokio::test]
async fn a_worker_not_seen_recently_is_listed_while_it_holds_a_lease() {
    let Some(base) = common::base_url("a_worker_not_seen_recently_is_listed") else {
        return;
    };
    let url = common::fresh_url(&base, "workers_stale").await;
    let reader = connect(&url, None, None).await;
    let hour_ago = Clock::starting_at(reader.clock().now_ms() - 3_600_000);
    let stale = connect(&url, Some("stale"), Some(hour_ago)).await;
    stale
        .create_instance(new_instance("s"))
        .await
        .expect("create");
    let held = stale
        .fetch_orchestration(Duration::from_secs(7_200), Duration::ZERO)
        .await
        .expect("fetch")
        .expect("s is visible");
    let recent = Duration::from_secs(600);
    let workers = reader.workers_seen_within(recent).await.expect("list");
    assert_eq!(named(&workers, "stale").holds.len(), 1, "{workers:#?}");
    stale
        .abandon_orchestration("s", held.lease.token, Duration::ZERO)
        .await
        .expect("abandon");
    let workers = reader.workers_seen_within(recent).await.expect("list");
    assert!(workers.is_empty(), "{workers:#?}");
    let workers = reader
        .workers_seen_within(Duration::from_secs(7_200))
        .await
        .expect("list");
    assert_eq!(workers.len(), 1, "{workers:#?}");
}

/// A process that keeps fetching is seen again every few seconds.
#[tokio::test(start_paused = true)]
async fn a_working_process_refreshes_its_last_seen_time() {
    let Some(base) = common::base_url("a_working_process_refreshes_its_last_seen_time") else {
        return;
    };
    let url = common::fresh_url(&base, "workers_beat").await;
    let worker = connect(&url, Some("beating"), None).await;
    let none = worker
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch");
    assert!(none.is_none());
    let seen = |workers: Vec<WorkerInfo>| named(&workers, "beating").last_seen_ms;
    let registered = seen(worker.workers(0).await.expect("list").expect("listed"));
    tokio::time::advance(Duration::from_secs(6)).await;
    worker
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch");
    // The refresh is sent in the background: wait for it in real time.
    let mut last = registered;
    for _ in 0..100 {
        last = seen(worker.workers(0).await.expect("list").expect("listed"));
        if last > registered {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        last >= registered + 6_000,
        "last seen {last}, registered at {registered}"
    );
}
