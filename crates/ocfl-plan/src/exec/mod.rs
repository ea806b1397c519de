//! Executing plans: one step at a time, idempotently, verifying what is written.
//!
//! [`execute`] may be called any number of times for any step, after a crash at any instant:
//! a step whose result is already in place says so ([`StepResult::Skipped`]) instead of
//! writing again. Re-running every step of a plan from the first is therefore always a correct
//! recovery (`docs/durability.md`, sections 5 and 6). [`apply`] does exactly that, without any
//! record of progress: callers that need one (the durable engine) call [`execute`] per step.

mod base;
mod object;
mod root_tags;
mod source;
mod steps;

use std::sync::Arc;

use ocfl_core::digest::Digest;
use ocfl_core::storage::{Storage, StorageError};

use crate::plan::{Plan, Protocol, Step};

pub use base::{BaseError, read_base};
pub use object::superseded;
pub use root_tags::RootTags;
pub use source::{ContentSource, SpooledStage};

/// What executing a step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// The step did its work, writing `bytes` bytes.
    Done {
        /// Bytes written.
        bytes: u64,
    },
    /// Nothing needed doing.
    Skipped(Skip),
}

/// Why a step had nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The destination already holds the expected bytes.
    InPlace,
    /// The new version is already in the object, so work-area steps are moot.
    Installed,
    /// What the step removes is already gone.
    Absent,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Skip::InPlace => "already in place",
            Skip::Installed => "the version is already in the object",
            Skip::Absent => "already absent",
        })
    }
}

/// Why a step failed. [`Error::is_retriable`] tells whether running it again may help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object is no longer in the state the plan was made for.
    #[error(
        "{path}: the object changed since the update was planned (inventory.json digest is {}, the plan expects {expected})",
        found.as_ref().map_or("missing".to_owned(), |d| d.to_string())
    )]
    BaseChanged {
        /// The object's root inventory.
        path: String,
        /// The base digest the plan was made against.
        expected: Digest,
        /// The digest found, if the inventory exists.
        found: Option<Digest>,
    },
    /// The destination is taken by something this plan did not write.
    #[error("{path}: already exists and is not this update's")]
    Occupied {
        /// The destination.
        path: String,
    },
    /// A source file's bytes differ from what was staged.
    #[error(
        "{source_file}: changed since it was staged (expected {expected_size} bytes with digest {expected}, read {found_size} bytes with digest {found})"
    )]
    SourceChanged {
        /// The source file.
        source_file: String,
        /// The staged digest.
        expected: Digest,
        /// The staged size.
        expected_size: u64,
        /// The digest read now.
        found: Digest,
        /// The size read now.
        found_size: u64,
    },
    /// The staged bytes of a digest cannot be read.
    #[error("{location}: staged content {digest} cannot be read: {error}")]
    SourceUnavailable {
        /// The source file, or the digest when the source knows no file for it.
        location: String,
        /// The content digest.
        digest: Digest,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// A rename crossed filesystems: the work directory is not on the storage root's.
    #[error(
        "cannot move {from} to {to}: the work directory is on another filesystem than the object (choose a work directory on the storage root's filesystem)"
    )]
    CrossDevice {
        /// The source of the rename.
        from: String,
        /// Its destination.
        to: String,
    },
    /// The storage cannot rename atomically ([`Storage::renames_atomically`]: an object
    /// store), and this protocol moves finished directories into objects by renaming them.
    #[error("{storage}: this storage cannot rename atomically, which this update protocol needs")]
    RenamesNotAtomic {
        /// The storage, as [`Storage::display_path`] shows its root.
        storage: String,
    },
    /// Another update holds the claim on the version this plan writes (object-store
    /// protocol): it is running, or died before committing or abandoning.
    #[error(
        "object {object}: the new version is claimed by another update ({}): {path}",
        owner.as_deref().unwrap_or("owner unknown")
    )]
    Claimed {
        /// The object id.
        object: String,
        /// The claim, as the storage shows it.
        path: String,
        /// The work path of the update holding it, if recorded.
        owner: Option<String>,
    },
    /// A step ran before the steps it depends on.
    #[error("{path}: {reason}")]
    OutOfOrder {
        /// The file the step would change.
        path: String,
        /// What is missing.
        reason: String,
    },
    /// Reading, writing or flushing failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Error {
    /// Whether running the step again may succeed (I/O errors: a full disk, a permission
    /// fixed meanwhile). A changed object, a changed source or a wrong configuration will not
    /// fix themselves.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::Storage(error) if !matches!(error, StorageError::Unsupported { .. }))
    }
}

