//! Writing a key from a stream of bytes (`std::io::Write`), in parts.

use std::io::{self, Write};
use std::sync::Arc;

use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload, PutPayloadMut};
use tokio::task::JoinSet;

use crate::Error;
use crate::budget::{MEDIUM, Reserved, UNIT};
use crate::store::{ETag, ObjectStorage};

/// A key being written. Bytes are buffered up to one part; past that the upload becomes a
/// multipart upload whose parts are sent while later bytes are written, with a bounded number
/// in flight, so memory does not grow with the size of the key. Every buffered byte is
/// reserved from the store's upload budget (see `budget.rs`), so neither does it grow with the
/// number of uploads at once. A key whose size is given up front ([`ObjectStorage::create_sized`])
/// and fits the budget is buffered whole and sent in one PUT instead: a server such as moto
/// reads every part back and stores the key again to complete a multipart upload. The key
/// appears (whole) only when [`Upload::finish`] returns; dropping an unfinished upload aborts
/// it.
pub struct Upload {
    storage: ObjectStorage,
    pub(crate) path: String,
    key: Path,
    /// The bytes not sent yet (at most one part) and what they hold of the budget.
    buffer: PutPayloadMut,
    reserved: Reserved,
    state: State,
}

enum State {
    /// Less than one part written: sent as one PUT by `finish`.
    Buffering,
    /// A key of a size given up front, buffered whole (its size reserved before the first
    /// byte) to be sent in one PUT by `finish`.
    Whole(Vec<u8>),
    /// More bytes were written to a `Whole` key than its size: they are dropped, so memory
    /// stays within the reservation, and `finish` refuses (the writer, which hashes what it
    /// wrote, reports the changed source).
    Overgrown,
    /// A multipart upload under way.
    Multipart(Parts),
    /// Finished, aborted, or failed (then further writes are refused).
    Closed,
}

/// A multipart upload and its parts in flight, each holding its bytes' reservation until the
/// server answered.
struct Parts {
    upload: Box<dyn MultipartUpload>,
    in_flight: JoinSet<object_store::Result<()>>,
}

/// Buffers grow by blocks of this size (a small file's is one block).
const BLOCK: usize = UNIT;

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("url", &self.storage.url(&self.path))
            .finish_non_exhaustive()
    }
}

impl Upload {
    pub(crate) fn new(storage: ObjectStorage, path: &str, key: Path) -> Upload {
        Upload {
            storage,
            path: path.to_owned(),
            key,
            buffer: PutPayloadMut::new().with_block_size(BLOCK),
            reserved: Reserved::default(),
            state: State::Buffering,
        }
    }

    /// An upload of a key expected to be `size` bytes long: sent in one PUT if larger than a
    /// part and small enough to be held whole ([`crate::budget::Budget::largest_whole`]),
    /// waiting until the budget has its size free; as [`Upload::new`] otherwise.
    pub(crate) fn sized(
        storage: ObjectStorage,
        path: &str,
        key: Path,
        size: u64,
    ) -> Result<Upload, Error> {
        let mut upload = Upload::new(storage, path, key);
        let inner = &upload.storage.inner;
        if let Ok(size) = usize::try_from(size)
            && size > inner.part_size
            && size <= inner.budget.largest_whole()
        {
            inner
                .budget
                .reserve(&mut upload.reserved, size)
                .map_err(|message| upload.runtime_error(message))?;
            // One allocation of the whole size: the allocator maps it on its own and gives it
            // back when the request is answered, rather than keeping freed blocks.
            upload.state = State::Whole(Vec::with_capacity(size));
        }
        Ok(upload)
    }

    /// The storage path being written.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Sends what is left and makes the key visible, whole; returns its entity tag. On error
    /// the upload is aborted and nothing is visible.
    pub fn finish(mut self) -> Result<Option<ETag>, Error> {
        let state = std::mem::replace(&mut self.state, State::Closed);
        let payload: PutPayload = std::mem::take(&mut self.buffer).freeze();
        // Held until the last request is answered.
        let reserved = std::mem::take(&mut self.reserved);
        let (state, payload) = match state {
            State::Whole(bytes) => (State::Buffering, PutPayload::from(bytes)),
            state => (state, payload),
        };
        let result = match state {
            State::Buffering => {
                let store = Arc::clone(&self.storage.inner.store);
                let key = self.key.clone();
                self.storage.request("put", &self.path, async move {
                    let result = store.put(&key, payload).await;
                    drop(reserved);
                    result
                })?
            }
            State::Multipart(mut parts) => {
                if payload.content_length() > 0 {
                    self.send_part(&mut parts, payload, reserved);
                }
                let waited = wait_for_parts(&mut parts, 0);
                if let Err(error) = waited {
                    return Err(self.abort_after(parts, error));
                }
                let Parts {
                    mut upload,
                    in_flight,
                } = parts;
                let completed = self.storage.request("upload", &self.path, async move {
                    let result = upload.complete().await;
                    Ok((upload, result))
                });
                match completed {
                    Ok((_, Ok(result))) => result,
                    Ok((upload, Err(error))) => {
                        return Err(self.abort_after(Parts { upload, in_flight }, error));
                    }
                    Err(error) => return Err(error),
                }
            }
            State::Overgrown => return Err(self.overgrown()),
            State::Whole(_) | State::Closed => return Err(self.closed()),
        };
        Ok(result.e_tag.map(ETag))
    }

