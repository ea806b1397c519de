use ocfl_object_store::{Condition, ETag, Error};

use crate::support::storage;

#[test]
fn put_if_absent_writes_once() {
    let Some(s3) = storage("put_if_absent", "root") else {
        return;
    };
    s3.put_if_absent("claim", b"first".to_vec())
        .expect("first create");
    let error = s3
        .put_if_absent("claim", b"second".to_vec())
        .expect_err("second create");
    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
    assert!(error.to_string().contains("root/claim"), "{error}");
    assert_eq!(s3.read("claim").expect("read"), b"first");
}

#[test]
fn put_if_match_needs_the_current_entity_tag() {
    let Some(s3) = storage("put_if_match", "root") else {
        return;
    };
    s3.put("inventory.json", b"v1".to_vec()).expect("put");
    let (bytes, read_tag) = s3.read_with_e_tag("inventory.json").expect("read");
    assert_eq!(bytes, b"v1");
    let read_tag = read_tag.expect("an entity tag");

    let new_tag = s3
        .put_if_match("inventory.json", b"v2".to_vec(), &read_tag)
        .expect("the tag read is current")
        .expect("an entity tag");
    assert_ne!(new_tag, read_tag);

    // A writer that read v1 loses once v2 is in place.
    let error = s3
        .put_if_match(
            "inventory.json",
            b"v2 of another writer".to_vec(),
            &read_tag,
        )
        .expect_err("stale tag");
    assert!(matches!(error, Error::PreconditionFailed { .. }), "{error}");
    assert!(error.is_precondition_failed());
    assert_eq!(s3.read("inventory.json").expect("read"), b"v2");

    let error = s3
        .put_if_match("absent", b"x".to_vec(), &ETag("\"0\"".to_owned()))
        .expect_err("no key to match");
    assert!(
        error.is_precondition_failed() || error.is_not_found(),
        "{error}"
    );
    assert!(
        s3.head("absent")
            .expect_err("nothing written")
            .is_not_found()
    );
}

#[test]
fn a_claim_carries_its_owner_in_metadata() {
    let Some(s3) = storage("claim_metadata", "root") else {
        return;
    };
    let claim = "obj/v2/inventory.json";
    s3.put_with(
        claim,
        b"{}".to_vec(),
        Condition::IfAbsent,
        &[("ocfl-run", "run-17")],
    )
    .expect("claim");
    let error = s3
        .put_with(
            claim,
            b"{}".to_vec(),
            Condition::IfAbsent,
            &[("ocfl-run", "run-18")],
        )
        .expect_err("claimed already");
    assert!(error.is_precondition_failed(), "{error}");
    let info = s3.head(claim).expect("head");
    assert_eq!(
        info.metadata.get("ocfl-run").map(String::as_str),
        Some("run-17")
    );
    assert_eq!(info.size, 2);
    assert!(
        s3.head("root-inventory-absent")
            .expect_err("absent")
            .is_not_found()
    );
}
