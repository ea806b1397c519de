//! Commits that cannot go on: a busy object, a changed source or object, transient I/O
//! errors (retried, then stalled until resumed), corruption caught by verification, and
//! requests refused up front.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ocfl_durable::{
    CommitError, CommitRequest, ProgressEvent, ProgressSink, RunState, Tuning, Verify,
};

use ocfl_plan::fault::{Action, Injector};

use crate::support::{Fixture, failures, scheduled, tuning, until};

const ID: &str = "info:example/object";

/// Runs `action` on a progress event, from inside the activity that reports it.
struct OnEvent<F>(F);

impl<F: Fn(&ProgressEvent<'_>) + Send + Sync> ProgressSink for OnEvent<F> {
    fn event(&self, event: &ProgressEvent<'_>) {
        (self.0)(event);
    }
}

fn no_space() -> io::Error {
    io::Error::from_raw_os_error(28)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_commit_to_a_busy_object_is_refused_naming_the_run() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let first = fx.source("first", &[("a.txt", b"a")]);
    let second = fx.source("second", &[("b.txt", b"b")]);
    // The first run pauses at its first write into its work directory.
    let faults = Injector::with_rule(|_, _, path| {
        if path.contains(".ocfl-work/") {
            Action::Pause
        } else {
            Action::Proceed
        }
    });
    let worker = fx.worker(fx.env_with(&faults));
    let running = service
        .submit(&CommitRequest::new(ID, &first))
        .await
        .expect("submit");
    until("the first run to pause", || faults.stopped()).await;

    let refused = service.commit(&CommitRequest::new(ID, &second)).await;
    match &refused {
        Err(CommitError::Busy { object_id, run }) => {
            assert_eq!(object_id, ID);
            assert_eq!(run, &running.run);
        }
        other => panic!("expected busy, got {other:?}"),
    }
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains(&running.run) && message.contains(ID),
        "{message}"
    );
    // The same command again joins the active run.
    let again = service
        .submit(&CommitRequest::new(ID, &first))
        .await
        .expect("same command");
    assert_eq!(again.run, running.run);
    assert!(again.resumed);
    let active = service.runs(false).await.expect("runs");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].run, running.run);

    faults.release();
    let done = service.wait(&running.run).await.expect("first run");
    assert_eq!(done.version, "v1");
    let next = service
        .commit(&CommitRequest::new(ID, &second))
        .await
        .expect("the object is free again");
    assert_eq!(next.version, "v2");
    fx.assert_holds(ID, &second);
    worker.shutdown().await;
}

