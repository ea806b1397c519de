//! `cargo xtask bench|crash|interop|soak ARGS`: `cargo run [--release] -p
//! ocfl-bench-compare -- COMMAND ARGS` from the workspace root. The benchmarks time optimized
//! code, so `bench` runs the release build; the crash loops, the interop matrix and the soak
//! run build what they test themselves (`--debug` chooses) and run the harness as built for
//! development.

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use anyhow::Context;

/// The profile the harness is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Release,
    Dev,
}

/// The `cargo run` command line for `COMMAND ARGS`.
pub fn cargo_run_args(build: Build, command: &str, args: &[OsString]) -> Vec<OsString> {
    let mut line: Vec<OsString> = vec!["run".into(), "--quiet".into()];
    if build == Build::Release {
        line.push("--release".into());
    }
    line.extend(["-p", "ocfl-bench-compare", "--", command].map(OsString::from));
    line.extend(args.iter().cloned());
    line
}

/// Runs the harness; its exit status is ours.
pub fn run(build: Build, command: &str, args: &[OsString]) -> anyhow::Result<ExitCode> {
    let status = Command::new(crate::cargo())
        .args(cargo_run_args(build, command, args))
        .current_dir(crate::workspace_root())
        .status()
        .context("running cargo run -p ocfl-bench-compare")?;
    // A status without a code means a signal: report a failure.
    let code = status.code().unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_runs_the_release_build_and_the_rest_the_dev_one() {
        let args = [OsString::from("plan"), OsString::from("--runs"), "1".into()];
        assert_eq!(
            cargo_run_args(Build::Release, "bench", &args),
            [
                "run",
                "--quiet",
                "--release",
                "-p",
                "ocfl-bench-compare",
                "--",
                "bench",
                "plan",
                "--runs",
                "1"
            ]
        );
        assert_eq!(
            cargo_run_args(Build::Dev, "crash", &["--help".into()]),
            [
                "run",
                "--quiet",
                "-p",
                "ocfl-bench-compare",
                "--",
                "crash",
                "--help"
            ]
        );
    }
}
