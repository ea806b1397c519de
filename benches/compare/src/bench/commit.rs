//! `cargo xtask bench commit`: the end-to-end commit benchmark. For each content profile
//! (the design's 'many', 'large' and 'mixed', generated from a seed) and a v2 of it (5% of
//! the files changed, 5% added, 5% removed), times in one run, alternating the order, each
//! run into a fresh destination:
//!
//! - the floor: `cp -r` of the source plus `sha512sum` of every copied file;
//! - ours: `ocfl commit` of v1, then of v2 (durable: the engine's state store, fsync);
//! - rocfl 1.7 doing the same when it is installed (not durable).
//!
//! Every result of ours and rocfl is checked untimed: `ocfl validate`, and the head state
//! compared path by path and digest by digest with the v2 source. `--files N` instead
//! measures the peak RSS of one `ocfl commit` of N files, for two file sizes.
//! See docs/benchmarks.md.

pub(crate) mod check;
mod edit;
pub(crate) mod edit_floor;
pub(crate) mod measure;
pub(crate) mod mixed;
pub(crate) mod revise;
pub(crate) mod tools;
pub(crate) mod tree;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use super::Scale;
use super::generate::SEED;
use super::source::{SourceProfile, SourceTree, generate_source, seed_of};
use check::{State, Verdict, check_root, expected_state};
use measure::{Measurement, Meter};
use mixed::{Mixed, generate_mixed};
use revise::{Revision, revise};
use tools::{Committed, Contenders, Sources, Tool};

/// Design targets per profile: our median total (v1 + v2) over this tool's.
fn target(profile: Profile) -> Option<(Tool, f64)> {
    match profile {
        Profile::Many => Some((Tool::Rocfl, 0.8)),
        Profile::Large => Some((Tool::Floor, 1.0)),
        Profile::Mixed => None,
    }
}

/// Memory target of the `--files` mode: peak RSS of a commit, in MiB.
const RSS_TARGET_MIB: f64 = 200.0;

/// "Independent of file sizes": the largest peak at most this much above the smallest.
const RSS_INDEPENDENCE: f64 = 1.25;

/// The design's limit on the engine's store after a 100,000-file commit, in MiB (reported).
const STORE_TARGET_MIB: f64 = 50.0;

const MIB: f64 = 1024.0 * 1024.0;

/// A content profile of this benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    Many,
    Large,
    Mixed,
}

impl Profile {
    fn key(self) -> &'static str {
        match self {
            Profile::Many => "many",
            Profile::Large => "large",
            Profile::Mixed => "mixed",
        }
    }

    fn seed(self, scale: Scale) -> u64 {
        match self {
            Profile::Mixed => SEED ^ 0x0003_13ED,
            Profile::Many | Profile::Large => seed_of(self.source(scale)),
        }
    }

    /// 'many' and 'large' as `bench stage` generates them ('many' at full scale is the
    /// validation benchmark's 'many' object).
    fn source(self, scale: Scale) -> SourceProfile {
        match (self, scale) {
            (Profile::Many, Scale::Full) => SourceProfile::MANY,
            (Profile::Many, Scale::Small) => SourceProfile::Many { files: 2_000 },
            (Profile::Large, Scale::Full) => SourceProfile::LARGE,
            (_, Scale::Small) => SourceProfile::Large {
                files: 8,
                bytes: 8 << 20,
            },
            (_, Scale::Full) => SourceProfile::LARGE,
        }
    }

    fn generate(self, scale: Scale, dir: &Path) -> anyhow::Result<SourceTree> {
        let seed = self.seed(scale);
        match (self, scale) {
            (Profile::Mixed, Scale::Full) => generate_mixed(dir, Mixed::FULL, seed),
            (Profile::Mixed, Scale::Small) => generate_mixed(dir, Mixed::SMALL, seed),
            _ => generate_source(dir, self.source(scale), seed),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// Time the profiles against the floor and rocfl.
    Profiles(Vec<Profile>),
    /// Peak RSS of committing `files` files, for each size (in KiB).
    Memory { files: usize, sizes_kib: Vec<u64> },
    /// Changing `edit` files of a `files`-file object file by file, against a full commit.
    Edit { files: usize, edit: usize },
}

/// The command line, validated.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    mode: Mode,
    scale: Scale,
    runs: usize,
    keep: Option<PathBuf>,
    /// An `ocfl` binary to time instead of building `target/release/ocfl`.
    ours: Option<PathBuf>,
}

