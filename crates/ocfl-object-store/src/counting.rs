//! Counting the requests a store sends, so that tests and benchmarks can state how many
//! requests an operation costs (a listing per directory, not per file).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

/// An [`ObjectStore`] that counts the operations it forwards: one per call, one per part of
/// a multipart upload (and one to start, complete or abort it), one per key a bulk delete
/// names. The pages of a long listing are one operation.
#[derive(Debug)]
pub(crate) struct CountingStore<T> {
    inner: T,
    count: Arc<AtomicU64>,
}

impl<T> CountingStore<T> {
    pub(crate) fn new(inner: T, count: Arc<AtomicU64>) -> CountingStore<T> {
        CountingStore { inner, count }
    }

    fn count(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl<T: fmt::Display> fmt::Display for CountingStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl<T: ObjectStore> ObjectStore for CountingStore<T> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.count();
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.count();
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CountingUpload {
            upload,
            count: Arc::clone(&self.count),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.count();
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let count = Arc::clone(&self.count);
        let counted = locations
            .inspect(move |_| {
                count.fetch_add(1, Ordering::Relaxed);
            })
            .boxed();
        self.inner.delete_stream(counted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.count();
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.count();
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.count();
        self.inner.copy_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct CountingUpload {
    upload: Box<dyn MultipartUpload>,
    count: Arc<AtomicU64>,
}

#[async_trait]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.upload.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.upload.abort().await
    }
}
