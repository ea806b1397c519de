//! Where the activities do their I/O: the storage root, the work area beside it, the blob
//! directory, and who hears about progress.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ocfl_core::SpecVersion;
use ocfl_core::layout::{LayoutError, LayoutRegistry};
use ocfl_core::location::{LocalWorkArea, LocationError};
use ocfl_core::object::{ObjectError, StorageRoot};
use ocfl_core::storage::{EntryKind, LocalStorage, Storage, StorageError, join, parent};
use ocfl_plan::exec::RootTags;

use crate::blobs::Blobs;
use crate::refusal::{ActivityError, RefusalKind};

/// Why an [`Environment`] cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The storage root cannot be resolved (it does not exist, or cannot be read).
    #[error("storage root {}: {source}", path.display())]
    Root {
        /// The path given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The storage root's work area cannot be used (see [`ocfl_core::location`]).
    #[error(transparent)]
    Location(#[from] LocationError),
}

/// What the activities report while they work, for progress displays. Called from the
/// worker's threads; keep it quick.
pub trait ProgressSink: Send + Sync {
    /// Something happened in run `event.run()`.
    fn event(&self, event: &ProgressEvent<'_>);
}

/// One progress report from an activity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent<'a> {
    /// The source is being read: `files` files and `bytes` bytes so far (the totals are
    /// not known until the walk ends). Sent a few times a second at most.
    Staging {
        /// The run.
        run: &'a str,
        /// Files read so far.
        files: u64,
        /// Bytes read so far.
        bytes: u64,
    },
    /// The source was read: `files` files, `bytes` bytes.
    Staged {
        /// The run.
        run: &'a str,
        /// Files staged.
        files: u64,
        /// Their total size.
        bytes: u64,
    },
    /// The update was planned: `steps` steps writing `bytes` bytes make `version`.
    Planned {
        /// The run.
        run: &'a str,
        /// The version being written.
        version: &'a str,
        /// The number of steps.
        steps: u64,
        /// The bytes the steps write.
        bytes: u64,
    },
    /// Step `index` (0-based, of `total`) finished (in any order: copies run in parallel).
    Step {
        /// The run.
        run: &'a str,
        /// The step's position in the plan.
        index: u64,
        /// The plan's number of steps.
        total: u64,
        /// The step id (`copy v1/content/a.txt`, `root-inventory`).
        id: &'a str,
        /// What the step does, for people (`write v1/inventory.json`; see
        /// `ocfl_plan::plan::Plan::describe`).
        label: &'a str,
        /// The bytes the step writes (also when it found them already in place).
        bytes: u64,
        /// Whether the result was already in place (a resumed run).
        skipped: bool,
    },
    /// Step `index` (a content copy or upload) has read and sent `bytes` more bytes of its
    /// file: progress while a large file is on its way. The step's [`ProgressEvent::Step`]
    /// still comes when it is done, with the file's whole size.
    Sending {
        /// The run.
        run: &'a str,
        /// The step's position in the plan.
        index: u64,
        /// Bytes read and sent since the last such event of the step.
        bytes: u64,
    },
    /// The object validated at its new version.
    Verified {
        /// The run.
        run: &'a str,
        /// The version.
        version: &'a str,
    },
}

impl ProgressEvent<'_> {
    /// The run the event belongs to.
    pub fn run(&self) -> &str {
        match self {
            ProgressEvent::Staging { run, .. }
            | ProgressEvent::Staged { run, .. }
            | ProgressEvent::Planned { run, .. }
            | ProgressEvent::Step { run, .. }
            | ProgressEvent::Sending { run, .. }
            | ProgressEvent::Verified { run, .. } => run,
        }
    }
}

