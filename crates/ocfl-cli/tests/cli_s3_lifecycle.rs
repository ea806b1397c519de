//! The lifecycle commands on a storage root in a bucket (moto in CI), with the embedded
//! engine store in the state home: `commit --add/--remove/--move`, `put`, `revert`,
//! `rollback` (root inventory first, then the later versions' keys: `docs/durability.md` 4b)
//! and `purge`, each leaving a valid root and the bytes asked for; `--json` lines shaped as on
//! a local root. Skipped without `OCFL_TEST_S3_ENDPOINT`.

mod commit_support;
mod s3_support;

use std::io::Write;
use std::process::Stdio;

use commit_support::*;
use s3_support::Bucket;

const ID: &str = "ark:/12345/lifecycle";

/// A bucket with an initialised root and `ID` committed at v1 (`a.txt`, `b.txt`).
fn with_object(test: &str) -> Option<Bucket> {
    let bucket = Bucket::new(test)?;
    ok(&bucket.ocfl(&["init"]));
    let v1 = bucket.source("v1", &[("a.txt", b"alpha\n"), ("b.txt", b"bravo\n")]);
    ok(&bucket.ocfl(&["commit", ID, &v1, "-m", "first"]));
    Some(bucket)
}

/// The bytes of `path` in `version` (the head without one).
fn cat(bucket: &Bucket, path: &str, version: Option<&str>) -> Vec<u8> {
    let mut args = vec!["cat", ID, path];
    if let Some(version) = version {
        args.extend(["--version", version]);
    }
    ok(&bucket.ocfl(&args)).stdout.clone()
}

/// The head's logical paths.
fn listed(bucket: &Bucket) -> Vec<String> {
    let mut paths: Vec<String> = json_lines(ok(&bucket.ocfl(&["ls", ID, "--json"])))
        .iter()
        .map(|line| line["path"].as_str().expect("path").to_owned())
        .collect();
    paths.sort();
    paths
}

