//! Showing a run's progress on stderr: a progress bar on a terminal (steps, bytes, rate,
//! ETA), plain lines otherwise (`[3/14] Completed: copy v1/content/a.txt (19 bytes)`).
//! Nothing goes to stdout, which carries only data.
//!
//! The worker reports events from its threads, for every run it executes; this process may
//! pick up other interrupted runs of the store too. Only the run the command waits for is
//! shown ([`Display::watch`]); what arrives for it before the command knows its id is kept
//! and shown then.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use ocfl_durable::{Progress, ProgressEvent, ProgressSink};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing (`-q`).
    Quiet,
    /// One line per event.
    Lines,
    /// A progress bar, with lines for the steps that are not content copies (all with -v).
    Bar {
        /// Every step gets a line.
        verbose: bool,
    },
}

impl Mode {
    /// The bar on a terminal, lines elsewhere, nothing with `quiet`.
    pub fn detect(quiet: bool, verbose: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar { verbose }
        } else {
            Mode::Lines
        }
    }
}

/// What is known of one run.
#[derive(Debug, Default)]
struct RunView {
    planned: Option<(String, u64, u64)>,
    /// Steps finished (counted from where a resumed run stood).
    steps_done: u64,
    bytes_done: u64,
    /// Bytes already counted of steps still sending, by step index: their completion adds
    /// only the rest.
    sending: HashMap<u64, u64>,
    /// Events that arrived before the command knew the run was its own.
    early: Vec<Owned>,
}

/// A progress event, owned (to be shown later).
#[derive(Debug, Clone)]
enum Owned {
    Staging {
        files: u64,
        bytes: u64,
    },
    Staged {
        files: u64,
        bytes: u64,
    },
    Planned {
        version: String,
        steps: u64,
        bytes: u64,
    },
    Sending {
        index: u64,
        bytes: u64,
    },
    Step {
        index: u64,
        total: u64,
        label: String,
        bytes: u64,
        skipped: bool,
        copy: bool,
    },
    Verified {
        version: String,
    },
}

impl Owned {
    fn from_event(event: &ProgressEvent<'_>) -> Option<Owned> {
        Some(match event {
            ProgressEvent::Staging { files, bytes, .. } => Owned::Staging {
                files: *files,
                bytes: *bytes,
            },
            ProgressEvent::Staged { files, bytes, .. } => Owned::Staged {
                files: *files,
                bytes: *bytes,
            },
            ProgressEvent::Planned {
                version,
                steps,
                bytes,
                ..
            } => Owned::Planned {
                version: (*version).to_owned(),
                steps: *steps,
                bytes: *bytes,
            },
            ProgressEvent::Sending { index, bytes, .. } => Owned::Sending {
                index: *index,
                bytes: *bytes,
            },
            ProgressEvent::Step {
                index,
                total,
                id,
                label,
                bytes,
                skipped,
                ..
            } => Owned::Step {
                index: *index,
                total: *total,
                label: (*label).to_owned(),
                bytes: *bytes,
                skipped: *skipped,
                copy: id.starts_with("copy "),
            },
            ProgressEvent::Verified { version, .. } => Owned::Verified {
                version: (*version).to_owned(),
            },
            _ => return None,
        })
    }
}

#[derive(Default)]
struct State {
    watched: Option<String>,
    /// The source being staged, for the spinner.
    staging: String,
    runs: HashMap<String, RunView>,
    bar: Option<ProgressBar>,
}

/// A [`ProgressSink`] that shows the watched run on stderr.
pub struct Display {
    mode: Mode,
    state: Mutex<State>,
}

