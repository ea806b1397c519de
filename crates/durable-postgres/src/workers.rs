//! Which worker process holds which lease, for consoles (`Backend::workers`).
//!
//! A backend that takes work registers itself in `durable_workers` with the first block of
//! lease tokens it reserves, and records every block it reserves in `durable_token_blocks`,
//! both in the block's own synchronously committed transaction (`tokens::reserve`): the
//! holder of a lease is the worker whose block holds its token. So fetches and
//! acknowledgements write nothing for this; only `last_seen_ms` is refreshed, by a fetch or a
//! renewal at most every [`BEAT_EVERY_MS`]. A backend that only reads and schedules (a
//! console, a command that submits a run) never reserves a block, so it is never listed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use deadpool_postgres::{GenericClient, Pool};
use durable_core::{HeldKind, HeldWork, WorkerInfo};

use crate::error::Fault;
use crate::rows::{db, num};
use crate::tokens::BLOCK;

/// How often a working process refreshes its `last_seen_ms` (when it fetches or renews).
pub(crate) const BEAT_EVERY_MS: u64 = 5_000;

/// Workers not seen for this long are forgotten (with their blocks) when another registers:
/// their leases ran out long ago.
const FORGET_AFTER_MS: u64 = 7 * 24 * 3_600_000;

/// This process as a worker: what it registers as, and its registration.
#[derive(Debug)]
pub(crate) struct Identity {
    name: String,
    host: String,
    pid: u32,
    /// Its row's id once a block was reserved (0 before).
    id: AtomicI64,
    /// When it last refreshed `last_seen_ms`.
    last_beat_ms: AtomicU64,
}

impl Identity {
    /// This process, named `name` (default `host:pid`).
    pub(crate) fn new(name: Option<String>) -> Identity {
        let host = whoami::hostname().unwrap_or_else(|_| "unknown-host".to_owned());
        let pid = std::process::id();
        Identity {
            name: name.unwrap_or_else(|| format!("{host}:{pid}")),
            host,
            pid,
            id: AtomicI64::new(0),
            last_beat_ms: AtomicU64::new(0),
        }
    }

