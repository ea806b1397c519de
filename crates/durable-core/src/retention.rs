//! Retention: finished instances are kept for a while, then purged in small batches.
//!
//! A store that keeps every finished instance only grows. A worker with a retention period
//! purges, at start and then every `check_every`, the finished instances whose last change is
//! older than the period, `batch` at a time (each batch one `Backend::purge_finished_before`
//! call), so a purge never holds the store for long and costs nothing when there is nothing
//! to purge.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::backend::Backend;
use crate::clock::millis;

/// How long finished instances are kept, and how a worker purges them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Finished instances (completed, failed, terminated) are purged once their last change
    /// is older than this; `None` keeps them for ever. Default: 30 days.
    pub keep_finished: Option<Duration>,
    /// How often the worker looks for instances to purge. Default: one hour.
    pub check_every: Duration,
    /// Instances purged per backend call. Default: 100.
    pub batch: usize,
}

/// The default retention period: 30 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep_finished: Some(DEFAULT_RETENTION),
            check_every: Duration::from_secs(3600),
            batch: 100,
        }
    }
}

impl Retention {
    /// Finished instances are kept for ever.
    pub fn keep_forever() -> Self {
        Retention {
            keep_finished: None,
            ..Retention::default()
        }
    }

    /// Finished instances are kept for `period`.
    pub fn keep_for(period: Duration) -> Self {
        Retention {
            keep_finished: Some(period),
            ..Retention::default()
        }
    }
}

/// Purges what `retention` says is due, until shutdown is requested; returns at once if
/// finished instances are kept for ever.
pub(crate) async fn run(
    backend: Arc<dyn Backend>,
    retention: Retention,
    mut stop: watch::Receiver<bool>,
) {
    let Some(keep) = retention.keep_finished else {
        return;
    };
    let batch = retention.batch.max(1);
    loop {
        let cutoff_ms = backend.now_ms().saturating_sub(millis(keep));
        loop {
            if *stop.borrow() {
                return;
            }
            match backend.purge_finished_before(cutoff_ms, batch).await {
                Ok(purged) => {
                    if !purged.is_empty() {
                        tracing::info!(count = purged.len(), "purged finished instances");
                    }
                    if purged.len() < batch {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "purging finished instances failed; retrying later");
                    break;
                }
            }
            // Let the work this worker runs at the same time have the store between batches.
            tokio::task::yield_now().await;
        }
        tokio::select! {
            () = tokio::time::sleep(retention.check_every) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}
