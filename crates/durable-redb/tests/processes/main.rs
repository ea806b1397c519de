//! Tests that need more than one process: the store lock between processes, poisoning work
//! that kills its process (a child aborting in an activity, run again until the engine gives
//! up), and the crash test (a child process killed with SIGKILL at a random moment, the
//! parent recovering).
//!
//! This binary is its own harness (`harness = false`): run with `DURABLE_REDB_CHILD` set it
//! is a child process (see `child`), otherwise it runs the tests and ends with a
//! `N passed, M failed` line. Arguments that do not start with `-` filter tests by name.
//!
//! - `DURABLE_REDB_CRASH_ITERATIONS` (default 50): how many seeds the crash test runs;
//!   `DURABLE_REDB_CRASH_SEED` (default 0): the first seed; `DURABLE_REDB_CRASH_SPREAD_MS`
//!   (default 150): the child is killed 10 ms plus up to this long after it starts. `cargo xtask crash engine
//!   --iterations N` sets them.

mod crash;
mod lock;
mod poison;
mod workload;

use std::process::ExitCode;
use std::time::Instant;

/// The environment variable that makes this binary a child process, and its values.
pub const CHILD: &str = "DURABLE_REDB_CHILD";
/// The store file a child opens.
pub const STORE: &str = "DURABLE_REDB_STORE";
/// The file a child records activity runs in.
pub const RUNS: &str = "DURABLE_REDB_RUNS";

type Test = (&'static str, fn() -> Result<(), String>);

const TESTS: &[Test] = &[
    (
        "lock::a_second_process_is_told_the_holders_pid",
        lock::a_second_process_is_told_the_holders_pid,
    ),
    (
        "lock::a_killed_holder_releases_the_store_and_its_leases",
        lock::a_killed_holder_releases_the_store_and_its_leases,
    ),
    (
        "poison::process_killing_work_is_poisoned",
        poison::process_killing_work_is_poisoned,
    ),
    (
        "crash::killed_workers_lose_nothing",
        crash::killed_workers_lose_nothing,
    ),
];

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(CHILD) {
        return child(&role);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--list") {
        for (name, _) in TESTS {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    let selected: Vec<&Test> = TESTS
        .iter()
        .filter(|(name, _)| {
            filters.is_empty() || filters.iter().any(|filter| name.contains(filter.as_str()))
        })
        .collect();
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in selected {
        let started = Instant::now();
        match test() {
            Ok(()) => {
                passed += 1;
                println!(
                    "test {name} ... ok ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            Err(error) => {
                failed += 1;
                println!("test {name} ... FAILED\n{error}");
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The child processes' entry point.
fn child(role: &str) -> ExitCode {
    let result = match role {
        "hold-lock" => lock::hold(),
        "workload" => crash::run_child(),
        "poison" => poison::run_child(),
        other => Err(format!("unknown child role {other:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("child {role}: {error}");
            ExitCode::FAILURE
        }
    }
}
