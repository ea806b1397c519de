//! The durable commands end to end (`commit`, `runs`, `runs show`, `resume`, `example`):
//! outputs, `--json` shapes, the engine's store (where it lives, waiting for another process
//! that holds it), a busy object, bad input and exit statuses.

mod commit_support;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;

use commit_support::*;
use durable_core::InstanceFilter;
use durable_redb::RedbBackend;
use ocfl_durable::{CommitRequest, ServiceOptions, UpdateService};
use serde_json::Value;

const ID: &str = "ark:/12345/bcd987";

/// The fields of `ocfl commit --json` (documented in the README), exactly.
const COMMIT_KEYS: [&str; 6] = ["bytes", "changed", "id", "run", "steps", "version"];

fn deposit(root: &Root, name: &str) -> std::path::PathBuf {
    let source = root.dir.path().join(name);
    write_tree(
        &source,
        &[
            ("data/file1.txt", b"Hello from file 1!\n"),
            ("data/nested/file2.txt", b"Hello from file 2!\n"),
            ("readme.txt", b"read me\n"),
            ("same-as-readme.txt", b"read me\n"),
        ],
    );
    source
}

#[test]
fn commit_creates_a_valid_object_holding_exactly_the_source() {
    let root = Root::new();
    let source = deposit(&root, "deposit");
    let output = root.ocfl(&[
        "commit",
        ID,
        source.to_str().expect("utf-8"),
        "--json",
        "--message",
        "Initial deposit",
        "--user-name",
        "A. Archivist",
        "--user-address",
        "mailto:archivist@example.org",
        "--created",
        "2024-05-01T12:00:00Z",
    ]);
    let line = &json_lines(ok(&output))[0];
    let err = stderr(&output);
    assert!(err.contains("Staged 4 files (54 bytes)"), "{err}");
    assert!(
        err.contains("] Completed: copy v1/content/readme.txt (8 bytes)"),
        "{err}"
    );
    let steps = err.lines().filter(|l| l.contains("] Completed: ")).count();
    assert_eq!(Some(steps as u64), line["steps"].as_u64(), "{err}");
    assert_eq!(keys(line), COMMIT_KEYS);
    assert_eq!(line["id"], ID);
    assert_eq!(line["version"], "v1");
    assert_eq!(line["changed"], true);
    assert!(line["run"].as_str().is_some_and(|r| !r.is_empty()));
    // Three distinct contents: three copies, besides the fixed steps.
    assert!(line["steps"].as_u64().is_some_and(|s| s > 3), "{line}");
    assert!(
        line["bytes"].as_u64().is_some_and(|b| b > 19 + 19 + 8),
        "{line}"
    );
    root.assert_holds(ID, &source);

    let log = root.ocfl(&["log", ID, "--json"]);
    let versions = json_lines(ok(&log));
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["message"], "Initial deposit");
    assert_eq!(versions[0]["user"]["name"], "A. Archivist");
    assert_eq!(
        versions[0]["user"]["address"],
        "mailto:archivist@example.org"
    );
    assert!(
        versions[0]["created"]
            .as_str()
            .is_some_and(|c| c.starts_with("2024-05-01T12:00:00")),
        "{}",
        versions[0]
    );
    // Off a terminal, progress is one line per step on stderr.
    let err = stderr(&root.ocfl(&["commit", ID, source.to_str().expect("utf-8")]));
    assert!(err.contains("Staged 4 files"), "{err}");
    let quiet = root.ocfl(&["-q", "commit", ID, source.to_str().expect("utf-8")]);
    assert_eq!(stderr(ok(&quiet)), "");
    // The whole root stays valid: the store and work area live beside it.
    ok(&root.ocfl(&["validate"]));
    assert!(root.default_store().is_file());
}

