//! `UpdateService`: what the CLI calls. Submits commits as runs, finds the run a repeated
//! command belongs to, refuses a second run on a busy object, waits, and lists runs.
//!
//! # Run identity
//!
//! A run id is `commit-<object>-<command>-<n>`:
//! - `<object>` is a hash of the storage root (absolute, links resolved) and the object id;
//! - `<command>` is a hash of everything the request says: the source directory (absolute,
//!   links resolved), message, user, creation time and object options;
//! - `<n>` counts the runs of that command on that object.
//!
//! Typing the same `ocfl commit` again therefore finds the runs of that command. If one of
//! them is still active (interrupted by a crash, a kill, or stalled on a full disk), the
//! command resumes it instead of starting another: a resumed run finishes the state it
//! staged when it started (copies still verify every source file against the staged digest,
//! so a file changed meanwhile fails the run rather than slipping in). If none is active, a
//! new run starts (`n + 1`); it stages the source again and plans against the object as it is
//! now, so a source that has not changed since the last commit completes at once, reporting
//! that the object already holds this state, and one that has changed makes a new version.
//!
//! # One run per object
//!
//! Each run is started by a lock instance `object-<object>` that runs it as a
//! sub-orchestration. Instance ids are unique in the store and a finished lock is replaced
//! atomically by the next one, so creating the lock is the atomic "is this object busy?"
//! test, on every backend and across processes: while a run is active its lock is too, and a
//! different command on the same object is refused with an error naming that run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use durable_core::{
    Backend, BackendError, Client, ClientError, Event, IdReusePolicy, InstanceFilter,
    InstanceMetadata, InstanceStatus, Registry, ScheduleOptions, Worker, WorkerOptions,
};
use ocfl_core::object_id::ObjectId;
use ocfl_core::path::LogicalPath;
use ocfl_core::version_num::VersionNum;
use ocfl_plan::stage::Edit;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::env::{Environment, canonical_root};
use crate::orchestration::{OBJECT_LOCK, RESUME_EVENT, UPDATE_OBJECT};
use crate::request::{
    Command, CommitRequest, Edits, EditsForm, RUN_ID_PREFIX, RunInput, Tuning, command_key,
    lock_id, object_key, run_prefix,
};
use crate::status::{Phase, Progress, RunReport};

/// Why a commit did not complete. Every variant names the object or the run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// The request cannot be run (an invalid object id, a source that is not a directory).
    #[error("{0}")]
    InvalidRequest(String),
    /// Another run is updating the object.
    #[error(
        "object {object_id} is busy: run {run} is updating it (resume it, or wait for it to finish)"
    )]
    Busy {
        /// The object id.
        object_id: String,
        /// The active run.
        run: String,
    },
    /// The run failed; nothing half-written is visible in the object.
    #[error("run {run} (object {object_id}) failed: {message}")]
    Failed {
        /// The run.
        run: String,
        /// The object id.
        object_id: String,
        /// Why, naming the file or object at fault.
        message: String,
    },
    /// A step kept failing with a transient error; the run waits to be resumed.
    #[error("run {run} (object {object_id}) is stalled: {message}; fix the cause, then resume it")]
    Stalled {
        /// The run.
        run: String,
        /// The object id.
        object_id: String,
        /// The error that stalled it.
        message: String,
    },
    /// The run was terminated.
    #[error("run {run} (object {object_id}) was terminated: {message}")]
    Terminated {
        /// The run.
        run: String,
        /// The object id.
        object_id: String,
        /// The reason given.
        message: String,
    },
    /// No run has this id.
    #[error("no run {0}")]
    UnknownRun(String),
    /// The run did not finish in the time allowed (it goes on).
    #[error("run {0} did not finish in the time allowed; it goes on")]
    Timeout(String),
    /// The engine's store failed.
    #[error("the engine's store: {0}")]
    Engine(#[from] ClientError),
    /// The new content could not be staged into the work area before submitting the run.
    #[error("object {object_id}: staging into the work area: {message}")]
    Staging {
        /// The object id.
        object_id: String,
        /// Why, naming the file or key at fault.
        message: String,
    },
    /// What a purged run left in the work area could not be removed.
    #[error("cannot remove what run {run} left in the work area: {message}")]
    RunData {
        /// The run.
        run: String,
        /// Why.
        message: String,
    },
}

impl From<BackendError> for CommitError {
    fn from(error: BackendError) -> CommitError {
        CommitError::Engine(ClientError::Backend(error))
    }
}

