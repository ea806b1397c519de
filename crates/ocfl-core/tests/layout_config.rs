//! Layout configurations the extensions forbid, ids a layout cannot map safely, defaults,
//! and the exact `config.json` written.

use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::layout::{
    EXTENSION_NAMES, FlatDirect, FlatOmitPrefix, HashAndIdNTuple, HashAndNoPrefixIdNTuple,
    HashedNTuple, Layout, LayoutError, NTupleOmitPrefix, ZeroPadding,
};
use ocfl_core::storage::check_storage_path;

const L0002: &str = FlatDirect::NAME;
const L0003: &str = HashAndIdNTuple::NAME;
const L0004: &str = HashedNTuple::NAME;
const L0006: &str = FlatOmitPrefix::NAME;
const L0007: &str = NTupleOmitPrefix::NAME;
const L0012: &str = HashAndNoPrefixIdNTuple::NAME;

fn layout(name: &str, config: &str) -> Layout {
    Layout::from_config(name, Some(config.as_bytes()))
        .unwrap_or_else(|e| panic!("{name} {config}: {e}"))
}

fn assert_invalid_config(name: &str, config: Option<&str>) {
    match Layout::from_config(name, config.map(str::as_bytes)) {
        Err(LayoutError::InvalidConfig { extension, reason }) => {
            assert_eq!(extension, name);
            assert!(!reason.is_empty());
        }
        other => panic!("{name} {config:?}: expected InvalidConfig, got {other:?}"),
    }
}

fn assert_unmappable(layout: &Layout, id: &str) {
    match layout.map_object_id(id) {
        Err(LayoutError::UnmappableId {
            extension,
            id: reported,
            ..
        }) => {
            assert_eq!(extension, layout.name());
            assert_eq!(reported, id);
        }
        other => panic!(
            "{} {id:?}: expected UnmappableId, got {other:?}",
            layout.name()
        ),
    }
}

fn mapped(layout: &Layout, id: &str) -> String {
    let path = layout
        .map_object_id(id)
        .unwrap_or_else(|e| panic!("{} {id:?}: {e}", layout.name()));
    assert!(check_storage_path(&path).is_ok(), "{path}");
    path
}

