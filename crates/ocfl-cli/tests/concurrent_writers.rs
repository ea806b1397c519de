//! Concurrent writers: several `ocfl commit` processes at once.
//!
//! What happens, precisely:
//! - Processes sharing the engine's store (the default) take turns: the store belongs to one
//!   process at a time, and the others wait for it, saying which process holds it. Two
//!   commits of different sources to one object therefore both succeed, as v1 and v2 in the
//!   order they got the store; two of the same source commit it once (the second finds that
//!   the object already holds that state). `--wait 0` fails at once instead, naming the pid.
//! - A commit to an object whose update was interrupted (its run still active) is refused,
//!   naming that run, and changes nothing; after `ocfl resume` it goes through.
//! - Processes with separate stores (nothing serializes them) race in the storage root:
//!   each commit either succeeds, its source becoming exactly one version of the object, or
//!   fails naming the object path it found taken or changed by another update (or, checking
//!   the object before staging, the other update in progress). The object validates either
//!   way.
//! - Commits to different objects all succeed.

mod commit_support;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};

use commit_support::snapshot::Snapshot;
use commit_support::*;
use durable_redb::RedbBackend;
use serde_json::Value;

const ID: &str = "ark:/12345/bcd987";

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// An `ocfl` process whose stderr lines arrive on a channel (read by a thread, so the
/// process never blocks on a full pipe).
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

