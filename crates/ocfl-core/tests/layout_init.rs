//! Creating a storage root, and reading back the layout files it writes.

use std::fs;

use ocfl_core::SpecVersion;
use ocfl_core::init::{InitError, InitOptions, init_storage_root};
use ocfl_core::layout::{
    FlatDirect, FlatOmitPrefix, HashedNTuple, LAYOUT_FILE, Layout, LayoutError, NTupleOmitPrefix,
    config_path,
};
use ocfl_core::storage::{Entry, EntryKind, LocalStorage, Storage, StorageError, StorageWriter};

fn names(storage: &LocalStorage, dir: &str) -> Vec<String> {
    storage
        .list(dir)
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect()
}

fn layouts() -> Vec<Layout> {
    vec![
        Layout::default_layout(),
        Layout::from_config(FlatDirect::NAME, None).expect("0002"),
        Layout::from_config(
            "0003-hash-and-id-n-tuple-storage-layout",
            Some(br#"{"digestAlgorithm": "md5", "tupleSize": 2, "numberOfTuples": 15}"#),
        )
        .expect("0003"),
        Layout::from_config(
            HashedNTuple::NAME,
            Some(br#"{"digestAlgorithm": "sha512", "tupleSize": 4, "numberOfTuples": 2, "shortObjectRoot": true}"#),
        )
        .expect("0004"),
        Layout::from_config(FlatOmitPrefix::NAME, Some(br#"{"delimiter": "edu/"}"#)).expect("0006"),
        Layout::from_config(
            NTupleOmitPrefix::NAME,
            Some(br#"{"delimiter": "-", "tupleSize": 4, "numberOfTuples": 2, "zeroPadding": "right", "reverseObjectRoot": true}"#),
        )
        .expect("0007"),
        Layout::from_config(
            "0012-hash-and-no-prefix-id-n-tuple-storage-layout",
            Some(br#"{"delimiters": [":", "/"]}"#),
        )
        .expect("0012"),
    ]
}

#[test]
fn default_init_writes_declaration_and_layout_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = LocalStorage::new(dir.path().join("root"));
    init_storage_root(&storage, &InitOptions::default()).expect("init");

    assert_eq!(
        names(&storage, ""),
        ["0=ocfl_1.1", "extensions", "ocfl_layout.json"]
    );
    assert_eq!(storage.read("0=ocfl_1.1").expect("read"), b"ocfl_1.1\n");
    let layout_file: serde_json::Value =
        serde_json::from_slice(&storage.read(LAYOUT_FILE).expect("read")).expect("JSON");
    assert_eq!(
        layout_file["extension"],
        "0004-hashed-n-tuple-storage-layout"
    );
    assert!(
        layout_file["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(
        names(&storage, "extensions"),
        ["0004-hashed-n-tuple-storage-layout"]
    );
    assert_eq!(
        storage
            .read("extensions/0004-hashed-n-tuple-storage-layout/config.json")
            .expect("read"),
        Layout::default_layout().config_json()
    );
    assert_eq!(
        Layout::read_from_root(&storage).expect("read layout"),
        Some(Layout::default_layout())
    );
}

#[test]
fn every_layout_reads_back_as_written() {
    for layout in layouts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = LocalStorage::new(dir.path());
        let options = InitOptions {
            spec_version: SpecVersion::V1_0,
            layout: Some(layout.clone()),
        };
        init_storage_root(&storage, &options).expect("init");
        assert_eq!(storage.read("0=ocfl_1.0").expect("read"), b"ocfl_1.0\n");
        match layout.config_file() {
            Some(config) => assert_eq!(
                storage.read(&config_path(layout.name())).expect("config"),
                config
            ),
            None => assert_eq!(names(&storage, ""), ["0=ocfl_1.0", LAYOUT_FILE]),
        }
        assert_eq!(
            Layout::read_from_root(&storage).expect("read layout"),
            Some(layout.clone()),
            "{}",
            layout.name()
        );
    }
}

/// Layout 0002 has no parameters, and ocfl-py 2.1 cannot open a root whose 0002 layout has a
/// `config.json` (it iterates over the parameters the extension does not have): such a root
/// gets `ocfl_layout.json` alone, which the extension allows and every reader accepts.
#[test]
fn a_layout_without_parameters_gets_no_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = LocalStorage::new(dir.path());
    let flat = Layout::from_config(FlatDirect::NAME, None).expect("0002");
    let options = InitOptions {
        spec_version: SpecVersion::V1_1,
        layout: Some(flat.clone()),
    };
    init_storage_root(&storage, &options).expect("init");
    assert_eq!(names(&storage, ""), ["0=ocfl_1.1", LAYOUT_FILE]);
    assert_eq!(flat.config_file(), None);
    assert_eq!(
        Layout::read_from_root(&storage).expect("read layout"),
        Some(flat)
    );
    // A config.json naming the extension, as earlier releases wrote it, still reads.
    storage
        .create_dir(&format!("extensions/{}", FlatDirect::NAME))
        .expect("mkdir");
    storage
        .write_atomic(
            &config_path(FlatDirect::NAME),
            br#"{"extensionName": "0002-flat-direct-storage-layout"}"#,
        )
        .expect("write");
    assert!(matches!(
        Layout::read_from_root(&storage),
        Ok(Some(Layout::FlatDirect(_)))
    ));
}

#[test]
fn init_without_layout_writes_only_the_declaration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = LocalStorage::new(dir.path());
    let options = InitOptions {
        spec_version: SpecVersion::V1_0,
        layout: None,
    };
    init_storage_root(&storage, &options).expect("init");
    assert_eq!(names(&storage, ""), ["0=ocfl_1.0"]);
    assert_eq!(Layout::read_from_root(&storage).expect("read"), None);
}

#[test]
fn init_refuses_a_non_empty_directory_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("notes.txt"), b"x").expect("write");
    fs::create_dir(dir.path().join("sub")).expect("mkdir");
    let storage = LocalStorage::new(dir.path());
    let error = init_storage_root(&storage, &InitOptions::default()).expect_err("non-empty");
    assert!(error.to_string().contains("notes.txt"), "{error}");
    match error {
        InitError::NotEmpty {
            first_entry,
            entries,
        } => {
            assert_eq!(first_entry, "notes.txt");
            assert_eq!(entries, 2);
        }
        other => panic!("expected NotEmpty, got {other:?}"),
    }
    assert_eq!(names(&storage, ""), ["notes.txt", "sub"]);
}

#[test]
fn init_refuses_an_existing_storage_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = LocalStorage::new(dir.path());
    init_storage_root(&storage, &InitOptions::default()).expect("first init");
    let before = storage.read(LAYOUT_FILE).expect("read");
    match init_storage_root(
        &storage,
        &InitOptions {
            spec_version: SpecVersion::V1_0,
            layout: None,
        },
    ) {
        Err(e @ InitError::AlreadyStorageRoot { .. }) => {
            assert!(e.to_string().contains("0=ocfl_1.1"), "{e}");
        }
        other => panic!("expected AlreadyStorageRoot, got {other:?}"),
    }
    assert_eq!(
        names(&storage, ""),
        ["0=ocfl_1.1", "extensions", "ocfl_layout.json"]
    );
    assert_eq!(storage.read(LAYOUT_FILE).expect("read"), before);
}