    fn closed(&self) -> Error {
        Error::Io {
            op: "upload",
            url: self.storage.url(&self.path),
            source: io::Error::other("the upload failed earlier or is finished"),
        }
    }

    fn overgrown(&self) -> Error {
        Error::Io {
            op: "upload",
            url: self.storage.url(&self.path),
            source: io::Error::other("more bytes were written than the size given"),
        }
    }

    fn runtime_error(&self, message: String) -> Error {
        Error::Runtime {
            op: "upload",
            url: self.storage.url(&self.path),
            message,
        }
    }

    /// Aborts the upload after `error` (best effort: a failed abort leaves parts that a
    /// lifecycle rule removes) and returns the error to report.
    fn abort_after(&self, parts: Parts, error: object_store::Error) -> Error {
        abort(&self.storage, &self.path, parts);
        let url = self.storage.url(&self.path);
        self.storage.inner.redactor.map("upload", url, error)
    }

    /// Sends `payload` as the next part, on the store's runtime; its reservation goes with it.
    fn send_part(&self, parts: &mut Parts, payload: PutPayload, reserved: Reserved) {
        let part = parts.upload.put_part(payload);
        parts.in_flight.spawn_on(
            async move {
                let result = part.await;
                drop(reserved);
                result
            },
            self.storage.inner.runtime.handle(),
        );
    }

    /// Sends the full buffer: as the first part of a new multipart upload, or the next part.
    fn send_buffer(&mut self) -> Result<(), Error> {
        let fresh = PutPayloadMut::new().with_block_size(BLOCK);
        let payload: PutPayload = std::mem::replace(&mut self.buffer, fresh).freeze();
        let reserved = std::mem::take(&mut self.reserved);
        let mut parts = match std::mem::replace(&mut self.state, State::Closed) {
            State::Buffering => {
                let store = Arc::clone(&self.storage.inner.store);
                let key = self.key.clone();
                let upload = self.storage.request("upload", &self.path, async move {
                    store.put_multipart(&key).await
                })?;
                Parts {
                    upload,
                    in_flight: JoinSet::new(),
                }
            }
            State::Multipart(parts) => parts,
            State::Whole(_) | State::Overgrown | State::Closed => return Err(self.closed()),
        };
        self.send_part(&mut parts, payload, reserved);
        match wait_for_parts(&mut parts, self.storage.inner.parts_in_flight) {
            Ok(()) => {
                self.state = State::Multipart(parts);
                Ok(())
            }
            Err(error) => Err(self.abort_after(parts, error)),
        }
    }

    fn write_bytes(&mut self, mut buf: &[u8]) -> Result<(), Error> {
        match &mut self.state {
            State::Closed => return Err(self.closed()),
            State::Overgrown => return Ok(()),
            State::Whole(bytes) => {
                if bytes.len() + buf.len() > bytes.capacity() {
                    self.state = State::Overgrown;
                } else {
                    bytes.extend_from_slice(buf);
                }
                return Ok(());
            }
            State::Buffering | State::Multipart(_) => {}
        }
        let part_size = self.storage.inner.part_size;
        while !buf.is_empty() {
            let filled = self.buffer.content_length();
            if filled == part_size {
                self.send_buffer()?;
                continue;
            }
            let take = buf.len().min(part_size - filled);
            let needed = filled + take;
            if needed > self.reserved.bytes() {
                // In steps (see `budget.rs`): a unit, a medium, then the whole part, which a
                // multipart upload's later parts take at once.
                let bytes = match self.state {
                    State::Multipart(_) => part_size,
                    _ if needed <= UNIT => UNIT,
                    _ if needed <= MEDIUM => MEDIUM.min(part_size),
                    _ => part_size,
                };
                self.storage
                    .inner
                    .budget
                    .reserve(&mut self.reserved, bytes)
                    .map_err(|message| self.runtime_error(message))?;
            }
            self.buffer.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
        }
        Ok(())
    }
}

/// Waits until fewer than `limit` parts are in flight (none, for 0); the first failed part's
/// error if one failed (after the client's retries).
fn wait_for_parts(parts: &mut Parts, limit: usize) -> object_store::Result<()> {
    let joined = |result: Result<object_store::Result<()>, tokio::task::JoinError>| {
        result.unwrap_or_else(|error| {
            Err(object_store::Error::Generic {
                store: "S3",
                source: Box::new(error),
            })
        })
    };
    while let Some(result) = parts.in_flight.try_join_next() {
        joined(result)?;
    }
    while !parts.in_flight.is_empty() && parts.in_flight.len() >= limit {
        // Joining needs no runtime context: the thread waits as it does for a request.
        if let Some(result) = futures::executor::block_on(parts.in_flight.join_next()) {
            joined(result)?;
        }
    }
    Ok(())
}

/// Stops the parts in flight and aborts the multipart upload, so no parts are left stored.
fn abort(storage: &ObjectStorage, path: &str, parts: Parts) {
    let Parts {
        mut upload,
        mut in_flight,
    } = parts;
    let _ = storage.request("abort", path, async move {
        in_flight.shutdown().await;
        upload.abort().await
    });
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    /// Nothing to do: bytes are sent as parts fill, and made visible by [`Upload::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let State::Multipart(parts) = std::mem::replace(&mut self.state, State::Closed) {
            abort(&self.storage, &self.path, parts);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests;
