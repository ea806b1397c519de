//! The bad-input catalogue, end to end through the `ocfl` binary.
//!
//! Every case asserts the exit status (1: the operation failed; 2: bad usage), a message
//! that names the culprit (the object id, file, path, option or store), and that the storage
//! root is byte for byte as it was (`Snapshot`: every path, file, link and directory, so a
//! stray temporary file or an empty layout directory shows too). Commit refusals also leave
//! no unfinished run behind: a run that cannot succeed fails instead of waiting to be resumed.
//!
//! Names that differ only in case or in Unicode normalization (`café` as one code point or
//! as `e` + combining accent) are distinct logical paths in OCFL, and distinct names on the
//! filesystems a storage root lives on here: they are committed as the distinct files they
//! are, each with its own content path, and read back byte for byte (see
//! `names_differing_only_in_case_or_normalization_are_distinct_files`). Exporting such a
//! version onto a case-insensitive or normalizing filesystem fails naming the second file
//! (files are created with `create_new`), never silently merging them.
//!
//! The read-only root and full disk cases need `mount` (a tmpfs): they run when the tests
//! may mount (as root here) and are skipped with a printed reason otherwise. Tests run as
//! root cannot make a file unreadable with `chmod` alone: the unreadable-source case runs
//! `ocfl` without the capabilities that bypass permissions (`setpriv`), or skips.

mod commit_support;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use commit_support::snapshot::Snapshot;
use commit_support::*;
use durable_redb::RedbBackend;
use tempfile::TempDir;

const ID: &str = "ark:/12345/bcd987";
const FLAT: &str = "0002-flat-direct-storage-layout";