/// The end of a [`Running`] process.
struct Finished {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Finished {
    /// The `--json` line of a successful commit.
    fn line(&self) -> Value {
        assert_eq!(self.code, 0, "{}", self.stderr);
        serde_json::from_str(self.stdout.trim()).expect("one JSON line")
    }
}

impl Running {
    fn start(root: &Root, args: &[&str]) -> Running {
        let mut child = root
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ocfl");
        let err = child.stderr.take().expect("stderr");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Blocks until a stderr line contains `needle`.
    fn wait_for(&mut self, needle: &str) {
        loop {
            let Ok(line) = self.lines.recv() else {
                panic!("stderr ended before {needle:?}: {:#?}", self.seen);
            };
            let found = line.contains(needle);
            self.seen.push(line);
            if found {
                return;
            }
        }
    }

    fn finish(mut self) -> Finished {
        let output = std::mem::replace(&mut self.child, dummy())
            .wait_with_output()
            .expect("wait");
        self.seen.extend(self.lines.iter());
        Finished {
            // A killed process has no exit status.
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("utf-8"),
            stderr: self.seen.join("\n"),
        }
    }
}

/// A finished child to leave in place of the real one.
fn dummy() -> Child {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    child.wait().expect("wait");
    child
}

fn source(root: &Root, name: &str, files: usize, seed: u64) -> PathBuf {
    let dir = root.dir_path().join(name);
    many_files(&dir, files, &mut Rng::new(seed));
    dir
}

/// Asserts that version `version` of `ID` holds exactly the files of `source`.
fn assert_version_holds(root: &Root, version: &str, source: &Path) {
    let out = tempfile::tempdir_in(root.dir_path()).expect("tempdir");
    let dest = out.path().join("v");
    ok(&root.ocfl(&["export", ID, utf8(&dest), "--version", version]));
    assert!(
        read_tree(&dest) == read_tree(source),
        "{version} does not hold {}",
        source.display()
    );
}

/// Holds the default store in this process until every one of `runs` says it is waiting.
fn start_together(root: &Root, commands: &[Vec<&str>]) -> Vec<Running> {
    fs::create_dir_all(root.default_store().parent().expect("parent")).expect("mkdir");
    let held = RedbBackend::open(root.default_store()).expect("hold the store");
    let mut running: Vec<Running> = commands.iter().map(|c| Running::start(root, c)).collect();
    let holder = format!("in use by pid {}", std::process::id());
    for run in &mut running {
        run.wait_for(&holder);
    }
    drop(held);
    running
}

#[test]
fn two_commits_to_one_object_through_one_store_both_succeed_in_turn() {
    let root = Root::new();
    let a = source(&root, "a", 40, 1);
    let b = source(&root, "b", 40, 2);
    let running = start_together(
        &root,
        &[
            vec!["commit", ID, utf8(&a), "--json"],
            vec!["commit", ID, utf8(&b), "--json"],
        ],
    );
    let lines: Vec<Value> = running.into_iter().map(|r| r.finish().line()).collect();
    let mut versions: Vec<&str> = lines
        .iter()
        .map(|l| l["version"].as_str().expect("v"))
        .collect();
    versions.sort();
    assert_eq!(versions, ["v1", "v2"], "{lines:?}");
    assert!(lines.iter().all(|l| l["changed"] == true), "{lines:?}");
    let (first, second) = match lines[0]["version"] == "v1" {
        true => (&a, &b),
        false => (&b, &a),
    };
    root.assert_holds(ID, second);
    assert_version_holds(&root, "v1", first);
}

#[test]
fn the_same_commit_twice_at_once_writes_one_version() {
    let root = Root::new();
    let a = source(&root, "a", 40, 3);
    let args = vec!["commit", ID, utf8(&a), "--json"];
    let running = start_together(&root, &[args.clone(), args]);
    let lines: Vec<Value> = running.into_iter().map(|r| r.finish().line()).collect();
    assert!(lines.iter().all(|l| l["version"] == "v1"), "{lines:?}");
    let changed = lines.iter().filter(|l| l["changed"] == true).count();
    assert_eq!(changed, 1, "{lines:?}");
    root.assert_holds(ID, &a);
    let log = json_lines(ok(&root.ocfl(&["log", ID, "--json"])));
    assert_eq!(log.len(), 1);
}

#[test]
fn wait_0_fails_at_once_naming_the_committing_process() {
    let root = Root::new();
    let a = source(&root, "a", 400, 4);
    let b = source(&root, "b", 10, 5);
    let mut first = Running::start(&root, &["commit", ID, utf8(&a), "--json"]);
    // Staged: the process holds the store, and hundreds of steps are still to come.
    first.wait_for("Staged ");
    let pid = first.child.id();
    let output = root.ocfl(&["--wait", "0", "commit", ID, utf8(&b)]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("in use by pid {pid}")) && message.contains("--wait"),
        "{message}"
    );
    let line = first.finish().line();
    assert_eq!(line["version"], "v1");
    root.assert_holds(ID, &a);
}

#[test]
fn a_commit_to_an_object_with_an_interrupted_run_is_refused_naming_the_run() {
    let root = Root::new();
    let a = source(&root, "a", 400, 6);
    let b = source(&root, "b", 10, 7);
    let mut first = Running::start(&root, &["commit", ID, utf8(&a)]);
    // Killed once staged: hundreds of steps are still to come.
    first.wait_for("Staged ");
    first.child.kill().expect("kill");
    first.finish();
    let runs = json_lines(ok(&root.ocfl(&["runs", "--json"])));
    assert_eq!(runs.len(), 1, "{runs:?}");
    let active = runs[0]["run"].as_str().expect("run").to_owned();

    let before = Snapshot::of(&root.path());
    let refused = root.ocfl(&["commit", ID, utf8(&b)]);
    assert_eq!(code(&refused), 1, "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains(&active) && message.contains(ID) && message.contains("busy"),
        "{message}"
    );
    before.assert_unchanged(&root.path(), "a refused commit");

    let resumed = json_lines(ok(&root.ocfl(&["resume", "--json"])));
    assert_eq!(resumed[0]["run"], active.as_str());
    root.assert_holds(ID, &a);
    let line = root.commit(ID, &b, &[]);
    assert_eq!(line["version"], "v2");
    root.assert_holds(ID, &b);
}

/// How a commit that lost the race to another store's fails: the other update took the new
/// version's path, or installed its inventory after this one planned, or was in flight when
/// this one checked the object before staging.
const LOST_RACE: [&str; 3] = [
    "already exists and is not this update's",
    "the object changed since the update was planned",
    "update in progress",
];

#[test]
fn commits_through_separate_stores_race_without_corrupting_the_object() {
    let root = Root::new();
    let sources = [source(&root, "a", 100, 8), source(&root, "b", 100, 9)];
    let stores = [root.arg("store-a.redb"), root.arg("store-b.redb")];
    for round in 0..2 {
        if round == 1 {
            for (n, dir) in sources.iter().enumerate() {
                fs::write(dir.join("round2.txt"), format!("{n}")).expect("change");
            }
        }
        let versions_before = match round {
            0 => 0,
            _ => json_lines(ok(&root.ocfl(&["log", ID, "--json"]))).len(),
        };
        let running: Vec<Running> = sources
            .iter()
            .zip(&stores)
            .map(|(dir, store)| {
                Running::start(
                    &root,
                    &["--state", store, "commit", ID, utf8(dir), "--json"],
                )
            })
            .collect();
        let finished: Vec<Finished> = running.into_iter().map(Running::finish).collect();
        let mut won = Vec::new();
        for (done, dir) in finished.iter().zip(&sources) {
            match done.code {
                0 => won.push((done.line(), dir)),
                1 => assert!(
                    LOST_RACE.iter().any(|m| done.stderr.contains(m)),
                    "round {round}: {}",
                    done.stderr
                ),
                other => panic!("round {round}: exit {other}: {}", done.stderr),
            }
        }
        assert!(!won.is_empty(), "round {round}: neither commit succeeded");
        ok(&root.ocfl(&["validate", ID]));
        let log = json_lines(ok(&root.ocfl(&["log", ID, "--json"])));
        assert_eq!(log.len(), versions_before + won.len(), "round {round}");
        for (line, dir) in won {
            assert_version_holds(&root, line["version"].as_str().expect("v"), dir);
        }
    }
}

#[test]
fn commits_to_different_objects_in_parallel_all_succeed() {
    let root = Root::new();
    let ids = ["info:a", "info:b", "info:c"];
    let sources: Vec<PathBuf> = ids
        .iter()
        .enumerate()
        .map(|(n, _)| source(&root, &format!("src{n}"), 10 + 20 * n, 10 + n as u64))
        .collect();
    let running: Vec<Running> = ids
        .iter()
        .zip(&sources)
        .map(|(id, dir)| Running::start(&root, &["commit", id, utf8(dir), "--json"]))
        .collect();
    for (run, id) in running.into_iter().zip(ids) {
        let line = run.finish().line();
        assert_eq!(line["id"], id);
        assert_eq!(line["version"], "v1");
    }
    for (id, dir) in ids.iter().zip(&sources) {
        root.assert_holds(id, dir);
    }
    ok(&root.ocfl(&["validate"]));
}
