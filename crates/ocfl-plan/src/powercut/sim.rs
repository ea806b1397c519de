//! The simulated machine: an in-memory file tree behind the storage seam that records every
//! mutating operation as an [`Event`], so that the states a power cut may leave can be computed
//! for any prefix of them (`super::crash`).

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::storage::{
    Entry, EntryKind, FileInfo, Precondition, Storage, StorageError, StorageWriter, Tag,
    check_storage_path, join, parent,
};

/// An inode number: files and directories keep theirs across renames, as on a filesystem, so
/// a directory renamed before its entries were flushed is modelled faithfully.
pub(super) type Ino = usize;

/// The root directory's inode.
pub(super) const ROOT: Ino = 0;

/// A file's bytes and (object stores only) the user metadata written with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileNode {
    /// The bytes.
    pub data: Vec<u8>,
    /// The user metadata ([`Storage::write_if`]), by name.
    pub metadata: BTreeMap<String, String>,
}

impl FileNode {
    /// A file of `data` without metadata.
    pub fn new(data: impl Into<Vec<u8>>) -> FileNode {
        FileNode {
            data: data.into(),
            metadata: BTreeMap::new(),
        }
    }
}

/// One inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    File(FileNode),
    Dir(BTreeMap<String, Ino>),
}

impl Node {
    pub(super) fn empty(dir: bool) -> Node {
        if dir {
            Node::Dir(BTreeMap::new())
        } else {
            Node::File(FileNode::default())
        }
    }
}

/// One recorded operation, at the granularity the persistence models reason about: directory
/// entry changes, data changes of one file, and flushes.
#[derive(Debug, Clone)]
pub(super) enum Event {
    /// A new entry `name` in `dir` for inode `ino` (a created file or directory).
    Link {
        dir: Ino,
        name: String,
        ino: Ino,
        is_dir: bool,
    },
    /// Entry `name` of `dir`, naming `ino`, removed.
    Unlink { dir: Ino, name: String, ino: Ino },
    /// Entry `from_name` of `from_dir` moved to `to_name` of `to_dir` (replacing what was
    /// there), in one atomic step.
    Rename {
        from_dir: Ino,
        from_name: String,
        to_dir: Ino,
        to_name: String,
        ino: Ino,
        is_dir: bool,
    },
    /// The file's data emptied (a create over an existing file).
    Truncate { ino: Ino },
    /// Bytes appended to the file (one `write` call).
    Append { ino: Ino, bytes: Vec<u8> },
    /// An object store's completed PUT: a new file, whole, at `name` of `dir`.
    Put {
        dir: Ino,
        name: String,
        ino: Ino,
        file: FileNode,
    },
    /// `fsync` of a file: its data is durable.
    SyncFile { ino: Ino },
    /// `fsync` of a directory: its entries are durable.
    SyncDir { ino: Ino },
}

/// Which kind of storage the simulation stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Medium {
    /// A local filesystem: unflushed data and directory entries, atomic renames.
    Filesystem,
    /// An object store: every completed request is durable, there are no directories, no
    /// renames (a copy and a delete) and conditional writes.
    ObjectStore,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) medium: Medium,
    /// The live tree (what the running process sees, page cache included).
    pub(super) nodes: Vec<Node>,
    /// The tree when recording started: durable as a whole.
    pub(super) initial: Vec<Node>,
    /// Every mutating operation since.
    pub(super) events: Vec<Event>,
    temp_counter: u64,
}

/// A file tree in memory, as a list of paths: a file, or `None` for a directory. Paths are
/// storage paths (`/`-separated, relative); the root itself is not listed.
pub type Snapshot = BTreeMap<String, Option<FileNode>>;

/// Boot ids: each simulated storage is its own boot, so a storage rebuilt from a crash state
/// says, as a rebooted machine does, that unflushed writes of the earlier one may be lost.
static BOOTS: AtomicU64 = AtomicU64::new(0);

