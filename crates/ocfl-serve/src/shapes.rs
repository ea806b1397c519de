//! The JSON the API answers with: the shapes of the `ocfl` command's `--json` lines
//! (`runs`, `runs show`, `ls`, `log`, `show`, `diff`, `validate`), gathered into one
//! document per request with a `next` key where the listing is paged.

use chrono::{DateTime, SecondsFormat};
use durable_core::{HeldKind, HeldWork, WorkerInfo};
use ocfl_core::inventory::{FileRef, User, VersionInfo};
use ocfl_core::object::VersionDiff;
use ocfl_core::validate::{Finding, ObjectReport};
use ocfl_durable::{RunInfo, RunState, is_run_id};
use serde_json::{Value, json};

/// Milliseconds since the epoch as RFC 3339 (UTC).
pub fn time(ms: u64) -> Option<String> {
    let ms = i64::try_from(ms).ok()?;
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A run state's name, as `ocfl runs` prints it.
pub fn state_name(state: RunState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{state:?}").to_lowercase())
}

/// The line of one run (`ocfl runs --json`), with its phase and stall count besides.
pub fn run_json(info: &RunInfo) -> Value {
    let progress = info.progress.as_ref();
    let report = info.report.as_ref();
    let error = info
        .error
        .clone()
        .or_else(|| progress.and_then(|p| p.error.clone()));
    json!({
        "run": info.run,
        "id": info.object_id,
        "state": state_name(info.state),
        "version": report
            .map(|r| r.version.clone())
            .or_else(|| progress.and_then(|p| p.version.clone())),
        "changed": report.map(|r| r.changed),
        "steps_done": progress.map_or(0, |p| p.steps_done),
        "steps_total": report.map_or(progress.map_or(0, |p| p.steps_total), |r| r.steps),
        "bytes_done": progress.map_or(0, |p| p.bytes_done),
        "bytes_total": report.map_or(progress.map_or(0, |p| p.bytes_total), |r| r.bytes),
        "files": report.map_or(progress.map_or(0, |p| p.files), |r| r.files),
        "source": info.source,
        "started": time(info.created_at_ms),
        "ended": if info.state.is_finished() { time(info.updated_at_ms) } else { None },
        "error": error,
        "phase": progress.map(|p| serde_json::to_value(p.phase).unwrap_or(Value::Null)),
        "stalls": progress.map_or(0, |p| p.stalls),
    })
}

/// One worker of a shared store and the work it holds (`GET /api/workers`).
pub fn worker_json(worker: &WorkerInfo) -> Value {
    json!({
        "id": worker.id,
        "name": worker.name,
        "host": worker.host,
        "pid": worker.pid,
        "started": time(worker.started_at_ms),
        "last_seen": time(worker.last_seen_ms),
        "holds": worker.holds.iter().map(held_json).collect::<Vec<_>>(),
    })
}

/// A lease a worker holds: an episode of an instance's orchestration, or an activity; `run`
/// names the run when the instance is one (not a run's per-object lock).
fn held_json(held: &HeldWork) -> Value {
    let (kind, activity, activity_id) = match &held.kind {
        HeldKind::Activity { id, name } => ("activity", Some(name.as_str()), Some(*id)),
        HeldKind::Orchestration => ("orchestration", None, None),
    };
    json!({
        "instance": held.instance_id,
        "run": is_run_id(&held.instance_id).then_some(held.instance_id.as_str()),
        "kind": kind,
        "activity": activity,
        "activity_id": activity_id,
        "expires": time(held.expires_at_ms),
        "attempt": held.attempt,
    })
}

/// `{"name": ..., "address": ... or null}` or null (`ocfl log --json`).
pub fn user_json(user: Option<&User>) -> Value {
    user.map_or(
        Value::Null,
        |u| json!({"name": u.name, "address": u.address}),
    )
}

/// One version (`ocfl log --json`), with its number of files.
pub fn version_json(version: &VersionInfo) -> Value {
    json!({
        "version": version.version.to_string(),
        "created": version.created,
        "user": user_json(version.user.as_ref()),
        "message": version.message,
        "files": version.files,
    })
}

/// One file of a version (`ocfl ls ID --json`).
pub fn file_json(file: &FileRef<'_>) -> Value {
    json!({
        "path": file.path,
        "digest": file.digest,
        "content_path": file.content_path,
    })
}

/// One change between two versions (`ocfl diff --json`) with the path it sorts by.
pub fn changes(diff: &VersionDiff) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for added in &diff.added {
        all.push((
            added.path.to_string(),
            json!({"change": "added", "path": added.path.as_str(), "digest": added.digest.as_str()}),
        ));
    }
    for removed in &diff.removed {
        all.push((
            removed.path.to_string(),
            json!({"change": "removed", "path": removed.path.as_str(), "digest": removed.digest.as_str()}),
        ));
    }
    for modified in &diff.modified {
        all.push((
            modified.path.to_string(),
            json!({
                "change": "modified",
                "path": modified.path.as_str(),
                "old_digest": modified.from.as_str(),
                "digest": modified.to.as_str(),
            }),
        ));
    }
    for renamed in &diff.renamed {
        all.push((
            renamed.from.to_string(),
            json!({
                "change": "renamed",
                "path": renamed.to.as_str(),
                "old_path": renamed.from.as_str(),
                "digest": renamed.digest.as_str(),
            }),
        ));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// A validation report (`ocfl validate --json`).
pub fn report_json(path: &str, report: &ObjectReport) -> Value {
    json!({
        "path": path,
        "id": report.id,
        "valid": report.is_valid(),
        "errors": findings(&report.errors),
        "warnings": findings(&report.warnings),
    })
}

fn findings(findings: &[Finding]) -> Vec<Value> {
    findings
        .iter()
        .map(|f| json!({"code": f.code.as_str(), "message": f.message}))
        .collect()
}
