//! The interop matrix's parts: its scale, the layouts and spec versions `ocfl init` offers,
//! source trees whose names other tools treat specially, storage roots written by `ocfl`, and
//! the peers that read them (ocfl-py through `ocfl_py.py`, rocfl where installed).

#![allow(dead_code)] // each test uses its own part of it

pub mod ocfl_py;
pub mod rocfl;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::commit_support::{json_lines, ocfl_command, ok, read_tree, stdout, write_tree};

/// How much of the matrix to run: `cargo test` runs it thin (one object of two versions per
/// root, seconds); `cargo xtask interop` sets `OCFL_INTEROP_FULL=1` for the full one (more
/// objects, more versions, roots written by rocfl).
pub fn full() -> bool {
    std::env::var_os("OCFL_INTEROP_FULL").is_some_and(|v| v != "0")
}

/// Whether `cargo xtask interop` requires `peer` (`OCFL_INTEROP_REQUIRE=ocfl-py,rocfl`).
fn required_by_xtask(peer: &str) -> bool {
    std::env::var("OCFL_INTEROP_REQUIRE")
        .is_ok_and(|list| list.split(',').any(|p| p.trim() == peer))
}

/// Skips a peer's checks with a note, or fails when the peer is required: by `cargo xtask
/// interop`, or, for a peer CI installs (ocfl-py), by `OCFL_TEST_REQUIRE_SERVICES=1` (so a
/// failed install cannot pass as a skipped check). rocfl, which CI does not install, is
/// exempt from the latter.
pub fn missing(peer: &str, installed_by_ci: bool, why: &str) {
    assert!(
        !required_by_xtask(peer),
        "{peer} is required (OCFL_INTEROP_REQUIRE) but {why}"
    );
    if installed_by_ci {
        test_support::skip_installed_peer(peer, why);
    } else {
        test_support::skip_exempt(peer, why);
    }
}