#[test]
fn init_refuses_an_invalid_layout_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = LocalStorage::new(dir.path());
    let options = InitOptions {
        spec_version: SpecVersion::V1_1,
        layout: Some(Layout::HashedNTuple(HashedNTuple {
            tuple_size: 33,
            ..HashedNTuple::default()
        })),
    };
    assert!(matches!(
        init_storage_root(&storage, &options),
        Err(InitError::Layout(LayoutError::InvalidConfig { .. }))
    ));
    assert!(names(&storage, "").is_empty());
}

/// A storage root with `ocfl_layout.json` holding `layout_json` and, if given, a config.
fn root_with(layout_json: &str, config: Option<(&str, &str)>) -> (tempfile::TempDir, LocalStorage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = LocalStorage::new(dir.path());
    storage
        .write_atomic(LAYOUT_FILE, layout_json.as_bytes())
        .expect("write");
    if let Some((name, bytes)) = config {
        storage
            .create_dir(&format!("extensions/{name}"))
            .expect("mkdir");
        storage
            .write_atomic(&config_path(name), bytes.as_bytes())
            .expect("write");
    }
    (dir, storage)
}

#[test]
fn read_from_root_uses_defaults_when_config_is_missing() {
    // JSON escapes in either value must not get in the way.
    let (_dir, storage) = root_with(
        r#"{"extension": "0004-hashed-n-tuple-storage-layout", "description": "\"hashed\" \u00e9", "x": 1}"#,
        None,
    );
    assert_eq!(
        Layout::read_from_root(&storage).expect("read"),
        Some(Layout::default_layout())
    );
    // 0006 has no defaults, so its config is required.
    let (_dir, storage) = root_with(
        r#"{"extension": "0006-flat-omit-prefix-storage-layout", "description": "x"}"#,
        None,
    );
    assert!(matches!(
        Layout::read_from_root(&storage),
        Err(LayoutError::InvalidConfig { .. })
    ));
}

