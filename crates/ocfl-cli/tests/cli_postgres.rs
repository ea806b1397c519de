//! The durable commands on PostgreSQL (`--backend`): `runs` and `runs show` read from it,
//! `commit` runs in process, `commit --detach` leaves the run to `ocfl worker` processes,
//! and `resume` finishes a run whose worker was killed. Each test works in a fresh schema of
//! the database `OCFL_TEST_POSTGRES_URL` names; without it they say they are skipped.

mod commit_support;
mod pg_support;
mod worker_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use commit_support::*;
use pg_support::postgres_url;
use serde_json::Value;
use worker_support::*;

/// A storage root and a database schema of its own.
struct Setup {
    root: Root,
    url: String,
}

impl Setup {
    fn new(test: &str) -> Option<Setup> {
        let url = postgres_url(test)?;
        Some(Setup {
            root: Root::new(),
            url,
        })
    }

    /// `ocfl --root ROOT --backend URL args...`, not yet run.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.root.command(args);
        command.arg("--backend").arg(&self.url);
        command
    }

    fn ocfl(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("run ocfl")
    }

    fn source(&self, name: &str, files: usize) -> PathBuf {
        let dir = self.root.dir_path().join(name);
        many_files(&dir, files, &mut Rng::new(files as u64));
        dir
    }

    fn runs(&self) -> Vec<Value> {
        json_lines(ok(&self.ocfl(&["runs", "--all", "--json"])))
    }

    fn detach(&self, id: &str, source: &Path) -> String {
        let output = self.ocfl(&[
            "commit",
            id,
            source.to_str().expect("utf-8"),
            "--detach",
            "--json",
        ]);
        let line = json_lines(ok(&output))[0].clone();
        assert_eq!(keys(&line), ["detached", "id", "run"]);
        assert_eq!(
            (line["id"].as_str(), &line["detached"]),
            (Some(id), &Value::Bool(true))
        );
        line["run"].as_str().expect("run").to_owned()
    }

    fn worker(&self, lease_seconds: &str) -> Process {
        let mut command = self.command(&["worker", "--json", "--concurrency", "2"]);
        command.env("OCFL_LEASE_SECONDS", lease_seconds);
        Process::spawn(command)
    }
}

#[test]
fn runs_on_a_new_database_lists_nothing_and_show_names_an_unknown_run() {
    let Some(setup) = Setup::new("cli_runs_empty") else {
        return;
    };
    assert!(setup.runs().is_empty());
    let output = setup.ocfl(&["runs"]);
    assert!(
        stderr(ok(&output)).contains("0 unfinished run(s)"),
        "{}",
        stderr(&output)
    );
    let output = setup.ocfl(&["runs", "show", "commit-nope-nope-1"]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("no run commit-nope-nope-1"),
        "{}",
        stderr(&output)
    );
    // No embedded store was made beside the root.
    assert!(!setup.root.default_store().exists());
}

#[test]
fn commit_on_postgres_runs_in_process_and_runs_show_reads_its_history() {
    let Some(setup) = Setup::new("cli_commit") else {
        return;
    };
    let source = setup.source("deposit", 12);
    let src = source.to_str().expect("utf-8");
    let output = setup.ocfl(&["commit", "info:pg", src, "--json", "-m", "first"]);
    let line = json_lines(ok(&output))[0].clone();
    assert_eq!(
        (line["version"].as_str(), &line["changed"]),
        (Some("v1"), &Value::Bool(true))
    );
    setup.root.assert_holds("info:pg", &source);

    let runs = setup.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["run"], line["run"]);
    assert_eq!(runs[0]["state"], "completed");
    assert_eq!(runs[0]["steps_done"], line["steps"]);
    let run = line["run"].as_str().expect("run");
    let shown = json_lines(ok(&setup.ocfl(&["runs", "show", run, "--json"])))[0].clone();
    let events = shown["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["type"] == "execution_started"),
        "{events:?}"
    );
    let completed = events
        .iter()
        .filter(|e| e["type"] == "activity_completed")
        .count();
    assert!(completed >= 4, "stage, plan, steps, verify: {events:?}");
    let plain = stdout(ok(&setup.ocfl(&["runs", "show", run])));
    assert!(plain.contains("state:    completed"), "{plain}");

    // The same command again: a new run that finds nothing to do; the embedded store was
    // never made.
    let again = json_lines(ok(
        &setup.ocfl(&["commit", "info:pg", src, "--json", "-m", "first"])
    ))[0]
        .clone();
    assert_eq!(again["changed"], false);
    assert_eq!(setup.runs().len(), 2);
    assert!(!setup.root.default_store().exists());
}

