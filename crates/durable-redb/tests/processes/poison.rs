//! Work that kills its process is poisoned after `max_attempts` runs, not run for ever: the
//! attempt is on disk before the work runs, so each crash is counted.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use durable_core::{
    ActivityContext, Client, ClientError, Failure, FailureKind, InstanceStatus,
    OrchestrationContext, Registry, Worker, WorkerOptions,
};
use durable_redb::RedbBackend;

use crate::{CHILD, STORE};

/// The workers' `max_attempts` (the engine's default is 10; fewer keeps the test short).
const MAX_ATTEMPTS: u32 = 3;
/// How many child processes the test starts at most before it calls the loop endless.
const MAX_CHILDREN: u32 = 2 * MAX_ATTEMPTS + 2;
const INSTANCE: &str = "aborts";

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
}

/// Child: schedules the instance (once), runs a worker whose activity aborts the process, and
/// prints the instance's end state if it ever finishes.
pub fn run_child() -> Result<(), String> {
    let store = std::env::var(STORE).map_err(|error| error.to_string())?;
    runtime()?.block_on(async {
        let backend = Arc::new(RedbBackend::open(&store).map_err(|e| e.to_string())?);
        let registry = Registry::new()
            .activity("abort", |_ctx: ActivityContext, _input: ()| async move {
                std::process::abort();
                #[allow(unreachable_code)]
                Ok::<(), Failure>(())
            })
            .orchestration("flow", |ctx: OrchestrationContext, _input: ()| async move {
                ctx.call_activity::<_, ()>("abort", &()).await
            });
        let worker = Worker::start(
            backend.clone(),
            registry,
            WorkerOptions {
                max_attempts: MAX_ATTEMPTS,
                ..WorkerOptions::default()
            },
        );
        let client = Client::new(backend);
        match client.schedule("flow", INSTANCE, &()).await {
            Ok(()) | Err(ClientError::Backend(durable_core::BackendError::InstanceExists(_))) => {}
            Err(error) => return Err(format!("schedule: {error}")),
        }
        let finished = client
            .wait_for_completion(INSTANCE, Duration::from_secs(60))
            .await
            .map_err(|error| error.to_string())?;
        worker.shutdown().await;
        let failure = finished.failure.map(|f| (f.kind, f.message));
        println!("finished {:?} {:?}", finished.status, failure);
        if finished.status != InstanceStatus::Failed {
            return Err(format!("the instance ended {:?}", finished.status));
        }
        match failure {
            Some((FailureKind::Poisoned, message)) if message.contains("attempted") => Ok(()),
            other => Err(format!("not a poison failure: {other:?}")),
        }
    })
}

pub fn process_killing_work_is_poisoned() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let store = dir.path().join("engine.redb");
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    for crashes in 0..MAX_CHILDREN {
        let output = Command::new(&exe)
            .env(CHILD, "poison")
            .env(STORE, &store)
            .output()
            .map_err(|error| format!("start a child: {error}"))?;
        if output.status.success() {
            // Attempts 1..=MAX_ATTEMPTS each killed a process; the next is poisoned.
            if crashes != MAX_ATTEMPTS {
                return Err(format!(
                    "poisoned after {crashes} crashes, expected {MAX_ATTEMPTS}"
                ));
            }
            return Ok(());
        }
        // Anything but the activity's abort (SIGABRT) is a failure of the test itself.
        if std::os::unix::process::ExitStatusExt::signal(&output.status) != Some(6) {
            return Err(format!(
                "the child ended {:?} instead of aborting: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Err(format!(
        "{MAX_CHILDREN} processes in a row died running the same activity: the crash loop is \
         never poisoned"
    ))
}
