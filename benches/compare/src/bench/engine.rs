//! `cargo xtask bench engine [--runs N] [--orchestration-concurrency N]
//! [--activity-concurrency N]`: durable-redb against duroxide 0.1.32 (SQLite provider), same
//! workloads, same run, each engine in its own process on a file-backed store in a temporary
//! directory. See docs/benchmarks.md.
//!
//! Ours is `cargo run --release -p durable-redb --example throughput`, duroxide's the
//! separate workspace `benches/engine-compare` (built here, never by `cargo build`); both
//! take the same command line and print one JSON line. Each workload runs `--runs` times per
//! engine, alternating which goes first; the medians are compared.
//!
//! With `--postgres URL` (or `OCFL_TEST_POSTGRES_URL` set), durable-postgres runs the same
//! workloads too, with one and with two worker processes (`cargo run --release -p
//! durable-postgres --example postgres_throughput -- --url URL --processes N`, each run on a fresh
//! schema of that database), in the same run: rows `pg x1` and `pg x2`.
//!
//! With a PostgreSQL URL the `sequential` and `fan_out` workloads also run on DBOS Transact
//! (`dbos_driver.py` beside this file, `python3` with `pip install dbos==3.4.0`), one process,
//! on a database of its own on the same server (`ocfl_bench_dbos`, dropped and created by the
//! driver: the role needs CREATEDB): row `dbos`, and the JSON line's `ratio_pg_x1_vs_dbos`.
//! Without the `dbos` module the row is skipped, with a note on stderr.
//!
//! What issue 15's hardening costs, before and after in the same run, each pair measured
//! alternately on the same workloads: `redb lazy` is durable-redb with
//! `--lazy-attempts` (the example built with the `testing` feature: a redelivery's attempt
//! rides on the next commit instead of being flushed before the work runs), `pg fetch-tok`
//! durable-postgres with `--tokens-from-fetch` (the `bench` feature: lease tokens drawn inside
//! the asynchronously committed fetch instead of from durable blocks). Then `bench store`
//! (the engine store after 10,000 commits kept, retained and purged) runs, unless
//! `--no-store`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Worker processes durable-postgres runs with.
const POSTGRES_PROCESSES: [u32; 2] = [1, 2];

/// Issue 19: durable-postgres (one process) / DBOS activities per second at least this.
const DBOS_RATIO: f64 = 2.0;
/// The workloads DBOS runs (the two shapes).
const DBOS_WORKLOADS: [&str; 2] = ["sequential", "fan_out"];

/// The design's targets: ours / duroxide activities per second at least this.
const THROUGHPUT_RATIO: f64 = 10.0;
/// One orchestration with one activity, end to end, p50 at most this.
const LATENCY_MS: f64 = 10.0;

struct Workload {
    name: &'static str,
    args: &'static [&'static str],
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "sequential",
        args: &["--orchestrations", "1000", "--activities", "10"],
    },
    Workload {
        name: "fan_out",
        args: &["--orchestrations", "1", "--activities", "1000", "--fan-out"],
    },
    Workload {
        name: "latency",
        args: &[
            "--orchestrations",
            "1",
            "--activities",
            "1",
            "--runs",
            "200",
        ],
    },
];

