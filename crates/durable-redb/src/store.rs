//! `RedbBackend`: the `Backend` trait on one redb file.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use durable_core::backend::{
    ActivityItem, Backend, NewInstance, NewMessage, OrchestrationCommit, OrchestrationItem,
};
use durable_core::clock::millis;
use durable_core::queue::WorkQueues;
use durable_core::{BackendError, Clock, Event, InstanceFilter, InstanceMetadata};
use redb::{Database, ReadableDatabase};
use tokio::sync::{Notify, oneshot};

use crate::batch::Op;
use crate::error::OpenError;
use crate::lock::LockFile;
use crate::options::{Durability, RedbOptions};
use crate::schema::{self, FINISHED, HISTORY, INSTANCES, UNFINISHED};
use crate::stats::{Counters, WriteStats};
use crate::writer::{self, Pending};

/// A durable-core backend in one redb file. Cheap to clone (clones share the store).
///
/// Open it with [`RedbBackend::open`]; it stays locked to this process until the last clone
/// is dropped.
#[derive(Clone)]
pub struct RedbBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbBackend")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub db: Database,
    pub clock: Clock,
    pub stats: Counters,
    path: PathBuf,
    durability: Durability,
    queues: Mutex<WorkQueues>,
    pending: Mutex<Pending>,
    last_flush: Mutex<Instant>,
    /// The last id or lease token handed out.
    last_id: AtomicU64,
    orchestration_ready: Notify,
    activity_ready: Notify,
    instance_changed: Notify,
    #[cfg(any(test, feature = "testing"))]
    pub testing: crate::testing::Hooks,
    // Dropped after `db` (fields drop in order): the file is unlocked once it is closed.
    _lock: LockFile,
    _temporary: Temporary,
}

/// The directory of a temporary store ([`RedbBackend::open_temporary`]), deleted with it.
#[cfg(any(test, feature = "testing"))]
type Temporary = Option<tempfile::TempDir>;
#[cfg(not(any(test, feature = "testing")))]
type Temporary = Option<std::convert::Infallible>;

/// Everything `open` assembles.
pub(crate) struct Parts {
    pub db: Database,
    pub lock: LockFile,
    pub queues: WorkQueues,
    pub last_id: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below leaves its data consistent before anything can panic, so
    // a poisoned lock still guards consistent data.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn store_error(error: impl std::fmt::Display) -> BackendError {
    BackendError::Permanent(format!("store error: {error}"))
}

impl Inner {
    pub fn queues(&self) -> MutexGuard<'_, WorkQueues> {
        lock(&self.queues)
    }

    pub fn pending(&self) -> MutexGuard<'_, Pending> {
        lock(&self.pending)
    }

    pub fn last_flush(&self) -> MutexGuard<'_, Instant> {
        lock(&self.last_flush)
    }

    /// A new id or token: unique and increasing.
    pub fn next_id(&self) -> u64 {
        self.last_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The counter as it must be recorded so that ids are never reused after a reopen.
    pub fn peek_next_id(&self) -> u64 {
        self.last_id.load(Ordering::Relaxed)
    }

    /// Whether the commit being made now must be flushed.
    pub fn durable_now(&self, asked: bool) -> bool {
        match self.durability {
            Durability::PowerLoss => true,
            Durability::Relaxed { flush_interval } => {
                asked || self.last_flush().elapsed() >= flush_interval
            }
        }
    }

    /// The error of a write whose reply was dropped unanswered, or of a fetch once the
    /// writer has stopped.
    pub fn writer_stopped(&self) -> BackendError {
        match self.pending().failed() {
            Some(detail) => BackendError::Permanent(detail.to_owned()),
            None => {
                BackendError::Transient("the store's writer stopped before answering".to_owned())
            }
        }
    }

    /// Fails when the writer has stopped: work handed out then could never be acknowledged.
    fn check_writing(&self) -> Result<(), BackendError> {
        match self.pending().failed() {
            Some(detail) => Err(BackendError::Permanent(detail.to_owned())),
            None => Ok(()),
        }
    }

    pub fn notify_all(&self) {
        self.orchestration_ready.notify_waiters();
        self.activity_ready.notify_waiters();
        self.instance_changed.notify_waiters();
    }

    fn read_metadata(&self, instance_id: &str) -> Result<Option<InstanceMetadata>, BackendError> {
        let txn = self.db.begin_read().map_err(store_error)?;
        let table = txn.open_table(INSTANCES).map_err(store_error)?;
        let Some(bytes) = table.get(instance_id).map_err(store_error)? else {
            return Ok(None);
        };
        schema::decode_metadata(bytes.value(), instance_id)
            .map(Some)
            .map_err(BackendError::Permanent)
    }

    /// Runs `attempt` on the queues until it yields a value or `wait` runs out (see
    /// `durable_core::queue::wait_for`).
    async fn wait_for<T>(
        &self,
        notify: &Notify,
        wait: Duration,
        mut attempt: impl FnMut(&mut WorkQueues, u64) -> Result<T, Option<u64>>,
    ) -> Option<T> {
        durable_core::queue::wait_for(notify, &self.clock, wait, |now_ms| {
            attempt(&mut self.queues(), now_ms)
        })
        .await
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        writer::write_remaining(self);
        // Relaxed mode: make what was committed durable before the file is closed.
        if self.durability != Durability::PowerLoss
            && let Ok(mut txn) = self.db.begin_write()
            && txn.set_durability(redb::Durability::Immediate).is_ok()
            && let Err(error) = txn.commit()
        {
            tracing::error!(%error, "cannot flush the store on close");
        }
    }
}

