//! `commit --fixity`, `commit ID BAG --bagit` and `export --bagit`, end to end: the
//! inventory's fixity block, bags checked while staged (a mismatch refuses the commit, naming
//! the file, with the root unchanged), exported bags that python's `bagit` module (installed
//! with ocfl-py) and our own reader accept, and objects that validate with ours and ocfl-py.

mod commit_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use commit_support::snapshot::Snapshot;
use commit_support::*;
use ocfl_core::digest::DigestAlgorithm;
use serde_json::Value;

const ID: &str = "ark:/12345/bag";

fn object_dir(root: &Root) -> PathBuf {
    root.path().join(
        ocfl_core::layout::Layout::default_layout()
            .map_object_id(ID)
            .expect("map"),
    )
}

fn inventory(root: &Root) -> Value {
    let bytes = fs::read(object_dir(root).join("inventory.json")).expect("inventory");
    serde_json::from_slice(&bytes).expect("json")
}

fn validate_with_peers(root: &Root) {
    ok(&root.ocfl(&["validate", ID]));
    if let Some(out) = ocfl_py_validate(&object_dir(root)) {
        assert!(out.contains("is VALID"), "{out}");
    }
}

/// The fixity value of `algorithm` the inventory records for the content path `path`.
fn fixity_of(inventory: &Value, algorithm: &str, path: &str) -> Option<String> {
    let block = inventory["fixity"][algorithm].as_object()?;
    block.iter().find_map(|(digest, paths)| {
        paths
            .as_array()?
            .iter()
            .any(|p| p == path)
            .then(|| digest.clone())
    })
}

#[test]
fn commit_fixity_records_every_algorithm_for_new_content() {
    let root = Root::new();
    let source = root.dir_path().join("src");
    write_tree(&source, &[("a.txt", b"abc"), ("dir/b.bin", b"")]);
    let algorithms =
        "md5,sha1,sha256,blake2b-512,blake2b-384,blake2b-256,blake2b-160,sha512/256,size";
    let line = root.commit(ID, &source, &["--fixity", algorithms]);
    assert_eq!(line["version"], "v1");
    let inventory = inventory(&root);
    for name in algorithms.split(',') {
        let algorithm = DigestAlgorithm::from_name(name).expect("algorithm");
        for (path, bytes) in [("a.txt", &b"abc"[..]), ("dir/b.bin", b"")] {
            let content = format!("v1/content/{path}");
            assert_eq!(
                fixity_of(&inventory, name, &content).as_deref(),
                Some(algorithm.digest_bytes(bytes).as_str()),
                "{name} of {content}"
            );
        }
    }
    // A second version adds the fixity of its new content only, keeping the first's.
    write_tree(&source, &[("c.txt", b"c")]);
    root.commit(ID, &source, &["--fixity", "md5"]);
    let inventory = self::inventory(&root);
    assert_eq!(
        fixity_of(&inventory, "md5", "v2/content/c.txt").as_deref(),
        Some(DigestAlgorithm::Md5.digest_bytes(b"c").as_str())
    );
    assert!(fixity_of(&inventory, "sha1", "v1/content/a.txt").is_some());
    assert!(fixity_of(&inventory, "sha1", "v2/content/c.txt").is_none());
    ok(&root.ocfl(&["validate", ID]));
    // ocfl-py 2.1 knows neither `sha512/256` nor `size` of extension 0009 (E056b, whose
    // message names the content algorithm instead of the key): that and nothing else.
    if ocfl_py_installed() {
        let output = Command::new("ocfl-validate.py")
            .arg(object_dir(&root))
            .output()
            .expect("run ocfl-validate.py");
        let out = stdout(&output);
        let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("[E")).collect();
        assert!(!errors.is_empty(), "{out}");
        assert!(errors.iter().all(|l| l.starts_with("[E056b]")), "{out}");
    } else {
        test_support::skip_installed_peer("ocfl-py", "no ocfl-validate.py");
    }
}

#[test]
fn commit_fixity_of_the_specification_algorithms_validates_with_ocfl_py() {
    let root = Root::new();
    let source = root.dir_path().join("src");
    write_tree(&source, &[("a.txt", b"abc")]);
    root.commit(ID, &source, &["--fixity", "md5,sha1,blake2b-160"]);
    assert!(fixity_of(&inventory(&root), "blake2b-160", "v1/content/a.txt").is_some());
    validate_with_peers(&root);
}