/// `bench engine`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs of each workload per engine.
    #[arg(long, default_value = "1", value_parser = super::positive)]
    runs: usize,
    /// Passed on to both engines' throughput programs.
    #[arg(long, value_name = "N")]
    orchestration_concurrency: Option<String>,
    /// Passed on to both engines' throughput programs.
    #[arg(long, value_name = "N")]
    activity_concurrency: Option<String>,
    /// Run durable-postgres (and DBOS) on this database too (default:
    /// `OCFL_TEST_POSTGRES_URL` when set).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Skip `bench store` at the end.
    #[arg(long)]
    no_store: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runs = args.runs;
    let mut concurrency: Vec<String> = Vec::new();
    if let Some(n) = args.orchestration_concurrency {
        concurrency.extend(["--orchestration-concurrency".to_owned(), n]);
    }
    if let Some(n) = args.activity_concurrency {
        concurrency.extend(["--activity-concurrency".to_owned(), n]);
    }
    let postgres = args.postgres.or_else(|| {
        std::env::var("OCFL_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())
    });
    let store = !args.no_store;
    let workspace = super::workspace_root();
    let postgres = match postgres {
        Some(url) => {
            let binary = build(
                &workspace,
                &[
                    "build",
                    "--release",
                    "-p",
                    "durable-postgres",
                    "--features",
                    "bench",
                    "--example",
                    "postgres_throughput",
                ],
                workspace.join("target/release/examples/postgres_throughput"),
            )?;
            Some((url, binary))
        }
        None => {
            eprintln!(
                "bench: no --postgres URL or OCFL_TEST_POSTGRES_URL: durable-postgres skipped"
            );
            None
        }
    };
    let dbos = match &postgres {
        Some((url, _)) => dbos_driver(&workspace).map(|driver| (url.clone(), driver)),
        None => None,
    };
    let ours = build(
        &workspace,
        &[
            "build",
            "--release",
            "-p",
            "durable-redb",
            "--features",
            "testing",
            "--example",
            "throughput",
        ],
        workspace.join("target/release/examples/throughput"),
    )?;
    let compare = workspace.join("benches/engine-compare");
    let theirs = build(
        &compare,
        &["build", "--release", "--manifest-path", "Cargo.toml"],
        compare.join("target/release/engine-compare"),
    )?;

    let mut results = Vec::new();
    for workload in &WORKLOADS {
        let mut ours_lines = Vec::new();
        let mut theirs_lines = Vec::new();
        for run in 0..runs {
            let order: [(&Path, &mut Vec<Value>); 2] = if run % 2 == 0 {
                [(&ours, &mut ours_lines), (&theirs, &mut theirs_lines)]
            } else {
                [(&theirs, &mut theirs_lines), (&ours, &mut ours_lines)]
            };
            for (binary, lines) in order {
                lines.push(run_engine(binary, workload, &concurrency)?);
            }
        }
        let mut postgres_lines: Vec<(u32, Vec<Value>)> = Vec::new();
        if let Some((url, binary)) = &postgres {
            for processes in POSTGRES_PROCESSES {
                let mut args = concurrency.clone();
                args.extend([
                    "--url".to_owned(),
                    url.clone(),
                    "--processes".to_owned(),
                    processes.to_string(),
                ]);
                let mut lines = Vec::new();
                for _ in 0..runs {
                    lines.push(run_engine(binary, workload, &args)?);
                }
                postgres_lines.push((processes, lines));
            }
        }
        let mut dbos_lines = Vec::new();
        if let Some((url, driver)) = &dbos
            && DBOS_WORKLOADS.contains(&workload.name)
        {
            for _ in 0..runs {
                dbos_lines.push(run_dbos(driver, url, workload)?);
            }
        }
        results.push((
            workload,
            ours_lines,
            theirs_lines,
            postgres_lines,
            dbos_lines,
        ));
    }

    let mut rows = Vec::new();
    let mut met = serde_json::Map::new();
    println!(
        "{:<11} {:<8} {:>12} {:>10} {:>9} {:>9} {:>8} {:>10}",
        "workload", "engine", "activities/s", "seconds", "p50 ms", "p99 ms", "failed", "peak RSS"
    );
    for (workload, ours_lines, theirs_lines, postgres_lines, dbos_lines) in &results {
        let ours_rate = median(ours_lines, "activities_per_s");
        let theirs_rate = median(theirs_lines, "activities_per_s");
        let throughput_ratio = ratio(ours_rate, theirs_rate);
        let postgres_names: Vec<String> = postgres_lines
            .iter()
            .map(|(processes, _)| format!("pg x{processes}"))
            .collect();
        let engines = [("ours", ours_lines), ("duroxide", theirs_lines)]
            .into_iter()
            .chain(
                postgres_names
                    .iter()
                    .zip(postgres_lines)
                    .map(|(name, (_, lines))| (name.as_str(), lines)),
            )
            .chain((!dbos_lines.is_empty()).then_some(("dbos", dbos_lines)));
        for (engine, lines) in engines {
            println!(
                "{:<11} {:<8} {:>12.1} {:>10.3} {:>9} {:>9} {:>8} {:>9.1}M",
                workload.name,
                engine,
                median(lines, "activities_per_s").unwrap_or(f64::NAN),
                median(lines, "seconds").unwrap_or(f64::NAN),
                format_ms(median(lines, "p50_ms")),
                format_ms(median(lines, "p99_ms")),
                total(lines, "failed"),
                median(lines, "peak_rss_bytes").unwrap_or(f64::NAN) / (1024.0 * 1024.0),
            );
        }
        let ours_failed = total(ours_lines, "failed");
        match workload.name {
            "latency" => {
                let p50 = median(ours_lines, "p50_ms");
                met.insert(
                    "latency_p50".to_owned(),
                    json!(p50.map(|p50| p50 <= LATENCY_MS && ours_failed == 0)),
                );
            }
            name => {
                met.insert(
                    name.to_owned(),
                    json!(
                        throughput_ratio.map(|ratio| ratio >= THROUGHPUT_RATIO && ours_failed == 0)
                    ),
                );
            }
        }
        let pg_x1_rate = postgres_lines
            .iter()
            .find(|(processes, _)| *processes == 1)
            .and_then(|(_, lines)| median(lines, "activities_per_s"));
        let dbos_ratio = ratio(pg_x1_rate, median(dbos_lines, "activities_per_s"));
        if DBOS_WORKLOADS.contains(&workload.name) {
            met.insert(
                format!("{}_pg_vs_dbos", workload.name),
                json!(dbos_ratio.map(|ratio| ratio >= DBOS_RATIO)),
            );
        }
        rows.push(json!({
            "workload": workload.name,
            "args": workload.args,
            "ours": ours_lines,
            "duroxide": theirs_lines,
            "ratio_activities_per_s": throughput_ratio,
            "ratio_p50": ratio(median(theirs_lines, "p50_ms"), median(ours_lines, "p50_ms")),
            "postgres": postgres_lines.iter().map(|(processes, lines)| json!({
                "processes": processes,
                "runs": lines,
                "activities_per_s": median(lines, "activities_per_s"),
                "ratio_activities_per_s_vs_duroxide":
                    ratio(median(lines, "activities_per_s"), theirs_rate),
                "ratio_activities_per_s_vs_redb":
                    ratio(median(lines, "activities_per_s"), ours_rate),
            })).collect::<Vec<_>>(),
            "dbos": dbos_lines,
            "ratio_pg_x1_vs_dbos": dbos_ratio,
        }));
    }
    let costs = hardening_costs(&ours, postgres.as_ref(), runs.max(2), &concurrency)?;
    for (workload, _, _, _, _) in &results {
        if let Some(row) = rows.iter().find(|row| row["workload"] == workload.name) {
            eprintln!(
                "bench: {}: ours/duroxide activities/s = {}, pg x1/dbos = {}",
                workload.name, row["ratio_activities_per_s"], row["ratio_pg_x1_vs_dbos"]
            );
        }
    }
    println!(
        "{}",
        json!({
            "bench": "engine",
            "runs": runs,
            "concurrency": concurrency,
            "workloads": rows,
            "targets": {
                "sequential": format!("ours/duroxide activities/s >= {THROUGHPUT_RATIO}"),
                "fan_out": format!("ours/duroxide activities/s >= {THROUGHPUT_RATIO}"),
                "latency_p50": format!("ours p50 <= {LATENCY_MS} ms"),
                "sequential_pg_vs_dbos": format!("pg x1/dbos activities/s >= {DBOS_RATIO}"),
                "fan_out_pg_vs_dbos": format!("pg x1/dbos activities/s >= {DBOS_RATIO}"),
            },
            "met": met,
            "hardening_costs": costs,
        })
    );
    if store {
        eprintln!("bench: the engine store after 10,000 commits (cargo xtask bench store)");
        super::store::run(super::store::Args::DEFAULT)?;
    }
    Ok(())
}

