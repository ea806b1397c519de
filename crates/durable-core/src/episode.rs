//! What an episode commits, built without a runtime: the pure half of the worker.
//!
//! Given a fetched item and the execution rebuilt or resumed for it, `episode_commit` runs the
//! orchestration code up to its next wait and returns the one commit the worker acknowledges
//! (history delta, activities, timers as delayed messages, sub-orchestrations, messages to
//! other instances and to a parent, new metadata); `failed_commit` ends an instance nobody
//! can run. The worker (`worker.rs`) only fetches, leases and sends these to the backend, so
//! every decision here is tested without tokio.

use crate::backend::{
    ActivityWork, IdReusePolicy, MetadataUpdate, NewInstance, NewMessage, OrchestrationCommit,
    OrchestrationItem,
};
use crate::failure::{Failure, FailureKind};
use crate::history::{Event, HISTORY_FORMAT_VERSION};
use crate::metadata::{InstanceMetadata, InstanceStatus, ParentInstance};
use crate::replay::{Execution, Outcome};

/// The messages of an item meant for its current execution, in order.
pub(crate) fn current_messages(item: &OrchestrationItem) -> Vec<Event> {
    item.messages
        .iter()
        .filter(|message| {
            message
                .execution_id
                .is_none_or(|execution_id| execution_id == item.instance.execution_id)
        })
        .map(|message| message.event.clone())
        .collect()
}

/// Runs one live episode of `execution` on the item's messages and builds what it commits:
/// the history delta, new activities, timers, sub-orchestrations and messages (events sent,
/// the outcome for a parent, terminations for children) and the new metadata.
pub(crate) fn episode_commit(
    item: &OrchestrationItem,
    execution: &mut Execution,
) -> OrchestrationCommit {
    let instance = &item.instance;
    let history = execution.run_episode(item.now_ms, current_messages(item));
    let mut commit = OrchestrationCommit::default();
    for event in &history {
        match event {
            Event::ActivityScheduled {
                task_id,
                name,
                input,
                options,
            } => commit.activities.push(ActivityWork {
                instance_id: instance.instance_id.clone(),
                execution_id: instance.execution_id,
                task_id: *task_id,
                name: name.clone(),
                input: input.clone(),
                options: *options,
            }),
            Event::TimerCreated {
                task_id,
                fire_at_ms,
            } => commit.messages.push(NewMessage {
                instance_id: instance.instance_id.clone(),
                execution_id: Some(instance.execution_id),
                event: Event::TimerFired {
                    task_id: *task_id,
                    fire_at_ms: *fire_at_ms,
                },
                visible_at_ms: Some(*fire_at_ms),
            }),
            Event::SubOrchestrationScheduled {
                task_id,
                name,
                instance_id,
                input,
            } => commit.instances.push(NewInstance {
                instance_id: instance_id.clone(),
                name: name.clone(),
                input: input.clone(),
                execution_id: 1,
                start: Event::ExecutionStarted {
                    format_version: HISTORY_FORMAT_VERSION,
                    name: name.clone(),
                    input: input.clone(),
                    execution_id: 1,
                },
                start_at_ms: None,
                parent: Some(ParentInstance {
                    instance_id: instance.instance_id.clone(),
                    execution_id: instance.execution_id,
                    task_id: *task_id,
                }),
                reuse: IdReusePolicy::Refuse,
            }),
            Event::EventSent { .. } => commit.messages.extend(event_sent(event)),
            _ => {}
        }
    }
    if let Some(Outcome::ContinuedAsNew(input)) = execution.outcome() {
        return continue_as_new_commit(item, input.clone(), execution, &history);
    }
    let (status, output, failure) = match execution.outcome() {
        None if execution.is_suspended() => (InstanceStatus::Suspended, None, None),
        None | Some(Outcome::ContinuedAsNew(_)) => (InstanceStatus::Running, None, None),
        Some(Outcome::Completed(output)) => (InstanceStatus::Completed, Some(output.clone()), None),
        Some(Outcome::Failed(failure)) => (InstanceStatus::Failed, None, Some(failure.clone())),
        Some(Outcome::Terminated(reason)) => {
            for child in execution.open_children() {
                commit.messages.push(NewMessage {
                    instance_id: child,
                    execution_id: None,
                    event: Event::ExecutionTerminated {
                        reason: format!(
                            "parent '{}' was terminated: {reason}",
                            instance.instance_id
                        ),
                    },
                    visible_at_ms: None,
                });
            }
            (
                InstanceStatus::Terminated,
                None,
                Some(Failure::new(
                    FailureKind::Terminated,
                    format!("terminated: {reason}"),
                )),
            )
        }
    };
    commit.messages.extend(report_to_parent(
        instance,
        output.as_ref(),
        failure.as_ref(),
    ));
    commit.history = history;
    commit.metadata = Some(MetadataUpdate {
        execution_id: instance.execution_id,
        status,
        input: None,
        output,
        failure,
        custom_status: execution.custom_status(),
    });
    commit
}

