use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::inventory::test_inventories::{self, escaped};
use crate::inventory::{Version, parse_inventory};

/// Names that need escaping in JSON, or are not ASCII, beside plain ones.
const NAMES: [&str; 9] = [
    "a.txt",
    "b c",
    "quote\"d",
    "back\\slash",
    "tab\there",
    "caf\u{e9}",
    "\u{1f600}.png",
    "ctl\u{1}",
    "<script>alert(1)</script>",
];

/// An inventory of `versions` ([`test_inventories::versions`]), with messages and users on
/// some versions only.
fn build(versions: &[BTreeMap<String, u8>], padded: bool) -> Inventory {
    let (manifest, versions, head) = test_inventories::versions(
        versions,
        padded,
        DigestAlgorithm::Sha512,
        |number, state| Version {
            created: format!("2024-01-0{number}T03:04:05Z"),
            state,
            message: (number % 2 == 1).then(|| format!("version \"{number}\"")),
            user: (number != 2).then(|| User {
                name: format!("user {number}"),
                address: (number == 1).then(|| "mailto:a@example.org".to_owned()),
            }),
        },
    );
    Inventory {
        id: "urn:x:<one \"version\">".to_owned(),
        spec_version: SpecVersion::V1_1,
        digest_algorithm: DigestAlgorithm::Sha512,
        head,
        content_directory: None,
        manifest,
        versions,
        fixity: None,
    }
}

fn paths_strategy() -> impl Strategy<Value = BTreeMap<String, u8>> {
    prop::collection::btree_map(
        (0usize..3, 0..NAMES.len()).prop_map(|(dir, name)| format!("d{dir}/{}", NAMES[name])),
        0u8..6,
        1..10,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn agrees_with_the_full_parse(
        versions in prop::collection::vec(paths_strategy(), 1..5),
        padded in any::<bool>(),
        escape in any::<bool>(),
        asked in prop::option::of(1u32..7),
    ) {
        let inventory = build(&versions, padded);
        let mut text = String::from_utf8(inventory.to_json_bytes()).expect("UTF-8");
        if escape {
            text = escaped(&text);
        }
        let parsed = parse_inventory(text.as_bytes());
        prop_assert!(!parsed.has_errors(), "{:?}", parsed.findings);
        let full = parsed.inventory.expect("inventory");
        let requested = asked.map(|n| VersionNum::new(n).expect("number"));
        match (read_version(text.as_bytes(), requested), OneVersion::from_inventory(&full, requested)) {
            (Ok(quick), Some(reference)) => {
                prop_assert_eq!(quick.files.len(), reference.versions.iter()
                    .find(|v| v.version == quick.files.version()).map_or(0, |v| v.files));
                prop_assert_eq!(quick, reference);
            }
            (Err(ReadError::NoSuchVersion { id, version, head }), None) => {
                prop_assert_eq!(id, full.id);
                prop_assert_eq!(head, full.head);
                prop_assert_eq!(Some(version), requested);
            }
            (quick, reference) => prop_assert!(false, "{:?} / {:?}", quick, reference),
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_version(&bytes, None);
        let _ = read_version(&bytes, VersionNum::new(1));
    }

    #[test]
    fn never_panics_on_a_mangled_inventory(
        versions in prop::collection::vec(paths_strategy(), 1..3),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = build(&versions, false).to_json_bytes();
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        let _ = read_version(&bytes, None);
        bytes.truncate(at);
        prop_assert!(read_version(&bytes, None).is_err());
    }
}

#[test]
fn the_files_of_the_version_asked_for_sorted_with_their_content_paths() {
    let v1: BTreeMap<String, u8> = [("b", 1), ("a", 1), ("c/d", 2)]
        .into_iter()
        .map(|(p, c)| (p.to_owned(), c))
        .collect();
    let v2: BTreeMap<String, u8> = [("z", 3)]
        .into_iter()
        .map(|(p, c)| (p.to_owned(), c))
        .collect();
    let text = build(&[v1, v2], false).to_json_bytes();
    let one = read_version(&text, VersionNum::new(1)).expect("readable");
    assert_eq!(one.head.to_string(), "v2");
    assert_eq!(one.versions.len(), 2);
    assert_eq!(one.info().map(|v| v.files), Some(3));
    let paths: Vec<_> = one.files.iter().map(|f| f.path).collect();
    assert_eq!(paths, ["a", "b", "c/d"]);
    let a = one.files.get("a").expect("a");
    assert_eq!(a.content_path, "v1/content/a");
    assert_eq!(
        a.digest,
        DigestAlgorithm::Sha512.digest_bytes(&[1]).as_str()
    );
    assert_eq!(
        one.files.get("b").map(|f| f.content_path),
        Some("v1/content/a")
    );
    let after: Vec<_> = one.files.after(Some("a")).map(|f| f.path).collect();
    assert_eq!(after, ["b", "c/d"]);
    assert_eq!(one.files.after(Some("c/d")).count(), 0);
    let head = read_version(&text, None).expect("readable");
    assert_eq!(
        head.files
            .iter()
            .map(|f| f.content_path)
            .collect::<Vec<_>>(),
        ["v2/content/z"]
    );
    assert!(matches!(
        read_version(&text, VersionNum::new(3)),
        Err(ReadError::NoSuchVersion { .. })
    ));
}

#[test]
fn upper_case_digests_are_matched_and_normalized_as_the_full_parse_does() {
    let v1: BTreeMap<String, u8> = [("a", 1)]
        .into_iter()
        .map(|(p, c)| (p.to_owned(), c))
        .collect();
    let text = String::from_utf8(build(&[v1], false).to_json_bytes()).expect("UTF-8");
    let lower = DigestAlgorithm::Sha512.digest_bytes(&[1]);
    let upper = lower.as_str().to_ascii_uppercase();
    // Upper case throughout: normalized as the model normalizes it.
    let upper_text = text.replace(lower.as_str(), &upper);
    let parsed = parse_inventory(upper_text.as_bytes());
    assert!(!parsed.has_errors(), "{:?}", parsed.findings);
    let full = parsed.inventory.expect("inventory");
    let quick = read_version(upper_text.as_bytes(), None).expect("readable");
    assert_eq!(quick.files.get("a").map(|f| f.digest), Some(lower.as_str()));
    assert_eq!(Some(quick), OneVersion::from_inventory(&full, None));
    // Upper case in the state only: an error of the full parse (E050), so not answered.
    let mixed = text
        .replacen(lower.as_str(), &upper, 2)
        .replacen(&upper, lower.as_str(), 1);
    assert!(parse_inventory(mixed.as_bytes()).has_errors());
    assert!(matches!(
        read_version(mixed.as_bytes(), None),
        Err(ReadError::Unusable(_))
    ));
}

fn doc(state_v1: &str, manifest: &str) -> String {
    format!(
        r#"{{"id": "x", "type": "https://ocfl.io/1.1/spec/#inventory", "digestAlgorithm": "sha512",
        "head": "v1", "manifest": {manifest}, "versions": {{"v1": {{"created": "2024-01-02T03:04:05Z",
        "state": {state_v1}}}}}}}"#
    )
}

