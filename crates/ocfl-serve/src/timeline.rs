//! A run's event history as a timeline for people: episodes, each activity with its
//! attempt and how long it took (to the episode that recorded its end), failures, stalls
//! and what ended them.

use std::collections::HashMap;

use durable_core::Event;

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Milliseconds since the run's first episode, when known.
    pub at_ms: Option<u64>,
    /// `episode`, `activity`, `failure`, `wait`, `event` or `end`: the row's style.
    pub kind: &'static str,
    /// What happened.
    pub title: String,
    /// Details (an error's message, say).
    pub detail: String,
    /// How long it took, for an activity.
    pub duration_ms: Option<u64>,
}

/// The timeline of `events`.
pub fn timeline(events: &[Event]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut start = None;
    let mut now = None;
    // task id -> (activity name, attempt, scheduled at)
    let mut scheduled: HashMap<u64, (String, u32, Option<u64>)> = HashMap::new();
    let mut attempts: HashMap<String, u32> = HashMap::new();
    let mut row = |at: Option<u64>, kind, title: String, detail: String, duration_ms| {
        rows.push(Row {
            at_ms: at,
            kind,
            title,
            detail,
            duration_ms,
        })
    };
    for event in events {
        let at = now.zip(start).map(|(n, s): (u64, u64)| n.saturating_sub(s));
        match event {
            Event::EpisodeStarted { timestamp_ms } => {
                start.get_or_insert(*timestamp_ms);
                now = Some(*timestamp_ms);
            }
            Event::ExecutionStarted { execution_id, .. } => row(
                at,
                "episode",
                format!("execution {execution_id} started"),
                String::new(),
                None,
            ),
            Event::ActivityScheduled { task_id, name, .. } => {
                let attempt = attempts.entry(name.clone()).or_insert(0);
                *attempt += 1;
                scheduled.insert(*task_id, (name.clone(), *attempt, now));
            }
            Event::ActivityCompleted { task_id, .. } => {
                let (name, attempt, since) = scheduled.get(task_id).cloned().unwrap_or_default();
                let duration = now.zip(since).map(|(n, s)| n.saturating_sub(s));
                row(
                    at,
                    "activity",
                    attempt_title(&name, attempt),
                    String::new(),
                    duration,
                );
                attempts.remove(&name);
            }
            Event::ActivityFailed { task_id, failure } => {
                let (name, attempt, since) = scheduled.get(task_id).cloned().unwrap_or_default();
                let duration = now.zip(since).map(|(n, s)| n.saturating_sub(s));
                row(
                    at,
                    "failure",
                    format!("{} failed", attempt_title(&name, attempt)),
                    failure.message.clone(),
                    duration,
                );
            }
            Event::TimerCreated { .. } => {}
            Event::TimerFired { fire_at_ms, .. } => row(
                at,
                "wait",
                "timer fired (retry back-off)".to_owned(),
                crate::shapes::time(*fire_at_ms).unwrap_or_default(),
                None,
            ),
            Event::EventRaised { name, .. } => row(
                at,
                "event",
                format!("event {name:?} received"),
                String::new(),
                None,
            ),
            Event::ExecutionSuspended { reason } => {
                row(at, "wait", "suspended".to_owned(), reason.clone(), None)
            }
            Event::ExecutionResumed { reason } => {
                row(at, "event", "resumed".to_owned(), reason.clone(), None)
            }
            Event::ExecutionTerminated { reason } => {
                row(at, "end", "terminated".to_owned(), reason.clone(), None)
            }
            Event::ExecutionCompleted { .. } => {
                row(at, "end", "completed".to_owned(), String::new(), None)
            }
            Event::ExecutionFailed { failure } => row(
                at,
                "end",
                "failed".to_owned(),
                failure.message.clone(),
                None,
            ),
            Event::ContinuedAsNew { .. } => row(
                at,
                "episode",
                "continued as new".to_owned(),
                String::new(),
                None,
            ),
            Event::SubOrchestrationScheduled { name, .. } => row(
                at,
                "activity",
                format!("started {name}"),
                String::new(),
                None,
            ),
            Event::SubOrchestrationFailed { failure, .. } => row(
                at,
                "failure",
                "sub-orchestration failed".to_owned(),
                failure.message.clone(),
                None,
            ),
            _ => {}
        }
    }
    rows
}

fn attempt_title(name: &str, attempt: u32) -> String {
    match attempt {
        0 | 1 => name.to_owned(),
        n => format!("{name} (attempt {n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use durable_core::{Failure, FailureKind};

    #[test]
    fn activities_get_their_attempts_and_durations() {
        let events = vec![
            Event::EpisodeStarted { timestamp_ms: 1000 },
            Event::ActivityScheduled {
                task_id: 1,
                name: "WriteBatch".into(),
                input: String::new(),
                options: Default::default(),
            },
            Event::EpisodeStarted { timestamp_ms: 1500 },
            Event::ActivityFailed {
                task_id: 1,
                failure: Failure::new(FailureKind::Application, "disk full"),
            },
            Event::ActivityScheduled {
                task_id: 2,
                name: "WriteBatch".into(),
                input: String::new(),
                options: Default::default(),
            },
            Event::EpisodeStarted { timestamp_ms: 1800 },
            Event::ActivityCompleted {
                task_id: 2,
                output: String::new(),
            },
        ];
        let rows = timeline(&events);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].kind, "failure");
        assert_eq!(rows[0].title, "WriteBatch failed");
        assert_eq!(rows[0].detail, "disk full");
        assert_eq!(rows[0].duration_ms, Some(500));
        assert_eq!(rows[1].title, "WriteBatch (attempt 2)");
        assert_eq!(rows[1].at_ms, Some(800));
        assert_eq!(rows[1].duration_ms, Some(300));
    }
}
