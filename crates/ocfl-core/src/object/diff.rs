//! What changed between two versions' states: files added, removed, modified (same
//! logical path, other content) and renamed (content that left one path and appeared at
//! another). A pure function of the two states.

use std::collections::BTreeMap;

use super::error::ObjectError;
use super::reader::Object;
use crate::digest::Digest;
use crate::inventory::State;
use crate::path::LogicalPath;
use crate::version_num::VersionNum;

/// A logical path and its content digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathDigest {
    /// The logical path.
    pub path: LogicalPath,
    /// Its content digest.
    pub digest: Digest,
}

/// A logical path present in both versions with different content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modified {
    /// The logical path.
    pub path: LogicalPath,
    /// Its digest in the first version.
    pub from: Digest,
    /// Its digest in the second version.
    pub to: Digest,
}

/// Content that moved: gone from `from`, present at `to`, with the same digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// The logical path in the first version (absent from the second).
    pub from: LogicalPath,
    /// The logical path in the second version (absent from the first).
    pub to: LogicalPath,
    /// The content digest.
    pub digest: Digest,
}

/// The differences between two versions, each list sorted by (first) logical path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionDiff {
    /// Paths only in the second version (and not explained as a rename).
    pub added: Vec<PathDigest>,
    /// Paths only in the first version (and not explained as a rename).
    pub removed: Vec<PathDigest>,
    /// Paths in both with different content.
    pub modified: Vec<Modified>,
    /// Paths only in the first version whose content appears at a path only in the second.
    pub renamed: Vec<Renamed>,
}

impl VersionDiff {
    /// Whether the two versions hold the same files.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.modified.is_empty()
            && self.renamed.is_empty()
    }
}

/// The differences from state `from` to state `to`.
///
/// A removed path and an added path with the same digest are paired as a rename; when
/// several removed and added paths share a digest they are paired in path order and the
/// rest stay removed or added.
pub fn diff_states(from: &State, to: &State) -> VersionDiff {
    let before = by_path(from);
    let after = by_path(to);
    let mut diff = VersionDiff::default();
    // digest -> paths that lost / gained it, in path order (BTreeMap iteration order).
    let mut gone: BTreeMap<&Digest, Vec<&LogicalPath>> = BTreeMap::new();
    let mut new: BTreeMap<&Digest, Vec<&LogicalPath>> = BTreeMap::new();
    for (path, digest) in &before {
        match after.get(path) {
            None => gone.entry(digest).or_default().push(path),
            Some(now) if now != digest => diff.modified.push(Modified {
                path: (*path).clone(),
                from: (*digest).clone(),
                to: (*now).clone(),
            }),
            Some(_) => {}
        }
    }
    for (path, digest) in &after {
        if !before.contains_key(path) {
            new.entry(digest).or_default().push(path);
        }
    }
    for (digest, removed) in gone {
        let mut added = new.remove(digest).unwrap_or_default().into_iter();
        for path in removed {
            match added.next() {
                Some(to) => diff.renamed.push(Renamed {
                    from: path.clone(),
                    to: to.clone(),
                    digest: digest.clone(),
                }),
                None => diff.removed.push(PathDigest {
                    path: path.clone(),
                    digest: digest.clone(),
                }),
            }
        }
        let rest: Vec<&LogicalPath> = added.collect();
        if !rest.is_empty() {
            new.insert(digest, rest);
        }
    }
    for (digest, paths) in new {
        for path in paths {
            diff.added.push(PathDigest {
                path: path.clone(),
                digest: digest.clone(),
            });
        }
    }
    diff.added.sort_by(|a, b| a.path.cmp(&b.path));
    diff.removed.sort_by(|a, b| a.path.cmp(&b.path));
    diff.renamed.sort_by(|a, b| a.from.cmp(&b.from));
    diff
}

fn by_path(state: &State) -> BTreeMap<&LogicalPath, &Digest> {
    state
        .iter()
        .flat_map(|(digest, paths)| paths.iter().map(move |path| (path, digest)))
        .collect()
}

impl Object<'_> {
    /// The differences from version `from` to version `to` of this object.
    pub fn diff(&self, from: VersionNum, to: VersionNum) -> Result<VersionDiff, ObjectError> {
        let (_, before) = self.version(Some(from))?;
        let (_, after) = self.version(Some(to))?;
        Ok(diff_states(&before.state, &after.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(files: &[(&str, &str)]) -> State {
        let mut state = State::new();
        for (path, content) in files {
            let digest = crate::digest::DigestAlgorithm::Sha256.digest_bytes(content.as_bytes());
            state
                .entry(digest)
                .or_default()
                .push(LogicalPath::new(*path).expect("valid path"));
        }
        state
    }

    fn paths(list: &[PathDigest]) -> Vec<&str> {
        list.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn each_kind_of_change() {
        let from = state(&[
            ("keep", "k"),
            ("edit", "1"),
            ("old-name", "moved"),
            ("gone", "g"),
        ]);
        let to = state(&[
            ("keep", "k"),
            ("edit", "2"),
            ("new-name", "moved"),
            ("fresh", "f"),
        ]);
        let diff = diff_states(&from, &to);
        assert_eq!(paths(&diff.added), ["fresh"]);
        assert_eq!(paths(&diff.removed), ["gone"]);
        assert_eq!(diff.modified.len(), 1);
        assert_eq!(diff.modified[0].path.as_str(), "edit");
        assert_ne!(diff.modified[0].from, diff.modified[0].to);
        assert_eq!(diff.renamed.len(), 1);
        assert_eq!(diff.renamed[0].from.as_str(), "old-name");
        assert_eq!(diff.renamed[0].to.as_str(), "new-name");
        assert!(diff_states(&from, &from).is_empty());
    }

    #[test]
    fn shared_content_pairs_in_path_order_and_leaves_the_rest() {
        let from = state(&[("a1", "same"), ("a2", "same"), ("a3", "same")]);
        let to = state(&[("b1", "same"), ("b2", "same")]);
        let diff = diff_states(&from, &to);
        let renames: Vec<(&str, &str)> = diff
            .renamed
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str()))
            .collect();
        assert_eq!(renames, [("a1", "b1"), ("a2", "b2")]);
        assert_eq!(paths(&diff.removed), ["a3"]);
        assert!(diff.added.is_empty());

        // A copy (content kept at its old path and added at a new one) is an addition.
        let copied = state(&[
            ("a1", "same"),
            ("a2", "same"),
            ("a3", "same"),
            ("c", "same"),
        ]);
        let diff = diff_states(&from, &copied);
        assert_eq!(paths(&diff.added), ["c"]);
        assert!(diff.renamed.is_empty() && diff.removed.is_empty());
    }
}
