//! Property test: random orchestration programs give the same outputs and the same histories
//! whether they run uninterrupted, or with the worker crashing before random commits and the
//! in-memory state evicted at random episodes (rebuilt by replaying history).
//!
//! The runs are driven by a deterministic single-threaded driver over the real engine pieces
//! (`Execution`, the worker's `episode_commit`, `MemoryBackend`): every run sees the same
//! messages in the same order at the same (paused) times, so any difference in the histories
//! can only come from replay, the cache or the crash recovery.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{Either, join_all, select};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::activity::{ActivityContext, Invocation};
use crate::backend::{Backend, IdReusePolicy, NewInstance, NewMessage};
use crate::clock::Clock;
use crate::episode::episode_commit;
use crate::failure::Failure;
use crate::history::{Event, HISTORY_FORMAT_VERSION};
use crate::memory::MemoryBackend;
use crate::metadata::{InstanceFilter, InstanceMetadata};
use crate::registry::{BoxFuture, Registry};
use crate::replay::Execution;
use crate::retry::RetryPolicy;
use crate::{InstanceStatus, OrchestrationContext};

/// One step of a generated orchestration program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Step {
    /// An activity; fails when its input is a multiple of 7.
    Activity(u32),
    /// An activity retried up to 3 times; each attempt fails or not by its task id.
    Retry(u32),
    /// Activities in parallel.
    FanOut(Vec<u32>),
    /// A durable timer.
    Timer(u16),
    /// Sends the event to itself and waits for it.
    SelfEvent(u8),
    /// Waits for an event the client raised before the run.
    External,
    /// An activity raced against a timer.
    Race(u32, u16),
    /// A sub-orchestration running these steps.
    Sub(Vec<Step>),
    /// Sub-orchestrations in parallel.
    SubFanOut(Vec<Vec<Step>>),
    /// Fails the program.
    Fail,
}

const SECOND: Duration = Duration::from_secs(1);

fn run_steps(
    ctx: OrchestrationContext,
    steps: Vec<Step>,
) -> BoxFuture<Result<Vec<String>, Failure>> {
    Box::pin(async move {
        let mut log = Vec::new();
        for step in steps {
            match step {
                Step::Activity(n) => {
                    log.push(outcome(ctx.call_activity::<_, u32>("work", &n).await))
                }
                Step::Retry(n) => {
                    let policy = RetryPolicy::new(3).first_interval(SECOND);
                    let result = ctx
                        .call_activity_with_retry::<_, u32>("flaky", &n, policy)
                        .await;
                    log.push(outcome(result));
                }
                Step::FanOut(inputs) => {
                    let calls = inputs
                        .iter()
                        .map(|n| ctx.call_activity::<_, u32>("work", n));
                    for result in join_all(calls).await {
                        log.push(outcome(result));
                    }
                }
                Step::Timer(secs) => {
                    ctx.create_timer(SECOND * u32::from(secs)).await?;
                    log.push(format!("timer at {}", ctx.current_time_ms()));
                }
                Step::SelfEvent(k) => {
                    let name = format!("e{k}");
                    ctx.raise_event(&ctx.instance_id(), &name, &k)?;
                    let got: u8 = ctx.wait_for_event(&name).await?;
                    log.push(format!("event {got}"));
                }
                Step::External => {
                    let got: u32 = ctx.wait_for_event("ext").await?;
                    log.push(format!("external {got}"));
                }
                Step::Race(n, secs) => {
                    let work = ctx.call_activity::<_, u32>("work", &n);
                    let timer = ctx.create_timer(SECOND * u32::from(secs));
                    match select(work, timer).await {
                        Either::Left((result, _)) => log.push(format!("won {}", outcome(result))),
                        Either::Right(_) => log.push("timed out".to_owned()),
                    }
                }
                Step::Sub(steps) => {
                    let result = ctx
                        .call_sub_orchestration::<_, Vec<String>>("prog", &steps)
                        .await;
                    log.push(outcome(result.map(|inner| inner.join(","))));
                }
                Step::SubFanOut(programs) => {
                    let calls = programs
                        .iter()
                        .map(|steps| ctx.call_sub_orchestration::<_, Vec<String>>("prog", steps));
                    for result in join_all(calls).await {
                        log.push(outcome(result.map(|inner| inner.join(","))));
                    }
                }
                Step::Fail => return Err(Failure::application(format!("failed after {log:?}"))),
            }
        }
        Ok(log)
    })
}

fn outcome<T: std::fmt::Display>(result: Result<T, Failure>) -> String {
    match result {
        Ok(value) => format!("ok {value}"),
        Err(failure) => format!("err {failure}"),
    }
}

/// A deterministic hash of an activity call, for the "flaky" activity.
fn coin(instance_id: &str, task_id: u64) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in instance_id.bytes().chain(task_id.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash.is_multiple_of(3)
}

