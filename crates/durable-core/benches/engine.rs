//! Engine benchmarks on the in-memory backend:
//!
//! - `replay`: the cost of rebuilding an orchestration from its history, per event
//!   (`Registry::verify_history` on the history of 1,000 sequential activities);
//! - `one_orchestration`: one orchestration with 1,000 and 10,000 activities, sequential and
//!   fanned out, end to end (no quadratic replay: 10,000 must cost at most 12x 1,000);
//! - `throughput`: 200 orchestrations of 5 sequential activities each, end to end.
//!
//! Run with `cargo bench -p durable-core --bench engine`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use durable_core::{
    ActivityContext, Client, Failure, MemoryBackend, OrchestrationContext, Registry, Worker,
    WorkerOptions,
};
use futures::future::join_all;
use tokio::runtime::Runtime;

const LIMIT: Duration = Duration::from_secs(600);

fn registry() -> Registry {
    Registry::new()
        .activity("inc", |_ctx: ActivityContext, n: u64| async move {
            Ok::<_, Failure>(n + 1)
        })
        .orchestration("sequence", |ctx: OrchestrationContext, n: u64| async move {
            let mut value = 0u64;
            for _ in 0..n {
                value = ctx.call_activity("inc", &value).await?;
            }
            Ok(value)
        })
        .orchestration("fan_out", |ctx: OrchestrationContext, n: u64| async move {
            let calls: Vec<_> = (0..n)
                .map(|k| ctx.call_activity::<_, u64>("inc", &k))
                .collect();
            let mut sum = 0u64;
            for result in join_all(calls).await {
                sum += result?;
            }
            Ok(sum)
        })
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// Schedules `instances` orchestrations `name(n)` on a fresh backend and worker and waits for
/// all of them; returns the last one's history length.
async fn run(name: &str, n: u64, instances: usize) -> u64 {
    let backend = Arc::new(MemoryBackend::new());
    let options = WorkerOptions {
        orchestration_concurrency: 8,
        activity_concurrency: 16,
        ..WorkerOptions::default()
    };
    let worker = Worker::start(backend.clone(), registry(), options);
    let client = Client::new(backend);
    for instance in 0..instances {
        client
            .schedule(name, &format!("i{instance}"), &n)
            .await
            .expect("schedule");
    }
    let mut history_len = 0;
    for instance in 0..instances {
        let done = client
            .wait_for_completion(&format!("i{instance}"), LIMIT)
            .await
            .expect("completion");
        assert!(done.output.is_some(), "{done:?}");
        history_len = done.history_len;
    }
    worker.shutdown().await;
    history_len
}

fn replay(c: &mut Criterion) {
    let runtime = runtime();
    let history = runtime.block_on(async {
        let backend = Arc::new(MemoryBackend::new());
        let worker = Worker::start(backend.clone(), registry(), WorkerOptions::default());
        let client = Client::new(backend);
        client
            .schedule("sequence", "i", &1000u64)
            .await
            .expect("schedule");
        client
            .wait_for_completion("i", LIMIT)
            .await
            .expect("completion");
        worker.shutdown().await;
        client.history("i").await.expect("history")
    });
    let registry = registry();
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(history.len() as u64));
    group.bench_function("sequence_of_1000_activities", |b| {
        b.iter(|| registry.verify_history("i", &history).expect("replays"));
    });
    group.finish();
}

fn one_orchestration(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("one_orchestration");
    group.sample_size(10);
    for name in ["sequence", "fan_out"] {
        for n in [1_000u64, 10_000] {
            group.throughput(Throughput::Elements(n));
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| runtime.block_on(run(name, n, 1)));
            });
        }
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("throughput");
    group.sample_size(10);
    group.throughput(Throughput::Elements(200 * 5));
    group.bench_function("200_orchestrations_x_5_activities", |b| {
        b.iter(|| runtime.block_on(run("sequence", 5, 200)));
    });
    group.finish();
}

criterion_group!(benches, replay, one_orchestration, throughput);
criterion_main!(benches);
