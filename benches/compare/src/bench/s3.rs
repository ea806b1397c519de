//! `cargo xtask bench s3`: commits and validation on an S3-compatible server over https,
//! ours against rocfl 1.7 and against a floor (a plain parallel upload, [`floor`]), all in one
//! run on one private server ([`crate::s3server`]), alternating the order every run; every
//! run starts from an emptied server.
//!
//! - commit 'many' (20,000 files of 1-4 KiB) and 'large' (8 x 64 MiB) as v1 of a new object
//!   into a new root: `ocfl commit`, rocfl (`new`, `cp`, `commit`) and the floor;
//! - validate (fixity checked) the root ours committed 'many' into: `ocfl validate` and
//!   `rocfl validate`;
//! - the requests each sent, counted in the server's log.
//!
//! Every commit of ours and rocfl is checked untimed: `ocfl validate` of the root, and the
//! head state compared path by path and digest by digest with the source.
//! See docs/benchmarks.md.

pub(crate) mod floor;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use super::commit::check::{State, expected_state, inventory_mismatch};
use super::commit::measure::{Measurement, Meter, tail};
use super::commit::tools::{Contenders, OBJECT_ID, check_ours_output};
use super::generate::object_root_path;
use super::source::{SourceProfile, SourceTree, generate_source, seed_of};
use crate::s3server::{Requests, TlsS3Server};

/// The bucket every run uses (the server is emptied before each run).
const BUCKET: &str = "bench";
/// The storage root's prefix in it.
const ROOT: &str = "root";

/// The issue's targets: our median over the other's median.
const MANY_OVER_ROCFL: f64 = 0.3;
const MANY_OVER_FLOOR: f64 = 1.5;
const LARGE_OVER_FLOOR: f64 = 1.2;
const VALIDATE_OVER_ROCFL: f64 = 0.3;
/// Peak RSS of our 'large' commit, MiB.
const LARGE_RSS_MIB: f64 = 150.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    Many,
    Large,
}

impl Profile {
    fn key(self) -> &'static str {
        match self {
            Profile::Many => "many",
            Profile::Large => "large",
        }
    }

    fn source(self, full: bool) -> SourceProfile {
        match (self, full) {
            (Profile::Many, true) => SourceProfile::MANY,
            (Profile::Many, false) => SourceProfile::Many { files: 2_000 },
            (Profile::Large, true) => SourceProfile::LARGE,
            (Profile::Large, false) => SourceProfile::Large {
                files: 8,
                bytes: 8 << 20,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Options {
    profiles: Vec<Profile>,
    full: bool,
    runs: usize,
    validate: bool,
    ours: Option<PathBuf>,
}

/// `--profile`: which sources are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProfileChoice {
    Many,
    Large,
    All,
}

/// `bench s3`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sources committed.
    #[arg(long, value_enum, default_value = "all")]
    profile: ProfileChoice,
    /// The sources' size.
    #[arg(long, value_enum, default_value = "full")]
    scale: super::Scale,
    /// Timed runs per tool.
    #[arg(long, default_value = "3", value_parser = super::positive)]
    runs: usize,
    /// Skip the validation timings.
    #[arg(long)]
    no_validate: bool,
    /// An `ocfl` binary to time instead of building `target/release/ocfl`.
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
}

impl From<Args> for Options {
    fn from(args: Args) -> Options {
        Options {
            profiles: match args.profile {
                ProfileChoice::Many => vec![Profile::Many],
                ProfileChoice::Large => vec![Profile::Large],
                ProfileChoice::All => vec![Profile::Many, Profile::Large],
            },
            full: args.scale == super::Scale::Full,
            runs: args.runs,
            validate: !args.no_validate,
            ours: args.ours,
        }
    }
}

/// A contender of this benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Floor,
    Ours,
    Rocfl,
}

impl Tool {
    fn key(self) -> &'static str {
        match self {
            Tool::Floor => "floor",
            Tool::Ours => "ours",
            Tool::Rocfl => "rocfl",
        }
    }
}

/// One timed run.
#[derive(Debug, Clone)]
struct Run {
    measured: Measurement,
    requests: Requests,
    /// Ours and rocfl: why the result is wrong, if it is.
    problem: Option<String>,
}

/// A tool's runs of one task.
#[derive(Debug, Clone)]
struct Series {
    tool: Tool,
    runs: Vec<Run>,
}

