//! Integration tests of ocfl-plan, one module per area.

// Shared helpers: trees on disk, committing, reconstructing versions, a crashing filesystem.
mod util;

// Planning and applying: dedup, no change, spec upgrade, refusals, idempotence.
mod planning;

// Model-based property: random version sequences give valid objects that reconstruct exactly.
mod model;

// Crash property: a crash at every operation, then a re-run, gives the uninterrupted object.
mod crash;

// A batch's copies: what they look at and which directories they make.
mod copies;

// Staging into the spool: a new object's content read once, and what happens without it.
mod spool;

// Power cuts: every crash state of the POSIX and ext4 models and of an object store, recovered.
mod powercut;
