//! One version of an inventory read without building the [`Inventory`] (for the console's
//! object and version pages and `ocfl ls`/`show`): every version's metadata and file count,
//! and the files of the one version asked for, kept compactly ([`VersionFiles`]: one text
//! arena, each digest stored once, the manifest's first content path only for the digests
//! that version names).
//!
//! The full model of a 100,000-file inventory costs about twice its text in memory; what is
//! kept here is the one version's paths and digests, about half the text, and the read's
//! transient memory is the text plus one reference per manifest entry and per file.
//!
//! The read checks what [`lookup_path`](super::lookup_path) checks (`id`, `type`,
//! `digestAlgorithm`, `head` the highest version, every content and logical path against
//! the path grammar) and, for what it returns, that each digest of the version is well
//! formed and in the manifest, that no path is listed twice in the version, and that no
//! manifest digest is listed twice; a version's `created`, `message` and `user` must have
//! their types. Anything unusual is a [`ReadError::Unusable`], after which a caller parses
//! the document in full ([`parse_inventory`](super::parse_inventory)) to report it, as
//! `lookup_path`'s callers do. On a document that `parse_inventory` accepts without errors,
//! the answer is [`OneVersion::from_inventory`] of the parsed inventory.
//!
//! [`Inventory`]: super::Inventory

use std::borrow::Cow;
use std::fmt;

use foldhash::{HashMap, HashMapExt};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::lookup::{LookupError, ManifestKeys, ManifestSeed, Text, object_members, unusable};
use super::types::{Inventory, User};
use crate::SpecVersion;
use crate::digest::DigestAlgorithm;
use crate::path::check_path;
use crate::version_num::VersionNum;

/// Every version's metadata and one version's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneVersion {
    /// The object id.
    pub id: String,
    /// The specification version named by `type`.
    pub spec_version: SpecVersion,
    /// The content-addressing algorithm.
    pub digest_algorithm: DigestAlgorithm,
    /// The head version, as the inventory names it.
    pub head: VersionNum,
    /// Every version's metadata, by number.
    pub versions: Vec<VersionInfo>,
    /// The files of the version asked for.
    pub files: VersionFiles,
}

/// A version's metadata and how many files it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version, as the inventory names it.
    pub version: VersionNum,
    /// When the version was created, as written.
    pub created: String,
    /// The version message, if any.
    pub message: Option<String>,
    /// Who created the version, if recorded.
    pub user: Option<User>,
    /// How many logical paths its state lists.
    pub files: usize,
}

/// One version's files sorted by logical path, each with its digest (normalized, as
/// [`Digest::new`](crate::digest::Digest::new) gives it) and the first content path the
/// manifest lists for that digest. All the text is in one arena; a digest shared by several
/// paths is stored once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFiles {
    version: VersionNum,
    text: String,
    /// Per distinct digest: the digest and its content path.
    digests: Vec<(Span, Span)>,
    /// Per file, by path: the path and the index of its digest.
    files: Vec<(Span, u32)>,
}

/// One file of a [`VersionFiles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRef<'a> {
    /// The logical path.
    pub path: &'a str,
    /// The content digest, lower case.
    pub digest: &'a str,
    /// Where the bytes are, relative to the object root.
    pub content_path: &'a str,
}

/// Why a version cannot be read quickly, or is not there.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The document cannot be answered by the quick read; the full parse tells what is
    /// wrong.
    #[error(transparent)]
    Unusable(#[from] LookupError),
    /// The inventory is readable but has no version of the number asked for.
    #[error("object {id:?} has no version {version} (head {head})")]
    NoSuchVersion {
        /// The object id.
        id: String,
        /// The version asked for.
        version: VersionNum,
        /// The head version.
        head: VersionNum,
    },
}

