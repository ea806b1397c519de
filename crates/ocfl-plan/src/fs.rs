//! The filesystem seam the executor writes through.
//!
//! [`ocfl_core::storage::Storage`] makes every write durable on its own (one `fsync` per file);
//! the update protocol (`docs/durability.md`) needs finer control: unflushed writes and renames
//! inside the work directory, then one batched flush. [`Filesystem`] offers exactly the
//! operations the protocol uses, so a test double can count them and "crash" at any one.
//!
//! Paths are relative, `/`-separated storage paths (checked by
//! [`check_storage_path`]); the empty string is the filesystem's root.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ocfl_core::storage::{EntryKind, LocalStorage, Storage, StorageError, check_storage_path};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The operations the update protocol performs. Nothing here flushes unless it says so.
pub trait Filesystem: Send + Sync {
    /// The kind of the entry at `path` (links not followed), or `None` if nothing is there.
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, StorageError>;

    /// Opens the regular file at `path` for reading.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError>;

    /// Creates (or truncates) the file at `path`, whose parent must exist, for writing.
    fn create(&self, path: &str) -> Result<Box<dyn Write + Send>, StorageError>;

    /// Creates directory `path` and any missing parents (no error if it exists).
    fn create_dir_all(&self, path: &str) -> Result<(), StorageError>;

    /// Renames `from` to `to` atomically (replacing a file at `to`). Not flushed: call
    /// [`Filesystem::sync`] on both parents to make it durable.
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError>;

    /// Removes the file or directory tree at `path`; nothing there is not an error.
    fn remove(&self, path: &str) -> Result<(), StorageError>;

    /// Removes the directory at `path` if it is empty (`rmdir`, so a directory another
    /// writer has just put something in is never removed). Returns whether nothing is left
    /// at `path`: `false` for a directory that is not empty. Used to tidy the layout
    /// directories an abandoned new object created. The default removes nothing.
    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        let _ = path;
        Ok(false)
    }

    /// Makes each file's data, or each directory's entries, durable. Implementations may
    /// flush the paths in parallel: the order among them is not promised.
    fn sync(&self, paths: &[String]) -> Result<(), StorageError>;

    /// Makes `dir`, everything below it, and its entry in its parent durable: one batched
    /// flush for a whole version's content.
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError>;

    /// Asks for the file at `path` to be written to disk soon, without waiting for it: a hint
    /// that makes a later flush of it shorter. Promises nothing, reports nothing; the
    /// protocol's flushes are still needed.
    fn start_writeback(&self, path: &str) {
        let _ = path;
    }

    /// The whole contents of the file at `path`.
    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        let mut bytes = Vec::new();
        self.open(path)?
            .read_to_end(&mut bytes)
            .map_err(|e| StorageError::io("read", path, e))?;
        Ok(bytes)
    }
}

/// The parent of a storage path (`""` for a top-level name).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// [`Filesystem`] on a local directory.
#[derive(Debug, Clone)]
pub struct LocalFilesystem {
    storage: LocalStorage,
    /// Flushes files in the background ([`Filesystem::start_writeback`]), started when first
    /// needed and shared by clones.
    flusher: Arc<OnceLock<Flusher>>,
}

/// Background flushes at once.
const FLUSH_THREADS: usize = 4;

/// Threads that flush the files they are handed, so that a file's writeback overlaps the
/// reading, hashing and writing of the next ones instead of all waiting for the final flush.
/// (`sync_file_range(2)` would only start the writeback, but needs `unsafe`.) They exit when
/// the last clone of the filesystem is dropped.
#[derive(Debug)]
struct Flusher {
    queue: SyncSender<PathBuf>,
}

impl Flusher {
    fn start(threads: usize) -> Flusher {
        let (queue, receiver) = std::sync::mpsc::sync_channel::<PathBuf>(256);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name("ocfl-flush".into())
                .spawn(move || {
                    loop {
                        let next = receiver
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .recv();
                        let Ok(path) = next else { break };
                        // A hint only: the file may be gone (renamed, removed) already, and
                        // a failure is reported by the flush that the protocol relies on.
                        if let Ok(file) = File::open(&path) {
                            let _ = file.sync_data();
                        }
                    }
                });
            // Without threads the hints pile up unheard, and the final flush does the work.
            if spawned.is_err() {
                break;
            }
        }
        Flusher { queue }
    }

    fn hint(&self, path: PathBuf) {
        // A full queue drops the hint rather than wait.
        let _ = self.queue.try_send(path);
    }
}

