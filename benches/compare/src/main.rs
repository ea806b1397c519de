//! The comparison benchmarks, crash loops, interop matrix and soak run of this workspace:
//! the harness behind `cargo xtask bench|crash|interop|soak`, which forwards its arguments
//! here (`cargo run [--release] -p ocfl-bench-compare -- COMMAND ...`). The benchmarks time
//! optimized code, so `cargo xtask bench` runs this binary built in release; the others drive
//! `cargo test` and `ocfl` processes and run it as built for development.
//!
//! - `bench validate|stage|plan|engine|commit|store|serve|scale|s3` ([`bench`](mod@bench)): our tools
//!   against rocfl, ocfl-py, duroxide, DBOS and plain floors (docs/benchmarks.md).
//! - `crash engine|commit` ([`crash`]): the crash tests over many seeds.
//! - `interop [--skip-missing | --s3]` ([`interop`]): the full interop matrix.
//! - `soak` ([`soak`]): `ocfl worker` processes on PostgreSQL under chaos.

#![forbid(unsafe_code)]

mod bench;
mod crash;
mod interop;
mod s3server;
mod soak;

use std::process::ExitCode;

use clap::Parser;

/// The command line: the same as `cargo xtask`'s for these commands.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Comparison benchmarks, crash loops, the interop matrix and the soak run",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Benchmarks against peers and floors (docs/benchmarks.md).
    #[command(subcommand)]
    Bench(bench::Command),
    /// Crash tests over many seeds.
    #[command(subcommand)]
    Crash(crash::Command),
    /// The full interop matrix against ocfl-py and rocfl, or with rocfl on S3.
    Interop(interop::Args),
    /// Three `ocfl worker` processes on PostgreSQL under chaos (docs/durability.md).
    Soak(soak::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(command) => bench::run(command),
        Command::Crash(command) => crash::run(command),
        Command::Interop(args) => interop::run(args),
        Command::Soak(args) => soak::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses `args` as one subcommand's options (the tests of each subcommand's parser).
#[cfg(test)]
pub(crate) fn parse_args<T: clap::Args>(args: &[&str]) -> Result<T, clap::Error> {
    #[derive(Debug, Parser)]
    struct Wrapper<T: clap::Args> {
        #[command(flatten)]
        inner: T,
    }
    Wrapper::<T>::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
        .map(|wrapper| wrapper.inner)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    /// Every concrete `cargo xtask bench|crash|interop|soak ...` command line of the
    /// repository's documentation, split as a shell would (synopses with `[...]` left out):
    /// in a code span up to its closing backtick, across lines; in a code block to the end of
    /// the line, with `\\` continuations.
    fn documented_command_lines() -> Vec<(String, Vec<String>)> {
        let workspace = bench::workspace_root();
        let mut files = vec![
            workspace.join("README.md"),
            workspace.join("ARCHITECTURE.md"),
        ];
        for entry in std::fs::read_dir(workspace.join("docs")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
        let mut found = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (index, line) in lines.iter().enumerate() {
                for (start, _) in line.match_indices("cargo xtask ") {
                    let in_span = line[..start].ends_with('`');
                    let mut command = line[start..].to_owned();
                    let mut next = index + 1;
                    loop {
                        let more = match in_span {
                            true => !command.contains('`'),
                            false => command.trim_end().ends_with('\\'),
                        };
                        if !more || next == lines.len() {
                            break;
                        }
                        let cut = command.trim_end().trim_end_matches('\\').to_owned();
                        command = format!("{cut} {}", lines[next].trim());
                        next += 1;
                    }
                    if in_span {
                        command.truncate(command.find('`').unwrap_or(command.len()));
                    }
                    let words = shlex::split(&command).unwrap_or_default();
                    if !matches!(
                        words.get(2).map(String::as_str),
                        Some("bench" | "crash" | "interop" | "soak")
                    ) || command.contains('[')
                        || command.contains("...")
                    {
                        continue;
                    }
                    found.push((format!("{}:{}", file.display(), index + 1), words));
                }
            }
        }
        found
    }

    #[test]
    fn every_documented_command_line_parses() {
        let lines = documented_command_lines();
        // docs/benchmarks.md alone names dozens: a broken extraction finds none.
        assert!(lines.len() > 40, "only {} command lines found", lines.len());
        let mut failures = Vec::new();
        for (place, words) in &lines {
            // Placeholders stand for a value of the option's type.
            let argv = words.iter().skip(1).map(|word| match word.as_str() {
                "URL" => "postgres://u@localhost/db",
                "N" | "K" | "S" => "2",
                other => other,
            });
            // The bare group (`cargo xtask bench`, `cargo xtask crash`) names no command.
            if let Err(e) = Cli::try_parse_from(argv)
                && words.len() > 3
            {
                failures.push(format!("{place}: {}: {e}", words.join(" ")));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn an_unknown_option_or_subcommand_is_refused() {
        for line in [
            "cargo xtask bench validate --no-such-option",
            "cargo xtask bench frobnicate",
            "cargo xtask crash engine --iterations many",
            "cargo xtask interop --s3 --skip-missing",
            "cargo xtask soak --objects 0",
        ] {
            assert!(
                Cli::try_parse_from(line.split_whitespace().skip(1)).is_err(),
                "{line}"
            );
        }
    }
}
