//! Deterministic generation of the benchmark storage root: OCFL 1.1, layout
//! `0004-hashed-n-tuple-storage-layout` with its defaults, objects written directly (not
//! through the library, so that a library bug cannot make the data agree with itself; the
//! peer validators are the judges of its validity).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use md5::Md5;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256, Sha512};

use super::prng::SplitMix64;

/// The seed every benchmark root is generated from.
pub const SEED: u64 = 0x0CF1_BE4C_2024_0001;

/// How much data to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Files in the one large object ('many').
    pub many_files: usize,
    /// Small objects of 1-5 files, about a third of them with two versions.
    pub small_objects: usize,
}

impl Profile {
    /// The profile of the design's targets: 20,000 files plus 1,000 small objects.
    pub const FULL: Profile = Profile {
        many_files: 20_000,
        small_objects: 1_000,
    };
    /// A quick profile: 2,000 files plus 100 small objects.
    pub const SMALL: Profile = Profile {
        many_files: 2_000,
        small_objects: 100,
    };
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    /// Objects in the root.
    pub objects: usize,
    /// Content files written (after deduplication).
    pub content_files: usize,
    /// Bytes of content written.
    pub content_bytes: u64,
}

/// The layout extension's name, also its directory under `extensions/`.
pub const LAYOUT_EXTENSION: &str = "0004-hashed-n-tuple-storage-layout";

/// The object root of `id` under 0004 with its defaults (sha256, tupleSize 3, numberOfTuples
/// 3, shortObjectRoot false): three 3-character tuples of the hex digest, then the digest.
pub fn object_root_path(id: &str) -> String {
    let hex = hex::encode(Sha256::digest(id.as_bytes()));
    format!("{}/{}/{}/{}", &hex[0..3], &hex[3..6], &hex[6..9], hex)
}

/// Generates the storage root into `root` (created if missing; it must be empty).
pub fn generate_root(root: &Path, profile: Profile, seed: u64) -> anyhow::Result<Generated> {
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    if fs::read_dir(root)?.next().is_some() {
        anyhow::bail!(
            "{} is not empty; the benchmark root must be generated into an empty directory",
            root.display()
        );
    }
    write_root_files(root)?;

    let mut rng = SplitMix64::new(seed);
    let mut generated = Generated::default();

    let many = many_files_version(&mut rng, profile.many_files);
    write_object(root, MANY_ID, &[many], &mut generated)?;

    for index in 0..profile.small_objects {
        let versions = small_object_versions(&mut rng);
        write_object(
            root,
            &format!("urn:bench:object-{index:05}"),
            &versions,
            &mut generated,
        )?;
    }
    Ok(generated)
}

fn write_root_files(root: &Path) -> anyhow::Result<()> {
    fs::write(root.join("0=ocfl_1.1"), "ocfl_1.1\n")?;
    let layout = json!({
        "extension": LAYOUT_EXTENSION,
        "description": "OCFL object identifiers are hashed and encoded as lowercase hex strings; these digests are divided into N n-tuple segments, used to create nested paths under the OCFL storage root."
    });
    fs::write(root.join("ocfl_layout.json"), to_json(&layout)?)?;
    let config_dir = root.join("extensions").join(LAYOUT_EXTENSION);
    fs::create_dir_all(&config_dir)?;
    let config = json!({
        "extensionName": LAYOUT_EXTENSION,
        "digestAlgorithm": "sha256",
        "tupleSize": 3,
        "numberOfTuples": 3,
        "shortObjectRoot": false
    });
    fs::write(config_dir.join("config.json"), to_json(&config)?)?;
    Ok(())
}

/// One version's full state: logical path -> bytes.
pub type VersionFiles = BTreeMap<String, Vec<u8>>;

/// The id of the large object (ids are URIs, as the specification recommends: W005).
pub const MANY_ID: &str = "urn:bench:many";

