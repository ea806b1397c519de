//! Which versions changed which files: the version that last changed each file of a
//! version (`ocfl ls --long`) and the versions that changed one logical path (`ocfl log ID
//! PATH`). Pure functions of an inventory.

use std::collections::HashMap;

use crate::digest::Digest;
use crate::inventory::{Inventory, State};
use crate::version_num::VersionNum;

/// How a version changed one logical path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathChange {
    /// The path appeared.
    Added,
    /// The path holds other content than in the version before.
    Modified,
    /// The path is gone.
    Removed,
}

impl PathChange {
    /// `added`, `modified` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            PathChange::Added => "added",
            PathChange::Modified => "modified",
            PathChange::Removed => "removed",
        }
    }
}

/// A version that changed a logical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathVersion<'i> {
    /// The version, as the inventory names it.
    pub version: VersionNum,
    /// What it did to the path.
    pub change: PathChange,
    /// The path's digest in that version (`None` once removed).
    pub digest: Option<&'i Digest>,
}

/// The versions of `inventory` that changed logical path `path`, oldest first: where it
/// appeared, changed content or disappeared.
pub fn path_history<'i>(inventory: &'i Inventory, path: &str) -> Vec<PathVersion<'i>> {
    let mut history = Vec::new();
    let mut before: Option<&Digest> = None;
    for (num, version) in &inventory.versions {
        let now = digest_at(&version.state, path);
        let change = match (before, now) {
            (None, Some(_)) => Some(PathChange::Added),
            (Some(_), None) => Some(PathChange::Removed),
            (Some(old), Some(new)) if old != new => Some(PathChange::Modified),
            _ => None,
        };
        if let Some(change) = change {
            history.push(PathVersion {
                version: *num,
                change,
                digest: now,
            });
        }
        before = now;
    }
    history
}

/// For every logical path of `version` of `inventory`, the version that last changed it
/// (added it or gave it its present content): the first of the unbroken run of versions up to
/// `version` in which the path has the same digest. `None` if the inventory has no such
/// version.
pub fn last_changed(
    inventory: &Inventory,
    version: VersionNum,
) -> Option<HashMap<&str, VersionNum>> {
    inventory
        .versions
        .keys()
        .any(|v| v.number() == version.number())
        .then_some(())?;
    // path -> (digest, since)
    let mut since: HashMap<&str, (&Digest, VersionNum)> = HashMap::new();
    for (num, state) in &inventory.versions {
        let mut next = HashMap::with_capacity(since.len());
        for (digest, paths) in &state.state {
            for path in paths {
                let path = path.as_str();
                let first = match since.get(path) {
                    Some((old, first)) if *old == digest => *first,
                    _ => *num,
                };
                next.insert(path, (digest, first));
            }
        }
        since = next;
        if num.number() == version.number() {
            break;
        }
    }
    Some(since.into_iter().map(|(p, (_, v))| (p, v)).collect())
}

fn digest_at<'s>(state: &'s State, path: &str) -> Option<&'s Digest> {
    state
        .iter()
        .find(|(_, paths)| paths.iter().any(|p| p.as_str() == path))
        .map(|(digest, _)| digest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::inventory::parse_inventory;

    /// v1: a=1, b=2; v2: a=1, b=3, c=1; v3: a=4, c=1; v4: a=4, b=2, c=1.
    fn inventory() -> Inventory {
        let d = |n: u8| format!("{n:0128}");
        let text = serde_json::json!({
            "id": "x",
            "type": "https://ocfl.io/1.1/spec/#inventory",
            "digestAlgorithm": "sha512",
            "head": "v4",
            "manifest": {
                d(1): ["v1/content/a"], d(2): ["v1/content/b"],
                d(3): ["v2/content/b"], d(4): ["v3/content/a"],
            },
            "versions": {
                "v1": {"created": "2024-01-01T00:00:00Z", "state": {d(1): ["a"], d(2): ["b"]}},
                "v2": {"created": "2024-01-02T00:00:00Z", "state": {d(1): ["a", "c"], d(3): ["b"]}},
                "v3": {"created": "2024-01-03T00:00:00Z", "state": {d(4): ["a"], d(1): ["c"]}},
                "v4": {"created": "2024-01-04T00:00:00Z", "state": {d(4): ["a"], d(2): ["b"], d(1): ["c"]}},
            }
        })
        .to_string();
        let parsed = parse_inventory(text.as_bytes());
        assert!(!parsed.has_errors(), "{:?}", parsed.findings);
        parsed.inventory.unwrap()
    }

    fn v(n: u32) -> VersionNum {
        VersionNum::parse(&format!("v{n}")).unwrap()
    }

    #[test]
    fn a_path_history_names_each_change() {
        let inventory = inventory();
        let changes = |path| -> Vec<(u32, &str)> {
            path_history(&inventory, path)
                .iter()
                .map(|c| (c.version.number(), c.change.as_str()))
                .collect()
        };
        assert_eq!(changes("a"), [(1, "added"), (3, "modified")]);
        assert_eq!(
            changes("b"),
            [(1, "added"), (2, "modified"), (3, "removed"), (4, "added")]
        );
        assert_eq!(changes("c"), [(2, "added")]);
        assert!(changes("nowhere").is_empty());
        assert_eq!(path_history(&inventory, "b")[2].digest, None);
    }

    #[test]
    fn last_changed_is_where_the_present_content_began() {
        let inventory = inventory();
        let at = |version| {
            let mut found: Vec<(String, u32)> = last_changed(&inventory, v(version))
                .unwrap()
                .into_iter()
                .map(|(p, v)| (p.to_owned(), v.number()))
                .collect();
            found.sort();
            found
        };
        assert_eq!(at(4), [("a".into(), 3), ("b".into(), 4), ("c".into(), 2)]);
        assert_eq!(at(2), [("a".into(), 1), ("b".into(), 2), ("c".into(), 2)]);
        assert_eq!(at(1), [("a".into(), 1), ("b".into(), 1)]);
        assert!(last_changed(&inventory, v(5)).is_none());
    }
}
