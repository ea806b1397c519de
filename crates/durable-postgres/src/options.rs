//! How a backend connects and behaves.

use std::time::Duration;

use durable_core::Clock;

/// Options for [`PostgresBackend::connect_with`](crate::PostgresBackend::connect_with).
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections in the pool (besides the one that listens for notifications). Default: 8.
    pub pool_size: usize,
    /// A waiting fetch or `wait_for_change` checks the database at least this often, even
    /// without a notification (a fallback: notifications wake it at once). Default: 1 s.
    pub poll_interval: Duration,
    /// How long a call keeps retrying after the connection was lost or the server refused it
    /// (reconnecting with backoff) before it reports a transient error. Default: 60 s.
    pub retry_for: Duration,
    /// The clock for visibility times and leases. Default: `Clock::system()`. Workers on
    /// several hosts compare their clocks through lease expiries, so keep them in sync (NTP);
    /// a skew well below the lease length is harmless.
    pub clock: Option<Clock>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: 8,
            poll_interval: Duration::from_secs(1),
            retry_for: Duration::from_secs(60),
            clock: None,
        }
    }
}
