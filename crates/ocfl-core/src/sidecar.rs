//! Inventory sidecars: `inventory.json.<algorithm>` holding `DIGEST inventory.json`.

use crate::digest::{Digest, DigestAlgorithm};

/// The inventory file name.
pub const INVENTORY_FILE: &str = "inventory.json";

/// Why a sidecar's text is malformed (E061).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SidecarError {
    /// Not UTF-8, or not `DIGEST` + whitespace + `inventory.json` (+ optional newline).
    #[error("sidecar is not of the form 'DIGEST inventory.json'")]
    Malformed,
    /// The digest is not hex of the algorithm's length.
    #[error("sidecar digest {0:?} is not a {1} digest")]
    BadDigest(String, DigestAlgorithm),
}

/// The sidecar file name for `algorithm`: `inventory.json.sha512`.
pub fn sidecar_name(algorithm: DigestAlgorithm) -> String {
    format!("{INVENTORY_FILE}.{}", algorithm.name())
}

/// The sidecar file contents for an inventory with digest `digest`.
pub fn sidecar_contents(digest: &Digest) -> String {
    format!("{digest} {INVENTORY_FILE}\n")
}

/// Parses sidecar bytes, checking the digest's form for `algorithm`.
pub fn parse_sidecar(bytes: &[u8], algorithm: DigestAlgorithm) -> Result<Digest, SidecarError> {
    let text = std::str::from_utf8(bytes).map_err(|_| SidecarError::Malformed)?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut parts = text.split([' ', '\t']).filter(|p| !p.is_empty());
    let (Some(digest), Some(INVENTORY_FILE), None) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SidecarError::Malformed);
    };
    if text.starts_with([' ', '\t']) {
        return Err(SidecarError::Malformed);
    }
    if !algorithm.is_well_formed(digest) {
        return Err(SidecarError::BadDigest(digest.to_owned(), algorithm));
    }
    Ok(Digest::new(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes() {
        let d = DigestAlgorithm::Sha256.digest_bytes(b"x");
        let text = sidecar_contents(&d);
        assert_eq!(
            parse_sidecar(text.as_bytes(), DigestAlgorithm::Sha256),
            Ok(d.clone())
        );
        let upper = format!("{}\tinventory.json", d.as_str().to_uppercase());
        assert_eq!(
            parse_sidecar(upper.as_bytes(), DigestAlgorithm::Sha256),
            Ok(d)
        );
        assert_eq!(
            sidecar_name(DigestAlgorithm::Sha512),
            "inventory.json.sha512"
        );
    }

    #[test]
    fn rejects_malformed() {
        let d = DigestAlgorithm::Sha256.digest_bytes(b"x");
        for bad in [
            String::new(),
            d.to_string(),
            format!("{d} inventory.jsonx"),
            format!("{d} inventory.json extra"),
            format!(" {d} inventory.json"),
            format!("{d}inventory.json"),
        ] {
            assert!(
                parse_sidecar(bad.as_bytes(), DigestAlgorithm::Sha256).is_err(),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_sidecar(b"abc inventory.json", DigestAlgorithm::Sha256),
            Err(SidecarError::BadDigest(..))
        ));
    }
}