fn assert_valid(bucket: &Bucket) {
    let output = bucket.ocfl(&["validate"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
}

#[test]
fn commit_with_edits_on_a_bucket() {
    let Some(bucket) = with_object("s3_edits") else {
        return;
    };
    let added = bucket.source("added", &[("c.txt", b"charlie\n")]);
    let file = format!("{added}/c.txt");
    let output = bucket.ocfl(&[
        "--json",
        "commit",
        ID,
        "--add",
        &file,
        "new/c.txt",
        "--remove",
        "b.txt",
        "--move",
        "a.txt",
        "moved/a.txt",
    ]);
    let line = json_lines(ok(&output))[0].clone();
    assert_eq!(
        keys(&line),
        ["bytes", "changed", "id", "run", "steps", "version"]
    );
    assert_eq!(line["version"], "v2");
    assert_eq!(listed(&bucket), ["moved/a.txt", "new/c.txt"]);
    assert_eq!(cat(&bucket, "new/c.txt", None), b"charlie\n");
    assert_eq!(cat(&bucket, "moved/a.txt", None), b"alpha\n");
    assert_valid(&bucket);
}

#[test]
fn put_revert_and_rollback_on_a_bucket() {
    let Some(bucket) = with_object("s3_put_revert") else {
        return;
    };
    // put: standard input becomes a file of v2.
    let mut child = bucket
        .command_in(&bucket.home(), &["--json", "put", ID, "docs/put.txt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ocfl put");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"from stdin\n")
        .expect("write stdin");
    let put = child.wait_with_output().expect("ocfl put");
    assert_eq!(json_lines(ok(&put))[0]["version"], "v2");
    assert_eq!(cat(&bucket, "docs/put.txt", None), b"from stdin\n");
    assert_valid(&bucket);

    // revert: v3 holds v1's state again.
    let reverted = bucket.ocfl(&["--json", "revert", ID, "v1"]);
    assert_eq!(json_lines(ok(&reverted))[0]["version"], "v3");
    assert_eq!(listed(&bucket), ["a.txt", "b.txt"]);
    assert_valid(&bucket);

    // rollback to v2: v3's keys go, the head is v2 again.
    let dry = bucket.ocfl(&["--json", "rollback", ID, "v2", "--dry-run"]);
    let line = json_lines(ok(&dry))[0].clone();
    assert_eq!(
        keys(&line),
        ["changed", "dry_run", "id", "removed", "version"]
    );
    assert_eq!(line["removed"], serde_json::json!(["v3"]));
    let rolled = bucket.ocfl(&["--json", "rollback", ID, "v2", "--yes"]);
    let line = json_lines(ok(&rolled))[0].clone();
    assert_eq!(line["removed"], serde_json::json!(["v3"]));
    assert_eq!(line["changed"], true);
    assert!(
        bucket.keys("archive").iter().all(|k| !k.contains("/v3/")),
        "{:?}",
        bucket.keys("archive")
    );
    assert_eq!(listed(&bucket), ["a.txt", "b.txt", "docs/put.txt"]);
    assert_valid(&bucket);
    // The same rollback again changes nothing.
    let again = bucket.ocfl(&["--json", "rollback", ID, "v2", "--yes"]);
    assert_eq!(json_lines(ok(&again))[0]["changed"], false);
}

#[test]
fn purge_on_a_bucket_removes_every_key_of_the_object() {
    let Some(bucket) = with_object("s3_purge") else {
        return;
    };
    let other = bucket.source("other", &[("x.txt", b"x\n")]);
    ok(&bucket.ocfl(&["commit", "ark:/12345/kept", &other]));
    let before = bucket.keys("archive");
    let refused = bucket.ocfl(&["purge", ID]);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert_eq!(bucket.keys("archive"), before);

    let purged = bucket.ocfl(&["--json", "purge", ID, "--yes"]);
    let line = json_lines(ok(&purged))[0].clone();
    assert_eq!(keys(&line), ["id", "outcome", "path"]);
    assert_eq!(line["outcome"], "removed");
    let path = line["path"].as_str().expect("path").to_owned();
    let after = bucket.keys("archive");
    assert!(
        after.iter().all(|k| !k.starts_with(&format!("{path}/"))),
        "{after:?}"
    );
    assert_eq!(code(&bucket.ocfl(&["show", ID])), 1);
    assert_eq!(
        ok(&bucket.ocfl(&["cat", "ark:/12345/kept", "x.txt"])).stdout,
        b"x\n"
    );
    assert_valid(&bucket);
    // Nothing moved through the work area.
    assert_eq!(bucket.keys("archive.ocfl-work"), Vec::<String>::new());
    // Purging it again finds nothing.
    assert_eq!(code(&bucket.ocfl(&["purge", ID, "--yes"])), 1);
}

/// A purge interrupted after the root inventory went (the declaration is kept to the end):
/// the same purge again finishes it.
#[test]
fn an_interrupted_purge_on_a_bucket_is_finished_by_the_same_purge() {
    let Some(bucket) = with_object("s3_purge_again") else {
        return;
    };
    let inventory = bucket
        .keys("archive")
        .into_iter()
        .find(|k| k.ends_with("/v1/inventory.json"))
        .expect("v1 inventory");
    let object = inventory.trim_end_matches("/v1/inventory.json").to_owned();
    for name in [
        "inventory.json",
        "inventory.json.sha512",
        "v1/inventory.json",
    ] {
        ocfl_core::storage::Storage::remove(&bucket.top, &format!("archive/{object}/{name}"))
            .expect("remove");
    }
    let purged = bucket.ocfl(&["--json", "purge", ID, "--yes"]);
    assert_eq!(json_lines(ok(&purged))[0]["outcome"], "removed");
    assert_eq!(
        bucket
            .keys("archive")
            .iter()
            .filter(|k| k.starts_with(&format!("{object}/")))
            .count(),
        0
    );
    assert_valid(&bucket);
}

/// A work area inside the root (validators would see it), holding the root, or in another
/// bucket (no server-side copy from there) is refused before anything is written.
#[test]
fn a_work_area_the_root_cannot_use_is_refused() {
    let Some(bucket) = with_object("s3_bad_work_area") else {
        return;
    };
    let before = bucket.keys("archive");
    let source = bucket.source("v2", &[("a.txt", b"changed\n")]);
    for (work_area, why) in [
        (format!("s3://{}/archive/work", bucket.name), "inside"),
        (format!("s3://{}/", bucket.name), "inside"),
        ("s3://another-bucket/work".to_owned(), "same bucket"),
    ] {
        let refused = bucket.ocfl(&["commit", ID, &source, "--work-area", &work_area]);
        assert_eq!(code(&refused), 1, "{work_area}: {}", stderr(&refused));
        assert!(
            stderr(&refused).contains(why),
            "{work_area}: {}",
            stderr(&refused)
        );
        assert_eq!(bucket.keys("archive"), before, "{work_area}");
    }
}