fn small_source(root: &Root, name: &str) -> PathBuf {
    let source = root.dir_path().join(name);
    write_tree(&source, &[("a.txt", b"alpha\n"), ("dir/b.txt", b"bravo\n")]);
    source
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// Runs `command`, asserts exit status `exit`, nothing on stdout, a message on stderr
/// containing every one of `culprits`, and that the storage root is unchanged. Returns stderr.
fn refused_with(root: &Root, mut command: Command, exit: i32, culprits: &[&str]) -> String {
    let before = Snapshot::of(&root.path());
    let output = command.output().expect("run ocfl");
    let err = stderr(&output);
    assert_eq!(code(&output), exit, "{command:?}\nstderr:\n{err}");
    assert_eq!(stdout(&output), "", "{command:?}");
    for culprit in culprits {
        assert!(
            err.contains(culprit),
            "{command:?}: {culprit:?} missing from:\n{err}"
        );
    }
    before.assert_unchanged(&root.path(), &format!("{command:?}"));
    err
}

/// [`refused_with`] for `ocfl --root ROOT args...`.
fn refused(root: &Root, args: &[&str], exit: i32, culprits: &[&str]) -> String {
    refused_with(root, root.command(args), exit, culprits)
}

/// [`refused`] for a refusal decidable before a run starts: the directory holding the root
/// (its work area and engine store, the sources) is unchanged too, and no run is named.
fn refused_before_run(root: &Root, args: &[&str], exit: i32, culprits: &[&str]) -> String {
    let before = Snapshot::of(root.dir_path());
    let err = refused(root, args, exit, culprits);
    before.assert_unchanged(
        root.dir_path(),
        &format!("the root's parent after {args:?}"),
    );
    assert!(!err.contains("run commit-"), "{args:?} names a run: {err}");
    err
}

/// Asserts that no run is left waiting to be resumed.
fn no_unfinished_runs(root: &Root) {
    let runs = root.ocfl(&["runs", "--json"]);
    assert_eq!(stdout(ok(&runs)), "", "unfinished runs left");
}

/// A root with layout 0002 (the object id is the directory name).
fn flat_root() -> Root {
    let dir = tempfile::tempdir().expect("tempdir");
    let root_dir = dir.path().join("root");
    ok(&ocfl(&[
        "--root",
        utf8(&root_dir),
        "init",
        "--layout",
        FLAT,
    ]));
    Root { dir }
}

/// The directory object `id` has in a root of the default layout.
fn object_dir(root: &Root, id: &str) -> PathBuf {
    root.path().join(
        ocfl_core::layout::Layout::default_layout()
            .map_object_id(id)
            .expect("map"),
    )
}

#[test]
fn invalid_object_ids_are_refused_naming_the_id() {
    let root = Root::new();
    let source = small_source(&root, "src");
    let src = utf8(&source);
    refused_before_run(
        &root,
        &["commit", "", src],
        1,
        &["invalid object id \"\"", "empty"],
    );
    for (id, shown) in [("a\u{1}b", "a\\u{1}b"), ("line\nbreak", "line\\nbreak")] {
        refused_before_run(
            &root,
            &["commit", id, src],
            1,
            &[shown, "control character"],
        );
        refused(&root, &["show", id], 1, &[shown]);
    }
    no_unfinished_runs(&root);
}

#[test]
fn flat_layout_ids_that_would_leave_their_directory_are_refused() {
    let root = flat_root();
    let source = small_source(&root, "src");
    let src = utf8(&source);
    let long = "x".repeat(300);
    for (id, why) in [
        ("..", "would be \"..\""),
        (".", "would be \".\""),
        ("../escape", "path separator"),
        ("a/b", "path separator"),
        ("/abs", "path separator"),
        (long.as_str(), "300 bytes long (at most 255)"),
    ] {
        refused_before_run(&root, &["commit", id, src], 1, &[id, FLAT, why]);
        for read in ["show", "log"] {
            refused(&root, &[read, id], 1, &[id, FLAT]);
        }
    }
    assert!(!root.dir_path().join("escape").exists());
    no_unfinished_runs(&root);
    // The same over-long id is fine where the layout hashes it.
    let hashed = Root::new();
    let source = small_source(&hashed, "src");
    let line = hashed.commit(&long, &source, &[]);
    assert_eq!(line["id"], long.as_str());
    hashed.assert_holds(&long, &source);
}

#[test]
fn a_missing_source_or_one_that_is_a_file_is_refused_naming_it() {
    let root = Root::new();
    let missing = root.arg("no-such-dir");
    refused_before_run(&root, &["commit", ID, &missing], 1, &[&missing]);
    let source = small_source(&root, "src");
    let file = source.join("a.txt");
    refused_before_run(
        &root,
        &["commit", ID, utf8(&file)],
        1,
        &[utf8(&file), "not a directory"],
    );
    no_unfinished_runs(&root);
}

/// `ocfl --root ROOT args...` without the capabilities that let root ignore permissions, or
/// `None` when that cannot be arranged (printing why).
fn without_dac_override(root: &Root, args: &[&str]) -> Option<Command> {
    // `id -u` rather than a libc call: the tests have no libc dependency.
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some(root.command(args));
    }
    let probe = Command::new("setpriv").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("note: running as root without setpriv: cannot make a file unreadable; skipping");
        return None;
    }
    let mut command = Command::new("setpriv");
    command
        .args([
            "--inh-caps=-all",
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_ocfl"))
        .arg("--root")
        .arg(root.path())
        .args(args)
        .env_remove("OCFL_ROOT")
        .env_remove("OCFL_STATE")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null());
    Some(command)
}

#[test]
fn an_unreadable_source_file_or_directory_is_refused_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let root = Root::new();
    let unreadable_file = small_source(&root, "file-src");
    let secret = unreadable_file.join("dir/b.txt");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).expect("chmod");
    let unreadable_dir = small_source(&root, "dir-src");
    let closed = unreadable_dir.join("dir");
    fs::set_permissions(&closed, fs::Permissions::from_mode(0o000)).expect("chmod");
    for (source, culprit) in [(&unreadable_file, &secret), (&unreadable_dir, &closed)] {
        let Some(command) = without_dac_override(&root, &["commit", ID, utf8(source)]) else {
            return;
        };
        refused_with(&root, command, 1, &[utf8(culprit), "Permission denied"]);
    }
    no_unfinished_runs(&root);
    fs::set_permissions(&closed, fs::Permissions::from_mode(0o755)).expect("chmod back");
}

