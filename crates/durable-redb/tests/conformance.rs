//! The durable-core backend conformance suite, each test on a fresh store file.

use durable_redb::{RedbBackend, RedbOptions};

async fn make() -> RedbBackend {
    RedbBackend::open_temporary(RedbOptions::default()).expect("open a temporary store")
}

durable_core::backend_conformance_tests!(make);