#[test]
fn hashing_layouts_refuse_bad_tuple_and_digest_parameters() {
    for name in [L0003, L0004, L0012] {
        for config in [
            r#"{"tupleSize": 33, "numberOfTuples": 1}"#,
            r#"{"tupleSize": 1, "numberOfTuples": 33}"#,
            r#"{"tupleSize": 0, "numberOfTuples": 3}"#,
            r#"{"tupleSize": 3, "numberOfTuples": 0}"#,
            // md5 digests have 32 hex characters.
            r#"{"digestAlgorithm": "md5", "tupleSize": 3, "numberOfTuples": 11}"#,
            r#"{"digestAlgorithm": "sha1", "tupleSize": 32, "numberOfTuples": 2}"#,
            r#"{"digestAlgorithm": "sha3-256"}"#,
            r#"{"digestAlgorithm": "SHA256"}"#,
            r#"{"digestAlgorithm": ""}"#,
            r#"{"digestAlgorithm": "size"}"#,
            r#"{"digestAlgorithm": "blake3"}"#,
            r#"{"digestAlgorithm": 256}"#,
            r#"{"tupleSize": -1}"#,
            r#"{"tupleSize": 2.5}"#,
            r#"{"tupleSize": "3"}"#,
            r#"{"numberOfTuples": null}"#,
            r#"[]"#,
            r#"not json"#,
            r#"{"extensionName": "0002-flat-direct-storage-layout"}"#,
            r#"{"extensionName": 4}"#,
        ] {
            assert_invalid_config(name, Some(config));
        }
    }
    // 0004: shortObjectRoot would leave an empty object root when the tuples use the
    // whole digest.
    assert_invalid_config(
        L0004,
        Some(
            r#"{"digestAlgorithm": "md5", "tupleSize": 2, "numberOfTuples": 16, "shortObjectRoot": true}"#,
        ),
    );
    assert_invalid_config(L0004, Some(r#"{"shortObjectRoot": "yes"}"#));
    assert_invalid_config(L0012, Some(r#"{"delimiters": [":", ""]}"#));
    assert_invalid_config(L0012, Some(r#"{"delimiters": ":"}"#));
}

#[test]
fn hashing_layouts_accept_the_boundaries() {
    let full_md5 = layout(
        L0004,
        r#"{"digestAlgorithm": "md5", "tupleSize": 2, "numberOfTuples": 16}"#,
    );
    let path = mapped(&full_md5, "object-01");
    assert_eq!(path.split('/').count(), 17);
    assert!(path.ends_with("/ff75534492485eabb39f86356728884e"));
    let deep = layout(
        L0003,
        r#"{"digestAlgorithm": "sha512", "tupleSize": 32, "numberOfTuples": 4}"#,
    );
    assert_eq!(mapped(&deep, "object-01").split('/').count(), 5);
    for algorithm in [
        "sha1",
        "blake2b-160",
        "blake2b-256",
        "blake2b-384",
        "blake2b-512",
        "sha512/256",
    ] {
        let config = format!(r#"{{"digestAlgorithm": "{algorithm}"}}"#);
        let l = layout(L0004, &config);
        let expected = DigestAlgorithm::from_name(algorithm)
            .expect("known")
            .digest_bytes(b"x");
        assert!(mapped(&l, "x").ends_with(expected.as_str()), "{algorithm}");
    }
    // 0004 with no tuples and shortObjectRoot: the whole digest is the "rest".
    let flat = layout(
        L0004,
        r#"{"tupleSize": 0, "numberOfTuples": 0, "shortObjectRoot": true}"#,
    );
    assert_eq!(
        mapped(&flat, "object-01"),
        "3c0ff4240c1e116dba14c7627f2319b58aa3d77606d0d90dfc6161608ac987d4"
    );
}

#[test]
fn omit_prefix_layouts_refuse_bad_parameters() {
    // 0006 has no default delimiter.
    assert_invalid_config(L0006, None);
    assert_invalid_config(L0006, Some("{}"));
    assert_invalid_config(L0006, Some(r#"{"delimiter": ""}"#));
    assert_invalid_config(L0006, Some(r#"{"delimiter": 1}"#));
    for config in [
        r#"{"delimiter": ""}"#,
        r#"{"delimiter": "é"}"#,
        r#"{"tupleSize": 0}"#,
        r#"{"numberOfTuples": 0}"#,
        r#"{"tupleSize": 33}"#,
        r#"{"numberOfTuples": 33}"#,
        r#"{"zeroPadding": "center"}"#,
        r#"{"zeroPadding": "Left"}"#,
        r#"{"reverseObjectRoot": "true"}"#,
    ] {
        assert_invalid_config(L0007, Some(config));
    }
}

#[test]
fn unknown_extensions_are_unsupported() {
    for name in [
        "0010-differential-n-tuple-omit-prefix-storage-layout",
        "0011-direct-clean-path-layout",
        "0001-digest-algorithms",
        "0004-hashed-n-tuple-storage-layout/../x",
        "",
    ] {
        assert!(
            matches!(Layout::from_config(name, None), Err(LayoutError::Unsupported(n)) if n == name),
            "{name}"
        );
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    assert_eq!(
        Layout::from_config(L0004, None).expect("0004"),
        Layout::default_layout()
    );
    assert_eq!(layout(L0004, "{}"), Layout::default_layout());
    assert_eq!(
        Layout::default_layout(),
        Layout::HashedNTuple(HashedNTuple {
            digest_algorithm: DigestAlgorithm::Sha256,
            tuple_size: 3,
            number_of_tuples: 3,
            short_object_root: false,
        })
    );
    assert_eq!(
        Layout::from_config(L0007, None).expect("0007"),
        Layout::NTupleOmitPrefix(NTupleOmitPrefix {
            delimiter: ":".to_owned(),
            tuple_size: 3,
            number_of_tuples: 3,
            zero_padding: ZeroPadding::Left,
            reverse_object_root: false,
        })
    );
    assert_eq!(
        Layout::from_config(L0012, None).expect("0012"),
        Layout::HashAndNoPrefixIdNTuple(HashAndNoPrefixIdNTuple {
            digest_algorithm: DigestAlgorithm::Sha256,
            tuple_size: 3,
            number_of_tuples: 3,
            delimiters: Vec::new(),
        })
    );
    // Unknown keys are ignored (the 0004 schema allows additional properties).
    assert_eq!(
        layout(L0004, r#"{"comment": "x"}"#),
        Layout::default_layout()
    );
}

#[test]
fn default_config_json_is_the_documented_example() {
    // Extension 0004, Example 1 "Parameters": the default configuration written out.
    let documented: serde_json::Value = serde_json::json!({
        "extensionName": "0004-hashed-n-tuple-storage-layout",
        "digestAlgorithm": "sha256",
        "tupleSize": 3,
        "numberOfTuples": 3,
        "shortObjectRoot": false
    });
    let bytes = Layout::default_layout().config_json();
    let written: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(written, documented);
    let text = String::from_utf8(bytes).expect("UTF-8");
    assert!(
        text.starts_with("{\n  \"extensionName\": \"0004-hashed-n-tuple-storage-layout\","),
        "{text}"
    );
    let l0007 = Layout::from_config(L0007, None).expect("0007");
    let written: serde_json::Value = serde_json::from_slice(&l0007.config_json()).expect("JSON");
    assert_eq!(
        written,
        serde_json::json!({
            "extensionName": L0007,
            "delimiter": ":",
            "tupleSize": 3,
            "numberOfTuples": 3,
            "zeroPadding": "left",
            "reverseObjectRoot": false
        })
    );
}

#[test]
fn flat_direct_refuses_ids_that_are_not_one_directory_name() {
    let l = Layout::from_config(L0002, None).expect("0002");
    for id in [
        "",
        ".",
        "..",
        "a/b",
        "/a",
        "a/",
        "a\\b",
        "a\nb",
        "a\u{0}b",
        &"a".repeat(256),
    ] {
        assert_unmappable(&l, id);
    }
    for id in [
        "object-01",
        "..a",
        "a..",
        "...",
        "info:fedora",
        "é",
        &"a".repeat(255),
    ] {
        assert_eq!(mapped(&l, id), id);
    }
}

#[test]
fn flat_omit_prefix_refuses_missing_delimiter_and_empty_or_unsafe_rest() {
    let l = layout(L0006, r#"{"delimiter": ":"}"#);
    for id in ["abc", "abc:", "a:..", "a:.", "x:b/c", "x:b\\c", ""] {
        assert_unmappable(&l, id);
    }
    assert_eq!(mapped(&l, "a:b:c"), "c");
    assert_eq!(mapped(&l, ":c"), "c");
    // The delimiter is case-insensitive.
    let edu = layout(L0006, r#"{"delimiter": "EDU/"}"#);
    assert_eq!(mapped(&edu, "https://institution.edu/3448793"), "3448793");
    assert_unmappable(&edu, "https://institution.edu/");
}

#[test]
fn n_tuple_omit_prefix_refuses_what_it_cannot_map() {
    let l = Layout::from_config(L0007, None).expect("0007");
    for id in ["abc:", "a:é", "é", "a:b/c", "a:..", "x:\u{7f}"] {
        assert_unmappable(&l, id);
    }
    // No delimiter: the whole id is used (extension 0007, procedure step 1).
    assert_eq!(mapped(&l, "abc123"), "000/abc/123/abc123");
    // A tuple of "." or ".." would climb the hierarchy.
    let single = layout(L0007, r#"{"tupleSize": 1, "numberOfTuples": 3}"#);
    assert_unmappable(&single, "x:a..");
    assert_unmappable(&single, "x:a.b");
    let pairs = layout(L0007, r#"{"tupleSize": 2, "numberOfTuples": 2}"#);
    assert_eq!(mapped(&pairs, "x:ab.c"), "ab/.c/ab.c");
}

#[test]
fn hashing_layouts_refuse_only_non_ids() {
    for name in [L0003, L0004, L0012] {
        let l = Layout::from_config(name, None).expect(name);
        assert_unmappable(&l, "");
        assert_unmappable(&l, "a\tb");
        for id in ["..", ".", "/", "a/../../b", "\\", &"é".repeat(300)] {
            let path = mapped(&l, id);
            assert!(path.split('/').all(|e| e.len() <= 255), "{path}");
        }
    }
    let l0003 = Layout::from_config(L0003, None).expect("0003");
    assert!(mapped(&l0003, "..").ends_with("/%2e%2e"));
}

#[test]
fn hand_built_invalid_layouts_are_refused_not_panicking() {
    let bad = [
        Layout::HashedNTuple(HashedNTuple {
            tuple_size: 40,
            number_of_tuples: 3,
            ..HashedNTuple::default()
        }),
        Layout::HashAndIdNTuple(HashAndIdNTuple {
            digest_algorithm: DigestAlgorithm::Md5,
            tuple_size: 32,
            number_of_tuples: 2,
        }),
        Layout::NTupleOmitPrefix(NTupleOmitPrefix {
            tuple_size: 0,
            ..NTupleOmitPrefix::default()
        }),
        Layout::FlatOmitPrefix(FlatOmitPrefix {
            delimiter: String::new(),
        }),
    ];
    for layout in bad {
        assert!(
            matches!(layout.validate(), Err(LayoutError::InvalidConfig { .. })),
            "{layout:?}"
        );
        assert!(
            matches!(
                layout.map_object_id("a:b"),
                Err(LayoutError::InvalidConfig { .. })
            ),
            "{layout:?}"
        );
    }
}

#[test]
fn every_implemented_name_is_accepted() {
    for name in EXTENSION_NAMES {
        let config = format!(r#"{{"extensionName": "{name}", "delimiter": ":"}}"#);
        let l = layout(name, &config);
        assert_eq!(l.name(), name);
        assert!(!l.description().is_empty());
    }
}
