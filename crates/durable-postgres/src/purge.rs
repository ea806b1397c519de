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
/// flags sent. Rows another transaction has locked are skipped (the next batch takes them).
pub(crate) async fn finished_before(
    pool: &Pool,
    channel: &str,
    cutoff_ms: i64,
    limit: i64,
) -> Result<(Vec<String>, String), Fault> {
    check_clauses()?;
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let statement = tx
        .prepare_cached(&format!(
            "WITH due AS ( \
                 SELECT instance_id, updated_at_ms FROM durable_instances \
                 WHERE {FINISHED_CLAUSE} AND updated_at_ms < $1 \
                 ORDER BY updated_at_ms, instance_id LIMIT $2 \
                 FOR UPDATE SKIP LOCKED), \
             gone AS ( \
                 DELETE FROM durable_instances i USING due \
                 WHERE i.instance_id = due.instance_id AND i.{FINISHED_CLAUSE} \
                 RETURNING i.instance_id, due.updated_at_ms), \
             h AS (DELETE FROM durable_history WHERE instance_id IN \
                 (SELECT instance_id FROM gone)), \
             m AS (DELETE FROM durable_messages WHERE instance_id IN \
                 (SELECT instance_id FROM gone)) \
             SELECT instance_id FROM gone ORDER BY updated_at_ms, instance_id"
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
    if !flags.is_empty() {
        let notify = tx.prepare_cached("SELECT pg_notify($1, $2)::text").await?;
        tx.query(&notify, &[&channel, &flags]).await?;
    }
    tx.commit().await?;
    Ok((purged, flags))
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
