//! The replay engine: runs an orchestration's code episode by episode, either live (new
//! inputs, new outputs recorded) or by replaying recorded episodes and checking that the code
//! makes the same calls.
//!
//! An `Execution` is the in-memory state of one running orchestration: its suspended future
//! and its context. The runtime keeps it cached between episodes, so each episode costs only
//! its own events; after eviction or a restart it is rebuilt by replaying the history once.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::task::{ArcWake, waker};

use crate::context::{ContextState, OrchestrationContext, lock};
use crate::failure::{Failure, FailureKind};
use crate::history::{Event, HISTORY_FORMAT_VERSION};
use crate::payload;
use crate::registry::{BoxFuture, Registry};

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed(String),
    Failed(Failure),
    /// Ended to start a new execution with this JSON input.
    ContinuedAsNew(String),
    Terminated(String),
}

/// A running orchestration execution.
pub(crate) struct Execution {
    /// The `InstanceMetadata::incarnation` of the instance this execution belongs to.
    incarnation: u64,
    execution_id: u64,
    registry: Arc<Registry>,
    state: Arc<Mutex<ContextState>>,
    future: Option<BoxFuture<Result<String, Failure>>>,
    started: bool,
    outcome: Option<Outcome>,
    /// A replay divergence found while rebuilding; recorded by the next live episode.
    replay_failure: Option<Failure>,
    /// Events of the stored history this execution has consumed.
    history_len: u64,
    /// Suspended by a client: inputs are held back and the code is not run.
    suspended: bool,
    /// Inputs received while suspended, delivered in order on resumption.
    held: Vec<Event>,
}

/// More consecutive self-wakes than this in one episode means the code spins without waiting
/// on durable work; fail it rather than hang the worker.
const MAX_POLLS_PER_EPISODE: usize = 100_000;

struct FlagWaker(AtomicBool);

impl ArcWake for FlagWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}

impl Execution {
    pub(crate) fn new(registry: Arc<Registry>, instance_id: String, execution_id: u64) -> Self {
        Execution {
            incarnation: 0,
            execution_id,
            registry,
            state: Arc::new(Mutex::new(ContextState::new(instance_id, execution_id))),
            future: None,
            started: false,
            outcome: None,
            replay_failure: None,
            history_len: 0,
            suspended: false,
            held: Vec::new(),
        }
    }

    /// Rebuilds an execution from its recorded history. A divergence does not fail here: it
    /// is remembered and recorded as the execution's failure by the next live episode.
    pub(crate) fn from_history(
        registry: Arc<Registry>,
        instance_id: String,
        execution_id: u64,
        history: &[Event],
    ) -> Self {
        let mut execution = Execution::new(registry, instance_id, execution_id);
        if let Err(failure) = execution.replay(history) {
            execution.replay_failure = Some(failure);
        }
        execution.history_len = history.len() as u64;
        execution
    }

    /// Marks the execution as belonging to this incarnation of its instance id.
    pub(crate) fn in_incarnation(mut self, incarnation: u64) -> Self {
        self.incarnation = incarnation;
        self
    }

    pub(crate) fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub(crate) fn execution_id(&self) -> u64 {
        self.execution_id
    }

    pub(crate) fn history_len(&self) -> u64 {
        self.history_len
    }

