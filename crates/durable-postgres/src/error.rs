//! Errors: `PostgresError` for connecting and migrating, and the mapping of database errors
//! to `durable_core::BackendError` for the engine's calls.

use durable_core::BackendError;
use tokio_postgres::error::SqlState;

/// An error while connecting to PostgreSQL or preparing its schema.
///
/// The display never contains the password of the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The URL could not be parsed.
    #[error("invalid PostgreSQL URL: {0}")]
    InvalidUrl(String),
    /// The server could not be reached, or refused the login.
    #[error("cannot connect to PostgreSQL at {target}: {message}")]
    Connect {
        /// `user@host:port/database`, without the password.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// No schema of the connection's `search_path` exists, so there is nowhere to create the
    /// tables.
    #[error(
        "no schema to work in: none of the search_path ({search_path}) exists; create it or \
         choose another with ?options=-csearch_path%3DNAME"
    )]
    NoSchema {
        /// The connection's `search_path`.
        search_path: String,
    },
    /// The schema was created by a newer version of durable-postgres.
    #[error(
        "the engine schema in '{schema}' is at version {found}, newer than this program knows \
         ({supported}); upgrade the program or use another schema"
    )]
    SchemaTooNew {
        /// The PostgreSQL schema.
        schema: String,
        /// The version found in its migrations table.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },
    /// A migration failed (nothing of it was applied).
    #[error("migrating the engine schema in '{schema}' to version {version} failed: {message}")]
    Migration {
        /// The PostgreSQL schema.
        schema: String,
        /// The migration that failed.
        version: i64,
        /// The database's error.
        message: String,
    },
    /// Any other database error.
    #[error("PostgreSQL error: {0}")]
    Database(String),
    /// The backend's I/O runtime could not be started.
    #[error("cannot start the PostgreSQL I/O runtime: {0}")]
    Runtime(String),
}

/// Why one attempt of a backend call failed.
#[derive(Debug)]
pub(crate) enum Fault {
    /// An answer of the call itself (`LeaseLost`, `InstanceExists`, ...): returned as is.
    Answer(BackendError),
    /// The connection or the server failed; the call may be tried again.
    Transient(String),
    /// Retrying will not help.
    Permanent(String),
}

impl From<BackendError> for Fault {
    fn from(error: BackendError) -> Self {
        Fault::Answer(error)
    }
}

impl From<tokio_postgres::Error> for Fault {
    fn from(error: tokio_postgres::Error) -> Self {
        if is_transient(&error) {
            Fault::Transient(describe(&error))
        } else {
            Fault::Permanent(describe(&error))
        }
    }
}

impl From<deadpool_postgres::PoolError> for Fault {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => Fault::from(error),
            // Timeouts and a pool being closed while the process shuts down: try again.
            other => Fault::Transient(format!("connection pool: {other}")),
        }
    }
}

impl From<serde_json::Error> for Fault {
    fn from(error: serde_json::Error) -> Self {
        Fault::Permanent(format!("cannot (de)serialize a stored value: {error}"))
    }
}

/// True for errors a retry on a fresh connection may fix: a lost or refused connection, a
/// server shutting down or terminating the session, a statement cancelled by
/// `statement_timeout`, serialization failures and deadlocks.
pub(crate) fn is_transient(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => is_connection_failure(error),
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::QUERY_CANCELED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::TOO_MANY_CONNECTIONS
        }
    }
}

/// For an error without a SQLSTATE: true if the connection failed (closed, an I/O error, a
/// timeout, no connection made), false if the client could not convert a value (a column
/// that does not decode, a parameter that does not encode, an unexpected row count): that
/// comes back on every retry, so the call fails at once.
fn is_connection_failure(error: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    if error.is_closed() {
        return true;
    }
    if error
        .source()
        .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some())
    {
        return true;
    }
    // tokio-postgres does not expose the kind of an error without a source; these two are
    // told apart by their fixed messages.
    let message = error.to_string();
    message == "timeout waiting for server" || message.starts_with("error connecting to server")
}

/// The server's message (with its SQLSTATE) when there is one, else the client's.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_transient() {
        assert!(is_transient(&tokio_postgres::Error::__private_api_timeout()));
    }

    /// A value that does not decode is not retried: the same row would fail again.
    #[tokio::test]
    async fn decode_errors_are_permanent() {
        let Some(url) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL") else {
            return;
        };
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let driver = tokio::spawn(connection);
        let row = client
            .query_one("SELECT 'not a number'::text", &[])
            .await
            .expect("query");
        let error = row
            .try_get::<_, i64>(0)
            .expect_err("text does not decode as i64");
        assert_eq!(error.code(), None);
        assert!(!is_transient(&error), "{error}");
        assert!(matches!(Fault::from(error), Fault::Permanent(_)));
        let error = client
            .query_one("SELECT 1 WHERE false", &[])
            .await
            .expect_err("no row");
        assert!(!is_transient(&error), "{error}");
        drop(client);
        let _ = driver.await;
    }
}
