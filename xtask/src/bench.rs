//! `cargo xtask bench validate [--scale small|full] [--keep DIR] [--runs N]`: generates a
//! storage root deterministically, checks that every validator accepts it (and rejects a
//! corrupted copy), then times each validator on it, alternating their order, and prints a
//! table plus one JSON line with the medians and the ratios against the design's targets.
//!
//! `cargo xtask bench stage` (staging throughput against `sha512sum`, [`stage`]) and
//! `cargo xtask bench plan` (time and memory of planning 100,000 files, [`plan`]) run in a
//! release build of xtask, which they build and start when run from a debug one.
//! See docs/benchmarks.md.

pub(crate) mod commit;
mod engine;
mod generate;
mod memory;
pub(crate) mod peers;
mod plan;
pub(crate) mod prng;
mod release;
mod s3;
mod scale;
mod serve;
mod source;
mod stage;
mod store;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use generate::{Generated, Profile, SEED};
use peers::{Invocation, Outcome, Peer, Validator};

/// Design targets: our median over the peer's median must not exceed these.
const TARGETS: [(Peer, f64); 2] = [(Peer::Rocfl, 0.5), (Peer::OcflPy, 0.1)];

const USAGE: &str = "usage: cargo xtask bench validate [--scale small|full] [--keep DIR] [--runs N]
       cargo xtask bench stage [--profile many|large|both] [--runs N] [--keep DIR]
       cargo xtask bench plan [--files N] [--runs N]
       cargo xtask bench engine [--runs N] [--orchestration-concurrency N] [--activity-concurrency N] [--postgres URL]
       cargo xtask bench commit [--profile many|large|mixed|all] [--scale small|full] [--runs N] [--keep DIR]
       cargo xtask bench commit --files N [--sizes-kib A,B] [--keep DIR]
       cargo xtask bench store [--runs N] [--window W] [--rounds R] [--keep DIR]
       cargo xtask bench serve [--files N] [--runs N] [--pages P] [--keep DIR]
       cargo xtask bench scale [--sizes N,N,...] [--rocfl-up-to N] [--plot PATH] [--keep DIR] [--ours PATH]
       cargo xtask bench s3 [--profile many|large|all] [--scale small|full] [--runs N] [--no-validate] [--ours PATH]";

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    match args.first().map(String::as_str) {
        Some("engine") => {
            engine::run(&args[1..])?;
            Ok(ExitCode::SUCCESS)
        }
        Some("validate") => {
            let options = Options::parse(&args[1..])?;
            bench_validate(&options)?;
            Ok(ExitCode::SUCCESS)
        }
        Some("store") => {
            store::run(&args[1..])?;
            Ok(ExitCode::SUCCESS)
        }
        Some("serve") => {
            serve::run(&args[1..])?;
            Ok(ExitCode::SUCCESS)
        }
        Some("stage") => match release::rerun_optimized(args)? {
            Some(code) => Ok(code),
            None => stage::run(&args[1..]),
        },
        Some("plan") => match release::rerun_optimized(args)? {
            Some(code) => Ok(code),
            None => plan::run(&args[1..]),
        },
        Some("commit") => match release::rerun_optimized(args)? {
            Some(code) => Ok(code),
            None => commit::run(&args[1..]),
        },
        Some("scale") => match release::rerun_optimized(args)? {
            Some(code) => Ok(code),
            None => scale::run(&args[1..]),
        },
        Some("s3") => match release::rerun_optimized(args)? {
            Some(code) => Ok(code),
            None => s3::run(&args[1..]),
        },
        // The timed children of `stage`, `plan` and `s3`, started by them.
        Some("s3-floor-once") => s3::floor::run_once(&args[1..]),
        Some("s3-read-floor-once") => s3::floor::read_once(&args[1..]),
        Some("stage-once") => stage::run_once(&args[1..]),
        Some("plan-once") => plan::run_once(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The command line, validated.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    scale: &'static str,
    profile: Profile,
    keep: Option<PathBuf>,
    runs: usize,
    /// Time our validator called in this process instead of the `ocfl` binary.
    in_process: bool,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            scale: "full",
            profile: Profile::FULL,
            keep: None,
            runs: 3,
            in_process: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .with_context(|| format!("{arg} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--scale" => {
                    (options.scale, options.profile) = match value()?.as_str() {
                        "small" => ("small", Profile::SMALL),
                        "full" => ("full", Profile::FULL),
                        other => anyhow::bail!("unknown scale {other:?}\n{USAGE}"),
                    }
                }
                "--in-process" => options.in_process = true,
                "--keep" => options.keep = Some(PathBuf::from(value()?)),
                "--runs" => {
                    let text = value()?;
                    options.runs =
                        text.parse().ok().filter(|&n| n > 0).with_context(|| {
                            format!("--runs needs a positive number, not {text:?}")
                        })?;
                }
                other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        Ok(options)
    }
}

/// One validator's figures over the whole benchmark.
struct Measured {
    validator: Validator,
    /// The untimed first run on the benchmark root (also warms the page cache).
    check: Outcome,
    /// Whether it rejected the deliberately corrupted root.
    rejects_corrupt: bool,
    times: Vec<f64>,
}

impl Measured {
    fn median(&self) -> Option<f64> {
        median(&self.times)
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
    let generated = generate::generate_root(&root, options.profile, SEED)?;
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
    time_runs(&mut measured, &root, options.runs)?;

    print_table(&measured, &missing, options.runs);
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
    })
}

/// `runs` timed runs of every tool, rotating the order by one each run so that no tool
/// always goes first (or always right after another tool warmed something for it).
fn time_runs(measured: &mut [Measured], root: &Path, runs: usize) -> anyhow::Result<()> {
    for run in 0..runs {
        for offset in 0..measured.len() {
            let index = (run + offset) % measured.len();
            let entry = &mut measured[index];
            let outcome = entry.validator.run(root)?;
            eprintln!(
                "bench: run {}/{runs} {}: {:.3} s",
                run + 1,
                entry.validator.peer.key(),
                outcome.seconds
            );
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

/// The workspace root: xtask lives one level below it.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Builds the release `ocfl` binary and returns where it should be; a failed build is
/// reported and leaves the in-process fallback to be used (if no older binary exists).
fn build_ours(workspace: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: cargo build --release -p ocfl-cli");
    match Command::new(cargo)
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

/// A `--runs` value: a positive number.
fn parse_runs(text: &str) -> anyhow::Result<usize> {
    text.parse()
        .ok()
        .filter(|&n| n > 0)
        .with_context(|| format!("--runs needs a positive number, not {text:?}"))
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

/// Why the ratios do not measure comparable work, if they do not: every validator must accept
/// the generated root and reject the corrupted one, or the faster tool may just be skipping
/// the work (a stub, or digests not checked).
fn not_comparable(measured: &[Measured]) -> Vec<String> {
    let mut reasons = Vec::new();
    for m in measured {
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

fn print_table(measured: &[Measured], missing: &[Peer], runs: usize) {
    println!(
        "{:<58} {:>4} {:>10} {:>12} {:>10} {:>6} {:>15}",
        "tool", "runs", "median s", "ours / this", "root valid", "exit", "rejects corrupt"
    );
    for m in measured {
        let ratio = match m.validator.peer {
            Peer::Ours => "1.000".to_string(),
            peer => ratio(measured, peer).map_or("-".into(), |r| format!("{r:.3}")),
        };
        let exit = m
            .check
            .exit_status
            .map_or("-".to_string(), |c| c.to_string());
        println!(
            "{:<58} {:>4} {:>10.3} {:>12} {:>10} {:>6} {:>15}",
            m.validator.label(),
            runs,
            m.median().unwrap_or(f64::NAN),
            ratio,
            yes_no(m.check.valid),
            exit,
            yes_no(m.rejects_corrupt)
        );
    }
    for peer in missing {
        println!("{:<58} not installed ({})", peer.key(), peer.install_hint());
    }
    for (peer, target) in TARGETS {
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
                "valid": m.check.valid,
                "exit_status": m.check.exit_status,
                "rejects_corrupt": m.rejects_corrupt,
            })
        })
        .collect();
    let mut ratios = serde_json::Map::new();
    let mut targets = serde_json::Map::new();
    let mut met = serde_json::Map::new();
    for (peer, target) in TARGETS {
        let key = format!("ours/{}", peer.key());
        let r = ratio(measured, peer);
        ratios.insert(key.clone(), json!(r));
        targets.insert(key.clone(), json!(target));
        met.insert(key, json!(target_met(measured, peer, target)));
    }
    json!({
        "bench": "validate",
        "scale": options.scale,
        "seed": SEED,
        "runs": options.runs,
        "objects": generated.objects,
        "content_files": generated.content_files,
        "content_bytes": generated.content_bytes,
        "tools": tools,
        "missing": missing.iter().map(|p| p.key()).collect::<Vec<_>>(),
        "ratios": ratios,
        "targets": targets,
        "met": met,
        "not_comparable": not_comparable(measured),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_default_to_the_full_profile_and_three_runs() {
        let options = Options::parse(&[]).unwrap();
        assert_eq!(options.profile, Profile::FULL);
        assert_eq!(options.runs, 3);
        assert_eq!(options.keep, None);
        assert!(!options.in_process);
    }

    #[test]
    fn options_parse_scale_keep_and_runs() {
        let options = Options::parse(&args(&[
            "--scale", "small", "--keep", "/tmp/x", "--runs", "5",
        ]))
        .unwrap();
        assert_eq!(options.profile, Profile::SMALL);
        assert_eq!(options.keep, Some(PathBuf::from("/tmp/x")));
        assert_eq!(options.runs, 5);
        assert!(Options::parse(&args(&["--in-process"])).unwrap().in_process);
        assert!(Options::parse(&args(&["--scale", "huge"])).is_err());
        assert!(Options::parse(&args(&["--runs", "0"])).is_err());
        assert!(Options::parse(&args(&["--runs"])).is_err());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
