//! The store against a real S3-compatible server (moto in CI), each test in its own bucket.
//! Without `OCFL_TEST_S3_ENDPOINT` the tests say they are skipped; with
//! `OCFL_TEST_REQUIRE_SERVICES=1` they fail instead.

mod support;

// Listing, kinds, reading and writing keys; copies, renames and removals.
mod keys;
// Streamed multipart uploads and aborts.
mod upload;
// Conditional writes (`If-None-Match: *`, `If-Match`).
mod conditional;
// Prefix confinement and what errors say.
mod safety;
// The official fixtures and a storage root validate on a bucket exactly as on disk.
mod validation;
// https with a private certificate authority.
mod tls;
// The blocking facade from async contexts and on an embedder's runtime.
mod runtime;
// Retries with backoff on throttling.
mod retry;
// The storage seam: the same script on a directory and on a bucket.
mod seam;
