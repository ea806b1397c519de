//! The JSON API under `/api/` (routes in the README): the shapes of the `ocfl --json`
//! lines, one document per request.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, RawPathParams, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use ocfl_core::validate::{ValidationOptions, validate_object};
use ocfl_core::version_num::VersionNum;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Proof, check_action};
use crate::error::Failure;
use crate::files::files_page;
use crate::paging::PageQuery;
use crate::shapes::{file_json, report_json, run_json, version_json, worker_json};
use crate::urls::{decode_logical_path, decoded_id, raw_tail};
use crate::views::{self, RunFilter};

/// A query string, its parse errors answered as the API answers errors.
pub fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Failure> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Failure::bad_request(e.body_text()))
}

/// A path parameter (decoded once by the router).
pub fn raw<'a>(params: &'a RawPathParams, name: &str) -> Result<&'a str, Failure> {
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .ok_or_else(|| Failure::internal(format!("route without {name}")))
}

/// The object id in the URL.
pub fn object_id(params: &RawPathParams) -> Result<String, Failure> {
    decoded_id(raw(params, "id")?, "object id")
}

/// The version in the URL.
pub fn version(params: &RawPathParams) -> Result<VersionNum, Failure> {
    parse_version(raw(params, "version")?)
}

/// A version number (`v1`, `v003`).
pub fn parse_version(text: &str) -> Result<VersionNum, Failure> {
    VersionNum::parse(text).map_err(|e| Failure::bad_request(format!("version {text:?}: {e}")))
}

/// Runs `work` on a blocking thread.
pub async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    work: impl FnOnce(&App) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || work(&app)).await?
}

/// `GET /api/session`: the CSRF token actions need when sent without a bearer token, and
/// whether actions are allowed.
pub async fn session(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "csrf_token": app.csrf,
        "actions": app.options.allow_actions,
        "root": app.root_name,
    }))
}

/// The filters of a runs listing.
#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    /// `true`: finished runs too.
    pub all: Option<String>,
    /// Only the runs of this object id.
    pub object: Option<String>,
    /// Only the runs in this state.
    pub state: Option<String>,
    /// Page size.
    pub limit: Option<String>,
    /// The previous page's `next`.
    pub after: Option<String>,
}

