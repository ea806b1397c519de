//! One function per kind of step. Each starts by looking at what is already in place, so
//! that any step can be run again after a crash (`docs/durability.md`, section 6).

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, Read, Write};

use ocfl_core::digest::{Digest, DigestAlgorithm, STREAM_BUFFER};
use ocfl_core::storage::{EntryKind, StorageError};

use super::object::{self, Session};
use super::{ContentSource, Error, Skip, StepResult};
use crate::plan::{Action, Contents, Plan, Protocol, Step};
use crate::stage::EARLY_WRITEBACK_BYTES;
use ocfl_core::storage::{Storage, parent};

pub(super) fn execute(
    plan: &Plan,
    protocol: Protocol,
    step: &Step,
    fs: &dyn Storage,
    source: &dyn ContentSource,
    session: &Session,
) -> Result<StepResult, Error> {
    match &step.action {
        Action::CheckBase if protocol == Protocol::ObjectStore => object::check_base(plan, fs),
        Action::CheckBase => check_base(plan, fs, session),
        Action::Claim { path } => object::claim(plan, fs, path),
        Action::Put { path, contents } => object::put(plan, fs, path, *contents),
        Action::Upload { digest, path } => {
            object::upload(plan, fs, source, digest, path, step.size, session)
        }
        Action::Commit { path } => object::commit(plan, fs, path, session),
        Action::CommitSidecar { path } => object::commit_sidecar(plan, fs, path, session),
        Action::CreateDir { path } => in_work_area(plan, fs, || create_version_dir(plan, fs, path)),
        // A first attempt runs before the version can have left the work area, and a copy
        // writes nothing but the work area anyway: the look at the object is skipped.
        Action::Copy { digest, path, temp } if session.first_attempt => {
            let copy_of = Copy::new(digest, path, temp, step.size);
            copy(
                plan,
                fs,
                source,
                &copy_of,
                Attempt::First(&session.made_dirs),
            )
        }
        Action::Copy { digest, path, temp } => in_work_area(plan, fs, || {
            let copy_of = Copy::new(digest, path, temp, step.size);
            copy(plan, fs, source, &copy_of, Attempt::Again)
        }),
        Action::Flush { path } => in_work_area(plan, fs, || flush(plan, fs, source, path)),
        Action::Write {
            path,
            temp,
            contents,
        } => in_work_area(plan, fs, || write(plan, fs, path, temp, *contents, session)),
        Action::MoveIn { from, to, marker } => move_in(plan, fs, from, to, marker, session),
        Action::Install {
            from,
            to,
            temp,
            contents,
        } => install(plan, fs, from, to, temp, *contents, session),
        Action::Remove { path } if protocol == Protocol::ObjectStore => {
            object::remove(plan, fs, path)
        }
        Action::Remove { path } => remove(plan, fs, path, Some(session)),
        Action::Cleanup { path } => {
            if fs.kind_if_exists(path)?.is_none() {
                return Ok(StepResult::Skipped(Skip::Absent));
            }
            fs.remove(path)?;
            Ok(StepResult::Done { bytes: 0 })
        }
    }
}

pub(super) fn abandon(plan: &Plan, fs: &dyn Storage) -> Result<(), Error> {
    if plan.protocol() == Protocol::ObjectStore {
        return object::abandon(plan, fs);
    }
    if plan.base.is_some() && root_state(plan, fs)? == RootState::New {
        // Past the point of no return: roll forward.
        for step in &plan.steps {
            if matches!(step.action, Action::Install { .. } | Action::Remove { .. }) {
                execute(
                    plan,
                    Protocol::Rename,
                    step,
                    fs,
                    &NoContent,
                    &Session::default(),
                )?;
            }
        }
    } else if plan.base.is_some() {
        let version_dir = plan.installed_path();
        let marker = format!("{version_dir}/inventory.json");
        if fs.kind_if_exists(&version_dir)?.is_some() {
            if !holds_inventory(plan, fs, &marker)? {
                return Err(Error::Occupied { path: version_dir });
            }
            fs.remove(&version_dir)?;
            fs.sync(std::slice::from_ref(&plan.object_path))?;
        }
    }
    fs.remove(&plan.work_path)?;
    Ok(())
}

/// The source of a run that copies nothing more.
pub(super) struct NoContent;

impl ContentSource for NoContent {
    fn location(&self, _digest: &Digest) -> Option<String> {
        None
    }

