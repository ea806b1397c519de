//! The heap that flushing a large tree takes, counted by this binary's global allocator: a
//! new version's batched flush (`Storage::sync_tree`) must not list the whole tree before
//! flushing it (a million-file commit held every path of its new version at once, on top of
//! its stage and plan: issue 19).

use test_support::heap::{self, Counting};

use ocfl_core::storage::{LocalStorage, Storage};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Files in the flushed tree: five times the paths the flush may hold at once.
const FILES: usize = 20_000;

#[test]
fn a_tree_is_flushed_without_listing_it_whole() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Long names, so that the paths dominate what a listing of the tree would hold.
    let long = "a-directory-with-a-long-name-".repeat(6);
    let content = dir.path().join("v1/content").join(&long);
    std::fs::create_dir_all(&content).expect("directories");
    for n in 0..FILES {
        std::fs::write(content.join(format!("file-{n:06}.dat")), b"x").expect("a file");
    }
    let path_bytes = content.join("file-000000.dat").as_os_str().len();
    // At least what a list of every path holds (each path's capacity is at least its length).
    let listing = FILES * (path_bytes + std::mem::size_of::<std::path::PathBuf>());

    let storage = LocalStorage::new(dir.path());
    let before = heap::start_peak();
    storage.sync_tree("v1").expect("flushed");
    let peak = heap::peak() - before;

    println!(
        "sync_tree of {FILES} files: heap peak {peak} bytes; a whole listing is {listing} bytes"
    );
    assert!(
        peak < listing * 2 / 3,
        "the flush held {peak} bytes, as much as a listing of the whole tree ({listing})"
    );
}
