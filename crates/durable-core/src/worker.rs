//! `Worker`: the runtime that fetches work from a backend and runs it on tokio.
//!
//! Two dispatchers, one for orchestration episodes and one for activities, each fetch work
//! only when they have a free slot (so a worker never leases more than it can run; several
//! fetches at once while they keep finding work), run each
//! item in its own task, and keep going through backend errors with backoff: a failing
//! backend delays work but never fails an orchestration. Shutdown stops fetching, asks
//! running activities to stop, waits for them for a grace period and hands back the leases
//! of those that did not finish. What an episode commits is built in `episode.rs`, without the
//! runtime.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use crate::activity::{ActivityContext, ActivityOptions, Invocation};
use crate::backend::{ActivityItem, Backend, NewMessage, OrchestrationCommit, OrchestrationItem};
use crate::cache::{Cache, Checkout};
use crate::episode::{current_messages, episode_commit, failed_commit};
use crate::error::BackendError;
use crate::failure::{Failure, FailureKind};
use crate::history::Event;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::registry::{BoxFuture, Registry};
use crate::replay::Execution;
use crate::retention::Retention;

/// How a worker runs. `Default` gives sensible production values.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Orchestration episodes run at once.
    pub orchestration_concurrency: usize,
    /// Activities run at once.
    pub activity_concurrency: usize,
    /// Lease length for orchestration episodes; renewed every third of it while an episode
    /// runs.
    pub orchestration_lease: Duration,
    /// Lease length for activities; renewed every third of it while the activity runs.
    pub activity_lease: Duration,
    /// A work item handed out more often than this is poisoned: failed with
    /// `FailureKind::Poisoned` instead of being run again. An orchestration or activity whose
    /// name this worker has not registered is handed back (another worker may know it) and
    /// fails with `FailureKind::Unregistered` on its `max_attempts`-th attempt.
    pub max_attempts: u32,
    /// How long an item whose name this worker has not registered stays hidden before it is
    /// handed out again (to this or another worker).
    pub unregistered_retry_delay: Duration,
    /// Running executions kept in memory between episodes; 0 replays every episode from
    /// history (slow; for testing replay).
    pub cache_capacity: usize,
    /// How long one fetch waits for work before asking again.
    pub fetch_wait: Duration,
    /// After shutdown is requested, how long running activities get to finish before their
    /// leases are handed back.
    pub shutdown_grace: Duration,
    /// First delay after a backend error; doubles per consecutive error up to 64 times it.
    pub error_backoff: Duration,
    /// How long finished instances are kept before this worker purges them (default 30
    /// days, checked hourly, 100 per batch). Several workers on one store may all purge:
    /// each purge is atomic and an instance is purged once.
    pub retention: Retention,
    /// Time limits of activities registered without their own (see `ActivityOptions`):
    /// start-to-close and heartbeat timeouts. None by default.
    pub activity_defaults: ActivityOptions,
    /// Start-to-close limit of one orchestration episode (loading the history, replaying, and
    /// running the orchestration up to its next wait). An episode not ready to commit in
    /// time is handed back as if its worker had crashed, so one that keeps overrunning is
    /// poisoned after `max_attempts`. `None`: no limit.
    pub episode_timeout: Option<Duration>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            orchestration_concurrency: 8,
            activity_concurrency: 16,
            orchestration_lease: Duration::from_secs(30),
            activity_lease: Duration::from_secs(60),
            max_attempts: 10,
            unregistered_retry_delay: Duration::from_secs(5),
            cache_capacity: 1024,
            fetch_wait: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
            error_backoff: Duration::from_millis(50),
            retention: Retention::default(),
            activity_defaults: ActivityOptions::default(),
            episode_timeout: None,
        }
    }
}

/// A running worker. Dropping it requests shutdown without waiting; prefer `shutdown`.
pub struct Worker {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    dispatchers: Vec<JoinHandle<()>>,
}

struct Shared {
    backend: Arc<dyn Backend>,
    registry: Arc<Registry>,
    options: WorkerOptions,
    cache: Mutex<Cache>,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
}

