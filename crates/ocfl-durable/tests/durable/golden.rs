//! Golden histories: recorded runs of the update orchestration that today's code must still
//! replay, so that an upgrade cannot break the runs in flight when it is deployed.
//!
//! Each fixture in `tests/golden/` holds the histories of every instance of one run (the
//! object lock and the update), normalized so that it does not depend on the machine that
//! recorded it. The tests replay them with `Registry::verify_history`, exactly as a worker
//! rebuilds a run after a restart, and fail on any divergence. A change that must alter what
//! the orchestration does goes behind `OrchestrationContext::patched`; re-recording a fixture
//! to make a failure go away hides the break instead of fixing it.
//!
//! Recording is deliberate only: `OCFL_RECORD_GOLDEN=1 cargo test -p ocfl-durable --test
//! durable golden` runs the scenarios on real workers and overwrites the fixtures (see
//! `tests/golden/README.md`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use durable_core::{Event, FailureKind, InstanceFilter, Worker};
use ocfl_durable::{CommitError, CommitRequest, ProgressEvent, ProgressSink, UpdateService};
use ocfl_plan::fault::{Action, Injector};
use serde::{Deserialize, Serialize};

use crate::support::{Fixture, failures, tuning, worker_options};

const ID: &str = "info:example/golden";
/// Where recorded runs start, after normalization: 2026-01-01T00:00:00Z.
const EPOCH_MS: u64 = 1_767_225_600_000;
/// What the recording's temporary directory is called in the fixtures.
const TEMP_DIR: &str = "/golden";
const RECORD_VAR: &str = "OCFL_RECORD_GOLDEN";

/// One recorded run: the histories of all its instances.
#[derive(Debug, Serialize, Deserialize)]
struct Golden {
    /// What the run did, for people reading the fixture.
    scenario: String,
    instances: Vec<Recorded>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    instance_id: String,
    history: Vec<Event>,
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"))
}

fn recording() -> bool {
    std::env::var_os(RECORD_VAR).is_some_and(|v| v == "1")
}

/// Records the scenario if asked to, then replays its fixture against today's code.
async fn check<F, Fut>(name: &str, scenario: &str, record: F) -> Golden
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = (Fixture, UpdateService, Worker)>,
{
    let path = fixture_path(name);
    if recording() {
        let (fx, service, worker) = record().await;
        let golden = capture(&fx, &service, scenario).await;
        worker.shutdown().await;
        let text = serde_json::to_string_pretty(&golden).expect("serialize") + "\n";
        std::fs::write(&path, text).expect("write fixture");
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with {RECORD_VAR}=1 (see tests/golden/README.md)",
            path.display()
        )
    });
    let golden: Golden = serde_json::from_str(&text).expect("a golden history");
    // Replay needs a registry, not a working environment: nothing is run.
    let fx = Fixture::new();
    let registry = ocfl_durable::registry(Arc::new(fx.env()));
    assert!(!golden.instances.is_empty(), "{name}: no instances");
    for instance in &golden.instances {
        if let Err(failure) = registry.verify_history(&instance.instance_id, &instance.history) {
            panic!(
                "golden history {name} ({}) no longer replays: {} ({:?}). A change to the \
                 orchestration would break runs in flight; guard it with ctx.patched (see \
                 durable-core's README), do not re-record",
                instance.instance_id, failure.message, failure.kind
            );
        }
        assert!(
            instance.history.last().is_some_and(Event::is_terminal),
            "{name} ({}): the recorded run did not finish",
            instance.instance_id
        );
    }
    golden
}

/// Every instance in the fixture's store once finished (the lock finishes in the episode
/// after its run's), with its history normalized.
async fn capture(fx: &Fixture, service: &UpdateService, scenario: &str) -> Golden {
    let client = service.client();
    let mut instances = Vec::new();
    for metadata in client.list(&InstanceFilter::all()).await.expect("list") {
        client
            .wait_for_completion(&metadata.instance_id, Duration::from_secs(30))
            .await
            .expect("finished");
        let history = client
            .history(&metadata.instance_id)
            .await
            .expect("history");
        instances.push(Recorded {
            instance_id: metadata.instance_id,
            history,
        });
    }
    // The lock first: it starts the run.
    instances.sort_by_key(|i| !i.instance_id.starts_with("object-"));
    normalize(
        Golden {
            scenario: scenario.to_owned(),
            instances,
        },
        fx.dir.path(),
    )
}

