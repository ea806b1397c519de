//! The lock file beside a store: one process at a time, and a second one learns which.
//!
//! `<store>.lock` holds the pid of the process that has the store open, under an exclusive
//! advisory lock (`flock` on Unix, through `std::fs::File::try_lock`). The operating system
//! drops the lock when that process exits, however it exits, so a crashed holder never blocks
//! the next open; the stale pid left in the file is simply overwritten.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::OpenError;

/// Held for as long as the store is open; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct LockFile {
    _file: File,
}

/// The lock file's path for a store file.
pub(crate) fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl LockFile {
    /// Takes the store's lock, waiting up to `wait` for another process to release it.
    pub fn acquire(store: &Path, wait: Duration) -> Result<LockFile, OpenError> {
        let path = lock_path(store);
        let io = |source| OpenError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(OpenError::InUse {
                            path: store.to_owned(),
                            pid: read_pid(&mut file),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::Error(source)) => return Err(io(source)),
            }
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(io)?;
        Ok(LockFile { _file: file })
    }
}

/// The pid written by the holder; `None` if it has not written one yet (or it is garbled).
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
