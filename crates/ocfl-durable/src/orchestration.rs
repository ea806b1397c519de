//! The orchestrations: `UpdateObject` (stage, plan, steps, verify) and the per-object lock that
//! runs it.
//!
//! Everything here is deterministic: it decides from the run's input and the recorded
//! activity results only, and the creation time comes from the engine's recorded clock.

use chrono::{DateTime, SecondsFormat, Utc};
use durable_core::{Failure, FailureKind, OrchestrationContext, RetryPolicy};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::{FutureExt, future::BoxFuture};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

use crate::activities::{
    BUILD_STAGE, Batch, CREATE_PLAN, EXECUTE_STEPS, FINISH, FinishInput, PlanInput, PlanRef,
    Planned, StageInput, StageRef, StepsDone, StepsInput, VERIFY_OBJECT, VerifyInput,
};
use crate::refusal::Refusal;
use crate::request::RunInput;
use crate::status::{Phase, Progress, RunReport};

/// The update orchestration; its instance id is the run id.
pub(crate) const UPDATE_OBJECT: &str = "ocfl.update-object";
/// The per-object lock: runs one update as its sub-orchestration.
pub(crate) const OBJECT_LOCK: &str = "ocfl.object-lock";
/// The patch that made the object lock clean up runs the engine failed.
const CLEAN_UP_ENGINE_FAILURES: &str = "clean-up-engine-failures";
/// The event that resumes a stalled run.
pub(crate) const RESUME_EVENT: &str = "resume";

/// Holds the object for the duration of one run: the lock instance's id is derived from the
/// object alone, and an instance id can only be taken again once its holder finished.
pub(crate) async fn object_lock(
    ctx: OrchestrationContext,
    input: RunInput,
) -> Result<RunReport, Failure> {
    let run = input.run.clone();
    let result = ctx
        .call_sub_orchestration_with_id(UPDATE_OBJECT, &run, &input)
        .await;
    // A patch, as the README asks of any new call: a lock recorded before it never reached
    // this point with a failed run (that episode ended the lock), so it is always taken.
    if let Err(failure) = &result
        && failed_by_the_engine(failure)
        && ctx.patched(CLEAN_UP_ENGINE_FAILURES)
    {
        // The run's own clean-up never ran: do it here, still holding the object, so that
        // no other run starts on it before its work area is rolled back. Best effort, as in
        // the run: a clean-up that fails leaves a work directory beside the root, and
        // cleaning up twice is harmless.
        let finish = FinishInput {
            run: run.clone(),
            abandon: None,
            recover: true,
            staged: input.command.staged.clone(),
        };
        let _ = ctx
            .call_activity_with_retry::<_, Result<(), Refusal>>(FINISH, &finish, policy(&input))
            .await;
    }
    result
}

/// Failures the engine gives a run without running its code to the end, so without its
/// clean-up: a replay that diverged after an upgrade, an episode poisoned after too many
/// attempts, an orchestration no worker knows, a termination.
fn failed_by_the_engine(failure: &Failure) -> bool {
    matches!(
        failure.kind,
        FailureKind::Nondeterminism
            | FailureKind::Poisoned
            | FailureKind::Unregistered
            | FailureKind::UnsupportedFormat
            | FailureKind::Terminated
    )
}

/// The retry policy of a run's activities.
fn policy(input: &RunInput) -> RetryPolicy {
    let tuning = &input.tuning;
    RetryPolicy::new(tuning.retry_attempts)
        .first_interval(Duration::from_millis(tuning.retry_first_interval_ms))
        .max_interval(Duration::from_millis(tuning.retry_max_interval_ms))
}

/// The update: BuildStage -> CreatePlan -> the plan's steps -> VerifyObject -> Finish.
pub(crate) async fn update_object(
    ctx: OrchestrationContext,
    input: RunInput,
) -> Result<RunReport, Failure> {
    let mut run = Run {
        ctx,
        input,
        progress: Progress::new(),
    };
    match run.update().await {
        Ok(report) => Ok(report),
        Err((stop, plan)) => {
            run.progress.phase = Phase::Finishing;
            run.publish();
            // Best effort: a failed cleanup leaves a work directory beside the root and a
            // few blobs, never anything inside the object.
            let finish = FinishInput {
                run: run.input.run.clone(),
                abandon: plan,
                recover: false,
                staged: run.input.command.staged.clone(),
            };
            let _ = run
                .ctx
                .call_activity_with_retry::<_, Result<(), Refusal>>(FINISH, &finish, run.policy())
                .await;
            Err(match stop {
                Stop::Refused(refusal) => Failure::application(refusal.message),
                Stop::Failed(failure) => failure,
            })
        }
    }
}