impl Worker {
    /// Starts the dispatchers on the current tokio runtime.
    pub fn start(backend: Arc<dyn Backend>, registry: Registry, options: WorkerOptions) -> Worker {
        let (stop, stop_receiver) = watch::channel(false);
        let shared = Arc::new(Shared {
            backend,
            registry: Arc::new(registry),
            cache: Mutex::new(Cache::new(options.cache_capacity)),
            options,
            metrics: Metrics::default(),
            stop: stop_receiver,
        });
        let retention = tokio::spawn(crate::retention::run(
            Arc::clone(&shared.backend),
            shared.options.retention.clone(),
            shared.stop.clone(),
        ));
        let dispatchers = vec![
            retention,
            tokio::spawn(dispatch(
                Arc::clone(&shared),
                shared.options.orchestration_concurrency,
                fetch_orchestration,
                run_orchestration,
            )),
            tokio::spawn(dispatch(
                Arc::clone(&shared),
                shared.options.activity_concurrency,
                fetch_activity,
                run_activity,
            )),
        ];
        Worker {
            shared,
            stop,
            dispatchers,
        }
    }

    /// The worker's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// Stops fetching, lets running episodes finish, asks running activities to stop (they
    /// get `shutdown_grace`, then their leases are handed back), and waits for all of it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for dispatcher in self.dispatchers.drain(..) {
            let _ = dispatcher.await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Shared {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn backoff(&self, consecutive_errors: u32) -> Duration {
        self.options
            .error_backoff
            .saturating_mul(1 << consecutive_errors.min(6))
    }

    /// Runs a backend call, retrying transient errors with backoff a few times.
    async fn retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, BackendError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let mut errors = 0;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    Metrics::add(&self.metrics.backend_errors, 1);
                    errors += 1;
                    if !error.is_transient() || errors >= 5 {
                        return Err(error);
                    }
                    tracing::warn!(%error, "{what} failed; retrying");
                    tokio::time::sleep(self.backoff(errors)).await;
                }
            }
        }
    }
}

/// At most this many fetches of one dispatcher in flight at once (and never more than its
/// free slots).
const MAX_PARALLEL_FETCHES: usize = 8;

/// Fetches items with `fetch` and runs each with `run` in its own task, at most `limit` at
/// once, until shutdown; then waits for the running ones.
///
/// Each fetch holds a slot, so a worker never leases more than it can run. While fetches
/// find work, more are started at once (up to `MAX_PARALLEL_FETCHES` and the free slots): a
/// backend may make a fetch wait for the lease's attempt count to reach the disk, and
/// overlapping fetches share that wait (one group commit) instead of queueing behind each
/// other. Once a fetch finds nothing, or fails, the dispatcher goes back to one at a time.
async fn dispatch<T, FetchFut, RunFut>(
    shared: Arc<Shared>,
    limit: usize,
    fetch: fn(Arc<Shared>) -> FetchFut,
    run: fn(Arc<Shared>, T) -> RunFut,
) where
    T: Send + 'static,
    FetchFut: Future<Output = Result<Option<T>, BackendError>> + Send,
    RunFut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let most = MAX_PARALLEL_FETCHES.min(limit.max(1));
    let mut running = JoinSet::new();
    let mut fetching = FuturesUnordered::new();
    let mut stop = shared.stop.clone();
    let mut errors = 0;
    let mut parallel = 1;
    loop {
        while running.try_join_next().is_some() {}
        while fetching.len() < parallel {
            match Arc::clone(&permits).try_acquire_owned() {
                Ok(permit) => fetching.push(holding(fetch(Arc::clone(&shared)), permit)),
                Err(_) => break,
            }
        }
        if fetching.is_empty() {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = stopped(&mut stop) => break,
            };
            fetching.push(holding(fetch(Arc::clone(&shared)), permit));
        }
        let (fetched, permit) = tokio::select! {
            Some(done) = fetching.next() => done,
            () = stopped(&mut stop) => break,
        };
        match fetched {
            Ok(Some(item)) => {
                errors = 0;
                parallel = (parallel + 1).min(most);
                let task = run(Arc::clone(&shared), item);
                running.spawn(async move {
                    task.await;
                    drop(permit);
                });
            }
            Ok(None) => {
                errors = 0;
                parallel = 1;
            }
            Err(error) => {
                drop(permit);
                parallel = 1;
                Metrics::add(&shared.metrics.backend_errors, 1);
                errors += 1;
                tracing::warn!(%error, "fetching work failed; backing off");
                tokio::select! {
                    () = tokio::time::sleep(shared.backoff(errors)) => {}
                    () = stopped(&mut stop) => break,
                }
            }
        }
    }
    drop(fetching);
    while running.join_next().await.is_some() {}
}

/// A fetch with the slot it holds.
async fn holding<F: Future>(
    fetch: F,
    permit: OwnedSemaphorePermit,
) -> (F::Output, OwnedSemaphorePermit) {
    (fetch.await, permit)
}

