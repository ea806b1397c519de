//! Fault injection at the storage seam: a [`Storage`] wrapped so that the n-th write, flush,
//! rename, directory creation, file creation or removal fails with a chosen `errno` (EIO,
//! ENOSPC, ...), once or until cleared, and so that a failing write can be torn (a prefix
//! reaches the file before the error); or so that the process "dies" at a chosen operation
//! ([`Crash`], [`crash`]); or so that a rule decides each operation as it comes, failing,
//! pausing or killing the process there ([`Injector::with_rule`], [`gate`]).
//!
//! It is how the update protocol is tested under I/O errors (`docs/durability.md`, section
//! 9): count the operations of a clean run with [`Injector::new`], then run again with one
//! [`Fault`] armed at each of them. Several wrappers may share one [`Injector`] (the storage
//! root's filesystem and the engine's state directory, say), so operations are numbered
//! across all of them, per [`OpKind`], in the order they happen.
//!
//! Reads are never failed: the protocol's answer to a read error is the same as to a write
//! error (the step fails and is retried), and the interesting states are the ones writes
//! leave behind.

pub mod crash;
pub mod gate;

pub use crash::{Crash, CrashMode};
pub use gate::{Action, Rule};

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ocfl_core::storage::{
    Directory, Entry, EntryKind, FileInfo, Precondition, Storage, StorageError, StorageWriter, Tag,
};

use crash::{TornWriter, dead, is_below};

/// The kinds of mutating operation, each numbered on its own from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// Creating (or truncating) a file for writing; [`Storage::write_atomic`] as a whole.
    Create,
    /// One `write` call on a file opened through [`Storage::create`].
    Write,
    /// One [`Storage::sync`] or [`Storage::sync_tree`] call (an `fsync` batch).
    Sync,
    /// One rename.
    Rename,
    /// One directory creation (`create_dir_all`, [`Storage::create_dir`]).
    CreateDir,
    /// One removal.
    Remove,
}

impl OpKind {
    /// Every kind, in a fixed order.
    pub const ALL: [OpKind; 6] = [
        OpKind::Create,
        OpKind::Write,
        OpKind::Sync,
        OpKind::Rename,
        OpKind::CreateDir,
        OpKind::Remove,
    ];

    fn index(self) -> usize {
        match self {
            OpKind::Create => 0,
            OpKind::Write => 1,
            OpKind::Sync => 2,
            OpKind::Rename => 3,
            OpKind::CreateDir => 4,
            OpKind::Remove => 5,
        }
    }

    /// The operation's name in error messages (`write`, `sync`, ...).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Write => "write",
            OpKind::Sync => "sync",
            OpKind::Rename => "rename",
            OpKind::CreateDir => "create directory",
            OpKind::Remove => "remove",
        }
    }
}

/// How long an armed fault lasts once it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Persistence {
    /// Only the chosen operation fails (a flaky disk); a retry succeeds.
    Once,
    /// The chosen operation and every later one of its kind fail until
    /// [`Injector::clear`] (a full disk, a failing device).
    UntilCleared,
}

/// One injected fault: operation number `nth` of `kind` fails with `errno`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fault {
    /// Which kind of operation.
    pub kind: OpKind,
    /// Which one of that kind, counting from 0.
    pub nth: u64,
    /// The OS error number it fails with (`libc`'s `EIO` is 5, `ENOSPC` 28).
    pub errno: i32,
    /// Once, or until cleared.
    pub persistence: Persistence,
    /// For [`OpKind::Write`]: the first half of the failing write reaches the file before
    /// the error (a torn write). Ignored for other kinds.
    pub tear: bool,
}

/// EIO: an I/O error of the device.
pub const EIO: i32 = 5;
/// ENOSPC: no space left on device.
pub const ENOSPC: i32 = 28;

impl Fault {
    /// Operation `nth` of `kind` fails once with `errno`.
    pub fn once(kind: OpKind, nth: u64, errno: i32) -> Fault {
        Fault {
            kind,
            nth,
            errno,
            persistence: Persistence::Once,
            tear: false,
        }
    }

    /// Operation `nth` of `kind` and every later one of its kind fail with `errno` until
    /// cleared.
    pub fn persistent(kind: OpKind, nth: u64, errno: i32) -> Fault {
        Fault {
            persistence: Persistence::UntilCleared,
            ..Fault::once(kind, nth, errno)
        }
    }

    /// The same fault, tearing the failing write.
    pub fn torn(self) -> Fault {
        Fault { tear: true, ..self }
    }

