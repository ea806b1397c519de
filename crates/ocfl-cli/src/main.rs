//! The `ocfl` command line: thin argument handling and output over `ocfl-core`.
//!
//! `main` parses the arguments (clap exits 2 on bad usage), `run` dispatches to one module
//! per command, and errors are printed with their context chain, naming the file or
//! object involved.

mod args;
mod cat;
mod diff;
mod export;
mod init;
mod log;
mod ls;
mod open;
mod purge;
mod report;
mod show;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, UsageError};

/// Exit status for bad usage, the same as clap's.
const USAGE_EXIT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) if err.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {err}\n\nFor more information, try '--help'.");
            ExitCode::from(USAGE_EXIT)
        }
        // The reader of our output went away (`ocfl ls | head -1`): stop quietly, as tools
        // killed by SIGPIPE do, instead of reporting an error nobody asked about.
        Err(err) if is_broken_pipe(&err) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("ocfl: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Init(args) => init::run(&cli.global, args),
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Ls(args) => ls::run(&cli.global, args),
        Command::Log(args) => log::run(&cli.global, args),
        Command::Show(args) => show::run(&cli.global, args),
        Command::Diff(args) => diff::run(&cli.global, args),
        Command::Cat(args) => cat::run(&cli.global, args),
        Command::Export(args) => export::run(&cli.global, args),
        Command::Purge(args) => purge::run(&cli.global, args),
    }
}
