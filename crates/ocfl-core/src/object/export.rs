//! Exporting a version: its files, by logical path, written to a directory of the local
//! filesystem.
//!
//! All-or-nothing: the files are written (streamed, digests verified, each flushed) into a
//! hidden staging directory beside the destination, which is renamed to the destination
//! only once every file is complete. On any failure the staging directory is removed and
//! the destination is as it was. This is the one place where the object module writes
//! outside [`Storage`](crate::storage::Storage): the destination is the user's directory,
//! not part of a storage root.
//!
//! Overwriting ([`Object::export_with`]) writes into an existing directory instead: the
//! verified files are moved from the staging directory one by one, each replacing what is at
//! its path. Links in the destination are never followed: a link (or a file) where the
//! export needs a directory, or a directory where it needs a file, fails the export before
//! anything in the destination changes.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::ObjectError;
use super::reader::{FileEntry, Object};
use crate::bagit;
use crate::digest::STREAM_BUFFER;
use crate::version_num::VersionNum;

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// The version exported.
    pub version: VersionNum,
    /// How many files.
    pub files: u64,
    /// How many bytes in all.
    pub bytes: u64,
}

impl Object<'_> {
    /// Writes the files of `version` (the head when `None`) under `dest`, which must not
    /// exist or be an empty directory (an existing empty directory is replaced by the
    /// exported one). Its parent directory must exist.
    pub fn export(
        &self,
        version: Option<VersionNum>,
        dest: &Path,
    ) -> Result<ExportSummary, ObjectError> {
        self.export_with(version, dest, false)
    }

    /// [`Object::export`]; with `overwrite`, `dest` may also be a directory that holds files:
    /// the version's files are written into it, each replacing (by rename, so atomically)
    /// whatever file or link is at its path, and its other files stay. Nothing in `dest` is
    /// written through a link, and a path that is a directory in `dest` but a file in the
    /// version (or the other way round) fails the export before `dest` changes. A failure
    /// while moving the files in can leave some of them replaced.
    pub fn export_with(
        &self,
        version: Option<VersionNum>,
        dest: &Path,
        overwrite: bool,
    ) -> Result<ExportSummary, ObjectError> {
        let (num, _) = self.version(version)?;
        let files = self.files(Some(num))?;
        let merge = check_destination(dest, overwrite)?;
        if merge {
            for file in &files {
                check_merge_target(dest, file.path.as_str())?;
            }
        }
        let staging = Staging::create(dest)?;
        let bytes = self.write_files(&files, &staging.path)?;
        if merge {
            staging.merge_into(dest, files.iter().map(|f| f.path.as_str()))?;
        } else {
            staging.finish(dest)?;
        }
        Ok(ExportSummary {
            version: num,
            files: files.len() as u64,
            bytes,
        })
    }

    /// Writes `version` (the head when `None`) as a BagIt bag (RFC 8493) at `dest`, which
    /// must not exist or be an empty directory: the files below `data/`, each verified
    /// against the inventory as it is copied; `manifest-ALG.txt` with the inventory's
    /// digests (ALG the object's content algorithm, sha512 or sha256, both BagIt
    /// algorithms, so no file is hashed a second time); `bagit.txt`; `bag-info.txt`
    /// (`Payload-Oxum`, and the object id and version); and `tagmanifest-ALG.txt` over those
    /// three. All-or-nothing, as [`Object::export`].
    pub fn export_bag(
        &self,
        version: Option<VersionNum>,
        dest: &Path,
    ) -> Result<ExportSummary, ObjectError> {
        let (num, _) = self.version(version)?;
        let files = self.files(Some(num))?;
        check_destination(dest, false)?;
        let staging = Staging::create(dest)?;
        let payload = staging.path.join(bagit::PAYLOAD_DIR);
        let bytes = self.write_files(&files, &payload)?;
        let algorithm = self.inventory.digest_algorithm;
        let payload_paths: Vec<String> = files
            .iter()
            .map(|f| format!("{}/{}", bagit::PAYLOAD_DIR, f.path.as_str()))
            .collect();
        let manifest = bagit::manifest_bytes(
            payload_paths
                .iter()
                .zip(&files)
                .map(|(path, file)| (path.as_str(), file.digest.as_str())),
        );
        let mut info = format!(
            "Payload-Oxum: {}\n",
            bagit::payload_oxum(bytes, files.len() as u64)
        );
        // A tag value is one line: an id with a line break is left out rather than
        // written across lines another reader could take for a new element.
        if !self.id().contains(['\r', '\n']) {
            info.push_str(&format!("External-Identifier: {}\n", self.id()));
        }
        info.push_str(&format!("OCFL-Version: {num}\n"));
        let tag_files: [(String, Vec<u8>); 3] = [
            (
                bagit::DECLARATION_FILE.to_owned(),
                bagit::DECLARATION.to_vec(),
            ),
            (bagit::BAG_INFO_FILE.to_owned(), info.into_bytes()),
            (bagit::manifest_name(algorithm), manifest),
        ];
        let checksums: Vec<(String, String)> = tag_files
            .iter()
            .map(|(name, bytes)| {
                (
                    name.clone(),
                    algorithm.digest_bytes(bytes).as_str().to_owned(),
                )
            })
            .collect();
        let tag_manifest = bagit::manifest_bytes(
            checksums
                .iter()
                .map(|(name, sum)| (name.as_str(), sum.as_str())),
        );
        for (name, bytes) in tag_files
            .iter()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
            .chain([(
                bagit::tag_manifest_name(algorithm).as_str(),
                tag_manifest.as_slice(),
            )])
        {
            write_synced(&staging.path.join(name), bytes)?;
        }
        staging.finish(dest)?;
        Ok(ExportSummary {
            version: num,
            files: files.len() as u64,
            bytes,
        })
    }

    /// Writes `files` below `dir` by logical path, each verified as it streams and flushed;
    /// returns the bytes written.
    fn write_files(&self, files: &[FileEntry<'_>], dir: &Path) -> Result<u64, ObjectError> {
        let mut buffer = vec![0u8; STREAM_BUFFER];
        let mut bytes = 0u64;
        for file in files {
            // Logical paths have no empty, `.` or `..` elements (checked when the inventory
            // was parsed), so the target stays inside the staging directory.
            let target = dir.join(file.path.as_str());
            let export_error = |source: io::Error| ObjectError::Export {
                path: target.clone(),
                source,
            };
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).map_err(export_error)?;
            }
            let mut out = File::create_new(&target).map_err(export_error)?;
            bytes += match self.copy_verified(file, &mut out, &mut buffer) {
                Err(ObjectError::Write { source, .. }) => return Err(export_error(source)),
                other => other?,
            };
            out.sync_all().map_err(export_error)?;
        }
        Ok(bytes)
    }
}

