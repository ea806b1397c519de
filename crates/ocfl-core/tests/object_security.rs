//! Inventories are untrusted: validation must never open a file named only by an inventory
//! (`../../x`, `/etc/passwd`, a path through a symlinked directory), nor follow a link.
//! A storage wrapper records every `open` and `list` and the tests check each one.

mod object_support;

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use object_support::{Access, Watched, codes, copy_fixture, write_inventory};
use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{Code, ObjectReport, ValidationOptions, validate_object};

/// Validates `<root>/obj` with `options` through a [`Watched`] storage: the report, then the
/// paths opened and the paths listed, in order.
fn validate_watched(
    root: &Path,
    options: &ValidationOptions,
) -> (ObjectReport, Vec<String>, Vec<String>) {
    let (opened, listed) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    let storage = Watched {
        inner: LocalStorage::new(root),
        watch: |access, path: &str| {
            let log = match access {
                Access::Open => &opened,
                Access::List => &listed,
            };
            log.lock().expect("lock").push(path.to_owned());
        },
    };
    let report = validate_object(&storage, "obj", options);
    drop(storage);
    let opened = opened.into_inner().expect("lock");
    (report, opened, listed.into_inner().expect("lock"))
}

/// Validates `<root>/obj` through a [`Watched`] storage and checks that every path opened
/// or listed is inside the object and reached without passing through a symbolic link.
fn validate_recording(root: &Path) -> (ObjectReport, Vec<String>) {
    let (report, opened, listed) = validate_watched(root, &ValidationOptions::default());
    for path in opened.iter().chain(&listed) {
        assert!(
            path == "obj" || path.starts_with("obj/"),
            "accessed {path:?} outside the object"
        );
        let mut prefix = root.to_path_buf();
        for element in path.split('/') {
            assert!(element != ".." && !element.is_empty(), "accessed {path:?}");
            prefix.push(element);
            let meta = fs::symlink_metadata(&prefix).expect("accessed path exists");
            assert!(
                !meta.file_type().is_symlink(),
                "accessed {path:?} through the symbolic link {}",
                prefix.display()
            );
        }
    }
    (report, opened)
}

/// An inventory for `minimal_one_version_one_file` whose manifest and fixity also name
/// `extra_paths` (all for the digest of `a_file.txt`, which the state uses).
fn crafted_inventory(extra_paths: &[&str]) -> String {
    let digest = "43a43fe8a8a082d3b5343dfaf2fd0c8b8e370675b1f376e92e9994612c33ea255b11298269d72f797399ebb94edeefe53df243643676548f584fb8603ca53a0f";
    let mut paths = vec!["v1/content/a_file.txt"];
    paths.extend_from_slice(extra_paths);
    let paths = serde_json::to_string(&paths).expect("json");
    format!(
        r#"{{
  "digestAlgorithm": "sha512",
  "head": "v1",
  "id": "ark:123/abc",
  "manifest": {{ "{digest}": {paths} }},
  "fixity": {{ "md5": {{ "0123456789abcdef0123456789abcdef": {paths} }} }},
  "type": "https://ocfl.io/1.1/spec/#inventory",
  "versions": {{
    "v1": {{
      "created": "2019-01-01T02:03:04Z",
      "message": "crafted",
      "state": {{ "{digest}": ["a_file.txt"] }},
      "user": {{ "address": "mailto:a_person@example.org", "name": "A Person" }}
    }}
  }}
}}"#
    )
}

#[test]
fn inventory_paths_outside_the_object_are_never_opened() {
    let (temp, object) = copy_fixture("1.1/good-objects/minimal_one_version_one_file");
    // A file two levels up from the object, where `../../x` from v1/content would lead.
    fs::write(temp.path().join("x"), b"outside").expect("write");
    let inventory = crafted_inventory(&["../../x", "/etc/passwd", "v1/content/../../../x"]);
    write_inventory(&object, &inventory);
    write_inventory(&object.join("v1"), &inventory);

    let (report, opened) = validate_recording(temp.path());
    assert!(!report.is_valid());
    let found = codes(&report);
    assert!(found.contains(&Code::E099), "{report:#?}");
    assert!(found.contains(&Code::E100), "{report:#?}");
    // The one real content file is opened (its fixity is wrong), nothing else but
    // declarations, inventories and sidecars.
    assert!(found.contains(&Code::E093), "{report:#?}");
    assert!(opened.contains(&"obj/v1/content/a_file.txt".to_owned()));
    for path in &opened {
        let name = path.rsplit('/').next().unwrap_or_default();
        assert!(
            path == "obj/v1/content/a_file.txt"
                || name.starts_with("0=")
                || name.starts_with("inventory.json"),
            "opened {path}"
        );
    }
}

#[test]
fn paths_through_a_symlinked_directory_are_never_opened() {
    let (temp, object) = copy_fixture("1.1/good-objects/minimal_one_version_one_file");
    let elsewhere = temp.path().join("elsewhere");
    fs::create_dir(&elsewhere).expect("mkdir");
    fs::write(elsewhere.join("secret.txt"), b"secret").expect("write");
    std::os::unix::fs::symlink(&elsewhere, object.join("v1/content/link")).expect("symlink");
    std::os::unix::fs::symlink(
        elsewhere.join("secret.txt"),
        object.join("v1/content/file-link.txt"),
    )
    .expect("symlink");
    // A symlinked "version directory" in the object root must not be walked either.
    std::os::unix::fs::symlink(&elsewhere, object.join("v2")).expect("symlink");
    let inventory = crafted_inventory(&["v1/content/link/secret.txt", "v1/content/file-link.txt"]);
    write_inventory(&object, &inventory);
    write_inventory(&object.join("v1"), &inventory);

    let (report, opened) = validate_recording(temp.path());
    assert!(!report.is_valid());
    let e090: Vec<&str> = report
        .errors
        .iter()
        .filter(|f| f.code == Code::E090)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(e090.len(), 3, "{report:#?}");
    for link in ["v1/content/link", "v1/content/file-link.txt", "v2"] {
        assert!(
            e090.iter().any(|m| m.starts_with(link)),
            "{link} not reported: {e090:?}"
        );
    }
    assert!(
        codes(&report).contains(&Code::E092),
        "manifest paths through links do not exist as content: {report:#?}"
    );
    assert!(
        !opened
            .iter()
            .any(|p| p.contains("link") || p.contains("secret"))
    );
}

#[test]
fn content_is_not_opened_without_fixity_checking_and_read_once_with_it() {
    let (temp, _object) = copy_fixture("1.1/good-objects/spec-ex-full");
    let options = ValidationOptions {
        check_fixity: false,
    };
    let (report, opened, _) = validate_watched(temp.path(), &options);
    assert!(report.is_valid(), "{report:#?}");
    assert!(
        !opened.iter().any(|p| p.contains("/content/")),
        "{opened:?}"
    );

    let (report, opened) = validate_recording(temp.path());
    assert!(report.is_valid(), "{report:#?}");
    let mut sorted = opened.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        opened.len(),
        "a file was opened twice: {opened:?}"
    );
    let content = opened.iter().filter(|p| p.contains("/content/")).count();
    assert!(content > 0);
}