/// The message an `EventSent` output delivers.
fn event_sent(event: &Event) -> Option<NewMessage> {
    match event {
        Event::EventSent {
            instance_id,
            name,
            data,
        } => Some(NewMessage {
            instance_id: instance_id.clone(),
            execution_id: None,
            event: Event::EventRaised {
                name: name.clone(),
                data: data.clone(),
            },
            visible_at_ms: None,
        }),
        _ => None,
    }
}

/// A sub-orchestration's outcome, for its parent: sent when the instance ends with an output
/// or a failure. `None` while it runs, or if it has no parent.
fn report_to_parent(
    instance: &InstanceMetadata,
    output: Option<&String>,
    failure: Option<&Failure>,
) -> Option<NewMessage> {
    let parent = instance.parent.as_ref()?;
    let task_id = parent.task_id;
    let event = match (output, failure) {
        (Some(output), _) => Event::SubOrchestrationCompleted {
            task_id,
            output: output.clone(),
        },
        (None, Some(failure)) => Event::SubOrchestrationFailed {
            task_id,
            failure: failure.clone(),
        },
        (None, None) => return None,
    };
    Some(NewMessage {
        instance_id: parent.instance_id.clone(),
        execution_id: Some(parent.execution_id),
        event,
        visible_at_ms: None,
    })
}

/// Ends the execution and starts the next: the stored history is replaced (the backend sees
/// a new execution id) and the new execution's start is enqueued with the raised events the
/// old one never consumed. Of the work the final episode produced, only events sent to other
/// instances go out; activities, timers and sub-orchestrations it started would report to an
/// execution that no longer exists, so they are not started at all.
fn continue_as_new_commit(
    item: &OrchestrationItem,
    input: String,
    execution: &Execution,
    history: &[Event],
) -> OrchestrationCommit {
    let instance = &item.instance;
    let execution_id = instance.execution_id + 1;
    let to_self = |event| NewMessage {
        instance_id: instance.instance_id.clone(),
        execution_id: None,
        event,
        visible_at_ms: None,
    };
    let mut messages: Vec<NewMessage> = history.iter().filter_map(event_sent).collect();
    messages.push(to_self(Event::ExecutionStarted {
        format_version: HISTORY_FORMAT_VERSION,
        name: instance.name.clone(),
        input: input.clone(),
        execution_id,
    }));
    for (name, data) in execution.take_buffered_events() {
        messages.push(to_self(Event::EventRaised { name, data }));
    }
    OrchestrationCommit {
        messages,
        metadata: Some(MetadataUpdate {
            execution_id,
            status: InstanceStatus::Running,
            input: Some(input),
            output: None,
            failure: None,
            custom_status: None,
        }),
        ..OrchestrationCommit::default()
    }
}