impl Series {
    fn median(&self) -> Option<f64> {
        super::median(
            &self
                .runs
                .iter()
                .map(|r| r.measured.seconds)
                .collect::<Vec<_>>(),
        )
    }

    fn cpu_median(&self) -> Option<f64> {
        let cpu: Option<Vec<f64>> = self.runs.iter().map(|r| r.measured.cpu_seconds).collect();
        super::median(&cpu?)
    }

    fn peak_rss_mib(&self) -> Option<f64> {
        self.runs
            .iter()
            .filter_map(|r| r.measured.peak_rss_kib)
            .max()
            .map(|k| k as f64 / 1024.0)
    }

    /// Requests of the last run (every run sends the same).
    fn requests(&self) -> Option<Requests> {
        self.runs.last().map(|r| r.requests)
    }

    fn ok(&self) -> bool {
        self.runs.iter().all(|r| r.problem.is_none())
    }
}

/// One task's figures: a profile's commit, or the validation.
struct Task {
    name: String,
    tree: SourceTree,
    series: Vec<Series>,
}

impl Task {
    fn series(&self, tool: Tool) -> Option<&Series> {
        self.series.iter().find(|s| s.tool == tool)
    }

    fn ratio(&self, other: Tool) -> Option<f64> {
        let ours = self.series(Tool::Ours)?.median()?;
        let theirs = self.series(other)?.median()?;
        (theirs > 0.0).then(|| ours / theirs)
    }

    /// `None` when a figure is missing or a result failed its check.
    fn met(&self, other: Tool, limit: f64) -> Option<bool> {
        let ratio = self.ratio(other)?;
        let ok = [Tool::Ours, other]
            .iter()
            .all(|&t| self.series(t).is_some_and(Series::ok));
        ok.then_some(ratio <= limit)
    }
}

/// The tools and where they run.
struct Bench<'a> {
    server: &'a TlsS3Server,
    meter: Meter,
    contenders: Contenders,
    /// This executable, for the floor.
    harness: PathBuf,
    temp: &'a Path,
}

/// `bench s3 ARGS` (in a release build).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = Options::from(args);
    let meter = Meter::detect();
    let ours = match &options.ours {
        Some(path) => std::path::absolute(path)?,
        None => super::build_ours(&super::workspace_root()),
    };
    anyhow::ensure!(ours.is_file(), "{} was not built", ours.display());
    let contenders = Contenders::find(ours);
    if contenders.rocfl.is_none() {
        eprintln!(
            "bench: rocfl not found, skipped (install: {})",
            super::peers::Peer::Rocfl.install_hint()
        );
    }
    let server = TlsS3Server::start(&crate::s3server::default_dir())?;
    eprintln!("bench: private moto over https at {}", server.endpoint());
    let temp = tempfile::tempdir_in(std::env::temp_dir())?;
    let bench = Bench {
        server: &server,
        meter,
        contenders,
        harness: std::env::current_exe()?,
        temp: temp.path(),
    };
    let load_before = super::load_average();
    let mut tasks = Vec::new();
    for &profile in &options.profiles {
        let source = temp.path().join(profile.key());
        let start = Instant::now();
        let profile_source = profile.source(options.full);
        let tree = generate_source(&source, profile_source, seed_of(profile_source))?;
        let expected = expected_state(&source)?;
        eprintln!(
            "bench: '{}': {} files, {} bytes, generated in {:.1} s",
            profile.key(),
            tree.files,
            tree.bytes,
            start.elapsed().as_secs_f64()
        );
        tasks.push(bench.commits(profile, &source, tree, &expected, options.runs)?);
        if profile == Profile::Many && options.validate {
            tasks.push(bench.validations(&source, tree, options.runs)?);
        }
        std::fs::remove_dir_all(&source)?;
    }
    let load = [load_before, super::load_average()];
    print_table(&tasks);
    let verdicts = verdicts(&tasks, options.full);
    for (name, ratio, limit, met) in &verdicts {
        println!(
            "target {name} <= {limit}: {} -> {}",
            fmt_opt(*ratio, 3),
            match met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None if !options.full => "(small scale: the targets are for --scale full)",
                None => "not meaningful (a figure is missing or a check failed)",
            }
        );
    }
    println!("load average (1 min) before and after: {load:?}");
    let mut summary = summary_json(&bench, &options, &tasks, &verdicts);
    summary["load_average"] = json!(load);
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

