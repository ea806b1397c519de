//! Bounded stores: the status indexes (unfinished listings read no finished row, a version 1
//! file gets its indexes), purges by age, and compaction giving the space back.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{LEASE, new_instance};
use durable_core::backend::{Backend, MetadataUpdate, OrchestrationCommit};
use durable_core::{BackendError, Event, InstanceFilter, InstanceStatus};
use durable_redb::{Durability, RedbBackend, RedbOptions, SCHEMA_VERSION, compact};
use redb::{ReadableDatabase, TableDefinition, TableHandle};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const INSTANCES: TableDefinition<&str, &[u8]> = TableDefinition::new("instances");
const UNFINISHED: TableDefinition<&str, ()> = TableDefinition::new("unfinished");
const FINISHED: TableDefinition<(u64, &str), ()> = TableDefinition::new("finished");

fn relaxed() -> RedbOptions {
    RedbOptions {
        durability: Durability::Relaxed {
            flush_interval: Duration::from_secs(60),
        },
        ..RedbOptions::default()
    }
}

/// Creates `id` and commits one episode of `events` events of about `event_bytes` bytes
/// each, ending with `status`.
async fn run_instance(
    backend: &dyn Backend,
    id: &str,
    status: InstanceStatus,
    events: usize,
    event_bytes: usize,
) {
    backend
        .create_instance(new_instance(id))
        .await
        .expect("create");
    let item = backend
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the new instance");
    assert_eq!(item.instance.instance_id, id);
    let history = (0..events)
        .map(|n| Event::EventRaised {
            name: format!("e{n}"),
            data: format!("\"{}\"", "x".repeat(event_bytes)),
        })
        .collect();
    let commit = OrchestrationCommit {
        history,
        metadata: Some(MetadataUpdate {
            execution_id: 1,
            status,
            input: None,
            output: status.is_terminal().then(|| "1".to_owned()),
            failure: None,
            custom_status: None,
        }),
        ..OrchestrationCommit::default()
    };
    backend
        .ack_orchestration(id, item.lease.token, &commit)
        .await
        .expect("ack");
}

fn ids(list: Result<Vec<durable_core::InstanceMetadata>, BackendError>) -> Vec<String> {
    list.expect("list")
        .into_iter()
        .map(|metadata| metadata.instance_id)
        .collect()
}

/// Opens the file with redb itself, once the backend dropped before has let go of it (its
/// writer's last task may still hold it for a moment).
fn raw_open(path: &Path) -> redb::Database {
    for _ in 0..500 {
        match redb::Database::open(path) {
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            opened => return opened.expect("open with redb"),
        }
    }
    panic!("the store stayed open");
}

/// Options that wait for the backend dropped before to let go of the file.
fn waiting() -> RedbOptions {
    RedbOptions {
        lock_wait: Duration::from_secs(10),
        ..RedbOptions::default()
    }
}

