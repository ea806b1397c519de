//! The content files: walking every version's content directory (E024, E089, E090, W003),
//! checking each file's digests as it is found (see [`fixity`]), and matching what is found
//! against the manifests (E023 unreferenced files, E092 missing ones).
//!
//! A large object's walk may start before its inventory is parsed ([`walk_early`]): files
//! are then hashed with the algorithm the root sidecar names, and the digests are matched
//! against the claims once they are known; whatever that cannot settle is read again the
//! usual way, so the findings are those of the ordinary walk.

use foldhash::{HashMap, HashMapExt, HashSet};
use rayon::prelude::*;

use super::ObjectFs;
use super::fixity::{self, Claims};
use super::inventory_file::InventoryFile;
use super::version_dirs::VersionDir;
use crate::digest::{Digest, DigestAlgorithm};
use crate::inventory::Inventory;
use crate::storage::{Directory, Entry, EntryKind, StorageError};
use crate::validate::code::{Code, Finding};
use crate::validate::report::ObjectReport;
use crate::version_num::VersionNum;

/// The regular files found in content directories: content path (relative to the object
/// root) -> number of the version directory holding it. These are the only content files
/// validation ever opens. A hash map: it is probed once per manifest path and paths share long
/// prefixes, which makes ordered-map comparisons costly; reports sort what they print.
pub(super) type ContentFiles = HashMap<String, u32>;

/// Digest findings by content path, for the files whose bytes did not match a claim.
pub(super) type DigestFindings = Vec<(String, Vec<Finding>)>;

/// Lists every version's content directory recursively, never following links, and checks
/// the digests `claims` gives for each file the moment it is found.
///
/// Directories are opened through handles ([`crate::storage::Directory`]), so each file is
/// opened by its name relative to its directory rather than by a path walked from the
/// storage root. Directories and files are visited in parallel (one object may hold most of
/// a root's files); findings keep the listing's order, so reports do not depend on timing.
///
/// `early` is what [`walk_early`] found, if it ran: a content directory it walked is not
/// walked again, only its files whose claims its digests cannot settle are read again.
pub(super) fn walk(
    object: &ObjectFs<'_>,
    versions: &[VersionDir],
    claims: &Claims<'_>,
    early: Option<EarlyWalk>,
    report: &mut ObjectReport,
) -> (ContentFiles, DigestFindings) {
    let (algorithm, mut early) = match early {
        Some(early) => (Some(early.algorithm), early.walked),
        None => (None, Vec::new()),
    };
    let inputs: Vec<(&VersionDir, Option<Walked>)> = versions
        .iter()
        .map(|version| {
            let found = version.content_dir.as_ref().and_then(|content_dir| {
                let at = early.iter().position(|(dir, _)| dir == content_dir)?;
                early.swap_remove(at).1.ok()
            });
            (version, found)
        })
        .collect();
    let walked: Vec<Walked> = inputs
        .into_par_iter()
        .map(|(version, found)| {
            let Some(content_dir) = &version.content_dir else {
                return Walked::default();
            };
            if let (Some(found), Some(algorithm)) = (found, algorithm) {
                return settle(object, found, algorithm, claims);
            }
            // `v1/content`: opened from the object root, one element at a time.
            let opened = match content_dir.split_once('/') {
                Some((version_dir, content)) => object
                    .dir
                    .open_dir(version_dir)
                    .and_then(|v| walk_content(&*v, content, content_dir, Hashing::Claims(claims))),
                None => Err(StorageError::InvalidPath(content_dir.clone())),
            };
            match opened {
                Ok(walked) => walked,
                Err(e) => {
                    Walked::finding(Code::E023, format!("{content_dir}: cannot be listed: {e}"))
                }
            }
        })
        .collect();
    let mut files = ContentFiles::new();
    let mut digests = DigestFindings::new();
    for (version, walked) in versions.iter().zip(walked) {
        for finding in walked.findings {
            report.push(finding);
        }
        // A content directory holding files the manifest does not name is E023's business;
        // W003 is for one that holds nothing at all.
        if let Some(content_dir) = &version.content_dir
            && walked.files.is_empty()
            && version.adds_content == Some(false)
        {
            report.add(
                Code::W003,
                format!("{content_dir}: the version adds no content, so it should have no content directory"),
            );
        }
        let number = version.number.number();
        files.extend(walked.files.into_iter().map(|path| (path, number)));
        digests.extend(walked.digests);
    }
    (files, digests)
}

/// What [`walk_early`] found: by content directory (`v1/content`), its walk or why it could
/// not be opened, with every regular file hashed by `algorithm`.
pub(super) struct EarlyWalk {
    algorithm: DigestAlgorithm,
    walked: Vec<(String, Result<Walked, StorageError>)>,
}

