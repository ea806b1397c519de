//! Commits that go well: new objects, new versions, nothing to do, batching and progress.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ocfl_durable::{CommitRequest, ProgressEvent, ProgressSink, RunState};

use crate::support::{Fixture, scheduled, tuning};

const ID: &str = "ark:/12345/bcd987";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_creates_a_valid_object_holding_the_source() {
    let fx = Fixture::new();
    let source = fx.source(
        "deposit",
        &[
            ("data/file1.txt", b"Hello, OCFL!\n"),
            ("data/file2.txt", b"Second file\n"),
            ("metadata.json", b"{\"title\": \"x\"}\n"),
            ("readme.txt", b"Hello, OCFL!\n"),
        ],
    );
    let service = fx.service(tuning());
    let worker = fx.worker(fx.env());
    let request = CommitRequest::new(ID, &source)
        .message("Initial deposit")
        .user("Ada", Some("mailto:ada@example.org".into()));
    let outcome = service.commit(&request).await.expect("commit");
    assert_eq!(outcome.version, "v1");
    assert!(outcome.changed);
    assert!(!outcome.resumed);
    assert!(outcome.steps > 0 && outcome.bytes > 0);
    assert_eq!(fx.assert_holds(ID, &source), "v1");
    assert!(
        fx.leftovers(&outcome.run).is_empty(),
        "work dir and blobs removed"
    );
    let runs = service.runs(true).await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].state, RunState::Completed);
    assert_eq!(runs[0].object_id, ID);
    let progress = runs[0].progress.clone().expect("progress");
    assert_eq!(progress.steps_done, progress.steps_total);
    assert_eq!(progress.bytes_done, outcome.bytes);
    assert_eq!(progress.files, 4);
    assert!(service.runs(false).await.expect("active runs").is_empty());
    let json = serde_json::to_value(&outcome).expect("json");
    for key in ["id", "version", "steps", "bytes", "run", "changed"] {
        assert!(json.get(key).is_some(), "--json field {key}");
    }
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_version_changes_adds_and_removes() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let worker = fx.worker(fx.env());
    let v1 = fx.source(
        "v1",
        &[("a.txt", b"a1"), ("b.txt", b"b"), ("c/c.txt", b"c")],
    );
    service
        .commit(&CommitRequest::new(ID, &v1))
        .await
        .expect("v1");
    let v2 = fx.source(
        "v2",
        &[
            ("a.txt", b"a2"),
            ("b.txt", b"b"),
            ("d/d.txt", b"new"),
            ("copy-of-b.txt", b"b"),
        ],
    );
    let outcome = service
        .commit(&CommitRequest::new(ID, &v2).message("second"))
        .await
        .expect("v2");
    assert_eq!((outcome.version.as_str(), outcome.changed), ("v2", true));
    assert_eq!(fx.assert_holds(ID, &v2), "v2");
    // Only the two new contents are copied: b is deduplicated.
    let inventory =
        std::fs::read_to_string(fx.root.join(fx.object_path(ID)).join("inventory.json"))
            .expect("inventory");
    assert_eq!(inventory.matches("v2/content/").count(), 2, "{inventory}");
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_commit_again_finds_nothing_to_do() {
    let fx = Fixture::new();
    let source = fx.source("deposit", &[("a.txt", b"a"), ("b.txt", b"b")]);
    let service = fx.service(tuning());
    let worker = fx.worker(fx.env());
    let request = CommitRequest::new(ID, &source).message("same");
    let first = service.commit(&request).await.expect("first");
    let again = service.commit(&request).await.expect("again");
    assert!(!again.changed);
    assert_eq!(again.version, "v1");
    assert_eq!(again.steps, 0);
    assert!(again.summary().contains("already holds this state"));
    // The same command: the same run family, the next number.
    let family = first.run.trim_end_matches(char::is_numeric);
    assert_eq!(again.run, format!("{family}2"));
    assert_eq!(fx.assert_holds(ID, &source), "v1");
    // A changed source under the same command makes a new version.
    std::fs::write(source.join("b.txt"), b"changed").expect("edit");
    let third = service.commit(&request).await.expect("third");
    assert_eq!((third.version.as_str(), third.changed), ("v2", true));
    assert_eq!(third.run, format!("{family}3"));
    fx.assert_holds(ID, &source);
    // Another message is another command.
    let other = service
        .commit(&CommitRequest::new(ID, &source).message("other"))
        .await
        .expect("other");
    assert!(!other.run.starts_with(family));
    assert!(!other.changed);
    worker.shutdown().await;
}

/// Records step events.
#[derive(Default)]
struct Steps(Mutex<BTreeMap<u64, (String, u32)>>);

