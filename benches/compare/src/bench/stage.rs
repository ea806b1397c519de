//! `cargo xtask bench stage [--profile many|large|both] [--runs N] [--keep DIR]`: staging
//! throughput (`ocfl_plan::stage::Stage::from_directory`, sha512, files hashed in parallel)
//! against `sha512sum` of the same files, in the same run, warm page cache for both.
//!
//! Both tools are timed as processes, from spawn to exit: ours is this (release) binary's
//! hidden `bench stage-once DIR`, theirs `find . -type f -print0 | xargs -0 sha512sum`.
//! An untimed first run of each warms the cache and checks that both computed the same
//! digest for every file. See docs/benchmarks.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::Context;
use ocfl_plan::stage::{Stage, StageOptions};
use serde_json::{Value, json};

use super::memory;
use super::source::{SourceProfile, SourceTree, generate_source, seed_of};

/// Design target: our throughput at least this many times `sha512sum`'s.
pub const TARGET: f64 = 1.5;

/// The shell pipeline timed for `sha512sum`, run in the source directory.
const SHA512SUM: &str = "find . -type f -print0 | xargs -0 sha512sum";

/// The command line, validated.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    profiles: Vec<SourceProfile>,
    runs: usize,
    keep: Option<PathBuf>,
}

/// `--profile`: which source trees are staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProfileChoice {
    Many,
    Large,
    Both,
}

/// `bench stage`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source trees staged.
    #[arg(long, value_enum, default_value = "both")]
    profile: ProfileChoice,
    /// Timed runs per tool and tree.
    #[arg(long, default_value = "5", value_parser = super::positive)]
    runs: usize,
    /// Generate the source trees under DIR and keep them.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

impl From<Args> for Options {
    fn from(args: Args) -> Options {
        Options {
            profiles: match args.profile {
                ProfileChoice::Many => vec![SourceProfile::MANY],
                ProfileChoice::Large => vec![SourceProfile::LARGE],
                ProfileChoice::Both => vec![SourceProfile::MANY, SourceProfile::LARGE],
            },
            runs: args.runs,
            keep: args.keep,
        }
    }
}

