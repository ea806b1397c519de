//! The embedded default backend of [`durable_core`]: the whole engine state in one
//! [redb](https://www.redb.org) file, power-loss durable, for one process at a time.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use durable_core::{Client, Registry, Worker, WorkerOptions};
//! use durable_redb::RedbBackend;
//!
//! let backend = Arc::new(RedbBackend::open("state/engine.redb")?);
//! let worker = Worker::start(backend.clone(), Registry::new(), WorkerOptions::default());
//! let client = Client::new(backend);
//! // client.schedule(...), client.wait_for_completion(...)
//! worker.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # How it works
//!
//! - **Tables** (see [`schema`]): instance metadata, history keyed by (instance, sequence
//!   number), inboxes keyed by (instance, message id) with each message's visibility time
//!   (durable timers are delayed messages), the activity queue, attempt counts; and the
//!   schema version, checked on every open.
//! - **Queues in memory.** The pending messages and activity work items (not histories or
//!   metadata) are mirrored in ordered sets keyed by visibility time (rebuilt from the file on
//!   open, changed only after a commit), so a fetch is O(log n), reads only the instance's
//!   metadata from the file and never waits behind a commit. Waiting
//!   fetches are woken in-process the moment work is committed, and otherwise sleep exactly
//!   until the next message becomes visible.
//! - **Group commit.** Writes (creations, messages, acknowledgements, purges) go through one
//!   writer: everything that arrives while a commit is in progress is written in the next
//!   transaction and made durable with one fsync. See the `writer` module.
//! - **Leases** live in memory: only the process that has the file open can hold one, so
//!   reopening the file after a crash reclaims every lease at once. Every attempt a fetch
//!   hands out is on disk before the work runs, so work that kills the process is still
//!   counted and poisoned: a first attempt is covered by the commit that queued the work (an
//!   item without an attempt row counts as attempted once after a reopen), a redelivery is
//!   written and flushed before it is handed out; abandon delays go with the next commit.
//! - **One process.** Opening takes an exclusive lock on `<file>.lock` and writes the
//!   process id into it; a second process gets [`OpenError::InUse`] naming that pid.
//! - **Damage is an error, not a panic.** With [`RedbOptions::verify_on_open`] (the default)
//!   redb verifies the checksum of every page when the file is opened; a truncated or
//!   altered file is refused with [`OpenError::Corrupt`], a file of another schema version
//!   with [`OpenError::UnsupportedSchema`].
//!
//! # Durability
//!
//! By default ([`Durability::PowerLoss`]) a write is acknowledged only after the group commit
//! carrying it returned from redb with `Durability::Immediate` (redb's 1-phase commit with
//! checksums, one `fsync` of the file). redb's own guarantees then apply: a crash or power
//! cut at any point leaves the file at its last completed commit, provided the disk honours
//! `fsync` and does not corrupt written sectors. [`Durability::Relaxed`] trades that for
//! fewer flushes.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod batch;
mod compact;
mod error;
mod index;
mod lock;
mod open;
mod options;
pub mod schema;
mod stats;
mod store;
#[cfg(any(test, feature = "testing"))]
mod testing;
mod writer;

pub use compact::{Compaction, compact};
pub use error::OpenError;
pub use options::{Durability, RedbOptions};
pub use schema::SCHEMA_VERSION;
pub use stats::WriteStats;
pub use store::RedbBackend;
