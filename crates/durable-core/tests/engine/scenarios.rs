use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use durable_core::{
    ActivityContext, DurableFuture, Event, Failure, FailureKind, InstanceStatus,
    OrchestrationContext, Registry,
};
use futures::future::{Either, join_all, select};

use crate::common::{EPOCH_MS, count, run_both};

async fn greet(_ctx: ActivityContext, name: String) -> Result<String, Failure> {
    Ok(format!("Hello, {name}!"))
}

async fn double(_ctx: ActivityContext, n: u64) -> Result<u64, Failure> {
    Ok(n * 2)
}

async fn fail(_ctx: ActivityContext, message: String) -> Result<u64, Failure> {
    Err(Failure::application(message))
}

async fn explode(_ctx: ActivityContext, _: ()) -> Result<u64, Failure> {
    panic!("activity exploded")
}

fn activities() -> Registry {
    Registry::new()
        .activity("greet", greet)
        .activity("double", double)
        .activity("fail", fail)
        .activity("explode", explode)
}

#[tokio::test(start_paused = true)]
async fn one_activity() {
    let registry = || {
        activities().orchestration(
            "hello",
            |ctx: OrchestrationContext, name: String| async move {
                let greeting: String = ctx.call_activity("greet", &name).await?;
                Ok(greeting)
            },
        )
    };
    let run = run_both(registry, "hello", "ada").await;
    assert_eq!(run.metadata.status, InstanceStatus::Completed);
    assert_eq!(
        run.metadata.output::<String>().ok().flatten().as_deref(),
        Some("Hello, ada!")
    );
    assert_eq!(
        run.history,
        vec![
            Event::EpisodeStarted {
                timestamp_ms: EPOCH_MS
            },
            Event::ExecutionStarted {
                format_version: durable_core::HISTORY_FORMAT_VERSION,
                name: "hello".into(),
                input: "\"ada\"".into(),
                execution_id: 1,
            },
            Event::ActivityScheduled {
                task_id: 0,
                name: "greet".into(),
                input: "\"ada\"".into(),
                options: durable_core::ActivityOptions::default(),
            },
            Event::EpisodeStarted {
                timestamp_ms: EPOCH_MS
            },
            Event::ActivityCompleted {
                task_id: 0,
                output: "\"Hello, ada!\"".into(),
            },
            Event::ExecutionCompleted {
                output: "\"Hello, ada!\"".into(),
            },
        ]
    );
    assert_eq!(run.metadata.history_len, 6);
}

#[tokio::test(start_paused = true)]
async fn sequence_of_activities() {
    let registry = || {
        activities().orchestration(
            "chain",
            |ctx: OrchestrationContext, steps: u64| async move {
                let mut value = 1u64;
                for _ in 0..steps {
                    value = ctx.call_activity("double", &value).await?;
                }
                Ok(value)
            },
        )
    };
    let run = run_both(registry, "chain", &10u64).await;
    assert_eq!(run.metadata.output::<u64>().ok().flatten(), Some(1024));
    assert_eq!(count(&run.history, "ActivityScheduled"), 10);
    assert_eq!(count(&run.history, "EpisodeStarted"), 11);
}

#[tokio::test(start_paused = true)]
async fn fan_out_fan_in() {
    let registry = || {
        activities().orchestration("fan", |ctx: OrchestrationContext, width: u64| async move {
            let calls: Vec<DurableFuture<u64>> = (0..width)
                .map(|n| ctx.call_activity("double", &n))
                .collect();
            let results = join_all(calls).await;
            let mut sum = 0;
            for result in results {
                sum += result?;
            }
            Ok(sum)
        })
    };
    let run = run_both(registry, "fan", &50u64).await;
    assert_eq!(
        run.metadata.output::<u64>().ok().flatten(),
        Some(2 * (0..50).sum::<u64>())
    );
    assert_eq!(count(&run.history, "ActivityScheduled"), 50);
    assert_eq!(count(&run.history, "ActivityCompleted"), 50);
    // All fifty are scheduled in the first episode, before any completes.
    let first_completion = run
        .history
        .iter()
        .position(|event| event.kind_name() == "ActivityCompleted")
        .unwrap_or(0);
    assert_eq!(
        count(&run.history[..first_completion], "ActivityScheduled"),
        50
    );
}

#[tokio::test(start_paused = true)]
async fn durable_timer_moves_orchestration_time() {
    let registry = || {
        Registry::new().orchestration("sleep", |ctx: OrchestrationContext, secs: u64| async move {
            let before = ctx.current_time_ms();
            ctx.create_timer(Duration::from_secs(secs)).await?;
            Ok(ctx.current_time_ms() - before)
        })
    };
    let run = run_both(registry, "sleep", &3600u64).await;
    assert_eq!(run.metadata.output::<u64>().ok().flatten(), Some(3_600_000));
    assert!(run.history.contains(&Event::TimerFired {
        task_id: 0,
        fire_at_ms: EPOCH_MS + 3_600_000
    }));
}

