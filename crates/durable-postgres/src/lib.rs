//! A PostgreSQL [`Backend`](durable_core::Backend) for [`durable_core`]: worker processes on
//! any number of hosts share one database, each taking work under leases.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use durable_core::{Client, Registry, Worker, WorkerOptions};
//! use durable_postgres::PostgresBackend;
//!
//! // The tables go to the first schema of the search_path, which the URL may choose.
//! let url = "postgres://ocfl:secret@db.example.org/ocfl?options=-csearch_path%3Docfl";
//! let backend = Arc::new(PostgresBackend::connect(url).await?);
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
//! - **Schema and migrations.** Seven tables (`durable_instances`, `durable_history`,
//!   `durable_messages`, `durable_activities`, `durable_sent_keys`, and `durable_workers` with
//!   `durable_token_blocks`) and sequences for ids and lease token blocks, in the
//!   connection's current schema. They are created and upgraded by embedded, versioned
//!   migrations recorded in `durable_migrations`; concurrent first connections are
//!   serialized by an advisory lock, and a schema newer than the code is refused
//!   ([`PostgresError::SchemaTooNew`]).
//! - **Work queues** are taken with `SELECT ... FOR UPDATE SKIP LOCKED`, so fetching workers
//!   never wait for each other. Leases are a token (from a block of tokens the backend
//!   reserved with a synchronous commit, so a server crash never makes one repeat), an
//!   expiry and an attempt count on the instance or activity row: an expired lease makes the work
//!   available again, the next hand-out raises the attempt count, and every acknowledgement
//!   checks the token (`LeaseLost` otherwise).
//! - **One transaction per acknowledgement**: history delta, new activities, messages (timers
//!   are messages with a visibility time), sub-orchestrations, metadata, the consumed
//!   messages and the lease release commit together or not at all. An episode's
//!   acknowledgement is one call of a server-side function (`durable_ack_episode`), one
//!   round trip, unless it creates sub-orchestrations.
//! - **What waits for the disk**: everything that records progress (creations, messages,
//!   episodes, purges, token blocks) commits synchronously; leases, their renewals and
//!   releases, and activity acknowledgements do not wait for the WAL flush: a crash that
//!   loses one only makes work run again, and the episode that records an activity's
//!   completion flushes its acknowledgement first.
//! - **Workers** ([`PostgresBackend::workers_seen_within`], `Backend::workers`): a backend
//!   that takes work registers its process (named by [`PostgresOptions::worker_name`],
//!   `host:pid` by default) with the first block of lease tokens it reserves, and records
//!   each block it reserves as its own, so the holder of any lease is known from its token
//!   without a write per fetch; fetches and renewals refresh its last-seen time at most
//!   every 5 s, in the background.
//! - **Wake-ups** by `LISTEN`/`NOTIFY` on a channel named after the schema (so schemas in
//!   one database never wake each other), sent after the commit, coalesced (a `NOTIFY` inside
//!   the transaction would serialize the commits' WAL flushes); a waiting
//!   fetch otherwise sleeps until the next message or lease expiry is due, and at most
//!   [`PostgresOptions::poll_interval`].
//! - **Lost connections are retried**: a call that fails because the connection dropped or
//!   the server restarted is retried on a fresh connection with backoff for up to
//!   [`PostgresOptions::retry_for`]; the engine never sees it as a failure of an
//!   orchestration. A retried acknowledgement whose first attempt committed gets `LeaseLost`,
//!   which the engine treats as "someone else has it" (the work was recorded); a retried
//!   `send_message` finds its deduplication key and enqueues nothing. A call that gets no
//!   answer within [`PostgresOptions::statement_timeout`] plus [`ANSWER_GRACE`] is retried on a
//!   new connection.
//! - **Its own I/O runtime**: database calls run on a small runtime owned by this crate, so
//!   the backend works from any runtime, including tests under paused tokio time.
//!
//! Times (visibility, leases) come from each process's [`durable_core::Clock`], so hosts
//! sharing a database should keep their clocks in sync.
//!
//! For tests, `testing::fresh_schema_url` (feature `testing`) gives each test a schema of
//! its own.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod io;
mod listen;
mod migrate;
mod notify;
mod ops;
mod options;
mod purge;
mod rows;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod tokens;
mod url;
mod workers;

pub use error::PostgresError;
pub use migrate::SCHEMA_VERSION;
pub use options::{ANSWER_GRACE, PostgresOptions};
pub use store::PostgresBackend;
pub use url::{PostgresUrl, hide_password};
