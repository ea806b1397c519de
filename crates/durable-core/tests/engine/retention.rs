use std::sync::Arc;
use std::time::Duration;

use durable_core::{
    Client, Clock, InstanceFilter, InstanceStatus, MemoryBackend, OrchestrationContext, Registry,
    Retention, Worker, WorkerOptions,
};

use crate::common::{EPOCH_MS, LIMIT};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn waiting() -> Registry {
    Registry::new().orchestration("wait", |ctx: OrchestrationContext, (): ()| async move {
        ctx.wait_for_event::<u32>("go").await?;
        Ok(())
    })
}

fn start(retention: Retention) -> (Arc<MemoryBackend>, Client, Worker) {
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let worker = Worker::start(
        backend.clone(),
        waiting(),
        WorkerOptions {
            retention,
            ..WorkerOptions::default()
        },
    );
    (backend.clone(), Client::new(backend), worker)
}

async fn finish(client: &Client, id: &str) {
    client.schedule("wait", id, &()).await.expect("schedule");
    client.raise_event(id, "go", &1u32).await.expect("raise");
    let done = client.wait_for_completion(id, LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Completed);
}

async fn ids(client: &Client) -> Vec<String> {
    client
        .list(&InstanceFilter::all())
        .await
        .expect("list")
        .into_iter()
        .map(|metadata| metadata.instance_id)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_worker_purges_finished_instances_past_their_retention() {
    let (_backend, client, worker) = start(Retention {
        keep_finished: Some(DAY),
        check_every: Duration::from_secs(3600),
        batch: 2,
    });
    // Five old ones: more than one batch.
    for n in 0..5 {
        finish(&client, &format!("old-{n}")).await;
    }
    client
        .schedule("wait", "unfinished", &())
        .await
        .expect("schedule");
    client
        .wait_for_start("unfinished", LIMIT)
        .await
        .expect("start");
    tokio::time::advance(DAY - Duration::from_secs(2 * 3600)).await;
    finish(&client, "recent").await;
    assert_eq!(ids(&client).await.len(), 7, "nothing is due yet");
    // Past the day, the next check purges the old ones, in batches.
    tokio::time::advance(Duration::from_secs(3 * 3600)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(ids(&client).await, ["recent", "unfinished"]);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn kept_forever_means_never_purged() {
    let (_backend, client, worker) = start(Retention {
        check_every: Duration::from_secs(3600),
        ..Retention::keep_forever()
    });
    finish(&client, "old").await;
    tokio::time::advance(400 * DAY).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(ids(&client).await, ["old"]);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn clients_purge_by_age_on_the_backend_clock() {
    let (_backend, client, worker) = start(Retention::keep_forever());
    finish(&client, "a").await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    finish(&client, "b").await;
    let purged = client
        .purge_finished_older_than(Duration::from_secs(1800), 10)
        .await
        .expect("purge");
    assert_eq!(purged, ["a"]);
    let purged = client
        .purge_finished_older_than(Duration::ZERO, 10)
        .await
        .expect("purge");
    assert!(purged.is_empty(), "b changed at this very millisecond");
    tokio::time::advance(Duration::from_millis(1)).await;
    let purged = client
        .purge_finished_older_than(Duration::ZERO, 10)
        .await
        .expect("purge");
    assert_eq!(purged, ["b"]);
    worker.shutdown().await;
}

/// A worker started with the default options keeps finished instances for 30 days, then
/// purges them.
#[tokio::test(start_paused = true)]
async fn by_default_finished_instances_are_kept_thirty_days() {
    let (_backend, client, worker) = start(WorkerOptions::default().retention);
    finish(&client, "done").await;
    tokio::time::advance(29 * DAY).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(ids(&client).await, ["done"], "purged before 30 days");
    tokio::time::advance(2 * DAY).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        ids(&client).await,
        Vec::<String>::new(),
        "kept past 30 days"
    );
    worker.shutdown().await;
}