/// A switch a hardening fix can be turned back off with: the flag, and the rows' names.
struct Switch {
    what: &'static str,
    flag: &'static str,
    after: &'static str,
    before: &'static str,
}

/// The cost of the durable attempt record (redb) and of the durable lease tokens
/// (PostgreSQL, one process): each workload run `rounds` times with the fix and without it,
/// alternating which goes first; prints the rows and returns them as JSON.
fn hardening_costs(
    redb: &Path,
    postgres: Option<&(String, PathBuf)>,
    rounds: usize,
    concurrency: &[String],
) -> anyhow::Result<Value> {
    let attempts = Switch {
        what: "attempt record",
        flag: "--lazy-attempts",
        after: "redb",
        before: "redb lazy",
    };
    let tokens = Switch {
        what: "lease tokens",
        flag: "--tokens-from-fetch",
        after: "pg x1",
        before: "pg fetch-tok",
    };
    let mut pairs: Vec<(&Switch, &Path, Vec<String>)> =
        vec![(&attempts, redb, concurrency.to_vec())];
    if let Some((url, binary)) = postgres {
        let mut args = concurrency.to_vec();
        args.extend([
            "--url".to_owned(),
            url.clone(),
            "--processes".to_owned(),
            "1".to_owned(),
        ]);
        pairs.push((&tokens, binary.as_path(), args));
    }
    let mut rows = Vec::new();
    println!(
        "{:<15} {:<11} {:<13} {:>12} {:>9} {:>9} {:>10}",
        "fix", "workload", "engine", "activities/s", "p50 ms", "commits", "after/before"
    );
    for (switch, binary, args) in pairs {
        for workload in &WORKLOADS {
            let with_flag: Vec<String> = args
                .iter()
                .cloned()
                .chain(std::iter::once(switch.flag.to_owned()))
                .collect();
            let (mut after, mut before) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                if round % 2 == 0 {
                    after.push(run_engine(binary, workload, &args)?);
                    before.push(run_engine(binary, workload, &with_flag)?);
                } else {
                    before.push(run_engine(binary, workload, &with_flag)?);
                    after.push(run_engine(binary, workload, &args)?);
                }
            }
            let rate = |lines: &[Value]| median(lines, "activities_per_s");
            let cost = ratio(rate(&after), rate(&before));
            for (name, lines) in [(switch.before, &before), (switch.after, &after)] {
                println!(
                    "{:<15} {:<11} {:<13} {:>12.1} {:>9} {:>9} {:>10}",
                    switch.what,
                    workload.name,
                    name,
                    rate(lines).unwrap_or(f64::NAN),
                    format_ms(median(lines, "p50_ms")),
                    median(lines, "commits").map_or_else(|| "-".to_owned(), |c| format!("{c:.0}")),
                    if name == switch.after {
                        cost.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"))
                    } else {
                        String::new()
                    },
                );
            }
            rows.push(json!({
                "fix": switch.what,
                "workload": workload.name,
                "before": {"engine": switch.before, "runs": before},
                "after": {"engine": switch.after, "runs": after},
                "ratio_activities_per_s_after_over_before": cost,
                "ratio_p50_after_over_before":
                    ratio(median(&after, "p50_ms"), median(&before, "p50_ms")),
            }));
        }
    }
    Ok(Value::Array(rows))
}

