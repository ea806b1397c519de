use std::time::Duration;

use durable_core::{
    ActivityContext, ClientError, Event, Failure, FailureKind, InstanceFilter, InstanceStatus,
    OrchestrationContext, ParentInstance, Registry,
};
use futures::future::join_all;

use crate::common::{LIMIT, Mode, count, run_both, start};

async fn double(_ctx: ActivityContext, n: u64) -> Result<u64, Failure> {
    Ok(n * 2)
}

/// "child" doubles its input with an activity; "parent" calls it on each of its inputs.
fn family() -> Registry {
    Registry::new()
        .activity("double", double)
        .orchestration("child", |ctx: OrchestrationContext, n: u64| async move {
            if n == 13 {
                return Err(Failure::application("13 is unlucky"));
            }
            let doubled: u64 = ctx.call_activity("double", &n).await?;
            Ok(doubled)
        })
        .orchestration(
            "parent",
            |ctx: OrchestrationContext, inputs: Vec<u64>| async move {
                let calls: Vec<_> = inputs
                    .iter()
                    .map(|n| ctx.call_sub_orchestration::<_, u64>("child", n))
                    .collect();
                let mut results = Vec::new();
                for result in join_all(calls).await {
                    results.push(result.map_err(|failure| failure.message));
                }
                Ok(results)
            },
        )
}

