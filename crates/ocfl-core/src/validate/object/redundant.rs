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

/// The root inventory, indexed on first use for judging prior inventories (an object with no
/// prior inventory, such as one at v1, never pays for the index).
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
        // A root entry of no version directory (`version` None) cannot be a content file.
        self.entries
            .values()
            .all(|root| named[root.ordinal] || root.version.is_none_or(|v| v > up_to))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::SpecVersion;
    use crate::digest::Digest;
    use crate::inventory::{Fixity, Manifest};
    use crate::path::ContentPath;

    /// An inventory with `manifest` (digest, content path) and `fixity` (algorithm name,
    /// digest, content path) entries; the checks judged here look at nothing else.
    fn inventory(
        algorithm: DigestAlgorithm,
        manifest: &[(&str, &str)],
        fixity: &[(&str, &str, &str)],
    ) -> Inventory {
        let path = |p: &str| ContentPath::new(p).expect("content path");
        let mut content = Manifest::new();
        for (digest, p) in manifest {
            content
                .entry(Digest::new(digest))
                .or_default()
                .push(path(p));
        }
        let mut blocks = Fixity::new();
        for (name, digest, p) in fixity {
            blocks
                .entry((*name).to_owned())
                .or_default()
                .entry((*digest).to_owned())
                .or_default()
                .push(path(p));
        }
        Inventory {
            id: "urn:x".to_owned(),
            spec_version: SpecVersion::V1_1,
            digest_algorithm: algorithm,
            head: VersionNum::parse("v3").expect("version"),
            content_directory: None,
            manifest: content,
            versions: BTreeMap::new(),
            fixity: (!fixity.is_empty()).then_some(blocks),
        }
    }

    const SHA512: DigestAlgorithm = DigestAlgorithm::Sha512;
    /// The root's manifest at v3: one file added by each version.
    const ROOT: &[(&str, &str)] = &[
        ("aa", "v1/content/a"),
        ("bb", "v2/content/b"),
        ("cc", "v3/content/c"),
    ];
    /// The v2 inventory of the same object.
    const V2: &[(&str, &str)] = &[("aa", "v1/content/a"), ("bb", "v2/content/b")];

    #[test]
    fn an_older_inventory_of_a_sound_object_is_redundant() {
        let root = inventory(SHA512, ROOT, &[]);
        let redundancy = Redundancy::new(&root);
        assert!(redundancy.holds(&inventory(SHA512, V2, &[]), 2));
        assert!(redundancy.holds(&inventory(SHA512, &V2[..1], &[]), 1));
        // Digests in another case are the same digests.
        assert!(redundancy.holds(&inventory(SHA512, &[("AA", "v1/content/a")], &[]), 1));
    }

    #[test]
    fn a_prior_manifest_with_a_path_the_root_lacks_is_not_redundant() {
        let root = inventory(SHA512, ROOT, &[]);
        let redundancy = Redundancy::new(&root);
        let extra = [V2, &[("dd", "v2/content/d")]].concat();
        assert!(!redundancy.holds(&inventory(SHA512, &extra, &[]), 2));
        // The root's path with another digest.
        let other = [("aa", "v1/content/a"), ("dd", "v2/content/b")];
        assert!(!redundancy.holds(&inventory(SHA512, &other, &[]), 2));
    }

    #[test]
    fn a_prior_manifest_lacking_a_root_path_of_its_versions_is_not_redundant() {
        let root = inventory(SHA512, ROOT, &[]);
        let redundancy = Redundancy::new(&root);
        // v2/content/b is the root's, in version 2: the v2 inventory must name it.
        assert!(!redundancy.holds(&inventory(SHA512, &V2[..1], &[]), 2));
    }

    #[test]
    fn another_digest_algorithm_is_not_redundant() {
        let root = inventory(SHA512, ROOT, &[]);
        let redundancy = Redundancy::new(&root);
        assert!(!redundancy.holds(&inventory(DigestAlgorithm::Sha256, V2, &[]), 2));
    }

    #[test]
    fn prior_fixity_must_be_the_roots_for_its_versions() {
        let root_fixity = [
            ("md5", "01", "v1/content/a"),
            ("md5", "02", "v2/content/b"),
            ("md5", "03", "v3/content/c"),
        ];
        let root = inventory(SHA512, ROOT, &root_fixity);
        let redundancy = Redundancy::new(&root);
        let holds =
            |fixity: &[(&str, &str, &str)]| redundancy.holds(&inventory(SHA512, V2, fixity), 2);
        assert!(holds(&root_fixity[..2]));
        // An algorithm we do not support is ignored by every check.
        assert!(holds(
            &[&root_fixity[..2], &[("x-local", "09", "v2/content/b")]].concat()
        ));
        // Another digest, a path the root's fixity lacks, a path of a later version, or one
        // of the root's missing.
        assert!(!holds(&[root_fixity[0], ("md5", "09", "v2/content/b")]));
        assert!(!holds(
            &[&root_fixity[..2], &[("sha1", "04", "v1/content/a")]].concat()
        ));
        assert!(!holds(&root_fixity));
        assert!(!holds(&root_fixity[..1]));
        assert!(!holds(&[]));
        // Without fixity in the root, a prior inventory's fixity is not the root's.
        let bare = inventory(SHA512, ROOT, &[]);
        assert!(!Redundancy::new(&bare).holds(&inventory(SHA512, V2, &root_fixity[..2]), 2));
        // Root fixity only for a later version: a prior inventory without fixity is redundant.
        let later = inventory(SHA512, ROOT, &root_fixity[2..]);
        assert!(Redundancy::new(&later).holds(&inventory(SHA512, V2, &[]), 2));
    }

    #[test]
    fn a_root_naming_a_path_twice_judges_nothing_redundant() {
        let twice = [ROOT, &[("dd", "v1/content/a")]].concat();
        let root = inventory(SHA512, &twice, &[]);
        assert!(!Redundancy::new(&root).holds(&inventory(SHA512, V2, &[]), 2));
    }

    #[test]
    fn the_version_of_a_content_path_is_its_first_element() {
        assert_eq!(version_of("v2/content/a/b"), Some(2));
        assert_eq!(version_of("v002/content/a"), Some(2));
        assert_eq!(version_of("content/a"), None);
    }
}
