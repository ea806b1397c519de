//! Property tests of inventory parsing and serialization: valid inventories survive a round
//! trip unchanged and without errors; arbitrary bytes and mutated inventories never panic.

use std::collections::{BTreeMap, BTreeSet};

use ocfl_core::SpecVersion;
use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::inventory::{Fixity, Inventory, Manifest, State, User, Version, parse_inventory};
use ocfl_core::path::{ContentPath, LogicalPath};
use ocfl_core::validate::Severity;
use ocfl_core::version_num::VersionNum;
use proptest::prelude::*;
use serde_json::Value;

/// One file of one version: its logical path and which of a small pool of contents it holds
/// (a small pool, so content repeats across files and versions as in real objects).
type Files = BTreeMap<String, u8>;

/// A version's `created`, `message` and `user`.
type VersionMeta = (String, Option<String>, Option<User>);

/// Logical paths that can never conflict: directory elements have no `.`, file names end in
/// `.txt`, so no file path is a directory of another. Quotes, backslashes, spaces and
/// non-ASCII letters exercise JSON escaping.
fn logical_path() -> impl Strategy<Value = String> {
    (
        prop::collection::vec("[a-z é]{1,4}", 0..3),
        "[a-zA-Z0-9 é\"\\\\%:]{1,6}",
    )
        .prop_map(|(dirs, name)| {
            let mut elements = dirs;
            elements.push(format!("{name}.txt"));
            elements.join("/")
        })
}

fn files() -> impl Strategy<Value = Files> {
    prop::collection::btree_map(logical_path(), 0u8..8, 0..6)
}

fn created() -> impl Strategy<Value = String> {
    "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-](0[0-9]|1[0-2]):[0-5][0-9])"
}

fn user() -> impl Strategy<Value = Option<User>> {
    prop::option::of(
        (
            "\\PC{0,10}",
            prop::option::of("mailto:[a-z]{1,5}@example\\.org"),
        )
            .prop_map(|(name, address)| User { name, address }),
    )
}

fn version_meta() -> impl Strategy<Value = VersionMeta> {
    (created(), prop::option::of("\\PC{0,20}"), user())
}

prop_compose! {
    fn valid_inventory()(
        spec_version in prop::sample::select(SpecVersion::ALL.to_vec()),
        digest_algorithm in prop::sample::select(vec![DigestAlgorithm::Sha512, DigestAlgorithm::Sha256]),
        id in "\\PC{1,20}",
        padding in prop::option::of(2u8..5),
        content_directory in prop::option::of("[a-z]{1,8}"),
        versions in prop::collection::vec((files(), version_meta()), 1..6),
        fixity_algorithms in prop::option::of(prop::sample::subsequence(
            DigestAlgorithm::ALL.to_vec(), 0..4)),
    ) -> Inventory {
        build(spec_version, digest_algorithm, id, padding, content_directory, versions, fixity_algorithms)
    }
}

fn content_digest(algorithm: DigestAlgorithm, content: u8) -> Digest {
    algorithm.digest_bytes(&[content])
}

fn build(
    spec_version: SpecVersion,
    digest_algorithm: DigestAlgorithm,
    id: String,
    padding: Option<u8>,
    content_directory: Option<String>,
    versions: Vec<(Files, VersionMeta)>,
    fixity_algorithms: Option<Vec<DigestAlgorithm>>,
) -> Inventory {
    let first = match padding {
        Some(width) => VersionNum::parse(&format!("v{:0width$}", 1, width = usize::from(width))),
        None => VersionNum::parse("v1"),
    }
    .expect("v1 in either form");
    let directory = content_directory
        .clone()
        .unwrap_or_else(|| "content".to_owned());
    let mut manifest = Manifest::new();
    // content -> its one content path, set by the first version holding it.
    let mut stored: BTreeMap<u8, ContentPath> = BTreeMap::new();
    let mut blocks = BTreeMap::new();
    let mut head = first;
    for (index, (files, (created, message, user))) in versions.into_iter().enumerate() {
        let num = first
            .with_number(index as u32 + 1)
            .expect("at most 5 versions fit every width");
        head = num;
        let mut state = State::new();
        for (path, content) in files {
            let digest = content_digest(digest_algorithm, content);
            stored.entry(content).or_insert_with(|| {
                let content_path = ContentPath::new(format!("{num}/{directory}/{path}"))
                    .expect("built from valid parts");
                manifest
                    .entry(digest.clone())
                    .or_default()
                    .push(content_path.clone());
                content_path
            });
            state
                .entry(digest)
                .or_default()
                .push(LogicalPath::new(path).expect("generated valid"));
        }
        blocks.insert(
            num,
            Version {
                created,
                state,
                message,
                user,
            },
        );
    }
    let fixity = fixity_algorithms.map(|algorithms| {
        let mut fixity = Fixity::new();
        for algorithm in algorithms {
            let block = fixity.entry(algorithm.name().to_owned()).or_default();
            for (content, path) in &stored {
                block
                    .entry(algorithm.digest_bytes(&[*content]).as_str().to_owned())
                    .or_default()
                    .push(path.clone());
            }
        }
        fixity
    });
    Inventory {
        id,
        spec_version,
        digest_algorithm,
        head,
        content_directory,
        manifest,
        versions: blocks,
        fixity,
    }
}