#[tokio::test(start_paused = true)]
async fn sub_orchestrations_fan_out_and_report_back() {
    let run = run_both(family, "parent", &[1u64, 13, 5]).await;
    let results: Vec<Result<u64, String>> = run.metadata.output().ok().flatten().expect("output");
    assert_eq!(
        results,
        vec![Ok(2), Err("13 is unlucky".to_owned()), Ok(10)]
    );
    assert_eq!(count(&run.history, "SubOrchestrationScheduled"), 3);
    assert_eq!(count(&run.history, "SubOrchestrationCompleted"), 2);
    assert_eq!(count(&run.history, "SubOrchestrationFailed"), 1);
    assert!(run.history.contains(&Event::SubOrchestrationScheduled {
        task_id: 1,
        name: "child".into(),
        instance_id: "test:1:1".into(),
        input: "13".into(),
    }));
    // Three children with deterministic ids, each linked to its parent's call.
    let ids: Vec<&str> = run
        .instances
        .iter()
        .map(|(metadata, _)| metadata.instance_id.as_str())
        .collect();
    assert_eq!(ids, vec!["test", "test:1:0", "test:1:1", "test:1:2"]);
    let (child, child_history) = &run.instances[3];
    assert_eq!(child.status, InstanceStatus::Completed);
    assert_eq!(child.output.as_deref(), Some("10"));
    assert_eq!(
        child.parent,
        Some(ParentInstance {
            instance_id: "test".into(),
            execution_id: 1,
            task_id: 2,
        })
    );
    assert_eq!(count(child_history, "ActivityCompleted"), 1);
    assert_eq!(run.instances[2].0.status, InstanceStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_taken_child_id_fails_the_call() {
    let registry = || {
        family().orchestration("named", |ctx: OrchestrationContext, _: ()| async move {
            let first: u64 = ctx
                .call_sub_orchestration_with_id("child", "only-one", &1u64)
                .await?;
            let second = ctx
                .call_sub_orchestration_with_id::<_, u64>("child", "only-one", &2u64)
                .await;
            Ok((first, second.map_err(|failure| failure.kind)))
        })
    };
    let run = run_both(registry, "named", &()).await;
    assert_eq!(
        run.metadata
            .output::<(u64, Result<u64, FailureKind>)>()
            .ok()
            .flatten(),
        Some((2, Err(FailureKind::InstanceExists)))
    );
    let existing = &run.instances[0];
    assert_eq!(existing.0.instance_id, "only-one");
    assert_eq!(existing.0.input, "1", "the existing child was left alone");
}

#[tokio::test(start_paused = true)]
async fn instances_exchange_events() {
    // "ping" starts "pong" as a child, then both talk by events: the child sends to its
    // parent, the parent answers, the child returns what it got.
    let registry = || {
        Registry::new()
            .orchestration(
                "pong",
                |ctx: OrchestrationContext, parent: String| async move {
                    ctx.raise_event(&parent, "ping", &1u64)?;
                    let answer: u64 = ctx.wait_for_event("pong").await?;
                    Ok(answer + 1)
                },
            )
            .orchestration("ping", |ctx: OrchestrationContext, _: ()| async move {
                let child = ctx.call_sub_orchestration::<_, u64>("pong", &ctx.instance_id());
                let ping: u64 = ctx.wait_for_event("ping").await?;
                ctx.raise_event(&format!("{}:1:0", ctx.instance_id()), "pong", &(ping + 1))?;
                // An event to nobody is dropped without harm.
                ctx.raise_event("nobody", "pong", &0u64)?;
                child.await
            })
    };
    let run = run_both(registry, "ping", &()).await;
    assert_eq!(run.metadata.output::<u64>().ok().flatten(), Some(3));
    assert!(run.history.contains(&Event::EventSent {
        instance_id: "test:1:0".into(),
        name: "pong".into(),
        data: "2".into(),
    }));
    assert!(run.history.contains(&Event::EventRaised {
        name: "ping".into(),
        data: "1".into(),
    }));
}

/// root -> middle -> leaf, each waiting for an event that never comes.
fn tree() -> Registry {
    Registry::new()
        .orchestration("leaf", |ctx: OrchestrationContext, _: ()| async move {
            let never: u64 = ctx.wait_for_event("never").await?;
            Ok(never)
        })
        .orchestration("middle", |ctx: OrchestrationContext, _: ()| async move {
            let leaf: u64 = ctx.call_sub_orchestration("leaf", &()).await?;
            Ok(leaf)
        })
        .orchestration("root", |ctx: OrchestrationContext, _: ()| async move {
            let middle: u64 = ctx.call_sub_orchestration("middle", &()).await?;
            Ok(middle)
        })
        .orchestration("quick", |ctx: OrchestrationContext, _: ()| async move {
            let a: u64 = ctx.call_sub_orchestration("done", &1u64).await?;
            let b: u64 = ctx.call_sub_orchestration("done", &2u64).await?;
            Ok(a + b)
        })
        .orchestration(
            "done",
            |_ctx: OrchestrationContext, n: u64| async move { Ok(n) },
        )
}

/// Waits until root "r", its child and its grandchild all run (each parent's first commit
/// creates its child).
async fn wait_for_tree(client: &durable_core::Client) {
    for id in ["r", "r:1:0", "r:1:0:1:0"] {
        client.wait_for_start(id, LIMIT).await.expect("started");
    }
}

#[tokio::test(start_paused = true)]
async fn terminate_is_recursive() {
    for mode in [Mode::Cached, Mode::Evicted] {
        let harness = start(tree(), mode);
        let client = &harness.client;
        client.schedule("root", "r", &()).await.expect("schedule");
        wait_for_tree(client).await;
        client.terminate("r", "enough").await.expect("terminate");
        for id in ["r", "r:1:0", "r:1:0:1:0"] {
            let done = client.wait_for_completion(id, LIMIT).await.expect("done");
            assert_eq!(done.status, InstanceStatus::Terminated, "{id} in {mode:?}");
            assert_eq!(
                done.failure.as_ref().map(|failure| failure.kind),
                Some(FailureKind::Terminated)
            );
        }
        let leaf = client
            .metadata("r:1:0:1:0")
            .await
            .expect("metadata")
            .expect("exists");
        let reason = leaf
            .failure
            .map(|failure| failure.message)
            .unwrap_or_default();
        assert!(reason.contains("parent 'r:1:0' was terminated"), "{reason}");
        harness.worker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn purge_is_recursive_and_only_for_finished_instances() {
    let harness = start(tree(), Mode::Cached);
    let client = &harness.client;
    client.schedule("quick", "q", &()).await.expect("schedule");
    client.schedule("root", "r", &()).await.expect("schedule");
    let done = client.wait_for_completion("q", LIMIT).await.expect("done");
    assert_eq!(done.output::<u64>().ok().flatten(), Some(3));
    wait_for_tree(client).await;

    // A running instance is refused and nothing is deleted.
    let refused = client.purge("r").await;
    assert!(
        matches!(refused, Err(ClientError::NotFinished(ref id)) if id == "r"),
        "{refused:?}"
    );
    assert_eq!(
        client
            .list(&InstanceFilter::all())
            .await
            .expect("list")
            .len(),
        6
    );

    let purged = client.purge("q").await.expect("purge");
    assert_eq!(purged, vec!["q:1:0", "q:1:1", "q"]);
    for id in ["q", "q:1:0", "q:1:1"] {
        assert_eq!(client.metadata(id).await.expect("metadata"), None);
        assert!(client.history(id).await.expect("history").is_empty());
    }
    assert!(matches!(
        client.purge("q").await,
        Err(ClientError::NotFound(_))
    ));

    // Terminated recursively, the whole tree can then be purged.
    client.terminate("r", "cleanup").await.expect("terminate");
    client
        .wait_for_completion("r:1:0:1:0", LIMIT)
        .await
        .expect("leaf ends");
    let purged = client.purge("r").await.expect("purge");
    assert_eq!(purged, vec!["r:1:0:1:0", "r:1:0", "r"]);
    assert!(
        client
            .list(&InstanceFilter::all())
            .await
            .expect("list")
            .is_empty()
    );
    harness.worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_child_outlives_a_parent_that_stopped_waiting() {
    // The parent gives up on its child after a timer; the child finishes later and its
    // report to the finished parent is discarded.
    let registry = || {
        Registry::new()
            .orchestration("slow", |ctx: OrchestrationContext, _: ()| async move {
                ctx.create_timer(Duration::from_secs(60)).await?;
                Ok("late".to_owned())
            })
            .orchestration("impatient", |ctx: OrchestrationContext, _: ()| async move {
                let child = ctx.call_sub_orchestration::<_, String>("slow", &());
                let timer = ctx.create_timer(Duration::from_secs(10));
                match futures::future::select(child, timer).await {
                    futures::future::Either::Left((result, _)) => result,
                    futures::future::Either::Right(_) => Ok("gave up".to_owned()),
                }
            })
    };
    for mode in [Mode::Cached, Mode::Evicted] {
        let harness = start(registry(), mode);
        let client = &harness.client;
        client
            .schedule("impatient", "p", &())
            .await
            .expect("schedule");
        let done = client.wait_for_completion("p", LIMIT).await.expect("done");
        assert_eq!(
            done.output::<String>().ok().flatten().as_deref(),
            Some("gave up")
        );
        let child = client
            .wait_for_completion("p:1:0", LIMIT)
            .await
            .expect("child");
        assert_eq!(child.status, InstanceStatus::Completed);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = client
            .metadata("p")
            .await
            .expect("metadata")
            .expect("exists");
        assert_eq!(after, done, "the late report changed the parent");
        harness.worker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_that_continues_as_new_reports_at_its_end() {
    let registry = || {
        Registry::new()
            .orchestration("count", |ctx: OrchestrationContext, n: u64| async move {
                if n >= 3 {
                    return Ok(format!("{n} in execution {}", ctx.execution_id()));
                }
                ctx.create_timer(Duration::from_secs(1)).await?;
                ctx.continue_as_new(&(n + 1)).await
            })
            .orchestration("parent", |ctx: OrchestrationContext, _: ()| async move {
                let counted: String = ctx.call_sub_orchestration("count", &0u64).await?;
                Ok(counted)
            })
    };
    let run = run_both(registry, "parent", &()).await;
    assert_eq!(
        run.metadata.output::<String>().ok().flatten().as_deref(),
        Some("3 in execution 4")
    );
    let (child, _) = &run.instances[1];
    assert_eq!(child.execution_id, 4);
    assert_eq!(
        child.parent.as_ref().map(|parent| parent.task_id),
        Some(0),
        "the parent link survives continue-as-new"
    );
}
