//! The backend's own I/O runtime.
//!
//! Every database call runs on one small multi-threaded tokio runtime owned by this crate
//! (shared by all backends of the process), and the caller waits for it on tokio's blocking
//! pool. Two reasons:
//!
//! - The connections do not belong to the caller's runtime, so a backend keeps working when
//!   the runtime that created it is shut down, and it can be used from several runtimes.
//! - Under paused tokio time (the conformance suite and other tests), a runtime whose tasks
//!   all wait for a socket looks idle and jumps its clock to the next timer, expiring leases
//!   and timeouts while a query is merely in flight. A call waiting on the blocking pool
//!   keeps the caller's clock still, exactly as a synchronous store would.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The I/O runtime's handle, starting it on first use.
pub(crate) fn handle() -> Result<Handle, String> {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("durable-postgres-io")
                .enable_all()
                .build()
                .map_err(|error| error.to_string())
        })
        .as_ref()
        .map(|runtime| runtime.handle().clone())
        .map_err(Clone::clone)
}

/// Runs `future` on the I/O runtime and waits for its output without letting the caller's
/// (possibly paused) clock move. An error if the runtime cannot start or the task panicked.
pub(crate) async fn run<T, F>(future: F) -> Result<T, String>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let handle = handle()?;
    let task = handle.spawn(future);
    let waited = tokio::task::spawn_blocking(move || handle.block_on(task)).await;
    match waited {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) | Err(error) => Err(format!("a database task did not finish: {error}")),
    }
}
