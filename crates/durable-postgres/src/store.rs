//! `PostgresBackend`: connecting, retrying, waiting, and the `Backend` implementation.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use durable_core::backend::{
    ActivityItem, Backend, NewInstance, NewMessage, OrchestrationCommit, OrchestrationItem,
};
use durable_core::clock::millis;
use durable_core::{BackendError, Clock, Event, InstanceFilter, InstanceMetadata, WorkerInfo};
use tokio_postgres::{Config, NoTls};

use crate::error::{Fault, PostgresError, describe};
use crate::listen::{self, ListenerTask, WaitList, Wakers};
use crate::notify::{self, NotifierTask, Outbox};
use crate::ops::{self, Fetched, SendKeys};
use crate::tokens::Tokens;
use crate::url::{PostgresUrl, redact, target};
use crate::workers::Identity;
use crate::{ANSWER_GRACE, PostgresOptions, io, migrate, workers};

/// A [`Backend`] on PostgreSQL, shared by any number of worker processes on any number of
/// hosts. Cheap to share with `Arc`; see the crate documentation.
pub struct PostgresBackend {
    shared: Arc<Shared>,
    _listener: ListenerTask,
    _notifier: NotifierTask,
}

struct Shared {
    /// Connections whose commits wait for the WAL flush: everything that records progress.
    pool: Pool,
    /// Connections with `synchronous_commit = off`, for fetches, renewals, abandons and
    /// activity acknowledgements (see `ops`) and notifications.
    relaxed: Pool,
    clock: Clock,
    channel: String,
    schema: String,
    wakers: Arc<Wakers>,
    /// Notifications for the other processes, sent after the commits (see `notify`).
    outbox: Arc<Outbox>,
    options: PostgresOptions,
    /// Attempts retried after a transient failure.
    retries: AtomicU64,
    /// This backend's block of lease tokens.
    tokens: Tokens,
    /// This process as a worker, once it takes work.
    identity: Arc<Identity>,
    /// Deduplication keys of `send_message`.
    send_keys: SendKeys,
    /// Makes the next `send_message` fail as if its connection was lost after the commit.
    #[cfg(test)]
    lose_next_send_answer: std::sync::atomic::AtomicBool,
    /// Activity fetch queries sent.
    #[cfg(test)]
    activity_fetches: AtomicU64,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("schema", &self.shared.schema)
            .field("channel", &self.shared.channel)
            .finish_non_exhaustive()
    }
}

