//! `cargo xtask bench validate [--scale small|full] [--root-shape many-objects|one-object]
//! [--keep DIR] [--runs N]`: generates a storage root deterministically (or, for one object,
//! has rocfl build it), checks that every validator accepts it (and rejects a corrupted copy),
//! then times each validator and the floor (`sha512sum` of the content) on it, alternating
//! their order, and prints a table plus one JSON line with the wall and CPU medians and the
//! ratios against the targets.
//!
//! The other subcommands are the modules below ([`stage`], [`plan`], [`engine`], [`commit`],
//! [`store`], [`serve`], [`scale`], [`s3`]). `cargo xtask bench ...` runs all of them in a
//! release build of this crate. See docs/benchmarks.md.

pub(crate) mod commit;
mod engine;
mod generate;
mod memory;
mod one_object;
pub(crate) mod peers;
mod plan;
pub(crate) mod prng;
mod s3;
mod scale;
mod serve;
mod source;
mod stage;
mod store;

use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitCode};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use commit::measure::Meter;
use generate::{Generated, Profile, SEED};
use peers::{Invocation, Outcome, Peer, Validator};

/// The design's targets on the many-object root: our median over the peer's median must not
/// exceed these.
const TARGETS: [(Peer, f64); 2] = [(Peer::Rocfl, 0.5), (Peer::OcflPy, 0.1)];

/// Issue 19's targets for one big object.
const ONE_OBJECT_TARGETS: [(Peer, f64); 2] = [(Peer::Rocfl, 0.33), (Peer::OcflPy, 0.08)];

/// What the benchmark root holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RootShape {
    /// The 'many' object and the small objects (1,001 at `full`), written by the generator
    /// with layout 0004.
    ManyObjects,
    /// The 'many' object alone, built by rocfl with layout 0003 (skipped without rocfl).
    OneObject,
}

impl RootShape {
    fn key(self) -> &'static str {
        match self {
            RootShape::ManyObjects => "many-objects",
            RootShape::OneObject => "one-object",
        }
    }

    fn targets(self) -> [(Peer, f64); 2] {
        match self {
            RootShape::ManyObjects => TARGETS,
            RootShape::OneObject => ONE_OBJECT_TARGETS,
        }
    }
}

/// `cargo xtask bench SUBCOMMAND`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// End-to-end validation of a generated storage root against rocfl and ocfl-py.
    Validate(ValidateArgs),
    /// Staging throughput against `sha512sum`.
    Stage(stage::Args),
    /// Time and memory of planning N files (new object and update).
    Plan(plan::Args),
    /// The durable-redb engine against duroxide (and durable-postgres, DBOS).
    Engine(engine::Args),
    /// `ocfl commit` of 'many', 'large' and 'mixed' against rocfl and the floor; with
    /// `--files`, peak RSS by file size or (with `--edit`) file-level edits.
    Commit(commit::Args),
    /// The engine store's size with and without purges.
    Store(store::Args),
    /// The console's page latencies and peak RSS.
    Serve(serve::Args),
    /// One object of 10,000 to 1,000,000 files: commit, edit, validate, ls, cat against
    /// rocfl, plotted as SVG.
    Scale(scale::Args),
    /// Commits and validation on a private S3 server over https against rocfl and a plain
    /// parallel upload.
    S3(s3::Args),
    /// A timed child of `stage`: stages DIR, prints `files bytes peak_rss_kib`.
    #[command(hide = true)]
    StageOnce {
        /// The directory to stage.
        dir: PathBuf,
    },
    /// A timed child of `plan`: one measurement, as a JSON line.
    #[command(hide = true)]
    PlanOnce {
        /// Files to plan.
        files: usize,
        /// `new` or `update`.
        scenario: plan::Scenario,
    },
    /// A timed child of `s3`: uploads SOURCE below `s3://BUCKET/PREFIX/` (endpoint,
    /// credentials and `AWS_CA_BUNDLE` from the environment).
    #[command(hide = true)]
    S3FloorOnce(s3::floor::UploadArgs),
    /// A timed child of `s3`: reads every key below `s3://BUCKET/PREFIX/`.
    #[command(hide = true)]
    S3ReadFloorOnce(s3::floor::ReadArgs),
    /// A timed child of `commit --edit`: the least an OCFL writer does to add a version of
    /// OBJECT that adds, replaces and removes the named files.
    #[command(hide = true)]
    EditFloorOnce(commit::edit_floor::Args),
}

