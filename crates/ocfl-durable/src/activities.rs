//! The activities of an update run: the I/O, each idempotent, each on a blocking thread.
//!
//! Inputs and outputs are small: large data (the stage, the plan) goes to the blob directory
//! and only its digest travels through the history.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::DateTime;
use durable_core::{ActivityContext, Failure, FailureKind};
use ocfl_core::SpecVersion;
use ocfl_core::digest::{Digest, DigestAlgorithm, STREAM_BUFFER};
use ocfl_core::inventory::{Inventory, State, User};
use ocfl_core::sidecar::INVENTORY_FILE;
use ocfl_core::storage::{EntryKind, StorageError, join};
use ocfl_core::validate::{
    Code, ObjectReport, RootInventory, ValidationOptions, validate_object_keeping_root,
};
use ocfl_core::version_num::VersionNum;
use ocfl_plan::bag::Bag;
use ocfl_plan::exec::{self, ContentSource, SpooledStage, StepResult, read_base};
use ocfl_plan::plan::{Action, Base, Outcome, Plan, PlanOptions, Protocol, plan_owned};
use ocfl_plan::stage::{Spool, Stage, StageOptions};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::env::{Environment, ProgressEvent, ProgressSink};
use crate::refusal::{ActivityError, Refusal, RefusalKind};
use crate::request::{Command, EditsForm, Verify};
use crate::stage_form;
use crate::staged::{self, StagedContent};
use crate::written;

/// Refuses an existing object that is already invalid, then reads the source into a stage blob.
pub(crate) const BUILD_STAGE: &str = "ocfl.build-stage";
/// Plans the update against the object's current inventory.
pub(crate) const CREATE_PLAN: &str = "ocfl.create-plan";
/// Runs a range of the plan's steps.
pub(crate) const EXECUTE_STEPS: &str = "ocfl.execute-steps";
/// Validates the object at its new version.
pub(crate) const VERIFY_OBJECT: &str = "ocfl.verify-object";
/// Removes the run's blobs (and, for a failed run, its work directory).
pub(crate) const FINISH: &str = "ocfl.finish";

/// What an activity returns: its output, or a refusal (never retried); an `Err` is a
/// transient failure the retry policy retries.
pub(crate) type Outcome_<T> = Result<Result<T, Refusal>, Failure>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StageInput {
    pub run: String,
    /// The storage root the run is for (checked against the worker's).
    pub root: String,
    pub command: Command,
}

/// A staged source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StageRef {
    /// The stage blob.
    pub blob: String,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PlanInput {
    pub run: String,
    pub root: String,
    pub command: Command,
    pub stage: String,
    /// The version's creation time (RFC 3339).
    pub created: String,
    pub batch_files: u32,
    pub batch_bytes: u64,
}

/// What planning decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub(crate) enum Planned {
    /// The head version already holds the staged state.
    NoChange { head: String },
    /// A new version is to be written.
    Update(PlanRef),
}

/// A plan, by blob, with what the orchestration needs to schedule it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PlanRef {
    pub blob: String,
    pub version: String,
    pub steps: u64,
    pub bytes: u64,
    /// The steps cut into activities, in plan order.
    pub batches: Vec<Batch>,
}

