//! Damaged files: a truncated store and flipped bytes are refused with a typed error, never a
//! panic; a change redb cannot see (in free space) leaves a store that reads back the same.
//!
//! What redb guarantees: with `verify_on_open` (the default) the open runs redb's integrity
//! check, which verifies the checksum of every page reachable from the last commit and of the
//! header's commit slots, so damage to any live page is found at open. Bytes of pages no
//! commit references (free space) are not checked, and need not be: nothing reads them.

mod common;

use common::{populate, snapshot};
use durable_core::{Event, InstanceMetadata};
use durable_redb::{OpenError, RedbBackend};

/// A populated store file (closed), with its contents.
async fn make_store(dir: &std::path::Path) -> (Vec<u8>, Vec<(InstanceMetadata, Vec<Event>)>) {
    let path = dir.join("original.redb");
    let backend = RedbBackend::open(&path).expect("open");
    populate(&backend, 40).await;
    let contents = snapshot(&backend).await.expect("snapshot");
    drop(backend);
    // The writer's last task may hold the store a moment longer.
    let mut bytes = Vec::new();
    for _ in 0..500 {
        match RedbBackend::open(&path) {
            Ok(reopened) => {
                drop(reopened);
                bytes = std::fs::read(&path).expect("read");
                break;
            }
            Err(OpenError::InUse { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(error) => panic!("reopen: {error}"),
        }
    }
    assert!(!bytes.is_empty());
    (bytes, contents)
}

/// Opens a damaged copy: a typed error, or a store that reads back exactly `contents`.
async fn open_damaged(
    path: &std::path::Path,
    contents: &[(InstanceMetadata, Vec<Event>)],
) -> Result<(), String> {
    match RedbBackend::open(path) {
        Err(OpenError::Corrupt { .. }) => Ok(()),
        Err(other) => Err(format!("expected Corrupt, got {other}")),
        Ok(backend) => {
            let read = snapshot(&backend).await;
            if read.as_deref() == Ok(contents) {
                Ok(())
            } else {
                Err(format!(
                    "opened, but reads back differently: {:?}",
                    read.err()
                ))
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, _) = make_store(dir.path()).await;
    let len = bytes.len();
    let mut refused = Vec::new();
    for cut in [0, 1, 100, 511, 4096, len / 3, len / 2, len - 4096, len - 1] {
        let path = dir.path().join(format!("truncated-{cut}.redb"));
        std::fs::write(&path, &bytes[..cut]).expect("write");
        match RedbBackend::open(&path) {
            Err(OpenError::Corrupt { detail, .. }) => refused.push((cut, detail)),
            other => panic!("cut at {cut} of {len}: expected Corrupt, got {other:?}"),
        }
    }
    assert_eq!(refused.len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_give_a_typed_error_or_the_same_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, contents) = make_store(dir.path()).await;
    let len = bytes.len();
    // The header and commit slots, then offsets spread over the whole file.
    let mut offsets: Vec<usize> = vec![0, 9, 32, 64, 100, 200, 300, 511, 4096, 4100];
    offsets.extend((1..40).map(|k| k * len / 40 + 17));
    let mut failures = Vec::new();
    let mut refused = 0;
    let flips = offsets.len();
    for offset in offsets {
        let mut damaged = bytes.clone();
        damaged[offset] ^= 0x5a;
        let path = dir.path().join(format!("flipped-{offset}.redb"));
        std::fs::write(&path, &damaged).expect("write");
        if matches!(RedbBackend::open(&path), Err(OpenError::Corrupt { .. })) {
            refused += 1;
            continue;
        }
        if let Err(problem) = open_damaged(&path, &contents).await {
            failures.push(format!("byte {offset} of {len}: {problem}"));
        }
    }
    println!("{refused} of {flips} flips in a {len}-byte store refused at open");
    assert!(failures.is_empty(), "{failures:#?}");
    // Flips in the header and the live pages are caught, not only tolerated.
    assert!(refused >= 5, "only {refused} flips were refused");
}
