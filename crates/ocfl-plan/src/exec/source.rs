//! Where copies read the staged bytes from.

use std::fs::File;
use std::io::{self, Read};

use ocfl_core::digest::Digest;

use crate::stage::Stage;

/// The bytes behind each staged digest.
pub trait ContentSource: Sync {
    /// A name for the source of `digest` (a file path), for messages; `None` if unknown.
    fn location(&self, digest: &Digest) -> Option<String>;

    /// Opens the bytes staged under `digest`.
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + Send>>;
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
