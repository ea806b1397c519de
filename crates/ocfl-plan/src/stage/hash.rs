//! Hashing one source file: every requested digest and the size in one streaming read, with a
//! check that the file did not change meanwhile; optionally writing what is read to the spool.

use std::fs::{Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ocfl_core::digest::{Digest, DigestAlgorithm, MultiDigester, STREAM_BUFFER};
use ocfl_core::storage::StorageWriter;

use super::Error;
use super::spool::{self, EARLY_WRITEBACK_BYTES, Spool};

/// The digests and size of one file.
pub(super) struct Hashed {
    pub digests: Vec<(DigestAlgorithm, Digest)>,
    pub size: u64,
}

impl Hashed {
    /// The digest for `algorithm`, which was among those requested.
    pub fn take(&mut self, algorithm: DigestAlgorithm) -> Digest {
        self.digests
            .iter()
            .find(|(a, _)| *a == algorithm)
            .map(|(_, d)| d.clone())
            // MultiDigester returns one digest per requested algorithm; an empty value could
            // only follow a broken invariant and would then fail every later digest check.
            .unwrap_or_else(|| Digest::new(""))
    }
}

/// What else happens while a file is read.
#[derive(Clone, Copy)]
pub(super) struct Extras<'a> {
    /// Where a copy of the bytes goes, if anywhere.
    pub spool: Option<&'a Spool<'a>>,
    /// Told the bytes read after each chunk, and `(1, 0)` when a file is done.
    pub progress: &'a (dyn Fn(u64, u64) + Sync),
    /// Runs after each chunk: tests use it to change the file mid-read.
    pub between_reads: &'a (dyn Fn() + Sync),
}

impl Extras<'static> {
    /// Nothing else.
    pub const NONE: Extras<'static> = Extras {
        spool: None,
        progress: &|_, _| {},
        between_reads: &|| {},
    };
}

/// `O_NONBLOCK`, as `OpenOptionsExt::custom_flags` takes it (the flag fits in a positive
/// `i32` on every Unix).
const NONBLOCK: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;

/// Reads `path` once, feeding every algorithm (and the spool, if there is one).
pub(super) fn hash_file(
    path: &Path,
    algorithms: &[DigestAlgorithm],
    extras: Extras<'_>,
) -> Result<Hashed, Error> {
    let unreadable = |source: io::Error| Error::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    // Opened before it is looked at, and without blocking (a FIFO would wait for a writer):
    // one path lookup per file instead of two.
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(NONBLOCK)
        .open(path)
        .map_err(unreadable)?;
    let before = file.metadata().map_err(unreadable)?;
    if !before.is_file() {
        return Err(Error::SpecialFile {
            path: path.to_path_buf(),
        });
    }
    let mut digester = MultiDigester::new(algorithms.iter().copied());
    let mut spooled = extras.spool.and_then(SpoolFile::create);
    let mut buffer = vec![
        0u8;
        STREAM_BUFFER.min(
            usize::try_from(before.len())
                .unwrap_or(STREAM_BUFFER)
                .max(1)
        )
    ];
    let mut size = 0u64;
    // Reading stops at the size seen before: the final check below compares that with the
    // size after, so a file that grew is still reported, without one more read per file
    // to meet the end.
    let read = loop {
        if size >= before.len() {
            break Ok(());
        }
        let n = match file.read(&mut buffer) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(unreadable(e)),
        };
        digester.update(&buffer[..n]);
        if let Some(spool) = &mut spooled {
            spool.write(&buffer[..n]);
        }
        size += n as u64;
        (extras.progress)(0, n as u64);
        (extras.between_reads)();
    };
    let checked = read.and_then(|()| {
        let after = file.metadata().map_err(unreadable)?;
        if changed(&before, &after) || size != after.len() {
            return Err(Error::Changed {
                path: path.to_path_buf(),
            });
        }
        Ok(())
    });
    if let Err(e) = checked {
        if let Some(spool) = spooled {
            spool.discard();
        }
        return Err(e);
    }
    let digests = digester.finalize();
    if let Some(spool) = spooled {
        if let Some((_, digest)) = digests.first() {
            spool.keep(&spool::name(digest, &before), size);
        } else {
            spool.discard();
        }
    }
    (extras.progress)(1, 0);
    Ok(Hashed { digests, size })
}

fn changed(before: &Metadata, after: &Metadata) -> bool {
    before.len() != after.len() || before.modified().ok() != after.modified().ok()
}

/// A file being written to the spool. The spool only saves a later read of the source, so a
/// failure to write it is not an error: the file is dropped from the spool and its copy
/// reads the source.
struct SpoolFile<'a> {
    spool: &'a Spool<'a>,
    temp: String,
    writer: Option<Box<dyn StorageWriter>>,
}

impl<'a> SpoolFile<'a> {
    fn create(spool: &'a Spool<'a>) -> Option<SpoolFile<'a>> {
        let temp = spool.temp();
        let writer = spool.fs().create(&temp).ok()?;
        Some(SpoolFile {
            spool,
            temp,
            writer: Some(writer),
        })
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(writer) = &mut self.writer
            && writer.write_all(bytes).is_err()
        {
            self.writer = None;
        }
    }

    /// Gives the complete file its `name` ([`spool::name`]).
    fn keep(mut self, name: &str, size: u64) {
        let written = self
            .writer
            .take()
            .is_some_and(|mut writer| writer.flush().is_ok() && writer.finish().is_ok());
        let fs = self.spool.fs();
        let name = format!("{}/{name}", self.spool.dir());
        if written && fs.rename(&self.temp, &name).is_ok() {
            if size >= EARLY_WRITEBACK_BYTES {
                fs.start_writeback(&name);
            }
        } else {
            let _ = fs.remove(&self.temp);
        }
    }

    fn discard(mut self) {
        self.writer = None;
        let _ = self.spool.fs().remove(&self.temp);
    }
}
