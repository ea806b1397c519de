//! Staging: the new state of an object, read from a source directory.
//!
//! A [`Stage`] maps every logical path to the digest of its bytes and knows, for each digest,
//! one source file holding those bytes. Each file is read once: the content digest, the
//! requested fixity digests and the size come from one streaming pass, and files are hashed in
//! parallel. The result does not depend on the walk or thread order: files are kept sorted by
//! logical path.
//!
//! ```
//! use ocfl_plan::stage::{Stage, StageOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::create_dir(dir.path().join("data")).unwrap();
//! std::fs::write(dir.path().join("data/a.txt"), b"same").unwrap();
//! std::fs::write(dir.path().join("b.txt"), b"same").unwrap();
//! let stage = Stage::from_directory(dir.path(), &StageOptions::default()).unwrap();
//! assert_eq!(stage.len(), 2);
//! assert_eq!(stage.state().len(), 1, "two paths, one digest");
//! ```

mod edit;
mod hash;
mod spool;
mod walk;

pub use edit::Edit;
pub use spool::{EARLY_WRITEBACK_BYTES, Spool, spooled};

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::inventory::State;
use ocfl_core::path::{LogicalPath, find_conflict};
use rayon::prelude::*;

/// How to stage a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageOptions {
    /// The content digest algorithm (`sha512` or `sha256`).
    pub digest_algorithm: DigestAlgorithm,
    /// Fixity algorithms to compute in the same pass.
    pub fixity: Vec<DigestAlgorithm>,
    /// Follow symbolic links (stage the files they point to) instead of refusing them.
    pub follow_symlinks: bool,
}

impl Default for StageOptions {
    /// sha512, no fixity, links refused.
    fn default() -> StageOptions {
        StageOptions {
            digest_algorithm: DigestAlgorithm::Sha512,
            fixity: Vec::new(),
            follow_symlinks: false,
        }
    }
}

/// Why a source could not be staged. Every variant names the offending path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A symbolic link, and following links was not asked for.
    #[error("{}: is a symbolic link (refused unless links are followed)", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A device, socket, FIFO or other non-regular file.
    #[error("{}: is not a regular file or directory", path.display())]
    SpecialFile {
        /// The file.
        path: PathBuf,
    },
    /// A name that is not valid UTF-8 (logical paths are Unicode).
    #[error("{}: name is not valid UTF-8", path.display())]
    NotUtf8 {
        /// The path, with invalid bytes shown as replacement characters.
        path: PathBuf,
    },
    /// A logical path the specification forbids, or one this toolkit does not store.
    #[error("{}: logical path {logical:?} is not allowed: {reason}", path.display())]
    ForbiddenPath {
        /// The source file.
        path: PathBuf,
        /// The logical path it would have.
        logical: String,
        /// Why it is refused.
        reason: String,
    },
    /// Two sources for the same logical path.
    #[error("{logical}: staged twice ({} and {})", first.display(), second.display())]
    Duplicate {
        /// The logical path.
        logical: String,
        /// The first source.
        first: PathBuf,
        /// The second source.
        second: PathBuf,
    },
    /// A logical path is both a file and the directory of another file (E095).
    #[error("{file}: is a file, but {inside} would put it inside a directory of that name")]
    Conflict {
        /// The path staged as a file.
        file: String,
        /// A path below it.
        inside: String,
    },
    /// A file or directory could not be read.
    #[error("{}: cannot be read: {source}", path.display())]
    Unreadable {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file's size or modification time changed while it was being read.
    #[error("{}: changed while it was being staged (size or modification time differs)", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// An edit names a logical path the object's state does not hold (as a file or a
    /// directory).
    #[error("{path}: not in the object's state")]
    NotInState {
        /// The logical path.
        path: String,
    },
    /// A move's destination is already in the state.
    #[error("{path}: already in the object's state (remove it first)")]
    Occupied {
        /// The logical path.
        path: String,
    },
    /// A directory walk failed, e.g. a symbolic link loop.
    #[error("{}: {message}", path.display())]
    Walk {
        /// Where the walk failed.
        path: PathBuf,
        /// What happened.
        message: String,
    },
    /// The content algorithm is not `sha512` or `sha256`.
    #[error("{0} is not a content digest algorithm (use sha512 or sha256)")]
    NotContentAlgorithm(DigestAlgorithm),
}

