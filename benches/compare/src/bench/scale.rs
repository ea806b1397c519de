//! `cargo xtask bench scale`: how the cost of one object grows with its number of files.
//!
//! For each size (10,000, 100,000 and 1,000,000 files of 1 KiB by default, `--sizes`), one
//! object is built and used the way a user would, each step a measured process (wall time,
//! peak RSS): commit v1 of the whole tree, commit v2 changing 10 files (`commit --add`; rocfl
//! copies the 10 files over its staged version), `validate` of the root with fixity on,
//! `ls` of the head version and `cat` of one changed file. rocfl does the same where it is
//! installed, up to `--rocfl-up-to N` files. Each root is deleted before the next tool runs,
//! and the source after each size: a million files of 1 KiB take about 4-5 GB each.
//!
//! Every result is checked: validation must pass (exit 0), `ls` must list every file and
//! `cat` must print the v2 content. The table, the growth per 10x files and the targets go
//! to stdout with a JSON line; an SVG plot of time and peak RSS against the file count goes
//! to `--plot PATH` ([`plot`]). See docs/benchmarks.md.

mod plot;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use super::commit::measure::{Measurement, Meter};
use super::commit::tools::{Contenders, OBJECT_ID, Tool};
use super::commit::tree::{generate_uniform, list_files};
use super::generate::SEED;
use super::prng::SplitMix64;

/// The size of every file of the object.
const FILE_BYTES: u64 = 1 << 10;

/// The files the v2 commit changes.
const CHANGED: usize = 10;

/// Targets: time at most this factor per 10x files.
pub const GROWTH_TARGET: f64 = 11.0;
/// Targets at a million files: the v1 commit's peak RSS and the `cat` time.
const MILLION: usize = 1_000_000;
const MILLION_RSS_TARGET_MIB: f64 = 1536.0;
const MILLION_CAT_TARGET_SECONDS: f64 = 2.0;

/// The measured steps, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CommitV1,
    CommitV2,
    Validate,
    Ls,
    Cat,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::CommitV1,
        Step::CommitV2,
        Step::Validate,
        Step::Ls,
        Step::Cat,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Step::CommitV1 => "commit v1",
            Step::CommitV2 => "commit v2 (10 files)",
            Step::Validate => "validate",
            Step::Ls => "ls",
            Step::Cat => "cat",
        }
    }

    fn json_key(self) -> &'static str {
        match self {
            Step::CommitV1 => "commit_v1",
            Step::CommitV2 => "commit_v2",
            Step::Validate => "validate",
            Step::Ls => "ls",
            Step::Cat => "cat",
        }
    }
}

/// One tool's steps on one size.
#[derive(Debug, Clone)]
pub struct Run {
    pub tool: Tool,
    pub files: usize,
    /// Indexed like [`Step::ALL`].
    pub steps: Vec<Measurement>,
    /// What failed a check, if anything did.
    pub problems: Vec<String>,
}

impl Run {
    pub fn step(&self, step: Step) -> Option<&Measurement> {
        let index = Step::ALL.iter().position(|&s| s == step)?;
        self.steps.get(index)
    }
}

/// The command line, validated.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    sizes: Vec<usize>,
    rocfl_up_to: usize,
    plot: PathBuf,
    keep: Option<PathBuf>,
    ours: Option<PathBuf>,
}

/// `bench scale`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Object sizes in files, increasing (`10000,100_000`).
    #[arg(long, value_name = "N,N,...", value_parser = parse_sizes, default_value = "10000,100000,1000000")]
    // The full path makes clap take the list as one value (`parse_sizes` splits it).
    sizes: ::std::vec::Vec<usize>,
    /// Run rocfl only on sizes up to N files.
    #[arg(long, value_name = "N")]
    rocfl_up_to: Option<usize>,
    /// Where the SVG plot goes (default `target/bench-scale.svg`).
    #[arg(long, value_name = "PATH")]
    plot: Option<PathBuf>,
    /// Build the sources and roots under DIR and keep them.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// An `ocfl` binary to time instead of building `target/release/ocfl`.
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
}

