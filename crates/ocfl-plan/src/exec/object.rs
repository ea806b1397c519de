//! The object-store protocol's steps (`docs/durability.md`, section 11.3). Each starts by
//! looking at what is in place, as the local steps do, so that the whole plan can be run again
//! from its first step after a crash at any instant: a claim of this update, a content key that
//! exists (complete, since an upload with the wrong bytes is never completed), a root inventory
//! that is already the new one, are all recognised and skipped.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::sync::Arc;

use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::inventory::parse_inventory;
use ocfl_core::sidecar::parse_sidecar;
use ocfl_core::storage::{Directory, EntryKind, Precondition, Storage, StorageError, Tag, join};

use super::root_tags::RootTags;
use super::steps::{RootState, StreamError, holds, root_state, stream};
use super::{ContentSource, Error, Skip, StepResult};
use crate::plan::{Action, CLAIM_OWNER, Contents, Plan, Protocol};

/// Refuses to go on unless the root inventory is the base's (or, for a new object, absent),
/// or already the new one (then the remaining steps find their work done).
pub(super) fn check_base(plan: &Plan, fs: &dyn Storage) -> Result<StepResult, Error> {
    match object_state(plan, fs)? {
        ObjectState::New | ObjectState::Superseded => Ok(StepResult::Skipped(Skip::Installed)),
        ObjectState::Base => Ok(StepResult::Done { bytes: 0 }),
    }
}

/// Where the object is, seen from this plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectState {
    /// The root inventory is the base's (a new object: there is none).
    Base,
    /// The root inventory is this plan's.
    New,
    /// This plan's version was installed, and a later one since (section 11.5).
    Superseded,
}

/// [`root_state`], recognising a root inventory of a later version when this plan's version
/// was installed before it.
fn object_state(plan: &Plan, fs: &dyn Storage) -> Result<ObjectState, Error> {
    match root_state(plan, fs) {
        Ok(RootState::New) => Ok(ObjectState::New),
        Ok(RootState::Base) => Ok(ObjectState::Base),
        Err(error @ (Error::BaseChanged { .. } | Error::Occupied { .. })) => {
            if superseded(plan, fs)? {
                Ok(ObjectState::Superseded)
            } else {
                Err(error)
            }
        }
        Err(error) => Err(error),
    }
}

/// Whether this plan's version is installed and a later version has been installed since
/// (by another writer): the claim on the version is this update's and holds this plan's
/// inventory, and the root inventory names a later head and this version. Only the claim's
/// holder can have made an inventory name the version, so the version is this update's,
/// committed; what is left of the run is its clean-up, never the root sidecar (which is the
/// later version's).
pub fn superseded(plan: &Plan, fs: &dyn Storage) -> Result<bool, Error> {
    let claim = plan.claim_path();
    let info = match fs.file_info(&claim) {
        Ok(info) => info,
        Err(error) if error.is_not_found() => return Ok(false),
        Err(error) => return Err(error.into()),
    };
    if info.metadata.get(CLAIM_OWNER) != Some(&plan.work_path)
        || !holds(fs, &claim, plan.digest_algorithm, &plan.inventory_digest)?
    {
        return Ok(false);
    }
    let root = match fs.read(&plan.root_inventory_path()) {
        Ok(bytes) => bytes,
        Err(error) if error.is_not_found() => return Ok(false),
        Err(error) => return Err(error.into()),
    };
    Ok(parse_inventory(&root).inventory.is_some_and(|inventory| {
        inventory.head.number() > plan.version.number()
            && inventory.versions.contains_key(&plan.version)
    }))
}

/// Removes the old declaration of a spec upgrade (the local step's rules), unless a later
/// version has been installed since this one: then it is that version's business.
pub(super) fn remove(plan: &Plan, fs: &dyn Storage, path: &str) -> Result<StepResult, Error> {
    if fs.kind_if_exists(path)?.is_some() && object_state(plan, fs)? == ObjectState::Superseded {
        return Ok(StepResult::Skipped(Skip::Installed));
    }
    super::steps::remove(plan, fs, path, None)
}

