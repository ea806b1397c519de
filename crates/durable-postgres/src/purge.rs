//! Retention's purge: the finished instances last changed before a cutoff, a batch at a time.

use deadpool_postgres::Pool;
use durable_core::InstanceStatus;

use crate::error::Fault;
use crate::listen::CHANGES;
use crate::rows::status_text;

/// The `WHERE` clause that selects unfinished instances, as the partial index
/// `durable_instances_unfinished` is defined (the planner uses the index only for a query
/// whose condition implies the index's).
pub(crate) const UNFINISHED_CLAUSE: &str = "status IN ('pending', 'running', 'suspended')";

/// The same for finished instances and `durable_instances_finished`.
const FINISHED_CLAUSE: &str = "status IN ('completed', 'failed', 'terminated')";

/// Deletes at most `limit` finished instances last changed before `cutoff_ms`, oldest first,
/// with their history and inbox, in one transaction; returns their ids and the notification
/// flags its commit made due. Rows another transaction has locked are skipped (the next batch takes them).
pub(crate) async fn finished_before(
    pool: &Pool,
    cutoff_ms: i64,
    limit: i64,
) -> Result<(Vec<String>, String), Fault> {
    check_clauses()?;
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let statement = tx
        .prepare_cached(&format!(
            "WITH due AS ({due}), \
             gone AS ( \
                 DELETE FROM durable_instances i USING due \
                 WHERE i.instance_id = due.instance_id AND i.{FINISHED_CLAUSE} \
                 RETURNING i.instance_id, due.updated_at_ms), \
             h AS (DELETE FROM durable_history WHERE instance_id IN \
                 (SELECT instance_id FROM gone)), \
             m AS (DELETE FROM durable_messages WHERE instance_id IN \
                 (SELECT instance_id FROM gone)) \
             SELECT instance_id FROM gone ORDER BY updated_at_ms, instance_id",
            due = due_sql()
        ))
        .await?;
    let purged: Vec<String> = tx
        .query(&statement, &[&cutoff_ms, &limit])
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let flags = if purged.is_empty() {
        String::new()
    } else {
        CHANGES.to_string()
    };
    tx.commit().await?;
    Ok((purged, flags))
}

/// The finished instances due for purging, oldest first (parameters: cutoff, limit).
fn due_sql() -> String {
    format!(
        "SELECT instance_id, updated_at_ms FROM durable_instances \
         WHERE {FINISHED_CLAUSE} AND updated_at_ms < $1 \
         ORDER BY updated_at_ms, instance_id LIMIT $2 \
         FOR UPDATE SKIP LOCKED"
    )
}

/// The literal clauses spell the statuses as the rows do.
fn check_clauses() -> Result<(), Fault> {
    for (clause, statuses) in [
        (UNFINISHED_CLAUSE, InstanceStatus::UNFINISHED),
        (FINISHED_CLAUSE, InstanceStatus::FINISHED),
    ] {
        for status in statuses {
            let text = status_text(status)?;
            if !clause.contains(&format!("'{text}'")) {
                return Err(Fault::Permanent(format!(
                    "status '{text}' is missing from the clause {clause}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod plans {
    //! The statements that must not read finished rows use the status indexes, on a table of
    //! 20,000 finished instances and three unfinished ones (the plans PostgreSQL chooses, by
    //! `EXPLAIN`).

    use tokio_postgres::NoTls;

    use crate::testing::fresh_schema_url;

    async fn plan(client: &tokio_postgres::Client, statement: &str, call: &str) -> String {
        client
            .batch_execute(&format!("DEALLOCATE ALL; PREPARE q AS {statement}"))
            .await
            .expect("prepare");
        let rows = client
            .simple_query(&format!("EXPLAIN EXECUTE q{call}"))
            .await
            .expect("explain");
        rows.iter()
            .filter_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unfinished_listings_and_purges_use_the_status_indexes() {
        let Some(base) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL") else {
            eprintln!("skipped: set OCFL_TEST_POSTGRES_URL to run it");
            return;
        };
        let url = fresh_schema_url(&base, "plans").await.expect("schema");
        // Connecting migrates the schema.
        drop(
            crate::PostgresBackend::connect(&url)
                .await
                .expect("connect"),
        );
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute(
                "INSERT INTO durable_instances (instance_id, name, execution_id, status, input, \
                     created_at_ms, updated_at_ms) \
                 SELECT 'done-' || lpad(n::text, 6, '0'), 'flow', 1, \
                     (ARRAY['completed', 'failed', 'terminated'])[n % 3 + 1], 'null', n, n \
                 FROM generate_series(1, 20000) AS n; \
                 INSERT INTO durable_instances (instance_id, name, execution_id, status, input, \
                     created_at_ms, updated_at_ms) \
                 VALUES ('open-1', 'flow', 1, 'pending', 'null', 1, 1), \
                        ('open-2', 'flow', 1, 'running', 'null', 1, 1), \
                        ('open-3', 'flow', 1, 'suspended', 'null', 1, 1); \
                 ANALYZE durable_instances",
            )
            .await
            .expect("fill the table");
        let listing = plan(
            &client,
            &crate::ops::list_sql(true),
            "(ARRAY['pending', 'running', 'suspended'], 'flow', NULL, NULL, NULL, NULL, 100, NULL)",
        )
        .await;
        assert!(
            listing.contains("durable_instances_unfinished"),
            "the unfinished listing reads the whole table:\n{listing}"
        );
        let due = plan(&client, &super::due_sql(), "(100, 100)").await;
        assert!(
            due.contains("durable_instances_finished"),
            "the purge's search reads the whole table:\n{due}"
        );
    }
}
