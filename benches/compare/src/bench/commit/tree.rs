//! File-tree helpers for the commit benchmark: random files written in chunks (the data
//! never has to fit in memory), a sorted listing of a tree, and the uniform trees of the
//! memory mode (`--files N`).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::bench::prng::SplitMix64;
use crate::bench::source::SourceTree;

/// Bytes generated and written at a time.
const CHUNK: u64 = 1 << 20;

/// Writes `size` pseudo-random bytes from `rng` to `path` (replacing it), creating its
/// parent directories.
pub fn write_random_file(path: &Path, size: u64, rng: &mut SplitMix64) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    // At most CHUNK, which is a usize.
    let mut chunk = vec![0u8; size.min(CHUNK) as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK) as usize;
        rng.fill(&mut chunk[..n]);
        file.write_all(&chunk[..n])
            .with_context(|| format!("writing {}", path.display()))?;
        left -= n as u64;
    }
    Ok(())
}

/// A regular file of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Relative to the tree, `/`-separated.
    pub path: String,
    pub size: u64,
}

/// Every regular file under `dir`, sorted by path.
pub fn list_files(dir: &Path) -> anyhow::Result<Vec<Listed>> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<Listed>) -> anyhow::Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name
                .to_str()
                .with_context(|| format!("a name that is not UTF-8 in {}", dir.display()))?;
            let path = format!("{prefix}{name}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(&entry.path(), &format!("{path}/"), out)?;
            } else if kind.is_file() {
                out.push(Listed {
                    path,
                    size: entry.metadata()?.len(),
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The total of a listing.
pub fn tree_of(files: &[Listed]) -> SourceTree {
    SourceTree {
        files: files.len(),
        bytes: files.iter().map(|f| f.size).sum(),
    }
}

/// Files per directory in a uniform tree.
const PER_DIRECTORY: usize = 100;

/// The memory mode's tree: `count` files of exactly `size` bytes, each its own random
/// content (no deduplication), 100 to a directory two levels deep
/// (`dNN/dNN/file-NNNNNN.dat`), written into `dir`, which must be empty or absent.
pub fn generate_uniform(
    dir: &Path,
    count: usize,
    size: u64,
    seed: u64,
) -> anyhow::Result<SourceTree> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    anyhow::ensure!(
        fs::read_dir(dir)?.next().is_none(),
        "{} is not empty; a source tree must be generated into an empty directory",
        dir.display()
    );
    let mut rng = SplitMix64::new(seed);
    for n in 0..count {
        let directory = n / PER_DIRECTORY;
        let path = dir.join(format!(
            "d{:02}/d{:02}/file-{n:06}.dat",
            directory / 100,
            directory % 100
        ));
        write_random_file(&path, size, &mut rng)?;
    }
    Ok(SourceTree {
        files: count,
        bytes: size * count as u64,
    })
}

/// (path, bytes) of every file of a tree, sorted: for tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
pub fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    list_files(dir)
        .unwrap()
        .into_iter()
        .map(|f| {
            let bytes = fs::read(dir.join(&f.path)).unwrap();
            (f.path, bytes)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn random_files_have_the_size_asked_and_follow_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let size = CHUNK * 2 + 3;
        write_random_file(&dir.path().join("a/b/one"), size, &mut SplitMix64::new(1)).unwrap();
        write_random_file(&dir.path().join("two"), size, &mut SplitMix64::new(1)).unwrap();
        write_random_file(&dir.path().join("three"), size, &mut SplitMix64::new(2)).unwrap();
        write_random_file(&dir.path().join("empty"), 0, &mut SplitMix64::new(2)).unwrap();
        let one = fs::read(dir.path().join("a/b/one")).unwrap();
        assert_eq!(one.len() as u64, size);
        assert_eq!(one, fs::read(dir.path().join("two")).unwrap());
        assert_ne!(one, fs::read(dir.path().join("three")).unwrap());
        // The chunks are not repeats of one another.
        assert_ne!(one[..16], one[CHUNK as usize..CHUNK as usize + 16]);
        let listed = list_files(dir.path()).unwrap();
        let paths: Vec<&str> = listed.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a/b/one", "empty", "three", "two"]);
        assert_eq!(tree_of(&listed).bytes, 3 * size);
    }

    #[test]
    fn uniform_trees_are_deterministic_and_shaped_as_asked() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let tree = generate_uniform(a.path(), 250, 100, 7).unwrap();
        assert_eq!(
            tree,
            SourceTree {
                files: 250,
                bytes: 25_000
            }
        );
        generate_uniform(b.path(), 250, 100, 7).unwrap();
        generate_uniform(c.path(), 250, 100, 8).unwrap();
        let first = contents(a.path());
        assert_eq!(first, contents(b.path()));
        assert_ne!(first, contents(c.path()));
        assert_eq!(first.len(), 250);
        assert!(first.iter().all(|(_, bytes)| bytes.len() == 100));
        assert_eq!(first[0].0, "d00/d00/file-000000.dat");
        assert_eq!(first[249].0, "d00/d02/file-000249.dat");
        // Every file its own content.
        let distinct: std::collections::HashSet<&Vec<u8>> = first.iter().map(|(_, b)| b).collect();
        assert_eq!(distinct.len(), 250);
        assert!(generate_uniform(a.path(), 1, 1, 1).is_err());
    }
}