/// Replaces an instance's metadata row with bytes that do not decode.
fn damage_metadata(path: &Path, instance_id: &str) {
    let db = raw_open(path);
    let txn = db.begin_write().expect("write");
    txn.open_table(INSTANCES)
        .expect("instances")
        .insert(instance_id, b"not json".as_slice())
        .expect("insert");
    txn.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_unfinished_instances_reads_no_finished_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    {
        let backend = RedbBackend::open_with(&path, relaxed()).expect("open");
        run_instance(&backend, "a-done", InstanceStatus::Completed, 2, 10).await;
        run_instance(&backend, "b-running", InstanceStatus::Running, 2, 10).await;
        run_instance(&backend, "c-failed", InstanceStatus::Failed, 2, 10).await;
        backend
            .create_instance(new_instance("d-pending"))
            .await
            .expect("create");
    }
    // A finished instance whose row cannot be read: a listing that reads it fails.
    damage_metadata(&path, "c-failed");
    let backend = RedbBackend::open_with(&path, waiting()).expect("reopen");
    assert_eq!(
        ids(backend
            .list_instances(&InstanceFilter::all().unfinished())
            .await),
        ["b-running", "d-pending"]
    );
    assert_eq!(
        ids(backend
            .list_instances(
                &InstanceFilter::all()
                    .unfinished()
                    .starting_after("b-running")
            )
            .await),
        ["d-pending"]
    );
    assert!(
        backend
            .list_instances(&InstanceFilter::all())
            .await
            .is_err(),
        "the whole listing reads the damaged row"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_file_gets_its_indexes_when_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    {
        let backend = RedbBackend::open_with(&path, relaxed()).expect("open");
        run_instance(&backend, "done", InstanceStatus::Completed, 1, 10).await;
        run_instance(&backend, "running", InstanceStatus::Running, 1, 10).await;
    }
    // What version 1 wrote: no index tables.
    {
        let db = raw_open(&path);
        let txn = db.begin_write().expect("write");
        assert!(txn.delete_table(UNFINISHED).expect("delete"));
        assert!(txn.delete_table(FINISHED).expect("delete"));
        txn.open_table(META)
            .expect("meta")
            .insert("schema_version", 1)
            .expect("insert");
        txn.commit().expect("commit");
    }
    let backend = RedbBackend::open_with(&path, waiting()).expect("reopen");
    assert_eq!(
        ids(backend
            .list_instances(&InstanceFilter::all().unfinished())
            .await),
        ["running"]
    );
    assert_eq!(
        backend
            .purge_finished_before(u64::MAX, 10)
            .await
            .expect("purge"),
        ["done"]
    );
    drop(backend);
    let db = raw_open(&path);
    let txn = db.begin_read().expect("read");
    let version = txn
        .open_table(META)
        .expect("meta")
        .get("schema_version")
        .expect("get")
        .map(|guard| guard.value());
    assert_eq!(version, Some(SCHEMA_VERSION));
    let tables: Vec<String> = txn
        .list_tables()
        .expect("tables")
        .map(|table| table.name().to_owned())
        .collect();
    assert!(tables.contains(&"unfinished".to_owned()), "{tables:?}");
}

/// 1,000 finished instances, purged, then compacted: the file shrinks to a fraction of its
/// size, and what is left (the unfinished instance) is intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_and_compacting_shrinks_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    {
        let backend = RedbBackend::open_with(&path, relaxed()).expect("open");
        for n in 0..1_000 {
            run_instance(
                &backend,
                &format!("run-{n:04}"),
                InstanceStatus::Completed,
                20,
                200,
            )
            .await;
        }
        run_instance(&backend, "still-running", InstanceStatus::Running, 20, 200).await;
    }
    let full;
    {
        let backend = RedbBackend::open_with(
            &path,
            RedbOptions {
                lock_wait: Duration::from_secs(10),
                ..relaxed()
            },
        )
        .expect("reopen");
        // The first backend has closed the file: it is whole.
        full = std::fs::metadata(&path).expect("size").len();
        let mut purged = 0;
        loop {
            let batch = backend
                .purge_finished_before(u64::MAX, 100)
                .await
                .expect("purge");
            purged += batch.len();
            if batch.len() < 100 {
                break;
            }
        }
        assert_eq!(purged, 1_000);
    }
    let compaction = compact(&path, &waiting()).expect("compact");
    assert!(
        compaction.bytes_after * 4 < full,
        "compacted to {} bytes from {full}",
        compaction.bytes_after
    );
    let backend = RedbBackend::open_with(&path, waiting()).expect("reopen after compaction");
    assert_eq!(
        ids(backend.list_instances(&InstanceFilter::all()).await),
        ["still-running"]
    );
    assert_eq!(
        backend
            .read_history("still-running")
            .await
            .expect("history")
            .len(),
        20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_refuses_an_open_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.redb");
    let backend = RedbBackend::open(&path).expect("open");
    assert!(matches!(
        compact(&path, &RedbOptions::default()),
        Err(durable_redb::OpenError::InUse { .. })
    ));
    drop(backend);
}
