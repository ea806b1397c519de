//! The process's memory allocator: mimalloc, tuned to hand freed memory back to the kernel
//! promptly.
//!
//! Why mimalloc: validating and committing allocate many small, short-lived strings on
//! several threads at once, where glibc's per-thread arenas showed up in profiles, and
//! glibc's resident memory after a large commit was the highest of the allocators tried.
//!
//! Why the tuning: a commit plans (a stage and a plan of tens of MiB), frees them, then
//! verifies the new object, which needs about as much again. With mimalloc's defaults the
//! freed memory stays resident for a second and transparent huge pages round it up, so
//! verification stacks on top of it; without huge pages (the `no_thp` feature in
//! Cargo.toml) and with a 100 ms purge delay it does not. A shorter delay costs large
//! commits CPU in re-faulted copy buffers. The measurements are in `docs/benchmarks.md`
//! ("Results: commit memory, 2026-11-27, third session").

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc.h's `mi_option_t` (libmimalloc-sys exports no
/// constant for it). The test below checks that it still names the purge delay.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const _: () = assert!(PURGE_DELAY < libmimalloc_sys::_mi_option_last);

/// The purge delay set, in milliseconds (mimalloc 3's default is 1,000).
const PURGE_DELAY_MS: std::ffi::c_long = 100;

/// Environment variable through which mimalloc takes the purge delay; a value set there
/// is left alone.
const PURGE_DELAY_VARIABLE: &str = "MIMALLOC_PURGE_DELAY";

/// Sets mimalloc's purge delay to 100 ms unless `MIMALLOC_PURGE_DELAY` chooses another.
/// Call it first thing in `main`, before any other thread exists.
pub(crate) fn return_freed_memory_promptly() {
    if std::env::var_os(PURGE_DELAY_VARIABLE).is_some() {
        return;
    }
    // SAFETY: `mi_option_set` only stores a value in mimalloc's option table (an index
    // below `_mi_option_last`, checked at compile time). It is not thread-safe, and this runs
    // at the start of `main`, while the process has one thread.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn the_option_index_is_mimallocs_purge_delay() {
        // Test processes do not run `main`, so the option still holds mimalloc 3's
        // default for the purge delay (1,000 ms), which no neighbouring option has.
        if std::env::var_os(PURGE_DELAY_VARIABLE).is_none() {
            // SAFETY: reads mimalloc's option table.
            let value = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
            assert_eq!(value, 1000);
        }
    }
}
