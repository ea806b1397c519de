//! `ocfl purge`: delete an object from the storage root.

use std::fs;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use ocfl_core::object::{PurgeOutcome, purge_object};
use ocfl_core::storage::LocalStorage;
use serde_json::json;

use crate::args::{GlobalArgs, PurgeArgs, UsageError};
use crate::open::in_root;

/// Purges the object, after `--yes`.
pub fn run(global: &GlobalArgs, args: &PurgeArgs) -> Result<ExitCode> {
    let root = global.require_root("purge")?;
    if !args.yes {
        return Err(UsageError(format!(
            "purge deletes object {:?} and every version of it, for good; add --yes to confirm",
            args.id
        ))
        .into());
    }
    // The object is moved out of the root into `<root>.ocfl-work/` beside it (the work
    // area updates use too), so the storage handed to the library is the root's parent.
    let canonical = fs::canonicalize(root).with_context(|| in_root(root))?;
    let (parent, name) = match (canonical.parent(), canonical.file_name()) {
        (Some(parent), Some(name)) => (parent, name),
        _ => {
            return Err(anyhow!(
                "cannot purge from a storage root at {}",
                canonical.display()
            ));
        }
    };
    let name = name
        .to_str()
        .ok_or_else(|| anyhow!("the storage root's name {name:?} is not UTF-8"))?;
    let work_dir = format!("{name}.ocfl-work");
    let purged = purge_object(&LocalStorage::new(parent), name, &work_dir, &args.id)
        .with_context(|| in_root(root))?;
    let outcome = match purged.outcome {
        PurgeOutcome::Removed => "removed",
        PurgeOutcome::FinishedInterrupted => "finished-interrupted",
    };
    if global.json {
        let line = json!({"id": args.id, "path": purged.path, "outcome": outcome});
        println!("{line}");
    }
    if !global.quiet {
        match purged.outcome {
            PurgeOutcome::Removed => {
                eprintln!("purged object {} (was at {})", args.id, purged.path);
            }
            PurgeOutcome::FinishedInterrupted => eprintln!(
                "object {} was already gone; finished its interrupted purge",
                args.id
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}