    fn open(&self, _digest: &Digest) -> io::Result<Box<dyn Read + Send>> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "an abandoned update copies nothing",
        ))
    }
}

/// Runs a work-area step unless the new version has already left the work area.
fn in_work_area(
    plan: &Plan,
    fs: &dyn Storage,
    run: impl FnOnce() -> Result<StepResult, Error>,
) -> Result<StepResult, Error> {
    if fs.kind_if_exists(&plan.installed_path())?.is_some() {
        return Ok(StepResult::Skipped(Skip::Installed));
    }
    run()
}

/// Where the object stands relative to the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RootState {
    /// The root inventory is the plan's base.
    Base,
    /// The root inventory is the plan's new inventory.
    New,
}

/// The object's root inventory against the plan: base or new, anything else is refused.
pub(super) fn root_state(plan: &Plan, fs: &dyn Storage) -> Result<RootState, Error> {
    root_state_in(plan, fs, None)
}

/// [`root_state`], reading the root inventory again only if its tag changed since
/// `session` last read it (or the storage gives no tag).
fn root_state_in(
    plan: &Plan,
    fs: &dyn Storage,
    session: Option<&Session>,
) -> Result<RootState, Error> {
    let path = plan.root_inventory_path();
    let found = root_digest(fs, &path, plan.digest_algorithm, session)?;
    match (&plan.base, found) {
        (_, Some(digest)) if digest == plan.inventory_digest => Ok(RootState::New),
        (Some(base), Some(digest)) if digest == base.digest => Ok(RootState::Base),
        (Some(base), found) => Err(Error::BaseChanged {
            path,
            expected: base.digest.clone(),
            found,
        }),
        // A new object has no root inventory until it is moved into place whole.
        (None, None) => Ok(RootState::Base),
        (None, Some(_)) => Err(Error::Occupied {
            path: plan.object_path.clone(),
        }),
    }
}

fn check_base(plan: &Plan, fs: &dyn Storage, session: &Session) -> Result<StepResult, Error> {
    if plan.base.is_none() && fs.kind_if_exists(&plan.object_path)?.is_some() {
        // Only this plan's finished object may already be there.
        let marker = format!("{}/{}/inventory.json", plan.object_path, plan.version);
        return if holds_inventory(plan, fs, &marker)? {
            Ok(StepResult::Skipped(Skip::Installed))
        } else {
            Err(Error::Occupied {
                path: plan.object_path.clone(),
            })
        };
    }
    root_state_in(plan, fs, Some(session))?;
    Ok(StepResult::Done { bytes: 0 })
}

/// One content file to copy: the digest and size of its bytes, its path in the version and
/// the temporary name it is written under.
struct Copy<'a> {
    digest: &'a Digest,
    path: &'a str,
    temp: &'a str,
    size: u64,
}

