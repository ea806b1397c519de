//! The SQL of every backend call: one function per call, each one transaction (or one
//! statement, which PostgreSQL runs as a transaction of its own).
//!
//! Every function takes the time `now` (milliseconds, the backend's clock) from its caller and
//! returns the notification flags its commit made due (see `listen`): the caller wakes the
//! waiters of its own process at once and has the other processes notified after the commit
//! (see `notify`: a `NOTIFY` inside these transactions would serialize their WAL flushes).

use deadpool_postgres::{GenericClient, Pool, Transaction};
use durable_core::backend::{
    ActivityItem, ActivityWork, Lease, Message, NewInstance, NewMessage, OrchestrationCommit,
    OrchestrationItem,
};
use durable_core::{
    ActivityOptions, BackendError, Event, InstanceFilter, InstanceMetadata, InstanceStatus,
};

use crate::error::Fault;
use crate::listen::{ACTIVITIES, CHANGES, ORCHESTRATIONS};
use crate::rows::{
    METADATA_COLUMN_COUNT, METADATA_COLUMNS, db, duration_ms, event_of, event_text, failure_text,
    from_ms, metadata, num, status_text,
};
use crate::tokens::Tokens;

/// Outcome of a fetch: the item, or when the next one may become available.
pub(crate) enum Fetched<T> {
    Item(T),
    Nothing { next_ms: Option<u64> },
}

fn lease_lost(item: String, token: u64) -> Fault {
    Fault::Answer(BackendError::LeaseLost { item, token })
}

// ---- client side ----

/// Creates an instance (see `create_instance`); `Ok(false)` if its id is taken and may not be
/// replaced.
async fn create(tx: &Transaction<'_>, new: &NewInstance, now: i64) -> Result<bool, Fault> {
    let pending = status_text(InstanceStatus::Pending)?;
    let parent_id = new.parent.as_ref().map(|p| p.instance_id.as_str());
    let parent_execution = new.parent.as_ref().map(|p| db(p.execution_id));
    let parent_task = new.parent.as_ref().map(|p| db(p.task_id));
    let start_at = new.start_at_ms.map(db);
    let execution_id = db(new.execution_id);
    let insert = tx
        .prepare_cached(
            "INSERT INTO durable_instances (instance_id, name, execution_id, status, input, \
             created_at_ms, updated_at_ms, parent_instance_id, parent_execution_id, \
             parent_task_id, scheduled_start_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10) \
             ON CONFLICT (instance_id) DO NOTHING",
        )
        .await?;
    let inserted = tx
        .execute(
            &insert,
            &[
                &new.instance_id,
                &new.name,
                &execution_id,
                &pending,
                &new.input,
                &now,
                &parent_id,
                &parent_execution,
                &parent_task,
                &start_at,
            ],
        )
        .await?;
    if inserted == 0 {
        let select = tx
            .prepare_cached(&format!(
                "SELECT {METADATA_COLUMNS} FROM durable_instances WHERE instance_id = $1 \
                 FOR UPDATE"
            ))
            .await?;
        let Some(row) = tx.query_opt(&select, &[&new.instance_id]).await? else {
            // Purged between the two statements: try the whole call again.
            return Err(Fault::Transient(format!(
                "instance '{}' vanished while being replaced",
                new.instance_id
            )));
        };
        if !new.may_replace(&metadata(&row, 0)?) {
            return Ok(false);
        }
        let wipe = tx
            .prepare_cached(
                "WITH h AS (DELETE FROM durable_history WHERE instance_id = $1), \
                 m AS (DELETE FROM durable_messages WHERE instance_id = $1), \
                 a AS (DELETE FROM durable_activities WHERE instance_id = $1) \
                 UPDATE durable_instances SET name = $2, execution_id = $3, status = $4, \
                 input = $5, output = NULL, failure = NULL, custom_status = NULL, \
                 created_at_ms = $6, updated_at_ms = $6, history_len = 0, \
                 incarnation = nextval('durable_ids'), \
                 parent_instance_id = $7, parent_execution_id = $8, parent_task_id = $9, \
                 scheduled_start_ms = $10, lease_token = NULL, lease_expires_ms = 0, \
                 leased_messages = NULL, attempts = 0, not_before_ms = 0 \
                 WHERE instance_id = $1",
            )
            .await?;
        tx.execute(
            &wipe,
            &[
                &new.instance_id,
                &new.name,
                &execution_id,
                &pending,
                &new.input,
                &now,
                &parent_id,
                &parent_execution,
                &parent_task,
                &start_at,
            ],
        )
        .await?;
    }
    let start = tx
        .prepare_cached(
            "INSERT INTO durable_messages (instance_id, execution_id, event, visible_at_ms) \
             VALUES ($1, NULL, $2, $3)",
        )
        .await?;
    let visible = start_at.unwrap_or(now);
    tx.execute(
        &start,
        &[&new.instance_id, &event_text(&new.start)?, &visible],
    )
    .await?;
    Ok(true)
}

