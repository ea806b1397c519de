//! A run's new content staged in the work area before the run is submitted
//! (`docs/durability.md`, section 11.6), so that a worker on a host without the source
//! completes it: the stage as `WORK/NAME/stage`, each digest the object lacks as
//! `WORK/NAME/content/DIGEST`, copied into the version on the server by the worker.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};

use ocfl_core::digest::{Digest, STREAM_BUFFER};
use ocfl_core::storage::StorageError;
use ocfl_plan::exec::{ContentSource, read_base};
use ocfl_plan::stage::Stage;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::activities::make_stage;
use crate::env::Environment;
use crate::refusal::{ActivityError, RefusalKind};
use crate::request::CommitRequest;
use crate::service::{CommitError, command_of};

/// The stage's file in a staged directory.
const STAGE_FILE: &str = "stage";
/// The content directory of a staged directory.
const CONTENT_DIR: &str = "content";

/// What [`stage_in_work_area`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Staged {
    /// The staged directory's name in the work area (recorded in the run's command).
    pub name: String,
    /// The files of the new state.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// The content files uploaded now (digests neither in the object nor staged before).
    pub uploaded: u64,
    /// Their total size.
    pub uploaded_bytes: u64,
}

/// Stages `request` into the work area of `env` (an object store's, reached by every
/// worker) and records the staged directory in `request.staged`, so that the run, once
/// submitted, reads nothing from this host: the stage is built here (the source read and
/// hashed once), every digest the object does not hold yet is uploaded, hashed again as it
/// is sent (bytes that changed since are never completed), and the stage itself is written
/// last. Content already staged by an earlier attempt of the same command is not sent again.
/// `sent` hears the bytes uploaded as they go (from several threads).
pub fn stage_in_work_area(
    env: &Environment,
    request: &mut CommitRequest,
    sent: &(dyn Fn(u64) + Sync),
) -> Result<Staged, CommitError> {
    request.staged = None;
    let command = command_of(request)?;
    let failed = |error: ActivityError| CommitError::Staging {
        object_id: command.object_id.clone(),
        message: error.message().to_owned(),
    };
    let object_path = env.fs_path(&env.object_path(&command.object_id).map_err(failed)?);
    let base = read_base(env.fs(), &object_path).map_err(|e| failed(e.into()))?;
    let (stage, source, _) =
        make_stage(&command, &object_path, base.as_ref(), None, &|_, _| {}).map_err(failed)?;
    let mut form = Vec::new();
    crate::stage_form::encode(&stage, &source, &mut form)
        .map_err(|e| failed(ActivityError::Transient(format!("encoding the stage: {e}"))))?;
    let name = staged_name(&command.object_id, &form);
    let dir = env.work_path(&name);
    let content = format!("{dir}/{CONTENT_DIR}");
    let present: BTreeSet<String> = match env.fs().list(&content) {
        Ok(entries) => entries.into_iter().map(|e| e.name).collect(),
        Err(e) if e.is_not_found() => BTreeSet::new(),
        Err(e) => return Err(failed(e.into())),
    };
    let missing: Vec<(&Digest, u64)> = unique_digests(&stage)
        .into_iter()
        .filter(|(digest, _)| {
            !base
                .as_ref()
                .is_some_and(|b| b.inventory.manifest.contains_key(*digest))
                && !present.contains(digest.as_str())
        })
        .collect();
    missing
        .par_iter()
        .try_for_each(|(digest, size)| {
            upload(
                env,
                &stage,
                digest,
                *size,
                &format!("{content}/{digest}"),
                sent,
            )
        })
        .map_err(failed)?;
    // After every content key it needs: a stage that exists has its content (11.6, S4).
    env.fs()
        .write_atomic(&format!("{dir}/{STAGE_FILE}"), &form)
        .map_err(|e| failed(e.into()))?;
    request.staged = Some(name.clone());
    Ok(Staged {
        name,
        files: stage.len() as u64,
        bytes: stage.total_bytes(),
        uploaded: missing.len() as u64,
        uploaded_bytes: missing.iter().map(|(_, size)| size).sum(),
    })
}

/// The staged directory's name: the stage's recorded form and the object it is for, so that
/// two objects staged from one source never share (and clean up) one directory.
fn staged_name(object_id: &str, form: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(object_id.as_bytes());
    hasher.update([0]);
    hasher.update(form);
    format!("staged-{}", hex::encode(hasher.finalize()))
}

