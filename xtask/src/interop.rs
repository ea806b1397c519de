//! `cargo xtask interop [--skip-missing]`: the full interop matrix of
//! `crates/ocfl-cli/tests/interop.rs`, which `cargo test` runs thin: three objects of three
//! versions per root (two of two there), every layout and spec version, checked by ocfl-py
//! and rocfl, which must both be installed (`pip install ocfl-py==2.1.0`,
//! `cargo install rocfl --version 1.7.0`) unless `--skip-missing` lets a missing one be
//! skipped with a note.

use std::process::ExitCode;

use anyhow::bail;

use crate::crash::{cargo_test, run_cargo_test};

const USAGE: &str = "usage: cargo xtask interop [--skip-missing]";

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let mut require = "ocfl-py,rocfl";
    for arg in args {
        match arg.as_str() {
            "--skip-missing" => require = "",
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let mut command = cargo_test("ocfl-cli", "interop", false)?;
    command
        .env("OCFL_INTEROP_FULL", "1")
        .env("OCFL_INTEROP_REQUIRE", require);
    eprintln!(
        "interop: the full matrix (ocfl-py and rocfl{})",
        if require.is_empty() {
            " where installed"
        } else {
            " required"
        }
    );
    run_cargo_test(command)
}