pub(crate) async fn create_instance(
    pool: &Pool,
    new: &NewInstance,
    now: u64,
    retried: bool,
) -> Result<String, Fault> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    if !create(&tx, new, db(now)).await? {
        // A retry after a lost connection may find the instance its first attempt created.
        if retried {
            let select = tx
                .prepare_cached(&format!(
                    "SELECT {METADATA_COLUMNS} FROM durable_instances WHERE instance_id = $1"
                ))
                .await?;
            if let Some(row) = tx.query_opt(&select, &[&new.instance_id]).await? {
                let existing = metadata(&row, 0)?;
                let mine = new.metadata(now, existing.incarnation);
                if (
                    &existing.name,
                    &existing.input,
                    &existing.parent,
                    existing.scheduled_start_ms,
                ) == (
                    &mine.name,
                    &mine.input,
                    &mine.parent,
                    mine.scheduled_start_ms,
                ) {
                    return Ok(String::new());
                }
            }
        }
        return Err(BackendError::InstanceExists(new.instance_id.clone()).into());
    }
    let flags = ORCHESTRATIONS.to_string();
    tx.commit().await?;
    Ok(flags)
}

/// The statement of `enqueue` (parameters: the columns of `MessageRows`).
// FOR KEY SHARE: a purge cannot delete the instance between the check and the insert.
const ENQUEUE_SQL: &str = "INSERT INTO durable_messages (instance_id, execution_id, event, visible_at_ms) \
     SELECT u.instance_id, u.execution_id, u.event, u.visible_at_ms \
     FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) \
          WITH ORDINALITY AS u(instance_id, execution_id, event, visible_at_ms, ord) \
     WHERE EXISTS (SELECT 1 FROM durable_instances i \
                   WHERE i.instance_id = u.instance_id FOR KEY SHARE) \
     ORDER BY u.ord";

/// Messages as the columns `ENQUEUE_SQL` takes.
struct MessageRows<'a> {
    instance_ids: Vec<&'a str>,
    execution_ids: Vec<Option<i64>>,
    events: Vec<String>,
    visible: Vec<i64>,
}

impl<'a> MessageRows<'a> {
    fn new(messages: &'a [NewMessage], now: i64) -> Result<MessageRows<'a>, Fault> {
        let mut rows = MessageRows {
            instance_ids: Vec::with_capacity(messages.len()),
            execution_ids: Vec::with_capacity(messages.len()),
            events: Vec::with_capacity(messages.len()),
            visible: Vec::with_capacity(messages.len()),
        };
        for message in messages {
            rows.instance_ids.push(message.instance_id.as_str());
            rows.execution_ids.push(message.execution_id.map(db));
            rows.events.push(event_text(&message.event)?);
            rows.visible.push(message.visible_at_ms.map_or(now, db));
        }
        Ok(rows)
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 4] {
        [
            &self.instance_ids,
            &self.execution_ids,
            &self.events,
            &self.visible,
        ]
    }
}

/// Inserts messages to existing instances (in order), dropping those to missing ones.
/// Returns how many were inserted.
async fn enqueue(
    client: &impl GenericClient,
    messages: &[NewMessage],
    now: i64,
) -> Result<u64, Fault> {
    if messages.is_empty() {
        return Ok(0);
    }
    let rows = MessageRows::new(messages, now)?;
    let statement = client.prepare_cached(ENQUEUE_SQL).await?;
    Ok(client.execute(&statement, &rows.params()).await?)
}

/// Deduplication keys for `send_message`: a random prefix per backend and a counter.
pub(crate) struct SendKeys {
    prefix: String,
    counter: std::sync::atomic::AtomicU64,
}

impl SendKeys {
    pub fn new() -> SendKeys {
        use std::hash::{BuildHasher, Hasher};
        // `RandomState` is seeded from the operating system's randomness; the process id and
        // the time make two backends' prefixes differ even if it were not.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos()),
        );
        let high = hasher.finish();
        hasher.write_u64(high);
        SendKeys {
            prefix: format!("{high:016x}{:016x}", hasher.finish()),
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A key no other call of any backend uses, and whether its send also prunes expired
    /// keys (one in `PRUNE_EVERY`).
    pub fn next(&self) -> (String, bool) {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (
            format!("{}-{n}", self.prefix),
            n.is_multiple_of(PRUNE_EVERY),
        )
    }
}

/// How long a deduplication key is kept: far longer than a call retries.
const SENT_KEY_DAYS: i64 = 1;
/// One send in this many also prunes expired keys.
const PRUNE_EVERY: u64 = 256;

pub(crate) async fn send_message(
    pool: &Pool,
    message: &NewMessage,
    key: &str,
    prune: bool,
    now: u64,
) -> Result<String, Fault> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let remember = tx
        .prepare_cached(
            "INSERT INTO durable_sent_keys (key, sent_at_ms) VALUES ($1, $2) \
             ON CONFLICT (key) DO NOTHING",
        )
        .await?;
    if tx.execute(&remember, &[&key, &db(now)]).await? == 0 {
        // An earlier attempt of this call committed; its answer was lost.
        return Ok(String::new());
    }
    if prune {
        let prune = tx
            .prepare_cached("DELETE FROM durable_sent_keys WHERE sent_at_ms < $1")
            .await?;
        let cutoff = db(now).saturating_sub(SENT_KEY_DAYS * 86_400_000);
        tx.execute(&prune, &[&cutoff]).await?;
    }
    if enqueue(&tx, std::slice::from_ref(message), db(now)).await? == 0 {
        return Err(BackendError::InstanceNotFound(message.instance_id.clone()).into());
    }
    let flags = ORCHESTRATIONS.to_string();
    tx.commit().await?;
    Ok(flags)
}

pub(crate) async fn read_metadata(
    pool: &Pool,
    instance_id: &str,
) -> Result<Option<InstanceMetadata>, Fault> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {METADATA_COLUMNS} FROM durable_instances WHERE instance_id = $1"
        ))
        .await?;
    client
        .query_opt(&statement, &[&instance_id])
        .await?
        .map(|row| metadata(&row, 0))
        .transpose()
}