/// A failed step of [`apply`].
#[derive(Debug, thiserror::Error)]
#[error("step {step}: {error}")]
pub struct StepError {
    /// The step's id.
    pub step: String,
    /// What went wrong.
    #[source]
    pub error: Error,
}

/// Executes one step of `plan`: idempotent, verifying (see the module documentation).
pub fn execute(
    plan: &Plan,
    step: &Step,
    fs: &dyn Storage,
    source: &dyn ContentSource,
) -> Result<StepResult, Error> {
    Executor::new(plan, fs, source).execute(step)
}

/// Executes steps of one plan that a caller runs together (an engine activity's batch), as
/// [`execute`] does each, sharing what one step saw with the next: on an object store the
/// update's claim is checked once, not before every upload.
pub struct Executor<'a> {
    plan: &'a Plan,
    fs: &'a dyn Storage,
    source: &'a dyn ContentSource,
    session: object::Session,
    /// The plan's protocol ([`Plan::protocol`]: known once per plan), which every step
    /// consults.
    protocol: Protocol,
}

impl<'a> Executor<'a> {
    /// An executor of `plan`'s steps on `fs`, reading new content from `source`.
    pub fn new(plan: &'a Plan, fs: &'a dyn Storage, source: &'a dyn ContentSource) -> Self {
        Executor {
            plan,
            fs,
            source,
            session: object::Session::default(),
            protocol: plan.protocol(),
        }
    }

    /// Declares that the steps this executor runs have never run before for this plan (an
    /// engine activity's first attempt): on an object store each upload then goes straight
    /// to its key, one request per file, instead of first asking whether the key is there.
    /// Steps that may have run before (a redelivered activity, a plan run again from its first
    /// step) must not be declared so: they skip the keys already in place, as they must once
    /// the version is committed.
    pub fn first_attempt(mut self, first: bool) -> Self {
        self.session.first_attempt = first;
        self
    }

    /// Shares what the steps learn of the object's root inventory (its digest by tag) with
    /// `tags`, and uses what `tags` already knows: a rename into the object then hashes the
    /// root inventory only if no batch or check of this process did so since its tag last
    /// changed (`docs/durability.md`, section 6).
    pub fn sharing_root_tags(mut self, tags: Arc<RootTags>) -> Self {
        self.session.share_root_tags(tags);
        self
    }

    /// Executes one step: idempotent, verifying (see the module documentation).
    pub fn execute(&self, step: &Step) -> Result<StepResult, Error> {
        self.execute_reading(step, self.source)
    }

    /// [`Executor::execute`], reading new content from `source` for this step (a wrapper of
    /// the executor's source that reports progress, say).
    pub fn execute_reading(
        &self,
        step: &Step,
        source: &dyn ContentSource,
    ) -> Result<StepResult, Error> {
        check_storage(self.protocol, self.fs)?;
        steps::execute(
            self.plan,
            self.protocol,
            step,
            self.fs,
            source,
            &self.session,
        )
    }
}

/// Refuses a storage the plan's protocol cannot run on, before anything is written: the
/// rename protocol needs atomic renames; the object-store protocol needs conditional writes,
/// which a storage without them refuses at the claim, before anything else is written.
fn check_storage(protocol: Protocol, fs: &dyn Storage) -> Result<(), Error> {
    if protocol == Protocol::ObjectStore || fs.renames_atomically() {
        Ok(())
    } else {
        Err(Error::RenamesNotAtomic {
            storage: fs.display_path(""),
        })
    }
}

/// Gives up an interrupted update (`docs/durability.md`, section 5): when the object's root
/// inventory is still the base, a version directory this plan already moved into the object
/// is removed (the inventory does not name it); the work directory is removed in every case.
/// An update whose new inventory is already installed is finished instead: its remaining
/// steps only rename prepared files into the object root and need no source.
pub fn abandon(plan: &Plan, fs: &dyn Storage) -> Result<(), Error> {
    check_storage(plan.protocol(), fs)?;
    steps::abandon(plan, fs)
}

/// Runs every step of `plan` in order, without recording progress (no durable engine). On a
/// crash or an error, calling it again with the same plan completes the update.
pub fn apply(
    plan: &Plan,
    fs: &dyn Storage,
    source: &dyn ContentSource,
) -> Result<Vec<StepResult>, StepError> {
    let executor = Executor::new(plan, fs, source);
    plan.steps
        .iter()
        .map(|step| {
            executor.execute(step).map_err(|error| StepError {
                step: step.id.clone(),
                error,
            })
        })
        .collect()
}
