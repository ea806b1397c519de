//! NAMASTE conformance declarations: `0=ocfl_object_1.1` in an object root,
//! `0=ocfl_1.1` in a storage root, each holding its `dvalue` and a newline.

use crate::SpecVersion;

/// What a declaration declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeclarationKind {
    /// An OCFL object root (`0=ocfl_object_<version>`).
    Object,
    /// An OCFL storage root (`0=ocfl_<version>`).
    StorageRoot,
}

/// A parsed conformance declaration file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Declaration {
    /// Object or storage root.
    pub kind: DeclarationKind,
    /// The declared specification version.
    pub version: SpecVersion,
}

impl Declaration {
    /// An object declaration for `version`.
    pub fn object(version: SpecVersion) -> Declaration {
        Declaration {
            kind: DeclarationKind::Object,
            version,
        }
    }

    /// A storage-root declaration for `version`.
    pub fn storage_root(version: SpecVersion) -> Declaration {
        Declaration {
            kind: DeclarationKind::StorageRoot,
            version,
        }
    }

    /// The `dvalue`: `ocfl_object_1.1` or `ocfl_1.1`.
    pub fn dvalue(self) -> String {
        match self.kind {
            DeclarationKind::Object => format!("ocfl_object_{}", self.version),
            DeclarationKind::StorageRoot => format!("ocfl_{}", self.version),
        }
    }

    /// The file name: `0=` followed by the dvalue.
    pub fn file_name(self) -> String {
        format!("0={}", self.dvalue())
    }

    /// The exact file contents: the dvalue and a newline (E007, E080).
    pub fn contents(self) -> String {
        format!("{}\n", self.dvalue())
    }

    /// Parses a file name of a known declaration; `None` for anything else.
    pub fn parse_file_name(name: &str) -> Option<Declaration> {
        let dvalue = name.strip_prefix("0=")?;
        if let Some(v) = dvalue.strip_prefix("ocfl_object_") {
            return SpecVersion::parse(v).map(Declaration::object);
        }
        let v = dvalue.strip_prefix("ocfl_")?;
        SpecVersion::parse(v).map(Declaration::storage_root)
    }

    /// Whether `bytes` are exactly this declaration's contents.
    pub fn contents_match(self, bytes: &[u8]) -> bool {
        bytes == self.contents().as_bytes()
    }
}

/// Whether `name` looks like a NAMASTE tag file of any kind (`<digit>=...`), so that a
/// validator can tell a malformed declaration from an unrelated file.
pub fn is_namaste_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_digit()) && bytes.next() == Some(b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_round_trip() {
        for version in SpecVersion::ALL {
            for d in [
                Declaration::object(version),
                Declaration::storage_root(version),
            ] {
                assert_eq!(Declaration::parse_file_name(&d.file_name()), Some(d));
                assert!(d.contents_match(d.contents().as_bytes()));
                assert!(!d.contents_match(d.dvalue().as_bytes()));
            }
        }
        assert_eq!(
            Declaration::object(SpecVersion::V1_1).file_name(),
            "0=ocfl_object_1.1"
        );
        assert_eq!(
            Declaration::storage_root(SpecVersion::V1_0).contents(),
            "ocfl_1.0\n"
        );
        assert_eq!(Declaration::parse_file_name("0=ocfl_object_2.0"), None);
        assert_eq!(Declaration::parse_file_name("1=ocfl_object_1.0"), None);
        assert!(is_namaste_name("0=anything"));
        assert!(!is_namaste_name("inventory.json"));
    }
}
