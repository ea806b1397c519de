//! One logical path looked up in an inventory document without building the [`Inventory`]
//! (for `ocfl cat`): one pass of serde over the text, where strings are borrowed from the
//! document and compared in place, and only the manifest's keys and first content paths are
//! kept until the state's digest is known.
//!
//! The lookup checks what the answer needs (`id`, `type`, `digestAlgorithm`, `head` the
//! highest version, the digest in the manifest) and every content and logical path against
//! the path grammar, so that no inventory naming a path that could lead outside the object
//! is ever answered; the rest (dates, users, fixity, E095/E101 conflicts, unused digests)
//! is checked for JSON syntax only. Anything unusual
//! (a duplicate top-level or version key, a path listed twice in the version, a digest the
//! manifest lacks, a missing or mistyped member) is a [`LookupError`], after which a caller
//! parses the document in full ([`parse_inventory`](super::parse_inventory)) to report it.
//! On a document that [`parse_inventory`](super::parse_inventory) accepts without errors,
//! the answer is the one the full parse gives.
//!
//! [`Inventory`]: super::Inventory

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::SpecVersion;
use crate::digest::{Digest, DigestAlgorithm};
use crate::path::{ContentPath, LogicalPath, check_path};
use crate::version_num::VersionNum;

/// What an inventory says about one logical path of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathLookup {
    /// The object id.
    pub id: String,
    /// The specification version named by `type`.
    pub spec_version: SpecVersion,
    /// The content-addressing algorithm.
    pub digest_algorithm: DigestAlgorithm,
    /// The head version, as the inventory names it.
    pub head: VersionNum,
    /// The version asked for (the head when none was), as the inventory names it.
    pub version: VersionNum,
    /// What that version holds at the path.
    pub answer: PathAnswer,
}

/// What a version holds at a logical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathAnswer {
    /// A file: its digest and the first content path the manifest lists for it.
    File {
        /// The logical path, as looked up.
        path: LogicalPath,
        /// The content digest (normalized, as [`Digest::new`] gives it).
        digest: Digest,
        /// Where the bytes are, relative to the object root.
        content_path: ContentPath,
    },
    /// No file at the path, but `files` files below it (`path/...`).
    Directory {
        /// How many files lie below the path.
        files: usize,
    },
    /// Nothing at the path or below it.
    Absent,
    /// The inventory has no version of the number asked for.
    NoSuchVersion,
}

/// Why a document cannot be answered by the lookup; the full parse tells what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Not UTF-8 JSON, or a member of the wrong type.
    #[error("the inventory cannot be read quickly: {0}")]
    Json(#[from] serde_json::Error),
    /// A part the lookup needs is missing, repeated or malformed.
    #[error("the inventory cannot be read quickly: {0}")]
    Unusable(String),
}

pub(super) fn unusable<T>(reason: impl Into<String>) -> Result<T, LookupError> {
    Err(LookupError::Unusable(reason.into()))
}

/// The object-wide members as every quick reader of this module's siblings checks them: a
/// non-empty id, a known inventory type, a content digest algorithm and a version name for
/// the head.
pub(super) fn object_members(
    id: &str,
    spec: &str,
    algorithm: &str,
    head: &str,
) -> Result<(SpecVersion, DigestAlgorithm, VersionNum), LookupError> {
    if id.is_empty() {
        return unusable("the id is empty");
    }
    let Some(spec_version) = SpecVersion::from_inventory_type(spec) else {
        return unusable(format!("unknown type {spec:?}"));
    };
    let digest_algorithm = match DigestAlgorithm::from_name(algorithm) {
        Some(a) if a.is_content_algorithm() => a,
        _ => return unusable(format!("digestAlgorithm {algorithm:?}")),
    };
    let head = VersionNum::parse(head).map_err(|e| LookupError::Unusable(e.to_string()))?;
    Ok((spec_version, digest_algorithm, head))
}

/// Looks up logical path `path` in `version` (the head when `None`; matched by number, so
/// `v3` finds `v003`) of the inventory document `bytes`. Never panics, whatever the bytes.
pub fn lookup_path(
    bytes: &[u8],
    version: Option<VersionNum>,
    path: &str,
) -> Result<PathLookup, LookupError> {
    let text = std::str::from_utf8(bytes).map_err(|e| LookupError::Unusable(e.to_string()))?;
    let below = format!("{}/", path.trim_end_matches('/'));
    let seed = Document {
        target: Target {
            path,
            below: &below,
        },
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parts = seed.deserialize(&mut deserializer)?;
    deserializer.end()?;
    parts.answer(version, path)
}

/// The path sought, and the prefix of the paths below it.
#[derive(Clone, Copy)]
struct Target<'p> {
    path: &'p str,
    below: &'p str,
}

