//! Shared by the `ocfl commit` tests: a storage root made by `ocfl init`, running the
//! binary, source trees, and the check that an object is valid and holds exactly a source.

#![allow(dead_code)] // each test crate uses its own part of it

pub mod snapshot;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

/// The `ocfl` binary, isolated from the caller's `OCFL_ROOT`, `OCFL_STATE`, `OCFL_WORK_AREA`,
/// `OCFL_BACKEND`, `OCFL_LEASE_SECONDS`, `OCFL_RETENTION` and `OCFL_VERIFY_STORE`.
pub fn ocfl_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ocfl"));
    command
        .env_remove("OCFL_ROOT")
        .env_remove("OCFL_STATE")
        .env_remove("OCFL_WORK_AREA")
        .env_remove("OCFL_BACKEND")
        .env_remove("OCFL_LEASE_SECONDS")
        .env_remove("OCFL_RETENTION")
        .env_remove("OCFL_VERIFY_STORE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// Runs `ocfl args...`.
pub fn ocfl(args: &[&str]) -> Output {
    ocfl_command().args(args).output().expect("run ocfl")
}

pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exit status")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

/// Asserts exit status 0, showing stderr otherwise.
pub fn ok(output: &Output) -> &Output {
    assert_eq!(
        code(output),
        0,
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
    output
}

/// Every stdout line as JSON.
pub fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each stdout line is JSON"))
        .collect()
}

/// The sorted keys of a JSON object.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// A storage root made by `ocfl init`, in a temporary directory that also holds sources.
pub struct Root {
    pub dir: TempDir,
}

impl Root {
    pub fn new() -> Root {
        Root::with_dir(tempfile::tempdir().expect("tempdir"))
    }

    /// A root in a new temporary directory below `parent`.
    pub fn new_in(parent: &Path) -> Root {
        Root::with_dir(tempfile::tempdir_in(parent).expect("tempdir"))
    }

    fn with_dir(dir: TempDir) -> Root {
        let root = Root { dir };
        ok(&root.ocfl(&["init"]));
        root
    }

    /// The temporary directory holding the root (and sources).
    pub fn dir_path(&self) -> &Path {
        self.dir.path()
    }

    /// The storage root.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The default engine store, beside the root.
    pub fn default_store(&self) -> PathBuf {
        self.dir.path().join("root.ocfl-work/state.redb")
    }

    /// `ocfl --root ROOT` with `args`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = ocfl_command();
        command.arg("--root").arg(self.path()).args(args);
        command
    }

    /// Runs `ocfl --root ROOT args...`.
    pub fn ocfl(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ocfl")
    }

    /// A path in the temporary directory, as a string argument.
    pub fn arg(&self, name: &str) -> String {
        self.dir
            .path()
            .join(name)
            .to_str()
            .expect("utf-8")
            .to_owned()
    }

    /// Runs `ocfl commit ID SRC --json` (plus `extra`), asserts success and returns the line.
    pub fn commit(&self, id: &str, source: &Path, extra: &[&str]) -> Value {
        let mut args = vec!["commit", id, source.to_str().expect("utf-8"), "--json"];
        args.extend_from_slice(extra);
        let output = self.ocfl(&args);
        ok(&output);
        let lines = json_lines(&output);
        assert_eq!(lines.len(), 1, "one JSON line: {}", stdout(&output));
        lines[0].clone()
    }

    /// Asserts that object `id` validates (`ocfl validate`, fixity checked) and that its
    /// head version holds exactly the files of `source`, byte for byte (`ocfl export`, which
    /// verifies every digest, then a comparison of the trees).
    pub fn assert_holds(&self, id: &str, source: &Path) {
        let validated = self.ocfl(&["validate", id]);
        assert_eq!(
            code(&validated),
            0,
            "object {id} is invalid:\n{}{}",
            stdout(&validated),
            stderr(&validated)
        );
        // Beside the root: on the same (perhaps RAM) filesystem as the rest of the test.
        let export = tempfile::tempdir_in(self.dir.path()).expect("tempdir");
        let dest = export.path().join("out");
        ok(&self.ocfl(&["export", id, dest.to_str().expect("utf-8")]));
        let held = read_tree(&dest);
        let expected = read_tree(source);
        assert_eq!(
            held.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "object {id}: logical paths differ from the source's"
        );
        assert!(
            held == expected,
            "object {id}: bytes differ from the source's"
        );
    }

    /// The head version of object `id` (`ocfl show --json`).
    pub fn head(&self, id: &str) -> String {
        let output = self.ocfl(&["show", id, "--json"]);
        ok(&output);
        json_lines(&output)[0]["version"]
            .as_str()
            .expect("version")
            .to_owned()
    }
}

