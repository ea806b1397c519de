//! `cargo xtask crash commit ...`: the kill loop of `ocfl commit` ([`commit`]).
//!
//! `cargo xtask crash engine [--iterations N] [--seed S] [--debug]`: the durable-redb crash
//! test (`crates/durable-redb/tests/processes`) over more seeds than `cargo test` runs: a
//! child process runs a mixed workload and is killed with SIGKILL at a seeded moment, the
//! store is reopened and every orchestration must complete with the right output, each
//! history numbered without a gap, each activity run at least once and its outcome recorded
//! exactly once. Built in release mode unless `--debug`.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

mod commit;

const USAGE: &str = "usage: cargo xtask crash engine [--iterations N] [--seed S] [--debug]
       cargo xtask crash commit [--root s3://BUCKET/PREFIX] [--iterations N] [--seed S] [--scale crash|small|full] [--debug]";

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let Some((target, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    if target == "commit" {
        return commit::run(rest);
    }
    if target != "engine" {
        bail!("unknown crash test {target:?}\n{USAGE}");
    }
    let (mut iterations, mut seed, mut release) = (500u64, 0u64, true);
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        let mut number = || -> anyhow::Result<u64> {
            let text = rest
                .next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))?;
            text.parse()
                .with_context(|| format!("{arg} needs a number, not {text:?}"))
        };
        match arg.as_str() {
            "--iterations" => iterations = number()?,
            "--seed" => seed = number()?,
            "--debug" => release = false,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let mut command = cargo_test("durable-redb", "processes", release)?;
    command
        .arg("crash")
        .env("DURABLE_REDB_CRASH_ITERATIONS", iterations.to_string())
        .env("DURABLE_REDB_CRASH_SEED", seed.to_string())
        // A release child finishes the workload in about 60 ms: kill it within that.
        .env(
            "DURABLE_REDB_CRASH_SPREAD_MS",
            if release { "60" } else { "150" },
        );
    eprintln!(
        "crash: {iterations} seeds from {seed} ({})",
        if release { "release" } else { "debug" }
    );
    run_cargo_test(command)
}

/// The workspace root (the crash loops run their tests from it).
fn workspace() -> anyhow::Result<&'static Path> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the workspace root")
}

/// `cargo test -p PACKAGE --test TEST [--release] --`, from the workspace root: the caller
/// adds the test binary's arguments and environment.
pub(crate) fn cargo_test(package: &str, test: &str, release: bool) -> anyhow::Result<Command> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace()?)
        .args(["test", "-p", package, "--test", test]);
    if release {
        command.arg("--release");
    }
    command.arg("--");
    Ok(command)
}

/// Runs `command` (from [`cargo_test`]); its success is the loop's.
pub(crate) fn run_cargo_test(mut command: Command) -> anyhow::Result<ExitCode> {
    let status = command.status().context("running cargo test")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
