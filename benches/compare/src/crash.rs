//! `cargo xtask crash commit ...`: the kill loop of `ocfl commit` ([`commit`]).
//!
//! `cargo xtask crash engine [--iterations N] [--seed S] [--debug]`: the durable-redb crash
//! test (`crates/durable-redb/tests/processes`) over more seeds than `cargo test` runs: a
//! child process runs a mixed workload and is killed with SIGKILL at a seeded moment, the
//! store is reopened and every orchestration must complete with the right output, each
//! history numbered without a gap, each activity run at least once and its outcome recorded
//! exactly once. Built in release mode unless `--debug`.

use std::process::{Command as Process, ExitCode};

use anyhow::Context;

mod commit;

/// `cargo xtask crash SUBCOMMAND`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The durable-redb crash test over many seeds.
    Engine(EngineArgs),
    /// `ocfl commit` killed at random moments on a 'mixed' profile, checked after every kill
    /// and at the end.
    Commit(commit::Args),
}

/// `crash engine`'s command line.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Seeds run.
    #[arg(long, default_value = "500")]
    iterations: u64,
    /// The first seed.
    #[arg(long, default_value = "0")]
    seed: u64,
    /// Build the test in debug instead of release.
    #[arg(long)]
    debug: bool,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let args = match command {
        Command::Commit(args) => return commit::run(args),
        Command::Engine(args) => args,
    };
    let (iterations, seed, release) = (args.iterations, args.seed, !args.debug);
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

/// `cargo test -p PACKAGE --test TEST [--release] --`, from the workspace root: the caller
/// adds the test binary's arguments and environment.
pub(crate) fn cargo_test(package: &str, test: &str, release: bool) -> anyhow::Result<Process> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Process::new(cargo);
    command
        .current_dir(crate::bench::workspace_root())
        .args(["test", "-p", package, "--test", test]);
    if release {
        command.arg("--release");
    }
    command.arg("--");
    Ok(command)
}

/// Runs `command` (from [`cargo_test`]); its success is the loop's.
pub(crate) fn run_cargo_test(mut command: Process) -> anyhow::Result<ExitCode> {
    let status = command.status().context("running cargo test")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
