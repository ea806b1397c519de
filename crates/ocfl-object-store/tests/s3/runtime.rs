use ocfl_object_store::ObjectStorage;

use crate::support::{builder, endpoint, new_bucket};

fn round_trip(s3: &ObjectStorage, key: &str) {
    s3.put(key, key.as_bytes().to_vec()).expect("put");
    assert_eq!(s3.read(key).expect("read"), key.as_bytes());
}

#[test]
fn calls_from_an_async_context_wait_instead_of_panicking() {
    let Some(endpoint) = endpoint("async_context") else {
        return;
    };
    let bucket = new_bucket(&endpoint);
    let s3 = builder(&endpoint, &bucket, "root").build().expect("store");
    // A single-threaded runtime: tokio's own `block_on` would panic here, and a request
    // driven by this thread would never progress.
    let caller = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    caller.block_on(async {
        round_trip(&s3, "from-async");
        // Dropping the last handle to the store's own runtime inside an async context.
        drop(s3);
    });
}

#[test]
fn an_embedders_runtime_serves_calls_from_blocking_threads() {
    let Some(endpoint) = endpoint("borrowed_runtime") else {
        return;
    };
    let bucket = new_bucket(&endpoint);
    let embedder = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let s3 = builder(&endpoint, &bucket, "root")
        .runtime(embedder.handle().clone())
        .build()
        .expect("store");
    embedder
        .block_on(embedder.spawn_blocking(move || round_trip(&s3, "from-blocking")))
        .expect("blocking task");
}
