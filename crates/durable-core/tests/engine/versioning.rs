//! Orchestration code evolves through `patched` and `deprecate_patch` markers: runs recorded
//! before a patch keep the old branch, new runs record the marker and take the new one, and a
//! deprecated patch replays both its histories and the code that dropped it.

use std::sync::Arc;

use durable_core::{
    Client, Clock, Event, Failure, FailureKind, InstanceStatus, MemoryBackend,
    OrchestrationContext, Registry, Worker, WorkerOptions,
};

use crate::common::{EPOCH_MS, LIMIT, Mode, count, run_both, start};

/// The stages of the code: v1 calls "old"; v2 patches it to "new"; v3 deprecates the patch;
/// v4 drops even the deprecation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Version {
    V1,
    V2,
    V3,
    V4,
}

/// Each version calls one activity, waits for "go", then calls "after".
fn registry(version: Version) -> Registry {
    Registry::new()
        .activity("old", |_ctx, _: ()| async {
            Ok::<_, Failure>("old".to_owned())
        })
        .activity("new", |_ctx, _: ()| async {
            Ok::<_, Failure>("new".to_owned())
        })
        .activity("after", |_ctx, _: ()| async {
            Ok::<_, Failure>("after".to_owned())
        })
        .orchestration("flow", move |ctx: OrchestrationContext, _: ()| async move {
            let first = match version {
                Version::V1 => "old",
                Version::V2 if ctx.patched("use-new") => "new",
                Version::V2 => "old",
                Version::V3 => {
                    ctx.deprecate_patch("use-new");
                    "new"
                }
                Version::V4 => "new",
            };
            let first: String = ctx.call_activity(first, &()).await?;
            let (): () = ctx.wait_for_event("go").await?;
            let after: String = ctx.call_activity("after", &()).await?;
            Ok(vec![first, after])
        })
}

/// A run of `version` from start to end as instance "i", with "go" raised at once; the
/// cached and the evicted runs record the same history.
async fn full_run(version: Version) -> (Vec<String>, Vec<Event>) {
    let mut runs = Vec::new();
    for mode in [Mode::Cached, Mode::Evicted] {
        let harness = start(registry(version), mode);
        harness
            .client
            .schedule("flow", "i", &())
            .await
            .expect("schedule");
        harness
            .client
            .raise_event("i", "go", &())
            .await
            .expect("raise");
        let done = harness
            .client
            .wait_for_completion("i", LIMIT)
            .await
            .expect("completion");
        let history = harness.client.history("i").await.expect("history");
        harness.worker.shutdown().await;
        let output = done
            .output::<Vec<String>>()
            .ok()
            .flatten()
            .unwrap_or_default();
        runs.push((output, history));
    }
    assert_eq!(runs[0], runs[1], "cached and evicted runs differ");
    runs.swap_remove(0)
}

/// Starts `before`, lets it wait for "go", deploys `after`, raises "go"; returns the outcome.
async fn deploy(
    before: Version,
    after: Version,
) -> (
    InstanceStatus,
    Option<Vec<String>>,
    Option<Failure>,
    Vec<Event>,
) {
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let client = Client::new(backend.clone());
    let old = Worker::start(backend.clone(), registry(before), WorkerOptions::default());
    client.schedule("flow", "i", &()).await.expect("schedule");
    loop {
        let history = client.history("i").await.expect("history");
        if count(&history, "ActivityCompleted") == 1 {
            break;
        }
        use durable_core::Backend;
        let _ = backend
            .wait_for_change("i", history.len() as u64, LIMIT)
            .await;
    }
    old.shutdown().await;
    let new = Worker::start(backend.clone(), registry(after), WorkerOptions::default());
    client.raise_event("i", "go", &()).await.expect("raise");
    let done = client
        .wait_for_completion("i", LIMIT)
        .await
        .expect("completion");
    new.shutdown().await;
    let history = client.history("i").await.expect("history");
    let output = done.output::<Vec<String>>().ok().flatten();
    (done.status, output, done.failure, history)
}

fn markers(history: &[Event]) -> Vec<(String, bool)> {
    history
        .iter()
        .filter_map(|event| match event {
            Event::PatchMarkerRecorded {
                patch_id,
                deprecated,
            } => Some((patch_id.clone(), *deprecated)),
            _ => None,
        })
        .collect()
}

