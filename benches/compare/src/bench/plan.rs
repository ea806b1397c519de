//! `cargo xtask bench plan [--files N] [--runs N]`: time and memory of plan construction
//! (`ocfl_plan::plan::plan`) for a synthetic stage of N files (default 100,000), for a new
//! object and for an update of an object holding N files. Target: under 1 s and 100 MiB.
//!
//! Each run is a fresh process (`bench plan-once`), so that no run inherits the heap of
//! another. In it the stage (and, for an update, the base inventory) is built first; then
//! the peak RSS is reset, `plan` runs, and the memory attributed to planning is the peak
//! during `plan` minus the RSS just before it. See docs/benchmarks.md.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::Context;
use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::path::LogicalPath;
use ocfl_plan::plan::{Base, Outcome, Plan, PlanOptions, plan};
use ocfl_plan::stage::{Stage, StagedFile};
use serde_json::{Value, json};

use super::memory;

/// Design targets for planning 100,000 files.
pub const TARGET_SECONDS: f64 = 1.0;
/// Design target: memory attributable to planning, in MiB.
pub const TARGET_MIB: f64 = 100.0;

/// What is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A new object holding every file.
    New,
    /// A second version of such an object: 5% of the files changed, 5% removed, as many
    /// added (the design's commit benchmark's v2).
    Update,
}

impl Scenario {
    const ALL: [Scenario; 2] = [Scenario::New, Scenario::Update];

    fn key(self) -> &'static str {
        match self {
            Scenario::New => "new",
            Scenario::Update => "update",
        }
    }
}

/// `bench plan`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files in the synthetic stage.
    #[arg(long, default_value = "100000")]
    files: usize,
    /// Timed runs per scenario, each a fresh process.
    #[arg(long, default_value = "3", value_parser = super::positive)]
    runs: usize,
}

/// `bench plan ARGS`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Args { files, runs } = args;
    let load_before = super::load_average();
    let mut results = Vec::new();
    for scenario in Scenario::ALL {
        let mut figures = Vec::new();
        for run in 0..runs {
            let measured = plan_in_child(files, scenario)?;
            eprintln!(
                "bench: plan {} run {}/{runs}: {:.3} s, {:.1} MiB",
                scenario.key(),
                run + 1,
                measured.seconds,
                measured.planning_mib()
            );
            figures.push(measured);
        }
        results.push((scenario, figures));
    }
    let load = [load_before, super::load_average()];
    print_table(files, &results);
    println!("load average (1 min) before and after: {load:?}");
    println!("{}", summary_json(files, runs, &results, load));
    Ok(ExitCode::SUCCESS)
}

/// What one `plan-once` process measured.
#[derive(Debug, Clone, PartialEq)]
struct Measured {
    seconds: f64,
    steps: usize,
    inventory_bytes: usize,
    /// RSS once the stage (and base) were built, just before `plan`.
    before_kib: u64,
    /// The peak RSS while `plan` ran (reset just before it).
    peak_kib: u64,
    /// The RSS with the plan built and still held.
    after_kib: u64,
}

impl Measured {
    /// The peak during planning above the RSS before it.
    fn planning_mib(&self) -> f64 {
        self.peak_kib.saturating_sub(self.before_kib) as f64 / 1024.0
    }

    fn to_json(&self) -> Value {
        json!({
            "seconds": self.seconds,
            "steps": self.steps,
            "inventory_bytes": self.inventory_bytes,
            "before_kib": self.before_kib,
            "peak_kib": self.peak_kib,
            "after_kib": self.after_kib,
        })
    }

    fn from_json(value: &Value) -> Option<Measured> {
        let int = |key: &str| value.get(key)?.as_u64();
        Some(Measured {
            seconds: value.get("seconds")?.as_f64()?,
            steps: usize::try_from(int("steps")?).ok()?,
            inventory_bytes: usize::try_from(int("inventory_bytes")?).ok()?,
            before_kib: int("before_kib")?,
            peak_kib: int("peak_kib")?,
            after_kib: int("after_kib")?,
        })
    }
}

