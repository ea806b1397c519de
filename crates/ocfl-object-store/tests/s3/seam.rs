//! The storage seam behaves on a bucket as on a directory: one script of operations, run on
//! both, gives the same transcript (outcomes and error kinds). The script avoids what cannot
//! be the same: empty directories, which a bucket does not have, and writes below a directory
//! that was not created (a bucket needs none; the seam's callers create them first).

use std::io::{Read, Write};

use ocfl_core::storage::{LocalStorage, Storage, StorageError};

use crate::support::storage;

fn outcome<T: std::fmt::Debug>(result: Result<T, StorageError>) -> String {
    match result {
        Ok(value) => format!("ok {value:?}"),
        Err(StorageError::NotFound(path)) => format!("not found {path}"),
        Err(StorageError::InvalidPath(path)) => format!("invalid path {path}"),
        Err(StorageError::Io { op, path, source }) => {
            format!("{op} {path}: {:?}", source.kind())
        }
        Err(other) => format!("other {other}"),
    }
}

fn script(storage: &dyn Storage) -> Vec<String> {
    let mut log = Vec::new();
    let mut step = |name: &str, result: String| log.push(format!("{name}: {result}"));
    step("list empty root", outcome(storage.list("")));
    step("create_dir", outcome(storage.create_dir("a/b")));
    step("write", outcome(storage.write_atomic("a/b/file", b"one")));
    step(
        "overwrite",
        outcome(storage.write_atomic("a/b/file", b"two")),
    );
    step("write top", outcome(storage.write_atomic("top", b"top")));
    step(
        "read",
        outcome(storage.read("a/b/file").map(String::from_utf8)),
    );
    step("list root", outcome(storage.list("")));
    step("list a", outcome(storage.list("a")));
    step("kind dir", outcome(storage.kind("a/b")));
    step("kind file", outcome(storage.kind("a/b/file")));
    step("kind absent", outcome(storage.kind("a/zzz")));
    step("read absent", outcome(storage.read("a/zzz")));
    step("open absent", outcome(storage.open("a/zzz").map(|_| ())));
    let mut text = String::new();
    let streamed = storage
        .open("top")
        .map(|mut reader| reader.read_to_string(&mut text).map(|_| text.clone()));
    step(
        "open and read",
        outcome(streamed.map(|r| r.map_err(|e| e.kind()))),
    );
    step("list absent", outcome(storage.list("nowhere")));
    for bad in ["../x", "/x", "a//b", "a/./b"] {
        step("read bad", outcome(storage.read(bad)));
        step("write bad", outcome(storage.write_atomic(bad, b"x")));
        step("list bad", outcome(storage.list(bad)));
        step("remove bad", outcome(storage.remove(bad)));
    }
    step("create_dir again", outcome(storage.create_dir("a/b")));
    step("rename file", outcome(storage.rename("top", "a/top")));
    step("after rename", outcome(storage.list("a")));
    step("rename dir", outcome(storage.rename("a/b", "c")));
    step(
        "renamed",
        outcome(storage.read("c/file").map(String::from_utf8)),
    );
    step("old gone", outcome(storage.kind("a/b")));
    step("remove non-empty", outcome(storage.remove_empty_dir("c")));
    step("remove file", outcome(storage.remove("c/file")));
    step("remove emptied", outcome(storage.remove_empty_dir("c")));
    step("remove tree", outcome(storage.remove("a")));
    step("list after removals", outcome(storage.list("")));
    step("create_dir w", outcome(storage.create_dir("w")));
    step("create and finish", {
        let written = storage.create("w/streamed").and_then(|mut writer| {
            for chunk in [&b"one "[..], b"two ", b"three"] {
                writer
                    .write_all(chunk)
                    .map_err(|e| StorageError::io("write", "w/streamed", e))?;
            }
            writer.finish()
        });
        outcome(written)
    });
    step(
        "streamed",
        outcome(storage.read("w/streamed").map(String::from_utf8)),
    );
    step("create bad", outcome(storage.create("../w").map(|_| ())));
    step(
        "sync",
        outcome(storage.sync(&["w/streamed".to_owned(), "w".to_owned()])),
    );
    step("sync_tree", outcome(storage.sync_tree("w")));
    step(
        "kind_if_exists",
        outcome(storage.kind_if_exists("w/absent")),
    );
    step(
        "remove_empty_dir full",
        outcome(storage.remove_empty_dir("w")),
    );
    step("remove absent", outcome(storage.remove("w/absent")));
    step("remove w", outcome(storage.remove("w")));
    step(
        "remove_empty_dir gone",
        outcome(storage.remove_empty_dir("w")),
    );
    step("create_dir d", outcome(storage.create_dir("d/e")));
    step("write d", outcome(storage.write_atomic("d/e/f", b"f")));
    step("directory handles", {
        let listed = storage.open_dir("").and_then(|root| {
            let mut names = Vec::new();
            for entry in root.list()? {
                let sub = root.open_dir(&entry.name)?;
                for inner in sub.list()? {
                    let deeper = sub.open_dir(&inner.name)?;
                    names.push(format!(
                        "{}/{}: {:?}",
                        entry.name,
                        inner.name,
                        deeper.list()?
                    ));
                    names.push(outcome(deeper.read_file("f").map(String::from_utf8)));
                    names.push(outcome(deeper.open_dir("f").map(|_| ())));
                    names.push(outcome(deeper.open_dir("absent").map(|_| ())));
                    names.push(outcome(deeper.open_file("absent").map(|_| ())));
                    names.push(outcome(deeper.open_dir("..").map(|_| ())));
                }
            }
            Ok(names)
        });
        outcome(listed)
    });
    log
}

#[test]
fn the_seam_behaves_on_a_bucket_as_on_a_directory() {
    let Some(s3) = storage("seam_script", "root") else {
        return;
    };
    let temp = tempfile::tempdir().expect("tempdir");
    let local = LocalStorage::new(temp.path().join("root"));
    std::fs::create_dir(temp.path().join("root")).expect("root dir");
    let on_disk = script(&local);
    let on_s3 = script(&s3);
    let differences: Vec<String> = on_disk
        .iter()
        .zip(&on_s3)
        .filter(|(disk, s3)| disk != s3)
        .map(|(disk, s3)| format!("disk: {disk}\n  s3: {s3}"))
        .collect();
    assert_eq!(on_disk.len(), on_s3.len());
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn a_bucket_names_its_paths_by_url_and_has_no_atomic_rename() {
    let Some(s3) = storage("seam_display", "root/x") else {
        return;
    };
    let storage: &dyn Storage = &s3;
    let bucket = s3.location().bucket().to_owned();
    assert_eq!(storage.display_path(""), format!("s3://{bucket}/root/x"));
    assert_eq!(
        storage.display_path("a/b"),
        format!("s3://{bucket}/root/x/a/b")
    );
    assert!(!storage.renames_atomically());
}
