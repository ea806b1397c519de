//! The scale-out acceptance test: three `ocfl worker` processes and a submitter share one
//! PostgreSQL schema and one storage root; 20 objects (a few dozen small files each) are
//! committed with `ocfl commit --detach` while one worker is taken out mid-run: frozen
//! (SIGSTOP) while it holds an activity, kept frozen until its lease expires and another
//! worker takes the activity over, then killed with SIGKILL without ever waking. Then:
//!
//! - all 20 runs complete, and every object validates and holds its source byte for byte;
//! - no activity's completion is recorded twice in any run's history, every scheduled
//!   activity completed once, and no two workers ever held the same activity lease (each
//!   `(run, task, attempt)` started once);
//! - what the killed worker held was run again by another worker under a later attempt
//!   (which only an expired lease hands out), the killed worker wrote nothing after it
//!   froze, and those runs completed.
//!
//! Leases are 2 s (`OCFL_LEASE_SECONDS`), so the takeover costs the test seconds, not
//! minutes (about 8 s in all on the 2-core CI machine). Skipped (saying so) without
//! `OCFL_TEST_POSTGRES_URL`.

mod commit_support;
mod pg_support;
mod worker_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
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

/// For each of `held`, a later attempt of the same activity that another worker's log
/// (`events`) shows started.
fn takeovers(held: &BTreeSet<Activity>, events: &[Value]) -> Vec<(Activity, Activity)> {
    let started: Vec<Activity> = of_kind(events, "activity-started")
        .into_iter()
        .map(activity)
        .collect();
    held.iter()
        .filter_map(|h| {
            let later = started
                .iter()
                .find(|a| a.run == h.run && a.task == h.task && a.attempt > h.attempt)?;
            Some((h.clone(), later.clone()))
        })
        .collect()
}

/// What the victim held when it froze, what was taken over, and how long its log was then.
struct Killed {
    held: BTreeSet<Activity>,
    taken_over: Vec<(Activity, Activity)>,
    log_lines: usize,
    frozen_for: Duration,
}