fn plan_in_child(files: usize, scenario: Scenario) -> anyhow::Result<Measured> {
    let exe = std::env::current_exe().context("locating the ocfl-bench-compare binary")?;
    let output = Command::new(&exe)
        .args(["bench", "plan-once", &files.to_string(), scenario.key()])
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "plan-once failed ({})",
        output.status
    );
    let value: Value =
        serde_json::from_slice(&output.stdout).context("parsing plan-once output")?;
    Measured::from_json(&value).context("plan-once output lacks a figure")
}

/// `bench plan-once FILES new|update`: one measurement, as a JSON line on stdout.
pub fn run_once(files: usize, scenario: Scenario) -> anyhow::Result<ExitCode> {
    let options = PlanOptions::new("urn:bench:plan", "root/obj", "root.ocfl-work/run");
    let created = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")?;
    let (base, stage) = match scenario {
        Scenario::New => (None, synthetic_stage(files, false)?),
        Scenario::Update => {
            let first = planned(plan(
                None,
                &synthetic_stage(files, false)?,
                &options,
                created,
            )?)?;
            let base = Base::from_bytes(&options.object_path, first.inventory.as_bytes())?;
            (Some(base), synthetic_stage(files, true)?)
        }
    };

    let before = memory::resident()?;
    memory::reset_peak()?;
    let start = Instant::now();
    let outcome = plan(base.as_ref(), &stage, &options, created)?;
    let seconds = start.elapsed().as_secs_f64();
    let after = memory::resident()?;
    let made = planned(outcome)?;
    let measured = Measured {
        seconds,
        steps: made.steps.len(),
        inventory_bytes: made.inventory.len(),
        before_kib: before.now_kib,
        peak_kib: after.peak_kib,
        after_kib: after.now_kib,
    };
    println!("{}", measured.to_json());
    Ok(ExitCode::SUCCESS)
}

fn planned(outcome: Outcome) -> anyhow::Result<Plan> {
    match outcome {
        Outcome::Update(plan) => Ok(plan),
        Outcome::NoChange { head } => anyhow::bail!("planning found no change from {head}"),
    }
}

/// `files` files of 2 KiB in nested directories, every one with its own content. With
/// `second_version`: file i changed when i % 20 == 0, removed when i % 20 == 1, and one new
/// file per removed one.
fn synthetic_stage(files: usize, second_version: bool) -> anyhow::Result<Stage> {
    let mut staged = BTreeMap::new();
    let mut add = |logical: String, content: &[u8]| -> anyhow::Result<()> {
        let file = StagedFile {
            source: PathBuf::from(format!("/source/{logical}")),
            digest: Digest::new(DigestAlgorithm::Sha512.digest_bytes(content).as_str()),
            size: 2048,
            fixity: Vec::new(),
        };
        staged.insert(LogicalPath::new(logical)?, file);
        Ok(())
    };
    for i in 0..files {
        let logical = format!("d{:02}/e{:03}/file-{i:06}.bin", i % 97, i % 451);
        let (changed, removed) = (i % 20 == 0, i % 20 == 1);
        match (second_version, changed, removed) {
            (true, _, true) => add(
                format!("added/file-{i:06}.bin"),
                &[&i.to_le_bytes()[..], b"added"].concat(),
            )?,
            (true, true, _) => add(logical, &[&i.to_le_bytes()[..], b"changed"].concat())?,
            _ => add(logical, &i.to_le_bytes())?,
        }
    }
    Ok(Stage::from_parts(
        DigestAlgorithm::Sha512,
        Vec::new(),
        staged,
    )?)
}

