//! Reaching the engine through `ocfl serve` while it holds the embedded store.
//!
//! The embedded store belongs to one process at a time. While `ocfl serve` holds it, it
//! listens on a Unix socket beside it (`<store>.sock`, e.g. `state.redb.sock`), and the
//! commands that run or read runs, started in another terminal, send their request there
//! instead of waiting for the store: `ocfl commit` (of a source directory or with `--add`,
//! `--remove`, `--move`; detached or not), `put`, `revert`, `upgrade`, `runs` (listing,
//! `show` and `purge`) and `resume`. The console's worker runs the runs, so they show up
//! live in the browser. (`rollback` is no run: it needs the store to itself, and waits for
//! it.)
//!
//! The protocol is one JSON line each way per connection: a request (`{"op": "submit", ...}`)
//! and `{"ok": VALUE}` or `{"error": MESSAGE}`. Only this user can reach the socket (it is
//! created with mode 0600 in the store's directory).

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset};
use durable_core::Event;
use ocfl_core::SpecVersion;
use ocfl_core::digest::DigestAlgorithm;
use ocfl_durable::{
    CommitOutcome, CommitRequest, Edit, Edits, Environment, RunInfo, RunState, RunsPage,
    UpdateService,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How often a forwarded `commit` or `resume` asks for its run's state.
const POLL: Duration = Duration::from_millis(200);

/// The socket beside the embedded store at `store`.
pub fn socket_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".sock");
    PathBuf::from(name)
}

/// A commit, as it crosses the socket: every field of a [`CommitRequest`], with paths made
/// absolute (the server does not share the client's working directory).
#[derive(Debug, Serialize, Deserialize)]
pub struct Commit {
    object_id: String,
    source: PathBuf,
    message: Option<String>,
    user_name: Option<String>,
    user_address: Option<String>,
    created: Option<DateTime<FixedOffset>>,
    spec_version: Option<String>,
    digest_algorithm: Option<String>,
    new_object_digest: Option<String>,
    fixity: Vec<String>,
    content_directory: Option<String>,
    padding: Option<u8>,
    follow_symlinks: bool,
    bagit: bool,
    edits: Option<EditsWire>,
    staged: Option<String>,
}

/// [`Edits`], as they cross the socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EditsWire {
    Changes(Vec<EditWire>),
    Revert(String),
    Upgrade,
}

/// [`Edit`], as it crosses the socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
enum EditWire {
    Add { source: PathBuf, dest: String },
    Remove { path: String },
    Move { from: String, to: String },
}

/// `path` made absolute against this process's working directory (empty stays empty: an
/// edit's request has no source).
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Ok(PathBuf::new());
    }
    std::path::absolute(path).with_context(|| format!("the path {}", path.display()))
}

impl Commit {
    /// The forwarded form of `request`.
    pub fn of(request: &CommitRequest) -> Result<Commit> {
        let name = |d: &DigestAlgorithm| d.name().to_owned();
        let edits = match &request.edits {
            None => None,
            Some(Edits::Revert(version)) => Some(EditsWire::Revert(version.clone())),
            Some(Edits::Upgrade) => Some(EditsWire::Upgrade),
            Some(Edits::Changes(changes)) => Some(EditsWire::Changes(
                changes
                    .iter()
                    .map(|edit| {
                        Ok(match edit {
                            Edit::Add { source, dest } => EditWire::Add {
                                source: absolute(source)?,
                                dest: dest.clone(),
                            },
                            Edit::Remove { path } => EditWire::Remove { path: path.clone() },
                            Edit::Move { from, to } => EditWire::Move {
                                from: from.clone(),
                                to: to.clone(),
                            },
                        })
                    })
                    .collect::<Result<_>>()?,
            )),
        };
        Ok(Commit {
            object_id: request.object_id.clone(),
            source: absolute(&request.source)?,
            message: request.message.clone(),
            user_name: request.user_name.clone(),
            user_address: request.user_address.clone(),
            created: request.created,
            spec_version: request.spec_version.map(|v| v.as_str().to_owned()),
            digest_algorithm: request.digest_algorithm.as_ref().map(name),
            new_object_digest: request.new_object_digest.as_ref().map(name),
            fixity: request.fixity.iter().map(name).collect(),
            content_directory: request.content_directory.clone(),
            padding: request.padding,
            follow_symlinks: request.follow_symlinks,
            bagit: request.bagit,
            edits,
            staged: request.staged.clone(),
        })
    }