/// Resolves once shutdown is requested (or the worker is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn fetch_orchestration(
    shared: Arc<Shared>,
) -> Result<Option<OrchestrationItem>, BackendError> {
    shared
        .backend
        .fetch_orchestration(
            shared.options.orchestration_lease,
            shared.options.fetch_wait,
        )
        .await
}

async fn fetch_activity(shared: Arc<Shared>) -> Result<Option<ActivityItem>, BackendError> {
    shared
        .backend
        .fetch_activity(shared.options.activity_lease, shared.options.fetch_wait)
        .await
}

async fn run_orchestration(shared: Arc<Shared>, item: OrchestrationItem) {
    let span = tracing::info_span!(
        "orchestration_episode",
        instance = %item.instance.instance_id,
        execution = item.instance.execution_id,
        attempt = item.lease.attempt,
    );
    // Renewed from its own task, so that a long episode (a big replay on a multi-threaded
    // runtime, a slow or retried backend call) keeps its lease; stopped when the episode ends.
    let renewal = AbortOnDrop(tokio::spawn(renew_orchestration_lease(
        Arc::clone(&shared),
        item.instance.instance_id.clone(),
        item.lease.token,
    )));
    episode(&shared, item).instrument(span).await;
    drop(renewal);
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Renews an episode's lease every third of its length until aborted or the lease is lost.
async fn renew_orchestration_lease(shared: Arc<Shared>, instance_id: String, token: u64) {
    let lease_for = shared.options.orchestration_lease;
    let period = (lease_for / 3).max(Duration::from_millis(1));
    let mut renew = tokio::time::interval_at(Instant::now() + period, period);
    renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        renew.tick().await;
        match shared
            .backend
            .renew_orchestration_lease(&instance_id, token, lease_for)
            .await
        {
            Ok(_) => Metrics::add(&shared.metrics.lease_renewals, 1),
            Err(error) if error.is_transient() => {
                Metrics::add(&shared.metrics.backend_errors, 1);
                tracing::warn!(%error, "cannot renew the episode's lease; will retry");
            }
            Err(error) => {
                // The commit will be refused with `LeaseLost`; nothing more to do here.
                tracing::warn!(%error, "the episode's lease is lost");
                return;
            }
        }
    }
}

/// What to do with a fetched orchestration item.
// One short-lived value per episode, moved once: boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Prepared {
    /// Commit this; cache the execution if it is still running.
    Commit(OrchestrationCommit, Option<Execution>),
    /// Hand the item back untouched, to be fetched again after this delay.
    HandBack(Duration),
}

/// An instance's cache slot, checked out for one episode; checked back in when dropped, with
/// `execution` (which the episode sets once its commit has landed).
struct CheckedOut<'a> {
    shared: &'a Shared,
    instance_id: String,
    execution: Option<Execution>,
}

impl CheckedOut<'_> {
    /// Checks out the instance's slot, first waiting for a previous episode of the same
    /// instance in this worker to check in: its commit has landed (that is how this episode
    /// could be fetched), so its execution is about to be current.
    async fn take<'a>(shared: &'a Shared, instance_id: &str) -> CheckedOut<'a> {
        loop {
            let busy = shared.cache().checkout(instance_id);
            let done = match busy {
                Checkout::Ready(execution) => {
                    return CheckedOut {
                        shared,
                        instance_id: instance_id.to_owned(),
                        execution,
                    };
                }
                Checkout::Wait(done) => done,
            };
            let notified = done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Enabled before this check, so a check-in after it is not missed.
            let still_busy = shared.cache().still_busy(instance_id, &done);
            if still_busy {
                notified.await;
            }
        }
    }
}

impl Drop for CheckedOut<'_> {
    fn drop(&mut self) {
        self.shared
            .cache()
            .checkin(&self.instance_id, self.execution.take());
    }
}