/// The crash-simulating storage: an in-memory tree behind [`Storage`] that records every
/// operation; [`SimStorage::crash_states`] then gives what a power cut after any prefix of
/// them may leave (see the module documentation of [`crate::powercut`]).
#[derive(Debug)]
pub struct SimStorage {
    pub(super) state: Arc<Mutex<State>>,
    boot: String,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_error(op: &'static str, path: &str, kind: io::ErrorKind, text: &str) -> StorageError {
    StorageError::io(op, path, io::Error::new(kind, text.to_owned()))
}

impl SimStorage {
    /// An empty local filesystem.
    pub fn filesystem() -> SimStorage {
        SimStorage::from_snapshot(&Snapshot::new(), false)
    }

    /// An empty object store (a bucket prefix).
    pub fn object_store() -> SimStorage {
        SimStorage::from_snapshot(&Snapshot::new(), true)
    }

    /// A storage holding `snapshot`, all of it durable, on a new boot; an object store when
    /// `object_store`. Recording starts here.
    pub fn from_snapshot(snapshot: &Snapshot, object_store: bool) -> SimStorage {
        let mut nodes = vec![Node::Dir(BTreeMap::new())];
        for (path, bytes) in snapshot {
            let mut dir = ROOT;
            let mut elements = path.split('/').peekable();
            while let Some(name) = elements.next() {
                let last = elements.peek().is_none();
                let existing = match &nodes[dir] {
                    Node::Dir(entries) => entries.get(name).copied(),
                    Node::File(_) => None,
                };
                let ino = match existing {
                    Some(ino) => ino,
                    None => {
                        let node = match (last, bytes) {
                            (true, Some(file)) => Node::File(file.clone()),
                            _ => Node::Dir(BTreeMap::new()),
                        };
                        nodes.push(node);
                        let ino = nodes.len() - 1;
                        if let Node::Dir(entries) = &mut nodes[dir] {
                            entries.insert(name.to_owned(), ino);
                        }
                        ino
                    }
                };
                dir = ino;
            }
        }
        let medium = if object_store {
            Medium::ObjectStore
        } else {
            Medium::Filesystem
        };
        SimStorage {
            state: Arc::new(Mutex::new(State {
                medium,
                initial: nodes.clone(),
                nodes,
                events: Vec::new(),
                temp_counter: 0,
            })),
            boot: format!("sim-boot-{}", BOOTS.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Whether this storage stands for an object store.
    pub fn is_object_store(&self) -> bool {
        lock(&self.state).medium == Medium::ObjectStore
    }

    /// How many operations were recorded: crash points are `0..=events()`.
    pub fn events(&self) -> usize {
        lock(&self.state).events.len()
    }

    /// The live tree, as the running process sees it.
    pub fn snapshot(&self) -> Snapshot {
        let state = lock(&self.state);
        snapshot_of(&state.nodes, state.medium, |ino| match &state.nodes[ino] {
            Node::File(file) => file.clone(),
            Node::Dir(_) => FileNode::default(),
        })
    }
}

/// The tree reachable from the root of `nodes`; `data` gives each file's bytes. Object
/// stores have no empty directories.
pub(super) fn snapshot_of(
    nodes: &[Node],
    medium: Medium,
    data: impl Fn(Ino) -> FileNode,
) -> Snapshot {
    fn walk(
        nodes: &[Node],
        dir: Ino,
        prefix: &str,
        data: &dyn Fn(Ino) -> FileNode,
        out: &mut Snapshot,
        depth: usize,
    ) {
        // A rename may make a directory its own descendant only in an inconsistent subset;
        // the depth bound keeps such a state finite.
        if depth > 64 {
            return;
        }
        if let Some(Node::Dir(entries)) = nodes.get(dir) {
            for (name, &ino) in entries {
                let path = join(prefix, name);
                match nodes.get(ino) {
                    Some(Node::File(_)) => {
                        out.insert(path, Some(data(ino)));
                    }
                    Some(Node::Dir(_)) => {
                        out.insert(path.clone(), None);
                        walk(nodes, ino, &path, data, out, depth + 1);
                    }
                    None => {}
                }
            }
        }
    }
    let mut out = Snapshot::new();
    walk(nodes, ROOT, "", &data, &mut out, 0);
    if medium == Medium::ObjectStore {
        let files: Vec<String> = out
            .iter()
            .filter(|(_, b)| b.is_some())
            .map(|(p, _)| p.clone())
            .collect();
        out.retain(|path, bytes| {
            bytes.is_some() || files.iter().any(|f| f.starts_with(&format!("{path}/")))
        });
    }
    out
}

/// Writes `snapshot` into the (existing, empty) directory `dir`, so that tools outside the
/// simulation (a `LocalStorage`, other programs) can recover from a crash state.
pub fn materialize(snapshot: &Snapshot, dir: &std::path::Path) -> io::Result<()> {
    for (path, bytes) in snapshot {
        let full = dir.join(path);
        match bytes {
            None => std::fs::create_dir_all(&full)?,
            Some(file) => {
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&full, &file.data)?;
            }
        }
    }
    Ok(())
}

impl State {
    fn lookup(&self, path: &str) -> Option<Ino> {
        let mut ino = ROOT;
        if path.is_empty() {
            return Some(ino);
        }
        for name in path.split('/') {
            match &self.nodes[ino] {
                Node::Dir(entries) => ino = *entries.get(name)?,
                Node::File(_) => return None,
            }
        }
        if self.medium == Medium::ObjectStore && !self.has_file_below(ino) {
            return None;
        }
        Some(ino)
    }

    fn has_file_below(&self, ino: Ino) -> bool {
        match &self.nodes[ino] {
            Node::File(_) => true,
            Node::Dir(entries) => entries.values().any(|&i| self.has_file_below(i)),
        }
    }

    fn resolve(&self, op: &'static str, path: &str) -> Result<Ino, StorageError> {
        check_storage_path(path)?;
        self.lookup(path)
            .ok_or_else(|| StorageError::NotFound(path.to_owned()))
            .map_err(|e| match e {
                StorageError::NotFound(p) => StorageError::NotFound(p),
                other => StorageError::io(op, path, io::Error::other(other.to_string())),
            })
    }

    /// The directory holding `path` (which must exist, as for `open(2)` with `O_CREAT`) and
    /// the last element.
    fn parent_of(&self, op: &'static str, path: &str) -> Result<(Ino, String), StorageError> {
        check_storage_path(path)?;
        if path.is_empty() {
            return Err(StorageError::InvalidPath(path.to_owned()));
        }
        let name = path.rsplit('/').next().unwrap_or(path).to_owned();
        let dir = self.resolve(op, parent(path))?;
        match self.nodes[dir] {
            Node::Dir(_) => Ok((dir, name)),
            Node::File(_) => Err(io_error(
                op,
                path,
                io::ErrorKind::NotADirectory,
                "not a directory",
            )),
        }
    }

    fn entry(&self, dir: Ino, name: &str) -> Option<Ino> {
        match &self.nodes[dir] {
            Node::Dir(entries) => entries.get(name).copied(),
            Node::File(_) => None,
        }
    }

    fn is_dir(&self, ino: Ino) -> bool {
        matches!(self.nodes[ino], Node::Dir(_))
    }

    fn new_node(&mut self, dir: bool) -> Ino {
        self.nodes.push(Node::empty(dir));
        self.nodes.len() - 1
    }

    /// Records `event` and applies it to the live tree.
    fn record(&mut self, event: Event) {
        apply_entries(&mut self.nodes, &event);
        match &event {
            Event::Truncate { ino } => {
                if let Node::File(file) = &mut self.nodes[*ino] {
                    file.data.clear();
                }
            }
            Event::Append { ino, bytes } => {
                if let Node::File(file) = &mut self.nodes[*ino] {
                    file.data.extend_from_slice(bytes);
                }
            }
            _ => {}
        }
        self.events.push(event);
    }

    /// Creates the directories of `path` that are missing, outermost first. An object store
    /// has no directories: they appear with the keys below them.
    fn mkdirs(&mut self, path: &str) -> Result<Ino, StorageError> {
        check_storage_path(path)?;
        let mut dir = ROOT;
        if path.is_empty() {
            return Ok(dir);
        }
        for name in path.split('/') {
            dir = match self.entry(dir, name) {
                Some(ino) if self.is_dir(ino) => ino,
                Some(_) => {
                    return Err(io_error(
                        "create directory",
                        path,
                        io::ErrorKind::AlreadyExists,
                        "a file is in the way",
                    ));
                }
                None => {
                    let ino = self.new_node(true);
                    self.record(Event::Link {
                        dir,
                        name: name.to_owned(),
                        ino,
                        is_dir: true,
                    });
                    ino
                }
            };
        }
        Ok(dir)
    }

    /// An object store's PUT: `file` whole at `path`.
    fn put(&mut self, path: &str, file: FileNode) -> Result<(), StorageError> {
        let dir = self.mkdirs(parent(path))?;
        let name = path.rsplit('/').next().unwrap_or(path).to_owned();
        if self
            .entry(dir, &name)
            .is_some_and(|ino| self.is_dir(ino) && self.has_file_below(ino))
        {
            return Err(io_error(
                "write",
                path,
                io::ErrorKind::IsADirectory,
                "a directory",
            ));
        }
        let ino = self.new_node(false);
        self.nodes[ino] = Node::File(file.clone());
        self.record(Event::Put {
            dir,
            name,
            ino,
            file,
        });
        Ok(())
    }

    /// Every inode below `ino` (itself included), children before their directory.
    fn post_order(&self, dir: Ino, name: &str, ino: Ino, out: &mut Vec<(Ino, String, Ino)>) {
        if let Node::Dir(entries) = &self.nodes[ino] {
            for (child_name, &child) in entries {
                self.post_order(ino, child_name, child, out);
            }
        }
        out.push((dir, name.to_owned(), ino));
    }

    fn file_tag(&self, ino: Ino) -> Option<Tag> {
        match &self.nodes[ino] {
            Node::File(file) => Some(tag_of(file)),
            Node::Dir(_) => None,
        }
    }
}

/// An entity tag as object stores give one: a digest of the bytes (and here the metadata).
fn tag_of(file: &FileNode) -> Tag {
    let mut bytes = file.data.clone();
    for (k, v) in &file.metadata {
        bytes.extend_from_slice(k.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(v.as_bytes());
        bytes.push(0);
    }
    Tag(DigestAlgorithm::Sha256.digest_bytes(&bytes).as_str()[..32].to_owned())
}

/// Applies the directory-entry part of `event` to `nodes` (a live tree or a crash image):
/// inodes that the image lacks (their creation did not persist) appear as orphans.
pub(super) fn apply_entries(nodes: &mut Vec<Node>, event: &Event) {
    fn ensure(nodes: &mut Vec<Node>, ino: Ino, dir: bool) {
        while nodes.len() <= ino {
            nodes.push(Node::empty(false));
        }
        if dir && !matches!(nodes[ino], Node::Dir(_)) {
            nodes[ino] = Node::empty(true);
        }
    }
    match event {
        Event::Link {
            dir,
            name,
            ino,
            is_dir,
        } => {
            ensure(nodes, *dir, true);
            ensure(nodes, *ino, *is_dir);
            if let Node::Dir(entries) = &mut nodes[*dir] {
                entries.insert(name.clone(), *ino);
            }
        }
        Event::Unlink { dir, name, ino } => {
            ensure(nodes, *dir, true);
            if let Node::Dir(entries) = &mut nodes[*dir]
                && entries.get(name) == Some(ino)
            {
                entries.remove(name);
            }
        }
        Event::Rename {
            from_dir,
            from_name,
            to_dir,
            to_name,
            ino,
            is_dir,
        } => {
            ensure(nodes, *from_dir, true);
            ensure(nodes, *to_dir, true);
            ensure(nodes, *ino, *is_dir);
            if let Node::Dir(entries) = &mut nodes[*from_dir]
                && entries.get(from_name) == Some(ino)
            {
                entries.remove(from_name);
            }
            if let Node::Dir(entries) = &mut nodes[*to_dir] {
                entries.insert(to_name.clone(), *ino);
            }
        }
        Event::Put {
            dir,
            name,
            ino,
            file,
        } => {
            ensure(nodes, *dir, true);
            ensure(nodes, *ino, false);
            nodes[*ino] = Node::File(file.clone());
            if let Node::Dir(entries) = &mut nodes[*dir] {
                entries.insert(name.clone(), *ino);
            }
        }
        Event::Truncate { .. }
        | Event::Append { .. }
        | Event::SyncFile { .. }
        | Event::SyncDir { .. } => {}
    }
}

/// A file being written: a filesystem sees each `write` at once (unflushed); an object
/// store's upload appears whole when finished.
struct SimWriter {
    state: Arc<Mutex<State>>,
    path: String,
    /// The filesystem file written, or `None` for an object store's upload.
    ino: Option<Ino>,
    buffer: Vec<u8>,
}

impl Write for SimWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.ino {
            Some(ino) => lock(&self.state).record(Event::Append {
                ino,
                bytes: buf.to_vec(),
            }),
            None => self.buffer.extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StorageWriter for SimWriter {
    fn finish(self: Box<Self>) -> Result<(), StorageError> {
        if self.ino.is_none() {
            let file = FileNode {
                data: self.buffer,
                metadata: BTreeMap::new(),
            };
            lock(&self.state).put(&self.path, file)?;
        }
        Ok(())
    }
}

impl Storage for SimStorage {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        let state = lock(&self.state);
        let ino = state.resolve("list", dir)?;
        let Node::Dir(entries) = &state.nodes[ino] else {
            return Err(io_error(
                "list",
                dir,
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        };
        Ok(entries
            .iter()
            .filter(|&(_, &i)| state.medium == Medium::Filesystem || state.has_file_below(i))
            .map(|(name, &i)| Entry {
                name: name.clone(),
                kind: if state.is_dir(i) {
                    EntryKind::Directory
                } else {
                    EntryKind::File
                },
            })
            .collect())
    }

    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        let state = lock(&self.state);
        let ino = state.resolve("stat", path)?;
        Ok(if state.is_dir(ino) {
            EntryKind::Directory
        } else {
            EntryKind::File
        })
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        let state = lock(&self.state);
        let ino = state.resolve("open", path)?;
        match &state.nodes[ino] {
            Node::File(file) => Ok(Box::new(Cursor::new(file.data.clone()))),
            Node::Dir(_) => Err(io_error(
                "open",
                path,
                io::ErrorKind::IsADirectory,
                "a directory",
            )),
        }
    }

    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        let mut state = lock(&self.state);
        let ino = match state.medium {
            Medium::ObjectStore => {
                check_storage_path(path)?;
                None
            }
            Medium::Filesystem => {
                let (dir, name) = state.parent_of("create", path)?;
                match state.entry(dir, &name) {
                    Some(ino) if state.is_dir(ino) => {
                        return Err(io_error(
                            "create",
                            path,
                            io::ErrorKind::IsADirectory,
                            "a directory",
                        ));
                    }
                    Some(ino) => {
                        state.record(Event::Truncate { ino });
                        Some(ino)
                    }
                    None => {
                        let ino = state.new_node(false);
                        state.record(Event::Link {
                            dir,
                            name,
                            ino,
                            is_dir: false,
                        });
                        Some(ino)
                    }
                }
            }
        };
        Ok(Box::new(SimWriter {
            state: Arc::clone(&self.state),
            path: path.to_owned(),
            ino,
            buffer: Vec::new(),
        }))
    }

    /// As `LocalStorage` does it: a temporary file beside `path`, written, flushed, renamed
    /// over, and the directory flushed.
    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let mut state = lock(&self.state);
        if state.medium == Medium::ObjectStore {
            check_storage_path(path)?;
            return state.put(
                path,
                FileNode {
                    data: bytes.to_vec(),
                    metadata: BTreeMap::new(),
                },
            );
        }
        let (dir, name) = state.parent_of("write", path)?;
        if state.entry(dir, &name).is_some_and(|ino| state.is_dir(ino)) {
            return Err(io_error(
                "write",
                path,
                io::ErrorKind::IsADirectory,
                "a directory",
            ));
        }
        state.temp_counter += 1;
        let temp = format!(".tmp-sim-{}", state.temp_counter);
        let ino = state.new_node(false);
        state.record(Event::Link {
            dir,
            name: temp.clone(),
            ino,
            is_dir: false,
        });
        state.record(Event::Append {
            ino,
            bytes: bytes.to_vec(),
        });
        state.record(Event::SyncFile { ino });
        state.record(Event::Rename {
            from_dir: dir,
            from_name: temp,
            to_dir: dir,
            to_name: name,
            ino,
            is_dir: false,
        });
        state.record(Event::SyncDir { ino: dir });
        Ok(())
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        let mut state = lock(&self.state);
        if state.medium == Medium::ObjectStore {
            return check_storage_path(path);
        }
        state.mkdirs(path).map(|_| ())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let mut state = lock(&self.state);
        let ino = state.resolve("rename", from)?;
        if from.is_empty() || to == from || to.starts_with(&format!("{from}/")) {
            return Err(io_error(
                "rename",
                from,
                io::ErrorKind::InvalidInput,
                "invalid rename",
            ));
        }
        if state.medium == Medium::ObjectStore {
            // Copy every key, then delete the sources: not atomic, as on a real store.
            let (from_dir, from_name) = state.parent_of("rename", from)?;
            let mut files = Vec::new();
            state.post_order(from_dir, &from_name, ino, &mut files);
            let files: Vec<(Ino, String, Ino, String)> = files
                .into_iter()
                .filter(|(_, _, i)| !state.is_dir(*i))
                .map(|(dir, name, i)| {
                    let below = state.relative_path(ino, i).unwrap_or_default();
                    (dir, name, i, below)
                })
                .collect();
            for (_, _, i, below) in &files {
                if let Node::File(file) = state.nodes[*i].clone() {
                    state.put(&join(to, below), file)?;
                }
            }
            for (dir, name, i, _) in files {
                state.record(Event::Unlink { dir, name, ino: i });
            }
            return Ok(());
        }
        let (from_dir, from_name) = state.parent_of("rename", from)?;
        let (to_dir, to_name) = state.parent_of("rename", to)?;
        let is_dir = state.is_dir(ino);
        if let Some(existing) = state.entry(to_dir, &to_name) {
            let refused = match (&state.nodes[existing], is_dir) {
                (Node::Dir(entries), true) => !entries.is_empty(),
                (Node::File(_), false) => false,
                _ => true,
            };
            if refused {
                return Err(io_error(
                    "rename",
                    from,
                    io::ErrorKind::AlreadyExists,
                    "destination in the way",
                ));
            }
        }
        state.record(Event::Rename {
            from_dir,
            from_name,
            to_dir,
            to_name,
            ino,
            is_dir,
        });
        Ok(())
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        let mut state = lock(&self.state);
        check_storage_path(path)?;
        let Some(ino) = state.lookup(path) else {
            return Ok(());
        };
        if path.is_empty() {
            return Err(StorageError::InvalidPath(path.to_owned()));
        }
        let (dir, name) = state.parent_of("remove", path)?;
        let mut all = Vec::new();
        state.post_order(dir, &name, ino, &mut all);
        for (dir, name, ino) in all {
            if state.medium == Medium::Filesystem || !state.is_dir(ino) {
                state.record(Event::Unlink { dir, name, ino });
            }
        }
        Ok(())
    }

    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        let mut state = lock(&self.state);
        check_storage_path(path)?;
        let Some(ino) = state.lookup(path) else {
            return Ok(true);
        };
        match &state.nodes[ino] {
            Node::Dir(entries) if entries.is_empty() => {}
            Node::Dir(_) => return Ok(false),
            Node::File(_) => {
                return Err(io_error(
                    "remove directory",
                    path,
                    io::ErrorKind::NotADirectory,
                    "a file",
                ));
            }
        }
        let (dir, name) = state.parent_of("remove directory", path)?;
        state.record(Event::Unlink { dir, name, ino });
        Ok(true)
    }

    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        let mut state = lock(&self.state);
        for path in paths {
            let ino = state.resolve("sync", path)?;
            if state.medium == Medium::Filesystem {
                let event = if state.is_dir(ino) {
                    Event::SyncDir { ino }
                } else {
                    Event::SyncFile { ino }
                };
                state.record(event);
            }
        }
        Ok(())
    }

    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        let mut state = lock(&self.state);
        let ino = state.resolve("sync", dir)?;
        if state.medium == Medium::ObjectStore {
            return Ok(());
        }
        let mut all = Vec::new();
        state.post_order(ROOT, "", ino, &mut all);
        for (_, _, i) in all {
            let event = if state.is_dir(i) {
                Event::SyncDir { ino: i }
            } else {
                Event::SyncFile { ino: i }
            };
            state.record(event);
        }
        let parent_ino = state.resolve("sync", parent(dir))?;
        state.record(Event::SyncDir { ino: parent_ino });
        Ok(())
    }

