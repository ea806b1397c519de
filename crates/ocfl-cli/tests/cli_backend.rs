//! `--backend`, `commit --detach` and `ocfl worker` without a database: bad backend URLs,
//! an unreachable database, and detached runs on the embedded store (recorded for `ocfl
//! resume`, run by `ocfl worker`, which stops cleanly on SIGTERM and SIGINT).

mod commit_support;
mod worker_support;

use std::path::{Path, PathBuf};

use commit_support::*;
use serde_json::Value;
use worker_support::*;

fn source(root: &Root, name: &str, files: usize) -> PathBuf {
    let dir = root.dir_path().join(name);
    let mut rng = Rng::new(name.len() as u64 + files as u64);
    many_files(&dir, files, &mut rng);
    dir
}

fn detach(root: &Root, id: &str, source: &Path) -> Value {
    let output = root.ocfl(&[
        "commit",
        id,
        source.to_str().expect("utf-8"),
        "--detach",
        "--json",
    ]);
    let lines = json_lines(ok(&output));
    assert_eq!(lines.len(), 1, "{}", stdout(&output));
    lines[0].clone()
}

#[test]
fn backend_urls_other_than_postgres_are_usage_errors_that_hide_the_password() {
    let root = Root::new();
    for url in [
        "mysql://root:hunter2@db.example.org/x",
        "sqlite:///tmp/x.db",
        "db.example.org",
    ] {
        let output = root.ocfl(&["--backend", url, "runs"]);
        let err = stderr(&output);
        assert_eq!(code(&output), 2, "{url}: {err}");
        assert!(err.contains("unsupported --backend"), "{err}");
        assert!(err.contains("postgres://"), "says what is expected: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    // The variable works like the option.
    let output = root
        .command(&["runs"])
        .env("OCFL_BACKEND", "redis://h")
        .output()
        .expect("run ocfl");
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("redis://h"), "{}", stderr(&output));
}

#[test]
fn state_with_a_database_backend_is_a_usage_error() {
    let root = Root::new();
    let state = root.arg("elsewhere.redb");
    let output = root.ocfl(&[
        "--backend",
        "postgres://u:p@127.0.0.1:1/db",
        "--state",
        &state,
        "runs",
    ]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("--state"), "{}", stderr(&output));
    assert!(!Path::new(&state).exists());
}

#[test]
fn an_unreachable_database_is_named_by_host_and_database_never_by_password() {
    let root = Root::new();
    let deposit = source(&root, "deposit", 3);
    // Port 1 on the loopback: nothing listens there, the connection is refused at once.
    let url = "postgres://archivist:s3cr3t-pw@127.0.0.1:1/archive";
    for args in [
        vec!["runs"],
        vec!["commit", "info:x", deposit.to_str().expect("utf-8")],
        vec!["worker"],
    ] {
        let output = root
            .command(&args)
            .arg("--backend")
            .arg(url)
            .output()
            .expect("run");
        let err = stderr(&output);
        assert_eq!(code(&output), 1, "{args:?}: {err}");
        assert!(err.contains("127.0.0.1:1"), "names the host: {err}");
        assert!(err.contains("archive"), "names the database: {err}");
        assert!(!err.contains("s3cr3t-pw"), "never the password: {err}");
    }
    assert!(
        !root.dir_path().join("root.ocfl-work/state.redb").exists(),
        "no embedded store was made instead"
    );
}

#[test]
fn detach_on_the_embedded_store_records_the_run_and_resume_finishes_it() {
    let root = Root::new();
    let deposit = source(&root, "deposit", 30);
    let line = detach(&root, "info:detached", &deposit);
    assert_eq!(keys(&line), ["detached", "id", "run"]);
    assert_eq!(line["detached"], true);
    assert_eq!(line["id"], "info:detached");
    let run = line["run"].as_str().expect("run").to_owned();

    // Recorded: listed, with its object and source (pending: nothing has run it yet).
    let runs = json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["run"], run.as_str());
    assert_eq!(runs[0]["id"], "info:detached");
    let unfinished = !matches!(runs[0]["state"].as_str(), Some("completed"));

    // Plain output: the run id alone on stdout. The same command again finds the same run.
    let again = root.ocfl(&[
        "commit",
        "info:detached",
        deposit.to_str().expect("utf-8"),
        "--detach",
    ]);
    assert_eq!(stdout(ok(&again)).trim(), run);

    let resumed = root.ocfl(&["resume", "--json"]);
    let lines = json_lines(ok(&resumed));
    if unfinished {
        assert_eq!(lines.len(), 1, "{}", stderr(&resumed));
        assert_eq!(lines[0]["run"], run.as_str());
        assert_eq!(lines[0]["changed"], true);
    }
    let runs = json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["state"], "completed");
    assert_eq!(runs[0]["version"], "v1");
    root.assert_holds("info:detached", &deposit);
}

