//! The OCFL specification versions this crate understands.

use std::fmt;

/// An OCFL specification version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecVersion {
    /// OCFL 1.0 (2020).
    V1_0,
    /// OCFL 1.1 (2023, text 1.1.1).
    V1_1,
}

impl SpecVersion {
    /// All versions, oldest first.
    pub const ALL: [SpecVersion; 2] = [SpecVersion::V1_0, SpecVersion::V1_1];

    /// The newest version, used by default for new roots and objects.
    pub const LATEST: SpecVersion = SpecVersion::V1_1;

    /// The version number as written in declarations: `"1.0"` or `"1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V1_0 => "1.0",
            SpecVersion::V1_1 => "1.1",
        }
    }

    /// Parses `"1.0"` or `"1.1"`.
    pub fn parse(s: &str) -> Option<SpecVersion> {
        SpecVersion::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The `type` value an inventory of this version must carry.
    pub fn inventory_type(self) -> &'static str {
        match self {
            SpecVersion::V1_0 => "https://ocfl.io/1.0/spec/#inventory",
            SpecVersion::V1_1 => "https://ocfl.io/1.1/spec/#inventory",
        }
    }

    /// The version whose inventory `type` URI is `uri`, if any.
    pub fn from_inventory_type(uri: &str) -> Option<SpecVersion> {
        SpecVersion::ALL
            .into_iter()
            .find(|v| v.inventory_type() == uri)
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_names_and_types() {
        for v in SpecVersion::ALL {
            assert_eq!(SpecVersion::parse(v.as_str()), Some(v));
            assert_eq!(
                SpecVersion::from_inventory_type(v.inventory_type()),
                Some(v)
            );
        }
        assert_eq!(SpecVersion::parse("1.2"), None);
        assert!(SpecVersion::V1_0 < SpecVersion::V1_1);
    }
}
