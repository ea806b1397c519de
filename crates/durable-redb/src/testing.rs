//! Fault injection for tests (the `testing` feature): not part of the default API.

use std::sync::atomic::{AtomicBool, Ordering};

/// Faults armed by a test, checked by the writer.
#[derive(Debug, Default)]
pub(crate) struct Hooks {
    panic_next_commit: AtomicBool,
    lazy_attempts: AtomicBool,
}

impl Hooks {
    pub fn arm_panic(&self) {
        self.panic_next_commit.store(true, Ordering::SeqCst);
    }

    /// Benchmarks only: record redeliveries' attempts lazily, with the next commit, as before
    /// poison detection was made durable (work that kills the process can crash-loop again).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub fn set_lazy_attempts(&self, lazy: bool) {
        self.lazy_attempts.store(lazy, Ordering::SeqCst);
    }

    pub fn lazy_attempts(&self) -> bool {
        self.lazy_attempts.load(Ordering::SeqCst)
    }

    /// Panics once after `arm_panic`, as a bug in the writer would.
    pub fn maybe_panic(&self) {
        if self.panic_next_commit.swap(false, Ordering::SeqCst) {
            panic!("injected by a test: the writer panics before its commit");
        }
    }
}
