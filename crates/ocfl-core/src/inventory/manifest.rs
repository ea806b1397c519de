//! The `manifest` block: digests (E092 form, E096 case duplicates), content paths (E098-E100
//! grammar, E101 uniqueness and conflicts, E042 location), and the `fixity` block that
//! follows the same structure (E111, E056, E057, E097).

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;

use super::findings::Findings;
use super::json::Json;
use super::paths::{CONTENT, path_problems};
use super::types::{Fixity, Manifest};
use crate::digest::{Digest, DigestAlgorithm};
use crate::path::{ContentPath, find_conflict};
use crate::validate::Code;

/// Where content paths must live: `<version name>/<content directory>/...` (E042). `None`
/// parts are unknown because their own blocks were unusable, and skip the check.
pub(super) struct ContentLocation<'a> {
    pub(super) version_names: Option<HashSet<&'a str>>,
    pub(super) content_directory: Option<&'a str>,
}

/// A parsed manifest and the raw text the other blocks are checked against.
pub(super) struct ParsedManifest<'a> {
    pub(super) manifest: Manifest,
    /// The keys as written, and which of them the version states use.
    pub(super) keys: KeyUse<'a>,
    /// Every grammatically valid content path, sorted, once each (fixity paths must be
    /// among them: E057).
    pub(super) content_paths: Vec<&'a str>,
}

/// Which manifest keys the version states name (E050 asks for an exact match of a key; E107
/// for every key to be used). One lookup per state digest: states repeat most digests
/// version after version, so this is the hot path of parsing a large inventory.
///
/// Keys written in ascending order (as inventories usually are, their maps being sorted) are
/// found by position: states list their digests in ascending order too, so the next key
/// after the last one found is usually the one, and a binary search finds the others. Only
/// keys out of order are hashed: a million-key hash map outgrows the caches, and its lookups
/// grew faster than the files.
pub(super) struct KeyUse<'a> {
    /// Keys as written, in document order.
    raw: Vec<&'a str>,
    /// Whether `raw` is strictly ascending (so far, while the manifest is read).
    ascending: bool,
    /// Where the key after the last one found is, when `raw` is ascending.
    next: usize,
    /// Key as written -> its position in `raw`, `used` and `digests`; built once the
    /// manifest is read, and only when `raw` is not ascending.
    position: HashMap<&'a str, usize>,
    used: Vec<bool>,
    /// The manifest's own (normalized) key for each raw key: states share it rather than
    /// holding a copy of every digest.
    digests: Vec<Digest>,
    /// Digests written twice in different case (E096): not reported again as unused.
    case_duplicates: HashSet<Digest>,
    /// Digests that a state names only in another case (each already has an E050).
    used_ignoring_case: HashSet<Digest>,
}

/// How a state digest matches the manifest's keys.
pub(super) enum KeyMatch {
    /// With the manifest's key, to be shared by the state.
    Exact(Digest),
    OtherCase,
    Missing,
}

impl<'a> KeyUse<'a> {
    fn with_capacity(capacity: usize) -> KeyUse<'a> {
        KeyUse {
            raw: Vec::with_capacity(capacity),
            ascending: true,
            next: 0,
            position: HashMap::new(),
            used: Vec::with_capacity(capacity),
            digests: Vec::with_capacity(capacity),
            case_duplicates: HashSet::new(),
            used_ignoring_case: HashSet::new(),
        }
    }

    fn add(&mut self, key: &'a str, digest: Digest) {
        self.ascending = self.ascending && self.raw.last().is_none_or(|last| *last < key);
        self.raw.push(key);
        self.used.push(false);
        self.digests.push(digest);
    }

    /// Once every key is added: the hash index, for keys not in ascending order.
    fn index(&mut self) {
        if self.ascending {
            return;
        }
        self.position.reserve(self.raw.len());
        for (index, key) in self.raw.iter().enumerate() {
            self.position.entry(key).or_insert(index);
        }
    }

    /// The position of the key written exactly as `digest` (the first, if written twice).
    fn find(&mut self, digest: &str) -> Option<usize> {
        if !self.ascending {
            return self.position.get(digest).copied();
        }
        let index = if self.raw.get(self.next) == Some(&digest) {
            self.next
        } else {
            self.raw.binary_search(&digest).ok()?
        };
        self.next = index + 1;
        Some(index)
    }

    /// Records that a state names `digest`; `manifest` tells whether it exists in another case.
    pub(super) fn mark(&mut self, digest: &str, manifest: &Manifest) -> KeyMatch {
        if let Some(index) = self.find(digest) {
            self.used[index] = true;
            return KeyMatch::Exact(self.digests[index].clone());
        }
        let normalized = Digest::new(digest);
        if manifest.contains_key(&normalized) {
            self.used_ignoring_case.insert(normalized);
            KeyMatch::OtherCase
        } else {
            KeyMatch::Missing
        }
    }

    /// Keys that no state names in any case, in document order.
    pub(super) fn unused(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.raw
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|(key, _)| *key)
            .filter(|key| {
                let normalized = Digest::new(key);
                !self.used_ignoring_case.contains(&normalized)
                    && !self.case_duplicates.contains(&normalized)
            })
    }
}