/// `--profile`: which profiles are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProfileChoice {
    Many,
    Large,
    Mixed,
    All,
}

/// `bench commit`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profiles timed (all by default).
    #[arg(long, value_enum, conflicts_with = "files")]
    profile: Option<ProfileChoice>,
    /// The profiles' size.
    #[arg(long, value_enum, default_value = "full")]
    scale: Scale,
    /// Timed runs per tool.
    #[arg(long, default_value = "3", value_parser = super::positive)]
    runs: usize,
    /// Generate the sources and roots under DIR and keep them.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// An `ocfl` binary to time instead of building `target/release/ocfl`.
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
    /// Instead of the profiles: the peak RSS of committing N files (at least 2), or with
    /// `--edit` file-level edits of an object of N files.
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..))]
    files: Option<usize>,
    /// With `--files`: the file sizes, in KiB (default 1,16).
    #[arg(long, value_name = "A,B", requires = "files", conflicts_with = "edit", value_parser = super::positive_list)]
    // The full path makes clap take the list as one value (`positive_list` splits it).
    sizes_kib: Option<::std::vec::Vec<u64>>,
    /// With `--files`: change K files one by one, against a full commit.
    #[arg(long, value_name = "K", requires = "files", value_parser = super::positive)]
    edit: Option<usize>,
}

impl From<Args> for Options {
    fn from(args: Args) -> Options {
        let all = vec![Profile::Many, Profile::Large, Profile::Mixed];
        // clap has enforced the exclusions (`--files` against `--profile`, `--edit` against
        // `--sizes-kib`, both of these only with `--files`).
        let mode = match (args.files, args.edit) {
            (Some(files), Some(edit)) => Mode::Edit { files, edit },
            (Some(files), None) => Mode::Memory {
                files,
                sizes_kib: args.sizes_kib.unwrap_or_else(|| vec![1, 16]),
            },
            (None, _) => Mode::Profiles(match args.profile {
                Some(ProfileChoice::Many) => vec![Profile::Many],
                Some(ProfileChoice::Large) => vec![Profile::Large],
                Some(ProfileChoice::Mixed) => vec![Profile::Mixed],
                Some(ProfileChoice::All) | None => all,
            }),
        };
        Options {
            mode,
            scale: args.scale,
            runs: args.runs,
            keep: args.keep,
            ours: args.ours,
        }
    }
}

/// `bench commit ARGS` (in a release build).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = Options::from(args);
    let meter = Meter::detect();
    eprintln!("bench: measuring with {}", meter.describe());
    let contenders = Contenders::for_bench(options.ours.as_deref(), "commit")?;
    let temp = tempfile::tempdir_in(std::env::temp_dir())?;
    let base = options.keep.clone().unwrap_or_else(|| temp.path().into());
    let load_before = super::load_average();
    let summary = match &options.mode {
        Mode::Profiles(profiles) => {
            let mut results = Vec::new();
            for &profile in profiles {
                results.push(bench_profile(
                    &options,
                    &contenders,
                    &meter,
                    profile,
                    &base,
                )?);
            }
            print_table(&results, &options);
            profiles_json(&options, &contenders, &meter, &results)
        }
        Mode::Memory { files, sizes_kib } => {
            let results = sizes_kib
                .iter()
                .map(|&kib| bench_memory(&options, &contenders, &meter, *files, kib, &base))
                .collect::<anyhow::Result<Vec<_>>>()?;
            print_memory_table(&results);
            memory_json(&contenders, &meter, &results)
        }
        Mode::Edit { files, edit } => {
            let keep = options.keep.is_some();
            let result = edit::bench_edit(
                keep,
                &contenders,
                &meter,
                *files,
                *edit,
                options.runs,
                &base,
            )?;
            edit::print_edit_table(&result);
            edit::edit_json(&contenders, &meter, &result)
        }
    };
    let load = [load_before, super::load_average()];
    println!("load average (1 min) before and after: {load:?}");
    let mut summary = summary;
    summary["load_average"] = json!(load);
    summary["cores"] = json!(std::thread::available_parallelism().map(usize::from).ok());
    println!("{summary}");
    if let Some(kept) = &options.keep {
        eprintln!(
            "bench: sources and the last run's results are kept under {}",
            kept.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One tool's figures over the runs of one profile.
struct ToolRuns {
    tool: Tool,
    runs: Vec<Committed>,
    /// Ours and rocfl: the check of every run's result.
    verdicts: Vec<Verdict>,
}

impl ToolRuns {
    fn seconds(&self, phase: Phase) -> Vec<f64> {
        self.runs.iter().map(|r| phase.of(r).seconds).collect()
    }

    fn median(&self, phase: Phase) -> Option<f64> {
        super::median(&self.seconds(phase))
    }

    fn cpu_median(&self, phase: Phase) -> Option<f64> {
        let cpu: Option<Vec<f64>> = self.runs.iter().map(|r| phase.of(r).cpu_seconds).collect();
        super::median(&cpu?)
    }

    /// The largest peak RSS of a phase over the runs (of either process for the total).
    fn peak_rss_kib(&self, phase: Phase) -> Option<u64> {
        self.runs
            .iter()
            .filter_map(|r| phase.of(r).peak_rss_kib)
            .max()
    }

    fn all_ok(&self) -> bool {
        self.verdicts.iter().all(Verdict::ok)
    }
}

/// Which part of a run a figure is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    V1,
    V2,
    Total,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::V1, Phase::V2, Phase::Total];

    fn key(self) -> &'static str {
        match self {
            Phase::V1 => "v1",
            Phase::V2 => "v2",
            Phase::Total => "total",
        }
    }

    fn of(self, run: &Committed) -> Measurement {
        match self {
            Phase::V1 => run.v1.clone(),
            Phase::V2 => run.v2.clone(),
            Phase::Total => run.v1.clone().then(run.v2.clone()),
        }
    }
}