#[test]
fn detached_commits_are_run_by_a_worker_that_stops_on_sigterm() {
    let Some(setup) = Setup::new("cli_detach_worker") else {
        return;
    };
    let sources: Vec<(String, PathBuf)> = (0..3)
        .map(|i| {
            (
                format!("info:d{i}"),
                setup.source(&format!("src{i}"), 10 + i),
            )
        })
        .collect();
    let runs: Vec<String> = sources
        .iter()
        .map(|(id, dir)| setup.detach(id, dir))
        .collect();
    // Nobody runs them yet.
    for (id, _) in &sources {
        let output = setup.root.ocfl(&["show", id]);
        assert_eq!(code(&output), 1, "{id} exists before any worker ran");
    }

    let mut worker = setup.worker("5");
    worker.wait_for("every run finished", |events| {
        runs.iter().all(|run| {
            of_kind(events, "activity-ended")
                .iter()
                .any(|e| e["run"] == run.as_str() && e["name"] == "ocfl.finish")
        })
    });
    // The runs are visible to other processes while the worker holds nothing exclusively.
    // The last activity's end comes just before the episode that completes its run: give
    // that episode a moment.
    let mut listed = setup.runs();
    for _ in 0..100 {
        if listed.iter().all(|run| run["state"] == "completed") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        listed = setup.runs();
    }
    assert_eq!(listed.len(), 3, "{listed:?}");
    for run in &listed {
        assert_eq!(run["state"], "completed", "{run}");
    }
    worker.signal("TERM");
    let (status, log) = worker.wait();
    assert!(status.success(), "{status}: {log:?}");
    let events: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let started = of_kind(&events, "started");
    assert!(
        started[0]["store"]
            .as_str()
            .is_some_and(|s| s.starts_with("PostgreSQL at ")),
        "{started:?}"
    );
    assert_eq!(
        events.last().map(|e| &e["event"]),
        Some(&Value::from("stopped"))
    );
    for (id, dir) in &sources {
        setup.root.assert_holds(id, dir);
    }
    // Run data was kept in the work area beside the root, and removed with each run.
    let blobs = setup.root.dir_path().join("root.ocfl-work/blobs");
    for run in &runs {
        assert!(!blobs.join(run).exists(), "{run}'s blobs were left behind");
    }
}

#[test]
fn resume_finishes_a_run_whose_worker_was_killed() {
    let Some(setup) = Setup::new("cli_resume_killed") else {
        return;
    };
    let source = setup.source("deposit", 40);
    let run = setup.detach("info:resumed", &source);
    let mut worker = setup.worker("1");
    worker.wait_for("the run's first activity", |events| {
        !of_kind(events, "activity-started").is_empty()
    });
    worker.signal("KILL");
    let (status, _) = worker.wait();
    assert!(!status.success());

    let output = setup
        .command(&["resume", "--json"])
        .env("OCFL_LEASE_SECONDS", "1")
        .output()
        .expect("run ocfl");
    let lines = json_lines(ok(&output));
    let runs = setup.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "completed", "{runs:?}");
    if let Some(line) = lines.first() {
        // (Unless the killed worker had finished the run before the kill landed.)
        assert_eq!(line["run"], run.as_str());
        assert_eq!(line["version"], "v1");
    }
    setup.root.assert_holds("info:resumed", &source);
}