#[test]
fn a_changed_source_makes_v2_and_an_unchanged_one_reports_changed_false() {
    let root = Root::new();
    let source = deposit(&root, "deposit");
    let first = root.commit(ID, &source, &[]);
    assert_eq!(first["version"], "v1");

    fs::write(source.join("readme.txt"), b"read me again\n").expect("modify");
    fs::remove_file(source.join("data/nested/file2.txt")).expect("remove");
    write_tree(&source, &[("added/new.txt", b"new\n")]);
    let second = root.commit(ID, &source, &["--message", "second"]);
    assert_eq!(second["version"], "v2");
    assert_eq!(second["changed"], true);
    assert_ne!(second["run"], first["run"]);
    root.assert_holds(ID, &source);
    let diff = root.ocfl(&["diff", ID, "v1", "v2"]);
    let diff = stdout(ok(&diff));
    assert!(
        diff.contains("added/new.txt") && diff.contains("data/nested/file2.txt"),
        "{diff}"
    );

    let output = root.ocfl(&[
        "commit",
        ID,
        source.to_str().expect("utf-8"),
        "--message",
        "second",
        "--json",
    ]);
    let again = &json_lines(ok(&output))[0];
    assert_eq!(keys(again), COMMIT_KEYS);
    assert_eq!(again["changed"], false);
    assert_eq!(again["version"], "v2");
    assert_eq!(again["steps"], 0);
    assert_eq!(again["bytes"], 0);
    assert!(
        stderr(&output).contains("already holds this state"),
        "{}",
        stderr(&output)
    );
    assert_eq!(root.head(ID), "v2");
    // Without --json, stdout stays empty and the summary goes to stderr.
    let quiet = root.ocfl(&["commit", ID, source.to_str().expect("utf-8")]);
    assert_eq!(stdout(ok(&quiet)), "");
    assert!(stderr(&quiet).contains(ID));
}

#[test]
fn runs_lists_completed_runs_and_runs_show_prints_the_history() {
    let root = Root::new();
    let source = deposit(&root, "deposit");
    let line = root.commit(ID, &source, &[]);
    let run = line["run"].as_str().expect("run");

    // Nothing unfinished.
    let unfinished = root.ocfl(&["runs", "--json"]);
    assert_eq!(stdout(ok(&unfinished)), "");
    let all = root.ocfl(&["runs", "--all", "--json"]);
    let runs = json_lines(ok(&all));
    assert_eq!(runs.len(), 1);
    let info = &runs[0];
    assert_eq!(
        keys(info),
        [
            "bytes_done",
            "bytes_total",
            "changed",
            "ended",
            "error",
            "files",
            "id",
            "run",
            "source",
            "started",
            "state",
            "steps_done",
            "steps_total",
            "version"
        ]
    );
    assert_eq!(info["run"], run);
    assert_eq!(info["id"], ID);
    assert_eq!(info["state"], "completed");
    assert_eq!(info["changed"], true);
    assert_eq!(info["version"], "v1");
    assert_eq!(info["files"], 4);
    assert_eq!(info["steps_done"], line["steps"]);
    assert_eq!(info["steps_total"], line["steps"]);
    assert_eq!(info["bytes_done"], line["bytes"]);
    assert_eq!(info["bytes_total"], line["bytes"]);
    assert!(
        info["started"].is_string() && info["ended"].is_string(),
        "{info}"
    );
    assert!(info["error"].is_null());
    let text = root.ocfl(&["runs", "--all"]);
    let text = stdout(ok(&text));
    assert!(
        text.starts_with(run) && text.contains("completed"),
        "{text}"
    );

    let show = root.ocfl(&["runs", "show", run, "--json"]);
    let shown = json_lines(ok(&show));
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0]["run"], run);
    assert_eq!(shown[0]["state"], "completed");
    let events = shown[0]["events"].as_array().expect("events");
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.len(), events.len());
    assert!(types.contains(&"execution_started"), "{types:?}");
    assert_eq!(types.last(), Some(&"execution_completed"));
    assert!(types.iter().filter(|t| **t == "activity_completed").count() >= 3);
    let text = root.ocfl(&["runs", "show", run]);
    let text = stdout(ok(&text));
    assert!(
        text.contains("state:    completed") && text.contains("history ("),
        "{text}"
    );
    assert!(text.contains("activity_scheduled"), "{text}");

    let unknown = root.ocfl(&["runs", "show", "commit-nope-1"]);
    assert_eq!(code(&unknown), 1);
    assert!(
        stderr(&unknown).contains("no run commit-nope-1"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn runs_and_resume_on_a_root_without_runs_report_nothing_to_do() {
    let root = Root::new();
    let runs = root.ocfl(&["runs", "--all", "--json"]);
    assert_eq!(stdout(ok(&runs)), "");
    let resume = root.ocfl(&["resume"]);
    assert!(
        stderr(ok(&resume)).contains("nothing to resume"),
        "{}",
        stderr(&resume)
    );
    // Listing created no store.
    assert!(!root.default_store().exists());
}

/// Holds the store in this process and makes an active run on `ID` that no worker can
/// advance: the run's lock instance is submitted and suspended before any worker sees it.
/// Returns the run id.
fn hold_object_busy(root: &Root, source: &Path) -> String {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(async {
            let backend = Arc::new(RedbBackend::open(root.default_store()).expect("open store"));
            let service =
                UpdateService::new(backend.clone(), &root.path(), ServiceOptions::default())
                    .expect("service");
            let submitted = service
                .submit(&CommitRequest::new(ID, source))
                .await
                .expect("submit");
            let instances = service
                .client()
                .list(&InstanceFilter::all())
                .await
                .expect("list");
            let lock = instances
                .iter()
                .find(|m| m.instance_id.starts_with("object-"))
                .expect("the object's lock instance");
            service
                .client()
                .suspend(&lock.instance_id, "held by the test")
                .await
                .expect("suspend");
            (submitted.run, lock.instance_id.clone())
        })
        .0
}

fn release_lock(root: &Root) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let backend = Arc::new(RedbBackend::open(root.default_store()).expect("open store"));
        let client = durable_core::Client::new(backend);
        for lock in client.list(&InstanceFilter::all()).await.expect("list") {
            if lock.instance_id.starts_with("object-") {
                client
                    .resume(&lock.instance_id, "released")
                    .await
                    .expect("resume");
            }
        }
    });
}

