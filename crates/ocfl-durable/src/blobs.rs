//! Large run data (the stage, the plan) kept beside the engine's store, named by its sha256,
//! so the history only carries digests: a 100,000-file commit records a few short strings
//! instead of tens of megabytes.
//!
//! Blobs live in `blobs/<run>/<sha256>` below the state directory. Each is written whole
//! before the activity that made it completes (temporary file, flush, rename, flush the
//! directory), and checked against its name when read back. A run's blobs are removed when
//! the run ends.

use std::any::Any;
use std::io::Write;
use std::sync::{Arc, Mutex};

use ocfl_core::storage::StorageError;
use ocfl_plan::fs::{Filesystem, parent};
use sha2::{Digest as _, Sha256};

use crate::refusal::{ActivityError, RefusalKind};

/// The blob directory of a state directory.
pub(crate) struct Blobs {
    fs: Arc<dyn Filesystem>,
    /// Recently decoded blobs by digest: the batches of one run read the same stage and
    /// plan again and again.
    cache: Mutex<Vec<Cached>>,
}

/// A decoded blob.
struct Cached {
    run: String,
    digest: String,
    value: Arc<dyn Any + Send + Sync>,
}

/// Decoded blobs kept in memory (a stage and a plan for a couple of runs).
const CACHED: usize = 4;

impl Blobs {
    /// Blobs in `blobs/` of the filesystem (rooted at the state directory).
    pub(crate) fn new(fs: Arc<dyn Filesystem>) -> Blobs {
        Blobs {
            fs,
            cache: Mutex::new(Vec::new()),
        }
    }

    fn path(run: &str, digest: &str) -> String {
        format!("blobs/{run}/{digest}")
    }

    /// Stores `bytes` for `run`; returns their sha256 (hex), the blob's name.
    pub(crate) fn put(&self, run: &str, bytes: &[u8]) -> Result<String, StorageError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let path = Blobs::path(run, &digest);
        let temp = format!("{path}.tmp");
        self.fs.create_dir_all(parent(&path))?;
        {
            let mut writer = self.fs.create(&temp)?;
            writer
                .write_all(bytes)
                .and_then(|()| writer.flush())
                .map_err(|e| StorageError::io("write", &temp, e))?;
        }
        self.fs.sync(std::slice::from_ref(&temp))?;
        self.fs.rename(&temp, &path)?;
        self.fs.sync(&[parent(&path).to_owned()])?;
        Ok(digest)
    }

    /// The bytes of blob `digest` of `run`, checked against the digest.
    pub(crate) fn get(&self, run: &str, digest: &str) -> Result<Vec<u8>, ActivityError> {
        let path = Blobs::path(run, digest);
        let bytes = match self.fs.read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                return Err(ActivityError::refused(
                    RefusalKind::Configuration,
                    format!(
                        "run {run}: its recorded data {path} is missing from the engine's state directory"
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if hex::encode(Sha256::digest(&bytes)) != digest {
            return Err(ActivityError::refused(
                RefusalKind::Configuration,
                format!("run {run}: its recorded data {path} is corrupt (digest mismatch)"),
            ));
        }
        Ok(bytes)
    }

    /// Blob `digest` of `run` decoded by `decode`, from the cache when it was decoded before.
    pub(crate) fn decoded<T: Send + Sync + 'static>(
        &self,
        run: &str,
        digest: &str,
        decode: impl FnOnce(&[u8]) -> Result<T, ActivityError>,
    ) -> Result<Arc<T>, ActivityError> {
        if let Some(hit) = self.cached(digest) {
            return Ok(hit);
        }
        let value = Arc::new(decode(&self.get(run, digest)?)?);
        self.remember(run, digest, value.clone());
        Ok(value)
    }

    /// Keeps `value`, the decoded blob `digest` of `run`, for the next `decoded`.
    pub(crate) fn remember<T: Send + Sync + 'static>(
        &self,
        run: &str,
        digest: &str,
        value: Arc<T>,
    ) {
        let mut cache = self.lock();
        cache.retain(|entry| entry.digest != digest);
        if cache.len() >= CACHED {
            cache.remove(0);
        }
        cache.push(Cached {
            run: run.to_owned(),
            digest: digest.to_owned(),
            value,
        });
    }

    fn cached<T: Send + Sync + 'static>(&self, digest: &str) -> Option<Arc<T>> {
        let cache = self.lock();
        let entry = cache.iter().find(|entry| entry.digest == digest)?;
        entry.value.clone().downcast::<T>().ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Cached>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes every blob of `run`.
    pub(crate) fn remove_run(&self, run: &str) -> Result<(), StorageError> {
        self.fs.remove(&format!("blobs/{run}"))
    }

    /// Forgets the decoded blobs of `run` (its memory is returned once it ends).
    pub(crate) fn forget_run(&self, run: &str) {
        self.lock().retain(|entry| entry.run != run);
    }
}