/// The storage root the activities update and the state directory they keep run data in.
///
/// Files are written through a [`Storage`] rooted at a directory holding both the storage
/// root and its work area (the root's parent by default), so that each run's work directory
/// is outside the root (`<root>.ocfl-work/<run>`, see `docs/durability.md`) and finished
/// versions are moved into objects by one rename. Where the work area is, including the
/// in-root fallback for a root that is a mount point, is decided by [`LocalWorkArea`] alone.
pub struct Environment {
    root: PathBuf,
    root_name: String,
    /// The directory holding the runs' work directories, in [`Environment::fs`].
    work_dir: String,
    /// The storage root's parent directory, through which runs write.
    fs: Arc<dyn Storage>,
    /// The storage root itself, for reading (layouts, validation).
    storage: Arc<dyn Storage>,
    pub(crate) blobs: Blobs,
    /// The digests of objects' root inventories by their tags, as this process last read
    /// them: shared by the pre-run check and every batch of steps, so that a batch does not
    /// hash a root inventory again that has not changed since (`docs/durability.md`,
    /// section 6).
    pub(crate) root_tags: Arc<RootTags>,
    progress: Option<Arc<dyn ProgressSink>>,
    /// The layouts the root's `ocfl_layout.json` may name.
    layouts: LayoutRegistry,
    /// Where each run's object is, by run: the root is opened (listed, its declaration and
    /// layout read: three requests on an object store) once a run, not by every activity
    /// that needs the object's path or the root's version.
    placements: Mutex<HashMap<String, Placement>>,
}

/// What a run learned by opening the storage root: where its object is and the version the
/// root declares. A root's declaration and layout do not change while a run writes into it.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    object_id: String,
    /// The object's path relative to the storage root.
    pub(crate) path: String,
    /// The specification version the root declares.
    pub(crate) spec_version: SpecVersion,
}