    fn error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }
}

/// One mutating operation as the injector saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Its kind.
    pub kind: OpKind,
    /// Its number among operations of its kind.
    pub nth: u64,
    /// The path it concerned (a rename's source; a sync's first path).
    pub path: String,
    /// A rename's destination.
    pub to: Option<String>,
    /// For [`OpKind::Sync`]: whether it flushed a whole tree ([`Storage::sync_tree`]).
    pub tree: bool,
    /// Whether it was failed.
    pub failed: bool,
}

/// Numbers operations, decides which fail, and remembers what happened. Shared by the
/// wrappers of one test.
#[derive(Debug, Default)]
pub struct Injector {
    counts: [AtomicU64; 6],
    /// Every kind but `Write`, together: the numbering of a [`Crash`].
    operations: AtomicU64,
    state: Mutex<State>,
    /// A rule deciding every operation ([`Injector::with_rule`]).
    gate: Option<gate::Gate>,
}

#[derive(Debug, Default)]
struct State {
    armed: Option<Fault>,
    /// Set once the armed fault fired, while it lasts.
    firing: bool,
    trace: Vec<Op>,
    tracing: bool,
    crash: Option<Crash>,
    /// The operation the crash hit.
    crashed_in: Option<String>,
}

impl Injector {
    /// An injector that counts operations and fails none.
    pub fn new() -> Arc<Injector> {
        Arc::new(Injector::default())
    }

    /// An injector that also records every operation in order ([`Injector::trace`]).
    pub fn tracing() -> Arc<Injector> {
        let injector = Injector::default();
        injector.lock().tracing = true;
        Arc::new(injector)
    }

    /// An injector with `fault` armed.
    pub fn with_fault(fault: Fault) -> Arc<Injector> {
        let injector = Injector::tracing();
        injector.arm(fault);
        injector
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Arms `fault` (replacing any other).
    pub fn arm(&self, fault: Fault) {
        let mut state = self.lock();
        state.armed = Some(fault);
        state.firing = false;
    }

    /// Disarms: nothing fails from now on (the disk was freed, the device replaced).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.armed = None;
        state.firing = false;
    }

    /// How many operations of `kind` were seen so far.
    pub fn count(&self, kind: OpKind) -> u64 {
        self.counts[kind.index()].load(Ordering::SeqCst)
    }

    /// Every operation seen so far, in order (empty unless made by [`Injector::tracing`]
    /// or [`Injector::with_fault`]).
    pub fn trace(&self) -> Vec<Op> {
        self.lock().trace.clone()
    }

    /// The operations that were failed, in order.
    pub fn failed(&self) -> Vec<Op> {
        self.lock()
            .trace
            .iter()
            .filter(|op| op.failed)
            .cloned()
            .collect()
    }

    /// Numbers one operation of `kind` on `path`: the fault it fails with, if any.
    fn decide(&self, kind: OpKind, path: &str, to: Option<&str>, tree: bool) -> Option<Fault> {
        let nth = self.counts[kind.index()].fetch_add(1, Ordering::SeqCst);
        let mut state = self.lock();
        let fault = match state.armed {
            Some(fault) if fault.kind == kind => {
                let hit = nth == fault.nth
                    || state.firing
                        && fault.persistence == Persistence::UntilCleared
                        && nth > fault.nth;
                if hit && nth == fault.nth {
                    state.firing = true;
                }
                hit.then_some(fault)
            }
            _ => None,
        };
        if state.tracing {
            state.trace.push(Op {
                kind,
                nth,
                path: path.to_owned(),
                to: to.map(str::to_owned),
                tree,
                failed: fault.is_some(),
            });
        }
        // A persistent fault tears only its first write; later ones fail outright.
        fault.map(|f| Fault {
            tear: f.tear && nth == f.nth,
            ..f
        })
    }

    /// Runs `op` unless operation `kind` on `path` is to fail.
    fn apply<T>(
        &self,
        kind: OpKind,
        path: &str,
        op: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match self.decide(kind, path, None, false) {
            Some(fault) => Err(StorageError::io(kind.name(), path, fault.error())),
            None => op(),
        }
    }

    /// [`Injector::apply`] for a rename to `to`, or (`tree`) a flush of a whole tree.
    fn apply_to<T>(
        &self,
        kind: OpKind,
        path: &str,
        to: Option<&str>,
        tree: bool,
        op: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match self.decide(kind, path, to, tree) {
            Some(fault) => Err(StorageError::io(kind.name(), path, fault.error())),
            None => op(),
        }
    }
}

