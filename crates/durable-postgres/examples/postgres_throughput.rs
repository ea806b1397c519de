//! Engine throughput on PostgreSQL, with one or two worker processes.
//!
//! ```text
//! cargo run --release -p durable-postgres --example postgres_throughput -- --url URL \
//!     --orchestrations N --activities K [--fan-out] [--runs R] [--processes 1|2]
//! ```
//!
//! (Not called `throughput`: durable-redb's example has that name, and two examples of one
//! workspace with the same name overwrite each other's binary.)
//!
//! The same workloads and the same JSON line as durable-redb's `throughput` example (see
//! there for the fields), on a fresh schema of the database at `--url` (default: the
//! `OCFL_TEST_POSTGRES_URL` variable), dropped afterwards. With `--processes 2` a second
//! process (this program again) runs a worker on the same schema beside this one's, until
//! this one closes its standard input.
//!
//! Built with `--features bench`, `--tokens-from-fetch` draws lease tokens inside the fetch's
//! asynchronously committed transaction, as before the durable token blocks, so that `cargo
//! xtask bench engine` measures what the fix costs.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use durable_core::{
    ActivityContext, Client, Failure, InstanceStatus, OrchestrationContext, Registry, Worker,
    WorkerOptions,
};
use durable_postgres::{PostgresBackend, testing::fresh_schema_url};
use futures::future::join_all;

const LIMIT: Duration = Duration::from_secs(3600);
/// Set in the second process: the URL of the schema to work on.
const CHILD_VARIABLE: &str = "DURABLE_POSTGRES_THROUGHPUT_WORKER";

/// The command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "postgres_throughput",
    about = "Engine throughput on PostgreSQL"
)]
struct Options {
    /// The database; a fresh schema of it is used and dropped afterwards.
    #[arg(long, env = "OCFL_TEST_POSTGRES_URL")]
    url: Option<String>,
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
    /// Worker processes: 1, or 2 (this program again, started by this one).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=2))]
    processes: u64,
    /// Draw lease tokens inside the fetch's asynchronously committed transaction (the
    /// behaviour before the durable token blocks); needs the `bench` feature.
    #[arg(long)]
    tokens_from_fetch: bool,
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

fn worker_options(options: &Options) -> WorkerOptions {
    let defaults = WorkerOptions::default();
    WorkerOptions {
        orchestration_concurrency: options
            .orchestration_concurrency
            .unwrap_or(defaults.orchestration_concurrency),
        activity_concurrency: options
            .activity_concurrency
            .unwrap_or(defaults.activity_concurrency),
        ..defaults
    }
}

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

/// The second process: a worker on the schema at `url` until standard input closes.
async fn child(url: String, options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let backend = Arc::new(PostgresBackend::connect(&url).await?);
    #[cfg(feature = "bench")]
    backend.bench_tokens_from_fetch(options.tokens_from_fetch);
    let worker = Worker::start(backend, registry(), worker_options(&options));
    println!("ready");
    tokio::task::spawn_blocking(|| {
        let mut rest = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut rest);
    })
    .await?;
    worker.shutdown().await;
    Ok(())
}

async fn run(options: Options) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let base = options
        .url
        .clone()
        .ok_or("no database: give --url or set OCFL_TEST_POSTGRES_URL")?;
    let url = fresh_schema_url(&base, "throughput").await?;
    let backend = Arc::new(PostgresBackend::connect(&url).await?);
    #[cfg(feature = "bench")]
    backend.bench_tokens_from_fetch(options.tokens_from_fetch);
    let schema = backend.schema().to_owned();
    let mut second = None;
    if options.processes > 1 {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(std::env::args().skip(1))
            .env(CHILD_VARIABLE, &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut process = command.spawn()?;
        // Wait until its worker runs, so that both start together.
        let mut stdout = process.stdout.take().ok_or("no stdout")?;
        tokio::task::spawn_blocking(move || {
            let mut byte = [0u8; 6];
            let _ = stdout.read_exact(&mut byte);
        })
        .await?;
        second = Some(process);
    }
    let worker_options = worker_options(&options);
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
    let k = options.activities;
    let want = if options.fan_out { k * (k + 1) / 2 } else { k };
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
    worker.shutdown().await;
    if let Some(mut process) = second {
        drop(process.stdin.take());
        let status = tokio::task::spawn_blocking(move || process.wait()).await??;
        if !status.success() {
            return Err(format!("the second worker process failed: {status}").into());
        }
    }
    drop_schema(&base, &schema).await;
    latencies_ms.sort_by(f64::total_cmp);
    let orchestrations = options.orchestrations * options.runs;
    let activities = orchestrations * options.activities;
    Ok(serde_json::json!({
        "engine": "durable-postgres",
        "workload": if options.fan_out { "fan_out" } else { "sequential" },
        "processes": options.processes,
        "tokens": if options.tokens_from_fetch { "drawn_in_fetch" } else { "durable_blocks" },
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
        "durability": "postgresql_commit",
    }))
}

/// Drops the benchmark's schema (best effort: a leftover schema only takes space).
async fn drop_schema(base: &str, schema: &str) {
    if let Ok((client, connection)) = tokio_postgres::connect(base, tokio_postgres::NoTls).await {
        tokio::spawn(connection);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await;
    }
}

fn main() -> std::process::ExitCode {
    let options = <Options as clap::Parser>::parse();
    if options.tokens_from_fetch && !cfg!(feature = "bench") {
        eprintln!("postgres_throughput: --tokens-from-fetch needs the `bench` feature");
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
    if let Ok(url) = std::env::var(CHILD_VARIABLE) {
        return match runtime.block_on(child(url, options)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("throughput (second worker): {error}");
                std::process::ExitCode::FAILURE
            }
        };
    }
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