/// Steps `from..to` of a plan, run by one activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Batch {
    pub from: u32,
    pub to: u32,
    /// Only content copies: may run in parallel with the neighbouring copy batches.
    pub copies: bool,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StepsInput {
    pub run: String,
    pub root: String,
    pub plan: String,
    pub stage: String,
    pub from: u32,
    pub to: u32,
    /// The command's staged directory: copies come from there (section 11.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<String>,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StepsDone {
    /// Steps that did their work.
    pub done: u64,
    /// Steps whose result was already in place.
    pub skipped: u64,
    /// Bytes written.
    pub written: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VerifyInput {
    pub run: String,
    pub plan: String,
    pub verify: Verify,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FinishInput {
    pub run: String,
    /// The plan of a run that ends without completing it: its work is rolled back (or, past
    /// the point of no return, forward).
    pub abandon: Option<String>,
    /// The engine failed the run (nondeterminism, poison, termination) before its own
    /// clean-up could run: its plan, if it made one, is looked up among its blobs, and
    /// rolled back (or forward) as `abandon` would.
    #[serde(default)]
    pub recover: bool,
    /// The command's staged directory in the work area, removed with the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<String>,
}

/// Runs `body` on a blocking thread and shapes its result for the engine. The body gets the
/// activity's context to heartbeat and to stop when cancelled: the engine cannot interrupt
/// a blocking thread, and a worker that lost its lease must not go on writing while another
/// worker runs the same work.
async fn blocking<I, O>(
    env: Arc<Environment>,
    ctx: ActivityContext,
    input: I,
    body: fn(&Environment, &ActivityContext, I) -> Result<O, ActivityError>,
) -> Outcome_<O>
where
    I: Send + 'static,
    O: Send + 'static,
{
    match tokio::task::spawn_blocking(move || body(&env, &ctx, input)).await {
        Ok(Ok(output)) => Ok(Ok(output)),
        Ok(Err(error)) => error.into_result(),
        Err(join) => Err(Failure::new(
            FailureKind::Panicked,
            format!("an update activity panicked: {join}"),
        )),
    }
}

/// Registers the activities on `registry`, working in `env`.
pub(crate) fn register(
    registry: durable_core::Registry,
    env: &Arc<Environment>,
) -> durable_core::Registry {
    let e = env.clone();
    let registry = registry.activity(BUILD_STAGE, move |ctx: ActivityContext, input| {
        blocking(e.clone(), ctx, input, build_stage)
    });
    let e = env.clone();
    let registry = registry.activity(CREATE_PLAN, move |ctx: ActivityContext, input| {
        blocking(e.clone(), ctx, input, create_plan)
    });
    let e = env.clone();
    let registry = registry.activity(EXECUTE_STEPS, move |ctx: ActivityContext, input| {
        blocking(e.clone(), ctx, input, execute_steps)
    });
    let e = env.clone();
    let registry = registry.activity(VERIFY_OBJECT, move |ctx: ActivityContext, input| {
        blocking(e.clone(), ctx, input, verify_object)
    });
    let e = env.clone();
    registry.activity(FINISH, move |ctx: ActivityContext, input| {
        blocking(e.clone(), ctx, input, finish)
    })
}

fn algorithm(name: &str) -> Result<DigestAlgorithm, ActivityError> {
    DigestAlgorithm::from_name(name).ok_or_else(|| {
        ActivityError::refused(
            RefusalKind::Plan,
            format!("unknown digest algorithm {name}"),
        )
    })
}

fn build_stage(
    env: &Environment,
    _: &ActivityContext,
    input: StageInput,
) -> Result<StageRef, ActivityError> {
    env.check_root(&input.run, &input.root)?;
    let command = &input.command;
    let in_root = env.run_placement(&input.run, &command.object_id)?.path;
    let object_path = env.fs_path(&in_root);
    // An existing object's algorithm decides how the source is hashed.
    let base = checked_base(env, &command.object_id, &in_root, &object_path)?;
    let (stage, blob) = match &command.staged {
        // Staged in the bucket before the run was submitted (section 11.6): the source is
        // not read, and need not be on this host.
        Some(name) => {
            let form = staged::read_form(env, &command.object_id, name)?;
            let stage = stage_form::decode(&mut &form[..], None)?;
            let blob = env.blobs.put_with(&input.run, |out| out.write_all(&form))?;
            (stage, blob)
        }
        None => {
            // A new object gets every staged file: each is written to the work area while
            // it is read, and its copy step only moves it (read once, hashed once). An
            // update copies few of the files it stages, so it reads the source again for
            // those instead. A store without atomic renames gets the object-store protocol,
            // which uploads from the source directly: spooling would send every byte twice.
            let work = env.work_path(&input.run);
            let spool = if base.is_none() && env.fs().renames_atomically() {
                Spool::new(env.fs(), &work)
            } else {
                None
            };
            let meter = StagingMeter::new(env, &input.run);
            let (stage, source, start) = make_stage(
                command,
                &object_path,
                base.as_ref(),
                spool.as_ref(),
                &|files, bytes| meter.add(files, bytes),
            )?;
            // A stage of edits is recorded as the edits' result on the base's state: a few
            // entries, not one per file of the object.
            let blob = env.blobs.put_with(&input.run, |out| match (&base, start) {
                (Some(base), Some(version)) => {
                    let from = stage_form::EditedFrom { version, base };
                    stage_form::encode_edits(&stage, &source, &from, out)
                }
                _ => stage_form::encode(&stage, &source, out),
            })?;
            (stage, blob)
        }
    };
    let staged = StageRef {
        blob,
        files: stage.len() as u64,
        bytes: stage.total_bytes(),
    };
    // No object yet is remembered too: planning need not look for it again.
    let base: Option<Arc<Base>> = base.map(Arc::new);
    env.blobs
        .remember(&input.run, &base_key(&input.run), Arc::new(base));
    env.blobs
        .remember(&input.run, &staged.blob, Arc::new(stage));
    env.report(&ProgressEvent::Staged {
        run: &input.run,
        files: staged.files,
        bytes: staged.bytes,
    });
    Ok(staged)
}

/// The parsed root inventory of the object at `object_path`, `None` when there is no object
/// yet. An existing object is validated first (its structure: no content is read), so an
/// invalid object is refused before its source is read; the validation's parse of the root
/// inventory is the base, not read and parsed again. Staging comes before the run's first
/// write and is never run again once its result is recorded: this sees the object as the
/// user left it, never one of this run's own half-written states (docs/durability.md,
/// sections 5 and 9).
fn checked_base(
    env: &Environment,
    object_id: &str,
    in_root: &str,
    object_path: &str,
) -> Result<Option<Base>, ActivityError> {
    let object = format!("object {object_id}");
    let read =
        || read_base(env.fs(), object_path).map_err(|e| ActivityError::from(e).context(&object));
    // No inventory (no object, or not an object), or one that is not a plain file: the
    // base reader says which, as it always has.
    let inventory = join(object_path, INVENTORY_FILE);
    match env.fs().kind_if_exists(&inventory)? {
        Some(EntryKind::File) => {}
        // Nothing at the object's path: a new object, without asking for the inventory again.
        None if env.fs().kind_if_exists(object_path)?.is_none() => return Ok(None),
        _ => return read(),
    }
    // Taken before the check reads the inventory, so a digest it reads is that tag's
    // (`RootTags::record`): the rename protocol's `check-base` then need not hash it again.
    // The object-store protocol checks the root by its entity tag and uses none of this, so
    // it is spared the request.
    let tag = match Protocol::for_storage(env.fs()) {
        Protocol::Rename => env
            .fs()
            .file_info(&inventory)
            .ok()
            .and_then(|info| info.tag),
        Protocol::ObjectStore => None,
    };
    let root = match check_structure(env, object_id, in_root, object_path) {
        Ok(root) => root,
        // What the base reader refuses (a declaration of an OCFL version we do not know, an
        // inventory that does not parse) it says more plainly than the validation's codes.
        Err(invalid) => {
            read()?;
            return Err(invalid);
        }
    };
    env.check_no_mutable_head(object_id, in_root)?;
    if let (Some(tag), Some(root)) = (tag, &root) {
        env.root_tags.record(
            &inventory,
            tag,
            root.inventory.digest_algorithm,
            root.digest.clone(),
        );
    }
    match root {
        Some(root) => Ok(Some(Base {
            inventory: root.inventory,
            digest: root.digest,
        })),
        None => read(),
    }
}

/// The name under which staging leaves the parsed base for planning, in memory (a planning
/// that runs in another process, or again, reads it from the object).
fn base_key(run: &str) -> String {
    format!("base-of-{run}")
}

/// The stage of `command` on `base` (the object's root inventory, if it exists, at
/// `object_path` in [`Environment::fs`]): the source directory's files, or the head's (or a
/// version's) state with the command's edits; the directory its files are recorded relative
/// to; and for edits of a base's version, that version's number. Files are spooled to `spool`
/// as they are read; `progress` hears the files and bytes read.
pub(crate) fn make_stage(
    command: &Command,
    object_path: &str,
    base: Option<&ocfl_plan::plan::Base>,
    spool: Option<&Spool<'_>>,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(Stage, String, Option<u32>), ActivityError> {
    let object = format!("object {}", command.object_id);
    let digest_algorithm = match (command.digest_for(base.is_some()), base) {
        (Some(name), _) => algorithm(name)?,
        (None, Some(base)) => base.inventory.digest_algorithm,
        (None, None) => DigestAlgorithm::Sha512,
    };
    let mut options = StageOptions {
        digest_algorithm,
        fixity: command
            .fixity
            .iter()
            .map(|name| algorithm(name))
            .collect::<Result<_, _>>()?,
        follow_symlinks: command.follow_symlinks,
    };
    // A bag's payload is staged with its manifests' algorithms as fixity: the one read of
    // each file gives what the manifests are checked against and what the inventory records.
    let bag = match command.bagit {
        true => Some(Bag::open(Path::new(&command.source)).map_err(bag_refusal)?),
        false => None,
    };
    if let Some(bag) = &bag {
        options
            .fixity
            .extend(bag.fixity_algorithms(digest_algorithm));
    }
    match &command.edits {
        None => {
            let source = match &bag {
                Some(bag) => bag.payload().to_string_lossy().into_owned(),
                None => command.source.clone(),
            };
            let stage = Stage::from_directory_with(Path::new(&source), &options, spool, progress)?;
            if let Some(bag) = &bag {
                bag.verify(&stage).map_err(bag_refusal)?;
            }
            Ok((stage, source, None))
        }
        Some(edits) => {
            let base = base.map(|b| &b.inventory);
            let (state, start) = edited_state(base, edits).map_err(|e| e.context(&object))?;
            let recorded = Path::new(object_path);
            let changes = edits.edits();
            let (stage, start) = match Stage::from_edits(&state, recorded, &changes, &options) {
                Ok(stage) => (stage, start),
                Err(
                    error @ (ocfl_plan::stage::Error::NotInState { .. }
                    | ocfl_plan::stage::Error::Occupied { .. }),
                ) => already_applied(base, recorded, &changes, &options)
                    .map(|(stage, previous)| (stage, Some(previous)))
                    .ok_or_else(|| ActivityError::from(error).context(&object))?,
                Err(error) => return Err(ActivityError::from(error).context(&object)),
            };
            Ok((stage, object_path.to_owned(), start))
        }
    }
}

/// A bag that cannot be committed: final, except a tag file that could not be read for a
/// reason that may pass.
fn bag_refusal(error: ocfl_plan::bag::Error) -> ActivityError {
    match &error {
        ocfl_plan::bag::Error::Unreadable { source, .. }
            if source.kind() != std::io::ErrorKind::NotFound
                && source.kind() != std::io::ErrorKind::PermissionDenied
                && source.kind() != std::io::ErrorKind::InvalidInput =>
        {
            ActivityError::Transient(error.to_string())
        }
        _ => ActivityError::refused(RefusalKind::Source, error.to_string()),
    }
}

/// The stage of `changes` applied to the version before the head, when that is the head's
/// state: the same file-level command run again after its run completed (a kill after the
/// new version was in place, say), whose removals and moves no longer apply to the head.
/// Planned, it changes nothing, as a commit of an unchanged source does. With the number of
/// that earlier version.
fn already_applied(
    base: Option<&Inventory>,
    recorded: &Path,
    changes: &[ocfl_plan::stage::Edit],
    options: &StageOptions,
) -> Option<(Stage, u32)> {
    let base = base?;
    let head = base.versions.get(&base.head)?;
    let number = base.head.previous()?;
    let previous = base.versions.get(&number)?;
    let stage = Stage::from_edits(&previous.state, recorded, changes, options).ok()?;
    (stage.state() == head.state).then_some((stage, number.number()))
}

/// The state `edits` start from: the head's of `base` (none for an object not created yet),
/// or for a revert the named version's; and that version's number.
fn edited_state(
    base: Option<&Inventory>,
    edits: &EditsForm,
) -> Result<(State, Option<u32>), ActivityError> {
    let version = match edits {
        EditsForm::Revert { version } => Some(version),
        _ => None,
    };
    let Some(base) = base else {
        if matches!(edits, EditsForm::Upgrade) {
            return Err(ActivityError::refused(
                RefusalKind::Plan,
                "does not exist: there is nothing to upgrade".to_owned(),
            ));
        }
        return match version {
            None => Ok((State::new(), None)),
            Some(_) => Err(ActivityError::refused(
                RefusalKind::Plan,
                "does not exist: there is no version to revert to".to_owned(),
            )),
        };
    };
    let Some(version) = version else {
        return Ok(match base.versions.get(&base.head) {
            Some(head) => (head.state.clone(), Some(base.head.number())),
            None => (State::new(), None),
        });
    };
    let number = VersionNum::parse(version)
        .map_err(|e| {
            ActivityError::refused(RefusalKind::Plan, format!("version {version:?}: {e}"))
        })?
        .number();
    base.versions
        .iter()
        .find(|(v, _)| v.number() == number)
        .map(|(_, v)| (v.state.clone(), Some(number)))
        .ok_or_else(|| {
            ActivityError::refused(
                RefusalKind::Plan,
                format!("has no version {version} (head is {})", base.head),
            )
        })
}

/// The stage `run` recorded in `blob`: whole with the `base` it was made on, or only the
/// files it brings for the steps' copies (`stage_form::decode`).
fn load_stage(
    env: &Environment,
    run: &str,
    blob: &str,
    base: Option<&Base>,
) -> Result<Arc<Stage>, ActivityError> {
    match base {
        Some(_) => env
            .blobs
            .decoded(run, blob, |bytes| stage_form::decode(bytes, base)),
        None => env
            .blobs
            .decoded_unkept(run, blob, |bytes| stage_form::decode(bytes, None)),
    }
}

/// The blob among `run`'s that holds its plan, if it made one (the others, its stage, do not
/// read as a plan).
fn find_plan(env: &Environment, run: &str) -> Result<Option<String>, ActivityError> {
    for name in env.blobs.names(run)? {
        match load_plan(env, run, &name) {
            Ok(_) => return Ok(Some(name)),
            Err(ActivityError::Refused(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(None)
}

fn load_plan(env: &Environment, run: &str, blob: &str) -> Result<Arc<Plan>, ActivityError> {
    env.blobs.decoded(run, blob, |json| {
        Plan::read_blob(json).map_err(|why| {
            ActivityError::refused(
                RefusalKind::Configuration,
                format!("run {run}: recorded plan: {why}"),
            )
        })
    })
}

fn create_plan(
    env: &Environment,
    _: &ActivityContext,
    input: PlanInput,
) -> Result<Planned, ActivityError> {
    env.check_root(&input.run, &input.root)?;
    let command = &input.command;
    let object = format!("object {}", command.object_id);
    let placement = env.run_placement(&input.run, &command.object_id)?;
    let object_path = env.fs_path(&placement.path);
    let base = match env.blobs.take::<Option<Arc<Base>>>(&base_key(&input.run)) {
        Some(known) => Option::clone(&known),
        None => read_base(env.fs(), &object_path)
            .map_err(|e| ActivityError::from(e).context(&object))?
            .map(Arc::new),
    };
    let stage = load_stage(env, &input.run, &input.stage, base.as_deref())?;
    let has_base = base.is_some();
    let mut options = PlanOptions::new(
        command.object_id.clone(),
        object_path,
        env.work_path(&input.run),
    );
    options.spec_version = match &command.spec_version {
        Some(text) => Some(SpecVersion::parse(text).ok_or_else(|| {
            ActivityError::refused(RefusalKind::Plan, format!("unknown OCFL version {text}"))
        })?),
        None if !has_base => Some(placement.spec_version),
        None => None,
    };
    options.digest_algorithm = command.digest_for(has_base).map(algorithm).transpose()?;
    options.fixity = stage.fixity_algorithms().to_vec();
    options.protocol = Protocol::for_storage(env.fs());
    options.content_directory = command.content_directory.clone();
    options.padding = command.padding;
    options.message = command.message.clone();
    options.user = command.user_name.as_ref().map(|name| User {
        name: name.clone(),
        address: command.user_address.clone(),
    });
    let created = DateTime::parse_from_rfc3339(&input.created).map_err(|e| {
        ActivityError::refused(
            RefusalKind::Plan,
            format!("creation time {:?}: {e}", input.created),
        )
    })?;
    // The base is given to the planner, which makes the new inventory of it rather than of a
    // copy: the whole manifest and every version's state are in memory once, not twice. Only
    // this activity holds it (staging handed it over), so it is not copied here either.
    let base = base.map(|b| Arc::try_unwrap(b).unwrap_or_else(|shared| Base::clone(&shared)));
    match plan_owned(base, &stage, &options, created)? {
        Outcome::NoChange { head } => Ok(Planned::NoChange {
            head: head.to_string(),
        }),
        Outcome::Update(mut plan) => {
            let blob = env.blobs.put_with(&input.run, |out| plan.write_blob(out))?;
            let planned = PlanRef {
                blob,
                version: plan.version.to_string(),
                steps: plan.steps.len() as u64,
                bytes: plan.total_bytes(),
                batches: batches(&plan, input.batch_files, input.batch_bytes),
            };
            env.report(&ProgressEvent::Planned {
                run: &input.run,
                version: &planned.version,
                steps: planned.steps,
                bytes: planned.bytes,
            });
            env.blobs
                .remember(&input.run, &planned.blob, Arc::new(plan));
            Ok(Planned::Update(planned))
        }
    }
}

/// Refuses to update an object that is already invalid: writing a new version into it would
/// change the storage root only for the verification after the update to fail. The check is
/// the structural one of [`Verify::Structure`] (inventories, sidecars, the object's entries and
/// directories, every listed file present): no content is read. Warnings do not refuse.
fn check_structure(
    env: &Environment,
    object_id: &str,
    in_root: &str,
    object_path: &str,
) -> Result<Option<RootInventory>, ActivityError> {
    let options = ValidationOptions {
        check_fixity: false,
    };
    let (report, root) = validate_confirmed(env, in_root, &options)?;
    if report.is_valid() {
        return Ok(root);
    }
    let codes: BTreeSet<Code> = report.errors.iter().map(|f| f.code).collect();
    // A version another update has claimed on an object store (E046 naming that run) is
    // the cause to show: the other errors follow from reading that version as the latest.
    let claimed = report
        .errors
        .iter()
        .find(|f| f.code == Code::E046 && f.message.contains("claimed by update run"));
    let first = claimed
        .or(report.errors.first())
        .map(|f| format!(" (first: {}: {})", f.code.as_str(), f.message))
        .unwrap_or_default();
    // Another process writing the object through another engine store (nothing serializes
    // the two) shows exactly these codes while its update is in flight.
    let in_flight = if codes.iter().all(|c| IN_FLIGHT.contains(c)) {
        "; if another process is updating this object, these are its update in progress: commit again once it is done"
    } else {
        ""
    };
    Err(ActivityError::refused(
        RefusalKind::InvalidObject,
        format!(
            "object {object_id} at {object_path} is invalid ({}){first}; refusing to update it, nothing was written; run `ocfl validate {object_id}` for details{in_flight}",
            codes
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Validates the object at `in_root`. The validator reports what it cannot read as findings
/// (E003 "object root cannot be listed", ...), so a report of errors is confirmed before it is
/// believed: by a second validation, then by reading the object root and its inventory. A
/// read that failed for a moment (a server error, throttling, a timeout) then passes on the
/// second validation, and one that keeps failing is a transient error the engine retries
/// (and the run stalls on, naming the key), never a verdict that the object is invalid.
fn validate_confirmed(
    env: &Environment,
    in_root: &str,
    options: &ValidationOptions,
) -> Result<(ObjectReport, Option<RootInventory>), ActivityError> {
    let first = validate_object_keeping_root(env.storage(), in_root, options);
    if first.0.is_valid() {
        return Ok(first);
    }
    drop(first);
    let again = validate_object_keeping_root(env.storage(), in_root, options);
    if again.0.is_valid() {
        return Ok(again);
    }
    let unreadable = |error: StorageError| match error {
        StorageError::Io { .. } => Err(ActivityError::Transient(error.to_string())),
        _ => Ok(()),
    };
    if let Err(error) = env.storage().list(in_root) {
        unreadable(error)?;
    }
    if let Err(error) = env.storage().read(&join(in_root, "inventory.json")) {
        unreadable(error)?;
    }
    Ok(again)
}

/// What a validator can see of an update in flight (docs/durability.md, section 9): a new
/// version directory the root inventory does not name yet (E046, and E023, E040, E064, E066
/// from reading it as the latest version), the new root inventory beside the old sidecar
/// (E060), and on a spec upgrade two declarations or a mismatched one (E003, E038).
const IN_FLIGHT: [Code; 8] = [
    Code::E003,
    Code::E023,
    Code::E038,
    Code::E040,
    Code::E046,
    Code::E060,
    Code::E064,
    Code::E066,
];

/// Cuts the plan's steps into activities: runs of copies into batches of at most `max_files`
/// files and `max_bytes` bytes (a larger file alone), and each run of the other steps (few,
/// small and ordered) into one batch. Each activity's completion costs the engine a flush of
/// its store, so the steps before and after the copies are not one activity each; a batch cut
/// short by a crash is run again from its first step, which every step allows.
pub(crate) fn batches(plan: &Plan, max_files: u32, max_bytes: u64) -> Vec<Batch> {
    let is_copy = |i: usize| {
        matches!(
            plan.steps[i].action,
            Action::Copy { .. } | Action::Upload { .. }
        )
    };
    let max_files = max_files.max(1) as usize;
    let mut out = Vec::new();
    let mut i = 0;
    while i < plan.steps.len() {
        let start = i;
        let mut bytes = 0u64;
        if is_copy(i) {
            while i < plan.steps.len()
                && is_copy(i)
                && i - start < max_files
                && (i == start || bytes.saturating_add(plan.steps[i].size) <= max_bytes)
            {
                bytes = bytes.saturating_add(plan.steps[i].size);
                i += 1;
            }
        } else {
            while i < plan.steps.len() && !is_copy(i) {
                bytes = bytes.saturating_add(plan.steps[i].size);
                i += 1;
            }
        }
        out.push(Batch {
            from: u32::try_from(start).unwrap_or(u32::MAX),
            to: u32::try_from(i).unwrap_or(u32::MAX),
            copies: is_copy(start),
            bytes,
        });
    }
    out
}

fn is_content_step(action: &Action) -> bool {
    matches!(action, Action::Copy { .. } | Action::Upload { .. })
}

/// A step's content source whose reads are reported as [`ProgressEvent::Sending`] as they
/// happen: what a copy or an upload has sent so far, so progress moves while a large file is
/// on its way rather than when it is done.
struct Metered<'a> {
    inner: &'a dyn ContentSource,
    sink: Arc<dyn ProgressSink>,
    run: String,
    index: u64,
}

impl ContentSource for Metered<'_> {
    fn location(&self, digest: &Digest) -> Option<String> {
        self.inner.location(digest)
    }

    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(MeteredReader {
            inner: self.inner.open(digest)?,
            sink: self.sink.clone(),
            run: self.run.clone(),
            index: self.index,
        }))
    }

    fn prepared(&self, digest: &Digest) -> Option<String> {
        self.inner.prepared(digest)
    }
}

struct MeteredReader {
    inner: Box<dyn Read + Send>,
    sink: Arc<dyn ProgressSink>,
    run: String,
    index: u64,
}

impl Read for MeteredReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.sink.event(&ProgressEvent::Sending {
                run: &self.run,
                index: self.index,
                bytes: n as u64,
            });
        }
        Ok(n)
    }
}

/// The source of a batch without copies.
struct NoContent;

impl ContentSource for NoContent {
    fn location(&self, _digest: &Digest) -> Option<String> {
        None
    }

    fn open(&self, _digest: &Digest) -> io::Result<Box<dyn Read + Send>> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "this batch copies no content",
        ))
    }
}

