//! Walking a source directory into (logical path, source file) pairs, refusing what OCFL
//! cannot store.

use std::path::{Path, PathBuf};

use ocfl_core::path::LogicalPath;
use walkdir::WalkDir;

use super::Error;

/// Gives every regular file below `root`, with its logical path, to `found` as the walk meets
/// it (in file-name order within each directory). Directories only contribute their names;
/// links are refused unless `follow_symlinks`.
pub(super) fn walk(
    root: &Path,
    follow_symlinks: bool,
    found: &mut dyn FnMut(LogicalPath, PathBuf),
) -> Result<(), Error> {
    let meta = std::fs::metadata(root).map_err(|source| Error::Unreadable {
        path: root.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(Error::Walk {
            path: root.to_path_buf(),
            message: "the source is not a directory".into(),
        });
    }
    let walker = WalkDir::new(root)
        .min_depth(1)
        .follow_links(follow_symlinks)
        .sort_by_file_name();
    for entry in walker {
        let entry = entry.map_err(|e| walk_error(root, e))?;
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(path);
        let Some(relative) = relative.to_str() else {
            return Err(Error::NotUtf8 {
                path: PathBuf::from(path.to_string_lossy().into_owned()),
            });
        };
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        if file_type.is_symlink() {
            return Err(Error::Symlink {
                path: path.to_path_buf(),
            });
        }
        if !file_type.is_file() {
            return Err(Error::SpecialFile {
                path: path.to_path_buf(),
            });
        }
        found(logical_path(relative, path)?, path.to_path_buf());
    }
    Ok(())
}

/// Checks `logical` (the path of `source` relative to the staged root) as a logical path.
pub(super) fn logical_path(logical: &str, source: &Path) -> Result<LogicalPath, Error> {
    let forbidden = |reason: String| Error::ForbiddenPath {
        path: source.to_path_buf(),
        logical: logical.to_owned(),
        reason,
    };
    LogicalPath::new(logical).map_err(|e| forbidden(e.to_string()))
}

fn walk_error(root: &Path, error: walkdir::Error) -> Error {
    let path = error.path().unwrap_or(root).to_path_buf();
    if error.loop_ancestor().is_some() {
        return Error::Walk {
            path,
            message: "symbolic link loop".into(),
        };
    }
    match error.into_io_error() {
        Some(source) => Error::Unreadable { path, source },
        None => Error::Walk {
            path,
            message: "directory walk failed".into(),
        },
    }
}
