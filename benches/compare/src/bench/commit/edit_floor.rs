//! The edit mode's floor (`ocfl-bench-compare bench edit-floor-once`): the least any OCFL
//! writer must do to change a few files of an existing object, timed as its own process.
//!
//! It reads and parses the root inventory (a plain `serde_json::Value`), hashes and copies
//! the added files into the new version's content directory, builds the new version (the
//! head's state with the changes, manifest entries for new digests), serializes the
//! inventory, hashes it once with SHA-512 and writes it and its sidecar twice, into the
//! version directory and (through a temporary file and a rename) the object root, each
//! flushed with `fsync`. Nothing else: no engine, no plan, no check of the object before or
//! after, no refusal of a changed base, no recovery after a crash.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

/// `bench edit-floor-once`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `--add SOURCE PATH`: the file SOURCE at logical PATH (replacing what is there).
    #[arg(long, num_args = 2, value_names = ["SOURCE", "PATH"])]
    add: Vec<String>,
    /// `--remove PATH`: the logical PATH removed from the state.
    #[arg(long, value_name = "PATH")]
    remove: Vec<String>,
    /// The object's root directory.
    object: PathBuf,
}

/// `edit-floor-once ARGS`: writes the next version of OBJECT; prints its name.
pub fn run_once(args: Args) -> anyhow::Result<ExitCode> {
    let added: Vec<(PathBuf, String)> = args
        .add
        .chunks(2)
        .map(|pair| (PathBuf::from(&pair[0]), pair[1].clone()))
        .collect();
    let version = edit_object(&args.object, &added, &args.remove)?;
    println!("{version}");
    Ok(ExitCode::SUCCESS)
}

/// Adds a version to the object at `object`: `added` (source file, logical path) and
/// `removed` (logical paths) applied to the head's state. Returns the new version's name.
pub fn edit_object(
    object: &Path,
    added: &[(PathBuf, String)],
    removed: &[String],
) -> anyhow::Result<String> {
    let root_inventory = object.join("inventory.json");
    let text = fs::read(&root_inventory)
        .with_context(|| format!("reading {}", root_inventory.display()))?;
    let mut inventory: Value = serde_json::from_slice(&text)
        .with_context(|| format!("parsing {}", root_inventory.display()))?;
    drop(text);
    anyhow::ensure!(
        inventory["digestAlgorithm"] == "sha512",
        "only sha512 objects are edited"
    );
    let head = inventory["head"]
        .as_str()
        .context("the inventory has no head")?
        .to_owned();
    let next = next_version(&head)?;
    let content_directory = inventory["contentDirectory"]
        .as_str()
        .unwrap_or("content")
        .to_owned();

    // The head's state without the removed and replaced paths.
    let gone: HashSet<&str> = removed
        .iter()
        .map(String::as_str)
        .chain(added.iter().map(|(_, path)| path.as_str()))
        .collect();
    let mut state: Map<String, Value> = inventory["versions"][&head]["state"]
        .as_object()
        .context("the head version has no state")?
        .clone();
    state.retain(|_, paths| {
        if let Value::Array(list) = paths {
            list.retain(|p| !p.as_str().is_some_and(|p| gone.contains(p)));
            !list.is_empty()
        } else {
            true
        }
    });

    // The added files: hashed, copied (flushed) when their content is new.
    let manifest = inventory["manifest"]
        .as_object_mut()
        .context("the inventory has no manifest")?;
    let mut new_dirs = Vec::new();
    for (source, logical) in added {
        let bytes = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        let digest = hex::encode(Sha512::digest(&bytes));
        if !manifest.contains_key(&digest) {
            let content_path = format!("{next}/{content_directory}/{logical}");
            let target = object.join(&content_path);
            let parent = target.parent().context("a content path has a parent")?;
            if !parent.exists() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                new_dirs.push(parent.to_path_buf());
            }
            write_flushed(&target, &bytes)?;
            manifest.insert(digest.clone(), json!([content_path]));
        }
        match state.get_mut(&digest) {
            Some(Value::Array(paths)) => paths.push(json!(logical)),
            _ => {
                state.insert(digest, json!([logical]));
            }
        }
    }

    let versions = inventory["versions"]
        .as_object_mut()
        .context("the inventory has no versions")?;
    versions.insert(
        next.clone(),
        json!({
            "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "message": next,
            "state": state,
            "user": {"name": "bench", "address": "mailto:bench@example.org"},
        }),
    );
    inventory["head"] = json!(next);

    let bytes = serde_json::to_vec(&inventory)?;
    drop(inventory);
    let sidecar = format!("{} inventory.json\n", hex::encode(Sha512::digest(&bytes)));
    let version_dir = object.join(&next);
    fs::create_dir_all(&version_dir)
        .with_context(|| format!("creating {}", version_dir.display()))?;
    write_flushed(&version_dir.join("inventory.json"), &bytes)?;
    write_flushed(
        &version_dir.join("inventory.json.sha512"),
        sidecar.as_bytes(),
    )?;
    // The new directories' entries, deepest first, then the version directory's.
    new_dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in new_dirs.iter().chain([&version_dir]) {
        sync_dir(dir)?;
    }
    for (name, data) in [
        ("inventory.json", bytes.as_slice()),
        ("inventory.json.sha512", sidecar.as_bytes()),
    ] {
        let temporary = object.join(format!("{name}.tmp"));
        write_flushed(&temporary, data)?;
        fs::rename(&temporary, object.join(name))
            .with_context(|| format!("renaming {}", temporary.display()))?;
    }
    sync_dir(object)?;
    Ok(next)
}