/// `GET /api/runs`: a page of runs (`ocfl runs --json`, with `--limit/--after`).
pub async fn runs(
    State(app): State<Arc<App>>,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Value>, Failure> {
    let q = query(q)?;
    let filter = RunFilter::of(&q)?;
    let (runs, next) = views::runs_page(&app, &filter).await?;
    Ok(Json(json!({
        "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// The window of a workers listing.
#[derive(Debug, Default, Deserialize)]
pub struct WorkersQuery {
    /// Workers seen within this many minutes (default 10, at most a day); those holding a
    /// lease are listed whenever they were last seen.
    pub minutes: Option<String>,
}

/// `GET /api/workers`: the workers of a shared store seen recently, each with the work it
/// holds; `"recorded": false` where the store does not record workers (the embedded one).
pub async fn workers(
    State(app): State<Arc<App>>,
    q: Result<Query<WorkersQuery>, QueryRejection>,
) -> Result<Json<Value>, Failure> {
    let minutes = views::worker_minutes(&query(q)?)?;
    let workers = views::workers(&app, minutes).await?;
    Ok(Json(json!({
        "recorded": workers.is_some(),
        "minutes": minutes,
        "workers": workers.iter().flatten().map(worker_json).collect::<Vec<_>>(),
    })))
}

/// `GET /api/runs/{run}`: one run and its event history (`ocfl runs show RUN --json`).
pub async fn run(
    State(app): State<Arc<App>>,
    params: RawPathParams,
) -> Result<Json<Value>, Failure> {
    let run = decoded_id(raw(&params, "run")?, "run id")?;
    let (info, events) = views::run_with_history(&app, &run).await?;
    let mut line = run_json(&info);
    line["events"] = Value::Array(
        events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect(),
    );
    Ok(Json(line))
}

/// `GET /api/live`: changed runs as server-sent events named `run`, each the run's line.
pub async fn live(
    State(app): State<Arc<App>>,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, Failure> {
    let Some(service) = app.service.clone() else {
        return Err(Failure::not_found(
            "this console has no engine store: no runs",
        ));
    };
    let receiver = app.live.subscribe(service);
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(line) => {
                    let event = Event::default().event("run").data(line.to_string());
                    return Some((Ok(event), receiver));
                }
                // A slow page missed some updates: later ones carry the whole state.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The form field of an action posted by a page.
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    /// The CSRF token.
    pub csrf: Option<String>,
}

/// `POST /api/runs/{run}/resume`: resumes a stalled (or suspended) run; answers at once
/// (202) while the run goes on.
pub async fn resume(
    State(app): State<Arc<App>>,
    Extension(proof): Extension<Proof>,
    headers: HeaderMap,
    params: RawPathParams,
) -> Result<Response, Failure> {
    check_action(&app, proof, &headers, None)?;
    let run = decoded_id(raw(&params, "run")?, "run id")?;
    views::resume(&app, &run).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"run": run, "resumed": true})),
    )
        .into_response())
}

/// `POST /api/runs/{run}/terminate`: ends an unfinished run.
pub async fn terminate(
    State(app): State<Arc<App>>,
    Extension(proof): Extension<Proof>,
    headers: HeaderMap,
    params: RawPathParams,
) -> Result<Json<Value>, Failure> {
    check_action(&app, proof, &headers, None)?;
    let run = decoded_id(raw(&params, "run")?, "run id")?;
    views::terminate(&app, &run).await?;
    Ok(Json(json!({"run": run, "terminated": true})))
}

/// The search and paging of the objects listing.
#[derive(Debug, Default, Deserialize)]
pub struct ObjectsQuery {
    /// Only ids containing this text (case-insensitive).
    pub q: Option<String>,
    /// Page size.
    pub limit: Option<String>,
    /// The previous page's `next`.
    pub after: Option<String>,
}

/// `GET /api/objects`: a page of objects (`ocfl ls --json`), sorted by id, from the index
/// (`complete` is false until the console has listed the root once).
pub async fn objects(
    State(app): State<Arc<App>>,
    q: Result<Query<ObjectsQuery>, QueryRejection>,
) -> Result<Json<Value>, Failure> {
    let q = query(q)?;
    let page = views::objects_page(&app, &q)?;
    Ok(Json(json!({
        "objects": page.objects
            .iter()
            .map(|o| json!({"id": o.id, "head": o.head, "path": o.path}))
            .collect::<Vec<_>>(),
        "next": page.next,
        "complete": page.complete,
    })))
}

/// `GET /api/objects/{id}`: an object and its versions, newest first (`ocfl log --json`).
pub async fn object(
    State(app): State<Arc<App>>,
    params: RawPathParams,
) -> Result<Json<Value>, Failure> {
    let id = object_id(&params)?;
    blocking(&app, move |app| {
        let read = app.objects.version(&id, None)?;
        let versions: Vec<Value> = read.versions.iter().rev().map(version_json).collect();
        Ok(Json(json!({
            "id": read.id,
            "head": read.head.to_string(),
            "path": app.objects.path_of(&read.id)?,
            "digest_algorithm": read.digest_algorithm.to_string(),
            "versions": versions,
        })))
    })
    .await
}

/// `GET /api/objects/{id}/versions/{version}`: a version and a page of its files, sorted
/// by path (`ocfl show --json`).
pub async fn version_files(
    State(app): State<Arc<App>>,
    params: RawPathParams,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, Failure> {
    let q = query(q)?;
    let id = object_id(&params)?;
    let num = version(&params)?;
    let limit = q.limit()?;
    blocking(&app, move |app| {
        let read = app.objects.version(&id, Some(num))?;
        let num = read.files.version();
        let version = read
            .info()
            .ok_or_else(|| Failure::internal("the version read has no metadata"))?;
        let page = files_page(&read.files, q.after(), limit);
        Ok(Json(json!({
            "id": read.id,
            "version": num.to_string(),
            "head": num == read.head,
            "created": version.created,
            "user": crate::shapes::user_json(version.user.as_ref()),
            "message": version.message,
            "file_count": page.total,
            "files": page.files.iter().map(file_json).collect::<Vec<_>>(),
            "next": page.next,
        })))
    })
    .await
}

/// The versions compared and the paging of a diff.
#[derive(Debug, Default, Deserialize)]
pub struct DiffQuery {
    /// The older version.
    pub from: Option<String>,
    /// The newer version.
    pub to: Option<String>,
    /// Page size.
    pub limit: Option<String>,
    /// The previous page's `next`.
    pub after: Option<String>,
}

/// `GET /api/objects/{id}/diff?from=v1&to=v2`: a page of the changes between two
/// versions, sorted by path (`ocfl diff --json`).
pub async fn diff(
    State(app): State<Arc<App>>,
    params: RawPathParams,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<Value>, Failure> {
    let q = query(q)?;
    let id = object_id(&params)?;
    let view = views::diff(&app, id, &q).await?;
    Ok(Json(json!({
        "id": view.id,
        "from": view.from,
        "to": view.to,
        "counts": view.counts,
        "changes": view.changes,
        "next": view.next,
    })))
}

/// `GET /api/objects/{id}/versions/{version}/files/{*path}`: the file's bytes, streamed
/// and verified against its digest.
pub async fn download(
    State(app): State<Arc<App>>,
    params: RawPathParams,
    uri: Uri,
) -> Result<Response, Failure> {
    let id = object_id(&params)?;
    let num = version(&params)?;
    // "", "api", "objects", ID, "versions", VERSION, "files", then the path.
    let raw_path = raw_tail(uri.path(), 6).ok_or_else(|| Failure::bad_request("no file path"))?;
    let path = decode_logical_path(raw_path)?;
    let object = blocking(&app, move |app| app.objects.open(&id)).await?;
    crate::download::download(object, num, path)
}

/// `GET /api/objects/{id}/validation`: the object validated now (`ocfl validate --json`).
pub async fn validation(
    State(app): State<Arc<App>>,
    params: RawPathParams,
) -> Result<Json<Value>, Failure> {
    let id = object_id(&params)?;
    blocking(&app, move |app| {
        let object = app.objects.open(&id)?;
        let path = object.path().to_owned();
        let report = validate_object(app.objects.storage(), &path, &ValidationOptions::default());
        Ok(Json(report_json(&path, &report)))
    })
    .await
}
