//! The design's 'mixed' content profile: a realistic mix of about 500 MiB, as a digitised
//! collection looks - thousands of small metadata and text files, a few hundred images of
//! tens of KiB to a few MiB, and a few large media files - spread over item directories.

use std::path::Path;

use anyhow::Context;

use super::tree::write_random_file;
use crate::bench::prng::SplitMix64;
use crate::bench::source::SourceTree;

/// Files of one kind: how many, their size range and where they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeClass {
    pub count: usize,
    /// Sizes are drawn uniformly from `min..=max` bytes.
    pub min: u64,
    pub max: u64,
    /// The file name pattern inside an item (or under `media/`): `{n}` is the file number.
    pub name: &'static str,
}

/// The whole mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mixed {
    /// Item directories the small and medium files are spread over.
    pub items: usize,
    pub classes: [SizeClass; 4],
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

impl Mixed {
    /// About 500 MiB: 4,000 files of 100 B-16 KiB (~32 MiB), 300 of 64 KiB-2 MiB
    /// (~310 MiB), 4 of 16-64 MiB (~160 MiB), over 200 items.
    pub const FULL: Mixed = Mixed {
        items: 200,
        classes: [
            SizeClass {
                count: 2_500,
                min: 100,
                max: 16 * KIB,
                name: "text/page-{n}.txt",
            },
            SizeClass {
                count: 1_500,
                min: 100,
                max: 16 * KIB,
                name: "metadata/record-{n}.xml",
            },
            SizeClass {
                count: 300,
                min: 64 * KIB,
                max: 2 * MIB,
                name: "images/scan-{n}.tif",
            },
            SizeClass {
                count: 4,
                min: 16 * MIB,
                max: 64 * MIB,
                name: "media/video-{n}.mp4",
            },
        ],
    };

    /// A tenth of everything (about 50 MiB), for quick runs.
    pub const SMALL: Mixed = Mixed {
        items: 20,
        classes: [
            SizeClass {
                count: 250,
                ..Mixed::FULL.classes[0]
            },
            SizeClass {
                count: 150,
                ..Mixed::FULL.classes[1]
            },
            SizeClass {
                count: 30,
                ..Mixed::FULL.classes[2]
            },
            SizeClass {
                count: 4,
                min: 16 * MIB / 10,
                max: 64 * MIB / 10,
                name: "media/video-{n}.mp4",
            },
        ],
    };
}

/// Writes `mix` into `dir` (which must be empty or absent) from `seed`. Media files go to
/// `media/` at the top; the others to `item-NNNN/` directories chosen at random.
pub fn generate_mixed(dir: &Path, mix: Mixed, seed: u64) -> anyhow::Result<SourceTree> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    anyhow::ensure!(
        std::fs::read_dir(dir)?.next().is_none(),
        "{} is not empty; a source tree must be generated into an empty directory",
        dir.display()
    );
    let mut rng = SplitMix64::new(seed);
    let mut tree = SourceTree::default();
    for class in mix.classes {
        for n in 0..class.count {
            let name = class.name.replace("{n}", &format!("{n:05}"));
            let relative = if name.starts_with("media/") {
                name
            } else {
                let item = rng.range_usize(0, mix.items.saturating_sub(1));
                format!("item-{item:04}/{name}")
            };
            let size = rng.range(class.min, class.max);
            write_random_file(&dir.join(relative), size, &mut rng)?;
            tree.files += 1;
            tree.bytes += size;
        }
    }
    Ok(tree)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::bench::commit::tree::{contents, list_files, tree_of};

    const TINY: Mixed = Mixed {
        items: 3,
        classes: [
            SizeClass {
                count: 20,
                min: 1,
                max: 300,
                name: "text/page-{n}.txt",
            },
            SizeClass {
                count: 5,
                min: 1,
                max: 300,
                name: "metadata/record-{n}.xml",
            },
            SizeClass {
                count: 4,
                min: 1000,
                max: 5000,
                name: "images/scan-{n}.tif",
            },
            SizeClass {
                count: 2,
                min: 3 * MIB,
                max: 3 * MIB + 10,
                name: "media/video-{n}.mp4",
            },
        ],
    };

    #[test]
    fn the_same_seed_gives_the_same_tree_and_another_seed_another() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let tree = generate_mixed(a.path(), TINY, 5).unwrap();
        assert_eq!(generate_mixed(b.path(), TINY, 5).unwrap(), tree);
        generate_mixed(c.path(), TINY, 6).unwrap();
        let first = contents(a.path());
        assert_eq!(first, contents(b.path()));
        assert_ne!(first, contents(c.path()));
    }

    #[test]
    fn every_class_has_its_count_sizes_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let tree = generate_mixed(dir.path(), TINY, 5).unwrap();
        let files = list_files(dir.path()).unwrap();
        assert_eq!(tree_of(&files), tree);
        assert_eq!(tree.files, 31);
        for class in TINY.classes {
            let pattern = class.name.split("{n}").next().unwrap();
            let members: Vec<_> = files.iter().filter(|f| f.path.contains(pattern)).collect();
            assert_eq!(members.len(), class.count, "{pattern}");
            for f in members {
                assert!((class.min..=class.max).contains(&f.size), "{f:?}");
                let in_item = f
                    .path
                    .strip_prefix("item-")
                    .and_then(|rest| rest.get(..4)?.parse::<usize>().ok())
                    .is_some_and(|item| item < TINY.items);
                assert_eq!(in_item, !pattern.starts_with("media/"), "{f:?}");
            }
        }
    }

    #[test]
    fn the_full_mix_is_about_500_mib() {
        // Expected sizes from the class ranges (uniform draws): the profile's promise.
        let expected: u64 = Mixed::FULL
            .classes
            .iter()
            .map(|c| c.count as u64 * (c.min + c.max) / 2)
            .sum();
        assert!((450 * MIB..=550 * MIB).contains(&expected), "{expected}");
        let small: u64 = Mixed::SMALL
            .classes
            .iter()
            .map(|c| c.count as u64 * (c.min + c.max) / 2)
            .sum();
        assert!((40 * MIB..=60 * MIB).contains(&small), "{small}");
    }
}
