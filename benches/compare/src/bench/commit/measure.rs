//! One process, measured: wall time from spawn to exit, CPU time and peak resident memory.
//!
//! `std::process::Command` does not expose the child's rusage, and this workspace forbids
//! `unsafe` code, so the CPU time and peak RSS come from GNU time (`/usr/bin/time -f ... -o
//! FILE`, which reads them from `wait4`). Without GNU time the peak RSS of the process itself
//! is sampled from `/proc/PID/status` (`VmHWM`) until it exits, and there is no CPU time.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// GNU time, where Debian and most distributions install it.
const GNU_TIME: &str = "/usr/bin/time";

/// The format GNU time writes: peak RSS in KiB, user and system CPU seconds.
pub(crate) const FORMAT: &str = "%M %U %S";

/// How the figures are taken on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meter {
    /// GNU time at this path.
    GnuTime(PathBuf),
    /// `VmHWM` sampled from `/proc/PID/status` (peak RSS of the direct child only).
    Proc,
}

impl Meter {
    /// GNU time if it is installed and is GNU's, else the `/proc` sampler.
    pub fn detect() -> Meter {
        let gnu = Command::new(GNU_TIME)
            .arg("--version")
            .output()
            .ok()
            .filter(|output| {
                let text = [output.stdout.as_slice(), output.stderr.as_slice()].concat();
                String::from_utf8_lossy(&text).contains("GNU")
            });
        match gnu {
            Some(_) => Meter::GnuTime(PathBuf::from(GNU_TIME)),
            None => Meter::Proc,
        }
    }

    /// For the report.
    pub fn describe(&self) -> String {
        match self {
            Meter::GnuTime(path) => format!("{} -f '{FORMAT}' (wait4 rusage)", path.display()),
            Meter::Proc => "VmHWM sampled from /proc/PID/status every 2 ms".to_string(),
        }
    }

    /// Runs `program args` in `dir` (stdin closed, stderr captured) and measures it; fails,
    /// with the end of its stderr, if it does not exit with status 0.
    pub fn run(
        &self,
        program: &OsStr,
        args: &[OsString],
        dir: &Path,
    ) -> anyhow::Result<Measurement> {
        self.run_with_env(program, args, dir, &[])
    }

    /// [`Meter::run`] with these variables added to the environment.
    pub fn run_with_env(
        &self,
        program: &OsStr,
        args: &[OsString],
        dir: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<Measurement> {
        let shown = Path::new(program).display().to_string();
        let scratch = tempfile::tempdir()?;
        let report = scratch.path().join("time");
        let mut command = match self {
            Meter::GnuTime(time) => {
                let mut command = Command::new(time);
                command
                    .args(["-f", FORMAT, "-o"])
                    .arg(&report)
                    .arg(program)
                    .args(args);
                command
            }
            Meter::Proc => {
                let mut command = Command::new(program);
                command.args(args);
                command
            }
        };
        // Output goes to files, not pipes: a child writing more than a pipe holds must not
        // wait on us while we wait on it.
        let stdout_path = scratch.path().join("stdout");
        let stderr_path = scratch.path().join("stderr");
        command
            .envs(env.iter().map(|(name, value)| (name, value)))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path)?)
            .stderr(std::fs::File::create(&stderr_path)?);
        let start = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("running {shown}"))?;
        let mut sampled_peak = None;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if *self == Meter::Proc
                && let Some(peak) = vm_hwm_kib(child.id())
            {
                sampled_peak = Some(peak.max(sampled_peak.unwrap_or(0)));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let seconds = start.elapsed().as_secs_f64();
        let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        anyhow::ensure!(
            status.success(),
            "{shown} failed ({status}):\n{}",
            tail(&stderr, 15)
        );
        let (peak_rss_kib, cpu_seconds) = match self {
            Meter::GnuTime(_) => {
                let text = std::fs::read_to_string(&report).context("reading GNU time's report")?;
                let (peak, cpu) = parse_report(&text)
                    .with_context(|| format!("unexpected GNU time report {text:?}"))?;
                (Some(peak), Some(cpu))
            }
            Meter::Proc => (sampled_peak, None),
        };
        Ok(Measurement {
            seconds,
            cpu_seconds,
            peak_rss_kib,
            stdout,
        })
    }
}

