//! `cargo xtask bench store [--runs N] [--window W] [--rounds R] [--keep DIR]`: how big the
//! embedded engine store grows and what it costs to open and list, with and without purging.
//!
//! `cargo run --release -p ocfl-durable --example store_growth` builds the stores: `N` runs
//! of small objects (a real commit's histories, copied under fresh ids) kept, purged as a
//! worker's retention does every `W` runs, and all purged then compacted; plus a store with
//! only the three unfinished runs. Then the release `ocfl` times, `R` rounds in rotating
//! order, `ocfl runs` (unfinished runs) on the big store and on the empty one, and on the
//! big store with `--verify-store` (every page checksummed on open, as every command did
//! before). Prints a table and one JSON line; see docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{build_ours, median, workspace_root};

/// The bound on a purged store after 10,000 runs.
const PURGED_LIMIT_BYTES: u64 = 10 * 1024 * 1024;
/// `ocfl runs` on the big store over the empty one: "costs the same", within noise.
const LISTING_RATIO_LIMIT: f64 = 1.5;

/// `bench store`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs in the big store.
    #[arg(long, default_value_t = Args::DEFAULT.runs, value_parser = super::positive)]
    runs: usize,
    /// Retention window: runs between two purges.
    #[arg(long, default_value_t = Args::DEFAULT.window, value_parser = super::positive)]
    window: usize,
    /// Timed rounds of `ocfl runs`, in rotating order.
    #[arg(long, default_value_t = Args::DEFAULT.rounds, value_parser = super::positive)]
    rounds: usize,
    /// Build the stores under DIR and keep them.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

impl Args {
    /// The defaults, as `bench engine` runs this benchmark after its own.
    pub const DEFAULT: Args = Args {
        runs: 10_000,
        window: 1_000,
        rounds: 10,
        keep: None,
    };
}

pub fn run(options: Args) -> anyhow::Result<()> {
    let workspace = workspace_root();
    let temp = tempfile::tempdir()?;
    let dir = options
        .keep
        .clone()
        .unwrap_or_else(|| temp.path().join("stores"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let ocfl = build_ours(&workspace);
    eprintln!(
        "bench: building the stores ({} runs, retention window {})",
        options.runs, options.window
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "ocfl-durable",
            "--example",
            "store_growth",
            "--",
            "--dir",
        ])
        .arg(&dir)
        .args(["--runs", &options.runs.to_string()])
        .args(["--window", &options.window.to_string()])
        .current_dir(&workspace)
        .output()
        .context("running the store_growth example")?;
    if !output.status.success() {
        bail!(
            "store_growth failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stores: Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "store_growth printed {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })?;
    let path = |key: &str| -> anyhow::Result<PathBuf> {
        stores[key]
            .as_str()
            .map(PathBuf::from)
            .with_context(|| format!("store_growth gave no {key}"))
    };
    let root = path("root")?;
    let (kept, empty) = (path("kept")?, path("empty")?);

    // Warm the page cache for each case, then rotate the order every round.
    let cases: [(&str, &Path, bool); 3] = [
        ("big", &kept, false),
        ("empty", &empty, false),
        ("big_verified", &kept, true),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for &(_, store, verify) in &cases {
        time_runs(&ocfl, &root, store, verify)?;
    }
    for round in 0..options.rounds {
        for k in 0..cases.len() {
            let index = (round + k) % cases.len();
            let (_, store, verify) = cases[index];
            times[index].push(time_runs(&ocfl, &root, store, verify)?);
        }
    }
    let medians: Vec<f64> = times
        .iter()
        .map(|t| median(t).unwrap_or(f64::NAN))
        .collect();
    let listing_ratio = medians[0] / medians[1];
    let verify_ratio = medians[2] / medians[0];
    let bytes = |key: &str| stores[key].as_u64().unwrap_or(0);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let purged_ok = bytes("purged_bytes") <= PURGED_LIMIT_BYTES;
    let listing_ok = listing_ratio <= LISTING_RATIO_LIMIT;

    println!(
        "engine store after {} runs of small objects ({} events each, {} instances):",
        options.runs, stores["events_per_run"], stores["instances_per_run"]
    );
    println!(
        "  {:<44} {:>10.2} MiB",
        "kept (never purged)",
        mib(bytes("kept_bytes"))
    );
    println!(
        "  {:<44} {:>10.2} MiB",
        format!("retention purging every {} runs", options.window),
        mib(bytes("retained_bytes"))
    );
    println!(
        "  {:<44} {:>10.2} MiB",
        "all purged, before compaction",
        mib(bytes("purged_bytes_before_compaction"))
    );
    println!(
        "  {:<44} {:>10.2} MiB  (target <= 10 MiB: {})",
        "all purged, compacted",
        mib(bytes("purged_bytes")),
        if purged_ok { "met" } else { "NOT met" }
    );
    println!(
        "`ocfl runs` (3 unfinished runs), median of {} rounds:",
        options.rounds
    );
    println!("  {:<44} {:>10.1} ms", "big store", medians[0] * 1e3);
    println!("  {:<44} {:>10.1} ms", "empty store", medians[1] * 1e3);
    println!(
        "  {:<44} {:>10.1} ms",
        "big store, --verify-store (as before)",
        medians[2] * 1e3
    );
    println!(
        "  big / empty {listing_ratio:.2} (target <= {LISTING_RATIO_LIMIT}: {}); \
         verified / not {verify_ratio:.1}x",
        if listing_ok { "met" } else { "NOT met" }
    );
    println!(
        "{}",
        json!({
            "bench": "store",
            "runs": options.runs,
            "window": options.window,
            "rounds": options.rounds,
            "events_per_run": stores["events_per_run"],
            "kept_bytes": bytes("kept_bytes"),
            "retained_bytes": bytes("retained_bytes"),
            "purged_bytes_before_compaction": bytes("purged_bytes_before_compaction"),
            "purged_bytes": bytes("purged_bytes"),
            "purged_target_met": purged_ok,
            "runs_big_s": medians[0],
            "runs_empty_s": medians[1],
            "runs_big_verified_s": medians[2],
            "big_over_empty": listing_ratio,
            "listing_target_met": listing_ok,
            "verified_over_unverified": verify_ratio,
        })
    );
    Ok(())
}

/// Seconds of one `ocfl --root ROOT --state STORE runs`, which must list the three runs.
fn time_runs(ocfl: &Path, root: &Path, store: &Path, verify: bool) -> anyhow::Result<f64> {
    let mut command = Command::new(ocfl);
    command
        .arg("--root")
        .arg(root)
        .arg("--state")
        .arg(store)
        .args(["runs", "--json"])
        .env_remove("OCFL_BACKEND")
        .env_remove("OCFL_WORK_AREA")
        .env_remove("OCFL_VERIFY_STORE");
    if verify {
        command.arg("--verify-store");
    }
    let started = Instant::now();
    let output = command.output().context("running ocfl runs")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "ocfl runs on {} failed: {}",
            store.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let lines = output
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    if lines != 3 {
        bail!(
            "ocfl runs on {} listed {lines} runs, not 3",
            store.display()
        );
    }
    Ok(seconds)
}
