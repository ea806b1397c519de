//! `ocfl commit` to an existing object that is already invalid is refused before anything is
//! written: exit 1, a message naming the object, the validator's error codes and `ocfl
//! validate ID`, the storage root byte for byte as it was (`Snapshot`), no new version and no
//! unfinished run. The check is structural (no content is read): a linked content directory
//! (E090), a stray file in the object root (E001) and a missing content file (E092) are found
//! by listing the object. Warnings do not refuse.

mod commit_support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use commit_support::snapshot::Snapshot;
use commit_support::*;

const ID: &str = "ark:/12345/bcd987";

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// A root holding object `ID` at v1 (`a.txt`, `dir/b.txt`), and its source changed since.
fn root_with_object() -> (Root, PathBuf) {
    let root = Root::new();
    let source = root.dir_path().join("src");
    write_tree(&source, &[("a.txt", b"alpha\n"), ("dir/b.txt", b"bravo\n")]);
    root.commit(ID, &source, &[]);
    fs::write(source.join("c.txt"), b"charlie\n").expect("add");
    (root, source)
}

fn object_dir(root: &Root) -> PathBuf {
    root.path().join(
        ocfl_core::layout::Layout::default_layout()
            .map_object_id(ID)
            .expect("map"),
    )
}

/// Commits `source` to `ID` and asserts the refusal: exit 1, nothing on stdout, a message
/// naming the object, every one of `codes` and the hint, the root unchanged, no v2, and no
/// run left to resume.
fn assert_refused(root: &Root, source: &Path, codes: &[&str]) {
    let before = Snapshot::of(&root.path());
    let output = root.ocfl(&["commit", ID, utf8(source)]);
    let err = stderr(&output);
    assert_eq!(code(&output), 1, "stderr:\n{err}");
    assert_eq!(stdout(&output), "");
    for part in [ID, "is invalid", &format!("ocfl validate {ID}")]
        .into_iter()
        .chain(codes.iter().copied())
    {
        assert!(err.contains(part), "{part:?} missing from:\n{err}");
    }
    before.assert_unchanged(&root.path(), "a refused commit");
    assert!(!object_dir(root).join("v2").exists(), "v2 written");
    let runs = root.ocfl(&["runs", "--json"]);
    assert_eq!(stdout(ok(&runs)), "", "unfinished runs left");
}

#[test]
fn a_linked_content_directory_refuses_the_commit_and_leaves_the_root_unchanged() {
    let (root, source) = root_with_object();
    let content = object_dir(&root).join("v1/content");
    // The content, moved beside the root, where the link points: everything the inventory
    // names is still found by following it.
    let moved = root.dir_path().join("moved-content");
    fs::rename(&content, &moved).expect("move");
    symlink(&moved, &content).expect("symlink");
    assert_refused(&root, &source, &["E090"]);

    // Repaired, the same commit goes through.
    fs::remove_file(&content).expect("unlink");
    fs::rename(&moved, &content).expect("move back");
    root.commit(ID, &source, &[]);
    assert_eq!(root.head(ID), "v2");
    root.assert_holds(ID, &source);
}

#[test]
fn a_stray_file_or_a_missing_content_file_refuses_the_commit() {
    type Damage = fn(&Path);
    let cases: [(Damage, &str); 2] = [
        (
            |o| fs::write(o.join("stray.txt"), b"stray\n").expect("write"),
            "E001",
        ),
        (
            |o| fs::remove_file(o.join("v1/content/dir/b.txt")).expect("remove"),
            "E092",
        ),
    ];
    for (damage, expected) in cases {
        let (root, source) = root_with_object();
        damage(&object_dir(&root));
        assert_refused(&root, &source, &[expected]);
    }
}

#[test]
fn an_object_with_only_warnings_is_updated() {
    let (root, source) = root_with_object();
    // A directory other than `content` in a version directory: W002, a warning.
    let extra = object_dir(&root).join("v1/extra");
    fs::create_dir(&extra).expect("mkdir");
    fs::write(extra.join("note.txt"), b"note\n").expect("write");
    let validated = root.ocfl(&["validate", ID]);
    assert_eq!(code(&validated), 0, "{}", stdout(&validated));
    assert!(
        stdout(&validated).contains("W002"),
        "{}",
        stdout(&validated)
    );
    root.commit(ID, &source, &[]);
    assert_eq!(root.head(ID), "v2");
    root.assert_holds(ID, &source);
}
