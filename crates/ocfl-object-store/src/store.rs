//! The store: blocking operations on the keys below one prefix.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, UpdateVersion,
};
use ocfl_core::location::S3Location;
use ocfl_core::storage::{Entry, EntryKind, join};

use crate::Error;
use crate::budget::Budget;
use crate::error::Redactor;
use crate::location::Keys;
use crate::read::ObjectReader;
use crate::runtime::Runtime;
use crate::write::Upload;

/// A storage root in an object store: every key below `s3://BUCKET/PREFIX`.
///
/// Paths are storage paths (relative, `/`-separated, checked like
/// [`ocfl_core::storage::check_storage_path`]); each maps to the key `PREFIX/PATH`. There are
/// no directories: a "directory" is the common prefix of the keys below it, so it exists
/// exactly while some key below it does. Every method blocks until the server answered
/// (after retries); see [`crate::S3Builder`] for where requests run.
///
/// Cloning is cheap: clones share the client, its connection pool, its request limit and its
/// budget of upload memory.
#[derive(Clone)]
pub struct ObjectStorage {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) keys: Keys,
    /// The endpoint the client talks to, if not AWS's.
    pub(crate) endpoint: Option<String>,
    pub(crate) runtime: Runtime,
    pub(crate) redactor: Redactor,
    pub(crate) part_size: usize,
    pub(crate) parts_in_flight: usize,
    /// What uploads may hold in memory, together.
    pub(crate) budget: Budget,
    pub(crate) requests: Arc<AtomicU64>,
}

/// An entity tag: the version of a key's bytes as the server names it, for conditional writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a HEAD of a key tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The size in bytes.
    pub size: u64,
    /// The key's entity tag.
    pub e_tag: Option<ETag>,
    /// The user metadata written with the key (`x-amz-meta-NAME` on S3), by name.
    pub metadata: BTreeMap<String, String>,
}

/// When a write may happen: the conditions S3 evaluates atomically with the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Whatever is there.
    Always,
    /// Only if no key is there (`If-None-Match: *`); otherwise [`Error::AlreadyExists`].
    IfAbsent,
    /// Only if the key's entity tag is this one (`If-Match`); otherwise
    /// [`Error::PreconditionFailed`] (or [`Error::NotFound`] when the key is gone).
    IfMatch(ETag),
}

