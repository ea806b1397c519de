//! [`Directory`] handles of [`super::LocalStorage`]: real directory file descriptors.
//!
//! Every entry is opened relative to its directory's descriptor with `O_NOFOLLOW`, so a link
//! is never followed at any depth (a directory swapped for a link after it was listed is
//! refused, not entered), and the kernel resolves one path element per open instead of the
//! whole path from the storage root: on a tree of many small files that path walk was the
//! largest share of the time spent opening them.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Mutex;

use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::directory::{Directory, check_name};
use super::{Entry, EntryKind, StorageError, join};

/// An open directory of the local filesystem.
pub(super) struct LocalDirectory {
    fd: OwnedFd,
    path: String,
    /// Whether the descriptor's position is past the start (it has been listed once), so
    /// that listing again must seek back first. Held while listing: the position is shared.
    listed: Mutex<bool>,
}

/// Flags for a directory reached by a name: never through a link.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Flags for a file: a link in the last element is refused, and a FIFO does not block the
/// open (it is then refused as not a regular file).
const FILE_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

impl LocalDirectory {
    /// Opens the directory at filesystem path `full` (storage path `path`). Like
    /// [`super::Storage::list`], this follows a link in the path itself (the storage root may
    /// be reached through one); only what is opened from the handle refuses links.
    pub(super) fn open(full: &std::path::Path, path: &str) -> Result<LocalDirectory, StorageError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(full, flags, Mode::empty())
            .map_err(|e| StorageError::io("open directory", path, e.into()))?;
        Ok(LocalDirectory::new(fd, path.to_owned()))
    }

    fn new(fd: OwnedFd, path: String) -> LocalDirectory {
        LocalDirectory {
            fd,
            path,
            listed: Mutex::new(false),
        }
    }

    fn kind_of(&self, file_type: FileType, name: &str) -> io::Result<EntryKind> {
        let file_type = match file_type {
            // Some filesystems do not report types in listings: ask, without following.
            FileType::Unknown => FileType::from_raw_mode(
                rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?.st_mode,
            ),
            known => known,
        };
        Ok(match file_type {
            FileType::RegularFile => EntryKind::File,
            FileType::Directory => EntryKind::Directory,
            FileType::Symlink => EntryKind::Symlink,
            _ => EntryKind::Other,
        })
    }

    fn entry(&self, raw_name: &[u8], file_type: FileType) -> Result<Option<Entry>, StorageError> {
        if raw_name == b"." || raw_name == b".." {
            return Ok(None);
        }
        let name = std::str::from_utf8(raw_name).map_err(|_| {
            StorageError::InvalidPath(format!(
                "{}/{}",
                self.path,
                String::from_utf8_lossy(raw_name)
            ))
        })?;
        let kind = self
            .kind_of(file_type, name)
            .map_err(|e| StorageError::io("list", &self.path, e))?;
        Ok(Some(Entry {
            name: name.to_owned(),
            kind,
        }))
    }

    /// Reads every entry from the descriptor's current position.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn read_entries(&self) -> Result<Vec<Entry>, StorageError> {
        use std::mem::MaybeUninit;
        let mut buffer = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut raw = rustix::fs::RawDir::new(&self.fd, &mut buffer);
        let mut entries = Vec::new();
        while let Some(item) = raw.next() {
            let item = item.map_err(|e| StorageError::io("list", &self.path, e.into()))?;
            if let Some(entry) = self.entry(item.file_name().to_bytes(), item.file_type())? {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// Reads every entry (elsewhere: through a second descriptor of the same directory).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn read_entries(&self) -> Result<Vec<Entry>, StorageError> {
        let dir = rustix::fs::Dir::read_from(&self.fd)
            .map_err(|e| StorageError::io("list", &self.path, e.into()))?;
        let mut entries = Vec::new();
        for item in dir {
            let item = item.map_err(|e| StorageError::io("list", &self.path, e.into()))?;
            if let Some(entry) = self.entry(item.file_name().to_bytes(), item.file_type())? {
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

impl Directory for LocalDirectory {
    fn path(&self) -> &str {
        &self.path
    }

    fn list(&self) -> Result<Vec<Entry>, StorageError> {
        let mut listed = self
            .listed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *listed {
            rustix::fs::seek(&self.fd, rustix::fs::SeekFrom::Start(0))
                .map_err(|e| StorageError::io("list", &self.path, e.into()))?;
        }
        *listed = true;
        let mut entries = self.read_entries()?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn open_dir(&self, name: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
        check_name(&self.path, name)?;
        let path = join(&self.path, name);
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(Box::new(LocalDirectory::new(fd, path))),
            Err(e) => Err(StorageError::io("open directory", &path, e.into())),
        }
    }

    fn open_file(&self, name: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        let (file, len) = self.open_regular(name)?;
        // As `Storage::open`: reading stops at the size seen when the file was opened.
        Ok(Box::new(file.take(len)))
    }

    fn stream_file(&self, name: &str, each: &mut dyn FnMut(&[u8])) -> Result<(), StorageError> {
        check_name(&self.path, name)?;
        let path = || join(&self.path, name);
        let fd = rustix::fs::openat(&self.fd, name, FILE_FLAGS, Mode::empty())
            .map_err(|e| StorageError::io("open", &path(), e.into()))?;
        let mut file = File::from(fd);
        crate::digest::with_stream_buffer(|buffer| {
            let first = read_retrying(&mut file, buffer)
                .map_err(|e| StorageError::io("read", &path(), e))?;
            if first > 0 && first < buffer.len() {
                // One short read: all of a small regular file, without an fstat(2). What
                // else could sit here (the listing said a regular file; a FIFO swapped in
                // since then) gives bytes that fail the caller's digest check.
                each(&buffer[..first]);
                return Ok(());
            }
            // Nothing read, or a full buffer: make sure of what this is (a FIFO reads as
            // empty, a device never ends) and read exactly the size it has now.
            let stat = rustix::fs::fstat(&file)
                .map_err(|e| StorageError::io("open", &path(), e.into()))?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Err(StorageError::io("open", &path(), not_regular()));
            }
            let mut remaining = u64::try_from(stat.st_size).unwrap_or(0);
            let mut chunk = first;
            loop {
                let take = usize::try_from(remaining).map_or(chunk, |r| chunk.min(r));
                each(&buffer[..take]);
                remaining -= take as u64;
                if remaining == 0 {
                    return Ok(());
                }
                let want = usize::try_from(remaining).map_or(buffer.len(), |r| buffer.len().min(r));
                chunk = read_retrying(&mut file, &mut buffer[..want])
                    .map_err(|e| StorageError::io("read", &path(), e))?;
                if chunk == 0 {
                    // Shrunk since the fstat: what was there has been fed.
                    return Ok(());
                }
            }
        })
    }

    fn read_file(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        let (file, len) = self.open_regular(name)?;
        // Sized from the open file, so a small file takes one read(2) and no probing reads.
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| StorageError::io("read", &join(&self.path, name), e))?;
        Ok(bytes)
    }
}

impl LocalDirectory {
    /// Opens the regular file `name` and returns it with its size. Checking the opened
    /// descriptor (one fstat(2)) leaves no window between the check and the open.
    fn open_regular(&self, name: &str) -> Result<(File, u64), StorageError> {
        check_name(&self.path, name)?;
        let path = || join(&self.path, name);
        let fd = rustix::fs::openat(&self.fd, name, FILE_FLAGS, Mode::empty())
            .map_err(|e| StorageError::io("open", &path(), e.into()))?;
        let stat =
            rustix::fs::fstat(&fd).map_err(|e| StorageError::io("open", &path(), e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(StorageError::io("open", &path(), not_regular()));
        }
        Ok((File::from(fd), u64::try_from(stat.st_size).unwrap_or(0)))
    }
}

fn not_regular() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

/// One read(2), retried when interrupted by a signal.
fn read_retrying(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buffer) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::{LocalStorage, Storage, StorageWriter};
    use super::*;

    fn tree() -> (tempfile::TempDir, LocalStorage) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("d/sub")).expect("mkdir");
        fs::write(root.join("d/b.txt"), b"bee").expect("write");
        fs::write(root.join("d/a.txt"), b"a").expect("write");
        fs::write(dir.path().join("outside"), b"secret").expect("write");
        fs::create_dir(dir.path().join("outside-dir")).expect("mkdir");
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("d/file-link"))
            .expect("symlink");
        std::os::unix::fs::symlink(dir.path().join("outside-dir"), root.join("d/dir-link"))
            .expect("symlink");
        let storage = LocalStorage::new(root);
        (dir, storage)
    }

    #[test]
    fn lists_sorted_with_kinds_and_again() {
        let (_dir, storage) = tree();
        let d = storage.open_dir("d").expect("open d");
        assert_eq!(d.path(), "d");
        let first = d.list().expect("list");
        let names: Vec<(&str, EntryKind)> =
            first.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(
            names,
            [
                ("a.txt", EntryKind::File),
                ("b.txt", EntryKind::File),
                ("dir-link", EntryKind::Symlink),
                ("file-link", EntryKind::Symlink),
                ("sub", EntryKind::Directory),
            ]
        );
        // The descriptor's position was at the end: a second listing must rewind.
        assert_eq!(d.list().expect("list again"), first);
        assert_eq!(storage.list("d").expect("list by path"), first);
        assert_eq!(d.open_dir("sub").expect("sub").path(), "d/sub");
        assert!(
            d.open_dir("sub")
                .expect("sub")
                .list()
                .expect("list")
                .is_empty()
        );
    }

    #[test]
    fn reads_files_by_name() {
        let (_dir, storage) = tree();
        let d = storage.open_dir("d").expect("open d");
        let mut bytes = Vec::new();
        d.open_file("b.txt")
            .expect("open")
            .read_to_end(&mut bytes)
            .expect("read");
        assert_eq!(bytes, b"bee");
        assert_eq!(d.read_file("a.txt").expect("read"), b"a");
        assert!(d.read_file("file-link").is_err());
        assert!(d.read_file("sub").is_err());
        assert!(matches!(
            d.read_file("../outside"),
            Err(StorageError::InvalidPath(_))
        ));
    }

    #[test]
    fn refuses_links_and_escaping_names() {
        let (_dir, storage) = tree();
        let d = storage.open_dir("d").expect("open d");
        assert!(d.open_file("file-link").is_err());
        assert!(d.open_dir("dir-link").is_err());
        assert!(d.open_file("sub").is_err());
        assert!(d.open_dir("a.txt").is_err());
        for bad in [
            "..",
            ".",
            "",
            "sub/../../outside",
            "/etc/passwd",
            "..\\/outside",
        ] {
            assert!(
                matches!(d.open_file(bad), Err(StorageError::InvalidPath(_))),
                "{bad:?}"
            );
            assert!(
                matches!(d.open_dir(bad), Err(StorageError::InvalidPath(_))),
                "{bad:?}"
            );
        }
        assert!(
            storage
                .open_dir("d/missing")
                .err()
                .is_some_and(|e| e.is_not_found())
        );
    }

    /// `/` is the only separator: a name holding `\\`, `:` or `..\\` names one entry of its
    /// directory, never anything above it.
    #[test]
    fn backslashes_and_colons_are_part_of_a_name() {
        let (dir, storage) = tree();
        fs::write(dir.path().join("root/d/sub/x\\y:z"), b"inside").expect("write");
        let d = storage.open_dir("d").expect("open d");
        let sub = d.open_dir("sub").expect("open sub");
        assert_eq!(sub.read_file("x\\y:z").expect("read"), b"inside");
        assert_eq!(storage.read("d/sub/x\\y:z").expect("read"), b"inside");
        for name in ["..\\outside", "..\\..\\outside"] {
            assert!(
                d.open_file(name).err().is_some_and(|e| e.is_not_found()),
                "{name:?}"
            );
            assert!(
                storage
                    .read(&format!("d/{name}"))
                    .err()
                    .is_some_and(|e| e.is_not_found()),
                "{name:?}"
            );
        }
    }

    fn streamed(d: &dyn Directory, name: &str) -> Result<Vec<u8>, StorageError> {
        let mut bytes = Vec::new();
        d.stream_file(name, &mut |chunk| bytes.extend_from_slice(chunk))?;
        Ok(bytes)
    }

    #[test]
    fn streams_small_empty_and_large_files() {
        let (dir, storage) = tree();
        let large: Vec<u8> = (0..(crate::digest::STREAM_BUFFER * 2 + 100))
            .map(|i| (i % 253) as u8)
            .collect();
        fs::write(dir.path().join("root/d/large"), &large).expect("write");
        let exact: Vec<u8> = vec![7; crate::digest::STREAM_BUFFER];
        fs::write(dir.path().join("root/d/exact"), &exact).expect("write");
        fs::write(dir.path().join("root/d/empty"), b"").expect("write");
        let d = storage.open_dir("d").expect("open d");
        assert_eq!(streamed(&*d, "b.txt").expect("small"), b"bee");
        assert_eq!(streamed(&*d, "empty").expect("empty"), b"");
        assert_eq!(streamed(&*d, "large").expect("large"), large);
        assert_eq!(streamed(&*d, "exact").expect("exact"), exact);
        assert!(streamed(&*d, "file-link").is_err());
        assert!(streamed(&*d, "sub").is_err());
        assert!(matches!(
            streamed(&*d, "../outside"),
            Err(StorageError::InvalidPath(_))
        ));
    }

    #[test]
    fn opening_a_fifo_fails_without_blocking() {
        let (dir, storage) = tree();
        let status = std::process::Command::new("mkfifo")
            .arg(dir.path().join("root/d/fifo"))
            .status()
            .expect("run mkfifo");
        assert!(status.success());
        let d = storage.open_dir("d").expect("open d");
        let fifo = d.list().expect("list");
        assert!(
            fifo.iter()
                .any(|e| e.name == "fifo" && e.kind == EntryKind::Other)
        );
        assert!(d.open_file("fifo").is_err());
        assert!(d.read_file("fifo").is_err());
        // Read as empty (no writer), then found out by the fstat an empty read triggers.
        assert!(streamed(&*d, "fifo").is_err());
    }

    /// The provided, path-based implementation behaves as the handles do.
    #[test]
    fn path_directories_match_handles() {
        struct Paths(LocalStorage);
        impl Storage for Paths {
            fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
                self.0.list(dir)
            }
            fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
                self.0.kind(path)
            }
            fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
                self.0.open(path)
            }
            fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
                self.0.create(path)
            }
            fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
                self.0.write_atomic(path, bytes)
            }
            fn create_dir(&self, path: &str) -> Result<(), StorageError> {
                self.0.create_dir(path)
            }
            fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
                self.0.rename(from, to)
            }
            fn remove(&self, path: &str) -> Result<(), StorageError> {
                self.0.remove(path)
            }
            fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
                self.0.sync(paths)
            }
            fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
                self.0.sync_tree(dir)
            }
        }
        let (_dir, local) = tree();
        let paths = Paths(local.clone());
        let (a, b) = (
            local.open_dir("d").expect("handle"),
            paths.open_dir("d").expect("paths"),
        );
        assert_eq!(a.list().expect("list"), b.list().expect("list"));
        assert_eq!(
            b.open_dir("sub").expect("sub").path(),
            a.open_dir("sub").expect("sub").path()
        );
        for refused in ["file-link", "sub", ".."] {
            assert!(b.open_file(refused).is_err(), "{refused}");
        }
        for refused in ["dir-link", "a.txt", ".."] {
            assert!(b.open_dir(refused).is_err(), "{refused}");
        }
        assert!(paths.open_dir("d/dir-link").is_err());
        assert!(paths.open_dir("").is_ok());
    }
}
