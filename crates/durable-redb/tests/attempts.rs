//! What a fetch writes for the attempt it hands out: nothing for a first attempt (the commit
//! that queued the work stands for it), a flushed commit for a redelivery, and a reopen counts
//! a first attempt that may have run.

mod common;

use std::time::Duration;

use common::{LEASE, populate};
use durable_core::backend::Backend;
use durable_redb::{Durability, OpenError, RedbBackend, RedbOptions, WriteStats};

fn relaxed() -> RedbOptions {
    RedbOptions {
        durability: Durability::Relaxed {
            flush_interval: Duration::from_secs(3600),
        },
        ..RedbOptions::default()
    }
}

/// (commits, durable commits) made since `before`.
fn since(backend: &RedbBackend, before: WriteStats) -> (u64, u64) {
    let after = backend.write_stats();
    (
        after.commits - before.commits,
        after.durable_commits - before.durable_commits,
    )
}

/// Fetches an instance and an activity at attempt 1 with no commit, abandons both, and
/// fetches them again at attempt 2, each after one flushed commit.
async fn first_attempts_are_free_and_redeliveries_flushed(backend: &RedbBackend) {
    populate(backend, 1).await;
    backend.flush().await.expect("flush");

    let before = backend.write_stats();
    let episode = backend
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("an instance with an event");
    let activity = backend
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("an activity");
    assert_eq!((episode.lease.attempt, activity.lease.attempt), (1, 1));
    assert_eq!(since(backend, before), (0, 0), "first attempts wrote");

    let instance_id = episode.instance.instance_id.clone();
    backend
        .abandon_orchestration(&instance_id, episode.lease.token, Duration::ZERO)
        .await
        .expect("abandon");
    backend
        .abandon_activity(activity.id, activity.lease.token, Duration::ZERO)
        .await
        .expect("abandon");
    let before = backend.write_stats();
    let episode = backend
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the abandoned instance");
    assert_eq!(episode.lease.attempt, 2);
    assert_eq!(since(backend, before), (1, 1), "the redelivered episode");
    let before = backend.write_stats();
    let activity = backend
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the abandoned activity");
    assert_eq!(activity.lease.attempt, 2);
    assert_eq!(since(backend, before), (1, 1), "the redelivered activity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_attempt_writes_nothing_and_a_redelivery_is_flushed_first() {
    let backend = RedbBackend::open_temporary(RedbOptions::default()).expect("open");
    first_attempts_are_free_and_redeliveries_flushed(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_mode_flushes_only_redeliveries() {
    let backend = RedbBackend::open_temporary(relaxed()).expect("open");
    first_attempts_are_free_and_redeliveries_flushed(&backend).await;
}

/// Reopens `path`, waiting for the previous backend's last tasks to let go of it.
async fn reopen(path: &std::path::Path) -> RedbBackend {
    for _ in 0..500 {
        match RedbBackend::open(path) {
            Ok(backend) => return backend,
            Err(OpenError::InUse { .. }) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(error) => panic!("reopen: {error}"),
        }
    }
    panic!("the store stayed in use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopen_counts_a_first_attempt_that_wrote_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    let backend = RedbBackend::open(&path).expect("open");
    populate(&backend, 1).await;
    let episode = backend
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("an instance with an event");
    let activity = backend
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("an activity");
    assert_eq!((episode.lease.attempt, activity.lease.attempt), (1, 1));
    // Left leased, as by a process that died running them.
    drop(backend);

    let backend = reopen(&path).await;
    let episode = backend
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the instance again");
    let activity = backend
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the activity again");
    assert_eq!((episode.lease.attempt, activity.lease.attempt), (2, 2));
    drop(backend);

    // Attempt 2 was written when it was handed out: the next reopen goes on from it.
    let backend = reopen(&path).await;
    let episode = backend
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the instance a third time");
    let activity = backend
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the activity a third time");
    assert_eq!((episode.lease.attempt, activity.lease.attempt), (3, 3));
}
