use std::time::Duration;

use durable_core::{Event, InstanceStatus, OrchestrationContext, Registry};

use crate::common::{EPOCH_MS, LIMIT, Mode, run_both, start};

fn countdown() -> Registry {
    Registry::new().orchestration(
        "countdown",
        |ctx: OrchestrationContext, n: u64| async move {
            if n == 0 {
                return Ok(format!("done in execution {}", ctx.execution_id()));
            }
            ctx.create_timer(Duration::from_secs(1)).await?;
            ctx.set_custom_status(format!("{n} to go"));
            ctx.continue_as_new(&(n - 1)).await
        },
    )
}

#[tokio::test(start_paused = true)]
async fn each_execution_starts_a_fresh_history() {
    let run = run_both(countdown, "countdown", &3u64).await;
    assert_eq!(run.metadata.status, InstanceStatus::Completed);
    assert_eq!(run.metadata.execution_id, 4);
    assert_eq!(run.metadata.input, "0");
    // Custom status belongs to an execution: the last one set none.
    assert_eq!(run.metadata.custom_status, None);
    assert_eq!(
        run.metadata.output::<String>().ok().flatten().as_deref(),
        Some("done in execution 4")
    );
    // Only the last execution's history remains; three timers of a second each passed.
    assert_eq!(
        run.history,
        vec![
            Event::EpisodeStarted {
                timestamp_ms: EPOCH_MS + 3_000
            },
            Event::ExecutionStarted {
                format_version: durable_core::HISTORY_FORMAT_VERSION,
                name: "countdown".into(),
                input: "0".into(),
                execution_id: 4,
            },
            Event::ExecutionCompleted {
                output: "\"done in execution 4\"".into()
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn unconsumed_events_carry_over() {
    // Each execution consumes one "add" event. All three are raised before the first
    // execution runs, so two must carry over from execution to execution, in arrival order.
    let registry = || {
        Registry::new().orchestration(
            "sum",
            |ctx: OrchestrationContext, (seen, left): (Vec<u64>, u64)| async move {
                if left == 0 {
                    return Ok(seen);
                }
                let add: u64 = ctx.wait_for_event("add").await?;
                let mut seen = seen;
                seen.push(add);
                ctx.continue_as_new(&(seen, left - 1)).await
            },
        )
    };
    for mode in [Mode::Cached, Mode::Evicted] {
        let harness = start(registry(), mode);
        harness
            .client
            .schedule("sum", "x", &(Vec::<u64>::new(), 3u64))
            .await
            .expect("schedule");
        for add in [1u64, 10, 100] {
            harness
                .client
                .raise_event("x", "add", &add)
                .await
                .expect("raise");
        }
        let done = harness
            .client
            .wait_for_completion("x", LIMIT)
            .await
            .expect("done");
        assert_eq!(
            done.output::<Vec<u64>>().ok().flatten(),
            Some(vec![1, 10, 100]),
            "{mode:?}"
        );
        assert_eq!(done.execution_id, 4);
        harness.worker.shutdown().await;
    }
}