/// Fan-out of directories at each depth of the 'many' object: wide at the top, narrower
/// below, so that files share directories as in real collections.
const MANY_FAN_OUT: [usize; 4] = [20, 10, 5, 4];

/// The files of the 'many' profile: `count` files of 1-4 KiB at depth 1 to 4, about 2% of
/// them repeating the previous file's bytes. Also the source tree of `bench stage`.
pub fn many_files_version(rng: &mut SplitMix64, count: usize) -> VersionFiles {
    let mut files = VersionFiles::new();
    let mut previous: Vec<u8> = Vec::new();
    for n in 0..count {
        let depth = rng.range_usize(1, MANY_FAN_OUT.len());
        let mut path = String::new();
        for fan_out in &MANY_FAN_OUT[..depth] {
            path.push_str(&format!("d{:02}/", rng.range_usize(0, fan_out - 1)));
        }
        path.push_str(&format!("file-{n:05}.dat"));
        // About 2% duplicates, so that the manifest deduplicates some content.
        let bytes = if !previous.is_empty() && rng.one_in(50) {
            previous.clone()
        } else {
            random_bytes(rng, 1024, 4096)
        };
        previous.clone_from(&bytes);
        files.insert(path, bytes);
    }
    files
}

/// Logical names a small object draws from (one with a space, some nested).
const SMALL_NAMES: [&str; 8] = [
    "README.txt",
    "data/table.csv",
    "data/notes.md",
    "images/scan-001.tif",
    "images/scan-002.tif",
    "metadata/mets.xml",
    "text/page 1.txt",
    "LICENSE",
];

fn small_object_versions(rng: &mut SplitMix64) -> Vec<VersionFiles> {
    let count = rng.range_usize(1, 5);
    let mut names: Vec<&str> = SMALL_NAMES.to_vec();
    let mut v1 = VersionFiles::new();
    for _ in 0..count {
        let name = names.swap_remove(rng.range_usize(0, names.len() - 1));
        v1.insert(name.to_string(), random_bytes(rng, 1, 8192));
    }
    if !rng.one_in(3) {
        return vec![v1];
    }
    // v2 changes one file, adds one, copies one under a new name (same content: no new
    // content file) and removes one when there are enough.
    let mut v2 = v1.clone();
    let existing: Vec<String> = v2.keys().cloned().collect();
    let changed = &existing[rng.range_usize(0, existing.len() - 1)];
    v2.insert(changed.clone(), random_bytes(rng, 1, 8192));
    let added = names.swap_remove(rng.range_usize(0, names.len() - 1));
    v2.insert(added.to_string(), random_bytes(rng, 1, 8192));
    let copied = &existing[rng.range_usize(0, existing.len() - 1)];
    if let Some(bytes) = v1.get(copied) {
        v2.insert(format!("copies/{copied}"), bytes.clone());
    }
    if existing.len() >= 3 {
        let removed = &existing[rng.range_usize(0, existing.len() - 1)];
        if removed != changed {
            v2.remove(removed);
        }
    }
    vec![v1, v2]
}

fn random_bytes(rng: &mut SplitMix64, min: usize, max: usize) -> Vec<u8> {
    let mut bytes = vec![0; rng.range_usize(min, max)];
    rng.fill(&mut bytes);
    bytes
}

/// The id of object `index` of [`generate_many_objects`].
pub fn listed_object_id(index: usize) -> String {
    format!("urn:bench:object:{index:06}")
}

