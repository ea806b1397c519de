use std::io::Read;

use ocfl_core::storage::{Entry, EntryKind};

use crate::support::storage;

fn entry(name: &str, kind: EntryKind) -> Entry {
    Entry {
        name: name.to_owned(),
        kind,
    }
}

#[test]
fn listing_shows_keys_as_files_and_common_prefixes_as_directories() {
    let Some(s3) = storage("listing", "root") else {
        return;
    };
    assert_eq!(s3.list("").expect("empty root lists"), vec![]);
    for path in ["b.txt", "a/one", "a/two/three", "c/d/e", "a.txt"] {
        s3.put(path, path.as_bytes().to_vec()).expect("put");
    }
    assert_eq!(
        s3.list("").expect("list root"),
        vec![
            entry("a", EntryKind::Directory),
            entry("a.txt", EntryKind::File),
            entry("b.txt", EntryKind::File),
            entry("c", EntryKind::Directory),
        ]
    );
    assert_eq!(
        s3.list("a").expect("list a"),
        vec![
            entry("one", EntryKind::File),
            entry("two", EntryKind::Directory)
        ]
    );
    assert_eq!(s3.kind("a").expect("kind a"), EntryKind::Directory);
    assert_eq!(s3.kind("a/one").expect("kind a/one"), EntryKind::File);
    assert_eq!(s3.kind("").expect("kind root"), EntryKind::Directory);
    // There are no empty directories: a prefix exists only while a key is below it.
    assert!(s3.kind("zzz").expect_err("absent").is_not_found());
    assert!(s3.list("zzz").expect_err("absent").is_not_found());
    s3.delete("c/d/e").expect("delete");
    assert!(s3.kind("c").expect_err("gone with its key").is_not_found());
}

#[test]
fn reads_stream_and_puts_replace_whole_keys() {
    let Some(s3) = storage("read_write", "r") else {
        return;
    };
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    s3.put("f", bytes.clone()).expect("put");
    let mut streamed = Vec::new();
    let mut reader = s3.open("f").expect("open");
    let mut buffer = [0u8; 1000];
    loop {
        let n = reader.read(&mut buffer).expect("read");
        if n == 0 {
            break;
        }
        streamed.extend_from_slice(&buffer[..n]);
    }
    assert_eq!(streamed, bytes);
    assert_eq!(s3.head("f").expect("head").size, bytes.len() as u64);
    s3.put("f", b"short".to_vec()).expect("replace");
    assert_eq!(s3.read("f").expect("read"), b"short");
    assert!(s3.open("missing").expect_err("absent").is_not_found());
    assert!(s3.read("missing").expect_err("absent").is_not_found());
}

#[test]
fn copies_renames_and_removals() {
    let Some(s3) = storage("copy_rename_remove", "root") else {
        return;
    };
    s3.put("a/x", b"x".to_vec()).expect("put");
    s3.put("a/y/z", b"z".to_vec()).expect("put");
    s3.copy("a/x", "b/x").expect("copy");
    assert_eq!(s3.read("b/x").expect("copied"), b"x");
    assert_eq!(s3.read("a/x").expect("source kept"), b"x");

    s3.rename("a", "moved").expect("rename a directory");
    assert!(s3.kind("a").expect_err("source gone").is_not_found());
    assert_eq!(s3.read("moved/x").expect("moved"), b"x");
    assert_eq!(s3.read("moved/y/z").expect("moved"), b"z");

    s3.rename("b/x", "b/renamed").expect("rename a key");
    assert_eq!(
        s3.list("b").expect("list"),
        vec![entry("renamed", EntryKind::File)]
    );

    s3.remove("moved").expect("remove a directory");
    assert!(s3.kind("moved").expect_err("removed").is_not_found());
    s3.remove("moved")
        .expect("removing nothing is not an error");
    s3.delete("never-there")
        .expect("deleting nothing is not an error");
    assert_eq!(
        s3.list("").expect("list"),
        vec![entry("b", EntryKind::Directory)]
    );
}

#[test]
fn a_sibling_prefix_shares_the_client_and_copies_into_the_root() {
    let Some(root) = storage("work_area", "archive") else {
        return;
    };
    let work = root
        .with_prefix("archive.ocfl-work")
        .expect("sibling prefix");
    work.put("run-1/content/abc", b"staged".to_vec())
        .expect("stage");
    assert_eq!(root.list("").expect("the root does not see it"), vec![]);
    root.copy_from(&work, "run-1/content/abc", "obj/v1/content/file.txt")
        .expect("server-side copy");
    assert_eq!(
        root.read("obj/v1/content/file.txt").expect("read"),
        b"staged"
    );
    assert_eq!(
        work.url("run-1"),
        root.url("").replace("archive", "archive.ocfl-work") + "/run-1"
    );
    assert!(root.with_prefix("../escape").is_err());
    let error = root
        .copy_from(&work, "../x", "y")
        .expect_err("source path outside its prefix");
    assert!(
        matches!(error, ocfl_object_store::Error::InvalidPath { .. }),
        "{error}"
    );
}
