//! What `ocfl worker` logs on stderr: one line per thing it runs, as plain `key=value` text
//! or (`--json`) one JSON object per line.
//!
//! Two sources feed it. The engine's worker opens a tracing span for every orchestration
//! episode and every activity it runs (`durable_core::worker`, fields `instance`, `task`,
//! `attempt`, `name`); [`EngineSpans`] turns their opening (and an activity's end) into
//! lines, so the log shows which worker ran which step of which run, and on which attempt -
//! an attempt above 1 is work taken over from a worker that died or handed it back. The
//! activities report their progress through [`ProgressSink`]: a run staged, planned,
//! verified (each step too with `-v`).

use std::fmt::Debug;
use std::io::Write;
use std::sync::Arc;

use ocfl_durable::{ProgressEvent, ProgressSink};
use serde_json::{Map, Value, json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The worker's log writer.
#[derive(Debug)]
pub struct WorkLog {
    pid: u32,
    json: bool,
    steps: bool,
}

impl WorkLog {
    /// A log in JSON lines or plain ones; `steps`: a line for every plan step too.
    pub fn new(json: bool, steps: bool) -> WorkLog {
        WorkLog {
            pid: std::process::id(),
            json,
            steps,
        }
    }

    /// Writes one line: `event` and its fields, in order.
    pub fn line(&self, event: &str, fields: &[(&str, Value)]) {
        let text = if self.json {
            let mut object = Map::new();
            object.insert("worker".into(), json!(self.pid));
            object.insert("event".into(), json!(event));
            for (key, value) in fields {
                object.insert((*key).to_owned(), value.clone());
            }
            Value::Object(object).to_string()
        } else {
            let mut text = format!("ocfl worker {}: {event}", self.pid);
            for (key, value) in fields {
                text.push_str(&format!(" {key}={}", plain(value)));
            }
            text
        };
        let _ = write_line(&mut std::io::stderr().lock(), text);
    }
}

/// Writes `text` and its newline in one `write` call: stderr is unbuffered, and `writeln!`
/// would write the newline separately, so a process stopped or killed between the two
/// leaves a half line that a reader sees only later, joined to whatever comes next. One
/// write of a short line to a pipe is atomic, also against other threads' lines.
fn write_line(out: &mut impl Write, mut text: String) -> std::io::Result<()> {
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// A value in a plain line: strings bare unless they hold spaces or quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) if !s.is_empty() && !s.contains([' ', '"', '=']) => s.clone(),
        other => other.to_string(),
    }
}

impl ProgressSink for WorkLog {
    fn event(&self, event: &ProgressEvent<'_>) {
        match event {
            ProgressEvent::Staged { run, files, bytes } => self.line(
                "staged",
                &[
                    ("run", json!(run)),
                    ("files", json!(files)),
                    ("bytes", json!(bytes)),
                ],
            ),
            ProgressEvent::Planned {
                run,
                version,
                steps,
                bytes,
            } => self.line(
                "planned",
                &[
                    ("run", json!(run)),
                    ("version", json!(version)),
                    ("steps", json!(steps)),
                    ("bytes", json!(bytes)),
                ],
            ),
            ProgressEvent::Step {
                run,
                index,
                total,
                label,
                bytes,
                skipped,
                ..
            } if self.steps => self.line(
                "step",
                &[
                    ("run", json!(run)),
                    ("step", json!(index + 1)),
                    ("of", json!(total)),
                    ("label", json!(label)),
                    ("bytes", json!(bytes)),
                    ("skipped", json!(skipped)),
                ],
            ),
            ProgressEvent::Verified { run, version } => self.line(
                "verified",
                &[("run", json!(run)), ("version", json!(version))],
            ),
            _ => {}
        }
    }
}

/// The tracing layer that logs the engine worker's episodes and activities to a [`WorkLog`].
pub struct EngineSpans {
    log: Arc<WorkLog>,
}

/// The engine's module whose spans name the work it runs.
const ENGINE_WORKER: &str = "durable_core::worker";
const ACTIVITY_SPAN: &str = "activity";
const EPISODE_SPAN: &str = "orchestration_episode";

impl EngineSpans {
    /// The layer, with the filter that lets exactly the engine worker's spans through.
    pub fn layer<S>(log: Arc<WorkLog>) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let filter: Targets = Targets::new().with_target(ENGINE_WORKER, Level::INFO);
        EngineSpans { log }.with_filter(SpansOnly(filter))
    }
}

/// A [`Targets`] filter that passes spans only: the engine's info events stay with the
/// ordinary log filter.
struct SpansOnly(Targets);

impl<S> Filter<S> for SpansOnly {
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: &Context<'_, S>) -> bool {
        meta.is_span() && Filter::<S>::enabled(&self.0, meta, cx)
    }
}

/// The fields of an episode or activity span.
#[derive(Debug, Default, Clone)]
struct SpanFields {
    instance: String,
    name: String,
    task: Option<u64>,
    attempt: Option<u64>,
}

impl Visit for SpanFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "task" => self.task = Some(value),
            "attempt" => self.attempt = Some(value),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.record_text(field, format!("{value:?}"));
    }
}

impl SpanFields {
    fn record_text(&mut self, field: &Field, text: String) {
        match field.name() {
            "instance" => self.instance = text,
            "name" => self.name = text,
            _ => {}
        }
    }

    fn activity_line(&self) -> [(&'static str, Value); 4] {
        [
            ("run", json!(self.instance)),
            ("task", json!(self.task)),
            ("attempt", json!(self.attempt)),
            ("name", json!(self.name)),
        ]
    }
}

impl<S> Layer<S> for EngineSpans
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if meta.target() != ENGINE_WORKER {
            return;
        }
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        match meta.name() {
            ACTIVITY_SPAN => {
                self.log.line("activity-started", &fields.activity_line());
                // Kept with the span, for the line when it closes.
                if let Some(span) = ctx.span(id) {
                    span.extensions_mut().insert(fields);
                }
            }
            EPISODE_SPAN => self.log.line(
                "episode",
                &[
                    ("run", json!(fields.instance)),
                    ("attempt", json!(fields.attempt)),
                ],
            ),
            _ => {}
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        if let Some(fields) = span.extensions().get::<SpanFields>() {
            // The activity's completion is committed (or its lease handed back) by now.
            self.log.line("activity-ended", &fields.activity_line());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each `write` call it gets.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_and_its_newline_go_out_in_one_write() {
        let mut out = Writes::default();
        write_line(&mut out, r#"{"event":"activity-started"}"#.to_owned()).expect("written");
        assert_eq!(out.0, vec![b"{\"event\":\"activity-started\"}\n".to_vec()]);
    }
}