/// A source directory that cannot be listed is refused before a run starts: no run is
/// named, and nothing is created beside the root (staging would only find it inside a run).
#[test]
fn an_unreadable_source_directory_is_refused_before_a_run() {
    use std::os::unix::fs::PermissionsExt;
    let root = Root::new();
    let source = small_source(&root, "closed-src");
    fs::set_permissions(&source, fs::Permissions::from_mode(0o000)).expect("chmod");
    let Some(command) = without_dac_override(&root, &["commit", ID, utf8(&source)]) else {
        return;
    };
    let before = Snapshot::of(root.dir_path());
    let err = refused_with(&root, command, 1, &[utf8(&source), "Permission denied"]);
    before.assert_unchanged(root.dir_path(), "the root's parent");
    assert!(!err.contains("run commit-"), "a run is named: {err}");
    fs::set_permissions(&source, fs::Permissions::from_mode(0o755)).expect("chmod back");
}

#[test]
fn links_and_special_files_in_the_source_are_refused_naming_them() {
    use std::os::unix::fs::symlink;
    let root = Root::new();
    let outside = root.dir_path().join("outside.txt");
    fs::write(&outside, b"outside\n").expect("write");

    let file_link = small_source(&root, "file-link");
    symlink(&outside, file_link.join("link.txt")).expect("symlink");
    let dir_link = small_source(&root, "dir-link");
    symlink(root.dir_path(), dir_link.join("linked-dir")).expect("symlink");
    let dangling = small_source(&root, "dangling");
    symlink(
        root.dir_path().join("nowhere"),
        dangling.join("dangling.txt"),
    )
    .expect("symlink");
    let fifo = small_source(&root, "fifo");
    let status = Command::new("mkfifo")
        .arg(fifo.join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(status.success());

    for (source, name, why) in [
        (&file_link, "link.txt", "symbolic link"),
        (&dir_link, "linked-dir", "symbolic link"),
        (&dangling, "dangling.txt", "symbolic link"),
        (&fifo, "pipe", "not a regular file"),
    ] {
        let culprit = source.join(name);
        refused(
            &root,
            &["commit", ID, utf8(source)],
            1,
            &[utf8(&culprit), why],
        );
    }
    // Following links: a dangling one and a loop are still refused, naming them.
    refused(
        &root,
        &["commit", ID, utf8(&dangling), "--follow-symlinks"],
        1,
        &[utf8(&dangling.join("dangling.txt"))],
    );
    let looped = small_source(&root, "loop");
    symlink(&looped, looped.join("dir/again")).expect("symlink");
    refused(
        &root,
        &["commit", ID, utf8(&looped), "--follow-symlinks"],
        1,
        &["again", "loop"],
    );
    // A FIFO is refused whether or not links are followed.
    refused(
        &root,
        &["commit", ID, utf8(&fifo), "--follow-symlinks"],
        1,
        &["pipe", "not a regular file"],
    );
    no_unfinished_runs(&root);
}

#[test]
fn names_that_are_not_utf8_are_refused_naming_them() {
    use std::ffi::OsStr;
    let root = Root::new();
    let file_name = small_source(&root, "bad-file");
    fs::write(
        file_name.join(OsStr::from_bytes(b"caf\xe9-latin1.txt")),
        b"x",
    )
    .expect("write");
    let dir_name = small_source(&root, "bad-dir");
    let bad_dir = dir_name.join(OsStr::from_bytes(b"r\xe9sum\xe9"));
    write_tree(&bad_dir, &[("inside.txt", b"x")]);
    for (source, shown) in [(&file_name, "-latin1.txt"), (&dir_name, "sum")] {
        refused(
            &root,
            &["commit", ID, utf8(source)],
            1,
            &[utf8(source), shown, "not valid UTF-8"],
        );
    }
    no_unfinished_runs(&root);
}

#[test]
fn names_differing_only_in_case_or_normalization_are_distinct_files() {
    let root = Root::new();
    let source = root.dir_path().join("src");
    let composed = "caf\u{e9}.txt";
    let decomposed = "cafe\u{301}.txt";
    write_tree(
        &source,
        &[
            ("README.txt", b"upper\n"),
            ("readme.txt", b"lower\n"),
            (composed, b"composed\n"),
            (decomposed, b"decomposed\n"),
        ],
    );
    root.commit(ID, &source, &[]);
    root.assert_holds(ID, &source);
    let listed = root.ocfl(&["ls", ID]);
    let mut names: Vec<String> = stdout(ok(&listed)).lines().map(str::to_owned).collect();
    names.sort();
    let mut expected = vec!["README.txt", "readme.txt", composed, decomposed];
    expected.sort();
    assert_eq!(names, expected);
    // Each is read back by its own name, not folded into the other.
    let cat = root.ocfl(&["cat", ID, decomposed]);
    assert_eq!(ok(&cat).stdout, b"decomposed\n");
    let cat = root.ocfl(&["cat", ID, "README.txt"]);
    assert_eq!(ok(&cat).stdout, b"upper\n");
}

/// Makes `dir/name` a chain of `depth` directories named `segment`, holding `f.txt` at the
/// bottom. Built bottom-up with renames of short paths, since the whole path is longer than
/// the system lets one call name.
fn deep_tree(dir: &Path, name: &str, segment: &str, depth: usize) {
    let work = dir.join(".deep");
    fs::create_dir_all(work.join("cur")).expect("mkdir");
    fs::write(work.join("cur/f.txt"), b"deep\n").expect("write");
    for _ in 0..depth {
        fs::create_dir(work.join("new")).expect("mkdir");
        fs::rename(work.join("cur"), work.join("new").join(segment)).expect("nest");
        fs::rename(work.join("new"), work.join("cur")).expect("rename");
    }
    fs::rename(work.join("cur"), dir.join(name)).expect("place");
    fs::remove_dir(work).expect("rmdir");
}

#[test]
fn a_ten_thousand_character_path_is_refused_naming_it() {
    let root = Root::new();
    let source = small_source(&root, "src");
    let segment = "d".repeat(200);
    deep_tree(&source, "deep", &segment, 50);
    let err = refused(
        &root,
        &["commit", ID, utf8(&source)],
        1,
        &[
            &format!("{}/deep/{segment}/{segment}", source.display()),
            "too long",
        ],
    );
    assert!(err.contains("failed"), "{err}");
    // Failed, not stalled: no run waits to be resumed, and the object is not held busy.
    no_unfinished_runs(&root);
    let plain = small_source(&root, "plain");
    root.commit(ID, &plain, &[]);
    // Readers name a 10,000-character logical path or id they cannot find.
    let long = "p".repeat(10_000);
    refused(&root, &["cat", ID, &long], 1, &[&long[..100], ID]);
    refused(&root, &["show", &long], 1, &[&long[..100], "not found"]);
}

/// The root `dir/root` with object `ID` at v1 (from source `src`).
fn root_with_object() -> (Root, PathBuf) {
    let root = Root::new();
    let source = small_source(&root, "src");
    root.commit(ID, &source, &[]);
    fs::write(source.join("a.txt"), b"changed\n").expect("change");
    (root, source)
}

#[test]
fn a_root_without_a_declaration_or_with_a_newer_spec_is_not_written() {
    let (root, source) = root_with_object();
    let declaration = root.path().join("0=ocfl_1.1");
    fs::remove_file(&declaration).expect("remove");
    let root_name = utf8(&root.path()).to_owned();
    let cause = format!(
        "storage root {root_name}: not an OCFL storage root: it has no 0=ocfl_1.x declaration"
    );
    for args in [
        vec!["commit", ID, utf8(&source)],
        vec!["commit", "info:new", utf8(&source)],
        vec!["commit", "info:new", utf8(&source), "--detach"],
        vec!["worker"],
        vec!["resume"],
        vec!["ls"],
        vec!["purge", ID, "--yes"],
    ] {
        let err = refused_before_run(&root, &args, 1, &[&cause]);
        assert_eq!(err.matches("declaration").count(), 1, "{args:?}: {err}");
    }
    refused(&root, &["show", ID], 1, &[&root_name, "declaration"]);

    fs::write(root.path().join("0=ocfl_1.2"), b"ocfl_1.2\n").expect("write");
    refused_before_run(
        &root,
        &["commit", ID, utf8(&source)],
        1,
        &[&root_name, "0=ocfl_1.2", "does not know"],
    );
    let err = refused(&root, &["show", ID], 1, &["0=ocfl_1.2", "does not know"]);
    assert!(!err.contains(": :"), "an empty path in: {err}");
    let validated = root.ocfl(&["validate", "--json"]);
    assert_eq!(code(&validated), 1);
    assert!(
        stdout(&validated).contains("0=ocfl_1.2"),
        "{}",
        stdout(&validated)
    );
    no_unfinished_runs(&root);
}

#[test]
fn an_object_declaring_a_newer_spec_is_not_updated() {
    let (root, source) = root_with_object();
    let object = object_dir(&root, ID);
    fs::rename(
        object.join("0=ocfl_object_1.1"),
        object.join("0=ocfl_object_1.2"),
    )
    .expect("rename");
    fs::write(object.join("0=ocfl_object_1.2"), b"ocfl_object_1.2\n").expect("write");
    refused(
        &root,
        &["commit", ID, utf8(&source)],
        1,
        &[ID, "no 0=ocfl_object_1.1 declaration", "newer"],
    );
    no_unfinished_runs(&root);
}

/// `ocfl validate ID --json`: the error codes.
fn error_codes(root: &Root, id: &str) -> Vec<String> {
    let output = root.ocfl(&["validate", id, "--json"]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let lines = json_lines(&output);
    lines[0]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["code"].as_str().expect("code").to_owned())
        .collect()
}

#[test]
fn a_corrupt_inventory_or_sidecar_refuses_the_update_and_fails_validation() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage, &str, &str); 4] = [
        (
            "an edited inventory",
            |o| {
                let text = fs::read_to_string(o.join("inventory.json")).expect("read");
                fs::write(o.join("inventory.json"), text.replace("\"v1\"", "\"v1\" "))
                    .expect("write");
            },
            "inventory.json",
            "E060",
        ),
        (
            "a malformed sidecar",
            |o| fs::write(o.join("inventory.json.sha512"), b"garbage\n").expect("write"),
            "inventory.json.sha512",
            "E061",
        ),
        (
            "a missing sidecar",
            |o| fs::remove_file(o.join("inventory.json.sha512")).expect("remove"),
            "inventory.json.sha512",
            "E058",
        ),
        (
            "an inventory that is not JSON, with a sidecar to match",
            |o| {
                let bytes = b"{ not json";
                fs::write(o.join("inventory.json"), bytes).expect("write");
                let digest = ocfl_core::digest::DigestAlgorithm::Sha512.digest_bytes(bytes);
                fs::write(
                    o.join("inventory.json.sha512"),
                    format!("{digest} inventory.json\n"),
                )
                .expect("write");
            },
            "inventory.json",
            "E033",
        ),
    ];
    for (what, damage, culprit, expected) in cases {
        let (root, source) = root_with_object();
        let object = object_dir(&root, ID);
        damage(&object);
        let err = refused(&root, &["commit", ID, utf8(&source)], 1, &[ID, culprit]);
        let codes = error_codes(&root, ID);
        assert!(
            codes.iter().any(|c| c == expected),
            "{what}: {expected} not among {codes:?} ({err})"
        );
        no_unfinished_runs(&root);
    }
}

