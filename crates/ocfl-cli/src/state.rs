//! The engine's store: where it lives, opening it (waiting for another `ocfl` process that
//! holds it), and the in-process engine (service and worker) the durable commands run on.
//!
//! By default the store is `<root>.ocfl-work/state.redb`: beside the storage root, in the
//! work area updates already use, so nothing inside the root changes in the eyes of other
//! OCFL validators. Each active run keeps its staged file list and plan in `blobs/` beside
//! the store. `--state PATH` (or `OCFL_STATE`) puts the store elsewhere.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use durable_core::{Worker, WorkerOptions};
use durable_redb::{OpenError, RedbBackend, RedbOptions};
use ocfl_durable::{Environment, ProgressSink, ServiceOptions, UpdateService};

use crate::args::GlobalArgs;

/// The store's file name in the default location.
const STORE_FILE: &str = "state.redb";

/// How often a waiting process tries the store again (and re-reads who holds it).
const WAIT_CHUNK: Duration = Duration::from_millis(500);

/// A tokio runtime for the durable commands.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Where the store of the storage root at `root` is: `--state`, or the default beside the
/// root (which must exist: its absolute path decides the default).
pub fn store_path(global: &GlobalArgs, root: &Path) -> Result<PathBuf> {
    if let Some(path) = &global.state {
        return Ok(path.clone());
    }
    let root =
        std::fs::canonicalize(root).with_context(|| format!("storage root {}", root.display()))?;
    let name = root
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("storage root {}: its name is not UTF-8", root.display()))?;
    Ok(root
        .with_file_name(format!("{name}.ocfl-work"))
        .join(STORE_FILE))
}

/// The directory run data is kept in: the store's.
fn state_dir(store: &Path) -> PathBuf {
    match store.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Opens the store at `path` (creating it and its directory if needed), waiting for
/// another process to release it for at most `--wait` seconds (forever without it) and
/// saying on stderr who holds it.
pub fn open_store(global: &GlobalArgs, path: &Path) -> Result<RedbBackend> {
    let dir = state_dir(path);
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "creating the directory of the engine's store {}",
            dir.display()
        )
    })?;
    let limit = global.wait.map(Duration::from_secs);
    let started = Instant::now();
    let mut announced = None;
    loop {
        let waited = started.elapsed();
        let lock_wait = match (announced.is_some(), limit) {
            (false, _) => Duration::ZERO,
            (true, Some(limit)) => limit.saturating_sub(waited).min(WAIT_CHUNK),
            (true, None) => WAIT_CHUNK,
        };
        let options = RedbOptions {
            lock_wait,
            ..RedbOptions::default()
        };
        match RedbBackend::open_with(path, options) {
            Ok(backend) => return Ok(backend),
            Err(OpenError::InUse { pid, .. }) => {
                let holder =
                    pid.map_or_else(|| "another process".to_owned(), |p| format!("pid {p}"));
                if limit.is_some_and(|limit| started.elapsed() >= limit) {
                    bail!(
                        "the engine's store {} is in use by {holder}; gave up after waiting {} s (--wait)",
                        path.display(),
                        started.elapsed().as_secs()
                    );
                }
                if announced != Some(pid) && !global.quiet {
                    eprintln!(
                        "ocfl: the engine's store {} is in use by {holder}; waiting for it \
                         (--wait SECONDS bounds this)",
                        path.display()
                    );
                }
                announced = Some(pid);
            }
            Err(error) => {
                return Err(error).context("opening the engine's store (see --state)");
            }
        }
    }
}

/// The store of `root` if it exists (listing runs creates nothing).
pub fn open_existing(global: &GlobalArgs, root: &Path) -> Result<Option<RedbBackend>> {
    let path = store_path(global, root)?;
    match std::fs::metadata(&path) {
        Ok(_) => open_store(global, &path).map(Some),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("the engine's store {}", path.display())),
    }
}

/// The update service of `root` on an open store, without a worker (for listings).
pub fn service(backend: &Arc<RedbBackend>, root: &Path) -> Result<UpdateService> {
    UpdateService::new(backend.clone(), root, ServiceOptions::default())
        .with_context(|| format!("storage root {}", root.display()))
}

/// The engine running in this process: the store, the update service and a worker
/// executing runs (this process's, and any interrupted ones it finds).
pub struct Engine {
    /// Submits, waits for and lists runs.
    pub service: UpdateService,
    worker: Worker,
    /// Held until the worker has stopped: dropping it releases the store to other processes.
    _backend: Arc<RedbBackend>,
}

impl Engine {
    /// Opens the store of `root` and starts a worker whose progress goes to `progress`.
    pub fn start(
        global: &GlobalArgs,
        root: &Path,
        progress: Option<Arc<dyn ProgressSink>>,
    ) -> Result<Engine> {
        let path = store_path(global, root)?;
        let backend = Arc::new(open_store(global, &path)?);
        let mut env = Environment::local(root, &state_dir(&path))
            .with_context(|| format!("storage root {}", root.display()))?;
        if let Some(sink) = progress {
            env = env.with_progress(sink);
        }
        let service = service(&backend, root)?;
        let options = WorkerOptions {
            // Activities of other runs this worker picked up are handed back quickly when
            // this command is done; they go on with the next process.
            shutdown_grace: Duration::from_millis(500),
            fetch_wait: Duration::from_secs(1),
            ..WorkerOptions::default()
        };
        let worker = service.start_worker(backend.clone(), Arc::new(env), options);
        Ok(Engine {
            service,
            worker,
            _backend: backend,
        })
    }

    /// Stops the worker (running episodes finish; activities get a moment, then their
    /// leases are handed back) and releases the store.
    pub async fn stop(self) {
        self.worker.shutdown().await;
    }
}
