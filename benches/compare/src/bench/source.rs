//! Deterministic source trees for `bench stage`: the design's 'many' and 'large' content
//! profiles as plain directories (what a depositor hands to a commit), not OCFL objects.
//!
//! 'many' is the same file set as the 'many' object of the validation benchmark (same
//! generator, same seed), so both benchmarks read the same bytes.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::generate::{SEED, many_files_version};
use super::prng::SplitMix64;

/// A content profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceProfile {
    /// `files` files of 1-4 KiB in nested directories.
    Many { files: usize },
    /// `files` files of `bytes` bytes each.
    Large { files: usize, bytes: u64 },
}

impl SourceProfile {
    /// The design's 'many': 20,000 files of 1-4 KiB.
    pub const MANY: SourceProfile = SourceProfile::Many { files: 20_000 };
    /// The design's 'large': 8 files of 64 MiB.
    pub const LARGE: SourceProfile = SourceProfile::Large {
        files: 8,
        bytes: 64 << 20,
    };

    /// The profile's name in tables and JSON.
    pub fn key(self) -> &'static str {
        match self {
            SourceProfile::Many { .. } => "many",
            SourceProfile::Large { .. } => "large",
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceTree {
    /// Regular files written.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
}

/// Writes `profile` into `dir` (created if missing; it must be empty), from `seed`.
pub fn generate_source(
    dir: &Path,
    profile: SourceProfile,
    seed: u64,
) -> anyhow::Result<SourceTree> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "{} is not empty; a source tree must be generated into an empty directory",
            dir.display()
        );
    }
    match profile {
        SourceProfile::Many { files } => write_many(dir, files, seed),
        SourceProfile::Large { files, bytes } => write_large(dir, files, bytes, seed),
    }
}

/// The seed of a profile's source tree: 'many' uses the validation benchmark's own seed so
/// that its files are that benchmark's 'many' object; 'large' another stream.
pub fn seed_of(profile: SourceProfile) -> u64 {
    match profile {
        SourceProfile::Many { .. } => SEED,
        SourceProfile::Large { .. } => SEED ^ 0x00A1_A26E,
    }
}

fn write_many(dir: &Path, count: usize, seed: u64) -> anyhow::Result<SourceTree> {
    let mut rng = SplitMix64::new(seed);
    let mut tree = SourceTree::default();
    for (logical, bytes) in many_files_version(&mut rng, count) {
        let path = dir.join(&logical);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        tree.files += 1;
        tree.bytes += bytes.len() as u64;
    }
    Ok(tree)
}

/// Streams each file in 1 MiB chunks: the data never has to fit in memory.
fn write_large(dir: &Path, count: usize, size: u64, seed: u64) -> anyhow::Result<SourceTree> {
    const CHUNK: u64 = 1 << 20;
    let mut rng = SplitMix64::new(seed);
    let mut chunk = vec![0u8; CHUNK as usize];
    for index in 0..count {
        let path = dir.join(format!("large-{index:02}.bin"));
        let mut file =
            File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut left = size;
        while left > 0 {
            // At most CHUNK, which is a usize.
            let n = left.min(CHUNK) as usize;
            rng.fill(&mut chunk[..n]);
            file.write_all(&chunk[..n])
                .with_context(|| format!("writing {}", path.display()))?;
            left -= n as u64;
        }
    }
    Ok(SourceTree {
        files: count,
        bytes: size * count as u64,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    /// (relative path, bytes) of every file under `dir`, sorted.
    fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(base, &path, out);
                } else {
                    let relative = path.strip_prefix(base).unwrap();
                    out.push((relative.to_str().unwrap().into(), fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    const TINY: [SourceProfile; 2] = [
        SourceProfile::Many { files: 200 },
        SourceProfile::Large {
            files: 3,
            bytes: (1 << 20) + 5,
        },
    ];

    #[test]
    fn the_same_seed_gives_the_same_tree_and_another_seed_another() {
        for profile in TINY {
            let (a, b, c) = (
                tempfile::tempdir().unwrap(),
                tempfile::tempdir().unwrap(),
                tempfile::tempdir().unwrap(),
            );
            let seed = seed_of(profile);
            let generated = generate_source(a.path(), profile, seed).unwrap();
            assert_eq!(generate_source(b.path(), profile, seed).unwrap(), generated);
            let first = contents(a.path());
            assert_eq!(first, contents(b.path()), "{}", profile.key());
            generate_source(c.path(), profile, seed + 1).unwrap();
            assert_ne!(first, contents(c.path()), "{}", profile.key());
        }
    }

    #[test]
    fn trees_have_the_profile_shape_and_the_reported_size() {
        for profile in TINY {
            let dir = tempfile::tempdir().unwrap();
            let generated = generate_source(dir.path(), profile, seed_of(profile)).unwrap();
            let files = contents(dir.path());
            assert_eq!(files.len(), generated.files, "{}", profile.key());
            let total: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
            assert_eq!(total, generated.bytes, "{}", profile.key());
            match profile {
                SourceProfile::Many { files: count } => {
                    assert_eq!(files.len(), count);
                    assert!(files.iter().all(|(_, b)| (1024..=4096).contains(&b.len())));
                    assert!(files.iter().any(|(p, _)| p.matches('/').count() >= 2));
                }
                SourceProfile::Large {
                    files: count,
                    bytes,
                } => {
                    assert_eq!(files.len(), count);
                    assert!(files.iter().all(|(_, b)| b.len() as u64 == bytes));
                    // Each file is its own stream of the generator: no two are alike.
                    assert_ne!(files[0].1, files[1].1);
                }
            }
        }
    }

    #[test]
    fn refuses_a_non_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("stray"), "x").unwrap();
        assert!(generate_source(dir.path(), TINY[0], 1).is_err());
    }
}
