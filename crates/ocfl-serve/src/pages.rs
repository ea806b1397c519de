//! The HTML pages: runs (live), a run's timeline, objects, an object's versions, a
//! version's files, a diff, a validation report, and the login form. `maud` escapes every
//! value it renders; the only script is the embedded `console.js`, which writes with
//! `textContent` only.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Query, RawPathParams, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{DOCTYPE, Markup, html};
use ocfl_core::SpecVersion;
use ocfl_core::validate::{ValidationOptions, validate_object};
use serde::Deserialize;
use serde_json::Value;

use crate::App;
use crate::api::{
    ActionForm, DiffQuery, ObjectsQuery, RunsQuery, WorkersQuery, blocking, object_id, query, raw,
    version,
};
use crate::auth::{Proof, check_action, local_target, login_cookie, same_secret};
use crate::error::Failure;
use crate::files::{FilesPage, files_page};
use crate::listing::ListingPage;
use crate::paging::PageQuery;
use crate::shapes::{run_json, worker_json};
use crate::timeline::timeline;
use crate::urls::{decoded_id, logical_path, query_value, segment};
use crate::views::{self, RunFilter};

const SCRIPT: &str = include_str!("../assets/console.js");
const STYLE: &str = include_str!("../assets/console.css");

/// The pages' routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/runs") }))
        .route("/assets/console.js", get(script))
        .route("/assets/console.css", get(style))
        .route("/login", get(login_form).post(login))
        .route("/runs", get(runs))
        .route("/runs/{run}", get(run))
        .route("/runs/{run}/resume", post(resume))
        .route("/runs/{run}/terminate", post(terminate))
        .route("/workers", get(workers))
        .route("/objects", get(objects))
        .route("/objects/{id}", get(object))
        .route("/objects/{id}/versions/{version}", get(version_page))
        .route("/objects/{id}/diff", get(diff))
        .route("/objects/{id}/validation", get(validation))
}

/// A failure shown as a page.
struct PageFailure(Failure);

impl From<Failure> for PageFailure {
    fn from(failure: Failure) -> PageFailure {
        PageFailure(failure)
    }
}

impl IntoResponse for PageFailure {
    fn into_response(self) -> Response {
        let title = self.0.status.canonical_reason().unwrap_or("Error");
        let body = layout(
            title,
            html! {
                h1 { (self.0.status.as_u16()) " " (title) }
                p.error { (self.0.message) }
            },
        );
        (self.0.status, body).into_response()
    }
}

type PageResult = Result<Response, PageFailure>;

fn layout(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " - ocfl console" }
                    link rel="stylesheet" href="/assets/console.css";
                    script src="/assets/console.js" defer {}
                }
                body {
                    header {
                        a.brand href="/runs" { "ocfl console" }
                        nav { a href="/runs" { "Runs" } a href="/objects" { "Objects" } a href="/workers" { "Workers" } }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    response
}

/// `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn text<'a>(line: &'a Value, key: &str) -> &'a str {
    line.get(key).and_then(Value::as_str).unwrap_or("")
}

