//! Opening and reopening a store: what survives, who may open it, which files are refused.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{LEASE, new_instance, populate, snapshot};
use durable_core::Event;
use durable_core::backend::Backend;
use durable_redb::{Durability, OpenError, RedbBackend, RedbOptions, SCHEMA_VERSION};
use redb::TableDefinition;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

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
async fn reopening_keeps_instances_history_and_queued_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    let backend = RedbBackend::open(&path).expect("open");
    populate(&backend, 20).await;
    let before = snapshot(&backend).await.expect("snapshot");
    let last_message_id = {
        let item = backend
            .fetch_orchestration(LEASE, Duration::ZERO)
            .await
            .expect("fetch")
            .expect("an instance with an event");
        // Left leased: reopening must hand it out again.
        item.messages[0].id
    };
    drop(backend);

    let backend = reopen(&path).await;
    assert_eq!(snapshot(&backend).await.expect("snapshot"), before);
    let mut raised = 0;
    while let Some(item) = backend
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
    {
        // Only the raised event is visible; the timer is an hour away.
        assert_eq!(item.messages.len(), 1, "{item:?}");
        assert!(matches!(item.messages[0].event, Event::EventRaised { .. }));
        raised += 1;
    }
    assert_eq!(raised, 20);
    let mut activities = 0;
    while let Some(item) = backend
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
    {
        assert_eq!(item.work.input, format!("\"{}\"", item.work.instance_id));
        activities += 1;
    }
    assert_eq!(activities, 20);
    // Ids keep increasing across reopens (inboxes are FIFO by id).
    backend
        .create_instance(new_instance("later"))
        .await
        .expect("create");
    let item = backend
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the new instance");
    assert!(item.messages[0].id > last_message_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_is_open_once_even_within_a_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    let _first = RedbBackend::open(&path).expect("open");
    match RedbBackend::open(&path) {
        Err(OpenError::InUse { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("expected InUse, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_can_wait_for_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    let first = RedbBackend::open(&path).expect("open");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
    });
    let options = RedbOptions {
        lock_wait: Duration::from_secs(60),
        ..RedbOptions::default()
    };
    let second = RedbBackend::open_with(&path, options).expect("opened once the holder let go");
    release.join().expect("the holder's thread");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_schema_versions_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    drop(RedbBackend::open(&path).expect("create"));
    {
        let db = redb::Database::open(&path).expect("raw open");
        let txn = db.begin_write().expect("write");
        txn.open_table(META)
            .expect("meta")
            .insert("schema_version", SCHEMA_VERSION + 1)
            .expect("insert");
        txn.commit().expect("commit");
    }
    match RedbBackend::open(&path) {
        Err(OpenError::UnsupportedSchema {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected UnsupportedSchema, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A redb database of someone else's.
    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).expect("create");
        let txn = db.begin_write().expect("write");
        txn.open_table(TableDefinition::<u64, u64>::new("numbers"))
            .expect("table")
            .insert(1, 2)
            .expect("insert");
        txn.commit().expect("commit");
    }
    assert!(
        matches!(
            RedbBackend::open(&foreign),
            Err(OpenError::NotAStore { .. })
        ),
        "a foreign redb file"
    );
    // Not a database at all, and an empty file.
    for (name, bytes) in [
        ("text.redb", &b"hello, world\n"[..]),
        ("empty.redb", &b""[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        match RedbBackend::open(&path) {
            Err(OpenError::Corrupt { .. }) => {}
            other => panic!("{name}: expected Corrupt, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_arrive_together_share_a_commit() {
    let backend = Arc::new(RedbBackend::open_temporary(RedbOptions::default()).expect("open"));
    let before = backend.write_stats();
    // All 64 are queued before the first commit (an fsync) can finish.
    let creates = (0..64).map(|n| {
        let backend = Arc::clone(&backend);
        async move {
            backend
                .create_instance(new_instance(&format!("i{n}")))
                .await
        }
    });
    for created in futures::future::join_all(creates).await {
        created.expect("create");
    }
    let after = backend.write_stats();
    let (writes, commits) = (after.writes - before.writes, after.commits - before.commits);
    assert_eq!(writes, 64);
    assert!(commits <= 8, "{commits} commits for {writes} writes");
    assert_eq!(after.durable_commits - before.durable_commits, commits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_commits_are_flushed_on_request_and_on_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    let options = RedbOptions {
        durability: Durability::Relaxed {
            flush_interval: Duration::from_secs(3600),
        },
        ..RedbOptions::default()
    };
    let backend = RedbBackend::open_with(&path, options).expect("open");
    backend
        .create_instance(new_instance("a"))
        .await
        .expect("create");
    assert_eq!(backend.write_stats().durable_commits, 0);
    backend.flush().await.expect("flush");
    assert_eq!(backend.write_stats().durable_commits, 1);
    backend
        .create_instance(new_instance("b"))
        .await
        .expect("create");
    drop(backend);
    let backend = reopen(&path).await;
    for id in ["a", "b"] {
        assert!(
            backend.read_metadata(id).await.expect("read").is_some(),
            "{id}"
        );
    }
}