    fn request(self) -> Result<CommitRequest> {
        let digest = |name: String| {
            DigestAlgorithm::from_name(&name)
                .with_context(|| format!("unknown digest algorithm {name:?}"))
        };
        let mut request = CommitRequest::new(self.object_id, self.source);
        request.message = self.message;
        request.user_name = self.user_name;
        request.user_address = self.user_address;
        request.created = self.created;
        request.spec_version = match self.spec_version {
            Some(name) => Some(
                SpecVersion::parse(&name)
                    .with_context(|| format!("unknown OCFL version {name:?}"))?,
            ),
            None => None,
        };
        request.digest_algorithm = self.digest_algorithm.map(digest).transpose()?;
        request.new_object_digest = self.new_object_digest.map(digest).transpose()?;
        request.fixity = self.fixity.into_iter().map(digest).collect::<Result<_>>()?;
        request.content_directory = self.content_directory;
        request.padding = self.padding;
        request.follow_symlinks = self.follow_symlinks;
        request.bagit = self.bagit;
        request.edits = self.edits.map(|edits| match edits {
            EditsWire::Revert(version) => Edits::Revert(version),
            EditsWire::Upgrade => Edits::Upgrade,
            EditsWire::Changes(changes) => Edits::Changes(
                changes
                    .into_iter()
                    .map(|edit| match edit {
                        EditWire::Add { source, dest } => Edit::Add { source, dest },
                        EditWire::Remove { path } => Edit::Remove { path },
                        EditWire::Move { from, to } => Edit::Move { from, to },
                    })
                    .collect(),
            ),
        });
        request.staged = self.staged;
        Ok(request)
    }
}

/// A request over the socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Submit a commit: `{"run", "resumed"}`.
    Submit {
        /// The commit.
        commit: Box<Commit>,
    },
    /// One run's state (`RunInfo`, or null).
    Run {
        /// The run id.
        run: String,
    },
    /// Every run, oldest first (`[RunInfo]`).
    Runs {
        /// Finished ones too.
        all: bool,
    },
    /// A page of runs (`RunsPage`).
    RunsPage {
        /// Finished ones too.
        all: bool,
        /// Page size.
        limit: usize,
        /// The previous page's `next`.
        after: Option<String>,
    },
    /// A run's history (`[Event]`).
    History {
        /// The run id.
        run: String,
    },
    /// Resume a run in the server; answers at once.
    Resume {
        /// The run id.
        run: String,
    },
    /// Purge the finished runs older than this many milliseconds (`[run id]`).
    Purge {
        /// The age, in milliseconds.
        older_than_ms: u64,
    },
}

/// What the socket's requests reach: the service, and the environment whose work area and
/// state directory purged runs leave.
pub struct Served {
    /// The root's update service on the store.
    pub service: UpdateService,
    /// The environment of the store's runs.
    pub env: Environment,
}

async fn answer(served: &Served, request: Request) -> Result<Value> {
    let service = &served.service;
    Ok(match request {
        Request::Submit { commit } => {
            let submitted = service.submit(&(*commit).request()?).await?;
            json!({"run": submitted.run, "resumed": submitted.resumed})
        }
        Request::Run { run } => serde_json::to_value(service.run(&run).await?)?,
        Request::Runs { all } => serde_json::to_value(service.runs(all).await?)?,
        Request::RunsPage { all, limit, after } => {
            serde_json::to_value(service.runs_page(all, limit, after.as_deref()).await?)?
        }
        Request::History { run } => serde_json::to_value(service.history(&run).await?)?,
        Request::Resume { run } => {
            let service = service.clone();
            tokio::spawn(async move {
                if let Err(error) = service.resume(&run).await {
                    tracing::info!(%error, "run {run} resumed for another process");
                }
            });
            Value::Null
        }
        Request::Purge { older_than_ms } => serde_json::to_value(
            service
                .purge_finished(&served.env, Duration::from_millis(older_than_ms))
                .await?,
        )?,
    })
}

/// Serves requests on the socket at `path` (replacing a stale one) until the process ends;
/// the socket file is removed when the returned guard is dropped.
pub fn listen(path: &Path, served: Arc<Served>) -> Result<SocketGuard> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listening on {}", path.display()))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let served = served.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                if tokio::io::BufReader::new(read)
                    .read_line(&mut line)
                    .await
                    .is_err()
                {
                    return;
                }
                let reply = match serde_json::from_str::<Request>(&line) {
                    Ok(request) => match answer(&served, request).await {
                        Ok(value) => json!({ "ok": value }),
                        Err(error) => json!({ "error": format!("{error:#}") }),
                    },
                    Err(error) => json!({ "error": format!("a malformed request: {error}") }),
                };
                let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
            });
        }
    });
    Ok(SocketGuard(path.to_owned()))
}