fn refused(text: &str) -> bool {
    matches!(
        read_version(text.as_bytes(), None),
        Err(ReadError::Unusable(_))
    )
}

#[test]
fn malformed_inventories_are_refused_for_the_full_parse_to_report() {
    let d1 = "a".repeat(128);
    let d2 = "b".repeat(128);
    let good = doc(
        &format!(r#"{{"{d1}": ["f"], "{d2}": ["g"]}}"#),
        &format!(r#"{{"{d1}": ["v1/content/f"], "{d2}": ["v1/content/g"]}}"#),
    );
    assert!(read_version(good.as_bytes(), None).is_ok());
    let cases = [
        // A digest of the state the manifest lacks.
        good.replacen(
            &format!(r#""{d2}": ["v1/content/g"]"#),
            r#""c": ["v1/content/g"]"#,
            1,
        ),
        // A path listed twice in the version.
        good.replacen(r#"["g"]"#, r#"["f"]"#, 1),
        // A malformed digest.
        good.replace(&d2, "zz"),
        // A digest listed twice in the manifest, in another case.
        good.replacen(
            &format!(r#""{d2}": ["v1/content/g"]"#),
            &format!(
                r#""{d2}": ["v1/content/g"], "{}": ["v1/content/h"]"#,
                d2.to_uppercase()
            ),
            1,
        ),
        // Paths against the grammar, in the state or the manifest.
        good.replacen(r#"["g"]"#, r#"["../g"]"#, 1),
        good.replacen("v1/content/g", "/etc/g", 1),
        // A repeated key, at the top or in a version.
        good.replacen("\"id\": \"x\"", "\"id\": \"x\", \"id\": \"y\"", 1),
        good.replacen(
            "\"created\"",
            "\"message\": \"m\", \"message\": \"n\", \"created\"",
            1,
        ),
        // A head that is not the highest version, and two names for one number.
        good.replacen("\"head\": \"v1\"", "\"head\": \"v2\"", 1),
        good.replacen(
            "\"versions\": {",
            r#""versions": {"v01": {"created": "c", "state": {}}, "#,
            1,
        ),
        good.replacen(
            "\"versions\": {",
            r#""versions": {"v2": {"created": "c", "state": {}}, "#,
            1,
        ),
        // Missing or mistyped members.
        good.replacen("\"created\": \"2024-01-02T03:04:05Z\",", "", 1),
        good.replacen("\"created\": \"2024-01-02T03:04:05Z\"", "\"created\": 5", 1),
        good.replacen(
            "\"created\"",
            "\"user\": {\"address\": \"x\"}, \"created\"",
            1,
        ),
        good.replacen("\"created\"", "\"message\": null, \"created\"", 1),
        good.replacen("\"id\": \"x\"", "\"id\": \"\"", 1),
        good.replacen("sha512", "md5", 1),
        good.replacen("\"manifest\"", "\"other\"", 1),
        // Trailing bytes, deep nesting, not UTF-8.
        format!("{good} x"),
        format!("{{\"fixity\": {}", "[".repeat(100_000)),
    ];
    for (index, case) in cases.iter().enumerate() {
        assert!(refused(case), "case {index} was answered: {case}");
    }
    assert!(read_version(b"{\"id\": \"\xff\"}", None).is_err());
}