/// `bench stage ARGS`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = Options::from(args);
    let load_before = super::load_average();
    let temp = tempfile::tempdir()?;
    let base = options.keep.clone().unwrap_or_else(|| temp.path().into());
    let mut results = Vec::new();
    for &profile in &options.profiles {
        let dir = base.join(profile.key());
        eprintln!(
            "bench: generating '{}' into {}",
            profile.key(),
            dir.display()
        );
        let start = Instant::now();
        let tree = generate_source(&dir, profile, seed_of(profile))?;
        eprintln!(
            "bench: {} files, {} bytes in {:.1} s",
            tree.files,
            tree.bytes,
            start.elapsed().as_secs_f64()
        );
        check_same_digests(&dir)?;
        results.push(time_profile(profile, tree, &dir, options.runs)?);
    }
    let load = [load_before, super::load_average()];
    print_table(&results, options.runs);
    println!("load average (1 min) before and after: {load:?}");
    println!("{}", summary_json(&options, &results, load));
    if let Some(kept) = &options.keep {
        eprintln!("bench: the source trees are kept under {}", kept.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `bench stage-once DIR`: stages `DIR` as the timed run does and prints `files bytes
/// peak_rss_kib` on stdout.
pub fn run_once(dir: &Path) -> anyhow::Result<ExitCode> {
    let stage = Stage::from_directory(dir, &StageOptions::default())
        .with_context(|| format!("staging {}", dir.display()))?;
    let peak = memory::resident()?.peak_kib;
    println!("{} {} {peak}", stage.len(), stage.total_bytes());
    Ok(ExitCode::SUCCESS)
}

/// The untimed first run of both tools (which also warms the page cache): every file must
/// get the same sha512 from both, or they are not doing the same work.
fn check_same_digests(dir: &Path) -> anyhow::Result<()> {
    let output = Command::new("sh")
        .args(["-c", SHA512SUM])
        .current_dir(dir)
        .output()
        .context("running sha512sum")?;
    anyhow::ensure!(
        output.status.success(),
        "{SHA512SUM} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs = parse_sha512sum(&String::from_utf8_lossy(&output.stdout))?;
    let stage = Stage::from_directory(dir, &StageOptions::default())
        .with_context(|| format!("staging {}", dir.display()))?;
    let ours: BTreeMap<String, String> = stage
        .files()
        .iter()
        .map(|(logical, file)| (logical.to_string(), file.digest.to_string()))
        .collect();
    anyhow::ensure!(
        ours == theirs,
        "staging and sha512sum disagree on the files or digests of {}",
        dir.display()
    );
    eprintln!("bench: both tools agree on all {} digests", ours.len());
    Ok(())
}

/// `sha512sum` output (`HEX  ./path` lines) as path -> digest.
fn parse_sha512sum(output: &str) -> anyhow::Result<BTreeMap<String, String>> {
    output
        .lines()
        .map(|line| {
            let (digest, path) = line
                .split_once("  ")
                .with_context(|| format!("unexpected sha512sum line {line:?}"))?;
            let path = path.strip_prefix("./").unwrap_or(path);
            Ok((path.to_owned(), digest.to_owned()))
        })
        .collect()
}

/// One profile's figures.
struct ProfileResult {
    profile: SourceProfile,
    tree: SourceTree,
    ours: Vec<Timed>,
    sha512sum: Vec<Timed>,
    /// Peak RSS of our staging processes, the largest over the runs.
    ours_peak_kib: u64,
}

/// One timed run of a tool.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Timed {
    /// Wall time from spawn to exit.
    seconds: f64,
    /// CPU time (user and system) of the tool's processes, as the shell's `times` reports it
    /// (10 ms resolution): the work done, whatever else the machine was running.
    cpu_seconds: f64,
}

fn wall(runs: &[Timed]) -> Vec<f64> {
    runs.iter().map(|t| t.seconds).collect()
}

fn cpu(runs: &[Timed]) -> Vec<f64> {
    runs.iter().map(|t| t.cpu_seconds).collect()
}

impl ProfileResult {
    /// Our throughput over `sha512sum`'s: their median time over ours.
    fn ratio(&self) -> Option<f64> {
        let ours = super::median(&wall(&self.ours))?;
        let theirs = super::median(&wall(&self.sha512sum))?;
        (ours > 0.0).then(|| theirs / ours)
    }

    /// The same from each tool's fastest run: the least disturbed by other load on a shared
    /// machine, where a tool that needs both cores suffers most. Shown beside the median.
    fn best_ratio(&self) -> Option<f64> {
        let ours = fastest(&wall(&self.ours))?;
        let theirs = fastest(&wall(&self.sha512sum))?;
        (ours > 0.0).then(|| theirs / ours)
    }

    fn megabytes_per_second(&self, runs: &[Timed]) -> Option<f64> {
        super::median(&wall(runs)).map(|s| self.tree.bytes as f64 / 1e6 / s)
    }
}

/// `runs` timed runs of each tool, alternating which goes first.
fn time_profile(
    profile: SourceProfile,
    tree: SourceTree,
    dir: &Path,
    runs: usize,
) -> anyhow::Result<ProfileResult> {
    let mut result = ProfileResult {
        profile,
        tree,
        ours: Vec::new(),
        sha512sum: Vec::new(),
        ours_peak_kib: 0,
    };
    for run in 0..runs {
        for ours_turn in [run % 2 == 0, run % 2 == 1] {
            let (tool, timed) = if ours_turn {
                let (timed, peak_kib) = time_ours(dir, tree)?;
                result.ours.push(timed);
                result.ours_peak_kib = result.ours_peak_kib.max(peak_kib);
                ("ours", timed)
            } else {
                let (timed, _) = run_timed(dir, &format!("{SHA512SUM} > /dev/null"))?;
                result.sha512sum.push(timed);
                ("sha512sum", timed)
            };
            eprintln!(
                "bench: {} run {}/{runs} {tool}: {:.3} s ({:.2} CPU s)",
                profile.key(),
                run + 1,
                timed.seconds,
                timed.cpu_seconds
            );
        }
    }
    Ok(result)
}

/// Runs `ocfl-bench-compare bench stage-once .` in `dir`; returns its times and peak RSS.
fn time_ours(dir: &Path, tree: SourceTree) -> anyhow::Result<(Timed, u64)> {
    let exe = std::env::current_exe().context("locating the ocfl-bench-compare binary")?;
    let command = format!("{} bench stage-once .", shell_quote(&exe.to_string_lossy()));
    let (timed, output) = run_timed(dir, &command)?;
    let figures: Vec<u64> = output
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("unexpected stage-once output {output:?}"))?;
    let [files, bytes, peak_kib] = figures[..] else {
        anyhow::bail!("unexpected stage-once output {output:?}");
    };
    anyhow::ensure!(
        files == tree.files as u64 && bytes == tree.bytes,
        "stage-once staged {files} files, {bytes} bytes; the tree has {} and {}",
        tree.files,
        tree.bytes
    );
    Ok((timed, peak_kib))
}

/// Runs `command` with `sh` in `dir`, followed by the shell's `times`; both tools go through
/// the same shell, so its start-up is charged to each alike. Returns the times and the
/// command's own standard output.
fn run_timed(dir: &Path, command: &str) -> anyhow::Result<(Timed, String)> {
    let script = format!("{command}\nstatus=$?\ntimes\nexit $status");
    let start = Instant::now();
    let output = Command::new("sh")
        .args(["-c", &script])
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {command}"))?;
    let seconds = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        output.status.success(),
        "{command} failed ({})",
        output.status
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines: Vec<&str> = text.lines().collect();
    // `times` prints two lines: the shell's own user and system times, then its children's.
    let children = lines.pop().unwrap_or_default();
    lines.pop();
    let cpu_seconds = parse_times_line(children)
        .with_context(|| format!("unexpected `times` output {children:?}"))?;
    let timed = Timed {
        seconds,
        cpu_seconds,
    };
    Ok((timed, lines.join("\n")))
}

/// The sum of the durations on one line of `times` output (`0m0.250000s 0m0.120000s`).
fn parse_times_line(line: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut fields = 0;
    for field in line.split_whitespace() {
        let (minutes, seconds) = field.strip_suffix('s')?.split_once('m')?;
        total += minutes.parse::<f64>().ok()? * 60.0 + seconds.parse::<f64>().ok()?;
        fields += 1;
    }
    (fields == 2).then_some(total)
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn fastest(times: &[f64]) -> Option<f64> {
    times.iter().copied().min_by(f64::total_cmp)
}

fn verdict(ratio: Option<f64>) -> &'static str {
    match ratio {
        Some(r) if r >= TARGET => "met",
        Some(_) => "NOT met",
        None => "-",
    }
}

fn print_table(results: &[ProfileResult], runs: usize) {
    println!(
        "{:<8} {:>6} {:>10} {:<10} {:>4} {:>9} {:>7} {:>12} {:>7} {:>11} {:>6}",
        "profile",
        "files",
        "bytes",
        "tool",
        "runs",
        "median s",
        "MB/s",
        "ours/sha512",
        "best s",
        "best ratio",
        "CPU s"
    );
    for r in results {
        for (tool, times) in [("ours", &r.ours), ("sha512sum", &r.sha512sum)] {
            let (ratio, best_ratio) = match tool {
                "ours" => (
                    r.ratio().map_or("-".into(), |x| format!("{x:.2}")),
                    r.best_ratio().map_or("-".into(), |x| format!("{x:.2}")),
                ),
                _ => (String::new(), String::new()),
            };
            println!(
                "{:<8} {:>6} {:>10} {:<10} {:>4} {:>9.3} {:>7.1} {:>12} {:>7.3} {:>11} {:>6.2}",
                r.profile.key(),
                r.tree.files,
                r.tree.bytes,
                tool,
                runs,
                super::median(&wall(times)).unwrap_or(f64::NAN),
                r.megabytes_per_second(times).unwrap_or(f64::NAN),
                ratio,
                fastest(&wall(times)).unwrap_or(f64::NAN),
                best_ratio,
                super::median(&cpu(times)).unwrap_or(f64::NAN),
            );
        }
    }
    for r in results {
        if let Some(ratio) = r.ratio() {
            println!(
                "target {}: ours / sha512sum throughput (medians) >= {TARGET}: {ratio:.2} -> {}",
                r.profile.key(),
                verdict(Some(ratio))
            );
        }
    }
}

fn summary_json(options: &Options, results: &[ProfileResult], load: [Option<f64>; 2]) -> Value {
    let profiles: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "profile": r.profile.key(),
                "seed": seed_of(r.profile),
                "files": r.tree.files,
                "bytes": r.tree.bytes,
                "ours": {
                    "command": "ocfl-bench-compare bench stage-once . (Stage::from_directory, sha512)",
                    "times_s": wall(&r.ours),
                    "median_s": super::median(&wall(&r.ours)),
                    "mb_per_s": r.megabytes_per_second(&r.ours),
                    "cpu_s": cpu(&r.ours),
                    "median_cpu_s": super::median(&cpu(&r.ours)),
                    "peak_rss_kib": r.ours_peak_kib,
                },
                "sha512sum": {
                    "command": SHA512SUM,
                    "times_s": wall(&r.sha512sum),
                    "median_s": super::median(&wall(&r.sha512sum)),
                    "mb_per_s": r.megabytes_per_second(&r.sha512sum),
                    "cpu_s": cpu(&r.sha512sum),
                    "median_cpu_s": super::median(&cpu(&r.sha512sum)),
                },
                "ratio": r.ratio(),
                "best_ratio": r.best_ratio(),
                "target": TARGET,
                "met": r.ratio().map(|x| x >= TARGET),
            })
        })
        .collect();
    json!({
        "bench": "stage",
        "runs": options.runs,
        "page_cache": "warm",
        "load_average": load,
        "cores": std::thread::available_parallelism().map(usize::from).ok(),
        "profiles": profiles,
        "met": results.iter().all(|r| r.ratio().is_some_and(|x| x >= TARGET)),
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
    fn options_default_to_both_profiles_and_five_runs() {
        let options = parse(&[]).unwrap();
        assert_eq!(
            options.profiles,
            [SourceProfile::MANY, SourceProfile::LARGE]
        );
        assert_eq!(options.runs, 5);
        let options = parse(&["--profile", "large", "--runs", "2", "--keep", "/k"]).unwrap();
        assert_eq!(options.profiles, [SourceProfile::LARGE]);
        assert_eq!(options.runs, 2);
        assert_eq!(options.keep, Some(PathBuf::from("/k")));
        assert!(parse(&["--profile", "huge"]).is_err());
        assert!(parse(&["--runs", "0"]).is_err());
    }

    #[test]
    fn sha512sum_lines_become_path_to_digest() {
        let parsed = parse_sha512sum("ab12  ./d01/f.dat\ncd34  ./two  spaces\n").unwrap();
        assert_eq!(parsed["d01/f.dat"], "ab12");
        assert_eq!(parsed["two  spaces"], "cd34");
        assert!(parse_sha512sum("no-separator\n").is_err());
    }

    #[test]
    fn times_lines_sum_user_and_system_time() {
        let total = parse_times_line("0m0.250000s 1m0.125s").unwrap();
        assert!((total - 60.375).abs() < 1e-9, "{total}");
        assert_eq!(parse_times_line("0m0.25s"), None);
        assert_eq!(parse_times_line("garbage here"), None);
    }

    #[test]
    fn a_timed_command_reports_its_output_and_its_cpu_time() {
        let dir = tempfile::tempdir().unwrap();
        let (timed, output) = run_timed(dir.path(), "echo one; echo two").unwrap();
        assert_eq!(output, "one\ntwo");
        assert!(timed.seconds > 0.0 && timed.cpu_seconds >= 0.0, "{timed:?}");
        assert!(run_timed(dir.path(), "false").is_err());
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn staging_and_sha512sum_agree_on_a_small_tree() {
        let dir = tempfile::tempdir().unwrap();
        generate_source(dir.path(), SourceProfile::Many { files: 30 }, 9).unwrap();
        check_same_digests(dir.path()).unwrap();
    }
}
