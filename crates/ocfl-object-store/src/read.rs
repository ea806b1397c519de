//! Streaming a key's bytes through `std::io::Read`.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures::StreamExt;
use object_store::GetResult;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::ObjectStorage;

/// Network chunks buffered ahead of the reader: memory stays bounded whatever the key's size.
const CHUNKS_AHEAD: usize = 4;

/// The bytes of one key, read as they arrive. Dropping it stops the download.
pub struct ObjectReader {
    storage: ObjectStorage,
    url: String,
    chunks: mpsc::Receiver<object_store::Result<Bytes>>,
    current: Bytes,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ObjectReader {
    pub(crate) fn start(storage: ObjectStorage, path: &str, result: GetResult) -> ObjectReader {
        let (sender, chunks) = mpsc::channel(CHUNKS_AHEAD);
        let task = storage.inner.runtime.handle().spawn(async move {
            let mut stream = result.into_stream();
            while let Some(chunk) = stream.next().await {
                let failed = chunk.is_err();
                if sender.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        ObjectReader {
            url: storage.url(path),
            storage,
            chunks,
            current: Bytes::new(),
            task,
        }
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            // Waiting on a channel, not driving I/O: the download runs on the store's runtime.
            match futures::executor::block_on(self.chunks.recv()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => {
                    let error = self
                        .storage
                        .inner
                        .redactor
                        .map("get", self.url.clone(), error);
                    return Err(io::Error::other(error));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        self.current.copy_to_slice(&mut buf[..n]);
        Ok(n)
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}
