//! When a prior inventory (one in a version directory, not a copy of the root's) is redundant
//! with the root inventory, so that it can be dropped as soon as it has been checked against
//! the root's (see `version_dirs::check_each`).
//!
//! Why: keeping every version's inventory parsed until the end made the memory of validating
//! an object grow as versions x files (an object of 100,000 files at v3 held three parsed
//! inventories at once). An older inventory of a sound object says nothing about its content
//! that the root's does not, so the checks made after loading (content references, digests,
//! fixity) find nothing through it. An inventory that is not redundant (a defective object)
//! stays parsed and is checked as before.

use foldhash::{HashMap, HashMapExt};
use std::hash::Hash;
use std::sync::OnceLock;

use crate::digest::DigestAlgorithm;
use crate::inventory::Inventory;
use crate::version_num::VersionNum;

/// The root inventory, indexed on first use (by whichever thread loading the version
/// directories needs it first) for judging prior inventories.
pub(super) struct Redundancy<'a> {
    root: &'a Inventory,
    /// The root manifest by content path.
    manifest: OnceLock<Index<'a, &'a str>>,
    /// The root fixity by (algorithm name, content path), for the algorithms we support.
    fixity: OnceLock<Index<'a, (&'a str, &'a str)>>,
}

impl<'a> Redundancy<'a> {
    pub(super) fn new(root: &'a Inventory) -> Redundancy<'a> {
        Redundancy {
            root,
            manifest: OnceLock::new(),
            fixity: OnceLock::new(),
        }
    }

    /// Whether `prior`, the inventory of version directory number `up_to`, is redundant with
    /// the root inventory: the checks made after loading (content references and digests)
    /// find nothing through it that they do not find through the root's. That holds when
    ///
    /// - it uses the root's digest algorithm and each of its manifest entries (digest, content
    ///   path) is one of the root's: its digest claims are then the root's (checked once,
    ///   see `fixity::claims`), and a path it names that is missing is one the root names
    ///   (whose absence is reported against the root only, see `content::check_one`);
    /// - it names every content path of the root's manifest in versions up to its own: a file
    ///   of those versions that the root names is then named by it too (the other files are
    ///   reported against the root only);
    /// - its fixity, for the algorithms we support (the others are ignored by every check),
    ///   is exactly the root's for content paths in versions up to its own: its fixity claims
    ///   are then the root's, and the fixity paths it names that are missing are the root's
    ///   of those versions, which `fixity::check` reports for it from the root's.
    ///
    /// "Versions up to its own" is read from a content path's first element, the version
    /// directory name: a content file is found under that very directory.
    pub(super) fn holds(&self, prior: &Inventory, up_to: u32) -> bool {
        prior.digest_algorithm == self.root.digest_algorithm
            && self.manifest_redundant(prior, up_to)
            && self.fixity_redundant(prior, up_to)
    }

    fn manifest_redundant(&self, prior: &Inventory, up_to: u32) -> bool {
        let index = self.manifest.get_or_init(|| {
            Index::of(self.root.manifest.iter().flat_map(|(digest, paths)| {
                paths.iter().map(move |p| (p.as_str(), digest.as_str()))
            }))
        });
        let entries = prior.manifest.iter().flat_map(|(digest, paths)| {
            paths
                .iter()
                .map(move |p| (p.as_str(), digest.as_str(), None))
        });
        // Manifest digests are held lower-cased, so equal text is the same digest.
        index.covered_by(entries, up_to, |a, b| a == b)
    }

    fn fixity_redundant(&self, prior: &Inventory, up_to: u32) -> bool {
        let index = self
            .fixity
            .get_or_init(|| Index::of(supported_fixity(self.root)));
        let entries = supported_fixity(prior)
            .map(|((name, path), digest)| ((name, path), digest, Some(up_to)));
        index.covered_by(entries, up_to, |a, b| a.eq_ignore_ascii_case(b))
    }
}

/// The number of the version directory a content path is in (its first element), if that
/// element is a version directory name.
pub(super) fn version_of(path: &str) -> Option<u32> {
    let first = path.split('/').next()?;
    VersionNum::parse(first).ok().map(VersionNum::number)
}

/// The fixity entries of the algorithms we support: ((algorithm name, content path), digest).
pub(super) fn supported_fixity(
    inventory: &Inventory,
) -> impl Iterator<Item = ((&str, &str), &str)> {
    inventory
        .fixity
        .iter()
        .flatten()
        .filter(|(name, _)| DigestAlgorithm::from_name(name).is_some())
        .flat_map(|(name, digests)| {
            digests.iter().flat_map(move |(digest, paths)| {
                paths
                    .iter()
                    .map(move |p| ((name.as_str(), p.as_str()), digest.as_str()))
            })
        })
}

/// Entries of the root inventory (manifest or fixity) by key, each with its digest and the
/// version its content path is in.
struct Index<'a, K> {
    entries: HashMap<K, Indexed<'a>>,
    /// Some key is given twice (a defective root inventory): nothing is judged redundant
    /// against it, rather than reasoning about which of the two a prior entry matches.
    ambiguous: bool,
}

struct Indexed<'a> {
    digest: &'a str,
    version: Option<u32>,
    /// Position among the entries, to mark the ones a prior inventory names.
    ordinal: usize,
}

/// The key's content path.
trait KeyPath {
    fn path(&self) -> &str;
}

impl KeyPath for &str {
    fn path(&self) -> &str {
        self
    }
}

impl KeyPath for (&str, &str) {
    fn path(&self) -> &str {
        self.1
    }
}

impl<'a, K: Hash + Eq + KeyPath> Index<'a, K> {
    fn of(entries: impl Iterator<Item = (K, &'a str)>) -> Index<'a, K> {
        let mut index = Index {
            entries: HashMap::new(),
            ambiguous: false,
        };
        for (key, digest) in entries {
            let ordinal = index.entries.len();
            let version = version_of(key.path());
            if index
                .entries
                .insert(
                    key,
                    Indexed {
                        digest,
                        version,
                        ordinal,
                    },
                )
                .is_some()
            {
                index.ambiguous = true;
            }
        }
        index
    }

    /// Whether the prior inventory's `entries` are all root entries with the same digest (and,
    /// when given, a version no later than the bound given with the entry), and cover every
    /// root entry in versions up to `up_to`.
    fn covered_by<'p>(
        &self,
        entries: impl Iterator<Item = (K, &'p str, Option<u32>)>,
        up_to: u32,
        same: impl Fn(&str, &str) -> bool,
    ) -> bool {
        if self.ambiguous {
            return false;
        }
        let mut named = vec![false; self.entries.len()];
        for (key, digest, bound) in entries {
            match self.entries.get(&key) {
                Some(root)
                    if same(root.digest, digest)
                        && bound.is_none_or(|b| root.version.is_some_and(|v| v <= b)) =>
                {
                    named[root.ordinal] = true;
                }
                _ => return false,
            }
        }
        self.entries
            .values()
            .all(|root| named[root.ordinal] || !root.version.is_some_and(|v| v <= up_to))
    }
}