/// `ocfl worker --json` on the storage root of `root`, with `extra` arguments.
fn worker(root: &Root, extra: &[&str]) -> Process {
    let mut args = vec!["worker", "--json"];
    args.extend_from_slice(extra);
    Process::spawn(root.command(&args))
}

#[test]
fn a_worker_on_the_embedded_store_runs_detached_commits_until_sigterm() {
    let root = Root::new();
    let sources: Vec<(String, PathBuf)> = (0..3)
        .map(|i| {
            (
                format!("info:w{i}"),
                source(&root, &format!("src{i}"), 20 + i),
            )
        })
        .collect();
    let runs: Vec<String> = sources
        .iter()
        .map(|(id, dir)| {
            detach(&root, id, dir)["run"]
                .as_str()
                .expect("run")
                .to_owned()
        })
        .collect();

    let mut worker = worker(&root, &["--concurrency", "2"]);
    worker.wait_for("every run verified", |events| {
        let verified = verified_runs(events);
        runs.iter().all(|run| verified.contains(run))
    });
    // The run's last activity (removing its blobs) comes after the verification.
    worker.wait_for("every run finished", |events| {
        runs.iter().all(|run| {
            of_kind(events, "activity-ended")
                .iter()
                .any(|e| e["run"] == run.as_str() && e["name"] == "ocfl.finish")
        })
    });
    worker.signal("TERM");
    let (status, log) = worker.wait();
    assert!(status.success(), "{status}:\n{}", log.join("\n"));
    let events: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"), "{log:?}");
    assert_eq!(kinds.last(), Some(&"stopped"), "{log:?}");
    // Stopping lets what is under way finish: an object lock's last episode, which comes
    // after its run's, may still start and end between the two lines (checked below: every
    // activity begun ended).
    let stopping_at = kinds
        .iter()
        .position(|k| *k == "stopping")
        .expect("a stopping line");
    let draining = ["episode", "activity-started", "activity-ended"];
    assert!(
        kinds[stopping_at + 1..kinds.len() - 1]
            .iter()
            .all(|k| draining.contains(k)),
        "only draining work between stopping and stopped: {log:?}"
    );
    let stopping = of_kind(&events, "stopping")[0];
    assert_eq!(stopping["signal"], "SIGTERM");
    let started = of_kind(&events, "started")[0];
    assert_eq!(started["concurrency"], 2);
    assert!(
        started["store"]
            .as_str()
            .is_some_and(|s| s.contains("state.redb")),
        "{started}"
    );
    // Every activity it started ended, each named with its run, task and attempt.
    let begun = of_kind(&events, "activity-started");
    assert!(!begun.is_empty());
    for event in &begun {
        // (Attempt 2 and more: work a detaching command began and handed back.)
        assert!(
            event["task"].is_u64() && event["attempt"].as_u64() >= Some(1),
            "{event}"
        );
        assert!(
            of_kind(&events, "activity-ended")
                .iter()
                .any(|e| e["run"] == event["run"] && e["task"] == event["task"]),
            "{event} never ended"
        );
    }

    // The store is released: other commands see the runs completed.
    let listed = json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])));
    assert_eq!(listed.len(), 3);
    for run in &listed {
        assert_eq!(run["state"], "completed", "{run}");
    }
    for (id, dir) in &sources {
        root.assert_holds(id, dir);
    }
}

#[test]
fn an_idle_worker_stops_on_sigint_and_plain_lines_name_what_it_serves() {
    let root = Root::new();
    let mut worker = Process::spawn(root.command(&["worker"]));
    let pid = worker.pid();
    worker.wait_for_line("the start line", |l| l.contains(": started "));
    worker.signal("INT");
    let (status, log) = worker.wait();
    assert!(status.success(), "{status}: {log:?}");
    let prefix = format!("ocfl worker {pid}: ");
    assert!(log.iter().all(|l| l.starts_with(&prefix)), "{log:?}");
    let root_path = std::fs::canonicalize(root.path()).expect("root");
    assert!(
        log[0].contains(&format!("root={}", root_path.display())),
        "{log:?}"
    );
    assert!(log[1].contains("stopping signal=SIGINT"), "{log:?}");
    assert!(log[2].ends_with("stopped"), "{log:?}");
}
