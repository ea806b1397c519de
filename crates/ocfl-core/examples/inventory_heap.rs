//! Heap used by parsing one inventory: `cargo run --release -p ocfl-core --example
//! inventory_heap -- PATH/inventory.json`. Prints the document's size, the heap's peak during
//! `parse_inventory` (document text included) and what the parsed inventory keeps, with the
//! number of allocations of each (allocator overhead is per allocation).

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK_LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` with the same arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        let live = LIVE.fetch_add(1, Ordering::Relaxed) + 1;
        PEAK_LIVE.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        LIVE.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn reset_peak() {
    PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
    PEAK_LIVE.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: inventory_heap INVENTORY")?;
    let base = CURRENT.load(Ordering::Relaxed);
    let bytes = std::fs::read(&path)?;
    let text = CURRENT.load(Ordering::Relaxed) - base;
    reset_peak();
    let before_live = LIVE.load(Ordering::Relaxed);
    let parsed = ocfl_core::inventory::parse_inventory(&bytes);
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let peak_live = PEAK_LIVE.load(Ordering::Relaxed) - before_live;
    drop(bytes);
    let kept = CURRENT.load(Ordering::Relaxed) - base;
    let kept_live = LIVE.load(Ordering::Relaxed) - before_live;
    let inventory = parsed.inventory.ok_or("no inventory")?;
    let states: usize = inventory.versions.values().map(|v| v.state.len()).sum();
    println!(
        "document {:.1} MiB; peak during parse {:.1} MiB ({} live allocations at most, text included); inventory kept {:.1} MiB in {} allocations; manifest {} digests, {} state entries over {} versions; findings {}",
        mib(text),
        mib(peak),
        peak_live,
        mib(kept),
        kept_live,
        inventory.manifest.len(),
        states,
        inventory.versions.len(),
        parsed.findings.len(),
    );
    Ok(())
}
