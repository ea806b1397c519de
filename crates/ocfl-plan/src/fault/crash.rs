//! A killed process, simulated: at a chosen mutating operation the process "dies" (that
//! operation fails, possibly after a partial effect, and so does every later one), as the
//! crash tests of the plan executor need (`ocfl-plan/tests/crash.rs`).
//!
//! Operations are numbered together across kinds (creations, atomic writes, directory
//! creations, renames, removals, flushes; not the `write` calls on an open file), in the
//! order they happen: count them in a clean run with [`Injector::operations`], then run again
//! with a [`Crash`] at each of them.

use std::collections::BTreeSet;
use std::io::{self, Write};

use ocfl_core::storage::{Storage, StorageError, StorageWriter};

use super::{FaultStorage, Injector, OpKind};

/// What happens at the crash point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashMode {
    /// The operation does not happen (the process is killed before it).
    Before,
    /// The operation happens (a created file receives half of its first write), then the
    /// process is killed.
    Partial,
    /// The power fails before the operation: every file written since its last flush loses
    /// its second half, as if only some of its blocks had reached the disk.
    PowerCut,
}

impl CrashMode {
    /// Every mode, in a fixed order.
    pub const ALL: [CrashMode; 3] = [CrashMode::Before, CrashMode::Partial, CrashMode::PowerCut];
}

/// A process crash at mutating operation `at` (counting from 0, every kind together).
///
/// While a crash is armed, flushes are only recorded, never done: the simulated power cut
/// decides what they protect, and the test stays fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Crash {
    /// Which operation.
    pub at: u64,
    /// What happens there.
    pub mode: CrashMode,
}

/// How one operation meets an armed crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CrashPoint {
    /// Before the crash, or no crash armed: the operation runs.
    Run,
    /// The crash point in [`CrashMode::Partial`]: the operation runs partly, then fails.
    Partial,
    /// The crash point in [`CrashMode::PowerCut`]: unflushed files are torn, then it fails.
    PowerCut,
    /// The process is dead: the operation fails.
    Dead,
}

impl Injector {
    /// An injector that simulates `crash` (and traces nothing).
    pub fn crashing(crash: Crash) -> std::sync::Arc<Injector> {
        let injector = Injector::new();
        injector.lock().crash = Some(crash);
        injector
    }

    /// Mutating operations seen so far, every kind but [`OpKind::Write`] counted together:
    /// the numbering a [`Crash`] uses.
    pub fn operations(&self) -> u64 {
        self.operations.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The operation the armed crash hit (`rename a/b`, say), once it did.
    pub fn crashed_in(&self) -> Option<String> {
        self.lock().crashed_in.clone()
    }

    /// Whether a crash is armed.
    pub(super) fn simulates_crash(&self) -> bool {
        self.lock().crash.is_some()
    }

    /// Numbers one operation and says how the armed crash, if any, meets it.
    pub(super) fn crash_point(&self, kind: OpKind, path: &str) -> CrashPoint {
        let n = self
            .operations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut state = self.lock();
        let Some(crash) = state.crash else {
            return CrashPoint::Run;
        };
        if n < crash.at {
            return CrashPoint::Run;
        }
        if n > crash.at {
            return CrashPoint::Dead;
        }
        state.crashed_in = Some(format!("{} {path}", kind.name()));
        match crash.mode {
            CrashMode::Before => CrashPoint::Dead,
            CrashMode::Partial => CrashPoint::Partial,
            CrashMode::PowerCut => CrashPoint::PowerCut,
        }
    }
}

/// The error of every operation of a dead process.
pub(super) fn dead(kind: OpKind, path: &str) -> StorageError {
    StorageError::io(kind.name(), path, io::Error::other("simulated crash"))
}

impl<S: Storage> FaultStorage<S> {
    /// Meets the armed crash: `Ok(false)` to run the operation, `Ok(true)` to run it partly
    /// and then fail, `Err` when the process is (now) dead.
    pub(super) fn crash_point(&self, kind: OpKind, path: &str) -> Result<bool, StorageError> {
        match self.injector.crash_point(kind, path) {
            CrashPoint::Run => Ok(false),
            CrashPoint::Partial => Ok(true),
            CrashPoint::PowerCut => {
                self.tear_unsynced();
                Err(dead(kind, path))
            }
            CrashPoint::Dead => Err(dead(kind, path)),
        }
    }

    /// Files written and not flushed since, when a crash is armed.
    pub(super) fn unsynced(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.unsynced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Cuts every unflushed file to its first half.
    fn tear_unsynced(&self) {
        let paths: Vec<String> = self.unsynced().iter().cloned().collect();
        for path in paths {
            let Ok(bytes) = self.inner.read(&path) else {
                continue;
            };
            let kept = &bytes[..bytes.len() / 2];
            if let Ok(mut file) = self.inner.create(&path) {
                let _ = file.write_all(kept);
                let _ = file.finish();
            }
        }
    }
}

/// Whether `path` is `dir` or below it (`""` holds everything).
pub(super) fn is_below(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/')
}

/// A file created at a [`CrashMode::Partial`] crash point: it receives half of the first
/// buffer it is given, then fails.
pub(super) struct TornWriter(pub(super) Box<dyn StorageWriter>);

impl Write for TornWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(&buf[..buf.len() / 2])?;
        Err(io::Error::other("simulated crash"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::other("simulated crash"))
    }
}

impl StorageWriter for TornWriter {
    fn finish(self: Box<Self>) -> Result<(), StorageError> {
        Err(dead(OpKind::Write, "a torn file"))
    }
}