/// Writes the version inventory only if nothing is there; finding a claim, it is this
/// update's (a resumed run) or the run is refused naming the object and the claim's owner.
pub(super) fn claim(plan: &Plan, fs: &dyn Storage, path: &str) -> Result<StepResult, Error> {
    let bytes = plan.contents(Contents::Inventory);
    let owner = [(CLAIM_OWNER, plan.work_path.as_str())];
    match fs.write_if(path, &bytes, &Precondition::Absent, &owner) {
        Ok(()) => Ok(StepResult::Done {
            bytes: bytes.len() as u64,
        }),
        Err(StorageError::ConditionFailed(_)) => {
            check_claim(plan, fs)?;
            Ok(StepResult::Skipped(Skip::InPlace))
        }
        Err(error) => Err(error.into()),
    }
}

/// Whether the claim on the new version is this update's: only its holder writes below the
/// version or commits it.
fn check_claim(plan: &Plan, fs: &dyn Storage) -> Result<(), Error> {
    let path = plan.claim_path();
    let info = match fs.file_info(&path) {
        Ok(info) => info,
        Err(error) if error.is_not_found() => {
            return Err(Error::OutOfOrder {
                path,
                reason: "the version is not claimed yet".into(),
            });
        }
        Err(error) => return Err(error.into()),
    };
    match info.metadata.get(CLAIM_OWNER) {
        Some(owner) if *owner == plan.work_path => Ok(()),
        owner => Err(Error::Claimed {
            object: plan.object_id.clone(),
            path: fs.display_path(&path),
            owner: owner.cloned(),
        }),
    }
}

/// What the steps one caller runs together (an engine activity's batch) know between them.
#[derive(Debug, Default)]
pub(super) struct Session {
    /// These steps never ran before for this plan: nothing they write can be in place yet.
    pub(super) first_attempt: bool,
    /// This update's claim was seen once already.
    claim_checked: Cell<bool>,
    /// Files of the work area and the new version that these steps wrote (or moved there),
    /// with the digest of what they wrote: read back, they would give it again, because
    /// only this update writes there and these steps do not write them twice. A large
    /// object's inventory is tens of megabytes, which `install` would otherwise read and
    /// hash twice more. Another session (a batch run again after a crash) starts empty
    /// and reads what it finds.
    written: RefCell<Vec<(String, Digest)>>,
    /// The object's root inventory as last read: its tag ([`Storage::file_info`]) when it
    /// was read and the digest of what was read. While the tag stays the same the bytes
    /// are the same, so a batch's renames into the object hash the inventory once, not
    /// before each (`docs/durability.md`, section 6).
    root: RefCell<Option<(Tag, Digest)>>,
    /// The same knowledge shared with the process's other batches and checks, if the caller
    /// keeps one: a batch then need not hash what another already did.
    shared: Option<Arc<RootTags>>,
    /// The directories these steps' copies created (`docs/durability.md`, section 6).
    pub(super) made_dirs: super::steps::MadeDirs,
}

impl Session {
    /// Shares what this session learns of root inventories with `tags`, and learns from it.
    pub(super) fn share_root_tags(&mut self, tags: Arc<RootTags>) {
        self.shared = Some(tags);
    }

    /// The digest (of `algorithm`) the root inventory at `path` had when it was last read
    /// with tag `tag`, by this session or by the process it shares with.
    pub(super) fn root_digest(
        &self,
        path: &str,
        tag: &Tag,
        algorithm: DigestAlgorithm,
    ) -> Option<Digest> {
        match &*self.root.borrow() {
            Some((seen, digest)) if seen == tag => return Some(digest.clone()),
            _ => {}
        }
        self.shared.as_ref()?.digest(path, tag, algorithm)
    }

    /// Records that the root inventory at `path`, seen with tag `tag` before it was read,
    /// read as `digest` (of `algorithm`).
    pub(super) fn read_root(
        &self,
        path: &str,
        tag: Tag,
        algorithm: DigestAlgorithm,
        digest: Digest,
    ) {
        if let Some(shared) = &self.shared {
            shared.record(path, tag.clone(), algorithm, digest.clone());
        }
        *self.root.borrow_mut() = Some((tag, digest));
    }

    /// Records that these steps wrote the bytes of digest `digest` to `path`.
    pub(super) fn wrote(&self, path: &str, digest: &Digest) {
        let mut written = self.written.borrow_mut();
        written.retain(|(p, _)| p != path);
        written.push((path.to_owned(), digest.clone()));
    }

    /// Whether these steps wrote the bytes of digest `digest` to `path`.
    pub(super) fn knows(&self, path: &str, digest: &Digest) -> bool {
        self.written
            .borrow()
            .iter()
            .any(|(p, d)| p == path && d == digest)
    }

