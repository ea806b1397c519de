//! `ocfl rollback`: remove the versions after one version of an object (docs/durability.md,
//! section 4b).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ocfl_core::object::rollback_object;
use serde_json::json;

use crate::args::{GlobalArgs, RollbackArgs, UsageError};
use crate::open::root_storage;
use crate::state::{Store, runtime};

/// Rolls the object back after `--yes` (or shows what would go with `--dry-run`).
pub fn run(global: &GlobalArgs, args: &RollbackArgs) -> Result<ExitCode> {
    let site = crate::state::site(global, "rollback")?;
    if !args.yes && !args.dry_run {
        return Err(UsageError(format!(
            "rollback removes every version of object {:?} after {}, for good; add --yes to confirm (--dry-run shows what would go)",
            args.id, args.version
        ))
        .into());
    }
    let storage = root_storage(global, "rollback")?;
    let rolled = runtime()?.block_on(async {
        // The store stays open while the object is changed: on the embedded store no other
        // `ocfl` process can start a run meanwhile.
        let store = match args.dry_run {
            true => None,
            false => Store::open_existing(global, &site).await?,
        };
        if let Some(store) = &store
            && let Some(run) = store.service()?.active_run(&args.id).await?
        {
            bail!(
                "object {}: run {run} is updating it (busy); refusing to roll back until it is done (`ocfl resume`)",
                args.id
            );
        }
        let rolled = rollback_object(storage.storage(), &args.id, args.version, args.dry_run)
            .with_context(|| format!("rollback of object {}", args.id))?;
        drop(store);
        anyhow::Ok(rolled)
    })?;
    let removed: Vec<String> = rolled.removed.iter().map(ToString::to_string).collect();
    if global.json {
        println!(
            "{}",
            json!({
                "id": args.id,
                "version": rolled.version.to_string(),
                "removed": removed,
                "dry_run": args.dry_run,
                "changed": rolled.changed,
            })
        );
    }
    if !global.quiet {
        let list = if removed.is_empty() {
            "nothing".to_owned()
        } else {
            removed.join(", ")
        };
        if args.dry_run {
            eprintln!(
                "object {}: rolling back to {} would remove {list} (dry run: nothing was changed)",
                args.id, rolled.version
            );
        } else if rolled.changed {
            eprintln!(
                "object {}: rolled back to {}; removed {list}",
                args.id, rolled.version
            );
        } else {
            eprintln!(
                "object {}: head is already {}, nothing to remove",
                args.id, rolled.version
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