/// Parses `manifest`; `None` when it is missing or not an object.
pub(super) fn parse_manifest<'a>(
    value: Option<&Json<'a>>,
    algorithm: Option<DigestAlgorithm>,
    location: &ContentLocation<'_>,
    findings: &mut Findings,
) -> Option<ParsedManifest<'a>> {
    let Some(value) = value else {
        findings.add(Code::E041, "the inventory has no \"manifest\" block");
        return None;
    };
    let Some(members) = value.as_object() else {
        findings.add(
            findings.by_version(Code::E106, Code::E041),
            format!("\"manifest\" must be an object, found {}", value.kind()),
        );
        return None;
    };
    let mut parsed = ParsedManifest {
        manifest: Manifest::new(),
        keys: KeyUse::with_capacity(members.len()),
        content_paths: Vec::with_capacity(members.len()),
    };
    // Entries in document order, then one sorted bulk build of the map (full B-tree nodes).
    let mut entries: Vec<(Digest, Vec<ContentPath>)> = Vec::with_capacity(members.len());
    // Digests normalized: in ascending order (the usual) none repeats; from the first out of
    // order on, each is looked up by hash (those before it indexed then).
    let mut index_of: Option<HashMap<Digest, usize>> = None;
    for &(digest, ref paths) in members {
        // A digest that cannot be a value of digestAlgorithm can be the digest of no file,
        // so the entry breaks E092 ("content paths of files ... that have content with the
        // given digest"). E092 is also what ocfl-py, rocfl and the fixtures use for a wrong
        // manifest digest (E066_E092_old_manifest_digest_incorrect,
        // E092_content_file_digest_mismatch), so a defect found from the form and one found by
        // hashing the file get the same code.
        if let Some(algorithm) = algorithm
            && !algorithm.is_well_formed(digest)
        {
            findings.add(
                Code::E092,
                format!("manifest digest {digest:?} is not a well-formed {algorithm} digest"),
            );
        }
        let normalized = Digest::new(digest);
        if index_of.is_none() && entries.last().is_some_and(|(last, _)| *last >= normalized) {
            let mut index = HashMap::with_capacity(members.len());
            index.extend(entries.iter().enumerate().map(|(i, (d, _))| (d.clone(), i)));
            index_of = Some(index);
        }
        let entry = match index_of
            .as_mut()
            .map(|index| index.entry(normalized.clone()))
        {
            // Ascending so far: a new digest.
            None => {
                parsed.keys.add(digest, normalized.clone());
                entries.push((normalized, Vec::new()));
                entries.last_mut().map(|(_, paths)| paths)
            }
            Some(Entry::Vacant(vacant)) => {
                parsed.keys.add(digest, normalized.clone());
                entries.push((normalized, Vec::new()));
                vacant.insert(entries.len() - 1);
                entries.last_mut().map(|(_, paths)| paths)
            }
            Some(Entry::Occupied(occupied)) => {
                findings.add(
                    Code::E096,
                    format!("manifest digest {digest} appears more than once (ignoring case)"),
                );
                parsed.keys.add(digest, occupied.key().clone());
                parsed.keys.case_duplicates.insert(occupied.key().clone());
                entries.get_mut(*occupied.get()).map(|(_, paths)| paths)
            }
        };
        // Always `Some`: the index was just taken from `entries`.
        let Some(entry) = entry else { continue };
        let Json::Array(items) = paths else {
            findings.add(
                Code::E092,
                format!(
                    "manifest digest {digest} must map to an array of content paths, found {}",
                    paths.kind()
                ),
            );
            continue;
        };
        // Exactly: most entries hold one path, and a 100,000-file manifest would otherwise
        // carry room for four in each.
        entry.reserve_exact(items.len());
        for item in items {
            let &Json::String(path) = item else {
                findings.add(
                    Code::E092,
                    format!(
                        "manifest digest {digest} lists {} instead of a content path string",
                        item.kind()
                    ),
                );
                continue;
            };
            let Ok(content_path) = ContentPath::new(path) else {
                for (code, reason) in path_problems(path, &CONTENT) {
                    findings.add(
                        code,
                        format!("content path {path:?} in the manifest (digest {digest}) {reason}"),
                    );
                }
                continue;
            };
            if !location.contains(path) {
                findings.add(
                    Code::E042,
                    format!(
                        "content path {path:?} in the manifest is not inside the content directory of a version ({})",
                        location.describe()
                    ),
                );
            }
            entry.push(content_path);
            parsed.content_paths.push(path);
        }
    }
    drop(index_of);
    parsed.keys.index();
    parsed.manifest = super::sorted::into_map(entries);
    check_content_conflicts(&mut parsed.content_paths, findings);
    Some(parsed)
}

