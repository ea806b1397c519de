//! The blocking facade over the async client.
//!
//! Every request runs as a task on a tokio runtime (one the store owns, or one the embedder
//! hands in); the calling thread only waits for the task's result. So the caller never drives
//! I/O itself and never calls tokio's `block_on`: a call from a plain thread, a rayon worker or
//! `spawn_blocking` works, and one from inside an async task blocks that thread without
//! panicking (the seam is synchronous; embedders call it from blocking threads).

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;

/// A runtime handle, and the runtime itself when the store created it.
#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    handle: Handle,
    // Shut down without waiting when the last store drops it, so that dropping a store inside
    // an async context does not panic.
    _owned: Option<Arc<OwnedRuntime>>,
}

#[derive(Debug)]
struct OwnedRuntime(Mutex<Option<tokio::runtime::Runtime>>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        let runtime = match self.0.get_mut() {
            Ok(runtime) => runtime.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(runtime) = runtime {
            runtime.shutdown_background();
        }
    }
}

impl Runtime {
    /// A multi-threaded runtime of `threads` workers, owned by the store.
    pub(crate) fn owned(threads: usize) -> std::io::Result<Runtime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("ocfl-object-store")
            .enable_all()
            .build()?;
        Ok(Runtime {
            handle: runtime.handle().clone(),
            _owned: Some(Arc::new(OwnedRuntime(Mutex::new(Some(runtime))))),
        })
    }

    /// The embedder's runtime.
    pub(crate) fn borrowed(handle: Handle) -> Runtime {
        Runtime {
            handle,
            _owned: None,
        }
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `future` on the runtime and waits for its output; `Err` carries the runtime's
    /// message when the task could not finish (the runtime shut down, or the task panicked).
    pub(crate) fn run<F>(&self, future: F) -> Result<F::Output, String>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.handle.spawn(future);
        futures::executor::block_on(task).map_err(|e| e.to_string())
    }
}
