//! The durable-core backend conformance suite on PostgreSQL, each test in a fresh schema.
//! Skipped (with a note) without `OCFL_TEST_POSTGRES_URL`.

mod common;

async fn make(test: &'static str) -> Option<durable_postgres::PostgresBackend> {
    let base = common::base_url(test)?;
    Some(common::fresh_backend(&base, test).await)
}

durable_core::backend_conformance_tests!(optional: make);