/// One staged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Where its bytes were read from.
    pub source: PathBuf,
    /// Its content digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its fixity digests, in the order of [`StageOptions::fixity`] (duplicates once).
    pub fixity: Vec<(DigestAlgorithm, Digest)>,
}

/// The new state of an object: logical path -> staged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    digest_algorithm: DigestAlgorithm,
    fixity_algorithms: Vec<DigestAlgorithm>,
    files: BTreeMap<LogicalPath, StagedFile>,
    /// digest -> the first logical path with those bytes: where copies read from.
    first_with: BTreeMap<Digest, LogicalPath>,
}

impl Stage {
    /// Stages every regular file below `root`; logical paths are relative to it. Empty
    /// directories are not staged (OCFL has no way to record them).
    ///
    /// Files are hashed as the walk finds them, so reading starts with the first file rather
    /// than after the whole tree is listed. A refusal met by the walk wins over any file that
    /// could not be read.
    pub fn from_directory(root: &Path, options: &StageOptions) -> Result<Stage, Error> {
        Stage::from_directory_with(root, options, None, &|_, _| {})
    }

    /// [`Stage::from_directory`], writing a copy of every file to `spool` as it is read (for
    /// a new object, whose every file is copied: see [`Spool`]), and telling `progress` how
    /// it goes: `(0, n)` after `n` more bytes were read, `(1, 0)` when a file is done (from
    /// several threads at once; keep it quick).
    pub fn from_directory_with(
        root: &Path,
        options: &StageOptions,
        spool: Option<&Spool<'_>>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Stage, Error> {
        check_options(options)?;
        let algorithms = algorithms(options);
        let extras = hash::Extras {
            spool,
            progress,
            between_reads: &|| {},
        };
        let (sender, receiver) = mpsc::channel();
        let mut walked = Ok(());
        rayon::scope(|scope| {
            let algorithms = &algorithms;
            walked = walk::walk(root, options.follow_symlinks, &mut |logical, source| {
                let sender = sender.clone();
                // One task per file: large files spread over the threads as well as small
                // ones; a task costs far less than opening a file.
                scope.spawn(move |_| {
                    let hashed = hash::hash_file(&source, algorithms, extras);
                    // The receiver outlives the scope, so the send cannot fail.
                    let _ = sender.send((logical, source, hashed));
                });
            });
        });
        drop(sender);
        walked?;
        let mut hashed: Vec<_> = receiver.into_iter().collect();
        hashed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        check_names(hashed.iter().map(|(logical, source, _)| (logical, source)))?;
        Stage::from_hashed(hashed, options)
    }

