//! Path safety: crafted inventories and planted links never make `cat`, `export`,
//! `validate` or `commit` read or write outside the object (or the export destination).
//!
//! Each scene puts a directory `outside/` beside the storage root holding a secret (files
//! whose bytes contain `SECRET`, some named like the object's content files) and a sentinel.
//! After every command the secret must not appear on stdout or stderr, and `outside/` must be
//! exactly as it was: the same entries, bytes and modification times. Inventories are
//! resealed (their sidecar rewritten to match), so only the path checks stand in the way.

mod commit_support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use commit_support::snapshot::Snapshot;
use commit_support::*;
use ocfl_core::digest::DigestAlgorithm;
use serde_json::Value;

const ID: &str = "ark:/12345/bcd987";
const SECRET: &str = "SECRET-0f3c9a";

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// A storage root with object `ID` at v1 (`a.txt`, `dir/b.txt`) and `outside/` beside it.
struct Scene {
    root: Root,
    source: PathBuf,
    outside: PathBuf,
    fence: Fence,
}

/// What `outside/` held: every entry, and each file's modification time.
struct Fence {
    snapshot: Snapshot,
    mtimes: BTreeMap<PathBuf, SystemTime>,
}

fn mtimes(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("walk"))
        .map(|e| {
            let meta = fs::symlink_metadata(e.path()).expect("stat");
            (e.path().to_owned(), meta.modified().expect("mtime"))
        })
        .collect()
}

impl Scene {
    fn new() -> Scene {
        let root = Root::new();
        let source = root.dir_path().join("src");
        write_tree(&source, &[("a.txt", b"alpha\n"), ("dir/b.txt", b"bravo\n")]);
        root.commit(ID, &source, &[]);
        let outside = root.dir_path().join("outside");
        let secret = format!("{SECRET}\n");
        write_tree(
            &outside,
            &[
                ("secret.txt", secret.as_bytes()),
                ("sentinel.txt", b"sentinel\n"),
                // Named like the object's content, for links that stand in for its directories.
                ("content/a.txt", secret.as_bytes()),
                ("content/dir/b.txt", secret.as_bytes()),
            ],
        );
        let fence = Fence {
            snapshot: Snapshot::of(&outside),
            mtimes: BTreeMap::new(),
        };
        let mut scene = Scene {
            root,
            source,
            outside,
            fence,
        };
        scene.seal_fence();
        scene
    }

    /// Records `outside/` as it is now (after a scene put more there).
    fn seal_fence(&mut self) {
        self.fence = Fence {
            snapshot: Snapshot::of(&self.outside),
            mtimes: mtimes(&self.outside),
        };
    }

    fn object(&self) -> PathBuf {
        self.root.path().join(
            ocfl_core::layout::Layout::default_layout()
                .map_object_id(ID)
                .expect("map"),
        )
    }

    /// Rewrites the root inventory with `edit` and reseals its sidecar.
    fn craft(&self, edit: impl FnOnce(&mut Value)) {
        let path = self.object().join("inventory.json");
        let mut inventory: Value =
            serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        edit(&mut inventory);
        let bytes = serde_json::to_vec_pretty(&inventory).expect("serialize");
        fs::write(&path, &bytes).expect("write");
        reseal(&self.object(), &bytes);
    }

    /// Runs `ocfl --root ROOT args...`; asserts exit status `exit`, that the secret is not in
    /// the output and that `outside/` is untouched. Returns stdout and stderr.
    fn run(&self, args: &[&str], exit: i32) -> String {
        let output = self.root.ocfl(args);
        let (out, err) = (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr(&output),
        );
        assert_eq!(code(&output), exit, "{args:?}\n{out}\n{err}");
        assert!(
            !out.contains(SECRET) && !err.contains(SECRET),
            "{args:?} leaked the secret:\n{out}\n{err}"
        );
        self.fence
            .snapshot
            .assert_unchanged(&self.outside, &format!("{args:?}"));
        assert_eq!(
            mtimes(&self.outside),
            self.fence.mtimes,
            "{args:?} touched outside/"
        );
        format!("{out}{err}")
    }

    /// `cat`, `export`, `validate` and `commit` on the object: each fails (exit 1) without
    /// touching `outside/`; `validate` reports `code`. Returns the validator's output.
    fn all_refuse(&self, code: &str) -> String {
        self.run(&["cat", ID, "a.txt"], 1);
        self.run(&["cat", ID, "dir/b.txt"], 1);
        let dest = self.root.dir_path().join("exported");
        self.run(&["export", ID, utf8(&dest)], 1);
        assert!(!dest.exists(), "a failed export left {}", dest.display());
        let validated = self.run(&["validate", ID], 1);
        assert!(validated.contains(code), "{code} missing:\n{validated}");
        let whole = self.run(&["validate"], 1);
        assert!(whole.contains(code), "{code} missing:\n{whole}");
        fs::write(self.source.join("a.txt"), b"changed\n").expect("change");
        let refused = self.run(&["commit", ID, utf8(&self.source)], 1);
        // Refused for good, not stalled waiting to be resumed.
        let runs = self.root.ocfl(&["runs", "--json"]);
        assert_eq!(stdout(ok(&runs)), "", "{refused}");
        validated
    }
}