/// Each digest of the stage once, with its size.
fn unique_digests(stage: &Stage) -> Vec<(&Digest, u64)> {
    let mut seen = BTreeSet::new();
    stage
        .files()
        .values()
        .filter(|file| seen.insert(&file.digest))
        .map(|file| (&file.digest, file.size))
        .collect()
}

/// Streams the staged bytes of `digest` to `path`, hashing them on the way; an upload whose
/// bytes are not the digest's is dropped unfinished (an object store then shows nothing).
fn upload(
    env: &Environment,
    stage: &Stage,
    digest: &Digest,
    size: u64,
    path: &str,
    sent: &(dyn Fn(u64) + Sync),
) -> Result<(), ActivityError> {
    let location = stage.location(digest).unwrap_or_else(|| digest.to_string());
    let unreadable =
        |e: io::Error| ActivityError::refused(RefusalKind::Source, format!("{location}: {e}"));
    let mut reader = stage.open(digest).map_err(unreadable)?;
    let mut writer = env.fs().create(path)?;
    let mut hasher = stage.digest_algorithm().hasher();
    let mut buffer = vec![0u8; STREAM_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(unreadable(e)),
        };
        hasher.update(&buffer[..n]);
        writer
            .write_all(&buffer[..n])
            .map_err(|e| StorageError::io("write", path, e))?;
        total += n as u64;
        sent(n as u64);
    }
    let found = hasher.finalize();
    if found != *digest || total != size {
        return Err(ActivityError::refused(
            RefusalKind::SourceChanged,
            format!(
                "{location} changed since it was staged (digest {found}, {total} bytes; \
                 staged {digest}, {size} bytes)"
            ),
        ));
    }
    writer
        .flush()
        .map_err(|e| StorageError::io("write", path, e))?;
    writer.finish()?;
    Ok(())
}

/// The recorded stage of the staged directory `name`, checked against its name: a worker
/// reads it instead of the source.
pub(crate) fn read_form(
    env: &Environment,
    object_id: &str,
    name: &str,
) -> Result<Vec<u8>, ActivityError> {
    check_name(name)?;
    let path = format!("{}/{STAGE_FILE}", env.work_path(name));
    let form = match env.fs().read(&path) {
        Ok(form) => form,
        Err(e) if e.is_not_found() => {
            return Err(ActivityError::refused(
                RefusalKind::Configuration,
                format!(
                    "object {object_id}: the staged content {} is gone (removed by hand, or by \
                     a finished run of the same command); nothing was written; commit again",
                    env.fs().display_path(&path)
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if staged_name(object_id, &form) != name {
        return Err(ActivityError::refused(
            RefusalKind::Configuration,
            format!(
                "object {object_id}: the staged stage {} does not match its name",
                env.fs().display_path(&path)
            ),
        ));
    }
    Ok(form)
}

/// The copies of a staged run: each digest from `WORK/NAME/content/DIGEST`, copied on the
/// server (a source read, were the key missing, fails naming the file: it is not on this
/// host).
pub(crate) struct StagedContent<'a> {
    pub(crate) stage: &'a Stage,
    pub(crate) dir: String,
}

impl StagedContent<'_> {
    /// The staged content of `stage`, in the staged directory `name` of `env`'s work area.
    pub(crate) fn new<'a>(env: &Environment, stage: &'a Stage, name: &str) -> StagedContent<'a> {
        StagedContent {
            stage,
            dir: format!("{}/{CONTENT_DIR}", env.work_path(name)),
        }
    }
}

impl ContentSource for StagedContent<'_> {
    fn location(&self, digest: &Digest) -> Option<String> {
        self.stage.location(digest)
    }

    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + Send>> {
        self.stage.open(digest)
    }

    fn prepared(&self, digest: &Digest) -> Option<String> {
        Some(format!("{}/{digest}", self.dir))
    }
}

/// Removes the staged directory `name` (the run that used it has ended).
pub(crate) fn remove(env: &Environment, name: &str) -> Result<(), StorageError> {
    env.fs().remove(&env.work_path(name))
}

/// Refuses a recorded name that is not one [`stage_in_work_area`] gives: it names a
/// directory of the work area that is read and removed.
pub(crate) fn check_name(name: &str) -> Result<(), ActivityError> {
    let hex = name.strip_prefix("staged-").unwrap_or("");
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Ok(());
    }
    Err(ActivityError::refused(
        RefusalKind::Configuration,
        format!("the recorded staged directory {name:?} is not one staging makes"),
    ))
}
