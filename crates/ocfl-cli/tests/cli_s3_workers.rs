//! A storage root in a bucket with the engine's store in PostgreSQL: `commit --detach` stages
//! the new content into the root's work area in the bucket before it returns, so an `ocfl
//! worker` that has nothing but the bucket and the database (another working directory and
//! state home, the source gone) completes the run; the work area is empty afterwards, and
//! `runs` and `resume` read the same database (`docs/durability.md` 11.6). Skipped without
//! both `OCFL_TEST_S3_ENDPOINT` and `OCFL_TEST_POSTGRES_URL`.

mod commit_support;
mod pg_support;
mod s3_support;
mod worker_support;

use std::path::Path;
use std::process::Command;

use commit_support::*;
use pg_support::postgres_url;
use s3_support::Bucket;
use serde_json::Value;
use worker_support::*;

/// A bucket and a fresh database schema.
struct Setup {
    bucket: Bucket,
    url: String,
}

impl Setup {
    fn new(test: &str) -> Option<Setup> {
        let url = postgres_url(test)?;
        let bucket = Bucket::new(test)?;
        ok(&bucket.ocfl(&["init"]));
        Some(Setup { bucket, url })
    }

    /// `ocfl --root URL --backend PG args...` with `home` as its state home and directory.
    fn command_in(&self, home: &Path, args: &[&str]) -> Command {
        let mut command = self.bucket.command_in(home, args);
        command.arg("--backend").arg(&self.url);
        command
    }

    fn ocfl_in(&self, home: &Path, args: &[&str]) -> std::process::Output {
        self.command_in(home, args).output().expect("run ocfl")
    }

    /// Detaches a commit of `source` from a home of its own; returns the run.
    fn detach(&self, home: &Path, id: &str, source: &str, extra: &[&str]) -> String {
        let mut args = vec!["commit", id, source, "--detach", "--json"];
        args.extend_from_slice(extra);
        let output = self.ocfl_in(home, &args);
        let line = json_lines(ok(&output))[0].clone();
        assert_eq!(keys(&line), ["detached", "id", "run"]);
        line["run"].as_str().expect("run").to_owned()
    }

    /// A worker in `home`.
    fn worker(&self, home: &Path) -> Process {
        let mut command = self.command_in(home, &["worker", "--json", "--concurrency", "2"]);
        command.env("OCFL_LEASE_SECONDS", "5");
        Process::spawn(command)
    }
}

/// Waits until `worker` has finished `run` (its clean-up done).
fn wait_finished(worker: &mut Process, run: &str) {
    worker.wait_for("the run finished", |events| {
        events.iter().any(|e| {
            e["event"] == "activity-ended" && e["run"] == run && e["name"] == "ocfl.finish"
        })
    });
}

