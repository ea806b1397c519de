//! Storage-root validation on roots built by each test in a temporary directory, from the
//! good fixture objects, so every root-level code is provoked by exactly one defect.

use std::fs;
use std::path::{Path, PathBuf};

use ocfl_core::SpecVersion;
use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::layout::Layout;
use ocfl_core::namaste::Declaration;
use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{Code, RootReport, ValidationOptions, validate_storage_root};
use tempfile::TempDir;

/// A good 1.1 fixture object.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ocfl/1.1/good-objects")
        .join(name)
}

/// The id in a fixture's root inventory (read here with plain JSON, independently of the
/// inventory parser the validator uses).
fn fixture_id(name: &str) -> String {
    let bytes = fs::read(fixture(name).join("inventory.json")).expect("read inventory");
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("inventory JSON");
    json["id"].as_str().expect("id").to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create object directory");
    for entry in fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// A storage root with only a conformance declaration (no `ocfl_layout.json`, so object
/// placement is free and each test can put objects where it likes).
struct TestRoot {
    dir: TempDir,
}

impl TestRoot {
    fn new(version: SpecVersion) -> TestRoot {
        let root = TestRoot::without_declaration();
        let declaration = Declaration::storage_root(version);
        root.write("", &declaration.file_name(), &declaration.contents());
        root
    }

    /// A root created by `init_storage_root` with `layout`.
    fn with_layout(version: SpecVersion, layout: &Layout) -> TestRoot {
        let root = TestRoot::without_declaration();
        let options = InitOptions {
            spec_version: version,
            layout: Some(layout.clone()),
        };
        init_storage_root(&LocalStorage::new(root.dir.path()), &options).expect("init root");
        root
    }

    /// Copies a fixture object to where `layout` maps its id; returns that path.
    fn place_object(&self, layout: &Layout, fixture_name: &str) -> String {
        let path = layout
            .map_object_id(&fixture_id(fixture_name))
            .expect("map id");
        self.add_object(fixture_name, &path);
        path
    }

    fn without_declaration() -> TestRoot {
        TestRoot {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn write(&self, dir: &str, name: &str, contents: &str) {
        fs::create_dir_all(self.path(dir)).expect("mkdir");
        fs::write(self.path(dir).join(name), contents).expect("write");
    }

    fn mkdir(&self, dir: &str) {
        fs::create_dir_all(self.path(dir)).expect("mkdir");
    }

    fn add_object(&self, fixture_name: &str, at: &str) {
        copy_dir(&fixture(fixture_name), &self.path(at));
    }

    fn validate(&self) -> RootReport {
        validate_storage_root(
            &LocalStorage::new(self.dir.path()),
            &ValidationOptions::default(),
        )
    }
}

/// The codes of the root-level findings, errors and warnings.
fn root_codes(report: &RootReport) -> Vec<Code> {
    let root = &report.root;
    root.errors
        .iter()
        .chain(&root.warnings)
        .map(|f| f.code)
        .collect()
}

/// Asserts the root report has `code` and, when `code` is an error, that it is invalid.
fn assert_root_finding(report: &RootReport, code: Code) {
    assert!(
        report.root.has(code),
        "expected {code} among root findings {:?}",
        report.root
    );
    if code.as_str().starts_with('E') {
        assert!(!report.is_valid(), "a root with {code} must be invalid");
    }
}

/// Two objects in a two-level hierarchy, no layout: the baseline every defect is added to.
fn baseline(version: SpecVersion) -> TestRoot {
    let root = TestRoot::new(version);
    root.add_object("spec-ex-full", "ab/cd/spec-ex-full");
    root.add_object("minimal_mixed_digests", "ab/ef/minimal_mixed_digests");
    root
}

#[test]
fn baseline_root_is_valid_and_lists_objects_in_path_order() {
    let report = baseline(SpecVersion::V1_1).validate();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(root_codes(&report), Vec::<Code>::new());
    let paths: Vec<&str> = report.objects.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths, ["ab/cd/spec-ex-full", "ab/ef/minimal_mixed_digests"]);
}

#[test]
fn missing_root_declaration_is_e069() {
    let root = TestRoot::without_declaration();
    root.add_object("spec-ex-full", "ab/spec-ex-full");
    assert_root_finding(&root.validate(), Code::E069);
}

#[test]
fn object_directory_is_not_a_storage_root() {
    let root = TestRoot::without_declaration();
    copy_dir(&fixture("spec-ex-full"), root.dir.path());
    let report = root.validate();
    assert_root_finding(&report, Code::E069);
    assert!(report.root.errors[0].message.contains("is an OCFL object"));
}

#[test]
fn two_root_declarations_are_e076() {
    let root = baseline(SpecVersion::V1_1);
    let older = Declaration::storage_root(SpecVersion::V1_0);
    root.write("", &older.file_name(), &older.contents());
    let report = root.validate();
    assert_root_finding(&report, Code::E076);
    assert!(!report.root.has(Code::E069));
}

#[test]
fn malformed_root_declarations() {
    // (file name, contents, expected code)
    let cases = [
        ("0=ocfl_1.1", "ocfl_1.1", Code::E080),
        ("0=ocfl_1.1", "ocfl_1.0\n", Code::E080),
        ("1=ocfl_1.1", "ocfl_1.1\n", Code::E078),
        ("0=ocfl_2.0", "ocfl_2.0\n", Code::E079),
        ("0=OCFL_1.1", "OCFL_1.1\n", Code::E079),
        ("ocfl_1.1", "ocfl_1.1\n", Code::E077),
    ];
    for (name, contents, code) in cases {
        let root = TestRoot::without_declaration();
        root.write("", name, contents);
        let report = root.validate();
        assert!(
            report.root.has(code),
            "{name:?} {contents:?}: {:?}",
            report.root
        );
        assert!(!report.is_valid(), "{name:?}");
    }
}

#[test]
fn unrelated_files_in_the_root_are_ignored() {
    let root = baseline(SpecVersion::V1_1);
    root.write("", "ocfl_1.1.md", "the specification");
    root.write("", "README.txt", "local notes");
    root.write("", "0=bagit_1.0", "bagit_1.0\n");
    let report = root.validate();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(root_codes(&report), Vec::<Code>::new());
}

#[test]
fn file_in_intermediate_directory_is_e084() {
    let root = baseline(SpecVersion::V1_1);
    root.write("ab", "stray.txt", "not part of any object");
    let report = root.validate();
    assert_root_finding(&report, Code::E084);
    assert!(report.root.errors[0].message.contains("ab/stray.txt"));
}

#[test]
fn directory_of_files_without_declaration_is_e072_and_e085() {
    let root = baseline(SpecVersion::V1_1);
    root.write("ab/gh", "inventory.json", "{}");
    let report = root.validate();
    assert_root_finding(&report, Code::E072);
    assert_root_finding(&report, Code::E085);
    assert_eq!(report.objects.len(), 2, "not an object: no declaration");
}

#[test]
fn empty_directory_is_e073() {
    let root = baseline(SpecVersion::V1_1);
    root.mkdir("ab/empty");
    assert_root_finding(&root.validate(), Code::E073);
}

#[test]
fn object_newer_than_root_is_e081() {
    let root = baseline(SpecVersion::V1_0);
    let report = root.validate();
    assert!(report.root.is_valid(), "{:?}", report.root);
    assert!(!report.is_valid());
    for object in &report.objects {
        assert!(object.has(Code::E081), "{object:?}");
    }
}

#[test]
fn same_version_object_is_not_e081() {
    let report = baseline(SpecVersion::V1_1).validate();
    assert!(report.objects.iter().all(|o| !o.has(Code::E081)));
}

#[test]
fn file_in_extensions_is_e112() {
    let root = baseline(SpecVersion::V1_1);
    root.write("extensions", "notes.txt", "a file");
    assert_root_finding(&root.validate(), Code::E112);
}

#[test]
fn unregistered_extension_directory_is_w016_only() {
    let root = baseline(SpecVersion::V1_1);
    root.write("extensions/my-local-extension", "config.json", "{}");
    root.write(
        "extensions/0000-example-extension",
        "file-example.txt",
        "registered",
    );
    let report = root.validate();
    assert_root_finding(&report, Code::W016);
    assert_eq!(report.root.warnings.len(), 1, "{:?}", report.root);
    assert!(
        report.is_valid(),
        "a warning does not invalidate: {report:?}"
    );
}

#[test]
fn empty_extension_directory_is_e073() {
    let root = baseline(SpecVersion::V1_1);
    root.mkdir("extensions/0000-example-extension");
    assert_root_finding(&root.validate(), Code::E073);
}

#[test]
fn malformed_layout_files_are_e070() {
    let cases = [
        "not json",
        "[]",
        r#"{"extension": "0004-hashed-n-tuple-storage-layout"}"#,
        r#"{"description": "no extension key"}"#,
        r#"{"extension": 4, "description": "wrong type"}"#,
    ];
    for contents in cases {
        let root = baseline(SpecVersion::V1_1);
        root.write("", "ocfl_layout.json", contents);
        let report = root.validate();
        assert!(report.root.has(Code::E070), "{contents}: {:?}", report.root);
        assert!(!report.is_valid());
    }
}

#[test]
fn unregistered_layout_extension_is_e071() {
    for extension in ["my-own-layout", "0001-digest-algorithms"] {
        let root = baseline(SpecVersion::V1_1);
        root.write(
            "",
            "ocfl_layout.json",
            &format!(r#"{{"extension": "{extension}", "description": "x"}}"#),
        );
        let report = root.validate();
        assert!(
            report.root.has(Code::E071),
            "{extension}: {:?}",
            report.root
        );
        assert!(!report.root.has(Code::E070));
    }
}

#[test]
fn symlinks_are_e090() {
    let root = baseline(SpecVersion::V1_1);
    std::os::unix::fs::symlink(root.path("ab/cd"), root.path("ab/link")).expect("symlink");
    std::os::unix::fs::symlink(root.path("ab"), root.path("top-link")).expect("symlink");
    let report = root.validate();
    assert_root_finding(&report, Code::E090);
    let links = report.root.errors.iter().filter(|f| f.code == Code::E090);
    assert_eq!(links.count(), 2, "{:?}", report.root);
    assert_eq!(report.objects.len(), 2, "links are not followed");
}

#[test]
fn mixed_top_level_and_nested_objects_are_w015() {
    let root = baseline(SpecVersion::V1_1);
    root.add_object("minimal_one_version_one_file", "top-level-object");
    let report = root.validate();
    assert_root_finding(&report, Code::W015);
    assert!(report.is_valid());
}

/// A root for `layout` (name and config.json) holding the fixtures, which must be valid
/// with no root findings, listing exactly those objects at their mapped paths.
fn check_valid_layout(name: &str, config: Option<&str>, fixtures: &[&str]) {
    let layout = Layout::from_config(name, config.map(str::as_bytes)).expect("layout config");
    let root = TestRoot::with_layout(SpecVersion::V1_1, &layout);
    let mut expected: Vec<(String, String)> = fixtures
        .iter()
        .map(|f| (root.place_object(&layout, f), fixture_id(f)))
        .collect();
    expected.sort();
    let report = root.validate();
    assert!(report.is_valid(), "{name}: {report:?}");
    assert_eq!(root_codes(&report), Vec::<Code>::new(), "{name}");
    let found: Vec<(String, String)> = report
        .objects
        .iter()
        .map(|o| (o.path.clone(), o.id.clone().unwrap_or_default()))
        .collect();
    assert_eq!(found, expected, "{name}");
}

#[test]
fn valid_root_with_layout_0002() {
    // Flat direct: the ids must be usable as one directory name (no '/').
    check_valid_layout(
        "0002-flat-direct-storage-layout",
        None,
        &["updates_all_actions", "updates_three_versions_one_file"],
    );
}

#[test]
fn valid_root_with_layout_0003() {
    check_valid_layout(
        "0003-hash-and-id-n-tuple-storage-layout",
        None,
        &["spec-ex-full", "spec-ex-minimal", "minimal_mixed_digests"],
    );
}

#[test]
fn valid_root_with_layout_0004() {
    check_valid_layout(
        "0004-hashed-n-tuple-storage-layout",
        None,
        &["spec-ex-full", "spec-ex-minimal", "minimal_mixed_digests"],
    );
}

#[test]
fn valid_root_with_layout_0006() {
    check_valid_layout(
        "0006-flat-omit-prefix-storage-layout",
        Some(r#"{"extensionName": "0006-flat-omit-prefix-storage-layout", "delimiter": ":"}"#),
        &["updates_all_actions", "updates_three_versions_one_file"],
    );
}

#[test]
fn valid_root_with_layout_0007() {
    check_valid_layout(
        "0007-n-tuple-omit-prefix-storage-layout",
        Some(
            r#"{"extensionName": "0007-n-tuple-omit-prefix-storage-layout", "delimiter": ":",
                "tupleSize": 3, "numberOfTuples": 3, "zeroPadding": "left",
                "reverseObjectRoot": false}"#,
        ),
        &["updates_all_actions", "updates_three_versions_one_file"],
    );
}

#[test]
fn object_not_where_its_layout_puts_it_is_e083() {
    let layout = Layout::default_layout();
    let root = TestRoot::with_layout(SpecVersion::V1_1, &layout);
    let placed = root.place_object(&layout, "spec-ex-full");
    // A well-formed hierarchy position, but the one for another id.
    let wrong = layout.map_object_id("another-id").expect("map id");
    root.add_object("minimal_mixed_digests", &wrong);
    let report = root.validate();
    assert!(report.root.is_valid(), "{:?}", report.root);
    let by_path = |path: &str| {
        report
            .objects
            .iter()
            .find(|o| o.path == path)
            .expect("object reported")
    };
    assert!(by_path(&placed).is_valid(), "{:?}", by_path(&placed));
    let misplaced = by_path(&wrong);
    assert!(misplaced.has(Code::E083), "{misplaced:?}");
    assert!(!report.is_valid());
}

#[test]
fn two_objects_with_one_id_are_e083() {
    let root = baseline(SpecVersion::V1_1);
    root.add_object("spec-ex-full", "ab/gh/copy-of-spec-ex-full");
    let report = root.validate();
    let duplicates = report.objects.iter().filter(|o| o.has(Code::E083));
    assert_eq!(duplicates.count(), 2, "{report:?}");
    let message = &report.objects[0].errors[0].message;
    assert!(message.contains("ab/gh/copy-of-spec-ex-full"), "{message}");
}

#[test]
fn many_objects_with_one_id_keep_messages_short() {
    let root = TestRoot::new(SpecVersion::V1_1);
    for i in 0..6 {
        root.add_object("spec-ex-minimal", &format!("copies/copy-{i}"));
    }
    let report = root.validate();
    for object in &report.objects {
        let message = &object.errors[0].message;
        assert!(object.has(Code::E083));
        assert!(message.contains("5 other objects"), "{message}");
        assert_eq!(message.matches("copies/").count(), 3, "{message}");
    }
}

#[test]
fn layout_with_invalid_config_is_e083() {
    let layout = Layout::default_layout();
    let root = TestRoot::with_layout(SpecVersion::V1_1, &layout);
    root.place_object(&layout, "spec-ex-full");
    root.write(
        "extensions/0004-hashed-n-tuple-storage-layout",
        "config.json",
        r#"{"extensionName": "0004-hashed-n-tuple-storage-layout", "tupleSize": "three"}"#,
    );
    assert_root_finding(&root.validate(), Code::E083);
}

#[test]
fn freshly_initialised_roots_are_valid() {
    for version in SpecVersion::ALL {
        let root = TestRoot::with_layout(version, &Layout::default_layout());
        let report = root.validate();
        assert!(report.is_valid(), "{version}: {report:?}");
        assert!(report.objects.is_empty());
        assert_eq!(root_codes(&report), Vec::<Code>::new());
    }
}