/// Every JSON pointer into `value`, the root included.
fn pointers(value: &Value, here: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, member) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                pointers(member, format!("{here}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(Value::Bool(true)),
        Just(serde_json::json!(7)),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!(["x", 1])),
        Just(serde_json::json!({"v1": {}})),
        "\\PC{0,12}".prop_map(Value::String),
        Just(Value::String("/a/../b".to_owned())),
        Just(Value::String("v0".to_owned())),
    ]
}

/// Checks that hold for any input: no panic, and a result without errors always carries an
/// inventory that survives its own round trip.
fn check_any(bytes: &[u8]) {
    let parsed = parse_inventory(bytes);
    let has_errors = parsed
        .findings
        .iter()
        .any(|f| f.severity() == Severity::Error);
    if let Some(inventory) = &parsed.inventory {
        let again = parse_inventory(&inventory.to_json_bytes());
        if !has_errors {
            assert_eq!(again.inventory.as_ref(), Some(inventory));
        }
    } else {
        assert!(
            has_errors,
            "no inventory but no error: {:?}",
            parsed.findings
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_inventories_round_trip(inventory in valid_inventory()) {
        let bytes = inventory.to_json_bytes();
        let parsed = parse_inventory(&bytes);
        let errors: Vec<_> = parsed
            .findings
            .iter()
            .filter(|f| f.severity() == Severity::Error)
            .collect();
        prop_assert!(errors.is_empty(), "{errors:#?}\n{}", String::from_utf8_lossy(&bytes));
        prop_assert_eq!(parsed.inventory.as_ref(), Some(&inventory));
        // Deterministic: the same inventory gives the same bytes.
        prop_assert_eq!(parsed.inventory.map(|i| i.to_json_bytes()), Some(bytes));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_any(&bytes);
    }

    #[test]
    fn byte_mutations_never_panic(
        inventory in valid_inventory(),
        at in any::<prop::sample::Index>(),
        len in 0usize..16,
        insert in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut bytes = inventory.to_json_bytes();
        let start = at.index(bytes.len());
        let end = (start + len).min(bytes.len());
        bytes.splice(start..end, insert);
        check_any(&bytes);
    }

    #[test]
    fn structural_mutations_never_panic(
        inventory in valid_inventory(),
        targets in prop::collection::vec((any::<prop::sample::Index>(), replacement()), 1..4),
    ) {
        let mut value: Value =
            serde_json::from_slice(&inventory.to_json_bytes()).expect("our output is JSON");
        for (target, new_value) in targets {
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            let pointer = &all[target.index(all.len())];
            if let Some(slot) = value.pointer_mut(pointer) {
                *slot = new_value;
            }
        }
        check_any(value.to_string().as_bytes());
    }
}

/// The generator itself must produce what the properties claim to cover.
#[test]
fn generator_covers_padding_fixity_and_escapes() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        let inventory = valid_inventory()
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        if inventory.head.padding().is_some() {
            seen.insert("padding");
        }
        if inventory.fixity.is_some() {
            seen.insert("fixity");
        }
        if inventory.versions.len() > 1 {
            seen.insert("several versions");
        }
        if String::from_utf8_lossy(&inventory.to_json_bytes()).contains("\\\"") {
            seen.insert("escaped quote");
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
}