/// Appends to every file below `dir`.
fn touch_all(dir: &PathBuf) {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let mut bytes = std::fs::read(entry.path()).expect("read");
            bytes.extend_from_slice(b" changed");
            std::fs::write(entry.path(), bytes).expect("write");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_changed_after_staging_fails_at_once_naming_the_file() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a"), ("dir/b.txt", b"b")]);
    let changing = source.clone();
    let sink = OnEvent(move |event: &ProgressEvent<'_>| {
        if matches!(event, ProgressEvent::Planned { .. }) {
            touch_all(&changing);
        }
    });
    let worker = fx.worker(fx.env().with_progress(Arc::new(sink)));
    let result = service.commit(&CommitRequest::new(ID, &source)).await;
    let Err(CommitError::Failed {
        run,
        object_id,
        message,
    }) = result
    else {
        panic!("expected a failed run, got {result:?}");
    };
    assert_eq!(object_id, ID);
    assert!(message.contains("changed since it was staged"), "{message}");
    assert!(message.contains("deposit/"), "names the file: {message}");
    let history = service.history(&run).await.expect("history");
    assert!(
        failures(&history).is_empty(),
        "not retried: {:?}",
        failures(&history)
    );
    assert!(
        !fx.root.join(fx.object_path(ID)).exists(),
        "no object appeared"
    );
    assert!(fx.leftovers(&run).is_empty(), "work directory rolled back");
    let info = service.run(&run).await.expect("run").expect("known");
    assert_eq!(info.state, RunState::Failed);
    assert_eq!(info.error.as_deref(), Some(message.as_str()));
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_changed_after_planning_fails_at_once() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let plain = fx.worker(fx.env());
    let v1 = fx.source("v1", &[("a.txt", b"a")]);
    service
        .commit(&CommitRequest::new(ID, &v1))
        .await
        .expect("v1");
    plain.shutdown().await;
    let inventory = fx.root.join(fx.object_path(ID)).join("inventory.json");
    let tampered = inventory.clone();
    let sink = OnEvent(move |event: &ProgressEvent<'_>| {
        if matches!(event, ProgressEvent::Planned { .. }) {
            let mut bytes = std::fs::read(&tampered).expect("read");
            bytes.push(b'\n');
            std::fs::write(&tampered, bytes).expect("write");
        }
    });
    let worker = fx.worker(fx.env().with_progress(Arc::new(sink)));
    let v2 = fx.source("v2", &[("a.txt", b"a"), ("b.txt", b"b")]);
    let result = service.commit(&CommitRequest::new(ID, &v2)).await;
    let Err(CommitError::Failed { run, message, .. }) = result else {
        panic!("expected a failed run, got {result:?}");
    };
    assert!(
        message.contains("the object changed since the update was planned"),
        "{message}"
    );
    assert!(message.contains("inventory.json"), "{message}");
    let history = service.history(&run).await.expect("history");
    assert!(failures(&history).is_empty(), "not retried");
    assert!(fx.leftovers(&run).is_empty());
    assert!(
        !inventory.with_file_name("v2").exists(),
        "no v2 in the object"
    );
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_object_is_refused_before_anything_is_written() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let worker = fx.worker(fx.env());
    let v1 = fx.source("v1", &[("a.txt", b"a")]);
    service
        .commit(&CommitRequest::new(ID, &v1))
        .await
        .expect("v1");
    // A stray file in the object root (E001): the inventory and its sidecar are intact, so
    // only the structure check sees it.
    let object = fx.root.join(fx.object_path(ID));
    let stray = object.join("stray.txt");
    std::fs::write(&stray, b"stray").expect("write");
    let v2 = fx.source("v2", &[("a.txt", b"a"), ("b.txt", b"b")]);
    let result = service.commit(&CommitRequest::new(ID, &v2)).await;
    let Err(CommitError::Failed { run, message, .. }) = result else {
        panic!("expected a failed run, got {result:?}");
    };
    for part in [ID, "(E001)", "nothing was written", "ocfl validate"] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert!(!message.contains("in progress"), "{message}");
    let history = service.history(&run).await.expect("history");
    assert!(failures(&history).is_empty(), "not retried");
    // Refused while staging: the source is not read, nothing is planned.
    assert!(
        !scheduled(&history).contains(&"ocfl.create-plan".to_owned()),
        "{:?}",
        scheduled(&history)
    );
    assert!(fx.leftovers(&run).is_empty());
    assert!(!object.join("v2").exists(), "no v2 in the object");
    // Once repaired, the same commit updates it.
    std::fs::remove_file(&stray).expect("remove");
    let done = service
        .commit(&CommitRequest::new(ID, &v2))
        .await
        .expect("v2");
    assert_eq!(done.version, "v2");
    fx.assert_holds(ID, &v2);

    // A version directory the root inventory does not name yet (E046) is what another
    // process's update in flight looks like: the refusal says so.
    copy_dir(&object.join("v2"), &object.join("v3"));
    let v3 = fx.source("v3", &[("c.txt", b"c")]);
    let result = service.commit(&CommitRequest::new(ID, &v3)).await;
    let Err(CommitError::Failed { message, .. }) = result else {
        panic!("expected a failed run, got {result:?}");
    };
    for part in ["E046", "update in progress", "nothing was written"] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert!(!object.join("v3/content/c.txt").exists());
    worker.shutdown().await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_io_errors_are_retried() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a"), ("b.txt", b"b")]);
    // The first two files created in the work area hit a full disk (outside the spool, whose
    // failures only make the copies read the source).
    let failed = std::sync::atomic::AtomicUsize::new(0);
    let faults = Injector::with_rule(move |_, op, path| {
        if op == "create"
            && path.contains(".ocfl-work/")
            && !path.contains("/spool-")
            && failed.fetch_add(1, Ordering::SeqCst) < 2
        {
            Action::Fail(no_space())
        } else {
            Action::Proceed
        }
    });
    let worker = fx.worker(fx.env_with(&faults));
    let outcome = service
        .commit(&CommitRequest::new(ID, &source))
        .await
        .expect("commit despite two failures");
    fx.assert_holds(ID, &source);
    let history = service.history(&outcome.run).await.expect("history");
    let failed = failures(&history);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed.iter().all(|m| m.contains("No space left on device")),
        "{failed:?}"
    );
    assert!(
        failed.iter().all(|m| m.contains(ID)),
        "names the object: {failed:?}"
    );
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_stays_full_stalls_the_run_until_it_is_resumed() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a"), ("b.txt", b"b")]);
    let full = Arc::new(AtomicBool::new(true));
    let disk = full.clone();
    let faults = Injector::with_rule(move |_, op, path| {
        if op == "create" && path.contains(".ocfl-work/") && disk.load(Ordering::SeqCst) {
            Action::Fail(no_space())
        } else {
            Action::Proceed
        }
    });
    let worker = fx.worker(fx.env_with(&faults));
    let request = CommitRequest::new(ID, &source);
    let stalled = service.commit(&request).await;
    let Err(CommitError::Stalled { run, message, .. }) = stalled else {
        panic!("expected a stalled run, got {stalled:?}");
    };
    assert!(message.contains("No space left on device"), "{message}");
    let info = service.run(&run).await.expect("run").expect("known");
    assert_eq!(info.state, RunState::Stalled);
    assert!(info.progress.and_then(|p| p.error).is_some());

    full.store(false, Ordering::SeqCst);
    let resumed = service.resume_all().await.expect("resume all");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].0, run);
    let outcome = resumed[0].1.as_ref().expect("resumed run");
    assert!(outcome.resumed);
    assert_eq!(outcome.version, "v1");
    fx.assert_holds(ID, &source);
    // Every attempt of the stalled step is in the history, then its success.
    let history = service.history(&run).await.expect("history");
    assert!(failures(&history).len() >= 3);
    assert_eq!(service.runs(true).await.expect("runs").len(), 1);
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_commit_resumes_a_stalled_run() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a")]);
    let full = Arc::new(AtomicBool::new(true));
    let disk = full.clone();
    let faults = Injector::with_rule(move |_, op, path| {
        if op == "rename" && path.contains(".ocfl-work/") && disk.load(Ordering::SeqCst) {
            Action::Fail(io::Error::from(io::ErrorKind::PermissionDenied))
        } else {
            Action::Proceed
        }
    });
    let worker = fx.worker(fx.env_with(&faults));
    let request = CommitRequest::new(ID, &source).message("m");
    let run = match service.commit(&request).await {
        Err(CommitError::Stalled { run, .. }) => run,
        other => panic!("expected a stalled run, got {other:?}"),
    };
    full.store(false, Ordering::SeqCst);
    let outcome = service.commit(&request).await.expect("the same commit");
    assert_eq!(outcome.run, run);
    assert!(outcome.resumed && outcome.changed);
    fx.assert_holds(ID, &source);
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_catches_content_corrupted_after_it_was_written() {
    let fx = Fixture::new();
    // Not the default: content is hashed as it is written, and not read back unless asked.
    let service = fx.service(Tuning {
        verify: Verify::NewContent,
        ..tuning()
    });
    let source = fx.source("deposit", &[("a.txt", b"aaaa"), ("b.txt", b"bbbb")]);
    let content = fx.root.join(fx.object_path(ID)).join("v1/content/a.txt");
    let sink = OnEvent(move |event: &ProgressEvent<'_>| {
        if let ProgressEvent::Step { id, .. } = event
            && *id == "move-object"
        {
            std::fs::write(&content, b"AAAA").expect("corrupt");
        }
    });
    let worker = fx.worker(fx.env().with_progress(Arc::new(sink)));
    let result = service.commit(&CommitRequest::new(ID, &source)).await;
    let Err(CommitError::Failed { run, message, .. }) = result else {
        panic!("expected a failed run, got {result:?}");
    };
    assert!(message.contains("v1/content/a.txt"), "{message}");
    assert!(message.contains("after the update"), "{message}");
    assert!(
        scheduled(&service.history(&run).await.expect("history"))
            .contains(&"ocfl.verify-object".to_owned())
    );
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_any_run() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a")]);
    for request in [
        CommitRequest::new("", &source),
        CommitRequest::new(ID, fx.dir.path().join("missing")),
        CommitRequest::new(ID, source.join("a.txt")),
    ] {
        let result = service.submit(&request).await;
        assert!(
            matches!(result, Err(CommitError::InvalidRequest(_))),
            "{request:?}: {result:?}"
        );
    }
    assert!(service.runs(true).await.expect("runs").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_cannot_be_staged_fails_naming_the_path() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a")]);
    std::os::unix::fs::symlink(source.join("a.txt"), source.join("link")).expect("symlink");
    let worker = fx.worker(fx.env());
    let result = service.commit(&CommitRequest::new(ID, &source)).await;
    let Err(CommitError::Failed { message, run, .. }) = result else {
        panic!("expected a failed run, got {result:?}");
    };
    assert!(
        message.contains("link") && message.contains("symbolic link"),
        "{message}"
    );
    assert!(failures(&service.history(&run).await.expect("history")).is_empty());
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_for_another_storage_root_refuses_the_run() {
    let fx = Fixture::new();
    let other = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a")]);
    // The only worker on this store serves another root.
    let worker = durable_core::Worker::start(
        fx.backend.clone(),
        ocfl_durable::registry(Arc::new(other.env())),
        crate::support::worker_options(),
    );
    let result = service.commit(&CommitRequest::new(ID, &source)).await;
    let Err(CommitError::Failed { message, .. }) = result else {
        panic!("expected a failed run, got {result:?}");
    };
    assert!(message.contains("this worker serves"), "{message}");
    assert!(!other.root.join(other.object_path(ID)).exists());
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_engine_ends_is_still_cleaned_up() {
    // The run stalls with its copies in the work area (writing the inventory fails), and is
    // then terminated: its own code never gets to its clean-up, so the object lock does it.
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let source = fx.source("deposit", &[("a.txt", b"a"), ("b.txt", b"b")]);
    let faults = Injector::with_rule(move |_, op, path| {
        if op == "create" && path.contains(".ocfl-work/") && path.contains("inventory") {
            Action::Fail(no_space())
        } else {
            Action::Proceed
        }
    });
    let worker = fx.worker(fx.env_with(&faults));
    let stalled = service.commit(&CommitRequest::new(ID, &source)).await;
    let Err(CommitError::Stalled { run, .. }) = stalled else {
        panic!("expected a stalled run, got {stalled:?}");
    };
    assert!(
        !fx.leftovers(&run).is_empty(),
        "the stalled run has a work area"
    );
    service
        .client()
        .terminate(&run, "given up")
        .await
        .expect("terminate");
    until("the terminated run's clean-up", || {
        fx.leftovers(&run).is_empty()
    })
    .await;
    let info = service.run(&run).await.expect("run").expect("known");
    assert!(info.state.is_finished());
    assert!(
        !fx.root.join(fx.object_path(ID)).exists(),
        "the new object is rolled back"
    );
    // The object is free again: the same commit now succeeds (on a healthy disk).
    worker.shutdown().await;
    let worker = fx.worker(fx.env());
    let outcome = service
        .commit(&CommitRequest::new(ID, &source))
        .await
        .expect("commit after the clean-up");
    assert_eq!(outcome.version, "v1");
    fx.assert_holds(ID, &source);
    worker.shutdown().await;
}
