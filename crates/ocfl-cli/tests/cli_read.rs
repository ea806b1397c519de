//! The read and manage commands end to end (`ls`, `log`, `show`, `diff`, `cat`, `export`,
//! `purge`): output, `--json` shapes, error cases and exit statuses, on temporary roots made
//! with `ocfl init` and copies of the good fixture objects.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use ocfl_core::layout::Layout;
use serde_json::Value;
use tempfile::TempDir;

mod commit_support;
use commit_support::{code, ocfl, stderr, stdout};

const FULL: &str = "spec-ex-full";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ocfl/1.1/good-objects")
        .join(name)
}

/// A fixture's inventory as plain JSON (independent of the library's parser).
fn inventory(name: &str) -> Value {
    let bytes = fs::read(fixture(name).join("inventory.json")).expect("inventory");
    serde_json::from_slice(&bytes).expect("json")
}

fn fixture_id(name: &str) -> String {
    inventory(name)["id"].as_str().expect("id").to_owned()
}

/// The sorted logical paths of `version` in a fixture's inventory.
fn state_paths(name: &str, version: &str) -> Vec<String> {
    let mut paths: Vec<String> = inventory(name)["versions"][version]["state"]
        .as_object()
        .expect("state")
        .values()
        .flat_map(|p| p.as_array().expect("paths").iter())
        .map(|p| p.as_str().expect("path").to_owned())
        .collect();
    paths.sort();
    paths
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

/// A storage root made by `ocfl init` in a temporary directory.
struct Root {
    dir: TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Root { dir };
        let output = root.ocfl(&["init"]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        root
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Copies fixture `name` where the default layout puts its id; returns (id, dir).
    fn add(&self, name: &str) -> (String, PathBuf) {
        let id = fixture_id(name);
        let dir = self
            .path()
            .join(Layout::default_layout().map_object_id(&id).expect("map"));
        copy_dir(&fixture(name), &dir);
        (id, dir)
    }

    /// Runs `ocfl --root <root> args...`.
    fn ocfl(&self, args: &[&str]) -> Output {
        let root = self.path();
        let mut all = vec!["--root", root.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        ocfl(&all)
    }
}

/// Every stdout line as JSON, each checked to be an object with exactly `keys`.
fn json_lines(output: &Output, keys: &[&str]) -> Vec<Value> {
    let mut expected = keys.to_vec();
    expected.sort_unstable();
    stdout(output)
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("each line is JSON");
            let mut found: Vec<&str> = value
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            found.sort_unstable();
            assert_eq!(found, expected, "{line}");
            value
        })
        .collect()
}

fn lines(output: &Output) -> Vec<String> {
    stdout(output).lines().map(str::to_owned).collect()
}

#[test]
fn ls_lists_the_objects_of_the_root() {
    let root = Root::new();
    let (full, full_dir) = root.add(FULL);
    let (other, _) = root.add("updates_all_actions");
    let output = root.ocfl(&["ls"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let mut expected = vec![full.clone(), other.clone()];
    expected.sort();
    assert_eq!(lines(&output), expected);

    let json = root.ocfl(&["ls", "--json"]);
    assert_eq!(code(&json), 0);
    let objects = json_lines(&json, &["id", "head", "path"]);
    let entry = objects
        .iter()
        .find(|o| o["id"] == full.as_str())
        .expect("listed");
    assert_eq!(entry["head"], inventory(FULL)["head"]);
    assert_eq!(
        root.path().join(entry["path"].as_str().expect("path")),
        full_dir
    );
}

#[test]
fn ls_reports_unreadable_objects_and_lists_the_rest() {
    let root = Root::new();
    let (full, _) = root.add(FULL);
    let (_, broken_dir) = root.add("updates_all_actions");
    fs::remove_file(broken_dir.join("inventory.json.sha512")).expect("break");
    let output = root.ocfl(&["ls"]);
    assert_eq!(code(&output), 1);
    assert_eq!(lines(&output), [full]);
    let broken = broken_dir
        .strip_prefix(root.path())
        .expect("inside")
        .to_str()
        .expect("utf-8")
        .to_owned();
    assert!(stderr(&output).contains(&broken), "{}", stderr(&output));
}

#[test]
fn ls_of_an_object_lists_a_versions_files() {
    let root = Root::new();
    let (id, _) = root.add(FULL);
    let head = root.ocfl(&["ls", &id]);
    assert_eq!(code(&head), 0, "{}", stderr(&head));
    assert_eq!(lines(&head), state_paths(FULL, "v3"));

    let v1 = root.ocfl(&["ls", &id, "--version", "v1", "--json"]);
    assert_eq!(code(&v1), 0);
    let files = json_lines(&v1, &["path", "digest", "content_path"]);
    let paths: Vec<&str> = files
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, state_paths(FULL, "v1"));
    let state = &inventory(FULL)["versions"]["v1"]["state"];
    for file in &files {
        let digest = file["digest"].as_str().expect("digest");
        assert!(
            state[digest]
                .as_array()
                .expect("digest in state")
                .contains(&file["path"]),
            "{file}"
        );
    }
    // A bare number names a version too.
    assert_eq!(lines(&root.ocfl(&["ls", &id, "--version", "1"])), paths);
}

#[test]
fn log_lists_versions_newest_first() {
    let root = Root::new();
    let (id, _) = root.add(FULL);
    let versions = inventory(FULL)["versions"].clone();
    let text = root.ocfl(&["log", &id]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    let printed = lines(&text);
    assert_eq!(printed.len(), 3);
    for (line, version) in printed.iter().zip(["v3", "v2", "v1"]) {
        assert!(line.starts_with(version), "{line}");
        let block = &versions[version];
        for field in [&block["created"], &block["message"], &block["user"]["name"]] {
            assert!(line.contains(field.as_str().expect("text")), "{line}");
        }
    }

    let json = root.ocfl(&["log", "--json", &id]);
    let entries = json_lines(&json, &["version", "created", "user", "message"]);
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["version"].as_str().expect("version"))
        .collect();
    assert_eq!(names, ["v3", "v2", "v1"]);
    assert_eq!(entries[2]["user"], versions["v1"]["user"]);
    assert_eq!(entries[2]["created"], versions["v1"]["created"]);
}

#[test]
fn show_prints_one_versions_metadata_and_files() {
    let root = Root::new();
    let (id, _) = root.add(FULL);
    let text = root.ocfl(&["show", &id]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    let printed = stdout(&text);
    assert!(printed.contains("v3 (head)"), "{printed}");
    for path in state_paths(FULL, "v3") {
        assert!(printed.contains(&format!("\n  {path}\n")), "{printed}");
    }

    let json = root.ocfl(&["show", "--json", &id, "--version", "v1"]);
    assert_eq!(code(&json), 0);
    let shown = json_lines(
        &json,
        &[
            "id", "version", "head", "created", "user", "message", "files",
        ],
    );
    assert_eq!(shown.len(), 1);
    let v1 = &inventory(FULL)["versions"]["v1"];
    assert_eq!(shown[0]["id"], id.as_str());
    assert_eq!(shown[0]["version"], "v1");
    assert_eq!(shown[0]["head"], false);
    assert_eq!(shown[0]["message"], v1["message"]);
    let files = shown[0]["files"].as_array().expect("files");
    let paths: Vec<&str> = files
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, state_paths(FULL, "v1"));
}

#[test]
fn diff_lists_changes_between_versions() {
    let root = Root::new();
    let (id, _) = root.add(FULL);
    // v1 -> v2: "Fix bar.xml, remove image.tiff, add empty2.txt".
    let text = root.ocfl(&["diff", &id, "v1", "v2"]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    assert_eq!(
        lines(&text),
        ["A empty2.txt", "M foo/bar.xml", "D image.tiff"]
    );
    // v1 -> v3: empty.txt's content now only at empty2.txt; bar.xml changed.
    let text = root.ocfl(&["diff", &id, "v1", "v3"]);
    assert_eq!(lines(&text), ["R empty.txt -> empty2.txt", "M foo/bar.xml"]);

    let json = root.ocfl(&["diff", "--json", &id, "v1", "v3"]);
    let values: Vec<Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(values.len(), 2);
    let manifest = inventory(FULL)["manifest"].clone();
    assert_eq!(values[0]["change"], "renamed");
    assert_eq!(values[0]["old_path"], "empty.txt");
    assert_eq!(values[0]["path"], "empty2.txt");
    assert!(manifest[values[0]["digest"].as_str().expect("digest")].is_array());
    assert_eq!(values[1]["change"], "modified");
    assert_eq!(
        manifest[values[1]["old_digest"].as_str().expect("old")][0],
        "v1/content/foo/bar.xml"
    );
    assert_eq!(
        manifest[values[1]["digest"].as_str().expect("new")][0],
        "v2/content/foo/bar.xml"
    );

    let same = root.ocfl(&["diff", &id, "v2", "v2"]);
    assert_eq!(code(&same), 0);
    assert_eq!(stdout(&same), "");
}

#[test]
fn cat_writes_the_files_bytes() {
    let root = Root::new();
    let (id, _) = root.add(FULL);
    let head = root.ocfl(&["cat", &id, "foo/bar.xml"]);
    assert_eq!(code(&head), 0, "{}", stderr(&head));
    assert_eq!(
        head.stdout,
        fs::read(fixture(FULL).join("v2/content/foo/bar.xml")).expect("read")
    );
    let v1 = root.ocfl(&["cat", &id, "foo/bar.xml", "--version", "v1"]);
    assert_eq!(
        v1.stdout,
        fs::read(fixture(FULL).join("v1/content/foo/bar.xml")).expect("read")
    );
}

#[test]
fn cat_says_when_the_bytes_are_corrupt() {
    let root = Root::new();
    let (id, dir) = root.add(FULL);
    fs::write(dir.join("v1/content/image.tiff"), "not a tiff").expect("corrupt");
    let output = root.ocfl(&["cat", &id, "image.tiff"]);
    assert_eq!(code(&output), 1);
    let message = stderr(&output);
    assert!(
        message.contains("standard output") && message.contains("image.tiff"),
        "{message}"
    );
}

#[test]
fn cat_of_a_missing_path_or_a_directory_fails() {
    let root = Root::new();
    let (id, _) = root.add(FULL);
    for (path, expect) in [
        ("empty.txt", "empty.txt"), // deleted in v3
        ("foo", "directory"),
        ("no/such/file", "no/such/file"),
    ] {
        let output = root.ocfl(&["cat", &id, path]);
        assert_eq!(code(&output), 1, "{path}");
        assert!(stdout(&output).is_empty(), "{path}");
        assert!(stderr(&output).contains(expect), "{}", stderr(&output));
    }
}

#[test]
fn export_writes_a_version_to_a_new_directory() {
    let root = Root::new();
    let (id, _) = root.add(FULL);
    let dest = root.dir.path().join("out");
    let dest_arg = dest.to_str().expect("utf-8");
    let output = root.ocfl(&["export", "--json", &id, dest_arg, "--version", "v1"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let summary = json_lines(&output, &["id", "version", "dest", "files", "bytes"]);
    assert_eq!(summary[0]["version"], "v1");
    assert_eq!(summary[0]["dest"], dest_arg);
    let mut total = 0;
    for path in state_paths(FULL, "v1") {
        let exported = fs::read(dest.join(&path)).expect("exported file");
        assert_eq!(
            exported,
            fs::read(fixture(FULL).join("v1/content").join(&path)).expect("fixture"),
            "{path}"
        );
        total += exported.len();
    }
    assert_eq!(summary[0]["files"], 3);
    assert_eq!(summary[0]["bytes"], total);

    // A second export into the now non-empty directory is refused and changes nothing.
    let before = fs::read(dest.join("foo/bar.xml")).expect("read");
    let again = root.ocfl(&["export", &id, dest_arg]);
    assert_eq!(code(&again), 1);
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
    assert_eq!(fs::read(dest.join("foo/bar.xml")).expect("read"), before);
}

#[test]
fn a_failed_export_leaves_no_destination() {
    let root = Root::new();
    let (id, dir) = root.add(FULL);
    fs::write(dir.join("v2/content/foo/bar.xml"), "changed").expect("corrupt");
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("export");
    let output = root.ocfl(&["export", &id, dest.to_str().expect("utf-8")]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("bar.xml"), "{}", stderr(&output));
    assert_eq!(fs::read_dir(out.path()).expect("list").count(), 0);
}

#[test]
fn purge_needs_yes_then_removes_the_object() {
    let root = Root::new();
    let (id, dir) = root.add(FULL);
    let (other, _) = root.add("updates_all_actions");
    let unconfirmed = root.ocfl(&["purge", &id]);
    assert_eq!(code(&unconfirmed), 2);
    assert!(stderr(&unconfirmed).contains("--yes"));
    assert!(dir.join("inventory.json").is_file(), "kept");

    let output = root.ocfl(&["purge", "--json", &id, "--yes"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let purged = json_lines(&output, &["id", "path", "outcome"]);
    assert_eq!(purged[0]["outcome"], "removed");
    assert!(!dir.exists());
    assert_eq!(lines(&root.ocfl(&["ls"])), [other]);
    let validate = root.ocfl(&["validate"]);
    assert_eq!(code(&validate), 0, "{}", stdout(&validate));
    let siblings: Vec<_> = fs::read_dir(root.dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(siblings, ["root"], "no work directory left beside the root");

    let again = root.ocfl(&["purge", &id, "--yes"]);
    assert_eq!(code(&again), 1);
    assert!(stderr(&again).contains("not found"), "{}", stderr(&again));
}

#[test]
fn unknown_ids_fail_with_the_id_named() {
    let root = Root::new();
    root.add(FULL);
    let id = "ark:/no/such/object";
    let dest = root.dir.path().join("dest");
    let dest = dest.to_str().expect("utf-8");
    for args in [
        &["ls", id][..],
        &["log", id],
        &["show", id],
        &["diff", id, "v1", "v2"],
        &["cat", id, "a.txt"],
        &["export", id, dest],
        &["purge", id, "--yes"],
    ] {
        let output = root.ocfl(args);
        assert_eq!(code(&output), 1, "{args:?}");
        let message = stderr(&output);
        assert!(
            message.contains(id) && message.contains("not found"),
            "{args:?}: {message}"
        );
    }
}

#[test]
fn unknown_versions_fail() {
    let root = Root::new();
    let (id, _) = root.add(FULL);
    let dest = root.dir.path().join("dest");
    let dest = dest.to_str().expect("utf-8");
    for args in [
        &["ls", &id, "--version", "v9"][..],
        &["show", &id, "--version", "v9"],
        &["diff", &id, "v1", "v9"],
        &["cat", &id, "foo/bar.xml", "--version", "v9"],
        &["export", &id, dest, "--version", "v9"],
    ] {
        let output = root.ocfl(args);
        assert_eq!(code(&output), 1, "{args:?}");
        assert!(stderr(&output).contains("v9"), "{}", stderr(&output));
        assert!(!Path::new(dest).exists());
    }
}

#[test]
fn a_tampered_inventory_is_refused_by_every_reader() {
    let root = Root::new();
    let (id, dir) = root.add(FULL);
    let inventory = dir.join("inventory.json");
    let text = fs::read_to_string(&inventory).expect("read");
    fs::write(&inventory, text.replace("Alice", "Mallory")).expect("tamper");
    for args in [
        &["ls", &id][..],
        &["log", &id],
        &["show", &id],
        &["diff", &id, "v1", "v2"],
        &["cat", &id, "foo/bar.xml"],
    ] {
        let output = root.ocfl(args);
        assert_eq!(code(&output), 1, "{args:?}");
        assert!(stdout(&output).is_empty(), "{args:?}");
        let message = stderr(&output);
        assert!(
            message.contains("tampered") && message.contains("inventory.json"),
            "{args:?}: {message}"
        );
    }
    // Listing the root names the object it cannot read.
    let ls = root.ocfl(&["ls"]);
    assert_eq!(code(&ls), 1);
    assert!(stderr(&ls).contains("tampered"), "{}", stderr(&ls));
}

#[test]
fn bad_usage_exits_2() {
    let root = Root::new();
    let (id, _) = root.add(FULL);
    for args in [
        &["ls", "--version", "v1"][..],
        &["ls", &id, "--version", "one"],
        &["show", &id, "--version", "v0"],
        &["diff", &id, "v1"],
        &["diff", &id, "v1", "latest"],
        &["cat", &id],
        &["export", &id],
        &["log"],
        &["purge"],
    ] {
        let output = root.ocfl(args);
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn every_command_needs_a_root() {
    for args in [
        &["ls"][..],
        &["log", "x"],
        &["show", "x"],
        &["diff", "x", "v1", "v2"],
        &["cat", "x", "p"],
        &["export", "x", "d"],
        &["purge", "x", "--yes"],
    ] {
        let output = ocfl(args);
        assert_eq!(code(&output), 2, "{args:?}");
        assert!(stderr(&output).contains("OCFL_ROOT"), "{}", stderr(&output));
    }
}

#[test]
fn a_directory_that_is_not_a_storage_root_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8");
    let output = ocfl(&["--root", path, "ls"]);
    assert_eq!(code(&output), 1);
    let message = stderr(&output);
    assert!(
        message.contains(path) && message.contains("not an OCFL storage root"),
        "{message}"
    );
}

#[test]
fn help_has_an_example_for_each_command() {
    for command in ["ls", "log", "show", "diff", "cat", "export", "purge"] {
        let output = ocfl(&[command, "--help"]);
        assert_eq!(code(&output), 0);
        let text = stdout(&output);
        assert!(
            text.contains("Examples:") && text.contains(&format!("ocfl --root /archive {command}")),
            "{command}: {text}"
        );
    }
}