/// Makes a recording independent of the machine and the moment: times are shifted so that
/// the run starts at `EPOCH_MS` (by whole seconds, so times the code derived from the clock
/// shift with them), the temporary directory becomes `TEMP_DIR`, and the hashes in run ids
/// and blob names (which follow from paths) are numbered in order of appearance.
fn normalize(mut golden: Golden, temp: &Path) -> Golden {
    let first = golden
        .instances
        .iter()
        .flat_map(|i| &i.history)
        .filter_map(|event| match event {
            Event::EpisodeStarted { timestamp_ms } => Some(*timestamp_ms),
            _ => None,
        })
        .min()
        .expect("an episode");
    let shift = ((first / 1000) * 1000) as i64 - EPOCH_MS as i64;
    let shifted = |ms: u64| (ms as i64 - shift) as u64;
    let mut times = HashMap::new();
    for instance in &mut golden.instances {
        for event in &mut instance.history {
            match event {
                Event::EpisodeStarted { timestamp_ms } => {
                    times.insert(rfc3339(*timestamp_ms), rfc3339(shifted(*timestamp_ms)));
                    *timestamp_ms = shifted(*timestamp_ms);
                }
                Event::TimerCreated { fire_at_ms, .. } | Event::TimerFired { fire_at_ms, .. } => {
                    *fire_at_ms = shifted(*fire_at_ms)
                }
                _ => {}
            }
        }
    }
    let mut text = serde_json::to_string(&golden).expect("serialize");
    for (then, now) in &times {
        text = text.replace(then.as_str(), now);
    }
    let mut temps = vec![temp.display().to_string()];
    if let Ok(canonical) = temp.canonicalize() {
        temps.insert(0, canonical.display().to_string());
    }
    for dir in temps {
        text = text.replace(&dir, TEMP_DIR);
    }
    serde_json::from_str(&number_hashes(&text)).expect("normalized")
}

