//! Building the manifest's and the states' maps in one sorted pass.
//!
//! Inserting keys one at a time in ascending order (the order inventories are written in)
//! leaves every B-tree leaf about half full: each split keeps half of the node behind. A bulk
//! build from sorted entries fills the nodes, which takes a 100,000-entry map from about 8 to
//! about 5 MiB.

use std::collections::BTreeMap;

/// The map of `entries`, in which a key may repeat (digests differing only in case, already
/// reported): the values of one key are concatenated in their order in `entries`, as
/// inserting them one by one would.
pub(super) fn into_map<K: Ord, V>(mut entries: Vec<(K, Vec<V>)>) -> BTreeMap<K, Vec<V>> {
    // Stable, so the values of a repeated key keep their document order; already sorted
    // entries (the usual case) take one linear pass.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    // In place: `later` is dropped when it repeats the key of `earlier`, the entry kept.
    entries.dedup_by(|later, earlier| {
        let repeated = later.0 == earlier.0;
        if repeated {
            earlier.1.append(&mut later.1);
        }
        repeated
    });
    entries.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The same map as inserting the entries one by one, repeated keys included.
        #[test]
        fn agrees_with_inserting_one_by_one(
            entries in proptest::collection::vec((0u8..20, proptest::collection::vec(any::<u8>(), 0..3)), 0..60)
        ) {
            let mut expected: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
            for (key, values) in &entries {
                expected.entry(*key).or_default().extend(values.iter().copied());
            }
            prop_assert_eq!(into_map(entries), expected);
        }
    }
}
