//! `ocfl cat`: one file's bytes to stdout, digest verified.
//!
//! Without `--mutable-head` the file is found by `StorageRoot::find_file`, which reads the
//! root inventory (checked against its sidecar) without building it whole: on an object of
//! a million files that is the difference between seconds and a fraction of the memory.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use ocfl_core::object::mutable_head::has_mutable_head;
use ocfl_core::object::{FoundFile, ObjectError};

use crate::args::{CatArgs, GlobalArgs};
use crate::open::{RootStorage, in_root, open_root, root_storage};

/// Streams the file to stdout; exit status 1 (and a message saying the output is corrupt)
/// when its digest does not match the inventory.
pub fn run(global: &GlobalArgs, args: &CatArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "cat")?;
    let root = open_root(&storage)?;
    let mut out = BufWriter::with_capacity(ocfl_core::digest::STREAM_BUFFER, io::stdout().lock());
    let copied = if args.head.mutable_head {
        let object =
            crate::mutable_head::open(&storage, &root, &args.id, &args.head, global.quiet)?;
        let file = object.file(args.version, &args.path)?;
        object.copy_file(&file, &mut out)
    } else {
        let file = find(&storage, &root, args)?;
        note_mutable_head(&storage, &file, global.quiet);
        file.copy_to(&mut out)
    };
    match copied {
        Ok(_) => {}
        Err(err @ ObjectError::DigestMismatch { .. }) => {
            let _ = out.flush();
            return Err(anyhow!(err).context(
                "the bytes written to standard output do not match the inventory and must be \
                 discarded",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    out.flush()
        .with_context(|| format!("writing {}", args.path))?;
    Ok(ExitCode::SUCCESS)
}

/// The file, with the errors worded as the other read commands word them: the object's
/// own problems name the root, a missing version or file does not.
fn find<'a>(
    storage: &RootStorage,
    root: &ocfl_core::object::StorageRoot<'a>,
    args: &CatArgs,
) -> Result<FoundFile<'a>> {
    match root.find_file(&args.id, args.version, &args.path) {
        Ok(file) => Ok(file),
        Err(
            err @ (ObjectError::UnknownVersion { .. }
            | ObjectError::NoSuchFile { .. }
            | ObjectError::IsDirectory { .. }),
        ) => Err(err.into()),
        Err(err) => Err(anyhow!(err).context(in_root(&storage.name()))),
    }
}

/// The note `crate::mutable_head::open` prints for the other read commands.
fn note_mutable_head(storage: &RootStorage, file: &FoundFile<'_>, quiet: bool) {
    // Only a note: a failure to look is not worth failing a read that works.
    if !quiet && has_mutable_head(storage.storage(), file.object_path()).unwrap_or(false) {
        eprintln!(
            "note: object {} has a mutable HEAD (extension 0005) after {}; --mutable-head reads it",
            file.id(),
            file.head()
        );
    }
}
