use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::inventory::{Fixity, Version, parse_inventory, test_inventories};

/// An inventory of `versions` ([`test_inventories::versions`]) with the object-wide members
/// chosen.
fn build(
    versions: &[BTreeMap<String, u8>],
    padded: bool,
    id: &str,
    algorithm: DigestAlgorithm,
    spec_version: SpecVersion,
    fixity: bool,
) -> Inventory {
    let (manifest, built, head) =
        test_inventories::versions(versions, padded, algorithm, |number, state| Version {
            created: format!("2024-01-{number:02}T03:04:05Z"),
            state,
            message: None,
            user: None,
        });
    let fixity = fixity.then(|| {
        let mut table = Fixity::new();
        let md5 = table.entry("md5".to_owned()).or_default();
        for (digest, paths) in &manifest {
            md5.insert(
                DigestAlgorithm::Md5
                    .digest_bytes(digest.as_str().as_bytes())
                    .to_string(),
                paths.clone(),
            );
        }
        table
    });
    Inventory {
        id: id.to_owned(),
        spec_version,
        digest_algorithm: algorithm,
        head,
        content_directory: None,
        manifest,
        versions: built,
        fixity,
    }
}

fn paths_strategy() -> impl Strategy<Value = BTreeMap<String, u8>> {
    prop::collection::btree_map(
        (
            0usize..3,
            prop::sample::select(vec!["a.txt", "b c", "q\"d", "caf\u{e9}"]),
        )
            .prop_map(|(dir, name)| format!("d{dir}/{name}")),
        0u8..6,
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn agrees_with_the_full_parse(
        versions in prop::collection::vec(paths_strategy(), 1..12),
        padded in any::<bool>(),
        id in prop::sample::select(vec!["x", "urn:x:<\"quoted\">", "caf\u{e9}\\/"]),
        sha256 in any::<bool>(),
        v1_0 in any::<bool>(),
        fixity in any::<bool>(),
    ) {
        let algorithm = if sha256 { DigestAlgorithm::Sha256 } else { DigestAlgorithm::Sha512 };
        let spec = if v1_0 { SpecVersion::V1_0 } else { SpecVersion::V1_1 };
        let inventory = build(&versions, padded, id, algorithm, spec, fixity);
        let bytes = inventory.to_json_bytes();
        let parsed = parse_inventory(&bytes);
        prop_assert!(!parsed.has_errors(), "{:?}", parsed.findings);
        let full = parsed.inventory.expect("inventory");
        prop_assert_eq!(read_summary(&bytes), Some(InventorySummary::from_inventory(&full)));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_summary(&bytes);
    }

    #[test]
    fn never_panics_on_a_mangled_inventory(
        versions in prop::collection::vec(paths_strategy(), 1..3),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let inventory = build(&versions, false, "x", DigestAlgorithm::Sha512, SpecVersion::V1_1, false);
        let mut bytes = inventory.to_json_bytes();
        // Cut within the document, so that the last brace goes (a trailing newline may not).
        let end = bytes.iter().rposition(|b| *b == b'}').expect("a closing brace");
        let at = cut.index(end + 1);
        bytes[at] = byte;
        let _ = read_summary(&bytes);
        bytes.truncate(at);
        prop_assert!(read_summary(&bytes).is_none());
    }
}

fn good() -> String {
    let mut versions = vec![BTreeMap::new(), BTreeMap::new()];
    versions[0].insert("a".to_owned(), 1);
    versions[1].insert("b".to_owned(), 2);
    let inventory = build(
        &versions,
        false,
        "x",
        DigestAlgorithm::Sha512,
        SpecVersion::V1_1,
        false,
    );
    String::from_utf8(inventory.to_json_bytes()).expect("UTF-8")
}

#[test]
fn object_wide_defects_are_left_to_the_full_parse() {
    let good = good();
    assert!(read_summary(good.as_bytes()).is_some(), "{good}");
    let cases = [
        // A head that is not the highest version, or not a version at all.
        good.replacen("\"head\": \"v2\"", "\"head\": \"v1\"", 1),
        good.replacen("\"head\": \"v2\"", "\"head\": \"v02\"", 1),
        good.replacen("\"head\": \"v2\"", "\"head\": \"2\"", 1),
        // A gap, a repeat or two numberings in the versions.
        good.replacen("\"v2\": {", "\"v3\": {", 1),
        good.replacen("\"v2\": {", "\"v1\": {", 1),
        good.replacen("\"v1\": {", "\"v01\": {", 1),
        // A repeated or unknown member, or one missing.
        good.replacen("\"id\": \"x\"", "\"id\": \"x\", \"id\": \"y\"", 1),
        good.replacen("\"id\": \"x\"", "\"id\": \"x\", \"extra\": 1", 1),
        good.replacen("\"id\": \"x\",", "", 1),
        good.replacen("\"id\": \"x\"", "\"id\": \"\"", 1),
        // Members of the wrong kind or value.
        good.replacen("\"manifest\": {", "\"manifest\": [{", 1),
        good.replacen("sha512", "md5", 1),
        good.replacen(
            "ocfl.io/1.1/spec/#inventory",
            "ocfl.io/9.9/spec/#inventory",
            1,
        ),
        // Text after the document.
        format!("{good} {{}}"),
        format!("{good}\u{0}"),
    ];
    for case in cases {
        assert_ne!(case, good, "the case must change the document");
        assert_eq!(read_summary(case.as_bytes()), None, "{case}");
    }
    let mut bytes = good.into_bytes();
    bytes.push(0xff);
    assert_eq!(read_summary(&bytes), None);
}