pub(crate) async fn history_len(pool: &Pool, instance_id: &str) -> Result<Option<u64>, Fault> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("SELECT history_len FROM durable_instances WHERE instance_id = $1")
        .await?;
    Ok(client
        .query_opt(&statement, &[&instance_id])
        .await?
        .map(|row| row.try_get(0).map(num))
        .transpose()?)
}

pub(crate) async fn read_history(pool: &Pool, instance_id: &str) -> Result<Vec<Event>, Fault> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("SELECT event FROM durable_history WHERE instance_id = $1 ORDER BY seq")
        .await?;
    client
        .query(&statement, &[&instance_id])
        .await?
        .iter()
        .map(|row| event_of(row.try_get(0)?))
        .collect()
}

/// The statement of `list_instances` (parameters: statuses, name, id prefix, parent, created
/// from, created before, limit, after).
pub(crate) fn list_sql(unfinished_only: bool) -> String {
    // Unfinished only: the literal clause lets the planner use the partial index of
    // unfinished instances instead of reading finished ones.
    let unfinished = if unfinished_only {
        format!("{} AND ", crate::purge::UNFINISHED_CLAUSE)
    } else {
        String::new()
    };
    format!(
        "SELECT {METADATA_COLUMNS} FROM durable_instances \
         WHERE {unfinished}($1::text[] IS NULL OR status = ANY($1)) \
           AND ($2::text IS NULL OR name = $2) \
           AND ($3::text IS NULL OR starts_with(instance_id, $3)) \
           AND ($4::text IS NULL OR parent_instance_id = $4) \
           AND ($5::bigint IS NULL OR created_at_ms >= $5) \
           AND ($6::bigint IS NULL OR created_at_ms < $6) \
           AND ($8::text IS NULL OR instance_id > $8) \
         ORDER BY instance_id LIMIT $7"
    )
}

pub(crate) async fn list_instances(
    pool: &Pool,
    filter: &InstanceFilter,
) -> Result<Vec<InstanceMetadata>, Fault> {
    let statuses: Option<Vec<String>> = if filter.statuses.is_empty() {
        None
    } else {
        Some(
            filter
                .statuses
                .iter()
                .map(|status| status_text(*status))
                .collect::<Result<_, _>>()?,
        )
    };
    let limit = filter.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&list_sql(filter.is_unfinished_only()))
        .await?;
    client
        .query(
            &statement,
            &[
                &statuses,
                &filter.name,
                &filter.instance_id_prefix,
                &filter.parent_instance_id,
                &filter.created_from_ms.map(db),
                &filter.created_before_ms.map(db),
                &limit,
                &filter.after,
            ],
        )
        .await?
        .iter()
        .map(|row| metadata(row, 0))
        .collect()
}

pub(crate) async fn purge_instance(
    pool: &Pool,
    instance_id: &str,
    retried: bool,
) -> Result<String, Fault> {
    let terminal: Vec<String> = [
        InstanceStatus::Completed,
        InstanceStatus::Failed,
        InstanceStatus::Terminated,
    ]
    .into_iter()
    .map(status_text)
    .collect::<Result<_, _>>()?;
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let delete = tx
        .prepare_cached("DELETE FROM durable_instances WHERE instance_id = $1 AND status = ANY($2)")
        .await?;
    if tx.execute(&delete, &[&instance_id, &terminal]).await? == 0 {
        let exists = tx
            .prepare_cached("SELECT 1 FROM durable_instances WHERE instance_id = $1")
            .await?;
        return if tx.query_opt(&exists, &[&instance_id]).await?.is_some() {
            Err(BackendError::InstanceActive(instance_id.to_owned()).into())
        } else if retried {
            // The first attempt purged it; its answer was lost with the connection.
            Ok(String::new())
        } else {
            Err(BackendError::InstanceNotFound(instance_id.to_owned()).into())
        };
    }
    let rest = tx
        .prepare_cached(
            "WITH h AS (DELETE FROM durable_history WHERE instance_id = $1), \
             a AS (DELETE FROM durable_activities WHERE instance_id = $1) \
             DELETE FROM durable_messages WHERE instance_id = $1",
        )
        .await?;
    tx.execute(&rest, &[&instance_id]).await?;
    let flags = CHANGES.to_string();
    tx.commit().await?;
    Ok(flags)
}

// ---- orchestration work ----

/// When an idle orchestration fetch should look again: the next visibility time of a pending
/// message, or, for messages already visible, when their instance's lease or abandon delay
/// ends. Early rather than late (a message that becomes visible may find its instance
/// leased: the fetch then looks again later). Both parts read `durable_messages_visible`, not
/// every pending timer.
pub(crate) const NEXT_ORCHESTRATION_SQL: &str = "SELECT least( \
        (SELECT min(visible_at_ms) FROM durable_messages WHERE visible_at_ms > $1), \
        (SELECT min(GREATEST(i.lease_expires_ms, i.not_before_ms)) \
         FROM durable_messages m JOIN durable_instances i ON i.instance_id = m.instance_id \
         WHERE m.visible_at_ms <= $1))";