/// The DBOS driver, if `python3` can import `dbos` (else a note that its row is skipped).
fn dbos_driver(workspace: &Path) -> Option<PathBuf> {
    let found = Command::new("python3")
        .args(["-c", "import dbos"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!(
            "bench: python3 cannot import dbos (pip install dbos==3.4.0): the DBOS row is skipped"
        );
        return None;
    }
    Some(workspace.join("benches/compare/src/bench/dbos_driver.py"))
}

/// Runs the DBOS driver on one workload (its URL not echoed: it may hold a password).
fn run_dbos(driver: &Path, url: &str, workload: &Workload) -> anyhow::Result<Value> {
    eprintln!(
        "bench: python3 {} {} --url URL",
        driver.display(),
        workload.args.join(" ")
    );
    let output = Command::new("python3")
        .arg(driver)
        .args(workload.args)
        .args(["--url", url])
        .output()
        .context("running python3 with the DBOS driver")?;
    json_line(&output, driver)
}

/// Runs `cargo <args>` in `dir` and returns `binary` (which the build makes).
fn build(dir: &Path, args: &[&str], binary: PathBuf) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: (in {}) cargo {}", dir.display(), args.join(" "));
    let status = Command::new(cargo)
        .current_dir(dir)
        .args(args)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed in {}", args.join(" "), dir.display());
    }
    Ok(binary)
}

/// Runs one engine on one workload; its last stdout line is its JSON result.
/// `extra` follows the workload's arguments (concurrency, durable-postgres's `--url`, whose
/// value is not echoed: it may hold a password).
fn run_engine(binary: &Path, workload: &Workload, extra: &[String]) -> anyhow::Result<Value> {
    let shown: Vec<&str> = extra
        .iter()
        .enumerate()
        .map(|(n, arg)| {
            if n > 0 && extra[n - 1] == "--url" {
                "URL"
            } else {
                arg.as_str()
            }
        })
        .collect();
    eprintln!(
        "bench: {} {} {}",
        binary.display(),
        workload.args.join(" "),
        shown.join(" ")
    );
    let output = Command::new(binary)
        .args(workload.args)
        .args(extra)
        // duroxide logs its warnings to stdout otherwise.
        .env("RUST_LOG", "error")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    json_line(&output, binary)
}

/// The last JSON line a program printed, which is its result.
fn json_line(output: &std::process::Output, program: &Path) -> anyhow::Result<Value> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            program.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .with_context(|| format!("{} printed no JSON line", program.display()))?;
    let value: Value = serde_json::from_str(line).context("parsing its JSON line")?;
    eprintln!("bench:   {line}");
    Ok(value)
}

fn median(lines: &[Value], field: &str) -> Option<f64> {
    let mut values: Vec<f64> = lines
        .iter()
        .filter_map(|line| line[field].as_f64())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

fn total(lines: &[Value], field: &str) -> u64 {
    lines.iter().filter_map(|line| line[field].as_u64()).sum()
}

fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(numerator), Some(denominator)) if denominator > 0.0 => Some(numerator / denominator),
        _ => None,
    }
}

fn format_ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2}"))
}
