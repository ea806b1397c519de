//! Engine throughput on a file-backed redb store in a temporary directory, power-loss durable.
//!
//! ```text
//! cargo run --release -p durable-redb --example throughput -- \
//!     --orchestrations N --activities K [--fan-out] [--runs R] [--relaxed]
//! ```
//!
//! Built with `--features testing`, `--lazy-attempts` restores the behaviour before attempt
//! counts were made durable ahead of the work (a redelivery's attempt rides on the next
//! commit), so `cargo xtask bench engine` measures what the durable record costs.
//!
//! Schedules N orchestrations that each run K activities (one after the other, or all at once
//! with `--fan-out`), waits for all of them, `--runs` times in a row on the same store, and
//! prints one JSON line:
//!
//! - `orchestrations`, `activities`: the totals over all runs; `failed`: orchestrations that
//!   did not complete with the expected output;
//! - `seconds`: wall time of all runs; `activities_per_s`: activities / seconds;
//! - `p50_ms`, `p99_ms`: end-to-end latency of one orchestration, from the call that
//!   schedules it to its completion. With one orchestration per run it is measured by the
//!   client (schedule until `wait_for_completion` returns); with more, from the instance's
//!   created and last-updated times recorded by the store (millisecond resolution);
//! - `peak_rss_bytes`: the process's peak resident set size (`VmHWM`);
//! - `durability`: `power_loss` (default) or `relaxed`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use durable_core::{
    ActivityContext, Client, Failure, InstanceStatus, OrchestrationContext, Registry, Worker,
    WorkerOptions,
};
use durable_redb::{Durability, RedbBackend, RedbOptions};
use futures::future::join_all;

const LIMIT: Duration = Duration::from_secs(3600);

/// The command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "throughput",
    about = "Engine throughput on a file-backed redb store"
)]
struct Options {
    /// Orchestrations per run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    orchestrations: u64,
    /// Activities per orchestration.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    activities: u64,
    /// Run each orchestration's activities all at once instead of one after the other.
    #[arg(long)]
    fan_out: bool,
    /// Runs in a row on the same store.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Commit without waiting for the disk (redb's `Durability::None` between syncs).
    #[arg(long)]
    relaxed: bool,
    /// Attempt counts ride on the next commit (the behaviour before they were made durable
    /// ahead of the work); needs the `testing` feature.
    #[arg(long)]
    lazy_attempts: bool,
    /// Orchestrations a worker runs at once (default: durable-core's).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    orchestration_concurrency: Option<usize>,
    /// Activities a worker runs at once (default: durable-core's).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    activity_concurrency: Option<usize>,
}

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

fn expected(options: &Options) -> u64 {
    let k = options.activities;
    if options.fan_out { k * (k + 1) / 2 } else { k }
}

/// Peak resident set size of this process, from /proc (0 where unavailable).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn run(options: Options) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let durability = if options.relaxed {
        Durability::Relaxed {
            flush_interval: Duration::from_millis(100),
        }
    } else {
        Durability::PowerLoss
    };
    let backend = Arc::new(RedbBackend::open_temporary(RedbOptions {
        durability,
        ..RedbOptions::default()
    })?);
    #[cfg(feature = "testing")]
    backend.bench_lazy_attempts(options.lazy_attempts);
    let defaults = WorkerOptions::default();
    let worker_options = WorkerOptions {
        orchestration_concurrency: options
            .orchestration_concurrency
            .unwrap_or(defaults.orchestration_concurrency),
        activity_concurrency: options
            .activity_concurrency
            .unwrap_or(defaults.activity_concurrency),
        ..defaults
    };
    let (orchestration_concurrency, activity_concurrency) = (
        worker_options.orchestration_concurrency,
        worker_options.activity_concurrency,
    );
    let worker = Worker::start(backend.clone(), registry(), worker_options);
    let client = Client::new(backend.clone());
    let name = if options.fan_out {
        "fan_out"
    } else {
        "sequence"
    };
    let want = expected(&options);
    let mut latencies_ms = Vec::new();
    let mut failed = 0u64;
    let started = Instant::now();
    for run in 0..options.runs {
        let ids: Vec<String> = (0..options.orchestrations)
            .map(|n| format!("run{run}-{n}"))
            .collect();
        let scheduled = Instant::now();
        for id in &ids {
            client.schedule(name, id, &options.activities).await?;
        }
        for id in &ids {
            let done = client.wait_for_completion(id, LIMIT).await?;
            if options.orchestrations == 1 {
                latencies_ms.push(scheduled.elapsed().as_secs_f64() * 1000.0);
            } else {
                latencies_ms.push(done.updated_at_ms.saturating_sub(done.created_at_ms) as f64);
            }
            let ok = done.status == InstanceStatus::Completed
                && done.output::<u64>().ok().flatten() == Some(want);
            if !ok {
                failed += 1;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = backend.write_stats();
    worker.shutdown().await;
    latencies_ms.sort_by(f64::total_cmp);
    let orchestrations = options.orchestrations * options.runs;
    let activities = orchestrations * options.activities;
    Ok(serde_json::json!({
        "engine": "durable-redb",
        "workload": if options.fan_out { "fan_out" } else { "sequential" },
        "orchestrations": orchestrations,
        "activities": activities,
        "seconds": seconds,
        "activities_per_s": activities as f64 / seconds,
        "p50_ms": percentile(&latencies_ms, 0.5),
        "p99_ms": percentile(&latencies_ms, 0.99),
        "failed": failed,
        "peak_rss_bytes": peak_rss_bytes(),
        "orchestration_concurrency": orchestration_concurrency,
        "activity_concurrency": activity_concurrency,
        "commits": stats.commits,
        "writes_per_commit": stats.writes as f64 / stats.commits.max(1) as f64,
        "durability": if options.relaxed { "relaxed" } else { "power_loss" },
        "attempts": if options.lazy_attempts { "lazy" } else { "durable" },
    }))
}

fn main() -> std::process::ExitCode {
    let options = <Options as clap::Parser>::parse();
    if options.lazy_attempts && !cfg!(feature = "testing") {
        eprintln!("throughput: --lazy-attempts needs the `testing` feature");
        return std::process::ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("throughput: cannot start tokio: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("throughput: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
