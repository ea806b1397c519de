//! Flushing for [`super::LocalStorage`]: many files flushed in parallel in one batch, and
//! background flushes started early so that a file's writeback overlaps the work on the next
//! ones instead of all waiting for the final flush.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};

/// Background flushes at once.
pub(super) const FLUSH_THREADS: usize = 4;

/// Flushes at most this many files at once.
const SYNC_THREADS: usize = 16;

/// Threads that flush the files they are handed ([`super::Storage::start_writeback`]).
/// (`sync_file_range(2)` would only start the writeback, but needs `unsafe`.) They exit when
/// the last clone of the storage is dropped.
#[derive(Debug)]
pub(super) struct Flusher {
    queue: SyncSender<PathBuf>,
}

impl Flusher {
    pub(super) fn start(threads: usize) -> Flusher {
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
                        // a failure is reported by the flush that the caller relies on.
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

    pub(super) fn hint(&self, path: PathBuf) {
        // A full queue drops the hint rather than wait.
        let _ = self.queue.try_send(path);
    }
}

/// Flushes every path, several at once; the first failure, with its index.
///
/// One fsync per file is unavoidable without syncfs(2) (which would also flush whatever
/// else is dirty on the filesystem). An fsync mostly waits for the disk and the journal, not
/// the CPU, so more of them are in flight than there are cores: the journal groups
/// concurrent flushes into one commit, and the disk gets a deeper queue.
pub(super) fn sync_parallel(paths: &[PathBuf]) -> Result<(), (usize, io::Error)> {
    if let [path] = paths {
        return sync_path(path).map_err(|e| (0, e));
    }
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

/// Paths flushed at once by [`sync_tree`]: the walk goes on once they are flushed, so a
/// version of a million files is never listed whole (its paths took about 150 MB of a
/// million-file commit's peak, on top of the stage and the plan).
pub(super) const SYNC_TREE_BATCH: usize = 4096;

/// Flushes every path of the tree at `dir` (itself included) and the parent of `dir`, walking
/// the tree and flushing it [`SYNC_TREE_BATCH`] paths at a time; the first failure.
pub(super) fn sync_tree(dir: &Path) -> io::Result<()> {
    let mut batch = Vec::with_capacity(SYNC_TREE_BATCH);
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.map_err(|e| {
            e.into_io_error()
                .unwrap_or_else(|| io::Error::other("directory walk failed"))
        })?;
        batch.push(entry.into_path());
        if batch.len() == SYNC_TREE_BATCH {
            sync_parallel(&batch).map_err(|(_, e)| e)?;
            batch.clear();
        }
    }
    batch.push(parent_dir(dir).to_path_buf());
    sync_parallel(&batch).map_err(|(_, e)| e)
}

/// The directory holding `path`: the current directory for a relative one-element path.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        // `/` has no parent: flushing it again is harmless.
        None => path,
        Some(_) => Path::new("."),
    }
}

/// Flushes a file's data or a directory's entries.
pub(super) fn sync_path(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Flushes the directory holding `path`, so that a rename or create of `path` is durable.
pub(super) fn sync_parent(path: &Path) -> io::Result<()> {
    sync_path(parent_dir(path))
}