fn assert_nondeterminism(result: Result<(), Failure>, expected: &[&str]) {
    let failure = result.expect_err("replay must diverge");
    assert_eq!(failure.kind, FailureKind::Nondeterminism, "{failure}");
    for part in expected {
        assert!(
            failure.message.contains(part),
            "{:?} lacks {part:?}",
            failure.message
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_started_before_the_patch_keeps_the_old_branch() {
    let (status, output, failure, history) = deploy(Version::V1, Version::V2).await;
    assert_eq!((status, failure), (InstanceStatus::Completed, None));
    assert_eq!(output, Some(vec!["old".to_owned(), "after".to_owned()]));
    assert!(markers(&history).is_empty(), "{history:?}");
}

#[tokio::test(start_paused = true)]
async fn a_new_run_records_the_marker_and_takes_the_new_branch() {
    let (output, history) = full_run(Version::V2).await;
    assert_eq!(output, ["new", "after"]);
    assert_eq!(markers(&history), [("use-new".to_owned(), false)]);
    // The marker comes right before the call it guards.
    let marker = history
        .iter()
        .position(|event| matches!(event, Event::PatchMarkerRecorded { .. }))
        .expect("marker");
    assert!(
        matches!(&history[marker + 1], Event::ActivityScheduled { name, .. } if name == "new"),
        "{history:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_patched_run_in_flight_survives_an_upgrade_to_the_deprecation() {
    let (status, output, failure, history) = deploy(Version::V2, Version::V3).await;
    assert_eq!((status, failure), (InstanceStatus::Completed, None));
    assert_eq!(output, Some(vec!["new".to_owned(), "after".to_owned()]));
    assert_eq!(markers(&history), [("use-new".to_owned(), false)]);
}

#[tokio::test(start_paused = true)]
async fn a_deprecated_patch_records_its_marker_and_always_takes_the_new_branch() {
    let (output, history) = full_run(Version::V3).await;
    assert_eq!(output, ["new", "after"]);
    assert_eq!(markers(&history), [("use-new".to_owned(), true)]);
    // Histories of the patched code and of the deprecation both replay with the deprecation.
    let (_, patched) = full_run(Version::V2).await;
    assert_eq!(registry(Version::V3).verify_history("i", &patched), Ok(()));
    assert_eq!(registry(Version::V3).verify_history("i", &history), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn code_without_the_deprecation_skips_deprecated_markers_only() {
    let (_, deprecated) = full_run(Version::V3).await;
    assert_eq!(
        registry(Version::V4).verify_history("i", &deprecated),
        Ok(())
    );
    let (_, patched) = full_run(Version::V2).await;
    assert_nondeterminism(
        registry(Version::V4).verify_history("i", &patched),
        &[
            "PatchMarkerRecorded 'use-new'",
            "produced ActivityScheduled 'new'",
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn a_marker_where_the_code_now_schedules_something_else_is_nondeterminism() {
    let (_, patched) = full_run(Version::V2).await;
    assert_nondeterminism(
        registry(Version::V1).verify_history("i", &patched),
        &[
            "is PatchMarkerRecorded 'use-new'",
            "produced ActivityScheduled 'old' (task 0",
        ],
    );
    // And a deploy of the old code onto a patched run in flight fails it, naming the marker.
    let (status, _, failure, _) = deploy(Version::V2, Version::V1).await;
    assert_eq!(status, InstanceStatus::Failed);
    let failure = failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Nondeterminism, "{failure}");
    assert!(
        failure.message.contains("PatchMarkerRecorded 'use-new'"),
        "{failure}"
    );
}

#[tokio::test(start_paused = true)]
async fn patched_is_memoized_within_an_execution() {
    let registry = || {
        Registry::new().orchestration("twice", |ctx: OrchestrationContext, _: ()| async move {
            let first = ctx.patched("p");
            ctx.create_timer(std::time::Duration::from_secs(1)).await?;
            let second = ctx.patched("p");
            ctx.deprecate_patch("p");
            Ok((first, second))
        })
    };
    let run = run_both(registry, "twice", &()).await;
    assert_eq!(
        run.metadata.output::<(bool, bool)>().ok().flatten(),
        Some((true, true))
    );
    assert_eq!(markers(&run.history), [("p".to_owned(), false)]);
    // A history recorded before the patch existed: `patched` answers false, every time.
    let old =
        Registry::new().orchestration("twice", |ctx: OrchestrationContext, _: ()| async move {
            ctx.create_timer(std::time::Duration::from_secs(1)).await?;
            Ok((false, false))
        });
    let old_run = run_both(move || old.clone(), "twice", &()).await;
    assert_eq!(registry().verify_history("test", &old_run.history), Ok(()));
}