/// The statement of an orchestration fetch (parameters: now, lease length, token, whether to
/// look ahead). See `fetch_orchestration_in`.
pub(crate) fn fetch_orchestration_sql() -> String {
    format!(
        "WITH picked AS MATERIALIZED ( \
                SELECT i.instance_id FROM durable_messages m \
                JOIN durable_instances i ON i.instance_id = m.instance_id \
                WHERE m.visible_at_ms <= $1 AND i.lease_expires_ms <= $1 \
                  AND i.not_before_ms <= $1 \
                ORDER BY m.visible_at_ms, m.id LIMIT 1 \
                FOR UPDATE OF i SKIP LOCKED), \
             handed AS MATERIALIZED ( \
                SELECT m.id, m.execution_id, m.event FROM durable_messages m \
                WHERE m.instance_id = (SELECT instance_id FROM picked) \
                  AND m.visible_at_ms <= $1 \
                FOR KEY SHARE), \
             leased AS ( \
                UPDATE durable_instances i SET lease_token = $3, \
                    lease_expires_ms = $1 + $2, attempts = i.attempts + 1, \
                    leased_messages = ARRAY(SELECT id FROM handed ORDER BY id) \
                WHERE i.instance_id = (SELECT instance_id FROM picked) \
                RETURNING {METADATA_COLUMNS}, lease_token, lease_expires_ms, attempts) \
             SELECT leased.*, \
                ARRAY(SELECT id FROM handed ORDER BY id), \
                ARRAY(SELECT execution_id FROM handed ORDER BY id), \
                ARRAY(SELECT event FROM handed ORDER BY id), \
                CASE WHEN $4 AND NOT EXISTS (SELECT 1 FROM leased) \
                    THEN ({NEXT_ORCHESTRATION_SQL}) END \
             FROM (SELECT 1) AS one LEFT JOIN leased ON true"
    )
}

/// Leases the instance whose earliest visible message (by visibility time, then id) is
/// earliest, among those without a live lease or abandon delay.
///
/// One statement: `picked` locks the instance row, skipping rows other fetches have locked;
/// `handed` takes its visible messages with a lock too, which skips messages deleted by an
/// acknowledgement that committed after this statement's snapshot (an expired lease's
/// late acknowledgement), so a consumed message is never handed out again. When it finds
/// nothing, the same statement (one round trip) answers when to look again.
async fn fetch_orchestration_in(
    client: &impl GenericClient,
    now: u64,
    lease_ms: u64,
    token: u64,
    want_next: bool,
) -> Result<Fetched<OrchestrationItem>, Fault> {
    let statement = client.prepare_cached(&fetch_orchestration_sql()).await?;
    let row = client
        .query_one(
            &statement,
            &[&db(now), &db(lease_ms), &db(token), &want_next],
        )
        .await?;
    let after = METADATA_COLUMN_COUNT;
    if row.try_get::<_, Option<String>>(0)?.is_some() {
        let instance = metadata(&row, 0)?;
        let token: i64 = row.try_get(after)?;
        let expires: i64 = row.try_get(after + 1)?;
        let attempts: i32 = row.try_get(after + 2)?;
        let ids: Vec<i64> = row.try_get(after + 3)?;
        let executions: Vec<Option<i64>> = row.try_get(after + 4)?;
        let events: Vec<String> = row.try_get(after + 5)?;
        let mut messages = Vec::with_capacity(ids.len());
        for ((id, execution_id), event) in ids.into_iter().zip(executions).zip(events) {
            messages.push(Message {
                id: num(id),
                instance_id: instance.instance_id.clone(),
                execution_id: execution_id.map(num),
                event: event_of(&event)?,
            });
        }
        return Ok(Fetched::Item(OrchestrationItem {
            instance,
            messages,
            lease: Lease {
                token: num(token),
                expires_at_ms: num(expires),
                attempt: u32::try_from(attempts).unwrap_or(0),
            },
            now_ms: now,
        }));
    }
    Ok(Fetched::Nothing {
        next_ms: row.try_get::<_, Option<i64>>(after + 6)?.map(num),
    })
}

/// The call of `durable_ack_episode` (migration 0007), which does an episode's whole
/// acknowledgement after its sub-orchestrations' creation: its parameters are listed there.
const ACK_EPISODE_SQL: &str = "SELECT sent, remaining FROM durable_ack_episode($1, $2, $3, $4, \
     $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)";

/// Acknowledges an episode. Without sub-orchestrations to create (the common case) it is
/// one statement, `durable_ack_episode`, committed as its own transaction: one round trip.
/// Creating sub-orchestrations reads before it writes and decides which rejections to send,
/// so it runs first, in a transaction that then calls the same function and commits: a lost
/// lease rolls the creations back with everything else. The creations touch only the
/// children's rows, so running them before the lease's release (which touches the
/// instance's row and messages) changes no outcome.
pub(crate) async fn ack_orchestration(
    pool: &Pool,
    instance_id: &str,
    token: u64,
    commit: &OrchestrationCommit,
    now: u64,
) -> Result<String, Fault> {
    let now = db(now);
    let mut client = pool.get().await?;
    if commit.instances.is_empty() {
        let acked = ack_episode(&client, instance_id, token, commit, &commit.messages, now).await?;
        return acked.flags(commit, 0, instance_id, token);
    }
    let tx = client.transaction().await?;
    let mut messages = Vec::new();
    let mut created = 0;
    for new in &commit.instances {
        if create(&tx, new, now).await? {
            created += 1;
        } else if let Some(rejection) = new.rejection() {
            messages.push(rejection);
        }
    }
    messages.extend(commit.messages.iter().cloned());
    let acked = ack_episode(&tx, instance_id, token, commit, &messages, now).await?;
    let flags = acked.flags(commit, created, instance_id, token)?;
    tx.commit().await?;
    Ok(flags)
}

