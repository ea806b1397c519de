//! What a small commit costs in requests: the storage root is opened (listed, its layout
//! read) once per run, not by every activity that needs the object's path or the root's
//! specification version; a trace of a clean run counts them.

use super::*;

/// The requests of `trace` of `kind` for exactly `key` (relative keys as [`shape`] gives them).
fn count(trace: &[(RequestKind, String)], kind: RequestKind, key: &str) -> usize {
    trace.iter().filter(|(k, p)| *k == kind && p == key).count()
}

fn assert_root_opened_once(trace: &[(RequestKind, String)], what: &str) {
    let listed = format!("{trace:#?}");
    assert_eq!(
        count(trace, RequestKind::Get, "ROOT/ocfl_layout.json"),
        1,
        "{what}: the layout is read once a run: {listed}"
    );
    assert_eq!(
        count(trace, RequestKind::List, "ROOT"),
        1,
        "{what}: the root is listed once a run: {listed}"
    );
}

/// The requests before the first write: what finding out where and what to write costs.
fn before_first_write(trace: &[(RequestKind, String)]) -> &[(RequestKind, String)] {
    let first = trace
        .iter()
        .position(|(kind, _)| matches!(kind, RequestKind::Put | RequestKind::StartUpload))
        .unwrap_or(trace.len());
    &trace[..first]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_commit_opens_the_root_once() {
    let Some(bucket) = Bucket::new("faults_s3 requests").await else {
        return;
    };
    let new = Scenario::new(&bucket, "new object", None, small_v1()).await;
    let trace = new.trace(&bucket).await;
    eprintln!("new object: {} requests: {trace:#?}", trace.len());
    assert_root_opened_once(&trace, "new object");
    // The root opened (3: listed, its layout and the layout's configuration read), the
    // object path's first directory checked (2), the object found missing by staging (2 for
    // its inventory, 2 for its directory) and its inventory once more by the first step (2):
    // not again by planning.
    let reads = before_first_write(&trace);
    assert!(
        reads.len() <= 11,
        "new object: {} requests before the first write: {reads:#?}",
        reads.len()
    );
    let update = Scenario::new(&bucket, "update", Some(small_v1()), small_v2()).await;
    let trace = update.trace(&bucket).await;
    eprintln!("update: {} requests: {trace:#?}", trace.len());
    assert_root_opened_once(&trace, "update");
}