/// Reads `version` (the head when `None`; matched by number, so `v3` finds `v003`) of the
/// inventory document `bytes`, with every version's metadata. Never panics, whatever the
/// bytes.
pub fn read_version(bytes: &[u8], version: Option<VersionNum>) -> Result<OneVersion, ReadError> {
    let text = std::str::from_utf8(bytes).map_err(|e| LookupError::Unusable(e.to_string()))?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parts = Document {
        wanted: version.map(VersionNum::number),
    }
    .deserialize(&mut deserializer)
    .map_err(LookupError::from)?;
    deserializer.end().map_err(LookupError::from)?;
    parts.answer(version)
}

impl OneVersion {
    /// The same answer from a parsed inventory: `None` when it has no such version.
    pub fn from_inventory(
        inventory: &Inventory,
        version: Option<VersionNum>,
    ) -> Option<OneVersion> {
        let wanted = version.unwrap_or(inventory.head).number();
        let (num, chosen) = inventory
            .versions
            .iter()
            .find(|(num, _)| num.number() == wanted)?;
        let mut entries = Vec::new();
        for (digest, paths) in &chosen.state {
            let content = inventory
                .manifest
                .get(digest)
                .and_then(|c| c.first())
                .map_or("", |c| c.as_str());
            for path in paths {
                entries.push((path.as_str(), digest.as_str(), content));
            }
        }
        let files = VersionFiles::build(*num, entries)?;
        Some(OneVersion {
            id: inventory.id.clone(),
            spec_version: inventory.spec_version,
            digest_algorithm: inventory.digest_algorithm,
            head: inventory.head,
            versions: inventory
                .versions
                .iter()
                .map(|(num, v)| VersionInfo {
                    version: *num,
                    created: v.created.clone(),
                    message: v.message.clone(),
                    user: v.user.clone(),
                    files: v.state.values().map(Vec::len).sum(),
                })
                .collect(),
            files,
        })
    }

    /// The metadata of the version whose files are kept.
    pub fn info(&self) -> Option<&VersionInfo> {
        self.versions
            .iter()
            .find(|v| v.version == self.files.version)
    }
}

impl VersionFiles {
    /// The version, as the inventory names it.
    pub fn version(&self) -> VersionNum {
        self.version
    }

    /// How many files the version holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the version holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The files sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = FileRef<'_>> {
        self.files.iter().map(|slot| self.file(slot))
    }

    /// The files whose path sorts after `after` (all when `None`), by path.
    pub fn after(&self, after: Option<&str>) -> impl Iterator<Item = FileRef<'_>> {
        let start = after.map_or(0, |after| {
            self.files
                .partition_point(|(path, _)| self.span(*path) <= after)
        });
        self.files[start..].iter().map(|slot| self.file(slot))
    }

    /// The file at logical path `path`.
    pub fn get(&self, path: &str) -> Option<FileRef<'_>> {
        let index = self
            .files
            .binary_search_by(|(p, _)| self.span(*p).cmp(path))
            .ok()?;
        self.files.get(index).map(|slot| self.file(slot))
    }

    /// The heap bytes this holds.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.digests.capacity() * std::mem::size_of::<(Span, Span)>()
            + self.files.capacity() * std::mem::size_of::<(Span, u32)>()
    }

    fn file(&self, (path, digest): &(Span, u32)) -> FileRef<'_> {
        let (digest, content) = self
            .digests
            .get(*digest as usize)
            .copied()
            .unwrap_or_default();
        FileRef {
            path: self.span(*path),
            digest: self.span(digest),
            content_path: self.span(content),
        }
    }

    fn span(&self, span: Span) -> &str {
        self.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// Sorts `entries` (path, digest, content path) by path into the arena; `None` when a
    /// path is listed twice or the text outgrows the arena's offsets.
    fn build(version: VersionNum, mut entries: Vec<(&str, &str, &str)>) -> Option<VersionFiles> {
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if entries.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return None;
        }
        let mut arena = Arena::default();
        // Hashed with foldhash: std's SipHash of a million 128-character digests was an
        // eighth of `ls`.
        let mut indexes: HashMap<&str, u32> = HashMap::with_capacity(entries.len());
        let mut digests = Vec::new();
        let mut files = Vec::with_capacity(entries.len());
        for (path, digest, content) in entries {
            let index = match indexes.get(digest) {
                Some(index) => *index,
                None => {
                    let index = u32::try_from(digests.len()).ok()?;
                    let digest_span = arena.push_lowercase(digest)?;
                    digests.push((digest_span, arena.push(content)?));
                    indexes.insert(digest, index);
                    index
                }
            };
            files.push((arena.push(path)?, index));
        }
        let mut text = arena.text;
        text.shrink_to_fit();
        digests.shrink_to_fit();
        Some(VersionFiles {
            version,
            text,
            digests,
            files,
        })
    }
}

