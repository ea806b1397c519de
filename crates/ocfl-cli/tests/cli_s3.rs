//! The read commands on a storage root in a bucket (moto in CI): a root written locally by
//! `ocfl`, uploaded key for key, gives the same answers on S3 as on disk, with paths shown as
//! `s3://` URLs. Without `OCFL_TEST_S3_ENDPOINT` the tests say they are skipped; under
//! `OCFL_TEST_REQUIRE_SERVICES=1` they fail instead.

mod commit_support;

use std::path::Path;
use std::process::Output;

use commit_support::*;
use ocfl_core::location::S3Location;
use ocfl_object_store::S3Builder;

const ID: &str = "ark:/12345/bcd987";
const OTHER: &str = "urn:example:other";

/// A bucket on the test server holding a copy of a local root made by `ocfl`.
struct S3Root {
    local: Root,
    endpoint: String,
    url: String,
}

impl S3Root {
    /// Two objects, one with two versions; the bucket's root under `archive`.
    fn new(test: &str) -> Option<S3Root> {
        let endpoint = test_support::service("OCFL_TEST_S3_ENDPOINT", "S3")?;
        let local = Root::new();
        let v1 = local.dir_path().join("v1");
        write_tree(&v1, &[("a.txt", b"alpha\n"), ("dir/b.txt", b"bravo\n")]);
        local.commit(ID, &v1, &["--message", "first"]);
        let v2 = local.dir_path().join("v2");
        write_tree(
            &v2,
            &[("a.txt", b"alpha, changed\n"), ("dir/c.txt", b"bravo\n")],
        );
        local.commit(ID, &v2, &["--message", "second"]);
        local.commit(OTHER, &v1, &[]);

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
        for entry in walkdir::WalkDir::new(local.path()) {
            let entry = entry.expect("walk");
            if entry.file_type().is_file() {
                let relative = entry.path().strip_prefix(local.path()).expect("below");
                let key = relative.to_str().expect("utf-8");
                let bytes = std::fs::read(entry.path()).expect("read");
                storage.put(key, bytes).expect("upload");
            }
        }
        Some(S3Root {
            local,
            url: format!("s3://{bucket}/archive"),
            endpoint,
        })
    }

    /// `ocfl --root s3://... args`, configured the AWS way for the test server.
    fn ocfl(&self, args: &[&str]) -> Output {
        self.ocfl_at(&self.url, args)
    }

    fn ocfl_at(&self, root: &str, args: &[&str]) -> Output {
        ocfl_command()
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "ocfl-test")
            .env("AWS_SECRET_ACCESS_KEY", "ocfl-test-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env_remove("AWS_SESSION_TOKEN")
            .arg("--root")
            .arg(root)
            .args(args)
            .output()
            .expect("run ocfl")
    }

    /// What the local root's output says, with its path shown as the bucket's URL.
    fn local_as_s3(&self, output: &Output) -> String {
        let root = self.local.path();
        stdout(output).replace(root.to_str().expect("utf-8"), &self.url)
    }
}

#[test]
fn read_commands_answer_on_a_bucket_as_on_disk() {
    let Some(s3) = S3Root::new("read") else {
        return;
    };
    for args in [
        vec!["ls"],
        vec!["ls", "-v"],
        vec!["ls", "--json"],
        vec!["ls", ID],
        vec!["ls", ID, "--version", "v1", "--json"],
        vec!["log", ID],
        vec!["log", ID, "--json"],
        vec!["show", ID],
        vec!["show", ID, "--version", "v1", "--json"],
        vec!["diff", ID, "v1", "v2"],
        vec!["cat", ID, "a.txt"],
        vec!["cat", ID, "dir/b.txt", "--version", "v1"],
        vec!["validate"],
        vec!["validate", "--json"],
        vec!["validate", ID],
        vec!["validate", OTHER, "--json", "--no-fixity"],
        vec!["ls", ID, "--long"],
        vec!["ls", ID, "--long", "--json", "dir/*"],
        vec!["log", ID, "a.txt", "--json"],
        vec!["info"],
        vec!["info", "--count", "--json"],
        vec!["info", ID, "--json"],
        // Refusals read the same too.
        vec!["cat", ID, "dir/b.txt"],
        vec!["show", "no-such-object"],
    ] {
        let on_disk = s3.local.ocfl(&args);
        let on_s3 = s3.ocfl(&args);
        assert_eq!(code(&on_s3), code(&on_disk), "{args:?}: {}", stderr(&on_s3));
        assert_eq!(stdout(&on_s3), s3.local_as_s3(&on_disk), "{args:?}");
    }
    // JSON reports name S3 objects by their URL.
    let report = json_lines(&s3.ocfl(&["validate", ID, "--json"]));
    let path = report[0]["path"].as_str().expect("path");
    assert!(path.starts_with(&format!("{}/", s3.url)), "{path}");
    assert_eq!(report[0]["valid"], true);
}

