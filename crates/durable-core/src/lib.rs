//! An embeddable, event-sourced durable execution engine.
//!
//! *Orchestrations* are deterministic async functions that coordinate work; *activities* are
//! ordinary async functions that do it (I/O, computation). Every step an orchestration takes
//! is recorded in an append-only history kept by a [`Backend`]; when a process crashes, the
//! orchestration is rebuilt by replaying its code against that history and continues where
//! it stopped. Activities run at least once; orchestrations observe each activity result
//! exactly once.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use durable_core::{
//!     ActivityContext, Client, Failure, MemoryBackend, OrchestrationContext, Registry, Worker,
//!     WorkerOptions,
//! };
//! use futures::future::join_all;
//!
//! // An activity: any async work, with typed (serde) input and output.
//! async fn greet(_ctx: ActivityContext, name: String) -> Result<String, Failure> {
//!     Ok(format!("Hello, {name}!"))
//! }
//!
//! // An orchestration: deterministic code that schedules activities and timers.
//! async fn greet_all(ctx: OrchestrationContext, names: Vec<String>) -> Result<String, Failure> {
//!     // Fan out: all activities are scheduled at once and run in parallel.
//!     let calls: Vec<_> = names
//!         .iter()
//!         .map(|name| ctx.call_activity::<_, String>("greet", name))
//!         .collect();
//!     let greetings = join_all(calls).await.into_iter().collect::<Result<Vec<_>, _>>()?;
//!     // A durable timer: survives restarts; time comes from history, not the wall clock.
//!     ctx.create_timer(Duration::from_secs(1)).await?;
//!     Ok(greetings.join(" "))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = Arc::new(MemoryBackend::new());
//! let registry = Registry::new()
//!     .activity("greet", greet)
//!     .orchestration("greet-all", greet_all);
//! let worker = Worker::start(backend.clone(), registry, WorkerOptions::default());
//!
//! let client = Client::new(backend);
//! client.schedule("greet-all", "greeting-1", &["Ada", "Grace"]).await?;
//! let done = client.wait_for_completion("greeting-1", Duration::from_secs(10)).await?;
//! assert_eq!(done.output::<String>()?.as_deref(), Some("Hello, Ada! Hello, Grace!"));
//!
//! worker.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Determinism
//!
//! Orchestration code must make the same context calls in the same order every time it is
//! replayed: no wall clock (use [`OrchestrationContext::current_time_utc`]), no randomness
//! (use [`OrchestrationContext::new_uuid`]), no I/O (use activities). Calls are matched to
//! history by position; a replay that diverges (another activity, name, input or kind at the
//! same position, or a missing or extra call) fails the instance with
//! [`FailureKind::Nondeterminism`] and a message naming the history event.
//!
//! # Episodes and the cache
//!
//! An orchestration runs in *episodes*: each consumes the messages waiting for it (activity
//! results, fired timers, raised events), runs the code until it waits on durable work, and
//! commits the new history events, new activity work and timers and the instance's metadata
//! in one atomic backend call. Between episodes the suspended orchestration stays in a
//! worker's memory, so an episode costs only its own events; after eviction or a restart it is
//! rebuilt by replaying the history once.
//!
//! # Backends
//!
//! [`Backend`] is the storage contract (see [`backend`] for its model: leased work items,
//! atomic acknowledgements, delayed messages as timers). [`MemoryBackend`] implements it in
//! memory. A store of your own implements the trait:
//!
//! ```
//! use std::time::Duration;
//! use async_trait::async_trait;
//! use durable_core::backend::*;
//! use durable_core::{BackendError, Event, InstanceFilter, InstanceMetadata};
//!
//! struct MyStore { /* a connection pool, a file, ... */ }
//!
//! #[async_trait]
//! impl Backend for MyStore {
//!     async fn create_instance(&self, new: NewInstance) -> Result<(), BackendError> {
//!         // Insert the metadata (Pending) and enqueue `new.start`, in one transaction.
//!         # let _ = new; Err(BackendError::Permanent("skeleton".into()))
//!     }
//!     // ... the other methods, each one atomic ...
//!     # async fn send_message(&self, _: NewMessage) -> Result<(), BackendError> { unimplemented!() }
//!     # async fn read_metadata(&self, _: &str) -> Result<Option<InstanceMetadata>, BackendError> { unimplemented!() }
//!     # async fn read_history(&self, _: &str) -> Result<Vec<Event>, BackendError> { unimplemented!() }
//!     # async fn list_instances(&self, _: &InstanceFilter) -> Result<Vec<InstanceMetadata>, BackendError> { unimplemented!() }
//!     # async fn purge_instance(&self, _: &str) -> Result<(), BackendError> { unimplemented!() }
//!     # async fn fetch_orchestration(&self, _: Duration, _: Duration) -> Result<Option<OrchestrationItem>, BackendError> { unimplemented!() }
//!     # async fn ack_orchestration(&self, _: &str, _: u64, _: &OrchestrationCommit) -> Result<(), BackendError> { unimplemented!() }
//!     # async fn abandon_orchestration(&self, _: &str, _: u64, _: Duration) -> Result<(), BackendError> { unimplemented!() }
//!     # async fn renew_orchestration_lease(&self, _: &str, _: u64, _: Duration) -> Result<u64, BackendError> { unimplemented!() }
//!     # async fn fetch_activity(&self, _: Duration, _: Duration) -> Result<Option<ActivityItem>, BackendError> { unimplemented!() }
//!     # async fn ack_activity(&self, _: u64, _: u64, _: &NewMessage) -> Result<(), BackendError> { unimplemented!() }
//!     # async fn abandon_activity(&self, _: u64, _: u64, _: Duration) -> Result<(), BackendError> { unimplemented!() }
//!     # async fn renew_activity_lease(&self, _: u64, _: u64, _: Duration) -> Result<u64, BackendError> { unimplemented!() }
//! }
//! ```
#![deny(missing_docs)]

pub mod activity;
pub mod backend;
mod cache;
pub mod client;
pub mod clock;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod context;
#[cfg(test)]
mod determinism_tests;
pub mod error;
pub mod failure;
pub mod history;
pub mod memory;
pub mod metadata;
mod metrics;
pub mod registry;
mod replay;
pub mod retry;
pub mod worker;

pub use activity::ActivityContext;
pub use backend::{Backend, IdReusePolicy};
pub use client::{Client, ScheduleOptions};
pub use clock::Clock;
pub use context::{DurableFuture, OrchestrationContext};
pub use error::{BackendError, ClientError};
pub use failure::{Failure, FailureKind};
pub use history::{Event, HISTORY_FORMAT_VERSION};
pub use memory::MemoryBackend;
pub use metadata::{InstanceFilter, InstanceMetadata, InstanceStatus, ParentInstance};
pub use metrics::MetricsSnapshot;
pub use registry::Registry;
pub use retry::RetryPolicy;
pub use worker::{Worker, WorkerOptions};
