//! `Clock`: the one notion of "now" a backend uses for visibility, leases and episode times.
//!
//! It is wall-clock milliseconds at creation plus the elapsed time of tokio's clock, so that
//! tests running under paused tokio time (`tokio::time::pause`) drive timers and lease expiry
//! without sleeping, while production code sees ordinary wall-clock time.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A millisecond clock that follows tokio's (possibly paused) time.
#[derive(Debug, Clone)]
pub struct Clock {
    inner: Arc<Base>,
}

#[derive(Debug)]
struct Base {
    epoch_ms: u64,
    started: tokio::time::Instant,
}

impl Clock {
    /// A clock that starts at the current wall-clock time.
    pub fn system() -> Self {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, millis);
        Clock::starting_at(epoch_ms)
    }

    /// A clock that starts at `epoch_ms` milliseconds since the Unix epoch (tests use a fixed
    /// start so that two runs record identical timestamps).
    pub fn starting_at(epoch_ms: u64) -> Self {
        Clock {
            inner: Arc::new(Base {
                epoch_ms,
                started: tokio::time::Instant::now(),
            }),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.inner
            .epoch_ms
            .saturating_add(millis(self.inner.started.elapsed()))
    }

    /// The tokio instant at which this clock reads `at_ms` (in the past if already reached).
    pub fn instant_at(&self, at_ms: u64) -> tokio::time::Instant {
        let offset = at_ms.saturating_sub(self.inner.epoch_ms);
        self.inner.started + Duration::from_millis(offset)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

/// A duration in whole milliseconds, saturating.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Serde for an optional duration as whole milliseconds (`with = "optional_millis"`).
pub(crate) mod optional_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_some(&super::millis(*duration)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?.map(Duration::from_millis))
    }
}

/// A timestamp in milliseconds since the epoch as a `SystemTime`.
pub(crate) fn system_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_tokio_time() {
        let clock = Clock::starting_at(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(clock.now_ms(), 3_000);
        assert_eq!(clock.instant_at(3_000), tokio::time::Instant::now());
    }
}
