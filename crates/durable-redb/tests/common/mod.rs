//! Helpers shared by the integration tests: a store with known contents, and a snapshot of
//! everything a client can read from it.

#![allow(dead_code)]

use std::time::Duration;

use durable_core::backend::{
    ActivityWork, Backend, MetadataUpdate, NewInstance, NewMessage, OrchestrationCommit,
};
use durable_core::{Event, InstanceFilter, InstanceMetadata, InstanceStatus};

pub const LEASE: Duration = Duration::from_secs(60);

/// The plain test instance, with an input of its own (so that instances differ in a
/// snapshot).
pub fn new_instance(id: &str) -> NewInstance {
    NewInstance {
        input: format!("\"input of {id}\""),
        ..durable_core::testing::new_instance(id)
    }
}

/// Creates `count` instances, each with one episode committed (history, an activity, a
/// timer an hour away) and a raised event waiting in its inbox.
pub async fn populate(backend: &dyn Backend, count: usize) {
    for n in 0..count {
        backend
            .create_instance(new_instance(&format!("i{n:03}")))
            .await
            .expect("create");
    }
    let mut ids = Vec::new();
    for _ in 0..count {
        let item = backend
            .fetch_orchestration(LEASE, Duration::ZERO)
            .await
            .expect("fetch")
            .expect("a new instance");
        let id = item.instance.instance_id.clone();
        let commit = OrchestrationCommit {
            history: vec![
                Event::EpisodeStarted {
                    timestamp_ms: item.now_ms,
                },
                item.messages[0].event.clone(),
                Event::ActivityScheduled {
                    task_id: 0,
                    name: "act".to_owned(),
                    input: format!("\"{id}\""),
                    options: durable_core::ActivityOptions::default(),
                },
                Event::TimerCreated {
                    task_id: 1,
                    fire_at_ms: item.now_ms + 3_600_000,
                },
            ],
            activities: vec![ActivityWork {
                instance_id: id.clone(),
                execution_id: 1,
                task_id: 0,
                name: "act".to_owned(),
                input: format!("\"{id}\""),
                options: durable_core::ActivityOptions::default(),
            }],
            messages: vec![NewMessage {
                instance_id: id.clone(),
                execution_id: Some(1),
                event: Event::TimerFired {
                    task_id: 1,
                    fire_at_ms: item.now_ms + 3_600_000,
                },
                visible_at_ms: Some(item.now_ms + 3_600_000),
            }],
            instances: Vec::new(),
            metadata: Some(MetadataUpdate {
                execution_id: 1,
                status: InstanceStatus::Running,
                input: None,
                output: None,
                failure: None,
                custom_status: Some(format!("status of {id}")),
            }),
        };
        backend
            .ack_orchestration(&id, item.lease.token, &commit)
            .await
            .expect("ack");
        ids.push(id);
    }
    for id in ids {
        backend
            .send_message(NewMessage {
                instance_id: id.clone(),
                execution_id: None,
                event: Event::EventRaised {
                    name: "e".to_owned(),
                    data: format!("\"event for {id}\""),
                },
                visible_at_ms: None,
            })
            .await
            .expect("send");
    }
}

/// Everything a client reads: each instance's metadata and history.
pub async fn snapshot(
    backend: &dyn Backend,
) -> Result<Vec<(InstanceMetadata, Vec<Event>)>, String> {
    let mut snapshot = Vec::new();
    let instances = backend
        .list_instances(&InstanceFilter::all())
        .await
        .map_err(|error| error.to_string())?;
    for metadata in instances {
        let history = backend
            .read_history(&metadata.instance_id)
            .await
            .map_err(|error| error.to_string())?;
        snapshot.push((metadata, history));
    }
    Ok(snapshot)
}
