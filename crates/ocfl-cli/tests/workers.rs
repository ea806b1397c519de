//! The scale-out acceptance test: three `ocfl worker` processes and a submitter share one
//! PostgreSQL schema and one storage root; 20 objects are committed with `ocfl commit
//! --detach`; one worker is killed with SIGKILL while it holds work. Then:
//!
//! - all 20 runs complete, and every object validates and holds its source byte for byte;
//! - no activity's completion is recorded twice in any run's history, and no two workers
//!   ever held the same activity lease (each `(run, task, attempt)` started once);
//! - the killed worker's unfinished activities are taken over by the others once their
//!   leases expire: they run again under a higher attempt number, and their runs complete.
//!
//! Leases are 2 s (`OCFL_LEASE_SECONDS`), so the takeover costs the test seconds, not
//! minutes. Skipped (saying so) without `OCFL_TEST_POSTGRES_URL`.

mod commit_support;
mod pg_support;
mod worker_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use commit_support::*;
use pg_support::postgres_url;
use serde_json::Value;
use worker_support::*;

const OBJECTS: usize = 20;
const WORKERS: usize = 3;
const LEASE_SECONDS: &str = "2";

/// `ocfl --root ROOT --backend URL args...`.
fn ocfl_on(root: &Root, url: &str, args: &[&str]) -> Command {
    let mut command = root.command(args);
    command.arg("--backend").arg(url);
    command
}

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let on_shm = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    on_shm.unwrap_or_else(|| tempfile::tempdir().expect("tempdir"))
}

/// An activity as a worker logged it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Activity {
    run: String,
    task: u64,
    attempt: u64,
}

fn activity(event: &Value) -> Activity {
    Activity {
        run: event["run"].as_str().expect("run").to_owned(),
        task: event["task"].as_u64().expect("task"),
        attempt: event["attempt"].as_u64().expect("attempt"),
    }
}

/// The activities a log shows started and not (yet) ended.
fn open_activities(events: &[Value]) -> BTreeSet<Activity> {
    let ended: BTreeSet<Activity> = of_kind(events, "activity-ended")
        .into_iter()
        .map(activity)
        .collect();
    of_kind(events, "activity-started")
        .into_iter()
        .map(activity)
        .filter(|a| !ended.contains(a))
        .collect()
}

/// Freezes `victim` at a moment it holds unfinished activities (SIGSTOP, so the log read
/// then is what it holds) and kills it there with SIGKILL. Returns what it held.
fn kill_while_holding_work(victim: &mut Process) -> BTreeSet<Activity> {
    loop {
        // Its log shows an activity started and not ended: freeze it and look again.
        victim.wait_for("an activity on the victim", |events| {
            of_kind(events, "activity-started").len() >= 3 && !open_activities(events).is_empty()
        });
        victim.signal("STOP");
        // Let the reader drain what the process wrote before it stopped.
        let mut seen = victim.lines().len();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = victim.lines().len();
            if now == seen {
                break;
            }
            seen = now;
        }
        let held = open_activities(&victim.events());
        if !held.is_empty() {
            victim.signal("KILL");
            return held;
        }
        // It finished them meanwhile: let it go on until the next one.
        victim.signal("CONT");
    }
}

