use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::inventory::test_inventories::{self, escaped};
use crate::inventory::{Inventory, Version, parse_inventory};

/// What [`crate::object::Object::version`] and [`crate::object::Object::file`] answer, from
/// the fully parsed inventory: the reference the lookup must agree with.
fn reference(inventory: &Inventory, requested: Option<VersionNum>, path: &str) -> PathLookup {
    let wanted = requested.unwrap_or(inventory.head);
    let found = inventory
        .versions
        .iter()
        .find(|(num, _)| num.number() == wanted.number());
    let (version, answer) = match found {
        None => (wanted, PathAnswer::NoSuchVersion),
        Some((num, version)) => {
            let file = version.state.iter().find_map(|(digest, paths)| {
                paths
                    .iter()
                    .find(|p| p.as_str() == path)
                    .map(|p| (digest, p))
            });
            let answer = match file {
                Some((digest, logical)) => PathAnswer::File {
                    path: logical.clone(),
                    digest: digest.clone(),
                    content_path: inventory.manifest[digest][0].clone(),
                },
                None => {
                    let below = format!("{}/", path.trim_end_matches('/'));
                    let files = version
                        .state
                        .values()
                        .flatten()
                        .filter(|p| p.as_str().starts_with(&below))
                        .count();
                    if files > 0 {
                        PathAnswer::Directory { files }
                    } else {
                        PathAnswer::Absent
                    }
                }
            };
            (*num, answer)
        }
    };
    PathLookup {
        id: inventory.id.clone(),
        spec_version: inventory.spec_version,
        digest_algorithm: inventory.digest_algorithm,
        head: inventory.head,
        version,
        answer,
    }
}

/// Names that need escaping in JSON, or are not ASCII, beside plain ones.
const NAMES: [&str; 8] = [
    "a.txt",
    "b c",
    "quote\"d",
    "back\\slash",
    "tab\there",
    "caf\u{e9}",
    "\u{1f600}.png",
    "ctl\u{1}",
];

/// An inventory of `versions` ([`test_inventories::versions`]), every version with a message.
fn build(versions: &[BTreeMap<String, u8>], padded: bool) -> Inventory {
    let (manifest, versions, head) = test_inventories::versions(
        versions,
        padded,
        DigestAlgorithm::Sha512,
        |number, state| Version {
            created: "2024-01-02T03:04:05Z".to_owned(),
            state,
            message: Some(format!("version {number}")),
            user: None,
        },
    );
    Inventory {
        id: "urn:x:lookup".to_owned(),
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
        versions in prop::collection::vec(paths_strategy(), 1..4),
        padded in any::<bool>(),
        escape in any::<bool>(),
        asked in prop::option::of(1u32..6),
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
        let mut queries: Vec<String> = versions.iter().flat_map(|v| v.keys().cloned()).collect();
        queries.extend(["d0", "d1/", "d2", "d9/a.txt", "a.txt", "", "/", "d0/a.txt/x"].map(String::from));
        for path in &queries {
            let quick = lookup_path(text.as_bytes(), requested, path).expect("answerable");
            prop_assert_eq!(&quick, &reference(&full, requested, path), "{}", path);
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = lookup_path(&bytes, None, "a");
    }
}

fn doc(state_v1: &str, manifest: &str) -> String {
    format!(
        r#"{{"id": "x", "type": "https://ocfl.io/1.1/spec/#inventory", "digestAlgorithm": "sha512",
        "head": "v1", "manifest": {manifest}, "versions": {{"v1": {{"created": "2024-01-02T03:04:05Z",
        "state": {state_v1}}}}}}}"#
    )
}

#[test]
fn a_digest_the_manifest_lacks_or_a_path_listed_twice_is_not_answered() {
    let d1 = "a".repeat(128);
    let d2 = "b".repeat(128);
    let good = doc(
        &format!(r#"{{"{d1}": ["f"]}}"#),
        &format!(r#"{{"{d1}": ["v1/content/f"]}}"#),
    );
    assert!(matches!(
        lookup_path(good.as_bytes(), None, "f").map(|l| l.answer),
        Ok(PathAnswer::File { .. })
    ));
    let missing = doc(
        &format!(r#"{{"{d1}": ["f"]}}"#),
        &format!(r#"{{"{d2}": ["v1/content/f"]}}"#),
    );
    assert!(lookup_path(missing.as_bytes(), None, "f").is_err());
    let twice = doc(
        &format!(r#"{{"{d1}": ["f"], "{d2}": ["f"]}}"#),
        &format!(r#"{{"{d1}": ["v1/content/f"], "{d2}": ["v1/content/g"]}}"#),
    );
    assert!(lookup_path(twice.as_bytes(), None, "f").is_err());
    let bad_content_path = doc(
        &format!(r#"{{"{d1}": ["f"]}}"#),
        &format!(r#"{{"{d1}": ["v1/content/../../f"]}}"#),
    );
    assert!(lookup_path(bad_content_path.as_bytes(), None, "f").is_err());
}

#[test]
fn a_repeated_top_level_or_version_key_and_a_head_that_is_not_the_highest_are_not_answered() {
    let d1 = "a".repeat(128);
    let state = format!(r#"{{"{d1}": ["f"]}}"#);
    let manifest = format!(r#"{{"{d1}": ["v1/content/f"]}}"#);
    let good = doc(&state, &manifest);
    let repeated = good.replacen("\"id\": \"x\"", "\"id\": \"x\", \"id\": \"y\"", 1);
    assert!(lookup_path(repeated.as_bytes(), None, "f").is_err());
    let two_v1 = good.replacen(
        "\"versions\": {",
        &format!(r#""versions": {{"v01": {{"state": {state}}}, "#),
        1,
    );
    assert!(lookup_path(two_v1.as_bytes(), None, "f").is_err());
    let low_head = good.replacen(
        "\"versions\": {",
        &format!(r#""versions": {{"v2": {{"state": {state}}}, "#),
        1,
    );
    assert!(lookup_path(low_head.as_bytes(), None, "f").is_err());
}

#[test]
fn deep_nesting_is_an_error() {
    let deep = format!("{{\"fixity\": {}", "[".repeat(100_000));
    assert!(lookup_path(deep.as_bytes(), None, "f").is_err());
}

#[test]
fn a_path_against_the_grammar_anywhere_is_not_answered() {
    let d1 = "a".repeat(128);
    let d2 = "b".repeat(128);
    let state = format!(r#"{{"{d1}": ["f"], "{d2}": ["g"]}}"#);
    let manifest = format!(r#"{{"{d1}": ["v1/content/f"], "{d2}": ["v1/content/g"]}}"#);
    let good = doc(&state, &manifest);
    assert!(lookup_path(good.as_bytes(), None, "f").is_ok());
    for (from, to) in [
        ("v1/content/g", "v1/content/../../g"),
        ("v1/content/g", "/etc/g"),
        ("[\"g\"]", "[\"../g\"]"),
        ("[\"g\"]", "[\"g/\"]"),
    ] {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good);
        assert!(lookup_path(bad.as_bytes(), None, "f").is_err(), "{to}");
    }
    // In another version than the one asked for, too.
    let other = good.replacen(
        "\"versions\": {",
        &format!(r#""versions": {{"v2": {{"state": {{"{d1}": ["./f"]}}}}, "#),
        1,
    );
    let other = other.replacen("\"head\": \"v1\"", "\"head\": \"v2\"", 1);
    assert!(lookup_path(other.as_bytes(), VersionNum::new(1), "f").is_err());
}