/// What one process took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurement {
    /// Wall seconds from spawn to exit.
    pub seconds: f64,
    /// User plus system CPU seconds of the process and its children (GNU time only).
    pub cpu_seconds: Option<f64>,
    /// Peak resident set size in KiB (GNU time: the largest of the process and its waited
    /// children; the sampler: the process itself).
    pub peak_rss_kib: Option<u64>,
    /// What it printed on stdout.
    pub stdout: String,
}

impl Measurement {
    /// Two processes run one after the other: times add up, the peak is the larger one.
    pub fn then(self, next: Measurement) -> Measurement {
        Measurement {
            seconds: self.seconds + next.seconds,
            cpu_seconds: self.cpu_seconds.zip(next.cpu_seconds).map(|(a, b)| a + b),
            peak_rss_kib: match (self.peak_rss_kib, next.peak_rss_kib) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            stdout: self.stdout + &next.stdout,
        }
    }
}

/// The last line of GNU time's report: `KIB USER SYSTEM`. Earlier lines, if any, say the
/// command was killed or failed.
pub(crate) fn parse_report(text: &str) -> Option<(u64, f64)> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let mut fields = line.split_whitespace();
    let peak = fields.next()?.parse().ok()?;
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some((peak, user + system))
}

/// `VmHWM` of a running process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix("VmHWM:")?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn sh(script: &str) -> (OsString, Vec<OsString>) {
        ("sh".into(), vec!["-c".into(), script.into()])
    }

    fn meters() -> Vec<Meter> {
        let mut meters = vec![Meter::Proc];
        if let Meter::GnuTime(path) = Meter::detect() {
            meters.push(Meter::GnuTime(path));
        }
        meters
    }

    #[test]
    fn reports_parse_from_the_last_line() {
        assert_eq!(parse_report("2048 0.50 0.25\n"), Some((2048, 0.75)));
        assert_eq!(
            parse_report("Command exited with non-zero status 1\n10 0.00 0.01\n"),
            Some((10, 0.01))
        );
        assert_eq!(parse_report("2048 0.50\n"), None);
        assert_eq!(parse_report(""), None);
    }

    #[test]
    fn output_is_returned_and_a_failure_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for meter in meters() {
            let (program, args) = sh("pwd; echo out; echo err >&2");
            let measured = meter.run(&program, &args, dir.path()).unwrap();
            let cwd = dir.path().canonicalize().unwrap();
            assert_eq!(measured.stdout, format!("{}\nout\n", cwd.display()));
            assert!(measured.seconds > 0.0);
            let (program, args) = sh("echo why >&2; exit 3");
            let error = meter.run(&program, &args, dir.path()).unwrap_err();
            assert!(format!("{error:#}").contains("why"), "{error:#}");
        }
    }

    #[test]
    fn the_peak_rss_sees_memory_the_process_touched() {
        let dir = tempfile::tempdir().unwrap();
        // The shell itself holds 64 MiB in a variable, and lives long enough to be sampled.
        let (program, args) =
            sh("x=$(head -c 67108864 /dev/zero | tr '\\0' a); sleep 0.1; echo ${#x}");
        for meter in meters() {
            let measured = meter.run(&program, &args, dir.path()).unwrap();
            assert_eq!(measured.stdout, "67108864\n");
            let peak = measured.peak_rss_kib.unwrap();
            assert!(peak >= 60 * 1024, "{meter:?}: {peak} KiB");
            let small = meter.run("true".as_ref(), &[], dir.path()).unwrap();
            // The sampler may exit before it reads anything from so short a process.
            if let Some(peak) = small.peak_rss_kib {
                assert!(peak < 32 * 1024, "{meter:?} true: {peak} KiB");
            }
        }
    }

    #[test]
    fn sequential_measurements_add_times_and_keep_the_larger_peak() {
        let a = Measurement {
            seconds: 1.0,
            cpu_seconds: Some(0.5),
            peak_rss_kib: Some(10),
            stdout: "a".into(),
        };
        let b = Measurement {
            seconds: 2.0,
            cpu_seconds: None,
            peak_rss_kib: Some(30),
            stdout: "b".into(),
        };
        let sum = a.then(b);
        assert_eq!(sum.seconds, 3.0);
        assert_eq!(sum.cpu_seconds, None);
        assert_eq!(sum.peak_rss_kib, Some(30));
        assert_eq!(sum.stdout, "ab");
    }
}