impl Bench<'_> {
    fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![Tool::Floor, Tool::Ours];
        if self.contenders.rocfl.is_some() {
            tools.push(Tool::Rocfl);
        }
        tools
    }

    /// An emptied server with the bucket; `XDG_STATE_HOME` for ours (the engine's store of
    /// an S3 root lives there by default) fresh as well.
    fn fresh(&self) -> anyhow::Result<PathBuf> {
        self.server.reset()?;
        self.server.create_bucket(BUCKET)?;
        let state = self.temp.join("state");
        if state.exists() {
            std::fs::remove_dir_all(&state)?;
        }
        std::fs::create_dir_all(&state)?;
        Ok(state)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.server.env();
        env.push((
            "XDG_STATE_HOME",
            self.temp.join("state").display().to_string(),
        ));
        env
    }

    fn root_url(&self) -> String {
        format!("s3://{BUCKET}/{ROOT}")
    }

    fn ours(&self, args: &[&str]) -> Vec<OsString> {
        let mut full: Vec<OsString> = vec!["--root".into(), self.root_url().into()];
        full.extend(args.iter().map(OsString::from));
        full
    }

    fn rocfl_args(&self, staging: &Path, args: &[&OsString]) -> Vec<OsString> {
        let mut full: Vec<OsString> = self
            .server
            .rocfl_args(BUCKET)
            .into_iter()
            .map(OsString::from)
            .collect();
        full.extend(["-r".into(), ROOT.into(), "-s".into(), staging.into()]);
        full.extend(args.iter().map(|a| (*a).clone()));
        full
    }

    fn untimed(&self, program: &Path, args: &[OsString]) -> anyhow::Result<String> {
        let mut command = Command::new(program);
        command.args(args);
        self.server.configure(&mut command);
        command.env("XDG_STATE_HOME", self.temp.join("state"));
        let output = command
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "{} {args:?} failed ({}):\n{}{}",
            program.display(),
            output.status,
            tail(&String::from_utf8_lossy(&output.stdout), 10),
            tail(&String::from_utf8_lossy(&output.stderr), 15)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn timed(&self, program: &Path, args: &[OsString]) -> anyhow::Result<Measurement> {
        self.meter
            .run_with_env(program.as_os_str(), args, self.temp, &self.env())
    }

    fn rocfl(&self) -> anyhow::Result<&Path> {
        self.contenders
            .rocfl
            .as_ref()
            .map(|(p, _)| p.as_path())
            .context("rocfl is not installed")
    }

    /// One tool's commit of `source` into an emptied server; the init is not timed.
    fn commit(&self, tool: Tool, source: &Path) -> anyhow::Result<(Measurement, Requests)> {
        self.fresh()?;
        let staging = self.temp.join("rocfl-staging");
        match tool {
            Tool::Floor => {}
            Tool::Ours => {
                self.untimed(&self.contenders.ours, &self.ours(&["init"]))?;
            }
            Tool::Rocfl => {
                if staging.exists() {
                    std::fs::remove_dir_all(&staging)?;
                }
                std::fs::create_dir_all(&staging)?;
                self.untimed(self.rocfl()?, &self.rocfl_args(&staging, &[&"init".into()]))?;
            }
        }
        let mark = self.server.log_mark()?;
        let measured = match tool {
            Tool::Floor => {
                let args: Vec<OsString> = vec![
                    "bench".into(),
                    "s3-floor-once".into(),
                    "--bucket".into(),
                    BUCKET.into(),
                    "--prefix".into(),
                    "floor".into(),
                    source.into(),
                ];
                self.timed(&self.harness, &args)?
            }
            Tool::Ours => {
                let source = source.display().to_string();
                let args = self.ours(&[
                    "--quiet",
                    "--json",
                    "commit",
                    OBJECT_ID,
                    &source,
                    "--message",
                    "v1",
                ]);
                let measured = self.timed(&self.contenders.ours, &args)?;
                check_ours_output(&measured.stdout, "v1")?;
                measured
            }
            Tool::Rocfl => {
                let rocfl = self.rocfl()?;
                let id: OsString = OBJECT_ID.into();
                let new = self.timed(rocfl, &self.rocfl_args(&staging, &[&"new".into(), &id]))?;
                let mut cp: Vec<OsString> = vec!["cp".into(), "-r".into(), id.clone()];
                cp.extend(top_entries(source)?);
                cp.extend(["--".into(), "/".into()]);
                let cp = self.timed(
                    rocfl,
                    &self.rocfl_args(&staging, &cp.iter().collect::<Vec<_>>()),
                )?;
                let commit: Vec<OsString> = [
                    "commit",
                    OBJECT_ID,
                    "-m",
                    "v1",
                    "-n",
                    "bench",
                    "-a",
                    "mailto:bench@example.org",
                ]
                .iter()
                .map(OsString::from)
                .collect();
                let commit = self.timed(
                    rocfl,
                    &self.rocfl_args(&staging, &commit.iter().collect::<Vec<_>>()),
                )?;
                new.then(cp).then(commit)
            }
        };
        let requests = self.server.requests_since(mark)?;
        Ok((measured, requests))
    }

    /// Untimed: the root valid to `ocfl validate`, and the object's head state the source's.
    fn check(&self, expected: &State) -> Option<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.untimed(&self.contenders.ours, &self.ours(&["validate"])) {
            problems.push(format!("ocfl validate: {e:#}"));
        }
        let key = format!("{ROOT}/{}/inventory.json", object_root_path(OBJECT_ID));
        match self.server.get(BUCKET, &key) {
            Ok(text) => problems.extend(inventory_mismatch(&text, "v1", expected)),
            Err(e) => problems.push(format!("{e:#}")),
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    fn commits(
        &self,
        profile: Profile,
        source: &Path,
        tree: SourceTree,
        expected: &State,
        runs: usize,
    ) -> anyhow::Result<Task> {
        let tools = self.tools();
        let mut series: Vec<Series> = tools
            .iter()
            .map(|&tool| Series {
                tool,
                runs: Vec::new(),
            })
            .collect();
        for run in 0..runs {
            for offset in 0..tools.len() {
                let index = (run + offset) % tools.len();
                let tool = tools[index];
                let (measured, requests) = self.commit(tool, source)?;
                let problem = match tool {
                    Tool::Floor => None,
                    _ => self.check(expected),
                };
                eprintln!(
                    "bench: commit '{}' run {}/{runs} {}: {:.3} s, {} requests, peak RSS {}{}",
                    profile.key(),
                    run + 1,
                    tool.key(),
                    measured.seconds,
                    requests.total(),
                    measured
                        .peak_rss_kib
                        .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
                    problem
                        .as_deref()
                        .map_or(String::new(), |p| format!(", FAILED its check: {p}"))
                );
                series[index].runs.push(Run {
                    measured,
                    requests,
                    problem,
                });
            }
        }
        Ok(Task {
            name: format!("commit {}", profile.key()),
            tree,
            series,
        })
    }

    /// Ours commits `source` (untimed), then ours and rocfl validate that root in turn.
    fn validations(&self, source: &Path, tree: SourceTree, runs: usize) -> anyhow::Result<Task> {
        self.commit(Tool::Ours, source)?;
        // The floor reads every key of the root, 16 GETs in flight: what the server allows
        // any validator with fixity, so that ours/rocfl can be read against it.
        let tools = self.tools();
        let mut series: Vec<Series> = tools
            .iter()
            .map(|&tool| Series {
                tool,
                runs: Vec::new(),
            })
            .collect();
        let staging = self.temp.join("rocfl-staging");
        std::fs::create_dir_all(&staging)?;
        for run in 0..runs {
            for offset in 0..tools.len() {
                let index = (run + offset) % tools.len();
                let tool = tools[index];
                let mark = self.server.log_mark()?;
                let (program, args) = match tool {
                    Tool::Ours => (self.contenders.ours.as_path(), self.ours(&["validate"])),
                    Tool::Floor => (
                        self.harness.as_path(),
                        vec![
                            "bench".into(),
                            "s3-read-floor-once".into(),
                            "--bucket".into(),
                            BUCKET.into(),
                            "--prefix".into(),
                            ROOT.into(),
                        ],
                    ),
                    Tool::Rocfl => (
                        self.rocfl()?,
                        self.rocfl_args(&staging, &[&"validate".into()]),
                    ),
                };
                // A tool that finds the root invalid exits non-zero: a failed check, not a
                // figure.
                let (measured, problem) = match self.timed(program, &args) {
                    Ok(measured) => (measured, None),
                    Err(e) => (Measurement::default(), Some(format!("{e:#}"))),
                };
                let requests = self.server.requests_since(mark)?;
                eprintln!(
                    "bench: validate run {}/{runs} {}: {:.3} s, {} requests{}",
                    run + 1,
                    tool.key(),
                    measured.seconds,
                    requests.total(),
                    problem
                        .as_deref()
                        .map_or(String::new(), |p| format!(", FAILED: {p}"))
                );
                series[index].runs.push(Run {
                    measured,
                    requests,
                    problem,
                });
            }
        }
        Ok(Task {
            name: "validate".into(),
            tree,
            series,
        })
    }
}

/// The entries directly under `dir`, as full paths, sorted.
fn top_entries(dir: &Path) -> anyhow::Result<Vec<OsString>> {
    let mut entries: Vec<OsString> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path().into_os_string()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    Ok(entries)
}

type Verdict = (String, Option<f64>, f64, Option<bool>);

/// Each target: its name, the figure, the limit, whether it is met (`None` at small scale).
fn verdicts(tasks: &[Task], full: bool) -> Vec<Verdict> {
    let mut out = Vec::new();
    let only_full = |met: Option<bool>| met.filter(|_| full);
    for task in tasks {
        match task.name.as_str() {
            "commit many" => {
                out.push((
                    "commit many: ours/rocfl".into(),
                    task.ratio(Tool::Rocfl),
                    MANY_OVER_ROCFL,
                    only_full(task.met(Tool::Rocfl, MANY_OVER_ROCFL)),
                ));
                out.push((
                    "commit many: ours/floor".into(),
                    task.ratio(Tool::Floor),
                    MANY_OVER_FLOOR,
                    only_full(task.met(Tool::Floor, MANY_OVER_FLOOR)),
                ));
            }
            "commit large" => {
                out.push((
                    "commit large: ours/floor".into(),
                    task.ratio(Tool::Floor),
                    LARGE_OVER_FLOOR,
                    only_full(task.met(Tool::Floor, LARGE_OVER_FLOOR)),
                ));
                let rss = task.series(Tool::Ours).and_then(Series::peak_rss_mib);
                out.push((
                    "commit large: our peak RSS MiB".into(),
                    rss,
                    LARGE_RSS_MIB,
                    only_full(rss.map(|r| r <= LARGE_RSS_MIB)),
                ));
            }
            // The validate floor has no target: the table shows how far ours is from it.
            "validate" => out.push((
                "validate: ours/rocfl".into(),
                task.ratio(Tool::Rocfl),
                VALIDATE_OVER_ROCFL,
                only_full(task.met(Tool::Rocfl, VALIDATE_OVER_ROCFL)),
            )),
            _ => {}
        }
    }
    out
}

fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

fn print_table(tasks: &[Task]) {
    println!(
        "{:<13} {:>6} {:>11} {:<6} {:>4} {:>8} {:>9} {:>7} {:>8} {:>9} {:>9}  checks",
        "task",
        "files",
        "bytes",
        "tool",
        "runs",
        "median s",
        "ours/this",
        "CPU s",
        "RSS MiB",
        "requests",
        "req/file"
    );
    for task in tasks {
        for s in &task.series {
            let requests = s.requests();
            let ratio = match s.tool {
                Tool::Ours => "1.000".into(),
                other => fmt_opt(task.ratio(other), 3),
            };
            let checks = match s.tool {
                Tool::Floor => String::new(),
                _ => format!(
                    "{}/{} ok",
                    s.runs.iter().filter(|r| r.problem.is_none()).count(),
                    s.runs.len()
                ),
            };
            println!(
                "{:<13} {:>6} {:>11} {:<6} {:>4} {:>8} {:>9} {:>7} {:>8} {:>9} {:>9}  {checks}",
                task.name,
                task.tree.files,
                task.tree.bytes,
                s.tool.key(),
                s.runs.len(),
                fmt_opt(s.median(), 3),
                ratio,
                fmt_opt(s.cpu_median(), 2),
                fmt_opt(s.peak_rss_mib(), 1),
                requests.map_or("-".into(), |r| r.total().to_string()),
                requests.map_or("-".into(), |r| format!(
                    "{:.3}",
                    r.total() as f64 / task.tree.files.max(1) as f64
                )),
            );
        }
    }
}

fn requests_json(r: Requests, files: usize) -> Value {
    json!({
        "total": r.total(),
        "per_file": r.total() as f64 / files.max(1) as f64,
        "get": r.get, "head": r.head, "list": r.list, "put": r.put, "post": r.post,
        "delete": r.delete,
    })
}

fn summary_json(
    bench: &Bench<'_>,
    options: &Options,
    tasks: &[Task],
    verdicts: &[Verdict],
) -> Value {
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|task| {
            let mut tools = serde_json::Map::new();
            for s in &task.series {
                tools.insert(
                    s.tool.key().into(),
                    json!({
                        "times_s": s.runs.iter().map(|r| r.measured.seconds).collect::<Vec<_>>(),
                        "median_s": s.median(),
                        "median_cpu_s": s.cpu_median(),
                        "peak_rss_mib": s.peak_rss_mib(),
                        "requests": s.requests().map(|r| requests_json(r, task.tree.files)),
                        "checks_ok": s.ok(),
                        "problems": s.runs.iter().filter_map(|r| r.problem.clone()).collect::<Vec<_>>(),
                    }),
                );
            }
            json!({
                "task": task.name,
                "files": task.tree.files,
                "bytes": task.tree.bytes,
                "tools": tools,
                "ours/rocfl": task.ratio(Tool::Rocfl),
                "ours/floor": task.ratio(Tool::Floor),
            })
        })
        .collect();
    json!({
        "bench": "s3",
        "scale": if options.full { "full" } else { "small" },
        "runs": options.runs,
        "server": format!("moto_server over https at {} (private, emptied before every run)", bench.server.endpoint()),
        "meter": bench.meter.describe(),
        "versions": {
            "ours": bench.contenders.ours_version,
            "rocfl": bench.contenders.rocfl.as_ref().and_then(|(_, v)| v.clone()),
        },
        "floor": format!("object_store PUT per file, {} in flight", floor::IN_FLIGHT),
        "tasks": tasks,
        "targets": verdicts.iter().map(|(name, value, limit, met)| json!({
            "target": name, "value": value, "limit": limit, "met": met,
        })).collect::<Vec<_>>(),
        "cores": std::thread::available_parallelism().map(usize::from).ok(),
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
    fn options_default_to_both_profiles_full_with_validation() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.profiles, [Profile::Many, Profile::Large]);
        assert!(options.full && options.validate);
        assert_eq!(options.runs, 3);
        let options = parse(&[
            "--profile",
            "large",
            "--scale",
            "small",
            "--runs",
            "2",
            "--no-validate",
        ])
        .unwrap();
        assert_eq!(options.profiles, [Profile::Large]);
        assert!(!options.full && !options.validate);
        assert_eq!(options.runs, 2);
        for bad in [
            &["--profile", "huge"][..],
            &["--runs", "0"],
            &["--scale"],
            &["x"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    fn series(tool: Tool, times: &[f64], problem: Option<&str>) -> Series {
        Series {
            tool,
            runs: times
                .iter()
                .map(|&seconds| Run {
                    measured: Measurement {
                        seconds,
                        cpu_seconds: Some(seconds),
                        peak_rss_kib: Some(100 * 1024),
                        stdout: String::new(),
                    },
                    requests: Requests {
                        put: 10,
                        ..Requests::default()
                    },
                    problem: problem.map(String::from),
                })
                .collect(),
        }
    }

    #[test]
    fn targets_are_ratios_of_medians_and_need_clean_checks() {
        let task = Task {
            name: "commit many".into(),
            tree: SourceTree {
                files: 10,
                bytes: 100,
            },
            series: vec![
                series(Tool::Floor, &[1.0, 2.0, 9.0], None),
                series(Tool::Ours, &[2.0, 3.0, 2.5], None),
                series(Tool::Rocfl, &[10.0, 20.0, 30.0], None),
            ],
        };
        assert_eq!(task.ratio(Tool::Floor), Some(1.25));
        assert_eq!(task.ratio(Tool::Rocfl), Some(0.125));
        let v = verdicts(std::slice::from_ref(&task), true);
        assert_eq!(v[0].3, Some(true));
        assert_eq!(v[1].3, Some(true));
        assert_eq!(verdicts(std::slice::from_ref(&task), false)[0].3, None);
        let broken = Task {
            series: vec![
                series(Tool::Floor, &[1.0], None),
                series(Tool::Ours, &[1.0], Some("invalid")),
            ],
            ..task
        };
        assert_eq!(broken.met(Tool::Floor, 1.5), None);
        let large = Task {
            name: "commit large".into(),
            tree: SourceTree::default(),
            series: vec![
                series(Tool::Floor, &[1.0], None),
                series(Tool::Ours, &[1.3], None),
            ],
        };
        let v = verdicts(&[large], true);
        assert_eq!(v[0].3, Some(false));
        assert_eq!((v[1].1, v[1].3), (Some(100.0), Some(true)));
    }
}
