//! `cargo xtask interop [--skip-missing]`: the full interop matrix of
//! `crates/ocfl-cli/tests/interop.rs`, which `cargo test` runs thin: three objects of three
//! versions per root (two of two there), every layout and spec version, checked by ocfl-py
//! and rocfl, which must both be installed (`pip install ocfl-py==2.1.0`,
//! `cargo install rocfl --version 1.7.0`) unless `--skip-missing` lets a missing one be
//! skipped with a note.
//!
//! `cargo xtask interop --s3`: `ocfl` and rocfl on a private S3 server over https, both
//! directions ([`s3`]); rocfl must be installed.

mod s3;

use std::process::ExitCode;

use anyhow::Context;

use crate::crash::{cargo_test, run_cargo_test};

/// `cargo xtask interop`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip a missing peer with a note instead of failing.
    #[arg(long, conflicts_with = "s3")]
    skip_missing: bool,
    /// `ocfl` and rocfl on a private S3 server over https, both directions.
    #[arg(long)]
    s3: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.s3 {
        return run_s3();
    }
    let require = if args.skip_missing {
        ""
    } else {
        "ocfl-py,rocfl"
    };
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

/// Builds the `ocfl` binary (debug: correctness, not speed, is checked) and runs [`s3::run`].
fn run_s3() -> anyhow::Result<ExitCode> {
    let rocfl = crate::bench::rocfl_program().with_context(|| {
        format!(
            "interop --s3 needs rocfl ({})",
            crate::bench::peers::Peer::Rocfl.install_hint()
        )
    })?;
    let workspace = crate::bench::workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "-p", "ocfl-cli"])
        .current_dir(&workspace)
        .status()
        .context("running cargo build -p ocfl-cli")?;
    anyhow::ensure!(status.success(), "building ocfl failed ({status})");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    s3::run(target.join("debug").join("ocfl"), rocfl)
}