/// `bench SUBCOMMAND`: this binary is built in release by `cargo xtask bench`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate(args) => {
            bench_validate(&Options::from(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stage(args) => stage::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Engine(args) => {
            engine::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Commit(args) => commit::run(args),
        Command::Store(args) => {
            store::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            serve::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scale(args) => scale::run(args),
        Command::S3(args) => s3::run(args),
        Command::StageOnce { dir } => stage::run_once(&dir),
        Command::PlanOnce { files, scenario } => plan::run_once(files, scenario),
        Command::S3FloorOnce(args) => s3::floor::run_once(args),
        Command::S3ReadFloorOnce(args) => s3::floor::read_once(args),
        Command::EditFloorOnce(args) => commit::edit_floor::run_once(args),
    }
}

/// The size of a generated root or source tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// A few thousand files, for a quick check.
    Small,
    /// The design's benchmark size.
    Full,
}

impl Scale {
    /// The name the JSON lines record.
    pub fn key(self) -> &'static str {
        match self {
            Scale::Small => "small",
            Scale::Full => "full",
        }
    }
}

/// `bench validate`'s command line.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The generated root's size.
    #[arg(long, value_enum, default_value = "full")]
    scale: Scale,
    /// What the root holds: many objects, or one big object built by rocfl.
    #[arg(long, value_enum, default_value = "many-objects")]
    root_shape: RootShape,
    /// Generate the root into DIR and keep it.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Timed runs per validator.
    #[arg(long, default_value = "3", value_parser = positive)]
    runs: usize,
    /// Time our validator called in this process instead of the `ocfl` binary.
    #[arg(long)]
    in_process: bool,
}

/// The command line, validated.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    scale: &'static str,
    profile: Profile,
    shape: RootShape,
    keep: Option<PathBuf>,
    runs: usize,
    /// Time our validator called in this process instead of the `ocfl` binary.
    in_process: bool,
}

impl From<ValidateArgs> for Options {
    fn from(args: ValidateArgs) -> Options {
        Options {
            scale: args.scale.key(),
            profile: match args.scale {
                Scale::Small => Profile::SMALL,
                Scale::Full => Profile::FULL,
            },
            shape: args.root_shape,
            keep: args.keep,
            runs: args.runs,
            in_process: args.in_process,
        }
    }
}

/// A count that must be at least 1 (`--runs` and the like).
pub(crate) fn positive(text: &str) -> Result<usize, String> {
    text.parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("needs a positive number, not {text:?}"))
}

/// A comma-separated list of counts, each at least 1 (`--sizes-kib 1,16`).
pub(crate) fn positive_list(text: &str) -> Result<Vec<u64>, String> {
    text.split(',')
        .map(|s| s.trim().parse().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("needs positive numbers like 1,16, not {text:?}"))
}

/// One validator's figures over the whole benchmark.
struct Measured {
    validator: Validator,
    /// The untimed first run on the benchmark root (also warms the page cache).
    check: Outcome,
    /// Whether it rejected the deliberately corrupted root.
    rejects_corrupt: bool,
    times: Vec<f64>,
    /// CPU seconds (user + system) of each timed run, when GNU time measured them all.
    cpu: Option<Vec<f64>>,
}

impl Measured {
    fn median(&self) -> Option<f64> {
        median(&self.times)
    }

    fn cpu_median(&self) -> Option<f64> {
        median(self.cpu.as_ref()?)
    }
}