#[test]
fn a_commit_to_a_busy_object_is_refused_naming_the_active_run() {
    let root = Root::new();
    let first = deposit(&root, "first");
    let second = root.dir.path().join("second");
    write_tree(&second, &[("other.txt", b"other\n")]);
    // The store must exist where the CLI looks for it.
    fs::create_dir_all(root.default_store().parent().expect("parent")).expect("mkdir");
    let active = hold_object_busy(&root, &first);

    let refused = root.ocfl(&["commit", ID, second.to_str().expect("utf-8"), "--json"]);
    assert_eq!(code(&refused), 1, "{}", stderr(&refused));
    assert_eq!(stdout(&refused), "");
    let message = stderr(&refused);
    assert!(
        message.contains(&active) && message.contains(ID) && message.contains("busy"),
        "{message}"
    );
    assert_eq!(stdout(ok(&root.ocfl(&["ls"]))), "", "no object was written");

    // Once the holder goes on, the same command as the active run's joins it.
    release_lock(&root);
    let joined = root.commit(ID, &first, &[]);
    assert_eq!(joined["run"], active.as_str());
    assert_eq!(joined["version"], "v1");
    root.assert_holds(ID, &first);
    // And the other command now makes v2.
    let next = root.commit(ID, &second, &[]);
    assert_eq!(next["version"], "v2");
    root.assert_holds(ID, &second);
}

/// Starts `ocfl commit` with stderr piped; returns the child and a reader of its lines.
fn spawn_commit(
    root: &Root,
    id: &str,
    source: &Path,
    extra: &[&str],
) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut args = vec!["commit", id, source.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    let mut child = root
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ocfl");
    let err = BufReader::new(child.stderr.take().expect("stderr"));
    (child, err)
}

/// Reads stderr lines until one contains `needle`; returns the lines read.
fn read_until(reader: &mut impl BufRead, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "stderr ended before {needle:?}: {seen:#?}");
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
}