impl LocalFilesystem {
    /// The filesystem below `root` (which must exist before anything is written).
    pub fn new(root: impl Into<PathBuf>) -> LocalFilesystem {
        LocalFilesystem {
            storage: LocalStorage::new(root),
            flusher: Arc::new(OnceLock::new()),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        self.storage.root()
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, StorageError> {
        self.storage.resolve(path)
    }
}

impl Filesystem for LocalFilesystem {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, StorageError> {
        match self.storage.kind(path) {
            Ok(kind) => Ok(Some(kind)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        self.storage.open(path)
    }

    fn create(&self, path: &str) -> Result<Box<dyn Write + Send>, StorageError> {
        check_storage_path(path)?;
        let full = self.resolve(path)?;
        let file = create_readable(&full).map_err(|e| StorageError::io("create", path, e))?;
        Ok(Box::new(file))
    }

    fn create_dir_all(&self, path: &str) -> Result<(), StorageError> {
        let full = self.resolve(path)?;
        fs::create_dir_all(&full).map_err(|e| StorageError::io("create directory", path, e))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let from_full = self.resolve(from)?;
        let to_full = self.resolve(to)?;
        fs::rename(&from_full, &to_full).map_err(|e| StorageError::io("rename", from, e))
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        let full = self.resolve(path)?;
        let meta = match fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StorageError::io("remove", path, e)),
        };
        let result = if meta.is_dir() {
            fs::remove_dir_all(&full)
        } else {
            fs::remove_file(&full)
        };
        match result {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(StorageError::io("remove", path, e))
            }
            _ => Ok(()),
        }
    }

    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        let full = self.resolve(path)?;
        match fs::remove_dir(&full) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(false),
            Err(e) => Err(StorageError::io("remove directory", path, e)),
        }
    }

    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        let resolved = paths
            .iter()
            .map(|p| Ok((p.as_str(), self.resolve(p)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        if let [(path, full)] = resolved.as_slice() {
            return sync_path(full).map_err(|e| StorageError::io("sync", path, e));
        }
        let (paths, full): (Vec<&str>, Vec<PathBuf>) = resolved.into_iter().unzip();
        sync_parallel(&full).map_err(|(i, e)| StorageError::io("sync", paths[i], e))
    }

    fn start_writeback(&self, path: &str) {
        if let Ok(full) = self.resolve(path) {
            self.flusher
                .get_or_init(|| Flusher::start(FLUSH_THREADS))
                .hint(full);
        }
    }

    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        let full = self.resolve(dir)?;
        let mut paths = Vec::new();
        for entry in walkdir::WalkDir::new(&full) {
            let entry = entry.map_err(|e| {
                StorageError::io("sync", dir, e.into_io_error().unwrap_or_else(walk_error))
            })?;
            paths.push(entry.into_path());
        }
        if let Some(parent) = full.parent() {
            paths.push(parent.to_path_buf());
        }
        sync_parallel(&paths).map_err(|(_, e)| StorageError::io("sync", dir, e))
    }
}

/// Flushes at most this many files at once.
const SYNC_THREADS: usize = 16;

/// Flushes every path, several at once; the first failure, with its index.
///
/// One fsync per file is unavoidable without syncfs(2) (which would also flush whatever
/// else is dirty on the filesystem). An fsync mostly waits for the disk and the journal, not
/// the CPU, so more of them are in flight than there are cores: the journal groups
/// concurrent flushes into one commit, and the disk gets a deeper queue.
fn sync_parallel(paths: &[PathBuf]) -> Result<(), (usize, io::Error)> {
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<(usize, io::Error)>> = Mutex::new(None);
    let threads = SYNC_THREADS.min(paths.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    if let Err(e) = sync_path(path) {
                        let mut failed = failed.lock().unwrap_or_else(PoisonError::into_inner);
                        failed.get_or_insert((i, e));
                        // The others stop at their next file.
                        next.store(paths.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

fn walk_error() -> io::Error {
    io::Error::other("directory walk failed")
}

/// Flushes a file's data or a directory's entries.
fn sync_path(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Creates or truncates a file with the permissions an ordinary create gives (0644 before
/// the umask), so the storage root stays readable by other users and tools.
fn create_readable(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_rename_sync_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = LocalFilesystem::new(dir.path());
        fs.create_dir_all("a/b").expect("mkdir");
        fs.create("a/b/f")
            .expect("create")
            .write_all(b"hello")
            .expect("write");
        fs.sync(&["a/b/f".into(), "a/b".into()]).expect("sync");
        fs.rename("a/b/f", "a/g").expect("rename");
        assert_eq!(fs.kind("a/b/f").expect("kind"), None);
        assert_eq!(fs.read("a/g").expect("read"), b"hello");
        fs.sync_tree("a").expect("sync tree");
        fs.remove("a").expect("remove");
        fs.remove("a").expect("removing nothing is fine");
        assert_eq!(fs.kind("a").expect("kind"), None);
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
    }

    #[test]
    fn remove_empty_dir_removes_only_empty_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = LocalFilesystem::new(dir.path());
        fs.create_dir_all("a/b").expect("mkdir");
        assert!(!fs.remove_empty_dir("a").expect("a holds b"));
        assert_eq!(fs.kind("a/b").expect("kind"), Some(EntryKind::Directory));
        assert!(fs.remove_empty_dir("a/b").expect("empty"));
        assert!(fs.remove_empty_dir("a/b").expect("already gone"));
        assert!(fs.remove_empty_dir("a").expect("now empty"));
        assert_eq!(fs.kind("a").expect("kind"), None);
    }

    #[test]
    fn a_failed_flush_among_many_names_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = LocalFilesystem::new(dir.path());
        let mut paths: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        for path in &paths {
            fs.create(path)
                .expect("create")
                .write_all(b"x")
                .expect("write");
            fs.start_writeback(path);
        }
        fs.sync(&paths).expect("all flushed");
        paths.insert(17, "missing".into());
        let error = fs
            .sync(&paths)
            .expect_err("a missing file cannot be flushed");
        assert!(error.to_string().contains("missing"), "{error}");
    }

    #[test]
    fn refuses_paths_outside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = LocalFilesystem::new(dir.path());
        assert!(matches!(
            fs.create("../x"),
            Err(StorageError::InvalidPath(_))
        ));
    }
}