#[test]
fn export_from_a_bucket_writes_the_version() {
    let Some(s3) = S3Root::new("export") else {
        return;
    };
    let dest = s3.local.dir_path().join("exported");
    ok(&s3.ocfl(&[
        "export",
        ID,
        dest.to_str().expect("utf-8"),
        "--version",
        "v1",
    ]));
    assert_eq!(read_tree(&dest), read_tree(&s3.local.dir_path().join("v1")));
}

#[test]
fn a_damaged_object_in_a_bucket_is_reported_as_on_disk() {
    let Some(s3) = S3Root::new("damaged") else {
        return;
    };
    // The same damage on both sides: a content file of v1 replaced.
    let object = find_object_dir(&s3.local.path());
    let content = object.join("v1/content/a.txt");
    std::fs::write(&content, b"tampered\n").expect("tamper on disk");
    let relative = content
        .strip_prefix(s3.local.path())
        .expect("below the root");
    let storage = S3Builder::new(S3Location::new(s3.bucket(), "archive").expect("location"))
        .endpoint(&s3.endpoint)
        .credentials("ocfl-test", "ocfl-test-secret", None)
        .build()
        .expect("store");
    storage
        .put(relative.to_str().expect("utf-8"), b"tampered\n".to_vec())
        .expect("tamper in the bucket");
    let on_disk = s3.local.ocfl(&["validate", "--json"]);
    let on_s3 = s3.ocfl(&["validate", "--json"]);
    assert_eq!(code(&on_disk), 1);
    assert_eq!(code(&on_s3), 1);
    assert_eq!(stdout(&on_s3), s3.local_as_s3(&on_disk));
}

#[test]
fn a_missing_bucket_is_named_with_the_servers_code() {
    let Some(s3) = S3Root::new("missing") else {
        return;
    };
    let output = s3.ocfl_at("s3://ocfl-no-such-bucket-here/archive", &["ls"]);
    let err = stderr(&output);
    assert_eq!(code(&output), 1, "{err}");
    assert!(
        err.contains("s3://ocfl-no-such-bucket-here/archive"),
        "{err}"
    );
    assert!(err.contains("NoSuchBucket"), "{err}");
    assert!(!err.contains("ocfl-test-secret"), "{err}");
}

impl S3Root {
    fn bucket(&self) -> &str {
        let rest = self.url.strip_prefix("s3://").expect("an s3 URL");
        rest.split('/').next().expect("a bucket")
    }
}

/// The directory of the object with a `v1/content/a.txt` (the first object committed).
fn find_object_dir(root: &Path) -> std::path::PathBuf {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|entry| entry.expect("walk").into_path())
        .find(|path| path.ends_with("v1/content/a.txt"))
        .and_then(|path| Some(path.parent()?.parent()?.parent()?.to_path_buf()))
        .expect("an object with v1/content/a.txt")
}

/// `ocfl --root URL args` with no `AWS_*` variable but those in `vars` and HOME `home`.
fn ocfl_with_home(s3: &S3Root, home: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = ocfl_command();
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("HOME", home)
        .env("AWS_ALLOW_HTTP", "true")
        .envs(vars.iter().copied())
        .arg("--root")
        .arg(&s3.url)
        .args(args)
        .output()
        .expect("run ocfl")
}

fn assert_ok(output: &Output, what: &str) {
    assert_eq!(code(output), 0, "{what}: {}", stderr(output));
}

#[test]
fn the_aws_profile_in_home_reaches_the_bucket_and_the_environment_wins() {
    let Some(s3) = S3Root::new("profile") else {
        return;
    };
    let home = tempfile::tempdir().expect("tempdir");
    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).expect("mkdir");
    std::fs::write(
        aws.join("credentials"),
        "[default]\naws_access_key_id = ocfl-test\naws_secret_access_key = ocfl-test-secret\n\n[archive]\naws_access_key_id = ocfl-test\naws_secret_access_key = ocfl-test-secret\n",
    )
    .expect("write credentials");
    // The default profile's endpoint is wrong: nothing listens there.
    std::fs::write(
        aws.join("config"),
        format!(
            "[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9\n\n[profile archive]\nregion = us-east-1\ns3 =\n  endpoint_url = {}\n",
            s3.endpoint
        ),
    )
    .expect("write config");
    let expected = s3.ocfl(&["ls"]);
    assert_ok(&expected, "ls configured by the environment");

    let output = ocfl_with_home(&s3, home.path(), &[("AWS_PROFILE", "archive")], &["ls"]);
    assert_ok(&output, "ls configured by the profile archive");
    assert_eq!(stdout(&output), stdout(&expected));

    // The environment's endpoint wins over the default profile's.
    let endpoint = [("AWS_ENDPOINT_URL", s3.endpoint.as_str())];
    let output = ocfl_with_home(&s3, home.path(), &endpoint, &["ls"]);
    assert_ok(
        &output,
        "ls with the environment's endpoint over the profile's",
    );
    assert_eq!(stdout(&output), stdout(&expected));

    let output = ocfl_with_home(&s3, home.path(), &[("AWS_PROFILE", "nowhere")], &["ls"]);
    let err = stderr(&output);
    assert_ne!(code(&output), 0, "{err}");
    assert!(err.contains("\"nowhere\""), "{err}");
    assert!(!err.contains("ocfl-test-secret"), "{err}");
}
