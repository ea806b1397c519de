//! Injected request failures, for tests of what the commit protocol does when a request to
//! the server fails: an [`ObjectStore`] that forwards every request and fails the one chosen
//! (once, or it and every later one until cleared) with the errors a real server gives.
//!
//! The faults sit between the store's client and its request limit, above the client's own
//! retries: a failure injected here is what a caller sees once the client gave up (a server
//! error or throttling that outlasted the retries, a timeout), so it exercises the retries of
//! the layers above - the durable engine's - and the idempotence of the protocol's steps.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

/// How an injected failure looks to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// `500 InternalError`.
    ServerError,
    /// No answer in time: the connection timed out.
    Timeout,
    /// `503 SlowDown`: throttled.
    SlowDown,
    /// A multipart upload lost on the server (aborted behind the client's back, say by a
    /// lifecycle rule): the request fails with `404 NoSuchUpload` and the upload's parts are
    /// gone. Only requests of a multipart upload (a part, its completion) can be torn; on
    /// any other request it is a [`FaultKind::ServerError`].
    TornUpload,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::ServerError,
        FaultKind::Timeout,
        FaultKind::SlowDown,
        FaultKind::TornUpload,
    ];
}

/// How long an injected failure lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Persistence {
    /// Only the chosen request fails.
    Once,
    /// The chosen request and every later one fail, until [`Faults::clear`]: the server is
    /// down, or throttles everything.
    UntilCleared,
}

/// A failure to inject: the `request`-th request (counted from 0) the store sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Which request fails first.
    pub request: usize,
    /// How it fails.
    pub kind: FaultKind,
    /// Whether later requests fail too.
    pub persistence: Persistence,
}

/// What a request was, for traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestKind {
    /// A PUT of a whole key (conditional or not).
    Put,
    /// The start of a multipart upload.
    StartUpload,
    /// One part of a multipart upload.
    Part,
    /// The completion of a multipart upload.
    CompleteUpload,
    /// The abort of a multipart upload.
    AbortUpload,
    /// A GET or HEAD.
    Get,
    /// A DELETE of one key.
    Delete,
    /// A LIST (with or without delimiter).
    List,
    /// A server-side copy.
    Copy,
}

impl RequestKind {
    /// Whether the request belongs to a multipart upload under way (and so can be torn).
    pub fn is_upload_part(self) -> bool {
        matches!(self, RequestKind::Part | RequestKind::CompleteUpload)
    }
}

/// One request the store sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its position among the store's requests, from 0.
    pub index: usize,
    /// What it was.
    pub kind: RequestKind,
    /// The key (for a listing: the prefix), as the bucket names it.
    pub key: String,
    /// Whether it was failed.
    pub failed: bool,
}

/// The fault plan shared by a test and the store it built: at most one armed [`Fault`], and
/// the trace of the requests sent since it was armed (or since [`Faults::restart`]). Pass it to [`crate::S3Builder::faults`].
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    fault: Option<Fault>,
    /// Set by [`Faults::clear`]: nothing fails any more.
    cleared: bool,
    trace: Vec<Request>,
}

impl Faults {
    /// No fault: the store only records its requests.
    pub fn tracing() -> Arc<Faults> {
        Arc::new(Faults::default())
    }

    /// Arms `fault`, counting requests from now: the trace starts again, and
    /// [`Fault::request`] is an index into it.
    pub fn arm(&self, fault: Fault) {
        let mut state = self.lock();
        state.trace.clear();
        state.fault = Some(fault);
        state.cleared = false;
    }

    /// Disarms any fault and starts the trace again.
    pub fn restart(&self) {
        let mut state = self.lock();
        state.trace.clear();
        state.fault = None;
        state.cleared = false;
    }

    /// Ends the fault: every later request is forwarded.
    pub fn clear(&self) {
        self.lock().cleared = true;
    }

    /// Every request sent since the fault was armed (or the trace restarted), in order.
    pub fn trace(&self) -> Vec<Request> {
        self.lock().trace.clone()
    }