/// What `durable_ack_episode` answered: nothing if the lease was lost, else how many
/// messages it enqueued and whether the instance has messages left.
struct Acked(Option<(i64, bool)>);

impl Acked {
    /// The notification flags of the acknowledgement, or `LeaseLost`.
    fn flags(
        &self,
        commit: &OrchestrationCommit,
        created: usize,
        instance_id: &str,
        token: u64,
    ) -> Result<String, Fault> {
        let Some((sent, remaining)) = self.0 else {
            return Err(lease_lost(format!("instance '{instance_id}'"), token));
        };
        let mut flags = String::new();
        if commit.metadata.is_some() || !commit.history.is_empty() {
            flags.push(CHANGES);
        }
        // One flag per item of work (up to a bound): this process wakes as many of its
        // waiting fetches (`Wakers::wake`). An instance with messages left needs a fetch too,
        // now that its lease is released.
        let instances_with_work =
            created + usize::try_from(sent).unwrap_or(usize::MAX) + usize::from(remaining);
        push_flags(&mut flags, ACTIVITIES, commit.activities.len());
        push_flags(&mut flags, ORCHESTRATIONS, instances_with_work);
        Ok(flags)
    }
}

/// Calls `durable_ack_episode` for `commit`, with `messages` to enqueue.
async fn ack_episode(
    client: &impl GenericClient,
    instance_id: &str,
    token: u64,
    commit: &OrchestrationCommit,
    messages: &[NewMessage],
    now: i64,
) -> Result<Acked, Fault> {
    let events: Vec<String> = commit
        .history
        .iter()
        .map(event_text)
        .collect::<Result<_, _>>()?;
    let update = commit.metadata.as_ref();
    let execution_id = update.map(|update| db(update.execution_id));
    let status = update
        .map(|update| status_text(update.status))
        .transpose()?;
    let failure = update
        .map(|update| failure_text(update.failure.as_ref()))
        .transpose()?
        .flatten();
    let input = update.and_then(|update| update.input.as_deref());
    let output = update.and_then(|update| update.output.as_deref());
    let custom_status = update.and_then(|update| update.custom_status.as_deref());
    let terminal = update.is_some_and(|update| update.status.is_terminal());
    let activities = ActivityRows::new(&commit.activities);
    let message_rows = MessageRows::new(messages, now)?;
    let statement = client.prepare_cached(ACK_EPISODE_SQL).await?;
    let row = client
        .query_opt(
            &statement,
            &[
                &instance_id,
                &db(token),
                &now,
                &events,
                &update.is_some(),
                &execution_id,
                &status,
                &input,
                &output,
                &failure,
                &custom_status,
                &terminal,
                &activities.instance_ids,
                &activities.execution_ids,
                &activities.task_ids,
                &activities.names,
                &activities.inputs,
                &activities.timeouts,
                &activities.heartbeat_timeouts,
                &message_rows.instance_ids,
                &message_rows.execution_ids,
                &message_rows.events,
                &message_rows.visible,
            ],
        )
        .await?;
    Ok(Acked(
        row.map(|row| -> Result<_, Fault> { Ok((row.try_get(0)?, row.try_get(1)?)) })
            .transpose()?,
    ))
}

/// Appends `flag` once per item of work, at most `WAKE_AT_MOST` times.
fn push_flags(flags: &mut String, flag: char, items: usize) {
    flags.extend(std::iter::repeat_n(flag, items.min(WAKE_AT_MOST)));
}

/// More fetches than a worker has waiting at once (`WorkerOptions`' defaults: 8 and 16).
const WAKE_AT_MOST: usize = 64;

/// Activity work as the array parameters of `durable_ack_episode`.
struct ActivityRows<'a> {
    instance_ids: Vec<&'a str>,
    execution_ids: Vec<i64>,
    task_ids: Vec<i64>,
    names: Vec<&'a str>,
    inputs: Vec<&'a str>,
    timeouts: Vec<Option<i64>>,
    heartbeat_timeouts: Vec<Option<i64>>,
}