impl ProgressSink for Steps {
    fn event(&self, event: &ProgressEvent<'_>) {
        if let ProgressEvent::Step { index, id, .. } = event {
            let mut steps = self.0.lock().expect("lock");
            steps
                .entry(*index)
                .or_insert_with(|| ((*id).to_owned(), 0))
                .1 += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_are_batched_and_every_step_reports_progress_once() {
    let fx = Fixture::new();
    let files: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| {
            (
                format!("dir{}/f{i:02}.txt", i % 5),
                format!("file {i}").into_bytes(),
            )
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let source = fx.source("many", &refs);
    let mut tuning = tuning();
    tuning.batch_files = 3;
    tuning.copy_concurrency = 4;
    let service = fx.service(tuning);
    let steps = Arc::new(Steps::default());
    let worker = fx.worker(fx.env().with_progress(steps.clone()));
    let outcome = service
        .commit(&CommitRequest::new(ID, &source))
        .await
        .expect("commit");
    fx.assert_holds(ID, &source);
    let seen = steps.0.lock().expect("lock").clone();
    assert_eq!(seen.len() as u64, outcome.steps, "every step reported");
    assert!(seen.values().all(|(_, n)| *n == 1), "each once");
    let copies = seen
        .values()
        .filter(|(id, _)| id.starts_with("copy "))
        .count();
    assert_eq!(copies, 40);
    let history = service.history(&outcome.run).await.expect("history");
    let batches = scheduled(&history)
        .iter()
        .filter(|n| *n == "ocfl.execute-steps")
        .count() as u64;
    // The steps before the copies and those after them: one activity each.
    assert_eq!(batches, 40u64.div_ceil(3) + 2);
    let largest = history
        .iter()
        .map(|e| serde_json::to_string(e).expect("event").len())
        .max()
        .unwrap_or(0);
    assert!(
        largest < 4096,
        "history entries stay small ({largest} bytes)"
    );
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_replayed_from_history_at_every_episode_makes_the_same_calls() {
    // Without a cache every episode rebuilds the run from its history: any nondeterminism
    // in the parallel batching would fail it.
    let fx = Fixture::new();
    let files: Vec<(String, Vec<u8>)> = (0..25)
        .map(|i| (format!("f{i:02}"), vec![b'x'; i * 100]))
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let source = fx.source("many", &refs);
    let mut tuning = tuning();
    tuning.batch_files = 2;
    tuning.batch_bytes = 1500;
    tuning.copy_concurrency = 5;
    let service = fx.service(tuning);
    let worker = durable_core::Worker::start(
        fx.backend.clone(),
        ocfl_durable::registry(Arc::new(fx.env())),
        durable_core::WorkerOptions {
            cache_capacity: 0,
            ..crate::support::worker_options()
        },
    );
    let outcome = service
        .commit(&CommitRequest::new(ID, &source))
        .await
        .expect("commit");
    assert!(worker.metrics().full_replays > outcome.steps / 4);
    fx.assert_holds(ID, &source);
    worker.shutdown().await;
}

/// A run submitted while no worker runs (`ocfl commit --detach`) is listed at once, as
/// pending, by `runs` and `run`; resuming it waits for a worker to take it and finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_run_no_worker_has_started_is_listed_as_pending() {
    let fx = Fixture::new();
    let source = fx.source("deposit", &[("a.txt", b"a\n")]);
    let service = fx.service(tuning());
    let submitted = service
        .submit(&CommitRequest::new(ID, &source))
        .await
        .expect("submit");
    let runs = service.runs(false).await.expect("runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].run, submitted.run);
    assert_eq!(runs[0].state, RunState::Pending);
    assert_eq!(runs[0].object_id, ID);
    let run = service.run(&submitted.run).await.expect("run");
    assert_eq!(run.map(|r| r.state), Some(RunState::Pending));

    let worker = fx.worker(fx.env());
    let resumed = service.resume_all().await.expect("resume all");
    assert_eq!(resumed.len(), 1);
    let outcome = resumed[0].1.as_ref().expect("the run completes");
    assert_eq!(outcome.run, submitted.run);
    assert_eq!(fx.assert_holds(ID, &source), "v1");
    let runs = service.runs(true).await.expect("runs");
    assert_eq!(runs.len(), 1, "listed once: {runs:?}");
    assert_eq!(runs[0].state, RunState::Completed);
    worker.shutdown().await;
}

/// Records, per step, the bytes reported while it was sending and whether that came before
/// its completion.
#[derive(Default)]
struct Sent(Mutex<BTreeMap<u64, (u64, bool)>>);

impl ProgressSink for Sent {
    fn event(&self, event: &ProgressEvent<'_>) {
        let mut sent = self.0.lock().expect("lock");
        match event {
            ProgressEvent::Sending { index, bytes, .. } => {
                let entry = sent.entry(*index).or_default();
                assert!(!entry.1, "bytes reported after the step was done");
                entry.0 += bytes;
            }
            ProgressEvent::Step { index, .. } => {
                sent.entry(*index).or_default().1 = true;
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_reports_the_bytes_it_sends_while_it_sends_them() {
    let fx = Fixture::new();
    let v1 = fx.source("v1", &[("small.txt", b"small\n")]);
    let service = fx.service(tuning());
    let sent = Arc::new(Sent::default());
    let worker = fx.worker(fx.env().with_progress(sent.clone()));
    service
        .commit(&CommitRequest::new(ID, &v1))
        .await
        .expect("v1");
    // An update reads its new files from the source (nothing is spooled for it).
    let big = vec![42u8; 3 * 1024 * 1024 + 17];
    let v2 = fx.source("v2", &[("small.txt", b"small\n"), ("big.bin", &big)]);
    sent.0.lock().expect("lock").clear();
    service
        .commit(&CommitRequest::new(ID, &v2))
        .await
        .expect("v2");
    let seen = sent.0.lock().expect("lock").clone();
    let sending: Vec<u64> = seen
        .values()
        .map(|(bytes, _)| *bytes)
        .filter(|b| *b > 0)
        .collect();
    assert_eq!(sending, [big.len() as u64], "{seen:?}");
    worker.shutdown().await;
}