#[test]
fn resume_finishes_a_run_interrupted_by_a_kill() {
    let root = Root::new();
    let source = root.dir.path().join("many");
    many_files(&source, 1500, &mut Rng::new(7));
    let (mut child, mut err) = spawn_commit(&root, ID, &source, &[]);
    // Killed as soon as the first step is done: 1,500 copies are still to come.
    read_until(&mut err, "[1/");
    child.kill().expect("kill");
    child.wait().expect("wait");

    let runs = root.ocfl(&["runs", "--json"]);
    let runs = json_lines(ok(&runs));
    assert_eq!(runs.len(), 1, "one unfinished run");
    assert_eq!(runs[0]["state"], "running");
    let run = runs[0]["run"].as_str().expect("run").to_owned();
    assert!(runs[0]["steps_done"].as_u64() < runs[0]["steps_total"].as_u64());
    let text = root.ocfl(&["runs"]);
    assert!(stdout(ok(&text)).contains(&run));

    let resume = root.ocfl(&["resume", "--json"]);
    let resumed = json_lines(ok(&resume));
    assert_eq!(resumed.len(), 1, "{}", stderr(&resume));
    assert_eq!(keys(&resumed[0]), COMMIT_KEYS);
    assert_eq!(resumed[0]["run"], run.as_str());
    assert_eq!(resumed[0]["version"], "v1");
    assert_eq!(resumed[0]["changed"], true);
    assert!(
        stderr(&resume).contains(&format!("resumed run {run}")),
        "{}",
        stderr(&resume)
    );
    root.assert_holds(ID, &source);
    let all = json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])));
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["state"], "completed");
    let again = root.ocfl(&["resume"]);
    assert!(
        stderr(ok(&again)).contains("no interrupted runs"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn resume_fails_a_run_whose_source_changed_naming_the_file() {
    let root = Root::new();
    let source = root.dir.path().join("many");
    many_files(&source, 1500, &mut Rng::new(5));
    let (mut child, mut err) = spawn_commit(&root, ID, &source, &[]);
    read_until(&mut err, "[1/");
    child.kill().expect("kill");
    child.wait().expect("wait");
    // A staged file changes before the run goes on: copying it must not slip it in.
    let changed = read_tree(&source).into_keys().last().expect("a file");
    fs::write(source.join(&changed), b"changed after staging").expect("change");

    let resume = root.ocfl(&["resume", "--json"]);
    assert_eq!(code(&resume), 1, "{}", stderr(&resume));
    let lines = json_lines(&resume);
    assert_eq!(lines.len(), 1);
    assert_eq!(keys(&lines[0]), ["error", "run"]);
    let message = stderr(&resume);
    let name = Path::new(&changed)
        .file_name()
        .expect("name")
        .to_str()
        .expect("utf-8");
    assert!(message.contains(name), "{message}");
    let runs = json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])));
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "failed");
    assert!(
        runs[0]["error"].as_str().is_some_and(|e| e.contains(name)),
        "{}",
        runs[0]
    );
    // Nothing half-written is visible: no object, and the root is valid.
    assert_eq!(stdout(ok(&root.ocfl(&["ls"]))), "");
    ok(&root.ocfl(&["validate"]));
    // The next commit stages the source as it is now.
    let line = root.commit(ID, &source, &[]);
    assert_eq!(line["version"], "v1");
    root.assert_holds(ID, &source);
}

#[test]
fn the_same_commit_after_a_kill_resumes_its_run() {
    let root = Root::new();
    let source = root.dir.path().join("many");
    many_files(&source, 1500, &mut Rng::new(11));
    let (mut child, mut err) = spawn_commit(&root, ID, &source, &["--message", "m"]);
    read_until(&mut err, "[1/");
    child.kill().expect("kill");
    child.wait().expect("wait");
    let interrupted = json_lines(ok(&root.ocfl(&["runs", "--json"])));
    assert_eq!(interrupted.len(), 1);

    let output = root.ocfl(&[
        "commit",
        ID,
        source.to_str().expect("utf-8"),
        "--message",
        "m",
        "--json",
    ]);
    let line = &json_lines(ok(&output))[0];
    assert_eq!(line["run"], interrupted[0]["run"]);
    assert_eq!(line["changed"], true);
    assert!(
        stderr(&output).contains("Resuming the interrupted run"),
        "{}",
        stderr(&output)
    );
    root.assert_holds(ID, &source);
}