    /// Records that `from` (a file or directory) was renamed to `to`: what these steps
    /// wrote below `from` is now below `to`.
    pub(super) fn moved(&self, from: &str, to: &str) {
        for (path, _) in self.written.borrow_mut().iter_mut() {
            if path == from {
                *path = to.to_owned();
            } else if let Some(rest) = path.strip_prefix(from).and_then(|r| r.strip_prefix('/')) {
                *path = format!("{to}/{rest}");
            }
        }
    }

    /// [`check_claim`] once per session: the claim is only ever removed by its own update's
    /// abandon, so seeing it again before each of a batch's uploads would only cost a request
    /// per file (a check just before each write narrows, but cannot close, that race anyway).
    fn check_claim(&self, plan: &Plan, fs: &dyn Storage) -> Result<(), Error> {
        if !self.claim_checked.get() {
            check_claim(plan, fs)?;
            self.claim_checked.set(true);
        }
        Ok(())
    }
}

/// Writes a small file in one PUT, unless it already holds the bytes.
pub(super) fn put(
    plan: &Plan,
    fs: &dyn Storage,
    path: &str,
    contents: Contents,
) -> Result<StepResult, Error> {
    let bytes = plan.contents(contents);
    let expected = plan.digest_algorithm.digest_bytes(&bytes);
    if holds(fs, path, plan.digest_algorithm, &expected)? {
        return Ok(StepResult::Skipped(Skip::InPlace));
    }
    check_claim(plan, fs)?;
    fs.write_atomic(path, &bytes)?;
    Ok(StepResult::Done {
        bytes: bytes.len() as u64,
    })
}

