//! `ocfl purge`: delete an object from the storage root.

use std::process::ExitCode;

use anyhow::{Context, Result};
use ocfl_core::object::{PurgeOutcome, purge_object};
use ocfl_core::storage::LocalStorage;
use serde_json::json;

use crate::args::{GlobalArgs, PurgeArgs, UsageError};
use crate::open::{in_local_root, in_root};
use crate::site::Site;
use crate::state::site;

/// Purges the object, after `--yes`.
pub fn run(global: &GlobalArgs, args: &PurgeArgs) -> Result<ExitCode> {
    let site = site(global, "purge")?;
    if !args.yes {
        return Err(UsageError(format!(
            "purge deletes object {:?} and every version of it, for good; add --yes to confirm",
            args.id
        ))
        .into());
    }
    // On a local root the object is moved out of the root into its work area (as updates
    // use), so the storage handed to the library holds both; in a bucket it is deleted in
    // place (ocfl_core::object::purge_object).
    let purged = match site {
        Site::Local(work) => purge_object(
            &LocalStorage::new(&work.base),
            &work.root,
            &work.area,
            &args.id,
        )
        .with_context(|| in_local_root(&work.root_path()))?,
        #[cfg(feature = "s3")]
        Site::S3(site) => purge_object(&site.base, &site.name, &site.work_dir, &args.id)
            .with_context(|| in_root(&site.location.to_string()))?,
    };
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