impl From<Args> for Options {
    fn from(args: Args) -> Options {
        Options {
            sizes: args.sizes,
            rocfl_up_to: args.rocfl_up_to.unwrap_or(usize::MAX),
            plot: args.plot.unwrap_or_else(|| {
                super::workspace_root()
                    .join("target")
                    .join("bench-scale.svg")
            }),
            keep: args.keep,
            ours: args.ours,
        }
    }
}

/// `10000,100000`: increasing sizes, each at least [`CHANGED`] files and at most what the
/// uniform tree's layout names (`d99/d99/file-999999.dat`).
fn parse_sizes(text: &str) -> anyhow::Result<Vec<usize>> {
    let sizes: Vec<usize> = text
        .split(',')
        .map(|s| s.trim().replace('_', "").parse().ok())
        .collect::<Option<_>>()
        .with_context(|| format!("--sizes needs numbers like 10000,100000, not {text:?}"))?;
    anyhow::ensure!(
        sizes.iter().all(|&n| (CHANGED..=MILLION).contains(&n)),
        "--sizes must be between {CHANGED} and {MILLION} files, not {text:?}"
    );
    anyhow::ensure!(
        sizes.windows(2).all(|w| w[0] < w[1]),
        "--sizes must increase, not {text:?}"
    );
    Ok(sizes)
}

/// `bench scale ARGS` (in a release build).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = Options::from(args);
    let meter = Meter::detect();
    eprintln!("bench: measuring with {}", meter.describe());
    let contenders = Contenders::for_bench(options.ours.as_deref(), "scale")?;
    let temp = tempfile::tempdir_in(std::env::temp_dir())?;
    let base = options.keep.clone().unwrap_or_else(|| temp.path().into());
    let load_before = super::load_average();
    let mut runs = Vec::new();
    for &files in &options.sizes {
        runs.extend(bench_size(&options, &contenders, &meter, files, &base)?);
        // Partial results survive a later size that fails or is interrupted.
        print_table(&runs);
    }
    let load = [load_before, super::load_average()];
    println!("load average (1 min) before and after: {load:?}");
    println!("\nMarkdown, for docs/benchmarks.md:\n\n{}", markdown(&runs));
    if let Some(parent) = options.plot.parent() {
        std::fs::create_dir_all(parent)?;
    }
    plot::write_svg(&options.plot, &runs)
        .with_context(|| format!("writing the plot {}", options.plot.display()))?;
    eprintln!("bench: plot written to {}", options.plot.display());
    let mut summary = summary_json(&contenders, &meter, &runs);
    summary["load_average"] = json!(load);
    summary["cores"] = json!(std::thread::available_parallelism().map(usize::from).ok());
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// The source of one size: the v1 tree, and the new content of the changed files.
struct Source {
    v1: PathBuf,
    /// The changed files at their logical paths (the layout rocfl copies over its object).
    changed_dir: PathBuf,
    /// Logical paths of the changed files, and their new content.
    changed: Vec<(String, String)>,
}

fn bench_size(
    options: &Options,
    contenders: &Contenders,
    meter: &Meter,
    files: usize,
    base: &Path,
) -> anyhow::Result<Vec<Run>> {
    let dir = base.join(format!("scale-{files}"));
    eprintln!(
        "bench: generating {files} files of 1 KiB into {}",
        dir.display()
    );
    let start = Instant::now();
    let source = generate(&dir, files)?;
    sync()?;
    eprintln!("bench: generated in {:.1} s", start.elapsed().as_secs_f64());
    let mut runs = Vec::new();
    let mut tools = vec![Tool::Ours];
    if contenders.rocfl.is_some() && files <= options.rocfl_up_to {
        tools.push(Tool::Rocfl);
    }
    for tool in tools {
        let root = dir.join(format!("root-{}", tool.key()));
        let run = run_tool(contenders, meter, tool, &source, files, &root)?;
        for problem in &run.problems {
            eprintln!("bench: {} at {files} files: {problem}", tool.key());
        }
        runs.push(run);
        if options.keep.is_none() {
            remove(&root)?;
            // Ours keeps its engine store and staging beside the root.
            remove(&dir.join(format!("root-{}.ocfl-work", tool.key())))?;
        }
    }
    if options.keep.is_none() {
        remove(&dir)?;
    }
    Ok(runs)
}

