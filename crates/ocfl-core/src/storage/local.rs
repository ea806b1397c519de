//! [`Storage`] on the local filesystem.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::local_dir::LocalDirectory;
use super::{Directory, Entry, EntryKind, Storage, StorageError, check_storage_path};

/// Files under a directory of the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Storage rooted at `root` (which need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> LocalStorage {
        LocalStorage { root: root.into() }
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

/// Flushes a directory so that a rename or create inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    // The parent of a relative one-element path (`root`) is the empty path: the current
    // directory.
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
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
        sync_dir(parent).map_err(|e| StorageError::io("sync", path, e))
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        let full = self.resolve(path)?;
        fs::create_dir_all(&full).map_err(|e| StorageError::io("create directory", path, e))?;
        if let Some(parent) = full.parent() {
            sync_dir(parent).map_err(|e| StorageError::io("sync", path, e))?;
        }
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let from_full = self.resolve(from)?;
        let to_full = self.resolve(to)?;
        fs::rename(&from_full, &to_full).map_err(|e| StorageError::io("rename", from, e))?;
        for dir in [to_full.parent(), from_full.parent()].into_iter().flatten() {
            sync_dir(dir).map_err(|e| StorageError::io("sync", to, e))?;
        }
        Ok(())
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        let full = self.resolve(path)?;
        let meta = fs::symlink_metadata(&full).map_err(|e| StorageError::io("remove", path, e))?;
        if meta.is_dir() {
            fs::remove_dir_all(&full)
        } else {
            fs::remove_file(&full)
        }
        .map_err(|e| StorageError::io("remove", path, e))
    }

    fn remove_empty_dir(&self, path: &str) -> Result<(), StorageError> {
        let full = self.resolve(path)?;
        // rmdir(2) fails on a non-empty directory: no window for a concurrent writer.
        fs::remove_dir(&full).map_err(|e| StorageError::io("remove directory", path, e))
    }
}

fn set_readable(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o644))
}

/// Opens a regular file, refusing a symbolic link in the last element (`O_NOFOLLOW`) and
/// anything that is not a regular file. `O_NONBLOCK` keeps a FIFO from blocking the open; it
/// has no effect on regular files. Checking the opened descriptor (not the path) is one
/// `fstat` instead of a second path walk, and leaves no window between check and open.
fn open_no_follow(path: &Path) -> io::Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
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
        assert!(s.read("a/b/f").expect_err("gone").is_not_found());
        assert_eq!(s.kind("a/g").expect("kind"), EntryKind::File);
        let not_empty = s.remove_empty_dir("a").expect_err("a holds a/g");
        assert!(
            matches!(&not_empty, StorageError::Io { source, .. }
                if source.kind() == io::ErrorKind::DirectoryNotEmpty),
            "{not_empty}"
        );
        s.remove_empty_dir("a/b").expect("a/b is empty");
        s.remove("a").expect("remove");
        assert!(s.list("a").expect_err("gone").is_not_found());
    }

    #[test]
    fn a_relative_one_element_root_can_be_created() {
        // Creating `LocalStorage::new("root")` flushes the parent of `root`: the empty path.
        assert_eq!(Path::new("root").parent(), Some(Path::new("")));
        sync_dir(Path::new("")).expect("the current directory");
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
