//! What a request reads, shared by the API and the pages: the listings with their filters
//! and paging, a run with its history, the diff of two versions, and the actions.

use std::sync::Arc;

use std::time::Duration;

use durable_core::{Event, WorkerInfo};
use ocfl_durable::{RunInfo, RunState};
use serde_json::{Value, json};

use crate::App;
use crate::api::{DiffQuery, ObjectsQuery, RunsQuery, WorkersQuery, blocking, parse_version};
use crate::error::Failure;
use crate::listing::ListingPage;
use crate::paging::{PageQuery, page_of};
use crate::shapes::{changes, state_name};

/// The most runs of the store one filtered page reads before answering with what it has
/// (and a `next` to go on from).
const FILTER_SCAN: usize = 20_000;

/// Every state a run can be in, by name.
const STATES: [RunState; 7] = [
    RunState::Pending,
    RunState::Running,
    RunState::Stalled,
    RunState::Suspended,
    RunState::Completed,
    RunState::Failed,
    RunState::Terminated,
];

/// A runs listing's filters and page, checked.
#[derive(Debug, Clone)]
pub struct RunFilter {
    /// Finished runs too.
    pub all: bool,
    /// Only this object's.
    pub object: Option<String>,
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Page size.
    pub limit: usize,
    /// The previous page's `next`.
    pub after: Option<String>,
}

impl RunFilter {
    /// The filter a query asks for.
    pub fn of(q: &RunsQuery) -> Result<RunFilter, Failure> {
        let page = PageQuery {
            limit: q.limit.clone(),
            after: q.after.clone(),
        };
        let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(name) => Some(
                STATES
                    .into_iter()
                    .find(|s| state_name(*s) == name)
                    .ok_or_else(|| {
                        Failure::bad_request(format!(
                            "state must be one of {}",
                            STATES.map(state_name).join(", ")
                        ))
                    })?,
            ),
        };
        let all = matches!(q.all.as_deref(), Some("true" | "1" | "on"))
            || state.is_some_and(RunState::is_finished);
        Ok(RunFilter {
            all,
            object: q.object.clone().filter(|o| !o.is_empty()),
            state,
            limit: page.limit()?,
            after: page.after().map(str::to_owned),
        })
    }

    fn keeps(&self, info: &RunInfo) -> bool {
        self.object.as_ref().is_none_or(|o| *o == info.object_id)
            && self.state.is_none_or(|s| s == info.state)
    }
}

/// A page of runs and the `next` key (keyset pages of `UpdateService::runs_page`, filtered
/// here).
pub async fn runs_page(
    app: &App,
    filter: &RunFilter,
) -> Result<(Vec<RunInfo>, Option<String>), Failure> {
    let Some(service) = &app.service else {
        return Ok((Vec::new(), None));
    };
    if filter.object.is_none() && filter.state.is_none() {
        let page = service
            .runs_page(filter.all, filter.limit, filter.after.as_deref())
            .await?;
        return Ok((page.runs, page.next));
    }
    let mut kept = Vec::new();
    let mut cursor = filter.after.clone();
    let mut scanned = 0usize;
    loop {
        let page = service
            .runs_page(filter.all, filter.limit, cursor.as_deref())
            .await?;
        for info in page.runs {
            scanned += 1;
            cursor = Some(info.run.clone());
            if filter.keeps(&info) {
                kept.push(info);
                if kept.len() == filter.limit {
                    return Ok((kept, cursor));
                }
            }
        }
        if page.next.is_none() {
            return Ok((kept, None));
        }
        if scanned >= FILTER_SCAN {
            return Ok((kept, cursor));
        }
    }
}

/// A run and its history; 404 for an unknown run.
pub async fn run_with_history(app: &App, run: &str) -> Result<(RunInfo, Vec<Event>), Failure> {
    let service = app.service.as_ref().ok_or_else(|| {
        Failure::not_found(format!("no run {run:?}: this console has no engine store"))
    })?;
    let info = service
        .run(run)
        .await?
        .ok_or_else(|| Failure::not_found(format!("no run {run:?}")))?;
    let events = service.history(run).await.unwrap_or_default();
    Ok((info, events))
}

/// Resumes `run` in the background: the request does not wait for it to end.
pub async fn resume(app: &App, run: &str) -> Result<(), Failure> {
    let (info, _) = run_with_history(app, run).await?;
    if info.state.is_finished() {
        return Err(Failure::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "run {run} has ended ({}): nothing to resume",
                state_name(info.state)
            ),
        ));
    }
    let service = app
        .service
        .clone()
        .ok_or_else(|| Failure::not_found("no engine store"))?;
    let run = run.to_owned();
    tokio::spawn(async move {
        if let Err(error) = service.resume(&run).await {
            tracing::info!(%error, "run {run} resumed from the console did not complete");
        }
    });
    Ok(())
}

