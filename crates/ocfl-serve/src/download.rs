//! One file's bytes, streamed as they are read and verified against the inventory's digest:
//! a mismatch ends the response with an error instead of its last chunk, so a client never
//! takes damaged bytes for the file.

use std::io::{self, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::{self, HeaderValue};
use axum::response::Response;
use ocfl_core::object::Object;
use ocfl_core::version_num::VersionNum;
use tokio::sync::mpsc;

use crate::error::Failure;
use crate::urls::query_value;

/// Chunks in flight between the reading thread and the connection: a slow client holds
/// this much memory and one blocking thread, never a lock.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Bytes per chunk.
const CHUNK: usize = 256 * 1024;

/// A `Write` that hands chunks to the response body.
struct ToBody {
    sender: mpsc::Sender<Result<Bytes, io::Error>>,
    buffer: Vec<u8>,
}

impl ToBody {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ToBody {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The response streaming `path` of `version` of `object`; 404 if there is no such file.
pub fn download(
    object: Arc<Object<'static>>,
    version: VersionNum,
    path: String,
) -> Result<Response, Failure> {
    // Refuse a missing file with a status, before any byte is sent.
    object.file(Some(version), &path)?;
    let (sender, mut receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
    tokio::task::spawn_blocking(move || {
        let mut out = ToBody {
            sender,
            buffer: Vec::with_capacity(CHUNK),
        };
        let copied = object
            .file(Some(version), &path)
            .map_err(io::Error::other)
            .and_then(|file| object.copy_file(&file, &mut out).map_err(io::Error::other));
        // The last chunk goes only once the digest matched: a mismatch sends the error
        // in its place, which aborts the response.
        let ended = copied.and_then(|_| out.send());
        if let Err(error) = ended {
            tracing::warn!(%error, "download of {path:?} ended early");
            let _ = out.sender.blocking_send(Err(error));
        }
    });
    let stream = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename*=UTF-8''{}",
        query_value(&name)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