fn bench_validate(options: &Options) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let (validators, missing) = find_validators(options, temp.path())?;

    // The root under test: a temporary directory, or the kept one.
    let root = options
        .keep
        .clone()
        .unwrap_or_else(|| temp.path().join("root"));
    eprintln!(
        "bench: generating the {} profile into {}",
        options.scale,
        root.display()
    );
    let start = Instant::now();
    let generated = match options.shape {
        RootShape::ManyObjects => generate::generate_root(&root, options.profile, SEED)?,
        RootShape::OneObject => {
            let Some(rocfl) = rocfl_program() else {
                eprintln!(
                    "bench: rocfl not found: the one-object root is built by rocfl, skipped (install: {})",
                    Peer::Rocfl.install_hint()
                );
                println!(
                    "{}",
                    json!({"bench": "validate", "root_shape": options.shape.key(), "skipped": "rocfl is not installed"})
                );
                return Ok(());
            };
            let source = temp.path().join("source");
            let built = one_object::build(&rocfl, &root, &source, options.profile, SEED)?;
            std::fs::remove_dir_all(&source)?;
            built
        }
    };
    eprintln!(
        "bench: {} objects, {} content files, {} bytes in {:.1} s",
        generated.objects,
        generated.content_files,
        generated.content_bytes,
        start.elapsed().as_secs_f64()
    );
    let corrupt = temp.path().join("corrupt");
    make_corrupt_root(&corrupt)?;

    let mut measured = validators
        .into_iter()
        .map(|validator| check(validator, &root, &corrupt))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let meter = match Meter::detect() {
        Meter::GnuTime(path) => Some(path),
        Meter::Proc => {
            eprintln!("bench: GNU time (/usr/bin/time) not found: no CPU seconds");
            None
        }
    };
    eprintln!(
        "bench: load average {:?} before the timed runs",
        load_average()
    );
    time_runs(&mut measured, &root, options.runs, meter.as_deref())?;
    eprintln!("bench: load average {:?} after", load_average());

    print_table(&measured, &missing, options);
    println!("{}", summary_json(options, &generated, &measured, &missing));
    if let Some(kept) = &options.keep {
        eprintln!("bench: the root is kept at {}", kept.display());
    }
    Ok(())
}

/// Ours (built first unless `--in-process`) and the installed peers; the missing peers are
/// reported with how to install them.
fn find_validators(
    options: &Options,
    work_dir: &Path,
) -> anyhow::Result<(Vec<Validator>, Vec<Peer>)> {
    let ours_binary = if options.in_process {
        // No binary: Validator::ours falls back to the in-process call, labelled as such.
        PathBuf::new()
    } else {
        build_ours(&workspace_root())
    };
    let mut validators = vec![Validator::ours(&ours_binary)];
    let mut missing = Vec::new();
    for (peer, found) in [
        (Peer::Rocfl, Validator::rocfl()),
        (Peer::OcflPy, Validator::ocfl_py(work_dir)?),
        (Peer::Floor, Validator::floor()),
    ] {
        match found {
            Some(validator) => validators.push(validator),
            None => {
                eprintln!(
                    "bench: {} not found, skipped (install: {})",
                    peer.key(),
                    peer.install_hint()
                );
                missing.push(peer);
            }
        }
    }
    for validator in &validators {
        if let (Some(expected), Some(found)) =
            (validator.peer.expected_version(), &validator.version)
            && !found.contains(expected)
        {
            eprintln!(
                "bench: warning: {} is {found:?}; the targets are stated against {expected}",
                validator.peer.key()
            );
        }
    }
    Ok((validators, missing))
}

/// The untimed first run: the tool must accept `root` and reject `corrupt`.
fn check(validator: Validator, root: &Path, corrupt: &Path) -> anyhow::Result<Measured> {
    eprintln!(
        "bench: checking {} ({})",
        validator.label(),
        validator.command_line()
    );
    let check = validator.run(root)?;
    if !validator.peer.validates() {
        // The floor reads and hashes; it has no verdict on a corrupted file.
        anyhow::ensure!(
            check.valid,
            "{} failed (exit {:?}):\n{}",
            validator.command_line(),
            check.exit_status,
            excerpt(&check.output)
        );
        return Ok(Measured {
            validator,
            check,
            rejects_corrupt: true,
            times: Vec::new(),
            cpu: Some(Vec::new()),
        });
    }
    if !check.valid {
        eprintln!(
            "bench: {} reports the generated root INVALID (exit {:?}); the generator is wrong or the tool is:\n{}",
            validator.peer.key(),
            check.exit_status,
            excerpt(&check.output)
        );
    }
    let rejects_corrupt = !validator.run(corrupt)?.valid;
    if !rejects_corrupt {
        eprintln!(
            "bench: {} accepts a root with a corrupted content file: it is not checking digests (a stub?)",
            validator.peer.key()
        );
    }
    Ok(Measured {
        validator,
        check,
        rejects_corrupt,
        times: Vec::new(),
        cpu: Some(Vec::new()),
    })
}