/// One profile's figures.
struct ProfileResult {
    profile: Profile,
    v1: SourceTree,
    revision: Revision,
    tools: Vec<ToolRuns>,
}

impl ProfileResult {
    fn tool(&self, tool: Tool) -> Option<&ToolRuns> {
        self.tools.iter().find(|t| t.tool == tool)
    }

    /// Our median over `other`'s, for a phase.
    fn ratio(&self, other: Tool, phase: Phase) -> Option<f64> {
        let ours = self.tool(Tool::Ours)?.median(phase)?;
        let theirs = self.tool(other)?.median(phase)?;
        (theirs > 0.0).then(|| ours / theirs)
    }

    /// Why the comparison with `other` does not hold, if it does not.
    fn not_comparable(&self, other: Tool) -> Vec<String> {
        let mut reasons = Vec::new();
        for tool in [Tool::Ours, other] {
            if let Some(runs) = self.tool(tool)
                && let Some(bad) = runs.verdicts.iter().find(|v| !v.ok())
            {
                reasons.push(format!("{}: {}", tool.key(), bad.detail));
            }
        }
        reasons
    }

    /// `None` when there is no target, no figure, the scale is not the one the targets are
    /// stated for, or a result failed its check.
    fn met(&self, scale: Scale) -> Option<bool> {
        let (other, limit) = target(self.profile)?;
        let ratio = self.ratio(other, Phase::Total)?;
        (scale == Scale::Full && self.not_comparable(other).is_empty()).then_some(ratio <= limit)
    }
}

