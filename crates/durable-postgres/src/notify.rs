//! Notifications to other processes: sent after the commit that made them due, coalesced.
//!
//! A `NOTIFY` inside a transaction makes its commit take the notification queue's lock, which
//! is one for the whole server, and hold it until the commit record is flushed to disk: every
//! notifying commit waits for the previous one's WAL flush, so commits that would have shared
//! one flush (group commit) are serialized. Instead, each commit only returns the flags it
//! makes due (see `listen`); the backend wakes its own waiters at once and hands the flags to
//! this task, which sends them with one `pg_notify` per batch on a connection whose commits
//! do not wait for the flush (the lock is then held for microseconds). Flags that arrive while
//! a notification is in flight go out together in the next.
//!
//! A notification is only a wake-up: were the process to stop between a commit and its
//! notification, the other processes' waiters would find the work at their next poll
//! (`PostgresOptions::poll_interval`), as after a lost listening connection.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use deadpool_postgres::Pool;
use tokio::sync::Notify;

/// Flags waiting to be sent, and the signal that wakes the sending task.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Names this backend in its notifications' payloads (`origin:flags`), so that its own
    /// listener ignores them: digits only, so that no flag letter appears in it.
    origin: String,
    flags: Mutex<String>,
    ready: Notify,
    closed: AtomicBool,
    /// Notifications sent (one per batch), for tests and benchmarks.
    sent: AtomicU64,
    /// Tests: while set, nothing is sent (flags keep accumulating).
    #[cfg(test)]
    pub(crate) held: AtomicBool,
}

impl Outbox {
    /// Queues `flags` for the other processes.
    pub(crate) fn send(&self, flags: &str) {
        if flags.is_empty() {
            return;
        }
        {
            let mut pending = self.lock();
            for flag in flags.chars() {
                if !pending.contains(flag) {
                    pending.push(flag);
                }
            }
        }
        // A permit is stored if the task is busy sending: it looks again afterwards.
        self.ready.notify_one();
    }

    /// The name of this backend in its notifications.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// How many notifications went out.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    fn take(&self) -> String {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, String> {
        // A string of flags, valid whatever a panicking holder did.
        self.flags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Closes the outbox when the backend is dropped: the task sends what is queued, then ends.
#[derive(Debug)]
pub(crate) struct NotifierTask(Arc<Outbox>);

impl Drop for NotifierTask {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.ready.notify_one();
    }
}

/// Starts the sending task on the I/O runtime. `pool`'s commits must not wait for the WAL
/// flush (`synchronous_commit = off`).
pub(crate) fn start(
    handle: &tokio::runtime::Handle,
    pool: Pool,
    channel: String,
) -> (Arc<Outbox>, NotifierTask) {
    let outbox = Arc::new(Outbox {
        origin: origin(),
        ..Outbox::default()
    });
    let task_outbox = Arc::clone(&outbox);
    handle.spawn(async move {
        let outbox = task_outbox;
        loop {
            outbox.ready.notified().await;
            #[cfg(test)]
            while outbox.held.load(Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let flags = outbox.take();
            if !flags.is_empty() {
                match notify(&pool, &channel, &format!("{}:{flags}", outbox.origin)).await {
                    Ok(()) => {
                        outbox.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    // The other processes' waiters poll: a lost wake-up only delays them.
                    Err(error) => tracing::warn!(%error, flags, "sending a notification failed"),
                }
            }
            if outbox.closed.load(Ordering::SeqCst) && outbox.lock().is_empty() {
                return;
            }
        }
    });
    (Arc::clone(&outbox), NotifierTask(outbox))
}

/// A random decimal number (from the standard library's randomly seeded hasher).
fn origin() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish().to_string()
}

async fn notify(pool: &Pool, channel: &str, flags: &str) -> Result<(), String> {
    let client = pool.get().await.map_err(|error| error.to_string())?;
    let statement = client
        .prepare_cached("SELECT pg_notify($1, $2)::text")
        .await
        .map_err(|error| error.to_string())?;
    client
        .query(&statement, &[&channel, &flags])
        .await
        .map_err(|error| error.to_string())?;
    Ok(())
}
