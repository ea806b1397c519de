//! Builds the engine stores `cargo xtask bench store` measures, and prints their sizes as
//! one JSON line.
//!
//! ```text
//! cargo run --release -p ocfl-durable --example store_growth -- --dir DIR [--runs N] [--window W]
//! ```
//!
//! One real commit of a small object (a storage root in `DIR/root`, on a throw-away store)
//! gives the histories of a run and of its object lock; each store below then gets `N`
//! copies of that pair under fresh ids, written as the engine writes them (one creation and
//! one acknowledgement per instance), so the stores hold what `N` commits of small objects
//! leave, in seconds instead of hours. Each also holds three runs submitted and never
//! started: the unfinished runs `ocfl runs` lists.
//!
//! - `DIR/kept.redb`: the `N` runs, never purged.
//! - `DIR/retained.redb`: the same, purged as a worker with a retention period does: every
//!   `W` runs, the finished ones older than the last `W` go (no compaction: redb reuses the
//!   pages they leave).
//! - `DIR/purged.redb`: a copy of `kept.redb` with every finished run purged, then compacted.
//! - `DIR/empty.redb`: only the three unfinished runs.
//!
//! The stores are written with relaxed durability (flushed every 50 ms and at the end):
//! their contents and layout are those of power-loss durable commits, only faster to make.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use durable_core::backend::{
    Backend, IdReusePolicy, MetadataUpdate, NewInstance, OrchestrationCommit,
};
use durable_core::{Event, InstanceFilter, InstanceMetadata, Worker, WorkerOptions};
use durable_redb::{Durability, RedbBackend, RedbOptions};
use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::storage::LocalStorage;
use ocfl_durable::{CommitRequest, Environment, ServiceOptions, UpdateService};
use serde_json::json;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "store_growth",
    about = "Builds the engine stores `cargo xtask bench store` measures"
)]
struct Options {
    /// Where the stores (and the storage root of the one real commit) go.
    #[arg(long)]
    dir: PathBuf,
    /// Runs in each store.
    #[arg(long, default_value_t = 10_000)]
    runs: usize,
    /// The retention window of `retained.redb`: runs between two purges.
    #[arg(long, default_value_t = 1_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    window: usize,
}

fn relaxed() -> RedbOptions {
    RedbOptions {
        durability: Durability::Relaxed {
            flush_interval: Duration::from_millis(50),
        },
        lock_wait: Duration::from_secs(30),
        ..RedbOptions::default()
    }
}

/// A finished instance of the template commit, with its history.
struct Template {
    metadata: InstanceMetadata,
    history: Vec<Event>,
}

