//! `ocfl worker`: runs the orchestrations and activities of the storage root's update runs
//! from the engine's store until SIGTERM or SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use durable_core::WorkerOptions;
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

use crate::args::{GlobalArgs, WorkerArgs};
use crate::state::{Engine, Store, runtime, site, with_lease};
use crate::worklog::WorkLog;

/// Runs the worker until a signal, then shuts it down gracefully (a second signal: at once,
/// leaving the leases of unfinished work to expire).
pub fn run(global: &GlobalArgs, args: &WorkerArgs, log: Arc<WorkLog>) -> Result<ExitCode> {
    let work = site(global, "worker")?;
    runtime()?.block_on(async {
        let store = Store::open(global, &work).await?;
        let concurrency = usize::from(args.concurrency);
        let grace = Duration::from_secs(args.grace);
        let options = with_lease(
            global,
            WorkerOptions {
                orchestration_concurrency: concurrency,
                activity_concurrency: concurrency,
                shutdown_grace: grace,
                ..WorkerOptions::default()
            },
        );
        // Listening from here on: until now the default action (exit) was right, since
        // nothing had started.
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        // Said before the engine starts, so that it comes first in the log.
        let served = work.name();
        log.line(
            "started",
            &[
                ("root", json!(served)),
                ("store", json!(store.description)),
                ("concurrency", json!(concurrency)),
                ("lease_seconds", json!(options.activity_lease.as_secs_f64())),
            ],
        );
        let engine = Engine::start(store, Some(log.clone()), options)?;
        let received = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        log.line(
            "stopping",
            &[
                ("signal", json!(received)),
                ("grace_seconds", json!(args.grace)),
            ],
        );
        tokio::select! {
            () = engine.stop() => {
                log.line("stopped", &[]);
                Ok(ExitCode::SUCCESS)
            }
            _ = terminate.recv() => Ok(abandoned(&log, "SIGTERM")),
            _ = interrupt.recv() => Ok(abandoned(&log, "SIGINT")),
        }
    })
}

fn abandoned(log: &WorkLog, signal: &str) -> ExitCode {
    log.line(
        "stopped-at-once",
        &[
            ("signal", json!(signal)),
            (
                "note",
                json!("unfinished work goes to other workers when its leases expire"),
            ),
        ],
    );
    ExitCode::FAILURE
}