fn execute_steps(
    env: &Environment,
    ctx: &ActivityContext,
    input: StepsInput,
) -> Result<StepsDone, ActivityError> {
    env.check_root(&input.run, &input.root)?;
    let plan = load_plan(env, &input.run, &input.plan)?;
    let (from, to) = (input.from as usize, input.to as usize);
    let steps = plan.steps.get(from..to).ok_or_else(|| {
        ActivityError::refused(
            RefusalKind::Configuration,
            format!(
                "run {}: steps {from}..{to} are not in its plan of {} steps",
                input.run,
                plan.steps.len()
            ),
        )
    })?;
    let stage;
    // A flush may have to copy again what a failed flush left unknown.
    let spooled;
    let staged_content;
    let source: &dyn ContentSource = if steps.iter().any(|s| {
        matches!(
            s.action,
            Action::Copy { .. } | Action::Flush { .. } | Action::Upload { .. }
        )
    }) {
        stage = load_stage(env, &input.run, &input.stage, None)?;
        if let Some(name) = &input.staged {
            staged::check_name(name)?;
            staged_content = StagedContent::new(env, stage.as_ref(), name);
            &staged_content
        } else if env.fs().renames_atomically() {
            spooled = SpooledStage::new(stage.as_ref(), &plan.work_path);
            &spooled
        } else {
            stage.as_ref()
        }
    } else {
        &NoContent
    };
    let mut done = StepsDone {
        done: 0,
        skipped: 0,
        written: 0,
    };
    // A first attempt of a batch has never run: its uploads need not ask first whether their
    // keys are there (an activity retried after a failure is a new work item, whose uploads
    // rewrite the same verified bytes to keys of a version not committed yet).
    let executor = exec::Executor::new(&plan, env.fs(), source)
        .first_attempt(ctx.attempt() == 1)
        .sharing_root_tags(Arc::clone(&env.root_tags));
    for (offset, step) in steps.iter().enumerate() {
        // Checked before every step: once the lease is lost another worker may be running
        // this batch, and only one of them may go on writing.
        if ctx.is_cancelled() {
            return Err(ActivityError::Transient(format!(
                "run {}: stopped before step {}: the activity was cancelled (lease lost, \
                 timed out or worker shutting down)",
                input.run, step.id
            )));
        }
        let index = (from + offset) as u64;
        let metered;
        let source = match env.progress_sink() {
            Some(sink) if is_content_step(&step.action) => {
                metered = Metered {
                    inner: source,
                    sink,
                    run: input.run.clone(),
                    index,
                };
                &metered as &dyn ContentSource
            }
            _ => source,
        };
        let result = executor.execute_reading(step, source).map_err(|e| {
            ActivityError::from(e).context(&format!("object {}: step {}", plan.object_id, step.id))
        })?;
        let skipped = match result {
            StepResult::Done { bytes } => {
                done.done += 1;
                done.written += bytes;
                false
            }
            StepResult::Skipped(_) => {
                done.skipped += 1;
                true
            }
        };
        env.report(&ProgressEvent::Step {
            run: &input.run,
            index,
            total: plan.steps.len() as u64,
            id: &step.id,
            label: &plan.describe(step),
            bytes: step.size,
            skipped,
        });
        ctx.heartbeat();
    }
    Ok(done)
}

