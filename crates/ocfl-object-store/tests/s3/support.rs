//! A bucket of its own for each test, on the server named by `OCFL_TEST_S3_ENDPOINT`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ocfl_object_store::{Location, ObjectStorage, S3Builder};

/// The test server's endpoint, or `None` (after saying the test is skipped) without one.
pub fn endpoint(test: &str) -> Option<String> {
    match std::env::var("OCFL_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ => {
            assert!(
                std::env::var("OCFL_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{test}: OCFL_TEST_S3_ENDPOINT is not set and OCFL_TEST_REQUIRE_SERVICES=1"
            );
            eprintln!("{test}: skipped: set OCFL_TEST_S3_ENDPOINT to run the S3 tests");
            None
        }
    }
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
    S3Builder::new(Location::s3(bucket, prefix).expect("valid test location"))
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
