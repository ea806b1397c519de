//! Writing to a storage root in a bucket (moto in CI): `init`, `commit` (new objects and
//! updates), `runs` and `resume` on `s3://`, with the engine's store in the user's state
//! directory; and a commit refused, writing nothing, when another update holds the version's
//! claim. Without `OCFL_TEST_S3_ENDPOINT` the tests say they are skipped; under
//! `OCFL_TEST_REQUIRE_SERVICES=1` they fail instead.

mod commit_support;

use std::process::Output;

use commit_support::*;
use ocfl_core::location::S3Location;
use ocfl_core::storage::{EntryKind, Storage};
use ocfl_object_store::{Condition, ObjectStorage, S3Builder};

const ID: &str = "ark:/12345/s3-commit";

/// A new bucket with a root under `archive` (not yet initialised), and a state home of its
/// own for the default engine store.
struct Bucket {
    endpoint: String,
    url: String,
    storage: ObjectStorage,
    dir: tempfile::TempDir,
}

impl Bucket {
    fn new(test: &str) -> Option<Bucket> {
        let Some(endpoint) = test_support::service("OCFL_TEST_S3_ENDPOINT", "S3") else {
            eprintln!("{test}: skipped");
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let bucket = format!("ocfl-cli-{test}-{}-{nanos}", std::process::id());
        let created = reqwest::blocking::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .expect("create the test bucket");
        assert!(created.status().is_success(), "{}", created.status());
        let storage = S3Builder::new(S3Location::new(&bucket, "archive").expect("location"))
            .endpoint(&endpoint)
            .credentials("ocfl-test", "ocfl-test-secret", None)
            .build()
            .expect("store");
        Some(Bucket {
            url: format!("s3://{bucket}/archive"),
            endpoint,
            storage,
            dir: scratch(),
        })
    }

    fn ocfl(&self, args: &[&str]) -> Output {
        ocfl_command()
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "ocfl-test")
            .env("AWS_SECRET_ACCESS_KEY", "ocfl-test-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("AWS_SESSION_TOKEN")
            .arg("--root")
            .arg(&self.url)
            .args(args)
            .output()
            .expect("run ocfl")
    }

    fn source(&self, name: &str, files: &[(&str, &[u8])]) -> String {
        let dir = self.dir.path().join(name);
        write_tree(&dir, files);
        dir.to_str().expect("utf-8").to_owned()
    }

    /// Every key below the root, as storage paths.
    fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut dirs = vec![String::new()];
        while let Some(dir) = dirs.pop() {
            for entry in Storage::list(&self.storage, &dir).expect("list") {
                let path = if dir.is_empty() {
                    entry.name
                } else {
                    format!("{dir}/{}", entry.name)
                };
                match entry.kind {
                    EntryKind::Directory => dirs.push(path),
                    _ => keys.push(path),
                }
            }
        }
        keys.sort();
        keys
    }
}

fn assert_ok(output: &Output, what: &str) {
    assert_eq!(code(output), 0, "{what}: {}", stderr(output));
}

#[test]
fn init_commit_update_and_read_back_on_a_bucket() {
    let Some(bucket) = Bucket::new("write") else {
        return;
    };
    assert_ok(&bucket.ocfl(&["init"]), "init");
    assert!(bucket.keys().contains(&"0=ocfl_1.1".to_owned()));
    // A second init finds keys there and refuses.
    assert_eq!(code(&bucket.ocfl(&["init"])), 1);

    let v1 = bucket.source("v1", &[("a.txt", b"alpha\n"), ("dir/b.txt", b"bravo\n")]);
    assert_ok(
        &bucket.ocfl(&["commit", ID, &v1, "-m", "first"]),
        "commit v1",
    );
    let v2 = bucket.source(
        "v2",
        &[
            ("a.txt", b"alpha, changed\n"),
            ("dir/b.txt", b"bravo\n"),
            ("c.txt", b"c\n"),
        ],
    );
    let committed = bucket.ocfl(&["--json", "commit", ID, &v2, "-m", "second"]);
    assert_ok(&committed, "commit v2");
    assert!(
        stdout(&committed).contains("\"version\":\"v2\""),
        "{}",
        stdout(&committed)
    );

    let validated = bucket.ocfl(&["validate"]);
    assert_ok(&validated, "validate");
    let said = format!("{}{}", stdout(&validated), stderr(&validated));
    assert!(
        said.contains(&format!("storage root {} is valid", bucket.url)),
        "{said}"
    );
    for (version, path, bytes) in [
        ("v1", "a.txt", &b"alpha\n"[..]),
        ("v1", "dir/b.txt", b"bravo\n"),
        ("v2", "a.txt", b"alpha, changed\n"),
        ("v2", "dir/b.txt", b"bravo\n"),
        ("v2", "c.txt", b"c\n"),
    ] {
        let read = bucket.ocfl(&["cat", ID, path, "--version", version]);
        assert_ok(&read, path);
        assert_eq!(read.stdout, bytes, "{version} {path}");
    }
    // The default engine store is under the state home, nothing is left in the work area,
    // and no run is unfinished.
    assert!(bucket.dir.path().join("state/ocfl").is_dir());
    let runs = bucket.ocfl(&["runs"]);
    assert_ok(&runs, "runs");
    let said = format!("{}{}", stdout(&runs), stderr(&runs));
    assert!(said.contains("0 unfinished"), "{said}");
    assert_ok(&bucket.ocfl(&["resume"]), "resume");
    assert!(
        bucket.keys().iter().all(|k| !k.contains("ocfl-work")),
        "{:?}",
        bucket.keys()
    );
}