fn bench_profile(
    options: &Options,
    contenders: &Contenders,
    meter: &Meter,
    profile: Profile,
    base: &Path,
) -> anyhow::Result<ProfileResult> {
    let dir = base.join(profile.key());
    let (v1_dir, v2_dir, runs_dir) = (dir.join("v1"), dir.join("v2"), dir.join("runs"));
    eprintln!(
        "bench: generating '{}' ({}) into {}",
        profile.key(),
        options.scale.key(),
        dir.display()
    );
    let start = Instant::now();
    let v1 = profile.generate(options.scale, &v1_dir)?;
    let revision = revise(&v1_dir, &v2_dir, profile.seed(options.scale) ^ 0x5EC0_0002)?;
    eprintln!(
        "bench: v1 {} files, {} bytes; v2 {} files, {} bytes ({} changed, {} added, {} removed) in {:.1} s",
        v1.files,
        v1.bytes,
        revision.tree.files,
        revision.tree.bytes,
        revision.changed.len(),
        revision.added.len(),
        revision.removed.len(),
        start.elapsed().as_secs_f64()
    );
    let expected = expected_state(&v2_dir)?;
    // The generated data goes to disk now, not during someone's timed run; the sources stay
    // in the page cache (warm for every tool).
    sync()?;

    let sources = Sources {
        v1: &v1_dir,
        v2: &v2_dir,
        revision: &revision,
    };
    let tools = contenders.tools();
    let mut results: Vec<ToolRuns> = tools
        .iter()
        .map(|&tool| ToolRuns {
            tool,
            runs: Vec::new(),
            verdicts: Vec::new(),
        })
        .collect();
    for run in 0..options.runs {
        for offset in 0..tools.len() {
            let index = (run + offset) % tools.len();
            let tool = tools[index];
            let dest = runs_dir.join(format!("{}-{}", tool.key(), run + 1));
            let committed = contenders.commit(tool, meter, sources, &dest)?;
            // What a tool left unwritten must not be flushed during the next tool's run.
            sync()?;
            eprintln!(
                "bench: {} run {}/{} {}: v1 {:.3} s, v2 {:.3} s",
                profile.key(),
                run + 1,
                options.runs,
                tool.key(),
                committed.v1.seconds,
                committed.v2.seconds
            );
            let entry = &mut results[index];
            if tool != Tool::Floor {
                let verdict = check_root(&contenders.ours, &dest, "v2", &expected)?;
                if !verdict.ok() {
                    eprintln!(
                        "bench: {} run {} FAILED its check: {}",
                        tool.key(),
                        run + 1,
                        verdict.detail
                    );
                }
                entry.verdicts.push(verdict);
            }
            entry.runs.push(committed);
            let last = run + 1 == options.runs;
            if !(last && options.keep.is_some()) {
                let mut paths = Vec::new();
                if dest.exists() {
                    paths.extend([work_area(&dest)?, dest.clone()]);
                }
                for path in paths {
                    if path.exists() {
                        std::fs::remove_dir_all(&path)
                            .with_context(|| format!("removing {}", path.display()))?;
                    }
                }
                // The deletion's journal commit (and discards) happen now, untimed.
                sync()?;
            }
        }
    }
    if options.keep.is_none() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(ProfileResult {
        profile,
        v1,
        revision,
        tools: results,
    })
}

/// Where `ocfl` keeps the engine's store and run data by default for the existing root
/// `root`, as its one owner (`ocfl_core::location::LocalWorkArea`) says.
fn work_area(root: &Path) -> anyhow::Result<PathBuf> {
    let work = ocfl_core::location::LocalWorkArea::of(root, None)
        .with_context(|| format!("the work area of {}", root.display()))?;
    Ok(work.area_path())
}

/// The bytes of every file under `dir` (0 if it does not exist).
fn bytes_under(dir: &Path) -> anyhow::Result<u64> {
    if !dir.exists() {
        return Ok(0);
    }
    Ok(tree::list_files(dir)?.iter().map(|f| f.size).sum())
}

/// `sync`: flush every dirty page (untimed, between timed runs).
fn sync() -> anyhow::Result<()> {
    let status = Command::new("sync").status().context("running sync")?;
    anyhow::ensure!(status.success(), "sync failed ({status})");
    Ok(())
}

/// One size of the memory mode.
struct MemoryResult {
    files: usize,
    file_kib: u64,
    tree: SourceTree,
    commit: Measurement,
    /// The size of `ocfl`'s work area (the engine's store and run data) after the commit.
    store_bytes: u64,
    verdict: Verdict,
}

fn bench_memory(
    options: &Options,
    contenders: &Contenders,
    meter: &Meter,
    files: usize,
    file_kib: u64,
    base: &Path,
) -> anyhow::Result<MemoryResult> {
    let dir = base.join(format!("files-{files}-{file_kib}k"));
    let (source, root) = (dir.join("source"), dir.join("root"));
    eprintln!(
        "bench: generating {files} files of {file_kib} KiB into {}",
        source.display()
    );
    let start = Instant::now();
    let tree = tree::generate_uniform(&source, files, file_kib << 10, SEED ^ file_kib)?;
    eprintln!(
        "bench: {} bytes in {:.1} s",
        tree.bytes,
        start.elapsed().as_secs_f64()
    );
    let expected: State = expected_state(&source)?;
    sync()?;
    let committed = commit_once(contenders, meter, &source, &root)?;
    sync()?;
    eprintln!(
        "bench: {files} files of {file_kib} KiB: {:.3} s, peak RSS {}",
        committed.seconds,
        committed
            .peak_rss_kib
            .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
    );
    let store_bytes = bytes_under(&work_area(&root)?)?;
    let verdict = check_root(&contenders.ours, &root, "v1", &expected)?;
    if !verdict.ok() {
        eprintln!("bench: the commit FAILED its check: {}", verdict.detail);
    }
    if options.keep.is_none() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(MemoryResult {
        files,
        file_kib,
        tree,
        commit: committed,
        store_bytes,
        verdict,
    })
}

