//! Staging: one test per refusal (each checks that the message names the offending path),
//! determinism, fixity and deduplication of digests.

use std::fs;
use std::path::Path;

use super::*;

fn options() -> StageOptions {
    StageOptions::default()
}

fn write(root: &Path, relative: &str, bytes: &[u8]) {
    let path = root.join(relative);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, bytes).expect("write");
}

/// Stages `root` expecting a refusal whose message contains `needle`.
fn refused(root: &Path, options: &StageOptions, needle: &str) -> Error {
    let error = Stage::from_directory(root, options).expect_err("staging must be refused");
    let message = error.to_string();
    assert!(
        message.contains(needle),
        "{message:?} does not name {needle:?}"
    );
    error
}

#[test]
fn stages_files_with_digests_sizes_and_fixity() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a/b.txt", b"hello");
    write(dir.path(), "c.txt", b"hello");
    write(dir.path(), "é/ü.txt", b"other");
    fs::create_dir(dir.path().join("empty")).expect("mkdir");
    let options = StageOptions {
        fixity: vec![
            DigestAlgorithm::Md5,
            DigestAlgorithm::Size,
            DigestAlgorithm::Md5,
        ],
        ..options()
    };
    let stage = Stage::from_directory(dir.path(), &options).expect("stage");
    let paths: Vec<&str> = stage.files().keys().map(LogicalPath::as_str).collect();
    assert_eq!(paths, ["a/b.txt", "c.txt", "é/ü.txt"]);
    let hello = DigestAlgorithm::Sha512.digest_bytes(b"hello");
    let file = &stage.files()[&LogicalPath::new("a/b.txt").expect("valid")];
    assert_eq!(file.digest, hello);
    assert_eq!(file.size, 5);
    assert_eq!(
        file.fixity,
        vec![
            (
                DigestAlgorithm::Md5,
                DigestAlgorithm::Md5.digest_bytes(b"hello")
            ),
            (DigestAlgorithm::Size, Digest::new("5")),
        ]
    );
    assert_eq!(
        stage.fixity_algorithms(),
        [DigestAlgorithm::Md5, DigestAlgorithm::Size]
    );
    assert_eq!(stage.state()[&hello].len(), 2);
    let (first, _) = stage.file_with(&hello).expect("staged");
    assert_eq!(first.as_str(), "a/b.txt");
    assert_eq!(stage.total_bytes(), 15);
    assert_eq!(
        Stage::from_directory(dir.path(), &options).expect("again"),
        stage,
        "staging is deterministic"
    );
}

#[test]
fn refuses_symlinks_unless_following() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "target.txt", b"x");
    std::os::unix::fs::symlink("target.txt", dir.path().join("link.txt")).expect("symlink");
    let error = refused(dir.path(), &options(), "link.txt");
    assert!(matches!(error, Error::Symlink { .. }), "{error:?}");
    let follow = StageOptions {
        follow_symlinks: true,
        ..options()
    };
    let stage = Stage::from_directory(dir.path(), &follow).expect("followed");
    assert_eq!(stage.len(), 2);
}

#[test]
fn refuses_special_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket_path = dir.path().join("sub/sock");
    fs::create_dir(dir.path().join("sub")).expect("mkdir");
    let _listener = std::os::unix::net::UnixListener::bind(&socket_path).expect("bind");
    let error = refused(dir.path(), &options(), "sub/sock");
    assert!(matches!(error, Error::SpecialFile { .. }), "{error:?}");
}

#[test]
fn refuses_names_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff-name");
    fs::create_dir(dir.path().join("d")).expect("mkdir");
    fs::write(dir.path().join("d").join(name), b"x").expect("write");
    let error = refused(dir.path(), &options(), "d/bad-\u{fffd}-name");
    assert!(matches!(error, Error::NotUtf8 { .. }), "{error:?}");
}