/// `runs` timed runs of every tool, rotating the order by one each run so that no tool
/// always goes first (or always right after another tool warmed something for it).
/// CPU seconds are taken by GNU time at `gnu_time`, when given.
fn time_runs(
    measured: &mut [Measured],
    root: &Path,
    runs: usize,
    gnu_time: Option<&Path>,
) -> anyhow::Result<()> {
    for run in 0..runs {
        for offset in 0..measured.len() {
            let index = (run + offset) % measured.len();
            let entry = &mut measured[index];
            let outcome = entry.validator.run_metered(root, gnu_time)?;
            eprintln!(
                "bench: run {}/{runs} {}: {:.3} s wall, {} s CPU",
                run + 1,
                entry.validator.peer.key(),
                outcome.seconds,
                outcome
                    .cpu_seconds
                    .map_or("-".into(), |c| format!("{c:.3}"))
            );
            match (&mut entry.cpu, outcome.cpu_seconds) {
                (Some(cpu), Some(seconds)) => cpu.push(seconds),
                (cpu, _) => *cpu = None,
            }
            if outcome.valid != entry.check.valid {
                eprintln!(
                    "bench: warning: {} changed its verdict between runs (exit {:?})",
                    entry.validator.peer.key(),
                    outcome.exit_status
                );
            }
            entry.times.push(outcome.seconds);
        }
    }
    Ok(())
}

/// The workspace root: this crate lives two levels below it (`benches/compare`).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the release `ocfl` binary and returns where it should be; a failed build is
/// reported and leaves the in-process fallback to be used (if no older binary exists).
fn build_ours(workspace: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: cargo build --release -p ocfl-cli");
    match Process::new(cargo)
        .args(["build", "--release", "-p", "ocfl-cli"])
        .current_dir(workspace)
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("bench: warning: building ocfl-cli failed ({status})"),
        Err(e) => eprintln!("bench: warning: could not run cargo: {e}"),
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target
        .join("release")
        .join(format!("ocfl{}", std::env::consts::EXE_SUFFIX))
}

/// A tiny root with one content file's bytes changed after its digests were recorded: a
/// validator that checks digests must reject it.
fn make_corrupt_root(dir: &Path) -> anyhow::Result<()> {
    let tiny = Profile {
        many_files: 20,
        small_objects: 3,
    };
    generate::generate_root(dir, tiny, SEED)?;
    let object = dir.join(generate::object_root_path(generate::MANY_ID));
    let content = object.join("v1").join("content");
    let victim = first_file_under(&content)?
        .with_context(|| format!("no content file under {}", content.display()))?;
    let mut bytes = std::fs::read(&victim)?;
    if let Some(first) = bytes.first_mut() {
        *first ^= 0xFF;
    }
    std::fs::write(&victim, bytes)?;
    Ok(())
}

