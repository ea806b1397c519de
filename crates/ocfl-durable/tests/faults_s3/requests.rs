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

/// The reads of the object's root inventory after the commit point (the PUT that installs
/// it): every other key named `inventory.json` is a version's (below `vN/`).
fn root_inventory_reads_after_commit(trace: &[(RequestKind, String)]) -> Vec<&str> {
    let is_root_inventory = |key: &str| {
        key.ends_with("/inventory.json")
            && !key
                .rsplit('/')
                .nth(1)
                .is_some_and(|dir| dir.starts_with('v') && dir[1..].parse::<u32>().is_ok())
    };
    let commit = trace
        .iter()
        .rposition(|(kind, key)| *kind == RequestKind::Put && is_root_inventory(key))
        .expect("the root inventory was written");
    let root = &trace[commit].1;
    trace[commit + 1..]
        .iter()
        .filter(|(kind, key)| *kind == RequestKind::Get && key == root)
        .map(|(_, key)| key.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_root_inventory_is_read_once_after_the_commit_point() {
    let Some(bucket) = Bucket::new("faults_s3 after commit").await else {
        return;
    };
    // The root sidecar's step does not read back the inventory its own session's commit step
    // installed, and the check after a new object's commit reads it once, for the validator
    // (which then tells that it is this update's); an update's check reads it once, to compare.
    for (name, old, new) in [
        ("new object", None, small_v1()),
        ("update", Some(small_v1()), small_v2()),
    ] {
        let scenario = Scenario::new(&bucket, name, old, new).await;
        let trace = scenario.trace(&bucket).await;
        let reads = root_inventory_reads_after_commit(&trace);
        assert_eq!(
            reads.len(),
            1,
            "{name}: the root inventory read {} times after the commit point: {trace:#?}",
            reads.len()
        );
    }
}
