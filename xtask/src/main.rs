//! Developer automation: `cargo xtask <command>`.
//!
//! - `conformance`: run the validator over every official fixture, print a table and a
//!   closing `N passed, M failed` line.
//! - `bench validate`: end-to-end validation benchmark against rocfl and ocfl-py.
//! - `bench stage`: staging throughput against `sha512sum`; `bench plan`: time and memory of
//!   planning 100,000 files.
//! - `bench engine`: the durable-redb engine against duroxide (docs/benchmarks.md).
//! - `bench commit`: `ocfl commit` of 'many' and 'large' against rocfl, and file-level edits;
//!   `bench store`: the engine store's size with and without purges; `bench serve`: the
//!   console's page latencies.
//! - `bench scale`: one object of 10,000 to 1,000,000 files: commit, edit, validate, ls, cat,
//!   time and peak RSS against rocfl, plotted as SVG.
//! - `crash engine`: the durable-redb crash test over many seeds.
//! - `crash commit`: `ocfl commit` killed at random moments on a 'mixed' profile, checked
//!   after every kill and at the end.
//! - `bench s3`: commits and validation on a private S3 server over https against rocfl and
//!   a plain parallel upload.
//! - `interop`: the full interop matrix against ocfl-py and rocfl; `interop --s3`: with rocfl
//!   on a private S3 server over https.
//! - `tidy`: checks of the repository no compiler makes (ARCHITECTURE.md names every crate
//!   and top-level module; also run by `cargo test`).
//! - `soak --minutes N`: three `ocfl worker` processes on PostgreSQL under chaos (kills,
//!   server restarts, terminated connections), checked at the end (docs/durability.md).

#![forbid(unsafe_code)]

mod bench;
mod conformance;
mod crash;
mod interop;
mod s3server;
mod soak;
mod tidy;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("conformance") => conformance::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("crash") => crash::run(&args[1..]),
        Some("interop") => interop::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("tidy") => tidy::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <conformance | bench validate|stage|plan|engine|commit|store|serve|scale|s3 | crash engine|commit | interop [--s3] | soak | tidy> [options]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