/// Why a run stops without completing.
enum Stop {
    /// An activity refused: not worth retrying.
    Refused(Refusal),
    /// The engine failed the work (serialization, nondeterminism, termination).
    Failed(Failure),
}

/// A failure left after the retry policy gave up: transient ones stall the run (it waits to be
/// resumed) rather than fail it, so a full disk does not lose the work done so far.
fn stalls(failure: &Failure) -> bool {
    matches!(
        failure.kind,
        FailureKind::Application
            | FailureKind::Panicked
            | FailureKind::Timeout
            | FailureKind::Poisoned
    )
}

struct Run {
    ctx: OrchestrationContext,
    input: RunInput,
    progress: Progress,
}

impl Run {
    fn publish(&self) {
        if let Ok(status) = serde_json::to_string(&self.progress) {
            self.ctx.set_custom_status(status);
        }
    }

    fn policy(&self) -> RetryPolicy {
        policy(&self.input)
    }

    async fn update(&mut self) -> Result<RunReport, (Stop, Option<String>)> {
        let run = self.input.run.clone();
        let command = self.input.command.clone();
        self.publish();
        let stage: StageRef = self
            .call(
                BUILD_STAGE,
                &StageInput {
                    run: run.clone(),
                    root: self.input.root.clone(),
                    command: command.clone(),
                },
            )
            .await
            .map_err(|stop| (stop, None))?;
        self.progress.files = stage.files;
        self.progress.staged_bytes = stage.bytes;
        self.progress.phase = Phase::Planning;
        self.publish();
        let created = command
            .created
            .clone()
            .unwrap_or_else(|| rfc3339(self.ctx.current_time_ms()));
        let planned: Planned = self
            .call(
                CREATE_PLAN,
                &PlanInput {
                    run: run.clone(),
                    root: self.input.root.clone(),
                    command: command.clone(),
                    stage: stage.blob.clone(),
                    created,
                    batch_files: self.input.tuning.batch_files,
                    batch_bytes: self.input.tuning.batch_bytes,
                },
            )
            .await
            .map_err(|stop| (stop, None))?;
        let mut report = RunReport {
            object_id: command.object_id.clone(),
            version: String::new(),
            changed: false,
            steps: 0,
            bytes: 0,
            files: stage.files,
            staged_bytes: stage.bytes,
        };
        let plan = match planned {
            Planned::NoChange { head } => {
                report.version = head;
                self.finish().await.map_err(|stop| (stop, None))?;
                return Ok(report);
            }
            Planned::Update(plan) => plan,
        };
        report.version = plan.version.clone();
        report.changed = true;
        report.steps = plan.steps;
        report.bytes = plan.bytes;
        self.progress.phase = Phase::Writing;
        self.progress.version = Some(plan.version.clone());
        self.progress.steps_total = plan.steps;
        self.progress.bytes_total = plan.bytes;
        self.publish();
        let abandon = |stop| (stop, Some(plan.blob.clone()));
        let limit = self.input.tuning.copy_concurrency.max(1) as usize;
        let mut i = 0;
        while i < plan.batches.len() {
            // A run of copy batches goes in parallel; the other batches one at a time, in order.
            let mut j = i + 1;
            if plan.batches[i].copies {
                while j < plan.batches.len() && plan.batches[j].copies {
                    j += 1;
                }
            }
            let group_limit = if plan.batches[i].copies { limit } else { 1 };
            self.run_batches(&plan, &stage.blob, &plan.batches[i..j], group_limit)
                .await
                .map_err(abandon)?;
            i = j;
        }
        self.progress.phase = Phase::Verifying;
        self.publish();
        let verify = VerifyInput {
            run: run.clone(),
            plan: plan.blob.clone(),
            verify: self.input.tuning.verify,
        };
        self.call::<_, ()>(VERIFY_OBJECT, &verify)
            .await
            .map_err(|stop| (stop, None))?;
        self.finish().await.map_err(|stop| (stop, None))?;
        Ok(report)
    }

    async fn finish(&mut self) -> Result<(), Stop> {
        self.progress.phase = Phase::Finishing;
        self.publish();
        let finish = FinishInput {
            run: self.input.run.clone(),
            abandon: None,
            recover: false,
            staged: self.input.command.staged.clone(),
        };
        self.call::<_, ()>(FINISH, &finish).await
    }