/// `/` is the only separator of logical paths: names with backslashes, colons, leading
/// dashes or percent signs are staged as they are, and NFC and NFD spellings of one name
/// are two files.
#[test]
fn stages_names_legal_in_ocfl_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = [
        "dir/back\\slash\\file",
        "c:colon",
        "-leading-dash",
        "percent%2Fslash",
        "caf\u{e9}",
        "cafe\u{301}",
    ];
    for name in names {
        write(dir.path(), name, name.as_bytes());
    }
    let stage = Stage::from_directory(dir.path(), &options()).expect("stage");
    let mut expected = names.to_vec();
    expected.sort_unstable();
    let staged: Vec<&str> = stage.files().keys().map(LogicalPath::as_str).collect();
    assert_eq!(staged, expected);
}

#[test]
fn refuses_forbidden_logical_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "dir/file", b"x");
    let source = dir.path().join("dir/file");
    for bad in ["../escape", "a//b", "/abs", "a/./b", ""] {
        let error = Stage::from_files([(bad.to_owned(), source.clone())], &options())
            .expect_err("forbidden");
        assert!(
            matches!(error, Error::ForbiddenPath { .. }),
            "{bad}: {error:?}"
        );
        assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
    }
}

#[test]
fn refuses_file_directory_conflicts_and_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "f", b"x");
    let f = dir.path().join("f");
    let error = Stage::from_files(
        [
            ("a".to_owned(), f.clone()),
            ("a-b".to_owned(), f.clone()),
            ("a/c".to_owned(), f.clone()),
        ],
        &options(),
    )
    .expect_err("conflict");
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    assert!(error.to_string().contains("a/c"), "{error}");
    let error = Stage::from_files(
        [("x".to_owned(), f.clone()), ("x".to_owned(), f)],
        &options(),
    )
    .expect_err("duplicate");
    assert!(error.to_string().starts_with("x: staged twice"), "{error}");
}

#[test]
fn refuses_unreadable_files() {
    // Tests may run as root, which reads any file whatever its mode; a file that vanishes
    // between listing and reading is unreadable for everyone.
    let dir = tempfile::tempdir().expect("tempdir");
    let gone = dir.path().join("gone.txt");
    let error =
        Stage::from_files([("gone.txt".to_owned(), gone)], &options()).expect_err("unreadable");
    assert!(matches!(error, Error::Unreadable { .. }), "{error:?}");
    assert!(error.to_string().contains("gone.txt"), "{error}");
    let error =
        Stage::from_directory(&dir.path().join("no-such-dir"), &options()).expect_err("missing");
    assert!(error.to_string().contains("no-such-dir"), "{error}");
}

#[test]
fn reports_a_file_changed_while_staged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("growing.bin");
    fs::write(&path, vec![7u8; ocfl_core::digest::STREAM_BUFFER * 2]).expect("write");
    let appended = std::sync::atomic::AtomicBool::new(false);
    let append = || {
        use std::io::Write;
        if appended.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(b"more").expect("append");
    };
    let error = match hash::hash_file(
        &path,
        &[DigestAlgorithm::Sha512],
        hash::Extras {
            between_reads: &append,
            ..hash::Extras::NONE
        },
    ) {
        Err(e) => e,
        Ok(_) => panic!("a file growing while read must be reported"),
    };
    assert!(matches!(error, Error::Changed { .. }), "{error:?}");
    assert!(error.to_string().contains("growing.bin"), "{error}");
}

#[test]
fn refuses_a_fixity_only_content_algorithm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StageOptions {
        digest_algorithm: DigestAlgorithm::Md5,
        ..options()
    };
    assert!(matches!(
        Stage::from_directory(dir.path(), &options),
        Err(Error::NotContentAlgorithm(DigestAlgorithm::Md5))
    ));
}

#[test]
fn a_file_changed_while_staged_leaves_nothing_in_the_spool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("growing.bin");
    fs::write(&path, vec![7u8; ocfl_core::digest::STREAM_BUFFER * 2]).expect("write");
    let filesystem = ocfl_core::storage::LocalStorage::new(dir.path());
    let spool = Spool::new(&filesystem, "work").expect("spool");
    let appended = std::sync::atomic::AtomicBool::new(false);
    let append = || {
        use std::io::Write;
        if !appended.swap(true, std::sync::atomic::Ordering::Relaxed) {
            let mut file = fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open");
            file.write_all(b"more").expect("append");
        }
    };
    let result = hash::hash_file(
        &path,
        &[DigestAlgorithm::Sha512],
        hash::Extras {
            spool: Some(&spool),
            between_reads: &append,
            ..hash::Extras::NONE
        },
    );
    assert!(matches!(result, Err(Error::Changed { .. })));
    let left = fs::read_dir(dir.path().join(spool.dir()))
        .expect("spool dir")
        .count();
    assert_eq!(left, 0, "neither a temporary nor a named file is left");
}

