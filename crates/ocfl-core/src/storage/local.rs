//! [`Storage`] on the local filesystem.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::local_dir::LocalDirectory;
use super::local_sync::{FLUSH_THREADS, Flusher, sync_parallel, sync_parent, sync_tree};
use super::{
    Directory, Entry, EntryKind, FileInfo, Storage, StorageError, StorageWriter, Tag,
    check_storage_path,
};

/// Files under a directory of the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
    /// Flushes files in the background ([`Storage::start_writeback`]), started when first
    /// needed and shared by clones.
    flusher: Arc<OnceLock<Flusher>>,
}

impl LocalStorage {
    /// Storage rooted at `root` (which need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> LocalStorage {
        LocalStorage {
            root: root.into(),
            flusher: Arc::new(OnceLock::new()),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The filesystem path of a checked storage path.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, StorageError> {
        check_storage_path(path)?;
        Ok(if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        })
    }
}

fn kind_of(file_type: fs::FileType) -> EntryKind {
    if file_type.is_symlink() {
        EntryKind::Symlink
    } else if file_type.is_dir() {
        EntryKind::Directory
    } else if file_type.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

/// A file of [`LocalStorage::create`]; finishing it closes it.
struct LocalWriter(File);

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl StorageWriter for LocalWriter {
    fn finish(self: Box<Self>) -> Result<(), StorageError> {
        // Nothing is buffered here: every byte reached the file by its write(2). Closing
        // reports no errors that a later fsync(2) would not report again.
        Ok(())
    }
}

impl Storage for LocalStorage {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        // Through a directory handle: one open and the getdents(2) calls, without the extra
        // fstat(2) that opendir(3) makes.
        LocalDirectory::open(&self.resolve(dir)?, dir)?.list()
    }

    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        let full = self.resolve(path)?;
        let meta = fs::symlink_metadata(&full).map_err(|e| StorageError::io("stat", path, e))?;
        Ok(kind_of(meta.file_type()))
    }

    fn size(&self, path: &str) -> Result<u64, StorageError> {
        let full = self.resolve(path)?;
        let meta = fs::symlink_metadata(&full).map_err(|e| StorageError::io("stat", path, e))?;
        if !meta.is_file() {
            return Err(StorageError::io(
                "stat",
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        Ok(meta.len())
    }

    /// A tag of a settled regular file: see `settled_tag` below. No user metadata.
    fn file_info(&self, path: &str) -> Result<FileInfo, StorageError> {
        let full = self.resolve(path)?;
        let meta = fs::symlink_metadata(&full).map_err(|e| StorageError::io("stat", path, e))?;
        Ok(FileInfo {
            tag: settled_tag(&meta, std::time::SystemTime::now()),
            metadata: Default::default(),
        })
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        let full = self.resolve(path)?;
        let (file, len) = open_no_follow(&full).map_err(|e| StorageError::io("open", path, e))?;
        // Reading stops at the size seen when the file was opened, which saves the final
        // empty read(2) per file (a tenth of all syscalls when validating many small files).
        // A file that grows meanwhile is read as it was: its digest check reports the change.
        Ok(Box::new(file.take(len)))
    }

    fn open_dir(&self, path: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
        Ok(Box::new(LocalDirectory::open(&self.resolve(path)?, path)?))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        let full = self.resolve(path)?;
        let (file, len) = open_no_follow(&full).map_err(|e| StorageError::io("open", path, e))?;
        // Sized from the open file, so small files take one read(2) and no probing reads.
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| StorageError::io("read", path, e))?;
        Ok(bytes)
    }

    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        let full = self.resolve(path)?;
        let file = create_readable(&full).map_err(|e| StorageError::io("create", path, e))?;
        Ok(Box::new(LocalWriter(file)))
    }

    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let full = self.resolve(path)?;
        let parent = full
            .parent()
            .ok_or_else(|| StorageError::InvalidPath(path.to_owned()))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(parent)
            .map_err(|e| StorageError::io("write", path, e))?;
        // tempfile creates files 0600; a storage root is read by other users and tools, so
        // give the file the permissions an ordinary create would (0644 before the umask).
        set_readable(temp.as_file())
            .and_then(|()| temp.write_all(bytes))
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| StorageError::io("write", path, e))?;
        temp.persist(&full)
            .map_err(|e| StorageError::io("write", path, e.error))?;
        sync_parent(&full).map_err(|e| StorageError::io("sync", path, e))
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        let full = self.resolve(path)?;
        fs::create_dir_all(&full).map_err(|e| StorageError::io("create directory", path, e))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let from_full = self.resolve(from)?;
        let to_full = self.resolve(to)?;
        fs::rename(&from_full, &to_full).map_err(|e| StorageError::io("rename", from, e))
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        let full = self.resolve(path)?;
        let meta = match fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StorageError::io("remove", path, e)),
        };
        let result = if meta.is_dir() {
            fs::remove_dir_all(&full)
        } else {
            fs::remove_file(&full)
        };
        match result {
            // Removed meanwhile by someone else: what was asked for.
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(StorageError::io("remove", path, e))
            }
            _ => Ok(()),
        }
    }

    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        let full = self.resolve(path)?;
        // rmdir(2) fails on a non-empty directory: no window for a concurrent writer.
        match fs::remove_dir(&full) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(false),
            Err(e) => Err(StorageError::io("remove directory", path, e)),
        }
    }

    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        let full = paths
            .iter()
            .map(|p| self.resolve(p))
            .collect::<Result<Vec<_>, StorageError>>()?;
        sync_parallel(&full).map_err(|(i, e)| StorageError::io("sync", &paths[i], e))
    }

    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        let full = self.resolve(dir)?;
        sync_tree(&full).map_err(|e| StorageError::io("sync", dir, e))
    }

    fn start_writeback(&self, path: &str) {
        if let Ok(full) = self.resolve(path) {
            self.flusher
                .get_or_init(|| Flusher::start(FLUSH_THREADS))
                .hint(full);
        }
    }

    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`): a new one on every boot,
    /// so unflushed writes of an earlier boot are known to be suspect. `None` off Linux.
    fn boot_id(&self) -> Option<String> {
        kernel_boot_id().map(str::to_owned)
    }

    fn display_path(&self, path: &str) -> String {
        if path.is_empty() {
            self.root.display().to_string()
        } else {
            self.root.join(path).display().to_string()
        }
    }
}

/// The running kernel's boot id, read once.
pub(crate) fn kernel_boot_id() -> Option<&'static str> {
    static BOOT: OnceLock<Option<String>> = OnceLock::new();
    BOOT.get_or_init(|| {
        let text = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let id = text.trim();
        (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
            .then(|| id.to_owned())
    })
    .as_deref()
}

/// Creates or truncates a file with the permissions an ordinary create gives (0644 before
/// the umask), so the storage root stays readable by other users and tools.
fn create_readable(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
}

fn set_readable(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o644))
}

/// How long after its last change a file's timestamps are trusted to tell a later change
/// apart: filesystems stamp changes with a coarse clock (a kernel tick; 2 s on FAT), so a
/// change within the same tick as the last one may leave both times as they were.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// The tag of a regular file: its device, inode, size, modification and change times, to
/// the nanosecond. Any later change of its bytes through the filesystem gives another tag:
/// a replacement (rename over it) is another inode, and a write in place sets the change
/// time, which nothing can set back - once the file has settled, a later change is stamped
/// with a later time. So a file changed less than [`SETTLE`] before `now` (or with a change
/// time in the future) has no tag, nor does anything but a regular file.
fn settled_tag(meta: &fs::Metadata, now: std::time::SystemTime) -> Option<Tag> {
    use std::os::unix::fs::MetadataExt;
    if !meta.file_type().is_file() {
        return None;
    }
    let changed = std::time::UNIX_EPOCH
        + std::time::Duration::new(
            u64::try_from(meta.ctime()).ok()?,
            u32::try_from(meta.ctime_nsec()).ok()?,
        );
    if now.duration_since(changed).ok()? < SETTLE {
        return None;
    }
    Some(Tag(format!(
        "{}:{}:{}:{}.{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    )))
}

/// Opens a regular file, refusing a symbolic link in the last element (`O_NOFOLLOW`) and
/// anything that is not a regular file. `O_NONBLOCK` keeps a FIFO from blocking the open; it
/// has no effect on regular files. Checking the opened descriptor (not the path) is one
/// `fstat` instead of a second path walk, and leaves no window between check and open.
fn open_no_follow(path: &Path) -> io::Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok((file, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_list_rename_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStorage::new(dir.path());
        s.create_dir("a/b").expect("mkdir");
        s.create_dir("a/b").expect("an existing directory is fine");
        s.write_atomic("a/b/f", b"hello").expect("write");
        s.write_atomic("a/b/f", b"hello again").expect("overwrite");
        assert_eq!(s.read("a/b/f").expect("read"), b"hello again");
        assert_eq!(
            s.list("a/b").expect("list"),
            vec![Entry {
                name: "f".into(),
                kind: EntryKind::File
            }]
        );
        s.rename("a/b/f", "a/g").expect("rename");
        s.sync(&["a/b".into(), "a".into()])
            .expect("sync both parents");
        assert!(s.read("a/b/f").expect_err("gone").is_not_found());
        assert_eq!(s.kind_if_exists("a/b/f").expect("kind"), None);
        assert_eq!(s.kind("a/g").expect("kind"), EntryKind::File);
        assert_eq!(
            s.kind_if_exists("a/g").expect("kind"),
            Some(EntryKind::File)
        );
        s.remove("a").expect("remove");
        s.remove("a").expect("removing nothing is fine");
        assert!(s.list("a").expect_err("gone").is_not_found());
    }

    #[test]
    fn created_files_are_written_by_finishing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStorage::new(dir.path());
        let mut writer = s.create("f").expect("create");
        writer.write_all(b"hello").expect("write");
        writer.finish().expect("finish");
        s.sync(&["f".into(), String::new()]).expect("sync");
        assert_eq!(s.read("f").expect("read"), b"hello");
        let mut writer = s.create("f").expect("create again");
        writer.write_all(b"x").expect("write");
        writer.finish().expect("finish");
        assert_eq!(s.read("f").expect("read"), b"x", "create truncates");
        assert!(matches!(
            s.create("../x").err(),
            Some(StorageError::InvalidPath(_))
        ));
        assert!(
            s.create("missing/f")
                .err()
                .is_some_and(|e| e.is_not_found())
        );
    }

    #[test]
    fn remove_empty_dir_removes_only_empty_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStorage::new(dir.path());
        s.create_dir("a/b").expect("mkdir");
        assert!(!s.remove_empty_dir("a").expect("a holds b"));
        assert_eq!(s.kind("a/b").expect("kind"), EntryKind::Directory);
        assert!(s.remove_empty_dir("a/b").expect("empty"));
        assert!(s.remove_empty_dir("a/b").expect("already gone"));
        assert!(s.remove_empty_dir("a").expect("now empty"));
        assert_eq!(s.kind_if_exists("a").expect("kind"), None);
    }

    #[test]
    fn a_failed_flush_among_many_names_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStorage::new(dir.path());
        let mut paths: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        for path in &paths {
            let mut writer = s.create(path).expect("create");
            writer.write_all(b"x").expect("write");
            writer.finish().expect("finish");
            s.start_writeback(path);
        }
        s.sync(&paths).expect("all flushed");
        s.sync_tree("").expect("the whole tree");
        paths.insert(17, "missing".into());
        let error = s
            .sync(&paths)
            .expect_err("a missing file cannot be flushed");
        assert!(error.to_string().contains("missing"), "{error}");
        let error = s.sync_tree("missing").expect_err("no such tree");
        assert!(error.to_string().contains("missing"), "{error}");
    }

    #[test]
    fn a_relative_one_element_root_can_be_flushed() {
        // Creating `LocalStorage::new("root")` flushes the parent of `root`: the empty path,
        // which is the current directory.
        assert_eq!(Path::new("root").parent(), Some(Path::new("")));
        sync_parent(Path::new("root")).expect("the current directory");
    }

    #[test]
    fn display_paths_are_filesystem_paths() {
        let s = LocalStorage::new("/srv/root");
        assert_eq!(s.display_path(""), "/srv/root");
        assert_eq!(s.display_path("a/b"), "/srv/root/a/b");
        assert!(s.renames_atomically());
    }

    #[test]
    fn written_files_are_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStorage::new(dir.path());
        s.write_atomic("f", b"x").expect("write");
        let mode = fs::metadata(dir.path().join("f"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o044, 0o044, "mode {mode:o}");
    }

    #[test]
    fn only_settled_files_have_tags_and_a_replacement_changes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = LocalStorage::new(dir.path());
        storage.write_atomic("a", b"one").expect("write");
        // Just written: a change within the same clock tick could keep its times.
        assert_eq!(storage.file_info("a").expect("info").tag, None);
        let later = std::time::SystemTime::now() + SETTLE + std::time::Duration::from_secs(1);
        let meta = |path: &str| fs::symlink_metadata(dir.path().join(path)).expect("stat");
        let first = settled_tag(&meta("a"), later).expect("a tag");
        assert_eq!(settled_tag(&meta("a"), later), Some(first.clone()));
        // Same size, replaced by a rename, as OCFL writers replace inventories.
        storage.write_atomic("b", b"two").expect("write");
        storage.rename("b", "a").expect("rename");
        assert_ne!(settled_tag(&meta("a"), later), Some(first));
        storage.create_dir("d").expect("mkdir");
        assert_eq!(settled_tag(&meta("d"), later), None);
        assert!(
            storage
                .file_info("missing")
                .expect_err("missing")
                .is_not_found()
        );
    }

    #[test]
    fn opening_a_fifo_fails_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = std::process::Command::new("mkfifo")
            .arg(dir.path().join("fifo"))
            .status()
            .expect("run mkfifo");
        assert!(status.success());
        let s = LocalStorage::new(dir.path());
        assert_eq!(s.kind("fifo").expect("kind"), EntryKind::Other);
        assert!(s.open("fifo").is_err());
    }

    #[test]
    fn refuses_escaping_paths_and_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStorage::new(dir.path().join("root"));
        s.create_dir("").expect("mkdir root");
        fs::write(dir.path().join("secret"), b"x").expect("write");
        assert!(matches!(
            s.read("../secret"),
            Err(StorageError::InvalidPath(_))
        ));
        assert!(matches!(
            s.read("/etc/passwd"),
            Err(StorageError::InvalidPath(_))
        ));
        std::os::unix::fs::symlink(dir.path().join("secret"), dir.path().join("root/link"))
            .expect("symlink");
        assert_eq!(s.kind("link").expect("kind"), EntryKind::Symlink);
        assert!(s.read("link").is_err());
    }
}
