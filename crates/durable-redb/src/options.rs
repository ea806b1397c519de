//! How a store is opened.

use std::time::Duration;

use durable_core::Clock;

/// When an acknowledged write is on stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Every group commit is flushed (redb `Durability::Immediate`: one fsync per commit)
    /// before the writes in it are acknowledged: an acknowledged episode or activity
    /// completion survives a power cut. The default.
    #[default]
    PowerLoss,
    /// Commits are not flushed, except at most every `flush_interval` while writes continue,
    /// on [`RedbBackend::flush`](crate::RedbBackend::flush), when the store is closed, and
    /// when a fetch redelivers work (its attempt count must survive a crash the work causes,
    /// or poison detection would not see a crash loop). A first attempt needs no flush: if
    /// the commit that queued the work is lost in a crash, so is the work, and the episode
    /// that queued it is handed out again, its own attempt counted.
    /// The store stays consistent after a crash or a power cut, but the work acknowledged
    /// since the last flush is lost (redb discards unflushed commits on recovery, even after
    /// a plain process crash); activities whose completions are lost run again.
    Relaxed {
        /// The longest time between flushes while the store is being written.
        flush_interval: Duration,
    },
}

/// Options for [`RedbBackend::open_with`](crate::RedbBackend::open_with).
#[derive(Debug, Clone)]
pub struct RedbOptions {
    /// When acknowledged writes are durable. Default: [`Durability::PowerLoss`].
    pub durability: Durability,
    /// Verify every page's checksum when opening (redb's integrity check), so that a damaged
    /// file is refused with a typed error at open instead of failing later. Costs one read of
    /// the file per open. Default: true.
    pub verify_on_open: bool,
    /// How long to wait for another process to release the store before failing with
    /// [`OpenError::InUse`](crate::OpenError::InUse). Default: zero (fail at once).
    pub lock_wait: Duration,
    /// redb's page cache, in bytes. Default: redb's default.
    pub cache_size: Option<usize>,
    /// The clock for visibility times and leases. Default: `Clock::system()`.
    pub clock: Option<Clock>,
}

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions {
            durability: Durability::PowerLoss,
            verify_on_open: true,
            lock_wait: Duration::ZERO,
            cache_size: None,
            clock: None,
        }
    }
}