/// Generates into `root` (created if missing; it must be empty) a storage root of `count`
/// minimal objects, for listing benchmarks: each one version of one small file, with no
/// copy of the inventory in the version directory (a SHOULD of the specification, W010),
/// so that 100,000 objects take 7 inodes each.
pub fn generate_many_objects(root: &Path, count: usize) -> anyhow::Result<Generated> {
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    if fs::read_dir(root)?.next().is_some() {
        anyhow::bail!("{} is not empty", root.display());
    }
    write_root_files(root)?;
    let mut generated = Generated::default();
    for index in 0..count {
        let id = listed_object_id(index);
        let object_dir = root.join(object_root_path(&id));
        fs::create_dir_all(object_dir.join("v1/content"))
            .with_context(|| format!("creating {}", object_dir.display()))?;
        fs::write(object_dir.join("0=ocfl_object_1.1"), "ocfl_object_1.1\n")?;
        let bytes = id.as_bytes();
        fs::write(object_dir.join("v1/content/id.txt"), bytes)?;
        let mut inventory = InventoryBuilder::new(&id);
        let digest = hex::encode(Sha512::digest(bytes));
        inventory
            .manifest
            .insert(digest.clone(), vec!["v1/content/id.txt".to_owned()]);
        inventory.fixity_md5.insert(
            hex::encode(Md5::digest(bytes)),
            vec!["v1/content/id.txt".to_owned()],
        );
        inventory
            .versions
            .push(BTreeMap::from([(digest, vec!["id.txt".to_owned()])]));
        write_inventory(&object_dir, &inventory.to_json()?)?;
        generated.objects += 1;
        generated.content_files += 1;
        generated.content_bytes += bytes.len() as u64;
    }
    Ok(generated)
}

/// Writes one object with `versions` (v1, v2, ...), each given as its full state.
pub(crate) fn write_object(
    root: &Path,
    id: &str,
    versions: &[VersionFiles],
    generated: &mut Generated,
) -> anyhow::Result<()> {
    let object_dir = root.join(object_root_path(id));
    fs::create_dir_all(&object_dir)?;
    fs::write(object_dir.join("0=ocfl_object_1.1"), "ocfl_object_1.1\n")?;

    let mut inventory = InventoryBuilder::new(id);
    let mut made_dirs = HashSet::new();
    let mut last_inventory = Vec::new();
    for (index, files) in versions.iter().enumerate() {
        let version = format!("v{}", index + 1);
        let mut state: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (logical, bytes) in files {
            let digest = hex::encode(Sha512::digest(bytes));
            if !inventory.manifest.contains_key(&digest) {
                let content_path = format!("{version}/content/{logical}");
                write_file(&object_dir, &content_path, bytes, &mut made_dirs)?;
                let md5 = hex::encode(Md5::digest(bytes));
                inventory
                    .fixity_md5
                    .entry(md5)
                    .or_default()
                    .push(content_path.clone());
                inventory
                    .manifest
                    .insert(digest.clone(), vec![content_path]);
                generated.content_files += 1;
                generated.content_bytes += bytes.len() as u64;
            }
            state.entry(digest).or_default().push(logical.clone());
        }
        inventory.versions.push(state);
        // Each version directory keeps the inventory as it was when that version was made.
        last_inventory = inventory.to_json()?;
        write_inventory(&object_dir.join(&version), &last_inventory)?;
    }
    write_inventory(&object_dir, &last_inventory)?;
    generated.objects += 1;
    Ok(())
}

fn write_file(
    object_dir: &Path,
    relative: &str,
    bytes: &[u8],
    made_dirs: &mut HashSet<PathBuf>,
) -> anyhow::Result<()> {
    let path = object_dir.join(relative);
    if let Some(parent) = path.parent()
        && made_dirs.insert(parent.to_path_buf())
    {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// `inventory.json` and its sidecar `inventory.json.sha512` into `dir`.
fn write_inventory(dir: &Path, inventory: &[u8]) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join("inventory.json"), inventory)?;
    let sidecar = format!(
        "{} inventory.json\n",
        hex::encode(Sha512::digest(inventory))
    );
    fs::write(dir.join("inventory.json.sha512"), sidecar)?;
    Ok(())
}

/// The growing inventory of one object; versions are states digest -> logical paths.
struct InventoryBuilder {
    id: String,
    manifest: BTreeMap<String, Vec<String>>,
    fixity_md5: BTreeMap<String, Vec<String>>,
    versions: Vec<BTreeMap<String, Vec<String>>>,
}