/// `files` files of 1 KiB, and [`CHANGED`] new contents for files spread evenly over them
/// (text, so that `cat` output can be compared as a string).
fn generate(dir: &Path, files: usize) -> anyhow::Result<Source> {
    let v1 = dir.join("v1");
    let changed_dir = dir.join("changed");
    generate_uniform(&v1, files, FILE_BYTES, SEED ^ 0x5CA1E)?;
    let paths: Vec<String> = list_files(&v1)?.into_iter().map(|f| f.path).collect();
    let mut rng = SplitMix64::new(SEED ^ 0x5CA1F);
    let mut changed = Vec::new();
    for pick in 0..CHANGED {
        let path = paths[pick * paths.len() / CHANGED].clone();
        let mut bytes = [0u8; (FILE_BYTES / 2) as usize];
        rng.fill(&mut bytes);
        let content = hex::encode(bytes);
        let target = changed_dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &content)
            .with_context(|| format!("writing {}", target.display()))?;
        changed.push((path, content));
    }
    Ok(Source {
        v1,
        changed_dir,
        changed,
    })
}

fn run_tool(
    contenders: &Contenders,
    meter: &Meter,
    tool: Tool,
    source: &Source,
    files: usize,
    root: &Path,
) -> anyhow::Result<Run> {
    let (program, mut invocations) = match tool {
        Tool::Ours => (contenders.ours.clone(), ours_steps(source)),
        Tool::Rocfl => {
            let (rocfl, _) = contenders
                .rocfl
                .as_ref()
                .context("rocfl is not installed")?;
            (rocfl.clone(), rocfl_steps(source)?)
        }
        Tool::Floor => anyhow::bail!("the scale benchmark has no floor"),
    };
    let root_args: Vec<OsString> = match tool {
        Tool::Ours => vec!["--root".into(), root.into()],
        _ => vec!["-r".into(), root.into()],
    };
    untimed(&program, &[root_args.clone(), vec!["init".into()]].concat())?;
    let dir = root.parent().unwrap_or(Path::new("."));
    let mut steps = Vec::new();
    for (step, commands) in Step::ALL.iter().zip(invocations.iter_mut()) {
        let mut measured = Vec::new();
        for args in commands.drain(..) {
            measured.push(
                meter
                    .run(
                        program.as_os_str(),
                        &[root_args.clone(), args].concat(),
                        dir,
                    )
                    .with_context(|| format!("{} {} at {files} files", tool.key(), step.key()))?,
            );
        }
        let total = sequence(measured);
        eprintln!(
            "bench: {} {} at {files} files: {:.3} s, peak RSS {}",
            tool.key(),
            step.key(),
            total.seconds,
            total
                .peak_rss_kib
                .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
        );
        steps.push(total);
        if *step == Step::CommitV1 {
            // What a tool left unflushed must not be written back during the next step.
            sync()?;
        }
    }
    let problems = check(&steps, source, files);
    Ok(Run {
        tool,
        files,
        steps,
        problems,
    })
}

/// Processes run one after the other as one step. Starting from the first measurement, not
/// a default one, keeps the CPU seconds (a default has none, and a sum with none is none).
fn sequence(measured: Vec<Measurement>) -> Measurement {
    measured
        .into_iter()
        .reduce(Measurement::then)
        .unwrap_or_default()
}

/// Ours: one command per step (after `--root ROOT`).
fn ours_steps(source: &Source) -> Vec<Vec<Vec<OsString>>> {
    let quiet = || -> Vec<OsString> { vec!["--quiet".into()] };
    let mut commit_v1 = quiet();
    commit_v1.extend([
        "commit".into(),
        OBJECT_ID.into(),
        source.v1.clone().into(),
        "--message".into(),
        "v1".into(),
    ]);
    let mut commit_v2 = quiet();
    commit_v2.extend(["commit".into(), OBJECT_ID.into()]);
    for (path, _) in &source.changed {
        commit_v2.extend([
            "--add".into(),
            source.changed_dir.join(path).into(),
            path.into(),
        ]);
    }
    commit_v2.extend(["--message".into(), "v2".into()]);
    let (cat_path, _) = &source.changed[0];
    vec![
        vec![commit_v1],
        vec![commit_v2],
        vec![vec!["validate".into()]],
        vec![vec!["ls".into(), OBJECT_ID.into()]],
        vec![vec!["cat".into(), OBJECT_ID.into(), cat_path.into()]],
    ]
}