fn first_file_under(dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_file() {
            return Ok(Some(path));
        }
        if let Some(found) = first_file_under(&path)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The first lines of a tool's output, enough to see why it failed.
fn excerpt(output: &str) -> String {
    const LINES: usize = 20;
    let mut text: Vec<&str> = output.lines().take(LINES).collect();
    if output.lines().count() > LINES {
        text.push("...");
    }
    text.join("\n")
}

/// The one-minute load average (Linux), recorded with the figures: on a shared machine the
/// other load explains much of the spread between runs.
/// rocfl's program, when installed (`PATH` or `~/.cargo/bin`).
pub(crate) fn rocfl_program() -> Option<PathBuf> {
    match peers::Validator::rocfl()?.invocation {
        Invocation::Program { program, .. } => Some(program),
        Invocation::InProcess => None,
    }
}

fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn median(times: &[f64]) -> Option<f64> {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn median_of(measured: &[Measured], peer: Peer) -> Option<f64> {
    measured
        .iter()
        .find(|m| m.validator.peer == peer)
        .and_then(Measured::median)
}

/// Our median over `peer`'s.
fn ratio(measured: &[Measured], peer: Peer) -> Option<f64> {
    let ours = median_of(measured, Peer::Ours)?;
    let theirs = median_of(measured, peer)?;
    (theirs > 0.0).then(|| ours / theirs)
}

/// Our CPU median over `peer`'s.
fn cpu_ratio(measured: &[Measured], peer: Peer) -> Option<f64> {
    let cpu_of = |peer: Peer| {
        measured
            .iter()
            .find(|m| m.validator.peer == peer)
            .and_then(Measured::cpu_median)
    };
    let (ours, theirs) = (cpu_of(Peer::Ours)?, cpu_of(peer)?);
    (theirs > 0.0).then(|| ours / theirs)
}

/// Why the ratios do not measure comparable work, if they do not: every validator must accept
/// the generated root and reject the corrupted one, or the faster tool may just be skipping
/// the work (a stub, or digests not checked).
fn not_comparable(measured: &[Measured]) -> Vec<String> {
    let mut reasons = Vec::new();
    for m in measured.iter().filter(|m| m.validator.peer.validates()) {
        if !m.check.valid {
            reasons.push(format!(
                "{} reports the generated root invalid",
                m.validator.peer.key()
            ));
        }
        if !m.rejects_corrupt {
            reasons.push(format!(
                "{} accepts a corrupted content file",
                m.validator.peer.key()
            ));
        }
    }
    reasons
}

/// Whether the target is met: `None` when there is no ratio or it is not meaningful.
fn target_met(measured: &[Measured], peer: Peer, target: f64) -> Option<bool> {
    let r = ratio(measured, peer)?;
    not_comparable(measured).is_empty().then_some(r <= target)
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "NO" }
}

fn print_table(measured: &[Measured], missing: &[Peer], options: &Options) {
    println!("root shape: {}", options.shape.key());
    println!(
        "{:<40} {:>4} {:>10} {:>12} {:>9} {:>11} {:>10} {:>6} {:>15}",
        "tool",
        "runs",
        "median s",
        "ours / this",
        "CPU s",
        "ours / CPU",
        "root valid",
        "exit",
        "rejects corrupt"
    );
    let shown = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.3}"));
    for m in measured {
        let (ratio, cpu_ratio) = match m.validator.peer {
            Peer::Ours => ("1.000".to_string(), "1.000".to_string()),
            peer => (
                shown(ratio(measured, peer)),
                shown(cpu_ratio(measured, peer)),
            ),
        };
        let exit = m
            .check
            .exit_status
            .map_or("-".to_string(), |c| c.to_string());
        println!(
            "{:<40} {:>4} {:>10.3} {:>12} {:>9} {:>11} {:>10} {:>6} {:>15}",
            m.validator.label(),
            options.runs,
            m.median().unwrap_or(f64::NAN),
            ratio,
            shown(m.cpu_median()),
            cpu_ratio,
            yes_no(m.check.valid),
            exit,
            if m.validator.peer.validates() {
                yes_no(m.rejects_corrupt)
            } else {
                "-"
            }
        );
    }
    for peer in missing {
        println!("{:<58} not installed ({})", peer.key(), peer.install_hint());
    }
    for (peer, target) in options.shape.targets() {
        if let Some(r) = ratio(measured, peer) {
            let verdict = match target_met(measured, peer, target) {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not meaningful (see below)",
            };
            println!(
                "target ours/{} <= {target}: {r:.3} -> {verdict}",
                peer.key()
            );
        }
    }
    for reason in not_comparable(measured) {
        println!("not comparable: {reason}");
    }
}

