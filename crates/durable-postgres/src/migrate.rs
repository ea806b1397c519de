//! Embedded, versioned schema migrations.
//!
//! `durable_migrations` records every applied version. Connecting applies the missing ones in
//! one transaction under a transaction-level advisory lock keyed by the schema, so
//! concurrent first connections (many workers starting at once) migrate once and the others
//! wait, then find nothing to do. A schema whose recorded version is newer than the code's is
//! refused with [`PostgresError::SchemaTooNew`] rather than used with a layout this code does
//! not know.

use tokio_postgres::Client;

use crate::error::{PostgresError, describe};

/// One migration: its version (1, 2, ...), a name and its SQL.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "incarnation",
        sql: include_str!("migrations/0002_incarnation.sql"),
    },
    Migration {
        version: 3,
        name: "dedup keys, durable lease tokens, visibility index",
        sql: include_str!("migrations/0003_dedup_tokens_indexes.sql"),
    },
    Migration {
        version: 4,
        name: "status indexes",
        sql: include_str!("migrations/0004_status_indexes.sql"),
    },
    Migration {
        version: 5,
        name: "activity call options, activities by instance",
        sql: include_str!("migrations/0005_activity_options.sql"),
    },
    Migration {
        version: 6,
        name: "workers and their token blocks",
        sql: include_str!("migrations/0006_workers.sql"),
    },
    Migration {
        version: 7,
        name: "an episode's acknowledgement in one statement",
        sql: include_str!("migrations/0007_ack_episode.sql"),
    },
];

/// The schema version this code creates and understands.
pub const SCHEMA_VERSION: i64 = 7;

/// The first key of the advisory lock that serializes migrators ("OCFL" in ASCII); the second
/// is a hash of the schema name.
const LOCK_CLASS: i32 = 0x4f43_464c;

/// Brings the current schema up to [`SCHEMA_VERSION`].
pub(crate) async fn migrate(client: &mut Client, schema: &str) -> Result<(), PostgresError> {
    let database = |error: tokio_postgres::Error| PostgresError::Database(describe(&error));
    let transaction = client.transaction().await.map_err(database)?;
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_CLASS, &schema],
        )
        .await
        .map_err(database)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS durable_migrations (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(database)?;
    let row = transaction
        .query_one(
            "SELECT coalesce(max(version), 0) FROM durable_migrations",
            &[],
        )
        .await
        .map_err(database)?;
    let current: i64 = row.get(0);
    if current > SCHEMA_VERSION {
        return Err(PostgresError::SchemaTooNew {
            schema: schema.to_owned(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let failed = |error: tokio_postgres::Error| PostgresError::Migration {
            schema: schema.to_owned(),
            version: migration.version,
            message: describe(&error),
        };
        transaction
            .batch_execute(migration.sql)
            .await
            .map_err(failed)?;
        transaction
            .execute(
                "INSERT INTO durable_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await
            .map_err(failed)?;
        tracing::info!(schema, version = migration.version, "applied migration");
    }
    transaction.commit().await.map_err(database)
}
