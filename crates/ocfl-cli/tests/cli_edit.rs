//! File-level changes on top of the head (`commit ID --add/--remove/--move`, `put`), `revert`
//! and `rollback`, end to end: the new state, `--json` lines, refusals with their exit status
//! and an unchanged root, and objects that validate with ours and ocfl-py.

mod commit_support;

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use commit_support::snapshot::Snapshot;
use commit_support::*;
use durable_core::InstanceFilter;
use durable_redb::RedbBackend;
use ocfl_durable::{CommitRequest, ServiceOptions, UpdateService};

const ID: &str = "ark:/12345/edit";

/// The fields of `ocfl commit --json` (documented in the README), exactly.
const COMMIT_KEYS: [&str; 6] = ["bytes", "changed", "id", "run", "steps", "version"];

fn object_dir(root: &Root) -> PathBuf {
    root.path().join(
        ocfl_core::layout::Layout::default_layout()
            .map_object_id(ID)
            .expect("map"),
    )
}

/// v1 of `ID` from a deposit, whose directory is then deleted: a later change that read any
/// file but the ones it names would fail.
fn object_v1(root: &Root) {
    let source = root.dir_path().join("deposit");
    write_tree(
        &source,
        &[
            ("data/a.txt", b"a\n"),
            ("data/nested/b.txt", b"b\n"),
            ("readme.txt", b"read me\n"),
        ],
    );
    root.commit(ID, &source, &[]);
    fs::remove_dir_all(&source).expect("remove the deposit");
}

/// Runs `ocfl --json ARGS`, asserts success and one commit-shaped line; returns it.
fn edit(root: &Root, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = root.ocfl(&all);
    ok(&output);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1, "{}", stdout(&output));
    assert_eq!(keys(&lines[0]), COMMIT_KEYS);
    lines[0].clone()
}

fn validate_with_peers(root: &Root) {
    ok(&root.ocfl(&["validate", ID]));
    if let Some(out) = ocfl_py_validate(&object_dir(root)) {
        assert!(out.contains("is VALID"), "{out}");
    }
}

#[test]
fn add_remove_and_move_change_only_the_named_files() {
    let root = Root::new();
    object_v1(&root);
    let new = root.dir_path().join("new");
    write_tree(&new, &[("one.txt", b"one\n"), ("tree/two.txt", b"two\n")]);
    let one = new.join("one.txt");
    let tree = new.join("tree");
    let command = [
        "commit",
        ID,
        "--add",
        one.to_str().expect("utf-8"),
        "data/colon:name.txt",
        "--add",
        tree.to_str().expect("utf-8"),
        "more",
        "--remove",
        "readme.txt",
        "--move",
        "data/nested",
        "moved",
        "-m",
        "edits",
    ];
    let line = edit(&root, &command);
    assert_eq!(line["version"], "v2");
    assert_eq!(line["changed"], true);
    // The same command again (after a kill just after its run completed, say) finds its
    // change made: its removal and move no longer apply, and nothing is written.
    let before = Snapshot::of(&root.path());
    let again = edit(&root, &command);
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["version"], "v2");
    before.assert_unchanged(&root.path(), "the same file-level commit again");
    let expected = root.dir_path().join("expected");
    write_tree(
        &expected,
        &[
            ("data/a.txt", b"a\n"),
            ("data/colon:name.txt", b"one\n"),
            ("more/two.txt", b"two\n"),
            ("moved/b.txt", b"b\n"),
        ],
    );
    root.assert_holds(ID, &expected);
    // Only the added bytes were copied: v2 holds two content files.
    let content = object_dir(&root).join("v2/content");
    assert_eq!(
        read_tree(&content).len(),
        2,
        "{:?}",
        read_tree(&content).keys()
    );
    validate_with_peers(&root);
}