    /// The requests that were failed, in order.
    pub fn failed(&self) -> Vec<Request> {
        self.lock()
            .trace
            .iter()
            .filter(|r| r.failed)
            .cloned()
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves a usable trace.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a request and decides whether it fails, and how.
    fn admit(&self, kind: RequestKind, key: &str) -> Option<FaultKind> {
        let mut state = self.lock();
        let index = state.trace.len();
        let failing = match state.fault {
            Some(fault) if !state.cleared => match fault.persistence {
                Persistence::Once => index == fault.request,
                Persistence::UntilCleared => index >= fault.request,
            },
            _ => false,
        };
        state.trace.push(Request {
            index,
            kind,
            key: key.to_owned(),
            failed: failing,
        });
        let fault = state.fault?;
        failing.then(|| match fault.kind {
            FaultKind::TornUpload if !kind.is_upload_part() => FaultKind::ServerError,
            other => other,
        })
    }
}

/// The error a client reports for `kind` on `key`, worded as `object_store`'s S3 client words
/// it (the status, then the server's XML body, whose code the store reports).
fn error(kind: FaultKind, key: &str) -> object_store::Error {
    let text = match kind {
        FaultKind::ServerError => format!(
            "Server returned non-2xx status code: 500 Internal Server Error: \
             <Error><Code>InternalError</Code><Message>We encountered an internal error. \
             Please try again.</Message><Key>{key}</Key></Error>"
        ),
        FaultKind::Timeout => format!(
            "Error after 10 retries in 180s, max_retries:10, retry_timeout:180s, \
             source:HTTP error: error sending request for {key}: operation timed out"
        ),
        FaultKind::SlowDown => format!(
            "Server returned non-2xx status code: 503 Service Unavailable: \
             <Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>\
             <Key>{key}</Key></Error>"
        ),
        FaultKind::TornUpload => format!(
            "Server returned non-2xx status code: 404 Not Found: \
             <Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist. \
             The upload ID may be invalid, or the upload may have been aborted or \
             completed.</Message><Key>{key}</Key></Error>"
        ),
    };
    object_store::Error::Generic {
        store: "S3",
        source: text.into(),
    }
}

/// An [`ObjectStore`] that fails requests as its [`Faults`] say.
#[derive(Debug)]
pub(crate) struct FaultyStore<T> {
    inner: T,
    faults: Arc<Faults>,
}

impl<T> FaultyStore<T> {
    pub(crate) fn new(inner: T, faults: Arc<Faults>) -> FaultyStore<T> {
        FaultyStore { inner, faults }
    }
}

impl<T: fmt::Display> fmt::Display for FaultyStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

#[async_trait]
impl<T: ObjectStore> ObjectStore for FaultyStore<T> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if let Some(kind) = self.faults.admit(RequestKind::Put, location.as_ref()) {
            return Err(error(kind, location.as_ref()));
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        if let Some(kind) = self
            .faults
            .admit(RequestKind::StartUpload, location.as_ref())
        {
            return Err(error(kind, location.as_ref()));
        }
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FaultyUpload {
            upload,
            key: location.to_string(),
            faults: Arc::clone(&self.faults),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if let Some(kind) = self.faults.admit(RequestKind::Get, location.as_ref()) {
            return Err(error(kind, location.as_ref()));
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // Each key is one request: a failed one goes to the client as an error in the
        // stream of keys, which reports it as the bulk delete's failure.
        let faults = Arc::clone(&self.faults);
        let admitted = locations
            .map(move |location| {
                let location = location?;
                match faults.admit(RequestKind::Delete, location.as_ref()) {
                    Some(kind) => Err(error(kind, location.as_ref())),
                    None => Ok(location),
                }
            })
            .boxed();
        self.inner.delete_stream(admitted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let key = prefix.map(Path::to_string).unwrap_or_default();
        if let Some(kind) = self.faults.admit(RequestKind::List, &key) {
            return stream::once(async move { Err(error(kind, &key)) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let key = prefix.map(Path::to_string).unwrap_or_default();
        if let Some(kind) = self.faults.admit(RequestKind::List, &key) {
            return Err(error(kind, &key));
        }
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        if let Some(kind) = self.faults.admit(RequestKind::Copy, to.as_ref()) {
            return Err(error(kind, to.as_ref()));
        }
        self.inner.copy_opts(from, to, options).await
    }
}

/// A multipart upload whose parts and completion go through the [`Faults`].
#[derive(Debug)]
struct FaultyUpload {
    upload: Box<dyn MultipartUpload>,
    key: String,
    faults: Arc<Faults>,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        // A torn part is lost on the way: the client sees the upload gone, and aborts it.
        match self.faults.admit(RequestKind::Part, &self.key) {
            None => self.upload.put_part(data),
            Some(kind) => {
                let key = self.key.clone();
                async move { Err(error(kind, &key)) }.boxed()
            }
        }
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        match self.faults.admit(RequestKind::CompleteUpload, &self.key) {
            None => self.upload.complete().await,
            Some(kind) => {
                if kind == FaultKind::TornUpload {
                    let _ = self.upload.abort().await;
                }
                Err(error(kind, &self.key))
            }
        }
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        if let Some(kind) = self.faults.admit(RequestKind::AbortUpload, &self.key) {
            return Err(error(kind, &self.key));
        }
        self.upload.abort().await
    }
}
