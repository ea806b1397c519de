use std::io::Write;

use sha2::{Digest, Sha256};

use crate::support::{builder, endpoint, new_bucket};

const PART: usize = ocfl_object_store::MIN_PART_SIZE;

#[test]
fn a_key_larger_than_a_part_is_uploaded_in_parts() {
    let Some(endpoint) = endpoint("multipart") else {
        return;
    };
    let bucket = new_bucket(&endpoint);
    let s3 = builder(&endpoint, &bucket, "root")
        .part_size(PART)
        .build()
        .expect("store");
    let chunk: Vec<u8> = (0..65_536u32).map(|i| (i * 7 % 256) as u8).collect();
    let total = 2 * PART + 123_456;
    let mut upload = s3.create("big").expect("create");
    let mut expected = Sha256::new();
    let mut written = 0;
    while written < total {
        let n = chunk.len().min(total - written);
        upload.write_all(&chunk[..n]).expect("write");
        expected.update(&chunk[..n]);
        written += n;
    }
    // Nothing is visible before the upload is finished.
    assert!(s3.head("big").expect_err("not yet").is_not_found());
    let e_tag = upload.finish().expect("finish").expect("an entity tag");
    // S3 names a multipart upload's entity tag by its number of parts.
    assert!(e_tag.0.trim_matches('"').ends_with("-3"), "{e_tag}");
    let mut read = s3.open("big").expect("open");
    let mut actual = Sha256::new();
    std::io::copy(&mut read, &mut actual).expect("read back");
    assert_eq!(actual.finalize(), expected.finalize());
    assert_eq!(s3.head("big").expect("head").size, total as u64);
}

#[test]
fn a_small_key_is_one_put_and_an_empty_one_exists() {
    let Some(s3) = crate::support::storage("small_upload", "root") else {
        return;
    };
    let mut upload = s3.create("small").expect("create");
    upload.write_all(b"hello").expect("write");
    let e_tag = upload.finish().expect("finish").expect("an entity tag");
    assert!(!e_tag.0.contains('-'), "a single PUT: {e_tag}");
    assert_eq!(s3.read("small").expect("read"), b"hello");
    s3.create("empty")
        .expect("create")
        .finish()
        .expect("finish");
    assert_eq!(s3.read("empty").expect("read"), b"");
}

#[test]
fn an_upload_dropped_unfinished_leaves_nothing() {
    let Some(endpoint) = endpoint("abandoned_upload") else {
        return;
    };
    let bucket = new_bucket(&endpoint);
    let s3 = builder(&endpoint, &bucket, "root")
        .part_size(PART)
        .build()
        .expect("store");
    let mut upload = s3.create("partial").expect("create");
    upload.write_all(&vec![1u8; PART + 10]).expect("write");
    drop(upload);
    assert!(s3.head("partial").expect_err("aborted").is_not_found());
    assert_eq!(s3.list("").expect("list"), vec![]);
    let uploads = reqwest::blocking::get(format!("{endpoint}/{bucket}?uploads"))
        .expect("list multipart uploads")
        .text()
        .expect("body");
    assert!(!uploads.contains("<UploadId>"), "{uploads}");
}