impl InventoryBuilder {
    fn new(id: &str) -> InventoryBuilder {
        InventoryBuilder {
            id: id.to_string(),
            manifest: BTreeMap::new(),
            fixity_md5: BTreeMap::new(),
            versions: Vec::new(),
        }
    }

    /// The inventory with `head` the latest version so far.
    fn to_json(&self) -> anyhow::Result<Vec<u8>> {
        let mut versions = Map::new();
        for (index, state) in self.versions.iter().enumerate() {
            let number = index + 1;
            versions.insert(
                format!("v{number}"),
                json!({
                    "created": format!("2024-01-{number:02}T12:00:00Z"),
                    "message": format!("benchmark version {number}"),
                    "user": { "name": "OCFL bench", "address": "mailto:bench@example.org" },
                    "state": state,
                }),
            );
        }
        let inventory = json!({
            "id": self.id,
            "type": "https://ocfl.io/1.1/spec/#inventory",
            "digestAlgorithm": "sha512",
            "head": format!("v{}", self.versions.len()),
            "manifest": self.manifest,
            "versions": versions,
            "fixity": { "md5": self.fixity_md5 },
        });
        to_json(&inventory)
    }
}

fn to_json(value: &Value) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    /// Every file under `dir`, as '/'-separated paths relative to it, sorted.
    fn files_under(dir: &Path) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(base, &path, out);
                } else {
                    let relative = path.strip_prefix(base).unwrap();
                    let parts: Vec<_> = relative.iter().map(|p| p.to_str().unwrap()).collect();
                    out.push(parts.join("/"));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    fn sidecar_matches(dir: &Path) -> bool {
        let bytes = fs::read(dir.join("inventory.json")).unwrap();
        let sidecar = fs::read_to_string(dir.join("inventory.json.sha512")).unwrap();
        sidecar == format!("{} inventory.json\n", hex::encode(Sha512::digest(&bytes)))
    }

    #[test]
    fn many_minimal_objects_are_valid_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let generated = generate_many_objects(&root, 3).unwrap();
        assert_eq!(generated.objects, 3);
        let storage = ocfl_core::storage::LocalStorage::new(&root);
        let report = ocfl_core::validate::validate_storage_root(
            &storage,
            &ocfl_core::validate::ValidationOptions::default(),
        );
        assert!(report.is_valid(), "{report:?}");
        assert_eq!(report.objects.len(), 3);
        let listed = ocfl_core::object::StorageRoot::open(&storage)
            .unwrap()
            .open_object(&listed_object_id(2))
            .unwrap();
        assert_eq!(listed.head().to_string(), "v1");
    }

    #[test]
    fn object_root_path_reproduces_the_extension_vectors_for_the_defaults() {
        let vectors = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/extensions/VECTORS.tsv"),
        )
        .unwrap();
        let mut checked = 0;
        for line in vectors.lines() {
            let columns: Vec<&str> = line.split('\t').collect();
            if columns[0] == "0004"
                && columns[3].contains("\"tupleSize\":3,\"numberOfTuples\":3")
                && columns[3].contains("\"shortObjectRoot\":false")
                && columns[3].contains("sha256")
            {
                assert_eq!(object_root_path(columns[2]), columns[5], "{}", columns[2]);
                checked += 1;
            }
        }
        assert_eq!(checked, 2, "the default-configuration rows of VECTORS.tsv");
    }

    #[test]
    fn small_root_is_self_consistent() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        let generated = generate_root(root, Profile::SMALL, SEED).unwrap();
        assert_eq!(generated.objects, 1 + Profile::SMALL.small_objects);

        assert_eq!(
            fs::read_to_string(root.join("0=ocfl_1.1")).unwrap(),
            "ocfl_1.1\n"
        );
        let all_files = files_under(root);
        let object_dirs: Vec<&str> = all_files
            .iter()
            .filter_map(|f| f.strip_suffix("/0=ocfl_object_1.1"))
            .collect();
        assert_eq!(object_dirs.len(), generated.objects);

        let mut content_files = 0;
        let mut two_version_objects = 0;
        for object in object_dirs {
            let dir = root.join(object);
            assert!(sidecar_matches(&dir), "{object}");
            let root_inventory = fs::read(dir.join("inventory.json")).unwrap();
            let inventory: Value = serde_json::from_slice(&root_inventory).unwrap();
            let id = inventory["id"].as_str().unwrap();
            assert_eq!(object_root_path(id), object, "layout of {id}");

            // Every version directory has an inventory with a matching sidecar; the head's
            // is byte-identical to the root's.
            let head = inventory["head"].as_str().unwrap();
            let versions = inventory["versions"].as_object().unwrap();
            for version in versions.keys() {
                assert!(sidecar_matches(&dir.join(version)), "{object}/{version}");
            }
            assert_eq!(
                fs::read(dir.join(head).join("inventory.json")).unwrap(),
                root_inventory
            );
            if versions.len() == 2 {
                two_version_objects += 1;
            }

            // The manifest lists exactly the content files, with their sha512; the fixity
            // block gives each its md5.
            let mut listed = Vec::new();
            for (digest, paths) in inventory["manifest"].as_object().unwrap() {
                for path in paths.as_array().unwrap() {
                    let path = path.as_str().unwrap();
                    let bytes = fs::read(dir.join(path)).unwrap();
                    assert_eq!(
                        &hex::encode(Sha512::digest(&bytes)),
                        digest,
                        "{object}/{path}"
                    );
                    listed.push(path.to_string());
                }
            }
            let mut fixity_paths = Vec::new();
            for (md5, paths) in inventory["fixity"]["md5"].as_object().unwrap() {
                for path in paths.as_array().unwrap() {
                    let path = path.as_str().unwrap();
                    let bytes = fs::read(dir.join(path)).unwrap();
                    assert_eq!(&hex::encode(Md5::digest(&bytes)), md5, "{object}/{path}");
                    fixity_paths.push(path.to_string());
                }
            }
            listed.sort();
            fixity_paths.sort();
            let on_disk: Vec<String> = files_under(&dir)
                .into_iter()
                .filter(|f| f.contains("/content/"))
                .collect();
            assert_eq!(listed, on_disk, "{object}");
            assert_eq!(fixity_paths, on_disk, "{object}");
            content_files += on_disk.len();

            // Every state digest is in the manifest.
            for version in versions.values() {
                for digest in version["state"].as_object().unwrap().keys() {
                    assert!(
                        inventory["manifest"].get(digest).is_some(),
                        "{object}: {digest}"
                    );
                }
            }
        }
        assert_eq!(content_files, generated.content_files);
        assert!(two_version_objects > 0, "some objects have two versions");
    }

    #[test]
    fn generation_is_deterministic() {
        let tiny = Profile {
            many_files: 50,
            small_objects: 10,
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        generate_root(a.path(), tiny, SEED).unwrap();
        generate_root(b.path(), tiny, SEED).unwrap();
        let files = files_under(a.path());
        assert_eq!(files, files_under(b.path()));
        for file in &files {
            assert_eq!(
                fs::read(a.path().join(file)).unwrap(),
                fs::read(b.path().join(file)).unwrap(),
                "{file}"
            );
        }
        let c = tempfile::tempdir().unwrap();
        generate_root(c.path(), tiny, SEED + 1).unwrap();
        assert_ne!(
            files,
            files_under(c.path()),
            "another seed gives other data"
        );
    }

    #[test]
    fn refuses_a_non_empty_directory() {
        let temp = tempfile::tempdir().unwrap();
        fs::write(temp.path().join("stray"), "x").unwrap();
        assert!(generate_root(temp.path(), Profile::SMALL, SEED).is_err());
    }
}