    fn read_tagged(&self, path: &str) -> Result<(Vec<u8>, Option<Tag>), StorageError> {
        let state = lock(&self.state);
        if state.medium == Medium::Filesystem {
            return Err(StorageError::Unsupported {
                op: "reading with a tag",
                path: path.to_owned(),
            });
        }
        let ino = state.resolve("read", path)?;
        match &state.nodes[ino] {
            Node::File(file) => Ok((file.data.clone(), Some(tag_of(file)))),
            Node::Dir(_) => Err(StorageError::NotFound(path.to_owned())),
        }
    }

    fn write_if(
        &self,
        path: &str,
        bytes: &[u8],
        precondition: &Precondition,
        metadata: &[(&str, &str)],
    ) -> Result<(), StorageError> {
        let mut state = lock(&self.state);
        if state.medium == Medium::Filesystem {
            return Err(StorageError::Unsupported {
                op: "conditional writing",
                path: path.to_owned(),
            });
        }
        check_storage_path(path)?;
        let current = state.lookup(path).and_then(|ino| state.file_tag(ino));
        let holds = match precondition {
            Precondition::Absent => current.is_none(),
            Precondition::Matches(tag) => current.as_ref() == Some(tag),
        };
        if !holds {
            return Err(StorageError::ConditionFailed(path.to_owned()));
        }
        let file = FileNode {
            data: bytes.to_vec(),
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        state.put(path, file)
    }

    fn file_info(&self, path: &str) -> Result<FileInfo, StorageError> {
        let state = lock(&self.state);
        if state.medium == Medium::Filesystem {
            return Err(StorageError::Unsupported {
                op: "reading file metadata",
                path: path.to_owned(),
            });
        }
        let ino = state.resolve("head", path)?;
        match &state.nodes[ino] {
            Node::File(file) => Ok(FileInfo {
                tag: Some(tag_of(file)),
                metadata: file.metadata.clone(),
            }),
            Node::Dir(_) => Err(StorageError::NotFound(path.to_owned())),
        }
    }

    fn renames_atomically(&self) -> bool {
        lock(&self.state).medium == Medium::Filesystem
    }

    fn boot_id(&self) -> Option<String> {
        Some(self.boot.clone())
    }
}

impl State {
    /// The path of `ino` below `top`, if it is there.
    fn relative_path(&self, top: Ino, ino: Ino) -> Option<String> {
        if top == ino {
            return Some(String::new());
        }
        if let Node::Dir(entries) = &self.nodes[top] {
            for (name, &child) in entries {
                if let Some(rest) = self.relative_path(child, ino) {
                    return Some(join(name, &rest));
                }
            }
        }
        None
    }
}

/// The simulation's state, for the crash enumeration.
pub(super) fn lock_state(storage: &SimStorage) -> MutexGuard<'_, State> {
    lock(&storage.state)
}
