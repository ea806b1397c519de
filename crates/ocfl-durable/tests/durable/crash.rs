//! A worker that dies at any filesystem operation of a run, and a fresh worker that resumes
//! it: the object ends valid and byte-identical to the source, and the store holds one
//! completed run for the commit.

use ocfl_durable::{CommitRequest, RunState, Tuning, UpdateService};
use ocfl_plan::fault::{Action, Injector};

use crate::support::{Fixture, counting, until};

const ID: &str = "urn:example:crash";

type Files = [(&'static str, &'static [u8])];

/// One batch at a time: operation `k` is the same point in every run.
fn sequential() -> Tuning {
    Tuning {
        batch_files: 2,
        copy_concurrency: 1,
        ..crate::support::tuning()
    }
}

const DEPOSIT: &Files = &[
    ("data/file1.txt", b"one\n"),
    ("data/file2.txt", b"two\n"),
    ("data/same-as-one.txt", b"one\n"),
    ("metadata.json", b"{}\n"),
    ("readme.txt", b"read me\n"),
];

const OLD: &Files = &[("readme.txt", b"old readme\n"), ("gone.txt", b"removed\n")];

/// A storage root holding `base` as v1 of the object, to copy for each crash.
async fn template(base: &Files) -> Fixture {
    let fx = Fixture::new();
    let worker = fx.worker(fx.env_with(&counting()));
    let v1 = fx.source("v1", base);
    fx.service(sequential())
        .commit(&CommitRequest::new(ID, &v1))
        .await
        .expect("base version");
    worker.shutdown().await;
    fx
}

/// A fixture (a copy of `base` when given) and a service on it.
fn prepared(base: Option<&Fixture>) -> (Fixture, UpdateService) {
    let fx = base.map_or_else(Fixture::new, Fixture::copy_of);
    let service = fx.service(sequential());
    (fx, service)
}

/// Commits DEPOSIT with a worker that dies at mutating operation `k` (`after`: once it
/// happened), then runs the same commit with a fresh worker.
async fn crash_and_resume(k: u64, after: bool, last: bool, base: Option<&Fixture>) {
    let at = format!("crash at operation {k} (after it: {after})");
    let (fx, service) = prepared(base);
    let source = fx.source("deposit", DEPOSIT);
    let request = CommitRequest::new(ID, &source).message("crash test");
    let faults = Injector::with_rule(move |n, _, _| match n {
        n if n == k && after => Action::CrashAfter,
        n if n == k => Action::CrashBefore,
        _ => Action::Proceed,
    })
    .skip_flushes();
    let doomed = fx.worker(fx.env_with(&faults));
    let run = service.submit(&request).await.expect("submit").run;
    let waiter = tokio::spawn({
        let (service, run) = (service.clone(), run.clone());
        async move { service.wait(&run).await }
    });
    until(&at, || faults.stopped() || waiter.is_finished()).await;
    assert!(faults.stopped(), "{at}: the run ended first");
    waiter.abort();
    doomed.shutdown().await;
    faults.release();
    // A crash after the last operation can race with the run's own completion: the worker
    // may record the result before it stops. Then the same command is a new run that finds
    // nothing to do, which is the documented behaviour after success.
    let finished_anyway = service
        .run(&run)
        .await
        .expect("run info")
        .is_some_and(|info| info.state == RunState::Completed);

    // Submitted before a worker runs: a worker started first could finish the interrupted
    // run before the command looks for it (a quick tail of steps), and the command would
    // then find it done and start another.
    let submitted = service
        .submit(&request)
        .await
        .unwrap_or_else(|e| panic!("{at}: {e}"));
    let worker = fx.worker(fx.env_with(&counting()));
    let outcome = service
        .wait_submitted(&submitted)
        .await
        .unwrap_or_else(|e| panic!("{at}: {e}"));
    if finished_anyway {
        assert!(
            last && after,
            "{at}: only a crash after the last operation may race"
        );
        assert_ne!(outcome.run, run, "{at}");
        assert!(!outcome.changed, "{at}: the object already held the state");
    } else {
        assert_eq!(outcome.run, run, "{at}: the rerun resumed the same run");
        assert!(outcome.resumed && outcome.changed, "{at}");
    }
    let expected = if base.is_some() { "v2" } else { "v1" };
    assert_eq!(fx.assert_holds(ID, &source), expected, "{at}");
    let runs = service.runs(true).await.expect("runs");
    let deposit: Vec<_> = runs
        .iter()
        .filter(|r| r.source.ends_with("deposit"))
        .collect();
    let expected_runs = if finished_anyway { 2 } else { 1 };
    assert_eq!(deposit.len(), expected_runs, "{at}: runs for the commit");
    assert!(
        deposit.iter().all(|r| r.state == RunState::Completed),
        "{at}"
    );
    assert!(fx.leftovers(&run).is_empty(), "{at}: leftovers");
    worker.shutdown().await;
}

/// The number of mutating operations of an uninterrupted run.
async fn operations(base: Option<&Fixture>) -> u64 {
    let (fx, service) = prepared(base);
    let source = fx.source("deposit", DEPOSIT);
    let faults = counting();
    let worker = fx.worker(fx.env_with(&faults));
    service
        .commit(&CommitRequest::new(ID, &source).message("crash test"))
        .await
        .expect("uninterrupted");
    worker.shutdown().await;
    faults.operations()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_object_survives_a_crash_at_every_operation() {
    let total = operations(None).await;
    assert!(total > 10, "{total} operations");
    for k in 0..total {
        for after in [false, true] {
            crash_and_resume(k, after, k + 1 == total, None).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_survives_a_crash_at_every_operation() {
    let base = template(OLD).await;
    let total = operations(Some(&base)).await;
    for k in 0..total {
        for after in [false, true] {
            crash_and_resume(k, after, k + 1 == total, Some(&base)).await;
        }
    }
}
