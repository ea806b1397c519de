//! Counters a worker keeps about its own work, for dashboards and tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated by the worker's dispatchers.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) episodes: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) full_replays: AtomicU64,
    pub(crate) replayed_events: AtomicU64,
    pub(crate) activities_completed: AtomicU64,
    pub(crate) activities_failed: AtomicU64,
    pub(crate) activities_abandoned: AtomicU64,
    pub(crate) poisoned: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
    pub(crate) leases_lost: AtomicU64,
    pub(crate) lease_renewals: AtomicU64,
    pub(crate) activities_timed_out: AtomicU64,
    pub(crate) episodes_timed_out: AtomicU64,
}

/// A point-in-time copy of a worker's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Orchestration episodes committed.
    pub episodes: u64,
    /// Episodes that found the execution in the cache.
    pub cache_hits: u64,
    /// Episodes that rebuilt the execution by replaying its whole history.
    pub full_replays: u64,
    /// History events replayed by those rebuilds.
    pub replayed_events: u64,
    /// Activity invocations that returned an output.
    pub activities_completed: u64,
    /// Activity invocations that failed (error, panic, unregistered, poisoned).
    pub activities_failed: u64,
    /// Activity invocations handed back unfinished (shutdown).
    pub activities_abandoned: u64,
    /// Work items given up after too many attempts.
    pub poisoned: u64,
    /// Backend calls that returned an error (and were retried or handed back).
    pub backend_errors: u64,
    /// Acknowledgements refused because the lease had passed to another worker.
    pub leases_lost: u64,
    /// Orchestration leases renewed because an episode ran for a third of its lease or more.
    pub lease_renewals: u64,
    /// Activity invocations cancelled and failed for overrunning a start-to-close or
    /// heartbeat timeout (also counted in `activities_failed`).
    pub activities_timed_out: u64,
    /// Orchestration episodes handed back for overrunning `WorkerOptions::episode_timeout`.
    pub episodes_timed_out: u64,
}

impl Metrics {
    pub(crate) fn add(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            episodes: read(&self.episodes),
            cache_hits: read(&self.cache_hits),
            full_replays: read(&self.full_replays),
            replayed_events: read(&self.replayed_events),
            activities_completed: read(&self.activities_completed),
            activities_failed: read(&self.activities_failed),
            activities_abandoned: read(&self.activities_abandoned),
            poisoned: read(&self.poisoned),
            backend_errors: read(&self.backend_errors),
            leases_lost: read(&self.leases_lost),
            lease_renewals: read(&self.lease_renewals),
            activities_timed_out: read(&self.activities_timed_out),
            episodes_timed_out: read(&self.episodes_timed_out),
        }
    }
}