/// A commit that completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitOutcome {
    /// The object id.
    #[serde(rename = "id")]
    pub object_id: String,
    /// Its head version after the run.
    pub version: String,
    /// Plan steps (0 when nothing changed).
    pub steps: u64,
    /// Bytes the plan wrote.
    pub bytes: u64,
    /// The run id.
    pub run: String,
    /// Whether a new version was written; false: the object already held this state.
    pub changed: bool,
    /// Whether this call resumed an interrupted run rather than starting one.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub resumed: bool,
}

impl CommitOutcome {
    fn new(run: &str, report: RunReport, resumed: bool) -> CommitOutcome {
        CommitOutcome {
            object_id: report.object_id,
            version: report.version,
            steps: report.steps,
            bytes: report.bytes,
            run: run.to_owned(),
            changed: report.changed,
            resumed,
        }
    }

    /// A one-line summary for people.
    pub fn summary(&self) -> String {
        if self.changed {
            format!(
                "object {} is now at {} ({} steps, {} bytes; run {})",
                self.object_id, self.version, self.steps, self.bytes, self.run
            )
        } else {
            format!(
                "object {} already holds this state at {}; nothing to do (run {})",
                self.object_id, self.version, self.run
            )
        }
    }
}

/// One page of runs (`UpdateService::runs_page`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunsPage {
    /// The runs, in run id order.
    pub runs: Vec<RunInfo>,
    /// The `after` of the next page; `None` on the last page.
    pub next: Option<String>,
}

/// A submitted run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The run id.
    pub run: String,
    /// True when the request matched an active run of the same command, which goes on.
    pub resumed: bool,
    /// The stall this call resumed the run from, if it was stalled.
    resumed_stall: Option<u64>,
}

/// A run's state for listings (`ocfl runs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run id.
    pub run: String,
    /// The object id.
    pub object_id: String,
    /// The source directory.
    pub source: String,
    /// The storage root.
    pub root: String,
    /// `pending`, `running`, `stalled`, `completed`, `failed` or `terminated`.
    pub state: RunState,
    /// Progress, once the run started.
    pub progress: Option<Progress>,
    /// The outcome of a completed run.
    pub report: Option<RunReport>,
    /// Why it failed or was terminated.
    pub error: Option<String>,
    /// When it was submitted (milliseconds since the Unix epoch).
    pub created_at_ms: u64,
    /// When it last changed (for a finished run: when it ended).
    pub updated_at_ms: u64,
}

/// A run's life-cycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Submitted, not yet started.
    Pending,
    /// Working (or interrupted: it goes on when a worker runs).
    Running,
    /// Waiting to be resumed after a persistent transient error.
    Stalled,
    /// Suspended by a client.
    Suspended,
    /// Finished with a report.
    Completed,
    /// Finished with an error.
    Failed,
    /// Terminated.
    Terminated,
}

impl RunState {
    /// Whether the run will not run again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunState::Completed | RunState::Failed | RunState::Terminated
        )
    }
}

/// How the service runs commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Settings recorded into new runs.
    pub tuning: Tuning,
    /// How long `commit` and `wait` wait for a run (`None`: as long as it takes).
    pub wait_timeout: Option<Duration>,
}

/// The orchestrations and activities of update runs on `env`, for a [`Worker`].
pub fn registry(env: Arc<Environment>) -> Registry {
    register(Registry::new(), env)
}

/// Adds the orchestrations and activities of update runs on `env` to `registry`.
pub fn register(registry: Registry, env: Arc<Environment>) -> Registry {
    let registry = registry
        .orchestration(UPDATE_OBJECT, crate::orchestration::update_object)
        .orchestration(OBJECT_LOCK, crate::orchestration::object_lock);
    crate::activities::register(registry, &env)
}

/// Commits directories to objects of one storage root as durable runs on a backend.
///
/// The service only talks to the engine's store; a [`Worker`] with [`registry`] does the work
/// (in this process: [`UpdateService::start_worker`]; or in `ocfl worker` processes).
#[derive(Clone)]
pub struct UpdateService {
    client: Client,
    root: PathBuf,
    options: ServiceOptions,
}

impl std::fmt::Debug for UpdateService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateService")
            .field("root", &self.root)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How long to wait on a run before checking whether it stalled.
const STALL_CHECK: Duration = Duration::from_millis(500);