fn verify_object(
    env: &Environment,
    _: &ActivityContext,
    input: VerifyInput,
) -> Result<(), ActivityError> {
    let plan = load_plan(env, &input.run, &input.plan)?;
    // The run's stage is let go first (the copies are done): a validation below holds the
    // whole new inventory, as text and parsed.
    env.blobs.forget_run(&input.run);
    if input.verify == Verify::NewContent {
        check_new_content(env, &plan)?;
    }
    let object_id = plan.object_id.clone();
    let object_path = plan.object_path.clone();
    let root_inventory = plan.root_inventory_path();
    let version = plan.version.to_string();
    let invalid = |message: String| {
        ActivityError::refused(
            RefusalKind::Verification,
            format!("object {object_id} at {object_path}: {message}"),
        )
    };
    // A new object, all of which the run wrote, and a full verification are validated
    // whole; the validator reads the root inventory, and one it found to be this plan's
    // (by digest) is not read again below: a request less on an object store.
    let whole = plan.base.is_none() || input.verify == Verify::Full;
    let (validated, plan) = if whole {
        let in_root = object_path
            .strip_prefix(env.root_name())
            .and_then(|p| p.strip_prefix('/'))
            .ok_or_else(|| invalid("the object is not inside the storage root".into()))?;
        let options = ValidationOptions {
            check_fixity: input.verify == Verify::Full,
        };
        let inventory_digest = plan.inventory_digest.clone();
        // The validation holds the whole new inventory, parsed: the plan's copy goes first.
        drop(plan);
        let (report, root) = validate_confirmed(env, in_root, &options)?;
        let ours = root.is_some_and(|root| root.digest == inventory_digest);
        (Some((report, ours)), None)
    } else {
        (None, Some(plan))
    };
    // The head must be this plan's version: the root inventory is its inventory, byte for
    // byte (compared with the plan's as it is read, not read whole, and not hashed: the
    // plan holds the bytes). On an object store, a later version may have been installed by
    // another writer since this one was (a resumed run): then this version's own inventory
    // must be this plan's.
    let plan = match (&validated, plan) {
        (Some((_, false)), _) => Some(load_plan(env, &input.run, &input.plan)?),
        (_, plan) => plan,
    };
    let mut superseded = false;
    if let Some(plan) = &plan {
        superseded = !holds_exactly(env, &root_inventory, plan.inventory.as_bytes())?;
        if superseded
            && !(plan.protocol() == Protocol::ObjectStore && exec::superseded(plan, env.fs())?)
        {
            return Err(ActivityError::refused(
                RefusalKind::BaseChanged,
                format!(
                    "object {object_id}: {root_inventory} is not the inventory this update wrote (the object changed meanwhile)"
                ),
            ));
        }
    }
    // An update is checked by what it wrote (the object was validated before it, and the run
    // changed nothing else).
    if let Some((report, _)) = validated {
        if !report.is_valid() {
            let findings: Vec<String> = report
                .errors
                .iter()
                .take(5)
                .map(|f| format!("{}: {}", f.code.as_str(), f.message))
                .collect();
            return Err(invalid(format!(
                "invalid after the update ({} errors): {}",
                report.errors.len(),
                findings.join("; ")
            )));
        }
    } else if let Some(plan) = &plan {
        let holds_inventory = |path: &str| holds_exactly(env, path, plan.inventory.as_bytes());
        if let Some(wrong) = written::check_written(env.fs(), plan, superseded, holds_inventory)? {
            return Err(invalid(format!("after the update: {wrong}")));
        }
    }
    env.report(&ProgressEvent::Verified {
        run: &input.run,
        version: &version,
    });
    Ok(())
}

