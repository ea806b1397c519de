//! duroxide 0.1.32 with its SQLite provider on a file in a temporary directory, running the
//! workloads of `cargo run --release -p durable-redb --example throughput` with the same
//! command line and the same JSON line out:
//!
//! ```text
//! cargo run --release --manifest-path benches/engine-compare/Cargo.toml -- \
//!     --orchestrations N --activities K [--fan-out] [--runs R]
//! ```
//!
//! duroxide logs its warnings (for example its retried "database is locked" errors) to stdout
//! unless `RUST_LOG` says otherwise: run it with `RUST_LOG=error` to keep stdout to the JSON
//! line (`cargo xtask bench engine` does).
//!
//! The runtime runs with duroxide's default options (2 orchestration turns and 2 activities at
//! once) unless `--orchestration-concurrency` / `--activity-concurrency` say otherwise. `p50_ms` is measured
//! like ours: with one orchestration per run, from the call that starts it until
//! `wait_for_orchestration` returns; with more, it is not measured (duroxide's status does not
//! carry timestamps) and reported as null.

use std::sync::Arc;
use std::time::{Duration, Instant};

use duroxide::providers::sqlite::SqliteProvider;
use duroxide::runtime::registry::ActivityRegistry;
use duroxide::runtime::{Runtime, RuntimeOptions};
use duroxide::{ActivityContext, Client, OrchestrationContext, OrchestrationRegistry, OrchestrationStatus};

const USAGE: &str = "usage: engine-compare --orchestrations N --activities K [--fan-out] [--runs R] \
                     [--orchestration-concurrency N] [--activity-concurrency N]";
const LIMIT: Duration = Duration::from_secs(3600);

struct Options {
    orchestrations: u64,
    activities: u64,
    fan_out: bool,
    runs: u64,
    /// `None`: duroxide's default.
    orchestration_concurrency: Option<usize>,
    activity_concurrency: Option<usize>,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        orchestrations: 1,
        activities: 1,
        fan_out: false,
        runs: 1,
        orchestration_concurrency: None,
        activity_concurrency: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> Result<u64, String> {
            args.next()
                .and_then(|value| value.parse().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{arg} needs a positive number\n{USAGE}"))
        };
        match arg.as_str() {
            "--orchestrations" => options.orchestrations = number()?,
            "--activities" => options.activities = number()?,
            "--runs" => options.runs = number()?,
            "--fan-out" => options.fan_out = true,
            "--orchestration-concurrency" => options.orchestration_concurrency = Some(number()? as usize),
            "--activity-concurrency" => options.activity_concurrency = Some(number()? as usize),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(options)
}

fn parse_u64(text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|error| format!("not a number {text:?}: {error}"))
}

async fn sequence(ctx: OrchestrationContext, input: String) -> Result<String, String> {
    let n = parse_u64(&input)?;
    let mut value = 0u64;
    for _ in 0..n {
        value = parse_u64(&ctx.schedule_activity("inc", value.to_string()).await?)?;
    }
    Ok(value.to_string())
}

async fn fan_out(ctx: OrchestrationContext, input: String) -> Result<String, String> {
    let n = parse_u64(&input)?;
    let calls: Vec<_> = (0..n).map(|k| ctx.schedule_activity("inc", k.to_string())).collect();
    let mut sum = 0u64;
    for result in ctx.join(calls).await {
        sum += parse_u64(&result?)?;
    }
    Ok(sum.to_string())
}

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    Some(sorted[rank.min(sorted.len() - 1)])
}

async fn run(options: Options) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("duroxide.db");
    std::fs::File::create(&path)?;
    let url = format!("sqlite:{}", path.display());
    let store = Arc::new(SqliteProvider::new(&url, None).await?);
    let activities = ActivityRegistry::builder()
        .register("inc", |_ctx: ActivityContext, input: String| async move {
            Ok((parse_u64(&input)? + 1).to_string())
        })
        .build();
    let orchestrations = OrchestrationRegistry::builder()
        .register("sequence", sequence)
        .register("fan_out", fan_out)
        .build();
    let defaults = RuntimeOptions::default();
    let runtime_options = RuntimeOptions {
        orchestration_concurrency: options.orchestration_concurrency.unwrap_or(defaults.orchestration_concurrency),
        worker_concurrency: options.activity_concurrency.unwrap_or(defaults.worker_concurrency),
        ..defaults
    };
    let (orchestration_concurrency, activity_concurrency) =
        (runtime_options.orchestration_concurrency, runtime_options.worker_concurrency);
    let runtime = Runtime::start_with_options(store.clone(), activities, orchestrations, runtime_options).await;
    let client = Client::new(store);
    let name = if options.fan_out { "fan_out" } else { "sequence" };
    let k = options.activities;
    let want = if options.fan_out { k * (k + 1) / 2 } else { k }.to_string();
    let mut latencies_ms = Vec::new();
    let mut failed = 0u64;
    let started = Instant::now();
    for run in 0..options.runs {
        let ids: Vec<String> = (0..options.orchestrations).map(|n| format!("run{run}-{n}")).collect();
        let scheduled = Instant::now();
        for id in &ids {
            client.start_orchestration(id.as_str(), name, k.to_string()).await?;
        }
        for id in &ids {
            let status = client.wait_for_orchestration(id, LIMIT).await?;
            if options.orchestrations == 1 {
                latencies_ms.push(scheduled.elapsed().as_secs_f64() * 1000.0);
            }
            match status {
                OrchestrationStatus::Completed { output, .. } if output == want => {}
                _ => failed += 1,
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    runtime.shutdown(Some(10_000)).await;
    latencies_ms.sort_by(f64::total_cmp);
    let orchestrations = options.orchestrations * options.runs;
    let activities = orchestrations * options.activities;
    Ok(serde_json::json!({
        "engine": "duroxide-0.1.32-sqlite",
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
    }))
}

fn main() -> std::process::ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("engine-compare: cannot start tokio: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("engine-compare: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