#[test]
fn an_object_at_another_objects_path_is_not_updated() {
    let (root, source) = root_with_object();
    let other = "info:other";
    let there = object_dir(&root, other);
    fs::create_dir_all(there.parent().expect("parent")).expect("mkdir");
    fs::rename(object_dir(&root, ID), &there).expect("move");
    refused(
        &root,
        &["commit", other, utf8(&source)],
        1,
        &[&format!("has id \"{ID}\", not \"{other}\"")],
    );
    refused(&root, &["show", other], 1, &[ID, other]);
    let validated = root.ocfl(&["validate", "--json"]);
    assert_eq!(code(&validated), 1);
    let text = stdout(&validated);
    // E083: the object is not where the layout maps its id.
    let misplaced = text
        .lines()
        .flat_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .flat_map(|line| line["errors"].as_array().cloned().unwrap_or_default())
        .any(|e| e["code"] == "E083" && e["message"].as_str().is_some_and(|m| m.contains(ID)));
    assert!(misplaced, "{text}");
    no_unfinished_runs(&root);
}

#[test]
fn a_store_held_by_another_process_fails_at_once_with_wait_0_naming_it() {
    let root = Root::new();
    let source = small_source(&root, "src");
    fs::create_dir_all(root.default_store().parent().expect("parent")).expect("mkdir");
    let held = RedbBackend::open(root.default_store()).expect("hold the store");
    let holder = format!("in use by pid {}", std::process::id());
    let store = utf8(&root.default_store()).to_owned();
    refused(
        &root,
        &["--wait", "0", "commit", ID, utf8(&source)],
        1,
        &[&store, &holder],
    );
    refused(&root, &["--wait", "0", "runs"], 1, &[&store, &holder]);
    drop(held);
}

