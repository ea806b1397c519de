//! Shared by the `ocfl worker` tests: a process whose stderr log is collected line by line
//! while it runs, waiting for what it logs, and signals.

#![allow(dead_code)] // each test crate uses its own part of it

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a test waits for something a worker should log before giving up (a bound
/// against hanging, far above what any of it takes).
pub const PATIENCE: Duration = Duration::from_secs(120);

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
