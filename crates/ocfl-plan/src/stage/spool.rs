//! The spool: a copy of every staged file, written while it is read and hashed, so that a new
//! object's content is read from the source once (`docs/durability.md`, section 4a).
//!
//! Staging writes each file to a temporary name in the spool directory and, once its digest
//! is known and the file proved unchanged, renames it to its digest and the source's stamp
//! (size, modification and change times). A copy step then renames the spooled file into the
//! version instead of reading and hashing the source again
//! ([`crate::exec::ContentSource::prepared`]), but only if the source still has that stamp:
//! a source written to since it was staged has a new change time, finds no spooled file, and
//! its copy reads and hashes it, failing if its bytes changed.
//!
//! Nothing here is flushed: the version's one batched flush (`flush-content`) makes the moved
//! files durable, as it does for copied ones. What makes a spooled file trustworthy without
//! re-hashing it is that it was complete in the page cache when it got its name, and that
//! unflushed data can only be lost together with the running kernel. So the spool directory is
//! named after the kernel's boot id: after a power cut or a crash of the machine the next boot
//! looks for another directory, finds nothing, and copies from the source (which is hashed
//! while it streams) instead of trusting files that may be torn.

use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ocfl_core::digest::Digest;

use ocfl_core::storage::Storage;

/// Files at least this large have their writeback started as soon as they are complete, so
/// the version's flush finds little left to write. Smaller files are left to the flush: for
/// them an fsync costs a journal commit, not data, and one more open per file costs more than
/// it saves.
pub const EARLY_WRITEBACK_BYTES: u64 = 1 << 20;

/// Where staging keeps a copy of what it reads: a directory in an update's work area.
pub struct Spool<'a> {
    fs: &'a dyn Storage,
    dir: String,
    next: AtomicU64,
}

impl std::fmt::Debug for Spool<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).finish()
    }
}

impl<'a> Spool<'a> {
    /// The spool of the work directory `work` (a path of `fs`), created if needed. `None` when
    /// spooling is not possible here: the kernel's boot id is unknown (not Linux), or the
    /// directory cannot be created (then the copies read the source instead).
    pub fn new(fs: &'a dyn Storage, work: &str) -> Option<Spool<'a>> {
        let dir = spool_dir(work)?;
        fs.create_dir(&dir).ok()?;
        Some(Spool {
            fs,
            dir,
            next: AtomicU64::new(0),
        })
    }

    /// The spool directory.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    pub(super) fn fs(&self) -> &dyn Storage {
        self.fs
    }

    /// A fresh temporary name in the spool.
    pub(super) fn temp(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}/tmp-{n}", self.dir)
    }
}

/// The spooled file holding `digest`'s bytes, read from `source`, in work directory `work`:
/// the name staging in this boot gave it if `source` has not changed since (the file may
/// still be absent: the caller looks it up). `None` if `source` cannot be looked at.
pub fn spooled(work: &str, digest: &Digest, source: &Path) -> Option<String> {
    let meta = fs::metadata(source).ok()?;
    Some(format!("{}/{}", spool_dir(work)?, name(digest, &meta)))
}

/// A spooled file's name: the digest of its bytes and the stamp of the source they were read
/// from (size, modification and change times, to the nanosecond).
pub(super) fn name(digest: &Digest, source: &Metadata) -> String {
    format!(
        "{digest}-{}-{}.{}-{}.{}",
        source.len(),
        source.mtime(),
        source.mtime_nsec(),
        source.ctime(),
        source.ctime_nsec()
    )
}

/// `WORK/spool-BOOTID`.
fn spool_dir(work: &str) -> Option<String> {
    let boot = boot_id()?;
    Some(if work.is_empty() {
        format!("spool-{boot}")
    } else {
        format!("{work}/spool-{boot}")
    })
}

/// The running kernel's boot id: changes on every boot, so after a power cut it differs.
fn boot_id() -> Option<&'static str> {
    static BOOT: OnceLock<Option<String>> = OnceLock::new();
    BOOT.get_or_init(|| {
        let text = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let id = text.trim();
        (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
            .then(|| id.to_owned())
    })
    .as_deref()
}