/// Writes `files` (path, bytes) below `dir`, creating it.
pub fn write_tree(dir: &Path, files: &[(&str, &[u8])]) {
    for (path, bytes) in files {
        let file = dir.join(path);
        fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        fs::write(file, bytes).expect("write");
    }
}

/// Every regular file below `dir`: relative path -> bytes. Panics on anything else (the
/// sources the tests make hold only files and directories).
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.expect("walk");
        if entry.file_type().is_dir() {
            continue;
        }
        assert!(entry.file_type().is_file(), "{}", entry.path().display());
        let path = entry
            .path()
            .strip_prefix(dir)
            .expect("below dir")
            .to_str()
            .expect("utf-8")
            .to_owned();
        files.insert(path, fs::read(entry.path()).expect("read"));
    }
    files
}

/// A seeded generator (splitmix64): the same seed gives the same trees and kill moments.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Writes `count` small files (1 byte to 2 KiB, seeded contents) in nested directories.
pub fn many_files(dir: &Path, count: usize, rng: &mut Rng) {
    for i in 0..count {
        let path = dir.join(format!("d{}/e{}/f{i}.bin", i % 7, i % 13));
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let len = 1 + rng.below(2048) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        fs::write(path, bytes).expect("write");
    }
}

/// A scratch directory, in memory (`/dev/shm`) where there is one: the kill and crash tests
/// write and fsync many small trees, which a tmpfs makes cheap.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let on_shm = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    on_shm.unwrap_or_else(|| tempfile::tempdir().expect("tempdir"))
}

/// rocfl, when installed where `cargo install` puts it (`~/.cargo/bin/rocfl`).
pub fn installed_rocfl() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".cargo/bin/rocfl"))
        .filter(|p| p.is_file())
}

/// Whether ocfl-py's `ocfl-validate.py` is installed and runs.
pub fn ocfl_py_installed() -> bool {
    Command::new("ocfl-validate.py")
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `rocfl -r ROOT validate ARGS...`, asserted to succeed; its stdout. `None` (with a note)
/// when rocfl is not installed.
pub fn rocfl_validate(root: &Path, args: &[&str]) -> Option<String> {
    let Some(rocfl) = installed_rocfl() else {
        test_support::skip_exempt("rocfl", "~/.cargo/bin/rocfl");
        return None;
    };
    let output = Command::new(rocfl)
        .arg("-r")
        .arg(root)
        .arg("validate")
        .args(args)
        .output()
        .expect("run rocfl");
    let out = stdout(&output);
    assert!(output.status.success(), "rocfl: {out}{}", stderr(&output));
    Some(out)
}

/// `ocfl-validate.py PATH`, asserted to succeed; its stdout. `None` (with a note) when
/// ocfl-py is not installed. For a storage root, every object below it is validated too:
/// ocfl-validate.py checks only a root's hierarchy, and passes a root whose objects are
/// invalid.
pub fn ocfl_py_validate(path: &Path) -> Option<String> {
    if !ocfl_py_installed() {
        test_support::skip_installed_peer("ocfl-py", "no ocfl-validate.py");
        return None;
    }
    let mut paths = vec![path.to_path_buf()];
    let is_root = fs::read_dir(path).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|name| name.starts_with("0=ocfl_1."))
        })
    });
    if is_root {
        let objects = walkdir::WalkDir::new(path)
            .into_iter()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|name| name.starts_with("0=ocfl_object_"))
            })
            .filter_map(|e| e.path().parent().map(Path::to_path_buf));
        paths.extend(objects);
    }
    let output = Command::new("ocfl-validate.py")
        .args(&paths)
        .output()
        .expect("run ocfl-validate.py");
    let out = stdout(&output);
    assert!(output.status.success(), "ocfl-py: {out}{}", stderr(&output));
    Some(out)
}