#[test]
fn put_commits_standard_input_at_one_path() {
    let root = Root::new();
    object_v1(&root);
    let mut child = root
        .command(&["--json", "put", ID, "data/from stdin.txt", "-m", "put"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"piped\n")
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    let line = &json_lines(ok(&output))[0];
    assert_eq!(keys(line), COMMIT_KEYS);
    assert_eq!(line["version"], "v2");
    let export = root.dir_path().join("export");
    ok(&root.ocfl(&["export", ID, export.to_str().expect("utf-8")]));
    assert_eq!(
        fs::read(export.join("data/from stdin.txt")).expect("read"),
        b"piped\n"
    );
    assert_eq!(read_tree(&export).len(), 4);
    // The bytes kept for the run are gone once it completed.
    let kept = root.dir_path().join("root.ocfl-work/put");
    assert!(!kept.exists() || fs::read_dir(&kept).expect("list").next().is_none());
    validate_with_peers(&root);
}

#[test]
fn revert_makes_a_version_holding_an_earlier_state_without_copying_content() {
    let root = Root::new();
    object_v1(&root);
    edit(&root, &["commit", ID, "--remove", "data"]);
    let line = edit(&root, &["revert", ID, "v1", "-m", "back"]);
    assert_eq!(line["version"], "v3");
    assert_eq!(line["changed"], true);
    let expected = root.dir_path().join("expected");
    write_tree(
        &expected,
        &[
            ("data/a.txt", b"a\n"),
            ("data/nested/b.txt", b"b\n"),
            ("readme.txt", b"read me\n"),
        ],
    );
    root.assert_holds(ID, &expected);
    let content = object_dir(&root).join("v3/content");
    assert!(
        !content.exists() || read_tree(&content).is_empty(),
        "no content copied"
    );
    validate_with_peers(&root);
    // The head's own state again: nothing to change, nothing written.
    let before = Snapshot::of(&root.path());
    let again = edit(&root, &["revert", ID, "v3"]);
    assert_eq!(again["changed"], false);
    assert_eq!(again["version"], "v3");
    before.assert_unchanged(&root.path(), "a revert to the head's state");
}

#[test]
fn refusals_leave_the_root_unchanged() {
    let root = Root::new();
    object_v1(&root);
    let file = root.dir_path().join("file.txt");
    fs::write(&file, b"f\n").expect("write");
    let link = root.dir_path().join("link.txt");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    let file = file.to_str().expect("utf-8");
    let link = link.to_str().expect("utf-8");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["revert", "ark:/no/such", "v1"], 1, "not found"),
        (vec!["revert", ID, "v7"], 1, "no version v7"),
        (
            vec!["commit", ID, "--add", file, "../outside"],
            1,
            "outside",
        ),
        (vec!["commit", ID, "--add", file, "a//b"], 1, "a//b"),
        (
            vec!["commit", ID, "--remove", "no/such/file"],
            1,
            "no/such/file",
        ),
        (
            vec!["commit", ID, "--move", "readme.txt", "data/a.txt"],
            1,
            "data/a.txt",
        ),
        (
            vec!["commit", ID, "--add", link, "linked.txt"],
            1,
            "symbolic link",
        ),
        (vec!["commit", ID, "--add", file], 2, "DEST"),
        (vec!["commit", ID], 2, "SRC_DIR"),
        (vec!["rollback", ID, "v1"], 2, "--yes"),
        (vec!["rollback", ID, "v9", "--yes"], 1, "no version v9"),
    ];
    for (args, status, says) in cases {
        let before = Snapshot::of(&root.path());
        let output = root.ocfl(&args);
        assert_eq!(code(&output), status, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(stdout(&output), "", "{args:?}");
        before.assert_unchanged(&root.path(), &format!("{args:?}"));
    }
    // Links are staged with --follow-symlinks.
    let line = edit(
        &root,
        &[
            "commit",
            ID,
            "--add",
            link,
            "linked.txt",
            "--follow-symlinks",
        ],
    );
    assert_eq!(line["version"], "v2");
    // A change that leaves the state as it is writes nothing.
    let before = Snapshot::of(&root.path());
    let same = edit(&root, &["commit", ID, "--add", file, "linked.txt"]);
    assert_eq!(same["changed"], false);
    before.assert_unchanged(&root.path(), "a change to the same state");
}

/// Holds the store and makes an active run on `ID` no worker advances (its lock instance
/// suspended).
fn hold_object_busy(root: &Root) -> String {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let backend = Arc::new(RedbBackend::open(root.default_store()).expect("open store"));
        let service = UpdateService::new(backend.clone(), &root.path(), ServiceOptions::default())
            .expect("service");
        let submitted = service
            .submit(&CommitRequest::revert(ID, "v1"))
            .await
            .expect("submit");
        let instances = service
            .client()
            .list(&InstanceFilter::all())
            .await
            .expect("list");
        let lock = instances
            .iter()
            .find(|m| m.instance_id.starts_with("object-"))
            .expect("the object's lock instance");
        service
            .client()
            .suspend(&lock.instance_id, "held by the test")
            .await
            .expect("suspend");
        submitted.run
    })
}

