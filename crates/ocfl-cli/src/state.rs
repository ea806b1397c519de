//! The engine's store: which one (`--backend`), where it lives, opening it, and the
//! in-process engine (service and worker) the durable commands run on.
//!
//! Where the work area and the default store are is `ocfl_core::location`'s decision alone
//! (`--work-area` overrides it). Without `--backend` the store is embedded (`durable-redb`),
//! by default `state.redb` in the work area (`<root>.ocfl-work/state.redb`): beside the
//! storage root, so nothing inside the root changes in the eyes of other OCFL validators. Each
//! active run keeps its staged file list and plan in `blobs/` beside the store. `--state PATH`
//! (or `OCFL_STATE`) puts the store elsewhere.
//!
//! With `--backend postgres://...` the store is a PostgreSQL database that `ocfl worker`
//! processes on many hosts share. Run data must then be visible to every worker, so it is
//! kept in the storage root's work area, which every host that sees the root (and its parent
//! directory) sees too.
//!
//! Nothing here creates anything until [`Store::open`]: commands check what they can first
//! ([`check_commit`]), so a refused command leaves no trace.
//!
//! Whatever the store, this module only opens it and hands it to `ocfl-durable` as a
//! `dyn Backend`: the commands do not depend on which one it is.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use durable_core::{Backend, Worker, WorkerOptions};
use durable_redb::{OpenError, RedbBackend, RedbOptions};
use ocfl_core::location::{LocalWorkArea, Location};
use ocfl_durable::{CommitRequest, Environment, ProgressSink, UpdateService, check_request};

use crate::open::declared_root;
use crate::site::Site;

use crate::args::{GlobalArgs, Retention, UsageError};
use durable_postgres::PostgresUrl;

/// How often a waiting process tries the store again (and re-reads who holds it).
const WAIT_CHUNK: Duration = Duration::from_millis(500);

/// A tokio runtime for the durable commands.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Which store `--backend` chose.
pub enum Choice {
    /// The embedded store, a file at this path.
    Embedded(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PostgresUrl>),
}

impl Choice {
    /// `--backend` and `--state` read: a usage error for an unsupported URL, or for
    /// `--state` given with PostgreSQL (it names the embedded store's file).
    pub fn of(global: &GlobalArgs, work: &Site) -> Result<Choice> {
        let Some(url) = &global.backend else {
            return Ok(Choice::Embedded(store_path(global, work)));
        };
        let url = crate::postgres::parse(url)?;
        if global.state.is_some() {
            return Err(UsageError(
                "--state (OCFL_STATE) names the embedded store's file; it cannot be used with \
                 --backend (OCFL_BACKEND)"
                    .to_owned(),
            )
            .into());
        }
        Ok(Choice::Postgres(Box::new(url)))
    }
}

/// The work area of the local storage root at `root` (which must exist): `--work-area`, or
/// the default beside the root.
pub fn work_area(global: &GlobalArgs, root: &Path) -> Result<LocalWorkArea> {
    Ok(LocalWorkArea::of(root, global.work_area.as_ref())?)
}

/// The root a durable command (`why`) updates, checked to be a storage root this tool can
/// write to, with its work area: a local directory, or (with the `s3` feature) a prefix in a
/// bucket.
pub fn site(global: &GlobalArgs, why: &str) -> Result<Site> {
    match &global.root {
        #[cfg(feature = "s3")]
        Some(Location::S3(location)) => {
            let site = crate::site::s3::S3Site::new(location, global.work_area.as_ref(), None)?;
            ocfl_core::object::StorageRoot::open(&site.root)
                .with_context(|| crate::open::in_root(&location.to_string()))?;
            Ok(Site::S3(site))
        }
        _ => {
            let root = declared_root(global, why)?;
            Ok(Site::Local(work_area(global, root)?))
        }
    }
}

/// Where the embedded store is: `--state`, or the default in the work area.
pub fn store_path(global: &GlobalArgs, work: &Site) -> PathBuf {
    global.state.clone().unwrap_or_else(|| work.default_store())
}

/// Refuses, creating nothing, a commit whose run could only fail (see
/// [`ocfl_durable::check_request`]): call it before [`Store::open`].
pub fn check_commit(work: &Site, request: &CommitRequest) -> Result<()> {
    // The check reads the root and the source only; the run-data directory is never used.
    let env = work.environment(&work.area_path(), false);
    Ok(check_request(&env, request)?)
}

