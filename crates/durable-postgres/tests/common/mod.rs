//! What the PostgreSQL tests share: the database URL, or a note that they are skipped.

#![allow(dead_code)]

use durable_postgres::{PostgresBackend, PostgresOptions, testing::fresh_schema_url};

/// The variable naming the test database.
pub const URL_VARIABLE: &str = "OCFL_TEST_POSTGRES_URL";

/// The test database's URL, or `None` after printing that the test is skipped (a failure
/// instead under `OCFL_TEST_REQUIRE_SERVICES=1`).
pub fn base_url(test: &str) -> Option<String> {
    let url = test_support::service(URL_VARIABLE, "PostgreSQL");
    if url.is_none() {
        eprintln!(
            "skipped {test}: set {URL_VARIABLE}=postgres://user:password@host/database to run it \
             (the role needs CREATE on the database; each test makes a schema)"
        );
    }
    url
}

/// A URL pointing at a fresh schema of the test database.
pub async fn fresh_url(base: &str, test: &str) -> String {
    fresh_schema_url(base, test)
        .await
        .expect("create a schema for the test")
}

/// A backend on a fresh schema, with a small pool (tests run side by side).
pub async fn fresh_backend(base: &str, test: &str) -> PostgresBackend {
    let url = fresh_url(base, test).await;
    PostgresBackend::connect_with(
        &url,
        PostgresOptions {
            pool_size: 4,
            ..PostgresOptions::default()
        },
    )
    .await
    .expect("connect to the test database")
}
