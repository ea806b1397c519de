//! Hashing one source file: every requested digest and the size in one streaming read, with a
//! check that the file did not change meanwhile.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::Path;

use ocfl_core::digest::{Digest, DigestAlgorithm, MultiDigester, STREAM_BUFFER};

use super::Error;

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

/// Reads `path` once, feeding every algorithm. `between_reads` runs after each chunk: tests
/// use it to change the file mid-read.
pub(super) fn hash_file(
    path: &Path,
    algorithms: &[DigestAlgorithm],
    between_reads: &dyn Fn(),
) -> Result<Hashed, Error> {
    let unreadable = |source: io::Error| Error::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let before = fs::metadata(path).map_err(unreadable)?;
    if !before.is_file() {
        return Err(Error::SpecialFile {
            path: path.to_path_buf(),
        });
    }
    let mut file = File::open(path).map_err(unreadable)?;
    let mut digester = MultiDigester::new(algorithms.iter().copied());
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
    while size < before.len() {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(unreadable(e)),
        };
        digester.update(&buffer[..n]);
        size += n as u64;
        between_reads();
    }
    let after = file.metadata().map_err(unreadable)?;
    if changed(&before, &after) || size != after.len() {
        return Err(Error::Changed {
            path: path.to_path_buf(),
        });
    }
    Ok(Hashed {
        digests: digester.finalize(),
        size,
    })
}

fn changed(before: &Metadata, after: &Metadata) -> bool {
    before.len() != after.len() || before.modified().ok() != after.modified().ok()
}
