//! Properties every layout must have: mapped paths are valid storage paths, mapping is
//! deterministic, distinct ids get distinct paths, and `config.json` round-trips.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::layout::{
    FlatDirect, FlatOmitPrefix, HashAndIdNTuple, HashAndNoPrefixIdNTuple, HashedNTuple, Layout,
    LayoutError, NTupleOmitPrefix, ZeroPadding,
};
use ocfl_core::storage::check_storage_path;

/// The hash algorithms the hashing layouts accept.
const HASHES: [DigestAlgorithm; 9] = [
    DigestAlgorithm::Sha256,
    DigestAlgorithm::Sha512,
    DigestAlgorithm::Md5,
    DigestAlgorithm::Sha1,
    DigestAlgorithm::Blake2b160,
    DigestAlgorithm::Blake2b256,
    DigestAlgorithm::Blake2b384,
    DigestAlgorithm::Blake2b512,
    DigestAlgorithm::Sha512_256,
];

/// Delimiters whose characters never occur in [`suffix`].
const DELIMITERS: [&str; 5] = [":", "::", "/", "EDU/", "#"];

/// (algorithm, tupleSize, numberOfTuples) satisfying the 0003/0004/0012 constraints.
fn digest_tuples() -> impl Strategy<Value = (DigestAlgorithm, usize, usize)> {
    prop::sample::select(HASHES.to_vec()).prop_flat_map(|algorithm| {
        let hex_len = algorithm.hex_len().unwrap_or(32);
        let tuples = (1..=32usize.min(hex_len))
            .prop_flat_map(move |size| (Just(size), 1..=32usize.min(hex_len / size)));
        (Just(algorithm), prop_oneof![1 => Just((0, 0)), 6 => tuples])
            .prop_map(|(algorithm, (size, number))| (algorithm, size, number))
    })
}

fn hashing_layout() -> impl Strategy<Value = Layout> {
    (
        digest_tuples(),
        any::<bool>(),
        prop::collection::vec(prop::sample::select(DELIMITERS.to_vec()), 0..3),
        0..3u8,
    )
        .prop_map(
            |((digest_algorithm, tuple_size, number_of_tuples), short, delimiters, which)| {
                let hex_len = digest_algorithm.hex_len().unwrap_or(0);
                match which {
                    0 => Layout::HashAndIdNTuple(HashAndIdNTuple {
                        digest_algorithm,
                        tuple_size,
                        number_of_tuples,
                    }),
                    1 => Layout::HashedNTuple(HashedNTuple {
                        digest_algorithm,
                        tuple_size,
                        number_of_tuples,
                        short_object_root: short && tuple_size * number_of_tuples < hex_len,
                    }),
                    _ => Layout::HashAndNoPrefixIdNTuple(HashAndNoPrefixIdNTuple {
                        digest_algorithm,
                        tuple_size,
                        number_of_tuples,
                        delimiters: delimiters.into_iter().map(str::to_owned).collect(),
                    }),
                }
            },
        )
}

fn n_tuple_omit_prefix(delimiter: &'static str) -> impl Strategy<Value = Layout> {
    (1..=32usize, 1..=32usize, any::<bool>(), any::<bool>()).prop_map(
        move |(tuple_size, number_of_tuples, right, reverse_object_root)| {
            Layout::NTupleOmitPrefix(NTupleOmitPrefix {
                delimiter: delimiter.to_owned(),
                tuple_size,
                number_of_tuples,
                zero_padding: if right {
                    ZeroPadding::Right
                } else {
                    ZeroPadding::Left
                },
                reverse_object_root,
            })
        },
    )
}

/// A layout that drops everything up to `delimiter`: 0006, 0007 or 0012.
fn prefix_dropping_layout(delimiter: &'static str) -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::FlatOmitPrefix(FlatOmitPrefix {
            delimiter: delimiter.to_owned()
        })),
        n_tuple_omit_prefix(delimiter),
        digest_tuples().prop_map(move |(digest_algorithm, tuple_size, number_of_tuples)| {
            Layout::HashAndNoPrefixIdNTuple(HashAndNoPrefixIdNTuple {
                digest_algorithm,
                tuple_size,
                number_of_tuples,
                delimiters: vec![delimiter.to_owned()],
            })
        }),
    ]
}

/// Any layout with any valid configuration.
fn any_layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::FlatDirect(FlatDirect {})),
        hashing_layout(),
        prop::sample::select(DELIMITERS.to_vec()).prop_flat_map(prefix_dropping_layout),
    ]
}

