//! Power cuts, simulated (behind the `testing` feature): a storage that records every
//! operation and gives the states a power cut after any prefix of them may leave, as ALICE
//! (OSDI 2014) and CrashMonkey (OSDI 2018) do for the users of file systems.
//!
//! [`SimStorage`] is an in-memory file tree behind the storage seam
//! ([`ocfl_core::storage::Storage`]) with inodes, so that a directory renamed before its
//! entries were flushed behaves as on a filesystem. It records creations, renames, removals,
//! each `write`, and each flush. [`SimStorage::crash_states`] replays a prefix of that record
//! onto the durable tree it started from, under one [`Model`]:
//!
//! - [`Model::Posix`]: what `fsync(2)` promises and nothing more (unflushed data lost, short
//!   or stale; an entry change durable only once its directory is flushed; any subset of the
//!   rest);
//! - [`Model::Ext4Ordered`]: ext4's default journalling (entry changes persist in order,
//!   every flush commits all earlier ones; unflushed data lost or short, never stale);
//! - [`Model::ObjectStore`], for a [`SimStorage::object_store`]: the completed requests.
//!
//! A crash point with few undecided outcomes is enumerated exhaustively; beyond a [`Bound`],
//! the extreme states, every outcome varied alone from them, and seeded random combinations.
//! A state is a [`Snapshot`]: [`SimStorage::from_snapshot`] boots a new simulated machine on
//! it (with a new [`Storage::boot_id`](ocfl_core::storage::Storage::boot_id)) for recovery,
//! and [`materialize`] writes it into a directory for tools outside the simulation.
//! `docs/durability.md` section 10 says which scenarios use it and how many states they check.

mod crash;
mod sim;

pub use crash::{Bound, CrashStates, Model};
pub use sim::{FileNode, SimStorage, Snapshot, materialize};