#[test]
fn example_runs_the_origin_example_then_finds_nothing_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().to_str().expect("utf-8");
    let first = ocfl(&["example", target]);
    ok(&first);
    let out = stdout(&first);
    let err = stderr(&first);
    assert!(
        out.contains("Object ID:   test:durable-task-example"),
        "{out}"
    );
    assert!(out.contains("Version:     v1"), "{out}");
    let steps: u64 = field(&out, "Steps:").parse().expect("steps");
    let bytes: u64 = field(&out, "Total bytes:").parse().expect("bytes");
    // One line per step, numbered in completion order, whose bytes add up to the total.
    let completed: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("] Completed: "))
        .collect();
    assert_eq!(completed.len() as u64, steps, "{err}");
    for (n, line) in completed.iter().enumerate() {
        assert!(
            line.starts_with(&format!("[{}/{steps}] Completed: ", n + 1)),
            "{line}"
        );
    }
    let sum: u64 = completed
        .iter()
        .map(|l| {
            let open = l.rfind('(').expect("(");
            l[open + 1..]
                .split(' ')
                .next()
                .expect("n")
                .parse::<u64>()
                .expect("bytes")
        })
        .sum();
    assert_eq!(sum, bytes);
    for expected in [
        "Completed: write 0=ocfl_object_1.1 (16 bytes)",
        "Completed: version directory v1 (0 bytes)",
        "Completed: copy v1/content/data/file1.txt (19 bytes)",
        "Completed: copy v1/content/data/file2.txt (19 bytes)",
        "Completed: copy v1/content/metadata.json (57 bytes)",
        "Completed: copy v1/content/readme.txt (50 bytes)",
        "Completed: write v1/inventory.json (",
        "Completed: write v1/inventory.json.sha512 (",
        "Completed: write inventory.json (",
        "Completed: write inventory.json.sha512 (",
        "Staged 4 files",
    ] {
        assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
    }
    let content = dir.path().join("example-content");
    assert_eq!(
        read_tree(&content)
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        [
            "data/file1.txt",
            "data/file2.txt",
            "metadata.json",
            "readme.txt"
        ]
    );
    let storage = dir.path().join("example-storage");
    let validated = ocfl(&["--root", storage.to_str().expect("utf-8"), "validate"]);
    ok(&validated);

    let second = ocfl(&["example", target, "--json"]);
    let line = &json_lines(ok(&second))[0];
    assert_eq!(keys(line), COMMIT_KEYS);
    assert_eq!(line["changed"], false);
    assert_eq!(line["version"], "v1");
    let third = ocfl(&["example", target]);
    assert!(
        stdout(ok(&third)).contains("Nothing to do"),
        "{}",
        stdout(&third)
    );
    assert!(!stderr(&third).contains("Completed:"));
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{name} missing from {text}"))
}

#[test]
fn bad_input_fails_with_a_message_naming_the_file_or_object() {
    let root = Root::new();
    let source = deposit(&root, "deposit");
    let src = source.to_str().expect("utf-8");

    let missing = root.arg("no-such-dir");
    let output = root.ocfl(&["commit", ID, &missing]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains(&missing), "{}", stderr(&output));

    let file = source.join("readme.txt");
    let output = root.ocfl(&["commit", ID, file.to_str().expect("utf-8")]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("not a directory"),
        "{}",
        stderr(&output)
    );

    let output = root.ocfl(&["commit", "", src]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("invalid object id"),
        "{}",
        stderr(&output)
    );

    let output = root.ocfl(&["commit", ID, src, "--created", "yesterday"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("--created") && stderr(&output).contains("RFC 3339"),
        "{}",
        stderr(&output)
    );
    let output = root.ocfl(&["commit", ID, src, "--user-address", "mailto:a@b"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let output = ocfl(&["commit", ID, src]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("--root"), "{}", stderr(&output));

    let not_a_root = root.arg("not-a-root");
    fs::create_dir_all(&not_a_root).expect("mkdir");
    let output = ocfl(&["--root", &not_a_root, "commit", ID, src]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("not-a-root"),
        "{}",
        stderr(&output)
    );

    // A symbolic link in the source is refused (naming it), and nothing is written.
    std::os::unix::fs::symlink(source.join("readme.txt"), source.join("link.txt"))
        .expect("symlink");
    let output = root.ocfl(&["commit", ID, src]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("link.txt"), "{}", stderr(&output));
    assert_eq!(stdout(&root.ocfl(&["ls"])), "");
    let runs = json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])));
    assert!(runs.iter().all(|r| r["state"] == "failed"), "{runs:?}");
    // Asked to follow links, the same source commits (the link as a copy of its target).
    let line = root.commit(ID, &source, &["--follow-symlinks"]);
    assert_eq!(line["version"], "v1");
    ok(&root.ocfl(&["validate", ID]));
}

