//! A worker that loses its lease in the middle of a batch of steps stops writing: another
//! worker runs the same batch now, and two writers in one work area would race.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use durable_core::backend::{ActivityItem, Backend};
use durable_core::testing::{Delegating, Hooks};
use durable_core::{BackendError, Worker, WorkerOptions};
use ocfl_durable::{CommitRequest, Tuning};
use ocfl_plan::fault::{Action, Injector};

use crate::support::{Fixture, until, worker_options};

/// Hooks that, once `lose` is set, refuse every activity lease renewal (the worker using
/// them believes it lost its lease) and hand out no more activities (so that the other
/// worker takes the batch over).
struct Forgetful {
    lose: AtomicBool,
}

#[async_trait]
impl Hooks for Forgetful {
    async fn fetch_activity(
        &self,
        inner: &dyn Backend,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<ActivityItem>, BackendError> {
        if self.lose.load(Ordering::SeqCst) {
            tokio::time::sleep(wait).await;
            return Ok(None);
        }
        inner.fetch_activity(lease_for, wait).await
    }
    async fn renew_activity_lease(
        &self,
        inner: &dyn Backend,
        id: u64,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        if self.lose.load(Ordering::SeqCst) {
            return Err(BackendError::LeaseLost {
                item: format!("activity work item {id}"),
                token,
            });
        }
        inner.renew_activity_lease(id, token, lease_for).await
    }
}

const ID: &str = "urn:example:lease-loss";

/// Releases paused operations when dropped, so that a failing test does not leave blocking
/// threads waiting for ever (the runtime would wait for them).
struct ReleaseOnDrop(Vec<Arc<Injector>>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        for faults in &self.0 {
            faults.release();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_lease_stops_between_steps() {
    let fx = Fixture::new();
    let files: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| {
            (
                format!("data/file{i}.txt"),
                format!("content {i}\n").into_bytes(),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
        .collect();
    let source = fx.source("deposit", &borrowed);
    // One batch holds every copy, so that steps follow the one the stale worker is stopped
    // in.
    let tuning = Tuning {
        batch_files: 100,
        copy_concurrency: 1,
        ..crate::support::tuning()
    };
    let service = fx.service(tuning);

    // The stale worker pauses at its third file creation in the work area (a copy in the
    // middle of the batch), and records every creation after that.
    let paused_at = Arc::new(AtomicU64::new(u64::MAX));
    let late_creates = Arc::new(Mutex::new(Vec::<String>::new()));
    let stale_faults = {
        let (paused_at, late_creates) = (paused_at.clone(), late_creates.clone());
        let seen = AtomicUsize::new(0);
        Injector::with_rule(move |n, op, path| {
            // Creations in the work area, except the staging spool: the plan's copies.
            if op != "create" || !path.contains(".ocfl-work") || path.contains("/spool-") {
                return Action::Proceed;
            }
            if paused_at.load(Ordering::SeqCst) < n {
                late_creates.lock().expect("lock").push(path.to_owned());
                return Action::Proceed;
            }
            if seen.fetch_add(1, Ordering::SeqCst) == 2 {
                paused_at.store(n, Ordering::SeqCst);
                return Action::Pause;
            }
            Action::Proceed
        })
        .skip_flushes()
    };
    let mut _release = ReleaseOnDrop(vec![stale_faults.clone()]);
    let forgetful = Arc::new(Delegating::new(
        fx.backend.clone(),
        Forgetful {
            lose: AtomicBool::new(false),
        },
    ));
    let stale = Worker::start(
        forgetful.clone(),
        ocfl_durable::registry(Arc::new(fx.env_with(&stale_faults))),
        WorkerOptions {
            activity_lease: Duration::from_millis(600),
            ..worker_options()
        },
    );
    let submitted = service
        .submit(&CommitRequest::new(ID, &source))
        .await
        .expect("submit");
    until("the stale worker's pause", || stale_faults.stopped()).await;

    // Its lease is lost (the renewal is refused; the store lets the lease expire), and a
    // second worker, itself held at its first write, takes the batch over.
    forgetful.hooks().lose.store(true, Ordering::SeqCst);
    let fresh_faults = Injector::with_rule(|n, _, _| {
        if n == 0 {
            Action::Pause
        } else {
            Action::Proceed
        }
    })
    .skip_flushes();
    _release.0.push(fresh_faults.clone());
    let fresh = fx.worker(fx.env_with(&fresh_faults));
    until("the second worker's start", || fresh_faults.stopped()).await;

    // The stale worker's thread goes on: it finishes the write it was in, and must stop
    // there rather than copy the rest of the batch.
    stale_faults.release();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let late = late_creates.lock().expect("lock").clone();
    assert!(
        late.is_empty(),
        "the worker that lost its lease went on writing: {late:?}"
    );

    fresh_faults.release();
    let outcome = service
        .wait_submitted(&submitted)
        .await
        .expect("the second worker completes the run");
    assert!(outcome.changed);
    fx.assert_holds(ID, &source);
    assert!(fx.leftovers(&outcome.run).is_empty(), "leftovers");
    fresh.shutdown().await;
    stale.shutdown().await;
}
