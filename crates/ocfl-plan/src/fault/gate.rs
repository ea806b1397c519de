//! A rule that decides each mutating operation as it comes, and a gate that holds threads:
//! how the engine-level tests (`ocfl-durable/tests/durable`) pause a run at a chosen write,
//! fail the writes that match a path, or freeze a "dead" process whose threads must not touch
//! the shared engine store again.
//!
//! The rule sees every mutating call (every kind but the `write` calls on an open file),
//! numbered together from 0 in the order they happen, with the [`Storage`] method's name
//! (`create`, `write_atomic`, `create_dir`, `rename`, `remove`, `remove_empty_dir`, `sync`,
//! `sync_tree`, `write_if`, `copy`) and its path (a rename's source, a sync's first path).
//! A thread held at a pause or a crash waits until [`Injector::release`]; after a crash every
//! later operation, reads included, waits there too and then fails, as in a killed process.
//!
//! [`Storage`]: ocfl_core::storage::Storage

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use std::io::Read;

use ocfl_core::storage::{Directory, Entry, StorageError};

use super::Injector;

/// What the rule does with one mutating operation.
#[derive(Debug)]
pub enum Action {
    /// Let it happen.
    Proceed,
    /// Fail it with this error; nothing is written.
    Fail(io::Error),
    /// The process dies before it: wait until released, then fail, and so does every later
    /// operation.
    CrashBefore,
    /// Do it, then die as for [`Action::CrashBefore`].
    CrashAfter,
    /// Wait until released, then do it.
    Pause,
}

/// Decides one operation: `rule(number, method, path)`.
pub type Rule = dyn Fn(u64, &str, &str) -> Action + Send + Sync;

/// The rule and what it has done: its count, whether flushes are made, and the held threads.
pub(super) struct Gate {
    rule: Box<Rule>,
    count: AtomicU64,
    flush: AtomicBool,
    state: Mutex<GateState>,
    changed: Condvar,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("count", &self.count)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct GateState {
    crashed: bool,
    paused: bool,
    released: bool,
}

impl Injector {
    /// An injector whose `rule` decides every mutating operation (see the module).
    pub fn with_rule(
        rule: impl Fn(u64, &str, &str) -> Action + Send + Sync + 'static,
    ) -> Arc<Injector> {
        Arc::new(Injector {
            gate: Some(Gate {
                rule: Box::new(rule),
                count: AtomicU64::new(0),
                flush: AtomicBool::new(true),
                state: Mutex::new(GateState::default()),
                changed: Condvar::new(),
            }),
            ..Injector::default()
        })
    }

    /// With a rule: flushes are counted and decided but not made. For tests of killed
    /// processes (not power cuts), which need no flush and run faster without.
    pub fn skip_flushes(self: Arc<Injector>) -> Arc<Injector> {
        if let Some(gate) = &self.gate {
            gate.flush.store(false, Ordering::SeqCst);
        }
        self
    }

    /// Whether a rule's pause or crash was reached.
    pub fn stopped(&self) -> bool {
        self.gate.as_ref().is_some_and(|gate| {
            let state = gate.lock();
            state.crashed || state.paused
        })
    }

    /// Lets the threads held at a pause go on, and those held by a crash fail.
    pub fn release(&self) {
        if let Some(gate) = &self.gate {
            gate.lock().released = true;
            gate.changed.notify_all();
        }
    }

    /// With a rule: whether flushes are made.
    pub(super) fn gate_flushes(&self) -> bool {
        self.gate
            .as_ref()
            .is_none_or(|gate| gate.flush.load(Ordering::SeqCst))
    }

    /// Runs mutating operation `op` (the `method` of the storage, on `path`) under the rule,
    /// if there is one.
    pub(super) fn gated<T>(
        &self,
        method: &'static str,
        path: &str,
        op: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match &self.gate {
            None => op(),
            Some(gate) => gate.apply(method, path, op),
        }
    }

    /// `dir`, its reads held and failed as the storage's once the rule crashed the process.
    pub(super) fn gate_directory<'a>(
        &'a self,
        dir: Box<dyn Directory + 'a>,
    ) -> Box<dyn Directory + 'a> {
        match self.gate {
            None => dir,
            Some(_) => Box::new(GatedDirectory {
                inner: dir,
                injector: self,
            }),
        }
    }

    /// Holds and fails a read once the rule crashed the process.
    pub(super) fn read_gate(&self) -> Result<(), StorageError> {
        match &self.gate {
            Some(gate) if gate.lock().crashed => {
                gate.block();
                Err(killed())
            }
            _ => Ok(()),
        }
    }
}