impl<'a> Copy<'a> {
    fn new(digest: &'a Digest, path: &'a str, temp: &'a str, size: u64) -> Copy<'a> {
        Copy {
            digest,
            path,
            temp,
            size,
        }
    }
}

/// Whether a copy may find an earlier run's work in place.
#[derive(Clone, Copy)]
enum Attempt<'a> {
    /// The batch's first attempt ([`super::Executor::first_attempt`]): no earlier run of it
    /// wrote anything, so the final path is not looked at first (a file there, left by an
    /// earlier failed batch, is replaced whole by the rename). The directories it made are
    /// remembered, so a directory is made once per batch, not once per file.
    First(&'a MadeDirs),
    /// The step may have run before: what is in place is checked and kept if it is whole.
    Again,
}

/// The directories a batch's copies created. Only a failed flush and the move into the object
/// take directories of the work area away, and neither is followed by a copy in the same
/// batch; a copy that finds a remembered directory gone falls back to creating it.
#[derive(Debug, Default)]
pub(super) struct MadeDirs(RefCell<HashSet<String>>);

impl MadeDirs {
    /// Creates `dir` (and its parents) unless this batch already did.
    fn create(&self, fs: &dyn Storage, dir: &str) -> Result<(), StorageError> {
        if self.0.borrow().contains(dir) {
            return Ok(());
        }
        fs.create_dir(dir)?;
        self.0.borrow_mut().insert(dir.to_owned());
        Ok(())
    }
}

fn copy(
    plan: &Plan,
    fs: &dyn Storage,
    source: &dyn ContentSource,
    copy: &Copy<'_>,
    attempt: Attempt<'_>,
) -> Result<StepResult, Error> {
    let Copy {
        digest,
        path,
        temp,
        size,
    } = *copy;
    let algorithm = plan.digest_algorithm;
    // A file left by an earlier run is kept only if it is whole: a torn one is rewritten.
    if matches!(attempt, Attempt::Again)
        && let Some((found, found_size)) = file_digest(fs, path, algorithm)?
        && found == *digest
        && found_size == size
    {
        return Ok(StepResult::Skipped(Skip::InPlace));
    }
    let make_dir = |dir: &str| match attempt {
        Attempt::First(made) => made.create(fs, dir),
        Attempt::Again => fs.create_dir(dir),
    };
    // Whether a rename into `path` failed for want of a file, which may be for want of the
    // directory: then it is made again below, not taken from memory.
    let mut missing = false;
    if let Some(prepared) = source.prepared(digest) {
        // Spooled while it was staged: already hashed as it was written, so the source is
        // not read again (see `ContentSource::prepared`). Renamed without looking first: a
        // file that is not there (not spooled, or a spool of another boot) fails the rename
        // with "not found", and the source is copied instead.
        make_dir(parent(path))?;
        match fs.rename(&prepared, path) {
            Ok(()) => return Ok(StepResult::Done { bytes: size }),
            Err(e) if e.is_not_found() => missing = true,
            Err(e) => return Err(e.into()),
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
    make_dir(parent(temp))?;
    if missing {
        fs.create_dir(parent(path))?;
    } else {
        make_dir(parent(path))?;
    }
    let mut writer = fs.create(temp)?;
    let (found, found_size) =
        stream(&mut reader, &mut writer, algorithm, temp).map_err(|e| match e {
            StreamError::Read(error) => unavailable(error),
            StreamError::Write(error) => error.into(),
        })?;
    writer.finish()?;
    if size >= EARLY_WRITEBACK_BYTES {
        // The version's flush then finds less to write.
        fs.start_writeback(temp);
    }
    if found != *digest || found_size != size {
        // Nothing was renamed into the version; the temporary file goes with the work area.
        fs.remove(temp)?;
        return Err(Error::SourceChanged {
            source_file: location,
            expected: digest.clone(),
            expected_size: size,
            found,
            found_size,
        });
    }
    fs.rename(temp, path)?;
    Ok(StepResult::Done { bytes: size })
}

/// The name of the marker of boot `boot` in the work directory.
fn boot_marker(plan: &Plan, boot: &str) -> String {
    format!("{}/{BOOT_MARKER}{boot}", plan.work_path)
}

/// Marks the work directory with the storage's boot: the durable engine acknowledges each
/// copy once it returns, before its data is flushed (`flush-content` flushes them all in one
/// batch), so a run resumed after a power cut must know that copies of another boot may have
/// lost their data or their names (`docs/durability.md`, section 6).
const BOOT_MARKER: &str = "boot-";

/// Creates the version directory, marks the work directory with the boot its copies run
/// under, and makes both durable up to the storage's root: the steps after it are
/// acknowledged on the assumption that their directories do not vanish.
fn create_version_dir(plan: &Plan, fs: &dyn Storage, path: &str) -> Result<StepResult, Error> {
    fs.create_dir(path)?;
    let mut dirs = vec![path.to_owned()];
    if let Some(boot) = fs.boot_id() {
        let marker = boot_marker(plan, &boot);
        if fs.kind_if_exists(&marker)?.is_none() {
            fs.create(&marker)?.finish()?;
        }
        dirs.push(plan.work_path.clone());
    }
    sync_up(fs, &dirs)?;
    Ok(StepResult::Done { bytes: 0 })
}

/// Whether copies made under another boot than the current one (or under an unknown boot)
/// may be in the work directory: then their unflushed data or names may have been lost.
fn copies_of_another_boot(plan: &Plan, fs: &dyn Storage) -> Result<bool, Error> {
    let Some(boot) = fs.boot_id() else {
        return Ok(true);
    };
    let current = format!("{BOOT_MARKER}{boot}");
    let entries = match fs.list(&plan.work_path) {
        Ok(entries) => entries,
        Err(e) if e.is_not_found() => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let mut own = false;
    for entry in entries {
        if entry.name == current {
            own = true;
        } else if entry.name.starts_with(BOOT_MARKER) {
            return Ok(true);
        }
    }
    Ok(!own)
}

/// Flushes the new version's content in one batch. A failed flush leaves the content's state
/// on disk unknown (`docs/durability.md` section 8, assumption 6: Linux may drop the pages it
/// could not write and serve them from memory until they are evicted), and flushing again
/// would not make it known. So the content goes, and the step, run again, copies it anew
/// before flushing: one `stat` of the content directory tells.
fn flush(
    plan: &Plan,
    fs: &dyn Storage,
    source: &dyn ContentSource,
    dir: &str,
) -> Result<StepResult, Error> {
    // Walked again where needed rather than collected: a plan of a million copies would hold
    // a million entries here, on top of the plan itself, while the flush lists the tree.
    let copies = || {
        plan.steps.iter().filter_map(|s| match &s.action {
            Action::Copy { digest, path, temp } => {
                Some((digest, path.as_str(), temp.as_str(), s.size))
            }
            _ => None,
        })
    };
    // The content directory the copies write below (`W/vN/content`).
    let content = copies().next().and_then(|(_, path, _, _)| {
        let rest = path.strip_prefix(dir)?.strip_prefix('/')?;
        let (top, _) = rest.split_once('/')?;
        Some(format!("{dir}/{top}"))
    });
    let mut bytes = 0;
    // After a power cut the copies acknowledged before it may be gone, short or stale (their
    // names too): each is checked by its digest and copied again if it is not whole.
    let recheck = copies().next().is_some() && copies_of_another_boot(plan, fs)?;
    if recheck
        || content
            .as_ref()
            .map(|c| fs.kind_if_exists(c))
            .transpose()?
            .is_some_and(|kind| kind.is_none())
    {
        for (digest, path, temp, size) in copies() {
            let copy_of = Copy::new(digest, path, temp, size);
            if let StepResult::Done { bytes: written } =
                copy(plan, fs, source, &copy_of, Attempt::Again)?
            {
                bytes += written;
            }
        }
    }
    if let Err(error) = fs.sync_tree(dir) {
        if let Some(content) = &content {
            // If even this fails, the device is failing: the run stalls on the flush, and
            // verification reads back whatever is left.
            let _ = fs.remove(content);
        }
        return Err(error.into());
    }
    // The version's entry in the work directory is flushed; the work directory's own
    // entries above it must be too, or the version could vanish with them; and the
    // directories the copies were renamed from (a rename is durable once both are flushed).
    let mut dirs = vec![parent(dir).to_owned()];
    for (_, _, temp, _) in copies() {
        let from = parent(temp);
        if !dirs.iter().any(|d| d == from) && fs.kind_if_exists(from)?.is_some() {
            dirs.push(from.to_owned());
        }
    }
    sync_up(fs, &dirs)?;
    Ok(StepResult::Done { bytes })
}

pub(super) enum StreamError {
    Read(io::Error),
    Write(StorageError),
}

/// Copies `reader` to `writer`, hashing what passes through.
pub(super) fn stream(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    algorithm: DigestAlgorithm,
    temp: &str,
) -> Result<(Digest, u64), StreamError> {
    let mut hasher = algorithm.hasher();
    let mut buffer = vec![0u8; STREAM_BUFFER];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StreamError::Read(e)),
        };
        hasher.update(&buffer[..n]);
        writer
            .write_all(&buffer[..n])
            .map_err(|e| StreamError::Write(StorageError::io("write", temp, e)))?;
        size += n as u64;
    }
    writer
        .flush()
        .map_err(|e| StreamError::Write(StorageError::io("write", temp, e)))?;
    Ok((hasher.finalize(), size))
}

fn write(
    plan: &Plan,
    fs: &dyn Storage,
    path: &str,
    temp: &str,
    contents: Contents,
    session: &Session,
) -> Result<StepResult, Error> {
    let bytes = plan.contents(contents);
    let expected = plan.contents_digest(contents, &bytes);
    if holds_bytes(fs, path, plan.digest_algorithm, &expected, bytes.len())? {
        // The rename may have happened without the directory flush that follows it.
        fs.sync(&[parent(path).to_owned()])?;
        session.wrote(path, &expected);
        return Ok(StepResult::Skipped(Skip::InPlace));
    }
    write_durably(fs, path, temp, &bytes)?;
    session.wrote(path, &expected);
    Ok(StepResult::Done {
        bytes: bytes.len() as u64,
    })
}

/// Temporary file, flush, rename, flush the directory.
fn write_durably(fs: &dyn Storage, path: &str, temp: &str, bytes: &[u8]) -> Result<(), Error> {
    fs.create_dir(parent(temp))?;
    fs.create_dir(parent(path))?;
    let mut writer = fs.create(temp)?;
    writer
        .write_all(bytes)
        .and_then(|()| writer.flush())
        .map_err(|e| StorageError::io("write", temp, e))?;
    writer.finish()?;
    fs.sync(&[temp.to_owned()])?;
    fs.rename(temp, path)?;
    // A rename is durable once both directories are flushed (section 8, assumption 2); and
    // every directory above, not only the parent: the work directory's own entries may not
    // be durable yet, and the step is acknowledged once this returns.
    sync_up(fs, &[parent(path).to_owned(), parent(temp).to_owned()])?;
    Ok(())
}

fn move_in(
    plan: &Plan,
    fs: &dyn Storage,
    from: &str,
    to: &str,
    marker: &str,
    session: &Session,
) -> Result<StepResult, Error> {
    if fs.kind_if_exists(to)?.is_some() {
        if holds_inventory(plan, fs, marker)? {
            sync_chain(fs, to)?;
            return Ok(StepResult::Skipped(Skip::InPlace));
        }
        return Err(Error::Occupied {
            path: to.to_owned(),
        });
    }
    if plan.base.is_some() {
        root_state_in(plan, fs, Some(session))?;
    }
    fs.create_dir(parent(to))?;
    rename_into(fs, from, to)?;
    session.moved(from, to);
    sync_chain(fs, to)?;
    fs.sync(&[parent(from).to_owned()])?;
    Ok(StepResult::Done { bytes: 0 })
}

fn install(
    plan: &Plan,
    fs: &dyn Storage,
    from: &str,
    to: &str,
    temp: &str,
    contents: Contents,
    session: &Session,
) -> Result<StepResult, Error> {
    let bytes = plan.contents(contents);
    let expected = plan.contents_digest(contents, &bytes);
    if holds_bytes(fs, to, plan.digest_algorithm, &expected, bytes.len())? {
        fs.sync(&[parent(to).to_owned()])?;
        return Ok(StepResult::Skipped(Skip::InPlace));
    }
    // The object root is looked at every time: another writer may have changed it (read
    // again unless its tag is the one these steps read it with). The new version and the
    // prepared file are this update's own, so what these steps wrote there is not read back.
    root_state_in(plan, fs, Some(session))?;
    let marker = format!("{}/{}/inventory.json", plan.object_path, plan.version);
    if !session.knows(&marker, &plan.inventory_digest) && !holds_inventory(plan, fs, &marker)? {
        return Err(Error::OutOfOrder {
            path: to.to_owned(),
            reason: format!(
                "{} is not yet in the object; the root files are installed after it",
                plan.version
            ),
        });
    }
    if !session.knows(from, &expected)
        && !holds_bytes(fs, from, plan.digest_algorithm, &expected, bytes.len())?
    {
        write_durably(fs, from, temp, &bytes)?;
    }
    rename_into(fs, from, to)?;
    // Both directories of the rename (section 8, assumption 2).
    fs.sync(&[parent(to).to_owned(), parent(from).to_owned()])?;
    Ok(StepResult::Done {
        bytes: bytes.len() as u64,
    })
}

pub(super) fn remove(
    plan: &Plan,
    fs: &dyn Storage,
    path: &str,
    session: Option<&Session>,
) -> Result<StepResult, Error> {
    if fs.kind_if_exists(path)?.is_none() {
        return Ok(StepResult::Skipped(Skip::Absent));
    }
    // The old declaration goes only once the new one and the new inventory are in place.
    let declaration = format!(
        "{}/{}",
        plan.object_path,
        ocfl_core::namaste::Declaration::object(plan.spec_version).file_name()
    );
    if root_state_in(plan, fs, session)? != RootState::New
        || fs.kind_if_exists(&declaration)?.is_none()
    {
        return Err(Error::OutOfOrder {
            path: path.to_owned(),
            reason: "the new inventory and declaration must be installed first".into(),
        });
    }
    fs.remove(path)?;
    fs.sync(&[parent(path).to_owned()])?;
    Ok(StepResult::Done { bytes: 0 })
}

fn rename_into(fs: &dyn Storage, from: &str, to: &str) -> Result<(), Error> {
    fs.rename(from, to).map_err(|e| match e {
        StorageError::Io { source, .. } if source.kind() == io::ErrorKind::CrossesDevices => {
            Error::CrossDevice {
                from: from.to_owned(),
                to: to.to_owned(),
            }
        }
        other => other.into(),
    })
}

/// Flushes each of `dirs` and every directory above them up to the storage's root.
fn sync_up(fs: &dyn Storage, dirs: &[String]) -> Result<(), Error> {
    let mut all: Vec<String> = Vec::new();
    for dir in dirs {
        let mut current = dir.as_str();
        loop {
            if !all.iter().any(|d| d == current) {
                all.push(current.to_owned());
            }
            if current.is_empty() {
                break;
            }
            current = parent(current);
        }
    }
    fs.sync(&all)?;
    Ok(())
}

/// Flushes the directory holding `path` and every ancestor up to the filesystem root, so a
/// new object's freshly created parent directories are durable too.
fn sync_chain(fs: &dyn Storage, path: &str) -> Result<(), Error> {
    let mut dirs = Vec::new();
    let mut current = path;
    while !current.is_empty() {
        current = parent(current);
        dirs.push(current.to_owned());
    }
    fs.sync(&dirs)?;
    Ok(())
}

/// Whether the regular file at `path` has digest `expected`.
pub(super) fn holds(
    fs: &dyn Storage,
    path: &str,
    algorithm: DigestAlgorithm,
    expected: &Digest,
) -> Result<bool, Error> {
    Ok(file_digest(fs, path, algorithm)?.is_some_and(|(d, _)| d == *expected))
}

/// Whether the regular file at `path` holds `len` bytes whose digest is `expected`. A file
/// of another size is told apart by its size alone, without reading it: the inventories
/// these checks meet are tens of megabytes for a large object.
fn holds_bytes(
    fs: &dyn Storage,
    path: &str,
    algorithm: DigestAlgorithm,
    expected: &Digest,
    len: usize,
) -> Result<bool, Error> {
    if fs.kind_if_exists(path)? != Some(EntryKind::File) || fs.size(path)? != len as u64 {
        return Ok(false);
    }
    holds(fs, path, algorithm, expected)
}

/// Whether the regular file at `path` holds the plan's new inventory.
pub(super) fn holds_inventory(plan: &Plan, fs: &dyn Storage, path: &str) -> Result<bool, Error> {
    holds_bytes(
        fs,
        path,
        plan.digest_algorithm,
        &plan.inventory_digest,
        plan.inventory.len(),
    )
}

/// The digest of the root inventory at `path`, or `None` if there is none. With a session,
/// its tag is looked at first, and a tag the session saw before it last read the file gives
/// the digest it read then, without reading the file again: no change of the file keeps its
/// tag (`Storage::file_info`). The tag is taken before the read, so a change during the read
/// gives another tag next time.
fn root_digest(
    fs: &dyn Storage,
    path: &str,
    algorithm: DigestAlgorithm,
    session: Option<&Session>,
) -> Result<Option<Digest>, Error> {
    let Some(session) = session else {
        return Ok(file_digest(fs, path, algorithm)?.map(|(digest, _)| digest));
    };
    // No tag (not found, not a settled file, a storage without tags): read it.
    let tag = fs.file_info(path).ok().and_then(|info| info.tag);
    if let Some(digest) = tag
        .as_ref()
        .and_then(|tag| session.root_digest(path, tag, algorithm))
    {
        return Ok(Some(digest));
    }
    let found = file_digest(fs, path, algorithm)?.map(|(digest, _)| digest);
    if let (Some(tag), Some(digest)) = (tag, &found) {
        session.read_root(path, tag, algorithm, digest.clone());
    }
    Ok(found)
}

/// The digest and size of the regular file at `path`, or `None` if there is none.
fn file_digest(
    fs: &dyn Storage,
    path: &str,
    algorithm: DigestAlgorithm,
) -> Result<Option<(Digest, u64)>, Error> {
    if fs.kind_if_exists(path)? != Some(EntryKind::File) {
        return Ok(None);
    }
    let mut reader = fs.open(path)?;
    let (digest, size) =
        stream(&mut reader, &mut io::sink(), algorithm, path).map_err(|e| match e {
            StreamError::Read(error) => StorageError::io("read", path, error),
            StreamError::Write(error) => error,
        })?;
    Ok(Some((digest, size)))
}