    /// Calls an activity with the run's retry policy; a refusal stops the run, and a transient
    /// failure that outlasts the policy stalls it until it is resumed, then tries again.
    async fn call<I, O>(&mut self, name: &str, input: &I) -> Result<O, Stop>
    where
        I: Serialize,
        O: DeserializeOwned + Send + 'static,
    {
        loop {
            let result = self
                .ctx
                .call_activity_with_retry::<I, Result<O, Refusal>>(name, input, self.policy())
                .await;
            match result {
                Ok(Ok(output)) => return Ok(output),
                Ok(Err(refusal)) => return Err(Stop::Refused(refusal)),
                Err(failure) if stalls(&failure) => self.stall(failure.message).await?,
                Err(failure) => return Err(Stop::Failed(failure)),
            }
        }
    }

    /// Waits for the resume event, saying why in the custom status.
    async fn stall(&mut self, error: String) -> Result<(), Stop> {
        let phase = self.progress.phase;
        self.progress.phase = Phase::Stalled;
        self.progress.error = Some(error);
        self.progress.stalls += 1;
        self.publish();
        self.ctx
            .wait_for_event::<serde_json::Value>(RESUME_EVENT)
            .await
            .map_err(Stop::Failed)?;
        self.progress.phase = phase;
        self.progress.error = None;
        self.publish();
        Ok(())
    }

    /// Runs `group`'s batches, at most `limit` at once. On a refusal or failure no further
    /// batch starts and those running are awaited (so nothing writes into the work directory
    /// after the run rolls it back); a stall resumes with the batches not yet done.
    async fn run_batches(
        &mut self,
        plan: &PlanRef,
        stage: &str,
        group: &[Batch],
        limit: usize,
    ) -> Result<(), Stop> {
        type Call = BoxFuture<'static, (usize, Batch, Result<Result<StepsDone, Refusal>, Failure>)>;
        let mut remaining: Vec<Batch> = group.to_vec();
        while !remaining.is_empty() {
            let mut running: FuturesUnordered<Call> = FuturesUnordered::new();
            let mut queue = remaining.iter().copied().enumerate();
            let mut finished = vec![false; remaining.len()];
            let mut refused = None;
            let mut failed = None;
            let mut stalled = None;
            loop {
                while refused.is_none() && failed.is_none() && stalled.is_none() {
                    if running.len() >= limit {
                        break;
                    }
                    let Some((index, batch)) = queue.next() else {
                        break;
                    };
                    let input = StepsInput {
                        run: self.input.run.clone(),
                        root: self.input.root.clone(),
                        plan: plan.blob.clone(),
                        stage: stage.to_owned(),
                        from: batch.from,
                        to: batch.to,
                        staged: self.input.command.staged.clone(),
                    };
                    let call = self
                        .ctx
                        .call_activity_with_retry::<_, Result<StepsDone, Refusal>>(
                            EXECUTE_STEPS,
                            &input,
                            self.policy(),
                        );
                    running.push(async move { (index, batch, call.await) }.boxed());
                }
                let Some((index, batch, result)) = running.next().await else {
                    break;
                };
                match result {
                    Ok(Ok(_)) => {
                        finished[index] = true;
                        self.progress.steps_done += u64::from(batch.to - batch.from);
                        self.progress.bytes_done += batch.bytes;
                        self.publish();
                    }
                    Ok(Err(refusal)) => {
                        refused.get_or_insert(refusal);
                    }
                    Err(failure) if stalls(&failure) => {
                        stalled.get_or_insert(failure.message);
                    }
                    Err(failure) => {
                        failed.get_or_insert(failure);
                    }
                }
            }
            if let Some(refusal) = refused {
                return Err(Stop::Refused(refusal));
            }
            if let Some(failure) = failed {
                return Err(Stop::Failed(failure));
            }
            remaining = remaining
                .into_iter()
                .zip(finished)
                .filter_map(|(batch, done)| (!done).then_some(batch))
                .collect();
            if let Some(error) = stalled {
                self.stall(error).await?;
            }
        }
        Ok(())
    }
}

/// Milliseconds since the epoch as an RFC 3339 time in UTC, to the second.
fn rfc3339(ms: u64) -> String {
    let time = i64::try_from(ms)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_seconds() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }
}