/// How long a caller waiting for a run waits, once the run has finished, for its lock to end
/// (one episode of a live worker; with no worker left, the run's outcome is returned anyway).
const LOCK_RELEASE_WAIT: Duration = Duration::from_secs(10);

impl UpdateService {
    /// A service for the storage root at `storage_root` on `backend`.
    pub fn new(
        backend: Arc<dyn Backend>,
        storage_root: &Path,
        options: ServiceOptions,
    ) -> Result<UpdateService, CommitError> {
        let root =
            canonical_root(storage_root).map_err(|e| CommitError::InvalidRequest(e.to_string()))?;
        Ok(UpdateService {
            client: Client::new(backend),
            root,
            options,
        })
    }

    /// The options runs are submitted with.
    pub fn options(&self) -> &ServiceOptions {
        &self.options
    }

    /// A service for the storage root named `location` (not a local path: an `s3://` URL),
    /// whose workers use an [`Environment::over`] of the same name.
    pub fn for_location(
        backend: Arc<dyn Backend>,
        location: &str,
        options: ServiceOptions,
    ) -> UpdateService {
        UpdateService {
            client: Client::new(backend),
            root: PathBuf::from(location),
            options,
        }
    }

    /// The engine client (for history, purge, and the like).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The storage root (absolute, links resolved).
    pub fn storage_root(&self) -> &Path {
        &self.root
    }

    /// Starts a worker in this process that runs update runs on `env` (which must be for the
    /// same storage root).
    pub fn start_worker(
        &self,
        backend: Arc<dyn Backend>,
        env: Arc<Environment>,
        options: WorkerOptions,
    ) -> Worker {
        Worker::start(backend, registry(env), options)
    }

    /// Commits: submits the request (or finds the active run of the same command) and waits
    /// for the run to finish.
    pub async fn commit(&self, request: &CommitRequest) -> Result<CommitOutcome, CommitError> {
        let submitted = self.submit(request).await?;
        self.wait_submitted(&submitted).await
    }

    /// Waits for a run returned by [`UpdateService::submit`] to finish (what
    /// [`UpdateService::commit`] does after submitting; for callers that look at the run in
    /// between, to show its progress say).
    pub async fn wait_submitted(
        &self,
        submitted: &Submitted,
    ) -> Result<CommitOutcome, CommitError> {
        let mut outcome = self
            .wait_from(&submitted.run, submitted.resumed_stall)
            .await?;
        outcome.resumed = submitted.resumed;
        Ok(outcome)
    }