/// `ocfl init` (untimed) and one measured `ocfl commit` of `source` as v1.
fn commit_once(
    contenders: &Contenders,
    meter: &Meter,
    source: &Path,
    root: &Path,
) -> anyhow::Result<Measurement> {
    let init = Command::new(&contenders.ours)
        .arg("--root")
        .arg(root)
        .arg("init")
        .output()?;
    anyhow::ensure!(
        init.status.success(),
        "ocfl init failed ({}): {}",
        init.status,
        String::from_utf8_lossy(&init.stderr)
    );
    let args = [
        "--root".into(),
        root.into(),
        "--quiet".into(),
        "--json".into(),
        "commit".into(),
        tools::OBJECT_ID.into(),
        source.into(),
        "--message".into(),
        "v1".into(),
    ];
    let dir = root.parent().unwrap_or(Path::new("."));
    let measured = meter.run(contenders.ours.as_os_str(), &args, dir)?;
    tools::check_ours_output(&measured.stdout, "v1")?;
    Ok(measured)
}

fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|k| k as f64 / 1024.0)
}

fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

fn print_table(results: &[ProfileResult], options: &Options) {
    println!(
        "{:<7} {:>6} {:>11} {:<6} {:>4} {:>8} {:>8} {:>8} {:>10} {:>10} {:>7} {:>8}  checks",
        "profile",
        "files",
        "bytes",
        "tool",
        "runs",
        "v1 s",
        "v2 s",
        "total s",
        "ours/this",
        "v1 ratio",
        "CPU s",
        "RSS MiB"
    );
    for r in results {
        for t in &r.tools {
            let (ratio, v1_ratio) = match t.tool {
                Tool::Ours => ("1.000".to_string(), "1.000".to_string()),
                other => (
                    fmt_opt(r.ratio(other, Phase::Total), 3),
                    fmt_opt(r.ratio(other, Phase::V1), 3),
                ),
            };
            let checks = match t.tool {
                Tool::Floor => String::new(),
                _ => format!(
                    "{}/{} valid and equal to the source",
                    t.verdicts.iter().filter(|v| v.ok()).count(),
                    t.verdicts.len()
                ),
            };
            println!(
                "{:<7} {:>6} {:>11} {:<6} {:>4} {:>8.3} {:>8.3} {:>8.3} {:>10} {:>10} {:>7} {:>8}  {checks}",
                r.profile.key(),
                r.v1.files,
                r.v1.bytes,
                t.tool.key(),
                t.runs.len(),
                t.median(Phase::V1).unwrap_or(f64::NAN),
                t.median(Phase::V2).unwrap_or(f64::NAN),
                t.median(Phase::Total).unwrap_or(f64::NAN),
                ratio,
                v1_ratio,
                fmt_opt(t.cpu_median(Phase::Total), 2),
                fmt_opt(mib(t.peak_rss_kib(Phase::Total)), 1),
            );
        }
    }
    for r in results {
        let Some((other, limit)) = target(r.profile) else {
            continue;
        };
        let verdict = match (r.ratio(other, Phase::Total), r.met(options.scale)) {
            (None, _) => format!("no figure ({} not run)", other.key()),
            (Some(x), Some(true)) => format!("{x:.3} -> met"),
            (Some(x), Some(false)) => format!("{x:.3} -> NOT met"),
            (Some(x), None) if options.scale != Scale::Full => {
                format!("{x:.3} (small scale: the target is for --scale full)")
            }
            (Some(x), None) => format!("{x:.3} -> not meaningful (a check failed)"),
        };
        println!(
            "target {}: ours/{} (total, medians) <= {limit}: {verdict}",
            r.profile.key(),
            other.key()
        );
        for reason in r.not_comparable(other) {
            println!("not comparable: {reason}");
        }
    }
}

