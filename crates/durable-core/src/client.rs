//! `Client`: schedule orchestrations, watch them, talk to them.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::backend::{Backend, NewInstance, NewMessage};
use crate::error::{BackendError, ClientError};
use crate::history::{Event, HISTORY_FORMAT_VERSION};
use crate::metadata::{InstanceMetadata, InstanceStatus};

/// A handle on a backend for scheduling and managing orchestration instances. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    backend: Arc<dyn Backend>,
}

/// Delay between retries of a transient read error while waiting.
const READ_RETRY: Duration = Duration::from_millis(50);

impl Client {
    /// A client on `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Client { backend }
    }

    /// Schedules the orchestration registered as `name` under `instance_id` with `input`.
    /// Fails with `BackendError::InstanceExists` if the id is taken.
    pub async fn schedule<I: Serialize + ?Sized>(
        &self,
        name: &str,
        instance_id: &str,
        input: &I,
    ) -> Result<(), ClientError> {
        let input = to_json("the orchestration input", input)?;
        let execution_id = 1;
        self.backend
            .create_instance(NewInstance {
                instance_id: instance_id.to_owned(),
                name: name.to_owned(),
                input: input.clone(),
                execution_id,
                start: Event::ExecutionStarted {
                    format_version: HISTORY_FORMAT_VERSION,
                    name: name.to_owned(),
                    input,
                    execution_id,
                },
            })
            .await?;
        Ok(())
    }

    /// The instance's metadata, or `None` if there is no such instance.
    pub async fn metadata(
        &self,
        instance_id: &str,
    ) -> Result<Option<InstanceMetadata>, ClientError> {
        Ok(self.backend.read_metadata(instance_id).await?)
    }

    /// The current execution's full history.
    pub async fn history(&self, instance_id: &str) -> Result<Vec<Event>, ClientError> {
        Ok(self.backend.read_history(instance_id).await?)
    }

    /// Delivers an event named `name` with `data` to the instance (see `wait_for_event`).
    pub async fn raise_event<T: Serialize + ?Sized>(
        &self,
        instance_id: &str,
        name: &str,
        data: &T,
    ) -> Result<(), ClientError> {
        let data = to_json(&format!("event '{name}'"), data)?;
        self.send(
            instance_id,
            Event::EventRaised {
                name: name.to_owned(),
                data,
            },
        )
        .await
    }

    /// Terminates the instance: its next episode records `ExecutionTerminated` and it runs no
    /// more. Outstanding activities still run; their results are discarded.
    pub async fn terminate(&self, instance_id: &str, reason: &str) -> Result<(), ClientError> {
        self.send(
            instance_id,
            Event::ExecutionTerminated {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    async fn send(&self, instance_id: &str, event: Event) -> Result<(), ClientError> {
        let sent = self
            .backend
            .send_message(NewMessage {
                instance_id: instance_id.to_owned(),
                execution_id: None,
                event,
                visible_at_ms: None,
            })
            .await;
        match sent {
            Err(BackendError::InstanceNotFound(id)) => Err(ClientError::NotFound(id)),
            other => Ok(other?),
        }
    }

    /// Waits until the instance has started (its first episode ran) or `timeout` passes.
    pub async fn wait_for_start(
        &self,
        instance_id: &str,
        timeout: Duration,
    ) -> Result<InstanceMetadata, ClientError> {
        self.wait_until(instance_id, timeout, "start", |metadata| {
            metadata.status != InstanceStatus::Pending
        })
        .await
    }

    /// Waits until the instance completed, failed or was terminated, or `timeout` passes.
    pub async fn wait_for_completion(
        &self,
        instance_id: &str,
        timeout: Duration,
    ) -> Result<InstanceMetadata, ClientError> {
        self.wait_until(instance_id, timeout, "complete", |metadata| {
            metadata.status.is_terminal()
        })
        .await
    }

    async fn wait_until(
        &self,
        instance_id: &str,
        timeout: Duration,
        what: &'static str,
        done: impl Fn(&InstanceMetadata) -> bool,
    ) -> Result<InstanceMetadata, ClientError> {
        let deadline = Instant::now() + timeout;
        let timed_out = || ClientError::Timeout {
            instance_id: instance_id.to_owned(),
            what,
            timeout,
        };
        loop {
            let seen = match self.backend.read_metadata(instance_id).await {
                Ok(Some(metadata)) if done(&metadata) => return Ok(metadata),
                Ok(Some(metadata)) => Some(metadata.history_len),
                Ok(None) => return Err(ClientError::NotFound(instance_id.to_owned())),
                Err(error) if error.is_transient() => None,
                Err(error) => return Err(error.into()),
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(timed_out());
            }
            let remaining = deadline - now;
            match seen {
                Some(history_len) => {
                    match self
                        .backend
                        .wait_for_change(instance_id, history_len, remaining)
                        .await
                    {
                        Err(error) if !error.is_transient() => return Err(error.into()),
                        _ => {}
                    }
                }
                None => tokio::time::sleep(READ_RETRY.min(remaining)).await,
            }
        }
    }
}

fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String, ClientError> {
    serde_json::to_string(value).map_err(|source| ClientError::Serialization {
        what: what.to_owned(),
        source,
    })
}