/// `runs --all --json` once no run is pending or running (the run's last episode comes
/// just after its clean-up), for at most [`PATIENCE`].
fn runs_once_settled(setup: &Setup, home: &Path) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let runs = json_lines(ok(&setup.ocfl_in(home, &["runs", "--all", "--json"])));
        let settled = runs
            .iter()
            .all(|r| r["state"] != "running" && r["state"] != "pending");
        if settled || started.elapsed() > PATIENCE {
            return runs;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Stops `worker` with SIGTERM; it must exit cleanly.
fn stop(worker: Process) {
    worker.signal("TERM");
    let (status, log) = worker.wait();
    assert!(status.success(), "{status}: {log:?}");
}

#[test]
fn a_worker_with_only_the_bucket_and_the_database_completes_a_detached_commit() {
    let Some(setup) = Setup::new("s3_worker_detached") else {
        return;
    };
    let submitter = setup.bucket.dir.path().join("submitter");
    let files: &[(&str, &[u8])] = &[
        ("a.txt", b"alpha\n"),
        ("dir/b.txt", b"bravo\n"),
        ("dir/same-as-a.txt", b"alpha\n"),
    ];
    let source = setup.bucket.source("deposit", files);
    let run = setup.detach(&submitter, "info:detached", &source, &["-m", "first"]);
    // Staged before the command returned: the work area holds the stage and each new
    // digest once; the root holds nothing of the object yet.
    let staged = setup.bucket.keys("archive.ocfl-work");
    assert_eq!(
        staged.iter().filter(|k| k.contains("/content/")).count(),
        2,
        "{staged:?}"
    );
    assert!(staged.iter().any(|k| k.ends_with("/stage")), "{staged:?}");
    assert_eq!(code(&setup.bucket.ocfl(&["show", "info:detached"])), 1);

    // Nothing of this host is left for the worker: the source and the submitter's home go.
    std::fs::remove_dir_all(&source).expect("remove the source");
    std::fs::remove_dir_all(&submitter).expect("remove the submitter's home");
    let elsewhere = setup.bucket.dir.path().join("worker-host");
    let mut worker = setup.worker(&elsewhere);
    wait_finished(&mut worker, &run);

    let runs = runs_once_settled(&setup, &elsewhere);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["state"], "completed", "{runs:?}");
    ok(&setup.bucket.ocfl(&["validate", "info:detached"]));
    for (path, bytes) in files {
        let read = setup.bucket.ocfl(&["cat", "info:detached", path]);
        assert_eq!(ok(&read).stdout, *bytes, "{path}");
    }
    // The stage, the content and the run's blobs are gone with the run.
    assert_eq!(setup.bucket.keys("archive.ocfl-work"), Vec::<String>::new());
    // The worker kept nothing on its host either.
    assert!(!elsewhere.join("state").exists());

    // An update from another host: only the changed file is staged, and it arrives.
    let update = setup.bucket.source(
        "update",
        &[("a.txt", b"alpha\n"), ("dir/b.txt", b"bravo, changed\n")],
    );
    let run = setup.detach(&submitter, "info:detached", &update, &[]);
    let staged = setup.bucket.keys("archive.ocfl-work");
    assert_eq!(
        staged.iter().filter(|k| k.contains("/content/")).count(),
        1,
        "{staged:?}"
    );
    std::fs::remove_dir_all(&update).expect("remove the update");
    wait_finished(&mut worker, &run);
    stop(worker);
    let read = setup.bucket.ocfl(&["cat", "info:detached", "dir/b.txt"]);
    assert_eq!(ok(&read).stdout, b"bravo, changed\n");
    ok(&setup.bucket.ocfl(&["validate"]));
    assert_eq!(setup.bucket.keys("archive.ocfl-work"), Vec::<String>::new());
}

#[test]
fn resume_and_runs_on_postgres_finish_a_detached_commit_on_a_bucket() {
    let Some(setup) = Setup::new("s3_pg_resume") else {
        return;
    };
    let home = setup.bucket.dir.path().join("one-host");
    let source = setup
        .bucket
        .source("deposit", &[("x.bin", &[7u8; 70_000][..])]);
    let run = setup.detach(&home, "info:resumed", &source, &[]);
    let pending = json_lines(ok(&setup.ocfl_in(&home, &["runs", "--all", "--json"])));
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_ne!(pending[0]["state"], "completed", "{pending:?}");
    std::fs::remove_dir_all(&source).expect("remove the source");

    let resumed = setup.ocfl_in(&home, &["resume", "--json"]);
    let lines = json_lines(ok(&resumed));
    assert_eq!(lines[0]["run"], run.as_str(), "{lines:?}");
    assert_eq!(lines[0]["version"], "v1");
    let runs = json_lines(ok(&setup.ocfl_in(&home, &["runs", "--all", "--json"])));
    assert_eq!(runs[0]["state"], "completed", "{runs:?}");
    let read = setup.bucket.ocfl(&["cat", "info:resumed", "x.bin"]);
    assert_eq!(ok(&read).stdout, vec![7u8; 70_000]);
    assert_eq!(setup.bucket.keys("archive.ocfl-work"), Vec::<String>::new());
    let shown: Value =
        json_lines(ok(&setup.ocfl_in(&home, &["runs", "show", &run, "--json"])))[0].clone();
    assert_eq!(shown["state"], "completed", "{shown}");
}

#[test]
fn an_explicit_work_area_elsewhere_in_the_bucket_holds_the_staged_content() {
    let Some(setup) = Setup::new("s3_pg_work_area") else {
        return;
    };
    let work_area = format!("s3://{}/staging/ocfl", setup.bucket.name);
    let home = setup.bucket.dir.path().join("deposit-host");
    let source = setup.bucket.source("deposit", &[("a.txt", b"alpha\n")]);
    let run = setup.detach(
        &home,
        "info:elsewhere",
        &source,
        &["--work-area", &work_area],
    );
    let staged = setup.bucket.keys("staging/ocfl");
    assert!(staged.iter().any(|k| k.ends_with("/stage")), "{staged:?}");
    assert_eq!(setup.bucket.keys("archive.ocfl-work"), Vec::<String>::new());
    std::fs::remove_dir_all(&source).expect("remove the source");

    let elsewhere = setup.bucket.dir.path().join("worker-host");
    let mut command =
        setup.command_in(&elsewhere, &["worker", "--json", "--work-area", &work_area]);
    command.env("OCFL_LEASE_SECONDS", "5");
    let mut worker = Process::spawn(command);
    wait_finished(&mut worker, &run);
    stop(worker);
    let read = setup.bucket.ocfl(&["cat", "info:elsewhere", "a.txt"]);
    assert_eq!(ok(&read).stdout, b"alpha\n");
    assert_eq!(setup.bucket.keys("staging/ocfl"), Vec::<String>::new());
    ok(&setup.bucket.ocfl(&["validate"]));
}

