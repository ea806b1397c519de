//! Integration tests of update runs on the in-memory backend with real workers.

mod commit;
mod crash;
mod custom_layout;
mod failures;
mod golden;
mod lease_loss;
mod lock_release;
mod retention;
mod root_tags;
mod support;
mod verify;