/// Walks the content directory `content` (the usual name: the inventory that could name
/// another is not parsed yet) of every directory in the object root named like a version,
/// hashing every regular file with `algorithm`, for [`walk`] to match against the claims.
/// Only files found by listing are read, as in the ordinary walk.
pub(super) fn walk_early(
    object: &ObjectFs<'_>,
    root_entries: &[Entry],
    content: &str,
    algorithm: DigestAlgorithm,
) -> EarlyWalk {
    let walked = root_entries
        .par_iter()
        .filter(|e| e.kind == EntryKind::Directory && VersionNum::parse(&e.name).is_ok())
        .map(|version| {
            let path = format!("{}/{content}", version.name);
            let walked = object
                .dir
                .open_dir(&version.name)
                .and_then(|v| walk_content(&*v, content, &path, Hashing::Every(algorithm)));
            (path, walked)
        })
        .collect();
    EarlyWalk { algorithm, walked }
}

/// Checks the claims on the files `walked` found and hashed with `algorithm`: a file whose
/// claims are all of that algorithm and all match needs nothing more; any other claimed file
/// is read again and checked as the ordinary walk checks it (a mismatch is thereby
/// confirmed by an exact read before it is reported).
fn settle(
    object: &ObjectFs<'_>,
    mut walked: Walked,
    algorithm: DigestAlgorithm,
    claims: &Claims<'_>,
) -> Walked {
    let hashed = std::mem::take(&mut walked.hashed);
    let unsettled: Vec<(&str, &[fixity::Claim<'_>])> = walked
        .files
        .iter()
        .zip(hashed)
        .filter_map(|(path, digest)| {
            let claims = claims.get(path.as_str())?;
            let settled =
                digest.is_some_and(|digest| fixity::all_match(claims, algorithm, &digest));
            (!settled).then_some((path.as_str(), claims.as_slice()))
        })
        .collect();
    walked.digests = unsettled
        .into_par_iter()
        .filter_map(|(path, claims)| {
            let findings = verify_below(object.dir, path, path, claims);
            (!findings.is_empty()).then(|| (path.to_owned(), findings))
        })
        .collect();
    walked
}

/// Checks the claims on the file at `rest` below `dir` (content path `path`), opening one
/// directory at a time as the walk did.
fn verify_below(
    dir: &dyn Directory,
    rest: &str,
    path: &str,
    claims: &[fixity::Claim<'_>],
) -> Vec<Finding> {
    match rest.split_once('/') {
        None => fixity::verify_file(dir, rest, path, claims),
        Some((name, rest)) => match dir.open_dir(name) {
            Ok(child) => verify_below(&*child, rest, path, claims),
            Err(e) => vec![fixity::unreadable(path, &e.to_string())],
        },
    }
}

/// What the walk does with each regular file it finds.
#[derive(Clone, Copy)]
enum Hashing<'c, 'a> {
    /// Checks the claims on it.
    Claims(&'c Claims<'a>),
    /// Hashes it with this algorithm, for claims not known yet.
    Every(DigestAlgorithm),
}

/// Opens `name` in the version directory `version` and walks it.
fn walk_content(
    version: &dyn Directory,
    name: &str,
    path: &str,
    hashing: Hashing<'_, '_>,
) -> Result<Walked, StorageError> {
    let dir = version.open_dir(name)?;
    Ok(walk_dir(&*dir, path, true, hashing))
}

/// What walking (part of) a content directory found, in listing order.
#[derive(Default)]
struct Walked {
    /// Regular files: content paths relative to the object root.
    files: Vec<String>,
    findings: Vec<Finding>,
    digests: DigestFindings,
    /// With [`Hashing::Every`], each file's digest (`None` if it could not be read), in the
    /// order of `files`.
    hashed: Vec<Option<Digest>>,
}

impl Walked {
    fn finding(code: Code, message: String) -> Walked {
        Walked {
            findings: vec![Finding::new(code, message)],
            ..Walked::default()
        }
    }

    fn append(mut self, other: Walked) -> Walked {
        self.extend(other);
        self
    }

    fn extend(&mut self, mut other: Walked) {
        self.files.append(&mut other.files);
        self.findings.append(&mut other.findings);
        self.digests.append(&mut other.digests);
        self.hashed.append(&mut other.hashed);
    }
}

/// Walks the open directory `dir`, whose path relative to the object root is `path`.
fn walk_dir(dir: &dyn Directory, path: &str, top: bool, hashing: Hashing<'_, '_>) -> Walked {
    let entries = match dir.list() {
        Ok(entries) => entries,
        Err(e) => return Walked::finding(Code::E023, format!("{path}: cannot be listed: {e}")),
    };
    let mut walked = Walked::default();
    if entries.is_empty() && !top {
        walked.findings.push(Finding::new(
            Code::E024,
            format!("{path}: empty directory inside a content directory"),
        ));
    }
    let below = entries
        .par_iter()
        .fold(Walked::default, |mut found, entry| {
            visit(dir, path, entry, hashing, &mut found);
            found
        })
        .reduce(Walked::default, Walked::append);
    walked.extend(below);
    walked
}

/// Records one entry of `dir` (at `dir_path`): hashes a file (with claims, or every file
/// for an early walk), walks a directory.
fn visit(
    dir: &dyn Directory,
    dir_path: &str,
    entry: &Entry,
    hashing: Hashing<'_, '_>,
    found: &mut Walked,
) {
    let path = format!("{dir_path}/{}", entry.name);
    match entry.kind {
        EntryKind::File => {
            match hashing {
                Hashing::Claims(claims) => {
                    if let Some(claims) = claims.get(path.as_str()) {
                        let findings = fixity::verify_file(dir, &entry.name, &path, claims);
                        if !findings.is_empty() {
                            found.digests.push((path.clone(), findings));
                        }
                    }
                }
                Hashing::Every(algorithm) => {
                    let mut hasher = algorithm.hasher();
                    let read = dir.stream_file(&entry.name, &mut |chunk| hasher.update(chunk));
                    found.hashed.push(read.ok().map(|()| hasher.finalize()));
                }
            }
            found.files.push(path);
        }
        EntryKind::Directory => match dir.open_dir(&entry.name) {
            Ok(child) => found.extend(walk_dir(&*child, &path, false, hashing)),
            Err(e) => found.findings.push(Finding::new(
                Code::E023,
                format!("{path}: cannot be listed: {e}"),
            )),
        },
        EntryKind::Symlink => found.findings.push(Finding::new(
            Code::E090,
            format!("{path}: symbolic links are not allowed in an object (not followed)"),
        )),
        EntryKind::Other => found.findings.push(Finding::new(
            Code::E089,
            format!("{path}: not a regular file or directory (device, socket or FIFO)"),
        )),
    }
}

/// Checks that every content file is in the manifests and every manifest path is a content
/// file. A version directory's inventory covers the content of its own and earlier versions;
/// problems the root inventory already shows are not repeated for each prior inventory (so a
/// prior inventory dropped as redundant, which would add nothing here, is skipped).
pub(super) fn check_references(
    root: Option<&InventoryFile>,
    versions: &[VersionDir],
    files: &ContentFiles,
    report: &mut ObjectReport,
) {
    let root_inventory = root.and_then(|f| f.inventory.as_ref());
    let root_paths = root_inventory.map(manifest_paths);
    if let Some(inventory) = root_inventory {
        check_one("inventory.json", inventory, u32::MAX, files, None, report);
    }
    for version in versions {
        let Some(file) = &version.inventory else {
            continue;
        };
        let Some(inventory) = &file.inventory else {
            continue;
        };
        check_one(
            &file.location(),
            inventory,
            version.number.number(),
            files,
            root_paths.as_ref(),
            report,
        );
    }
}

/// Checks one inventory against the content files of versions up to `up_to`. `root_paths`
/// (the root manifest's paths, when checking a prior inventory) suppresses what the root's
/// own check already reported: missing files it names, and files it does not name.
fn check_one(
    location: &str,
    inventory: &Inventory,
    up_to: u32,
    files: &ContentFiles,
    root_paths: Option<&HashSet<&str>>,
    report: &mut ObjectReport,
) {
    let in_root = |path: &str| root_paths.is_some_and(|r| r.contains(path));
    let paths = manifest_paths(inventory);
    let mut missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| !files.contains_key(*p) && !in_root(p))
        .collect();
    missing.sort_unstable();
    for path in missing {
        report.add(
            Code::E092,
            format!(
                "{location}: manifest names {path}, which is not a file in a content directory"
            ),
        );
    }
    let mut unreferenced: Vec<&str> = files
        .iter()
        .filter(|(path, version)| {
            **version <= up_to
                && !paths.contains(path.as_str())
                && (root_paths.is_none() || in_root(path))
        })
        .map(|(path, _)| path.as_str())
        .collect();
    unreferenced.sort_unstable();
    for path in unreferenced {
        report.add(
            Code::E023,
            format!("{path}: content file is not in the manifest of {location}"),
        );
    }
}

fn manifest_paths(inventory: &Inventory) -> HashSet<&str> {
    inventory
        .manifest
        .values()
        .flatten()
        .map(|p| p.as_str())
        .collect()
}