fn registry() -> Registry {
    Registry::new()
        .activity("work", |_ctx: ActivityContext, n: u32| async move {
            if n.is_multiple_of(7) {
                Err(Failure::application(format!("{n} is a multiple of 7")))
            } else {
                Ok(n * 2)
            }
        })
        .activity("flaky", |ctx: ActivityContext, n: u32| async move {
            if coin(ctx.instance_id(), ctx.task_id()) {
                Err(Failure::application(format!("flaky {n} failed")))
            } else {
                Ok(n + 1)
            }
        })
        .orchestration("prog", run_steps)
}

/// Where a disrupted run crashes and evicts, counted in orchestration episode attempts.
#[derive(Debug, Clone, Default)]
struct Disruptions {
    /// The worker dies after computing the episode, before committing it.
    crash_before_commit: BTreeSet<usize>,
    /// The cached execution is gone (eviction or a restart) when the episode starts.
    evict: BTreeSet<usize>,
}

/// Everything a run leaves: every instance's metadata and history, ordered by id.
type Outcome = Vec<(InstanceMetadata, Vec<Event>)>;

const LEASE: Duration = Duration::from_secs(60);
const EPOCH_MS: u64 = 1_700_000_000_000;

async fn run(program: &[Step], externals: u32, disruptions: &Disruptions) -> Outcome {
    let backend = Arc::new(MemoryBackend::with_clock(Clock::starting_at(EPOCH_MS)));
    let registry = Arc::new(registry());
    let input = serde_json::to_string(program).unwrap_or_default();
    backend
        .create_instance(NewInstance {
            instance_id: "root".to_owned(),
            name: "prog".to_owned(),
            input: input.clone(),
            execution_id: 1,
            start: Event::ExecutionStarted {
                format_version: HISTORY_FORMAT_VERSION,
                name: "prog".to_owned(),
                input,
                execution_id: 1,
            },
            start_at_ms: None,
            parent: None,
            reuse: IdReusePolicy::Refuse,
        })
        .await
        .expect("create");
    for n in 0..externals {
        backend
            .send_message(NewMessage {
                instance_id: "root".to_owned(),
                execution_id: None,
                event: Event::EventRaised {
                    name: "ext".to_owned(),
                    data: n.to_string(),
                },
                visible_at_ms: None,
            })
            .await
            .expect("raise");
    }
    let mut cache: HashMap<String, Execution> = HashMap::new();
    let mut attempt = 0;
    loop {
        // All visible activities first, then one episode: the same order in every run.
        while let Some(item) = backend
            .fetch_activity(LEASE, Duration::ZERO)
            .await
            .expect("fetch")
        {
            let function = registry.activity_fn(&item.work.name).expect("registered");
            let (_cancel, cancelled) = watch::channel(false);
            let context = ActivityContext::new(
                Invocation {
                    instance_id: item.work.instance_id.clone(),
                    execution_id: item.work.execution_id,
                    task_id: item.work.task_id,
                    name: item.work.name.clone(),
                    attempt: item.lease.attempt,
                },
                Arc::new(std::sync::Mutex::new(tokio::time::Instant::now())),
                cancelled,
            );
            let event = match function(context, item.work.input.clone()).await {
                Ok(output) => Event::ActivityCompleted {
                    task_id: item.work.task_id,
                    output,
                },
                Err(failure) => Event::ActivityFailed {
                    task_id: item.work.task_id,
                    failure,
                },
            };
            let completion = NewMessage {
                instance_id: item.work.instance_id.clone(),
                execution_id: Some(item.work.execution_id),
                event,
                visible_at_ms: None,
            };
            backend
                .ack_activity(item.id, item.lease.token, &completion)
                .await
                .expect("ack activity");
        }
        // Waits (in paused time) for the next timer when nothing else is visible.
        let Some(item) = backend
            .fetch_orchestration(LEASE, Duration::from_secs(365 * 86_400))
            .await
            .expect("fetch")
        else {
            break;
        };
        let instance = &item.instance;
        let id = instance.instance_id.clone();
        if instance.status.is_terminal() {
            backend
                .ack_orchestration(&id, item.lease.token, &Default::default())
                .await
                .expect("ack");
            continue;
        }
        let cached = cache.remove(&id).filter(|execution| {
            !disruptions.evict.contains(&attempt)
                && execution.incarnation() == instance.incarnation
                && execution.execution_id() == instance.execution_id
                && execution.history_len() == instance.history_len
        });
        let mut execution = match cached {
            Some(execution) => execution,
            None => {
                let history = backend.read_history(&id).await.expect("history");
                Execution::from_history(
                    Arc::clone(&registry),
                    id.clone(),
                    instance.execution_id,
                    &history,
                )
                .in_incarnation(instance.incarnation)
            }
        };
        let commit = episode_commit(&item, &mut execution);
        let crashed = disruptions.crash_before_commit.contains(&attempt);
        attempt += 1;
        if crashed {
            // The worker died: its state and its commit are gone; the episode is redone.
            drop(execution);
            backend
                .abandon_orchestration(&id, item.lease.token, Duration::ZERO)
                .await
                .expect("abandon");
            continue;
        }
        backend
            .ack_orchestration(&id, item.lease.token, &commit)
            .await
            .expect("ack");
        if execution.outcome().is_none() {
            cache.insert(id, execution);
        }
    }
    let mut all = Vec::new();
    for mut metadata in backend
        .list_instances(&InstanceFilter::all())
        .await
        .expect("list")
    {
        // Drawn from the counter that also makes lease tokens: crashes take more of them.
        metadata.incarnation = 0;
        let history = backend
            .read_history(&metadata.instance_id)
            .await
            .expect("history");
        all.push((metadata, history));
    }
    all
}

