//! Large run data (the stage, the plan) kept beside the engine's store, named by its sha256,
//! so the history only carries digests: a 100,000-file commit records a few short strings
//! instead of tens of megabytes.
//!
//! Blobs live in `blobs/<run>/<sha256>` below the state directory. Each is written whole
//! before the activity that made it completes (temporary file, flush, rename, flush the
//! directory), and checked against its name when read back. A run's blobs are removed when
//! the run ends.

use std::any::Any;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ocfl_core::storage::{Storage, StorageError, parent};
use sha2::{Digest as _, Sha256};

use crate::refusal::{ActivityError, RefusalKind};

/// The blob directory of a state directory.
pub(crate) struct Blobs {
    fs: Arc<dyn Storage>,
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

/// Numbers the temporary files of `put_with` calls of this process.
static PUTS: AtomicU64 = AtomicU64::new(0);

/// Decoded blobs kept in memory (a stage and a plan for a couple of runs).
const CACHED: usize = 4;

impl Blobs {
    /// Blobs in `blobs/` of the filesystem (rooted at the state directory).
    pub(crate) fn new(fs: Arc<dyn Storage>) -> Blobs {
        Blobs {
            fs,
            cache: Mutex::new(Vec::new()),
        }
    }

    fn path(run: &str, digest: &str) -> String {
        format!("blobs/{run}/{digest}")
    }

