//! `ocfl commit`: a durable update run, executed in this process (with workers of a shared
//! store taking part), or with `--detach` only submitted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use ocfl_durable::{CommitOutcome, CommitRequest, Edit, Edits};
use serde_json::json;

use crate::args::{CommitArgs, GlobalArgs};
use crate::forward::{self, Forwarder};
use crate::progress::{Display, Mode, Sending};
use crate::root_settings::RootSettings;
use crate::site::Site;
use crate::state::{Engine, Store, check_commit, command_worker_options, runtime, site};

/// Commits `SRC_DIR` (or the head changed by `--add`, `--remove`, `--move`) to the object
/// and prints the outcome.
pub fn run(global: &GlobalArgs, args: &CommitArgs) -> Result<ExitCode> {
    let work = site(global, "commit")?;
    let mut request = match &args.source {
        Some(source) => CommitRequest::new(args.id.as_str(), source),
        None => CommitRequest::edit(args.id.as_str(), edits(args)),
    };
    request.message = args.message.clone();
    request.user_name = args.user_name.clone();
    request.user_address = args.user_address.clone();
    request.created = args.created;
    request.follow_symlinks = args.follow_symlinks;
    request.fixity = args.fixity.clone();
    request.bagit = args.bagit;
    submit(global, &work, request, args.detach)
}

/// The edits of `--remove`, `--move` and `--add`, in the order they apply.
fn edits(args: &CommitArgs) -> Vec<Edit> {
    let removes = args
        .remove
        .iter()
        .map(|path| Edit::Remove { path: path.clone() });
    let moves = args.moves.chunks_exact(2).map(|pair| Edit::Move {
        from: pair[0].clone(),
        to: pair[1].clone(),
    });
    let adds = args.add.chunks_exact(2).map(|pair| Edit::Add {
        source: PathBuf::from(&pair[0]),
        dest: pair[1].clone(),
    });
    removes.chain(moves).chain(adds).collect()
}

/// Runs (or with `detach` submits) `request` on the root of `work` and prints the outcome.
pub fn submit(
    global: &GlobalArgs,
    work: &Site,
    mut request: CommitRequest,
    detach: bool,
) -> Result<ExitCode> {
    // Read before anything is written: a settings file we cannot understand stops the
    // commit. The run records the algorithm, so a resumed run or a worker elsewhere uses
    // the same one without reading the file again. (sha512, the default, is recorded as
    // nothing: such runs keep the ids they had before the setting existed.)
    let settings = match work {
        Site::Local(local) => RootSettings::read(&local.root_path())?,
        #[cfg(feature = "s3")]
        Site::S3(site) => RootSettings::read_storage(&site.root, &site.location.to_string())?,
    };
    request.new_object_digest = settings.map(|s| s.digest_algorithm);
    // Everything that can be refused before a run starts is refused here, before the
    // engine's store or the work area exist: a refused commit leaves no trace.
    check_commit(work, &request)?;
    // Workers on other hosts may run any part of the run: they get its new content from
    // the bucket, staged before the run exists (docs/durability.md 11.6).
    if work.stages_before_submitting(global.backend.is_some()) {
        stage_in_work_area(global, work, &mut request)?;
    }
    if let Some(forwarder) = forward::forwarder(global, work) {
        let commit = forward::Commit::of(&request)?;
        return forwarded(global, &forwarder, commit, &request.object_id, detach);
    }
    if detach {
        return self::detach(global, work, &request);
    }
    let outcome = execute(
        global,
        work,
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

/// Stages `request`'s new content into the work area of `work`'s bucket, showing the bytes
/// sent, and records where in the request.
fn stage_in_work_area(global: &GlobalArgs, work: &Site, request: &mut CommitRequest) -> Result<()> {
    let env = work.environment(&work.area_path(), true);
    let meter = Sending::new(
        Mode::detect(global.quiet, global.verbose),
        "staging into the work area",
    );
    let staged = ocfl_durable::stage_in_work_area(&env, request, &|bytes| meter.add(bytes));
    meter.finish();
    let staged = staged?;
    if !global.quiet {
        eprintln!(
            "Staged {} files ({} bytes) into the work area: sent {} new files ({} bytes)",
            staged.files, staged.bytes, staged.uploaded, staged.uploaded_bytes
        );
    }
    Ok(())
}

/// The `--json` line documented in the README: exactly these fields.
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

/// Runs `request` on the engine of the root of `work` in this process, showing progress in
/// `mode`: submits it (or finds the interrupted run of the same command), then waits for the
/// run.
pub fn execute(
    global: &GlobalArgs,
    work: &Site,
    request: &CommitRequest,
    mode: Mode,
) -> Result<CommitOutcome> {
    runtime()?.block_on(async {
        let display = Arc::new(Display::new(mode));
        let store = Store::open(global, work).await?;
        let options = command_worker_options(global);
        let engine = Engine::start(store, Some(display.clone()), options)?;
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
    display.watch(&submitted.run, resumed.as_ref(), &staging_label(request));
    Ok(service.wait_submitted(&submitted).await?)
}

/// What the progress display says is being staged.
fn staging_label(request: &CommitRequest) -> String {
    match &request.edits {
        None => request.source.display().to_string(),
        Some(Edits::Revert(version)) => format!("{} at {version}", request.object_id),
        Some(Edits::Changes(edits)) => format!("{} edits to {}", edits.len(), request.object_id),
        Some(Edits::Upgrade) => format!("{} at its head", request.object_id),
    }
}

/// `commit --detach`: submits the run and prints its id.
///
/// The submission is recorded in the store at once, so `ocfl runs` lists it (pending until
/// a worker takes it). On a shared store (PostgreSQL) `ocfl worker` processes run it; on the
/// embedded store `ocfl worker`, `ocfl resume` or the same command again.
fn detach(global: &GlobalArgs, work: &Site, request: &CommitRequest) -> Result<ExitCode> {
    let submitted = runtime()?.block_on(async {
        let store = Store::open(global, work).await?;
        let service = store.service()?;
        anyhow::Ok(service.submit(request).await?)
    })?;
    print_detached(
        global,
        &submitted.run,
        submitted.resumed,
        &request.object_id,
    )
}

/// What `commit --detach` prints about the run it submitted.
fn print_detached(global: &GlobalArgs, run: &str, resumed: bool, id: &str) -> Result<ExitCode> {
    if global.json {
        println!("{}", json!({"run": run, "id": id, "detached": true}));
    } else {
        println!("{run}");
    }
    if !global.quiet {
        let which = if resumed {
            "the run of this command that was already active"
        } else {
            "a new run"
        };
        eprintln!("submitted {run} for object {id}: {which}; `ocfl runs show {run}` follows it");
    }
    Ok(ExitCode::SUCCESS)
}

/// The commit sent to the `ocfl serve` that holds the embedded store, which runs it; without
/// `--detach`, waits for it as the command would.
fn forwarded(
    global: &GlobalArgs,
    forwarder: &Forwarder,
    commit: forward::Commit,
    id: &str,
    detach: bool,
) -> Result<ExitCode> {
    let (run, resumed) = forwarder.submit(commit)?;
    if detach {
        return print_detached(global, &run, resumed, id);
    }
    if !global.quiet {
        eprintln!(
            "ocfl serve holds the engine's store: run {run} goes on there (its console shows it)"
        );
    }
    let info = forwarder.wait(&run)?;
    let line = forward::outcome(&info)?;
    if global.json {
        println!("{line}");
    }
    if !global.quiet {
        eprintln!(
            "object {id} is now at {} (run {run})",
            line["version"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}
