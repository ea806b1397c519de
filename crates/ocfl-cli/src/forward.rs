//! Reaching the engine through `ocfl serve` while it holds the embedded store.
//!
//! The embedded store belongs to one process at a time. While `ocfl serve` holds it, it
//! listens on a Unix socket beside it (`<store>.sock`, e.g. `state.redb.sock`), and `ocfl
//! commit` (of a source directory, detached or not), `ocfl runs` (listing and `show`) and
//! `ocfl resume` started in another terminal send their request there instead of waiting for
//! the store: the console's worker runs the commit, so it shows up live in the browser.
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
use ocfl_core::digest::DigestAlgorithm;
use ocfl_durable::{CommitRequest, RunInfo, RunState, RunsPage, UpdateService};
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

/// A commit of a source directory, as it crosses the socket.
#[derive(Debug, Serialize, Deserialize)]
pub struct Commit {
    object_id: String,
    source: PathBuf,
    message: Option<String>,
    user_name: Option<String>,
    user_address: Option<String>,
    created: Option<DateTime<FixedOffset>>,
    follow_symlinks: bool,
    new_object_digest: Option<String>,
}

impl Commit {
    /// The forwarded form of `request`, or `None` for what is not forwarded (edits, and
    /// settings `ocfl commit` does not set).
    pub fn of(request: &CommitRequest) -> Option<Commit> {
        let plain = CommitRequest::new(request.object_id.clone(), request.source.clone());
        let forwardable = request.edits.is_none()
            && request.spec_version == plain.spec_version
            && request.digest_algorithm == plain.digest_algorithm
            && request.fixity == plain.fixity
            && request.content_directory == plain.content_directory
            && request.padding == plain.padding
            && request.bagit == plain.bagit
            && request.staged == plain.staged;
        forwardable.then(|| Commit {
            object_id: request.object_id.clone(),
            source: request.source.clone(),
            message: request.message.clone(),
            user_name: request.user_name.clone(),
            user_address: request.user_address.clone(),
            created: request.created,
            follow_symlinks: request.follow_symlinks,
            new_object_digest: request.new_object_digest.map(|d| d.name().to_owned()),
        })
    }

    fn request(self) -> Result<CommitRequest> {
        let mut request = CommitRequest::new(self.object_id, self.source);
        request.message = self.message;
        request.user_name = self.user_name;
        request.user_address = self.user_address;
        request.created = self.created;
        request.follow_symlinks = self.follow_symlinks;
        request.new_object_digest = match self.new_object_digest {
            Some(name) => Some(
                DigestAlgorithm::from_name(&name)
                    .with_context(|| format!("unknown digest algorithm {name:?}"))?,
            ),
            None => None,
        };
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
        commit: Commit,
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
}

async fn answer(service: &UpdateService, request: Request) -> Result<Value> {
    Ok(match request {
        Request::Submit { commit } => {
            let submitted = service.submit(&commit.request()?).await?;
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
    })
}

/// Serves requests on the socket at `path` (replacing a stale one) until the process ends;
/// the socket file is removed when the returned guard is dropped.
pub fn listen(path: &Path, service: Arc<UpdateService>) -> Result<SocketGuard> {
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
            let service = service.clone();
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
                    Ok(request) => match answer(&service, request).await {
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

/// The `ocfl serve` holding the embedded store of `work`, if one is serving (never for
/// PostgreSQL, which every process opens itself).
pub fn forwarder(global: &crate::args::GlobalArgs, work: &crate::site::Site) -> Option<Forwarder> {
    if global.backend.is_some() || !matches!(work, crate::site::Site::Local(_)) {
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
        let reply = self.call(&Request::Submit { commit })?;
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

    /// Asks the server to resume `run`.
    pub fn resume(&self, run: &str) -> Result<()> {
        self.call(&Request::Resume {
            run: run.to_owned(),
        })?;
        Ok(())
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