/// `user@host:port/database`: where a URL points, without its password.
impl PostgresBackend {
    /// Connects with default options. See [`connect_with`](Self::connect_with).
    pub async fn connect(url: &str) -> Result<PostgresBackend, PostgresError> {
        PostgresBackend::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects to the database of `url` (`postgres://user:password@host:port/database`,
    /// with the usual libpq parameters), creates or upgrades the engine's tables in the
    /// connection's current schema (the first existing schema of its `search_path`, which the
    /// URL can set: `?options=-csearch_path%3Dmy_schema`) and starts listening for
    /// notifications.
    ///
    /// Fails if the database cannot be reached, no schema of the `search_path` exists, or
    /// the schema was created by a newer version of this crate.
    pub async fn connect_with(
        url: &str,
        options: PostgresOptions,
    ) -> Result<PostgresBackend, PostgresError> {
        let mut config = PostgresUrl::parse(url)?.config().clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let clock = options.clock.clone().unwrap_or_else(Clock::system);
        let handle = io::handle().map_err(PostgresError::Runtime)?;
        let setup_config = config.clone();
        let url_for_errors = url.to_owned();
        let schema = io::run(async move { setup(&setup_config, &url_for_errors).await })
            .await
            .map_err(PostgresError::Runtime)??;
        let mut pool_config = config.clone();
        // Appended to what the URL sets (a search_path, say).
        pool_config.options(format!(
            "{} -c statement_timeout={}",
            config.get_options().unwrap_or(""),
            options.statement_timeout.as_millis().max(1)
        ));
        let mut relaxed_config = pool_config.clone();
        relaxed_config.options(format!(
            "{} -c synchronous_commit=off",
            pool_config.get_options().unwrap_or("")
        ));
        let pool = make_pool(pool_config, &options, &config)?;
        let relaxed = make_pool(relaxed_config, &options, &config)?;
        let channel = listen::channel_name(&schema);
        let wakers = Arc::new(Wakers::default());
        let (outbox, notifier) = notify::start(&handle, relaxed.clone(), channel.clone());
        let listener = listen::start(
            &handle,
            config,
            channel.clone(),
            outbox.origin().to_owned(),
            Arc::clone(&wakers),
        );
        tracing::debug!(schema, channel, "connected");
        let identity = Arc::new(Identity::new(options.worker_name.clone()));
        Ok(PostgresBackend {
            shared: Arc::new(Shared {
                pool,
                relaxed,
                clock,
                channel,
                schema,
                wakers,
                outbox,
                options,
                retries: AtomicU64::new(0),
                tokens: Tokens::new(Arc::clone(&identity)),
                identity,
                send_keys: SendKeys::new(),
                #[cfg(test)]
                lose_next_send_answer: std::sync::atomic::AtomicBool::new(false),
                #[cfg(test)]
                activity_fetches: AtomicU64::new(0),
            }),
            _listener: listener,
            _notifier: notifier,
        })
    }

    /// Benchmarks only (`bench` feature): draw lease tokens inside each fetch's
    /// asynchronously committed transaction, as before tokens came from durable blocks, so
    /// that the fix's cost can be measured in the same run. After a server crash such a token
    /// can be handed out again while a stale holder still acts on it: never for production.
    #[cfg(feature = "bench")]
    pub fn bench_tokens_from_fetch(&self, on: bool) {
        self.shared
            .tokens
            .from_fetch
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The PostgreSQL schema holding the engine's tables.
    pub fn schema(&self) -> &str {
        &self.shared.schema
    }

    /// The clock this backend measures visibility and leases with.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// How many times a call was tried again after a transient failure (a lost connection,
    /// a restarting server), since this backend connected. For monitoring: each retry is
    /// invisible to the engine.
    pub fn retried_calls(&self) -> u64 {
        self.shared.retries.load(Ordering::Relaxed)
    }

    /// Runs one database call, retrying it while the failure is transient (a lost
    /// connection, a restarting server) for up to `PostgresOptions::retry_for`, with
    /// backoff. `op` gets the shared state, the time and whether this is a retry.
    async fn call<T, F, Fut>(&self, what: &str, op: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: Fn(Arc<Shared>, u64, bool) -> Fut,
        Fut: Future<Output = Result<T, Fault>> + Send + 'static,
    {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(20);
        let mut retried = false;
        let answer_within = self.shared.options.statement_timeout + ANSWER_GRACE;
        loop {
            let now = self.shared.clock.now_ms();
            let attempt = op(Arc::clone(&self.shared), now, retried);
            let shared = Arc::clone(&self.shared);
            let outcome = io::run(async move {
                match tokio::time::timeout(answer_within, attempt).await {
                    Ok(result) => result,
                    Err(_) => {
                        // The connection that did not answer went back to the pool when the
                        // attempt was dropped: close every idle one rather than meet it again.
                        shared.pool.retain(|_, _| false);
                        Err(Fault::Transient(format!(
                            "no answer from PostgreSQL within {answer_within:?}"
                        )))
                    }
                }
            })
            .await
            .map_err(Fault::Permanent)
            .and_then(|result| result);
            match outcome {
                Ok(value) => return Ok(value),
                Err(Fault::Answer(error)) => return Err(error),
                Err(Fault::Permanent(message)) => return Err(BackendError::Permanent(message)),
                Err(Fault::Transient(message)) => {
                    if started.elapsed() >= self.shared.options.retry_for {
                        return Err(BackendError::Transient(message));
                    }
                    self.shared.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%message, "{what} failed; retrying on a new connection");
                    // The first retry goes at once: the usual cause is a pooled connection
                    // that the server closed while it was idle, and the pool has others (or
                    // opens a new one). Later ones back off, slept on the I/O runtime so
                    // that a paused caller's clock does not jump.
                    if retried {
                        let _ = io::run(async move { tokio::time::sleep(backoff).await }).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                    retried = true;
                }
            }
        }
    }

    /// After a commit of its own: wakes this process's waiters at once and queues the
    /// notification of the others.
    fn woke(&self, flags: &str) {
        self.shared.wakers.wake(flags);
        self.shared.outbox.send(flags);
    }

    /// How many notifications this backend has sent to other processes (each carries the
    /// flags of every commit since the one before).
    pub fn notifications_sent(&self) -> u64 {
        self.shared.outbox.sent()
    }

    /// Refreshes this worker's `last_seen_ms` if it is due (see `workers`), in the
    /// background: the fetch or renewal does not wait for it. A failure is only logged:
    /// being listed is for people, and the work goes on.
    fn beat(&self) {
        let now = self.shared.clock.now_ms();
        let Some(id) = self.shared.identity.beat_due(now) else {
            return;
        };
        let Ok(handle) = io::handle() else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        handle.spawn(async move {
            if let Err(fault) = workers::beat(&shared.pool, id, now).await {
                tracing::debug!(?fault, "refreshing the worker's last-seen time");
            }
        });
    }

    /// The worker processes that took work from this store and were seen (fetched work or
    /// renewed a lease) within `within`, or that hold a live lease, by id, each with the
    /// work it holds: [`Backend::workers`] with the cutoff `within` before now.
    pub async fn workers_seen_within(
        &self,
        within: Duration,
    ) -> Result<Vec<WorkerInfo>, BackendError> {
        let since = self.shared.clock.now_ms().saturating_sub(millis(within));
        self.workers_seen_since(since).await
    }

    async fn workers_seen_since(&self, since_ms: u64) -> Result<Vec<WorkerInfo>, BackendError> {
        self.call("workers", move |shared, now, _| async move {
            workers::list(&shared.pool, now, since_ms).await
        })
        .await
    }

    /// Leases one work item with `fetch` (given the shared state, the time, the lease in
    /// milliseconds and whether the caller will wait), waiting for one on `waiters` for up to
    /// `wait`; each attempt is a database `call` named `what`.
    async fn fetch<T, F, Fut>(
        &self,
        what: &'static str,
        waiters: impl Fn(&Wakers) -> &WaitList,
        lease_for: Duration,
        wait: Duration,
        fetch: F,
    ) -> Result<Option<T>, BackendError>
    where
        T: Send + 'static,
        F: Fn(Arc<Shared>, u64, u64, bool) -> Fut + Copy,
        Fut: Future<Output = Result<Fetched<T>, Fault>> + Send + 'static,
    {
        let lease_ms = millis(lease_for);
        self.wait_for_item(waiters, wait, |waiting| async move {
            self.beat();
            self.call(what, move |shared, now, _| {
                fetch(shared, now, lease_ms, waiting)
            })
            .await
        })
        .await
    }

    /// Tries `attempt` until it finds an item or `wait` runs out, sleeping until a
    /// notification, the next time work becomes visible, or the poll interval.
    async fn wait_for_item<T, A, Fut>(
        &self,
        waiters: impl Fn(&Wakers) -> &WaitList,
        wait: Duration,
        attempt: A,
    ) -> Result<Option<T>, BackendError>
    where
        A: Fn(bool) -> Fut,
        Fut: Future<Output = Result<Fetched<T>, BackendError>>,
    {
        let deadline = tokio::time::Instant::now() + wait;
        let wakers = Arc::clone(&self.shared.wakers);
        loop {
            // Registered before looking: a commit made while this looks wakes it.
            let mut woken = waiters(&wakers).register();
            let waiting = tokio::time::Instant::now() < deadline;
            let next_ms = match attempt(waiting).await? {
                Fetched::Item(item) => return Ok(Some(item)),
                Fetched::Nothing { next_ms } => next_ms,
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let poll = now + self.shared.options.poll_interval;
            // Work that is visible but was locked by another fetch: look again soon.
            let soonest = now + Duration::from_millis(10);
            let until = next_ms
                .map_or(poll, |ms| {
                    self.shared.clock.instant_at(ms).max(soonest).min(poll)
                })
                .min(deadline);
            tokio::select! {
                _ = &mut woken => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }
}

/// A pool of connections made with `config`.
fn make_pool(
    config: Config,
    options: &PostgresOptions,
    url_config: &Config,
) -> Result<Pool, PostgresError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(options.pool_wait_timeout))
        .create_timeout(url_config.get_connect_timeout().copied())
        .build()
        .map_err(|error| PostgresError::Database(error.to_string()))
}

/// Connects once, finds the schema to work in and migrates it. Returns the schema's name.
async fn setup(config: &Config, url: &str) -> Result<String, PostgresError> {
    let (mut client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|error| PostgresError::Connect {
                target: target(config),
                message: redact(&describe(&error), url),
            })?;
    let driver = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT current_schema(), current_setting('search_path')",
            &[],
        )
        .await
        .map_err(|error| PostgresError::Database(describe(&error)))?;
    let schema: Option<String> = row.get(0);
    let Some(schema) = schema else {
        return Err(PostgresError::NoSchema {
            search_path: row.get(1),
        });
    };
    migrate::migrate(&mut client, &schema).await?;
    drop(client);
    let _ = driver.await;
    Ok(schema)
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn create_instance(&self, new: NewInstance) -> Result<(), BackendError> {
        let new = Arc::new(new);
        let flags = self
            .call("create_instance", |shared, now, retried| {
                let new = Arc::clone(&new);
                async move { ops::create_instance(&shared.pool, &new, now, retried).await }
            })
            .await?;
        self.woke(&flags);
        Ok(())
    }

    async fn send_message(&self, message: NewMessage) -> Result<(), BackendError> {
        let message = Arc::new(message);
        // One key for every attempt of this call: a retry whose first attempt committed finds
        // it and enqueues nothing.
        let (key, prune) = self.shared.send_keys.next();
        let key: Arc<str> = Arc::from(key);
        let flags = self
            .call("send_message", |shared, now, _| {
                let message = Arc::clone(&message);
                let key = Arc::clone(&key);
                async move {
                    let flags = ops::send_message(&shared.pool, &message, &key, prune, now).await?;
                    #[cfg(test)]
                    if shared.lose_next_send_answer.swap(false, Ordering::SeqCst) {
                        return Err(Fault::Transient("the answer was lost (test)".to_owned()));
                    }
                    Ok(flags)
                }
            })
            .await?;
        self.woke(&flags);
        Ok(())
    }

    fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    async fn read_metadata(
        &self,
        instance_id: &str,
    ) -> Result<Option<InstanceMetadata>, BackendError> {
        let id: Arc<str> = Arc::from(instance_id);
        self.call("read_metadata", |shared, _, _| {
            let id = Arc::clone(&id);
            async move { ops::read_metadata(&shared.pool, &id).await }
        })
        .await
    }

    async fn read_history(&self, instance_id: &str) -> Result<Vec<Event>, BackendError> {
        let id: Arc<str> = Arc::from(instance_id);
        self.call("read_history", |shared, _, _| {
            let id = Arc::clone(&id);
            async move { ops::read_history(&shared.pool, &id).await }
        })
        .await
    }

    async fn list_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceMetadata>, BackendError> {
        let filter = Arc::new(filter.clone());
        self.call("list_instances", |shared, _, _| {
            let filter = Arc::clone(&filter);
            async move { ops::list_instances(&shared.pool, &filter).await }
        })
        .await
    }

    async fn purge_finished_before(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let cutoff = i64::try_from(cutoff_ms).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (purged, flags) = self
            .call("purge_finished_before", |shared, _, _| async move {
                crate::purge::finished_before(&shared.pool, cutoff, limit).await
            })
            .await?;
        self.woke(&flags);
        Ok(purged)
    }

    async fn purge_instance(&self, instance_id: &str) -> Result<(), BackendError> {
        let id: Arc<str> = Arc::from(instance_id);
        let flags = self
            .call("purge_instance", |shared, _, retried| {
                let id = Arc::clone(&id);
                async move { ops::purge_instance(&shared.pool, &id, retried).await }
            })
            .await?;
        self.woke(&flags);
        Ok(())
    }

    async fn wait_for_change(
        &self,
        instance_id: &str,
        seen_history_len: u64,
        timeout: Duration,
    ) -> Result<(), BackendError> {
        let id: Arc<str> = Arc::from(instance_id);
        self.wait_for_item(
            |wakers| &wakers.changes,
            timeout,
            |_| async {
                let len = self
                    .call("wait_for_change", |shared, _, _| {
                        let id = Arc::clone(&id);
                        async move { ops::history_len(&shared.pool, &id).await }
                    })
                    .await?;
                Ok(match len {
                    Some(len) if len == seen_history_len => Fetched::Nothing { next_ms: None },
                    _ => Fetched::Item(()),
                })
            },
        )
        .await?;
        Ok(())
    }

    async fn fetch_orchestration(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<OrchestrationItem>, BackendError> {
        self.fetch(
            "fetch_orchestration",
            |wakers| &wakers.orchestrations,
            lease_for,
            wait,
            |shared, now, lease_ms, waiting| async move {
                ops::fetch_orchestration(
                    &shared.pool,
                    &shared.relaxed,
                    &shared.tokens,
                    now,
                    lease_ms,
                    waiting,
                )
                .await
            },
        )
        .await
    }

    async fn ack_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        commit: &OrchestrationCommit,
    ) -> Result<(), BackendError> {
        let id: Arc<str> = Arc::from(instance_id);
        let commit = Arc::new(commit.clone());
        let flags = self
            .call("ack_orchestration", |shared, now, _| {
                let id = Arc::clone(&id);
                let commit = Arc::clone(&commit);
                async move { ops::ack_orchestration(&shared.pool, &id, token, &commit, now).await }
            })
            .await?;
        self.woke(&flags);
        Ok(())
    }

    async fn abandon_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        let id: Arc<str> = Arc::from(instance_id);
        let delay_ms = millis(delay);
        let flags = self
            .call("abandon_orchestration", |shared, now, _| {
                let id = Arc::clone(&id);
                async move {
                    ops::abandon_orchestration(
                        &shared.relaxed,
                        &id,
                        token,
                        now.saturating_add(delay_ms),
                    )
                    .await
                }
            })
            .await?;
        self.woke(&flags);
        Ok(())
    }

    async fn renew_orchestration_lease(
        &self,
        instance_id: &str,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        self.beat();
        let id: Arc<str> = Arc::from(instance_id);
        let lease_ms = millis(lease_for);
        self.call("renew_orchestration_lease", |shared, now, _| {
            let id = Arc::clone(&id);
            async move {
                ops::renew_orchestration_lease(
                    &shared.relaxed,
                    &id,
                    token,
                    now.saturating_add(lease_ms),
                )
                .await
            }
        })
        .await
    }

    async fn fetch_activity(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<ActivityItem>, BackendError> {
        self.fetch(
            "fetch_activity",
            |wakers| &wakers.activities,
            lease_for,
            wait,
            |shared, now, lease_ms, waiting| async move {
                #[cfg(test)]
                shared.activity_fetches.fetch_add(1, Ordering::SeqCst);
                ops::fetch_activity(
                    &shared.pool,
                    &shared.relaxed,
                    &shared.tokens,
                    now,
                    lease_ms,
                    waiting,
                )
                .await
            },
        )
        .await
    }

    async fn ack_activity(
        &self,
        id: u64,
        token: u64,
        completion: &NewMessage,
    ) -> Result<(), BackendError> {
        let completion = Arc::new(completion.clone());
        let flags = self
            .call("ack_activity", |shared, now, _| {
                let completion = Arc::clone(&completion);
                async move { ops::ack_activity(&shared.relaxed, id, token, &completion, now).await }
            })
            .await?;
        self.woke(&flags);
        Ok(())
    }

    async fn abandon_activity(
        &self,
        id: u64,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        let delay_ms = millis(delay);
        let flags = self
            .call("abandon_activity", |shared, now, _| async move {
                ops::abandon_activity(&shared.relaxed, id, token, now.saturating_add(delay_ms))
                    .await
            })
            .await?;
        self.woke(&flags);
        Ok(())
    }

    async fn workers(&self, seen_since_ms: u64) -> Result<Option<Vec<WorkerInfo>>, BackendError> {
        self.workers_seen_since(seen_since_ms).await.map(Some)
    }

    async fn renew_activity_lease(
        &self,
        id: u64,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        self.beat();
        let lease_ms = millis(lease_for);
        self.call("renew_activity_lease", |shared, now, _| async move {
            ops::renew_activity_lease(&shared.relaxed, id, token, now.saturating_add(lease_ms))
                .await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use durable_core::backend::NewMessage;
    use durable_core::testing::new_instance;
    use durable_core::{Backend, Event};

    use super::*;

    /// One activity made available wakes one of the fetches waiting for work, not all of
    /// them (which then all query, and all but one find nothing).
    #[tokio::test]
    async fn one_new_activity_wakes_one_waiting_fetch() {
        let Some(base) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL") else {
            return;
        };
        let url = crate::testing::fresh_schema_url(&base, "wake_one")
            .await
            .expect("schema");
        let backend = Arc::new(PostgresBackend::connect(&url).await.expect("connect"));
        backend
            .create_instance(new_instance("a"))
            .await
            .expect("create");
        let item = backend
            .fetch_orchestration(Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("fetch")
            .expect("work");
        const WAITING: u64 = 8;
        let mut fetches = tokio::task::JoinSet::new();
        for _ in 0..WAITING {
            let backend = Arc::clone(&backend);
            fetches.spawn(async move {
                backend
                    .fetch_activity(Duration::from_secs(30), Duration::from_secs(20))
                    .await
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while backend.shared.activity_fetches.load(Ordering::SeqCst) < WAITING {
            assert!(Instant::now() < deadline, "the fetches did not start");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Every fetch looked once, found nothing and sleeps (the poll interval is 1 s).
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = backend.shared.activity_fetches.load(Ordering::SeqCst);
        let work = durable_core::backend::ActivityWork {
            instance_id: "a".to_owned(),
            execution_id: 1,
            task_id: 1,
            name: "act".to_owned(),
            input: "null".to_owned(),
            options: durable_core::ActivityOptions::default(),
        };
        let commit = OrchestrationCommit {
            activities: vec![work],
            ..OrchestrationCommit::default()
        };
        backend
            .ack_orchestration("a", item.lease.token, &commit)
            .await
            .expect("ack");
        let fetched = tokio::time::timeout(Duration::from_secs(5), fetches.join_next())
            .await
            .expect("a fetch got the activity")
            .expect("a fetch")
            .expect("joined")
            .expect("fetched");
        assert!(fetched.is_some());
        let after = backend.shared.activity_fetches.load(Ordering::SeqCst);
        assert_eq!(
            after - before,
            1,
            "{} fetches woken for one activity",
            after - before
        );
        fetches.abort_all();
    }

    /// Listens on `channel` from a connection of its own; notifications' payloads arrive on
    /// the receiver.
    async fn listener(url: &str, channel: &str) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        use futures::StreamExt;
        let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let tokio_postgres::AsyncMessage::Notification(notification) = message {
                    let _ = sender.send(notification.payload().to_owned());
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN \"{channel}\""))
            .await
            .expect("listen");
        // The client must live as long as the connection listens.
        std::mem::forget(client);
        receiver
    }

    /// Commits send no `NOTIFY` of their own (which would serialize their WAL flushes behind
    /// the notification queue's lock): the other processes hear of them afterwards, in one
    /// notification for every commit made while the last was in flight.
    #[tokio::test]
    async fn commits_are_notified_after_they_commit_and_together() {
        let Some(base) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL") else {
            return;
        };
        let url = crate::testing::fresh_schema_url(&base, "notify_after")
            .await
            .expect("schema");
        let backend = PostgresBackend::connect(&url).await.expect("connect");
        let mut heard = listener(&url, &backend.shared.channel).await;
        backend.shared.outbox.held.store(true, Ordering::SeqCst);
        for id in ["a", "b", "c"] {
            backend
                .create_instance(new_instance(id))
                .await
                .expect("create");
        }
        let early = tokio::time::timeout(Duration::from_millis(500), heard.recv()).await;
        assert!(early.is_err(), "notified with the commit: {early:?}");
        backend.shared.outbox.held.store(false, Ordering::SeqCst);
        let payload = tokio::time::timeout(Duration::from_secs(10), heard.recv())
            .await
            .expect("notified after the commits")
            .expect("listening");
        assert_eq!(payload, format!("{}:o", backend.shared.outbox.origin()));
        let more = tokio::time::timeout(Duration::from_millis(500), heard.recv()).await;
        assert!(more.is_err(), "one notification for the three: {more:?}");
        assert_eq!(backend.notifications_sent(), 1);
    }

    /// Progress (acknowledgements, creations, messages) is committed by sessions that wait
    /// for the WAL flush; only leases go through the pool that does not.
    #[tokio::test]
    async fn only_the_relaxed_pool_skips_the_flush() {
        let Some(base) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL") else {
            return;
        };
        let url = crate::testing::fresh_schema_url(&base, "relaxed_pool")
            .await
            .expect("schema");
        let backend = PostgresBackend::connect(&url).await.expect("connect");
        let shared = Arc::clone(&backend.shared);
        let settings = io::run(async move {
            let mut settings = Vec::new();
            for pool in [&shared.pool, &shared.relaxed] {
                let client = pool.get().await.expect("connection");
                let row = client
                    .query_one("SHOW synchronous_commit", &[])
                    .await
                    .expect("show");
                settings.push(row.get::<_, String>(0));
            }
            settings
        })
        .await
        .expect("run");
        assert_ne!(
            settings[0], "off",
            "the progress pool must wait for the flush"
        );
        assert_eq!(settings[1], "off");
    }

    /// A send whose commit went through but whose answer was lost is retried, and the retry
    /// does not deliver the event a second time.
    #[tokio::test]
    async fn a_retried_send_delivers_once() {
        let Some(base) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL") else {
            return;
        };
        let url = crate::testing::fresh_schema_url(&base, "send_once")
            .await
            .expect("schema");
        let backend = PostgresBackend::connect(&url).await.expect("connect");
        backend
            .create_instance(new_instance("a"))
            .await
            .expect("create");
        backend
            .shared
            .lose_next_send_answer
            .store(true, Ordering::SeqCst);
        backend
            .send_message(NewMessage {
                instance_id: "a".to_owned(),
                execution_id: None,
                event: Event::EventRaised {
                    name: "e".to_owned(),
                    data: "1".to_owned(),
                },
                visible_at_ms: None,
            })
            .await
            .expect("the retried send succeeds");
        assert_eq!(backend.retried_calls(), 1, "the lost answer was retried");
        let item = backend
            .fetch_orchestration(Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("fetch")
            .expect("work");
        let raised = item
            .messages
            .iter()
            .filter(|message| matches!(message.event, Event::EventRaised { .. }))
            .count();
        assert_eq!(raised, 1, "{:?}", item.messages);
    }
}
