//! The `ocfl` command line: thin argument handling and output over `ocfl-core`.
//!
//! `main` parses the arguments (clap exits 2 on bad usage), `run` dispatches to one module
//! per command, and errors are printed with their context chain, naming the file or
//! object involved.

mod allocator;
mod args;
mod cat;
mod commit;
mod diff;
mod example;
mod export;
mod fixity;
mod info;
mod init;
mod log;
mod ls;
mod mutable_head;
mod open;
mod postgres;
mod progress;
mod purge;
mod put;
mod report;
mod resume;
mod revert;
mod rollback;
mod root_settings;
mod runs;
mod show;
mod site;
mod state;
mod upgrade;
mod validate;
mod worker;
mod worklog;

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use args::{Cli, Command, UsageError};

/// Exit status for bad usage, the same as clap's.
const USAGE_EXIT: u8 = 2;

fn main() -> ExitCode {
    allocator::return_freed_memory_promptly();
    let cli = Cli::parse();
    // `ocfl worker` logs what it runs; see `worklog`.
    let worklog = matches!(cli.command, Command::Worker(_))
        .then(|| Arc::new(worklog::WorkLog::new(cli.global.json, cli.global.verbose)));
    init_tracing(cli.global.verbose, worklog.clone());
    match run(&cli, worklog) {
        Ok(code) => code,
        Err(err) if err.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {err}\n\nFor more information, try '--help'.");
            ExitCode::from(USAGE_EXIT)
        }
        // The reader of our output went away (`ocfl ls | head -1`): stop quietly, as tools
        // killed by SIGPIPE do, instead of reporting an error nobody asked about.
        Err(err) if is_broken_pipe(&err) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("ocfl: error: {}", error_message(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, joined as `{:#}` joins them, but without a cause whose text the
/// message already ends with: library errors often show their source in their own message
/// and also return it from `source()`, which would print "... (os error 20): Not a
/// directory (os error 20)".
fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.ends_with(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// Logs of the libraries (the engine's retries, say) on stderr: warnings by default, more
/// with `-v`, or exactly what `RUST_LOG` asks for; and the worker's log of what it runs.
fn init_tracing(verbose: bool, worklog: Option<Arc<worklog::WorkLog>>) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for people: a worker's log usually goes to a file or a journal.
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(worklog.map(worklog::EngineSpans::layer))
        .try_init();
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: &Cli, worklog: Option<Arc<worklog::WorkLog>>) -> anyhow::Result<ExitCode> {
    open::check_supported(&cli.global, cli.command.name())?;
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
        Command::Put(args) => put::run(&cli.global, args),
        Command::Revert(args) => revert::run(&cli.global, args),
        Command::Rollback(args) => rollback::run(&cli.global, args),
        Command::Upgrade(args) => upgrade::run(&cli.global, args),
        Command::Info(args) => info::run(&cli.global, args),
        Command::Runs(args) => runs::run(&cli.global, args),
        Command::Resume => resume::run(&cli.global),
        Command::Example(args) => example::run(&cli.global, args),
        Command::Worker(args) => {
            let log = worklog.unwrap_or_else(|| {
                Arc::new(worklog::WorkLog::new(cli.global.json, cli.global.verbose))
            });
            worker::run(&cli.global, args, log)
        }
    }
}
