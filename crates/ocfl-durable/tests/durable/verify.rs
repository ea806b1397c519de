//! The check after an update (docs/durability.md, section 9a): what the run wrote is read
//! back, the earlier versions are not validated again.

use std::sync::Arc;

use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{Code, ValidationOptions, validate_object};
use ocfl_durable::{CommitError, CommitRequest, ProgressEvent, ProgressSink};

use crate::support::{Fixture, tuning};

const ID: &str = "ark:/12345/verify";

struct OnEvent<F>(F);

impl<F: Fn(&ProgressEvent<'_>) + Send + Sync> ProgressSink for OnEvent<F> {
    fn event(&self, event: &ProgressEvent<'_>) {
        (self.0)(event);
    }
}

/// The check reads what the run wrote, not the earlier versions (section 9a): a v1 file
/// that something other than a run removes while the run is in flight is left for
/// `ocfl validate` to find, as it would be a moment after the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_after_an_update_reads_its_version_not_the_earlier_ones() {
    let fx = Arc::new(Fixture::new());
    let service = fx.service(tuning());
    let v1 = fx.source("v1", &[("a.txt", b"a"), ("d/b.txt", b"b")]);
    let worker = fx.worker(fx.env());
    service
        .commit(&CommitRequest::new(ID, &v1))
        .await
        .expect("v1");
    worker.shutdown().await;
    let seen = fx.clone();
    let sink = OnEvent(move |event: &ProgressEvent<'_>| {
        if let ProgressEvent::Step { id, .. } = event
            && *id == "move-version"
        {
            let object = seen.root.join(seen.object_path(ID));
            std::fs::remove_file(object.join("v1/content/d/b.txt")).expect("remove");
        }
    });
    let worker = fx.worker(fx.env().with_progress(Arc::new(sink)));
    let v2 = fx.source("v2", &[("a.txt", b"a2"), ("d/b.txt", b"b")]);
    let outcome = service
        .commit(&CommitRequest::new(ID, &v2))
        .await
        .expect("v2");
    assert_eq!((outcome.version.as_str(), outcome.changed), ("v2", true));
    worker.shutdown().await;
    let storage = LocalStorage::new(&fx.root);
    let report = validate_object(&storage, &fx.object_path(ID), &ValidationOptions::default());
    assert!(report.has(Code::E092), "{:?}", report.errors);
}

/// Commits v1, then v2 with `meddle` run once the step `step` of v2 has run; returns v2's
/// failure message.
async fn update_failing_after(
    step: &'static str,
    meddle: impl Fn(&Fixture) + Send + Sync + 'static,
) -> String {
    let fx = Arc::new(Fixture::new());
    let service = fx.service(tuning());
    let v1 = fx.source("v1", &[("a.txt", b"a"), ("b.txt", b"b")]);
    let worker = fx.worker(fx.env());
    service
        .commit(&CommitRequest::new(ID, &v1))
        .await
        .expect("v1");
    worker.shutdown().await;
    let v2 = fx.source("v2", &[("a.txt", b"a2"), ("b.txt", b"b")]);
    let seen = fx.clone();
    let sink = OnEvent(move |event: &ProgressEvent<'_>| {
        if let ProgressEvent::Step { id, .. } = event
            && *id == step
        {
            meddle(&seen);
        }
    });
    let worker = fx.worker(fx.env().with_progress(Arc::new(sink)));
    let result = service.commit(&CommitRequest::new(ID, &v2)).await;
    worker.shutdown().await;
    let Err(CommitError::Failed { message, .. }) = result else {
        panic!("expected a failed run, got {result:?}");
    };
    assert!(message.contains("after the update"), "{message}");
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_update_did_not_write_in_its_version_fails_it() {
    let message = update_failing_after("move-version", |fx| {
        let stray = fx
            .root
            .join(fx.object_path(ID))
            .join("v2/content/stray.txt");
        std::fs::write(stray, b"not planned").expect("stray");
    })
    .await;
    assert!(
        message.contains("v2/content/stray.txt was not written by this update"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_sidecar_that_is_not_the_plans_fails_the_update() {
    let message = update_failing_after("install-root-sidecar", |fx| {
        let object = fx.root.join(fx.object_path(ID));
        std::fs::write(object.join("inventory.json.sha512"), b"00 inventory.json\n")
            .expect("sidecar");
    })
    .await;
    assert!(
        message.contains("inventory.json.sha512 is not the sidecar this update wrote"),
        "{message}"
    );
}

/// The version inventory is compared with the plan's bytes, not hashed: a longer file (the
/// same JSON with whitespace after it) and a shorter one (cut off) both fail the update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_inventory_longer_or_shorter_than_the_plans_fails_the_update() {
    for cut in [false, true] {
        let message = update_failing_after("install-root-sidecar", move |fx| {
            let path = fx.root.join(fx.object_path(ID)).join("v2/inventory.json");
            let mut bytes = std::fs::read(&path).expect("read");
            if cut {
                bytes.pop();
            } else {
                bytes.extend_from_slice(b"\n");
            }
            std::fs::write(path, bytes).expect("inventory");
        })
        .await;
        assert!(
            message.contains("v2/inventory.json is not the inventory this update wrote"),
            "{message}"
        );
    }
}
