//! `ocfl cat`: one file's bytes to stdout, digest verified.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use ocfl_core::object::ObjectError;

use crate::args::{CatArgs, GlobalArgs};
use crate::open::{open_root, root_storage};

/// Streams the file to stdout; exit status 1 (and a message saying the output is corrupt)
/// when its digest does not match the inventory.
pub fn run(global: &GlobalArgs, args: &CatArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "cat")?;
    let root = open_root(&storage)?;
    let object = crate::mutable_head::open(&storage, &root, &args.id, &args.head, global.quiet)?;
    let file = object.file(args.version, &args.path)?;
    let mut out = BufWriter::with_capacity(ocfl_core::digest::STREAM_BUFFER, io::stdout().lock());
    match object.copy_file(&file, &mut out) {
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