/// The state of a stage as (logical path, digest) pairs.
fn pairs(stage: &Stage) -> Vec<(String, String)> {
    stage
        .files()
        .iter()
        .map(|(p, f)| (p.to_string(), f.digest.to_string()))
        .collect()
}

/// A recorded state: `x` and `d/y` with digests `1` and `2` (never read).
fn recorded_state() -> State {
    let mut state = State::new();
    state.insert(
        Digest::new("11"),
        vec![LogicalPath::new("x").expect("path")],
    );
    state.insert(
        Digest::new("22"),
        vec![
            LogicalPath::new("d/y").expect("path"),
            LogicalPath::new("d/z").expect("path"),
        ],
    );
    state
}

#[test]
fn edits_apply_removals_moves_then_additions_reading_only_added_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "new.txt", b"new");
    write(dir.path(), "tree/a", b"a");
    let edits = vec![
        Edit::Add {
            source: dir.path().join("new.txt"),
            dest: "x".into(),
        },
        Edit::Add {
            source: dir.path().join("tree"),
            dest: "t/".into(),
        },
        Edit::Move {
            from: "d".into(),
            to: "e:f".into(),
        },
        Edit::Remove { path: "d/z".into() },
    ];
    // The recorded files' sources do not exist: a read of one would fail.
    let stage = Stage::from_edits(
        &recorded_state(),
        Path::new("/nonexistent"),
        &edits,
        &options(),
    )
    .expect("stage");
    let new = DigestAlgorithm::Sha512.digest_bytes(b"new").to_string();
    let a = DigestAlgorithm::Sha512.digest_bytes(b"a").to_string();
    assert_eq!(
        pairs(&stage),
        vec![
            ("e:f/y".to_owned(), "22".to_owned()),
            ("t/a".to_owned(), a),
            ("x".to_owned(), new),
        ]
    );
    assert_eq!(stage.total_bytes(), 4, "only the added files were read");
    assert_eq!(
        stage.files()[&LogicalPath::new("e:f/y").expect("path")].source,
        Path::new("/nonexistent/d/y")
    );
}

#[test]
fn edits_without_changes_give_the_recorded_state() {
    let stage =
        Stage::from_edits(&recorded_state(), Path::new("/o"), &[], &options()).expect("stage");
    assert_eq!(stage.state(), recorded_state());
}

#[test]
fn edits_are_refused_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "f", b"f");
    std::os::unix::fs::symlink(dir.path().join("f"), dir.path().join("link")).expect("link");
    let add = |source: &str, dest: &str| Edit::Add {
        source: dir.path().join(source),
        dest: dest.into(),
    };
    let cases = [
        (
            vec![Edit::Remove {
                path: "nothing".into(),
            }],
            "nothing: not in the object's state",
        ),
        (
            vec![Edit::Move {
                from: "x".into(),
                to: "d/y".into(),
            }],
            "d/y: already in the object's state",
        ),
        (vec![add("link", "l")], "is a symbolic link"),
        (vec![add("f", "x/under-a-file")], "x: is a file"),
        (vec![add("f", "d")], "d: is a file"),
        (vec![add("f", "a/../b")], "a/../b"),
        (vec![add("f", "n"), add("f", "n")], "n: staged twice"),
        (vec![add("missing", "m")], "cannot be read"),
    ];
    for (edits, needle) in cases {
        let error = Stage::from_edits(&recorded_state(), Path::new("/o"), &edits, &options())
            .expect_err("refused");
        assert!(
            error.to_string().contains(needle),
            "{error} lacks {needle:?}"
        );
    }
    let followed = StageOptions {
        follow_symlinks: true,
        ..options()
    };
    Stage::from_edits(
        &recorded_state(),
        Path::new("/o"),
        &[add("link", "l")],
        &followed,
    )
    .expect("a followed link is staged");
}
