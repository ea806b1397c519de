//! Benchmarks time optimized code. `cargo xtask` runs a debug build of xtask; a benchmark
//! started there builds the release xtask and hands the whole command to it.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::Context;

use super::workspace_root;

/// `None` when this is already an optimized build (go on here); otherwise builds
/// `target/release/xtask`, runs `xtask bench ARGS` with it and returns its exit status.
pub fn rerun_optimized(bench_args: &[String]) -> anyhow::Result<Option<ExitCode>> {
    if !cfg!(debug_assertions) {
        return Ok(None);
    }
    let workspace = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: this xtask is a debug build; cargo build --release -p xtask");
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--release", "-p", "xtask"])
        .current_dir(&workspace)
        .status()
        .context("running cargo build --release -p xtask")?;
    anyhow::ensure!(
        status.success(),
        "building the release xtask failed ({status})"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let binary = target
        .join("release")
        .join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    let status = Command::new(&binary)
        .arg("bench")
        .args(bench_args)
        .status()
        .with_context(|| format!("running {}", binary.display()))?;
    // A status without a code means a signal: report a failure.
    let code = status.code().unwrap_or(1);
    Ok(Some(ExitCode::from(u8::try_from(code).unwrap_or(1))))
}
