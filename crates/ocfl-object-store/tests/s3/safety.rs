use ocfl_core::location::S3Location;
use ocfl_object_store::{Error, S3Builder};

use crate::support::{builder, endpoint, new_bucket};

#[test]
fn paths_that_would_leave_the_prefix_are_refused() {
    let Some(endpoint) = endpoint("prefix_confinement") else {
        return;
    };
    let bucket = new_bucket(&endpoint);
    let root = builder(&endpoint, &bucket, "root").build().expect("store");
    let bucket_top = builder(&endpoint, &bucket, "").build().expect("store");
    bucket_top
        .put("root.ocfl-work/run/x", b"work".to_vec())
        .expect("put");
    bucket_top
        .put("other/secret", b"other".to_vec())
        .expect("put");
    for path in [
        "../other/secret",
        "a/../../other/secret",
        "/other/secret",
        "a//b",
        "a/",
        ".",
    ] {
        let refused = |result: Result<(), Error>| {
            let error = result.expect_err(path);
            assert!(
                matches!(error, Error::InvalidPath { .. }),
                "{path}: {error}"
            );
        };
        refused(root.put(path, b"x".to_vec()).map(|_| ()));
        refused(root.read(path).map(|_| ()));
        refused(root.delete(path));
        refused(root.remove(path));
        refused(root.list(path).map(|_| ()));
        refused(root.create(path).map(|_| ()));
        refused(root.copy("ok", path));
        refused(root.rename(path, "ok"));
    }
    // A sibling prefix that starts with the root's name is not below it.
    assert_eq!(root.list("").expect("list"), vec![]);
    assert_eq!(
        bucket_top.read("other/secret").expect("untouched"),
        b"other"
    );
    assert_eq!(
        bucket_top.read("root.ocfl-work/run/x").expect("untouched"),
        b"work"
    );
    root.remove("").expect("remove the whole root");
    assert_eq!(
        bucket_top
            .read("root.ocfl-work/run/x")
            .expect("a sibling is not removed with the root"),
        b"work"
    );
}

#[test]
fn errors_name_bucket_key_and_server_code_but_never_the_secret() {
    let Some(endpoint) = endpoint("error_naming") else {
        return;
    };
    let secret = "wrong-secret-Zq8xVb31";
    let s3 = S3Builder::new(S3Location::new("ocfl-test-no-such-bucket", "root/x").expect("valid"))
        .endpoint(&endpoint)
        .credentials(
            "ocfl-test",
            secret,
            Some("session-token-Kp2mWq77".to_owned()),
        )
        .retries(0, std::time::Duration::from_secs(5))
        .build()
        .expect("store");
    let error = s3.read("inventory.json").expect_err("no such bucket");
    let message = error.to_string();
    assert!(
        message.contains("s3://ocfl-test-no-such-bucket/root/x/inventory.json"),
        "{message}"
    );
    assert_eq!(error.server_code(), Some("NoSuchBucket"), "{message}");
    assert!(message.contains("NoSuchBucket"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    let error = s3.put("k", b"x".to_vec()).expect_err("no such bucket");
    for text in [
        message,
        error.to_string(),
        format!("{error:?}"),
        format!("{s3:?}"),
    ] {
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains("session-token-Kp2mWq77"), "{text}");
    }
}
