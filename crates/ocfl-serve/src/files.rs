//! A page of a version's files by logical path: the files are kept sorted
//! ([`VersionFiles`]), so a page is a binary search for the cursor and the next `limit`
//! files, whatever the version's size.

use ocfl_core::inventory::{FileRef, VersionFiles};

/// The files of a page, the version's number of files, and the `next` cursor.
pub struct FilesPage<'o> {
    /// At most `limit` files, by path.
    pub files: Vec<FileRef<'o>>,
    /// How many files the version has.
    pub total: usize,
    /// The last path of the page when more follow.
    pub next: Option<String>,
}

/// The files of `files` whose path sorts after `after`, at most `limit`.
pub fn files_page<'o>(files: &'o VersionFiles, after: Option<&str>, limit: usize) -> FilesPage<'o> {
    let mut rest = files.after(after);
    let page: Vec<FileRef<'o>> = rest.by_ref().take(limit).collect();
    let next = rest
        .next()
        .and(page.last())
        .map(|last| last.path.to_owned());
    FilesPage {
        files: page,
        total: files.len(),
        next,
    }
}
