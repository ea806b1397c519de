//! Live progress: while someone listens, one task reads the unfinished runs every [`POLL`]
//! and broadcasts each run whose line changed; browsers receive them as server-sent events.
//! However many pages are open, the store is read once per interval.
//!
//! A console that runs the runs itself (the embedded store) also hears its worker's
//! progress reports ([`ProgressSink`]): they advance a run's steps and bytes between two
//! reads of the store, wake the reader for a run it does not know yet, and make a run that
//! starts and ends between two reads known, so its end is sent too. The store stays the
//! authority: reports only raise the counts it gives, never lower them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ocfl_durable::{ProgressEvent, ProgressSink, UpdateService};
use serde_json::Value;
use tokio::sync::{Notify, broadcast};

use crate::shapes::run_json;

/// How often the unfinished runs are read while someone listens.
pub const POLL: Duration = Duration::from_millis(400);

/// A run's reported progress is sent at most this often (its first two changes at once).
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// The most unfinished runs one poll reads.
const POLL_RUNS: usize = 1000;

/// The broadcast of changed runs.
pub struct Live {
    sender: broadcast::Sender<Arc<Value>>,
    polling: AtomicBool,
    followed: Mutex<Followed>,
    /// Wakes the reader early: a report named a run it has not read yet.
    wake: Notify,
}

/// What the reader and the reports share.
#[derive(Default)]
struct Followed {
    /// The last line sent of each unfinished run.
    lines: HashMap<String, Arc<Value>>,
    /// What this process's worker reported of each run, while someone listens.
    reported: HashMap<String, Reported>,
}

/// The progress of one run as its reports tell it.
#[derive(Default)]
struct Reported {
    steps_total: u64,
    bytes_total: u64,
    /// One bit per step reported done (a step reported twice, by a retried batch, counts
    /// once), and their number.
    done: Vec<u64>,
    steps_done: u64,
    /// The bytes of the steps done.
    bytes_done: u64,
    /// Bytes sent so far of steps not done yet (large files on their way).
    sending: HashMap<u64, u64>,
    /// Lines sent because of reports, and when the last one went.
    sent: u32,
    last_sent: Option<Instant>,
}

impl Reported {
    /// Takes `event` in; whether it changed the counts.
    fn take(&mut self, event: &ProgressEvent<'_>) -> bool {
        match *event {
            ProgressEvent::Planned { steps, bytes, .. } => {
                let changed = (steps, bytes) != (self.steps_total, self.bytes_total);
                self.steps_total = steps;
                self.bytes_total = bytes;
                changed
            }
            ProgressEvent::Step {
                index,
                total,
                bytes,
                ..
            } => {
                self.steps_total = self.steps_total.max(total);
                if index >= total || !self.mark_done(index) {
                    return false;
                }
                self.sending.remove(&index);
                self.steps_done += 1;
                self.bytes_done += bytes;
                true
            }
            ProgressEvent::Sending { index, bytes, .. } => {
                if self.is_done(index) {
                    return false;
                }
                *self.sending.entry(index).or_default() += bytes;
                true
            }
            _ => false,
        }
    }