/// A [`Storage`] whose mutating operations go through an [`Injector`]. Reads pass through.
/// A [`Storage::write_atomic`], a conditional [`Storage::write_if`] and a server-side
/// [`Storage::copy`] are each one [`OpKind::Create`] operation: it either happens whole or
/// fails (the trait promises atomicity, so there is nothing to tear).
pub struct FaultStorage<S> {
    inner: S,
    injector: Arc<Injector>,
    /// With a [`Crash`] armed: the files written and not flushed since, which a power cut
    /// tears.
    unsynced: Mutex<BTreeSet<String>>,
}

impl<S: Storage> FaultStorage<S> {
    /// `inner`, with faults decided by `injector`.
    pub fn new(inner: S, injector: Arc<Injector>) -> FaultStorage<S> {
        FaultStorage {
            inner,
            injector,
            unsynced: Mutex::new(BTreeSet::new()),
        }
    }
}

impl<S: Storage> Storage for FaultStorage<S> {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        self.injector.read_gate()?;
        self.inner.list(dir)
    }

    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.injector.read_gate()?;
        self.inner.kind(path)
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        self.injector.read_gate()?;
        self.inner.open(path)
    }

    fn open_dir(&self, path: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
        self.injector.read_gate()?;
        let dir = self.inner.open_dir(path)?;
        Ok(self.injector.gate_directory(dir))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.injector.read_gate()?;
        self.inner.read(path)
    }

    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        self.injector
            .gated("create", path, || -> Result<Box<dyn StorageWriter>, _> {
                let partial = self.crash_point(OpKind::Create, path)?;
                let file = self
                    .injector
                    .apply(OpKind::Create, path, || self.inner.create(path))?;
                if self.injector.simulates_crash() {
                    self.unsynced().insert(path.to_owned());
                }
                if partial {
                    return Ok(Box::new(TornWriter(file)));
                }
                Ok(Box::new(FaultWriter {
                    inner: file,
                    path: path.to_owned(),
                    injector: self.injector.clone(),
                }))
            })
    }

    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.injector.gated("write_atomic", path, || {
            // Whole or not at all: a crash inside it leaves the old file.
            if self.crash_point(OpKind::Create, path)? {
                return Err(dead(OpKind::Create, path));
            }
            self.injector.apply(OpKind::Create, path, || {
                self.inner.write_atomic(path, bytes)
            })
        })
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        self.injector.gated("create_dir", path, || {
            let partial = self.crash_point(OpKind::CreateDir, path)?;
            self.injector
                .apply(OpKind::CreateDir, path, || self.inner.create_dir(path))?;
            match partial {
                true => Err(dead(OpKind::CreateDir, path)),
                false => Ok(()),
            }
        })
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.injector.gated("rename", from, || {
            let partial = self.crash_point(OpKind::Rename, from)?;
            self.injector
                .apply_to(OpKind::Rename, from, Some(to), false, || {
                    self.inner.rename(from, to)
                })?;
            if self.injector.simulates_crash() {
                let mut unsynced = self.unsynced();
                let moved: Vec<String> = unsynced
                    .iter()
                    .filter(|p| is_below(p, from))
                    .cloned()
                    .collect();
                for path in moved {
                    unsynced.remove(&path);
                    unsynced.insert(format!("{to}{}", &path[from.len()..]));
                }
            }
            match partial {
                true => Err(dead(OpKind::Rename, from)),
                false => Ok(()),
            }
        })
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.injector.gated("remove", path, || {
            let partial = self.crash_point(OpKind::Remove, path)?;
            self.injector
                .apply(OpKind::Remove, path, || self.inner.remove(path))?;
            if self.injector.simulates_crash() {
                self.unsynced().retain(|p| !is_below(p, path));
            }
            match partial {
                true => Err(dead(OpKind::Remove, path)),
                false => Ok(()),
            }
        })
    }

    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        self.injector.gated("remove_empty_dir", path, || {
            let partial = self.crash_point(OpKind::Remove, path)?;
            let removed = self
                .injector
                .apply(OpKind::Remove, path, || self.inner.remove_empty_dir(path))?;
            match partial {
                true => Err(dead(OpKind::Remove, path)),
                false => Ok(removed),
            }
        })
    }

    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        let first = paths.first().map_or("", String::as_str);
        self.injector.gated("sync", first, || {
            let partial = self.crash_point(OpKind::Sync, first)?;
            if self.injector.simulates_crash() {
                // Only recorded: the simulated power cut decides what a flush protects.
                self.injector.apply(OpKind::Sync, first, || Ok(()))?;
                let mut unsynced = self.unsynced();
                for path in paths {
                    unsynced.remove(path);
                }
            } else if !self.injector.gate_flushes() {
                self.injector.apply(OpKind::Sync, first, || Ok(()))?;
            } else {
                self.injector
                    .apply(OpKind::Sync, first, || self.inner.sync(paths))?;
            }
            match partial {
                true => Err(dead(OpKind::Sync, first)),
                false => Ok(()),
            }
        })
    }

    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        self.injector.gated("sync_tree", dir, || {
            let partial = self.crash_point(OpKind::Sync, dir)?;
            if self.injector.simulates_crash() {
                self.injector
                    .apply_to(OpKind::Sync, dir, None, true, || Ok(()))?;
                self.unsynced().retain(|p| !is_below(p, dir));
            } else if !self.injector.gate_flushes() {
                self.injector
                    .apply_to(OpKind::Sync, dir, None, true, || Ok(()))?;
            } else {
                self.injector
                    .apply_to(OpKind::Sync, dir, None, true, || self.inner.sync_tree(dir))?;
            }
            match partial {
                true => Err(dead(OpKind::Sync, dir)),
                false => Ok(()),
            }
        })
    }

    fn start_writeback(&self, path: &str) {
        self.inner.start_writeback(path);
    }

    fn display_path(&self, path: &str) -> String {
        self.inner.display_path(path)
    }

    fn renames_atomically(&self) -> bool {
        self.inner.renames_atomically()
    }

    fn boot_id(&self) -> Option<String> {
        self.inner.boot_id()
    }

    fn read_tagged(&self, path: &str) -> Result<(Vec<u8>, Option<Tag>), StorageError> {
        self.injector.read_gate()?;
        self.inner.read_tagged(path)
    }

    fn write_if(
        &self,
        path: &str,
        bytes: &[u8],
        precondition: &Precondition,
        metadata: &[(&str, &str)],
    ) -> Result<(), StorageError> {
        self.injector.gated("write_if", path, || {
            // Whole or not at all, as `write_atomic`.
            if self.crash_point(OpKind::Create, path)? {
                return Err(dead(OpKind::Create, path));
            }
            self.injector.apply(OpKind::Create, path, || {
                self.inner.write_if(path, bytes, precondition, metadata)
            })
        })
    }

    fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.injector.gated("copy", to, || {
            if self.crash_point(OpKind::Create, to)? {
                return Err(dead(OpKind::Create, to));
            }
            self.injector
                .apply(OpKind::Create, to, || self.inner.copy(from, to))
        })
    }

    fn file_info(&self, path: &str) -> Result<FileInfo, StorageError> {
        self.injector.read_gate()?;
        self.inner.file_info(path)
    }

    fn size(&self, path: &str) -> Result<u64, StorageError> {
        self.injector.read_gate()?;
        self.inner.size(path)
    }
}

