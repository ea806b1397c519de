//! The kill loop shared by `crash_commit` (a local storage root) and `crash_commit_s3` (a root
//! in a bucket): a command that makes a version of an object, killed with SIGKILL at seeded
//! random moments, the object inspected after every kill by the root's own rules
//! ([`Target::inspect`]: the window of `docs/durability.md` section 5 on disk, section 11.4
//! in a bucket), then finished by `ocfl resume` or the same command (chosen at random,
//! sometimes killed again), and checked to hold the new version.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::commit_support::{Rng, json_lines, ok};

/// Kills at most this many processes per commit before letting one finish.
pub const MAX_KILLS: u64 = 3;

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
}

/// A number in `0..n` from the high bits of the generator (its low bits are less mixed for
/// some seeds).
pub fn draw(rng: &mut Rng, n: u64) -> u64 {
    (rng.next() >> 32) % n.max(1)
}

/// Where a kill left the object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Object {
    /// Not in the storage root.
    Absent,
    /// Valid at this version, holding that version's source.
    At(String),
    /// Inside one of the windows the root's protocol documents (its name, or the codes the
    /// validator reported in it).
    Window(String),
}

/// A storage root the loop runs `ocfl` on.
pub trait Target {
    /// `ocfl ARGS` on this root.
    fn command(&self, args: &[&str]) -> Command;

    fn ocfl(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ocfl")
    }

    /// Where a kill (or a finished command) left `id` on its way to `version`, failing the
    /// test for any state the root's protocol does not allow. `sources` maps each version
    /// to the tree it holds.
    fn inspect(
        &self,
        id: &str,
        version: &str,
        sources: &BTreeMap<String, &Path>,
        what: &str,
    ) -> Object;

    /// The multipart uploads open below the root (started, neither completed nor aborted),
    /// each as `KEY UPLOAD-ID`; `None` where there are none to list (a local root) or the
    /// server refused the listing. The loop counts the uploads a kill left open, and fails
    /// if a process that was not killed left one.
    fn open_uploads(&self) -> Option<BTreeSet<String>> {
        None
    }
}

/// Where one kill landed: what the store said of the run, and the object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Landing {
    pub version: String,
    pub run: String,
    pub object: Object,
}

#[derive(Default)]
pub struct Stats {
    pub kills: u64,
    pub exited_first: u64,
    pub landings: BTreeMap<Landing, u64>,
    pub resumed_by: BTreeMap<&'static str, u64>,
    /// Kills after which a multipart upload was left open (the process was killed while it
    /// had one under way), if the root's uploads could be listed.
    pub kills_in_multipart: Option<u64>,
    /// The uploads those kills left open.
    pub left_by_kills: BTreeSet<String>,
}

impl Stats {
    /// Prints how the commits were finished and where the kills landed.
    pub fn report(&self) {
        eprintln!("finished by: {:?}", self.resumed_by);
        if let Some(kills) = self.kills_in_multipart {
            eprintln!(
                "kills inside a multipart upload: {kills} of {} ({} uploads left open by them)",
                self.kills,
                self.left_by_kills.len()
            );
        }
        eprintln!("where the kills landed (version, run state, object):");
        for (landing, n) in &self.landings {
            eprintln!(
                "  {n:5}  {} | {} | {:?}",
                landing.version, landing.run, landing.object
            );
        }
    }
}

/// The run state the store records for `version` of `id`, for the landing tally.
pub fn run_phase(
    root: &impl Target,
    id: &str,
    version: &str,
    earlier: &BTreeSet<String>,
) -> String {
    let output = root.ocfl(&["runs", "--all", "--json"]);
    ok(&output);
    let mut runs = json_lines(&output);
    runs.retain(|r| !earlier.contains(r["run"].as_str().unwrap_or_default()));
    let run = runs
        .iter()
        .filter(|r| r["id"] == id && r["version"] == version)
        .find(|r| r["changed"] != false);
    let Some(run) = run.or_else(|| {
        runs.iter()
            .rfind(|r| r["id"] == id && r["version"].is_null())
    }) else {
        return "no run yet".into();
    };
    match run["state"].as_str().unwrap_or_default() {
        "completed" => "completed".into(),
        state => {
            let (done, total) = (
                run["steps_done"].as_u64().unwrap_or(0),
                run["steps_total"].as_u64().unwrap_or(0),
            );
            if total == 0 {
                format!("{state}: staging or planning")
            } else {
                // Quarters of the plan's steps.
                format!("{state}: steps {}/4", (4 * done).div_ceil(total).min(4))
            }
        }
    }
}

/// The ids of every run of the root so far.
pub fn run_ids(root: &impl Target) -> BTreeSet<String> {
    json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])))
        .iter()
        .map(|r| r["run"].as_str().expect("run").to_owned())
        .collect()
}

/// Every run of the root completed; `writes[version]` changed runs wrote each version (one,
/// or two for a version number written again after a rollback); at most `no_ops` others.
pub fn check_runs(root: &impl Target, no_ops: u64, writes: &[(&str, u64)]) {
    let runs = json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])));
    for run in &runs {
        assert_eq!(run["state"], "completed", "{run}");
    }
    let mut writers: BTreeMap<String, u64> = BTreeMap::new();
    for run in runs.iter().filter(|r| r["changed"] == true) {
        *writers
            .entry(run["version"].as_str().expect("version").to_owned())
            .or_default() += 1;
    }
    let expected: BTreeMap<String, u64> = writes
        .iter()
        .map(|(version, n)| ((*version).to_owned(), *n))
        .collect();
    assert_eq!(writers, expected, "the runs that wrote each version");
    let unchanged = runs.iter().filter(|r| r["changed"] == false).count() as u64;
    assert!(
        unchanged <= no_ops,
        "{unchanged} no-op runs, only for reruns of completed commits ({no_ops})"
    );
}