    /// Stages the given (logical path, source file) pairs, in any order.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, PathBuf)>,
        options: &StageOptions,
    ) -> Result<Stage, Error> {
        check_options(options)?;
        let mut checked = Vec::new();
        for (logical, source) in files {
            checked.push((walk::logical_path(&logical, &source)?, source));
        }
        Stage::hash_all(checked, options)
    }

    /// A stage from files already hashed (a stage recorded earlier, or a synthetic one).
    /// Logical paths must not conflict as file and directory; every file needs a digest of
    /// `digest_algorithm`, and its fixity digests among `fixity_algorithms`.
    pub fn from_parts(
        digest_algorithm: DigestAlgorithm,
        fixity_algorithms: Vec<DigestAlgorithm>,
        files: BTreeMap<LogicalPath, StagedFile>,
    ) -> Result<Stage, Error> {
        check_options(&StageOptions {
            digest_algorithm,
            ..StageOptions::default()
        })?;
        let names: Vec<&str> = files.keys().map(LogicalPath::as_str).collect();
        if let Some((file, inside)) = find_conflict(&names) {
            return Err(Error::Conflict {
                file: file.to_owned(),
                inside: inside.to_owned(),
            });
        }
        Ok(Stage::assemble(
            digest_algorithm,
            dedup(&fixity_algorithms),
            files,
        ))
    }

    fn assemble(
        digest_algorithm: DigestAlgorithm,
        fixity_algorithms: Vec<DigestAlgorithm>,
        files: BTreeMap<LogicalPath, StagedFile>,
    ) -> Stage {
        let mut first_with = BTreeMap::new();
        for (logical, file) in &files {
            first_with
                .entry(file.digest.clone())
                .or_insert_with(|| logical.clone());
        }
        Stage {
            digest_algorithm,
            fixity_algorithms,
            files,
            first_with,
        }
    }

    fn hash_all(
        mut files: Vec<(LogicalPath, PathBuf)>,
        options: &StageOptions,
    ) -> Result<Stage, Error> {
        files.sort();
        check_names(files.iter().map(|(logical, source)| (logical, source)))?;
        let algorithms = algorithms(options);
        let hashed: Vec<_> = files
            .into_par_iter()
            .map(|(logical, source)| {
                let hashed = hash::hash_file(&source, &algorithms, hash::Extras::NONE);
                (logical, source, hashed)
            })
            .collect();
        Stage::from_hashed(hashed, options)
    }

    /// The stage of hashed files sorted by logical path; the first failure in that order,
    /// whichever thread met it first.
    fn from_hashed(
        hashed: Vec<(LogicalPath, PathBuf, Result<hash::Hashed, Error>)>,
        options: &StageOptions,
    ) -> Result<Stage, Error> {
        let fixity_algorithms = dedup(&options.fixity);
        let staged = hashed
            .into_iter()
            .map(|(logical, source, hashed)| {
                let mut hashed = hashed?;
                let digest = hashed.take(options.digest_algorithm);
                let fixity = fixity_algorithms
                    .iter()
                    .map(|&a| (a, hashed.take(a)))
                    .collect();
                let file = StagedFile {
                    source,
                    digest,
                    size: hashed.size,
                    fixity,
                };
                Ok((logical, file))
            })
            .collect::<Result<BTreeMap<_, _>, Error>>()?;
        Ok(Stage::assemble(
            options.digest_algorithm,
            fixity_algorithms,
            staged,
        ))
    }

    /// The content digest algorithm.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest_algorithm
    }

    /// The fixity algorithms computed, without duplicates.
    pub fn fixity_algorithms(&self) -> &[DigestAlgorithm] {
        &self.fixity_algorithms
    }

    /// The staged files by logical path, in byte order of the paths.
    pub fn files(&self) -> &BTreeMap<LogicalPath, StagedFile> {
        &self.files
    }

    /// The number of staged files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether nothing was staged.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The total size of the staged files.
    pub fn total_bytes(&self) -> u64 {
        self.files.values().map(|f| f.size).sum()
    }

    /// The state as an inventory records it: digest -> logical paths (sorted).
    pub fn state(&self) -> State {
        let mut state = State::new();
        for (logical, file) in &self.files {
            state
                .entry(file.digest.clone())
                .or_default()
                .push(logical.clone());
        }
        state
    }

    /// A staged file holding the bytes of `digest` (the first by logical path).
    pub fn file_with(&self, digest: &Digest) -> Option<(&LogicalPath, &StagedFile)> {
        let logical = self.first_with.get(digest)?;
        self.files.get_key_value(logical)
    }
}

fn check_options(options: &StageOptions) -> Result<(), Error> {
    if options.digest_algorithm.is_content_algorithm() {
        Ok(())
    } else {
        Err(Error::NotContentAlgorithm(options.digest_algorithm))
    }
}

/// The content algorithm, then the fixity algorithms without duplicates: what each file's
/// one read feeds.
fn algorithms(options: &StageOptions) -> Vec<DigestAlgorithm> {
    let mut algorithms = vec![options.digest_algorithm];
    algorithms.extend(dedup(&options.fixity));
    algorithms
}

/// Refuses a logical path staged twice, or staged both as a file and as a directory.
/// `files` must be sorted by logical path.
fn check_names<'a>(
    files: impl Iterator<Item = (&'a LogicalPath, &'a PathBuf)> + Clone,
) -> Result<(), Error> {
    let mut previous: Option<(&LogicalPath, &PathBuf)> = None;
    for (logical, source) in files.clone() {
        if let Some((before, first)) = previous
            && before == logical
        {
            return Err(Error::Duplicate {
                logical: logical.to_string(),
                first: first.clone(),
                second: source.clone(),
            });
        }
        previous = Some((logical, source));
    }
    let names: Vec<&str> = files.map(|(logical, _)| logical.as_str()).collect();
    if let Some((file, inside)) = find_conflict(&names) {
        return Err(Error::Conflict {
            file: file.to_owned(),
            inside: inside.to_owned(),
        });
    }
    Ok(())
}

fn dedup(algorithms: &[DigestAlgorithm]) -> Vec<DigestAlgorithm> {
    let mut out: Vec<DigestAlgorithm> = Vec::new();
    for &a in algorithms {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests;