fn print_table(files: usize, results: &[(Scenario, Vec<Measured>)]) {
    println!(
        "{:<8} {:>7} {:>7} {:>10} {:>10} {:>14} {:>12} {:>12}",
        "plan", "files", "steps", "median s", "max s", "planning MiB", "before MiB", "peak MiB"
    );
    for (scenario, figures) in results {
        let Some(worst) = worst_memory(figures) else {
            continue;
        };
        let times: Vec<f64> = figures.iter().map(|m| m.seconds).collect();
        println!(
            "{:<8} {:>7} {:>7} {:>10.3} {:>10.3} {:>14.1} {:>12.1} {:>12.1}",
            scenario.key(),
            files,
            worst.steps,
            super::median(&times).unwrap_or(f64::NAN),
            times.iter().copied().fold(0.0, f64::max),
            worst.planning_mib(),
            worst.before_kib as f64 / 1024.0,
            worst.peak_kib as f64 / 1024.0,
        );
    }
    for (scenario, figures) in results {
        let (time, memory) = met(figures);
        println!(
            "target {}: median < {TARGET_SECONDS} s: {}; planning < {TARGET_MIB} MiB: {}",
            scenario.key(),
            yes_no(time),
            yes_no(memory)
        );
    }
}

fn yes_no(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The run whose planning took the most memory.
fn worst_memory(figures: &[Measured]) -> Option<&Measured> {
    figures
        .iter()
        .max_by(|a, b| a.planning_mib().total_cmp(&b.planning_mib()))
}

/// (time target met by the median, memory target met by every run).
fn met(figures: &[Measured]) -> (bool, bool) {
    let times: Vec<f64> = figures.iter().map(|m| m.seconds).collect();
    let time = super::median(&times).is_some_and(|t| t < TARGET_SECONDS);
    let memory = !figures.is_empty() && figures.iter().all(|m| m.planning_mib() < TARGET_MIB);
    (time, memory)
}

fn summary_json(
    files: usize,
    runs: usize,
    results: &[(Scenario, Vec<Measured>)],
    load: [Option<f64>; 2],
) -> Value {
    let scenarios: Vec<Value> = results
        .iter()
        .map(|(scenario, figures)| {
            let times: Vec<f64> = figures.iter().map(|m| m.seconds).collect();
            let (time_met, memory_met) = met(figures);
            json!({
                "scenario": scenario.key(),
                "runs": figures.iter().map(Measured::to_json).collect::<Vec<_>>(),
                "median_s": super::median(&times),
                "max_planning_mib": worst_memory(figures).map(Measured::planning_mib),
                "met": { "time": time_met, "memory": memory_met },
            })
        })
        .collect();
    json!({
        "bench": "plan",
        "load_average": load,
        "files": files,
        "runs": runs,
        "targets": { "seconds": TARGET_SECONDS, "planning_mib": TARGET_MIB },
        "scenarios": scenarios,
        "met": results.iter().all(|(_, f)| met(f) == (true, true)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_second_version_changes_removes_and_adds_a_twentieth_each() {
        let first = synthetic_stage(200, false).unwrap();
        let second = synthetic_stage(200, true).unwrap();
        assert_eq!(first.len(), 200);
        assert_eq!(first.state().len(), 200, "every file has its own content");
        assert_eq!(second.len(), 200);
        let changed = first
            .files()
            .iter()
            .filter(|(path, file)| {
                second
                    .files()
                    .get(*path)
                    .is_some_and(|f| f.digest != file.digest)
            })
            .count();
        let removed = first
            .files()
            .keys()
            .filter(|p| !second.files().contains_key(*p))
            .count();
        assert_eq!((changed, removed), (10, 10));
        assert_eq!(synthetic_stage(200, true).unwrap(), second, "deterministic");
    }

    #[test]
    fn measurements_survive_their_json_form() {
        let measured = Measured {
            seconds: 0.25,
            steps: 12,
            inventory_bytes: 3456,
            before_kib: 1000,
            peak_kib: 3048,
            after_kib: 2000,
        };
        assert_eq!(
            Measured::from_json(&measured.to_json()),
            Some(measured.clone())
        );
        assert_eq!(measured.planning_mib(), 2.0);
        assert_eq!(met(&[measured]), (true, true));
        assert_eq!(met(&[]), (false, false));
    }
}
