//! Crash-safe OCFL object updates as durable orchestrations, on any `durable-core` backend.
//!
//! An update run is the `UpdateObject` orchestration:
//!
//! 1. **BuildStage** reads and hashes the source directory (one pass per file, in parallel)
//!    into a *stage*, written to the engine's state directory as a blob named by its sha256;
//! 2. **CreatePlan** plans the new version against the object's current inventory (the
//!    creation time is the orchestration's recorded clock, or the request's), again as a blob;
//! 3. the plan's **steps** run as activities: content copies in batches (at most
//!    [`Tuning::batch_files`] files and [`Tuning::batch_bytes`] bytes each, at most
//!    [`Tuning::copy_concurrency`] in flight), the steps before and after them as one activity
//!    each, in order, so a 100,000-file commit records a few hundred small history events;
//! 4. **VerifyObject** checks that the object's head is the planned inventory and validates the
//!    object's structure (content was hashed as it was written; see [`Verify`]);
//! 5. **Finish** removes the run's blobs.
//!
//! Each step is idempotent and verified by digest (`ocfl-plan`), so a crash at any instant is
//! recovered by replaying the orchestration from its history: completed activities are not
//! run again, the interrupted one is. The on-disk protocol is `docs/durability.md`.
//!
//! Transient I/O errors (a full disk included) are retried with backoff
//! ([`Tuning::retry`]); if they outlast the retries the run *stalls* rather than fails, keeping
//! its work, until it is resumed. A changed source file, a changed object or a digest
//! mismatch fail the run at once with a message naming the file or object (a [`Refusal`]),
//! and the run's work directory is rolled back.
//!
//! [`UpdateService`] is the entry point: [`UpdateService::commit`] maps a request to its run
//! (resuming an interrupted run of the same command, refusing a busy object; see the
//! `service` module for how run ids are derived) and waits for it. A [`durable_core::Worker`]
//! built from [`registry`] executes the runs, in this process or in others sharing the store.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use durable_core::{MemoryBackend, WorkerOptions};
//! use ocfl_core::init::{InitOptions, init_storage_root};
//! use ocfl_core::storage::LocalStorage;
//! use ocfl_durable::{CommitRequest, Environment, ServiceOptions, UpdateService};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let root = dir.path().join("root");
//! init_storage_root(&LocalStorage::new(&root), &InitOptions::default())?;
//! let source = dir.path().join("deposit");
//! std::fs::create_dir_all(source.join("data"))?;
//! std::fs::write(source.join("data/file1.txt"), "Hello, OCFL!\n")?;
//! std::fs::write(source.join("readme.txt"), "An example.\n")?;
//!
//! let backend = Arc::new(MemoryBackend::new());
//! let env = Arc::new(Environment::local(&root, &dir.path().join("state"))?);
//! let service = UpdateService::new(backend.clone(), &root, ServiceOptions::default())?;
//! let worker = service.start_worker(backend, env, WorkerOptions::default());
//!
//! let request = CommitRequest::new("ark:/12345/bcd987", &source).message("Initial deposit");
//! let first = service.commit(&request).await?;
//! assert_eq!((first.version.as_str(), first.changed), ("v1", true));
//!
//! // The same command again: a new run finds nothing to do.
//! let again = service.commit(&request).await?;
//! assert!(!again.changed);
//! println!("{}", again.summary());
//!
//! worker.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod activities;
mod blobs;
mod env;
mod orchestration;
mod refusal;
mod request;
pub mod service;
mod stage_form;
mod staged;
mod status;
mod written;

pub use env::{EnvError, Environment, ProgressEvent, ProgressSink};
pub use ocfl_plan::stage::Edit;
pub use refusal::{Refusal, RefusalKind};
pub use request::{CommitRequest, Edits, Tuning, Verify};
pub use service::{
    CommitError, CommitOutcome, RunInfo, RunState, RunsPage, ServiceOptions, Submitted,
    UpdateService, check_request, is_run_id, register, registry,
};
pub use staged::{Staged, stage_in_work_area};
pub use status::{Phase, Progress, RunReport};

/// The README's example, compiled as a doctest so it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