impl<'a> ActivityRows<'a> {
    fn new(activities: &'a [ActivityWork]) -> ActivityRows<'a> {
        ActivityRows {
            instance_ids: activities.iter().map(|w| w.instance_id.as_str()).collect(),
            execution_ids: activities.iter().map(|w| db(w.execution_id)).collect(),
            task_ids: activities.iter().map(|w| db(w.task_id)).collect(),
            names: activities.iter().map(|w| w.name.as_str()).collect(),
            inputs: activities.iter().map(|w| w.input.as_str()).collect(),
            timeouts: activities
                .iter()
                .map(|w| w.options.timeout.map(duration_ms))
                .collect(),
            heartbeat_timeouts: activities
                .iter()
                .map(|w| w.options.heartbeat_timeout.map(duration_ms))
                .collect(),
        }
    }
}

async fn abandon_orchestration_in(
    client: &impl GenericClient,
    instance_id: &str,
    token: u64,
    not_before: u64,
) -> Result<String, Fault> {
    let statement = client
        .prepare_cached(
            "UPDATE durable_instances SET lease_token = NULL, lease_expires_ms = 0, \
                leased_messages = NULL, not_before_ms = $3 \
             WHERE instance_id = $1 AND lease_token = $2",
        )
        .await?;
    let released = client
        .execute(&statement, &[&instance_id, &db(token), &db(not_before)])
        .await?;
    if released == 0 {
        return Err(lease_lost(format!("instance '{instance_id}'"), token));
    }
    Ok(ORCHESTRATIONS.to_string())
}

async fn renew_orchestration_lease_in(
    client: &impl GenericClient,
    instance_id: &str,
    token: u64,
    expires: u64,
) -> Result<u64, Fault> {
    let statement = client
        .prepare_cached(
            "UPDATE durable_instances SET lease_expires_ms = $3 \
             WHERE instance_id = $1 AND lease_token = $2",
        )
        .await?;
    if client
        .execute(&statement, &[&instance_id, &db(token), &db(expires)])
        .await?
        == 0
    {
        return Err(lease_lost(format!("instance '{instance_id}'"), token));
    }
    Ok(expires)
}

// ---- activity work ----

/// Leases the activity that has been visible longest. Its `visible_at_ms` becomes the
/// lease's expiry, so an expired lease makes it visible again by itself.
async fn fetch_activity_in(
    client: &impl GenericClient,
    now: u64,
    lease_ms: u64,
    token: u64,
    want_next: bool,
) -> Result<Fetched<ActivityItem>, Fault> {
    let statement = client
        .prepare_cached(
            "WITH picked AS MATERIALIZED ( \
                SELECT id FROM durable_activities WHERE visible_at_ms <= $1 \
                ORDER BY visible_at_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED), \
             leased AS ( \
                UPDATE durable_activities a SET lease_token = $3, \
                    visible_at_ms = $1 + $2, attempts = a.attempts + 1 \
                WHERE a.id = (SELECT id FROM picked) \
                RETURNING a.id, a.instance_id, a.execution_id, a.task_id, a.name, a.input, \
                    a.lease_token, a.visible_at_ms, a.attempts, a.timeout_ms, \
                    a.heartbeat_timeout_ms) \
             SELECT leased.*, \
                CASE WHEN $4 AND NOT EXISTS (SELECT 1 FROM leased) \
                    THEN (SELECT min(visible_at_ms) FROM durable_activities) END \
             FROM (SELECT 1) AS one LEFT JOIN leased ON true",
        )
        .await?;
    let row = client
        .query_one(
            &statement,
            &[&db(now), &db(lease_ms), &db(token), &want_next],
        )
        .await?;
    if row.try_get::<_, Option<i64>>(0)?.is_some() {
        return Ok(Fetched::Item(ActivityItem {
            id: num(row.try_get(0)?),
            work: ActivityWork {
                instance_id: row.try_get(1)?,
                execution_id: num(row.try_get(2)?),
                task_id: num(row.try_get(3)?),
                name: row.try_get(4)?,
                input: row.try_get(5)?,
                options: ActivityOptions {
                    timeout: row.try_get::<_, Option<i64>>(9)?.map(from_ms),
                    heartbeat_timeout: row.try_get::<_, Option<i64>>(10)?.map(from_ms),
                },
            },
            lease: Lease {
                token: num(row.try_get(6)?),
                expires_at_ms: num(row.try_get(7)?),
                attempt: u32::try_from(row.try_get::<_, i32>(8)?).unwrap_or(0),
            },
        }));
    }
    // Nothing leased: the same statement said when the next item becomes visible.
    Ok(Fetched::Nothing {
        next_ms: row.try_get::<_, Option<i64>>(11)?.map(num),
    })
}

/// Deletes the activity and enqueues its completion, in one statement on the `relaxed` pool:
/// its commit does not wait for the WAL flush (see "calls whose commit need not wait for the
/// disk" below).
pub(crate) async fn ack_activity(
    relaxed: &Pool,
    id: u64,
    token: u64,
    completion: &NewMessage,
    now: u64,
) -> Result<String, Fault> {
    let client = relaxed.get().await?;
    let statement = client
        .prepare_cached(
            "WITH done AS ( \
                DELETE FROM durable_activities WHERE id = $1 AND lease_token = $2 \
                RETURNING id), \
             sent AS ( \
                INSERT INTO durable_messages (instance_id, execution_id, event, visible_at_ms) \
                SELECT $3, $4, $5, $6 FROM done \
                WHERE EXISTS (SELECT 1 FROM durable_instances \
                              WHERE instance_id = $3 FOR KEY SHARE) \
                RETURNING id) \
             SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM sent)",
        )
        .await?;
    let row = client
        .query_one(
            &statement,
            &[
                &db(id),
                &db(token),
                &completion.instance_id,
                &completion.execution_id.map(db),
                &event_text(&completion.event)?,
                &completion.visible_at_ms.map_or(db(now), db),
            ],
        )
        .await?;
    let (done, sent): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if done == 0 {
        return Err(lease_lost(format!("activity work item {id}"), token));
    }
    Ok(if sent > 0 {
        ORCHESTRATIONS.to_string()
    } else {
        String::new()
    })
}

async fn abandon_activity_in(
    client: &impl GenericClient,
    id: u64,
    token: u64,
    visible_at: u64,
) -> Result<String, Fault> {
    let statement = client
        .prepare_cached(
            "UPDATE durable_activities SET lease_token = NULL, visible_at_ms = $3 \
             WHERE id = $1 AND lease_token = $2",
        )
        .await?;
    let released = client
        .execute(&statement, &[&db(id), &db(token), &db(visible_at)])
        .await?;
    if released == 0 {
        return Err(lease_lost(format!("activity work item {id}"), token));
    }
    Ok(ACTIVITIES.to_string())
}

async fn renew_activity_lease_in(
    client: &impl GenericClient,
    id: u64,
    token: u64,
    expires: u64,
) -> Result<u64, Fault> {
    let statement = client
        .prepare_cached(
            "UPDATE durable_activities SET visible_at_ms = $3 WHERE id = $1 AND lease_token = $2",
        )
        .await?;
    if client
        .execute(&statement, &[&db(id), &db(token), &db(expires)])
        .await?
        == 0
    {
        return Err(lease_lost(format!("activity work item {id}"), token));
    }
    Ok(expires)
}

// ---- calls whose commit need not wait for the disk ----
//
// A lease, its renewal or its release lost in a server crash only makes work be handed out
// again (an acknowledgement with the lost token gets `LeaseLost`: tokens come from durable
// blocks, see `tokens`, so a lost token is never handed out again), so these run on the
// `relaxed` pool, whose sessions set `synchronous_commit = off`: each is one statement, its
// own transaction, and its commit does not wait for a WAL flush. An activity's
// acknowledgement (`ack_activity`, above) runs there too: lost in a crash, its activity runs
// again, as when a worker dies before acknowledging, and the only reader of its completion,
// the episode that records it in the history, commits synchronously and so flushes the WAL
// up to and past it first (docs/durability.md, section 13). Everything else that records
// progress (creations, messages, episodes, purges, token blocks) runs on the other pool and
// waits.

/// Where a fetch's lease token comes from: this backend's durable block, taken before the
/// fetch's connection (a reservation needs a connection of its own), or, only with the
/// benchmark switch, drawn on the fetch's connection as before the fix.
enum FetchToken {
    Taken(u64),
    DrawnInFetch,
}

impl FetchToken {
    async fn take(tokens: &Tokens, pool: &Pool, now: u64) -> Result<FetchToken, Fault> {
        if tokens.drawn_in_fetch() {
            return Ok(FetchToken::DrawnInFetch);
        }
        Ok(FetchToken::Taken(tokens.next(pool, now).await?))
    }