#[test]
fn a_busy_object_refuses_edits_and_rollback_naming_the_run() {
    // The object is made in another root and copied here: this root's store then holds no
    // run whose lock a worker has yet to finish (the test's own process runs no worker).
    let made = Root::new();
    object_v1(&made);
    edit(&made, &["commit", ID, "--remove", "readme.txt"]);
    let root = Root::new();
    let files = read_tree(&object_dir(&made));
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    write_tree(&object_dir(&root), &files);
    ok(&root.ocfl(&["validate", ID]));
    fs::create_dir_all(root.default_store().parent().expect("parent")).expect("mkdir");
    let active = hold_object_busy(&root);
    for args in [
        vec!["commit", ID, "--remove", "data/a.txt"],
        vec!["rollback", ID, "v1", "--yes"],
    ] {
        let before = Snapshot::of(&root.path());
        let output = root.ocfl(&args);
        assert_eq!(code(&output), 1, "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(&active), "{}", stderr(&output));
        before.assert_unchanged(&root.path(), &format!("{args:?}"));
    }
    // Released, the same command completes the revert, which is listed like a commit's run.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let backend = Arc::new(RedbBackend::open(root.default_store()).expect("open store"));
        let client = durable_core::Client::new(backend);
        for lock in client.list(&InstanceFilter::all()).await.expect("list") {
            if lock.instance_id.starts_with("object-") {
                client
                    .resume(&lock.instance_id, "released")
                    .await
                    .expect("resume");
            }
        }
    });
    let joined = edit(&root, &["revert", ID, "v1"]);
    assert_eq!(
        joined["run"],
        active.as_str(),
        "the same command joins its run"
    );
    assert_eq!(joined["version"], "v3");
    let runs = root.ocfl(&["runs", "--all", "--json"]);
    assert!(stdout(ok(&runs)).contains(&active));
    validate_with_peers(&root);
}

fn rollback_json(root: &Root, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json", "rollback", ID];
    all.extend_from_slice(args);
    let output = root.ocfl(&all);
    let lines = json_lines(ok(&output));
    assert_eq!(
        keys(&lines[0]),
        ["changed", "dry_run", "id", "removed", "version"]
    );
    lines[0].clone()
}

fn three_versions(root: &Root) {
    object_v1(root);
    edit(root, &["commit", ID, "--remove", "readme.txt"]);
    edit(root, &["commit", ID, "--remove", "data/a.txt"]);
}

#[test]
fn rollback_removes_the_later_versions() {
    let root = Root::new();
    three_versions(&root);
    let before = Snapshot::of(&root.path());
    let dry = rollback_json(&root, &["v1", "--dry-run"]);
    assert_eq!(dry["removed"], serde_json::json!(["v3", "v2"]));
    assert_eq!(dry["changed"], false);
    before.assert_unchanged(&root.path(), "a dry run");

    let done = rollback_json(&root, &["v1", "--yes"]);
    assert_eq!(done["removed"], serde_json::json!(["v3", "v2"]));
    assert_eq!(done["changed"], true);
    assert_eq!(root.head(ID), "v1");
    assert!(!object_dir(&root).join("v2").exists());
    validate_with_peers(&root);
    let again = rollback_json(&root, &["v1", "--yes"]);
    assert_eq!(again["changed"], false);
    assert_eq!(again["removed"], serde_json::json!([]));
    // The object goes on from v1: the next version is v2 again.
    let line = edit(&root, &["commit", ID, "--remove", "readme.txt"]);
    assert_eq!(line["version"], "v2");
    validate_with_peers(&root);
}

/// Replays a rollback to v1 interrupted at each point of its window (docs/durability.md,
/// section 4b): the same command finishes it.
#[test]
fn rollback_finishes_an_interrupted_rollback() {
    for point in ["inventory", "sidecar", "one-version"] {
        let root = Root::new();
        three_versions(&root);
        let object = object_dir(&root);
        let copy = |name: &str| {
            fs::copy(object.join("v1").join(name), object.join(name)).expect("copy");
        };
        copy("inventory.json");
        if point != "inventory" {
            copy("inventory.json.sha512");
        }
        if point == "one-version" {
            fs::remove_dir_all(object.join("v3")).expect("remove v3");
        }
        let invalid = root.ocfl(&["validate", ID]);
        assert_eq!(code(&invalid), 1, "{point}: inside the window");
        let done = rollback_json(&root, &["v1", "--yes"]);
        let expected = if point == "one-version" {
            serde_json::json!(["v2"])
        } else {
            serde_json::json!(["v3", "v2"])
        };
        assert_eq!(done["removed"], expected, "{point}");
        assert_eq!(root.head(ID), "v1");
        validate_with_peers(&root);
    }
}