impl Display {
    /// A display in `mode`.
    pub fn new(mode: Mode) -> Display {
        Display {
            mode,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Shows run `run` from now on. `resumed`: where an interrupted run stood (its steps
    /// done before this process are not reported again). `staging`: what is being read,
    /// for the spinner shown until the source is staged.
    pub fn watch(&self, run: &str, resumed: Option<&Progress>, staging: &str) {
        let mut state = self.state();
        state.watched = Some(run.to_owned());
        staging.clone_into(&mut state.staging);
        // Other runs this worker executes are not shown.
        state.runs.retain(|id, _| id == run);
        let view = state.runs.entry(run.to_owned()).or_default();
        if let Some(progress) = resumed {
            view.steps_done += progress.steps_done;
            view.bytes_done += progress.bytes_done;
            if progress.steps_total > 0 {
                view.planned = Some((
                    progress.version.clone().unwrap_or_default(),
                    progress.steps_total,
                    progress.bytes_total,
                ));
            }
        }
        let early = std::mem::take(&mut view.early);
        let resumed_plan = resumed.is_some() && view.planned.is_some();
        if let Mode::Bar { .. } = self.mode {
            let bar = ProgressBar::new_spinner().with_message(format!("staging {staging}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            state.bar = Some(bar);
        }
        if resumed_plan {
            let view = &state.runs[run];
            let (version, steps, bytes) = view.planned.clone().unwrap_or_default();
            let (done, bytes_done) = (view.steps_done, view.bytes_done);
            self.line(
                &state,
                &format!("Resuming {version}: {done} of {steps} steps done ({bytes_done} of {bytes} bytes)"),
            );
            self.start_bar(&mut state, steps, bytes, done, bytes_done);
        }
        for event in early {
            self.show(&mut state, run, event);
        }
    }

    /// Prints a line of text (above the bar, if there is one; not with `-q`).
    pub fn note(&self, text: &str) {
        let state = self.state();
        self.line(&state, text);
    }

    /// Removes the bar (before the outcome is printed).
    pub fn finish(&self) {
        if let Some(bar) = self.state().bar.take() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, state: &State, text: &str) {
        match (self.mode, &state.bar) {
            (Mode::Quiet, _) => {}
            (Mode::Bar { .. }, Some(bar)) => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }

    fn start_bar(&self, state: &mut State, steps: u64, bytes: u64, done: u64, bytes_done: u64) {
        if let Mode::Bar { .. } = self.mode {
            if let Some(old) = state.bar.take() {
                old.finish_and_clear();
            }
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bar = ProgressBar::new(bytes)
                .with_style(style)
                .with_position(bytes_done)
                .with_message(format!("{done}/{steps} steps"));
            bar.enable_steady_tick(Duration::from_millis(200));
            state.bar = Some(bar);
        }
    }

    fn show(&self, state: &mut State, run: &str, event: Owned) {
        match event {
            Owned::Staging { files, bytes } => {
                // Only the spinner shows it: the totals are unknown until the walk ends, and
                // lines would repeat a count nobody asked for.
                if let (Mode::Bar { .. }, Some(bar)) = (self.mode, &state.bar) {
                    let elapsed = bar.elapsed().as_secs_f64();
                    let rate = if elapsed > 0.0 {
                        format!(", {}/s", HumanBytes((bytes as f64 / elapsed) as u64))
                    } else {
                        String::new()
                    };
                    bar.set_message(format!(
                        "staging {}: {files} files, {}{rate}",
                        state.staging,
                        HumanBytes(bytes)
                    ));
                }
            }
            Owned::Staged { files, bytes } => {
                self.line(state, &format!("Staged {files} files ({bytes} bytes)"));
            }
            Owned::Planned {
                version,
                steps,
                bytes,
            } => {
                if let Some(view) = state.runs.get_mut(run) {
                    view.planned = Some((version.clone(), steps, bytes));
                }
                self.line(
                    state,
                    &format!("Plan for {version}: {steps} steps writing {bytes} bytes"),
                );
                self.start_bar(state, steps, bytes, 0, 0);
            }
            Owned::Sending { index, bytes } => {
                // Only the bar shows it: lines come per finished step.
                let Some(view) = state.runs.get_mut(run) else {
                    return;
                };
                *view.sending.entry(index).or_default() += bytes;
                view.bytes_done += bytes;
                if let (Mode::Bar { .. }, Some(bar)) = (self.mode, &state.bar) {
                    bar.inc(bytes);
                }
            }
            Owned::Step {
                index,
                total,
                label,
                bytes,
                skipped,
                copy,
            } => {
                let Some(view) = state.runs.get_mut(run) else {
                    return;
                };
                view.steps_done = (view.steps_done + 1).min(total);
                let rest = bytes.saturating_sub(view.sending.remove(&index).unwrap_or(0));
                view.bytes_done += rest;
                let done = view.steps_done;
                let note = if skipped { ", already in place" } else { "" };
                let text = format!("[{done}/{total}] Completed: {label} ({bytes} bytes{note})");
                match (self.mode, &state.bar) {
                    (Mode::Bar { verbose }, Some(bar)) => {
                        bar.inc(rest);
                        bar.set_message(format!("{done}/{total} steps"));
                        if verbose || !copy {
                            bar.println(text);
                        }
                    }
                    _ => self.line(state, &text),
                }
            }
            Owned::Verified { version } => {
                self.line(state, &format!("Verified the object at {version}"));
            }
        }
    }
}

impl ProgressSink for Display {
    fn event(&self, event: &ProgressEvent<'_>) {
        if self.mode == Mode::Quiet {
            return;
        }
        let Some(owned) = Owned::from_event(event) else {
            return;
        };
        let run = event.run();
        let mut state = self.state();
        match state.watched.as_deref() {
            Some(watched) if watched == run => self.show(&mut state, run, owned),
            Some(_) => {}
            None => state
                .runs
                .entry(run.to_owned())
                .or_default()
                .early
                .push(owned),
        }
    }
}

/// Bytes sent by an upload outside a run (staging into a bucket's work area): a spinner
/// counting them on a terminal, nothing otherwise (the caller prints the total).
pub struct Sending {
    bar: Option<ProgressBar>,
    what: &'static str,
    sent: std::sync::atomic::AtomicU64,
}

impl Sending {
    /// A meter for `what`, shown in `mode`.
    pub fn new(mode: Mode, what: &'static str) -> Sending {
        let bar = matches!(mode, Mode::Bar { .. }).then(|| {
            let bar = ProgressBar::new_spinner().with_message(what);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Sending {
            bar,
            what,
            sent: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `bytes` more were sent (from any thread).
    pub fn add(&self, bytes: u64) {
        let sent = self
            .sent
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            + bytes;
        if let Some(bar) = &self.bar {
            let elapsed = bar.elapsed().as_secs_f64();
            let rate = if elapsed > 0.0 {
                format!(", {}/s", HumanBytes((sent as f64 / elapsed) as u64))
            } else {
                String::new()
            };
            bar.set_message(format!("{}: {} sent{rate}", self.what, HumanBytes(sent)));
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spinner_counts_what_staging_has_read() {
        let display = Display::new(Mode::Bar { verbose: false });
        display.watch("run-1", None, "deposit");
        let staging = |files, bytes| ProgressEvent::Staging {
            run: "run-1",
            files,
            bytes,
        };
        display.event(&staging(3, 3 * 1024 * 1024));
        // Another run's progress is not shown.
        display.event(&ProgressEvent::Staging {
            run: "run-2",
            files: 9,
            bytes: 9,
        });
        let message = display
            .state()
            .bar
            .as_ref()
            .map(ProgressBar::message)
            .expect("a spinner while staging");
        assert!(
            message.starts_with("staging deposit: 3 files, 3.00 MiB"),
            "{message}"
        );
        display.finish();
    }

    #[test]
    fn the_bar_counts_bytes_as_they_are_sent_and_each_byte_once() {
        let display = Display::new(Mode::Bar { verbose: false });
        display.watch("run-1", None, "deposit");
        display.event(&ProgressEvent::Planned {
            run: "run-1",
            version: "v1",
            steps: 2,
            bytes: 3000,
        });
        let position = || display.state().bar.as_ref().map(ProgressBar::position);
        let sending = |index, bytes| ProgressEvent::Sending {
            run: "run-1",
            index,
            bytes,
        };
        let step = |index, bytes| ProgressEvent::Step {
            run: "run-1",
            index,
            total: 2,
            id: "copy v1/content/big",
            label: "upload v1/content/big",
            bytes,
            skipped: false,
        };
        display.event(&sending(0, 1000));
        display.event(&sending(0, 500));
        // Before the step is done, the bar shows what was sent.
        assert_eq!(position(), Some(1500));
        display.event(&step(0, 2000));
        assert_eq!(position(), Some(2000));
        // A step that reported nothing while it ran (a server-side copy) counts whole.
        display.event(&step(1, 1000));
        assert_eq!(position(), Some(3000));
        display.finish();
    }
}
