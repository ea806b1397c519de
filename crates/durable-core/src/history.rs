//! The event model: an orchestration's history is an append-only list of `Event`s.
//!
//! A history is a sequence of *episodes*. Each episode starts with `EpisodeStarted` (whose
//! timestamp is the orchestration's notion of "now" for that episode), continues with the
//! *inputs* the episode consumed (the start, activity, timer and sub-orchestration
//! completions, raised events, suspension, resumption, termination) and ends with the
//! *outputs* the orchestration code produced from them (scheduled activities, timers and
//! sub-orchestrations, events sent to other instances, patch markers, its completion). Replay feeds the inputs of each recorded
//! episode to the code and checks that it produces the same outputs.
//!
//! Payloads (`input`, `output`, `data`) are JSON text, so histories stay readable and a
//! changed input is detected by plain comparison.

use serde::{Deserialize, Serialize};

use crate::activity::ActivityOptions;
use crate::failure::Failure;

/// The version of the history format this engine writes; recorded in every `ExecutionStarted`.
/// An engine refuses (with `FailureKind::UnsupportedFormat`) to replay a newer format.
pub const HISTORY_FORMAT_VERSION: u32 = 1;

/// One entry of an orchestration's history (or a message on its way to becoming one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The execution began: which orchestration, with what input. Always the first input.
    ExecutionStarted {
        /// `HISTORY_FORMAT_VERSION` of the engine that scheduled the execution.
        format_version: u32,
        /// Registered orchestration name.
        name: String,
        /// JSON input.
        input: String,
        /// Which execution of the instance this is (1 for the first).
        execution_id: u64,
    },
    /// An episode began at this time (milliseconds since the Unix epoch).
    EpisodeStarted {
        /// The orchestration's `current_time_utc` during this episode.
        timestamp_ms: u64,
    },
    /// The orchestration scheduled an activity.
    ActivityScheduled {
        /// Sequence number of the scheduling call within the execution.
        task_id: u64,
        /// Registered activity name.
        name: String,
        /// JSON input.
        input: String,
        /// Time limits given at the call (`call_activity_with_options`), which override the
        /// registered ones and the worker's defaults; left out of the JSON when none were
        /// given, so histories recorded before the field existed read the same.
        #[serde(default, skip_serializing_if = "ActivityOptions::is_unset")]
        options: ActivityOptions,
    },
    /// An activity returned an output.
    ActivityCompleted {
        /// The `task_id` of the matching `ActivityScheduled`.
        task_id: u64,
        /// JSON output.
        output: String,
    },
    /// An activity failed (returned an error, panicked, or was poisoned).
    ActivityFailed {
        /// The `task_id` of the matching `ActivityScheduled`.
        task_id: u64,
        /// Why.
        failure: Failure,
    },
    /// The orchestration created a durable timer.
    TimerCreated {
        /// Sequence number of the scheduling call within the execution.
        task_id: u64,
        /// When it fires, in milliseconds since the Unix epoch.
        fire_at_ms: u64,
    },
    /// A durable timer fired.
    TimerFired {
        /// The `task_id` of the matching `TimerCreated`.
        task_id: u64,
        /// When it was due.
        fire_at_ms: u64,
    },
    /// The orchestration started a sub-orchestration: a child instance whose outcome comes
    /// back as `SubOrchestrationCompleted` or `SubOrchestrationFailed`.
    SubOrchestrationScheduled {
        /// Sequence number of the scheduling call within the execution.
        task_id: u64,
        /// Registered orchestration name of the child.
        name: String,
        /// The child's instance id.
        instance_id: String,
        /// JSON input.
        input: String,
    },
    /// A sub-orchestration completed with an output.
    SubOrchestrationCompleted {
        /// The `task_id` of the matching `SubOrchestrationScheduled`.
        task_id: u64,
        /// JSON output.
        output: String,
    },
    /// A sub-orchestration failed, was terminated, or could not be created.
    SubOrchestrationFailed {
        /// The `task_id` of the matching `SubOrchestrationScheduled`.
        task_id: u64,
        /// Why.
        failure: Failure,
    },
    /// The orchestration sent an event to another instance (fire and forget).
    EventSent {
        /// Target instance; an event to an instance that does not exist is dropped.
        instance_id: String,
        /// Event name.
        name: String,
        /// JSON payload.
        data: String,
    },
    /// The orchestration marked a code change (`OrchestrationContext::patched` or
    /// `deprecate_patch`): the execution that records it runs the code written after the
    /// change, on this and every later replay.
    PatchMarkerRecorded {
        /// The patch id the code passed.
        patch_id: String,
        /// Recorded by `deprecate_patch`: code that no longer mentions the patch at all
        /// replays past it.
        deprecated: bool,
    },
    /// An external event was delivered to the instance.
    EventRaised {
        /// Event name, matched by `wait_for_event`.
        name: String,
        /// JSON payload.
        data: String,
    },
    /// A client suspended the instance: inputs that arrive from now on are recorded but held
    /// back from the code until `ExecutionResumed`.
    ExecutionSuspended {
        /// Why, as given by the client.
        reason: String,
    },
    /// A client resumed a suspended instance: held inputs are delivered, in arrival order.
    ExecutionResumed {
        /// Why, as given by the client.
        reason: String,
    },
    /// A client (or a terminated parent) terminated the execution.
    ExecutionTerminated {
        /// Why, as given by the client.
        reason: String,
    },
    /// The orchestration returned an output.
    ExecutionCompleted {
        /// JSON output.
        output: String,
    },
    /// The orchestration failed.
    ExecutionFailed {
        /// Why.
        failure: Failure,
    },
    /// The orchestration ended this execution and asked for a new one with a new input
    /// (continue-as-new); the instance keeps its id, its history starts afresh.
    ContinuedAsNew {
        /// JSON input of the next execution.
        input: String,
    },
}

