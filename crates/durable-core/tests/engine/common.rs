use std::sync::Arc;
use std::time::Duration;

use durable_core::{
    Client, Clock, Event, InstanceFilter, InstanceMetadata, MemoryBackend, MetricsSnapshot,
    Registry, Worker, WorkerOptions,
};
use serde::Serialize;

/// Fixed start of the test clock, so two runs record identical timestamps.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// Generous (virtual) time limit for an orchestration to finish.
pub const LIMIT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Executions cached between episodes.
    Cached,
    /// No cache: every episode replays the full history.
    Evicted,
}

pub fn options(mode: Mode) -> WorkerOptions {
    WorkerOptions {
        cache_capacity: match mode {
            Mode::Cached => 64,
            Mode::Evicted => 0,
        },
        ..WorkerOptions::default()
    }
}

pub struct Harness {
    pub backend: Arc<MemoryBackend>,
    pub client: Client,
    pub worker: Worker,
}

pub fn start(registry: Registry, mode: Mode) -> Harness {
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let client = Client::new(backend.clone());
    let worker = Worker::start(backend.clone(), registry, options(mode));
    Harness {
        backend,
        client,
        worker,
    }
}

/// What one run of a scenario left behind.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub metadata: InstanceMetadata,
    pub history: Vec<Event>,
    /// Every instance in the store (the scheduled one and its sub-orchestrations), by id,
    /// with its history.
    pub instances: Vec<(InstanceMetadata, Vec<Event>)>,
}

/// Every instance in the store with its history, ordered by id.
pub async fn all_instances(client: &Client) -> Vec<(InstanceMetadata, Vec<Event>)> {
    let mut all = Vec::new();
    for metadata in client.list(&InstanceFilter::all()).await.expect("list") {
        let history = client
            .history(&metadata.instance_id)
            .await
            .expect("history");
        all.push((metadata, history));
    }
    all
}

/// Schedules `name` with `input` as instance "test", waits for it to finish, returns the
/// metadata, history and the worker's counters.
pub async fn run_once<I: Serialize + ?Sized>(
    registry: Registry,
    mode: Mode,
    name: &str,
    input: &I,
) -> (Run, MetricsSnapshot) {
    let harness = start(registry, mode);
    harness
        .client
        .schedule(name, "test", input)
        .await
        .expect("schedule");
    let metadata = harness
        .client
        .wait_for_completion("test", LIMIT)
        .await
        .expect("completion");
    let history = harness.client.history("test").await.expect("history");
    let instances = all_instances(&harness.client).await;
    let metrics = harness.worker.metrics();
    harness.worker.shutdown().await;
    (
        Run {
            metadata,
            history,
            instances,
        },
        metrics,
    )
}

/// Runs the scenario cached and evicted; asserts identical metadata and history, and that the
/// evicted run really replayed while the cached one did not. Returns the run.
pub async fn run_both<I: Serialize + ?Sized>(
    registry: impl Fn() -> Registry,
    name: &str,
    input: &I,
) -> Run {
    let (cached, cached_metrics) = run_once(registry(), Mode::Cached, name, input).await;
    let (evicted, evicted_metrics) = run_once(registry(), Mode::Evicted, name, input).await;
    assert_eq!(cached, evicted, "cached and evicted runs differ");
    assert_eq!(cached_metrics.replayed_events, 0, "cached run replayed");
    assert_eq!(evicted_metrics.cache_hits, 0);
    assert_eq!(evicted_metrics.full_replays, evicted_metrics.episodes);
    if evicted_metrics.episodes > 1 {
        assert!(
            evicted_metrics.replayed_events > 0,
            "evicted run did not replay"
        );
    }
    cached
}

/// The events of `kind` in a history.
pub fn count(history: &[Event], kind: &str) -> usize {
    history
        .iter()
        .filter(|event| event.kind_name() == kind)
        .count()
}