/// Runs one episode and commits it; on failure hands the lease back so the work is retried.
async fn episode(shared: &Shared, item: OrchestrationItem) {
    let instance_id = item.instance.instance_id.clone();
    let token = item.lease.token;
    let mut slot = CheckedOut::take(shared, &instance_id).await;
    let cached = slot.execution.take();
    let prepared = match shared.options.episode_timeout {
        Some(limit) => tokio::time::timeout(limit, prepare_episode(shared, &item, cached))
            .await
            .unwrap_or_else(|_| {
                Metrics::add(&shared.metrics.episodes_timed_out, 1);
                tracing::warn!(?limit, "the episode overran its timeout; handing it back");
                Ok(Prepared::HandBack(shared.backoff(1)))
            }),
        None => prepare_episode(shared, &item, cached).await,
    };
    let (commit, execution) = match prepared {
        Ok(Prepared::Commit(commit, execution)) => (commit, execution),
        Ok(Prepared::HandBack(delay)) => {
            abandon_orchestration(shared, &instance_id, token, delay).await;
            return;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot load history; handing the episode back");
            abandon_orchestration(shared, &instance_id, token, shared.backoff(1)).await;
            return;
        }
    };
    let acked = shared
        .retry("committing an episode", || {
            shared
                .backend
                .ack_orchestration(&instance_id, token, &commit)
        })
        .await;
    match acked {
        Ok(()) => {
            Metrics::add(&shared.metrics.episodes, 1);
            slot.execution = execution.filter(|execution| execution.outcome().is_none());
        }
        Err(BackendError::LeaseLost { .. }) => {
            // Another worker owns the instance now; our cached state is stale.
            Metrics::add(&shared.metrics.leases_lost, 1);
        }
        Err(error) => {
            tracing::warn!(%error, "cannot commit the episode; handing it back");
            abandon_orchestration(shared, &instance_id, token, shared.backoff(1)).await;
        }
    }
}

async fn abandon_orchestration(shared: &Shared, instance_id: &str, token: u64, delay: Duration) {
    if let Err(error) = shared
        .backend
        .abandon_orchestration(instance_id, token, delay)
        .await
    {
        // The lease will expire on its own; the work is not lost.
        Metrics::add(&shared.metrics.backend_errors, 1);
        tracing::warn!(%error, "cannot hand back the episode");
    }
}

/// Decides what to do with an item: commit an episode (building or rebuilding the execution)
/// or hand it back.
async fn prepare_episode(
    shared: &Shared,
    item: &OrchestrationItem,
    cached: Option<Execution>,
) -> Result<Prepared, BackendError> {
    let instance = &item.instance;
    let max_attempts = shared.options.max_attempts;
    if instance.status.is_terminal() {
        // Stray messages (late completions, events) for a finished instance: consume them.
        return Ok(Prepared::Commit(OrchestrationCommit::default(), None));
    }
    if item.lease.attempt > max_attempts {
        Metrics::add(&shared.metrics.poisoned, 1);
        let failure = Failure::new(
            FailureKind::Poisoned,
            format!(
                "an episode of instance '{}' was attempted {} times without being committed",
                instance.instance_id, item.lease.attempt
            ),
        );
        return Ok(Prepared::Commit(failed_commit(item, failure), None));
    }
    if shared.registry.orchestration_fn(&instance.name).is_none() {
        // Another worker (another process, a newer deployment) may know it: hand it back,
        // and give up only after as many attempts as a poisoned item gets.
        if item.lease.attempt < max_attempts {
            tracing::warn!(name = %instance.name, "orchestration not registered here; handing it back");
            return Ok(Prepared::HandBack(shared.options.unregistered_retry_delay));
        }
        let failure = Failure::new(
            FailureKind::Unregistered,
            format!(
                "no orchestration is registered as '{}' on the workers that fetched instance '{}' ({} attempts)",
                instance.name, instance.instance_id, item.lease.attempt
            ),
        );
        return Ok(Prepared::Commit(failed_commit(item, failure), None));
    }
    let messages = current_messages(item);
    let starts = messages.iter().any(|event| {
        matches!(
            event,
            Event::ExecutionStarted { .. } | Event::ExecutionTerminated { .. }
        )
    });
    if instance.history_len == 0 && !starts {
        // Messages (events, a suspension) for an instance scheduled to start later: keep them
        // in the inbox until the start is visible, so the start stays the first input.
        let until_start = instance
            .scheduled_start_ms
            .map_or(0, |at| at.saturating_sub(item.now_ms));
        return Ok(Prepared::HandBack(
            Duration::from_millis(until_start).max(shared.options.error_backoff),
        ));
    }
    let mut execution = match cached {
        // The incarnation too: after the id is reused, the new instance can reach the same
        // execution id and history length as the one this worker cached.
        Some(execution)
            if execution.incarnation() == instance.incarnation
                && execution.execution_id() == instance.execution_id
                && execution.history_len() == instance.history_len =>
        {
            Metrics::add(&shared.metrics.cache_hits, 1);
            execution
        }
        _ => {
            let history = shared
                .retry("reading history", || {
                    shared.backend.read_history(&instance.instance_id)
                })
                .await?;
            Metrics::add(&shared.metrics.full_replays, 1);
            Metrics::add(&shared.metrics.replayed_events, history.len() as u64);
            Execution::from_history(
                Arc::clone(&shared.registry),
                instance.instance_id.clone(),
                instance.execution_id,
                &history,
            )
            .in_incarnation(instance.incarnation)
        }
    };
    let commit = episode_commit(item, &mut execution);
    Ok(Prepared::Commit(commit, Some(execution)))
}

