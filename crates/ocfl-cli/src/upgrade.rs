//! `ocfl upgrade`: OCFL 1.0 to 1.1, the storage root's declaration first, then each object
//! as a durable run (docs/durability.md, section 4c).

use std::collections::HashSet;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use ocfl_core::SpecVersion;
use ocfl_core::namaste::Declaration;
use ocfl_core::object::StorageRoot;
use ocfl_core::storage::{Storage, join};
use ocfl_durable::CommitRequest;
use serde_json::json;

use crate::args::{GlobalArgs, VersionArgs};
use crate::commit::execute;
use crate::open::{RootStorage, in_root, open_object, open_root, root_storage};
use crate::progress::Mode;
use crate::site::Site;
use crate::state::{Store, check_commit, runtime, site};

/// The version objects and roots are upgraded to.
const TARGET: SpecVersion = SpecVersion::V1_1;

/// `ocfl upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The object id; omit to upgrade every object of the storage root.
    pub id: Option<String>,
    /// Say what would be upgraded, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub about: VersionArgs,
}

/// An object the upgrade looks at: its id, the version its inventory declares, and whether
/// it still has work to do (a 1.0 inventory, or a 1.0 declaration left by an interrupted
/// upgrade).
struct Candidate {
    id: String,
    from: SpecVersion,
    head: String,
    pending: bool,
}

/// Upgrades the root's declaration, then the objects, one run each.
pub fn run(global: &GlobalArgs, args: &UpgradeArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "upgrade")?;
    let (root_from, candidates) = {
        let root = open_root(&storage)?;
        (
            root.spec_version(),
            candidates(&storage, &root, args.id.as_deref())?,
        )
    };
    let root_changes = root_from < TARGET || old_root_declarations(&storage)?;
    if !args.dry_run && root_changes {
        upgrade_root_declaration(storage.storage()).with_context(|| {
            format!("upgrading the declaration of {}", in_root(&storage.name()))
        })?;
    }
    if global.json {
        println!(
            "{}",
            json!({"root": true, "from": root_from.as_str(), "changed": root_changes, "dry_run": args.dry_run})
        );
    }
    if !global.quiet {
        let what = match (root_changes, args.dry_run) {
            (true, true) => "would declare OCFL 1.1",
            (true, false) => "declares OCFL 1.1 now",
            (false, _) => "already declares OCFL 1.1",
        };
        eprintln!("{}: {what}", in_root(&storage.name()));
    }
    let work = match args.dry_run {
        true => None,
        false => Some(site(global, "upgrade")?),
    };
    let mut candidates = candidates;
    if let Some(work) = &work {
        // An upgrade killed after its object looked done (old declaration removed) but
        // before its run completed: the same command finishes that run.
        let active = active_runs(global, work, &candidates)?;
        for candidate in &mut candidates {
            candidate.pending |= active.contains(&candidate.id);
        }
    }
    for candidate in &candidates {
        let Some(work) = work.as_ref().filter(|_| candidate.pending) else {
            report(global, candidate, None, args.dry_run);
            continue;
        };
        let mut request = CommitRequest::upgrade(candidate.id.as_str(), TARGET);
        request.message = Some(
            args.about
                .message
                .clone()
                .unwrap_or_else(|| "Upgrade to OCFL 1.1".to_owned()),
        );
        request.user_name = args.about.user_name.clone();
        request.user_address = args.about.user_address.clone();
        request.created = args.about.created;
        check_commit(work, &request)?;
        // While `ocfl serve` holds the embedded store, its worker runs the upgrade.
        let outcome = match crate::forward::forwarder(global, work) {
            Some(forwarder) => forwarder.execute(&request),
            None => execute(
                global,
                work,
                &request,
                Mode::detect(global.quiet, global.verbose),
            ),
        }
        .with_context(|| format!("upgrading object {}", candidate.id))?;
        report(global, candidate, Some(&outcome), false);
    }
    Ok(ExitCode::SUCCESS)
}

