//! A byte-for-byte picture of a directory tree, to prove a refused command left a storage
//! root exactly as it was: every entry's path, every file's bytes, every link's target and
//! the set of directories (so a stray temporary file or an empty directory shows too).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
    /// A FIFO, socket or device.
    Other,
}

/// Every entry below a directory (not following links), by path relative to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<OsString, Node>);

impl Snapshot {
    /// Reads the tree below `dir`.
    pub fn of(dir: &Path) -> Snapshot {
        let mut nodes = BTreeMap::new();
        for entry in walkdir::WalkDir::new(dir).min_depth(1) {
            let entry = entry.expect("walk");
            let relative = entry
                .path()
                .strip_prefix(dir)
                .expect("below dir")
                .as_os_str()
                .to_owned();
            let kind = entry.file_type();
            let node = if kind.is_dir() {
                Node::Dir
            } else if kind.is_file() {
                Node::File(fs::read(entry.path()).expect("read"))
            } else if kind.is_symlink() {
                Node::Link(fs::read_link(entry.path()).expect("readlink"))
            } else {
                Node::Other
            };
            nodes.insert(relative, node);
        }
        Snapshot(nodes)
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Panics, listing what was added, removed or changed, unless `dir` is as it was.
    pub fn assert_unchanged(&self, dir: &Path, context: &str) {
        let now = Snapshot::of(dir);
        if now == *self {
            return;
        }
        let mut report = String::new();
        for (path, node) in &now.0 {
            match self.0.get(path) {
                None => writeln!(report, "  added   {} ({})", show(path), kind(node)),
                Some(old) if old != node => {
                    writeln!(report, "  changed {} ({})", show(path), kind(node))
                }
                Some(_) => Ok(()),
            }
            .expect("write");
        }
        for path in self.0.keys().filter(|p| !now.0.contains_key(*p)) {
            writeln!(report, "  removed {}", show(path)).expect("write");
        }
        panic!("{context}: {} changed:\n{report}", dir.display());
    }
}

fn show(path: &OsString) -> String {
    String::from_utf8_lossy(path.as_bytes()).into_owned()
}

fn kind(node: &Node) -> &'static str {
    match node {
        Node::Dir => "directory",
        Node::File(_) => "file",
        Node::Link(_) => "link",
        Node::Other => "special file",
    }
}