async fn run_activity(shared: Arc<Shared>, item: ActivityItem) {
    let span = tracing::info_span!(
        "activity",
        name = %item.work.name,
        instance = %item.work.instance_id,
        task = item.work.task_id,
        attempt = item.lease.attempt,
    );
    activity(&shared, item).instrument(span).await;
}

/// Runs one activity invocation and commits its completion.
async fn activity(shared: &Shared, item: ActivityItem) {
    let work = &item.work;
    let result = if item.lease.attempt > shared.options.max_attempts {
        Metrics::add(&shared.metrics.poisoned, 1);
        Err(Failure::new(
            FailureKind::Poisoned,
            format!(
                "activity '{}' was attempted {} times without completing",
                work.name, item.lease.attempt
            ),
        ))
    } else if let Some(function) = shared.registry.activity_fn(&work.name) {
        let (cancel, cancel_receiver) = watch::channel(false);
        let progress = Arc::new(Mutex::new(Instant::now()));
        let context = activity_context(&item, Arc::clone(&progress), cancel_receiver);
        let running = Running {
            future: function(context, work.input.clone()),
            cancel,
            progress,
            limits: work
                .options
                .or(shared.registry.activity_options(&work.name))
                .or(shared.options.activity_defaults),
        };
        match supervise(shared, &item, running).await {
            Some(result) => result,
            None => return,
        }
    } else if item.lease.attempt < shared.options.max_attempts {
        // Another worker may know it: hand it back (see `WorkerOptions::max_attempts`).
        tracing::warn!("activity not registered here; handing it back");
        let abandoned = shared
            .backend
            .abandon_activity(
                item.id,
                item.lease.token,
                shared.options.unregistered_retry_delay,
            )
            .await;
        if let Err(error) = abandoned {
            Metrics::add(&shared.metrics.backend_errors, 1);
            tracing::warn!(%error, "cannot hand back the activity; its lease will expire");
        }
        return;
    } else {
        Err(Failure::new(
            FailureKind::Unregistered,
            format!(
                "no activity is registered as '{}' on the workers that fetched it ({} attempts)",
                work.name, item.lease.attempt
            ),
        ))
    };
    let event = match result {
        Ok(output) => {
            Metrics::add(&shared.metrics.activities_completed, 1);
            Event::ActivityCompleted {
                task_id: work.task_id,
                output,
            }
        }
        Err(failure) => {
            Metrics::add(&shared.metrics.activities_failed, 1);
            Event::ActivityFailed {
                task_id: work.task_id,
                failure,
            }
        }
    };
    let completion = NewMessage {
        instance_id: work.instance_id.clone(),
        execution_id: Some(work.execution_id),
        event,
        visible_at_ms: None,
    };
    let acked = shared
        .retry("committing an activity", || {
            shared
                .backend
                .ack_activity(item.id, item.lease.token, &completion)
        })
        .await;
    match acked {
        Ok(()) => {}
        Err(BackendError::LeaseLost { .. }) => Metrics::add(&shared.metrics.leases_lost, 1),
        Err(error) => {
            // The lease expires and the activity runs again: at-least-once, never lost.
            tracing::warn!(%error, "cannot commit the activity's completion");
        }
    }
}

fn activity_context(
    item: &ActivityItem,
    progress: Arc<Mutex<Instant>>,
    cancel: watch::Receiver<bool>,
) -> ActivityContext {
    ActivityContext::new(
        Invocation {
            instance_id: item.work.instance_id.clone(),
            execution_id: item.work.execution_id,
            task_id: item.work.task_id,
            name: item.work.name.clone(),
            attempt: item.lease.attempt,
        },
        progress,
        cancel,
    )
}

/// A started activity invocation, as `supervise` watches it.
struct Running {
    future: BoxFuture<Result<String, Failure>>,
    /// Asks the activity to stop (see `ActivityContext::is_cancelled`).
    cancel: watch::Sender<bool>,
    /// Its last heartbeat (or its start).
    progress: Arc<Mutex<Instant>>,
    limits: ActivityOptions,
}