fn reseal(object: &Path, inventory: &[u8]) {
    let digest = DigestAlgorithm::Sha512.digest_bytes(inventory);
    fs::write(
        object.join("inventory.json.sha512"),
        format!("{digest} inventory.json\n"),
    )
    .expect("write sidecar");
}

/// Replaces every manifest content path `from` with `to`.
fn manifest_path(inventory: &mut Value, from: &str, to: &str) {
    for paths in inventory["manifest"]
        .as_object_mut()
        .expect("manifest")
        .values_mut()
    {
        for path in paths.as_array_mut().expect("paths") {
            if path == from {
                *path = Value::from(to);
            }
        }
    }
}

#[test]
fn manifest_paths_with_dot_dot_or_absolute_are_refused() {
    let scene = Scene::new();
    let escape = format!(
        "v1/content/{}outside/secret.txt",
        "../".repeat(
            2 + ocfl_core::layout::Layout::default_layout()
                .map_object_id(ID)
                .expect("map")
                .split('/')
                .count()
        )
    );
    scene.craft(|inventory| manifest_path(inventory, "v1/content/a.txt", &escape));
    let report = scene.all_refuse("E099");
    assert!(report.contains(&escape), "{report}");

    let scene = Scene::new();
    let absolute = scene.outside.join("secret.txt");
    scene.craft(|inventory| manifest_path(inventory, "v1/content/a.txt", utf8(&absolute)));
    scene.all_refuse("E100");
}

#[test]
fn logical_paths_with_dot_dot_never_leave_the_export_destination() {
    let scene = Scene::new();
    // Asked for by the user: looked up in the inventory, never joined to a directory.
    for path in [
        "../outside/secret.txt",
        "/etc/passwd",
        "a.txt/../../outside/secret.txt",
    ] {
        scene.run(&["cat", ID, path], 1);
    }
    scene.craft(|inventory| {
        let state = inventory["versions"]["v1"]["state"]
            .as_object_mut()
            .expect("state");
        for paths in state.values_mut() {
            for path in paths.as_array_mut().expect("paths") {
                if path == "a.txt" {
                    *path = Value::from("../../outside/sentinel.txt");
                }
            }
        }
    });
    scene.all_refuse("E052");
}

#[test]
fn a_linked_content_directory_is_reported_and_never_followed() {
    let scene = Scene::new();
    let content = scene.object().join("v1/content");
    fs::remove_dir_all(&content).expect("rm");
    symlink(scene.outside.join("content"), &content).expect("symlink");
    let report = scene.all_refuse("E090");
    assert!(report.contains("v1/content"), "{report}");
}

#[test]
fn a_linked_version_directory_is_reported_and_never_followed() {
    let mut scene = Scene::new();
    let version = scene.object().join("v1");
    // The real version, moved outside, where the link points: readers following it would
    // find every file with the right digest.
    fs::rename(&version, scene.outside.join("v1")).expect("move");
    symlink(scene.outside.join("v1"), &version).expect("symlink");
    fs::write(
        scene.outside.join("v1/content/a.txt"),
        format!("{SECRET}\n"),
    )
    .expect("write");
    scene.seal_fence();
    scene.all_refuse("E090");
}

#[test]
fn a_linked_content_file_is_reported_and_never_read() {
    let scene = Scene::new();
    let file = scene.object().join("v1/content/a.txt");
    fs::remove_file(&file).expect("rm");
    symlink(scene.outside.join("secret.txt"), &file).expect("symlink");
    scene.run(&["cat", ID, "a.txt"], 1);
    let dest = scene.root.dir_path().join("exported");
    scene.run(&["export", ID, utf8(&dest)], 1);
    let report = scene.run(&["validate", ID], 1);
    assert!(report.contains("E090"), "{report}");
}

#[test]
fn a_linked_inventory_is_never_read() {
    let scene = Scene::new();
    let inventory = scene.object().join("inventory.json");
    let planted = scene.outside.join("inventory.json");
    let bytes = fs::read(&inventory)
        .expect("read")
        .into_iter()
        .chain(format!(" {{\"{SECRET}\": 1}}").into_bytes())
        .collect::<Vec<u8>>();
    fs::write(&planted, &bytes).expect("write");
    fs::remove_file(&inventory).expect("rm");
    symlink(&planted, &inventory).expect("symlink");
    reseal(&scene.object(), &bytes);
    let mut scene = scene;
    scene.seal_fence();
    scene.all_refuse("E090");
}

