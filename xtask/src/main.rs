//! Developer automation: `cargo xtask <command>`.
//!
//! - `conformance`: run the validator over every official fixture, print a table and a
//!   closing `N passed, M failed` line ([`conformance`]).
//! - `tidy`: checks of the repository no compiler makes (ARCHITECTURE.md names every crate
//!   and top-level module; also run by `cargo test`), then formatting, clippy and rustdoc's
//!   links ([`tidy`]).
//! - `ci`: the steps `.ci/run` runs after starting its services: formatting, clippy,
//!   `cargo test --workspace` ([`ci`]).
//! - `bench ...`, `crash ...`, `interop ...`, `soak ...`: forwarded to the harness crate
//!   `benches/compare` (`ocfl-bench-compare`), in release for `bench` ([`forward`]).

#![forbid(unsafe_code)]

mod ci;
mod conformance;
mod forward;
mod tidy;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// `cargo xtask`: this workspace's automation. `bench`, `crash`, `interop` and `soak` run
/// the harness of `benches/compare`; `cargo xtask bench --help` (and each of its
/// subcommands' `--help`) lists their options.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Validate every official fixture against its expected verdict.
    Conformance {
        /// The fixtures (default `fixtures/ocfl`).
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
    /// ARCHITECTURE.md names every crate and module; then formatting, clippy and doc links.
    Tidy {
        /// Only the ARCHITECTURE.md check (what `cargo test -p xtask` runs).
        #[arg(long)]
        architecture_only: bool,
    },
    /// CI's steps: `cargo fmt --all --check`, `cargo clippy --workspace --all-targets -- -D
    /// warnings`, `cargo test --workspace`.
    ///
    /// The services the tests need are not started here: `.ci/run` starts PostgreSQL, an
    /// S3-compatible server (moto), ocfl-py and chromium, sets OCFL_TEST_POSTGRES_URL,
    /// OCFL_TEST_S3_ENDPOINT and the AWS_* variables and OCFL_TEST_REQUIRE_SERVICES=1, then
    /// runs these steps. Without those variables the tests that need a service say they are
    /// skipped.
    Ci,
    /// Benchmarks against peers and floors, run in a release build of `benches/compare`:
    /// validate, stage, plan, engine, commit, store, serve, scale, s3 (docs/benchmarks.md).
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed on (`cargo xtask bench --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Crash tests over many seeds: `crash engine`, `crash commit`.
    #[command(disable_help_flag = true)]
    Crash {
        /// Passed on (`cargo xtask crash --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// The full interop matrix against ocfl-py and rocfl (`--s3`: with rocfl on S3).
    #[command(disable_help_flag = true)]
    Interop {
        /// Passed on (`cargo xtask interop --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Three `ocfl worker` processes on PostgreSQL under chaos (docs/durability.md).
    #[command(disable_help_flag = true)]
    Soak {
        /// Passed on (`cargo xtask soak --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Conformance { fixtures } => conformance::run(fixtures),
        Command::Tidy { architecture_only } => tidy::run(architecture_only),
        Command::Ci => ci::run(),
        Command::Bench { args } => forward::run(forward::Build::Release, "bench", &args),
        Command::Crash { args } => forward::run(forward::Build::Dev, "crash", &args),
        Command::Interop { args } => forward::run(forward::Build::Dev, "interop", &args),
        Command::Soak { args } => forward::run(forward::Build::Dev, "soak", &args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cargo` as cargo started us with, or from `PATH`.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(line.split_whitespace().skip(1))
    }

    #[test]
    fn the_harness_commands_pass_every_argument_on() {
        let cli = parse("cargo xtask bench commit --files 100000 --edit 10 --help").unwrap();
        let Command::Bench { args } = cli.command else {
            panic!("not bench: {cli:?}");
        };
        assert_eq!(
            args,
            ["commit", "--files", "100000", "--edit", "10", "--help"]
        );
        let cli = parse("cargo xtask crash --help").unwrap();
        assert!(matches!(cli.command, Command::Crash { args } if args == ["--help"]));
        let cli = parse("cargo xtask soak --minutes 30 --url URL").unwrap();
        assert!(matches!(cli.command, Command::Soak { args } if args.len() == 4));
    }

    #[test]
    fn automation_commands_parse_their_own_options() {
        assert!(matches!(
            parse("cargo xtask ci").unwrap().command,
            Command::Ci
        ));
        assert!(parse("cargo xtask ci --fast").is_err());
        assert!(matches!(
            parse("cargo xtask tidy --architecture-only")
                .unwrap()
                .command,
            Command::Tidy {
                architecture_only: true
            }
        ));
        assert!(matches!(
            parse("cargo xtask conformance --fixtures /f")
                .unwrap()
                .command,
            Command::Conformance { fixtures: Some(_) }
        ));
        assert!(parse("cargo xtask frobnicate").is_err());
    }
}