/// Which time limit an activity overran.
#[derive(Debug, Clone, Copy)]
enum Overrun {
    StartToClose(Duration),
    Heartbeat(Duration),
}

/// When an activity started at `started` times out if it makes no further progress: the
/// earlier of its start-to-close and heartbeat deadlines; `None` without limits.
fn deadline(
    progress: &Mutex<Instant>,
    limits: ActivityOptions,
    started: Instant,
) -> Option<(Instant, Overrun)> {
    let last_progress = *progress
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let close = limits
        .timeout
        .map(|limit| (started + limit, Overrun::StartToClose(limit)));
    let beat = limits
        .heartbeat_timeout
        .map(|limit| (last_progress + limit, Overrun::Heartbeat(limit)));
    match (close, beat) {
        (Some(close), Some(beat)) => Some(if beat.0 < close.0 { beat } else { close }),
        (close, beat) => close.or(beat),
    }
}

/// Runs an activity's future while renewing its lease; cancels it and fails it with
/// `FailureKind::Timeout` when it overruns its time limits; on a lost lease cancels it and
/// commits nothing; on shutdown asks it to stop, and after the grace period hands its lease
/// back. `None` when there is nothing to commit.
async fn supervise(
    shared: &Shared,
    item: &ActivityItem,
    running: Running,
) -> Option<Result<String, Failure>> {
    let what = format!("activity '{}'", item.work.name);
    let started = Instant::now();
    let Running {
        future,
        cancel,
        progress,
        limits,
    } = running;
    let mut future = AssertUnwindSafe(future).catch_unwind();
    let lease_for = shared.options.activity_lease;
    let period = (lease_for / 3).max(Duration::from_millis(1));
    let mut renew = tokio::time::interval_at(Instant::now() + period, period);
    renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut stop = shared.stop.clone();
    let mut grace_ends: Option<Instant> = None;
    loop {
        let timeout_at = deadline(&progress, limits, started);
        tokio::select! {
            result = &mut future => {
                return Some(result.unwrap_or_else(|payload| {
                    Err(Failure::from_panic(&what, payload.as_ref()))
                }));
            }
            () = tokio::time::sleep_until(timeout_at.map_or_else(Instant::now, |(at, _)| at)), if timeout_at.is_some() => {
                // Re-read: a heartbeat may have moved the deadline since it was computed.
                if let Some((at, overrun)) = deadline(&progress, limits, started)
                    && at <= Instant::now()
                {
                    Metrics::add(&shared.metrics.activities_timed_out, 1);
                    let _ = cancel.send(true);
                    let message = match overrun {
                        Overrun::StartToClose(limit) => format!("{what} did not finish within {limit:?}"),
                        Overrun::Heartbeat(limit) => format!("{what} sent no heartbeat for {limit:?}"),
                    };
                    tracing::warn!("{message}; cancelling it");
                    return Some(Err(Failure::new(FailureKind::Timeout, message)));
                }
            }
            _ = renew.tick() => {
                let renewed = shared
                    .backend
                    .renew_activity_lease(item.id, item.lease.token, lease_for)
                    .await;
                match renewed {
                    Ok(_) => {}
                    Err(error) if error.is_transient() => {
                        Metrics::add(&shared.metrics.backend_errors, 1);
                        tracing::warn!(%error, "cannot renew the activity's lease; will retry");
                    }
                    Err(error) => {
                        // Someone else may run this work now: stop ours, commit nothing.
                        Metrics::add(&shared.metrics.leases_lost, 1);
                        tracing::warn!(%error, "the activity's lease is lost; cancelling it");
                        let _ = cancel.send(true);
                        return None;
                    }
                }
            }
            () = stopped(&mut stop), if grace_ends.is_none() => {
                let _ = cancel.send(true);
                grace_ends = Some(Instant::now() + shared.options.shutdown_grace);
            }
            () = tokio::time::sleep_until(grace_ends.unwrap_or_else(Instant::now)), if grace_ends.is_some() => {
                Metrics::add(&shared.metrics.activities_abandoned, 1);
                let abandoned = shared
                    .backend
                    .abandon_activity(item.id, item.lease.token, Duration::ZERO)
                    .await;
                if let Err(error) = abandoned {
                    Metrics::add(&shared.metrics.backend_errors, 1);
                    tracing::warn!(%error, "cannot hand back the activity; its lease will expire");
                }
                return None;
            }
        }
    }
}