/// One object's line (stdout with `--json`) and summary (stderr).
fn report(
    global: &GlobalArgs,
    candidate: &Candidate,
    outcome: Option<&ocfl_durable::CommitOutcome>,
    dry_run: bool,
) {
    let changed = outcome.is_some_and(|o| o.changed) || (dry_run && candidate.pending);
    if global.json {
        println!(
            "{}",
            json!({
                "id": candidate.id,
                "from": candidate.from.as_str(),
                "version": outcome.map_or(candidate.head.as_str(), |o| o.version.as_str()),
                "run": outcome.map(|o| o.run.as_str()),
                "changed": changed,
                "dry_run": dry_run,
            })
        );
    }
    if global.quiet {
        return;
    }
    match outcome {
        Some(outcome) if outcome.changed => eprintln!(
            "object {}: upgraded from OCFL {} to 1.1 as {}",
            candidate.id, candidate.from, outcome.version
        ),
        Some(outcome) => eprintln!(
            "object {}: already OCFL 1.1 at {}",
            candidate.id, outcome.version
        ),
        None if dry_run && candidate.pending => eprintln!(
            "object {}: OCFL {} would be upgraded to 1.1 (dry run: nothing was changed)",
            candidate.id, candidate.from
        ),
        None => eprintln!("object {}: already OCFL 1.1", candidate.id),
    }
}

/// The object `id`, or every object of the root (one that cannot be read stops the upgrade
/// before anything changes, naming it).
fn candidates(
    storage: &RootStorage,
    root: &StorageRoot<'_>,
    id: Option<&str>,
) -> Result<Vec<Candidate>> {
    let mut found = Vec::new();
    if let Some(id) = id {
        let object = open_object(storage, root, id)?;
        let inventory = object.inventory();
        found.push(candidate(
            storage,
            object.id(),
            object.path(),
            inventory.spec_version,
            inventory.head.to_string(),
        )?);
        return Ok(found);
    }
    let listed = root
        .list_objects()
        .with_context(|| in_root(&storage.name()))?;
    for entry in listed {
        let summary = match entry.summary {
            Ok(summary) => summary,
            Err(err) => bail!(
                "{}: object at {}: {err}; nothing was upgraded",
                in_root(&storage.name()),
                entry.path
            ),
        };
        found.push(candidate(
            storage,
            &summary.id,
            &entry.path,
            summary.spec_version,
            summary.head.to_string(),
        )?);
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

fn candidate(
    storage: &RootStorage,
    id: &str,
    path: &str,
    from: SpecVersion,
    head: String,
) -> Result<Candidate> {
    // A 1.1 inventory beside the 1.0 declaration is an upgrade interrupted inside its
    // window: the same run finishes it.
    let old_declaration = join(path, &Declaration::object(SpecVersion::V1_0).file_name());
    let declared_old = storage
        .storage()
        .kind_if_exists(&old_declaration)
        .with_context(|| format!("object {id}"))?
        .is_some();
    Ok(Candidate {
        id: id.to_owned(),
        from,
        head,
        pending: from < TARGET || declared_old,
    })
}

/// The ids among `candidates` that have an unfinished run (none without a store yet).
fn active_runs(
    global: &GlobalArgs,
    work: &Site,
    candidates: &[Candidate],
) -> Result<HashSet<String>> {
    if let Some(forwarder) = crate::forward::forwarder(global, work) {
        return Ok(forwarder
            .runs(false)?
            .into_iter()
            .map(|info| info.object_id)
            .filter(|id| candidates.iter().any(|c| &c.id == id))
            .collect());
    }
    runtime()?.block_on(async {
        let mut active = HashSet::new();
        let Some(store) = Store::open_existing(global, work).await? else {
            return Ok(active);
        };
        let service = store.service()?;
        for candidate in candidates {
            if service.active_run(&candidate.id).await?.is_some() {
                active.insert(candidate.id.clone());
            }
        }
        Ok(active)
    })
}

/// Whether the root still holds a 1.0 declaration (beside a 1.1 one after an interrupted
/// upgrade of the root).
fn old_root_declarations(storage: &RootStorage) -> Result<bool> {
    let old = Declaration::storage_root(SpecVersion::V1_0).file_name();
    Ok(storage
        .storage()
        .kind_if_exists(&old)
        .with_context(|| in_root(&storage.name()))?
        .is_some())
}

/// `0=ocfl_1.1` written (atomically and durably), then `0=ocfl_1.0` removed: between the
/// two the root has both declarations (E076), and running the upgrade again finishes it.
/// The root goes first because a 1.0 root may not hold a 1.1 object (E081), while a 1.1 root
/// may hold 1.0 objects.
fn upgrade_root_declaration(storage: &dyn Storage) -> Result<()> {
    let new = Declaration::storage_root(TARGET);
    storage.write_atomic(&new.file_name(), new.contents().as_bytes())?;
    let old = Declaration::storage_root(SpecVersion::V1_0).file_name();
    storage.remove(&old)?;
    storage.sync(&[String::new()])?;
    Ok(())
}