/// Removes the socket file when dropped.
pub struct SocketGuard(PathBuf);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The `ocfl serve` holding the embedded store of `work` (a root in a directory or a
/// bucket), if one is serving (never for PostgreSQL, which every process opens itself).
pub fn forwarder(global: &crate::args::GlobalArgs, work: &crate::site::Site) -> Option<Forwarder> {
    if global.backend.is_some() {
        return None;
    }
    Forwarder::find(&crate::state::store_path(global, work))
}

/// A connection point to a serving `ocfl serve`.
pub struct Forwarder {
    path: PathBuf,
}

impl Forwarder {
    /// The server holding the embedded store at `store`, if one answers on its socket.
    pub fn find(store: &Path) -> Option<Forwarder> {
        let path = socket_path(store);
        UnixStream::connect(&path).ok()?;
        Some(Forwarder { path })
    }

    fn call(&self, request: &Request) -> Result<Value> {
        let mut stream = UnixStream::connect(&self.path)
            .with_context(|| format!("reaching ocfl serve at {}", self.path.display()))?;
        writeln!(stream, "{}", serde_json::to_string(request)?)?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        let mut reply: Value =
            serde_json::from_str(&line).with_context(|| format!("ocfl serve answered {line:?}"))?;
        if let Some(error) = reply.get("error").and_then(Value::as_str) {
            bail!("{error}");
        }
        Ok(reply["ok"].take())
    }

    /// Submits `commit`: the run id and whether an active run of it was resumed.
    pub fn submit(&self, commit: Commit) -> Result<(String, bool)> {
        let reply = self.call(&Request::Submit {
            commit: Box::new(commit),
        })?;
        let run = reply["run"].as_str().context("a run id")?.to_owned();
        Ok((run, reply["resumed"].as_bool().unwrap_or(false)))
    }

    /// One run's state.
    pub fn run(&self, run: &str) -> Result<Option<RunInfo>> {
        let reply = self.call(&Request::Run {
            run: run.to_owned(),
        })?;
        Ok(serde_json::from_value(reply)?)
    }

    /// Every run (unfinished, or all).
    pub fn runs(&self, all: bool) -> Result<Vec<RunInfo>> {
        Ok(serde_json::from_value(self.call(&Request::Runs { all })?)?)
    }

    /// A page of runs.
    pub fn runs_page(&self, all: bool, limit: usize, after: Option<&str>) -> Result<RunsPage> {
        let reply = self.call(&Request::RunsPage {
            all,
            limit,
            after: after.map(str::to_owned),
        })?;
        Ok(serde_json::from_value(reply)?)
    }

    /// A run's history.
    pub fn history(&self, run: &str) -> Result<Vec<Event>> {
        let reply = self.call(&Request::History {
            run: run.to_owned(),
        })?;
        Ok(serde_json::from_value(reply)?)
    }

    /// Purges the finished runs older than `older_than`: their ids. (The store, held open
    /// by the server, is not compacted.)
    pub fn purge(&self, older_than: Duration) -> Result<Vec<String>> {
        let older_than_ms = u64::try_from(older_than.as_millis()).unwrap_or(u64::MAX);
        Ok(serde_json::from_value(
            self.call(&Request::Purge { older_than_ms })?,
        )?)
    }

    /// Asks the server to resume `run`.
    pub fn resume(&self, run: &str) -> Result<()> {
        self.call(&Request::Resume {
            run: run.to_owned(),
        })?;
        Ok(())
    }

    /// Runs `request` in the server and waits for its end, as a command running it itself
    /// would; an error for a run that did not complete.
    pub fn execute(&self, request: &CommitRequest) -> Result<CommitOutcome> {
        let (run, resumed) = self.submit(Commit::of(request)?)?;
        let info = self.wait(&run)?;
        let mut outcome: CommitOutcome = serde_json::from_value(outcome(&info)?)?;
        outcome.resumed = resumed;
        Ok(outcome)
    }

    /// Waits until `run` has ended or stalled anew: its last state. A stall it shows now
    /// (one being resumed) does not count; only a later one does.
    pub fn wait(&self, run: &str) -> Result<RunInfo> {
        let stalls = |info: &RunInfo| info.progress.as_ref().map_or(0, |p| p.stalls);
        let mut past = None;
        loop {
            let info = self
                .run(run)?
                .with_context(|| format!("run {run} is not in the store"))?;
            let known = *past.get_or_insert(stalls(&info));
            if info.state.is_finished()
                || (info.state == RunState::Stalled && stalls(&info) > known)
            {
                return Ok(info);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The `--json` line of a completed run, as `ocfl commit` prints it; an error for a run
/// that failed, was terminated or stalled.
pub fn outcome(info: &RunInfo) -> Result<Value> {
    match (&info.state, &info.report) {
        (RunState::Completed, Some(report)) => Ok(json!({
            "id": info.object_id,
            "version": report.version,
            "steps": report.steps,
            "bytes": report.bytes,
            "run": info.run,
            "changed": report.changed,
        })),
        (RunState::Stalled, _) => bail!(
            "run {} of object {} stalled: {}; fix the cause, then `ocfl resume` (or the Resume \
             button of the console)",
            info.run,
            info.object_id,
            info.progress
                .as_ref()
                .and_then(|p| p.error.clone())
                .unwrap_or_default()
        ),
        _ => bail!(
            "run {} of object {} did not complete: {}",
            info.run,
            info.object_id,
            info.error
                .clone()
                .unwrap_or_else(|| format!("{:?}", info.state))
        ),
    }
}
