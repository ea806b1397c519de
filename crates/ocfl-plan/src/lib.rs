//! OCFL object updates as deterministic, idempotent plans.
//!
//! - [`stage`]: read a source directory into a [`Stage`](stage::Stage) (logical path ->
//!   digest, digest -> source file), hashing each file once, in parallel;
//! - [`plan`]: a pure function of (current inventory, stage, options, timestamp) giving a
//!   serializable [`Plan`](plan::Plan) of ordered steps with stable ids, or "no change";
//! - [`bag`]: a BagIt bag as a source, its payload checked against its manifests while it
//!   is staged;
//! - [`exec`]: running one step idempotently and verifying its result, and
//!   [`apply`](exec::apply) to run a whole plan;
//! - `fault` (feature `testing`): a wrapper of the storage seam
//!   ([`ocfl_core::storage::Storage`]) that fails chosen writes, flushes and renames (EIO,
//!   ENOSPC, torn writes) or kills the process at a chosen operation, for testing the
//!   protocol under I/O errors and crashes;
//! - `powercut` (feature `testing`): a storage that simulates power cuts under the POSIX
//!   and ext4 persistence models, for testing the protocol's recovery from every crash state.
//!
//! Everything reads and writes through [`ocfl_core::storage::Storage`], whose unflushed
//! writes and renames, batched flushes and early-writeback hints are what the protocol uses.
//!
//! The on-disk protocol these steps implement, and what a crash at any instant leaves behind,
//! is written down in `docs/durability.md`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bag;
pub mod exec;
#[cfg(feature = "testing")]
pub mod fault;
pub mod plan;
#[cfg(feature = "testing")]
pub mod powercut;
pub mod stage;

/// The README's example, compiled as a doctest so it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