#[test]
fn a_linked_layout_directory_is_never_read_or_written_through() {
    let mut scene = Scene::new();
    let object = scene.object();
    let top = scene.root.path().join(
        object
            .strip_prefix(scene.root.path())
            .expect("below root")
            .iter()
            .next()
            .expect("first element"),
    );
    // The object's whole tree moves outside; the link makes it look in place. Before the
    // fix, `commit` wrote v2 there, outside the storage root.
    fs::rename(&top, scene.outside.join("tree")).expect("move");
    symlink(scene.outside.join("tree"), &top).expect("symlink");
    scene.seal_fence();
    scene.run(&["cat", ID, "a.txt"], 1);
    let dest = scene.root.dir_path().join("exported");
    scene.run(&["export", ID, utf8(&dest)], 1);
    let report = scene.run(&["validate"], 1);
    assert!(report.contains("E090"), "{report}");
    fs::write(scene.source.join("a.txt"), b"changed\n").expect("change");
    let refused = scene.run(&["commit", ID, utf8(&scene.source)], 1);
    assert!(refused.contains("symbolic link"), "{refused}");
    scene.run(&["purge", ID, "--yes"], 1);
}

#[test]
fn export_refuses_a_non_empty_destination_unless_forced() {
    let scene = Scene::new();
    let dest = scene.root.dir_path().join("dest");
    write_tree(&dest, &[("a.txt", b"old a\n"), ("keep.txt", b"kept\n")]);
    let before = Snapshot::of(&dest);
    let refused = scene.run(&["export", ID, utf8(&dest)], 1);
    assert!(
        refused.contains(utf8(&dest)) && refused.contains("--force"),
        "{refused}"
    );
    before.assert_unchanged(&dest, "a refused export");

    scene.run(&["export", ID, utf8(&dest), "--force"], 0);
    let held = read_tree(&dest);
    let expected: BTreeMap<String, Vec<u8>> = [
        ("a.txt", &b"alpha\n"[..]),
        ("dir/b.txt", b"bravo\n"),
        ("keep.txt", b"kept\n"),
    ]
    .into_iter()
    .map(|(p, b)| (p.to_owned(), b.to_vec()))
    .collect();
    assert!(held == expected, "{:?}", held.keys().collect::<Vec<_>>());
    // No staging directory is left beside it.
    let left: Vec<String> = fs::read_dir(scene.root.dir_path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("ocfl-export"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_forced_export_never_writes_through_links_in_the_destination() {
    let scene = Scene::new();
    // A link where the export needs a directory: refused before anything changes.
    let dest = scene.root.dir_path().join("dest");
    write_tree(&dest, &[("keep.txt", b"kept\n")]);
    symlink(&scene.outside, dest.join("dir")).expect("symlink");
    let before = Snapshot::of(&dest);
    let refused = scene.run(&["export", ID, utf8(&dest), "--force"], 1);
    assert!(refused.contains("symbolic link"), "{refused}");
    before.assert_unchanged(&dest, "a refused export");

    // A link where the export writes a file: the link is replaced, its target untouched.
    let dest = scene.root.dir_path().join("dest2");
    fs::create_dir(&dest).expect("mkdir");
    symlink(scene.outside.join("sentinel.txt"), dest.join("a.txt")).expect("symlink");
    scene.run(&["export", ID, utf8(&dest), "--force"], 0);
    assert!(
        fs::symlink_metadata(dest.join("a.txt"))
            .expect("stat")
            .is_file()
    );
    assert_eq!(fs::read(dest.join("a.txt")).expect("read"), b"alpha\n");

    // A directory where the export writes a file: refused.
    let dest = scene.root.dir_path().join("dest3");
    fs::create_dir_all(dest.join("a.txt")).expect("mkdir");
    let refused = scene.run(&["export", ID, utf8(&dest), "--force"], 1);
    assert!(refused.contains("is a directory"), "{refused}");

    // DEST itself a link: refused, forced or not.
    let dest = scene.root.dir_path().join("dest4");
    symlink(&scene.outside, &dest).expect("symlink");
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["export", ID, utf8(&dest)];
        args.extend_from_slice(extra);
        let refused = scene.run(&args, 1);
        assert!(refused.contains("symbolic link"), "{refused}");
    }
}

#[test]
fn a_linked_sidecar_or_declaration_is_reported_and_never_read() {
    for name in ["inventory.json.sha512", "0=ocfl_object_1.1"] {
        let mut scene = Scene::new();
        let file = scene.object().join(name);
        let planted = scene.outside.join(name);
        fs::rename(&file, &planted).expect("move");
        symlink(&planted, &file).expect("symlink");
        scene.seal_fence();
        let report = scene.all_refuse("E090");
        assert!(report.contains(name), "{report}");
    }
}