    async fn value(self, client: &impl GenericClient) -> Result<u64, Fault> {
        match self {
            FetchToken::Taken(token) => Ok(token),
            FetchToken::DrawnInFetch => {
                let statement = client
                    .prepare_cached("SELECT nextval('durable_ids')")
                    .await?;
                Ok(num(client.query_one(&statement, &[]).await?.try_get(0)?))
            }
        }
    }
}

pub(crate) async fn fetch_orchestration(
    pool: &Pool,
    relaxed: &Pool,
    tokens: &Tokens,
    now: u64,
    lease_ms: u64,
    want_next: bool,
) -> Result<Fetched<OrchestrationItem>, Fault> {
    let token = FetchToken::take(tokens, pool, now).await?;
    let client = relaxed.get().await?;
    let token = token.value(&client).await?;
    fetch_orchestration_in(&client, now, lease_ms, token, want_next).await
}

pub(crate) async fn abandon_orchestration(
    relaxed: &Pool,
    instance_id: &str,
    token: u64,
    not_before: u64,
) -> Result<String, Fault> {
    let client = relaxed.get().await?;
    abandon_orchestration_in(&client, instance_id, token, not_before).await
}

pub(crate) async fn renew_orchestration_lease(
    relaxed: &Pool,
    instance_id: &str,
    token: u64,
    expires: u64,
) -> Result<u64, Fault> {
    let client = relaxed.get().await?;
    renew_orchestration_lease_in(&client, instance_id, token, expires).await
}

pub(crate) async fn fetch_activity(
    pool: &Pool,
    relaxed: &Pool,
    tokens: &Tokens,
    now: u64,
    lease_ms: u64,
    want_next: bool,
) -> Result<Fetched<ActivityItem>, Fault> {
    let token = FetchToken::take(tokens, pool, now).await?;
    let client = relaxed.get().await?;
    let token = token.value(&client).await?;
    fetch_activity_in(&client, now, lease_ms, token, want_next).await
}

pub(crate) async fn abandon_activity(
    relaxed: &Pool,
    id: u64,
    token: u64,
    visible_at: u64,
) -> Result<String, Fault> {
    let client = relaxed.get().await?;
    abandon_activity_in(&client, id, token, visible_at).await
}

pub(crate) async fn renew_activity_lease(
    relaxed: &Pool,
    id: u64,
    token: u64,
    expires: u64,
) -> Result<u64, Fault> {
    let client = relaxed.get().await?;
    renew_activity_lease_in(&client, id, token, expires).await
}

#[cfg(test)]
mod tests {
    use tokio_postgres::NoTls;

    use super::*;

    /// Timers pending in the future while a fetch runs.
    const TIMERS: i64 = 100_000;
    /// Rows a plan may filter out: far fewer than the timers.
    const FEW: u64 = 1_000;

    /// What a plan shows: its text, whether it scans a table whole, and the most rows one of
    /// its nodes read and threw away.
    fn check_plan(what: &str, rows: &[tokio_postgres::Row]) {
        let plan: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        let text = plan.join("\n");
        assert!(!text.contains("Seq Scan"), "{what} scans a table:\n{text}");
        let removed = plan
            .iter()
            .filter_map(|line| line.split("Rows Removed by Filter: ").nth(1))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        assert!(
            removed < FEW,
            "{what} reads {removed} rows it does not use:\n{text}"
        );
    }

