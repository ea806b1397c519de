//! `ocfl revert`: a new version holding an earlier version's state.

use std::process::ExitCode;

use anyhow::{Result, bail};
use ocfl_durable::CommitRequest;

use crate::args::{GlobalArgs, RevertArgs};
use crate::commit::submit;
use crate::open::{open_object, open_root, root_storage};

/// Checks the object has the version, then runs the revert like a commit.
pub fn run(global: &GlobalArgs, args: &RevertArgs) -> Result<ExitCode> {
    let site = crate::state::site(global, "revert")?;
    {
        // Refused here, before a run or the engine's store exist: an unknown object or
        // version leaves no trace.
        let storage = root_storage(global, "revert")?;
        let storage_root = open_root(&storage)?;
        let object = open_object(&storage, &storage_root, &args.id)?;
        let inventory = object.inventory();
        if !inventory
            .versions
            .keys()
            .any(|v| v.number() == args.version.number())
        {
            bail!(
                "object {}: has no version {} (head is {})",
                args.id,
                args.version,
                inventory.head
            );
        }
    }
    let mut request = CommitRequest::revert(args.id.as_str(), args.version.to_string());
    request.message = args.about.message.clone();
    request.user_name = args.about.user_name.clone();
    request.user_address = args.about.user_address.clone();
    request.created = args.about.created;
    submit(global, &site, request, false)
}
