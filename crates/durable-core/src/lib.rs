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
//! [`FailureKind::Nondeterminism`] and a message naming the history event. Inputs compare by
//! the JSON members both sides have, so an input struct may gain an optional field.
//!
//! To change code while runs are in flight, guard the change with
//! [`OrchestrationContext::patched`] (and later [`OrchestrationContext::deprecate_patch`]):
//! runs recorded before the change replay the old branch. The crate's README describes the
//! rules and walks an orchestration from v1 to v2 and on to the deprecation.
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
//! # Sub-orchestrations and messages between instances
//!
//! [`OrchestrationContext::call_sub_orchestration`] starts a child instance (created
//! atomically with the parent's episode, under a deterministic id unless you choose one) and
//! resolves to its output or failure; children of children work the same way.
//! [`OrchestrationContext::raise_event`] sends an event to any instance, where
//! `wait_for_event` receives it. Both are recorded in history and replayed like everything
//! else. A child that outlives a parent which stopped waiting for it (the loser of a `select`)
//! finishes on its own; its report to the finished parent is discarded.
//!
//! # Managing instances
//!
//! [`Client`] schedules instances (now, or at a start time with [`ScheduleOptions`], with an
//! [`IdReusePolicy`] for a taken id), waits for them, reads their metadata and history, lists
//! them with an [`InstanceFilter`], raises events, and:
//! - `terminate` ends an instance and, recursively, its running sub-orchestrations;
//! - `suspend` makes an instance record what arrives without running its code, until `resume`
//!   delivers it all in order (termination is never held back);
//! - `purge` deletes a finished instance and, recursively, its finished sub-orchestrations.
//!
//! Custom status belongs to an execution: `continue_as_new` clears it. Raised events an
//! execution never consumed carry over to the next one in arrival order (see
//! [`OrchestrationContext::continue_as_new`] for exactly what carries over).
//!
//! # Workers, leases and poison
//!
//! A [`Worker`] runs orchestration episodes and activities under leases that it renews every
//! third of their length while the work runs, so a long activity or a slow episode (a large
//! replay, a slow store) is not handed to a second worker. A lease that expires anyway (the
//! process died) hands the work to another worker with a higher attempt count; an item
//! attempted more than [`WorkerOptions::max_attempts`] times is poisoned: failed with
//! [`FailureKind::Poisoned`] instead of crashing workers forever. Transient backend errors are
//! retried with backoff and never fail an orchestration.
//!
//! An orchestration or activity whose name the fetching worker has not registered is handed
//! back after [`WorkerOptions::unregistered_retry_delay`] rather than failed, so that during a
//! rolling deployment the worker that knows it can take it; it fails with
//! [`FailureKind::Unregistered`] on its `max_attempts`-th attempt. Fetching is not filtered by
//! name, so workers that permanently register different sets of names on one store are not
//! supported: whichever fetches an item first gets it.
//!
//! # Backends
//!
//! [`Backend`] is the storage contract (see [`backend`] for its model: leased work items,
//! atomic acknowledgements, delayed messages as timers, instances that talk by messages).
//! [`MemoryBackend`] implements it in memory. A store of your own implements the trait; every
//! mutating method is one transaction:
//!
//! ```
//! use std::time::Duration;
//! use async_trait::async_trait;
//! use durable_core::backend::*;
//! use durable_core::{BackendError, Event, InstanceFilter, InstanceMetadata};
//!
//! struct MyStore { /* a connection pool, a file, ... */ }
//!
//! fn unwritten<T>() -> Result<T, BackendError> {
//!     Err(BackendError::Permanent("not written yet".into()))
//! }
//!
//! #[async_trait]
//! impl Backend for MyStore {
//!     async fn create_instance(&self, new: NewInstance) -> Result<(), BackendError> {
//!         // If the id is taken and `!new.may_replace(&existing)`: `InstanceExists`.
//!         // Otherwise (deleting the replaced instance) insert `new.metadata(now, incarnation)`
//!         // (`incarnation`: a value no instance created before had) and
//!         // enqueue `new.start_message()`.
//!         unwritten()
//!     }
//!     async fn send_message(&self, message: NewMessage) -> Result<(), BackendError> {
//!         // Append to the target's inbox with a new, increasing id (`InstanceNotFound` if
//!         // there is no such instance); hidden until `visible_at_ms`.
//!         unwritten()
//!     }
//!     async fn read_metadata(&self, id: &str) -> Result<Option<InstanceMetadata>, BackendError> {
//!         unwritten()
//!     }
//!     async fn read_history(&self, id: &str) -> Result<Vec<Event>, BackendError> {
//!         unwritten()
//!     }
//!     async fn list_instances(
//!         &self,
//!         filter: &InstanceFilter,
//!     ) -> Result<Vec<InstanceMetadata>, BackendError> {
//!         // `filter.matches(..)` decides; order by id, then apply `filter.limit`.
//!         unwritten()
//!     }
//!     async fn purge_instance(&self, id: &str) -> Result<(), BackendError> {
//!         // Only a finished instance (`InstanceActive` otherwise): metadata, history, inbox.
//!         unwritten()
//!     }
//!     async fn fetch_orchestration(
//!         &self,
//!         lease_for: Duration,
//!         wait: Duration,
//!     ) -> Result<Option<OrchestrationItem>, BackendError> {
//!         // Lease the instance whose oldest visible message is oldest and that has no live
//!         // lease and no abandon delay; hand out its visible messages in id order with a
//!         // new token and attempt + 1. Wait up to `wait` for one.
//!         unwritten()
//!     }
//!     async fn ack_orchestration(
//!         &self,
//!         instance_id: &str,
//!         token: u64,
//!         commit: &OrchestrationCommit,
//!     ) -> Result<(), BackendError> {
//!         // Check the token (`LeaseLost`), then in one transaction: remove the messages
//!         // handed out under it, append (or, for a new execution id, replace) the history,
//!         // update the metadata, enqueue activities and messages, create sub-orchestrations
//!         // (or enqueue their `rejection()`), reset the attempt count, release the lease.
//!         unwritten()
//!     }
//!     async fn abandon_orchestration(&self, id: &str, token: u64, delay: Duration) -> Result<(), BackendError> {
//!         unwritten()
//!     }
//!     async fn renew_orchestration_lease(&self, id: &str, token: u64, lease_for: Duration) -> Result<u64, BackendError> {
//!         unwritten()
//!     }
//!     async fn fetch_activity(&self, lease_for: Duration, wait: Duration) -> Result<Option<ActivityItem>, BackendError> {
//!         unwritten()
//!     }
//!     async fn ack_activity(&self, id: u64, token: u64, completion: &NewMessage) -> Result<(), BackendError> {
//!         // Remove the work item and enqueue `completion`, in one transaction.
//!         unwritten()
//!     }
//!     async fn abandon_activity(&self, id: u64, token: u64, delay: Duration) -> Result<(), BackendError> {
//!         unwritten()
//!     }
//!     async fn renew_activity_lease(&self, id: u64, token: u64, lease_for: Duration) -> Result<u64, BackendError> {
//!         unwritten()
//!     }
//! }
//! ```
//!
//! Then prove it with the conformance suite (feature `conformance`): one macro call in your
//! crate's tests generates a test per property, each on a fresh store, under paused tokio
//! time (so measure time with a [`Clock`]); the `conformance` module (present with the
//! feature) lists what it checks.
//!
//! ```ignore
//! // Cargo.toml: [dev-dependencies] durable-core = { ..., features = ["conformance"] }
//! //             tokio = { ..., features = ["macros", "rt", "test-util"] }
//! async fn make() -> MyStore { MyStore::open_temporary().await }
//! durable_core::backend_conformance_tests!(make);
//! // Or, for a store that needs a server which may be absent (`None` skips the test):
//! // async fn make(test: &'static str) -> Option<MyStore> { ... }
//! // durable_core::backend_conformance_tests!(optional: make);
//! ```
//!
//! To check that new orchestration code can take over running instances before deploying
//! it, replay their histories with [`Registry::verify_history`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

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
mod episode;
pub mod error;
pub mod failure;
pub mod history;
pub mod memory;
pub mod metadata;
mod metrics;
mod payload;
pub mod queue;
pub mod registry;
mod replay;
pub mod retention;
pub mod retry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod worker;

// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use activity::{ActivityContext, ActivityOptions};
pub use backend::{Backend, HeldKind, HeldWork, IdReusePolicy, WorkerInfo};
pub use client::{Client, ScheduleOptions};
pub use clock::Clock;
pub use context::{DurableFuture, OrchestrationContext};
pub use error::{BackendError, ClientError};
pub use failure::{Failure, FailureKind};
pub use history::{Event, HISTORY_FORMAT_VERSION};
pub use memory::MemoryBackend;
pub use metadata::{
    InstanceFilter, InstanceMetadata, InstancePage, InstanceStatus, ParentInstance,
};
pub use metrics::MetricsSnapshot;
pub use registry::Registry;
pub use retention::Retention;
pub use retry::RetryPolicy;
pub use worker::{Worker, WorkerOptions};
