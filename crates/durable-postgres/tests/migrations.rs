//! Schema migrations: a fresh schema, re-running, concurrent first connections, a schema
//! newer than the code, a missing schema; and connection errors that keep the password out.
//! Skipped (with a note) without `OCFL_TEST_POSTGRES_URL`.

mod common;

use std::time::Duration;

use durable_core::Backend;
use durable_core::testing::new_instance;
use durable_postgres::testing::sql_client;
use durable_postgres::{PostgresBackend, PostgresError, SCHEMA_VERSION};

/// A plain connection to `url`, for looking at the tables directly.
async fn sql(url: &str) -> tokio_postgres::Client {
    sql_client(url).await.expect("connect")
}

async fn versions(url: &str) -> Vec<i64> {
    sql(url)
        .await
        .query(
            "SELECT version FROM durable_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("read the migrations table")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_fresh_schema_gets_every_table() {
    let Some(base) = common::base_url("a_fresh_schema_gets_every_table") else {
        return;
    };
    let url = common::fresh_url(&base, "fresh").await;
    assert!(
        versions_or_none(&url).await.is_none(),
        "nothing before connecting"
    );
    let backend = PostgresBackend::connect(&url).await.expect("connect");
    let expected: Vec<i64> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(versions(&url).await, expected);
    let tables: Vec<String> = sql(&url)
        .await
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY 1",
            &[],
        )
        .await
        .expect("list tables")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        tables,
        [
            "durable_activities",
            "durable_history",
            "durable_instances",
            "durable_messages",
            "durable_migrations",
            "durable_sent_keys",
            "durable_token_blocks",
            "durable_workers"
        ]
    );
    assert!(
        backend.schema().starts_with("fresh_"),
        "{}",
        backend.schema()
    );
}

async fn versions_or_none(url: &str) -> Option<Vec<i64>> {
    sql(url)
        .await
        .query("SELECT version FROM durable_migrations", &[])
        .await
        .ok()
        .map(|rows| rows.iter().map(|row| row.get(0)).collect())
}

#[tokio::test]
async fn connecting_again_keeps_the_schema_and_the_data() {
    let Some(base) = common::base_url("connecting_again_keeps_the_schema_and_the_data") else {
        return;
    };
    let url = common::fresh_url(&base, "rerun").await;
    let first = PostgresBackend::connect(&url).await.expect("connect");
    first
        .create_instance(new_instance("a"))
        .await
        .expect("create");
    drop(first);
    let second = PostgresBackend::connect(&url).await.expect("connect again");
    assert_eq!(
        versions(&url).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
    let kept = second.read_metadata("a").await.expect("read");
    assert_eq!(kept.map(|metadata| metadata.name).as_deref(), Some("flow"));
}

/// A store made by version 1 of the schema, with an instance waiting, is upgraded in place:
/// its work is handed out, under a token above every id version 1 drew.
#[tokio::test]
async fn a_version_1_store_is_upgraded_in_place() {
    let Some(base) = common::base_url("a_version_1_store_is_upgraded_in_place") else {
        return;
    };
    let url = common::fresh_url(&base, "upgrade").await;
    let old = sql(&url).await;
    old.batch_execute(concat!(
        "CREATE TABLE durable_migrations (version bigint PRIMARY KEY, name text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now());",
        include_str!("../src/migrations/0001_initial.sql"),
        "INSERT INTO durable_migrations (version, name) VALUES (1, 'initial');"
    ))
    .await
    .expect("a version 1 schema");
    // Version 1 drew ids (and tokens) from durable_ids.
    old.batch_execute("SELECT setval('durable_ids', 5000)")
        .await
        .expect("advance the ids");
    let start = serde_json::to_string(&new_instance("a").start).expect("serialize");
    old.execute(
        "WITH i AS (INSERT INTO durable_instances (instance_id, name, execution_id, status, \
            input, created_at_ms, updated_at_ms) \
            VALUES ('a', 'flow', 1, 'pending', 'null', 0, 0)) \
         INSERT INTO durable_messages (instance_id, event, visible_at_ms) VALUES ('a', $1, 0)",
        &[&start],
    )
    .await
    .expect("an instance waiting");
    let upgraded = PostgresBackend::connect(&url).await.expect("connect");
    assert_eq!(
        versions(&url).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
    let item = upgraded
        .fetch_orchestration(Duration::from_secs(30), Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the waiting instance");
    assert_eq!(item.instance.instance_id, "a");
    assert!(item.lease.token > 5000, "token {}", item.lease.token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_connections_migrate_once() {
    let Some(base) = common::base_url("concurrent_first_connections_migrate_once") else {
        return;
    };
    let url = common::fresh_url(&base, "concurrent").await;
    let connects: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresBackend::connect(&url).await })
        })
        .collect();
    for connect in connects {
        connect
            .await
            .expect("the task ran")
            .expect("every connection succeeds");
    }
    assert_eq!(
        versions(&url).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let Some(base) = common::base_url("a_newer_schema_is_refused") else {
        return;
    };
    let url = common::fresh_url(&base, "newer").await;
    drop(PostgresBackend::connect(&url).await.expect("connect"));
    let newer = SCHEMA_VERSION + 1;
    sql(&url)
        .await
        .execute(
            "INSERT INTO durable_migrations (version, name) VALUES ($1, 'from the future')",
            &[&newer],
        )
        .await
        .expect("record a newer version");
    let refused = PostgresBackend::connect(&url).await;
    match refused {
        Err(PostgresError::SchemaTooNew {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (newer, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    // Nothing was changed by the refused connection.
    assert_eq!(versions(&url).await.last(), Some(&newer));
}

#[tokio::test]
async fn a_missing_schema_is_refused() {
    let Some(base) = common::base_url("a_missing_schema_is_refused") else {
        return;
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-csearch_path%3Dno_such_schema_here");
    let refused = PostgresBackend::connect(&url).await;
    assert!(
        matches!(refused, Err(PostgresError::NoSchema { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn connection_errors_do_not_show_the_password() {
    let Some(base) = common::base_url("connection_errors_do_not_show_the_password") else {
        return;
    };
    let config: tokio_postgres::Config = base.parse().expect("a valid URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let password = "Wr0ng-pa55word-xyzzy";
    let url = format!("postgres://ocfl_nobody:{password}@{host}:{port}/ocfl_nowhere");
    let error = tokio::time::timeout(Duration::from_secs(30), PostgresBackend::connect(&url))
        .await
        .expect("an answer")
        .expect_err("no such role");
    let shown = error.to_string();
    assert!(matches!(error, PostgresError::Connect { .. }), "{error:?}");
    assert!(!shown.contains(password), "{shown}");
    assert!(shown.contains("ocfl_nobody@"), "{shown}");
    let bad = format!("postgres://u:{password}@{host}:notaport/db");
    let shown = PostgresBackend::connect(&bad)
        .await
        .expect_err("bad port")
        .to_string();
    assert!(!shown.contains(password), "{shown}");
}
