//! A page of a version's files by logical path, without sorting the whole version: the
//! paths after the cursor are selected (`select_nth_unstable`, linear) and only the page is
//! sorted and looked up in the manifest. A page of a 100,000-file version then costs one
//! pass over its state, not a sort and 100,000 manifest look-ups.

use ocfl_core::inventory::Version;
use ocfl_core::object::{FileEntry, Object};

use crate::error::Failure;

/// The files of a page, the version's number of files, and the `next` cursor.
pub struct FilesPage<'o> {
    /// At most `limit` files, by path.
    pub files: Vec<FileEntry<'o>>,
    /// How many files the version has.
    pub total: usize,
    /// The last path of the page when more follow.
    pub next: Option<String>,
}

/// The files of `version` of `object` whose path sorts after `after`, at most `limit`.
pub fn files_page<'o>(
    object: &'o Object<'_>,
    version: &'o Version,
    after: Option<&str>,
    limit: usize,
) -> Result<FilesPage<'o>, Failure> {
    let mut total = 0;
    let mut rest = Vec::new();
    for (digest, paths) in &version.state {
        total += paths.len();
        for path in paths {
            if after.is_none_or(|after| path.as_str() > after) {
                rest.push((path, digest));
            }
        }
    }
    let more = rest.len() > limit;
    if more {
        rest.select_nth_unstable_by(limit, |a, b| a.0.cmp(b.0));
        rest.truncate(limit);
    }
    rest.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let manifest = &object.inventory().manifest;
    let files = rest
        .into_iter()
        .map(|(path, digest)| {
            let content_path = manifest
                .get(digest)
                .and_then(|paths| paths.first())
                .ok_or_else(|| {
                    Failure::internal(format!(
                        "object {:?}: {path} has a digest the manifest does not list",
                        object.id()
                    ))
                })?;
            Ok(FileEntry {
                path,
                digest,
                content_path,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let next = more
        .then(|| files.last().map(|f| f.path.as_str().to_owned()))
        .flatten();
    Ok(FilesPage { files, total, next })
}