#[test]
fn a_busy_store_with_wait_0_fails_at_once_naming_the_holder() {
    let root = Root::new();
    let source = deposit(&root, "deposit");
    fs::create_dir_all(root.default_store().parent().expect("parent")).expect("mkdir");
    let held = RedbBackend::open(root.default_store()).expect("hold the store");
    let output = root.ocfl(&["--wait", "0", "commit", ID, source.to_str().expect("utf-8")]);
    assert_eq!(code(&output), 1);
    let holder = format!("in use by pid {}", std::process::id());
    assert!(stderr(&output).contains(&holder), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("waiting for it"),
        "{}",
        stderr(&output)
    );
    drop(held);
    ok(&root.ocfl(&["--wait", "0", "commit", ID, source.to_str().expect("utf-8")]));
}

#[test]
fn a_second_process_waits_for_the_store_and_then_completes() {
    let root = Root::new();
    let source = deposit(&root, "deposit");
    fs::create_dir_all(root.default_store().parent().expect("parent")).expect("mkdir");
    let held = RedbBackend::open(root.default_store()).expect("hold the store");
    let (mut child, mut err) = spawn_commit(&root, ID, &source, &["--json"]);
    let lines = read_until(&mut err, "waiting for it");
    let holder = format!("in use by pid {}", std::process::id());
    assert!(
        lines.last().is_some_and(|l| l.contains(&holder)),
        "{lines:?}"
    );
    drop(held);
    let status = child.wait().expect("wait");
    assert!(status.success());
    root.assert_holds(ID, &source);
}

#[test]
fn two_commits_to_different_objects_side_by_side_both_complete() {
    let root = Root::new();
    let a = deposit(&root, "a");
    let b = root.dir.path().join("b");
    many_files(&b, 200, &mut Rng::new(3));
    // Each in its own thread, reading its own pipes: neither can block the other.
    let outputs: Vec<Value> = std::thread::scope(|scope| {
        let run = |id: &'static str, source: &Path| {
            let source = source.to_str().expect("utf-8").to_owned();
            let root = &root;
            scope.spawn(move || root.ocfl(&["commit", id, &source, "--json"]))
        };
        let handles = [run("info:a", &a), run("info:b", &b)];
        handles
            .into_iter()
            .map(|h| json_lines(ok(&h.join().expect("thread")))[0].clone())
            .collect()
    });
    assert_eq!(outputs[0]["id"], "info:a");
    assert_eq!(outputs[1]["id"], "info:b");
    root.assert_holds("info:a", &a);
    root.assert_holds("info:b", &b);
}

#[test]
fn state_option_and_variable_choose_the_store() {
    let root = Root::new();
    let source = deposit(&root, "deposit");
    let state = root.dir.path().join("elsewhere/engine.redb");
    let output = root.ocfl(&[
        "--state",
        state.to_str().expect("utf-8"),
        "commit",
        ID,
        source.to_str().expect("utf-8"),
    ]);
    ok(&output);
    assert!(state.is_file());
    assert!(!root.default_store().exists());
    // The runs are in that store, found through OCFL_STATE too.
    let runs = root
        .command(&["runs", "--all", "--json"])
        .env("OCFL_STATE", &state)
        .output()
        .expect("run");
    assert_eq!(json_lines(ok(&runs)).len(), 1);
    assert_eq!(stdout(ok(&root.ocfl(&["runs", "--all", "--json"]))), "");
}

/// An object written by `ocfl commit` passes rocfl's and ocfl-py's validators, when they
/// are installed (skipped with a note otherwise).
#[test]
fn objects_pass_rocfl_and_ocfl_py_validation() {
    if installed_rocfl().is_none() && !ocfl_py_installed() {
        eprintln!("note: neither rocfl nor ocfl-validate.py is installed; skipping");
        return;
    }
    let root = Root::new();
    let source = deposit(&root, "deposit");
    root.commit(
        ID,
        &source,
        &["--user-name", "A", "--user-address", "mailto:a@example.org"],
    );
    fs::write(source.join("readme.txt"), b"changed\n").expect("modify");
    root.commit(
        ID,
        &source,
        &["--user-name", "A", "--user-address", "mailto:a@example.org"],
    );
    let object = root.path().join(
        ocfl_core::layout::Layout::default_layout()
            .map_object_id(ID)
            .expect("map"),
    );
    if let Some(out) = rocfl_validate(&root.path(), &[ID]) {
        assert!(out.contains("is valid"), "{out}");
    }
    if let Some(out) = ocfl_py_validate(&object) {
        assert!(out.contains("is VALID"), "{out}");
    }
}