impl ContentLocation<'_> {
    fn contains(&self, path: &str) -> bool {
        let (Some(versions), Some(content_directory)) =
            (&self.version_names, self.content_directory)
        else {
            return true;
        };
        let mut parts = path.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(version), Some(directory), Some(rest)) => {
                versions.contains(version) && directory == content_directory && !rest.is_empty()
            }
            _ => false,
        }
    }

    fn describe(&self) -> String {
        format!(
            "expected <version>/{}/...",
            self.content_directory.unwrap_or("content")
        )
    }
}

/// E101: a content path twice, or one that is a directory of another. Sorted, so the check
/// is O(n log n) for manifests of any size; `paths` is left sorted, each path once.
fn check_content_conflicts(paths: &mut Vec<&str>, findings: &mut Findings) {
    paths.sort_unstable();
    let mut last_duplicate = None;
    for pair in paths.windows(2) {
        if pair[0] == pair[1] && last_duplicate != Some(pair[0]) {
            last_duplicate = Some(pair[0]);
            findings.add(
                Code::E101,
                format!(
                    "content path {:?} appears more than once in the manifest",
                    pair[0]
                ),
            );
        }
    }
    paths.dedup();
    if let Some((parent, child)) = find_conflict(paths) {
        findings.add(
            Code::E101,
            format!("content path {parent:?} is both a file and the directory of {child:?}"),
        );
    }
}

/// Parses `fixity`; `None` when it is not an object.
///
/// Unknown algorithm names are reported as E056. E028 ("optional fixity algorithms that are
/// not supported by a client must be ignored") does not conflict: it covers algorithms
/// registered by extensions that a client chose not to implement, and we implement every
/// algorithm of the specification's table and of the registered extensions (0001/0009), so a
/// name we do not know is in neither vocabulary. Such a block is still kept (as written) and
/// checked for structure and paths, just not for digest form.
pub(super) fn parse_fixity(
    value: &Json,
    manifest_paths: Option<&[&str]>,
    findings: &mut Findings,
) -> Option<Fixity> {
    let Some(members) = value.as_object() else {
        findings.add(
            findings.by_version(Code::E111, Code::E056),
            format!("\"fixity\" must be an object, found {}", value.kind()),
        );
        return None;
    };
    let mut fixity = Fixity::new();
    for (name, block) in members {
        let algorithm = DigestAlgorithm::from_name(name);
        if algorithm.is_none() {
            findings.add(
                Code::E056,
                format!(
                    "fixity algorithm {name:?} is not in the specification's vocabulary or a registered extension"
                ),
            );
        }
        let Some(digests) = block.as_object() else {
            findings.add(
                Code::E057,
                format!(
                    "fixity block {name:?} must be an object of digests, found {}",
                    block.kind()
                ),
            );
            continue;
        };
        let parsed = parse_fixity_block(name, algorithm, digests, manifest_paths, findings);
        fixity.insert(name.to_string(), parsed);
    }
    Some(fixity)
}

fn parse_fixity_block(
    name: &str,
    algorithm: Option<DigestAlgorithm>,
    digests: &[(&str, Json<'_>)],
    manifest_paths: Option<&[&str]>,
    findings: &mut Findings,
) -> BTreeMap<String, Vec<ContentPath>> {
    let mut block: BTreeMap<String, Vec<ContentPath>> = BTreeMap::new();
    let mut seen: HashSet<String> = HashSet::with_capacity(digests.len());
    for (digest, paths) in digests {
        if let Some(algorithm) = algorithm
            && !algorithm.is_well_formed(digest)
        {
            findings.add(
                Code::E057,
                format!("fixity digest {digest:?} is not a well-formed {algorithm} digest"),
            );
        }
        // Hex digests compare case-insensitively; an unknown algorithm's values might not be
        // hex, so they are compared as written.
        let normalized = match algorithm {
            Some(_) => digest.to_ascii_lowercase(),
            None => digest.to_string(),
        };
        if !seen.insert(normalized) {
            findings.add(
                Code::E097,
                format!(
                    "fixity digest {digest} appears more than once in the {name:?} block (ignoring case)"
                ),
            );
        }
        let entry = block.entry(digest.to_string()).or_default();
        let Json::Array(items) = paths else {
            findings.add(
                Code::E057,
                format!(
                    "fixity {name:?} digest {digest} must map to an array of content paths, found {}",
                    paths.kind()
                ),
            );
            continue;
        };
        for item in items {
            let &Json::String(path) = item else {
                findings.add(
                    Code::E057,
                    format!(
                        "fixity {name:?} digest {digest} lists {} instead of a content path string",
                        item.kind()
                    ),
                );
                continue;
            };
            let Ok(content_path) = ContentPath::new(path) else {
                for (code, reason) in path_problems(path, &CONTENT) {
                    findings.add(
                        code,
                        format!(
                            "content path {path:?} in fixity {name:?} (digest {digest}) {reason}"
                        ),
                    );
                }
                continue;
            };
            if manifest_paths.is_some_and(|paths| paths.binary_search(&path).is_err()) {
                findings.add(
                    Code::E057,
                    format!(
                        "content path {path:?} in fixity {name:?} (digest {digest}) is not in the manifest"
                    ),
                );
            }
            entry.push(content_path);
        }
    }
    block
}