/// Another update (another host, another engine store) holds the claim on the version this
/// commit would write: the commit is refused naming the object (its structure check sees the
/// claimed version directory before the plan's claim step would), and writes nothing.
#[test]
fn a_commit_is_refused_while_another_update_holds_the_claim() {
    let Some(bucket) = Bucket::new("claimed") else {
        return;
    };
    assert_ok(&bucket.ocfl(&["init"]), "init");
    let v1 = bucket.source("v1", &[("a.txt", b"alpha\n")]);
    assert_ok(&bucket.ocfl(&["commit", ID, &v1]), "commit v1");
    let inventory = bucket
        .keys()
        .into_iter()
        .find(|k| k.ends_with("/v1/inventory.json"))
        .expect("v1 inventory");
    let object = inventory.trim_end_matches("/v1/inventory.json").to_owned();
    bucket
        .storage
        .put_with(
            &format!("{object}/v2/inventory.json"),
            b"{}".to_vec(),
            Condition::IfAbsent,
            &[("ocfl-run", "work/another-host-run")],
        )
        .expect("the other update's claim");
    let before = bucket.keys();
    let v2 = bucket.source("v2", &[("a.txt", b"changed\n")]);
    let refused = bucket.ocfl(&["commit", ID, &v2]);
    assert_eq!(code(&refused), 1, "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(err.contains(ID), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(bucket.keys(), before);
}

#[test]
fn upgrade_moves_a_bucket_root_and_its_object_to_1_1() {
    let Some(bucket) = Bucket::new("upgrade") else {
        return;
    };
    assert_ok(&bucket.ocfl(&["init", "--spec", "1.0"]), "init");
    let v1 = bucket.source("v1", &[("a.txt", b"alpha\n")]);
    assert_ok(
        &bucket.ocfl(&["commit", ID, &v1, "-m", "first"]),
        "commit v1",
    );
    let dry = bucket.ocfl(&["upgrade", "--dry-run"]);
    assert_ok(&dry, "upgrade --dry-run");
    assert!(bucket.keys().contains(&"0=ocfl_1.0".to_owned()));

    let upgraded = bucket.ocfl(&["--json", "upgrade"]);
    assert_ok(&upgraded, "upgrade");
    let lines = json_lines(&upgraded);
    assert_eq!(lines[0]["changed"], true, "{lines:?}");
    assert_eq!(lines[1]["version"], "v2", "{lines:?}");
    assert_eq!(lines[1]["changed"], true, "{lines:?}");
    let keys = bucket.keys();
    assert!(keys.contains(&"0=ocfl_1.1".to_owned()), "{keys:?}");
    assert!(!keys.contains(&"0=ocfl_1.0".to_owned()), "{keys:?}");
    assert!(
        keys.iter().any(|k| k.ends_with("/0=ocfl_object_1.1")),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.ends_with("/0=ocfl_object_1.0")),
        "{keys:?}"
    );
    assert_ok(&bucket.ocfl(&["validate"]), "validate");
    let info = json_lines(&bucket.ocfl(&["--json", "info", ID]));
    assert_eq!(info[0]["spec"], "1.1");
    assert_eq!(info[0]["head"], "v2");
    // Again: nothing to do.
    let again = json_lines(&bucket.ocfl(&["--json", "upgrade"]));
    assert!(again.iter().all(|l| l["changed"] == false), "{again:?}");
}
