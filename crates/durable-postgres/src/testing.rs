//! Test support: a fresh, empty schema per test, so tests sharing one database never see
//! each other's instances or notifications; the options of a test's backend; and a plain SQL
//! connection for a test to look at or change the store's tables.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use durable_postgres::{PostgresBackend, testing::fresh_schema_url};
//!
//! if let Ok(base) = std::env::var("OCFL_TEST_POSTGRES_URL") {
//!     let url = fresh_schema_url(&base, "my_test").await?;
//!     let backend = PostgresBackend::connect(&url).await?;
//!     // ... the backend's tables live in a schema of their own.
//! }
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::{Config, NoTls};

use crate::error::describe;
use crate::io;
use crate::url::redact;
use crate::{PostgresError, PostgresOptions};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates a new schema in the database of `base_url`, named `<prefix>_<pid>_<time>_<n>`
/// (the prefix lower-cased, reduced to letters, digits and `_`, and shortened), and returns
/// `base_url` with `options=-csearch_path=<schema>` added, so that a backend connected with
/// it keeps all its tables, and its notification channel, in that schema.
///
/// The schema is left in place (drop it with `DROP SCHEMA ... CASCADE` if needed); a CI
/// database is thrown away whole.
pub async fn fresh_schema_url(base_url: &str, prefix: &str) -> Result<String, PostgresError> {
    let config: Config = base_url.parse().map_err(|error: tokio_postgres::Error| {
        PostgresError::InvalidUrl(redact(&error.to_string(), base_url))
    })?;
    let schema = schema_name(prefix);
    let create = format!("CREATE SCHEMA \"{schema}\"");
    let url = base_url.to_owned();
    io::run(async move {
        let (client, connection) =
            config
                .connect(NoTls)
                .await
                .map_err(|error| PostgresError::Connect {
                    target: "the test database".to_owned(),
                    message: redact(&describe(&error), &url),
                })?;
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&create)
            .await
            .map_err(|error| PostgresError::Database(describe(&error)))?;
        drop(client);
        let _ = driver.await;
        Ok::<(), PostgresError>(())
    })
    .await
    .map_err(PostgresError::Runtime)??;
    let separator = if base_url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{base_url}{separator}options=-csearch_path%3D{schema}"
    ))
}

/// The options of a test's backend: a small pool (tests run side by side, each with backends
/// of its own) and the given worker name.
pub fn options(worker_name: Option<&str>) -> PostgresOptions {
    PostgresOptions {
        pool_size: 2,
        worker_name: worker_name.map(str::to_owned),
        ..PostgresOptions::default()
    }
}

/// A plain SQL connection to the database at `url`, for a test to look at or change the
/// store's tables directly. Its connection runs as a task of the calling tokio runtime and
/// ends when the client is dropped.
pub async fn sql_client(url: &str) -> Result<tokio_postgres::Client, PostgresError> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|error| PostgresError::Runtime(error.to_string()))?;
    let (client, connection) =
        tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|error| PostgresError::Connect {
                target: "the test database".to_owned(),
                message: redact(&describe(&error), url),
            })?;
    runtime.spawn(connection);
    Ok(client)
}

fn schema_name(prefix: &str) -> String {
    let mut clean: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(24)
        .collect();
    if clean.is_empty() || clean.starts_with(|c: char| c.is_ascii_digit()) {
        clean.insert_str(0, "t_");
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() % 1_000_000_000_000);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{clean}_{}_{nanos}_{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::schema_name;

    #[test]
    fn schema_names_are_plain_identifiers() {
        let name = schema_name("My-Test 1");
        assert!(name.starts_with("mytest1_"), "{name}");
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        assert!(schema_name("9x").starts_with("t_9x_"));
        assert_ne!(schema_name("a"), schema_name("a"));
    }
}
