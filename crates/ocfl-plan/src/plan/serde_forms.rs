//! How ocfl-core's newtypes appear in a serialized plan: as the text the inventory uses.

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

/// [`ocfl_core::digest::Digest`] as its lower-case text.
pub(super) mod digest {
    use super::*;
    use ocfl_core::digest::Digest;

    pub fn serialize<S: Serializer>(value: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        Ok(Digest::new(&String::deserialize(d)?))
    }
}

/// An optional [`ocfl_core::digest::Digest`].
pub(super) mod digest_option {
    use super::*;
    use ocfl_core::digest::Digest;

    pub fn serialize<S: Serializer>(value: &Option<Digest>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(d.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Digest>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(|t| Digest::new(&t)))
    }
}

/// [`ocfl_core::digest::DigestAlgorithm`] as its inventory name.
pub(super) mod algorithm {
    use super::*;
    use ocfl_core::digest::DigestAlgorithm;

    pub fn serialize<S: Serializer>(value: &DigestAlgorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DigestAlgorithm, D::Error> {
        let name = String::deserialize(d)?;
        DigestAlgorithm::from_name(&name)
            .ok_or_else(|| D::Error::custom(format!("unknown digest algorithm {name:?}")))
    }
}

/// [`ocfl_core::version_num::VersionNum`] as its directory name (`v3`, `v0003`).
pub(super) mod version {
    use super::*;
    use ocfl_core::version_num::VersionNum;

    pub fn serialize<S: Serializer>(value: &VersionNum, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VersionNum, D::Error> {
        VersionNum::parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// [`ocfl_core::SpecVersion`] as `1.0` / `1.1`.
pub(super) mod spec {
    use super::*;
    use ocfl_core::SpecVersion;

    pub fn serialize<S: Serializer>(value: &SpecVersion, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SpecVersion, D::Error> {
        let text = String::deserialize(d)?;
        SpecVersion::parse(&text)
            .ok_or_else(|| D::Error::custom(format!("unknown OCFL version {text:?}")))
    }
}