/// Freezes `victim` (SIGSTOP) while its log shows activities it started and has not
/// finished, and keeps it frozen past its leases: a frozen worker renews nothing, so to the
/// others it has died. Once another worker starts one of those activities again - under a
/// later attempt, which only an expired lease hands out - the victim is killed with SIGKILL
/// without ever waking. An activity may look unfinished and yet be complete: its
/// acknowledgement was on its way to the database when the victim froze. `completed` tells
/// (from the run's history); then the victim is woken to try again at its next activity.
fn freeze_until_taken_over_then_kill(
    victim: &mut Process,
    survivors: &[Process],
    completed: impl Fn(&Activity) -> bool,
) -> Killed {
    let lease = Duration::from_secs_f64(LEASE_SECONDS.parse().expect("seconds"));
    loop {
        victim.wait_for("an unfinished activity on the victim", |events| {
            !open_activities(events).is_empty()
        });
        let frozen = Instant::now();
        let log_lines = victim.freeze();
        let held = open_activities(&victim.events());
        let taken_over = loop {
            let taken_over = || {
                let events: Vec<Value> = survivors.iter().flat_map(Process::events).collect();
                takeovers(&held, &events)
            };
            let now = taken_over();
            if !now.is_empty() || held.is_empty() || frozen.elapsed() > lease * 3 {
                break now;
            }
            if held.iter().all(&completed) {
                // Completed by the victim before it froze, or by a worker that took it over
                // and whose log line is still on its way to us: look again.
                std::thread::sleep(Duration::from_millis(300));
                break taken_over();
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if !taken_over.is_empty() {
            victim.signal("KILL");
            return Killed {
                held,
                taken_over,
                log_lines,
                frozen_for: frozen.elapsed(),
            };
        }
        eprintln!(
            "froze the victim holding {held:?}; nothing taken over: waking it after {:?}",
            frozen.elapsed()
        );
        victim.signal("CONT");
    }
}

/// `freeze` returns only once everything the process wrote before it stopped has been read,
/// a half-written line included: a process that writes each line in two pieces as fast as it
/// can, frozen and then killed, has no line in its log past the count `freeze` returned. (A
/// quiet period on the reader, which this replaces, never sees a line the process was
/// stopped in the middle of, and the kill then flushes it as one more line.)
#[test]
fn a_frozen_process_is_read_to_its_last_line() {
    for round in 0..10 {
        let mut writer = Command::new("sh");
        writer.args([
            "-c",
            "i=0; while :; do printf 'line %d' $i >&2; printf '\\n' >&2; i=$((i+1)); done",
        ]);
        let mut process = Process::spawn(writer);
        process.wait_for_line("a first line", |line| line.starts_with("line "));
        let frozen = process.freeze();
        process.signal("KILL");
        let (_, log) = process.wait();
        assert_eq!(log.len(), frozen, "round {round}: lines after the freeze");
        assert!(
            log[frozen - 1].contains("ocfl-test-frozen-"),
            "{:?}",
            log.last()
        );
    }
}

/// The events of run `run`'s history (`ocfl runs show --json`).
fn history(root: &Root, url: &str, run: &str) -> Vec<Value> {
    let output = ocfl_on(root, url, &["runs", "show", run, "--json"])
        .output()
        .expect("run ocfl");
    let shown = &json_lines(ok(&output))[0];
    shown["events"].as_array().expect("events").clone()
}

/// Whether `event` records the outcome of activity task `task`.
fn completes(event: &Value, task: u64) -> bool {
    matches!(
        event["type"].as_str(),
        Some("activity_completed" | "activity_failed")
    ) && event["task_id"].as_u64() == Some(task)
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

    // The submitter, in its own thread: the victim is frozen and killed while it submits.
    let submitter = {
        let (root, url, sources) = (root.path(), url.clone(), sources.clone());
        std::thread::spawn(move || {
            let mut runs: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
            for (id, dir) in &sources {
                let output = ocfl_command()
                    .arg("--root")
                    .arg(&root)
                    .arg("--backend")
                    .arg(&url)
                    .args([
                        "commit",
                        id,
                        dir.to_str().expect("utf-8"),
                        "--detach",
                        "--json",
                    ])
                    .output()
                    .expect("run ocfl");
                let line = json_lines(ok(&output))[0].clone();
                assert_eq!(line["detached"], true);
                let run = line["run"].as_str().expect("run").to_owned();
                runs.insert(run, (id.clone(), dir.clone()));
            }
            runs
        })
    };

    let mut victim = workers.remove(0);
    let victim_pid = victim.pid();
    let killed = freeze_until_taken_over_then_kill(&mut victim, &workers, |held| {
        history(&root, &url, &held.run)
            .iter()
            .any(|e| completes(e, held.task))
    });
    let killed_at = Instant::now();
    let (status, victim_log) = victim.wait();
    assert!(!status.success(), "the victim was killed: {status}");
    assert_eq!(
        victim_log.len(),
        killed.log_lines,
        "the victim did nothing after it froze"
    );
    eprintln!(
        "killed worker {victim_pid} holding {:?}; taken over {:?} after it froze",
        killed.held, killed.frozen_for
    );

    let runs = submitter.join().expect("the submitter");
    assert_eq!(runs.len(), OBJECTS);

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
        let events = history(&root, &url, run);
        let mut completions: BTreeMap<u64, usize> = BTreeMap::new();
        let mut scheduled = BTreeSet::new();
        for event in &events {
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
    // it held again, under a later attempt (the takeover the kill waited for, and any other
    // activity it held), and those runs completed.
    let taken_over = takeovers(&killed.held, &survivor_events);
    assert!(taken_over.len() >= killed.taken_over.len());
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
