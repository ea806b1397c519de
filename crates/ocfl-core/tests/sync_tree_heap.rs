//! The heap that flushing a large tree takes, counted by this binary's global allocator: a
//! new version's batched flush (`Storage::sync_tree`) must not list the whole tree before
//! flushing it (a million-file commit held every path of its new version at once, on top of
//! its stage and plan: issue 19).

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ocfl_core::storage::{LocalStorage, Storage};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

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
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    storage.sync_tree("v1").expect("flushed");
    let peak = PEAK.load(Ordering::Relaxed) - before;

    println!(
        "sync_tree of {FILES} files: heap peak {peak} bytes; a whole listing is {listing} bytes"
    );
    assert!(
        peak < listing * 2 / 3,
        "the flush held {peak} bytes, as much as a listing of the whole tree ({listing})"
    );
}