    /// Stores what `write` writes for `run`; returns its sha256 (hex), the blob's name.
    ///
    /// The bytes stream to the file as they are produced and are hashed on the way: a
    /// 100,000-file plan is tens of megabytes of JSON, never held in memory whole.
    pub(crate) fn put_with(
        &self,
        run: &str,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<String, StorageError> {
        // The name is known only at the end: write under a name of this call's own.
        let n = PUTS.fetch_add(1, Ordering::Relaxed);
        let temp = format!("blobs/{run}/put-{}-{n}.tmp", std::process::id());
        self.fs.create_dir(parent(&temp))?;
        let digest = {
            let mut writer = HashingWriter {
                inner: BufWriter::with_capacity(1 << 16, self.fs.create(&temp)?),
                hasher: Sha256::new(),
            };
            write(&mut writer)
                .and_then(|()| writer.flush())
                .map_err(|e| StorageError::io("write", &temp, e))?;
            let HashingWriter { inner, hasher } = writer;
            inner
                .into_inner()
                .map_err(|e| StorageError::io("write", &temp, e.into_error()))?
                .finish()?;
            hex::encode(hasher.finalize())
        };
        let path = Blobs::path(run, &digest);
        self.fs.sync(std::slice::from_ref(&temp))?;
        self.fs.rename(&temp, &path)?;
        self.fs.sync(&[parent(&path).to_owned()])?;
        Ok(digest)
    }

    /// Blob `digest` of `run` read by `decode` as a stream, and checked against the digest
    /// once read (a blob that does not match is refused whatever `decode` made of it).
    fn read_with<T>(
        &self,
        run: &str,
        digest: &str,
        decode: impl FnOnce(&mut dyn Read) -> Result<T, ActivityError>,
    ) -> Result<T, ActivityError> {
        let path = Blobs::path(run, digest);
        let file = match self.fs.open(&path) {
            Ok(file) => file,
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
        let mut reader = HashingReader {
            inner: BufReader::with_capacity(1 << 16, file),
            hasher: Sha256::new(),
            error: None,
        };
        let decoded = decode(&mut reader);
        // What the decoder left unread counts too.
        let rest = io::copy(&mut reader, &mut io::sink());
        if let Some(error) = reader.error.take().or(rest.err()) {
            return Err(StorageError::io("read", &path, error).into());
        }
        if hex::encode(reader.hasher.finalize()) != digest {
            return Err(ActivityError::refused(
                RefusalKind::Configuration,
                format!("run {run}: its recorded data {path} is corrupt (digest mismatch)"),
            ));
        }
        decoded
    }

    /// Blob `digest` of `run` decoded by `decode`, from the cache when it was decoded before.
    pub(crate) fn decoded<T: Send + Sync + 'static>(
        &self,
        run: &str,
        digest: &str,
        decode: impl FnOnce(&mut dyn Read) -> Result<T, ActivityError>,
    ) -> Result<Arc<T>, ActivityError> {
        if let Some(hit) = self.cached(digest) {
            return Ok(hit);
        }
        let value = Arc::new(self.read_with(run, digest, decode)?);
        self.remember(run, digest, value.clone());
        Ok(value)
    }

    /// [`Blobs::decoded`] for a decoding that depends on more than the blob's bytes (a stage
    /// of edits read without its base, which holds only the edits' files): a value decoded or
    /// remembered earlier is used, but what is decoded here is not kept for another caller.
    pub(crate) fn decoded_unkept<T: Send + Sync + 'static>(
        &self,
        run: &str,
        digest: &str,
        decode: impl FnOnce(&mut dyn Read) -> Result<T, ActivityError>,
    ) -> Result<Arc<T>, ActivityError> {
        if let Some(hit) = self.cached(digest) {
            return Ok(hit);
        }
        Ok(Arc::new(self.read_with(run, digest, decode)?))
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

    /// Takes `value` kept by [`Blobs::remember`] under `digest` out of the cache.
    pub(crate) fn take<T: Send + Sync + 'static>(&self, digest: &str) -> Option<Arc<T>> {
        let mut cache = self.lock();
        let at = cache.iter().position(|entry| entry.digest == digest)?;
        cache.remove(at).value.downcast::<T>().ok()
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

    /// The names of `run`'s blobs (none once the run's blobs are removed).
    pub(crate) fn names(&self, run: &str) -> Result<Vec<String>, StorageError> {
        match self.fs.list(&format!("blobs/{run}")) {
            Ok(entries) => Ok(entries
                .into_iter()
                .map(|entry| entry.name)
                .filter(|name| !name.ends_with(".tmp"))
                .collect()),
            Err(error) if error.is_not_found() => Ok(Vec::new()),
            Err(error) => Err(error),
        }
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

/// Hashes what passes through to `inner`.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes what is read from `inner`, and keeps the first read error: a decoder may report
/// it as malformed data, but it is an I/O failure (retried), not a corrupt blob.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    error: Option<io::Error>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buffer) {
            Ok(n) => {
                self.hasher.update(&buffer[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let again = io::Error::new(e.kind(), e.to_string());
                self.error.get_or_insert(e);
                Err(again)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocfl_core::storage::LocalStorage;

    fn read_all(reader: &mut dyn Read) -> Result<Vec<u8>, ActivityError> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| ActivityError::Transient(e.to_string()))?;
        Ok(bytes)
    }

    /// Reads only the first byte, as a decoder that stops early would.
    fn first_byte(reader: &mut dyn Read) -> Result<u8, ActivityError> {
        let mut byte = [0u8; 1];
        reader
            .read_exact(&mut byte)
            .map_err(|e| ActivityError::Transient(e.to_string()))?;
        Ok(byte[0])
    }

    #[test]
    fn a_streamed_blob_is_named_by_its_sha256_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::new(Arc::new(LocalStorage::new(dir.path())));
        let digest = blobs
            .put_with("run-1", |out| {
                out.write_all(b"hello ")?;
                out.write_all(b"world")
            })
            .expect("put");
        assert_eq!(digest, hex::encode(Sha256::digest(b"hello world")));
        let stored = std::fs::read(dir.path().join("blobs/run-1").join(&digest)).expect("file");
        assert_eq!(stored, b"hello world");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("blobs/run-1"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        let read = blobs.read_with("run-1", &digest, read_all).expect("read");
        assert_eq!(read, b"hello world");
    }

    #[test]
    fn a_changed_blob_is_refused_even_when_the_decoder_stops_early() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::new(Arc::new(LocalStorage::new(dir.path())));
        let digest = blobs
            .put_with("run-1", |out| out.write_all(b"abcdef"))
            .expect("put");
        assert_eq!(
            blobs.read_with("run-1", &digest, first_byte).expect("read"),
            b'a'
        );
        std::fs::write(dir.path().join("blobs/run-1").join(&digest), b"abcdeX").expect("tamper");
        let refused = |result: Result<u8, ActivityError>| {
            matches!(result, Err(ActivityError::Refused(r))
                if r.kind == RefusalKind::Configuration && r.message.contains("corrupt"))
        };
        assert!(refused(blobs.read_with("run-1", &digest, first_byte)));
        let missing = blobs.read_with("run-1", &"0".repeat(64), first_byte);
        assert!(matches!(missing, Err(ActivityError::Refused(r)) if r.message.contains("missing")));
    }
}