#[test]
fn commit_fixity_refuses_an_unknown_algorithm_as_usage() {
    let root = Root::new();
    let source = root.dir_path().join("src");
    write_tree(&source, &[("a.txt", b"abc")]);
    let before = Snapshot::of(root.dir_path());
    let output = root.ocfl(&[
        "commit",
        ID,
        source.to_str().expect("utf-8"),
        "--fixity",
        "md5,crc32",
    ]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("crc32"), "{}", stderr(&output));
    before.assert_unchanged(root.dir_path(), "a refused --fixity");
}

/// A bag of `files` (paths below data/) with md5 and sha256 manifests and an md5 tag
/// manifest, written by hand as RFC 8493 describes.
fn make_bag(dir: &Path, files: &[(&str, &[u8])]) {
    let payload: Vec<(String, &[u8])> = files
        .iter()
        .map(|(path, bytes)| (format!("data/{path}"), *bytes))
        .collect();
    let borrowed: Vec<(&str, &[u8])> = payload.iter().map(|(p, b)| (p.as_str(), *b)).collect();
    write_tree(dir, &borrowed);
    let manifest = |algorithm: DigestAlgorithm| {
        payload
            .iter()
            .map(|(path, bytes)| format!("{} {path}\n", algorithm.digest_bytes(bytes).as_str()))
            .collect::<String>()
    };
    let tag_files = [
        (
            "bagit.txt",
            "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n".to_owned(),
        ),
        ("manifest-md5.txt", manifest(DigestAlgorithm::Md5)),
        ("manifest-sha256.txt", manifest(DigestAlgorithm::Sha256)),
    ];
    let mut tag_manifest = String::new();
    for (name, text) in &tag_files {
        fs::write(dir.join(name), text).expect("tag file");
        let sum = DigestAlgorithm::Md5.digest_bytes(text.as_bytes());
        tag_manifest.push_str(&format!("{}  {name}\n", sum.as_str()));
    }
    fs::write(dir.join("tagmanifest-md5.txt"), tag_manifest).expect("tag manifest");
}

#[test]
fn commit_bagit_takes_the_payload_and_records_the_manifests_as_fixity() {
    let root = Root::new();
    let bag = root.dir_path().join("bag");
    make_bag(&bag, &[("a.txt", b"abc"), ("sub/b.txt", b"bee")]);
    let line = root.commit(ID, &bag, &["--bagit", "--fixity", "sha1"]);
    assert_eq!(line["version"], "v1");
    assert_eq!(line["changed"], true);
    let payload = bag.join("data");
    root.assert_holds(ID, &payload);
    let inventory = inventory(&root);
    for (name, algorithm) in [
        ("md5", DigestAlgorithm::Md5),
        ("sha256", DigestAlgorithm::Sha256),
        ("sha1", DigestAlgorithm::Sha1),
    ] {
        assert_eq!(
            fixity_of(&inventory, name, "v1/content/sub/b.txt").as_deref(),
            Some(algorithm.digest_bytes(b"bee").as_str()),
            "{name}"
        );
    }
    validate_with_peers(&root);
}