/// A file opened for writing through a [`FaultStorage`]: each `write` call is one operation.
struct FaultWriter {
    inner: Box<dyn StorageWriter>,
    path: String,
    injector: Arc<Injector>,
}

impl Write for FaultWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.injector.decide(OpKind::Write, &self.path, None, false) {
            None => self.inner.write(buf),
            Some(fault) => {
                if fault.tear {
                    self.inner.write_all(&buf[..buf.len() / 2])?;
                }
                Err(fault.error())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl StorageWriter for FaultWriter {
    fn finish(self: Box<Self>) -> Result<(), StorageError> {
        self.inner.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::powercut::SimStorage;
    use ocfl_core::storage::LocalStorage;

    fn fs(dir: &tempfile::TempDir, injector: &Arc<Injector>) -> FaultStorage<LocalStorage> {
        FaultStorage::new(LocalStorage::new(dir.path()), injector.clone())
    }

    fn create(fs: &dyn Storage, path: &str, bytes: &[u8]) {
        let mut file = fs.create(path).unwrap();
        file.write_all(bytes).unwrap();
        file.finish().unwrap();
    }

    #[test]
    fn counts_each_kind_and_fails_only_the_chosen_one_once() {
        let dir = tempfile::tempdir().unwrap();
        let injector = Injector::with_fault(Fault::once(OpKind::CreateDir, 1, ENOSPC));
        let fs = fs(&dir, &injector);
        fs.create_dir("a").unwrap();
        let error = fs.create_dir("b").unwrap_err();
        assert!(error.to_string().contains("create directory b"), "{error}");
        assert!(error.to_string().contains("No space left"), "{error}");
        fs.create_dir("b").unwrap();
        create(&fs, "a/f", b"x");
        fs.sync(&["a/f".into()]).unwrap();
        fs.rename("a/f", "b/f").unwrap();
        fs.remove("b").unwrap();
        let counts: Vec<u64> = OpKind::ALL.iter().map(|&k| injector.count(k)).collect();
        assert_eq!(counts, [1, 1, 1, 1, 3, 1]);
        let failed = injector.failed();
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].kind, failed[0].nth), (OpKind::CreateDir, 1));
        assert_eq!(injector.trace().len(), 8);
    }

