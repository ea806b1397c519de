//! `ocfl put`: one file from standard input, committed on top of the object's head.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::path::LogicalPath;
use ocfl_durable::{CommitRequest, Edit};

use crate::args::{GlobalArgs, PutArgs, UsageError};
use crate::commit::submit;
use crate::state::site;

/// Keeps standard input in the work area, then commits it as `--add FILE PATH` would.
pub fn run(global: &GlobalArgs, args: &PutArgs) -> Result<ExitCode> {
    let site = site(global, "put")?;
    LogicalPath::new(args.path.as_str())
        .map_err(|e| UsageError(format!("logical path {:?}: {e}", args.path)))?;
    // Kept on this host: in the work area of a local root, in the state directory of a root
    // in a bucket (with a shared store, the commit stages it into the bucket).
    let dir = site.area_path().join("put");
    let kept = keep(&mut io::stdin().lock(), &dir)?;
    let mut request = CommitRequest::edit(
        args.id.as_str(),
        vec![Edit::Add {
            source: kept.clone(),
            dest: args.path.clone(),
        }],
    );
    request.message = args.version.message.clone();
    request.user_name = args.version.user_name.clone();
    request.user_address = args.version.user_address.clone();
    request.created = args.version.created;
    let outcome = submit(global, &site, request, false);
    // Kept while the run may still need it: an interrupted run resumes from this file.
    if outcome.is_ok() {
        std::fs::remove_file(&kept).with_context(|| format!("removing {}", kept.display()))?;
        let _ = std::fs::remove_dir(&dir);
    }
    outcome
}

/// Writes `input` durably to `dir/<sha256 of the bytes>` and returns that path: the same
/// bytes put again name the same file, so the same command maps to the same run.
fn keep(input: &mut dyn Read, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut temporary = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    let mut hasher = DigestAlgorithm::Sha256.hasher();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading standard input"),
        };
        hasher.update(&buffer[..n]);
        temporary
            .write_all(&buffer[..n])
            .with_context(|| format!("writing {}", temporary.path().display()))?;
    }
    temporary
        .as_file()
        .sync_all()
        .with_context(|| format!("flushing {}", temporary.path().display()))?;
    let path = dir.join(hasher.finalize().as_str());
    temporary
        .persist(&path)
        .with_context(|| format!("keeping {}", path.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing {}", dir.display()))?;
    Ok(path)
}
