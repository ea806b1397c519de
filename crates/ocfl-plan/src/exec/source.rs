//! Where copies read the staged bytes from.

use std::fs::File;
use std::io::{self, Read};

use ocfl_core::digest::Digest;

use crate::stage::{Stage, spooled};

/// The bytes behind each staged digest.
pub trait ContentSource: Sync {
    /// A name for the source of `digest` (a file path), for messages; `None` if unknown.
    fn location(&self, digest: &Digest) -> Option<String>;

    /// Opens the bytes staged under `digest`.
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + Send>>;

    /// A file of the plan's filesystem, in the update's work area, that holds exactly the
    /// bytes of `digest`: the local protocol renames it into the version instead of copying
    /// the bytes (the spool, see [`crate::stage::Spool`]), the object-store protocol copies it
    /// on the server (content staged in the bucket, `docs/durability.md` 11.6). Either uses it
    /// only if it exists; otherwise it reads [`ContentSource::open`]. Implementations must
    /// only name files whose bytes were hashed as they were written and that cannot have been
    /// torn since.
    fn prepared(&self, digest: &Digest) -> Option<String> {
        let _ = digest;
        None
    }
}

impl ContentSource for Stage {
    fn location(&self, digest: &Digest) -> Option<String> {
        self.file_with(digest)
            .map(|(_, file)| file.source.display().to_string())
    }

    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + Send>> {
        let (_, file) = self.file_with(digest).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no staged file has this digest")
        })?;
        Ok(Box::new(File::open(&file.source)?))
    }
}

/// A stage whose files were also written to the spool of work directory `work` while they
/// were staged ([`Stage::from_directory_with`]): copies move the spooled files into place and
/// read the source only for what the spool lacks.
#[derive(Debug, Clone, Copy)]
pub struct SpooledStage<'a> {
    stage: &'a Stage,
    work: &'a str,
}

impl<'a> SpooledStage<'a> {
    /// `stage`, spooled into work directory `work` (the plan's `work_path`).
    pub fn new(stage: &'a Stage, work: &'a str) -> SpooledStage<'a> {
        SpooledStage { stage, work }
    }
}

impl ContentSource for SpooledStage<'_> {
    fn location(&self, digest: &Digest) -> Option<String> {
        self.stage.location(digest)
    }

    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + Send>> {
        self.stage.open(digest)
    }

    fn prepared(&self, digest: &Digest) -> Option<String> {
        // Named after the digest and the source's stamp now: a source changed since it was
        // staged finds nothing, and its copy reads and checks it.
        let (_, file) = self.stage.file_with(digest)?;
        spooled(self.work, digest, &file.source)
    }
}