fn profiles_json(
    options: &Options,
    contenders: &Contenders,
    meter: &Meter,
    results: &[ProfileResult],
) -> Value {
    let profiles: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut tools = serde_json::Map::new();
            for t in &r.tools {
                let mut entry = serde_json::Map::new();
                for phase in Phase::ALL {
                    entry.insert(format!("{}_s", phase.key()), json!(t.seconds(phase)));
                    entry.insert(format!("median_{}_s", phase.key()), json!(t.median(phase)));
                    entry.insert(
                        format!("peak_rss_{}_kib", phase.key()),
                        json!(t.peak_rss_kib(phase)),
                    );
                }
                entry.insert("median_cpu_s".into(), json!(t.cpu_median(Phase::Total)));
                if t.tool != Tool::Floor {
                    entry.insert("checks_ok".into(), json!(t.all_ok()));
                    entry.insert(
                        "checks".into(),
                        json!(
                            t.verdicts
                                .iter()
                                .map(
                                    |v| json!({"valid": v.valid, "state_matches": v.state_matches})
                                )
                                .collect::<Vec<_>>()
                        ),
                    );
                }
                tools.insert(t.tool.key().into(), Value::Object(entry));
            }
            let mut ratios = serde_json::Map::new();
            for other in [Tool::Rocfl, Tool::Floor] {
                for phase in Phase::ALL {
                    ratios.insert(
                        format!("ours/{}_{}", other.key(), phase.key()),
                        json!(r.ratio(other, phase)),
                    );
                }
            }
            let (target_key, target_value) = match target(r.profile) {
                Some((other, limit)) => (Some(format!("ours/{}_total", other.key())), Some(limit)),
                None => (None, None),
            };
            json!({
                "profile": r.profile.key(),
                "seed": r.profile.seed(options.scale),
                "v1": {"files": r.v1.files, "bytes": r.v1.bytes},
                "v2": {
                    "files": r.revision.tree.files,
                    "bytes": r.revision.tree.bytes,
                    "changed": r.revision.changed.len(),
                    "added": r.revision.added.len(),
                    "removed": r.revision.removed.len(),
                },
                "tools": tools,
                "ratios": ratios,
                "target": target_key.map(|k| json!({k: target_value})),
                "met": r.met(options.scale),
            })
        })
        .collect();
    let with_target: Vec<&ProfileResult> = results
        .iter()
        .filter(|r| target(r.profile).is_some())
        .collect();
    let met = (!with_target.is_empty())
        .then(|| {
            with_target
                .iter()
                .map(|r| r.met(options.scale))
                .collect::<Option<Vec<bool>>>()
        })
        .flatten()
        .map(|all| all.iter().all(|&m| m));
    json!({
        "bench": "commit",
        "scale": options.scale.key(),
        "runs": options.runs,
        "page_cache": "warm (sources); sync untimed after every timed run",
        "meter": meter.describe(),
        "commands": {
            "floor": contenders.describe(Tool::Floor),
            "ours": contenders.describe(Tool::Ours),
            "rocfl": contenders.rocfl.as_ref().map(|_| contenders.describe(Tool::Rocfl)),
        },
        "versions": {
            "ours": contenders.ours_version,
            "rocfl": contenders.rocfl.as_ref().and_then(|(_, v)| v.clone()),
        },
        "profiles": profiles,
        "met": met,
    })
}

/// Whether the memory targets hold: every peak within 200 MiB, and the largest within
/// [`RSS_INDEPENDENCE`] of the smallest. `None` without figures or when a check failed.
fn memory_met(results: &[MemoryResult]) -> Option<bool> {
    let peaks: Vec<f64> = results
        .iter()
        .map(|r| mib(r.commit.peak_rss_kib))
        .collect::<Option<_>>()?;
    let low = peaks.iter().copied().min_by(f64::total_cmp)?;
    let high = peaks.iter().copied().max_by(f64::total_cmp)?;
    results
        .iter()
        .all(|r| r.verdict.ok())
        .then_some(high <= RSS_TARGET_MIB && high <= low * RSS_INDEPENDENCE)
}