    #[test]
    fn a_persistent_fault_lasts_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let injector = Injector::with_fault(Fault::persistent(OpKind::Rename, 0, EIO));
        let fs = fs(&dir, &injector);
        create(&fs, "f", b"");
        for _ in 0..3 {
            let error = fs.rename("f", "g").unwrap_err();
            assert!(error.to_string().contains("Input/output error"), "{error}");
        }
        fs.sync(&["f".into()]).unwrap();
        injector.clear();
        fs.rename("f", "g").unwrap();
        assert_eq!(fs.kind_if_exists("g").unwrap(), Some(EntryKind::File));
    }

    #[test]
    fn a_torn_write_leaves_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let injector = Injector::with_fault(Fault::once(OpKind::Write, 1, EIO).torn());
        let fs = fs(&dir, &injector);
        let mut file = fs.create("f").unwrap();
        file.write_all(b"head ").unwrap();
        assert!(file.write_all(b"0123456789").is_err());
        drop(file);
        assert_eq!(fs.read("f").unwrap(), b"head 01234");
    }

    #[test]
    fn storage_writes_fail_too() {
        let dir = tempfile::tempdir().unwrap();
        let injector = Injector::with_fault(Fault::persistent(OpKind::Create, 1, ENOSPC));
        let storage = FaultStorage::new(LocalStorage::new(dir.path()), injector.clone());
        storage.write_atomic("a", b"a").unwrap();
        assert!(storage.write_atomic("b", b"b").is_err());
        assert!(storage.write_atomic("a", b"new").is_err());
        assert_eq!(storage.read("a").unwrap(), b"a");
        injector.clear();
        storage.write_atomic("b", b"b").unwrap();
        assert_eq!(storage.list("").unwrap().len(), 2);
    }

    #[test]
    fn conditional_writes_and_copies_pass_through_and_fail_when_chosen() {
        let injector = Injector::with_fault(Fault::once(OpKind::Create, 1, EIO));
        let storage = FaultStorage::new(SimStorage::object_store(), injector.clone());
        storage
            .write_if("a", b"first", &Precondition::Absent, &[("run", "r1")])
            .unwrap();
        let (bytes, tag) = storage.read_tagged("a").unwrap();
        assert_eq!(bytes, b"first");
        let tag = tag.unwrap();
        // The chosen operation fails with the injected error and writes nothing.
        let error = storage
            .write_if("a", b"second", &Precondition::Matches(tag.clone()), &[])
            .unwrap_err();
        assert!(error.to_string().contains("Input/output error"), "{error}");
        assert_eq!(storage.read("a").unwrap(), b"first");
        storage
            .write_if("a", b"second", &Precondition::Matches(tag.clone()), &[])
            .unwrap();
        // The inner store's own answers come through: a tag that no longer matches.
        assert!(matches!(
            storage.write_if("a", b"third", &Precondition::Matches(tag), &[]),
            Err(StorageError::ConditionFailed(_))
        ));
        injector.arm(Fault::once(
            OpKind::Create,
            injector.count(OpKind::Create),
            EIO,
        ));
        let error = storage.copy("a", "b").unwrap_err();
        assert!(error.to_string().contains("Input/output error"), "{error}");
        // Then the inner store answers (the simulation has no server-side copy).
        assert!(matches!(
            storage.copy("a", "b"),
            Err(StorageError::Unsupported { op: "copying", .. })
        ));
        assert_eq!(storage.kind_if_exists("b").unwrap(), None);
        assert_eq!(storage.size("a").unwrap(), 6);
        assert!(storage.file_info("a").unwrap().metadata.is_empty());
    }
}
