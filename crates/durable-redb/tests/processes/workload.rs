//! The crash test's workload: sequential chains, fan-outs, timers and retries, with outputs
//! known in advance, and every activity run recorded in a side file.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use durable_core::{ActivityContext, Failure, OrchestrationContext, Registry, RetryPolicy};
use futures::future::join_all;

/// One orchestration of the workload: its id, orchestration name, input and expected output.
pub struct Planned {
    pub instance_id: String,
    pub name: &'static str,
    pub input: u64,
    pub output: u64,
}

/// The instances every seed runs (the same set: the seed only moves the moment of the kill).
pub fn plan() -> Vec<Planned> {
    let mut plan = Vec::new();
    for i in 0..3 {
        let steps = 6 + 2 * i;
        plan.push(Planned {
            instance_id: format!("chain-{i}"),
            name: "chain",
            input: steps,
            // value -> 2 * value + 1, `steps` times from 0.
            output: (1 << steps) - 1,
        });
    }
    for i in 0..2 {
        let width = 8 + 4 * i;
        plan.push(Planned {
            instance_id: format!("fan-{i}"),
            name: "fan",
            input: width,
            // sum of 2k + 1 for k < width.
            output: width * width,
        });
    }
    for i in 0..2 {
        plan.push(Planned {
            instance_id: format!("timer-{i}"),
            name: "timer",
            input: 10 + 15 * i,
            output: 2 * (10 + 15 * i) + 1,
        });
    }
    for i in 0..2 {
        plan.push(Planned {
            instance_id: format!("retry-{i}"),
            name: "retry",
            input: i,
            output: 1000 + i,
        });
    }
    plan
}

/// Appends one line to the run record. O_APPEND: concurrent writers (and a killed one) never
/// interleave within a line this short.
fn record(runs: &Path, line: &str) -> Result<(), Failure> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(runs)
        .map_err(|error| Failure::application(format!("run record: {error}")))?;
    file.write_all(format!("{line}\n").as_bytes())
        .map_err(|error| Failure::application(format!("run record: {error}")))
}

fn run_line(ctx: &ActivityContext) -> String {
    format!(
        "{} {} {}",
        ctx.instance_id(),
        ctx.execution_id(),
        ctx.task_id()
    )
}

/// How many runs of `flaky` for `key` the record holds.
fn flaky_runs(runs: &Path, key: &str) -> usize {
    let text = std::fs::read_to_string(runs).unwrap_or_default();
    text.lines()
        .filter(|line| line.strip_prefix("flaky ") == Some(key))
        .count()
}

pub fn registry(runs: PathBuf) -> Registry {
    let step_runs = runs.clone();
    let flaky_record = runs;
    Registry::new()
        .activity("step", move |ctx: ActivityContext, n: u64| {
            let runs = step_runs.clone();
            async move {
                record(&runs, &run_line(&ctx))?;
                Ok::<_, Failure>(2 * n + 1)
            }
        })
        .activity("flaky", move |ctx: ActivityContext, key: String| {
            let runs = flaky_record.clone();
            async move {
                record(&runs, &run_line(&ctx))?;
                // Fails its first two runs for a key (counted across processes), then succeeds.
                let before = flaky_runs(&runs, &key);
                record(&runs, &format!("flaky {key}"))?;
                if before < 2 {
                    return Err(Failure::application(format!("flaky {key}: run {before}")));
                }
                Ok(1000 + key.trim_start_matches("retry-").parse::<u64>().unwrap_or(0))
            }
        })
        .orchestration(
            "chain",
            |ctx: OrchestrationContext, steps: u64| async move {
                let mut value = 0u64;
                for _ in 0..steps {
                    value = ctx.call_activity("step", &value).await?;
                }
                Ok(value)
            },
        )
        .orchestration("fan", |ctx: OrchestrationContext, width: u64| async move {
            let calls: Vec<_> = (0..width)
                .map(|k| ctx.call_activity::<_, u64>("step", &k))
                .collect();
            let mut sum = 0;
            for result in join_all(calls).await {
                sum += result?;
            }
            Ok(sum)
        })
        .orchestration("timer", |ctx: OrchestrationContext, ms: u64| async move {
            ctx.create_timer(Duration::from_millis(ms)).await?;
            let value: u64 = ctx.call_activity("step", &ms).await?;
            Ok(value)
        })
        .orchestration("retry", |ctx: OrchestrationContext, i: u64| async move {
            let policy = RetryPolicy::new(5).first_interval(Duration::from_millis(5));
            let value: u64 = ctx
                .call_activity_with_retry("flaky", &format!("retry-{i}"), policy)
                .await?;
            Ok(value)
        })
}
