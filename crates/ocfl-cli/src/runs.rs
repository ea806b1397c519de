//! `ocfl runs`, `ocfl runs show RUN` and `ocfl runs purge`: the update runs recorded in the
//! engine's store (embedded, or the PostgreSQL database of `--backend`).

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::{DateTime, SecondsFormat};
use durable_redb::Compaction;
use ocfl_durable::{CommitError, RunInfo, RunState};
use serde_json::{Value, json};

use crate::args::{GlobalArgs, RunsArgs, RunsCommand};
use crate::open::existing_root;
use crate::state::{Store, compact_store, runtime, site, work_area};

/// Lists runs, or shows one.
pub fn run(global: &GlobalArgs, args: &RunsArgs) -> Result<ExitCode> {
    let work = match &global.root {
        Some(ocfl_core::location::Location::S3(_)) => site(global, "runs")?,
        _ => crate::site::Site::Local(work_area(global, existing_root(global, "runs")?)?),
    };
    if let Some(forwarder) = crate::forward::forwarder(global, &work) {
        return forwarded(global, args, &forwarder);
    }
    runtime()?.block_on(async {
        let Some(store) = Store::open_existing(global, &work).await? else {
            // No store yet: no run was ever made for this root.
            return match &args.show {
                Some(RunsCommand::Show(show)) => {
                    Err(CommitError::UnknownRun(show.run.clone()).into())
                }
                Some(RunsCommand::Purge(_)) => {
                    if global.json {
                        writeln!(io::stdout().lock(), "{}", purge_json(&[], None))?;
                    } else if !global.quiet {
                        eprintln!("no runs to purge: {} has no engine store", work.name());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    if !global.quiet && !global.json {
                        eprintln!(
                            "no runs: nothing has been committed to {} with ocfl commit",
                            work.name()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
            };
        };
        let service = store.service()?;
        let mut out = io::stdout().lock();
        match &args.show {
            Some(RunsCommand::Show(show)) => {
                let Some(info) = service.run(&show.run).await? else {
                    bail!(CommitError::UnknownRun(show.run.clone()));
                };
                let history = service.history(&show.run).await?;
                let events: Vec<Value> = history
                    .iter()
                    .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
                    .collect();
                if global.json {
                    let mut line = run_json(&info);
                    line["events"] = Value::Array(events);
                    writeln!(out, "{line}")?;
                } else {
                    write_run_block(&mut out, &info)?;
                    writeln!(out, "history ({} events):", events.len())?;
                    for (n, event) in events.iter().enumerate() {
                        writeln!(out, "  {:>4}  {}", n + 1, event_line(event))?;
                    }
                }
            }
            Some(RunsCommand::Purge(purge)) => {
                let env = store.environment();
                let purged = service.purge_finished(&env, purge.older_than).await?;
                let embedded = store.embedded_path().map(Path::to_owned);
                // The embedded store gives its free space back once it is closed.
                drop(service);
                drop(store);
                let compaction = match &embedded {
                    Some(path) => Some(compact_store(global, path)?),
                    None => None,
                };
                if global.json {
                    writeln!(out, "{}", purge_json(&purged, compaction))?;
                } else if !global.quiet {
                    eprintln!(
                        "purged {} finished run(s) older than {}",
                        purged.len(),
                        humantime::format_duration(purge.older_than)
                    );
                    if let Some(c) = compaction {
                        eprintln!(
                            "the engine's store: {} -> {} bytes",
                            c.bytes_before, c.bytes_after
                        );
                    }
                }
            }
            None if args.limit.is_some() || args.after.is_some() => {
                let limit = args
                    .limit
                    .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
                let page = service
                    .runs_page(args.all, limit, args.after.as_deref())
                    .await?;
                for info in &page.runs {
                    if global.json {
                        writeln!(out, "{}", run_json(info))?;
                    } else {
                        write_run_line(&mut out, info)?;
                    }
                }
                if global.json {
                    writeln!(out, "{}", json!({ "next": page.next }))?;
                } else if !global.quiet {
                    match &page.next {
                        Some(next) => {
                            eprintln!("{} run(s); more with --after {next}", page.runs.len())
                        }
                        None => eprintln!("{} run(s); no more", page.runs.len()),
                    }
                }
            }
            None => {
                let runs = service.runs(args.all).await?;
                for info in &runs {
                    if global.json {
                        writeln!(out, "{}", run_json(info))?;
                    } else {
                        write_run_line(&mut out, info)?;
                    }
                }
                if !global.quiet && !global.json {
                    let which = if args.all { "" } else { " unfinished" };
                    let hint = if args.all {
                        ""
                    } else {
                        " (--all lists finished ones too)"
                    };
                    eprintln!("{}{which} run(s){hint}", runs.len());
                }
            }
        }
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Lists, shows or purges runs through the `ocfl serve` that holds the embedded store.
fn forwarded(
    global: &GlobalArgs,
    args: &RunsArgs,
    forwarder: &crate::forward::Forwarder,
) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    let print = |out: &mut io::StdoutLock<'_>, info: &RunInfo| -> io::Result<()> {
        if global.json {
            writeln!(out, "{}", run_json(info))
        } else {
            write_run_line(out, info)
        }
    };
    match &args.show {
        Some(RunsCommand::Show(show)) => {
            let Some(info) = forwarder.run(&show.run)? else {
                bail!(CommitError::UnknownRun(show.run.clone()));
            };
            let events: Vec<Value> = forwarder
                .history(&show.run)?
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
                .collect();
            if global.json {
                let mut line = run_json(&info);
                line["events"] = Value::Array(events);
                writeln!(out, "{line}")?;
            } else {
                write_run_block(&mut out, &info)?;
                writeln!(out, "history ({} events):", events.len())?;
                for (n, event) in events.iter().enumerate() {
                    writeln!(out, "  {:>4}  {}", n + 1, event_line(event))?;
                }
            }
        }
        Some(RunsCommand::Purge(purge)) => {
            let purged = forwarder.purge(purge.older_than)?;
            if global.json {
                writeln!(out, "{}", purge_json(&purged, None))?;
            } else if !global.quiet {
                eprintln!(
                    "purged {} finished run(s) older than {} through ocfl serve (the store \
                     gives its free space back at a purge while no console holds it)",
                    purged.len(),
                    humantime::format_duration(purge.older_than)
                );
            }
        }
        _ if args.limit.is_some() || args.after.is_some() => {
            let limit = args
                .limit
                .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
            let page = forwarder.runs_page(args.all, limit, args.after.as_deref())?;
            for info in &page.runs {
                print(&mut out, info)?;
            }
            if global.json {
                writeln!(out, "{}", json!({ "next": page.next }))?;
            }
        }
        _ => {
            for info in &forwarder.runs(args.all)? {
                print(&mut out, info)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The `--json` line of `runs purge`.
fn purge_json(runs: &[String], compaction: Option<Compaction>) -> Value {
    json!({
        "purged": runs.len(),
        "runs": runs,
        "store_bytes_before": compaction.map(|c| c.bytes_before),
        "store_bytes_after": compaction.map(|c| c.bytes_after),
    })
}

/// Milliseconds since the epoch as RFC 3339 (UTC).
fn time(ms: u64) -> Option<String> {
    let ms = i64::try_from(ms).ok()?;
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn state_name(state: RunState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{state:?}").to_lowercase())
}

/// Numbers a run's listing shows: steps and bytes done and in all, the version.
struct Figures {
    steps_done: u64,
    steps_total: u64,
    bytes_done: u64,
    bytes_total: u64,
    files: u64,
    version: Option<String>,
}

fn figures(info: &RunInfo) -> Figures {
    let progress = info.progress.as_ref();
    let report = info.report.as_ref();
    Figures {
        steps_done: progress.map_or(0, |p| p.steps_done),
        steps_total: report.map_or(progress.map_or(0, |p| p.steps_total), |r| r.steps),
        bytes_done: progress.map_or(0, |p| p.bytes_done),
        bytes_total: report.map_or(progress.map_or(0, |p| p.bytes_total), |r| r.bytes),
        files: report.map_or(progress.map_or(0, |p| p.files), |r| r.files),
        version: report
            .map(|r| r.version.clone())
            .or_else(|| progress.and_then(|p| p.version.clone())),
    }
}

/// The `--json` line of one run.
fn run_json(info: &RunInfo) -> Value {
    let f = figures(info);
    let error = info
        .error
        .clone()
        .or_else(|| info.progress.as_ref().and_then(|p| p.error.clone()));
    json!({
        "run": info.run,
        "id": info.object_id,
        "state": state_name(info.state),
        "version": f.version,
        "changed": info.report.as_ref().map(|r| r.changed),
        "steps_done": f.steps_done,
        "steps_total": f.steps_total,
        "bytes_done": f.bytes_done,
        "bytes_total": f.bytes_total,
        "files": f.files,
        "source": info.source,
        "started": time(info.created_at_ms),
        "ended": if info.state.is_finished() { time(info.updated_at_ms) } else { None },
        "error": error,
    })
}

fn write_run_line(out: &mut impl Write, info: &RunInfo) -> io::Result<()> {
    let f = figures(info);
    let ended = match info.state.is_finished() {
        true => time(info.updated_at_ms).unwrap_or_default(),
        false => "-".to_owned(),
    };
    let outcome = match &info.report {
        Some(r) if r.changed => format!(" -> {}", r.version),
        Some(r) => format!(" (unchanged at {})", r.version),
        None => String::new(),
    };
    writeln!(
        out,
        "{}  {:<10} {}{outcome}  steps {}/{}  bytes {}/{}  started {}  ended {ended}",
        info.run,
        state_name(info.state),
        info.object_id,
        f.steps_done,
        f.steps_total,
        f.bytes_done,
        f.bytes_total,
        time(info.created_at_ms).unwrap_or_default(),
    )?;
    if let Some(error) = &info.error {
        writeln!(out, "    error: {error}")?;
    } else if let Some(error) = info.progress.as_ref().and_then(|p| p.error.as_ref()) {
        writeln!(out, "    stalled on: {error}")?;
    }
    Ok(())
}

fn write_run_block(out: &mut impl Write, info: &RunInfo) -> io::Result<()> {
    let f = figures(info);
    writeln!(out, "run:      {}", info.run)?;
    writeln!(out, "object:   {}", info.object_id)?;
    writeln!(out, "source:   {}", info.source)?;
    writeln!(out, "root:     {}", info.root)?;
    writeln!(out, "state:    {}", state_name(info.state))?;
    if let Some(version) = &f.version {
        writeln!(out, "version:  {version}")?;
    }
    if let Some(report) = &info.report {
        let changed = if report.changed {
            "new version written"
        } else {
            "already held this state"
        };
        writeln!(out, "outcome:  {changed}")?;
    }
    writeln!(out, "files:    {}", f.files)?;
    writeln!(out, "steps:    {}/{}", f.steps_done, f.steps_total)?;
    writeln!(out, "bytes:    {}/{}", f.bytes_done, f.bytes_total)?;
    writeln!(
        out,
        "started:  {}",
        time(info.created_at_ms).unwrap_or_default()
    )?;
    if info.state.is_finished() {
        writeln!(
            out,
            "ended:    {}",
            time(info.updated_at_ms).unwrap_or_default()
        )?;
    }
    if let Some(error) = &info.error {
        writeln!(out, "error:    {error}")?;
    }
    Ok(())
}

/// One history event on one line: its type, then its fields (long values shortened).
fn event_line(event: &Value) -> String {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("event");
    let mut line = kind.to_owned();
    if let Some(fields) = event.as_object() {
        // What identifies the event first, then the rest (payloads last).
        const FIRST: [&str; 4] = ["task_id", "name", "instance_id", "timestamp_ms"];
        let mut keys: Vec<&String> = fields.keys().filter(|k| k.as_str() != "type").collect();
        keys.sort_by_key(|k| FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()));
        for (key, value) in keys.into_iter().filter_map(|k| Some((k, fields.get(k)?))) {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let text = match key.as_str() {
                "timestamp_ms" | "fire_at_ms" => value.as_u64().and_then(time).unwrap_or(text),
                _ => text,
            };
            line.push_str(&format!(" {key}={}", shorten(&text, 100)));
        }
    }
    line
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}
