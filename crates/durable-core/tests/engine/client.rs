use std::time::{Duration, UNIX_EPOCH};

use durable_core::{
    ActivityContext, BackendError, ClientError, Event, Failure, FailureKind, IdReusePolicy,
    InstanceFilter, InstanceStatus, OrchestrationContext, Registry, ScheduleOptions,
};

use crate::common::{EPOCH_MS, LIMIT, Mode, start};

fn waiting() -> Registry {
    Registry::new().orchestration(
        "wait",
        |ctx: OrchestrationContext, label: String| async move {
            ctx.set_custom_status("waiting");
            let data: u32 = ctx.wait_for_event("go").await?;
            Ok(format!("{label} {data}"))
        },
    )
}

#[tokio::test(start_paused = true)]
async fn schedule_refuses_a_taken_id() {
    let harness = start(waiting(), Mode::Cached);
    harness
        .client
        .schedule("wait", "x", "a")
        .await
        .expect("schedule");
    let again = harness.client.schedule("wait", "x", "b").await;
    assert!(
        matches!(again, Err(ClientError::Backend(BackendError::InstanceExists(ref id))) if id == "x"),
        "{again:?}"
    );
    harness.worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn metadata_follows_the_instance_life() {
    let harness = start(waiting(), Mode::Cached);
    let client = &harness.client;
    assert_eq!(client.metadata("x").await.expect("metadata"), None);
    client
        .schedule("wait", "x", "label")
        .await
        .expect("schedule");
    let started = client.wait_for_start("x", LIMIT).await.expect("start");
    assert_eq!(started.status, InstanceStatus::Running);
    assert_eq!(started.name, "wait");
    assert_eq!(started.input, "\"label\"");
    assert_eq!(started.custom_status.as_deref(), Some("waiting"));
    assert_eq!(started.created_at_ms, EPOCH_MS);

    tokio::time::advance(Duration::from_secs(5)).await;
    client.raise_event("x", "go", &7u32).await.expect("raise");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Completed);
    assert_eq!(
        done.output::<String>().ok().flatten().as_deref(),
        Some("label 7")
    );
    assert_eq!(done.updated_at_ms, EPOCH_MS + 5_000);
    let history = client.history("x").await.expect("history");
    assert_eq!(done.history_len, history.len() as u64);
    assert!(history.contains(&Event::EventRaised {
        name: "go".into(),
        data: "7".into()
    }));
    harness.worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn waiting_times_out() {
    let harness = start(waiting(), Mode::Cached);
    harness
        .client
        .schedule("wait", "x", "a")
        .await
        .expect("schedule");
    let waited = harness
        .client
        .wait_for_completion("x", Duration::from_secs(10))
        .await;
    assert!(
        matches!(
            waited,
            Err(ClientError::Timeout {
                what: "complete",
                ..
            })
        ),
        "{waited:?}"
    );
    harness.worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn unknown_instances_are_reported() {
    let harness = start(waiting(), Mode::Cached);
    let client = &harness.client;
    assert!(matches!(
        client.raise_event("nobody", "go", &1).await,
        Err(ClientError::NotFound(_))
    ));
    assert!(matches!(
        client.terminate("nobody", "why").await,
        Err(ClientError::NotFound(_))
    ));
    assert!(matches!(
        client.wait_for_completion("nobody", LIMIT).await,
        Err(ClientError::NotFound(_))
    ));
    assert_eq!(client.history("nobody").await.expect("history"), vec![]);
    harness.worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn terminate_ends_the_instance_for_good() {
    for mode in [Mode::Cached, Mode::Evicted] {
        let harness = start(waiting(), mode);
        let client = &harness.client;
        client.schedule("wait", "x", "a").await.expect("schedule");
        client.wait_for_start("x", LIMIT).await.expect("start");
        client
            .terminate("x", "operator said so")
            .await
            .expect("terminate");
        let done = client.wait_for_completion("x", LIMIT).await.expect("done");
        assert_eq!(done.status, InstanceStatus::Terminated);
        assert_eq!(
            done.failure,
            Some(Failure::new(
                FailureKind::Terminated,
                "terminated: operator said so"
            ))
        );
        let history = client.history("x").await.expect("history");
        assert_eq!(
            history.last(),
            Some(&Event::ExecutionTerminated {
                reason: "operator said so".into()
            })
        );
        // A late event is consumed and discarded: nothing changes.
        client.raise_event("x", "go", &1u32).await.expect("raise");
        tokio::time::sleep(Duration::from_secs(60)).await;
        let after = client
            .metadata("x")
            .await
            .expect("metadata")
            .expect("exists");
        assert_eq!(after.status, InstanceStatus::Terminated);
        assert_eq!(client.history("x").await.expect("history"), history);
        harness.worker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn terminate_before_start_never_runs_the_code() {
    let harness = start(waiting(), Mode::Cached);
    let client = &harness.client;
    // The worker has not had a chance to run yet: both messages arrive in one episode.
    client.schedule("wait", "x", "a").await.expect("schedule");
    client
        .terminate("x", "changed my mind")
        .await
        .expect("terminate");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Terminated);
    assert_eq!(done.custom_status, None, "the orchestration code ran");
    harness.worker.shutdown().await;
}

/// Waits for an activity result and then an event; reports both.
fn two_steps() -> Registry {
    Registry::new()
        .activity("ten", |_ctx: ActivityContext, _: ()| async move {
            Ok::<_, Failure>(10u32)
        })
        .orchestration("steps", |ctx: OrchestrationContext, _: ()| async move {
            ctx.set_custom_status("started");
            let timer = ctx.create_timer(Duration::from_secs(30));
            let ten: u32 = ctx.call_activity("ten", &()).await?;
            ctx.set_custom_status("got ten");
            let go: u32 = ctx.wait_for_event("go").await?;
            timer.await?;
            Ok(ten + go)
        })
}

#[tokio::test(start_paused = true)]
async fn suspended_instances_hold_their_inputs_until_resumed() {
    let mut histories = Vec::new();
    for mode in [Mode::Cached, Mode::Evicted] {
        let harness = start(two_steps(), mode);
        let client = &harness.client;
        client.schedule("steps", "x", &()).await.expect("schedule");
        // Suspended before the first episode: the start is taken in, the code does not run.
        client.suspend("x", "maintenance").await.expect("suspend");
        client.raise_event("x", "go", &5u32).await.expect("raise");
        let suspended = client.wait_for_start("x", LIMIT).await.expect("start");
        assert_eq!(suspended.status, InstanceStatus::Suspended);
        assert_eq!(suspended.custom_status, None, "code ran while suspended");
        // An hour passes: the timer fires, nothing runs.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let still = client
            .metadata("x")
            .await
            .expect("metadata")
            .expect("exists");
        assert_eq!(still.status, InstanceStatus::Suspended);
        assert_eq!(still.custom_status, None);
        let history = client.history("x").await.expect("history");
        assert!(
            !history
                .iter()
                .any(|event| event.kind_name() == "ActivityScheduled")
        );
        client.resume("x", "done").await.expect("resume");
        let done = client.wait_for_completion("x", LIMIT).await.expect("done");
        assert_eq!(done.output::<u32>().ok().flatten(), Some(15));
        assert_eq!(done.custom_status.as_deref(), Some("got ten"));
        histories.push(client.history("x").await.expect("history"));
        harness.worker.shutdown().await;
    }
    assert_eq!(histories[0], histories[1]);
    let kinds: Vec<&str> = histories[0].iter().map(Event::kind_name).collect();
    let suspended_at = kinds.iter().position(|kind| *kind == "ExecutionSuspended");
    let resumed_at = kinds.iter().position(|kind| *kind == "ExecutionResumed");
    assert!(suspended_at < resumed_at, "{kinds:?}");
}

#[tokio::test(start_paused = true)]
async fn suspend_mid_run_then_terminate() {
    let harness = start(two_steps(), Mode::Cached);
    let client = &harness.client;
    client.schedule("steps", "x", &()).await.expect("schedule");
    let running = client.wait_for_start("x", LIMIT).await.expect("start");
    assert_eq!(running.status, InstanceStatus::Running);
    tokio::time::sleep(Duration::from_secs(1)).await;
    client.suspend("x", "hold").await.expect("suspend");
    client.raise_event("x", "go", &1u32).await.expect("raise");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let held = client
        .metadata("x")
        .await
        .expect("metadata")
        .expect("exists");
    assert_eq!(held.status, InstanceStatus::Suspended);
    // Termination is not held back.
    client.terminate("x", "stop").await.expect("terminate");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Terminated);
    // Suspend and resume of a finished instance change nothing.
    client.suspend("x", "late").await.expect("suspend");
    client.resume("x", "late").await.expect("resume");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = client
        .metadata("x")
        .await
        .expect("metadata")
        .expect("exists");
    assert_eq!(after, done);
    harness.worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn list_filters_instances() {
    let harness = start(waiting(), Mode::Cached);
    let client = &harness.client;
    for id in ["job-1", "job-2", "other-1"] {
        client.schedule("wait", id, id).await.expect("schedule");
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    client
        .raise_event("job-2", "go", &1u32)
        .await
        .expect("raise");
    client
        .wait_for_completion("job-2", LIMIT)
        .await
        .expect("done");
    let ids = |list: Vec<durable_core::InstanceMetadata>| -> Vec<String> {
        list.into_iter()
            .map(|metadata| metadata.instance_id)
            .collect()
    };
    let all = client.list(&InstanceFilter::all()).await.expect("list");
    assert_eq!(ids(all), vec!["job-1", "job-2", "other-1"]);
    let jobs = client
        .list(&InstanceFilter::all().with_instance_id_prefix("job-"))
        .await
        .expect("list");
    assert_eq!(ids(jobs), vec!["job-1", "job-2"]);
    let running = client
        .list(&InstanceFilter::all().with_statuses([InstanceStatus::Running]))
        .await
        .expect("list");
    assert_eq!(ids(running), vec!["job-1", "other-1"]);
    let done = client
        .list(&InstanceFilter::all().with_statuses([InstanceStatus::Completed]))
        .await
        .expect("list");
    assert_eq!(ids(done), vec!["job-2"]);
    let late = client
        .list(&InstanceFilter::all().created_between(Some(EPOCH_MS + 10_000), None))
        .await
        .expect("list");
    assert_eq!(ids(late), vec!["job-2", "other-1"]);
    let early = client
        .list(&InstanceFilter::all().created_between(None, Some(EPOCH_MS + 10_000)))
        .await
        .expect("list");
    assert_eq!(ids(early), vec!["job-1"]);
    let first = client
        .list(&InstanceFilter::all().with_limit(1))
        .await
        .expect("list");
    assert_eq!(ids(first), vec!["job-1"]);
    let none = client
        .list(&InstanceFilter::all().with_name("nope"))
        .await
        .expect("list");
    assert!(none.is_empty());
    harness.worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_delayed_start_waits_for_its_time() {
    for mode in [Mode::Cached, Mode::Evicted] {
        let harness = start(waiting(), mode);
        let client = &harness.client;
        let at = UNIX_EPOCH + Duration::from_millis(EPOCH_MS + 3_600_000);
        client
            .schedule_with("wait", "x", "later", ScheduleOptions::new().start_at(at))
            .await
            .expect("schedule");
        // An event raised before the start waits for it.
        client.raise_event("x", "go", &9u32).await.expect("raise");
        tokio::time::sleep(Duration::from_secs(3000)).await;
        let pending = client
            .metadata("x")
            .await
            .expect("metadata")
            .expect("exists");
        assert_eq!(pending.status, InstanceStatus::Pending);
        assert_eq!(pending.scheduled_start_ms, Some(EPOCH_MS + 3_600_000));
        assert_eq!(pending.history_len, 0);
        let done = client.wait_for_completion("x", LIMIT).await.expect("done");
        assert_eq!(
            done.output::<String>().ok().flatten().as_deref(),
            Some("later 9")
        );
        let history = client.history("x").await.expect("history");
        assert_eq!(
            history[0],
            Event::EpisodeStarted {
                timestamp_ms: EPOCH_MS + 3_600_000
            }
        );
        assert!(matches!(history[1], Event::ExecutionStarted { .. }));
        harness.worker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn terminating_before_a_delayed_start() {
    let harness = start(waiting(), Mode::Cached);
    let client = &harness.client;
    let at = UNIX_EPOCH + Duration::from_millis(EPOCH_MS + 3_600_000);
    client
        .schedule_with("wait", "x", "later", ScheduleOptions::new().start_at(at))
        .await
        .expect("schedule");
    client
        .terminate("x", "never mind")
        .await
        .expect("terminate");
    let done = client
        .wait_for_completion("x", Duration::from_secs(60))
        .await
        .expect("terminated at once");
    assert_eq!(done.status, InstanceStatus::Terminated);
    // The start arrives later and is discarded.
    tokio::time::sleep(Duration::from_secs(7200)).await;
    let after = client
        .metadata("x")
        .await
        .expect("metadata")
        .expect("exists");
    assert_eq!(after, done);
    harness.worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn finished_instances_may_be_replaced() {
    let harness = start(waiting(), Mode::Cached);
    let client = &harness.client;
    let replace = ScheduleOptions::new().reuse(IdReusePolicy::ReplaceFinished);
    client
        .schedule("wait", "x", "first")
        .await
        .expect("schedule");
    // Running: not replaced, even when asked.
    let refused = client.schedule_with("wait", "x", "second", replace).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Backend(BackendError::InstanceExists(_)))
        ),
        "{refused:?}"
    );
    client.raise_event("x", "go", &1u32).await.expect("raise");
    client.wait_for_completion("x", LIMIT).await.expect("done");
    // Finished: the default still refuses, the policy replaces.
    assert!(client.schedule("wait", "x", "third").await.is_err());
    tokio::time::sleep(Duration::from_secs(5)).await;
    client
        .schedule_with("wait", "x", "fourth", replace)
        .await
        .expect("replaced");
    let fresh = client.wait_for_start("x", LIMIT).await.expect("start");
    assert_eq!(fresh.input, "\"fourth\"");
    assert_eq!(fresh.created_at_ms, EPOCH_MS + 5_000);
    assert_eq!(fresh.status, InstanceStatus::Running);
    let history = client.history("x").await.expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|event| event.kind_name() == "ExecutionStarted")
            .count(),
        1,
        "the old history is gone"
    );
    client.raise_event("x", "go", &2u32).await.expect("raise");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(
        done.output::<String>().ok().flatten().as_deref(),
        Some("fourth 2")
    );
    harness.worker.shutdown().await;
}
