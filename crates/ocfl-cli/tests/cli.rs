//! The `ocfl` binary end to end: exit statuses, the JSON-lines contract, usage errors.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ocfl_core::layout::Layout;
use serde_json::Value;

mod commit_support;
use commit_support::{code, ocfl, stderr, stdout};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ocfl/1.1")
}

/// Every stdout line parsed as JSON, each checked to have exactly the contract's keys.
fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("each line is JSON");
            let mut keys: Vec<&str> = value
                .as_object()
                .expect("each line is an object")
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                ["errors", "id", "path", "valid", "warnings"],
                "{line}"
            );
            value
        })
        .collect()
}

fn codes(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_owned())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn fixture_id(object: &Path) -> String {
    let bytes = fs::read(object.join("inventory.json")).expect("inventory");
    let json: Value = serde_json::from_slice(&bytes).expect("json");
    json["id"].as_str().expect("id").to_owned()
}

/// Copies a fixture object into a root created with the default layout; returns its id
/// and its directory.
fn add_object(root: &Path, fixture: &Path) -> (String, PathBuf) {
    let id = fixture_id(fixture);
    let relative = Layout::default_layout().map_object_id(&id).expect("map id");
    let dir = root.join(relative);
    copy_dir(fixture, &dir);
    (id, dir)
}

fn init_root(dir: &Path, extra: &[&str]) -> String {
    let root = dir.join("root");
    let root_arg = root.to_str().expect("utf-8 path").to_owned();
    let mut args = vec!["--root", &root_arg, "init"];
    args.extend_from_slice(extra);
    let output = ocfl(&args);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    root_arg
}

#[test]
fn init_then_validate_an_empty_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = init_root(dir.path(), &[]);
    assert!(Path::new(&root).join("0=ocfl_1.1").is_file());
    assert!(Path::new(&root).join("ocfl_layout.json").is_file());

    let text = ocfl(&["--root", &root, "validate"]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    assert!(stdout(&text).starts_with("valid"), "{}", stdout(&text));

    let json = ocfl(&["--root", &root, "validate", "--json"]);
    assert_eq!(code(&json), 0);
    let lines = json_lines(&json);
    assert_eq!(lines.len(), 1, "only the root line");
    assert_eq!(lines[0]["path"], root.as_str());
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["id"], Value::Null);
}

#[test]
fn init_with_spec_and_layout_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = init_root(
        dir.path(),
        &[
            "--spec",
            "1.0",
            "--layout",
            "0002-flat-direct-storage-layout",
            "--digest",
            "sha256",
        ],
    );
    assert!(Path::new(&root).join("0=ocfl_1.0").is_file());
    let layout = fs::read_to_string(Path::new(&root).join("ocfl_layout.json")).expect("layout");
    assert!(
        layout.contains("0002-flat-direct-storage-layout"),
        "{layout}"
    );
    assert_eq!(code(&ocfl(&["--root", &root, "validate"])), 0);
}

#[test]
fn init_refuses_a_non_empty_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("precious.txt"), "keep me").expect("write");
    let root = dir.path().to_str().expect("utf-8");
    let output = ocfl(&["--root", root, "init"]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("not empty"), "{}", stderr(&output));
    assert!(stderr(&output).contains(root), "names the directory");
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["precious.txt"], "nothing written");
}

#[test]
fn validate_a_good_object_by_path() {
    let object = fixtures().join("good-objects/spec-ex-full");
    let path = object.to_str().expect("utf-8");
    let output = ocfl(&["validate", "--json", path]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["path"], path);
    assert_eq!(lines[0]["id"], fixture_id(&object).as_str());
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["errors"], Value::Array(Vec::new()));
}

#[test]
fn validate_a_bad_object_by_path() {
    let object = fixtures().join("bad-objects/E058_no_sidecar");
    let output = ocfl(&["validate", "--json", object.to_str().expect("utf-8")]);
    assert_eq!(code(&output), 1);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["valid"], false);
    assert!(
        codes(&lines[0]["errors"]).contains(&"E058".to_owned()),
        "{}",
        lines[0]
    );

    let text = ocfl(&["validate", object.to_str().expect("utf-8")]);
    assert_eq!(code(&text), 1);
    assert!(stdout(&text).starts_with("INVALID"), "{}", stdout(&text));
    assert!(stdout(&text).contains("\n  E058 "), "{}", stdout(&text));
}