/// A range of a [`VersionFiles`]'s arena.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

#[derive(Default)]
struct Arena {
    text: String,
}

impl Arena {
    fn push(&mut self, s: &str) -> Option<Span> {
        let start = u32::try_from(self.text.len()).ok()?;
        self.text.push_str(s);
        let end = u32::try_from(self.text.len()).ok()?;
        Some(Span { start, end })
    }

    fn push_lowercase(&mut self, s: &str) -> Option<Span> {
        let start = u32::try_from(self.text.len()).ok()?;
        self.text.extend(s.chars().map(|c| c.to_ascii_lowercase()));
        let end = u32::try_from(self.text.len()).ok()?;
        Some(Span { start, end })
    }
}

/// The version asked for: its number, or the highest (the head) when `None`.
struct Document {
    wanted: Option<u32>,
}

/// A version's metadata as written.
struct RawVersion<'de> {
    version: VersionNum,
    created: Option<Cow<'de, str>>,
    message: Option<Cow<'de, str>>,
    user: Option<RawUser>,
    files: usize,
}

#[derive(Deserialize)]
struct RawUser {
    name: String,
    address: Option<String>,
}

/// The parts of the document the answer needs.
#[derive(Default)]
struct Parts<'de> {
    id: Option<Cow<'de, str>>,
    spec: Option<Cow<'de, str>>,
    algorithm: Option<Cow<'de, str>>,
    head: Option<Cow<'de, str>>,
    manifest: Option<ManifestKeys<'de>>,
    versions: Option<Kept<'de>>,
}

/// Every version's metadata, and the state of the one asked for (or of the highest so far).
#[derive(Default)]
struct Kept<'de> {
    versions: Vec<RawVersion<'de>>,
    /// The number whose state `digests`/`paths` hold.
    kept: Option<u32>,
    digests: Vec<Cow<'de, str>>,
    /// Each logical path with the index of its digest in `digests`.
    paths: Vec<(Cow<'de, str>, u32)>,
}

impl Parts<'_> {
    fn answer(self, requested: Option<VersionNum>) -> Result<OneVersion, ReadError> {
        let (Some(id), Some(spec), Some(algorithm), Some(head), Some(manifest), Some(kept)) = (
            self.id,
            self.spec,
            self.algorithm,
            self.head,
            self.manifest,
            self.versions,
        ) else {
            return Ok(unusable("a required member is missing")?);
        };
        let (spec_version, digest_algorithm, head) = object_members(&id, &spec, &algorithm, &head)?;
        let Kept {
            mut versions,
            kept,
            digests,
            paths,
        } = kept;
        versions.sort_unstable_by_key(|v| v.version.number());
        if versions.last().map(|v| v.version) != Some(head) {
            return Ok(unusable("the head is not the highest version")?);
        }
        let wanted = requested.unwrap_or(head).number();
        let Some(found) = versions.iter().find(|v| v.version.number() == wanted) else {
            return Err(ReadError::NoSuchVersion {
                id: id.into_owned(),
                version: requested.unwrap_or(head),
                head,
            });
        };
        if kept != Some(wanted) {
            return Ok(unusable("the version's state was not kept")?);
        }
        let version = found.version;
        let mut manifest = manifest;
        sort_manifest(&mut manifest)?;
        let content = first_content_paths(&manifest, &digests, digest_algorithm)?;
        let entries = paths
            .iter()
            .map(|(path, index)| {
                let index = *index as usize;
                match (digests.get(index), content.get(index)) {
                    (Some(digest), Some(content)) => Ok((path.as_ref(), digest.as_ref(), *content)),
                    _ => unusable("a digest index is out of range"),
                }
            })
            .collect::<Result<Vec<_>, LookupError>>()?;
        let Some(files) = VersionFiles::build(version, entries) else {
            return Ok(unusable("a path is listed twice in the version")?);
        };
        let versions = versions
            .into_iter()
            .map(|v| {
                let Some(created) = v.created else {
                    return unusable(format!("version {} has no created", v.version));
                };
                Ok(VersionInfo {
                    version: v.version,
                    created: created.into_owned(),
                    message: v.message.map(Cow::into_owned),
                    user: v.user.map(|u| User {
                        name: u.name,
                        address: u.address,
                    }),
                    files: v.files,
                })
            })
            .collect::<Result<Vec<_>, LookupError>>()?;
        Ok(OneVersion {
            id: id.into_owned(),
            spec_version,
            digest_algorithm,
            head,
            versions,
            files,
        })
    }
}

