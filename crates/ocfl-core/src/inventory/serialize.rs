//! Deterministic serialization of an [`Inventory`].
//!
//! Format: pretty-printed JSON with a 2-space indent, every object's keys in byte order
//! (so `v10` sorts before `v2`, as `jq -S` and Python's `sort_keys` do), arrays in the order
//! the inventory holds them, non-ASCII characters written as UTF-8 (not `\u` escapes), and a
//! single trailing newline. Optional keys (`contentDirectory`, `fixity`, `message`, `user`,
//! `address`) are omitted when absent. Equal inventories always give identical bytes, so an
//! inventory is serialized once and the same bytes go to the version directory and the root
//! (E064).

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::types::{Inventory, User, Version};
use crate::path::ContentPath;
use crate::path::LogicalPath;

impl Inventory {
    /// The inventory as deterministic JSON: sorted keys, pretty-printed with a 2-space
    /// indent, ending with a newline (see the module documentation for the exact format).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.estimated_json_len());
        let mut serializer = serde_json::Serializer::pretty(&mut out);
        // Writing to a Vec cannot fail, and every map key is a string: serialization of
        // these types has no error path. Should that ever change, the partial output would
        // fail to parse rather than be silently wrong.
        if InventoryJson(self).serialize(&mut serializer).is_err() {
            out.clear();
        }
        out.push(b'\n');
        out
    }

    fn estimated_json_len(&self) -> usize {
        let per_digest = self.digest_algorithm.hex_len().unwrap_or(64) + 40;
        let versions: usize = self.versions.values().map(|v| v.state.len()).sum();
        512 + (self.manifest.len() + versions) * (per_digest + 64)
    }
}

struct InventoryJson<'a>(&'a Inventory);

impl Serialize for InventoryJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let inventory = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(content_directory) = &inventory.content_directory {
            map.serialize_entry("contentDirectory", content_directory)?;
        }
        map.serialize_entry("digestAlgorithm", inventory.digest_algorithm.name())?;
        if let Some(fixity) = &inventory.fixity {
            map.serialize_entry("fixity", &FixityJson(fixity))?;
        }
        map.serialize_entry("head", &inventory.head.to_string())?;
        map.serialize_entry("id", &inventory.id)?;
        map.serialize_entry(
            "manifest",
            &SortedMap(
                inventory
                    .manifest
                    .iter()
                    .map(|(digest, paths)| (digest.as_str(), ContentPaths(paths)))
                    .collect(),
            ),
        )?;
        map.serialize_entry("type", inventory.spec_version.inventory_type())?;
        let names: Vec<(String, VersionJson<'_>)> = inventory
            .versions
            .iter()
            .map(|(num, version)| (num.to_string(), VersionJson(version)))
            .collect();
        map.serialize_entry(
            "versions",
            &SortedMap(
                names
                    .iter()
                    .map(|(name, version)| (name.as_str(), version))
                    .collect(),
            ),
        )?;
        map.end()
    }
}

/// A map written in byte order of its keys, whatever order it was built in.
struct SortedMap<'a, V>(Vec<(&'a str, V)>);

impl<V: Serialize> Serialize for SortedMap<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<&(&str, V)> = self.0.iter().collect();
        entries.sort_unstable_by_key(|(key, _)| *key);
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

struct ContentPaths<'a>(&'a [ContentPath]);

impl Serialize for ContentPaths<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ContentPath::as_str))
    }
}

struct LogicalPaths<'a>(&'a [LogicalPath]);

impl Serialize for LogicalPaths<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(LogicalPath::as_str))
    }
}

struct FixityJson<'a>(&'a super::types::Fixity);

impl Serialize for FixityJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SortedMap(
            self.0
                .iter()
                .map(|(algorithm, digests)| {
                    (
                        algorithm.as_str(),
                        SortedMap(
                            digests
                                .iter()
                                .map(|(digest, paths)| (digest.as_str(), ContentPaths(paths)))
                                .collect(),
                        ),
                    )
                })
                .collect(),
        )
        .serialize(serializer)
    }
}

struct VersionJson<'a>(&'a Version);

impl Serialize for VersionJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let version = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("created", &version.created)?;
        if let Some(message) = &version.message {
            map.serialize_entry("message", message)?;
        }
        map.serialize_entry(
            "state",
            &SortedMap(
                version
                    .state
                    .iter()
                    .map(|(digest, paths)| (digest.as_str(), LogicalPaths(paths)))
                    .collect(),
            ),
        )?;
        if let Some(user) = &version.user {
            map.serialize_entry("user", &UserJson(user))?;
        }
        map.end()
    }
}

struct UserJson<'a>(&'a User);

impl Serialize for UserJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(address) = &self.0.address {
            map.serialize_entry("address", address)?;
        }
        map.serialize_entry("name", &self.0.name)?;
        map.end()
    }
}
