//! The `ocfl` command line: thin argument handling and output over `ocfl-core`.
//!
//! `main` parses the arguments (clap exits 2 on bad usage), `run` dispatches to one module
//! per command, and errors are printed with their context chain, naming the file or
//! object involved.

/// mimalloc instead of glibc's allocator: validating and committing allocate many small,
/// short-lived strings on several threads at once, where glibc's per-thread arenas showed up
/// in profiles (malloc/free and thousands of mprotect calls growing the arenas).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod cat;
mod commit;
mod diff;
mod example;
mod export;
mod init;
mod log;
mod ls;
mod open;
mod progress;
mod purge;
mod report;
mod resume;
mod runs;
mod show;
mod state;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, UsageError};

/// Exit status for bad usage, the same as clap's.
const USAGE_EXIT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
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

/// Logs of the libraries (the engine's retries, say) on stderr: warnings by default, more
/// with `-v`, or exactly what `RUST_LOG` asks for.
fn init_tracing(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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
        Command::Commit(args) => commit::run(&cli.global, args),
        Command::Runs(args) => runs::run(&cli.global, args),
        Command::Resume => resume::run(&cli.global),
        Command::Example(args) => example::run(&cli.global, args),
    }
}
