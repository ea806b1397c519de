//! `cargo xtask ci`: the steps of `.ci/run` after it has started the services (PostgreSQL,
//! moto, ocfl-py, chromium) and set their variables: formatting, clippy with warnings
//! denied, and the whole workspace's tests. Stops at the first step that fails.

use std::process::{Command, ExitCode};

use anyhow::Context;

/// The steps, as `cargo` arguments, in the order `.ci/run` runs them.
pub const STEPS: [&[&str]; 3] = [
    &["fmt", "--all", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &["test", "--workspace"],
];

pub fn run() -> anyhow::Result<ExitCode> {
    Ok(exit_code(run_steps(&STEPS, &[])?))
}

/// Success or failure, as the process's exit.
pub fn exit_code(passed: bool) -> ExitCode {
    match passed {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

/// Runs each `cargo` step from the workspace root with `env` added, stopping at the first
/// that fails: whether all passed.
pub fn run_steps(steps: &[&[&str]], env: &[(&str, &str)]) -> anyhow::Result<bool> {
    for step in steps {
        eprintln!("xtask: cargo {}", step.join(" "));
        let status = Command::new(crate::cargo())
            .args(*step)
            .envs(env.iter().copied())
            .current_dir(crate::workspace_root())
            .status()
            .with_context(|| format!("running cargo {}", step.join(" ")))?;
        if !status.success() {
            eprintln!("xtask: cargo {} failed ({status})", step.join(" "));
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.ci/run` and this command run the same steps: a step added to one is added to the
    /// other.
    #[test]
    fn the_steps_are_those_of_ci_run() {
        let script = std::fs::read_to_string(crate::workspace_root().join(".ci/run"))
            .expect(".ci/run is in the repository");
        let in_script: Vec<String> = script
            .lines()
            .filter_map(|line| line.strip_prefix("cargo "))
            .map(str::to_owned)
            .collect();
        let here: Vec<String> = STEPS.iter().map(|step| step.join(" ")).collect();
        assert_eq!(in_script, here);
    }
}