fn leaf_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u32..30).prop_map(Step::Activity),
        2 => (1u32..30).prop_map(Step::Retry),
        2 => prop::collection::vec(1u32..30, 1..5).prop_map(Step::FanOut),
        2 => (1u16..120).prop_map(Step::Timer),
        1 => (0u8..3).prop_map(Step::SelfEvent),
        1 => ((1u32..30), (0u16..3)).prop_map(|(n, secs)| Step::Race(n, secs)),
        1 => Just(Step::Fail),
    ]
}

/// Steps of a program nested `depth` levels deep (sub-orchestrations only above 0).
fn steps(depth: u32) -> BoxedStrategy<Vec<Step>> {
    let leaf = leaf_step().boxed();
    let step = if depth == 0 {
        leaf
    } else {
        prop_oneof![
            6 => leaf,
            1 => steps(depth - 1).prop_map(Step::Sub),
            1 => prop::collection::vec(steps(depth - 1), 1..3).prop_map(Step::SubFanOut),
        ]
        .boxed()
    };
    prop::collection::vec(step, 0..6).boxed()
}

fn root_program() -> impl Strategy<Value = Vec<Step>> {
    (
        steps(2),
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
    )
        .prop_map(|(mut program, externals)| {
            // Waits for client-raised events, at random places of the root program.
            for index in externals {
                let at = index.index(program.len() + 1);
                program.insert(at, Step::External);
            }
            program
        })
}

fn disruptions() -> impl Strategy<Value = Disruptions> {
    (
        prop::collection::btree_set(0usize..60, 0..12),
        prop::collection::btree_set(0usize..60, 0..12),
    )
        .prop_map(|(crash_before_commit, evict)| Disruptions {
            crash_before_commit,
            evict,
        })
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(future)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn crashes_and_evictions_change_nothing(
        program in root_program(),
        disruptions in disruptions(),
    ) {
        let externals = program.iter().filter(|step| **step == Step::External).count() as u32;
        let (calm, disrupted) = block_on(async {
            let calm = run(&program, externals, &Disruptions::default()).await;
            let disrupted = run(&program, externals, &disruptions).await;
            (calm, disrupted)
        });
        // The uninterrupted run finished every instance.
        prop_assert!(!calm.is_empty());
        for (metadata, _) in &calm {
            prop_assert!(metadata.status.is_terminal(), "{metadata:?}");
            prop_assert!(
                metadata.failure.as_ref().is_none_or(|failure| failure.message.starts_with("failed after")),
                "{metadata:?}"
            );
        }
        prop_assert_eq!(calm, disrupted);
    }
}

/// Every path through the driver is taken: the generator makes sub-orchestrations, and a
/// crash really forces a rebuild from history.
#[test]
fn the_driver_rebuilds_after_a_crash() {
    let program = vec![
        Step::Activity(3),
        Step::Sub(vec![Step::Timer(5), Step::Retry(4)]),
        Step::SelfEvent(1),
        Step::External,
        Step::Race(5, 1),
    ];
    let all: BTreeSet<usize> = (0..40).collect();
    let crashing = Disruptions {
        crash_before_commit: (0..40).filter(|n| n % 2 == 0).collect(),
        evict: all,
    };
    let (calm, disrupted) = block_on(async {
        (
            run(&program, 1, &Disruptions::default()).await,
            run(&program, 1, &crashing).await,
        )
    });
    assert_eq!(calm.len(), 2, "root and one sub-orchestration");
    assert_eq!(calm[0].0.status, InstanceStatus::Completed);
    let log: Vec<String> = calm[0].0.output().ok().flatten().unwrap_or_default();
    assert_eq!(log[0], "ok 6");
    assert_eq!(log[2], "event 1");
    assert_eq!(log[3], "external 0");
    assert_eq!(calm, disrupted);
}
