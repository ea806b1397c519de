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
/// server shutting down or terminating the session, serialization failures and deadlocks.
pub(crate) fn is_transient(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        // No SQLSTATE: an I/O error, a closed connection, a timeout.
        None => true,
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::TOO_MANY_CONNECTIONS
        }
    }
}

/// The server's message (with its SQLSTATE) when there is one, else the client's.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// `message` with every occurrence of the URL's password replaced by `***`.
pub(crate) fn redact(message: &str, url: &str) -> String {
    match password_of(url) {
        Some(password) if !password.is_empty() => message.replace(password, "***"),
        _ => message.to_owned(),
    }
}

/// The password part of `scheme://user:password@host...`, as written in the URL.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let url = "postgres://user:s3cret@localhost:5432/db?options=-csearch_path%3Dx";
        assert_eq!(password_of(url), Some("s3cret"));
        assert_eq!(redact("bad s3cret here", url), "bad *** here");
        assert_eq!(password_of("postgres://user@localhost/db"), None);
        assert_eq!(redact("as is", "postgres://localhost/db"), "as is");
    }
}
