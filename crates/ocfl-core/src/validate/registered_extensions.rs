//! The names registered in the OCFL extensions repository, which extension directories in
//! objects (W013) and storage roots (W016) should use.

/// Every extension name registered in the OCFL extensions repository (its `docs/` at the
/// commit our reference copy was taken from), plus `initial`, which that repository's README
/// reserves for objects and storage roots alike.
pub(crate) const REGISTERED_EXTENSIONS: &[&str] = &[
    "0000-example-extension",
    "0001-digest-algorithms",
    "0002-flat-direct-storage-layout",
    "0003-hash-and-id-n-tuple-storage-layout",
    "0004-hashed-n-tuple-storage-layout",
    "0005-mutable-head",
    "0006-flat-omit-prefix-storage-layout",
    "0007-n-tuple-omit-prefix-storage-layout",
    "0008-schema-registry",
    "0009-digest-algorithms",
    "0010-differential-n-tuple-omit-prefix-storage-layout",
    "0011-direct-clean-path-layout",
    "0012-hash-and-no-prefix-id-n-tuple-storage-layout",
    "initial",
];