fn print_memory_table(results: &[MemoryResult]) {
    println!(
        "{:>7} {:>9} {:>12} {:>9} {:>7} {:>13} {:>10}  check",
        "files", "file KiB", "bytes", "commit s", "CPU s", "peak RSS MiB", "store MiB"
    );
    for r in results {
        println!(
            "{:>7} {:>9} {:>12} {:>9.3} {:>7} {:>13} {:>10.1}  {}",
            r.files,
            r.file_kib,
            r.tree.bytes,
            r.commit.seconds,
            fmt_opt(r.commit.cpu_seconds, 2),
            fmt_opt(mib(r.commit.peak_rss_kib), 1),
            r.store_bytes as f64 / MIB,
            if r.verdict.ok() {
                "valid and equal to the source".to_string()
            } else {
                format!("FAILED: {}", r.verdict.detail)
            }
        );
    }
    let verdict = match memory_met(results) {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not meaningful (no figure, or a check failed)",
    };
    println!(
        "target: peak RSS <= {RSS_TARGET_MIB} MiB and the largest <= {RSS_INDEPENDENCE}x the smallest: {verdict}"
    );
    let store = results.iter().map(|r| r.store_bytes).max().unwrap_or(0) as f64 / MIB;
    println!(
        "design target (not part of `met`): the engine's store under {STORE_TARGET_MIB} MiB: {store:.1} MiB -> {}",
        if store < STORE_TARGET_MIB {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn memory_json(contenders: &Contenders, meter: &Meter, results: &[MemoryResult]) -> Value {
    let sizes: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "files": r.files,
                "file_kib": r.file_kib,
                "bytes": r.tree.bytes,
                "commit_s": r.commit.seconds,
                "cpu_s": r.commit.cpu_seconds,
                "peak_rss_kib": r.commit.peak_rss_kib,
                "store_bytes": r.store_bytes,
                "valid": r.verdict.valid,
                "state_matches": r.verdict.state_matches,
            })
        })
        .collect();
    json!({
        "bench": "commit-memory",
        "meter": meter.describe(),
        "command": contenders.describe(Tool::Ours),
        "version": contenders.ours_version,
        "sizes": sizes,
        "targets": {
            "peak_rss_mib": RSS_TARGET_MIB,
            "largest_over_smallest": RSS_INDEPENDENCE,
            "store_mib": STORE_TARGET_MIB,
        },
        "met": memory_met(results),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<Options, clap::Error> {
        crate::parse_args::<Args>(list).map(Options::from)
    }

    #[test]
    fn options_default_to_every_profile_at_full_scale() {
        let options = parse(&[]).unwrap();
        assert_eq!(
            options.mode,
            Mode::Profiles(vec![Profile::Many, Profile::Large, Profile::Mixed])
        );
        assert_eq!(options.scale, Scale::Full);
        assert_eq!(options.runs, 3);
        let options = parse(&[
            "--profile",
            "large",
            "--scale",
            "small",
            "--runs",
            "2",
            "--keep",
            "/k",
        ])
        .unwrap();
        assert_eq!(options.mode, Mode::Profiles(vec![Profile::Large]));
        assert_eq!(options.scale, Scale::Small);
        assert_eq!(options.runs, 2);
        assert_eq!(options.keep, Some(PathBuf::from("/k")));
        for bad in [
            &["--profile", "huge"][..],
            &["--runs", "0"],
            &["--scale"],
            &["--files", "1"],
            &["--files", "10", "--profile", "many"],
            &["--sizes-kib", "1,2"],
            &["--files", "10", "--sizes-kib", "1,x"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_work_area_is_beside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ours-1");
        std::fs::create_dir(&root).unwrap();
        assert_eq!(
            work_area(&root).unwrap(),
            dir.path().canonicalize().unwrap().join("ours-1.ocfl-work")
        );
        assert_eq!(bytes_under(&dir.path().join("absent")).unwrap(), 0);
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/f"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("g"), [0u8; 5]).unwrap();
        assert_eq!(bytes_under(dir.path()).unwrap(), 15);
    }

    #[test]
    fn the_memory_mode_takes_a_count_and_sizes() {
        let options = parse(&["--files", "100000"]).unwrap();
        assert_eq!(
            options.mode,
            Mode::Memory {
                files: 100_000,
                sizes_kib: vec![1, 16]
            }
        );
        let options = parse(&["--files", "10", "--sizes-kib", "2, 64"]).unwrap();
        assert_eq!(
            options.mode,
            Mode::Memory {
                files: 10,
                sizes_kib: vec![2, 64]
            }
        );
    }

    #[test]
    fn the_edit_mode_takes_a_count_and_an_edit_count() {
        let options = parse(&["--files", "100000", "--edit", "10"]).unwrap();
        assert_eq!(
            options.mode,
            Mode::Edit {
                files: 100_000,
                edit: 10
            }
        );
        assert!(parse(&["--edit", "10"]).is_err());
        assert!(parse(&["--files", "9", "--edit", "0"]).is_err());
        assert!(parse(&["--files", "9", "--edit", "1", "--sizes-kib", "1"]).is_err());
    }

    fn measured(seconds: f64, peak: u64) -> Measurement {
        Measurement {
            seconds,
            cpu_seconds: Some(seconds / 2.0),
            peak_rss_kib: Some(peak),
            stdout: String::new(),
        }
    }

    fn verdict(ok: bool) -> Verdict {
        Verdict {
            valid: ok,
            state_matches: true,
            detail: if ok { String::new() } else { "broken".into() },
        }
    }

    fn tool_runs(tool: Tool, totals: &[(f64, f64)], ok: bool) -> ToolRuns {
        ToolRuns {
            tool,
            runs: totals
                .iter()
                .map(|&(v1, v2)| Committed {
                    v1: measured(v1, 100),
                    v2: measured(v2, 300),
                })
                .collect(),
            verdicts: match tool {
                Tool::Floor => Vec::new(),
                _ => totals.iter().map(|_| verdict(ok)).collect(),
            },
        }
    }

    fn result(profile: Profile, ours_ok: bool) -> ProfileResult {
        ProfileResult {
            profile,
            v1: SourceTree::default(),
            revision: Revision {
                changed: Vec::new(),
                added: Vec::new(),
                removed: Vec::new(),
                tree: SourceTree::default(),
            },
            tools: vec![
                tool_runs(Tool::Floor, &[(1.0, 1.0), (2.0, 2.0), (9.0, 9.0)], true),
                tool_runs(Tool::Ours, &[(1.0, 0.5), (1.5, 0.5), (3.0, 1.0)], ours_ok),
                tool_runs(Tool::Rocfl, &[(2.0, 2.0), (3.0, 2.0), (4.0, 2.0)], true),
            ],
        }
    }

    #[test]
    fn ratios_are_of_medians_per_phase_and_in_total() {
        let r = result(Profile::Many, true);
        // Ours: totals 1.5, 2.0, 4.0 -> 2.0; rocfl: 4, 5, 6 -> 5; the floor: 2, 4, 18 -> 4.
        assert_eq!(r.ratio(Tool::Rocfl, Phase::Total), Some(0.4));
        assert_eq!(r.ratio(Tool::Floor, Phase::Total), Some(0.5));
        assert_eq!(r.ratio(Tool::Rocfl, Phase::V1), Some(0.5));
        let ours = r.tool(Tool::Ours).unwrap();
        assert_eq!(ours.peak_rss_kib(Phase::V1), Some(100));
        assert_eq!(ours.peak_rss_kib(Phase::Total), Some(300));
        assert_eq!(
            r.tool(Tool::Ours).unwrap().cpu_median(Phase::Total),
            Some(1.0)
        );
        assert_eq!(r.met(Scale::Full), Some(true));
        assert_eq!(r.met(Scale::Small), None);
        assert_eq!(result(Profile::Mixed, true).met(Scale::Full), None);
    }

    #[test]
    fn a_failed_check_makes_the_target_not_meaningful() {
        let r = result(Profile::Large, false);
        assert_eq!(r.met(Scale::Full), None);
        assert_eq!(r.not_comparable(Tool::Floor), ["ours: broken"]);
        // 'large' is held to the floor: 2.0 / 4.0.
        let r = result(Profile::Large, true);
        assert_eq!(r.met(Scale::Full), Some(true));
    }

    #[test]
    fn memory_target_needs_a_low_peak_that_does_not_grow_with_file_size() {
        let memory = |peak_mib: u64, ok: bool| MemoryResult {
            files: 10,
            file_kib: 1,
            tree: SourceTree::default(),
            commit: measured(1.0, peak_mib * 1024),
            store_bytes: 0,
            verdict: verdict(ok),
        };
        assert_eq!(
            memory_met(&[memory(100, true), memory(120, true)]),
            Some(true)
        );
        assert_eq!(
            memory_met(&[memory(100, true), memory(130, true)]),
            Some(false)
        );
        assert_eq!(
            memory_met(&[memory(190, true), memory(210, true)]),
            Some(false)
        );
        assert_eq!(memory_met(&[memory(100, true), memory(100, false)]), None);
    }
}