/// Starts `ocfl ARGS` on `root`, kills it after `delay`; whether it had exited first.
pub fn kill_after(root: &impl Target, args: &[&str], delay: Duration) -> bool {
    let mut child = root
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ocfl");
    std::thread::sleep(delay);
    let exited = child.try_wait().expect("try_wait").is_some();
    let _ = child.kill();
    child.wait().expect("wait");
    exited
}

/// One iteration's commits on one root.
pub struct Loop<'a, T: Target> {
    pub root: &'a T,
    pub rng: Rng,
    /// How long each uninterrupted command takes, by its index.
    pub spans: Vec<Duration>,
    pub stats: &'a mut Stats,
    /// Runs of earlier steps, which [`run_phase`] ignores (a version number written again
    /// after a rollback).
    pub earlier: BTreeSet<String>,
}

impl<T: Target> Loop<'_, T> {
    /// Runs `command` (a commit, a file-level commit, a revert, an upgrade) to make
    /// `version` of `id`, killing the process up to [`MAX_KILLS`] times; `label` names the
    /// version in the tally, `index` the command's span. Returns how many processes of the
    /// command started after it had completed (each may have left a no-op run).
    pub fn commit(
        &mut self,
        id: &str,
        version: &str,
        label: &str,
        command: &[String],
        sources: &BTreeMap<String, &Path>,
        index: usize,
    ) -> u64 {
        let mut commit_args: Vec<&str> = command.iter().map(String::as_str).collect();
        commit_args.extend(["--message", version, "--json"]);
        let mut no_ops = 0;
        let mut finished = false;
        for attempt in 0..=MAX_KILLS {
            let restart = attempt > 0 && draw(&mut self.rng, 2) == 0;
            let args: &[&str] = if restart {
                &["resume", "--json"]
            } else {
                &commit_args
            };
            let kill = attempt < MAX_KILLS && (attempt == 0 || draw(&mut self.rng, 3) != 0);
            if !kill {
                break;
            }
            if finished && !restart {
                no_ops += 1;
            }
            let delay = self.spans[index].mul_f64(draw(&mut self.rng, 1100) as f64 / 1000.0);
            let uploads_before = self.root.open_uploads();
            let exited = kill_after(self.root, args, delay);
            self.stats.kills += 1;
            if exited {
                self.stats.exited_first += 1;
                if attempt == 0 {
                    // A whole commit took less than the span: aim earlier next time.
                    self.spans[index] = self.spans[index].mul_f64(0.9);
                }
            }
            let what = format!(
                "{id} {version}: after a kill at {delay:?} of `ocfl {}`",
                args.join(" ")
            );
            let object = self.root.inspect(id, version, sources, &what);
            let run = run_phase(self.root, id, version, &self.earlier);
            finished |= run == "completed";
            // Listed after the inspection, so that a request the killed process had sent has
            // been answered.
            if let (Some(before), Some(after)) = (uploads_before, self.root.open_uploads()) {
                let left: Vec<_> = after.difference(&before).cloned().collect();
                let kills = self.stats.kills_in_multipart.get_or_insert(0);
                *kills += u64::from(!left.is_empty());
                self.stats.left_by_kills.extend(left);
            }
            *self
                .stats
                .landings
                .entry(Landing {
                    version: label.into(),
                    run,
                    object,
                })
                .or_default() += 1;
        }
        // Finish: `ocfl resume` (then the command if it had nothing of this one to finish),
        // or the same command again.
        let uploads_before = self.root.open_uploads();
        let mut done = false;
        if draw(&mut self.rng, 2) == 0 {
            let output = self.root.ocfl(&["resume", "--json"]);
            ok(&output);
            done = json_lines(&output)
                .iter()
                .any(|line| line["id"] == id && line["version"] == version);
            *self.stats.resumed_by.entry("ocfl resume").or_default() += u64::from(done);
        }
        if !done {
            let output = self.root.ocfl(&commit_args);
            // `upgrade` prints the root's line first.
            let line = json_lines(ok(&output))
                .into_iter()
                .find(|line| line["id"] == id)
                .expect("the object's line");
            assert_eq!(line["version"], version, "{line}");
            if line["changed"] == false {
                assert!(
                    finished,
                    "{id} {version}: a no-op rerun of an unfinished commit: {line}"
                );
            }
            if finished {
                no_ops += 1;
            }
            *self.stats.resumed_by.entry("ocfl commit").or_default() += 1;
        }
        let what = format!("{id} {version}: after the rerun");
        // The store aborts the uploads it abandons (11.1.7): only a killed process leaves one.
        if let (Some(before), Some(after)) = (uploads_before, self.root.open_uploads()) {
            let left: Vec<_> = after.difference(&before).collect();
            assert!(
                left.is_empty(),
                "{what}: multipart uploads left open by processes that were not killed: {left:?}"
            );
        }
        assert_eq!(
            self.root.inspect(id, version, sources, &what),
            Object::At(version.into()),
            "{what}"
        );
        no_ops
    }
}
