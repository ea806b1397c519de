//! `ocfl commit`: a durable update run, executed in this process (with workers of a shared
//! store taking part), or with `--detach` only submitted.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use ocfl_durable::{CommitOutcome, CommitRequest, UpdateService};
use serde_json::json;

use crate::args::{CommitArgs, GlobalArgs};
use crate::progress::{Display, Mode};
use crate::state::{Engine, Store, command_worker_options, runtime};

/// How long a detached commit on the embedded store runs the engine at most, waiting for the
/// run to be recorded.
const RECORD_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a detached commit on a shared store waits for a worker to record the run.
const WORKER_RECORD_WAIT: Duration = Duration::from_secs(2);

/// Commits `SRC_DIR` to the object and prints the outcome.
pub fn run(global: &GlobalArgs, args: &CommitArgs) -> Result<ExitCode> {
    let root = global.require_root("commit")?;
    let mut request = CommitRequest::new(args.id.as_str(), &args.source);
    request.message = args.message.clone();
    request.user_name = args.user_name.clone();
    request.user_address = args.user_address.clone();
    request.created = args.created;
    request.follow_symlinks = args.follow_symlinks;
    if args.detach {
        return detach(global, root, &request);
    }
    let outcome = execute(
        global,
        root,
        &request,
        Mode::detect(global.quiet, global.verbose),
    )?;
    if global.json {
        println!("{}", outcome_json(&outcome));
    }
    if !global.quiet {
        eprintln!("{}", outcome.summary());
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--json` line of DESIGN.md section 3: exactly these fields.
pub fn outcome_json(outcome: &CommitOutcome) -> serde_json::Value {
    json!({
        "id": outcome.object_id,
        "version": outcome.version,
        "steps": outcome.steps,
        "bytes": outcome.bytes,
        "run": outcome.run,
        "changed": outcome.changed,
    })
}

/// Runs `request` on the engine of `root` in this process, showing progress in `mode`:
/// submits it (or finds the interrupted run of the same command), then waits for the run.
pub fn execute(
    global: &GlobalArgs,
    root: &Path,
    request: &CommitRequest,
    mode: Mode,
) -> Result<CommitOutcome> {
    runtime()?.block_on(async {
        let display = Arc::new(Display::new(mode));
        let store = Store::open(global, root).await?;
        let options = command_worker_options(global);
        let engine = Engine::start(store, root, Some(display.clone()), options)?;
        let outcome = submit_and_wait(&engine, &display, request).await;
        display.finish();
        engine.stop().await;
        outcome
    })
}

async fn submit_and_wait(
    engine: &Engine,
    display: &Display,
    request: &CommitRequest,
) -> Result<CommitOutcome> {
    let service = &engine.service;
    let submitted = service.submit(request).await?;
    let resumed = match submitted.resumed {
        true => service.run(&submitted.run).await?.and_then(|r| r.progress),
        false => None,
    };
    if submitted.resumed {
        display.note(&format!("Resuming the interrupted run {}", submitted.run));
    }
    display.watch(
        &submitted.run,
        resumed.as_ref(),
        &request.source.display().to_string(),
    );
    Ok(service.wait_submitted(&submitted).await?)
}

/// `commit --detach`: submits the run and prints its id.
///
/// On a shared store (PostgreSQL) the workers run it; the command waits a moment for one of
/// them to record the run (until then only the request to start it is), so that `ocfl runs`
/// lists it, and says so if none did. On the embedded store no other process can run
/// anything while this one holds the store, so this process runs the engine until the run is
/// recorded, which makes it show in `ocfl runs` and lets `ocfl resume` find it; work the run
/// began meanwhile is handed back and goes on with `ocfl worker`, `ocfl resume` or the same
/// command again.
fn detach(global: &GlobalArgs, root: &Path, request: &CommitRequest) -> Result<ExitCode> {
    let (submitted, recorded) = runtime()?.block_on(async {
        let store = Store::open(global, root).await?;
        if store.shared {
            let service = store.service(root)?;
            let submitted = service.submit(request).await?;
            let recorded = recorded(&service, &submitted.run, WORKER_RECORD_WAIT).await?;
            return anyhow::Ok((submitted, recorded));
        }
        let engine = Engine::start(store, root, None, command_worker_options(global))?;
        let submitted = engine.service.submit(request).await;
        let recorded = match &submitted {
            Ok(submitted) => recorded(&engine.service, &submitted.run, RECORD_TIMEOUT).await,
            Err(_) => Ok(false),
        };
        engine.stop().await;
        let submitted = submitted?;
        if !recorded? {
            bail!(
                "run {} was submitted but not recorded within {} s; `ocfl resume` starts it",
                submitted.run,
                RECORD_TIMEOUT.as_secs()
            );
        }
        Ok((submitted, true))
    })?;
    if global.json {
        println!(
            "{}",
            json!({"run": submitted.run, "id": request.object_id, "detached": true})
        );
    } else {
        println!("{}", submitted.run);
    }
    if !global.quiet {
        let which = if submitted.resumed {
            "the run of this command that was already active"
        } else {
            "a new run"
        };
        eprintln!(
            "submitted {} for object {}: {which}; `ocfl runs show {}` follows it",
            submitted.run, request.object_id, submitted.run
        );
        if !recorded {
            eprintln!(
                "no worker has started it yet: `ocfl runs` lists it once an `ocfl worker` has"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Waits at most `limit` for run `run` to be recorded; whether it was.
async fn recorded(service: &UpdateService, run: &str, limit: Duration) -> Result<bool> {
    let started = tokio::time::Instant::now();
    loop {
        if service.run(run).await?.is_some() {
            return Ok(true);
        }
        if started.elapsed() > limit {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