/// Reads back every content file the plan placed in the object and compares its digest.
fn check_new_content(env: &Environment, plan: &Plan) -> Result<(), ActivityError> {
    written::placed_content(plan)
        .par_iter()
        .try_for_each(|(digest, path)| {
            let found = digest_file(env, path, plan.digest_algorithm)?;
            if found == **digest {
                Ok(())
            } else {
                Err(ActivityError::refused(
                    RefusalKind::Verification,
                    format!(
                        "object {}: {path} has digest {found} after the update, {digest} was written",
                        plan.object_id
                    ),
                ))
            }
        })
}

/// Whether the file at `path` holds exactly `expected`: read in pieces, each compared as it
/// comes, so a 50 MB inventory is neither held twice nor hashed.
fn holds_exactly(env: &Environment, path: &str, expected: &[u8]) -> Result<bool, ActivityError> {
    let mut reader = env.fs().open(path)?;
    let mut buffer = vec![0u8; STREAM_BUFFER];
    let mut rest = expected;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(rest.is_empty()),
            Ok(n) => match rest.split_at_checked(n) {
                Some((head, tail)) if head == &buffer[..n] => rest = tail,
                _ => return Ok(false),
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ActivityError::Transient(format!("read {path}: {e}"))),
        }
    }
}

fn digest_file(
    env: &Environment,
    path: &str,
    algorithm: DigestAlgorithm,
) -> Result<Digest, ActivityError> {
    let mut reader = env.fs().open(path)?;
    let mut hasher = algorithm.hasher();
    let mut buffer = vec![0u8; STREAM_BUFFER];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ActivityError::Transient(format!("read {path}: {e}"))),
        }
    }
    Ok(hasher.finalize())
}

