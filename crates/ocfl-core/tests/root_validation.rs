//! Storage-root validation on roots built by each test in a temporary directory, from the
//! good fixture objects, so every root-level code is provoked by exactly one defect.

use std::fs;
use std::path::{Path, PathBuf};

use ocfl_core::SpecVersion;
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
    root.add_object("updates_all_actions", "ab/ef/updates_all_actions");
    root
}

#[test]
fn baseline_root_is_valid_and_lists_objects_in_path_order() {
    let report = baseline(SpecVersion::V1_1).validate();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(root_codes(&report), Vec::<Code>::new());
    let paths: Vec<&str> = report.objects.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths, ["ab/cd/spec-ex-full", "ab/ef/updates_all_actions"]);
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
