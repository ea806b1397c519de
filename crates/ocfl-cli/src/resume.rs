//! `ocfl resume`: finish every interrupted run of the storage root.

use anyhow::Result;
use serde_json::json;
use std::process::ExitCode;

use crate::args::GlobalArgs;
use crate::commit::outcome_json;
use crate::state::{Choice, Engine, Store, command_worker_options, runtime, site};

/// Resumes the unfinished runs one by one and reports each; exits 1 if any fails.
pub fn run(global: &GlobalArgs) -> Result<ExitCode> {
    let work = site(global, "resume")?;
    let never_used = match Choice::of(global, &work)? {
        Choice::Embedded(path) => !path.exists(),
        Choice::Postgres(_) => false,
    };
    if never_used {
        if !global.quiet {
            eprintln!(
                "nothing to resume: no run was ever made for {}",
                work.name()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(forwarder) = crate::forward::forwarder(global, &work) {
        return forwarded(global, &forwarder);
    }
    runtime()?.block_on(async {
        // No step display: several runs may be going on at once; each is reported as it ends.
        let store = Store::open(global, &work).await?;
        let engine = Engine::start(store, None, command_worker_options(global))?;
        let outcomes = engine.service.resume_all().await;
        engine.stop().await;
        let outcomes = outcomes?;
        let mut failed = 0;
        for (run, outcome) in &outcomes {
            match outcome {
                Ok(outcome) => {
                    if global.json {
                        println!("{}", outcome_json(outcome));
                    }
                    if !global.quiet {
                        eprintln!("resumed run {run}: {}", outcome.summary());
                    }
                }
                Err(error) => {
                    failed += 1;
                    if global.json {
                        println!("{}", json!({"run": run, "error": error.to_string()}));
                    }
                    eprintln!("ocfl: error: resuming run {run}: {error}");
                }
            }
        }
        if !global.quiet {
            match outcomes.len() {
                0 => eprintln!("nothing to resume: no interrupted runs"),
                n => eprintln!("{} of {n} run(s) completed", n - failed),
            }
        }
        Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Resumes the unfinished runs in the `ocfl serve` that holds the embedded store, waiting
/// for each as the command does.
fn forwarded(global: &GlobalArgs, forwarder: &crate::forward::Forwarder) -> Result<ExitCode> {
    let runs = forwarder.runs(false)?;
    let mut failed = 0;
    for info in runs.iter().filter(|r| !r.state.is_finished()) {
        forwarder.resume(&info.run)?;
        let ended = forwarder.wait(&info.run)?;
        match crate::forward::outcome(&ended) {
            Ok(line) => {
                if global.json {
                    println!("{line}");
                }
                if !global.quiet {
                    eprintln!("resumed run {}: now at {}", info.run, line["version"]);
                }
            }
            Err(error) => {
                failed += 1;
                if global.json {
                    println!("{}", json!({"run": info.run, "error": error.to_string()}));
                }
                eprintln!("ocfl: error: resuming run {}: {error}", info.run);
            }
        }
    }
    if !global.quiet && runs.is_empty() {
        eprintln!("nothing to resume: no interrupted runs");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
