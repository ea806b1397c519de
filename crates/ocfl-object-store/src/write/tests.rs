//! The upload budget holds: a store that counts the bytes its requests hold at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::limit::LimitStore;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use ocfl_core::location::S3Location;

use crate::budget::{Budget, UNIT};
use crate::error::Redactor;
use crate::location::Keys;
use crate::runtime::Runtime;
use crate::store::{Inner, ObjectStorage};

/// How many payload bytes the requests of a store hold, now and at most.
#[derive(Debug, Default)]
struct Held {
    now: AtomicUsize,
    peak: AtomicUsize,
    /// Single PUTs and multipart parts sent.
    puts: AtomicUsize,
    parts: AtomicUsize,
}

impl Held {
    fn take(&self, bytes: usize) {
        let now = self.now.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn give_back(&self, bytes: usize) {
        self.now.fetch_sub(bytes, Ordering::SeqCst);
    }
}

/// An in-memory store whose writes take a while, counting the bytes they hold from the moment
/// they are handed over (waiting for the request limit included) until they are answered.
#[derive(Debug)]
struct SlowStore {
    inner: InMemory,
    held: Arc<Held>,
}

const DELAY: Duration = Duration::from_millis(5);

impl std::fmt::Display for SlowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlowStore")
    }
}

#[async_trait]
impl ObjectStore for SlowStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let bytes = payload.content_length();
        self.held.take(bytes);
        self.held.puts.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(DELAY).await;
        let result = self.inner.put_opts(location, payload, opts).await;
        self.held.give_back(bytes);
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(SlowUpload {
            upload,
            held: Arc::clone(&self.held),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct SlowUpload {
    upload: Box<dyn MultipartUpload>,
    held: Arc<Held>,
}

#[async_trait]
impl MultipartUpload for SlowUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let bytes = data.content_length();
        self.held.take(bytes);
        self.held.parts.fetch_add(1, Ordering::SeqCst);
        let part = self.upload.put_part(data);
        let held = Arc::clone(&self.held);
        Box::pin(async move {
            tokio::time::sleep(DELAY).await;
            let result = part.await;
            held.give_back(bytes);
            result
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.upload.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.upload.abort().await
    }
}

/// A store over a [`SlowStore`] (below a limit of `max_requests` requests) with parts of
/// `part_size` bytes, 4 in flight per upload, and an upload budget of `budget` bytes.
fn storage(
    held: &Arc<Held>,
    part_size: usize,
    max_requests: usize,
    budget: usize,
) -> ObjectStorage {
    let slow = SlowStore {
        inner: InMemory::new(),
        held: Arc::clone(held),
    };
    ObjectStorage::from_inner(Inner {
        store: Arc::new(LimitStore::new(slow, max_requests)),
        keys: Keys::new(S3Location::new("bucket", "root").unwrap()).unwrap(),
        endpoint: None,
        runtime: Runtime::owned(2).unwrap(),
        redactor: Redactor::new(Vec::new()),
        part_size,
        parts_in_flight: 4,
        budget: Budget::new(budget, part_size, max_requests),
        requests: Arc::new(AtomicU64::new(0)),
    })
}

/// The bytes of file `i`, `len` long.
fn content(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7 % 251) as u8).collect()
}

/// Writes `files` files of `len` bytes at once, one thread each, in writes of `write` bytes
/// (with their size given up front if `sized`), then reads every one back.
fn upload_at_once(storage: &ObjectStorage, files: usize, len: usize, write: usize, sized: bool) {
    std::thread::scope(|scope| {
        for i in 0..files {
            scope.spawn(move || {
                let path = format!("f{i}");
                let mut upload = if sized {
                    storage.create_sized(&path, len as u64).unwrap()
                } else {
                    storage.create(&path).unwrap()
                };
                let bytes = content(i, len);
                for chunk in bytes.chunks(write) {
                    std::io::Write::write_all(&mut upload, chunk).unwrap();
                }
                upload.finish().unwrap();
            });
        }
    });
    for i in 0..files {
        assert!(
            storage.read(&format!("f{i}")).unwrap() == content(i, len),
            "f{i} was not stored as written"
        );
    }
}

