//! Property tests: logical and content path checks accept exactly the specification's
//! grammar (E051-E053, E098-E100): one or more elements joined by `/`, no element empty,
//! `.` or `..`, hence no leading or trailing `/`. Names that are legal there and on POSIX
//! filesystems but special elsewhere (backslashes, colons, leading dashes, `%2F`, NFC and NFD
//! spellings of one name, 255-byte segments) are accepted by every check and round-trip
//! through the storage layer as distinct files inside the root.

use std::collections::BTreeMap;

use ocfl_core::path::{ContentPath, LogicalPath, check_path, find_conflict};
use ocfl_core::storage::{EntryKind, LocalStorage, Storage, check_storage_path};
use proptest::prelude::*;

/// Elements, valid and not: the generator builds paths from these so that every rule is
/// exercised often, and computes the expected verdict from the elements alone.
fn element() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 _.~%:=é-]{1,8}",
        1 => Just(String::new()),
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just("...".to_owned()),
        1 => Just(".hidden".to_owned()),
    ]
}

/// One path element that OCFL and POSIX allow but that Windows, URLs, shells or Unicode
/// normalization treat specially; the filesystem limit is 255 bytes per name.
fn awkward_element() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("back\\slash\\file".to_owned()),
        Just("..\\..\\up".to_owned()),
        Just("C:\\Windows".to_owned()),
        Just("c:".to_owned()),
        Just("-rf".to_owned()),
        Just("--help".to_owned()),
        Just("%2F".to_owned()),
        Just("..%2F..%2Fup".to_owned()),
        Just(" spaced ".to_owned()),
        // "café" precomposed (NFC) and decomposed (NFD): two names, two files.
        Just("caf\u{e9}".to_owned()),
        Just("cafe\u{301}".to_owned()),
        (1usize..=255).prop_map(|n| "x".repeat(n)),
        (1usize..=127).prop_map(|n| "\u{e9}".repeat(n)),
        "[a-z\\\\:%-]{1,6}",
    ]
}

/// A scratch directory, in memory where there is one: the round trip flushes every file.
fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let in_memory = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    in_memory.unwrap_or_else(|| tempfile::tempdir().expect("tempdir"))
}

fn element_is_valid(e: &str) -> bool {
    !e.is_empty() && e != "." && e != ".."
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn joined_elements_are_valid_iff_every_element_is(elements in prop::collection::vec(element(), 1..6)) {
        let path = elements.join("/");
        let expected = elements.iter().all(|e| element_is_valid(e));
        prop_assert_eq!(check_path(&path).is_ok(), expected, "{:?}", path);
        prop_assert_eq!(LogicalPath::new(path.clone()).is_ok(), expected);
        prop_assert_eq!(ContentPath::new(path.clone()).is_ok(), expected);
        if expected {
            let parsed = LogicalPath::new(path.clone()).expect("valid");
            prop_assert_eq!(parsed.elements().collect::<Vec<_>>(), elements.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    #[test]
    fn any_string_is_judged_by_its_split(path in "[a/.]{0,12}|\\PC{0,16}") {
        // The grammar restated directly: split on '/', every piece a valid element.
        let expected = path.split('/').all(element_is_valid);
        prop_assert_eq!(check_path(&path).is_ok(), expected, "{:?}", path);
    }

    #[test]
    fn a_valid_path_with_a_slash_added_at_either_end_is_invalid(elements in prop::collection::vec("[a-z]{1,4}", 1..4)) {
        let path = elements.join("/");
        prop_assert!(check_path(&path).is_ok());
        let leading = format!("/{path}");
        let trailing = format!("{path}/");
        prop_assert!(check_path(&leading).is_err());
        prop_assert!(check_path(&trailing).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn awkward_names_are_valid_paths_of_their_own_elements(elements in prop::collection::vec(awkward_element(), 1..5)) {
        let path = elements.join("/");
        prop_assert!(check_path(&path).is_ok(), "{:?}", path);
        prop_assert!(check_storage_path(&path).is_ok(), "{:?}", path);
        let parsed = ContentPath::new(path.clone()).expect("valid");
        prop_assert_eq!(parsed.elements().collect::<Vec<_>>(), elements.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Files at awkward paths, written and read back through `LocalStorage`: each is its own
    /// file with its own bytes, every directory lists exactly the names written into it, and
    /// nothing appears beside the root.
    #[test]
    fn awkward_names_round_trip_through_storage(paths in prop::collection::btree_set(prop::collection::vec(awkward_element(), 1..4), 1..8)) {
        let paths: Vec<String> = paths.iter().map(|elements| elements.join("/")).collect();
        let sorted: Vec<&str> = paths.iter().map(String::as_str).collect();
        // A file cannot also be a directory of another file.
        prop_assume!(find_conflict(&sorted).is_none());
        let dir = scratch();
        let storage = LocalStorage::new(dir.path().join("root"));
        let mut listed: BTreeMap<String, BTreeMap<String, EntryKind>> = BTreeMap::new();
        for path in &paths {
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
            storage.create_dir(parent).expect("create parent");
            storage.write_atomic(path, path.as_bytes()).expect("write");
            listed.entry(parent.to_owned()).or_default().insert(name.to_owned(), EntryKind::File);
            let mut above = parent;
            while !above.is_empty() {
                let (grandparent, dir_name) = above.rsplit_once('/').unwrap_or(("", above));
                listed.entry(grandparent.to_owned()).or_default().insert(dir_name.to_owned(), EntryKind::Directory);
                above = grandparent;
            }
        }
        for path in &paths {
            prop_assert_eq!(storage.read(path).expect("read"), path.as_bytes());
            prop_assert_eq!(storage.kind(path).expect("kind"), EntryKind::File);
        }
        for (parent, expected) in &listed {
            let entries: BTreeMap<String, EntryKind> = storage.list(parent).expect("list").into_iter().map(|e| (e.name, e.kind)).collect();
            prop_assert_eq!(&entries, expected, "{:?}", parent);
            let handle = storage.open_dir(parent).expect("open dir");
            let by_handle: BTreeMap<String, EntryKind> = handle.list().expect("list").into_iter().map(|e| (e.name, e.kind)).collect();
            prop_assert_eq!(&by_handle, expected, "{:?}", parent);
        }
        let beside: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").map(|e| e.expect("entry").file_name()).collect();
        prop_assert_eq!(beside, vec![std::ffi::OsString::from("root")]);
    }
}
