//! Shared by the PostgreSQL tests of the `ocfl` binary: a fresh schema per test in the
//! database `OCFL_TEST_POSTGRES_URL` names, or a note that the test is skipped.

/// The variable that points the PostgreSQL tests at a database.
pub const POSTGRES_VARIABLE: &str = "OCFL_TEST_POSTGRES_URL";

/// A URL for a fresh, empty schema in the test database (`OCFL_TEST_POSTGRES_URL`), named
/// after `test`; `None`, saying that the test is skipped, without the variable (a failure
/// instead under `OCFL_TEST_REQUIRE_SERVICES=1`).
pub fn postgres_url(test: &str) -> Option<String> {
    let base = test_support::service(POSTGRES_VARIABLE, "PostgreSQL")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let url = runtime
        .block_on(durable_postgres::testing::fresh_schema_url(&base, test))
        .expect("a fresh schema in the test database");
    Some(url)
}