#[tokio::test(start_paused = true)]
async fn select_takes_the_first_in_history_order() {
    // The activity completes at once; the timer fires an hour later. The loser's completion
    // is discarded, not recorded.
    let registry = || {
        activities().orchestration("race", |ctx: OrchestrationContext, _: ()| async move {
            let work = ctx.call_activity::<_, u64>("double", &21u64);
            let timer = ctx.create_timer(Duration::from_secs(3600));
            match select(work, timer).await {
                Either::Left((value, _)) => Ok(format!("activity {}", value?)),
                Either::Right(_) => Ok("timer".to_owned()),
            }
        })
    };
    let run = run_both(registry, "race", &()).await;
    assert_eq!(
        run.metadata.output::<String>().ok().flatten().as_deref(),
        Some("activity 42")
    );
    assert_eq!(count(&run.history, "TimerFired"), 0);
}

#[tokio::test(start_paused = true)]
async fn activity_failures_reach_the_orchestration() {
    let registry = || {
        activities().orchestration("tolerant", |ctx: OrchestrationContext, _: ()| async move {
            let failed = ctx.call_activity::<_, u64>("fail", "no disk").await;
            let panicked = ctx.call_activity::<_, u64>("explode", &()).await;
            let (Err(failed), Err(panicked)) = (failed, panicked) else {
                return Err(Failure::application("expected two failures"));
            };
            Ok((failed, panicked))
        })
    };
    let run = run_both(registry, "tolerant", &()).await;
    let (failed, panicked): (Failure, Failure) =
        run.metadata.output().ok().flatten().expect("an output");
    assert_eq!(failed, Failure::application("no disk"));
    assert_eq!(panicked.kind, FailureKind::Panicked);
    assert!(
        panicked
            .message
            .contains("activity 'explode' panicked: activity exploded"),
        "{}",
        panicked.message
    );
}

#[tokio::test(start_paused = true)]
async fn unhandled_activity_failure_fails_the_orchestration() {
    let registry = || {
        activities().orchestration("strict", |ctx: OrchestrationContext, _: ()| async move {
            let value: u64 = ctx.call_activity("fail", "bad input").await?;
            Ok(value)
        })
    };
    let run = run_both(registry, "strict", &()).await;
    assert_eq!(run.metadata.status, InstanceStatus::Failed);
    assert_eq!(
        run.metadata.failure,
        Some(Failure::application("bad input"))
    );
}

#[tokio::test(start_paused = true)]
async fn orchestration_panic_fails_the_instance() {
    let registry = || {
        activities().orchestration("panicky", |ctx: OrchestrationContext, _: ()| async move {
            let value: u64 = ctx.call_activity("double", &1u64).await?;
            if value == 2 {
                panic!("orchestration exploded");
            }
            Ok(value)
        })
    };
    let run = run_both(registry, "panicky", &()).await;
    assert_eq!(run.metadata.status, InstanceStatus::Failed);
    let failure = run.metadata.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Panicked);
    assert!(failure.message.contains("orchestration exploded"));
}

#[tokio::test(start_paused = true)]
async fn unregistered_names_fail_clearly() {
    let registry = || {
        Registry::new().orchestration("lost", |ctx: OrchestrationContext, _: ()| async move {
            let value: u64 = ctx.call_activity("nowhere", &()).await?;
            Ok(value)
        })
    };
    let run = run_both(registry, "lost", &()).await;
    let failure = run.metadata.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Unregistered);
    assert!(failure.message.contains("'nowhere'"));

    let (run, _) =
        crate::common::run_once(Registry::new(), crate::common::Mode::Cached, "missing", &()).await;
    let failure = run.metadata.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Unregistered);
    assert!(failure.message.contains("'missing'"));
}

#[tokio::test(start_paused = true)]
async fn bad_input_fails_with_a_serialization_failure() {
    let registry = || {
        Registry::new().orchestration("typed", |_ctx: OrchestrationContext, n: u64| async move {
            Ok(n)
        })
    };
    let run = run_both(registry, "typed", "not a number").await;
    let failure = run.metadata.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Serialization);
    assert!(failure.message.contains("input of orchestration 'typed'"));
}

#[tokio::test(start_paused = true)]
async fn custom_status_and_uuids_are_deterministic() {
    let registry = || {
        activities().orchestration("status", |ctx: OrchestrationContext, _: ()| async move {
            let first = ctx.new_uuid();
            ctx.set_custom_status("step 1");
            let _: u64 = ctx.call_activity("double", &first.len()).await?;
            let second = ctx.new_uuid();
            ctx.set_custom_status(format!("step 2 {second}"));
            Ok(vec![first, second])
        })
    };
    let run = run_both(registry, "status", &()).await;
    let uuids: Vec<String> = run.metadata.output().ok().flatten().expect("uuids");
    assert_eq!(uuids.len(), 2);
    assert_ne!(uuids[0], uuids[1]);
    assert_eq!(
        run.metadata.custom_status,
        Some(format!("step 2 {}", uuids[1]))
    );
}