/// Terminates `run`.
pub async fn terminate(app: &App, run: &str) -> Result<(), Failure> {
    let (info, _) = run_with_history(app, run).await?;
    if info.state.is_finished() {
        return Err(Failure::new(
            axum::http::StatusCode::CONFLICT,
            format!("run {run} has already ended ({})", state_name(info.state)),
        ));
    }
    if info.state == RunState::Pending {
        // Until a worker starts it, the run is only a request waiting for its object.
        return Err(Failure::new(
            axum::http::StatusCode::CONFLICT,
            format!("run {run} has not started yet: it can be terminated once a worker starts it"),
        ));
    }
    let service = app
        .service
        .as_ref()
        .ok_or_else(|| Failure::not_found("no engine store"))?;
    service
        .client()
        .terminate(run, "terminated from the console")
        .await
        .map_err(|e| Failure::internal(e.to_string()))
}

/// How far back the Workers view looks when the request does not say (minutes).
pub const DEFAULT_WORKER_MINUTES: u64 = 10;
/// The furthest back it looks (a day).
const MAX_WORKER_MINUTES: u64 = 24 * 60;

/// The window of a workers listing, checked: 1 to a day, in minutes.
pub fn worker_minutes(q: &WorkersQuery) -> Result<u64, Failure> {
    let Some(text) = q.minutes.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_WORKER_MINUTES);
    };
    match text.parse::<u64>() {
        Ok(n) if (1..=MAX_WORKER_MINUTES).contains(&n) => Ok(n),
        _ => Err(Failure::bad_request(format!(
            "minutes must be a number from 1 to {MAX_WORKER_MINUTES}"
        ))),
    }
}

/// The workers seen within `minutes` (or holding a lease), with what each holds; `None`
/// when the store does not record workers (the embedded store, whose one worker is the
/// console's own) or there is no store.
pub async fn workers(app: &App, minutes: u64) -> Result<Option<Vec<WorkerInfo>>, Failure> {
    let Some(service) = &app.service else {
        return Ok(None);
    };
    service
        .client()
        .workers(Duration::from_secs(minutes * 60))
        .await
        .map_err(|e| Failure::internal(format!("listing the workers: {e}")))
}

/// A page of the root's objects whose id contains `q` (case-insensitive), from the index:
/// no request walks the root.
pub fn objects_page(app: &Arc<App>, q: &ObjectsQuery) -> Result<ListingPage, Failure> {
    let page = PageQuery {
        limit: q.limit.clone(),
        after: q.after.clone(),
    };
    let search = q.q.clone().unwrap_or_default().to_lowercase();
    Ok(app
        .objects
        .listing()
        .page(&search, page.after(), page.limit()?))
}

/// A page of the changes between two versions.
pub struct DiffView {
    /// The object id.
    pub id: String,
    /// The older version, as the object names it.
    pub from: String,
    /// The newer version.
    pub to: String,
    /// How many of each change.
    pub counts: Value,
    /// The page of changes (`ocfl diff --json` lines).
    pub changes: Vec<Value>,
    /// Where the next page starts.
    pub next: Option<String>,
}

/// The changes between `from` (default: the version before `to`) and `to` (default: the
/// head).
pub async fn diff(app: &Arc<App>, id: String, q: &DiffQuery) -> Result<DiffView, Failure> {
    let page = PageQuery {
        limit: q.limit.clone(),
        after: q.after.clone(),
    };
    let limit = page.limit()?;
    let after = page.after().map(str::to_owned);
    let to =
        q.to.as_deref()
            .filter(|t| !t.is_empty())
            .map(parse_version)
            .transpose()?;
    let from = q
        .from
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(parse_version)
        .transpose()?;
    blocking(app, move |app| {
        let object = app.objects.open(&id)?;
        let (to, _) = object.version(to)?;
        let from = match from {
            Some(from) => object.version(Some(from))?.0,
            None => to
                .previous()
                .map_or(Ok(to), |p| object.version(Some(p)).map(|v| v.0))?,
        };
        let diff = object.diff(from, to)?;
        let all = changes(&diff);
        let (page, next) = page_of(&all, |c| c.0.as_str(), after.as_deref(), limit);
        Ok(DiffView {
            id: object.id().to_owned(),
            from: from.to_string(),
            to: to.to_string(),
            counts: json!({
                "added": diff.added.len(),
                "removed": diff.removed.len(),
                "modified": diff.modified.len(),
                "renamed": diff.renamed.len(),
            }),
            changes: page.iter().map(|c| c.1.clone()).collect(),
            next,
        })
    })
    .await
}
