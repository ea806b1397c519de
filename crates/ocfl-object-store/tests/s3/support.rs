//! A bucket of its own for each test, on the server named by `OCFL_TEST_S3_ENDPOINT`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ocfl_core::location::S3Location;
use ocfl_object_store::{ObjectStorage, S3Builder};

/// The test server's endpoint, or `None` (after saying the test is skipped) without one;
/// a failure instead under `OCFL_TEST_REQUIRE_SERVICES=1`.
pub fn endpoint(test: &str) -> Option<String> {
    let endpoint = test_support::service("OCFL_TEST_S3_ENDPOINT", "S3");
    if endpoint.is_none() {
        eprintln!("{test}: skipped");
    }
    endpoint
}

/// A new, empty bucket on the test server; its name is unique to this process and call.
pub fn new_bucket(endpoint: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let bucket = format!(
        "ocfl-test-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    // moto accepts unsigned requests; a bucket is all the tests need that the store does not
    // make (object_store has no bucket operations).
    let response = reqwest::blocking::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .expect("creating a test bucket");
    assert!(
        response.status().is_success(),
        "creating bucket {bucket}: {}",
        response.status()
    );
    bucket
}

/// A store over `s3://BUCKET/PREFIX` on the test server, with test credentials.
pub fn builder(endpoint: &str, bucket: &str, prefix: &str) -> S3Builder {
    S3Builder::new(S3Location::new(bucket, prefix).expect("valid test location"))
        .endpoint(endpoint)
        .credentials("ocfl-test", "ocfl-test-secret", None)
}

/// A store over a new bucket under `prefix`, or `None` when the tests are skipped.
pub fn storage(test: &str, prefix: &str) -> Option<ObjectStorage> {
    let endpoint = endpoint(test)?;
    let bucket = new_bucket(&endpoint);
    Some(
        builder(&endpoint, &bucket, prefix)
            .build()
            .expect("building the store"),
    )
}