impl RedbBackend {
    /// Opens the store at `path` with default options (power-loss durable), creating it if it
    /// does not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbBackend, OpenError> {
        RedbBackend::open_with(path, RedbOptions::default())
    }

    /// Opens the store at `path`, creating it if it does not exist.
    ///
    /// Takes the store's lock (`<path>.lock`, holding this process's pid), checks the file
    /// (redb's checksums, the schema version, every queued row) and reclaims the leases a
    /// previous process left: their work is handed out again at once, with its attempt
    /// count kept.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: RedbOptions,
    ) -> Result<RedbBackend, OpenError> {
        let path = path.as_ref();
        let parts = crate::open::open(path, &options)?;
        Ok(RedbBackend::assemble(path, options, parts, None))
    }

    /// A store in a new temporary directory, deleted when the backend is dropped. For tests,
    /// examples and benchmarks (`testing` feature).
    #[cfg(any(test, feature = "testing"))]
    pub fn open_temporary(options: RedbOptions) -> Result<RedbBackend, OpenError> {
        let dir = tempfile::tempdir().map_err(|source| OpenError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let path = dir.path().join("engine.redb");
        let parts = crate::open::open(&path, &options)?;
        Ok(RedbBackend::assemble(&path, options, parts, Some(dir)))
    }

    fn assemble(
        path: &Path,
        options: RedbOptions,
        parts: Parts,
        temporary: Temporary,
    ) -> RedbBackend {
        RedbBackend {
            inner: Arc::new(Inner {
                db: parts.db,
                clock: options.clock.unwrap_or_default(),
                stats: Counters::default(),
                path: path.to_owned(),
                durability: options.durability,
                queues: Mutex::new(parts.queues),
                pending: Mutex::new(Pending::default()),
                last_flush: Mutex::new(Instant::now()),
                last_id: AtomicU64::new(parts.last_id),
                orchestration_ready: Notify::new(),
                activity_ready: Notify::new(),
                instance_changed: Notify::new(),
                #[cfg(any(test, feature = "testing"))]
                testing: crate::testing::Hooks::default(),
                _lock: parts.lock,
                _temporary: temporary,
            }),
        }
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The clock this backend measures visibility and leases with.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// How many writes and commits this store has made since it was opened.
    pub fn write_stats(&self) -> WriteStats {
        self.inner.stats.snapshot()
    }

    /// Makes every write acknowledged so far durable (with [`Durability::Relaxed`]; with the
    /// default every acknowledged write already is).
    pub async fn flush(&self) -> Result<(), BackendError> {
        self.write(|reply| Op::Flush { reply }).await
    }

    /// WorkQueues a write and waits for the group commit that carries it.
    async fn write(&self, op: impl FnOnce(crate::batch::Reply) -> Op) -> Result<(), BackendError> {
        let (reply, answer) = oneshot::channel();
        writer::submit(&self.inner, op(crate::batch::Reply::new(reply)));
        answer
            .await
            .unwrap_or_else(|_| Err(self.inner.writer_stopped()))
    }

    /// Benchmarks only (`testing` feature): restores the behaviour before attempt counts were
    /// made durable ahead of the work: a redelivery's attempt is queued for the next commit
    /// and the fetch returns at once, so the cost of the durable record can be measured in
    /// the same run. Work that kills the process may then crash-loop for ever.
    #[cfg(feature = "testing")]
    pub fn bench_lazy_attempts(&self, lazy: bool) {
        self.inner.testing.set_lazy_attempts(lazy);
    }

    /// Whether a redelivery's attempt must be flushed before its work is handed out.
    fn attempts_flushed(&self) -> bool {
        #[cfg(any(test, feature = "testing"))]
        if self.inner.testing.lazy_attempts() {
            return false;
        }
        true
    }

    /// Makes the writer panic in its next batch, before the commit, as a bug would.
    #[cfg(any(test, feature = "testing"))]
    pub fn panic_in_next_commit(&self) {
        self.inner.testing.arm_panic();
    }
}

#[async_trait]
impl Backend for RedbBackend {
    async fn create_instance(&self, new: NewInstance) -> Result<(), BackendError> {
        self.write(|reply| Op::Create { new, reply }).await
    }

    async fn send_message(&self, message: NewMessage) -> Result<(), BackendError> {
        self.write(|reply| Op::Send { message, reply }).await
    }

    fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    async fn read_metadata(
        &self,
        instance_id: &str,
    ) -> Result<Option<InstanceMetadata>, BackendError> {
        self.inner.read_metadata(instance_id)
    }

    async fn read_history(&self, instance_id: &str) -> Result<Vec<Event>, BackendError> {
        let txn = self.inner.db.begin_read().map_err(store_error)?;
        let table = txn.open_table(HISTORY).map_err(store_error)?;
        let mut history = Vec::new();
        for row in table
            .range((instance_id, 0)..=(instance_id, u64::MAX))
            .map_err(store_error)?
        {
            let (key, value) = row.map_err(store_error)?;
            let (_, seq) = key.value();
            let what = format!("event {seq} of instance '{instance_id}'");
            history.push(schema::decode(value.value(), &what).map_err(BackendError::Permanent)?);
        }
        Ok(history)
    }

    async fn list_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceMetadata>, BackendError> {
        let txn = self.inner.db.begin_read().map_err(store_error)?;
        let table = txn.open_table(INSTANCES).map_err(store_error)?;
        let prefix = filter.instance_id_prefix.as_deref().unwrap_or("");
        let limit = filter.limit.unwrap_or(usize::MAX);
        // Start at the prefix, or after the cursor if that is further on.
        let start = match filter.after.as_deref() {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let mut found = Vec::new();
        let mut take = |instance_id: &str, bytes: &[u8]| -> Result<bool, BackendError> {
            if found.len() >= limit || !instance_id.starts_with(prefix) {
                return Ok(false);
            }
            let metadata =
                schema::decode_metadata(bytes, instance_id).map_err(BackendError::Permanent)?;
            if filter.matches(&metadata) {
                found.push(metadata);
            }
            Ok(true)
        };
        if filter.is_unfinished_only() {
            // The unfinished index: finished instances are never read.
            let unfinished = txn.open_table(UNFINISHED).map_err(store_error)?;
            for row in unfinished
                .range::<&str>((start, Bound::Unbounded))
                .map_err(store_error)?
            {
                let (key, ()) = row.map_err(store_error).map(|(k, v)| (k, v.value()))?;
                let instance_id = key.value();
                let Some(bytes) = table.get(instance_id).map_err(store_error)? else {
                    return Err(BackendError::Permanent(format!(
                        "store is corrupt: instance '{instance_id}' is indexed as unfinished \
                         but has no metadata"
                    )));
                };
                if !take(instance_id, bytes.value())? {
                    break;
                }
            }
        } else {
            for row in table
                .range::<&str>((start, Bound::Unbounded))
                .map_err(store_error)?
            {
                let (key, value) = row.map_err(store_error)?;
                if !take(key.value(), value.value())? {
                    break;
                }
            }
        }
        Ok(found)
    }

    async fn purge_finished_before(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let due: Vec<String> = {
            let txn = self.inner.db.begin_read().map_err(store_error)?;
            let finished = txn.open_table(FINISHED).map_err(store_error)?;
            let mut due = Vec::new();
            for row in finished
                .range((0, "")..(cutoff_ms, ""))
                .map_err(store_error)?
                .take(limit)
            {
                let (key, _) = row.map_err(store_error)?;
                due.push(key.value().1.to_owned());
            }
            due
        };
        // Submitted together, so one group commit usually carries the whole batch.
        let answers: Vec<_> = due
            .into_iter()
            .map(|instance_id| {
                let (reply, answer) = oneshot::channel();
                writer::submit(
                    &self.inner,
                    Op::Purge {
                        instance_id: instance_id.clone(),
                        reply: crate::batch::Reply::new(reply),
                    },
                );
                (instance_id, answer)
            })
            .collect();
        let mut purged = Vec::new();
        for (instance_id, answer) in answers {
            match answer.await {
                Ok(Ok(())) => purged.push(instance_id),
                // Purged or replaced by a new instance meanwhile.
                Ok(Err(BackendError::InstanceNotFound(_) | BackendError::InstanceActive(_))) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(self.inner.writer_stopped()),
            }
        }
        Ok(purged)
    }

    async fn purge_instance(&self, instance_id: &str) -> Result<(), BackendError> {
        let instance_id = instance_id.to_owned();
        self.write(|reply| Op::Purge { instance_id, reply }).await
    }

    async fn wait_for_change(
        &self,
        instance_id: &str,
        seen_history_len: u64,
        timeout: Duration,
    ) -> Result<(), BackendError> {
        let inner = &self.inner;
        let changed =
            durable_core::queue::wait_for(&inner.instance_changed, &inner.clock, timeout, |_| {
                match inner.read_metadata(instance_id) {
                    Ok(Some(metadata)) if metadata.history_len == seen_history_len => Err(None),
                    // Changed or gone (or unreadable: the error ends the wait).
                    other => Ok(other.map(|_| ())),
                }
            })
            .await;
        changed.unwrap_or(Ok(()))
    }

    async fn fetch_orchestration(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<OrchestrationItem>, BackendError> {
        let inner = &self.inner;
        inner.check_writing()?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let leased = inner
                .wait_for(&inner.orchestration_ready, remaining, |queues, now_ms| {
                    queues
                        .lease_orchestration(now_ms, lease_for, inner.next_id())
                        .map(|leased| (leased, now_ms))
                })
                .await;
            let Some((leased, now_ms)) = leased else {
                return Ok(None);
            };
            // A redelivery: its attempt goes to disk before the work runs (a first attempt
            // is covered by the commit that queued the work; see the crate documentation, **Leases**).
            if leased.record && !self.attempts_flushed() {
                writer::submit(
                    inner,
                    Op::InstanceAttempts {
                        instance_id: leased.instance_id.clone(),
                        attempts: leased.lease.attempt,
                        not_before_ms: leased.not_before_ms,
                        reply: None,
                    },
                );
                inner
                    .queues()
                    .instance_attempt_recorded(&leased.instance_id, leased.lease.attempt);
            } else if leased.record {
                let recorded = self
                    .write(|reply| Op::InstanceAttempts {
                        instance_id: leased.instance_id.clone(),
                        attempts: leased.lease.attempt,
                        not_before_ms: leased.not_before_ms,
                        reply: Some(reply),
                    })
                    .await;
                if let Err(error) = recorded {
                    inner
                        .queues()
                        .drop_instance_lease(&leased.instance_id, leased.lease.token);
                    return Err(error);
                }
                inner
                    .queues()
                    .instance_attempt_recorded(&leased.instance_id, leased.lease.attempt);
            }
            match inner.read_metadata(&leased.instance_id) {
                Ok(Some(instance)) => {
                    return Ok(Some(OrchestrationItem {
                        instance,
                        messages: leased.messages,
                        lease: leased.lease,
                        now_ms,
                    }));
                }
                // Purged or replaced since it was queued: its queue entry is going away.
                Ok(None) => inner
                    .queues()
                    .drop_instance_lease(&leased.instance_id, leased.lease.token),
                Err(error) => {
                    inner
                        .queues()
                        .drop_instance_lease(&leased.instance_id, leased.lease.token);
                    return Err(error);
                }
            }
        }
    }

    async fn ack_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        commit: &OrchestrationCommit,
    ) -> Result<(), BackendError> {
        let consumed = self.inner.queues().begin_instance_ack(instance_id, token)?;
        let instance_id = instance_id.to_owned();
        let commit = commit.clone();
        self.write(|reply| Op::AckOrchestration {
            instance_id,
            token,
            consumed,
            commit,
            reply,
        })
        .await
    }

    async fn abandon_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        let not_before_ms = self.inner.clock.now_ms().saturating_add(millis(delay));
        let attempts =
            self.inner
                .queues()
                .abandon_orchestration(instance_id, token, not_before_ms)?;
        writer::submit_lazily(
            &self.inner,
            Op::InstanceAttempts {
                instance_id: instance_id.to_owned(),
                attempts,
                not_before_ms,
                reply: None,
            },
        );
        self.inner.notify_all();
        Ok(())
    }

    async fn renew_orchestration_lease(
        &self,
        instance_id: &str,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        let expires_at_ms = self.inner.clock.now_ms().saturating_add(millis(lease_for));
        self.inner
            .queues()
            .renew_orchestration(instance_id, token, expires_at_ms)?;
        Ok(expires_at_ms)
    }

    async fn fetch_activity(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<ActivityItem>, BackendError> {
        let inner = &self.inner;
        inner.check_writing()?;
        let leased = inner
            .wait_for(&inner.activity_ready, wait, |queues, now_ms| {
                queues.lease_activity(now_ms, lease_for, inner.next_id())
            })
            .await;
        let Some(leased) = leased else {
            return Ok(None);
        };
        // As for orchestrations: only a redelivery writes its attempt first.
        if leased.record && !self.attempts_flushed() {
            writer::submit(
                inner,
                Op::ActivityAttempts {
                    id: leased.id,
                    attempts: leased.lease.attempt,
                    not_before_ms: 0,
                    reply: None,
                },
            );
            inner
                .queues()
                .activity_attempt_recorded(leased.id, leased.lease.attempt);
        } else if leased.record {
            let recorded = self
                .write(|reply| Op::ActivityAttempts {
                    id: leased.id,
                    attempts: leased.lease.attempt,
                    not_before_ms: 0,
                    reply: Some(reply),
                })
                .await;
            if let Err(error) = recorded {
                // Handed out again at once, its attempt still counted in memory.
                let _ = inner
                    .queues()
                    .abandon_activity(leased.id, leased.lease.token, 0);
                return Err(error);
            }
            inner
                .queues()
                .activity_attempt_recorded(leased.id, leased.lease.attempt);
        }
        Ok(Some(ActivityItem {
            id: leased.id,
            work: leased.work,
            lease: leased.lease,
        }))
    }

    async fn ack_activity(
        &self,
        id: u64,
        token: u64,
        completion: &NewMessage,
    ) -> Result<(), BackendError> {
        self.inner.queues().begin_activity_ack(id, token)?;
        let completion = completion.clone();
        self.write(|reply| Op::AckActivity {
            id,
            token,
            completion,
            reply,
        })
        .await
    }

    async fn abandon_activity(
        &self,
        id: u64,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        let not_before_ms = self.inner.clock.now_ms().saturating_add(millis(delay));
        let attempts = self
            .inner
            .queues()
            .abandon_activity(id, token, not_before_ms)?;
        writer::submit_lazily(
            &self.inner,
            Op::ActivityAttempts {
                id,
                attempts,
                not_before_ms,
                reply: None,
            },
        );
        self.inner.notify_all();
        Ok(())
    }

    async fn renew_activity_lease(
        &self,
        id: u64,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        let expires_at_ms = self.inner.clock.now_ms().saturating_add(millis(lease_for));
        self.inner
            .queues()
            .renew_activity(id, token, expires_at_ms)?;
        Ok(expires_at_ms)
    }
}
