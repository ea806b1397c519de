//! A stage from an object's recorded state and a few file-level edits: only the files an edit
//! adds are read; everything else comes from the inventory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ocfl_core::inventory::State;
use ocfl_core::path::LogicalPath;
use rayon::prelude::*;

use super::{Error, Stage, StageOptions, StagedFile, check_options, dedup, hash, walk};

/// One file-level change to an object's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// The file `source` at logical path `dest` (replacing what is there), or every file below
    /// the directory `source` under `dest`.
    Add {
        /// A file or directory to read.
        source: PathBuf,
        /// Its logical path (a directory's files go below it).
        dest: String,
    },
    /// The file `path`, or every file below the directory `path`, taken out of the state.
    Remove {
        /// A logical path of the state, file or directory.
        path: String,
    },
    /// The file or directory `from` renamed to `to`, which must not exist yet.
    Move {
        /// A logical path of the state, file or directory.
        from: String,
        /// The new logical path.
        to: String,
    },
}

impl Stage {
    /// The stage holding `state` (an inventory's version state) changed by `edits`: removals
    /// first, then moves, then additions, each kind in the order given. Files of the state are
    /// not read: their digests come from `state`, their size is recorded as 0, and their
    /// source is `recorded/<logical path>` (never read: an object already holds their bytes,
    /// so a plan copies none of them). Added files are read and hashed as
    /// [`Stage::from_directory`] reads its files, with its refusals (links unless followed,
    /// special files, paths the specification forbids, a file changed while it was read).
    pub fn from_edits(
        state: &State,
        recorded: &Path,
        edits: &[Edit],
        options: &StageOptions,
    ) -> Result<Stage, Error> {
        check_options(options)?;
        let mut files: BTreeMap<LogicalPath, StagedFile> = BTreeMap::new();
        for (digest, paths) in state {
            for logical in paths {
                files.insert(
                    logical.clone(),
                    StagedFile {
                        source: recorded.join(logical.as_str()),
                        digest: digest.clone(),
                        size: 0,
                        fixity: Vec::new(),
                    },
                );
            }
        }
        for edit in edits {
            if let Edit::Remove { path } = edit {
                let found = matching(&files, path);
                if found.is_empty() {
                    return Err(Error::NotInState { path: path.clone() });
                }
                for logical in found {
                    files.remove(&logical);
                }
            }
        }
        for edit in edits {
            if let Edit::Move { from, to } = edit {
                let found = matching(&files, from);
                if found.is_empty() {
                    return Err(Error::NotInState { path: from.clone() });
                }
                let mut moved = Vec::with_capacity(found.len());
                for logical in found {
                    let rest = &logical.as_str()[from.len()..];
                    let target = format!("{to}{rest}");
                    let file = files.remove(&logical).ok_or_else(|| Error::NotInState {
                        path: logical.to_string(),
                    })?;
                    let target = walk::logical_path(&target, Path::new(&target))?;
                    moved.push((target, file));
                }
                for (target, file) in moved {
                    if files.contains_key(&target) {
                        return Err(Error::Occupied {
                            path: target.to_string(),
                        });
                    }
                    files.insert(target, file);
                }
            }
        }
        let mut added: Vec<(LogicalPath, PathBuf)> = Vec::new();
        for edit in edits {
            if let Edit::Add { source, dest } = edit {
                add_source(source, dest, options.follow_symlinks, &mut added)?;
            }
        }
        added.sort();
        super::check_names(added.iter().map(|(logical, source)| (logical, source)))?;
        let algorithms = super::algorithms(options);
        let hashed: Vec<_> = added
            .into_par_iter()
            .map(|(logical, source)| {
                let hashed = hash::hash_file(&source, &algorithms, hash::Extras::NONE);
                (logical, source, hashed)
            })
            .collect();
        let fixity_algorithms = dedup(&options.fixity);
        for (logical, source, hashed) in hashed {
            let mut hashed = hashed?;
            let digest = hashed.take(options.digest_algorithm);
            let fixity = fixity_algorithms
                .iter()
                .map(|&a| (a, hashed.take(a)))
                .collect();
            files.insert(
                logical,
                StagedFile {
                    source,
                    digest,
                    size: hashed.size,
                    fixity,
                },
            );
        }
        // Files of the state carry no fixity digests: a stage with fixity algorithms would
        // record them for new content only, which `from_parts` allows.
        Stage::from_parts(options.digest_algorithm, fixity_algorithms, files)
    }
}

/// The logical paths `path` names in `files`: itself as a file, or every file below it as a
/// directory.
fn matching(files: &BTreeMap<LogicalPath, StagedFile>, path: &str) -> Vec<LogicalPath> {
    let path = path.trim_end_matches('/');
    let prefix = format!("{path}/");
    files
        .keys()
        .filter(|k| k.as_str() == path || k.as_str().starts_with(&prefix))
        .cloned()
        .collect()
}

/// The (logical path, source file) pairs an `--add` of `source` at `dest` stages.
fn add_source(
    source: &Path,
    dest: &str,
    follow_symlinks: bool,
    out: &mut Vec<(LogicalPath, PathBuf)>,
) -> Result<(), Error> {
    let unreadable = |e| Error::Unreadable {
        path: source.to_path_buf(),
        source: e,
    };
    let link = std::fs::symlink_metadata(source).map_err(unreadable)?;
    if link.file_type().is_symlink() && !follow_symlinks {
        return Err(Error::Symlink {
            path: source.to_path_buf(),
        });
    }
    let meta = std::fs::metadata(source).map_err(unreadable)?;
    let dest = dest.trim_end_matches('/');
    if meta.is_dir() {
        let mut error = None;
        walk::walk(source, follow_symlinks, &mut |relative, path| {
            let logical = format!("{dest}/{}", relative.as_str());
            match walk::logical_path(&logical, &path) {
                Ok(logical) => out.push((logical, path)),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        })?;
        if let Some(e) = error {
            return Err(e);
        }
        return Ok(());
    }
    out.push((walk::logical_path(dest, source)?, source.to_path_buf()));
    Ok(())
}