#[test]
fn validate_an_object_by_id_through_the_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = init_root(dir.path(), &[]);
    let (id, object_dir) = add_object(
        Path::new(&root),
        &fixtures().join("good-objects/spec-ex-full"),
    );
    let output = ocfl(&["--root", &root, "--json", "validate", &id]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["path"], object_dir.to_str().expect("utf-8"));

    let missing = ocfl(&["--root", &root, "validate", "ark:/no/such/object"]);
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn validate_a_root_with_an_object_newer_than_the_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = init_root(dir.path(), &["--spec", "1.0"]);
    let (_, object_dir) = add_object(
        Path::new(&root),
        &fixtures().join("good-objects/spec-ex-full"),
    );
    let output = ocfl(&["--root", &root, "validate", "--json", "--no-fixity"]);
    assert_eq!(code(&output), 1);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2, "root line and one object line");
    assert_eq!(lines[0]["path"], root.as_str());
    assert_eq!(lines[0]["valid"], true, "the root itself is fine");
    assert_eq!(lines[1]["path"], object_dir.to_str().expect("utf-8"));
    assert_eq!(lines[1]["valid"], false);
    assert!(codes(&lines[1]["errors"]).contains(&"E081".to_owned()));

    let text = ocfl(&["--root", &root, "validate", "--no-fixity"]);
    assert_eq!(code(&text), 1);
    let printed = stdout(&text);
    let printed: Vec<&str> = printed.lines().collect();
    assert!(
        printed[0].starts_with("valid") && printed[0].contains(&root),
        "{printed:?}"
    );
    assert!(printed[1].starts_with("INVALID"), "{printed:?}");
    assert!(
        printed.iter().any(|l| l.starts_with("  E081 ")),
        "{printed:?}"
    );
    assert!(stderr(&text).contains("1 invalid"), "summary on stderr");
}

#[test]
fn a_storage_root_directory_argument_validates_the_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = init_root(dir.path(), &[]);
    add_object(
        Path::new(&root),
        &fixtures().join("good-objects/spec-ex-full"),
    );
    let output = ocfl(&["validate", "--json", &root]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2, "root line and one object line");
    assert_eq!(lines[0]["path"], root.as_str());
}

#[test]
fn root_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = init_root(dir.path(), &[]);
    let output = Command::new(env!("CARGO_BIN_EXE_ocfl"))
        .args(["validate", "--json"])
        .env("OCFL_ROOT", &root)
        .output()
        .expect("run ocfl");
    assert_eq!(code(&output), 0);
    assert_eq!(json_lines(&output)[0]["path"], root.as_str());
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["validate", "--no-such-flag"],
        &["init", "--spec", "2.0"],
        &["init", "--layout", "9999-unknown"],
        &["init", "--digest", "md5"],
        &["--quiet", "--verbose", "validate"],
    ] {
        let output = ocfl(args);
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn missing_root_is_a_usage_error_naming_the_option() {
    for args in [
        &["validate"][..],
        &["init"],
        &["validate", "ark:/not-a-directory"],
    ] {
        let output = ocfl(args);
        assert_eq!(code(&output), 2, "{args:?}");
        let message = stderr(&output);
        assert!(
            message.contains("--root") && message.contains("OCFL_ROOT"),
            "{message}"
        );
    }
}

#[test]
fn nonexistent_root_fails_with_its_name() {
    let output = ocfl(&["--root", "/nonexistent/ocfl-root", "validate"]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("/nonexistent/ocfl-root"));
}

#[test]
fn help_explains_commands_with_examples() {
    for args in [
        &["--help"][..],
        &["init", "--help"],
        &["validate", "--help"],
    ] {
        let output = ocfl(args);
        assert_eq!(code(&output), 0);
        let text = stdout(&output);
        assert!(text.contains("Examples:"), "{args:?}: {text}");
    }
}
