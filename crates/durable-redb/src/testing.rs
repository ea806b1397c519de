//! Fault injection for tests (the `testing` feature): not part of the default API.

use std::sync::atomic::{AtomicBool, Ordering};

/// Faults armed by a test, checked by the writer.
#[derive(Debug, Default)]
pub(crate) struct Hooks {
    panic_next_commit: AtomicBool,
}

impl Hooks {
    pub fn arm_panic(&self) {
        self.panic_next_commit.store(true, Ordering::SeqCst);
    }

    /// Panics once after `arm_panic`, as a bug in the writer would.
    pub fn maybe_panic(&self) {
        if self.panic_next_commit.swap(false, Ordering::SeqCst) {
            panic!("injected by a test: the writer panics before its commit");
        }
    }
}
