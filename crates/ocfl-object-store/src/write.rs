//! Writing a key from a stream of bytes (`std::io::Write`), in parts.

use std::io::{self, Write};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, PutPayloadMut, WriteMultipart};

use crate::Error;
use crate::store::{ETag, ObjectStorage};

/// A key being written. Bytes are buffered up to one part; past that the upload becomes a
/// multipart upload whose parts are sent while later bytes are written, with a bounded number
/// in flight, so memory does not grow with the size of the key. The key appears (whole) only
/// when [`Upload::finish`] returns; dropping an unfinished upload aborts it.
pub struct Upload {
    storage: ObjectStorage,
    pub(crate) path: String,
    key: Path,
    state: State,
}

enum State {
    /// Less than one part written: sent as one PUT by `finish`.
    Buffering(PutPayloadMut),
    /// A multipart upload under way.
    Multipart(WriteMultipart),
    /// Finished, aborted, or failed (then further writes are refused).
    Closed,
}

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
            state: State::Buffering(PutPayloadMut::new()),
        }
    }

    /// Sends what is left and makes the key visible, whole; returns its entity tag. On error
    /// the upload is aborted and nothing is visible.
    pub fn finish(mut self) -> Result<Option<ETag>, Error> {
        let state = std::mem::replace(&mut self.state, State::Closed);
        let store = Arc::clone(&self.storage.inner.store);
        let key = self.key.clone();
        let result = match state {
            State::Buffering(buffer) => {
                let payload: PutPayload = buffer.freeze();
                self.storage.request(
                    "put",
                    &self.path,
                    async move { store.put(&key, payload).await },
                )?
            }
            // `WriteMultipart::finish` aborts the upload itself when it fails.
            State::Multipart(upload) => self
                .storage
                .request("upload", &self.path, async move { upload.finish().await })?,
            State::Closed => return Err(self.closed()),
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

    /// Starts the multipart upload with the bytes buffered so far.
    fn start_multipart(&mut self, buffered: PutPayloadMut) -> Result<(), Error> {
        let store = Arc::clone(&self.storage.inner.store);
        let key = self.key.clone();
        let upload = self.storage.request("upload", &self.path, async move {
            store.put_multipart(&key).await
        })?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.storage.inner.part_size);
        let payload: PutPayload = buffered.freeze();
        // Sending a part spawns a task: it needs the runtime's context, not an async one.
        let _runtime = self.storage.inner.runtime.handle().enter();
        for bytes in payload {
            writer.put(bytes);
        }
        self.state = State::Multipart(writer);
        Ok(())
    }

    /// Waits, if needed, until fewer than the allowed parts are in flight.
    fn wait_for_capacity(&mut self) -> Result<(), Error> {
        let State::Multipart(writer) = &mut self.state else {
            return Ok(());
        };
        let limit = self.storage.inner.parts_in_flight;
        match writer.poll_for_capacity(&mut Context::from_waker(Waker::noop()), limit) {
            Poll::Ready(Ok(())) => return Ok(()),
            Poll::Ready(Err(error)) => {
                let url = self.storage.url(&self.path);
                return Err(self.storage.inner.redactor.map("upload", url, error));
            }
            Poll::Pending => {}
        }
        let State::Multipart(mut writer) = std::mem::replace(&mut self.state, State::Closed) else {
            return Ok(());
        };
        let (writer, waited) = self.storage.request("upload", &self.path, async move {
            let waited = writer.wait_for_capacity(limit).await;
            Ok((writer, waited))
        })?;
        match waited {
            Ok(()) => {
                self.state = State::Multipart(writer);
                Ok(())
            }
            Err(error) => {
                // A part failed after its retries: abort, so that no parts are left stored.
                let _ =
                    self.storage
                        .request("abort", &self.path, async move { writer.abort().await });
                let url = self.storage.url(&self.path);
                Err(self.storage.inner.redactor.map("upload", url, error))
            }
        }
    }

    fn write_bytes(&mut self, buf: &[u8]) -> Result<(), Error> {
        let part_size = self.storage.inner.part_size;
        match &mut self.state {
            State::Buffering(buffer) => {
                buffer.extend_from_slice(buf);
                if buffer.content_length() > part_size {
                    let buffered = std::mem::take(buffer);
                    self.state = State::Closed;
                    self.start_multipart(buffered)?;
                    self.wait_for_capacity()?;
                }
                Ok(())
            }
            State::Multipart(writer) => {
                {
                    let _runtime = self.storage.inner.runtime.handle().enter();
                    writer.put(Bytes::copy_from_slice(buf));
                }
                self.wait_for_capacity()
            }
            State::Closed => Err(self.closed()),
        }
    }
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
        if let State::Multipart(writer) = std::mem::replace(&mut self.state, State::Closed) {
            // Best effort: a failure leaves parts that a lifecycle rule removes.
            let _ = self
                .storage
                .request("abort", &self.path, async move { writer.abort().await });
        }
    }
}
