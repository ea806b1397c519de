//! Parsing one inventory document into an [`Inventory`] and the findings about it.
//!
//! Only checks that need this one document live here; the object validator adds everything
//! that needs the filesystem or other inventories.

use bumpalo::Bump;
use std::collections::BTreeMap;

use super::findings::Findings;
use super::json::{self, Json};
use super::manifest::{ContentLocation, parse_fixity, parse_manifest};
use super::types::Inventory;
use super::versions::{ManifestKeys, VersionEntry, parse_version, version_entries};
use crate::SpecVersion;
use crate::digest::DigestAlgorithm;
use crate::object_id::is_uri;
use crate::validate::{Code, Finding};
use crate::version_num::VersionNum;

/// Result of parsing one inventory document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedInventory {
    /// The inventory, whenever its structure could be recovered — even when `findings`
    /// contain errors — so that validation can go on checking the object's content.
    ///
    /// `None` only when the document is unusable: not UTF-8 JSON, not an object, no usable
    /// `manifest` or `versions` (missing, wrong type, or without one well-named version), or a
    /// `digestAlgorithm` that is missing or names no known algorithm.
    ///
    /// Recovered values where the document is defective (each defect has its finding): a
    /// missing or non-string `id` becomes `""`; a missing or unknown `type` is read as the
    /// latest specification version; a missing or malformed `head` becomes the highest version;
    /// an invalid `contentDirectory` is dropped (the default `content` applies); invalid
    /// paths, and non-string members, are left out of manifest, states and fixity; a version
    /// block that is not an object, or whose `created`/`state` is unusable, keeps its place
    /// with an empty `created`/`state`; an unusable `fixity` is `None`.
    pub inventory: Option<Inventory>,
    /// Every problem found: errors and warnings, each with its specification code.
    pub findings: Vec<Finding>,
}

impl ParsedInventory {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity() == crate::validate::Severity::Error)
    }
}

const TOP_LEVEL_KEYS: [&str; 8] = [
    "id",
    "type",
    "digestAlgorithm",
    "head",
    "contentDirectory",
    "manifest",
    "versions",
    "fixity",
];

/// Parses an inventory document, reporting every defect it can find in the document alone.
/// Never panics, whatever the bytes.
pub fn parse_inventory(bytes: &[u8]) -> ParsedInventory {
    let mut findings = Findings::new();
    let inventory = parse_document(bytes, &mut findings);
    ParsedInventory {
        inventory,
        findings: findings.list,
    }
}

fn parse_document(bytes: &[u8], findings: &mut Findings) -> Option<Inventory> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            findings.add(
                Code::E033,
                format!(
                    "the inventory is not UTF-8: invalid byte sequence at offset {}",
                    error.valid_up_to()
                ),
            );
            return None;
        }
    };
    // RFC 8259 lets parsers ignore a byte-order mark, but OCFL asks for JSON in UTF-8 and a
    // BOM is not part of JSON text: report it, then read on so other defects still show.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            findings.add(Code::E033, "the inventory begins with a byte-order mark");
            rest
        }
        None => text,
    };
    // Strings that needed unescaping live here, as long as the document's text.
    let arena = Bump::new();
    let mut tree = match json::parse(text, &arena) {
        Ok(tree) => tree,
        Err(error) => {
            findings.add(
                Code::E033,
                format!("the inventory is not valid JSON: {error}"),
            );
            return None;
        }
    };
    for (location, key) in json::duplicate_keys(&tree) {
        findings.add(
            Code::E033,
            format!("key {key:?} appears more than once in {location} (the first is used)"),
        );
    }
    let Some(members) = tree.as_object() else {
        findings.add(
            Code::E033,
            format!("the inventory must be a JSON object, found {}", tree.kind()),
        );
        return None;
    };
    // `type` first: it decides which version's codes apply to the rest.
    let spec_version = spec_version(tree.get("type"), findings);
    findings.spec = spec_version.unwrap_or(SpecVersion::LATEST);
    // E102 is in the 1.0 tables too (same wording), so unknown keys are errors in both.
    findings.unknown_keys(members, &TOP_LEVEL_KEYS, "the inventory");

    let id = object_id(tree.get("id"), findings);
    let algorithm = digest_algorithm(tree.get("digestAlgorithm"), findings);
    let content_directory = content_directory(tree.get("contentDirectory"), findings);

    // The two large blocks are moved out of the tree and dropped as soon as they are read:
    // the manifest before the states are built, each version block after its state.
    let mut entries = version_entries(tree.take("versions"), findings);
    let location = ContentLocation {
        version_names: entries
            .as_ref()
            .map(|entries| entries.iter().map(|e| e.name).collect()),
        content_directory: match &content_directory {
            ContentDirectory::Absent => Some("content"),
            ContentDirectory::Valid(name) => Some(name.as_str()),
            ContentDirectory::Invalid => None,
        },
    };
    let manifest_block = tree.take("manifest");
    let mut manifest = parse_manifest(manifest_block.as_ref(), algorithm, &location, findings);
    drop(manifest_block);

    let mut versions = BTreeMap::new();
    if let Some(entries) = &mut entries {
        let mut keys = manifest.as_mut().map(|m| ManifestKeys {
            keys: &mut m.keys,
            manifest: &m.manifest,
        });
        for entry in entries {
            let version = parse_version(entry, keys.as_mut(), findings);
            entry.block = Json::Null;
            versions.insert(entry.num, version);
        }
    }
    // Unused manifest entries became an error in 1.1; the 1.0 text only says the manifest
    // lists "every content file", which an unreferenced file still is. The comparison ignores
    // case: a state digest differing only in case already has its E050.
    if let Some(manifest) = &manifest
        && findings.spec == SpecVersion::V1_1
        && entries.is_some()
    {
        for digest in manifest.keys.unused() {
            findings.add(
                Code::E107,
                format!("manifest digest {digest} is not used by any version's state"),
            );
        }
    }
    let head = head(tree.get("head"), entries.as_deref(), findings);

    let fixity = match tree.get("fixity") {
        None => None,
        Some(value) => parse_fixity(
            value,
            manifest.as_ref().map(|m| m.content_paths.as_slice()),
            findings,
        ),
    };

    let (Some(digest_algorithm), Some(manifest), Some(head)) = (algorithm, manifest, head) else {
        return None;
    };
    Some(Inventory {
        id: id.unwrap_or_default(),
        spec_version: findings.spec,
        digest_algorithm,
        head,
        content_directory: match content_directory {
            ContentDirectory::Valid(name) => Some(name),
            ContentDirectory::Absent | ContentDirectory::Invalid => None,
        },
        manifest: manifest.manifest,
        versions,
        fixity,
    })
}