#[test]
fn read_from_root_refuses_malformed_files() {
    for bad in [
        r#"{"extension": "0004-hashed-n-tuple-storage-layout"}"#,
        r#"{"description": "x"}"#,
        r#"{"extension": 4, "description": "x"}"#,
        r#"["0004-hashed-n-tuple-storage-layout"]"#,
        "",
    ] {
        let (_dir, storage) = root_with(bad, None);
        assert!(
            matches!(
                Layout::read_from_root(&storage),
                Err(LayoutError::InvalidLayoutFile(_))
            ),
            "{bad}"
        );
    }
    for unknown in [
        "0010-differential-n-tuple-omit-prefix-storage-layout",
        "../../etc",
    ] {
        let json = format!(r#"{{"extension": "{unknown}", "description": "x"}}"#);
        let (_dir, storage) = root_with(&json, None);
        assert!(
            matches!(Layout::read_from_root(&storage), Err(LayoutError::Unsupported(n)) if n == unknown),
            "{unknown}"
        );
    }
    // The config must belong to the extension ocfl_layout.json names.
    let name = "0004-hashed-n-tuple-storage-layout";
    let (_dir, storage) = root_with(
        &format!(r#"{{"extension": "{name}", "description": "x"}}"#),
        Some((
            name,
            r#"{"extensionName": "0003-hash-and-id-n-tuple-storage-layout"}"#,
        )),
    );
    assert!(matches!(
        Layout::read_from_root(&storage),
        Err(LayoutError::InvalidConfig { .. })
    ));
}

/// Local storage that records, in order, the directories it creates, the files it writes and
/// the paths it flushes (`tree:` for a whole tree).
struct Recording {
    inner: LocalStorage,
    ops: std::sync::Mutex<Vec<String>>,
}

impl Recording {
    fn note(&self, op: String) {
        self.ops.lock().expect("lock").push(op);
    }
}

impl Storage for Recording {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        self.inner.list(dir)
    }
    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.inner.kind(path)
    }
    fn open(&self, path: &str) -> Result<Box<dyn std::io::Read + Send>, StorageError> {
        self.inner.open(path)
    }
    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        self.note(format!("create {path}"));
        self.inner.create(path)
    }
    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.note(format!("write {path}"));
        self.inner.write_atomic(path, bytes)
    }
    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        self.note(format!("mkdir {path}"));
        self.inner.create_dir(path)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.inner.remove(path)
    }
    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        for path in paths {
            self.note(format!("sync {path}"));
        }
        self.inner.sync(paths)
    }
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        self.note(format!("sync tree:{dir}"));
        self.inner.sync_tree(dir)
    }
}

#[test]
fn init_flushes_new_directories_before_writing_into_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Recording {
        inner: LocalStorage::new(dir.path().join("root")),
        ops: std::sync::Mutex::new(Vec::new()),
    };
    init_storage_root(&storage, &InitOptions::default()).expect("init");
    let ops = storage.ops.into_inner().expect("lock");
    let layout = Layout::default_layout();
    let config = config_path(layout.name());
    let extension = format!("extensions/{}", layout.name());
    assert_eq!(
        ops,
        [
            "mkdir ",
            "sync tree:",
            &format!("mkdir {extension}"),
            "sync extensions",
            "sync ",
            &format!("write {config}"),
            &format!("write {LAYOUT_FILE}"),
            "write 0=ocfl_1.1",
        ]
    );
}