/// The directory run data is kept in beside an embedded store: the store's.
fn state_dir(store: &Path) -> PathBuf {
    match store.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// An open store and where its runs keep their data.
pub struct Store {
    /// The engine's store.
    pub backend: Arc<dyn Backend>,
    /// Where runs keep their blobs (staged file lists, plans).
    pub state_dir: PathBuf,
    /// What it is, for people: the embedded store's path, or PostgreSQL's host and database
    /// (never the password).
    pub description: String,
    /// The storage root and its work area.
    pub work: Site,
    /// The embedded store's file (`None` for PostgreSQL).
    embedded: Option<PathBuf>,
}

impl Store {
    /// Whether workers on other hosts share the store (PostgreSQL), so that run data must be
    /// where every one of them reaches it.
    pub fn is_shared(&self) -> bool {
        self.embedded.is_none()
    }
}

impl Store {
    /// Opens (creating if needed) the store `--backend` or `--state` chooses for the root
    /// of `work`.
    pub async fn open(global: &GlobalArgs, work: &Site) -> Result<Store> {
        match Choice::of(global, work)? {
            Choice::Embedded(path) => Store::embedded(global, &path, work),
            Choice::Postgres(url) => Store::postgres(&url, work).await,
        }
    }

    /// The store of `root` if there is one: listing runs creates no embedded store. (A
    /// PostgreSQL database is always there: its schema is created on first use.)
    pub async fn open_existing(global: &GlobalArgs, work: &Site) -> Result<Option<Store>> {
        match Choice::of(global, work)? {
            Choice::Embedded(path) => match std::fs::metadata(&path) {
                Ok(_) => Store::embedded(global, &path, work).map(Some),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("the engine's store {}", path.display())),
            },
            Choice::Postgres(url) => Store::postgres(&url, work).await.map(Some),
        }
    }

    fn embedded(global: &GlobalArgs, path: &Path, work: &Site) -> Result<Store> {
        let backend = open_redb(global, path)?;
        Ok(Store {
            backend: Arc::new(backend),
            state_dir: state_dir(path),
            description: format!("the embedded store {}", path.display()),
            work: work.clone(),
            embedded: Some(path.to_owned()),
        })
    }

    async fn postgres(url: &PostgresUrl, work: &Site) -> Result<Store> {
        let backend = crate::postgres::connect(url).await?;
        Ok(Store {
            backend,
            state_dir: work.area_path(),
            description: url.describe(),
            work: work.clone(),
            embedded: None,
        })
    }

    /// The embedded store's file, if the store is embedded.
    pub fn embedded_path(&self) -> Option<&Path> {
        self.embedded.as_deref()
    }

    /// The environment of this store's runs (their work area and state directory).
    pub fn environment(&self) -> Environment {
        self.work.environment(&self.state_dir, self.is_shared())
    }

    /// The update service of the root on this store, without a worker (for listings).
    pub fn service(&self) -> Result<UpdateService> {
        self.work.service(self.backend.clone())
    }
}

/// Opens the embedded store at `path` (creating it and its directory if needed), waiting for
/// another process to release it for at most `--wait` seconds (forever without it) and
/// saying on stderr who holds it.
fn open_redb(global: &GlobalArgs, path: &Path) -> Result<RedbBackend> {
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
            // Checking every page's checksum reads the whole file: a cost that grows with the
            // store for every command. redb checks what it reads anyway, and repairs a file
            // that was not closed cleanly whatever this says.
            verify_on_open: global.verify_store,
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

/// Compacts the embedded store at `path` once this process's handle on it is gone (its last
/// tasks let go of it within moments), waiting for another process as `--wait` says.
pub fn compact_store(global: &GlobalArgs, path: &Path) -> Result<durable_redb::Compaction> {
    let options = RedbOptions {
        lock_wait: global
            .wait
            .map_or(Duration::from_secs(3600), Duration::from_secs)
            .max(Duration::from_secs(5)),
        ..RedbOptions::default()
    };
    durable_redb::compact(path, &options)
        .with_context(|| format!("compacting the engine's store {}", path.display()))
}

/// Worker settings for a command that runs the engine while it waits for runs (`commit`,
/// `resume`): work of other runs it picked up is handed back quickly when the command is
/// done, and goes on with the next process.
pub fn command_worker_options(global: &GlobalArgs) -> WorkerOptions {
    with_lease(
        global,
        WorkerOptions {
            shutdown_grace: Duration::from_millis(500),
            fetch_wait: Duration::from_secs(1),
            ..WorkerOptions::default()
        },
    )
}

/// `options` with the lease length of `--lease-seconds` (`OCFL_LEASE_SECONDS`), if given,
/// and the retention period of `--retention`.
pub fn with_lease(global: &GlobalArgs, mut options: WorkerOptions) -> WorkerOptions {
    options.retention = match global.retention {
        Retention::For(period) => durable_core::Retention::keep_for(period),
        Retention::Forever => durable_core::Retention::keep_forever(),
    };
    if let Some(seconds) = global.lease_seconds {
        let lease = Duration::from_secs_f64(seconds);
        options.orchestration_lease = lease;
        options.activity_lease = lease;
        // A worker waiting for work should notice expired leases about as soon as they
        // expire.
        options.fetch_wait = options.fetch_wait.min(lease);
    }
    options
}

/// The engine running in this process: the store, the update service and a worker
/// executing runs (this process's, and any others it finds).
pub struct Engine {
    /// Submits, waits for and lists runs.
    pub service: UpdateService,
    worker: Worker,
    /// Held until the worker has stopped: dropping an embedded store releases it to other
    /// processes.
    _store: Store,
}

impl Engine {
    /// Starts a worker on `store` for its root whose progress goes to `progress`.
    pub fn start(
        store: Store,
        progress: Option<Arc<dyn ProgressSink>>,
        options: WorkerOptions,
    ) -> Result<Engine> {
        let mut env = store.environment();
        if let Some(sink) = progress {
            env = env.with_progress(sink);
        }
        let service = store.service()?;
        let worker = service.start_worker(store.backend.clone(), Arc::new(env), options);
        Ok(Engine {
            service,
            worker,
            _store: store,
        })
    }

    /// Stops the worker (running episodes finish; activities get the grace period, then
    /// their leases are handed back) and releases the store.
    pub async fn stop(self) {
        self.worker.shutdown().await;
    }
}