fn summary_json(
    options: &Options,
    generated: &Generated,
    measured: &[Measured],
    missing: &[Peer],
) -> Value {
    let tools: Vec<Value> = measured
        .iter()
        .map(|m| {
            json!({
                "tool": m.validator.peer.key(),
                "label": m.validator.label(),
                "command": m.validator.command_line(),
                "in_process": matches!(m.validator.invocation, Invocation::InProcess),
                "version": m.validator.version,
                "times_s": m.times,
                "median_s": m.median(),
                "cpu_s": m.cpu,
                "median_cpu_s": m.cpu_median(),
                "valid": m.check.valid,
                "exit_status": m.check.exit_status,
                "rejects_corrupt": m.rejects_corrupt,
            })
        })
        .collect();
    let mut ratios = serde_json::Map::new();
    let mut cpu_ratios = serde_json::Map::new();
    for peer in [Peer::Rocfl, Peer::OcflPy, Peer::Floor] {
        let key = format!("ours/{}", peer.key());
        ratios.insert(key.clone(), json!(ratio(measured, peer)));
        cpu_ratios.insert(key, json!(cpu_ratio(measured, peer)));
    }
    let mut targets = serde_json::Map::new();
    let mut met = serde_json::Map::new();
    for (peer, target) in options.shape.targets() {
        let key = format!("ours/{}", peer.key());
        targets.insert(key.clone(), json!(target));
        met.insert(key, json!(target_met(measured, peer, target)));
    }
    json!({
        "bench": "validate",
        "scale": options.scale,
        "root_shape": options.shape.key(),
        "seed": SEED,
        "runs": options.runs,
        "objects": generated.objects,
        "content_files": generated.content_files,
        "content_bytes": generated.content_bytes,
        "tools": tools,
        "missing": missing.iter().map(|p| p.key()).collect::<Vec<_>>(),
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "targets": targets,
        "met": met,
        "not_comparable": not_comparable(measured),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<Options, clap::Error> {
        crate::parse_args::<ValidateArgs>(list).map(Options::from)
    }

    #[test]
    fn options_default_to_the_full_profile_and_three_runs() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.profile, Profile::FULL);
        assert_eq!(options.runs, 3);
        assert_eq!(options.keep, None);
        assert!(!options.in_process);
        assert_eq!(options.shape, RootShape::ManyObjects);
    }

    #[test]
    fn the_one_object_shape_has_issue_19s_targets() {
        let options = parse(&["--root-shape", "one-object"]).unwrap();
        assert_eq!(options.shape, RootShape::OneObject);
        assert_eq!(options.shape.targets(), ONE_OBJECT_TARGETS);
        assert_eq!(parse(&[]).unwrap().shape.targets(), TARGETS);
        assert!(parse(&["--root-shape", "two-objects"]).is_err());
    }

    #[test]
    fn options_parse_scale_keep_and_runs() {
        let options = parse(&["--scale", "small", "--keep", "/tmp/x", "--runs", "5"]).unwrap();
        assert_eq!(options.profile, Profile::SMALL);
        assert_eq!(options.keep, Some(PathBuf::from("/tmp/x")));
        assert_eq!(options.runs, 5);
        assert!(parse(&["--in-process"]).unwrap().in_process);
        assert!(parse(&["--scale", "huge"]).is_err());
        assert!(parse(&["--runs", "0"]).is_err());
        assert!(parse(&["--runs"]).is_err());
        assert!(parse(&["--unknown"]).is_err());
    }

    /// The floor's run is timed in CPU too, and it has no verdict on a corrupted root, so it
    /// never makes the validators' ratios "not comparable".
    #[test]
    fn the_floor_is_timed_and_never_makes_the_ratios_not_comparable() {
        let Some(floor) = Validator::floor() else {
            eprintln!("sha512sum is not installed; nothing to check");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("o/v1/content")).unwrap();
        std::fs::write(dir.path().join("o/v1/content/a"), b"a").unwrap();
        let gnu_time = match Meter::detect() {
            Meter::GnuTime(path) => Some(path),
            Meter::Proc => None,
        };
        let outcome = floor.run_metered(dir.path(), gnu_time.as_deref()).unwrap();
        assert!(outcome.valid, "{}", outcome.output);
        assert_eq!(outcome.cpu_seconds.is_some(), gnu_time.is_some());
        let measured = [Measured {
            validator: floor,
            check: outcome,
            rejects_corrupt: false,
            times: vec![0.1],
            cpu: None,
        }];
        assert!(not_comparable(&measured).is_empty());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