/// Commits one small object on a throw-away store; returns the instances it left (the run
/// and its object lock), parents first.
async fn template(
    root: &Path,
    source: &Path,
    state: &Path,
) -> Result<(Vec<Template>, String), Failure> {
    let backend = Arc::new(RedbBackend::open_with(
        state.join("template.redb"),
        relaxed(),
    )?);
    let service = UpdateService::new(backend.clone(), root, ServiceOptions::default())?;
    let env = Arc::new(Environment::local(root, state)?);
    let worker = Worker::start(
        backend.clone(),
        ocfl_durable::registry(env),
        WorkerOptions::default(),
    );
    let outcome = service
        .commit(&CommitRequest::new("template-object", source))
        .await?;
    // The object lock finishes just after its run: wait for it, so every copy is finished.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !backend
        .list_instances(&InstanceFilter::all().unfinished())
        .await?
        .is_empty()
    {
        if std::time::Instant::now() > deadline {
            return Err("the template's instances did not finish".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.shutdown().await;
    let mut instances = Vec::new();
    let mut listed = backend.list_instances(&InstanceFilter::all()).await?;
    // Parents (no parent link) first.
    listed.sort_by_key(|metadata| metadata.parent.is_some());
    for metadata in listed {
        let history = backend.read_history(&metadata.instance_id).await?;
        instances.push(Template { metadata, history });
    }
    Ok((instances, outcome.run))
}

/// The template's key in its ids (the object key in `commit-KEY-...` and `object-KEY`).
fn template_key(run: &str) -> Result<String, Failure> {
    run.split('-')
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| format!("unexpected run id {run}").into())
}

/// Writes copy `n` of the template instances, with `key` replaced by a key of its own.
async fn write_copy(
    backend: &RedbBackend,
    templates: &[Template],
    key: &str,
    n: usize,
) -> Result<(), Failure> {
    let fresh = format!("{n:012x}");
    let rename = |text: &str| text.replace(key, &fresh);
    for template in templates {
        let metadata = &template.metadata;
        let id = rename(&metadata.instance_id);
        let history: Vec<Event> = template
            .history
            .iter()
            .map(|event| -> Result<Event, Failure> {
                Ok(serde_json::from_str(&rename(&serde_json::to_string(
                    event,
                )?))?)
            })
            .collect::<Result<_, _>>()?;
        let start = history
            .iter()
            .find(|event| matches!(event, Event::ExecutionStarted { .. }))
            .cloned()
            .ok_or("a history without its start")?;
        let mut parent = metadata.parent.clone();
        if let Some(link) = &mut parent {
            link.instance_id = rename(&link.instance_id);
        }
        backend
            .create_instance(NewInstance {
                instance_id: id.clone(),
                name: metadata.name.clone(),
                input: rename(&metadata.input),
                execution_id: metadata.execution_id,
                start,
                start_at_ms: None,
                parent,
                reuse: IdReusePolicy::Refuse,
            })
            .await?;
        let item = backend
            .fetch_orchestration(Duration::from_secs(60), Duration::ZERO)
            .await?
            .ok_or("the new instance was not handed out")?;
        if item.instance.instance_id != id {
            return Err(format!("handed out {} instead of {id}", item.instance.instance_id).into());
        }
        let commit = OrchestrationCommit {
            history,
            metadata: Some(MetadataUpdate {
                execution_id: metadata.execution_id,
                status: metadata.status,
                input: None,
                output: metadata.output.as_deref().map(rename),
                failure: metadata.failure.clone(),
                custom_status: metadata.custom_status.as_deref().map(rename),
            }),
            ..OrchestrationCommit::default()
        };
        backend
            .ack_orchestration(&id, item.lease.token, &commit)
            .await?;
    }
    Ok(())
}

/// Submits three runs no worker starts: the unfinished runs of the store.
async fn unfinished(backend: Arc<RedbBackend>, root: &Path, source: &Path) -> Result<(), Failure> {
    let service = UpdateService::new(backend, root, ServiceOptions::default())?;
    for n in 0..3 {
        service
            .submit(&CommitRequest::new(format!("waiting-{n}"), source))
            .await?;
    }
    Ok(())
}

fn size(path: &Path) -> Result<u64, Failure> {
    Ok(std::fs::metadata(path)?.len())
}

async fn purge_all(backend: &RedbBackend) -> Result<usize, Failure> {
    let mut purged = 0;
    loop {
        let batch = backend.purge_finished_before(u64::MAX, 500).await?.len();
        purged += batch;
        if batch < 500 {
            return Ok(purged);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Failure> {
    let options = <Options as clap::Parser>::parse();
    let dir = &options.dir;
    std::fs::create_dir_all(dir)?;
    let root = dir.join("root");
    init_storage_root(&LocalStorage::new(&root), &InitOptions::default())?;
    let root = std::fs::canonicalize(&root)?;
    let source = dir.join("source");
    std::fs::create_dir_all(&source)?;
    std::fs::write(source.join("a.txt"), b"a small object\n")?;
    std::fs::write(source.join("b.txt"), b"with two files\n")?;
    let scratch = dir.join("template");
    std::fs::create_dir_all(&scratch)?;
    let (templates, run) = template(&root, &source, &scratch).await?;
    let key = template_key(&run)?;
    let history_events: usize = templates.iter().map(|t| t.history.len()).sum();

    let kept_path = dir.join("kept.redb");
    let retained_path = dir.join("retained.redb");
    let empty_path = dir.join("empty.redb");
    let purged_path = dir.join("purged.redb");
    {
        let kept = Arc::new(RedbBackend::open_with(&kept_path, relaxed())?);
        let retained = Arc::new(RedbBackend::open_with(&retained_path, relaxed())?);
        let mut window_start_ms = None;
        for n in 0..options.runs {
            write_copy(&kept, &templates, &key, n).await?;
            write_copy(&retained, &templates, &key, n).await?;
            if (n + 1) % options.window == 0 {
                // Retention: what finished before the previous window boundary goes.
                if let Some(cutoff) = window_start_ms {
                    loop {
                        let purged = retained.purge_finished_before(cutoff, 100).await?;
                        if purged.len() < 100 {
                            break;
                        }
                    }
                }
                window_start_ms = Some(retained.now_ms());
                retained.flush().await?;
                kept.flush().await?;
            }
        }
        unfinished(kept.clone(), &root, &source).await?;
        unfinished(retained.clone(), &root, &source).await?;
        kept.flush().await?;
        retained.flush().await?;
        let empty = Arc::new(RedbBackend::open_with(&empty_path, relaxed())?);
        unfinished(empty.clone(), &root, &source).await?;
        empty.flush().await?;
    }
    // The backends above are closed once their last tasks let go (the copy waits for it).
    wait_closed(&kept_path)?;
    std::fs::copy(&kept_path, &purged_path)?;
    let purged_count;
    {
        let purged = RedbBackend::open_with(&purged_path, relaxed())?;
        purged_count = purge_all(&purged).await?;
        purged.flush().await?;
    }
    wait_closed(&purged_path)?;
    let purged_before_compaction = size(&purged_path)?;
    let compaction = durable_redb::compact(&purged_path, &relaxed())?;
    wait_closed(&retained_path)?;
    wait_closed(&empty_path)?;
    println!(
        "{}",
        json!({
            "runs": options.runs,
            "window": options.window,
            "instances_per_run": templates.len(),
            "events_per_run": history_events,
            "root": root,
            "kept": kept_path,
            "retained": retained_path,
            "purged": purged_path,
            "empty": empty_path,
            "kept_bytes": size(&kept_path)?,
            "retained_bytes": size(&retained_path)?,
            "purged_instances": purged_count,
            "purged_bytes_before_compaction": purged_before_compaction,
            "purged_bytes": compaction.bytes_after,
            "empty_bytes": size(&empty_path)?,
        })
    );
    Ok(())
}

/// Waits until no backend of this process holds the store at `path`.
fn wait_closed(path: &Path) -> Result<(), Failure> {
    // Taking and dropping the store's lock proves it free.
    let options = RedbOptions {
        lock_wait: Duration::from_secs(30),
        ..RedbOptions::default()
    };
    drop(RedbBackend::open_with(path, options)?);
    std::thread::sleep(Duration::from_millis(100));
    Ok(())
}
