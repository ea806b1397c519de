//! Counters of the group-commit writer, to see how many writes share a commit.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteStats {
    /// Writes committed: creations, messages, acknowledgements, purges, flushes and attempt
    /// counts.
    pub writes: u64,
    /// Write transactions committed.
    pub commits: u64,
    /// Of those, the ones flushed to stable storage (one fsync each).
    pub durable_commits: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
    durable_commits: AtomicU64,
}

impl Counters {
    pub fn record(&self, writes: usize, durable: bool) {
        self.writes
            .fetch_add(u64::try_from(writes).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        if durable {
            self.durable_commits.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> WriteStats {
        WriteStats {
            writes: self.writes.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            durable_commits: self.durable_commits.load(Ordering::Relaxed),
        }
    }
}