struct Document<'p> {
    target: Target<'p>,
}

/// Manifest keys as written and the first content path of each, in document order.
pub(super) type ManifestKeys<'de> = Vec<(Cow<'de, str>, Option<Cow<'de, str>>)>;

/// The parts of the document the answer needs.
#[derive(Default)]
struct Parts<'de> {
    id: Option<Cow<'de, str>>,
    spec: Option<Cow<'de, str>>,
    algorithm: Option<Cow<'de, str>>,
    head: Option<Cow<'de, str>>,
    /// Manifest keys as written and the first content path of each, in document order.
    manifest: Option<ManifestKeys<'de>>,
    /// Every version, with its hit.
    versions: Option<Vec<(VersionNum, Hit<'de>)>>,
    /// The highest version number of `versions`.
    highest: u32,
}

/// What one version's state holds at the target path.
#[derive(Default)]
struct Hit<'de> {
    digest: Option<Cow<'de, str>>,
    below: usize,
}

impl Parts<'_> {
    fn answer(self, requested: Option<VersionNum>, path: &str) -> Result<PathLookup, LookupError> {
        let (Some(id), Some(spec), Some(algorithm), Some(head), Some(manifest), Some(versions)) = (
            self.id,
            self.spec,
            self.algorithm,
            self.head,
            self.manifest,
            self.versions,
        ) else {
            return unusable("a required member is missing");
        };
        let (spec_version, digest_algorithm, head) = object_members(&id, &spec, &algorithm, &head)?;
        if head.number() != self.highest {
            return unusable("the head is not the highest version");
        }
        let wanted = requested.unwrap_or(head).number();
        let Some((version, hit)) = versions.into_iter().find(|(n, _)| n.number() == wanted) else {
            if requested.is_none() {
                return unusable("the head is not among the versions");
            }
            return Ok(PathLookup {
                id: id.into_owned(),
                spec_version,
                digest_algorithm,
                head,
                version: requested.unwrap_or(head),
                answer: PathAnswer::NoSuchVersion,
            });
        };
        if requested.is_none() && version != head {
            return unusable("the head is named differently in versions");
        }
        let answer = match hit.digest {
            Some(digest) => {
                let Ok(logical) = LogicalPath::new(path) else {
                    return unusable(format!("logical path {path:?}"));
                };
                let first = manifest
                    .iter()
                    .find(|(key, _)| *key == digest)
                    .map(|(_, first)| first);
                let Some(Some(content_path)) = first else {
                    return unusable(format!("digest {digest} has no manifest content path"));
                };
                let content_path = ContentPath::new(content_path.as_ref())
                    .map_err(|e| LookupError::Unusable(e.to_string()))?;
                if !digest_algorithm.is_well_formed(&digest) {
                    return unusable(format!("digest {digest:?}"));
                }
                PathAnswer::File {
                    path: logical,
                    digest: Digest::new(&digest),
                    content_path,
                }
            }
            None if hit.below > 0 => PathAnswer::Directory { files: hit.below },
            None => PathAnswer::Absent,
        };
        Ok(PathLookup {
            id: id.into_owned(),
            spec_version,
            digest_algorithm,
            head,
            version,
            answer,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = Parts<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Parts<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = Parts<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an inventory object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parts<'de>, A::Error> {
        let mut parts = Parts::default();
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Text(key)) = map.next_key()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("key {key:?} appears twice")));
            }
            match key.as_ref() {
                "id" => parts.id = Some(map.next_value::<Text>()?.0),
                "type" => parts.spec = Some(map.next_value::<Text>()?.0),
                "digestAlgorithm" => parts.algorithm = Some(map.next_value::<Text>()?.0),
                "head" => parts.head = Some(map.next_value::<Text>()?.0),
                "manifest" => parts.manifest = Some(map.next_value_seed(ManifestSeed)?),
                "versions" => {
                    let (versions, highest) = map.next_value_seed(VersionsSeed {
                        target: self.target,
                    })?;
                    parts.versions = Some(versions);
                    parts.highest = highest;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            seen.push(key);
        }
        Ok(parts)
    }
}

/// A JSON string, borrowed from the document when it holds no escapes.
pub(super) struct Text<'de>(pub(super) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text<'de>, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s.to_owned())))
    }
}

pub(super) struct ManifestSeed;