#[test]
fn three_workers_commit_twenty_objects_and_survive_a_sigkill() {
    let Some(url) = postgres_url("workers_acceptance") else {
        return;
    };
    let began = Instant::now();
    let scratch = scratch();
    let root = Root::new_in(scratch.path());
    let sources: Vec<(String, PathBuf)> = (0..OBJECTS)
        .map(|i| {
            let dir = root.dir_path().join(format!("src{i:02}"));
            many_files(&dir, 24 + (i % 4) * 8, &mut Rng::new(i as u64));
            (format!("info:scale-{i:02}"), dir)
        })
        .collect();

    let mut workers: Vec<Process> = (0..WORKERS)
        .map(|_| {
            let mut command = ocfl_on(&root, &url, &["worker", "--json", "--concurrency", "2"]);
            command.env("OCFL_LEASE_SECONDS", LEASE_SECONDS);
            Process::spawn(command)
        })
        .collect();
    for worker in &mut workers {
        worker.wait_for("the worker's start", |events| {
            !of_kind(events, "started").is_empty()
        });
    }

    // The submitter.
    let mut runs: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
    for (id, dir) in &sources {
        let output = ocfl_on(
            &root,
            &url,
            &[
                "commit",
                id,
                dir.to_str().expect("utf-8"),
                "--detach",
                "--json",
            ],
        )
        .output()
        .expect("run ocfl");
        let line = json_lines(ok(&output))[0].clone();
        assert_eq!(line["detached"], true);
        let run = line["run"].as_str().expect("run").to_owned();
        runs.insert(run, (id.clone(), dir.clone()));
    }

    let victim_pid = workers[0].pid();
    let held = kill_while_holding_work(&mut workers[0]);
    let killed_at = Instant::now();
    let victim = workers.remove(0);
    let (status, victim_log) = victim.wait();
    assert!(!status.success(), "the victim was killed: {status}");
    eprintln!("killed worker {victim_pid} holding {held:?}");

    // Every run completes.
    let listed = loop {
        let output = ocfl_on(&root, &url, &["runs", "--all", "--json"])
            .output()
            .expect("run ocfl");
        let listed = json_lines(ok(&output));
        for run in &listed {
            assert!(
                !matches!(run["state"].as_str(), Some("failed" | "terminated")),
                "{run}"
            );
        }
        let completed = listed.iter().filter(|r| r["state"] == "completed").count();
        if completed == OBJECTS {
            break listed;
        }
        assert!(
            began.elapsed() < PATIENCE,
            "{completed} of {OBJECTS} runs completed: {listed:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let all_done = killed_at.elapsed();
    assert_eq!(listed.len(), OBJECTS);

    let mut survivor_logs = Vec::new();
    for worker in workers {
        worker.signal("TERM");
        let (status, log) = worker.wait();
        assert!(status.success(), "{status}:\n{}", log.join("\n"));
        survivor_logs.push(log);
    }
    let parse = |log: &[String]| -> Vec<Value> {
        log.iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    };
    let victim_events = parse(&victim_log);
    let survivor_events: Vec<Value> = survivor_logs.iter().flat_map(|l| parse(l)).collect();

    // Every object validates and holds its source, byte for byte.
    for (run, (id, dir)) in &runs {
        let info = listed.iter().find(|r| r["run"] == run.as_str()).expect(run);
        assert_eq!(info["version"], "v1", "{info}");
        assert_eq!(info["changed"], true, "{info}");
        root.assert_holds(id, dir);
    }
    ok(&root.ocfl(&["validate"]));

    // No activity completed twice in any history; every scheduled one completed once.
    for run in runs.keys() {
        let output = ocfl_on(&root, &url, &["runs", "show", run, "--json"])
            .output()
            .expect("run ocfl");
        let shown = &json_lines(ok(&output))[0];
        let events = shown["events"].as_array().expect("events");
        let mut completions: BTreeMap<u64, usize> = BTreeMap::new();
        let mut scheduled = BTreeSet::new();
        for event in events {
            let task = event["task_id"].as_u64();
            match event["type"].as_str() {
                Some("activity_scheduled") => {
                    scheduled.insert(task.expect("task_id"));
                }
                Some("activity_completed" | "activity_failed") => {
                    *completions.entry(task.expect("task_id")).or_default() += 1;
                }
                _ => {}
            }
        }
        for (task, count) in &completions {
            assert_eq!(*count, 1, "run {run}: task {task} completed {count} times");
        }
        assert_eq!(
            completions.keys().copied().collect::<BTreeSet<u64>>(),
            scheduled,
            "run {run}: every scheduled activity completed once"
        );
    }

    // No two workers ever ran the same lease: each (run, task, attempt) started once.
    let mut starts: BTreeMap<Activity, usize> = BTreeMap::new();
    for event in victim_events.iter().chain(&survivor_events) {
        if event["event"] == "activity-started" {
            *starts.entry(activity(event)).or_default() += 1;
        }
    }
    for (activity, count) in &starts {
        assert_eq!(*count, 1, "{activity:?} started {count} times");
    }

    // The killed worker's leases were taken over after they expired: the others ran what
    // it held again, under a later attempt, and those runs completed.
    let taken_over: Vec<(&Activity, Activity)> = held
        .iter()
        .filter_map(|h| {
            of_kind(&survivor_events, "activity-started")
                .into_iter()
                .map(activity)
                .find(|a| a.run == h.run && a.task == h.task && a.attempt > h.attempt)
                .map(|a| (h, a))
        })
        .collect();
    assert!(
        !taken_over.is_empty(),
        "none of {held:?} was taken over; survivors:\n{survivor_events:?}"
    );
    for (was, now) in &taken_over {
        eprintln!(
            "taken over: run {} task {} (attempt {} on the killed worker, {} after)",
            was.run, was.task, was.attempt, now.attempt
        );
        let info = listed
            .iter()
            .find(|r| r["run"] == was.run.as_str())
            .expect("run");
        assert_eq!(info["state"], "completed");
    }
    eprintln!(
        "{OBJECTS} objects by {WORKERS} workers: all done {all_done:?} after the kill, {:?} in all",
        began.elapsed()
    );
}