    /// Submits the request as a run and returns at once: the active run of the same command
    /// if there is one (resumed if it was stalled), else a new run. Refuses with
    /// [`CommitError::Busy`] if another command's run is active on the object.
    pub async fn submit(&self, request: &CommitRequest) -> Result<Submitted, CommitError> {
        let command = self.command(request)?;
        let object_key = object_key(&self.root, &command.object_id);
        let prefix = run_prefix(&object_key, &command_key(&command));
        let lock = lock_id(&object_key);
        // A few rounds at most: a lock that just finished is replaced on the next one.
        for _ in 0..50 {
            let runs = self
                .client
                .list(&InstanceFilter::all().with_instance_id_prefix(prefix.clone()))
                .await?;
            if let Some(active) = runs.iter().find(|m| !m.status.is_terminal()) {
                let resumed_stall = self.unstall(active).await?;
                return Ok(Submitted {
                    run: active.instance_id.clone(),
                    resumed: true,
                    resumed_stall,
                });
            }
            let next = runs
                .iter()
                .filter_map(|m| m.instance_id.strip_prefix(&prefix)?.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
                + 1;
            let run = format!("{prefix}{next}");
            let input = RunInput {
                run: run.clone(),
                root: self.root.display().to_string(),
                command: command.clone(),
                tuning: self.options.tuning.clone(),
            };
            let scheduled = self
                .client
                .schedule_with(
                    OBJECT_LOCK,
                    &lock,
                    &input,
                    ScheduleOptions::new().reuse(IdReusePolicy::ReplaceFinished),
                )
                .await;
            match scheduled {
                Ok(()) => {
                    return Ok(Submitted {
                        run,
                        resumed: false,
                        resumed_stall: None,
                    });
                }
                Err(ClientError::Backend(BackendError::InstanceExists(_))) => {}
                Err(error) => return Err(error.into()),
            }
            // The object is locked: by this command (a run whose lock has not started it
            // yet, or one started by a concurrent caller), by another, or by a run that has
            // just finished and whose lock is about to.
            let Some(holder) = self.client.metadata(&lock).await? else {
                continue;
            };
            let Ok(held) = serde_json::from_str::<RunInput>(&holder.input) else {
                return Err(CommitError::Busy {
                    object_id: command.object_id.clone(),
                    run: lock,
                });
            };
            let holder_run = self.client.metadata(&held.run).await?;
            if holder_run.is_some_and(|m| m.status.is_terminal()) {
                // Finished: its lock finishes in its next episode, then it can be replaced.
                let _ = self
                    .client
                    .wait_for_completion(&lock, Duration::from_secs(5))
                    .await;
                continue;
            }
            if held.run.starts_with(&prefix) {
                // This command's run, not started by its lock yet.
                return Ok(Submitted {
                    run: held.run,
                    resumed: true,
                    resumed_stall: None,
                });
            }
            return Err(CommitError::Busy {
                object_id: command.object_id.clone(),
                run: held.run,
            });
        }
        Err(CommitError::Busy {
            object_id: command.object_id.clone(),
            run: lock,
        })
    }

    /// The recorded form of `request`, checked.
    fn command(&self, request: &CommitRequest) -> Result<Command, CommitError> {
        command_of(request)
    }

    /// Raises the resume event for a stalled run; returns the number of the stall it
    /// resumes from (`None`: the run was not stalled).
    async fn unstall(&self, metadata: &InstanceMetadata) -> Result<Option<u64>, CommitError> {
        let stall = metadata
            .custom_status
            .as_deref()
            .and_then(Progress::from_status)
            .filter(|p| p.phase == Phase::Stalled)
            .map(|p| p.stalls);
        if stall.is_some() {
            self.client
                .raise_event(&metadata.instance_id, RESUME_EVENT, &())
                .await?;
        }
        Ok(stall)
    }

    /// Resumes a run (a stalled one is told to try again, a suspended one is resumed) and
    /// waits for it to finish.
    pub async fn resume(&self, run: &str) -> Result<CommitOutcome, CommitError> {
        let metadata = self
            .client
            .metadata(run)
            .await?
            .filter(|m| m.name == UPDATE_OBJECT);
        let Some(metadata) = metadata else {
            // Submitted and not started yet: it starts when a worker takes its object lock.
            if self.waiting_runs().await?.iter().any(|r| r.run == run) {
                let mut outcome = self.wait(run).await?;
                outcome.resumed = true;
                return Ok(outcome);
            }
            return Err(CommitError::UnknownRun(run.to_owned()));
        };
        if metadata.status == InstanceStatus::Suspended {
            self.client.resume(run, "resumed by a client").await?;
        }
        let stall = self.unstall(&metadata).await?;
        let mut outcome = self.wait_from(run, stall).await?;
        outcome.resumed = true;
        Ok(outcome)
    }

    /// Resumes every unfinished run of this storage root and waits for each: the outcome of
    /// each, by run id.
    pub async fn resume_all(
        &self,
    ) -> Result<Vec<(String, Result<CommitOutcome, CommitError>)>, CommitError> {
        let active: Vec<RunInfo> = self
            .runs(false)
            .await?
            .into_iter()
            .filter(|r| !r.state.is_finished())
            .collect();
        let mut outcomes = Vec::new();
        for run in active {
            let outcome = self.resume(&run.run).await;
            outcomes.push((run.run, outcome));
        }
        Ok(outcomes)
    }

    /// Waits for the run to finish: its outcome, or why it did not complete. Returns
    /// [`CommitError::Stalled`] as soon as the run stalls.
    pub async fn wait(&self, run: &str) -> Result<CommitOutcome, CommitError> {
        self.wait_from(run, None).await
    }

    /// `wait`, not counting stall number `resumed` (one just resumed, whose status may not
    /// say so yet).
    async fn wait_from(
        &self,
        run: &str,
        resumed: Option<u64>,
    ) -> Result<CommitOutcome, CommitError> {
        let deadline = self.options.wait_timeout.map(|t| Instant::now() + t);
        loop {
            let chunk = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(CommitError::Timeout(run.to_owned()));
                    }
                    left.min(STALL_CHECK)
                }
                None => STALL_CHECK,
            };
            let Some(metadata) = self.client.metadata(run).await? else {
                self.wait_for_lock(run, chunk).await?;
                continue;
            };
            if metadata.status.is_terminal() {
                self.released(run).await;
                return finished(run, &metadata);
            }
            if let Some(progress) = metadata
                .custom_status
                .as_deref()
                .and_then(Progress::from_status)
                && progress.phase == Phase::Stalled
                && resumed.is_none_or(|stall| progress.stalls > stall)
            {
                return Err(CommitError::Stalled {
                    run: run.to_owned(),
                    object_id: object_of(&metadata),
                    message: progress.error.unwrap_or_default(),
                });
            }
            match self.client.wait_for_completion(run, chunk).await {
                Ok(metadata) => {
                    self.released(run).await;
                    return finished(run, &metadata);
                }
                Err(ClientError::Timeout { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Waits (at most [`LOCK_RELEASE_WAIT`]) for the lock of finished run `run` to end too,
    /// so that the object is free when [`UpdateService::commit`] returns. The lock ends in
    /// the episode after the run's: a worker stopped in between (a command's, as soon as its
    /// commit returned) would leave it running with nobody to end it, and the next
    /// submission on the object would wait for a worker and be refused as busy.
    async fn released(&self, run: &str) {
        let Some(lock) = lock_of_run(run) else {
            return;
        };
        let Ok(Some(holder)) = self.client.metadata(&lock).await else {
            return;
        };
        let holds_run =
            serde_json::from_str::<RunInput>(&holder.input).is_ok_and(|input| input.run == run);
        if holds_run && !holder.status.is_terminal() {
            let _ = self
                .client
                .wait_for_completion(&lock, LOCK_RELEASE_WAIT)
                .await;
        }
    }

    /// A run that does not exist yet: its lock has not started it. Waits for the lock.
    async fn wait_for_lock(&self, run: &str, chunk: Duration) -> Result<(), CommitError> {
        let Some(lock) = lock_of_run(run) else {
            return Err(CommitError::UnknownRun(run.to_owned()));
        };
        let holder = self.client.metadata(&lock).await?;
        let holds_run = holder.as_ref().is_some_and(|m| {
            serde_json::from_str::<RunInput>(&m.input).is_ok_and(|input| input.run == run)
        });
        let Some(holder) = holder.filter(|_| holds_run) else {
            return Err(CommitError::UnknownRun(run.to_owned()));
        };
        if holder.status.is_terminal() {
            // Terminated before it could start the run.
            return Err(CommitError::Terminated {
                run: run.to_owned(),
                object_id: object_of(&holder),
                message: holder
                    .failure
                    .map(|f| f.message)
                    .unwrap_or_else(|| "the run never started".into()),
            });
        }
        match self.client.wait_for_start(&lock, chunk).await {
            Ok(_) | Err(ClientError::Timeout { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        // Started: the run exists once the lock's first episode has committed.
        tokio::task::yield_now().await;
        Ok(())
    }

    /// The run holding object `object_id` (one that is active, or submitted and waiting to
    /// start), if any: what an operation outside the engine, such as a rollback, must not
    /// run beside.
    pub async fn active_run(&self, object_id: &str) -> Result<Option<String>, CommitError> {
        let lock = lock_id(&object_key(&self.root, object_id));
        let Some(holder) = self.client.metadata(&lock).await? else {
            return Ok(None);
        };
        if holder.status.is_terminal() {
            return Ok(None);
        }
        let run = serde_json::from_str::<RunInput>(&holder.input).map_or(lock, |held| held.run);
        if let Some(run_meta) = self.client.metadata(&run).await?
            && run_meta.status.is_terminal()
        {
            // Finished: its lock finishes in its next episode.
            return Ok(None);
        }
        Ok(Some(run))
    }

    /// The runs of this storage root, oldest first: unfinished ones, or with `all` every one.
    /// Listing unfinished runs reads no finished one (the engine's store indexes them apart).
    pub async fn runs(&self, all: bool) -> Result<Vec<RunInfo>, CommitError> {
        let root = self.root.display().to_string();
        let mut runs: Vec<RunInfo> = self
            .client
            .list(&run_filter(all))
            .await?
            .iter()
            .filter_map(run_info)
            .filter(|r| r.root == root)
            .collect();
        for waiting in self.waiting_runs().await? {
            if waiting.root == root && !runs.iter().any(|r| r.run == waiting.run) {
                runs.push(waiting);
            }
        }
        runs.sort_by(|a, b| (a.created_at_ms, &a.run).cmp(&(b.created_at_ms, &b.run)));
        Ok(runs)
    }

    /// One page of at most `limit` runs of this storage root (unfinished ones, or with `all`
    /// every one), in run id order, starting after the run id `after` (a previous page's
    /// `next`). Keyset pages: paging while runs start and end never lists a run twice, and
    /// lists every run that existed throughout (unless it finished meanwhile and `all` is
    /// off). A `limit` of 0 is taken as 1.
    pub async fn runs_page(
        &self,
        all: bool,
        limit: usize,
        after: Option<&str>,
    ) -> Result<RunsPage, CommitError> {
        let limit = limit.max(1);
        let root = self.root.display().to_string();
        let base = run_filter(all);
        let mut runs: Vec<RunInfo> = Vec::new();
        let mut cursor = after.map(str::to_owned);
        // Runs of other roots (a shared PostgreSQL store) are skipped: read on until the
        // page is full or the store is exhausted.
        let mut next = loop {
            let filter = match &cursor {
                Some(cursor) => base.clone().starting_after(cursor.clone()),
                None => base.clone(),
            };
            let page = self.client.list_page(&filter, limit - runs.len()).await?;
            runs.extend(
                page.instances
                    .iter()
                    .filter_map(run_info)
                    .filter(|r| r.root == root),
            );
            match page.next {
                Some(next) if runs.len() < limit => cursor = Some(next),
                other => break other,
            }
        };
        // Submitted runs not started yet sort among the others by their run id.
        for waiting in self.waiting_runs().await? {
            let in_range = after.is_none_or(|after| waiting.run.as_str() > after)
                && next.as_ref().is_none_or(|next| waiting.run <= *next);
            if waiting.root == root && in_range && !runs.iter().any(|r| r.run == waiting.run) {
                runs.push(waiting);
            }
        }
        runs.sort_by(|a, b| a.run.cmp(&b.run));
        if runs.len() > limit {
            runs.truncate(limit);
            next = runs.last().map(|r| r.run.clone());
        }
        Ok(RunsPage { runs, next })
    }

    /// Purges the finished runs (and the engine's other finished instances, such as object
    /// locks) whose last change is older than `older_than` by the store's clock, with what
    /// each run left in the work area and the state directory of `env`; returns the purged
    /// run ids. On a store shared by several roots (PostgreSQL), the runs of every root are
    /// purged; what they left in other work areas is not touched.
    pub async fn purge_finished(
        &self,
        env: &Environment,
        older_than: Duration,
    ) -> Result<Vec<String>, CommitError> {
        const BATCH: usize = 100;
        let mut runs = Vec::new();
        loop {
            let purged = self
                .client
                .purge_finished_older_than(older_than, BATCH)
                .await?;
            for id in &purged {
                if is_run_id(id) {
                    env.remove_run_data(id)
                        .map_err(|error| CommitError::RunData {
                            run: id.clone(),
                            message: error.to_string(),
                        })?;
                    runs.push(id.clone());
                }
            }
            if purged.len() < BATCH {
                return Ok(runs);
            }
        }
    }

    /// One run's state; `None` if there is no such run.
    pub async fn run(&self, run: &str) -> Result<Option<RunInfo>, CommitError> {
        if let Some(info) = self.started(run).await? {
            return Ok(Some(info));
        }
        if let Some(waiting) = self
            .waiting_runs()
            .await?
            .into_iter()
            .find(|r| r.run == run)
        {
            return Ok(Some(waiting));
        }
        // Its lock may have left the pending ones and not yet created the run (its first
        // episode is under way): still a run about to start, not an unknown one.
        let Some(lock) = lock_of_run(run) else {
            return Ok(None);
        };
        let holder = self.client.metadata(&lock).await?.filter(|m| {
            !m.status.is_terminal()
                && serde_json::from_str::<RunInput>(&m.input).is_ok_and(|input| input.run == run)
        });
        if holder.is_some()
            && let Some(info) = self.started(run).await?
        {
            // Created meanwhile.
            return Ok(Some(info));
        }
        Ok(holder.as_ref().and_then(run_info).map(|mut info| {
            info.state = RunState::Pending;
            info
        }))
    }

    /// `run` as the store has it, if its update instance exists.
    async fn started(&self, run: &str) -> Result<Option<RunInfo>, CommitError> {
        Ok(self
            .client
            .metadata(run)
            .await?
            .filter(|m| m.name == UPDATE_OBJECT)
            .as_ref()
            .and_then(run_info))
    }

    /// Runs submitted but not yet started: a submission is first an object-lock instance,
    /// which creates the run once a worker takes it. Until then (a detached submission with
    /// no worker running, say) the run exists only as that lock's input, and is reported as
    /// pending so that `ocfl runs` shows it at once.
    async fn waiting_runs(&self) -> Result<Vec<RunInfo>, CommitError> {
        Ok(self
            .client
            .list(
                &InstanceFilter::all()
                    .with_name(OBJECT_LOCK)
                    .with_statuses([InstanceStatus::Pending]),
            )
            .await?
            .iter()
            .filter_map(run_info)
            .collect())
    }

    /// One run's event history (`ocfl runs show`).
    pub async fn history(&self, run: &str) -> Result<Vec<Event>, CommitError> {
        if self.run(run).await?.is_none() {
            return Err(CommitError::UnknownRun(run.to_owned()));
        }
        Ok(self.client.history(run).await?)
    }
}

/// The id of the object lock that starts `run` (its object key is part of the run id).
fn lock_of_run(run: &str) -> Option<String> {
    let (_, rest) = run.split_once("commit-")?;
    let (object_key, _) = rest.split_once('-')?;
    Some(lock_id(object_key))
}

fn object_of(metadata: &InstanceMetadata) -> String {
    serde_json::from_str::<RunInput>(&metadata.input)
        .map(|input| input.command.object_id)
        .unwrap_or_default()
}

/// The outcome of a finished run.
fn finished(run: &str, metadata: &InstanceMetadata) -> Result<CommitOutcome, CommitError> {
    let object_id = object_of(metadata);
    let message = || {
        metadata
            .failure
            .as_ref()
            .map(|f| f.message.clone())
            .unwrap_or_default()
    };
    match metadata.status {
        InstanceStatus::Completed => {
            let report: RunReport =
                metadata
                    .output()
                    .ok()
                    .flatten()
                    .ok_or_else(|| CommitError::Failed {
                        run: run.to_owned(),
                        object_id: object_id.clone(),
                        message: "the run completed without a readable report".into(),
                    })?;
            Ok(CommitOutcome::new(run, report, false))
        }
        InstanceStatus::Terminated => Err(CommitError::Terminated {
            run: run.to_owned(),
            object_id,
            message: message(),
        }),
        _ => Err(CommitError::Failed {
            run: run.to_owned(),
            object_id,
            message: message(),
        }),
    }
}

/// The engine's listing of runs: every run, or with `all` off unfinished ones only.
fn run_filter(all: bool) -> InstanceFilter {
    let filter = InstanceFilter::all()
        .with_name(UPDATE_OBJECT)
        .with_instance_id_prefix(RUN_ID_PREFIX);
    if all { filter } else { filter.unfinished() }
}

/// Whether an engine instance id is a run's (see `request::run_prefix`).
fn is_run_id(id: &str) -> bool {
    id.starts_with(RUN_ID_PREFIX)
}

fn run_info(metadata: &InstanceMetadata) -> Option<RunInfo> {
    let input: RunInput = serde_json::from_str(&metadata.input).ok()?;
    let progress = metadata
        .custom_status
        .as_deref()
        .and_then(Progress::from_status);
    let state = match metadata.status {
        InstanceStatus::Pending => RunState::Pending,
        InstanceStatus::Suspended => RunState::Suspended,
        InstanceStatus::Completed => RunState::Completed,
        InstanceStatus::Failed => RunState::Failed,
        InstanceStatus::Terminated => RunState::Terminated,
        _ if progress.as_ref().is_some_and(|p| p.phase == Phase::Stalled) => RunState::Stalled,
        _ => RunState::Running,
    };
    Some(RunInfo {
        // The run's instance id, also for an object lock still waiting to start it.
        run: input.run,
        object_id: input.command.object_id,
        source: input.command.source,
        root: input.root,
        state,
        progress,
        report: metadata.output().ok().flatten(),
        error: metadata.failure.as_ref().map(|f| f.message.clone()),
        created_at_ms: metadata.created_at_ms,
        updated_at_ms: metadata.updated_at_ms,
    })
}

/// The run's command for `request`, refusing an invalid object id and a source that is not an
/// existing directory.
pub(crate) fn command_of(request: &CommitRequest) -> Result<Command, CommitError> {
    ObjectId::new(request.object_id.as_str()).map_err(|e| {
        CommitError::InvalidRequest(format!("invalid object id {:?}: {e}", request.object_id))
    })?;
    if let Some(edits) = &request.edits {
        return Ok(Command::new(
            request,
            String::new(),
            Some(edits_form(edits)?),
        ));
    }
    let source = std::fs::canonicalize(&request.source).map_err(|e| {
        CommitError::InvalidRequest(format!("source {}: {e}", request.source.display()))
    })?;
    if !source.is_dir() {
        return Err(CommitError::InvalidRequest(format!(
            "source {}: not a directory",
            request.source.display()
        )));
    }
    let source = source.to_str().ok_or_else(|| {
        CommitError::InvalidRequest(format!(
            "source {}: the path is not valid UTF-8",
            request.source.display()
        ))
    })?;
    Ok(Command::new(request, source.to_owned(), None))
}

/// The recorded form of `edits`: every logical path checked against the specification's
/// grammar, every added source made absolute (its directory's links resolved, the source
/// itself kept as named, so a link is still seen as one when it is staged).
fn edits_form(edits: &Edits) -> Result<EditsForm, CommitError> {
    let changes = match edits {
        Edits::Revert(version) => {
            VersionNum::parse(version)
                .map_err(|e| CommitError::InvalidRequest(format!("version {version:?}: {e}")))?;
            return Ok(EditsForm::Revert {
                version: version.clone(),
            });
        }
        Edits::Upgrade => return Ok(EditsForm::Upgrade),
        Edits::Changes(changes) => changes,
    };
    if changes.is_empty() {
        return Err(CommitError::InvalidRequest(
            "nothing to change: give --add, --remove or --move".into(),
        ));
    }
    let logical = |path: &str| {
        LogicalPath::new(path.trim_end_matches('/'))
            .map(drop)
            .map_err(|e| CommitError::InvalidRequest(format!("logical path {path:?}: {e}")))
    };
    let (mut add, mut remove, mut moves) = (Vec::new(), Vec::new(), Vec::new());
    for change in changes {
        match change {
            Edit::Add { source, dest } => {
                logical(dest)?;
                add.push((absolute_source(source)?, dest.clone()));
            }
            Edit::Remove { path } => {
                logical(path)?;
                remove.push(path.clone());
            }
            Edit::Move { from, to } => {
                logical(from)?;
                logical(to)?;
                moves.push((from.clone(), to.clone()));
            }
        }
    }
    Ok(EditsForm::Changes { add, remove, moves })
}

/// `source` as an absolute UTF-8 path: its parent directory canonical, its own name kept.
fn absolute_source(source: &Path) -> Result<String, CommitError> {
    let refuse =
        |why: String| CommitError::InvalidRequest(format!("source {}: {why}", source.display()));
    std::fs::symlink_metadata(source).map_err(|e| refuse(e.to_string()))?;
    let absolute = match (source.parent(), source.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            std::fs::canonicalize(parent)
                .map_err(|e| refuse(e.to_string()))?
                .join(name)
        }
        _ => std::fs::canonicalize(source).map_err(|e| refuse(e.to_string()))?,
    };
    absolute
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| refuse("the path is not valid UTF-8".into()))
}

/// Refuses, before any run exists and with nothing written anywhere, a request whose run
/// could only fail: an invalid object id; a source that is missing, not a directory or not
/// readable; a storage root that is not one (no or an unknown declaration), has no layout,
/// cannot map the id, or reaches the object through a link. Call it before opening or
/// creating the engine's store. (What only staging finds, such as an unreadable file deep in
/// the source or a damaged existing object, still fails the run.)
pub fn check_request(env: &Environment, request: &CommitRequest) -> Result<(), CommitError> {
    command_of(request)?;
    if request.edits.is_none() {
        std::fs::read_dir(&request.source).map_err(|e| {
            CommitError::InvalidRequest(format!("source {}: {e}", request.source.display()))
        })?;
        if request.bagit {
            // The bag's tag files are read now (small); its payload is checked while staged.
            ocfl_plan::bag::Bag::open(&request.source)
                .map_err(|e| CommitError::InvalidRequest(e.to_string()))?;
        }
    }
    let path = env
        .object_path(&request.object_id)
        .map_err(|e| CommitError::InvalidRequest(e.message().to_owned()))?;
    env.check_no_mutable_head(&request.object_id, &path)
        .map_err(|e| CommitError::InvalidRequest(e.message().to_owned()))
}
