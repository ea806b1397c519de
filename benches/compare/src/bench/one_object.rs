//! `bench validate --root-shape one-object`: a storage root holding one large object built by
//! rocfl 1.7 as a user would (layout 0003, `new`, `cp -r` of the 'many' profile's files,
//! `commit`), the common case for datasets and web archives (issue 19, target 2).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::generate::{self, Generated, MANY_ID, Profile};
use super::prng::SplitMix64;

/// The layout rocfl is told to use: ids hashed, with the id kept readable in the path.
pub const LAYOUT: &str = "0003-hash-and-id-n-tuple-storage-layout";

/// Writes the 'many' profile's files (`profile.many_files` of 1-4 KiB, the same bytes as the
/// 'many' object of the other shape) into `source`, then has rocfl build `root` (absent or
/// empty) from them as one version of [`MANY_ID`].
pub fn build(
    rocfl: &Path,
    root: &Path,
    source: &Path,
    profile: Profile,
    seed: u64,
) -> anyhow::Result<Generated> {
    let files = generate::many_files_version(&mut SplitMix64::new(seed), profile.many_files);
    for (path, bytes) in &files {
        let file = source.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
    }
    if root.exists() {
        anyhow::ensure!(
            std::fs::read_dir(root)?.next().is_none(),
            "{} is not empty; the benchmark root must be generated into an empty directory",
            root.display()
        );
        // rocfl creates the root itself.
        std::fs::remove_dir(root)?;
    }
    let rocfl_in = |args: &[OsString]| -> anyhow::Result<()> {
        let output = Command::new(rocfl)
            .arg("-r")
            .arg(root)
            .args(args)
            .output()
            .with_context(|| format!("running {}", rocfl.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "rocfl {args:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    };
    rocfl_in(&["init".into(), "-l".into(), LAYOUT.into()])?;
    rocfl_in(&["new".into(), MANY_ID.into()])?;
    let mut copy: Vec<OsString> = vec!["cp".into(), "-r".into(), MANY_ID.into()];
    copy.extend(top_entries(source)?);
    copy.extend(["--".into(), "/".into()]);
    rocfl_in(&copy)?;
    rocfl_in(&[
        "commit".into(),
        MANY_ID.into(),
        "-m".into(),
        "v1".into(),
        "-n".into(),
        "bench".into(),
        "-a".into(),
        "mailto:bench@example.org".into(),
    ])?;
    Ok(content_of(files.values()))
}

/// One object whose content files are these bytes, each stored once (rocfl deduplicates).
fn content_of<'a>(files: impl Iterator<Item = &'a Vec<u8>>) -> Generated {
    let distinct: BTreeSet<&[u8]> = files.map(Vec::as_slice).collect();
    Generated {
        objects: 1,
        content_files: distinct.len(),
        content_bytes: distinct.iter().map(|b| b.len() as u64).sum(),
    }
}

/// The entries directly under `dir`, as full paths, sorted.
fn top_entries(dir: &Path) -> anyhow::Result<Vec<OsString>> {
    let mut entries: Vec<OsString> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path().into_os_string()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use ocfl_core::storage::LocalStorage;
    use ocfl_core::validate::{ValidationOptions, validate_storage_root};

    #[test]
    fn duplicates_are_counted_once() {
        let files = [vec![1u8, 2], vec![3], vec![1, 2]];
        let generated = content_of(files.iter());
        assert_eq!(generated.content_files, 2);
        assert_eq!(generated.content_bytes, 3);
    }

    /// rocfl, when installed, builds a valid root of one object holding every file.
    #[test]
    fn rocfl_builds_one_valid_object_when_installed() {
        let Some(rocfl) = crate::bench::rocfl_program() else {
            eprintln!("rocfl is not installed; nothing to check");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let source = dir.path().join("source");
        let profile = Profile {
            many_files: 40,
            small_objects: 0,
        };
        let generated = build(&rocfl, &root, &source, profile, 7).unwrap();
        assert_eq!(generated.objects, 1);
        let report =
            validate_storage_root(&LocalStorage::new(&root), &ValidationOptions::default());
        assert!(report.is_valid(), "{report:?}");
        assert_eq!(report.objects.len(), 1);
        let layout = std::fs::read_to_string(root.join("ocfl_layout.json")).unwrap();
        assert!(layout.contains(LAYOUT), "{layout}");
    }
}