fn spec_version(value: Option<&Json>, findings: &mut Findings) -> Option<SpecVersion> {
    match value {
        None => {
            findings.add(Code::E036, "the inventory has no \"type\"");
            None
        }
        Some(&Json::String(uri)) => {
            let version = SpecVersion::from_inventory_type(uri);
            if version.is_none() {
                findings.add(
                    Code::E038,
                    format!(
                        "\"type\" {uri:?} is not an OCFL inventory type (expected {:?} or {:?})",
                        SpecVersion::V1_0.inventory_type(),
                        SpecVersion::V1_1.inventory_type()
                    ),
                );
            }
            version
        }
        Some(other) => {
            findings.add(
                Code::E038,
                format!("\"type\" must be a string, found {}", other.kind()),
            );
            None
        }
    }
}

fn object_id(value: Option<&Json>, findings: &mut Findings) -> Option<String> {
    match value {
        None => {
            findings.add(Code::E036, "the inventory has no \"id\"");
            None
        }
        Some(Json::String("")) => {
            findings.add(Code::E037, "\"id\" is the empty string");
            None
        }
        Some(&Json::String(id)) => {
            if !is_uri(id) {
                findings.add(Code::W005, format!("\"id\" {id:?} is not a URI"));
            }
            Some(id.to_string())
        }
        Some(other) => {
            findings.add(
                Code::E037,
                format!("\"id\" must be a string, found {}", other.kind()),
            );
            None
        }
    }
}

/// The algorithm, when it names one we know (even a disallowed one such as md5, so that
/// validation can go on verifying content with it).
fn digest_algorithm(value: Option<&Json>, findings: &mut Findings) -> Option<DigestAlgorithm> {
    match value {
        None => {
            findings.add(Code::E036, "the inventory has no \"digestAlgorithm\"");
            None
        }
        Some(&Json::String(name)) => {
            let algorithm = DigestAlgorithm::from_name(name);
            match algorithm {
                Some(DigestAlgorithm::Sha512) => {}
                Some(DigestAlgorithm::Sha256) => findings.add(
                    Code::W004,
                    "\"digestAlgorithm\" is sha256; sha512 is recommended",
                ),
                _ => findings.add(
                    Code::E025,
                    format!("\"digestAlgorithm\" is {name:?}; it must be sha512 or sha256"),
                ),
            }
            algorithm
        }
        Some(other) => {
            findings.add(
                Code::E025,
                format!(
                    "\"digestAlgorithm\" must be a string, found {}",
                    other.kind()
                ),
            );
            None
        }
    }
}

enum ContentDirectory {
    Absent,
    Valid(String),
    Invalid,
}

fn content_directory(value: Option<&Json>, findings: &mut Findings) -> ContentDirectory {
    let name = match value {
        None => return ContentDirectory::Absent,
        Some(&Json::String(name)) => name,
        Some(other) => {
            findings.add(
                Code::E017,
                format!(
                    "\"contentDirectory\" must be a directory name string, found {}",
                    other.kind()
                ),
            );
            return ContentDirectory::Invalid;
        }
    };
    if name.is_empty() {
        findings.add(
            findings.by_version(Code::E108, Code::E017),
            "\"contentDirectory\" is empty; it must name a child directory of the version directory",
        );
    } else if name.contains('/') {
        findings.add(
            Code::E017,
            format!("\"contentDirectory\" {name:?} contains '/'"),
        );
    } else if name == "." || name == ".." {
        findings.add(
            Code::E018,
            format!("\"contentDirectory\" must not be {name:?}"),
        );
    } else {
        return ContentDirectory::Valid(name.to_string());
    }
    ContentDirectory::Invalid
}

/// The head version: as written when it is a version name (E040 if it is not the highest),
/// else the highest version (after E036/E040). `None` without usable versions.
fn head(
    value: Option<&Json>,
    entries: Option<&[VersionEntry<'_>]>,
    findings: &mut Findings,
) -> Option<VersionNum> {
    let highest = entries.and_then(<[_]>::last);
    match value {
        None => findings.add(Code::E036, "the inventory has no \"head\""),
        Some(&Json::String(name)) => match VersionNum::parse(name) {
            Ok(head) => {
                if let Some(highest) = highest {
                    if highest.name != name {
                        findings.add(
                            Code::E040,
                            format!(
                                "\"head\" is {name:?} but the highest version in \"versions\" is {}",
                                highest.name
                            ),
                        );
                    }
                    return Some(head);
                }
            }
            Err(error) => findings.add(
                Code::E040,
                format!("\"head\" is not a version directory name: {error}"),
            ),
        },
        Some(other) => findings.add(
            Code::E040,
            format!(
                "\"head\" must be a version name string, found {}",
                other.kind()
            ),
        ),
    }
    highest.map(|h| h.num)
}