/// Compares two digests as [`Digest::new`](crate::digest::Digest::new) normalizes them.
fn folded_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|x| x.to_ascii_lowercase())
        .cmp(b.bytes().map(|x| x.to_ascii_lowercase()))
}

/// Sorts the manifest's entries by digest; refused when it lists a digest twice (in any
/// case).
fn sort_manifest(manifest: &mut ManifestKeys<'_>) -> Result<(), LookupError> {
    manifest.sort_unstable_by(|a, b| folded_cmp(&a.0, &b.0));
    if manifest
        .windows(2)
        .any(|pair| pair[0].0.eq_ignore_ascii_case(&pair[1].0))
    {
        return unusable("a digest is listed twice in the manifest");
    }
    Ok(())
}

/// The first content path of each of `digests` (in their order), from the sorted
/// manifest; refused when a digest is malformed, missing, or written in another case.
fn first_content_paths<'m>(
    manifest: &'m ManifestKeys<'_>,
    digests: &[Cow<'_, str>],
    algorithm: DigestAlgorithm,
) -> Result<Vec<&'m str>, LookupError> {
    let mut found = Vec::with_capacity(digests.len());
    // A state lists its digests in ascending order as a rule, most of them the manifest's in
    // turn: the entry after the last one found is tried before a binary search (the same
    // answer, the manifest holding each digest once).
    let mut next = 0;
    for digest in digests {
        if !algorithm.is_well_formed(digest) {
            return unusable(format!("digest {digest:?}"));
        }
        let index = match manifest.get(next) {
            Some((key, _)) if folded_cmp(key, digest).is_eq() => next,
            _ => match manifest.binary_search_by(|(key, _)| folded_cmp(key, digest)) {
                Ok(index) => index,
                Err(_) => return unusable(format!("digest {digest} is not in the manifest")),
            },
        };
        next = index + 1;
        let Some((key, Some(first))) = manifest.get(index) else {
            return unusable(format!("digest {digest} has no manifest content path"));
        };
        // The full parse refuses a state digest that matches only when ignoring case (E050).
        if key != digest {
            return unusable(format!(
                "digest {digest} is in the manifest in another case"
            ));
        }
        found.push(first.as_ref());
    }
    Ok(found)
}

