//! The storage root's settings file (`ocfl-cli.json`): `ocfl init --digest` records the
//! content digest algorithm there, `ocfl commit` gives new objects that algorithm (existing
//! objects keep their own), a root without the file means sha512, a file we cannot understand
//! stops the commit before anything is written, and OCFL validators (ours, rocfl, ocfl-py)
//! accept a root holding the file.

mod commit_support;

use std::fs;
use std::path::{Path, PathBuf};

use commit_support::*;
use ocfl_core::layout::Layout;
use serde_json::Value;

const ID: &str = "ark:/12345/bcd987";
const SETTINGS: &str = "ocfl-cli.json";

/// A storage root made by `ocfl init` with `args`.
fn root_with(args: &[&str]) -> Root {
    let root = Root {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let mut all = vec!["init"];
    all.extend_from_slice(args);
    ok(&root.ocfl(&all));
    root
}

fn deposit(root: &Root) -> PathBuf {
    let source = root.dir_path().join("deposit");
    write_tree(
        &source,
        &[
            ("data/file1.txt", b"Hello from file 1!\n"),
            ("readme.txt", b"read me\n"),
        ],
    );
    source
}

/// The directory of object `id` in a root of the default layout.
fn object_dir(root: &Root, id: &str) -> PathBuf {
    root.path()
        .join(Layout::default_layout().map_object_id(id).expect("map id"))
}

/// The head inventory's `digestAlgorithm`, checking that the root and head version sidecars
/// are named for it and that no other sidecar is there.
fn object_algorithm(object: &Path, head: &str) -> String {
    let inventory: Value =
        serde_json::from_slice(&fs::read(object.join("inventory.json")).expect("inventory"))
            .expect("json");
    let algorithm = inventory["digestAlgorithm"]
        .as_str()
        .expect("digestAlgorithm")
        .to_owned();
    for dir in [object.to_path_buf(), object.join(head)] {
        let sidecars: Vec<String> = fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .filter(|name| name.starts_with("inventory.json."))
            .collect();
        assert_eq!(
            sidecars,
            [format!("inventory.json.{algorithm}")],
            "{}",
            dir.display()
        );
    }
    algorithm
}

/// `ocfl validate --json` of the whole root: valid, and no finding at all at the root level
/// (the settings file is one the validator must ignore, E087).
fn assert_root_valid_without_findings(root: &Root) {
    let output = root.ocfl(&["validate", "--json"]);
    ok(&output);
    let lines = json_lines(&output);
    let root_line = lines
        .iter()
        .find(|l| l["path"] == root.path().to_str().expect("utf-8"))
        .expect("the root's line");
    assert_eq!(root_line["valid"], true, "{root_line}");
    assert_eq!(root_line["errors"], Value::Array(Vec::new()), "{root_line}");
    assert_eq!(
        root_line["warnings"],
        Value::Array(Vec::new()),
        "{root_line}"
    );
    assert!(lines.iter().all(|l| l["valid"] == true), "{lines:?}");
}

#[test]
fn init_records_the_digest_and_commits_give_new_objects_sha256() {
    let root = root_with(&["--digest", "sha256"]);
    let settings: Value =
        serde_json::from_slice(&fs::read(root.path().join(SETTINGS)).expect("settings file"))
            .expect("json");
    assert_eq!(settings, serde_json::json!({"digestAlgorithm": "sha256"}));

    let source = deposit(&root);
    assert_eq!(root.commit(ID, &source, &[])["version"], "v1");
    let object = object_dir(&root, ID);
    assert_eq!(object_algorithm(&object, "v1"), "sha256");
    root.assert_holds(ID, &source);

    // An update keeps the object's algorithm.
    fs::write(source.join("readme.txt"), b"changed\n").expect("modify");
    fs::write(source.join("added.txt"), b"added\n").expect("add");
    assert_eq!(root.commit(ID, &source, &[])["version"], "v2");
    assert_eq!(object_algorithm(&object, "v2"), "sha256");
    root.assert_holds(ID, &source);
    assert_root_valid_without_findings(&root);

    // The file is no object: `ls` lists the one object only.
    assert_eq!(stdout(ok(&root.ocfl(&["ls"]))), format!("{ID}\n"));
}

#[test]
fn a_default_init_records_sha512_and_a_root_without_the_file_means_sha512() {
    let root = Root::new();
    let settings: Value =
        serde_json::from_slice(&fs::read(root.path().join(SETTINGS)).expect("settings file"))
            .expect("json");
    assert_eq!(settings, serde_json::json!({"digestAlgorithm": "sha512"}));

    // A root made by another tool has no such file.
    fs::remove_file(root.path().join(SETTINGS)).expect("remove");
    let source = deposit(&root);
    root.commit(ID, &source, &[]);
    assert_eq!(object_algorithm(&object_dir(&root, ID), "v1"), "sha512");
    root.assert_holds(ID, &source);
}

#[test]
fn an_existing_object_keeps_its_algorithm_whatever_the_setting() {
    let root = Root::new();
    let source = deposit(&root);
    root.commit(ID, &source, &[]);
    // The setting changes after the object was made: it only concerns new objects.
    fs::write(
        root.path().join(SETTINGS),
        br#"{"digestAlgorithm": "sha256"}"#,
    )
    .expect("write settings");
    fs::write(source.join("readme.txt"), b"changed\n").expect("modify");
    assert_eq!(root.commit(ID, &source, &[])["version"], "v2");
    assert_eq!(object_algorithm(&object_dir(&root, ID), "v2"), "sha512");
    root.assert_holds(ID, &source);

    let other = "ark:/12345/new-one";
    root.commit(other, &source, &[]);
    assert_eq!(object_algorithm(&object_dir(&root, other), "v1"), "sha256");
    root.assert_holds(other, &source);
}

#[test]
fn a_settings_file_we_cannot_understand_stops_the_commit_before_anything_is_written() {
    let root = Root::new();
    let source = deposit(&root);
    let settings = root.path().join(SETTINGS);
    let work_area = root.dir_path().join("root.ocfl-work");
    let bad: [(&[u8], &str); 4] = [
        (b"{not json", "not a valid settings file"),
        (br#"{"digestAlgorithm": "md5"}"#, "\"md5\""),
        (br#"{"digestAlgorithm": "sha1024"}"#, "\"sha1024\""),
        (br#"{"digestAlgoritm": "sha256"}"#, "digestAlgoritm"),
    ];
    for (contents, why) in bad {
        fs::write(&settings, contents).expect("write settings");
        let before = read_tree(&root.path());
        for detach in [false, true] {
            let mut args = vec!["commit", ID, source.to_str().expect("utf-8")];
            if detach {
                args.push("--detach");
            }
            let output = root.ocfl(&args);
            let err = stderr(&output);
            assert_eq!(code(&output), 1, "{err}");
            assert!(
                err.contains(settings.to_str().expect("utf-8")),
                "names the file: {err}"
            );
            assert!(err.contains(why), "says why: {err}");
            assert_eq!(stdout(&output), "");
            assert!(read_tree(&root.path()) == before, "the root is unchanged");
            assert!(!work_area.exists(), "no run was recorded");
        }
    }
    // Unreadable: a directory where the file should be.
    fs::remove_file(&settings).expect("remove");
    fs::create_dir(&settings).expect("mkdir");
    let output = root.ocfl(&["commit", ID, source.to_str().expect("utf-8")]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains(settings.to_str().expect("utf-8")),
        "{}",
        stderr(&output)
    );
    assert!(!work_area.exists(), "no run was recorded");
}

#[test]
fn init_json_keeps_its_shape_and_verbose_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let output = ocfl(&[
        "--root",
        root.to_str().expect("utf-8"),
        "init",
        "--digest",
        "sha256",
        "--json",
        "-v",
    ]);
    let lines = json_lines(ok(&output));
    assert_eq!(lines.len(), 1);
    assert_eq!(keys(&lines[0]), ["digest", "layout", "root", "spec"]);
    assert_eq!(lines[0]["digest"], "sha256");
    let err = stderr(&output);
    assert!(!err.contains("not yet recorded"), "{err}");
    assert!(
        err.contains(root.join(SETTINGS).to_str().expect("utf-8")),
        "{err}"
    );
}

/// rocfl and ocfl-py (when installed; skipped with a note otherwise) accept a root holding
/// the settings file and the sha256 object committed to it, root and object alike. The
/// root uses layout 0003: ocfl-py 2.1 refuses the default layout 0004 (E071, unknown to
/// it), whatever the root holds.
#[test]
fn rocfl_and_ocfl_py_accept_the_root_and_its_sha256_objects() {
    if installed_rocfl().is_none() && !ocfl_py_installed() {
        eprintln!("note: neither rocfl nor ocfl-validate.py is installed; skipping");
        return;
    }
    let root = root_with(&[
        "--digest",
        "sha256",
        "--layout",
        "0003-hash-and-id-n-tuple-storage-layout",
    ]);
    assert!(root.path().join(SETTINGS).is_file());
    let source = deposit(&root);
    let user = ["--user-name", "A", "--user-address", "mailto:a@example.org"];
    root.commit(ID, &source, &[&user[..], &["-m", "first"]].concat());
    fs::write(source.join("readme.txt"), b"changed\n").expect("modify");
    root.commit(ID, &source, &[&user[..], &["-m", "second"]].concat());
    assert_root_valid_without_findings(&root);
    if let Some(out) = rocfl_validate(&root.path(), &[]) {
        assert!(out.contains("Storage root is valid"), "{out}");
        assert!(out.contains("Invalid objects: 0"), "{out}");
        assert!(out.contains("Storage issues:  0"), "{out}");
        // The object's sha256 draws rocfl's W004 (sha512 is recommended), nothing else.
        assert!(!out.contains("[E"), "{out}");
    }
    if let Some(out) = ocfl_py_validate(&root.path()) {
        assert!(!out.contains("[E"), "{out}");
    }
}

/// The run records the algorithm when it is submitted: a detached run finished later by
/// `ocfl resume` uses it even if the file changed (or went) in between.
#[test]
fn a_run_keeps_the_algorithm_it_was_submitted_with() {
    let root = root_with(&["--digest", "sha256"]);
    let source = deposit(&root);
    ok(&root.ocfl(&["commit", ID, source.to_str().expect("utf-8"), "--detach"]));
    fs::remove_file(root.path().join(SETTINGS)).expect("remove");
    ok(&root.ocfl(&["resume"]));
    assert_eq!(object_algorithm(&object_dir(&root, ID), "v1"), "sha256");
    root.assert_holds(ID, &source);
}
