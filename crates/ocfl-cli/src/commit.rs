//! `ocfl commit`: a durable update run, executed in this process.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use ocfl_durable::{CommitOutcome, CommitRequest};
use serde_json::json;

use crate::args::{CommitArgs, GlobalArgs};
use crate::progress::{Display, Mode};
use crate::state::{Engine, runtime};

/// Commits `SRC_DIR` to the object and prints the outcome.
pub fn run(global: &GlobalArgs, args: &CommitArgs) -> Result<ExitCode> {
    let root = global.require_root("commit")?;
    let mut request = CommitRequest::new(args.id.as_str(), &args.source);
    request.message = args.message.clone();
    request.user_name = args.user_name.clone();
    request.user_address = args.user_address.clone();
    request.created = args.created;
    request.follow_symlinks = args.follow_symlinks;
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
        let engine = Engine::start(global, root, Some(display.clone()))?;
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