/// Runs whose placement is remembered at most; past it the memory starts again (a run that
/// ended in another process is never forgotten here otherwise).
const PLACEMENTS_KEPT: usize = 1024;

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Environment {
    /// The storage root at `storage_root` (which must exist) with its default work area,
    /// with run data kept below `state_dir` (created when first needed).
    pub fn local(storage_root: &Path, state_dir: &Path) -> Result<Environment, EnvError> {
        Ok(Environment::at(
            &LocalWorkArea::of(storage_root, None)?,
            state_dir,
        ))
    }

    /// The storage root and work area of `work`, with run data kept below `state_dir`
    /// (created when first needed).
    pub fn at(work: &LocalWorkArea, state_dir: &Path) -> Environment {
        Environment {
            fs: Arc::new(LocalStorage::new(&work.base)),
            work_dir: work.runs.clone(),
            storage: Arc::new(LocalStorage::new(work.root_path())),
            blobs: Blobs::new(Arc::new(LocalStorage::new(state_dir))),
            root: work.root_path(),
            root_name: work.root.clone(),
            progress: None,
            layouts: LayoutRegistry::new(),
            placements: Mutex::default(),
            root_tags: Arc::default(),
        }
    }

    /// A storage root reached through storages other than local directories (an object
    /// store): `root` names it (its URL, as runs record it and as [`UpdateService`] for it
    /// is made with [`UpdateService::for_location`]); `fs` holds the root at `root_name` and
    /// the runs' work directories below `work_dir`; `storage` is the root itself. A store
    /// whose renames are not atomic gets plans of the object-store protocol
    /// (`docs/durability.md`, section 11), which write nothing to the work area.
    ///
    /// [`UpdateService`]: crate::UpdateService
    /// [`UpdateService::for_location`]: crate::UpdateService::for_location
    pub fn over(
        root: &str,
        fs: Arc<dyn Storage>,
        root_name: &str,
        work_dir: &str,
        storage: Arc<dyn Storage>,
        state_dir: &Path,
    ) -> Environment {
        Environment {
            fs,
            work_dir: work_dir.to_owned(),
            storage,
            blobs: Blobs::new(Arc::new(LocalStorage::new(state_dir))),
            root: PathBuf::from(root),
            root_name: root_name.to_owned(),
            progress: None,
            layouts: LayoutRegistry::new(),
            placements: Mutex::default(),
            root_tags: Arc::default(),
        }
    }

    /// Writes the storage root through `storage` instead (a test double, say). `storage`
    /// must be rooted at the storage root's parent directory.
    pub fn with_storage(mut self, storage: Arc<dyn Storage>) -> Environment {
        self.fs = storage;
        self
    }

    /// Keeps run data through `storage` (rooted at the state directory) instead.
    pub fn with_state_storage(mut self, storage: Arc<dyn Storage>) -> Environment {
        self.blobs = Blobs::new(storage);
        self
    }

    /// Opens the root with `layouts`, so a root whose layout is an institution's own
    /// (registered there) can be updated.
    pub fn with_layouts(mut self, layouts: LayoutRegistry) -> Environment {
        self.layouts = layouts;
        self
    }

    /// Reports progress to `sink`.
    pub fn with_progress(mut self, sink: Arc<dyn ProgressSink>) -> Environment {
        self.progress = Some(sink);
        self
    }

    /// The storage root (absolute, links resolved).
    pub fn storage_root(&self) -> &Path {
        &self.root
    }

    /// The storage root's parent directory, holding the root and its work area.
    pub(crate) fn fs(&self) -> &dyn Storage {
        self.fs.as_ref()
    }

    /// The storage root itself (for layouts and validation).
    pub(crate) fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// The storage root's path in [`Environment::fs`].
    pub(crate) fn root_name(&self) -> &str {
        &self.root_name
    }

    /// Who hears about progress, if anyone.
    pub(crate) fn progress_sink(&self) -> Option<Arc<dyn ProgressSink>> {
        self.progress.clone()
    }

    pub(crate) fn report(&self, event: &ProgressEvent<'_>) {
        if let Some(sink) = &self.progress {
            sink.event(event);
        }
    }

    /// The storage root, its declaration and layout read.
    fn open_root(&self) -> Result<StorageRoot<'_>, ActivityError> {
        // Opening the root checks its declaration too: a directory that is not a storage
        // root, or one declaring a specification version we do not know (a newer one), is
        // refused before anything is written into it.
        // A read that failed (a server error, a timeout) says nothing about the root: it is
        // retried like any other I/O error, not taken for a bad root.
        StorageRoot::open_with_layouts(self.storage(), &self.layouts).map_err(|e| {
            let message = format!("storage root {}: {e}", self.root.display());
            match e {
                ObjectError::Storage(StorageError::Io { source, .. })
                | ObjectError::RootLayout(LayoutError::Storage(StorageError::Io {
                    source, ..
                })) if source.kind() != std::io::ErrorKind::PermissionDenied => {
                    ActivityError::Transient(message)
                }
                _ => ActivityError::refused(RefusalKind::Configuration, message),
            }
        })
    }

    /// Where the object `object_id` lives, relative to the storage root, by the root's layout,
    /// and the version the root declares (what a new object gets unless the command names
    /// one, since an object newer than its root is invalid, E081). The root is opened for
    /// this, every time: see [`Environment::run_placement`].
    pub(crate) fn placement(&self, object_id: &str) -> Result<Placement, ActivityError> {
        let root = self.open_root()?;
        let layout = root
            .layout()
            .ok_or_else(|| {
                ActivityError::refused(
                    RefusalKind::Configuration,
                    format!(
                        "storage root {}: it has no ocfl_layout.json, so objects cannot be placed in it",
                        self.root.display()
                    ),
                )
            })?;
        let path = layout.map_object_id(object_id).map_err(|e| {
            ActivityError::refused(
                RefusalKind::Configuration,
                format!("object {object_id}: {e}"),
            )
        })?;
        self.check_plain_dirs(&path)?;
        Ok(Placement {
            object_id: object_id.to_owned(),
            path,
            spec_version: root.spec_version(),
        })
    }

    /// [`Environment::placement`] for run `run`: found once and remembered until the run's
    /// data is removed ([`Environment::forget_placement`]).
    pub(crate) fn run_placement(
        &self,
        run: &str,
        object_id: &str,
    ) -> Result<Placement, ActivityError> {
        if let Some(known) = self.placements().get(run)
            && known.object_id == object_id
        {
            return Ok(known.clone());
        }
        let placement = self.placement(object_id)?;
        let mut placements = self.placements();
        if placements.len() >= PLACEMENTS_KEPT {
            placements.clear();
        }
        placements.insert(run.to_owned(), placement.clone());
        Ok(placement)
    }

    /// Forgets where run `run`'s object is: the run ended.
    pub(crate) fn forget_placement(&self, run: &str) {
        self.placements().remove(run);
    }

    fn placements(&self) -> std::sync::MutexGuard<'_, HashMap<String, Placement>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.placements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the object `object_id` lives, relative to the storage root, by the root's layout.
    pub(crate) fn object_path(&self, object_id: &str) -> Result<String, ActivityError> {
        Ok(self.placement(object_id)?.path)
    }

    /// Refuses an object with an active mutable HEAD (extension 0005, which Fedora 6
    /// writes): the extension forbids new root versions while it exists, since the mutable
    /// HEAD already claims the next version number.
    pub(crate) fn check_no_mutable_head(
        &self,
        object_id: &str,
        path: &str,
    ) -> Result<(), ActivityError> {
        let found = ocfl_core::object::mutable_head::has_mutable_head(self.storage(), path)
            .map_err(|e| ActivityError::Transient(format!("object {object_id}: {e}")))?;
        if found {
            return Err(ActivityError::refused(
                RefusalKind::Conflict,
                format!(
                    "object {object_id} has a mutable HEAD ({}, extension 0005, as Fedora 6 writes): its uncommitted version would conflict with a new one, so the object is left as it is; commit or purge the mutable HEAD with the tool that made it first (`ocfl ls {object_id} --mutable-head` shows it)",
                    ocfl_core::object::mutable_head::EXTENSION_DIR
                ),
            ));
        }
        Ok(())
    }

    /// Refuses an object path that passes through a symbolic link (or a file) inside the
    /// storage root: reading or writing through it would reach outside the root.
    fn check_plain_dirs(&self, path: &str) -> Result<(), ActivityError> {
        let mut prefix = String::new();
        for element in path.split('/') {
            prefix = join(&prefix, element);
            let what = match self.storage.kind(&prefix) {
                Ok(EntryKind::Directory) => continue,
                Ok(EntryKind::Symlink) => "a symbolic link",
                Ok(_) => "not a directory",
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            return Err(ActivityError::refused(
                RefusalKind::Conflict,
                format!(
                    "storage root {}: {prefix} is {what}; refusing to read or write the object through it",
                    self.root.display()
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a run meant for another storage root (workers of several roots sharing one
    /// engine store would otherwise write into the wrong one).
    pub(crate) fn check_root(&self, run: &str, root: &str) -> Result<(), ActivityError> {
        if Path::new(root) == self.root {
            return Ok(());
        }
        Err(ActivityError::refused(
            RefusalKind::Configuration,
            format!(
                "run {run} is for storage root {root}, but this worker serves {}",
                self.root.display()
            ),
        ))
    }

    /// `object_path` in [`Environment::fs`].
    pub(crate) fn fs_path(&self, object_path: &str) -> String {
        join(&self.root_name, object_path)
    }

    /// A run's work directory in [`Environment::fs`]: beside the root, not in it (unless the
    /// root is a mount point).
    pub(crate) fn work_path(&self, run: &str) -> String {
        format!("{}/{run}", self.work_dir)
    }

    /// Removes what `run` may have left in the work area and the state directory: its work
    /// directory and its blobs. A run removes both itself when it ends (its clean-up
    /// activity), so this finds something only after a clean-up that failed.
    pub(crate) fn remove_run_data(&self, run: &str) -> Result<(), StorageError> {
        self.fs.remove(&self.work_path(run))?;
        self.tidy_work_dir()?;
        self.blobs.remove_run(run)?;
        self.blobs.forget_run(run);
        self.forget_placement(run);
        Ok(())
    }

    /// Removes the work area inside a mount-point root once no run uses it: left empty, it
    /// would make the root invalid (E073).
    pub(crate) fn tidy_work_dir(&self) -> Result<(), StorageError> {
        if self.work_dir.starts_with(&format!("{}/", self.root_name))
            && self.fs.remove_empty_dir(&self.work_dir)?
        {
            self.fs.sync(&[parent(&self.work_dir).to_owned()])?;
        }
        Ok(())
    }
}

/// The storage root as an absolute path with links resolved, so that one root reached by two
/// spellings is one root (run ids depend on it).
pub(crate) fn canonical_root(path: &Path) -> Result<PathBuf, EnvError> {
    std::fs::canonicalize(path).map_err(|source| EnvError::Root {
        path: path.to_path_buf(),
        source,
    })
}