// The client's configuration holds credentials: only the location is shown.
impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("location", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

impl ObjectStorage {
    pub(crate) fn from_inner(inner: Inner) -> ObjectStorage {
        ObjectStorage {
            inner: Arc::new(inner),
        }
    }

    /// The bucket and prefix.
    pub fn location(&self) -> &S3Location {
        self.inner.keys.location()
    }

    /// The S3-compatible server the store talks to (`None`: AWS), from the builder, the
    /// environment or the AWS profile: what keeps two servers' buckets of one name apart.
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.endpoint.as_deref()
    }

    /// How many requests this store (and its clones) has sent: one per operation, per part of
    /// a multipart upload and per key of a bulk delete; a long listing's pages count once.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// `s3://bucket/key` for a storage path, for messages and reports.
    pub fn url(&self, path: &str) -> String {
        self.inner.keys.url(path)
    }

    /// The same bucket under another prefix, sharing this store's client, connections, request
    /// limit, upload memory and runtime: e.g. the root's work area `PREFIX.ocfl-work/`, from which content is
    /// then moved into the root by [`ObjectStorage::copy_from`].
    pub fn with_prefix(&self, prefix: &str) -> Result<ObjectStorage, Error> {
        let keys = self.inner.keys.with_prefix(prefix)?;
        Ok(ObjectStorage::from_inner(Inner {
            store: Arc::clone(&self.inner.store),
            keys,
            endpoint: self.inner.endpoint.clone(),
            runtime: self.inner.runtime.clone(),
            redactor: self.inner.redactor.clone(),
            part_size: self.inner.part_size,
            parts_in_flight: self.inner.parts_in_flight,
            budget: self.inner.budget.clone(),
            requests: Arc::clone(&self.inner.requests),
        }))
    }

    pub(crate) fn key(&self, path: &str) -> Result<Path, Error> {
        self.inner.keys.key(path)
    }

    /// Runs a request on the store's runtime, mapping its error for `op` on `path`.
    pub(crate) fn request<T, F>(&self, op: &'static str, path: &str, future: F) -> Result<T, Error>
    where
        F: Future<Output = object_store::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        match self.inner.runtime.run(future) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.inner.redactor.map(op, self.url(path), error)),
            Err(message) => Err(Error::Runtime {
                op,
                url: self.url(path),
                message,
            }),
        }
    }

    /// The entries of directory `dir` (one listing with delimiter `/`), sorted by name:
    /// keys are files, common prefixes directories. A directory with no key below it does not
    /// exist ([`Error::NotFound`]), except the root, which lists as empty.
    pub fn list(&self, dir: &str) -> Result<Vec<Entry>, Error> {
        let key = self.key(dir)?;
        let store = Arc::clone(&self.inner.store);
        let prefix = (!key.as_ref().is_empty()).then_some(key);
        let listing = self.request("list", dir, async move {
            store.list_with_delimiter(prefix.as_ref()).await
        })?;
        let keys = &self.inner.keys;
        let name = |key: &Path| -> Option<String> {
            let relative = keys.relative(key)?;
            Some(relative.rsplit('/').next().unwrap_or(relative).to_owned())
        };
        let mut entries: Vec<Entry> = listing
            .objects
            .iter()
            .filter_map(|object| name(&object.location))
            .map(|name| Entry {
                name,
                kind: EntryKind::File,
            })
            .chain(
                listing
                    .common_prefixes
                    .iter()
                    .filter_map(name)
                    .map(|name| Entry {
                        name,
                        kind: EntryKind::Directory,
                    }),
            )
            .collect();
        if entries.is_empty() && !dir.is_empty() {
            return Err(Error::NotFound { url: self.url(dir) });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Every directory below `dir` (itself included) with its entries, from one listing of
    /// all the keys below it (pages of up to 1,000 keys) instead of one listing per directory;
    /// `None` if there are more than `limit` keys (the pages past the limit are not fetched).
    /// No directory in the map: no key below `dir`.
    pub(crate) fn list_tree(
        &self,
        dir: &str,
        limit: usize,
    ) -> Result<Option<BTreeMap<String, Vec<Entry>>>, Error> {
        let key = self.key(dir)?;
        let store = Arc::clone(&self.inner.store);
        let prefix = (!key.as_ref().is_empty()).then_some(key);
        let keys = self.request("list", dir, async move {
            let mut listing = store.list(prefix.as_ref());
            let mut keys = Vec::new();
            while let Some(meta) = listing.try_next().await? {
                if keys.len() == limit {
                    return Ok(None);
                }
                keys.push(meta.location);
            }
            Ok(Some(keys))
        })?;
        let Some(keys) = keys else {
            return Ok(None);
        };
        // Per directory: names, a file before a directory of the same name (as `list`).
        let mut tree: BTreeMap<String, std::collections::BTreeSet<(String, bool)>> =
            BTreeMap::new();
        for key in &keys {
            let Some(relative) = self.inner.keys.relative(key) else {
                continue;
            };
            let below = if dir.is_empty() {
                Some(relative)
            } else {
                relative
                    .strip_prefix(dir)
                    .and_then(|rest| rest.strip_prefix('/'))
            };
            let Some(below) = below else {
                continue;
            };
            let parts: Vec<&str> = below.split('/').collect();
            if parts.iter().any(|part| part.is_empty()) {
                continue;
            }
            let mut current = dir.to_owned();
            for (i, part) in parts.iter().enumerate() {
                let is_dir = i + 1 < parts.len();
                tree.entry(current.clone())
                    .or_default()
                    .insert(((*part).to_owned(), is_dir));
                current = join(&current, part);
            }
        }
        Ok(Some(
            tree.into_iter()
                .map(|(path, names)| {
                    let entries = names
                        .into_iter()
                        .map(|(name, is_dir)| Entry {
                            name,
                            kind: if is_dir {
                                EntryKind::Directory
                            } else {
                                EntryKind::File
                            },
                        })
                        .collect();
                    (path, entries)
                })
                .collect(),
        ))
    }

    /// Whether `path` is a key (a file) or the prefix of some keys (a directory).
    pub fn kind(&self, path: &str) -> Result<EntryKind, Error> {
        if path.is_empty() {
            self.key(path)?;
            return Ok(EntryKind::Directory);
        }
        match self.head(path) {
            Ok(_) => Ok(EntryKind::File),
            Err(error) if error.is_not_found() => {
                if self.has_keys_below(path)? {
                    Ok(EntryKind::Directory)
                } else {
                    Err(error)
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Whether any key lies below `dir/` (one listing request of one page).
    fn has_keys_below(&self, dir: &str) -> Result<bool, Error> {
        let key = self.key(dir)?;
        let store = Arc::clone(&self.inner.store);
        self.request("list", dir, async move {
            let mut keys = store.list(Some(&key));
            keys.next().await.transpose().map(|first| first.is_some())
        })
    }

    /// The size, entity tag and user metadata of the key at `path`.
    pub fn head(&self, path: &str) -> Result<KeyInfo, Error> {
        let key = self.key(path)?;
        let store = Arc::clone(&self.inner.store);
        let (meta, attributes) = self.request("head", path, async move {
            let options = GetOptions {
                head: true,
                ..GetOptions::default()
            };
            let result = store.get_opts(&key, options).await?;
            Ok((result.meta, result.attributes))
        })?;
        let metadata = attributes
            .iter()
            .filter_map(|(attribute, value)| match attribute {
                Attribute::Metadata(name) => Some((name.to_string(), value.to_string())),
                _ => None,
            })
            .collect();
        Ok(KeyInfo {
            size: meta.size,
            e_tag: meta.e_tag.map(ETag),
            metadata,
        })
    }

    /// Opens the key at `path` for streaming: the bytes arrive as they are read, a few network
    /// chunks ahead, whatever the size of the key.
    pub fn open(&self, path: &str) -> Result<ObjectReader, Error> {
        let key = self.key(path)?;
        let store = Arc::clone(&self.inner.store);
        let result = self.request("get", path, async move { store.get(&key).await })?;
        Ok(ObjectReader::start(self.clone(), path, result))
    }

    /// The whole bytes of the key at `path`.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        self.read_with_e_tag(path).map(|(bytes, _)| bytes)
    }

    /// The whole bytes of the key at `path` and the entity tag of exactly those bytes, for a
    /// later [`ObjectStorage::put_if_match`].
    pub fn read_with_e_tag(&self, path: &str) -> Result<(Vec<u8>, Option<ETag>), Error> {
        let key = self.key(path)?;
        let store = Arc::clone(&self.inner.store);
        let (bytes, e_tag) = self.request("get", path, async move {
            let result = store.get(&key).await?;
            let e_tag = result.meta.e_tag.clone();
            Ok((result.bytes().await?, e_tag))
        })?;
        Ok((Vec::from(bytes), e_tag.map(ETag)))
    }

    /// Writes `bytes` to `path` in one PUT: readers see the old bytes or the new ones, and the
    /// new ones are durable when this returns. Returns the new entity tag.
    pub fn put(&self, path: &str, bytes: impl Into<Bytes>) -> Result<Option<ETag>, Error> {
        self.put_with(path, bytes, Condition::Always, &[])
    }

    /// Writes `bytes` to `path` only if no key is there (`If-None-Match: *`); otherwise fails
    /// with [`Error::AlreadyExists`] and writes nothing.
    pub fn put_if_absent(
        &self,
        path: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<Option<ETag>, Error> {
        self.put_with(path, bytes, Condition::IfAbsent, &[])
    }

    /// Writes `bytes` to `path` only if the key's entity tag is still `e_tag` (`If-Match`);
    /// otherwise fails with [`Error::PreconditionFailed`] (or [`Error::NotFound`] when the key
    /// is gone) and writes nothing.
    pub fn put_if_match(
        &self,
        path: &str,
        bytes: impl Into<Bytes>,
        e_tag: &ETag,
    ) -> Result<Option<ETag>, Error> {
        self.put_with(path, bytes, Condition::IfMatch(e_tag.clone()), &[])
    }

    /// Writes `bytes` to `path` in one PUT under `condition`, with user metadata (names of
    /// lower-case letters, digits and `-`; [`ObjectStorage::head`] returns them), e.g. the id
    /// of the run that claimed a key.
    pub fn put_with(
        &self,
        path: &str,
        bytes: impl Into<Bytes>,
        condition: Condition,
        metadata: &[(&str, &str)],
    ) -> Result<Option<ETag>, Error> {
        let key = self.key(path)?;
        let mode = match condition {
            Condition::Always => PutMode::Overwrite,
            Condition::IfAbsent => PutMode::Create,
            Condition::IfMatch(e_tag) => PutMode::Update(UpdateVersion {
                e_tag: Some(e_tag.0),
                version: None,
            }),
        };
        let mut attributes = Attributes::new();
        for (name, value) in metadata {
            attributes.insert(
                Attribute::Metadata(name.to_string().into()),
                value.to_string().into(),
            );
        }
        let options = PutOptions {
            mode,
            attributes,
            ..PutOptions::default()
        };
        let store = Arc::clone(&self.inner.store);
        let payload = PutPayload::from_bytes(bytes.into());
        let result = self.request("put", path, async move {
            store.put_opts(&key, payload, options).await
        })?;
        Ok(result.e_tag.map(ETag))
    }

    /// Starts writing the key at `path`: the bytes written go out in parts as they come (a
    /// multipart upload once they exceed one part, a single PUT otherwise), so memory stays a
    /// few parts whatever the size. Nothing is visible until [`Upload::finish`]; an upload
    /// dropped unfinished is aborted.
    pub fn create(&self, path: &str) -> Result<Upload, Error> {
        let key = self.key(path)?;
        Ok(Upload::new(self.clone(), path, key))
    }

    /// [`ObjectStorage::create`] for a key of `size` bytes: one larger than a part that fits
    /// the upload memory is held whole and sent in one PUT (waiting until the budget has
    /// room for it), not in parts. Writing more bytes than `size` makes `finish` fail.
    pub fn create_sized(&self, path: &str, size: u64) -> Result<Upload, Error> {
        let key = self.key(path)?;
        Upload::sized(self.clone(), path, key, size)
    }

    /// Deletes the key at `path`; a missing key is not an error.
    pub fn delete(&self, path: &str) -> Result<(), Error> {
        let key = self.key(path)?;
        let store = Arc::clone(&self.inner.store);
        match self.request("delete", path, async move { store.delete(&key).await }) {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Deletes every key below `dir/` (bulk deletes of up to 1,000 keys a request); returns
    /// how many there were. The key `dir` itself, if any, is left alone.
    pub fn delete_prefix(&self, dir: &str) -> Result<usize, Error> {
        let key = self.key(dir)?;
        let store = Arc::clone(&self.inner.store);
        let prefix = (!key.as_ref().is_empty()).then_some(key);
        self.request("delete", dir, async move {
            let keys = store
                .list(prefix.as_ref())
                .map_ok(|meta| meta.location)
                .boxed();
            let deleted = store.delete_stream(keys).try_collect::<Vec<_>>().await?;
            Ok(deleted.len())
        })
    }

    /// Removes the key at `path` and every key below `path/` (a file, or a whole directory);
    /// nothing there is not an error.
    pub fn remove(&self, path: &str) -> Result<(), Error> {
        if !path.is_empty() {
            self.delete(path)?;
        }
        self.delete_prefix(path).map(|_| ())
    }

    /// Copies the key at `from` to `to` on the server (no bytes pass through this process).
    pub fn copy(&self, from: &str, to: &str) -> Result<(), Error> {
        let source = self.key(from)?;
        let destination = self.key(to)?;
        let store = Arc::clone(&self.inner.store);
        self.request("copy", from, async move {
            store.copy(&source, &destination).await
        })
    }

    /// Copies the key at `from` in `source` (a store of the same bucket under another prefix,
    /// see [`ObjectStorage::with_prefix`]) to `to` in this store, on the server.
    pub fn copy_from(&self, source: &ObjectStorage, from: &str, to: &str) -> Result<(), Error> {
        if source.inner.keys.bucket() != self.inner.keys.bucket() {
            return Err(Error::InvalidLocation {
                location: source.url(from),
                reason: format!(
                    "a server-side copy into {} needs a source in the same bucket",
                    self.inner.keys
                ),
            });
        }
        let from_key = source.key(from)?;
        let to_key = self.key(to)?;
        let store = Arc::clone(&self.inner.store);
        let result = self
            .inner
            .runtime
            .run(async move { store.copy(&from_key, &to_key).await });
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(self.inner.redactor.map("copy", source.url(from), error)),
            Err(message) => Err(Error::Runtime {
                op: "copy",
                url: source.url(from),
                message,
            }),
        }
    }

    /// Moves `from` to `to`: a key, or every key below a directory, copied on the server and
    /// then deleted. Not atomic: a reader can see both, or (for a directory) part of each.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), Error> {
        self.key(to)?;
        match self.head(from) {
            Ok(_) => {
                self.copy(from, to)?;
                return self.delete(from);
            }
            Err(error) if !error.is_not_found() => return Err(error),
            Err(_) => {}
        }
        let source = self.key(from)?;
        let store = Arc::clone(&self.inner.store);
        let keys: Vec<Path> = self.request("list", from, async move {
            store
                .list(Some(&source))
                .map_ok(|meta| meta.location)
                .try_collect()
                .await
        })?;
        if keys.is_empty() {
            return Err(Error::NotFound {
                url: self.url(from),
            });
        }
        for key in &keys {
            let below = self
                .inner
                .keys
                .relative(key)
                .and_then(|relative| relative.strip_prefix(from)?.strip_prefix('/'))
                .ok_or_else(|| Error::InvalidPath {
                    path: key.to_string(),
                    root: self.inner.keys.to_string(),
                })?;
            self.copy(&join(from, below), &join(to, below))?;
        }
        self.delete_prefix(from).map(|_| ())
    }
}