    /// Records the block starting at `first_token` as this worker's, registering the worker
    /// (again, if it was forgotten) in the same transaction, as seen at `now`. Once that
    /// transaction commits, call [`registered`](Self::registered) with the id returned.
    pub(crate) async fn record_block(
        &self,
        tx: &impl GenericClient,
        first_token: u64,
        now: u64,
    ) -> Result<i64, Fault> {
        let known = self.id.load(Ordering::Relaxed);
        if known == 0 {
            let forget = tx
                .prepare_cached("DELETE FROM durable_workers WHERE last_seen_ms < $1")
                .await?;
            tx.execute(&forget, &[&db(now.saturating_sub(FORGET_AFTER_MS))])
                .await?;
        }
        let statement = tx
            .prepare_cached(
                "WITH worker AS ( \
                    INSERT INTO durable_workers \
                        (id, name, host, pid, started_at_ms, last_seen_ms) \
                    VALUES (coalesce($1, nextval('durable_ids')), $2, $3, $4, $5, $5) \
                    ON CONFLICT (id) DO UPDATE SET last_seen_ms = EXCLUDED.last_seen_ms \
                    RETURNING id) \
                 INSERT INTO durable_token_blocks (first_token, worker_id) \
                 SELECT $6, id FROM worker RETURNING worker_id",
            )
            .await?;
        let id: Option<i64> = (known != 0).then_some(known);
        let row = tx
            .query_one(
                &statement,
                &[
                    &id,
                    &self.name,
                    &self.host,
                    &i64::from(self.pid),
                    &db(now),
                    &db(first_token),
                ],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    /// The registration of a committed `record_block` made at `now`.
    pub(crate) fn registered(&self, id: i64, now: u64) {
        self.id.store(id, Ordering::Relaxed);
        self.last_beat_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// The worker's id if its `last_seen_ms` is due for a refresh at `now` (and then counts
    /// it as refreshed: one caller beats). `None` before it registered.
    pub(crate) fn beat_due(&self, now: u64) -> Option<i64> {
        let id = self.id.load(Ordering::Relaxed);
        if id == 0 {
            return None;
        }
        let last = self.last_beat_ms.load(Ordering::Relaxed);
        (now.saturating_sub(last) >= BEAT_EVERY_MS
            && self
                .last_beat_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok())
        .then_some(id)
    }
}

/// Sets worker `id`'s `last_seen_ms` to `now` (one flush every few seconds per worker).
pub(crate) async fn beat(pool: &Pool, id: i64, now: u64) -> Result<(), Fault> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE durable_workers SET last_seen_ms = greatest(last_seen_ms, $2) WHERE id = $1",
        )
        .await?;
    client.execute(&statement, &[&id, &db(now)]).await?;
    Ok(())
}

/// The leases live at `now` with their holders (tokens from blocks no worker recorded, as
/// before migration 6, are left out). Leased instances are unfinished (an acknowledgement
/// that finishes one releases its lease), so the first part reads the index of unfinished
/// instances; the second reads the activity queue's index from `now` on.
const HELD_SQL: &str = "WITH held AS ( \
        SELECT i.instance_id, NULL::bigint AS activity_id, NULL::text AS activity_name, \
            i.lease_token AS token, i.lease_expires_ms AS expires, i.attempts \
        FROM durable_instances i \
        WHERE i.status IN ('pending', 'running', 'suspended') \
          AND i.lease_token IS NOT NULL AND i.lease_expires_ms > $1 \
        UNION ALL \
        SELECT a.instance_id, a.id, a.name, a.lease_token, a.visible_at_ms, a.attempts \
        FROM durable_activities a \
        WHERE a.visible_at_ms > $1 AND a.lease_token IS NOT NULL) \
     SELECT b.worker_id, held.instance_id, held.activity_id, held.activity_name, \
        held.expires, held.attempts \
     FROM held JOIN LATERAL ( \
        SELECT worker_id, first_token FROM durable_token_blocks \
        WHERE first_token <= held.token ORDER BY first_token DESC LIMIT 1) b \
       ON held.token < b.first_token + $2 \
     ORDER BY held.instance_id, held.activity_id NULLS FIRST";

/// The workers seen at or after `since` or holding a live lease at `now`, by id, each with
/// what it holds.
pub(crate) async fn list(pool: &Pool, now: u64, since: u64) -> Result<Vec<WorkerInfo>, Fault> {
    let client = pool.get().await?;
    let held = client.prepare_cached(HELD_SQL).await?;
    let mut holds: BTreeMap<i64, Vec<HeldWork>> = BTreeMap::new();
    for row in client.query(&held, &[&db(now), &db(BLOCK)]).await? {
        let worker: i64 = row.try_get(0)?;
        let activity: Option<i64> = row.try_get(2)?;
        let kind = match activity {
            None => HeldKind::Orchestration,
            Some(id) => HeldKind::Activity {
                id: num(id),
                name: row.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
            },
        };
        holds.entry(worker).or_default().push(HeldWork {
            instance_id: row.try_get(1)?,
            kind,
            expires_at_ms: num(row.try_get(4)?),
            attempt: u32::try_from(row.try_get::<_, i32>(5)?).unwrap_or(0),
        });
    }
    let holders: Vec<i64> = holds.keys().copied().collect();
    let workers = client
        .prepare_cached(
            "SELECT id, name, host, pid, started_at_ms, last_seen_ms FROM durable_workers \
             WHERE last_seen_ms >= $1 OR id = ANY($2) ORDER BY id",
        )
        .await?;
    let mut listed = Vec::new();
    for row in client.query(&workers, &[&db(since), &holders]).await? {
        let id: i64 = row.try_get(0)?;
        listed.push(WorkerInfo {
            id: num(id),
            name: row.try_get(1)?,
            host: row.try_get(2)?,
            pid: u32::try_from(row.try_get::<_, i64>(3)?).unwrap_or(0),
            started_at_ms: num(row.try_get(4)?),
            last_seen_ms: num(row.try_get(5)?),
            holds: holds.remove(&id).unwrap_or_default(),
        });
    }
    Ok(listed)
}