    /// An episode's acknowledgement is one statement, `durable_ack_episode`: with a token
    /// that is not the lease it answers no row and writes nothing; with the lease's token it
    /// releases the lease, deletes the consumed messages, appends the history, queues the
    /// activities and enqueues the messages, and says how many it enqueued and whether the
    /// instance has messages left.
    #[tokio::test]
    async fn an_episode_is_acknowledged_by_one_statement() {
        use durable_core::Backend;
        let Some(base) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL") else {
            return;
        };
        let url = crate::testing::fresh_schema_url(&base, "ack_episode")
            .await
            .expect("schema");
        let backend = crate::PostgresBackend::connect(&url)
            .await
            .expect("connect");
        let start = durable_core::Event::ExecutionStarted {
            format_version: durable_core::HISTORY_FORMAT_VERSION,
            name: "flow".to_owned(),
            input: "null".to_owned(),
            execution_id: 1,
        };
        backend
            .create_instance(NewInstance {
                instance_id: "a".to_owned(),
                name: "flow".to_owned(),
                input: "null".to_owned(),
                execution_id: 1,
                start,
                start_at_ms: None,
                parent: None,
                reuse: durable_core::backend::IdReusePolicy::Refuse,
            })
            .await
            .expect("create");
        let item = backend
            .fetch_orchestration(
                std::time::Duration::from_secs(30),
                std::time::Duration::ZERO,
            )
            .await
            .expect("fetch")
            .expect("work");
        let token = db(item.lease.token);
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
        let driver = tokio::spawn(connection);
        let call = "SELECT sent, remaining FROM durable_ack_episode($1, $2, 5, \
                    ARRAY['e1', 'e2'], false, NULL, NULL, NULL, NULL, NULL, NULL, false, \
                    ARRAY['a'], ARRAY[1::bigint], ARRAY[7::bigint], ARRAY['act'], \
                    ARRAY['null'], ARRAY[NULL::bigint], ARRAY[NULL::bigint], \
                    ARRAY['a', 'gone'], ARRAY[NULL::bigint, NULL], ARRAY['m1', 'm2'], \
                    ARRAY[5::bigint, 5])";
        let state = "SELECT (SELECT count(*) FROM durable_history), \
                        (SELECT count(*) FROM durable_activities), \
                        (SELECT count(*) FROM durable_messages), \
                        (SELECT lease_token IS NULL FROM durable_instances), \
                        (SELECT history_len FROM durable_instances)";
        let read = |row: tokio_postgres::Row| -> (i64, i64, i64, bool, i64) {
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
        };
        let stale = client
            .query(call, &[&"a", &(token + 1_000_000)])
            .await
            .expect("stale call");
        assert!(stale.is_empty(), "a stale token got an answer");
        let before = read(client.query_one(state, &[]).await.expect("state"));
        assert_eq!(before, (0, 0, 1, false, 0), "the stale call wrote");
        let row = client
            .query_one(call, &[&"a", &token])
            .await
            .expect("the lease holder's call");
        let answer: (i64, bool) = (row.get(0), row.get(1));
        assert_eq!(
            answer,
            (1, true),
            "one message enqueued, to the instance itself"
        );
        let after = read(client.query_one(state, &[]).await.expect("state"));
        assert_eq!(after, (2, 1, 1, true, 2));
        drop((client, backend));
        let _ = driver.await;
    }

    /// With 100,000 timers pending, a fetch (busy or idle) and the idle fetch's look-ahead
    /// read the visibility index: no sequential scan, no walk over the pending timers.
    #[tokio::test]
    async fn fetches_stay_flat_with_many_pending_timers() {
        let Some(base) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL") else {
            return;
        };
        let url = crate::testing::fresh_schema_url(&base, "plans")
            .await
            .expect("schema");
        let backend = crate::PostgresBackend::connect(&url)
            .await
            .expect("connect");
        let (mut client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "INSERT INTO durable_instances (instance_id, name, execution_id, status, input, \
                    created_at_ms, updated_at_ms) \
                 SELECT 'i' || g, 'flow', 1, 'running', 'null', 0, 0 \
                 FROM generate_series(1, {TIMERS}) g; \
                 INSERT INTO durable_messages (instance_id, event, visible_at_ms) \
                 SELECT 'i' || g, '{{}}', 1000000000000 + g FROM generate_series(1, {TIMERS}) g; \
                 INSERT INTO durable_messages (instance_id, event, visible_at_ms) \
                 VALUES ('i{half}', '{{}}', 1000); \
                 ANALYZE durable_instances, durable_messages",
                half = TIMERS / 2
            ))
            .await
            .expect("pending timers");
        let fetch = fetch_orchestration_sql();
        for (what, now) in [
            ("a fetch that finds work", 2000_i64),
            ("an idle fetch", 500),
        ] {
            // EXPLAIN ANALYZE runs the statement: in a transaction rolled back afterwards.
            let tx = client.transaction().await.expect("transaction");
            let rows = tx
                .query(
                    &format!("EXPLAIN (ANALYZE, COSTS OFF) {fetch}"),
                    &[&now, &30_000_i64, &1_i64, &true],
                )
                .await
                .expect("explain the fetch");
            check_plan(what, &rows);
            let rows = tx
                .query(
                    &format!("EXPLAIN (ANALYZE, COSTS OFF) {NEXT_ORCHESTRATION_SQL}"),
                    &[&now],
                )
                .await
                .expect("explain the look-ahead");
            check_plan(&format!("the look-ahead of {what}"), &rows);
            tx.rollback().await.expect("rollback");
        }
        drop((client, backend));
        let _ = driver.await;
    }
}
