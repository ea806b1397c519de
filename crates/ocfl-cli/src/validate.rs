//! `ocfl validate`: a whole storage root, one object by id, or one object directory.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use ocfl_core::layout::Layout;
use ocfl_core::namaste::{Declaration, DeclarationKind};
use ocfl_core::storage::{EntryKind, LocalStorage, Storage};
use ocfl_core::validate::{
    ObjectReport, ValidationOptions, validate_object, validate_storage_root,
};

use crate::args::{GlobalArgs, ValidateArgs};
use crate::open::{RootStorage, existing_root_storage};
use crate::report::ReportPrinter;

/// What the command line asks to validate.
enum Target {
    /// A storage root (a directory or a bucket prefix) and everything in it.
    Root(RootStorage),
    /// One object: `relative` (possibly empty) inside `base`.
    Object {
        base: RootStorage,
        relative: String,
        display: String,
    },
}

/// Validates what `args` names; exit status 1 if anything is invalid.
pub fn run(global: &GlobalArgs, args: &ValidateArgs) -> Result<ExitCode> {
    let options = ValidationOptions {
        check_fixity: !args.no_fixity,
    };
    let printer = ReportPrinter {
        json: global.json,
        quiet: global.quiet,
    };
    let target = resolve(global, args.target.as_deref())?;
    if global.verbose {
        let fixity = if options.check_fixity { "on" } else { "off" };
        let what = match &target {
            Target::Root(root) => format!("storage root {}", root.name()),
            Target::Object { display, .. } => format!("object {display}"),
        };
        eprintln!("validating {what} (fixity checks {fixity})");
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let valid = match &target {
        Target::Root(root) => validate_root(root, &options, printer, global, &mut out)?,
        Target::Object {
            base,
            relative,
            display,
        } => {
            let report = in_pool(base.storage(), || {
                validate_object(base.storage(), relative, &options)
            })?;
            printer
                .print(&mut out, None, display, &report)
                .context("writing results")?;
            if !global.quiet {
                eprintln!("object {display} is {}", summary(&report));
            }
            report.is_valid()
        }
    };
    out.flush().context("writing results")?;
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Validation threads on an object store, where each mostly waits for a GET: as many as the
/// store keeps requests in flight, not one per core (the local filesystem keeps rayon's).
const OBJECT_STORE_THREADS: usize = 16;

/// Runs `work` on [`OBJECT_STORE_THREADS`] threads when `storage` is an object store (it
/// cannot rename atomically), on rayon's default threads otherwise.
fn in_pool<T: Send>(storage: &dyn Storage, work: impl FnOnce() -> T + Send) -> Result<T> {
    if storage.renames_atomically() {
        return Ok(work());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(OBJECT_STORE_THREADS)
        .build()
        .context("starting the validation threads")?;
    Ok(pool.install(work))
}

fn validate_root(
    root: &RootStorage,
    options: &ValidationOptions,
    printer: ReportPrinter,
    global: &GlobalArgs,
    out: &mut impl Write,
) -> Result<bool> {
    let report = in_pool(root.storage(), || {
        validate_storage_root(root.storage(), options)
    })?;
    let root_display = root.name();
    printer
        .print(out, Some("storage root"), &root_display, &report.root)
        .context("writing results")?;
    for object in &report.objects {
        let path = root.display_path(&object.path);
        printer
            .print(out, None, &path, object)
            .context("writing results")?;
    }
    if !global.quiet {
        let invalid = report.objects.iter().filter(|o| !o.is_valid()).count();
        eprintln!(
            "{} objects: {} valid, {invalid} invalid; storage root {root_display} is {}",
            report.objects.len(),
            report.objects.len() - invalid,
            summary(&report.root)
        );
    }
    Ok(report.is_valid())
}

/// "valid" or "INVALID", with the finding counts.
fn summary(report: &ObjectReport) -> String {
    format!(
        "{} ({} errors, {} warnings)",
        if report.is_valid() {
            "valid"
        } else {
            "INVALID"
        },
        report.errors.len(),
        report.warnings.len()
    )
}

/// No argument: the root. An existing directory: that object, or that storage root when it
/// holds a root declaration. Anything else: an object id, mapped by the root's layout.
fn resolve(global: &GlobalArgs, argument: Option<&str>) -> Result<Target> {
    let Some(argument) = argument else {
        let root = existing_root_storage(global, "validate without an object argument")?;
        return Ok(Target::Root(root));
    };
    let path = Path::new(argument);
    if path.is_dir() {
        return Ok(if is_storage_root(path)? {
            Target::Root(RootStorage::local(path))
        } else {
            Target::Object {
                base: RootStorage::local(path),
                relative: String::new(),
                display: argument.to_owned(),
            }
        });
    }
    let root = existing_root_storage(
        global,
        &format!("{argument:?} is not a directory, so it is taken as an object id, which"),
    )?;
    let name = root.name();
    let layout = Layout::read_from_root(root.storage())
        .with_context(|| format!("reading the storage layout of {name}"))?
        .ok_or_else(|| {
            anyhow!(
                "storage root {name} has no ocfl_layout.json, so object ids cannot be mapped to \
                 directories; give the object's directory instead"
            )
        })?;
    let relative = layout
        .map_object_id(argument)
        .with_context(|| format!("finding object {argument:?} in {name}"))?;
    let display = root.display_path(&relative);
    match root.storage().kind(&relative) {
        Ok(EntryKind::Directory) => Ok(Target::Object {
            base: root,
            relative,
            display,
        }),
        Ok(_) => bail!("object {argument:?}: {display} is not a directory"),
        Err(err) if err.is_not_found() => bail!(
            "object {argument:?} not found: layout {} puts it at {display}, which does not exist",
            layout.name()
        ),
        Err(err) => Err(err).with_context(|| format!("object {argument:?}")),
    }
}

/// Whether `dir` holds a storage root declaration (`0=ocfl_1.1`).
fn is_storage_root(dir: &Path) -> Result<bool> {
    let storage = LocalStorage::new(dir);
    let entries = storage
        .list("")
        .with_context(|| format!("listing {}", dir.display()))?;
    Ok(entries.iter().any(|entry| {
        Declaration::parse_file_name(&entry.name)
            .is_some_and(|d| d.kind == DeclarationKind::StorageRoot)
    }))
}