/// Writes a new file holding `bytes` and flushes it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ObjectError> {
    let export_error = |source: io::Error| ObjectError::Export {
        path: path.to_owned(),
        source,
    };
    let mut out = File::create_new(path).map_err(export_error)?;
    out.write_all(bytes).map_err(export_error)?;
    out.sync_all().map_err(export_error)
}

/// Refuses a destination that exists and is not an empty directory, unless `overwrite`
/// allows a non-empty one; returns whether the export goes into an existing, non-empty
/// directory.
fn check_destination(dest: &Path, overwrite: bool) -> Result<bool, ObjectError> {
    let refuse = |reason: &str| ObjectError::Destination {
        dest: dest.to_owned(),
        reason: reason.to_owned(),
    };
    let meta = match fs::symlink_metadata(dest) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return match dest.parent() {
                Some(parent) if !parent.as_os_str().is_empty() && !parent.is_dir() => Err(refuse(
                    "cannot be created: its parent directory does not exist",
                )),
                _ => Ok(false),
            };
        }
        Err(source) => {
            return Err(ObjectError::Export {
                path: dest.to_owned(),
                source,
            });
        }
    };
    if meta.file_type().is_symlink() {
        return Err(refuse("is a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(refuse("exists and is not a directory"));
    }
    let mut entries = fs::read_dir(dest).map_err(|source| ObjectError::Export {
        path: dest.to_owned(),
        source,
    })?;
    match entries.next() {
        Some(_) if overwrite => Ok(true),
        Some(_) => Err(refuse(
            "is not empty (existing files are only overwritten when that is asked for)",
        )),
        None => Ok(false),
    }
}

/// Checks that the file at logical path `logical` can be moved into `dest`: every directory
/// on its way is absent or a real directory (not a link), and the path itself is not a
/// directory.
fn check_merge_target(dest: &Path, logical: &str) -> Result<(), ObjectError> {
    let elements: Vec<&str> = logical.split('/').collect();
    let mut path = dest.to_path_buf();
    for (i, element) in elements.iter().enumerate() {
        path.push(element);
        let last = i + 1 == elements.len();
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(ObjectError::Export { path, source }),
        };
        let reason = match (last, meta.file_type()) {
            (false, kind) if kind.is_dir() => continue,
            (false, kind) if kind.is_symlink() => {
                "is a symbolic link where the export needs a directory (links are not followed)"
            }
            (false, _) => "is a file where the export needs a directory",
            (true, kind) if kind.is_dir() => "is a directory where the export writes a file",
            (true, _) => return Ok(()),
        };
        return Err(ObjectError::Destination {
            dest: path,
            reason: reason.to_owned(),
        });
    }
    Ok(())
}

