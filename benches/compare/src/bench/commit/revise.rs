//! The v2 source of a profile: a copy of the v1 tree in which 5% of the files are changed
//! (new content, same size), 5% removed and as many added (sizes of existing files, in
//! existing directories), chosen deterministically from a seed.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use anyhow::Context;

use super::tree::{Listed, list_files, tree_of, write_random_file};
use crate::bench::prng::SplitMix64;
use crate::bench::source::SourceTree;

/// The share of files changed, and of files removed, and the number added relative to v1.
pub const PERCENT: usize = 5;

/// What distinguishes v2 from v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// Paths (relative, `/`-separated, sorted) whose content differs.
    pub changed: Vec<String>,
    /// Paths only in v2.
    pub added: Vec<String>,
    /// Paths only in v1.
    pub removed: Vec<String>,
    /// The v2 tree.
    pub tree: SourceTree,
}

/// How many files of `total` each kind of change touches: 5% rounded, at least one.
pub fn changes_for(total: usize) -> usize {
    ((total * PERCENT + 50) / 100).max(1)
}

/// Writes into `v2` (which must be empty or absent) the revision of the tree in `v1`.
pub fn revise(v1: &Path, v2: &Path, seed: u64) -> anyhow::Result<Revision> {
    fs::create_dir_all(v2).with_context(|| format!("creating {}", v2.display()))?;
    anyhow::ensure!(
        fs::read_dir(v2)?.next().is_none(),
        "{} is not empty; a source tree must be generated into an empty directory",
        v2.display()
    );
    let files = list_files(v1)?;
    let k = changes_for(files.len());
    anyhow::ensure!(
        2 * k <= files.len(),
        "{} has {} files, too few to change and remove {k} each",
        v1.display(),
        files.len()
    );
    let mut rng = SplitMix64::new(seed);

    // The first k of a partial shuffle are changed, the next k removed.
    let mut order: Vec<usize> = (0..files.len()).collect();
    for i in 0..2 * k {
        let j = rng.range_usize(i, files.len() - 1);
        order.swap(i, j);
    }
    let mut changed: Vec<String> = order[..k].iter().map(|&i| files[i].path.clone()).collect();
    let mut removed: Vec<String> = order[k..2 * k]
        .iter()
        .map(|&i| files[i].path.clone())
        .collect();
    changed.sort();
    removed.sort();

    let gone: HashSet<&str> = removed.iter().map(String::as_str).collect();
    for file in files.iter().filter(|f| !gone.contains(f.path.as_str())) {
        let target = v2.join(&file.path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(v1.join(&file.path), &target).with_context(|| format!("copying {}", file.path))?;
    }
    for &i in &order[..k] {
        // New bytes of the same size (an empty file gets one byte, or it could not differ).
        write_random_file(&v2.join(&files[i].path), files[i].size.max(1), &mut rng)?;
    }

    let existing: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut added = Vec::with_capacity(k);
    for n in 0..k {
        let beside: &Listed = &files[rng.range_usize(0, files.len() - 1)];
        let size = files[rng.range_usize(0, files.len() - 1)].size;
        let path = match beside.path.rsplit_once('/') {
            Some((parent, _)) => format!("{parent}/added-{n:05}.dat"),
            None => format!("added-{n:05}.dat"),
        };
        anyhow::ensure!(
            !existing.contains(path.as_str()),
            "{path} already exists in {}",
            v1.display()
        );
        write_random_file(&v2.join(&path), size, &mut rng)?;
        added.push(path);
    }
    added.sort();
    Ok(Revision {
        changed,
        added,
        removed,
        tree: tree_of(&list_files(v2)?),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::bench::commit::tree::{contents, generate_uniform};

    #[test]
    fn five_percent_rounded_and_at_least_one() {
        assert_eq!(changes_for(20_000), 1_000);
        assert_eq!(changes_for(8), 1);
        assert_eq!(changes_for(30), 2);
        assert_eq!(changes_for(1), 1);
    }

    #[test]
    fn v2_is_v1_with_exactly_the_reported_changes() {
        let (v1, v2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        generate_uniform(v1.path(), 120, 64, 3).unwrap();
        let revision = revise(v1.path(), v2.path(), 11).unwrap();
        assert_eq!(revision.changed.len(), 6);
        assert_eq!(revision.removed.len(), 6);
        assert_eq!(revision.added.len(), 6);
        assert_eq!(revision.tree.files, 120);

        let before: BTreeMap<String, Vec<u8>> = contents(v1.path()).into_iter().collect();
        let after: BTreeMap<String, Vec<u8>> = contents(v2.path()).into_iter().collect();
        for (path, bytes) in &before {
            match after.get(path) {
                None => assert!(revision.removed.contains(path), "{path} vanished"),
                Some(new) if new != bytes => {
                    assert!(revision.changed.contains(path), "{path} changed");
                    assert_eq!(new.len(), bytes.len());
                }
                Some(_) => assert!(!revision.changed.contains(path), "{path} unchanged"),
            }
        }
        for path in after.keys().filter(|p| !before.contains_key(*p)) {
            assert!(revision.added.contains(path), "{path} appeared");
            assert!(path.starts_with('d') && path.contains("/added-"), "{path}");
        }
        assert!(revision.changed.iter().all(|p| after.contains_key(p)));
        assert!(revision.removed.iter().all(|p| !after.contains_key(p)));
        assert!(revision.added.iter().all(|p| after.contains_key(p)));
        assert_eq!(
            revision.tree.bytes,
            after.values().map(|b| b.len() as u64).sum::<u64>()
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_revision_and_another_seed_another() {
        let v1 = tempfile::tempdir().unwrap();
        generate_uniform(v1.path(), 60, 10, 3).unwrap();
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let first = revise(v1.path(), a.path(), 1).unwrap();
        assert_eq!(revise(v1.path(), b.path(), 1).unwrap(), first);
        assert_eq!(contents(a.path()), contents(b.path()));
        let other = revise(v1.path(), c.path(), 2).unwrap();
        assert_ne!(
            (&other.changed, &other.removed),
            (&first.changed, &first.removed)
        );
    }

    #[test]
    fn a_tree_too_small_is_refused() {
        let (v1, v2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        generate_uniform(v1.path(), 1, 10, 3).unwrap();
        assert!(revise(v1.path(), v2.path(), 1).is_err());
    }
}