fn number(line: &Value, key: &str) -> u64 {
    line.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn object_url(id: &str) -> String {
    format!("/objects/{}", segment(id))
}

fn action_forms(app: &App, run: &str, state: &str) -> Markup {
    let unfinished = !matches!(state, "completed" | "failed" | "terminated");
    html! {
        @if app.options.allow_actions && unfinished {
            form.action method="post" action=(format!("/runs/{}/resume", segment(run))) {
                input type="hidden" name="csrf" value=(app.csrf);
                button type="submit" data-action="resume" { "Resume" }
            }
            form.action method="post" action=(format!("/runs/{}/terminate", segment(run))) {
                input type="hidden" name="csrf" value=(app.csrf);
                button type="submit" data-action="terminate" { "Terminate" }
            }
        }
    }
}

fn run_row(app: &App, line: &Value) -> Markup {
    let run = text(line, "run");
    let state = text(line, "state");
    html! {
        tr data-run=(run) {
            td { a href=(format!("/runs/{}", segment(run))) { (run) } }
            td { a href=(object_url(text(line, "id"))) { (text(line, "id")) } }
            td data-field="state" class=(format!("state {state}")) { (state) }
            td data-field="phase" { (text(line, "phase")) }
            td data-field="steps" { (number(line, "steps_done")) "/" (number(line, "steps_total")) }
            td data-field="bytes" data-bytes=(number(line, "bytes_done")) {
                (bytes(number(line, "bytes_done"))) " / " (bytes(number(line, "bytes_total")))
            }
            td data-field="rate" { "" }
            td { (text(line, "started")) }
            td data-field="error" { (text(line, "error")) }
            td { (action_forms(app, run, state)) }
        }
    }
}

async fn runs(
    State(app): State<Arc<App>>,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> PageResult {
    let q = query(q)?;
    let filter = RunFilter::of(&q)?;
    let (infos, next) = views::runs_page(&app, &filter).await?;
    let lines: Vec<Value> = infos.iter().map(run_json).collect();
    let plain = filter.object.is_none() && filter.state.is_none() && filter.after.is_none();
    let next_url = next.map(|next| {
        let mut url = format!("/runs?after={}", query_value(&next));
        if filter.all {
            url.push_str("&all=true");
        }
        if let Some(object) = &filter.object {
            url.push_str(&format!("&object={}", query_value(object)));
        }
        if let Some(state) = &q.state {
            url.push_str(&format!("&state={}", query_value(state)));
        }
        url
    });
    let state = q.state.clone().unwrap_or_default();
    let body = html! {
        h1 { "Runs" }
        @if app.service.is_none() {
            p.note { "No engine store: nothing has been committed to this root with ocfl commit." }
        }
        form.filters method="get" action="/runs" {
            label { "Object " input type="search" name="object" value=(filter.object.clone().unwrap_or_default()); }
            label { "State "
                select name="state" {
                    option value="" { "any" }
                    @for name in ["pending", "running", "stalled", "suspended", "completed", "failed", "terminated"] {
                        option value=(name) selected[state == name] { (name) }
                    }
                }
            }
            label { input type="checkbox" name="all" value="true" checked[filter.all]; " finished runs too" }
            button type="submit" { "Filter" }
        }
        table.runs data-live="runs" data-insert=[plain.then_some("true")] data-actions=[app.options.allow_actions.then_some("true")] data-csrf=[app.options.allow_actions.then_some(app.csrf.as_str())] {
            thead { tr { th { "Run" } th { "Object" } th { "State" } th { "Phase" } th { "Steps" } th { "Bytes" } th { "Rate" } th { "Started" } th { "Error" } th { "" } } }
            tbody {
                @for line in &lines { (run_row(&app, line)) }
            }
        }
        @if lines.is_empty() { p.note id="no-runs" { "No runs." } }
        @if let Some(url) = next_url { p { a.next href=(url) { "Next page" } } }
    };
    Ok(layout("Runs", body).into_response())
}

async fn workers(
    State(app): State<Arc<App>>,
    q: Result<Query<WorkersQuery>, QueryRejection>,
) -> PageResult {
    let minutes = views::worker_minutes(&query(q)?)?;
    let workers = views::workers(&app, minutes).await?;
    let lines: Vec<Value> = workers.iter().flatten().map(worker_json).collect();
    let body = html! {
        h1 { "Workers" }
        @match &workers {
            None => p.note id="not-recorded" {
                "Workers are recorded by a shared PostgreSQL store (ocfl --backend postgres://... \
                 worker, on any number of hosts). "
                @if app.service.is_some() {
                    "On this embedded store the console's own worker runs every run: see "
                    a href="/runs" { "Runs" } "."
                } @else {
                    "This console has no engine store."
                }
            },
            Some(_) => {
                form.filters method="get" action="/workers" {
                    label { "Seen within the last "
                        input type="number" name="minutes" min="1" max="1440" value=(minutes);
                        " minutes" }
                    button type="submit" { "Show" }
                }
                @if lines.is_empty() {
                    p.note id="no-workers" { "No worker seen in the last " (minutes) " minutes." }
                } @else {
                    table.workers {
                        thead { tr { th { "Worker" } th { "Host" } th { "Pid" } th { "Started" } th { "Last seen" } th { "Holds" } } }
                        tbody {
                            @for line in &lines {
                                tr data-worker=(number(line, "id")) {
                                    td { (text(line, "name")) }
                                    td { (text(line, "host")) }
                                    td { (number(line, "pid")) }
                                    td { (text(line, "started")) }
                                    td { (text(line, "last_seen")) }
                                    td { (held_list(line)) }
                                }
                            }
                        }
                    }
                }
            },
        }
        p { a href=(format!("/api/workers?minutes={minutes}")) { "as JSON" } }
    };
    Ok(layout("Workers", body).into_response())
}

/// What a worker holds, one line each: the run (linked) or engine instance, and the
/// activity if it is one.
fn held_list(line: &Value) -> Markup {
    let holds = line
        .get("holds")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    html! {
        @if holds.is_empty() { span.note { "nothing" } }
        ul.holds {
            @for held in holds {
                li {
                    @match held.get("run").and_then(Value::as_str) {
                        Some(run) => a href=(format!("/runs/{}", segment(run))) { (run) },
                        None => (text(held, "instance")),
                    }
                    @if text(held, "kind") == "activity" {
                        ": activity " (text(held, "activity"))
                    } @else {
                        ": episode"
                    }
                    " (attempt " (number(held, "attempt")) ", lease until " (text(held, "expires")) ")"
                }
            }
        }
    }
}

async fn run(State(app): State<Arc<App>>, params: RawPathParams) -> PageResult {
    let run = decoded_id(raw(&params, "run")?, "run id")?;
    let (info, events) = views::run_with_history(&app, &run).await?;
    let line = run_json(&info);
    let rows = timeline(&events);
    let state = text(&line, "state");
    let body = html! {
        h1 { "Run " (run) }
        table.summary data-live="run" {
            tbody {
                tr data-run=(run) {
                    th { "Object" } td { a href=(object_url(text(&line, "id"))) { (text(&line, "id")) } }
                }
                tr { th { "Source" } td { (text(&line, "source")) } }
                tr { th { "State" } td.live data-run=(run) data-field="state" class=(format!("state {state}")) { (state) } }
                tr { th { "Phase" } td.live data-run=(run) data-field="phase" { (text(&line, "phase")) } }
                tr { th { "Version" } td { (text(&line, "version")) } }
                tr { th { "Steps" } td.live data-run=(run) data-field="steps" { (number(&line, "steps_done")) "/" (number(&line, "steps_total")) } }
                tr { th { "Bytes" } td.live data-run=(run) data-field="bytes" { (bytes(number(&line, "bytes_done"))) " / " (bytes(number(&line, "bytes_total"))) } }
                tr { th { "Files" } td { (number(&line, "files")) } }
                tr { th { "Stalls" } td { (number(&line, "stalls")) } }
                tr { th { "Started" } td { (text(&line, "started")) } }
                tr { th { "Ended" } td { (text(&line, "ended")) } }
                tr { th { "Error" } td.live.error data-run=(run) data-field="error" { (text(&line, "error")) } }
            }
        }
        div.actions { (action_forms(&app, &run, state)) }
        h2 { "Timeline" }
        table.timeline {
            thead { tr { th { "At" } th { "What" } th { "Took" } th { "Details" } } }
            tbody {
                @for row in &rows {
                    tr class=(row.kind) {
                        td { @if let Some(at) = row.at_ms { "+" (format!("{:.1}", at as f64 / 1000.0)) " s" } }
                        td { (row.title) }
                        td { @if let Some(d) = row.duration_ms { (format!("{:.1}", d as f64 / 1000.0)) " s" } }
                        td { (row.detail) }
                    }
                }
            }
        }
        p { (events.len()) " events; " a href=(format!("/api/runs/{}", segment(&run))) { "as JSON" } }
    };
    Ok(layout(&format!("Run {run}"), body).into_response())
}

async fn resume(
    State(app): State<Arc<App>>,
    Extension(proof): Extension<Proof>,
    headers: HeaderMap,
    params: RawPathParams,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let run = acted_on(&app, proof, &headers, &params, &form)?;
    views::resume(&app, &run).await?;
    Ok(back_to(&run))
}

async fn terminate(
    State(app): State<Arc<App>>,
    Extension(proof): Extension<Proof>,
    headers: HeaderMap,
    params: RawPathParams,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let run = acted_on(&app, proof, &headers, &params, &form)?;
    views::terminate(&app, &run).await?;
    Ok(back_to(&run))
}

/// The run an action names, once the action is allowed.
fn acted_on(
    app: &App,
    proof: Proof,
    headers: &HeaderMap,
    params: &RawPathParams,
    form: &ActionForm,
) -> Result<String, PageFailure> {
    check_action(app, proof, headers, form.csrf.as_deref())?;
    Ok(decoded_id(raw(params, "run")?, "run id")?)
}

/// After an action: the run's page.
fn back_to(run: &str) -> Response {
    Redirect::to(&format!("/runs/{}", segment(run))).into_response()
}

async fn objects(
    State(app): State<Arc<App>>,
    q: Result<Query<ObjectsQuery>, QueryRejection>,
) -> PageResult {
    let q = query(q)?;
    let ListingPage {
        objects,
        next,
        complete,
    } = views::objects_page(&app, &q)?;
    let search = q.q.clone().unwrap_or_default();
    let body = html! {
        h1 { "Objects" }
        p.note { "Storage root " (app.root_name) }
        form.filters method="get" action="/objects" {
            label { "Id contains " input type="search" name="q" value=(search); }
            button type="submit" { "Search" }
        }
        table.objects {
            thead { tr { th { "Id" } th { "Head" } th { "Path" } } }
            tbody {
                @for o in &objects {
                    tr { td { a href=(object_url(&o.id)) { (o.id) } } td { (o.head) } td { (o.path) } }
                }
            }
        }
        @if !complete { p.note.indexing { "The root's objects are being listed: this page shows those listed so far." } }
        @if objects.is_empty() && complete { p.note { "No objects." } }
        @if let Some(next) = next {
            p { a.next href=(format!("/objects?q={}&after={}", query_value(&search), query_value(&next))) { "Next page" } }
        }
    };
    Ok(layout("Objects", body).into_response())
}

async fn object(State(app): State<Arc<App>>, params: RawPathParams) -> PageResult {
    let id = object_id(&params)?;
    let body = blocking(&app, move |app| {
        let read = app.objects.version(&id, None)?;
        let path = app.objects.path_of(&read.id)?;
        let base = object_url(&read.id);
        let versions: Vec<(String, &ocfl_core::inventory::VersionInfo)> = read
            .versions
            .iter()
            .rev()
            .map(|v| (v.version.to_string(), v))
            .collect();
        let oldest = versions.last().map(|(n, _)| n);
        Ok(html! {
            h1 { "Object " (read.id) }
            p.note { "Path " (path) " - head " (read.head.to_string()) " - "
                a href=(format!("/runs?all=true&object={}", query_value(&read.id))) { "runs" } " - "
                a href=(format!("{base}/validation")) { "validate" } }
            table.versions {
                thead { tr { th { "Version" } th { "Created" } th { "User" } th { "Message" } th { "Files" } th { "" } } }
                tbody {
                    @for (num, v) in &versions {
                        tr {
                            td { a href=(format!("{base}/versions/{}", segment(num))) { (num) } }
                            td { (v.created) }
                            td { @if let Some(u) = &v.user { (u.name) @if let Some(a) = &u.address { " <" (a) ">" } } }
                            td { (v.message.clone().unwrap_or_default()) }
                            td { (v.files) }
                            td { @if Some(num) != oldest {
                                a href=(format!("{base}/diff?to={}", query_value(num))) { "changes" } } }
                        }
                    }
                }
            }
            form.filters method="get" action=(format!("{base}/diff")) {
                label { "Diff from " select name="from" { @for (num, _) in versions.iter().rev() { option { (num) } } } }
                label { " to " select name="to" { @for (num, _) in &versions { option { (num) } } } }
                button type="submit" { "Compare" }
            }
        }
        .into_string())
    })
    .await?;
    Ok(layout("Object", maud::PreEscaped(body)).into_response())
}

async fn version_page(
    State(app): State<Arc<App>>,
    params: RawPathParams,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> PageResult {
    let q = query(q)?;
    let id = object_id(&params)?;
    let num = version(&params)?;
    let limit = q.limit()?;
    let body = blocking(&app, move |app| {
        let read = app.objects.version(&id, Some(num))?;
        let num = read.files.version();
        let v = read.info().ok_or_else(|| Failure::internal("the version read has no metadata"))?;
        let FilesPage {
            files: page,
            total,
            next,
        } = files_page(&read.files, q.after(), limit);
        let base = object_url(&read.id);
        let version_seg = segment(&num.to_string());
        Ok(html! {
            h1 { "Object " a href=(base) { (read.id) } " version " (num.to_string()) }
            p.note { "Created " (v.created) " - " (total) " files - "
                (v.message.clone().unwrap_or_default()) }
            table.files {
                thead { tr { th { "Path" } th { "Digest" } th { "" } } }
                tbody {
                    @for f in page {
                        tr {
                            td.path { (f.path) }
                            td.digest title=(f.digest) { (f.digest.get(..16).unwrap_or(f.digest)) "…" }
                            td { a.download href=(format!("/api/objects/{}/versions/{version_seg}/files/{}", segment(&read.id), logical_path(f.path))) { "download" } }
                        }
                    }
                }
            }
            @if let Some(next) = next {
                p { a.next href=(format!("{base}/versions/{version_seg}?after={}&limit={limit}", query_value(&next))) { "Next page" } }
            }
        }
        .into_string())
    })
    .await?;
    Ok(layout("Version", maud::PreEscaped(body)).into_response())
}

async fn diff(
    State(app): State<Arc<App>>,
    params: RawPathParams,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> PageResult {
    let q = query(q)?;
    let id = object_id(&params)?;
    let view = views::diff(&app, id, &q).await?;
    let base = object_url(&view.id);
    let body = html! {
        h1 { "Object " a href=(base) { (view.id) } ": " (view.from) " → " (view.to) }
        p.note {
            (number(&view.counts, "added")) " added, " (number(&view.counts, "removed")) " removed, "
            (number(&view.counts, "modified")) " modified, " (number(&view.counts, "renamed")) " renamed"
        }
        table.diff {
            thead { tr { th { "" } th { "Path" } th { "Was" } } }
            tbody {
                @for change in &view.changes {
                    @let kind = text(change, "change");
                    tr class=(kind) {
                        td.change { (kind) }
                        td.path { (text(change, "path")) }
                        td.path { (text(change, "old_path")) }
                    }
                }
            }
        }
        @if let Some(next) = &view.next {
            p { a.next href=(format!("{base}/diff?from={}&to={}&after={}", query_value(&view.from), query_value(&view.to), query_value(next))) { "Next page" } }
        }
    };
    Ok(layout("Diff", body).into_response())
}

/// Where the specification explains `code`: each code is an anchor of the spec's text.
pub fn spec_link(spec: SpecVersion, code: &str) -> String {
    let version = match spec {
        SpecVersion::V1_0 => "1.0",
        _ => "1.1",
    };
    format!("https://ocfl.io/{version}/spec/#{code}")
}

async fn validation(State(app): State<Arc<App>>, params: RawPathParams) -> PageResult {
    let id = object_id(&params)?;
    let body = blocking(&app, move |app| {
        let object = app.objects.open(&id)?;
        let spec = object.inventory().spec_version;
        let report = validate_object(app.objects.storage(), object.path(), &ValidationOptions::default());
        let base = object_url(object.id());
        Ok(html! {
            h1 { "Validation of " a href=(base) { (object.id()) } }
            @if report.is_valid() { p.valid { "Valid." } } @else { p.invalid { "Invalid." } }
            @for (title, findings) in [("Errors", &report.errors), ("Warnings", &report.warnings)] {
                @if !findings.is_empty() {
                    h2 { (title) }
                    ul.findings {
                        @for f in findings.iter() {
                            li { a.code href=(spec_link(spec, f.code.as_str())) { (f.code.as_str()) } " " (f.message) }
                        }
                    }
                }
            }
        }
        .into_string())
    })
    .await?;
    Ok(layout("Validation", maud::PreEscaped(body)).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

fn login_page(next: &str, failed: bool) -> Html<String> {
    layout(
        "Log in",
        html! {
            h1 { "Log in" }
            @if failed { p.error { "That token is not this console's." } }
            form.login method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label { "Token " input type="password" name="token" autofocus; }
                button type="submit" { "Log in" }
            }
        },
    )
}

async fn login_form(q: Result<Query<LoginQuery>, QueryRejection>) -> PageResult {
    let q = query(q)?;
    Ok(login_page(&local_target(q.next.as_deref()), false).into_response())
}

async fn login(State(app): State<Arc<App>>, Form(form): Form<LoginForm>) -> PageResult {
    let target = local_target(form.next.as_deref());
    match &app.options.token {
        Some(token) if same_secret(&form.token, token) => {
            let mut response = Redirect::to(&target).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&login_cookie(&app.session)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
        Some(_) => Ok((StatusCode::UNAUTHORIZED, login_page(&target, true)).into_response()),
        None => Ok(Redirect::to(&target).into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }

    #[test]
    fn codes_link_to_their_version_of_the_spec() {
        assert_eq!(
            spec_link(SpecVersion::V1_0, "E040"),
            "https://ocfl.io/1.0/spec/#E040"
        );
        assert_eq!(
            spec_link(SpecVersion::V1_1, "W004"),
            "https://ocfl.io/1.1/spec/#W004"
        );
    }
}