/// rocfl: `new`, `cp -r` of the tree and `commit` for v1; `cp -r` of the changed files over
/// the staged version and `commit` for v2 (after `-r ROOT`).
fn rocfl_steps(source: &Source) -> anyhow::Result<Vec<Vec<Vec<OsString>>>> {
    let copy = |dir: &Path| -> anyhow::Result<Vec<OsString>> {
        let mut args: Vec<OsString> = vec!["cp".into(), "-r".into(), OBJECT_ID.into()];
        let mut entries: Vec<OsString> = std::fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .map(|e| e.map(|e| e.path().into_os_string()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        args.extend(entries);
        args.extend(["--".into(), "/".into()]);
        Ok(args)
    };
    let commit = |version: &str| -> Vec<OsString> {
        vec![
            "commit".into(),
            OBJECT_ID.into(),
            "-m".into(),
            version.into(),
            "-n".into(),
            "bench".into(),
            "-a".into(),
            "mailto:bench@example.org".into(),
        ]
    };
    let (cat_path, _) = &source.changed[0];
    Ok(vec![
        vec![
            vec!["new".into(), OBJECT_ID.into()],
            copy(&source.v1)?,
            commit("v1"),
        ],
        vec![copy(&source.changed_dir)?, commit("v2")],
        vec![vec!["validate".into()]],
        vec![vec!["ls".into(), OBJECT_ID.into()]],
        vec![vec!["cat".into(), OBJECT_ID.into(), cat_path.into()]],
    ])
}

/// `ls` must list every file (once) and `cat` print the changed file's v2 content.
fn check(steps: &[Measurement], source: &Source, files: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let output = |step: Step| {
        Step::ALL
            .iter()
            .position(|&s| s == step)
            .and_then(|i| steps.get(i))
            .map_or("", |m| m.stdout.as_str())
    };
    let listed = output(Step::Ls)
        .lines()
        .filter(|line| line.contains("file-"))
        .count();
    if listed != files {
        problems.push(format!("ls listed {listed} files, not {files}"));
    }
    let (path, content) = &source.changed[0];
    if output(Step::Cat) != content.as_str() {
        problems.push(format!("cat {path} did not print its v2 content"));
    }
    problems
}

fn untimed(program: &Path, args: &[OsString]) -> anyhow::Result<()> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} {args:?} failed ({}): {}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn sync() -> anyhow::Result<()> {
    let status = Command::new("sync").status().context("running sync")?;
    anyhow::ensure!(status.success(), "sync failed ({status})");
    Ok(())
}

fn remove(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// Time per 10x files between two sizes: `(t2 / t1) ^ (1 / log10(n2 / n1))`.
pub fn growth_per_tenfold(files: (usize, usize), seconds: (f64, f64)) -> Option<f64> {
    let size_ratio = files.1 as f64 / files.0 as f64;
    (size_ratio > 1.0 && seconds.0 > 0.0)
        .then(|| (seconds.1 / seconds.0).powf(1.0 / size_ratio.log10()))
}

fn runs_of(runs: &[Run], tool: Tool) -> Vec<&Run> {
    runs.iter().filter(|r| r.tool == tool).collect()
}

/// What a growth figure compares: wall seconds, or CPU seconds (user + system), which a
/// shared machine's load inflates far less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Wall,
    Cpu,
}

impl Clock {
    const BOTH: [Clock; 2] = [Clock::Wall, Clock::Cpu];

    fn of(self, m: &Measurement) -> Option<f64> {
        match self {
            Clock::Wall => Some(m.seconds),
            Clock::Cpu => m.cpu_seconds,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::Cpu => "cpu",
        }
    }
}

/// The largest growth per 10x of `step` over consecutive sizes of `tool`, in wall or CPU
/// seconds (`None` when fewer than two sizes have that measure).
pub fn worst_growth(runs: &[Run], tool: Tool, step: Step, clock: Clock) -> Option<f64> {
    runs_of(runs, tool)
        .windows(2)
        .filter_map(|pair| {
            let (a, b) = (pair[0].step(step)?, pair[1].step(step)?);
            growth_per_tenfold((pair[0].files, pair[1].files), (clock.of(a)?, clock.of(b)?))
        })
        .max_by(f64::total_cmp)
}

fn mib(m: &Measurement) -> Option<f64> {
    m.peak_rss_kib.map(|k| k as f64 / 1024.0)
}

/// The targets at a million files, when that size ran: (v1 peak RSS met, cat time met).
fn million_targets(runs: &[Run]) -> Option<(bool, bool)> {
    let run = runs
        .iter()
        .find(|r| r.tool == Tool::Ours && r.files == MILLION)?;
    let rss = run
        .step(Step::CommitV1)
        .and_then(mib)
        .is_some_and(|m| m <= MILLION_RSS_TARGET_MIB);
    let cat = run
        .step(Step::Cat)
        .is_some_and(|m| m.seconds <= MILLION_CAT_TARGET_SECONDS);
    Some((rss, cat))
}

fn print_table(runs: &[Run]) {
    println!(
        "{:<6} {:>9} {:<22} {:>10} {:>8} {:>13}",
        "tool", "files", "step", "seconds", "cpu s", "peak RSS MiB"
    );
    for run in runs {
        for step in Step::ALL {
            let Some(m) = run.step(step) else { continue };
            println!(
                "{:<6} {:>9} {:<22} {:>10.3} {:>8} {:>13}",
                run.tool.key(),
                run.files,
                step.key(),
                m.seconds,
                m.cpu_seconds.map_or("-".into(), |c| format!("{c:.2}")),
                mib(m).map_or("-".into(), |v| format!("{v:.1}"))
            );
        }
        for problem in &run.problems {
            println!(
                "{:<6} {:>9} CHECK FAILED: {problem}",
                run.tool.key(),
                run.files
            );
        }
    }
    for step in Step::ALL {
        for tool in [Tool::Ours, Tool::Rocfl] {
            for clock in Clock::BOTH {
                if let Some(growth) = worst_growth(runs, tool, step, clock) {
                    println!(
                        "growth per 10x files, {} {}, {} seconds: {growth:.2} (target <= {GROWTH_TARGET}: {})",
                        tool.key(),
                        step.key(),
                        clock.key(),
                        if growth <= GROWTH_TARGET {
                            "met"
                        } else {
                            "NOT met"
                        }
                    );
                }
            }
        }
    }
    if let Some((rss, cat)) = million_targets(runs) {
        println!(
            "1,000,000 files: commit v1 peak RSS <= {MILLION_RSS_TARGET_MIB} MiB: {}; cat <= {MILLION_CAT_TARGET_SECONDS} s: {}",
            if rss { "met" } else { "NOT met" },
            if cat { "met" } else { "NOT met" }
        );
    }
}

/// The results as the Markdown table of docs/benchmarks.md, ours and rocfl side by side per
/// size and step, then the growth per 10x files in wall and CPU seconds: ready to paste.
fn markdown(runs: &[Run]) -> String {
    let mut out = String::from(
        "| files | step | ours s | ours CPU s | ours peak RSS MiB | rocfl s | rocfl CPU s | rocfl peak RSS MiB | ours / rocfl (wall) | ours / rocfl (CPU) |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let seconds = |m: Option<&Measurement>| m.map_or("-".into(), |m| format!("{:.3}", m.seconds));
    let cpu = |m: Option<&Measurement>| {
        m.and_then(|m| m.cpu_seconds)
            .map_or("-".into(), |c| format!("{c:.2}"))
    };
    let rss = |m: Option<&Measurement>| m.and_then(mib).map_or("-".into(), |v| format!("{v:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    };
    for ours in runs_of(runs, Tool::Ours) {
        let rocfl = runs
            .iter()
            .find(|r| r.tool == Tool::Rocfl && r.files == ours.files);
        for step in Step::ALL {
            let (a, b) = (ours.step(step), rocfl.and_then(|r| r.step(step)));
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                thousands(ours.files),
                step.key(),
                seconds(a),
                cpu(a),
                rss(a),
                seconds(b),
                cpu(b),
                rss(b),
                ratio(a.map(|m| m.seconds), b.map(|m| m.seconds)),
                ratio(a.and_then(|m| m.cpu_seconds), b.and_then(|m| m.cpu_seconds)),
            ));
        }
    }
    let mut growth = Vec::new();
    for tool in [Tool::Ours, Tool::Rocfl] {
        for step in Step::ALL {
            let wall = worst_growth(runs, tool, step, Clock::Wall);
            let cpu = worst_growth(runs, tool, step, Clock::Cpu);
            if wall.is_none() && cpu.is_none() {
                continue;
            }
            let show = |g: Option<f64>| g.map_or("-".into(), |g| format!("{g:.1}"));
            growth.push(format!(
                "{} {} {} wall / {} CPU",
                tool.key(),
                step.key(),
                show(wall),
                show(cpu)
            ));
        }
    }
    if !growth.is_empty() {
        out.push_str(&format!(
            "\nGrowth per 10x files (worst over consecutive sizes; target at most {GROWTH_TARGET}): {}.\n",
            growth.join("; ")
        ));
    }
    out
}

/// `1000000` as `1,000,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn summary_json(contenders: &Contenders, meter: &Meter, runs: &[Run]) -> Value {
    let rows: Vec<Value> = runs
        .iter()
        .map(|run| {
            let mut steps = serde_json::Map::new();
            for step in Step::ALL {
                if let Some(m) = run.step(step) {
                    steps.insert(
                        step.json_key().into(),
                        json!({"seconds": m.seconds, "cpu_seconds": m.cpu_seconds, "peak_rss_mib": mib(m)}),
                    );
                }
            }
            json!({"tool": run.tool.key(), "files": run.files, "steps": steps, "problems": run.problems})
        })
        .collect();
    let mut growth = serde_json::Map::new();
    let mut cpu_growth = serde_json::Map::new();
    for tool in [Tool::Ours, Tool::Rocfl] {
        for step in Step::ALL {
            let key = format!("{}_{}", tool.key(), step.json_key());
            if let Some(g) = worst_growth(runs, tool, step, Clock::Wall) {
                growth.insert(key.clone(), json!(g));
            }
            if let Some(g) = worst_growth(runs, tool, step, Clock::Cpu) {
                cpu_growth.insert(key, json!(g));
            }
        }
    }
    json!({
        "benchmark": "scale",
        "file_bytes": FILE_BYTES,
        "changed_in_v2": CHANGED,
        "ours": contenders.ours_version,
        "rocfl": contenders.rocfl.as_ref().and_then(|(_, v)| v.clone()),
        "meter": meter.describe(),
        "runs": rows,
        "worst_growth_per_tenfold": growth,
        "worst_cpu_growth_per_tenfold": cpu_growth,
        "growth_target": GROWTH_TARGET,
        "million": million_targets(runs).map(|(rss, cat)| json!({"commit_v1_rss_met": rss, "cat_met": cat})),
        "checks_ok": runs.iter().all(|r| r.problems.is_empty()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_increasing_and_within_the_layout() {
        assert_eq!(parse_sizes("10000,100_000").unwrap(), [10_000, 100_000]);
        assert!(parse_sizes("100000,10000").is_err());
        assert!(parse_sizes("5").is_err());
        assert!(parse_sizes("2000000").is_err());
        assert!(parse_sizes("ten").is_err());
        let parse = |list: &[&str]| crate::parse_args::<Args>(list).map(Options::from);
        assert_eq!(parse(&["--sizes", "20,200"]).unwrap().sizes, [20, 200]);
        assert_eq!(parse(&[]).unwrap().sizes, [10_000, 100_000, MILLION]);
        assert!(parse(&["--sizes", "200,20"]).is_err());
        assert_eq!(parse(&[]).unwrap().rocfl_up_to, usize::MAX);
        assert_eq!(parse(&["--rocfl-up-to", "100"]).unwrap().rocfl_up_to, 100);
    }

    #[test]
    fn a_step_of_several_processes_keeps_their_cpu_seconds() {
        let process = |seconds, cpu| Measurement {
            seconds,
            cpu_seconds: Some(cpu),
            peak_rss_kib: Some(10),
            stdout: String::new(),
        };
        let step = sequence(vec![process(1.0, 0.5), process(2.0, 0.25)]);
        assert_eq!(step.seconds, 3.0);
        assert_eq!(step.cpu_seconds, Some(0.75));
        assert_eq!(sequence(vec![process(1.0, 0.5)]).cpu_seconds, Some(0.5));
    }

    fn run_of(tool: Tool, files: usize, wall: f64, cpu: f64) -> Run {
        let m = Measurement {
            seconds: wall,
            cpu_seconds: Some(cpu),
            peak_rss_kib: Some(2048),
            stdout: String::new(),
        };
        Run {
            tool,
            files,
            steps: vec![m; Step::ALL.len()],
            problems: Vec::new(),
        }
    }

    /// Wall and CPU growth are computed apart: a loaded machine can inflate one only.
    #[test]
    fn growth_is_reported_in_wall_and_cpu_seconds() {
        let runs = [
            run_of(Tool::Ours, 10_000, 1.0, 1.0),
            run_of(Tool::Ours, 100_000, 20.0, 10.0),
        ];
        let wall = worst_growth(&runs, Tool::Ours, Step::Validate, Clock::Wall).unwrap();
        let cpu = worst_growth(&runs, Tool::Ours, Step::Validate, Clock::Cpu).unwrap();
        assert!((wall - 20.0).abs() < 1e-9, "{wall}");
        assert!((cpu - 10.0).abs() < 1e-9, "{cpu}");
        assert_eq!(
            worst_growth(&runs, Tool::Rocfl, Step::Validate, Clock::Cpu),
            None
        );
        let json = summary_json(
            &Contenders {
                ours: PathBuf::from("ocfl"),
                ours_version: None,
                rocfl: None,
            },
            &Meter::detect(),
            &runs,
        );
        assert_eq!(
            json["worst_cpu_growth_per_tenfold"]["ours_validate"],
            json!(10.0)
        );
        assert_eq!(
            json["worst_growth_per_tenfold"]["ours_validate"],
            json!(20.0)
        );
    }

    /// The Markdown table has one row per size and step, rocfl beside ours where it ran,
    /// and the growth line gives both clocks.
    #[test]
    fn the_markdown_table_pairs_ours_with_rocfl() {
        let runs = [
            run_of(Tool::Ours, 10_000, 1.0, 0.5),
            run_of(Tool::Rocfl, 10_000, 2.0, 2.0),
            run_of(Tool::Ours, 100_000, 10.0, 5.0),
        ];
        let table = markdown(&runs);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| 1")).collect();
        assert_eq!(rows.len(), 2 * Step::ALL.len(), "{table}");
        assert_eq!(
            rows[0],
            "| 10,000 | commit v1 | 1.000 | 0.50 | 2.0 | 2.000 | 2.00 | 2.0 | 0.50 | 0.25 |"
        );
        assert!(
            rows[5].starts_with("| 100,000 | commit v1 | 10.000 | 5.00 | 2.0 | - |"),
            "{}",
            rows[5]
        );
        assert!(
            table.contains("ours validate 10.0 wall / 10.0 CPU"),
            "{table}"
        );
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn growth_is_normalised_to_ten_times_the_files() {
        let linear = growth_per_tenfold((1_000, 10_000), (1.0, 10.0)).unwrap();
        assert!((linear - 10.0).abs() < 1e-9);
        // 100x the files in 121x the time: 11x per 10x.
        let two_decades = growth_per_tenfold((1_000, 100_000), (1.0, 121.0)).unwrap();
        assert!((two_decades - 11.0).abs() < 1e-9);
        assert_eq!(growth_per_tenfold((10, 10), (1.0, 2.0)), None);
    }

    /// A small object through every step of ours: the checks pass, and fail when the
    /// output is not what the steps must print.
    #[test]
    fn checks_see_a_wrong_listing_or_content() {
        let dir = tempfile::tempdir().unwrap();
        let source = generate(dir.path(), 40).unwrap();
        assert_eq!(source.changed.len(), CHANGED);
        assert_eq!(source.changed[1].0, "d00/d00/file-000004.dat");
        let mut steps = vec![Measurement::default(); Step::ALL.len()];
        steps[3].stdout = list_files(&source.v1)
            .unwrap()
            .iter()
            .map(|f| format!("{}\n", f.path))
            .collect();
        steps[4].stdout = source.changed[0].1.clone();
        assert_eq!(check(&steps, &source, 40), Vec::<String>::new());
        steps[4].stdout.push('x');
        steps[3].stdout.push_str("d00/d00/file-000000.dat\n");
        assert_eq!(check(&steps, &source, 40).len(), 2);
    }
}