impl Event {
    /// The variant's name, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Event::ExecutionStarted { .. } => "ExecutionStarted",
            Event::EpisodeStarted { .. } => "EpisodeStarted",
            Event::ActivityScheduled { .. } => "ActivityScheduled",
            Event::ActivityCompleted { .. } => "ActivityCompleted",
            Event::ActivityFailed { .. } => "ActivityFailed",
            Event::TimerCreated { .. } => "TimerCreated",
            Event::TimerFired { .. } => "TimerFired",
            Event::SubOrchestrationScheduled { .. } => "SubOrchestrationScheduled",
            Event::SubOrchestrationCompleted { .. } => "SubOrchestrationCompleted",
            Event::SubOrchestrationFailed { .. } => "SubOrchestrationFailed",
            Event::EventSent { .. } => "EventSent",
            Event::PatchMarkerRecorded { .. } => "PatchMarkerRecorded",
            Event::EventRaised { .. } => "EventRaised",
            Event::ExecutionSuspended { .. } => "ExecutionSuspended",
            Event::ExecutionResumed { .. } => "ExecutionResumed",
            Event::ExecutionTerminated { .. } => "ExecutionTerminated",
            Event::ExecutionCompleted { .. } => "ExecutionCompleted",
            Event::ExecutionFailed { .. } => "ExecutionFailed",
            Event::ContinuedAsNew { .. } => "ContinuedAsNew",
        }
    }

    /// True for events the orchestration code produces (as opposed to inputs it consumes).
    pub fn is_output(&self) -> bool {
        matches!(
            self,
            Event::ActivityScheduled { .. }
                | Event::TimerCreated { .. }
                | Event::SubOrchestrationScheduled { .. }
                | Event::EventSent { .. }
                | Event::PatchMarkerRecorded { .. }
                | Event::ExecutionCompleted { .. }
                | Event::ExecutionFailed { .. }
                | Event::ContinuedAsNew { .. }
        )
    }

    /// True for events after which the execution does nothing more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Event::ExecutionCompleted { .. }
                | Event::ExecutionFailed { .. }
                | Event::ExecutionTerminated { .. }
                | Event::ContinuedAsNew { .. }
        )
    }

    /// A short description naming the event: kind, name and task id where it has them.
    pub fn describe(&self) -> String {
        match self {
            Event::ActivityScheduled {
                task_id,
                name,
                input,
                ..
            } => format!("ActivityScheduled '{name}' (task {task_id}, input {input})"),
            Event::TimerCreated {
                task_id,
                fire_at_ms,
            } => format!("TimerCreated (task {task_id}, fires at {fire_at_ms} ms)"),
            Event::SubOrchestrationScheduled {
                task_id,
                name,
                instance_id,
                input,
            } => format!(
                "SubOrchestrationScheduled '{name}' (task {task_id}, instance '{instance_id}', input {input})"
            ),
            Event::EventSent {
                instance_id,
                name,
                data,
            } => format!("EventSent '{name}' (to instance '{instance_id}', data {data})"),
            Event::ExecutionCompleted { output } => format!("ExecutionCompleted (output {output})"),
            Event::ExecutionFailed { failure } => format!("ExecutionFailed ({failure})"),
            Event::ActivityCompleted { task_id, .. }
            | Event::ActivityFailed { task_id, .. }
            | Event::TimerFired { task_id, .. }
            | Event::SubOrchestrationCompleted { task_id, .. }
            | Event::SubOrchestrationFailed { task_id, .. } => {
                format!("{} (task {task_id})", self.kind_name())
            }
            Event::PatchMarkerRecorded {
                patch_id,
                deprecated,
            } => {
                let how = if *deprecated { " (deprecated)" } else { "" };
                format!("PatchMarkerRecorded '{patch_id}'{how}")
            }
            Event::EventRaised { name, .. } => format!("EventRaised '{name}'"),
            Event::ExecutionStarted { name, .. } => format!("ExecutionStarted '{name}'"),
            Event::EpisodeStarted { timestamp_ms } => format!("EpisodeStarted ({timestamp_ms} ms)"),
            Event::ExecutionSuspended { reason } => format!("ExecutionSuspended ({reason})"),
            Event::ExecutionResumed { reason } => format!("ExecutionResumed ({reason})"),
            Event::ExecutionTerminated { reason } => format!("ExecutionTerminated ({reason})"),
            Event::ContinuedAsNew { input } => format!("ContinuedAsNew (input {input})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_a_type_tag() {
        let event = Event::ActivityScheduled {
            task_id: 3,
            name: "greet".into(),
            input: "\"ada\"".into(),
            options: ActivityOptions::default(),
        };
        let text = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"type":"activity_scheduled","task_id":3,"name":"greet","input":"\"ada\""}"#
        );
        let back: Event =
            serde_json::from_str(&text).unwrap_or(Event::EpisodeStarted { timestamp_ms: 0 });
        assert_eq!(back, event);
    }

    #[test]
    fn call_options_are_recorded_in_milliseconds() {
        let event = Event::ActivityScheduled {
            task_id: 3,
            name: "greet".into(),
            input: "1".into(),
            options: ActivityOptions::new().timeout(std::time::Duration::from_millis(2500)),
        };
        let text = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"type":"activity_scheduled","task_id":3,"name":"greet","input":"1","options":{"timeout_ms":2500}}"#
        );
        let back: Event =
            serde_json::from_str(&text).unwrap_or(Event::EpisodeStarted { timestamp_ms: 0 });
        assert_eq!(back, event);
    }

    #[test]
    fn outputs_and_inputs_are_told_apart() {
        assert!(
            Event::TimerCreated {
                task_id: 0,
                fire_at_ms: 1
            }
            .is_output()
        );
        assert!(
            !Event::TimerFired {
                task_id: 0,
                fire_at_ms: 1
            }
            .is_output()
        );
        assert!(
            Event::ExecutionTerminated {
                reason: String::new()
            }
            .is_terminal()
        );
    }
}