/// Creates the directories of `relative` below `dest` one at a time, refusing to pass
/// through anything but a real directory.
fn create_dirs_below(dest: &Path, relative: &Path) -> Result<(), ObjectError> {
    let mut path = dest.to_path_buf();
    for element in relative.iter() {
        path.push(element);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(ObjectError::Destination {
                    dest: path,
                    reason: "is not a directory (a link?); not written through".to_owned(),
                });
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&path).map_err(|source| ObjectError::Export {
                    path: path.clone(),
                    source,
                })?;
            }
            Err(source) => return Err(ObjectError::Export { path, source }),
        }
    }
    Ok(())
}

/// The hidden directory an export is written into; removed on drop unless finished.
struct Staging {
    path: PathBuf,
    finished: bool,
}

impl Staging {
    /// A new directory `.<dest name>.ocfl-export-<pid>-<n>` beside `dest`, so the final
    /// rename stays on one filesystem.
    fn create(dest: &Path) -> Result<Staging, ObjectError> {
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().ok_or_else(|| ObjectError::Destination {
            dest: dest.to_owned(),
            reason: "has no directory name".to_owned(),
        })?;
        for n in 0u32.. {
            let mut staging_name = std::ffi::OsString::from(".");
            staging_name.push(name);
            staging_name.push(format!(".ocfl-export-{}-{n}", std::process::id()));
            let path = parent.join(staging_name);
            match fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(Staging {
                        path,
                        finished: false,
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(ObjectError::Export { path, source }),
            }
        }
        Err(ObjectError::Destination {
            dest: dest.to_owned(),
            reason: "has no free staging name beside it".to_owned(),
        })
    }

    /// Moves the staging directory to `dest` (replacing an empty directory) and flushes
    /// the parent so the new name survives a crash.
    fn finish(mut self, dest: &Path) -> Result<(), ObjectError> {
        fs::rename(&self.path, dest).map_err(|source| ObjectError::Export {
            path: dest.to_owned(),
            source,
        })?;
        self.finished = true;
        if let Some(parent) = self.path.parent() {
            // Best effort: the files themselves are already flushed.
            let _ = File::open(parent).and_then(|dir| dir.sync_all());
        }
        Ok(())
    }
}

impl Staging {
    /// Moves each exported file (by logical path) from the staging directory to its place
    /// below the existing directory `dest`, replacing what is there, then flushes the
    /// directories written to. The staging directory is removed when dropped.
    fn merge_into<'p>(
        self,
        dest: &Path,
        logical: impl Iterator<Item = &'p str>,
    ) -> Result<(), ObjectError> {
        let mut touched = std::collections::BTreeSet::new();
        for path in logical {
            let relative = Path::new(path);
            if let Some(parent) = relative.parent() {
                create_dirs_below(dest, parent)?;
            }
            let target = dest.join(relative);
            fs::rename(self.path.join(relative), &target).map_err(|source| {
                ObjectError::Export {
                    path: target.clone(),
                    source,
                }
            })?;
            if let Some(parent) = target.parent() {
                touched.insert(parent.to_path_buf());
            }
        }
        for dir in touched {
            // Best effort, as in `finish`: the files themselves are already flushed.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
