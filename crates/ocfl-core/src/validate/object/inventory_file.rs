//! Reading one inventory file (in the object root or a version directory): parse it, pass
//! on the parser's findings tagged with the file's location, and check its sidecar.

use foldhash::HashSet;
use std::sync::OnceLock;

use super::{location, sidecar};
use crate::SpecVersion;
use crate::digest::{Digest, DigestAlgorithm};
use crate::inventory::{Inventory, parse_inventory};
use crate::sidecar::INVENTORY_FILE;
use crate::storage::{Directory, Entry, EntryKind};
use crate::validate::code::{Code, Finding};
use crate::validate::report::ObjectReport;
use crate::version_num::VersionNum;

/// An inventory file as found in the object.
pub(super) struct InventoryFile {
    /// The directory holding it, relative to the object root (`""` for the root, `"v1"`).
    pub dir: String,
    /// What the bytes of the root inventory are, for recognising a copy in a version
    /// directory; `None` for version inventories. The bytes themselves are not kept: for a
    /// large object they would sit beside the parsed inventory for the whole validation.
    pub fingerprint: Option<Fingerprint>,
    /// The parsed inventory, when its structure could be recovered. `None` also when the
    /// file is byte-identical to the root inventory (it is then not parsed again), and when it
    /// was dropped as redundant with the root's (`reduced`).
    pub inventory: Option<Inventory>,
    /// What the whole-object checks need of the parsed inventory, kept when it is dropped;
    /// `None` when there was none (or it is a copy of the root's).
    pub summary: Option<Summary>,
    /// Whether the parsed inventory was dropped, having been checked against the root's and
    /// found redundant with it (see `redundant.rs`).
    pub reduced: bool,
    /// Whether the bytes are those of the root inventory (so every finding about the root
    /// inventory holds for this file too).
    pub same_as_root: bool,
    /// The parser's findings, without the location prefix.
    pub findings: Vec<Finding>,
    /// Names of the files in `dir` accounted for as this inventory's sidecar.
    pub sidecars: Vec<String>,
    /// The digest of the bytes, once computed for the sidecar check (see `sidecar::check`).
    pub digest: OnceLock<(DigestAlgorithm, Digest)>,
}

impl InventoryFile {
    /// `inventory.json` or `v1/inventory.json`.
    pub fn location(&self) -> String {
        location(&self.dir, INVENTORY_FILE)
    }
}

/// What the checks made after loading need of an inventory (E040, E103, E019/E020, the
/// report's id), small enough to keep for every version once the inventory is dropped.
#[derive(Debug, Clone)]
pub(super) struct Summary {
    pub id: String,
    pub spec_version: SpecVersion,
    pub head: VersionNum,
    /// `contentDirectory` as written.
    pub content_directory: Option<String>,
}

impl Summary {
    fn of(inventory: &Inventory) -> Summary {
        Summary {
            id: inventory.id.clone(),
            spec_version: inventory.spec_version,
            head: inventory.head,
            content_directory: inventory.content_directory.clone(),
        }
    }

    /// The content directory in effect (see [`Inventory::content_directory`]).
    pub fn content_directory(&self) -> &str {
        self.content_directory.as_deref().unwrap_or("content")
    }
}

/// Loads `dir/inventory.json` when `entries` (the listing of `dir`, open as `files`) shows it
/// as a regular file. Returns `None` when it is absent or unreadable, after reporting why if it exists
/// but cannot be used; the caller reports the absence (E063 or W010).
///
/// For a version directory, `root` is the root inventory: a byte-identical copy is not
/// parsed again, and parser findings identical to the root's are not repeated.
pub(super) fn load(
    files: &dyn Directory,
    dir: &str,
    entries: &[Entry],
    root: Option<&InventoryFile>,
    report: &mut ObjectReport,
) -> Option<InventoryFile> {
    let bytes = read(files, dir, entries, report)?;
    Some(load_read(files, dir, entries, bytes, root, report))
}

/// The bytes of `dir/inventory.json`, read as [`load`] reads them (reporting why a file that
/// is there cannot be used).
pub(super) fn read(
    files: &dyn Directory,
    dir: &str,
    entries: &[Entry],
    report: &mut ObjectReport,
) -> Option<Vec<u8>> {
    let path = location(dir, INVENTORY_FILE);
    let entry = entries.iter().find(|e| e.name == INVENTORY_FILE)?;
    if entry.kind == EntryKind::Symlink {
        report.add(
            Code::E090,
            format!("{path}: symbolic links are not allowed in an object (not followed)"),
        );
    }
    if entry.kind != EntryKind::File {
        report.add(Code::E033, format!("{path}: is not a regular file"));
        return None;
    }
    match files.read_file(INVENTORY_FILE) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            report.add(Code::E033, format!("{path}: cannot be read: {e}"));
            None
        }
    }
}