/// Fails the instance without running its code (poisoned, or nobody can run it), telling its
/// parent.
pub(crate) fn failed_commit(item: &OrchestrationItem, failure: Failure) -> OrchestrationCommit {
    OrchestrationCommit {
        history: vec![
            Event::EpisodeStarted {
                timestamp_ms: item.now_ms,
            },
            Event::ExecutionFailed {
                failure: failure.clone(),
            },
        ],
        messages: report_to_parent(&item.instance, None, Some(&failure))
            .into_iter()
            .collect(),
        metadata: Some(MetadataUpdate {
            execution_id: item.instance.execution_id,
            status: InstanceStatus::Failed,
            input: None,
            output: None,
            failure: Some(failure),
            custom_status: item.instance.custom_status.clone(),
        }),
        ..OrchestrationCommit::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::backend::{Lease, Message};
    use crate::context::OrchestrationContext;
    use crate::registry::Registry;

    fn start() -> Event {
        Event::ExecutionStarted {
            format_version: HISTORY_FORMAT_VERSION,
            name: "grabby".into(),
            input: "null".into(),
            execution_id: 1,
        }
    }

    /// Instance "g" with `history_len` events stored, handed out with `events`.
    fn item(history_len: u64, events: Vec<Event>) -> OrchestrationItem {
        let new = NewInstance {
            instance_id: "g".into(),
            name: "grabby".into(),
            input: "null".into(),
            execution_id: 1,
            start: start(),
            start_at_ms: None,
            parent: None,
            reuse: IdReusePolicy::Refuse,
        };
        let mut instance = new.metadata(0, 1);
        instance.history_len = history_len;
        let messages = (0..)
            .zip(events)
            .map(|(id, event)| Message {
                id,
                instance_id: "g".into(),
                execution_id: None,
                event,
            })
            .collect();
        OrchestrationItem {
            instance,
            messages,
            lease: Lease {
                token: 1,
                expires_at_ms: 1,
                attempt: 1,
            },
            now_ms: 0,
        }
    }

    /// Terminations the commit sends, by target.
    fn terminated(commit: &OrchestrationCommit) -> Vec<String> {
        commit
            .messages
            .iter()
            .filter(|message| matches!(message.event, Event::ExecutionTerminated { .. }))
            .map(|message| message.instance_id.clone())
            .collect()
    }

    /// Runs the first episode (which asks for the child "owned"), then a second one with
    /// `second`; returns the second commit.
    fn second_episode(second: Vec<Event>) -> OrchestrationCommit {
        let registry = Registry::new().orchestration(
            "grabby",
            |ctx: OrchestrationContext, _: ()| async move {
                let value: u64 = ctx
                    .call_sub_orchestration_with_id("leaf", "owned", &())
                    .await?;
                Ok(value)
            },
        );
        let mut execution = Execution::new(Arc::new(registry), "g".into(), 1);
        let commit = episode_commit(&item(0, vec![start()]), &mut execution);
        assert_eq!(commit.instances.len(), 1);
        episode_commit(&item(commit.history.len() as u64, second), &mut execution)
    }

    fn stop() -> Event {
        Event::ExecutionTerminated {
            reason: "stop".into(),
        }
    }

    #[test]
    fn termination_reaches_running_children() {
        assert_eq!(terminated(&second_episode(vec![stop()])), vec!["owned"]);
    }

    #[test]
    fn termination_spares_an_instance_the_parent_failed_to_start() {
        // The rejection of "owned" (its id was taken by a stranger) arrives in the same
        // episode as the termination, after it: "owned" is not a child and is left alone.
        let rejected = Event::SubOrchestrationFailed {
            task_id: 0,
            failure: Failure::new(FailureKind::InstanceExists, "taken"),
        };
        let commit = second_episode(vec![stop(), rejected]);
        assert_eq!(terminated(&commit), Vec::<String>::new());
        assert_eq!(
            commit.metadata.map(|update| update.status),
            Some(InstanceStatus::Terminated)
        );
    }

    #[test]
    fn an_episode_commits_activities_as_work_and_timers_as_delayed_messages() {
        let registry = Registry::new().orchestration(
            "grabby",
            |ctx: OrchestrationContext, _: ()| async move {
                let _timer = ctx.create_timer(Duration::from_secs(5));
                let value: u64 = ctx.call_activity("inc", &1u64).await?;
                Ok(value)
            },
        );
        let mut execution = Execution::new(Arc::new(registry), "g".into(), 1);
        let commit = episode_commit(&item(0, vec![start()]), &mut execution);
        let activities: Vec<(&str, &str)> = commit
            .activities
            .iter()
            .map(|work| (work.name.as_str(), work.input.as_str()))
            .collect();
        assert_eq!(activities, [("inc", "1")]);
        let timers: Vec<(&str, Option<u64>)> = commit
            .messages
            .iter()
            .filter(|message| matches!(message.event, Event::TimerFired { .. }))
            .map(|message| (message.instance_id.as_str(), message.visible_at_ms))
            .collect();
        assert_eq!(timers, [("g", Some(5_000))]);
        assert_eq!(
            commit.metadata.map(|update| update.status),
            Some(InstanceStatus::Running)
        );
    }
}
