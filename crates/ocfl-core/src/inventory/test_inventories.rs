//! Inventories for the tests of the quick readers (`lookup`, `one_version`, `summary`): each
//! is checked against the full parse of the same generated documents.

use std::collections::BTreeMap;

use super::{Manifest, State, Version};
use crate::digest::DigestAlgorithm;
use crate::path::{ContentPath, LogicalPath};
use crate::version_num::VersionNum;

/// The manifest, the versions and the head of an inventory of `versions`, each a map
/// logical path -> content number: content first seen in version n is stored at
/// `vn/content/<path>`, equal content numbers share a digest (of `algorithm`), the
/// numbering is zero-padded or not, and `version(n, state)` makes version n from its state.
pub(super) fn versions(
    versions: &[BTreeMap<String, u8>],
    padded: bool,
    algorithm: DigestAlgorithm,
    version: impl Fn(u32, State) -> Version,
) -> (Manifest, BTreeMap<VersionNum, Version>, VersionNum) {
    let mut manifest = Manifest::new();
    let mut built = BTreeMap::new();
    let mut head = VersionNum::V1;
    for (index, files) in versions.iter().enumerate() {
        let number = u32::try_from(index + 1).expect("few versions");
        let name = if padded {
            format!("v{number:03}")
        } else {
            format!("v{number}")
        };
        let num = VersionNum::parse(&name).expect("version name");
        head = num;
        let mut state = State::new();
        for (path, content) in files {
            let digest = algorithm.digest_bytes(&[*content]);
            let stored = manifest.entry(digest.clone()).or_default();
            if stored.is_empty() {
                stored.push(
                    ContentPath::new(format!("{name}/content/{path}")).expect("content path"),
                );
            }
            state
                .entry(digest)
                .or_default()
                .push(LogicalPath::new(path.clone()).expect("logical path"));
        }
        built.insert(num, version(number, state));
    }
    (manifest, built, head)
}

/// The same document with every `/` and non-ASCII character written as a `\u` or `\/`
/// escape, so that no string borrows from the text.
pub(super) fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}