    pub(crate) fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Raised events received but never consumed, oldest first (carried over by
    /// continue-as-new).
    pub(crate) fn take_buffered_events(&self) -> Vec<(String, String)> {
        lock(&self.state).take_buffered_events()
    }

    pub(crate) fn is_suspended(&self) -> bool {
        self.suspended
    }

    /// Sub-orchestrations started and not yet reported back (terminated with this one).
    pub(crate) fn open_children(&self) -> Vec<String> {
        lock(&self.state).open_children()
    }

    pub(crate) fn custom_status(&self) -> Option<String> {
        lock(&self.state).custom_status.clone()
    }

    /// Runs one live episode at `now_ms` with the given new messages (in arrival order) and
    /// returns the events to append to history: `EpisodeStarted`, the accepted inputs, and the
    /// outputs the code produced.
    pub(crate) fn run_episode(&mut self, now_ms: u64, mut messages: Vec<Event>) -> Vec<Event> {
        lock(&self.state).replaying = false;
        let episode_start = Event::EpisodeStarted {
            timestamp_ms: now_ms,
        };
        let mut delta = vec![episode_start.clone()];
        let _ = self.apply_input(&episode_start);
        if let Some(failure) = self.replay_failure.take() {
            self.finish_failed(failure, &mut delta);
            self.history_len += delta.len() as u64;
            return delta;
        }
        if !self.started {
            // The start must be the first input even if other messages overtook it.
            messages.sort_by_key(|event| !matches!(event, Event::ExecutionStarted { .. }));
        }
        for message in messages {
            if self.outcome.is_some() {
                // Not recorded, but a child's report still tells which children exist: one
                // that could not be created is someone else's instance, not a child to
                // terminate along with this one.
                lock(&self.state).forget_reported_child(&message);
                continue;
            }
            if !self.accepts(&message) {
                tracing::debug!(event = message.describe(), "discarding message");
                continue;
            }
            let applied = self.apply_input(&message);
            delta.push(message);
            if let Err(failure) = applied {
                self.finish_failed(failure, &mut delta);
            }
        }
        delta.extend(self.step());
        self.history_len += delta.len() as u64;
        delta
    }

    fn finish_failed(&mut self, failure: Failure, delta: &mut Vec<Event>) {
        self.future = None;
        delta.push(Event::ExecutionFailed {
            failure: failure.clone(),
        });
        self.outcome = Some(Outcome::Failed(failure));
    }

    fn accepts(&self, event: &Event) -> bool {
        match event {
            Event::ExecutionStarted { .. } => !self.started,
            Event::ExecutionTerminated { .. }
            | Event::ExecutionSuspended { .. }
            | Event::ExecutionResumed { .. } => true,
            _ => lock(&self.state).accepts(event),
        }
    }

    /// Feeds one input event to the execution.
    fn apply_input(&mut self, event: &Event) -> Result<(), Failure> {
        match event {
            Event::EpisodeStarted { timestamp_ms } => lock(&self.state).set_now(*timestamp_ms),
            Event::ExecutionStarted {
                format_version,
                name,
                input,
                ..
            } => {
                self.started = true;
                if *format_version > HISTORY_FORMAT_VERSION {
                    return Err(Failure::new(
                        FailureKind::UnsupportedFormat,
                        format!(
                            "history format {format_version} is newer than this engine's {HISTORY_FORMAT_VERSION}"
                        ),
                    ));
                }
                let function = self.registry.orchestration_fn(name).ok_or_else(|| {
                    Failure::new(
                        FailureKind::Unregistered,
                        format!("no orchestration is registered as '{name}'"),
                    )
                })?;
                let context = OrchestrationContext::new(Arc::clone(&self.state));
                self.future = Some(function(context, input.clone()));
            }
            Event::ExecutionTerminated { reason } => {
                self.future = None;
                self.outcome = Some(Outcome::Terminated(reason.clone()));
            }
            Event::ExecutionSuspended { .. } => self.suspended = true,
            Event::ExecutionResumed { .. } => {
                self.suspended = false;
                for held in std::mem::take(&mut self.held) {
                    self.deliver(&held);
                }
            }
            other if self.suspended => self.held.push(other.clone()),
            other => self.deliver(other),
        }
        Ok(())
    }

    fn deliver(&self, event: &Event) {
        let waker = lock(&self.state).deliver(event);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Polls the code until it waits on durable work; returns the output events it produced.
    fn step(&mut self) -> Vec<Event> {
        if self.suspended {
            return Vec::new();
        }
        let Some(future) = self.future.as_mut() else {
            return Vec::new();
        };
        let flag = Arc::new(FlagWaker(AtomicBool::new(false)));
        let waker = waker(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        let mut finished = None;
        for _ in 0..MAX_POLLS_PER_EPISODE {
            flag.0.store(false, Ordering::SeqCst);
            match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
                Err(payload) => {
                    finished = Some(Err(Failure::from_panic("orchestration", payload.as_ref())));
                    break;
                }
                Ok(Poll::Ready(result)) => {
                    finished = Some(result);
                    break;
                }
                Ok(Poll::Pending) if flag.0.load(Ordering::SeqCst) => {}
                Ok(Poll::Pending) => break,
            }
        }
        if finished.is_none() && flag.0.load(Ordering::SeqCst) {
            finished = Some(Err(Failure::application(
                "orchestration keeps waking itself without waiting on durable work",
            )));
        }
        let mut outputs = std::mem::take(&mut lock(&self.state).outputs);
        let continued = outputs.iter().find_map(|event| match event {
            Event::ContinuedAsNew { input } => Some(input.clone()),
            _ => None,
        });
        if let Some(input) = continued {
            // Continue-as-new ends the execution even if the code went on and returned;
            // nothing after the first one belongs to this execution.
            let end = outputs
                .iter()
                .position(|event| matches!(event, Event::ContinuedAsNew { .. }))
                .map_or(outputs.len(), |index| index + 1);
            outputs.truncate(end);
            self.future = None;
            self.outcome = Some(Outcome::ContinuedAsNew(input));
            return outputs;
        }
        match finished {
            None => {}
            Some(Ok(output)) => {
                self.future = None;
                outputs.push(Event::ExecutionCompleted {
                    output: output.clone(),
                });
                self.outcome = Some(Outcome::Completed(output));
            }
            Some(Err(failure)) => self.finish_failed(failure, &mut outputs),
        }
        outputs
    }

    /// Replays recorded episodes, checking each episode's outputs against what the code does.
    fn replay(&mut self, history: &[Event]) -> Result<(), Failure> {
        lock(&self.state).replaying = true;
        let mut start = 0;
        while start < history.len() {
            let end = history[start + 1..]
                .iter()
                .position(|event| matches!(event, Event::EpisodeStarted { .. }))
                .map_or(history.len(), |offset| start + 1 + offset);
            self.replay_episode(&history[start..end], start)?;
            start = end;
        }
        Ok(())
    }

    fn replay_episode(&mut self, episode: &[Event], offset: usize) -> Result<(), Failure> {
        let split = episode
            .iter()
            .position(Event::is_output)
            .unwrap_or(episode.len());
        for event in &episode[..split] {
            self.apply_input(event)?;
        }
        let recorded = &episode[split..];
        if let Some(stray) = recorded.iter().position(|event| !event.is_output()) {
            return Err(nondeterminism(format!(
                "history event {} ({}) is an input recorded after the episode's outputs; the history is corrupt",
                offset + split + stray,
                recorded[stray].describe()
            )));
        }
        lock(&self.state).recorded_outputs = recorded.to_vec();
        let produced = self.step();
        lock(&self.state).recorded_outputs.clear();
        compare(&produced, recorded, offset + split)
    }
}

fn nondeterminism(message: String) -> Failure {
    Failure::new(FailureKind::Nondeterminism, message)
}

/// Where the outputs the code produced so far stop matching the ones history recorded.
enum Divergence<'a> {
    /// The recorded output at this index is not what the code produced.
    Changed(usize, &'a Event, &'a Event),
    /// The code produced an output where history records nothing more.
    Extra(usize, &'a Event),
}

/// Matches the outputs the code `produced` against the `recorded` ones, in order; a
/// deprecated patch marker the code does not produce is skipped (code that dropped its
/// `deprecate_patch` call still replays). Returns the index of the first recorded output not
/// matched yet.
fn align<'a>(produced: &'a [Event], recorded: &'a [Event]) -> Result<usize, Divergence<'a>> {
    let mut next = 0;
    for now in produced {
        loop {
            match recorded.get(next) {
                Some(then) if replays_as(now, then) => break,
                Some(Event::PatchMarkerRecorded {
                    deprecated: true, ..
                }) => next += 1,
                Some(then) => return Err(Divergence::Changed(next, then, now)),
                None => return Err(Divergence::Extra(next, now)),
            }
        }
        next += 1;
    }
    Ok(next)
}

/// True if, after the outputs `produced` so far in a replayed episode, the next recorded
/// outputs hold the patch marker of `patch_id` (among the markers recorded at that point).
pub(crate) fn marker_recorded_next(produced: &[Event], recorded: &[Event], patch_id: &str) -> bool {
    let Ok(next) = align(produced, recorded) else {
        return false;
    };
    recorded[next..]
        .iter()
        .map_while(|event| match event {
            Event::PatchMarkerRecorded { patch_id, .. } => Some(patch_id),
            _ => None,
        })
        .any(|recorded_id| recorded_id == patch_id)
}

/// Checks one episode's produced outputs against the recorded ones, in order.
fn compare(produced: &[Event], recorded: &[Event], offset: usize) -> Result<(), Failure> {
    let next = match align(produced, recorded) {
        Ok(next) => next,
        Err(Divergence::Changed(index, then, now)) => {
            return Err(nondeterminism(format!(
                "history event {} is {}, but on replay the orchestration produced {}",
                offset + index,
                then.describe(),
                now.describe()
            )));
        }
        Err(Divergence::Extra(index, now)) => {
            return Err(nondeterminism(format!(
                "on replay the orchestration produced {} where history event {} records nothing (extra call)",
                now.describe(),
                offset + index
            )));
        }
    };
    let missing = recorded[next..].iter().enumerate().find(|(_, event)| {
        !matches!(
            event,
            Event::PatchMarkerRecorded {
                deprecated: true,
                ..
            }
        )
    });
    match missing {
        Some((index, then)) => Err(nondeterminism(format!(
            "history event {} is {}, but on replay the orchestration no longer produces it (missing call)",
            offset + next + index,
            then.describe()
        ))),
        None => Ok(()),
    }
}

/// True if the output `produced` on replay stands for the `recorded` one: the same kind, task
/// id, names and ids, and payloads that match by the rule of `payload::replays_as`.
fn replays_as(produced: &Event, recorded: &Event) -> bool {
    match (produced, recorded) {
        (
            // The call's time limits are not compared: changing them is harmless, and the
            // recorded ones travel with the work item already queued.
            Event::ActivityScheduled {
                task_id,
                name,
                input,
                ..
            },
            Event::ActivityScheduled {
                task_id: recorded_task,
                name: recorded_name,
                input: recorded_input,
                ..
            },
        ) => {
            task_id == recorded_task
                && name == recorded_name
                && payload::replays_as(input, recorded_input)
        }
        (
            Event::SubOrchestrationScheduled {
                task_id,
                name,
                instance_id,
                input,
            },
            Event::SubOrchestrationScheduled {
                task_id: recorded_task,
                name: recorded_name,
                instance_id: recorded_instance,
                input: recorded_input,
            },
        ) => {
            task_id == recorded_task
                && name == recorded_name
                && instance_id == recorded_instance
                && payload::replays_as(input, recorded_input)
        }
        (
            Event::EventSent {
                instance_id,
                name,
                data,
            },
            Event::EventSent {
                instance_id: recorded_instance,
                name: recorded_name,
                data: recorded_data,
            },
        ) => {
            instance_id == recorded_instance
                && name == recorded_name
                && payload::replays_as(data, recorded_data)
        }
        (
            Event::PatchMarkerRecorded { patch_id, .. },
            Event::PatchMarkerRecorded {
                patch_id: recorded_id,
                ..
            },
        ) => patch_id == recorded_id,
        (Event::ContinuedAsNew { input }, Event::ContinuedAsNew { input: recorded }) => {
            payload::replays_as(input, recorded)
        }
        (Event::ExecutionCompleted { output }, Event::ExecutionCompleted { output: recorded }) => {
            payload::replays_as(output, recorded)
        }
        (produced, recorded) => produced == recorded,
    }
}

impl Registry {
    /// Replays a recorded history (as read with `Client::history`) against the registered
    /// orchestration code, as a worker does after a restart, without running anything:
    /// `Ok` if the code makes exactly the recorded calls, a `FailureKind::Nondeterminism`
    /// failure naming the first diverging event otherwise. Use it to check that a new
    /// version of the code can take over running instances before deploying it.
    pub fn verify_history(&self, instance_id: &str, history: &[Event]) -> Result<(), Failure> {
        let execution_id = history
            .iter()
            .find_map(|event| match event {
                Event::ExecutionStarted { execution_id, .. } => Some(*execution_id),
                _ => None,
            })
            .unwrap_or(1);
        let mut execution =
            Execution::new(Arc::new(self.clone()), instance_id.to_owned(), execution_id);
        execution.replay(history)
    }
}