#[test]
fn commit_bagit_refuses_a_payload_that_does_not_match_its_manifest() {
    let root = Root::new();
    let bag = root.dir_path().join("bag");
    make_bag(&bag, &[("a.txt", b"abc"), ("sub/b.txt", b"bee")]);
    // Changed after the bag was made: the manifests no longer hold.
    fs::write(bag.join("data/sub/b.txt"), b"bea").expect("tamper");
    let before = Snapshot::of(&root.path());
    let output = root.ocfl(&["commit", ID, bag.to_str().expect("utf-8"), "--bagit"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("data/sub/b.txt") && message.contains("checksum"),
        "{message}"
    );
    before.assert_unchanged(&root.path(), "a bag whose payload does not match");
    assert!(!object_dir(&root).exists());
}

#[test]
fn commit_bagit_refuses_unlisted_files_missing_files_and_non_bags() {
    let root = Root::new();
    let before = Snapshot::of(&root.path());
    let extra = root.dir_path().join("extra");
    make_bag(&extra, &[("a.txt", b"abc")]);
    fs::write(extra.join("data/stowaway.txt"), b"x").expect("extra");
    let missing = root.dir_path().join("missing");
    make_bag(&missing, &[("a.txt", b"abc"), ("b.txt", b"b")]);
    fs::remove_file(missing.join("data/b.txt")).expect("remove");
    let tag = root.dir_path().join("tag");
    make_bag(&tag, &[("a.txt", b"abc")]);
    fs::write(
        tag.join("manifest-md5.txt"),
        b"0cc175b9c0f1b6a831c399e269772661 data/a.txt\n",
    )
    .expect("rewrite");
    let plain = root.dir_path().join("plain");
    write_tree(&plain, &[("data/a.txt", b"abc")]);
    for (bag, expected) in [
        (
            &extra,
            "data/stowaway.txt: is in the payload but in no manifest",
        ),
        (&missing, "data/b.txt: is listed in"),
        (&tag, "manifest-md5.txt: md5 checksum"),
        (&plain, "has no bagit.txt"),
    ] {
        let output = root.ocfl(&["commit", ID, bag.to_str().expect("utf-8"), "--bagit"]);
        assert_eq!(code(&output), 1, "{}", stderr(&output));
        assert!(
            stderr(&output).contains(expected),
            "{expected}: {}",
            stderr(&output)
        );
    }
    before.assert_unchanged(&root.path(), "refused bags");
}

/// python's `bagit` module (a dependency of ocfl-py, so CI has it): `None` when missing.
fn python_bagit_validate(bag: &Path) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import bagit"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        test_support::skip_installed_peer("python bagit", "python3 cannot import bagit");
        return None;
    }
    let script = "import sys, bagit\nbag = bagit.Bag(sys.argv[1])\nbag.validate()\nprint('valid', sorted(bag.algorithms), len(list(bag.payload_files())))";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(bag)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "bagit: {}{}",
        stdout(&output),
        stderr(&output)
    );
    Some(stdout(&output))
}

#[test]
fn export_bagit_writes_a_valid_bag_of_a_version() {
    let root = Root::new();
    let source = root.dir_path().join("src");
    write_tree(&source, &[("a.txt", b"abc"), ("odd/sp ace.txt", b"done")]);
    root.commit(ID, &source, &[]);
    write_tree(&source, &[("c.txt", b"c")]);
    root.commit(ID, &source, &[]);
    let before = Snapshot::of(&root.path());
    let dest = root.dir_path().join("exported");
    let output = root.ocfl(&[
        "--json",
        "export",
        ID,
        dest.to_str().expect("utf-8"),
        "--version",
        "v1",
        "--bagit",
    ]);
    ok(&output);
    let lines = json_lines(&output);
    assert_eq!(keys(&lines[0]), ["bytes", "dest", "files", "id", "version"]);
    assert_eq!(lines[0]["files"], 2);
    assert_eq!(lines[0]["version"], "v1");
    before.assert_unchanged(&root.path(), "export --bagit");
    let tree = read_tree(&dest);
    let names: Vec<&str> = tree.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "bag-info.txt",
            "bagit.txt",
            "data/a.txt",
            "data/odd/sp ace.txt",
            "manifest-sha512.txt",
            "tagmanifest-sha512.txt"
        ]
    );
    let manifest = String::from_utf8(tree["manifest-sha512.txt"].clone()).expect("utf-8");
    let sum = DigestAlgorithm::Sha512.digest_bytes(b"done");
    assert!(
        manifest.contains(&format!("{}  data/odd/sp ace.txt\n", sum.as_str())),
        "{manifest}"
    );
    assert!(String::from_utf8_lossy(&tree["bag-info.txt"]).contains("Payload-Oxum: 7.2\n"));
    if let Some(out) = python_bagit_validate(&dest) {
        assert!(out.starts_with("valid ['sha512'] 2"), "{out}");
    }
    // Our own reader takes it back: the manifests are checked as the payload is staged.
    let line = root.commit("ark:/12345/again", &dest, &["--bagit"]);
    assert_eq!(line["changed"], true);
    root.assert_holds("ark:/12345/again", &dest.join("data"));
    // --bagit writes a new bag only: never into a directory that holds files.
    let output = root.ocfl(&["export", ID, dest.to_str().expect("utf-8"), "--bagit"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let output = root.ocfl(&[
        "export",
        ID,
        dest.to_str().expect("utf-8"),
        "--bagit",
        "--force",
    ]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
}
