//! How a backend connects and behaves.

use std::time::Duration;

use durable_core::Clock;

/// How much longer than [`PostgresOptions::statement_timeout`] a call waits for an answer
/// before it takes the connection for dead: the server's own cancellation comes first.
pub const ANSWER_GRACE: Duration = Duration::from_secs(5);

/// Options for [`PostgresBackend::connect_with`](crate::PostgresBackend::connect_with).
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections in each of the backend's two pools (progress, whose commits wait for the
    /// WAL flush, and leases, whose commits do not), besides the one that listens for
    /// notifications; each pool opens them as needed. Default: 8.
    pub pool_size: usize,
    /// A waiting fetch or `wait_for_change` checks the database at least this often, even
    /// without a notification (a fallback: notifications wake it at once). Default: 1 s.
    pub poll_interval: Duration,
    /// How long a call keeps retrying after the connection was lost or the server refused it
    /// (reconnecting with backoff) before it reports a transient error. Default: 60 s.
    pub retry_for: Duration,
    /// The server cancels a statement of the pool's connections that runs longer than this
    /// (`statement_timeout`); the call is then retried. A call that gets no answer at all
    /// within this plus [`ANSWER_GRACE`] (a dead connection, a frozen network path) is
    /// abandoned, the pool's idle connections are closed, and the call is retried on a new
    /// one, instead of hanging while the worker keeps renewing its lease. Migrations are not
    /// limited. Default: 30 s.
    pub statement_timeout: Duration,
    /// How long a call waits for a free connection of the pool (or for a new one to be made)
    /// before it is retried. Default: 10 s.
    pub pool_wait_timeout: Duration,
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
            statement_timeout: Duration::from_secs(30),
            pool_wait_timeout: Duration::from_secs(10),
            clock: None,
        }
    }
}