/// Object ids: arbitrary printable text, and short ids dense in `.`, `/`, `\`, `%` and
/// delimiters, the characters that make paths go wrong.
fn any_id() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{1,40}", "[./\\\\:%#a-cE-U0 -]{1,12}", "[a-z]{250,260}"]
}

/// The part after the prefix: never contains a character of any of [`DELIMITERS`].
fn suffix() -> impl Strategy<Value = String> {
    "[a-z0-9._~-]{1,30}"
}

fn check_mapping(layout: &Layout, id: &str) -> Result<Option<String>, TestCaseError> {
    match layout.map_object_id(id) {
        Ok(path) => {
            prop_assert!(
                check_storage_path(&path).is_ok(),
                "{}: {id:?} -> {path:?}",
                layout.name()
            );
            prop_assert!(path.split('/').all(|e| e.len() <= 255), "{path}");
            prop_assert_eq!(
                layout.map_object_id(id).ok(),
                Some(path.clone()),
                "deterministic"
            );
            Ok(Some(path))
        }
        Err(LayoutError::UnmappableId { .. }) => Ok(None),
        Err(other) => Err(TestCaseError::fail(format!(
            "{}: {id:?}: {other}",
            layout.name()
        ))),
    }
}

/// Asserts that the mappable ids among `ids` all get different paths.
fn assert_distinct(layout: &Layout, ids: &HashSet<String>) -> Result<(), TestCaseError> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for id in ids {
        if let Some(path) = check_mapping(layout, id)?
            && let Some(other) = seen.insert(path.clone(), id)
        {
            return Err(TestCaseError::fail(format!(
                "{}: {other:?} and {id:?} both map to {path:?}",
                layout.name()
            )));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn mapped_paths_are_valid_storage_paths(layout in any_layout(), id in any_id()) {
        check_mapping(&layout, &id)?;
    }

    #[test]
    fn config_json_round_trips(layout in any_layout(), id in any_id()) {
        let bytes = layout.config_json();
        let read = Layout::from_config(layout.name(), Some(&bytes))
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(&read, &layout);
        prop_assert_eq!(read.config_json(), bytes);
        prop_assert_eq!(
            read.map_object_id(&id).map_err(|e| e.to_string()),
            layout.map_object_id(&id).map_err(|e| e.to_string())
        );
    }

    /// 0002, 0003 and 0004 keep the whole id (or its digest): any two distinct ids differ.
    #[test]
    fn whole_id_layouts_never_map_distinct_ids_together(
        layout in prop_oneof![Just(Layout::FlatDirect(FlatDirect {})), hashing_layout()],
        ids in prop::collection::hash_set(any_id(), 2..12),
    ) {
        // 0012 drops prefixes, which the per-prefix property below covers.
        prop_assume!(!matches!(layout, Layout::HashAndNoPrefixIdNTuple(ref l) if !l.delimiters.is_empty()));
        assert_distinct(&layout, &ids)?;
    }

    /// 0006, 0007 and 0012 drop the prefix, so "a:x" and "b:x" share a path by design (see
    /// `prefix_dropping_layouts_collide_across_prefixes`): uniqueness only holds among ids
    /// that share one prefix, as in a repository whose ids live in one namespace.
    #[test]
    fn prefix_dropping_layouts_are_injective_within_one_prefix(
        (delimiter, layout) in prop::sample::select(DELIMITERS.to_vec())
            .prop_flat_map(|d| (Just(d), prefix_dropping_layout(d))),
        prefix in "[a-zA-Z0-9:/#.]{0,12}",
        suffixes in prop::collection::hash_set(suffix(), 2..12),
    ) {
        let ids: HashSet<String> = suffixes.iter().map(|s| format!("{prefix}{delimiter}{s}")).collect();
        prop_assert_eq!(ids.len(), suffixes.len());
        assert_distinct(&layout, &ids)?;
    }
}

#[test]
fn prefix_dropping_layouts_collide_across_prefixes() {
    for name in [
        FlatOmitPrefix::NAME,
        NTupleOmitPrefix::NAME,
        HashAndNoPrefixIdNTuple::NAME,
    ] {
        let config =
            format!(r#"{{"delimiter": ":", "delimiters": [":"], "extensionName": "{name}"}}"#);
        let layout = Layout::from_config(name, Some(config.as_bytes())).expect(name);
        assert_eq!(
            layout.map_object_id("a:x").expect("a:x"),
            layout.map_object_id("b:x").expect("b:x"),
            "{name}"
        );
    }
}