/// Streams the staged bytes of `digest` to `path`, hashing them as they go; bytes that are
/// not the staged ones are never completed (the upload is dropped, so aborted), so a key that
/// exists is complete and right. A step that may have run before skips a key that exists; on
/// a session's first attempt nothing can be there yet (the version is claimed by this update
/// and not committed), so the key is written without asking: one request per file.
pub(super) fn upload(
    plan: &Plan,
    fs: &dyn Storage,
    source: &dyn ContentSource,
    digest: &Digest,
    path: &str,
    size: u64,
    session: &Session,
) -> Result<StepResult, Error> {
    if !session.first_attempt && fs.kind_if_exists(path)? == Some(EntryKind::File) {
        return Ok(StepResult::Skipped(Skip::InPlace));
    }
    session.check_claim(plan, fs)?;
    // Content staged in the bucket (a detached run, section 11.6) is copied on the server;
    // it was hashed as it was uploaded there. Without it, the source is read.
    if let Some(staged) = source.prepared(digest) {
        match fs.copy(&staged, path) {
            Ok(()) => return Ok(StepResult::Done { bytes: size }),
            Err(StorageError::NotFound(_) | StorageError::Unsupported { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let location = source
        .location(digest)
        .unwrap_or_else(|| digest.to_string());
    let unavailable = |error: io::Error| Error::SourceUnavailable {
        location: location.clone(),
        digest: digest.clone(),
        error,
    };
    let mut reader = source.open(digest).map_err(unavailable)?;
    let mut writer = fs.create_sized(path, size)?;
    let (found, found_size) = stream(&mut reader, &mut writer, plan.digest_algorithm, path)
        .map_err(|e| match e {
            StreamError::Read(error) => unavailable(error),
            StreamError::Write(error) => error.into(),
        })?;
    if found != *digest || found_size != size {
        drop(writer);
        return Err(Error::SourceChanged {
            source_file: location,
            expected: digest.clone(),
            expected_size: size,
            found,
            found_size,
        });
    }
    writer
        .flush()
        .map_err(|e| StorageError::io("write", path, e))?;
    writer.finish()?;
    Ok(StepResult::Done { bytes: size })
}

/// The commit point: the root inventory is replaced only if it is still the base one (a new
/// object's only if there is none), after checking that the claim is this update's and every
/// key the new version names is there. A failed condition whose cause is this update's own
/// earlier write (a lost response) is recognised by reading the inventory again. The session
/// records a root inventory found or made this plan's, for the root sidecar's step.
pub(super) fn commit(
    plan: &Plan,
    fs: &dyn Storage,
    path: &str,
    session: &Session,
) -> Result<StepResult, Error> {
    let result = commit_inventory(plan, fs, path)?;
    if matches!(
        result,
        StepResult::Done { .. } | StepResult::Skipped(Skip::InPlace)
    ) {
        session.wrote(path, &plan.inventory_digest);
    }
    Ok(result)
}

fn commit_inventory(plan: &Plan, fs: &dyn Storage, path: &str) -> Result<StepResult, Error> {
    let bytes = plan.contents(Contents::Inventory);
    let precondition = match &plan.base {
        None => match fs.kind_if_exists(path)? {
            None => Precondition::Absent,
            Some(_) => return committed_or_refused(plan, fs, path),
        },
        Some(base) => {
            let (found, tag) = match fs.read_tagged(path) {
                Ok(read) => read,
                Err(error) if error.is_not_found() => {
                    return Err(Error::BaseChanged {
                        path: fs.display_path(path),
                        expected: base.digest.clone(),
                        found: None,
                    });
                }
                Err(error) => return Err(error.into()),
            };
            let digest = plan.digest_algorithm.digest_bytes(&found);
            if digest == plan.inventory_digest {
                return Ok(StepResult::Skipped(Skip::InPlace));
            }
            if digest != base.digest && superseded(plan, fs)? {
                return Ok(StepResult::Skipped(Skip::Installed));
            }
            if digest != base.digest {
                return Err(Error::BaseChanged {
                    path: fs.display_path(path),
                    expected: base.digest.clone(),
                    found: Some(digest),
                });
            }
            let tag = tag.ok_or_else(|| StorageError::Unsupported {
                op: "reading with a tag",
                path: path.to_owned(),
            })?;
            Precondition::Matches(tag)
        }
    };
    check_claim(plan, fs)?;
    check_content(plan, fs)?;
    match fs.write_if(path, &bytes, &precondition, &[]) {
        Ok(()) => Ok(StepResult::Done {
            bytes: bytes.len() as u64,
        }),
        Err(StorageError::ConditionFailed(_)) => committed_or_refused(plan, fs, path),
        Err(error) => Err(error.into()),
    }
}

/// After a failed condition: the inventory is ours (our write's answer was lost), or another
/// writer changed the object and the run is refused.
fn committed_or_refused(plan: &Plan, fs: &dyn Storage, path: &str) -> Result<StepResult, Error> {
    if holds(fs, path, plan.digest_algorithm, &plan.inventory_digest)? {
        return Ok(StepResult::Skipped(Skip::InPlace));
    }
    if superseded(plan, fs)? {
        return Ok(StepResult::Skipped(Skip::Installed));
    }
    Err(match &plan.base {
        Some(base) => Error::BaseChanged {
            path: fs.display_path(path),
            expected: base.digest.clone(),
            found: None,
        },
        None => Error::Occupied {
            path: fs.display_path(&plan.object_path),
        },
    })
}

/// Every key the plan writes below the version is there: the root inventory never names
/// missing content, whatever order a caller ran the steps in.
fn check_content(plan: &Plan, fs: &dyn Storage) -> Result<(), Error> {
    let version_dir = join(&plan.object_path, &plan.version.to_string());
    let present = files_below(fs, &version_dir)?;
    for step in &plan.steps {
        let path = match &step.action {
            Action::Upload { path, .. } | Action::Put { path, .. } => path,
            _ => continue,
        };
        if !present.contains(path) && fs.kind_if_exists(path)? != Some(EntryKind::File) {
            return Err(Error::OutOfOrder {
                path: fs.display_path(path),
                reason: "not written yet; the root inventory is written after everything it names"
                    .into(),
            });
        }
    }
    Ok(())
}

/// The files below `dir`, as storage paths, walked through directory handles (on an object
/// store: one listing of every key below `dir`, not one per directory).
fn files_below(fs: &dyn Storage, dir: &str) -> Result<BTreeSet<String>, Error> {
    fn walk(handle: &dyn Directory, path: &str, files: &mut BTreeSet<String>) -> Result<(), Error> {
        for entry in handle.list()? {
            let child = join(path, &entry.name);
            match entry.kind {
                EntryKind::Directory => match handle.open_dir(&entry.name) {
                    Ok(sub) => walk(&*sub, &child, files)?,
                    Err(error) if error.is_not_found() => {}
                    Err(error) => return Err(error.into()),
                },
                _ => {
                    files.insert(child);
                }
            }
        }
        Ok(())
    }
    let mut files = BTreeSet::new();
    match fs.open_dir(dir) {
        Ok(handle) => walk(&*handle, dir, &mut files)?,
        Err(error) if error.is_not_found() => {}
        Err(error) => return Err(error.into()),
    }
    Ok(files)
}

/// Replaces the root sidecar once the root inventory is the new one, only if it is still the
/// base's (a new object's: only if there is none). The base's sidecar is recognised by the
/// digest it holds, not its bytes: other tools write the same digest in other spacing (rocfl:
/// `sha512sum`'s two spaces).
pub(super) fn commit_sidecar(
    plan: &Plan,
    fs: &dyn Storage,
    path: &str,
    session: &Session,
) -> Result<StepResult, Error> {
    let bytes = plan.contents(Contents::Sidecar);
    let (found, tag) = match fs.read_tagged(path) {
        Ok((found, tag)) => (Some(found), tag),
        Err(error) if error.is_not_found() => (None, None),
        Err(error) => return Err(error.into()),
    };
    if found.as_deref() == Some(&bytes[..]) {
        return Ok(StepResult::Skipped(Skip::InPlace));
    }
    // Installed by this session's commit step a moment ago: not read again (two requests).
    // A later version installed since by another writer shows in the sidecar found (its
    // writer replaced it: read the object's state after all) or not yet (this write goes
    // first and that writer's conditional write expects it), as after a fresh read.
    let known = session.knows(&plan.root_inventory_path(), &plan.inventory_digest);
    let state = if known {
        ObjectState::New
    } else {
        object_state(plan, fs)?
    };
    if state == ObjectState::Superseded {
        return Ok(StepResult::Skipped(Skip::Installed));
    }
    if state != ObjectState::New {
        return Err(Error::OutOfOrder {
            path: fs.display_path(path),
            reason: "the root sidecar is written after the root inventory".into(),
        });
    }
    let precondition = match (&plan.base, found, tag) {
        (_, None, _) => Precondition::Absent,
        (Some(base), Some(found), Some(tag))
            if parse_sidecar(&found, plan.digest_algorithm).is_ok_and(|d| d == base.digest) =>
        {
            Precondition::Matches(tag)
        }
        _ if known && object_state(plan, fs)? == ObjectState::Superseded => {
            return Ok(StepResult::Skipped(Skip::Installed));
        }
        _ => {
            return Err(Error::Occupied {
                path: fs.display_path(path),
            });
        }
    };
    match fs.write_if(path, &bytes, &precondition, &[]) {
        Ok(()) => Ok(StepResult::Done {
            bytes: bytes.len() as u64,
        }),
        Err(StorageError::ConditionFailed(_)) => {
            if fs.read(path)? == bytes.as_ref() {
                Ok(StepResult::Skipped(Skip::InPlace))
            } else {
                Err(Error::Occupied {
                    path: fs.display_path(path),
                })
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Gives up an update that has not committed (section 11.5): every key below the claimed
/// version is deleted, the claim last, then a new object's declaration. One that has
/// committed is rolled forward instead. A claim of another update is left alone.
pub(super) fn abandon(plan: &Plan, fs: &dyn Storage) -> Result<(), Error> {
    let state = object_state(plan, fs)?;
    if state == ObjectState::Superseded {
        return Ok(());
    }
    if state == ObjectState::New {
        for step in &plan.steps {
            if matches!(
                step.action,
                Action::CommitSidecar { .. } | Action::Remove { .. }
            ) {
                super::steps::execute(
                    plan,
                    Protocol::ObjectStore,
                    step,
                    fs,
                    &super::steps::NoContent,
                    &Session::default(),
                )?;
            }
        }
        return Ok(());
    }
    let claim = plan.claim_path();
    match check_claim(plan, fs) {
        Ok(()) => {}
        // Not claimed: nothing of this update's can be in the object.
        Err(Error::OutOfOrder { .. }) => return Ok(()),
        Err(Error::Claimed { .. }) => return Ok(()),
        Err(error) => return Err(error),
    }
    let version_dir = join(&plan.object_path, &plan.version.to_string());
    for file in files_below(fs, &version_dir)? {
        if file != claim {
            fs.remove(&file)?;
        }
    }
    fs.remove(&claim)?;
    // The new declaration (a new object's, or an upgrade's next to the old one).
    for step in &plan.steps {
        if let Action::Put { path, .. } = &step.action
            && !path.starts_with(&format!("{version_dir}/"))
        {
            fs.remove(path)?;
        }
    }
    Ok(())
}