impl<'de> DeserializeSeed<'de> for ManifestSeed {
    type Value = ManifestKeys<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ManifestSeed {
    type Value = ManifestKeys<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a manifest object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(Text(digest)) = map.next_key()? {
            let first = map.next_value_seed(FirstPath)?;
            entries.push((digest, first));
        }
        Ok(entries)
    }
}

/// The first string of an array of content paths (each checked against the grammar).
struct FirstPath;

impl<'de> DeserializeSeed<'de> for FirstPath {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FirstPath {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of content paths")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut first = None;
        while let Some(Text(path)) = seq.next_element::<Text>()? {
            check_path(&path).map_err(de::Error::custom)?;
            if first.is_none() {
                first = Some(path);
            }
        }
        Ok(first)
    }
}

struct VersionsSeed<'p> {
    target: Target<'p>,
}

impl<'de> DeserializeSeed<'de> for VersionsSeed<'_> {
    type Value = (Vec<(VersionNum, Hit<'de>)>, u32);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VersionsSeed<'_> {
    type Value = (Vec<(VersionNum, Hit<'de>)>, u32);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a versions object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut numbers: Vec<u32> = Vec::new();
        let mut found = Vec::new();
        while let Some(Text(name)) = map.next_key()? {
            let num = VersionNum::parse(&name).map_err(de::Error::custom)?;
            // Equal numbers (`v1` and `v01`, or a repeated key) make the version ambiguous.
            if numbers.contains(&num.number()) {
                return Err(de::Error::custom(format!("version {name} appears twice")));
            }
            numbers.push(num.number());
            // Every version is read, not only the one sought: its paths are checked too.
            let hit = map.next_value_seed(VersionSeed {
                target: self.target,
            })?;
            found.push((num, hit));
        }
        Ok((found, numbers.into_iter().max().unwrap_or(0)))
    }
}

struct VersionSeed<'p> {
    target: Target<'p>,
}

impl<'de> DeserializeSeed<'de> for VersionSeed<'_> {
    type Value = Hit<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Hit<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VersionSeed<'_> {
    type Value = Hit<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a version object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Hit<'de>, A::Error> {
        let mut hit = None;
        while let Some(Text(key)) = map.next_key()? {
            if key != "state" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if hit.is_some() {
                return Err(de::Error::custom("a version has two states"));
            }
            hit = Some(map.next_value_seed(StateSeed {
                target: self.target,
            })?);
        }
        hit.ok_or_else(|| de::Error::custom("a version has no state"))
    }
}

struct StateSeed<'p> {
    target: Target<'p>,
}

impl<'de> DeserializeSeed<'de> for StateSeed<'_> {
    type Value = Hit<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Hit<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StateSeed<'_> {
    type Value = Hit<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a state object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Hit<'de>, A::Error> {
        let mut hit = Hit::default();
        while let Some(Text(digest)) = map.next_key()? {
            let (exact, below) = map.next_value_seed(PathsSeed {
                target: self.target,
            })?;
            hit.below += below;
            if exact == 0 {
                continue;
            }
            if exact > 1 || hit.digest.is_some() {
                return Err(de::Error::custom("the path is listed twice in the version"));
            }
            hit.digest = Some(digest);
        }
        Ok(hit)
    }
}

/// Counts, in an array of logical paths, the target path and the paths below it.
struct PathsSeed<'p> {
    target: Target<'p>,
}

impl<'de> DeserializeSeed<'de> for PathsSeed<'_> {
    type Value = (usize, usize);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PathsSeed<'_> {
    type Value = (usize, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of logical paths")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (mut exact, mut below) = (0, 0);
        while let Some(compared) = seq.next_element_seed(Compare {
            target: self.target,
        })? {
            match compared {
                Relation::Exact => exact += 1,
                Relation::Below => below += 1,
                Relation::Other => {}
            }
        }
        Ok((exact, below))
    }
}

/// How one logical path relates to the target.
enum Relation {
    Exact,
    Below,
    Other,
}

/// Compares one logical path with the target where serde holds it, without copying it,
/// after checking it against the grammar.
struct Compare<'p> {
    target: Target<'p>,
}

impl<'de> DeserializeSeed<'de> for Compare<'_> {
    type Value = Relation;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Relation, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Compare<'_> {
    type Value = Relation;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a logical path string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Relation, E> {
        check_path(s).map_err(E::custom)?;
        Ok(if s == self.target.path {
            Relation::Exact
        } else if s.starts_with(self.target.below) {
            Relation::Below
        } else {
            Relation::Other
        })
    }
}

#[cfg(test)]
mod tests;