/// Every layout `ocfl init --layout` offers, with the config each needs (0006 has no default
/// delimiter) and the spec versions.
pub const LAYOUTS: [(&str, Option<&str>); 6] = [
    ("0002-flat-direct-storage-layout", None),
    ("0003-hash-and-id-n-tuple-storage-layout", None),
    ("0004-hashed-n-tuple-storage-layout", None),
    (
        "0006-flat-omit-prefix-storage-layout",
        Some(r#"{"extensionName": "0006-flat-omit-prefix-storage-layout", "delimiter": ":"}"#),
    ),
    ("0007-n-tuple-omit-prefix-storage-layout", None),
    ("0012-hash-and-no-prefix-id-n-tuple-storage-layout", None),
];
pub const SPECS: [&str; 2] = ["1.0", "1.1"];

/// The layouts ocfl-py 2.1 has a handler for; it fails roots declaring any other with E071.
pub const OCFL_PY_LAYOUTS: [&str; 2] = [
    "0002-flat-direct-storage-layout",
    "0003-hash-and-id-n-tuple-storage-layout",
];

/// One version's files: (logical path, bytes), sorted by path.
pub type Files = Vec<(String, Vec<u8>)>;

/// An object the matrix writes: its id and each version's files.
pub struct ObjectSpec {
    pub id: &'static str,
    pub versions: Vec<Files>,
}

/// How many versions the matrix's writers give each object: two, three in the full matrix.
pub fn version_count() -> usize {
    if full() { 3 } else { 2 }
}

/// The objects every root gets, `count` versions each, made of [`versions`] filtered by `keep`
/// (writers that cannot store a name leave it out). The first holds every name; the second
/// none with a backslash, the names rocfl 1.7 can read (see `rocfl.rs`); the full matrix
/// adds an id with characters layouts percent-encode. Every layout maps these ids (0002 needs
/// one directory name; 0006 and 0007 take the part after the last `:`; 0007 allows printable
/// ASCII only).
pub fn objects(count: usize, keep: fn(&str) -> bool) -> Vec<ObjectSpec> {
    let mut ids = vec![
        ("info:interop-1", keep as fn(&str) -> bool),
        ("info:interop-2", |p: &str| !p.contains('\\')),
    ];
    if full() {
        ids.push(("urn:x-interop:pct%2F+plus~3", keep));
    }
    ids.into_iter()
        .map(|(id, filter)| ObjectSpec {
            id,
            versions: versions(count)
                .into_iter()
                .map(|files| {
                    files
                        .into_iter()
                        .filter(|(path, _)| keep(path) && filter(path))
                        .collect()
                })
                .collect(),
        })
        .collect()
}

/// Every name.
pub fn every_name(_: &str) -> bool {
    true
}

/// Every name but the 254-byte one of two-byte characters: ocfl-py percent-encodes content
/// paths, which makes it 762 bytes, more than a filesystem name can hold.
pub fn short_encoded(path: &str) -> bool {
    !path.contains(&longest_name('\u{e9}'))
}

/// A 255-byte name: the longest one element the filesystem allows.
pub fn longest_name(c: char) -> String {
    c.to_string().repeat(255 / c.len_utf8())
}

/// The files of each of `count` versions: names that are legal in OCFL and on POSIX
/// filesystems but special to Windows, URLs, shells or Unicode normalization, the
/// filesystem's longest names, a duplicate and an empty file; each version after the first
/// modifies, removes, renames and adds.
pub fn versions(count: usize) -> Vec<Files> {
    let mut files: BTreeMap<String, Vec<u8>> = [
        ("plain.txt", "plain"),
        ("dir/back\\slash\\file", "backslashes"),
        ("..\\..\\not-above", "dots and backslashes"),
        ("c:colon", "colon"),
        ("-leading-dash", "dash"),
        ("percent%2Fslash", "percent"),
        ("caf\u{e9}", "NFC"),
        ("cafe\u{301}", "NFD"),
        ("dup/a", "same bytes"),
        ("dup/b", "same bytes"),
        ("empty", ""),
    ]
    .into_iter()
    .map(|(path, bytes)| (path.to_owned(), bytes.as_bytes().to_vec()))
    .collect();
    files.insert(format!("long/{}", longest_name('x')), b"255 bytes".to_vec());
    files.insert(
        format!("long/{}", longest_name('\u{e9}')),
        b"254 bytes".to_vec(),
    );
    let mut versions = vec![files.clone()];
    for n in 2..=count {
        files.insert("plain.txt".into(), format!("plain, v{n}").into_bytes());
        files.remove("-leading-dash");
        if let Some(bytes) = files.remove("c:colon") {
            files.insert(format!("renamed-v{n}/c:colon"), bytes);
        }
        files.insert(format!("v{n}\\new"), format!("new in v{n}").into_bytes());
        files.insert(
            format!("v{n}-new: -x %2F"),
            format!("also new in v{n}").into_bytes(),
        );
        versions.push(files.clone());
    }
    versions
        .into_iter()
        .map(|files| files.into_iter().collect())
        .collect()
}

/// Writes each version's files into `dir/v1`, `dir/v2`...; their paths.
pub fn write_versions(dir: &Path, versions: &[Files]) -> Vec<PathBuf> {
    versions
        .iter()
        .enumerate()
        .map(|(i, files)| {
            let source = dir.join(format!("v{}", i + 1));
            fs::create_dir_all(&source).expect("mkdir");
            let files: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
                .collect();
            write_tree(&source, &files);
            source
        })
        .collect()
}

/// A storage root on which `ocfl` commands run.
pub struct OcflRoot {
    pub path: PathBuf,
}

impl OcflRoot {
    /// `ocfl init` with `spec` and `layout` (and its config, written beside the root).
    pub fn init(path: PathBuf, spec: &str, layout: &str, config: Option<&str>) -> OcflRoot {
        let root = OcflRoot { path };
        let mut args = vec!["init", "--spec", spec, "--layout", layout];
        let config_file = root.path.with_extension("layout-config.json");
        if let Some(config) = config {
            fs::write(&config_file, config).expect("write layout config");
            args.extend(["--layout-config", config_file.to_str().expect("utf-8")]);
        }
        ok(&root.ocfl(&args));
        root
    }

    /// `ocfl --root ROOT args...`, asserted to succeed.
    pub fn ocfl(&self, args: &[&str]) -> std::process::Output {
        let output = ocfl_command()
            .arg("--root")
            .arg(&self.path)
            .args(args)
            .output()
            .expect("run ocfl");
        ok(&output);
        output
    }

    /// `ocfl commit ID SOURCE`.
    pub fn commit(&self, id: &str, source: &Path) {
        self.ocfl(&["commit", id, source.to_str().expect("utf-8"), "-q"]);
    }

    /// `ocfl validate` of the whole root (every object, digests checked) succeeds and finds
    /// `objects` valid objects.
    pub fn assert_valid(&self, objects: usize) {
        let output = self.ocfl(&["validate", "--json"]);
        let lines = json_lines(&output);
        let all_valid = lines.iter().all(|line| line["valid"] == Value::Bool(true));
        let found = lines.iter().filter(|line| line["id"].is_string()).count();
        assert!(
            all_valid && found == objects,
            "{} objects expected:\n{}",
            objects,
            stdout(&output)
        );
    }

    /// `ocfl ls --json`: object id -> its directory relative to the root.
    pub fn objects(&self) -> BTreeMap<String, String> {
        json_lines(&self.ocfl(&["ls", "--json"]))
            .iter()
            .map(|line| {
                (
                    line["id"].as_str().expect("id").to_owned(),
                    line["path"].as_str().expect("path").to_owned(),
                )
            })
            .collect()
    }

    /// `ocfl ls ID --version V --json`: the version's logical paths, sorted.
    pub fn files(&self, id: &str, version: &str) -> Vec<String> {
        let mut paths: Vec<String> =
            json_lines(&self.ocfl(&["ls", id, "--version", version, "--json"]))
                .iter()
                .map(|line| line["path"].as_str().expect("path").to_owned())
                .collect();
        paths.sort();
        paths
    }

    /// `ocfl export ID DEST --version V`, read back as a tree.
    pub fn export(&self, id: &str, version: &str, dest: &Path) -> BTreeMap<String, Vec<u8>> {
        self.ocfl(&[
            "export",
            id,
            dest.to_str().expect("utf-8"),
            "--version",
            version,
        ]);
        read_tree(dest)
    }
}

/// The files of `source`, as `read_tree` reads them, with their paths.
pub fn tree_paths(tree: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    tree.keys().cloned().collect()
}

/// Asserts that two trees hold the same paths with the same bytes, naming `what`.
pub fn assert_same_tree(
    what: &str,
    found: &BTreeMap<String, Vec<u8>>,
    expected: &BTreeMap<String, Vec<u8>>,
) {
    assert_eq!(
        tree_paths(found),
        tree_paths(expected),
        "{what}: the logical paths differ"
    );
    for (path, bytes) in expected {
        assert!(found[path] == *bytes, "{what}: {path:?} holds other bytes");
    }
}

/// Runs `work` on every item, a few at a time (the processes it starts do the work).
pub fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = work(item);
                    *results[i].lock().expect("lock") = Some(result);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.into_inner().expect("lock").expect("every item ran"))
        .collect()
}