/// Removes the directories a new object's move created on its way into the storage root
/// (`2b2/c40/a67` of layout 0004) when the object never arrived: left empty, they would make
/// the root invalid (E073). Only empty directories go, innermost first, never the root.
fn tidy_layout_dirs(env: &Environment, object_path: &str) -> Result<(), ActivityError> {
    let fs = env.fs();
    if fs.kind_if_exists(object_path)?.is_some() {
        return Ok(());
    }
    let mut dir = ocfl_core::storage::parent(object_path);
    while dir != env.root_name() && !dir.is_empty() && fs.remove_empty_dir(dir)? {
        dir = ocfl_core::storage::parent(dir);
    }
    fs.sync(&[dir.to_owned()])?;
    Ok(())
}

/// Counts what staging has read and reports it a few times a second.
struct StagingMeter<'a> {
    env: &'a Environment,
    run: &'a str,
    files: AtomicU64,
    bytes: AtomicU64,
    /// When the last report went out.
    last: Mutex<Instant>,
}

impl<'a> StagingMeter<'a> {
    /// Reports at most this often.
    const EVERY: Duration = Duration::from_millis(100);

    fn new(env: &'a Environment, run: &'a str) -> StagingMeter<'a> {
        StagingMeter {
            env,
            run,
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    fn add(&self, files: u64, bytes: u64) {
        let files = self.files.fetch_add(files, Ordering::Relaxed) + files;
        let bytes = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        // Whoever finds the interval passed reports; the others do not wait for the lock.
        let Ok(mut last) = self.last.try_lock() else {
            return;
        };
        if last.elapsed() < Self::EVERY {
            return;
        }
        *last = Instant::now();
        self.env.report(&ProgressEvent::Staging {
            run: self.run,
            files,
            bytes,
        });
    }
}

fn finish(env: &Environment, _: &ActivityContext, input: FinishInput) -> Result<(), ActivityError> {
    let recovered = match (&input.abandon, input.recover) {
        (None, true) => find_plan(env, &input.run)?,
        _ => None,
    };
    if let Some(blob) = input.abandon.as_ref().or(recovered.as_ref()) {
        match load_plan(env, &input.run, blob) {
            Ok(plan) => match exec::abandon(&plan, env.fs()) {
                Ok(()) if plan.base.is_none() => tidy_layout_dirs(env, &plan.object_path)?,
                Ok(()) => {}
                Err(e) if e.is_retriable() => return Err(e.into()),
                // Someone else changed the object: leave it alone, but the work directory
                // is this run's own.
                Err(e) => {
                    tracing::warn!(run = %input.run, error = %e, "cannot roll back; removing the work directory only");
                    env.fs().remove(&plan.work_path)?;
                }
            },
            Err(ActivityError::Transient(message)) => {
                return Err(ActivityError::Transient(message));
            }
            // Without its plan the run's work directory is still known by its name.
            Err(ActivityError::Refused(_)) => env.fs().remove(&env.work_path(&input.run))?,
        }
    }
    // A run that stopped before its plan ran leaves only the spool of its staging there;
    // after a completed run the directory is gone already.
    env.fs().remove(&env.work_path(&input.run))?;
    if let Some(name) = &input.staged {
        staged::check_name(name)?;
        staged::remove(env, name)?;
    }
    env.tidy_work_dir()?;
    env.blobs.remove_run(&input.run)?;
    env.blobs.forget_run(&input.run);
    env.forget_placement(&input.run);
    Ok(())
}