/// A commit that stops after staging and before its run exists (here: the database cannot be
/// reached) leaves complete content keys in the work area and no run; the same command again
/// sends nothing new, submits, and once the run is done nothing is left.
#[test]
fn a_commit_stopped_before_submitting_is_finished_by_the_same_command() {
    let Some(setup) = Setup::new("s3_pg_before_submit") else {
        return;
    };
    let home = setup.bucket.dir.path().join("deposit-host");
    let source = setup
        .bucket
        .source("deposit", &[("a.txt", b"alpha\n"), ("b.txt", b"bravo\n")]);
    let stopped = setup
        .bucket
        .command_in(&home, &["commit", "info:again", &source, "--detach"])
        .arg("--backend")
        .arg("postgres://nobody@127.0.0.1:1/nothing?connect_timeout=2")
        .output()
        .expect("run ocfl");
    assert_eq!(code(&stopped), 1, "{}", stderr(&stopped));
    let staged = setup.bucket.keys("archive.ocfl-work");
    assert_eq!(
        staged.iter().filter(|k| k.contains("/content/")).count(),
        2,
        "{staged:?}"
    );
    assert!(json_lines(ok(&setup.ocfl_in(&home, &["runs", "--all", "--json"]))).is_empty());

    let again = setup.ocfl_in(&home, &["commit", "info:again", &source, "--detach"]);
    let said = stderr(ok(&again));
    assert!(said.contains("sent 0 new files"), "{said}");
    let run = stdout(&again).trim().to_owned();
    let elsewhere = setup.bucket.dir.path().join("worker-host");
    let mut worker = setup.worker(&elsewhere);
    wait_finished(&mut worker, &run);
    stop(worker);
    let read = setup.bucket.ocfl(&["cat", "info:again", "b.txt"]);
    assert_eq!(ok(&read).stdout, b"bravo\n");
    assert_eq!(setup.bucket.keys("archive.ocfl-work"), Vec::<String>::new());
}

/// A run refused by the worker (the object turned out damaged) removes what was staged for
/// it, as a completed one does.
#[test]
fn a_refused_run_leaves_nothing_in_the_work_area() {
    let Some(setup) = Setup::new("s3_pg_refused") else {
        return;
    };
    let home = setup.bucket.dir.path().join("deposit-host");
    let v1 = setup.bucket.source("v1", &[("a.txt", b"alpha\n")]);
    ok(&setup.ocfl_in(&home, &["commit", "info:damaged", &v1]));
    assert_eq!(setup.bucket.keys("archive.ocfl-work"), Vec::<String>::new());
    // The object loses a content file: its structure check refuses the next update.
    let content = setup
        .bucket
        .keys("archive")
        .into_iter()
        .find(|k| k.ends_with("/v1/content/a.txt"))
        .expect("content key");
    ocfl_core::storage::Storage::remove(&setup.bucket.top, &format!("archive/{content}"))
        .expect("remove");
    let v2 = setup.bucket.source("v2", &[("a.txt", b"changed\n")]);
    // Running already: the in-process commit's object lock ends in an episode of its own,
    // which a worker must run before the object takes another run.
    let mut worker = setup.worker(&setup.bucket.dir.path().join("worker-host"));
    let run = setup.detach(&home, "info:damaged", &v2, &[]);
    wait_finished(&mut worker, &run);
    // Settled before the worker stops: the run's last episode comes after its clean-up.
    let runs = runs_once_settled(&setup, &home);
    stop(worker);
    let refused = runs
        .iter()
        .find(|r| r["run"] == run.as_str())
        .expect("the refused run");
    assert_eq!(refused["state"], "failed", "{runs:?}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("nothing was written")),
        "{refused}"
    );
    assert_eq!(setup.bucket.keys("archive.ocfl-work"), Vec::<String>::new());
}