#[test]
fn a_corrupt_engine_store_is_named_and_left_alone() {
    let root = Root::new();
    let source = small_source(&root, "src");
    let store = root.default_store();
    fs::create_dir_all(store.parent().expect("parent")).expect("mkdir");
    let garbage = b"this is not a redb database, and must not be overwritten\n".repeat(64);
    fs::write(&store, &garbage).expect("write");
    for args in [
        vec!["commit", ID, utf8(&source)],
        vec!["runs"],
        vec!["resume"],
    ] {
        refused(&root, &args, 1, &[utf8(&store), "corrupt"]);
    }
    assert_eq!(
        fs::read(&store).expect("read"),
        garbage,
        "the store was rewritten"
    );
}

#[test]
fn bad_option_values_are_usage_errors_naming_the_option() {
    let root = Root::new();
    let source = small_source(&root, "src");
    let src = utf8(&source);
    root.commit(ID, &source, &[]);
    for (args, culprit) in [
        (
            vec!["commit", ID, src, "--created", "yesterday"],
            "--created",
        ),
        (
            vec!["commit", ID, src, "--created", "2024-13-01T00:00:00Z"],
            "--created",
        ),
        (
            vec!["commit", ID, src, "--user-address", "mailto:a@b"],
            "--user-name",
        ),
        (vec!["--wait", "soon", "commit", ID, src], "--wait"),
        (vec!["--wait", "-1", "runs"], "-1"),
        (vec!["show", ID, "--version", "x3"], "--version"),
        (vec!["show", ID, "--version", "v0"], "--version"),
        (vec!["cat", ID, "a.txt", "--version", "0"], "--version"),
        (vec!["ls", ID, "--version", ""], "--version"),
        (vec!["diff", ID, "v1", "two"], "two"),
        (vec!["commit", ID], "SRC_DIR"),
        (vec!["purge", ID, "--nope"], "--nope"),
        (vec!["frobnicate"], "frobnicate"),
        (vec!["--work-area", "gs://b/w", "commit", ID, src], "\"gs\""),
    ] {
        refused_before_run(&root, &args, 2, &[culprit]);
    }
    // `init` with bad values creates nothing.
    let fresh = root.dir_path().join("fresh");
    let fresh_arg = utf8(&fresh);
    for (args, culprit) in [
        (vec!["--layout", "0099-no-such-layout"], "--layout"),
        (vec!["--digest", "md5"], "--digest"),
        (vec!["--digest", "sha1024"], "--digest"),
        (vec!["--spec", "1.2"], "--spec"),
    ] {
        let mut all = vec!["--root", fresh_arg, "init"];
        all.extend(args);
        let output = ocfl(&all);
        assert_eq!(code(&output), 2, "{all:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(culprit), "{}", stderr(&output));
        assert!(!fresh.exists(), "{all:?} created {}", fresh.display());
    }
    no_unfinished_runs(&root);
}

/// A tmpfs mounted on a new directory; unmounted on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount's syntax: `2m`) on a new directory, or returns
    /// `None` (printing why) when this process may not mount.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match output {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "note: cannot mount a tmpfs ({}); skipping",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("note: cannot run mount ({e}); skipping");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mount -o remount,OPTIONS`.
    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A storage root on `fs_dir` (with its work area beside it, on the same filesystem) and
/// the `--state` arguments that keep its engine store in `outside`, where it stays writable.
fn root_on(fs_dir: &Path, outside: &Path) -> (Root, Vec<String>) {
    let root = Root {
        dir: tempfile::tempdir_in(fs_dir).expect("tempdir on tmpfs"),
    };
    ok(&root.ocfl(&["init"]));
    let state = outside.join("state.redb");
    (root, vec!["--state".to_owned(), utf8(&state).to_owned()])
}

fn with_global<'a>(global: &'a [String], args: &[&'a str]) -> Vec<&'a str> {
    global
        .iter()
        .map(String::as_str)
        .chain(args.iter().copied())
        .collect()
}

#[test]
fn a_read_only_root_stalls_the_run_naming_the_cause_then_it_resumes() {
    let Some(tmpfs) = Tmpfs::mount("8m") else {
        return;
    };
    let outside = tempfile::tempdir().expect("tempdir");
    let (root, global) = root_on(tmpfs.path(), outside.path());
    let source = outside.path().join("src");
    let source_v2 = outside.path().join("src2");
    write_tree(&source, &[("a.txt", b"alpha\n")]);
    write_tree(&source_v2, &[("a.txt", b"alpha\n"), ("b.txt", b"bravo\n")]);
    let first = root.ocfl(&with_global(
        &global,
        &["commit", ID, utf8(&source), "--json"],
    ));
    assert_eq!(json_lines(ok(&first))[0]["version"], "v1");

    tmpfs.remount("ro");
    let err = refused(
        &root,
        &with_global(&global, &["commit", ID, utf8(&source_v2)]),
        1,
        &[ID, "Read-only file system", "resume"],
    );
    assert!(err.contains("stalled"), "{err}");
    tmpfs.remount("rw");
    let resumed = root.ocfl(&with_global(&global, &["resume", "--json"]));
    let lines = json_lines(ok(&resumed));
    assert_eq!(lines[0]["version"], "v2", "{}", stderr(&resumed));
    let validated = root.ocfl(&with_global(&global, &["validate", ID]));
    ok(&validated);
    root.assert_holds(ID, &source_v2);
}

#[test]
fn a_full_disk_stalls_the_run_naming_the_file_then_it_resumes() {
    let Some(tmpfs) = Tmpfs::mount("1m") else {
        return;
    };
    let source_dir = tempfile::tempdir().expect("tempdir");
    let (root, global) = root_on(tmpfs.path(), source_dir.path());
    let source = source_dir.path().join("src");
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    write_tree(&source, &[("small.txt", b"small\n"), ("big.bin", &big)]);
    let err = refused(
        &root,
        &with_global(&global, &["commit", ID, utf8(&source)]),
        1,
        &[ID, "big.bin", "No space left on device", "resume"],
    );
    assert!(err.contains("stalled"), "{err}");
    tmpfs.remount("size=16m");
    let resumed = root.ocfl(&with_global(&global, &["resume", "--json"]));
    let lines = json_lines(ok(&resumed));
    assert_eq!(lines[0]["version"], "v1", "{}", stderr(&resumed));
    let validated = root.ocfl(&["validate", ID]);
    ok(&validated);
    let exported = source_dir.path().join("out");
    ok(&root.ocfl(&["export", ID, utf8(&exported)]));
    assert!(read_tree(&exported) == read_tree(&source));
}

/// A storage root that is itself a mount point: the work area beside it would be on another
/// filesystem, where no rename reaches the root, so the runs work inside it, in
/// `extensions/ocfl-work/`, removed again when done. (Before, every commit to such a root
/// failed, leaving empty layout directories that made the root invalid.)
#[test]
fn a_root_that_is_a_mount_point_is_committed_to() {
    let Some(tmpfs) = Tmpfs::mount("4m") else {
        return;
    };
    let root_dir = tmpfs.path();
    ok(&ocfl(&["--root", utf8(root_dir), "init"]));
    let outside = tempfile::tempdir().expect("tempdir");
    let source = outside.path().join("src");
    write_tree(&source, &[("a.txt", b"alpha\n"), ("dir/b.txt", b"bravo\n")]);
    let state = outside.path().join("state.redb");
    let commit = |expected: &str| {
        let output = ocfl(&[
            "--root",
            utf8(root_dir),
            "--state",
            utf8(&state),
            "commit",
            ID,
            utf8(&source),
            "--json",
        ]);
        assert_eq!(json_lines(ok(&output))[0]["version"], expected);
    };
    commit("v1");
    fs::write(source.join("a.txt"), b"changed\n").expect("change");
    commit("v2");
    ok(&ocfl(&["--root", utf8(root_dir), "validate"]));
    assert!(!root_dir.join("extensions/ocfl-work").exists());
    let work = PathBuf::from(format!("{}.ocfl-work", root_dir.display()));
    assert!(!work.exists(), "{} was created", work.display());
    let dest = outside.path().join("out");
    ok(&ocfl(&[
        "--root",
        utf8(root_dir),
        "export",
        ID,
        utf8(&dest),
    ]));
    assert!(read_tree(&dest) == read_tree(&source));
}

/// A bind mount: the root and its parent are on one filesystem (one device), yet no rename
/// crosses the mount. The run is refused saying so, and the directories its move made for
/// the new object are removed again (left behind, they made the root invalid: E073).
#[test]
fn a_bind_mounted_root_is_refused_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root_dir = dir.path().join("root");
    ok(&ocfl(&["--root", utf8(&root_dir), "init"]));
    let status = Command::new("mount")
        .arg("--bind")
        .arg(&root_dir)
        .arg(&root_dir)
        .output();
    if !status.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("note: cannot bind-mount ({status:?}); skipping");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let source = dir.path().join("src");
    write_tree(&source, &[("a.txt", b"alpha\n")]);
    let root = Root { dir };
    // Dropped first: unmounted before the temporary directory is removed.
    let _unmount = Unmount(&root_dir);
    refused(
        &root,
        &["commit", ID, utf8(&source)],
        1,
        &[ID, "another filesystem"],
    );
    ok(&root.ocfl(&["validate"]));
    no_unfinished_runs(&root);
}

#[test]
fn a_root_that_is_a_file_is_named_and_the_cause_given_once() {
    let dir = scratch();
    let file = dir.path().join("not-a-root");
    fs::write(&file, b"x").expect("write");
    let output = ocfl(&["--root", utf8(&file), "ls"]);
    let err = stderr(&output);
    assert_eq!(code(&output), 1, "{err}");
    assert!(err.contains(utf8(&file)), "{err}");
    assert_eq!(err.matches("Not a directory").count(), 1, "{err}");
    assert!(!err.contains(" :"), "an empty path shown: {err}");
}

/// A missing root, or one that is a file, gets one message, the same from every command, and
/// nothing is created beside it (before, `commit` made `<root>.ocfl-work/` and its store).
#[test]
fn a_missing_root_or_a_file_reads_the_same_in_every_command_and_creates_nothing() {
    let dir = scratch();
    let source = dir.path().join("src");
    write_tree(&source, &[("a.txt", b"alpha\n")]);
    fs::write(dir.path().join("file"), b"x").expect("write");
    for (name, cause) in [
        (
            "missing",
            "not an OCFL storage root: the directory does not exist",
        ),
        ("file", "Not a directory"),
    ] {
        let root = dir.path().join(name);
        let expected = format!("ocfl: error: storage root {}: ", root.display());
        for args in [
            vec!["commit", ID, utf8(&source)],
            vec!["commit", ID, utf8(&source), "--detach"],
            vec!["ls"],
            vec!["validate"],
            vec!["validate", ID],
            vec!["show", ID],
            vec!["runs"],
            vec!["resume"],
            vec!["worker"],
            vec!["purge", ID, "--yes"],
        ] {
            let before = Snapshot::of(dir.path());
            let mut all = vec!["--root", utf8(&root)];
            all.extend(&args);
            let output = ocfl(&all);
            let err = stderr(&output);
            assert_eq!(code(&output), 1, "{args:?}: {err}");
            assert!(err.starts_with(&expected), "{args:?}: {err}");
            assert_eq!(err.matches(cause).count(), 1, "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            before.assert_unchanged(dir.path(), &format!("{name}: {args:?}"));
        }
    }
}
