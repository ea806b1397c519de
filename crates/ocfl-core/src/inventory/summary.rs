//! What an inventory says of its object as a whole (id, specification version, digest
//! algorithm, head), read in one scan of the text without keeping the manifest or any
//! version's state: the console's object index needs only these of every object, and the
//! full model of a 100,000-file inventory costs about twice its text in memory.
//!
//! The read checks that the document is an object with exactly the members an inventory
//! may have (each once), that `type`, `digestAlgorithm` and `head` are ones
//! [`parse_inventory`](super::parse_inventory) accepts, that `manifest` and `versions` are
//! objects, and that `head` is the highest of the version names, which must be versions
//! with one numbering. It does not check the manifest, states or paths: anything it cannot
//! answer is `None`, after which a caller parses the document in full to report it. On a
//! document that `parse_inventory` accepts without errors, the answer is
//! [`InventorySummary::from_inventory`] of the parsed inventory.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use super::lookup::object_members;
use super::types::Inventory;
use crate::SpecVersion;
use crate::digest::DigestAlgorithm;
use crate::version_num::VersionNum;

/// An inventory's object-wide members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventorySummary {
    /// The object id.
    pub id: String,
    /// The specification version named by `type`.
    pub spec_version: SpecVersion,
    /// The content-addressing algorithm.
    pub digest_algorithm: DigestAlgorithm,
    /// The head version, as the inventory names it.
    pub head: VersionNum,
}

impl InventorySummary {
    /// The same summary of a parsed inventory.
    pub fn from_inventory(inventory: &Inventory) -> InventorySummary {
        InventorySummary {
            id: inventory.id.clone(),
            spec_version: inventory.spec_version,
            digest_algorithm: inventory.digest_algorithm,
            head: inventory.head,
        }
    }
}

/// The summary of the inventory document `bytes`, or `None` when the quick read cannot
/// vouch for it. Never panics, whatever the bytes.
pub fn read_summary(bytes: &[u8]) -> Option<InventorySummary> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let raw = Raw::deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    let (spec_version, digest_algorithm, head) =
        object_members(&raw.id, &raw.kind, &raw.digest_algorithm, &raw.head).ok()?;
    let Versions(highest) = raw.versions;
    // The head must be the highest version, named with the same numbering.
    if highest != Some(head) {
        return None;
    }
    Some(InventorySummary {
        id: raw.id.into_owned(),
        spec_version,
        digest_algorithm,
        head,
    })
}

/// The document's members; those the summary does not need are skipped without being kept.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Raw<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    digest_algorithm: Cow<'a, str>,
    #[serde(borrow)]
    head: Cow<'a, str>,
    #[serde(default, rename = "contentDirectory")]
    _content_directory: Option<String>,
    #[serde(default, rename = "fixity")]
    _fixity: Option<Object>,
    #[serde(rename = "manifest")]
    _manifest: Object,
    versions: Versions,
}

/// A JSON object whose members are skipped.
struct Object;

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Object)
    }
}

/// The versions' names, each a version object, all with one numbering and without a gap
/// or repeat (so that the highest is the count): kept is the highest.
struct Versions(Option<VersionNum>);

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(VersionsVisitor)
    }
}

struct VersionsVisitor;

impl<'de> Visitor<'de> for VersionsVisitor {
    type Value = Versions;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the versions object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Versions, A::Error> {
        let mut count: u32 = 0;
        let mut highest: Option<VersionNum> = None;
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            map.next_value::<Object>()?;
            let num = VersionNum::parse(&name).map_err(de::Error::custom)?;
            if highest.is_some_and(|first| !first.same_convention(num)) {
                return Err(de::Error::custom("versions with two numberings"));
            }
            if !seen.insert(num.number()) {
                return Err(de::Error::custom("a version listed twice"));
            }
            count = count.saturating_add(1);
            if highest.is_none_or(|h| num.number() > h.number()) {
                highest = Some(num);
            }
        }
        if highest.map(VersionNum::number) != Some(count) {
            return Err(de::Error::custom("a gap in the versions"));
        }
        Ok(Versions(highest))
    }
}

#[cfg(test)]
mod tests;