impl<'de> DeserializeSeed<'de> for Document {
    type Value = Parts<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Parts<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Document {
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
                    parts.versions = Some(map.next_value_seed(VersionsSeed {
                        wanted: self.wanted,
                    })?);
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

struct VersionsSeed {
    wanted: Option<u32>,
}

impl<'de> DeserializeSeed<'de> for VersionsSeed {
    type Value = Kept<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kept<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VersionsSeed {
    type Value = Kept<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a versions object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kept<'de>, A::Error> {
        let mut kept = Kept::default();
        while let Some(Text(name)) = map.next_key()? {
            let version = VersionNum::parse(&name).map_err(de::Error::custom)?;
            let number = version.number();
            // Equal numbers (`v1` and `v01`, or a repeated key) make the version ambiguous.
            if kept.versions.iter().any(|v| v.version.number() == number) {
                return Err(de::Error::custom(format!("version {name} appears twice")));
            }
            // The head is the highest version (checked once the whole document is read):
            // without a number asked for, the highest so far is kept, replaced by any higher.
            let keep = match self.wanted {
                Some(wanted) => wanted == number,
                None => kept.kept.is_none_or(|k| k < number),
            };
            let mut state = keep.then(|| (Vec::new(), Vec::new()));
            let raw = map.next_value_seed(VersionSeed {
                version,
                state: state.as_mut(),
            })?;
            if let Some((digests, paths)) = state {
                kept.kept = Some(number);
                kept.digests = digests;
                kept.paths = paths;
            }
            kept.versions.push(raw);
        }
        Ok(kept)
    }
}

/// Where a kept version's state goes: its digests, and each path with its digest's index.
type StateSink<'s, 'de> = &'s mut (Vec<Cow<'de, str>>, Vec<(Cow<'de, str>, u32)>);

struct VersionSeed<'s, 'de> {
    version: VersionNum,
    state: Option<StateSink<'s, 'de>>,
}

impl<'de> DeserializeSeed<'de> for VersionSeed<'_, 'de> {
    type Value = RawVersion<'de>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<RawVersion<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VersionSeed<'_, 'de> {
    type Value = RawVersion<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a version object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<RawVersion<'de>, A::Error> {
        let mut raw = RawVersion {
            version: self.version,
            created: None,
            message: None,
            user: None,
            files: 0,
        };
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Text(key)) = map.next_key()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("key {key:?} appears twice")));
            }
            match key.as_ref() {
                "created" => raw.created = Some(map.next_value::<Text>()?.0),
                "message" => raw.message = Some(map.next_value::<Text>()?.0),
                "user" => raw.user = Some(map.next_value::<RawUser>()?),
                "state" => {
                    raw.files = map.next_value_seed(StateSeed {
                        sink: self.state.as_deref_mut(),
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            seen.push(key);
        }
        if !seen.iter().any(|k| k == "state") {
            return Err(de::Error::custom("a version has no state"));
        }
        Ok(raw)
    }
}

struct StateSeed<'s, 'de> {
    sink: Option<StateSink<'s, 'de>>,
}

impl<'de> DeserializeSeed<'de> for StateSeed<'_, 'de> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StateSeed<'_, 'de> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a state object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<usize, A::Error> {
        let mut files = 0;
        while let Some(Text(digest)) = map.next_key()? {
            let index = match self.sink.as_deref_mut() {
                Some((digests, _)) => {
                    let index = u32::try_from(digests.len()).map_err(de::Error::custom)?;
                    digests.push(digest);
                    Some(index)
                }
                None => None,
            };
            files += map.next_value_seed(PathsSeed {
                sink: self
                    .sink
                    .as_deref_mut()
                    .and_then(|(_, paths)| index.map(|i| (paths, i))),
            })?;
        }
        Ok(files)
    }
}

/// An array of logical paths, each checked against the grammar: counted, and kept with
/// their digest's index when the version is the one asked for.
struct PathsSeed<'s, 'de> {
    sink: Option<(PathSink<'s, 'de>, u32)>,
}

/// Where a kept version's paths go, each with its digest's index.
type PathSink<'s, 'de> = &'s mut Vec<(Cow<'de, str>, u32)>;

impl<'de> DeserializeSeed<'de> for PathsSeed<'_, 'de> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PathsSeed<'_, 'de> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of logical paths")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<usize, A::Error> {
        let mut count = 0;
        while let Some(Text(path)) = seq.next_element::<Text>()? {
            check_path(&path).map_err(de::Error::custom)?;
            count += 1;
            if let Some((paths, index)) = self.sink.as_mut() {
                paths.push((path, *index));
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests;
