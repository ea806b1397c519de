//! Objects with a mutable HEAD (extension 0005, which Fedora 6 writes), built here as the
//! extension's text describes: read with `--mutable-head`, validated (valid and invalid
//! variants, each defect reported), and never changed by a commit.

mod commit_support;

use std::fs;
use std::path::{Path, PathBuf};

use commit_support::snapshot::Snapshot;
use commit_support::*;
use ocfl_core::digest::DigestAlgorithm;
use serde_json::{Value, json};

const ID: &str = "info:fedora/object-1";
const EXT: &str = "extensions/0005-mutable-head";

fn object_dir(root: &Root) -> PathBuf {
    root.path().join(
        ocfl_core::layout::Layout::default_layout()
            .map_object_id(ID)
            .expect("map"),
    )
}

fn sha512(bytes: &[u8]) -> String {
    DigestAlgorithm::Sha512
        .digest_bytes(bytes)
        .as_str()
        .to_owned()
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

/// Writes `inventory` and its sidecar into `dir`.
fn write_inventory(dir: &Path, inventory: &Value) {
    let bytes = serde_json::to_vec_pretty(inventory).expect("json");
    write(&dir.join("inventory.json"), &bytes);
    write(
        &dir.join("inventory.json.sha512"),
        format!("{}  inventory.json\n", sha512(&bytes)).as_bytes(),
    );
}

/// Object `ID` with v1 (`a.txt`, `b.txt`) committed by `ocfl`, then a mutable HEAD `v2`
/// made in two revisions as the extension's implementation notes do it: r1 adds `c.txt`,
/// r2 changes `b.txt`; `a.txt` stays as v1 has it.
fn object_with_mutable_head(root: &Root) -> PathBuf {
    let source = root.dir_path().join("v1");
    write_tree(&source, &[("a.txt", b"a\n"), ("b.txt", b"b\n")]);
    root.commit(ID, &source, &["-m", "Initial import"]);
    let object = object_dir(root);
    let ext = object.join(EXT);
    let root_inventory: Value =
        serde_json::from_slice(&fs::read(object.join("inventory.json")).expect("read"))
            .expect("json");
    let mut head = root_inventory.clone();
    let c_path = format!("{EXT}/head/content/r1/c.txt");
    let b_path = format!("{EXT}/head/content/r2/b.txt");
    write(&object.join(&c_path), b"c\n");
    write(&object.join(&b_path), b"b, revised\n");
    head["head"] = json!("v2");
    let manifest = head["manifest"].as_object_mut().expect("manifest");
    manifest.insert(sha512(b"c\n"), json!([c_path]));
    manifest.insert(sha512(b"b, revised\n"), json!([b_path]));
    head["versions"]["v2"] = json!({
        "created": "2026-12-01T10:00:00Z",
        "message": "Revised in Fedora",
        "user": {"name": "Fedora", "address": "mailto:fedora@example.org"},
        "state": {
            sha512(b"a\n"): ["a.txt"],
            sha512(b"b, revised\n"): ["b.txt"],
            sha512(b"c\n"): ["c.txt"],
        },
    });
    write_inventory(&ext.join("head"), &head);
    write(&ext.join("revisions/r1"), b"r1");
    write(&ext.join("revisions/r2"), b"r2");
    fs::copy(
        object.join("inventory.json.sha512"),
        ext.join("root-inventory.json.sha512"),
    )
    .expect("copy the root sidecar");
    object
}

fn stdout_lines(output: &std::process::Output) -> Vec<String> {
    stdout(output).lines().map(str::to_owned).collect()
}

#[test]
fn reads_the_mutable_head_with_the_flag_and_notes_it_without() {
    let root = Root::new();
    object_with_mutable_head(&root);
    let listed = root.ocfl(&["ls", ID, "--mutable-head"]);
    ok(&listed);
    assert_eq!(stdout_lines(&listed), ["a.txt", "b.txt", "c.txt"]);
    let older = root.ocfl(&["ls", ID, "--mutable-head", "--version", "v1"]);
    assert_eq!(stdout_lines(ok(&older)), ["a.txt", "b.txt"]);
    let plain = root.ocfl(&["ls", ID]);
    assert_eq!(stdout_lines(ok(&plain)), ["a.txt", "b.txt"]);
    assert!(
        stderr(&plain).contains("mutable HEAD"),
        "{}",
        stderr(&plain)
    );
    let cat = root.ocfl(&["cat", ID, "b.txt", "--mutable-head"]);
    assert_eq!(stdout(ok(&cat)), "b, revised\n");
    let show = root.ocfl(&["--json", "show", ID, "--mutable-head"]);
    let shown = json_lines(ok(&show));
    assert!(
        shown
            .iter()
            .any(|l| l.to_string().contains("Revised in Fedora")),
        "{}",
        stdout(&show)
    );
    let dest = root.dir_path().join("exported");
    let export = root.ocfl(&[
        "export",
        ID,
        dest.to_str().expect("utf-8"),
        "--mutable-head",
    ]);
    ok(&export);
    let tree = read_tree(&dest);
    assert_eq!(tree["b.txt"], b"b, revised\n");
    assert_eq!(tree["c.txt"], b"c\n");
    // An object without one: the flag is refused, naming what is missing.
    let source = root.dir_path().join("plain");
    write_tree(&source, &[("x.txt", b"x")]);
    root.commit("plain", &source, &[]);
    let none = root.ocfl(&["ls", "plain", "--mutable-head"]);
    assert_eq!(code(&none), 1);
    assert!(
        stderr(&none).contains("no mutable HEAD"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn a_valid_mutable_head_validates() {
    let root = Root::new();
    let object = object_with_mutable_head(&root);
    let output = root.ocfl(&["validate", ID]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let output = root.ocfl(&["validate"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    // ocfl-py does not implement the extension: the object's root versions are valid to it.
    if let Some(out) = ocfl_py_validate(&object) {
        assert!(out.contains("is VALID"), "{out}");
    }
}

#[test]
fn commits_and_rollbacks_of_an_object_with_a_mutable_head_are_refused_and_change_nothing() {
    let root = Root::new();
    object_with_mutable_head(&root);
    let source = root.dir_path().join("next");
    write_tree(&source, &[("d.txt", b"d")]);
    let before = Snapshot::of(root.dir_path());
    let d = source.join("d.txt");
    let attempts: [Vec<&str>; 3] = [
        vec!["commit", ID, source.to_str().expect("utf-8")],
        vec!["commit", ID, "--add", d.to_str().expect("utf-8"), "d.txt"],
        vec!["revert", ID, "v1"],
    ];
    for args in attempts {
        let output = root.ocfl(&args);
        assert_eq!(code(&output), 1, "{args:?}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(
            message.contains("has a mutable HEAD") && message.contains("would conflict"),
            "{args:?}: {message}"
        );
    }
    before.assert_unchanged(root.dir_path(), "refused commits");
    // rollback opens the engine's store (to see that no run is busy with the object), so
    // only the storage root itself is the same after it.
    let before = Snapshot::of(&root.path());
    let output = root.ocfl(&["rollback", ID, "v1", "--yes"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("mutable HEAD"),
        "{}",
        stderr(&output)
    );
    before.assert_unchanged(&root.path(), "refused rollback");
}

/// `ocfl validate ID` on the object after `damage`: fails, and reports `code` with a message
/// containing `words`.
fn assert_invalid(damage: impl FnOnce(&Path), code_expected: &str, words: &str) {
    let root = Root::new();
    let object = object_with_mutable_head(&root);
    damage(&object);
    let output = root.ocfl(&["validate", ID]);
    let out = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(code(&output), 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(code_expected) && l.contains(words)),
        "expected {code_expected} with {words:?}:\n{out}"
    );
}

fn edit_head_inventory(object: &Path, edit: impl FnOnce(&mut Value)) {
    let dir = object.join(EXT).join("head");
    let mut inventory: Value =
        serde_json::from_slice(&fs::read(dir.join("inventory.json")).expect("read")).expect("json");
    edit(&mut inventory);
    write_inventory(&dir, &inventory);
}

#[test]
fn invalid_mutable_heads_are_reported() {
    let content = |object: &Path, rest: &str| object.join(EXT).join("head/content").join(rest);
    assert_invalid(
        |o| write(&content(o, "r1/c.txt"), b"C\n"),
        "E092",
        "r1/c.txt",
    );
    assert_invalid(
        |o| write(&content(o, "r2/stray.txt"), b"?"),
        "E023",
        "r2/stray.txt",
    );
    assert_invalid(
        |o| fs::remove_file(content(o, "r2/b.txt")).expect("remove"),
        "E092",
        "r2/b.txt",
    );
    assert_invalid(
        |o| fs::remove_file(o.join(EXT).join("revisions/r2")).expect("remove"),
        "E067",
        "revision with a marker",
    );
    assert_invalid(
        |o| write(&o.join(EXT).join("revisions/r2"), b"r2\n"),
        "E067",
        "must contain only",
    );
    assert_invalid(
        |o| fs::remove_dir_all(o.join(EXT).join("revisions")).expect("remove"),
        "E067",
        "revisions/",
    );
    assert_invalid(
        |o| {
            write(
                &o.join(EXT).join("root-inventory.json.sha512"),
                b"0  inventory.json\n",
            )
        },
        "E067",
        "version conflict",
    );
    assert_invalid(
        |o| {
            write(
                &o.join(EXT).join("head/inventory.json.sha512"),
                format!("{}  inventory.json\n", sha512(b"x")).as_bytes(),
            )
        },
        "E060",
        "head/inventory.json",
    );
    assert_invalid(
        |o| {
            edit_head_inventory(o, |inventory| {
                let v2 = inventory["versions"]["v2"].take();
                inventory["versions"]
                    .as_object_mut()
                    .expect("versions")
                    .remove("v2");
                inventory["versions"]["v3"] = v2;
                inventory["head"] = json!("v3");
            })
        },
        "E067",
        "is not the version after the root's head v1",
    );
    assert_invalid(
        |o| {
            edit_head_inventory(o, |inventory| {
                inventory["versions"]["v1"]["message"] = json!("rewritten")
            })
        },
        "E066",
        "version v1 differs",
    );
}