/// The error of every operation of a process the rule killed.
fn killed() -> StorageError {
    StorageError::io("crashed", "", io::Error::other("the process crashed"))
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn block(&self) {
        let mut state = self.lock();
        while !state.released {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn apply<T>(
        &self,
        method: &'static str,
        path: &str,
        op: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if self.lock().crashed {
            self.block();
            return Err(killed());
        }
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        match (self.rule)(n, method, path) {
            Action::Proceed => op(),
            Action::Fail(error) => Err(StorageError::io(method, path, error)),
            Action::CrashBefore => {
                self.lock().crashed = true;
                self.block();
                Err(killed())
            }
            Action::CrashAfter => {
                let _ = op();
                self.lock().crashed = true;
                self.block();
                Err(killed())
            }
            Action::Pause => {
                self.lock().paused = true;
                self.block();
                op()
            }
        }
    }
}

/// A directory handle whose reads stop with the process, like the storage's.
struct GatedDirectory<'a> {
    inner: Box<dyn Directory + 'a>,
    injector: &'a Injector,
}

impl Directory for GatedDirectory<'_> {
    fn path(&self) -> &str {
        self.inner.path()
    }

    fn list(&self) -> Result<Vec<Entry>, StorageError> {
        self.injector.read_gate()?;
        self.inner.list()
    }

    fn open_dir(&self, name: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
        self.injector.read_gate()?;
        let dir = self.inner.open_dir(name)?;
        Ok(self.injector.gate_directory(dir))
    }

    fn open_file(&self, name: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        self.injector.read_gate()?;
        self.inner.open_file(name)
    }

    fn stream_file(&self, name: &str, each: &mut dyn FnMut(&[u8])) -> Result<(), StorageError> {
        self.injector.read_gate()?;
        self.inner.stream_file(name, each)
    }

    fn read_file(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        self.injector.read_gate()?;
        self.inner.read_file(name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::time::Duration;

    use ocfl_core::storage::{LocalStorage, Storage};

    use super::*;
    use crate::fault::FaultStorage;

    fn storage(dir: &tempfile::TempDir, injector: &Arc<Injector>) -> FaultStorage<LocalStorage> {
        FaultStorage::new(LocalStorage::new(dir.path()), injector.clone())
    }

    #[test]
    fn the_rule_sees_every_mutating_call_in_order_and_fails_the_chosen_ones() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let injector = Injector::with_rule(move |n, method, path| {
            log.lock().unwrap().push(format!("{n} {method} {path}"));
            match path {
                "full" => Action::Fail(io::Error::from_raw_os_error(28)),
                _ => Action::Proceed,
            }
        });
        let fs = storage(&dir, &injector);
        fs.create_dir("a").unwrap();
        fs.write_atomic("a/f", b"x").unwrap();
        let error = fs.write_atomic("full", b"x").unwrap_err();
        assert!(error.to_string().contains("No space left"), "{error}");
        assert_eq!(fs.kind_if_exists("full").unwrap(), None);
        fs.rename("a/f", "a/g").unwrap();
        fs.sync(&["a/g".into()]).unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "0 create_dir a",
                "1 write_atomic a/f",
                "2 write_atomic full",
                "3 rename a/f",
                "4 sync a/g"
            ]
        );
        assert!(!injector.stopped());
    }

    #[test]
    fn a_paused_operation_waits_for_release_then_happens() {
        let dir = tempfile::tempdir().unwrap();
        let injector = Injector::with_rule(|_, method, _| match method {
            "create_dir" => Action::Pause,
            _ => Action::Proceed,
        });
        std::thread::scope(|scope| {
            let fs = storage(&dir, &injector);
            let paused = scope.spawn(move || fs.create_dir("a"));
            while !injector.stopped() {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(!dir.path().join("a").exists());
            injector.release();
            paused.join().unwrap().unwrap();
        });
        assert!(dir.path().join("a").is_dir());
    }

    #[test]
    fn after_a_crash_every_operation_reads_included_waits_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old"), b"old").unwrap();
        let injector = Injector::with_rule(|n, _, _| match n {
            1 => Action::CrashAfter,
            _ => Action::Proceed,
        })
        .skip_flushes();
        let fs = storage(&dir, &injector);
        fs.create_dir("a").unwrap();
        std::thread::scope(|scope| {
            let crashing = scope.spawn(|| fs.create_dir("b"));
            while !injector.stopped() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let reader = scope.spawn(|| fs.read("old"));
            std::thread::sleep(Duration::from_millis(20));
            assert!(!reader.is_finished(), "a read of a dead process went on");
            injector.release();
            assert!(crashing.join().unwrap().is_err());
            assert!(reader.join().unwrap().is_err());
        });
        // The operation happened before the process died.
        assert!(dir.path().join("b").is_dir());
        assert!(fs.create_dir("c").is_err());
        assert!(!dir.path().join("c").exists());
    }
}
