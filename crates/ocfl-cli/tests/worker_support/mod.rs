//! Shared by the `ocfl worker` tests: a process whose stderr log is collected line by line
//! while it runs, waiting for what it logs, and signals.

#![allow(dead_code)] // each test crate uses its own part of it

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a test waits for something a worker should log before giving up (a bound
/// against hanging, far above what any of it takes).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Numbers the markers of [`Process::freeze`].
static FREEZES: AtomicUsize = AtomicUsize::new(0);

/// A running `ocfl ... worker --json` (or any `ocfl` process whose stderr is wanted live).
pub struct Process {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Process {
    /// Spawns `command` with stdout discarded and stderr collected.
    pub fn spawn(mut command: Command) -> Process {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ocfl");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("lines").push(line);
            }
        });
        Process {
            child,
            lines,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// The JSON lines of the log so far (other lines, such as warnings, skipped).
    pub fn events(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event.get("event").is_some())
            .collect()
    }

    /// Waits until `done` holds for the log's events; panics (showing the log) after
    /// [`PATIENCE`] or if the process exits first.
    pub fn wait_for(&mut self, what: &str, done: impl Fn(&[Value]) -> bool) {
        self.wait_until(what, |process| done(&process.events()));
    }

    /// Waits until `done` holds for the log's lines (as [`Process::wait_for`]).
    pub fn wait_for_line(&mut self, what: &str, done: impl Fn(&str) -> bool) {
        self.wait_until(what, |process| process.lines().iter().any(|l| done(l)));
    }

    fn wait_until(&mut self, what: &str, done: impl Fn(&Process) -> bool) {
        let started = Instant::now();
        loop {
            if done(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.join_reader();
                if done(self) {
                    return;
                }
                panic!(
                    "ocfl exited ({status}) before {what}:\n{}",
                    self.lines().join("\n")
                );
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no {what} after {PATIENCE:?}:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`, `STOP`, `CONT`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg("-s")
            .arg(signal)
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} {}", self.pid());
    }

    /// Freezes the process (SIGSTOP) and returns once it can write nothing more and
    /// everything it wrote before has been read: the number of log lines then. The last of
    /// them is a marker this writes into the process's own stderr pipe once every one of its
    /// threads is stopped; a pipe is first in, first out, so seeing the marker read back
    /// means every earlier byte was read too (the marker may end a line the process had only
    /// half written). No sleep decides it, so a loaded machine only makes it slower.
    pub fn freeze(&mut self) -> usize {
        self.signal("STOP");
        let pid = self.pid();
        self.wait_until("every thread stopped", |_| all_threads_stopped(pid));
        let marker = format!(
            "ocfl-test-frozen-{pid}-{}",
            FREEZES.fetch_add(1, Ordering::SeqCst)
        );
        let mut pipe = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/fd/2"))
            .expect("open the frozen process's stderr pipe");
        writeln!(pipe, "{marker}").expect("write the marker");
        drop(pipe);
        self.wait_for_line("the marker read back", |line| line.ends_with(&marker));
        let lines = self.lines();
        lines
            .iter()
            .position(|line| line.ends_with(&marker))
            .map_or(lines.len(), |index| index + 1)
    }

    /// Waits for the process to exit (at most [`PATIENCE`]); its status and whole log.
    pub fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!(
                    "ocfl did not exit within {PATIENCE:?}:\n{}",
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.join_reader();
        (status, self.lines())
    }

    fn join_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A failed test must not leave a worker running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether every thread of process `pid` is in the stopped state (`T` in
/// `/proc/PID/task/TID/stat`): a signalled SIGSTOP takes effect asynchronously.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for task in tasks {
        let Ok(task) = task else { return false };
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            // A thread that exited meanwhile.
            continue;
        };
        // The state follows the command name, which is in parentheses and may hold any byte.
        let state = stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next());
        if state != Some("T") {
            return false;
        }
        any = true;
    }
    any
}

/// Events of `kind` (`"activity-started"`, `"verified"`, ...).
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The runs a log says were verified.
pub fn verified_runs(events: &[Value]) -> Vec<String> {
    of_kind(events, "verified")
        .iter()
        .filter_map(|e| e["run"].as_str().map(str::to_owned))
        .collect()
}