#[test]
fn uploads_at_once_hold_no_more_than_the_budget() {
    let held = Arc::new(Held::default());
    let part = 4 * UNIT;
    // A budget of 6 parts; 16 uploads of 8 parts each, 4 parts in flight each, would hold
    // 64 parts in requests without it (the request limit does not bound the bytes handed over).
    let budget = 6 * part;
    let storage = storage(&held, part, 4, budget);
    upload_at_once(&storage, 16, 8 * part, UNIT / 2 + 7, false);
    let peak = held.peak.load(Ordering::SeqCst);
    assert!(peak > 0);
    assert!(
        peak <= budget,
        "requests held {peak} bytes at once, the budget is {budget}"
    );
    assert_eq!(
        storage.inner.budget.in_use(),
        0,
        "reservations were not given back"
    );
}

#[test]
fn keys_of_every_shape_are_stored_whole() {
    let held = Arc::new(Held::default());
    let part = 4 * UNIT;
    let storage = storage(&held, part, 4, 0);
    for (i, len) in [0, 1, UNIT, UNIT + 1, part, part + 1, 3 * part, 3 * part + 5]
        .into_iter()
        .enumerate()
    {
        let mut upload = storage.create(&format!("k{i}")).unwrap();
        std::io::Write::write_all(&mut upload, &content(i, len)).unwrap();
        upload.finish().unwrap();
        assert!(
            storage.read(&format!("k{i}")).unwrap() == content(i, len),
            "a key of {len} bytes was not stored whole"
        );
        assert_eq!(storage.inner.budget.in_use(), 0);
    }
}

#[test]
fn a_key_of_a_known_size_that_fits_the_budget_goes_in_one_put() {
    let held = Arc::new(Held::default());
    let part = 4 * UNIT;
    let storage = storage(&held, part, 4, 64 * part);
    let len = 3 * part + 5;
    let mut upload = storage.create_sized("k", len as u64).unwrap();
    std::io::Write::write_all(&mut upload, &content(1, len)).unwrap();
    upload.finish().unwrap();
    assert!(storage.read("k").unwrap() == content(1, len));
    assert_eq!(
        (
            held.puts.load(Ordering::SeqCst),
            held.parts.load(Ordering::SeqCst)
        ),
        (1, 0),
        "(PUTs, parts) for a key of 3 parts whose size was given"
    );
    assert_eq!(storage.inner.budget.in_use(), 0);
    // Past what the budget can hold whole, it goes in parts.
    let big = storage.inner.budget.largest_whole() + 1;
    let mut upload = storage.create_sized("big", big as u64).unwrap();
    std::io::Write::write_all(&mut upload, &content(2, big)).unwrap();
    upload.finish().unwrap();
    assert!(storage.read("big").unwrap() == content(2, big));
    assert!(held.parts.load(Ordering::SeqCst) > 1);
}

#[test]
fn whole_keys_at_once_hold_no_more_than_the_budget() {
    let held = Arc::new(Held::default());
    let part = 4 * UNIT;
    let budget = 40 * part;
    let storage = storage(&held, part, 4, budget);
    upload_at_once(&storage, 16, 8 * part, UNIT / 2 + 7, true);
    let peak = held.peak.load(Ordering::SeqCst);
    assert_eq!(held.parts.load(Ordering::SeqCst), 0, "sent in parts");
    assert!(
        peak > 8 * part && peak <= budget,
        "requests held {peak} bytes at once, the budget is {budget}"
    );
    assert_eq!(storage.inner.budget.in_use(), 0);
}

#[test]
fn a_key_written_past_its_size_is_refused_and_holds_no_more() {
    let held = Arc::new(Held::default());
    let part = 4 * UNIT;
    let storage = storage(&held, part, 4, 64 * part);
    let len = 2 * part;
    let mut upload = storage.create_sized("k", len as u64).unwrap();
    let bytes = content(3, 3 * len);
    std::io::Write::write_all(&mut upload, &bytes).unwrap();
    assert_eq!(storage.inner.budget.in_use(), len);
    assert!(upload.finish().is_err());
    assert!(storage.read("k").is_err(), "a key was stored");
    assert_eq!(held.puts.load(Ordering::SeqCst), 0);
    assert_eq!(storage.inner.budget.in_use(), 0);
}
