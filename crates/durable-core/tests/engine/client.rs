use std::time::Duration;

use durable_core::{
    BackendError, ClientError, Event, Failure, InstanceStatus, OrchestrationContext, Registry,
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
            Some(Failure::application("terminated: operator said so"))
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
