//! `upgrade`, `info`, `ls --long` and glob patterns, `log ID PATH`, end to end: the results,
//! their `--json` lines, refusals with their exit status and an unchanged root, and upgraded
//! objects that validate with ours and ocfl-py.

mod commit_support;

use std::fs;
use std::path::PathBuf;

use commit_support::snapshot::Snapshot;
use commit_support::*;

const ID: &str = "ark:/12345/life";
const OTHER: &str = "ark:/12345/other";

fn object_dir(root: &Root, id: &str) -> PathBuf {
    root.path().join(
        ocfl_core::layout::Layout::default_layout()
            .map_object_id(id)
            .expect("map"),
    )
}

/// A storage root declaring OCFL `spec` (made by `ocfl init --spec`).
fn root_of(spec: &str) -> Root {
    let root = Root {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    ok(&root.ocfl(&["init", "--spec", spec]));
    root
}

/// `ID` with three versions: v1 data/a.tif, data/b.txt, readme.txt; v2 changes data/a.tif
/// and removes data/b.txt; v3 adds data/sub/c.tif and data/b.txt again.
fn three_versions(root: &Root) {
    let source = root.dir_path().join("deposit");
    write_tree(
        &source,
        &[
            ("data/a.tif", b"a1\n"),
            ("data/b.txt", b"bb\n"),
            ("readme.txt", b"read me\n"),
        ],
    );
    root.commit(ID, &source, &[]);
    let new = root.dir_path().join("new");
    write_tree(
        &new,
        &[
            ("a2.tif", b"a2, longer\n"),
            ("c.tif", b"c\n"),
            ("b.txt", b"bb\n"),
        ],
    );
    let arg = |name: &str| new.join(name).to_str().expect("utf-8").to_owned();
    ok(&root.ocfl(&[
        "commit",
        ID,
        "--add",
        &arg("a2.tif"),
        "data/a.tif",
        "--remove",
        "data/b.txt",
    ]));
    ok(&root.ocfl(&[
        "commit",
        ID,
        "--add",
        &arg("c.tif"),
        "data/sub/c.tif",
        "--add",
        &arg("b.txt"),
        "data/b.txt",
    ]));
}

fn one_line(output: &std::process::Output) -> serde_json::Value {
    let lines = json_lines(ok(output));
    assert_eq!(lines.len(), 1, "{}", stdout(output));
    lines[0].clone()
}

#[test]
fn ls_long_gives_sizes_digests_and_the_version_that_last_changed_each_file() {
    let root = Root::new();
    three_versions(&root);
    let lines = json_lines(ok(&root.ocfl(&["--json", "ls", ID, "--long"])));
    let found: Vec<(String, u64, String)> = lines
        .iter()
        .map(|l| {
            assert_eq!(
                keys(l),
                ["changed", "content_path", "digest", "path", "size"]
            );
            (
                l["path"].as_str().expect("path").to_owned(),
                l["size"].as_u64().expect("size"),
                l["changed"].as_str().expect("changed").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("data/a.tif", 11, "v2"),
        ("data/b.txt", 3, "v3"),
        ("data/sub/c.tif", 2, "v3"),
        ("readme.txt", 8, "v1"),
    ];
    let expected: Vec<(String, u64, String)> = expected
        .iter()
        .map(|(p, s, v)| ((*p).to_owned(), *s, (*v).to_owned()))
        .collect();
    assert_eq!(found, expected);
    // An earlier version: what last changed each file up to it.
    let v1 = json_lines(ok(&root.ocfl(&[
        "--json",
        "ls",
        ID,
        "--long",
        "--version",
        "v1",
    ])));
    assert!(v1.iter().all(|l| l["changed"] == "v1"), "{v1:?}");
    // The text form: size, digest, version, path.
    let text = stdout(ok(&root.ocfl(&["ls", ID, "-l"]))).to_owned();
    let first: Vec<&str> = text
        .lines()
        .next()
        .expect("a line")
        .split_whitespace()
        .collect();
    assert_eq!(first.len(), 4, "{text}");
    assert_eq!((first[0], first[2], first[3]), ("11", "v2", "data/a.tif"));
    assert_eq!(first[1].len(), 128);
}

#[test]
fn ls_patterns_select_files_by_glob() {
    let root = Root::new();
    three_versions(&root);
    let paths = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["ls", ID];
        all.extend_from_slice(args);
        stdout(ok(&root.ocfl(&all)))
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(paths(&["data/**/*.tif"]), ["data/a.tif", "data/sub/c.tif"]);
    // `*` stays within one path element.
    assert_eq!(paths(&["data/*.tif"]), ["data/a.tif"]);
    assert_eq!(paths(&["*.txt"]), ["readme.txt"]);
    assert_eq!(
        paths(&["**/*.txt", "data/sub/*"]),
        ["data/b.txt", "data/sub/c.tif", "readme.txt"]
    );
    assert_eq!(paths(&["data/{a,b}.*", "--version", "v2"]), ["data/a.tif"]);
    // Nothing matched: exit 1, saying so; a malformed pattern: a usage error.
    for (args, status, says) in [
        (vec!["ls", ID, "*.pdf"], 1, "no file of v3 matches *.pdf"),
        (vec!["ls", ID, "data/[a"], 2, "data/[a"),
    ] {
        let before = Snapshot::of(&root.path());
        let output = root.ocfl(&args);
        assert_eq!(code(&output), status, "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
        assert_eq!(stdout(&output), "");
        before.assert_unchanged(&root.path(), &format!("{args:?}"));
    }
}

#[test]
fn log_of_a_path_lists_the_versions_that_changed_it() {
    let root = Root::new();
    three_versions(&root);
    let lines = json_lines(ok(&root.ocfl(&["--json", "log", ID, "data/b.txt"])));
    let changes: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            assert_eq!(
                keys(l),
                [
                    "change", "created", "digest", "message", "path", "user", "version"
                ]
            );
            (
                l["version"].as_str().expect("version"),
                l["change"].as_str().expect("change"),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [("v3", "added"), ("v2", "removed"), ("v1", "added")]
    );
    assert!(lines[1]["digest"].is_null());
    assert_eq!(lines[0]["digest"], lines[2]["digest"]);
    let text = stdout(ok(&root.ocfl(&["log", ID, "data/a.tif"]))).to_owned();
    let words: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().take(2).collect())
        .collect();
    assert_eq!(words, [vec!["modified", "v2"], vec!["added", "v1"]]);
    let output = root.ocfl(&["log", ID, "data/never.txt"]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("no version has a file at \"data/never.txt\""));
}

#[test]
fn info_describes_the_root_and_an_object() {
    let root = Root::new();
    three_versions(&root);
    let line = one_line(&root.ocfl(&["--json", "info"]));
    assert_eq!(
        keys(&line),
        [
            "bytes",
            "digest",
            "layout",
            "layout_config",
            "objects",
            "root",
            "spec"
        ]
    );
    assert_eq!(line["spec"], "1.1");
    assert_eq!(line["layout"], "0004-hashed-n-tuple-storage-layout");
    assert_eq!(line["layout_config"]["tupleSize"], 3);
    assert_eq!(line["digest"], "sha512");
    assert!(line["objects"].is_null() && line["bytes"].is_null());
    let counted = one_line(&root.ocfl(&["--json", "info", "--count"]));
    assert_eq!(counted["objects"], 1);
    // Every content file of every version: a1, bb, read me, a2 longer, c.
    assert_eq!(counted["bytes"], 3 + 3 + 8 + 11 + 2);
    let object = one_line(&root.ocfl(&["--json", "info", ID]));
    assert_eq!(
        keys(&object),
        [
            "bytes",
            "digest",
            "extensions",
            "files",
            "fixity",
            "head",
            "id",
            "path",
            "spec",
            "versions"
        ]
    );
    assert_eq!(object["id"], ID);
    assert_eq!(object["head"], "v3");
    assert_eq!(object["versions"], 3);
    assert_eq!(object["files"], 4);
    assert_eq!(object["bytes"], 11 + 3 + 2 + 8);
    assert_eq!(object["digest"], "sha512");
    assert_eq!(object["fixity"], serde_json::json!([]));
    assert_eq!(object["extensions"], serde_json::json!([]));
    assert_eq!(
        object["path"],
        object_dir(&root, ID).to_str().expect("utf-8")
    );
    // An object's extensions are listed.
    fs::create_dir_all(object_dir(&root, ID).join("extensions/0005-mutable-head")).expect("mkdir");
    let object = one_line(&root.ocfl(&["--json", "info", ID]));
    assert_eq!(
        object["extensions"],
        serde_json::json!(["0005-mutable-head"])
    );
    let text = stdout(ok(&root.ocfl(&["info"]))).to_owned();
    assert!(text.contains("spec: 1.1\n"), "{text}");
    assert!(
        text.contains("layout: 0004-hashed-n-tuple-storage-layout\n"),
        "{text}"
    );
    for (args, status, says) in [
        (vec!["info", "ark:/no/such"], 1, "not found"),
        (vec!["info", ID, "--count"], 2, "--count"),
    ] {
        let before = Snapshot::of(&root.path());
        let output = root.ocfl(&args);
        assert_eq!(code(&output), status, "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
        before.assert_unchanged(&root.path(), &format!("{args:?}"));
    }
}

/// The fields of one object's `upgrade --json` line.
const UPGRADE_KEYS: [&str; 6] = ["changed", "dry_run", "from", "id", "run", "version"];

fn upgrade(root: &Root, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["--json", "upgrade"];
    all.extend_from_slice(args);
    let lines = json_lines(ok(&root.ocfl(&all)));
    assert_eq!(keys(&lines[0]), ["changed", "dry_run", "from", "root"]);
    for line in &lines[1..] {
        assert_eq!(keys(line), UPGRADE_KEYS);
    }
    lines
}

fn spec_of(root: &Root, id: &str) -> String {
    one_line(&root.ocfl(&["--json", "info", id]))["spec"]
        .as_str()
        .expect("spec")
        .to_owned()
}

#[test]
fn upgrade_moves_the_root_then_each_object_to_1_1() {
    let root = root_of("1.0");
    three_versions(&root);
    let other = root.dir_path().join("other");
    write_tree(&other, &[("x.txt", b"x\n")]);
    root.commit(OTHER, &other, &[]);
    assert_eq!(spec_of(&root, ID), "1.0");
    let files_before = stdout(ok(&root.ocfl(&["ls", ID]))).to_owned();

    // A dry run says what would change and changes nothing.
    let before = Snapshot::of(&root.path());
    let dry = upgrade(&root, &["--dry-run"]);
    assert_eq!(dry.len(), 3);
    assert_eq!(
        (dry[0]["from"].as_str(), dry[0]["changed"].as_bool()),
        (Some("1.0"), Some(true))
    );
    assert!(
        dry[1..]
            .iter()
            .all(|l| l["changed"] == true && l["run"].is_null())
    );
    before.assert_unchanged(&root.path(), "upgrade --dry-run");

    // One object: the root's declaration first (a 1.0 root may not hold a 1.1 object).
    let one = upgrade(&root, &[ID]);
    assert_eq!(one.len(), 2);
    assert_eq!(one[0]["changed"], true);
    assert_eq!(
        (
            one[1]["id"].as_str(),
            one[1]["from"].as_str(),
            one[1]["version"].as_str()
        ),
        (Some(ID), Some("1.0"), Some("v4"))
    );
    assert!(root.path().join("0=ocfl_1.1").is_file());
    assert!(!root.path().join("0=ocfl_1.0").exists());
    let object = object_dir(&root, ID);
    assert!(object.join("0=ocfl_object_1.1").is_file());
    assert!(!object.join("0=ocfl_object_1.0").exists());
    let inventory: serde_json::Value =
        serde_json::from_slice(&fs::read(object.join("inventory.json")).expect("read"))
            .expect("json");
    assert_eq!(inventory["type"], "https://ocfl.io/1.1/spec/#inventory");
    assert_eq!(
        inventory["versions"]["v4"]["message"],
        "Upgrade to OCFL 1.1"
    );
    // The older version inventories keep their 1.0 type; no content was copied.
    assert!(
        fs::read_to_string(object.join("v3/inventory.json"))
            .expect("read")
            .contains("https://ocfl.io/1.0/spec/#inventory")
    );
    assert!(!object.join("v4/content").exists());
    assert_eq!(stdout(ok(&root.ocfl(&["ls", ID]))), files_before);
    // A root of mixed objects is valid.
    assert_eq!(spec_of(&root, OTHER), "1.0");
    ok(&root.ocfl(&["validate"]));

    // Every object: only the one still at 1.0 gets a run.
    let all = upgrade(&root, &["-m", "to 1.1"]);
    assert_eq!(all[0]["changed"], false);
    let by_id = |id: &str| {
        all[1..]
            .iter()
            .find(|l| l["id"] == id)
            .expect("a line")
            .clone()
    };
    assert_eq!(by_id(ID)["changed"], false);
    assert!(by_id(ID)["run"].is_null());
    assert_eq!(by_id(OTHER)["changed"], true);
    assert_eq!(by_id(OTHER)["version"], "v2");
    assert_eq!(spec_of(&root, OTHER), "1.1");
    ok(&root.ocfl(&["validate"]));
    for id in [ID, OTHER] {
        if let Some(out) = ocfl_py_validate(&object_dir(&root, id)) {
            assert!(out.contains("is VALID"), "{out}");
        }
    }
    // The runs are listed like commits'.
    let runs = stdout(ok(&root.ocfl(&["runs", "--all", "--json"]))).to_owned();
    assert!(
        runs.contains(one[1]["run"].as_str().expect("run")),
        "{runs}"
    );

    // Again: nothing to do, nothing written.
    let before = Snapshot::of(&root.path());
    let again = upgrade(&root, &[]);
    assert!(again.iter().all(|l| l["changed"] == false), "{again:?}");
    before.assert_unchanged(&root.path(), "a second upgrade");
}

#[test]
fn upgrade_refusals_leave_the_root_unchanged() {
    let root = root_of("1.0");
    three_versions(&root);
    for (args, status, says) in [
        (vec!["upgrade", "ark:/no/such"], 1, "not found"),
        (vec!["upgrade", ID, "--created", "yesterday"], 2, "RFC 3339"),
    ] {
        let before = Snapshot::of(&root.path());
        let output = root.ocfl(&args);
        assert_eq!(code(&output), status, "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
        assert_eq!(stdout(&output), "");
        before.assert_unchanged(&root.path(), &format!("{args:?}"));
    }
    // An object that cannot be read stops the whole upgrade before anything changes.
    let object = object_dir(&root, ID);
    fs::write(object.join("inventory.json.sha512"), "0 inventory.json\n").expect("write");
    let before = Snapshot::of(&root.path());
    let output = root.ocfl(&["upgrade"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("nothing was upgraded"),
        "{}",
        stderr(&output)
    );
    before.assert_unchanged(&root.path(), "an unreadable object");
}

#[test]
fn upgrade_finishes_a_root_left_with_both_declarations() {
    let root = root_of("1.0");
    // Interrupted between writing the new declaration and removing the old one: E076.
    fs::write(root.path().join("0=ocfl_1.1"), "ocfl_1.1\n").expect("write");
    let report = root.ocfl(&["validate"]);
    assert_eq!(code(&report), 1);
    assert!(stdout(&report).contains("E076"), "{}", stdout(&report));
    let lines = upgrade(&root, &[]);
    assert_eq!(lines[0]["changed"], true);
    assert!(!root.path().join("0=ocfl_1.0").exists());
    ok(&root.ocfl(&["validate"]));
}