#[tokio::test(start_paused = true)]
async fn is_replaying_is_false_exactly_once_per_step() {
    // Code guarded by `!is_replaying()` runs once per step in both modes, although the
    // evicted mode re-executes every earlier step on each episode.
    let live_steps = Arc::new(AtomicUsize::new(0));
    let all_steps = Arc::new(AtomicUsize::new(0));
    let registry = {
        let live_steps = Arc::clone(&live_steps);
        let all_steps = Arc::clone(&all_steps);
        move || {
            let live_steps = Arc::clone(&live_steps);
            let all_steps = Arc::clone(&all_steps);
            activities().orchestration("observe", move |ctx: OrchestrationContext, _: ()| {
                let live_steps = Arc::clone(&live_steps);
                let all_steps = Arc::clone(&all_steps);
                async move {
                    for n in 0..3u64 {
                        let _: u64 = ctx.call_activity("double", &n).await?;
                        all_steps.fetch_add(1, Ordering::SeqCst);
                        if !ctx.is_replaying() {
                            live_steps.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Ok(())
                }
            })
        }
    };
    run_both(registry, "observe", &()).await;
    // Cached: 3 steps. Evicted: 3 live steps plus replays of 0+1+2 earlier ones.
    assert_eq!(live_steps.load(Ordering::SeqCst), 6);
    assert_eq!(all_steps.load(Ordering::SeqCst), 3 + 3 + (1 + 2));
}

#[tokio::test(start_paused = true)]
async fn events_are_matched_to_waiters_in_order() {
    // Two events raised before anyone waits are buffered and handed out oldest first.
    let registry = || {
        Registry::new().orchestration("events", |ctx: OrchestrationContext, _: ()| async move {
            ctx.create_timer(Duration::from_secs(10)).await?;
            let first: String = ctx.wait_for_event("e").await?;
            let second: String = ctx.wait_for_event("e").await?;
            Ok(vec![first, second])
        })
    };
    for mode in [crate::common::Mode::Cached, crate::common::Mode::Evicted] {
        let harness = crate::common::start(registry(), mode);
        harness
            .client
            .schedule("events", "test", &())
            .await
            .expect("schedule");
        harness
            .client
            .raise_event("test", "e", "one")
            .await
            .expect("raise");
        harness
            .client
            .raise_event("test", "e", "two")
            .await
            .expect("raise");
        let metadata = harness
            .client
            .wait_for_completion("test", crate::common::LIMIT)
            .await
            .expect("completion");
        assert_eq!(
            metadata.output::<Vec<String>>().ok().flatten(),
            Some(vec!["one".to_owned(), "two".to_owned()])
        );
        harness.worker.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn wait_for_event_times_out_on_a_durable_timer() {
    let registry = || {
        Registry::new().orchestration("patient", |ctx: OrchestrationContext, _: ()| async move {
            match ctx
                .wait_for_event_timeout::<String>("never", Duration::from_secs(60))
                .await
            {
                Ok(data) => Ok(data),
                Err(failure) if failure.kind == FailureKind::Timeout => Ok(failure.message),
                Err(failure) => Err(failure),
            }
        })
    };
    let run = run_both(registry, "patient", &()).await;
    assert_eq!(
        run.metadata.output::<String>().ok().flatten().as_deref(),
        Some("no event 'never' within 60s")
    );
    assert_eq!(run.metadata.updated_at_ms, EPOCH_MS + 60_000);
}

#[tokio::test(start_paused = true)]
async fn an_event_handed_to_a_dropped_waiter_is_not_lost() {
    // Both events arrive in one episode: "a" and "b" go to the two waiters, `select` takes
    // "a" (it polls its left side first) and drops the "b" waiter; "b" goes back to the
    // buffer for the next wait (if it were lost, that wait would never end).
    let registry = || {
        Registry::new().orchestration("pick", |ctx: OrchestrationContext, _: ()| async move {
            let me = ctx.instance_id();
            ctx.raise_event(&me, "b", &2u32)?;
            ctx.raise_event(&me, "a", &1u32)?;
            let a = ctx.wait_for_event::<u32>("a");
            let b = ctx.wait_for_event::<u32>("b");
            let first = match select(a, b).await {
                Either::Left((value, _)) => ("a", value?),
                Either::Right((value, _)) => ("b", value?),
            };
            let b: u32 = ctx.wait_for_event("b").await?;
            Ok((first, b))
        })
    };
    let run = run_both(registry, "pick", &()).await;
    assert_eq!(
        run.metadata.output::<((String, u32), u32)>().ok().flatten(),
        Some((("a".to_owned(), 1), 2)),
    );
}