    fn is_done(&self, index: u64) -> bool {
        let (word, bit) = (index / 64, index % 64);
        usize::try_from(word)
            .ok()
            .and_then(|word| self.done.get(word))
            .is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Marks step `index` done; whether it was not yet.
    fn mark_done(&mut self, index: u64) -> bool {
        let Ok(word) = usize::try_from(index / 64) else {
            return false;
        };
        if self.done.len() <= word {
            self.done.resize(word + 1, 0);
        }
        let bit = 1 << (index % 64);
        let new = self.done[word] & bit == 0;
        self.done[word] |= bit;
        new
    }

    /// Whether a report-driven line may go now.
    fn due(&self, now: Instant) -> bool {
        self.sent < 2
            || self.steps_done == self.steps_total
            || self
                .last_sent
                .is_none_or(|at| now.duration_since(at) >= REPORT_EVERY)
    }

    /// `line` with the counts raised to what was reported.
    fn raise(&self, line: &Value) -> Value {
        let mut raised = line.clone();
        if line["ended"].is_null() {
            let sending: u64 = self.sending.values().sum();
            raise(&mut raised, "steps_done", self.steps_done);
            raise(&mut raised, "steps_total", self.steps_total);
            raise(&mut raised, "bytes_done", self.bytes_done + sending);
            raise(&mut raised, "bytes_total", self.bytes_total);
        }
        raised
    }
}

fn raise(line: &mut Value, field: &str, floor: u64) {
    if line[field].as_u64().is_some_and(|now| now < floor) {
        line[field] = Value::from(floor);
    }
}

impl Default for Live {
    fn default() -> Live {
        Live {
            sender: broadcast::channel(1024).0,
            polling: AtomicBool::new(false),
            followed: Mutex::new(Followed::default()),
            wake: Notify::new(),
        }
    }
}

impl ProgressSink for Live {
    fn event(&self, event: &ProgressEvent<'_>) {
        if self.sender.receiver_count() == 0 {
            return;
        }
        let run = event.run();
        let mut followed = self.followed();
        let Followed { lines, reported } = &mut *followed;
        let mine = reported.entry(run.to_owned()).or_default();
        let changed = mine.take(event);
        let Some(line) = lines.get(run) else {
            // The reader has not read this run yet: read it now.
            self.wake.notify_one();
            return;
        };
        let now = Instant::now();
        if !changed || !mine.due(now) {
            // The next read sends it.
            return;
        }
        let raised = mine.raise(line);
        if self.send_if_changed(lines, run, raised) {
            mine.sent += 1;
            mine.last_sent = Some(now);
        }
    }
}

impl Live {
    /// A receiver of changed runs' lines (`ocfl runs --json`), starting the reader if it is
    /// not running.
    pub fn subscribe(
        self: &Arc<Live>,
        service: Arc<UpdateService>,
    ) -> broadcast::Receiver<Arc<Value>> {
        let receiver = self.sender.subscribe();
        if !self.polling.swap(true, Ordering::SeqCst) {
            let live = self.clone();
            tokio::spawn(async move { live.poll(service).await });
        }
        receiver
    }

    /// Sends `line` as `run`'s and keeps it, unless it is the line last sent; whether it
    /// went.
    fn send_if_changed(
        &self,
        lines: &mut HashMap<String, Arc<Value>>,
        run: &str,
        line: Value,
    ) -> bool {
        if lines.get(run).is_some_and(|sent| **sent == line) {
            return false;
        }
        let line = Arc::new(line);
        let _ = self.sender.send(line.clone());
        lines.insert(run.to_owned(), line);
        true
    }

    fn followed(&self) -> MutexGuard<'_, Followed> {
        // A panic while holding the lock leaves counts, never broken invariants.
        self.followed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the unfinished runs until nobody listens; a run that leaves the unfinished
    /// ones, or that was reported but never seen unfinished, is read once more, so its end
    /// is sent too.
    async fn poll(self: Arc<Live>, service: Arc<UpdateService>) {
        loop {
            if self.sender.receiver_count() == 0 {
                // The next listener's page shows the store as it is then: start afresh.
                *self.followed() = Followed::default();
                self.polling.store(false, Ordering::SeqCst);
                // A subscriber that came between the check and the store starts no
                // poller of its own: take the job back.
                if self.sender.receiver_count() == 0 || self.polling.swap(true, Ordering::SeqCst) {
                    return;
                }
            }
            match service.runs_page(false, POLL_RUNS, None).await {
                Ok(page) => {
                    let unfinished: HashSet<&str> =
                        page.runs.iter().map(|info| info.run.as_str()).collect();
                    let ended: HashSet<String> = {
                        let followed = self.followed();
                        followed
                            .lines
                            .keys()
                            .chain(followed.reported.keys())
                            .filter(|run| !unfinished.contains(run.as_str()))
                            .cloned()
                            .collect()
                    };
                    let mut finals = Vec::new();
                    for run in &ended {
                        match service.run(run).await {
                            Ok(Some(info)) if info.state.is_finished() => {
                                finals.push((run, Some(run_json(&info))));
                            }
                            // Not started yet (an object lock waits for it): read it later.
                            Ok(Some(_)) => {}
                            Ok(None) => finals.push((run, None)),
                            Err(error) => tracing::warn!(%error, run, "reading a run's end"),
                        }
                    }
                    let mut followed = self.followed();
                    let Followed { lines, reported } = &mut *followed;
                    for info in &page.runs {
                        let line = run_json(info);
                        let line = match reported.get(&info.run) {
                            Some(mine) => mine.raise(&line),
                            None => line,
                        };
                        self.send_if_changed(lines, &info.run, line);
                    }
                    for (run, line) in finals {
                        lines.remove(run);
                        reported.remove(run);
                        if let Some(line) = line {
                            let _ = self.sender.send(Arc::new(line));
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "reading the runs for live progress"),
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.wake.notified() => {}
            }
        }
    }
}