/// `v3` -> `v4`, `v009` -> `v010` (zero-padded names keep their width).
fn next_version(head: &str) -> anyhow::Result<String> {
    let digits = head
        .strip_prefix('v')
        .with_context(|| format!("head {head:?} is not a version"))?;
    let number: u64 = digits
        .parse()
        .with_context(|| format!("head {head:?} is not a version"))?;
    Ok(if digits.starts_with('0') {
        format!("v{:0width$}", number + 1, width = digits.len())
    } else {
        format!("v{}", number + 1)
    })
}

fn write_flushed(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("flushing {}", path.display()))
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing {}", dir.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::bench::commit::check::{expected_state, head_state};
    use crate::bench::generate::{
        generate_many_objects, listed_object_id, object_root_path, write_object,
    };
    use ocfl_core::validate::{ValidationOptions, validate_storage_root};

    #[test]
    fn versions_follow_their_padding() {
        assert_eq!(next_version("v1").unwrap(), "v2");
        assert_eq!(next_version("v9").unwrap(), "v10");
        assert_eq!(next_version("v009").unwrap(), "v010");
        assert!(next_version("x1").is_err());
        assert!(next_version("v").is_err());
    }

    /// The floor's output is a valid object whose head state is the edited tree: otherwise
    /// its row would time less work than an OCFL writer must do.
    #[test]
    fn the_floor_writes_a_valid_next_version_with_the_edited_state() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let id = listed_object_id(7);
        let files: Vec<(String, Vec<u8>)> = (0..20)
            .map(|n| (format!("d{}/f{n:02}.dat", n % 3), vec![n as u8; 10 + n]))
            .collect();
        let expected_dir = dir.path().join("v2");
        // The storage root's files (and one other object), then the object edited.
        generate_many_objects(&root, 1).unwrap();
        let v1 = files.iter().cloned().collect();
        write_object(&root, &id, &[v1], &mut Default::default()).unwrap();
        for (path, bytes) in &files {
            let target = expected_dir.join(path);
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::write(target, bytes).unwrap();
        }
        // Replaced: one with new content, one with content of another file (no copy: the
        // manifest has it); added at a new path in a new directory; two removed.
        let new = dir.path().join("new");
        fs::create_dir_all(&new).unwrap();
        fs::write(new.join("a"), b"brand new content").unwrap();
        fs::write(new.join("b"), &files[5].1).unwrap();
        fs::write(new.join("c"), b"another new file").unwrap();
        let added = vec![
            (new.join("a"), files[0].0.clone()),
            (new.join("b"), files[1].0.clone()),
            (new.join("c"), "e/f/g.txt".to_owned()),
        ];
        let removed = vec![files[2].0.clone(), files[3].0.clone()];
        for (source, path) in &added {
            let target = expected_dir.join(path);
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::copy(source, target).unwrap();
        }
        for path in &removed {
            fs::remove_file(expected_dir.join(path)).unwrap();
        }

        let object = root.join(object_root_path(&id));
        assert_eq!(edit_object(&object, &added, &removed).unwrap(), "v2");

        let storage = ocfl_core::storage::LocalStorage::new(&root);
        let report = validate_storage_root(&storage, &ValidationOptions::default());
        assert!(report.is_valid(), "{report:?}");
        let (head, state) = head_state(&object.join("inventory.json")).unwrap();
        assert_eq!(head, "v2");
        assert_eq!(state, expected_state(&expected_dir).unwrap());
        // Two new contents copied, the third found in the manifest.
        let copied = crate::bench::commit::tree::contents(&object.join("v2/content"));
        assert_eq!(copied.len(), 2);
        assert_eq!(
            fs::read(object.join("v2/inventory.json")).unwrap(),
            fs::read(object.join("inventory.json")).unwrap()
        );
        // No temporary file is left behind.
        assert!(!object.join("inventory.json.tmp").exists());
    }

    #[test]
    fn an_object_without_a_head_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("inventory.json"),
            r#"{"digestAlgorithm":"sha512","manifest":{},"versions":{}}"#,
        )
        .unwrap();
        assert!(edit_object(dir.path(), &[], &[]).is_err());
    }
}