fn rfc3339(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .expect("a time")
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Replaces each distinct hash by its number of first appearance, padded to the same length:
/// lowercase hex words of 64 digits (sha256 blob names) and of 8 or 12 after a `-` (the keys
/// in run and lock ids; JSON numbers never follow a `-`).
fn number_hashes(text: &str) -> String {
    let mut numbers: HashMap<&str, String> = HashMap::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
        out.push_str(&rest[..start]);
        let word_len = rest[start..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        let in_id = out.ends_with('-') && matches!(word.len(), 8 | 12);
        let is_hash = (in_id || word.len() == 64)
            && word
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if is_hash {
            let next = numbers.len() + 1;
            let number = numbers
                .entry(word)
                .or_insert_with(|| format!("{next:0>width$x}", width = word.len()));
            out.push_str(number);
        } else {
            out.push_str(word);
        }
        rest = &rest[start + word_len..];
    }
    out.push_str(rest);
    out
}

fn request(source: &Path) -> CommitRequest {
    CommitRequest::new(ID, source)
        .message("a golden run")
        .user("Golden", Some("mailto:golden@example.org".into()))
}

fn start_worker(fx: &Fixture) -> Worker {
    fx.worker(fx.env())
}

async fn new_object() -> (Fixture, UpdateService, Worker) {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let worker = start_worker(&fx);
    let source = fx.source(
        "deposit",
        &[
            ("a.txt", b"a"),
            ("b.txt", b"bb"),
            ("data/c.txt", b"ccc"),
            ("data/d.txt", b"dddd"),
            ("data/e.txt", b"eeeee"),
        ],
    );
    let outcome = service.commit(&request(&source)).await.expect("commit");
    assert_eq!((outcome.version.as_str(), outcome.changed), ("v1", true));
    (fx, service, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_new_object_replays() {
    let golden = check(
        "new-object",
        "a new object of five files: stage, plan, parallel copy batches, verify, finish",
        new_object,
    )
    .await;
    assert_eq!(golden.instances.len(), 2);
    assert!(all_completed(&golden));
}

async fn update() -> (Fixture, UpdateService, Worker) {
    let template = Fixture::new();
    {
        let service = template.service(tuning());
        let worker = start_worker(&template);
        let source = template.source("deposit", &[("a.txt", b"a"), ("b.txt", b"b")]);
        service.commit(&request(&source)).await.expect("v1");
        worker.shutdown().await;
    }
    // A new engine store on a copy of the root: the fixture holds only the update.
    let fx = Fixture::copy_of(&template);
    let service = fx.service(tuning());
    let worker = start_worker(&fx);
    let source = fx.source(
        "deposit",
        &[("a.txt", b"a changed"), ("c.txt", b"c"), ("d/e.txt", b"e")],
    );
    let outcome = service.commit(&request(&source)).await.expect("commit");
    assert_eq!((outcome.version.as_str(), outcome.changed), ("v2", true));
    (fx, service, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_update_replays() {
    let golden = check(
        "update",
        "v2 of an existing object: one file changed, one removed, two added",
        update,
    )
    .await;
    assert!(all_completed(&golden));
}

async fn stall_and_resume() -> (Fixture, UpdateService, Worker) {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a"), ("b.txt", b"b")]);
    let full = Arc::new(AtomicBool::new(true));
    let disk = full.clone();
    let faults = Injector::with_rule(move |_, op, path| {
        if op == "create" && path.contains(".ocfl-work/") && disk.load(Ordering::SeqCst) {
            Action::Fail(io::Error::from_raw_os_error(28))
        } else {
            Action::Proceed
        }
    });
    let worker = fx.worker(fx.env_with(&faults));
    let run = match service.commit(&request(&source)).await {
        Err(CommitError::Stalled { run, .. }) => run,
        other => panic!("expected a stalled run, got {other:?}"),
    };
    full.store(false, Ordering::SeqCst);
    let outcome = service.resume(&run).await.expect("resumed");
    assert!(outcome.resumed && outcome.changed);
    (fx, service, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_stall_and_resume_replays() {
    let golden = check(
        "stall-and-resume",
        "a new object whose copies fail with a full disk until the retries give up, \
         the run stalls, the disk is freed and the run is resumed",
        stall_and_resume,
    )
    .await;
    assert!(all_completed(&golden));
    let run = golden
        .instances
        .iter()
        .find(|i| i.instance_id.starts_with("commit-"))
        .expect("the run");
    assert!(failures(&run.history).len() >= 3, "retried, then stalled");
    assert!(
        run.history.iter().any(|e| matches!(
            e,
            Event::ActivityFailed { failure, .. } if failure.kind == FailureKind::Application
        )),
        "an activity failed"
    );
    assert!(
        run.history
            .iter()
            .any(|e| matches!(e, Event::EventRaised { name, .. } if name == "resume")),
        "resumed by the resume event"
    );
}

async fn detached() -> (Fixture, UpdateService, Worker) {
    let fx = Fixture::new();
    let submitter = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a"), ("b/c.txt", b"c")]);
    let submitted = submitter
        .submit(&request(&source))
        .await
        .expect("submitted");
    assert!(!submitted.resumed);
    // Another process's worker takes it; a third client waits for it.
    let worker = Worker::start(
        fx.backend.clone(),
        ocfl_durable::registry(Arc::new(fx.env())),
        worker_options(),
    );
    let waiter = fx.service(tuning());
    let outcome = waiter.wait(&submitted.run).await.expect("done");
    assert_eq!(outcome.version, "v1");
    (fx, waiter, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_detached_run_replays() {
    let golden = check(
        "detached",
        "a run submitted by one client without a worker, run by a worker started later, \
         waited for by another client",
        detached,
    )
    .await;
    assert!(all_completed(&golden));
}

/// Whether every instance of `golden` ended with `ExecutionCompleted`.
fn all_completed(golden: &Golden) -> bool {
    golden
        .instances
        .iter()
        .all(|i| matches!(i.history.last(), Some(Event::ExecutionCompleted { .. })))
}

async fn refused() -> (Fixture, UpdateService, Worker) {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a"), ("dir/b.txt", b"b")]);
    let changing = source.clone();
    // The source changes once planned: the copies refuse, the run rolls its work back.
    let sink = OnEvent(move |event: &ProgressEvent<'_>| {
        if matches!(event, ProgressEvent::Planned { .. }) {
            for file in ["a.txt", "dir/b.txt"] {
                std::fs::write(changing.join(file), b"changed").expect("change the source");
            }
        }
    });
    let worker = fx.worker(fx.env().with_progress(Arc::new(sink)));
    match service.commit(&request(&source)).await {
        Err(CommitError::Failed { message, .. }) => {
            assert!(message.contains("changed since it was staged"), "{message}")
        }
        other => panic!("expected a failed run, got {other:?}"),
    }
    (fx, service, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_refused_run_replays() {
    let golden = check(
        "refused",
        "a new object whose source changes after planning: the copies refuse, Finish rolls \
         the work back, the run and its lock fail",
        refused,
    )
    .await;
    assert!(
        golden
            .instances
            .iter()
            .all(|i| matches!(i.history.last(), Some(Event::ExecutionFailed { .. })))
    );
}

/// Runs `action` on a progress event, from inside the activity that reports it.
struct OnEvent<F>(F);

impl<F: Fn(&ProgressEvent<'_>) + Send + Sync> ProgressSink for OnEvent<F> {
    fn event(&self, event: &ProgressEvent<'_>) {
        (self.0)(event);
    }
}

#[test]
fn hashes_are_numbered_by_first_appearance() {
    let sha = "ab".repeat(32);
    let text = format!("commit-0123456789ab-12345678-1 blobs/{sha} {sha} :12345678 -face");
    let expected = format!(
        "commit-000000000001-00000002-1 blobs/{:0>64} {:0>64} :12345678 -face",
        3, 3
    );
    assert_eq!(number_hashes(&text), expected);
}