/// [`load`] of the `bytes` [`read`] returned.
pub(super) fn load_read(
    files: &dyn Directory,
    dir: &str,
    entries: &[Entry],
    bytes: Vec<u8>,
    root: Option<&InventoryFile>,
    report: &mut ObjectReport,
) -> InventoryFile {
    let path = location(dir, INVENTORY_FILE);
    if let Some(root) = root
        && root.fingerprint.as_ref().is_some_and(|f| f.matches(&bytes))
    {
        let algorithm = root.inventory.as_ref().map(|i| i.digest_algorithm);
        let sidecars = sidecar::check(files, dir, entries, &bytes, &root.digest, algorithm, report);
        return InventoryFile {
            dir: dir.to_owned(),
            fingerprint: None,
            inventory: None,
            summary: None,
            reduced: false,
            same_as_root: true,
            findings: Vec::new(),
            sidecars,
            digest: OnceLock::new(),
        };
    }
    let digest = OnceLock::new();
    let parsed = match sidecar_algorithm(entries).filter(|_| bytes.len() >= PARALLEL_DIGEST) {
        // A large inventory: its sidecar digest is computed on another thread while it is
        // parsed (the sidecar's name tells the algorithm to expect; `sidecar::check` uses
        // the cached digest only if the parsed `digestAlgorithm` agrees).
        Some(algorithm) => {
            let (parsed, computed) = rayon::join(
                || parse_inventory(&bytes),
                || algorithm.digest_bytes(&bytes),
            );
            let _ = digest.set((algorithm, computed));
            parsed
        }
        None => parse_inventory(&bytes),
    };
    let root_findings: HashSet<(Code, &str)> = root
        .map(|r| {
            r.findings
                .iter()
                .map(|f| (f.code, f.message.as_str()))
                .collect()
        })
        .unwrap_or_default();
    for finding in &parsed.findings {
        if root_findings.contains(&(finding.code, finding.message.as_str())) {
            continue;
        }
        report.push(Finding::new(
            finding.code,
            format!("{path}: {}", finding.message),
        ));
    }
    let algorithm = parsed.inventory.as_ref().map(|i| i.digest_algorithm);
    let sidecars = sidecar::check(files, dir, entries, &bytes, &digest, algorithm, report);
    InventoryFile {
        dir: dir.to_owned(),
        fingerprint: dir.is_empty().then(|| Fingerprint::of(&bytes)),
        summary: parsed.inventory.as_ref().map(Summary::of),
        inventory: parsed.inventory,
        reduced: false,
        same_as_root: false,
        findings: parsed.findings,
        sidecars,
        digest,
    }
}

/// The length and BLAKE3 hash of an inventory's bytes: two inventories with equal
/// fingerprints are taken to be byte-identical (a collision would take a break of BLAKE3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprint {
    len: usize,
    hash: blake3::Hash,
}

impl Fingerprint {
    pub(super) fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint {
            len: bytes.len(),
            hash: blake3::hash(bytes),
        }
    }

    /// Whether `bytes` have this fingerprint (hashed only when the lengths agree).
    pub(super) fn matches(&self, bytes: &[u8]) -> bool {
        self.len == bytes.len() && *self == Fingerprint::of(bytes)
    }
}

/// Inventories at least this large have their sidecar digest computed while they are parsed.
const PARALLEL_DIGEST: usize = 1024 * 1024;

/// The algorithm named by the only sidecar-like file in `entries`, if there is one.
pub(super) fn sidecar_algorithm(entries: &[Entry]) -> Option<DigestAlgorithm> {
    let mut names = entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && is_sidecar_name(&e.name));
    let only = names.next().filter(|_| names.next().is_none())?;
    DigestAlgorithm::from_name(&only.name[INVENTORY_FILE.len() + 1..])
}

/// Whether `name` looks like an inventory sidecar (`inventory.json.<anything>`).
pub(super) fn is_sidecar_name(name: &str) -> bool {
    name.strip_prefix(INVENTORY_FILE)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|algorithm| !algorithm.is_empty())
}

/// Whether `name` in a directory whose inventory is `inventory` is accounted for as the
/// inventory or its sidecar. When there is no inventory, every sidecar-like name counts:
/// the missing inventory is the finding, not its leftovers.
pub(super) fn is_accounted(name: &str, inventory: Option<&InventoryFile>) -> bool {
    name == INVENTORY_FILE
        || match inventory {
            Some(file) => file.sidecars.iter().any(|s| s == name),
            None => is_sidecar_name(name),
        }
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;

    #[test]
    fn a_fingerprint_matches_only_the_same_bytes() {
        let root = br#"{"id": "urn:x", "head": "v2"}"#;
        let fingerprint = Fingerprint::of(root);
        assert!(fingerprint.matches(root));
        // Same length, one byte changed; and a prefix.
        assert!(!fingerprint.matches(br#"{"id": "urn:x", "head": "v1"}"#));
        assert!(!fingerprint.matches(&root[..root.len() - 1]));
    }
}
